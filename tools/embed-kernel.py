#!/usr/bin/env python3
"""Build step: turns kernels/NAME.cl into a C file defining the source as
cnn_kernel_NAME[] (NUL-terminated), so the binary needs no kernel files."""
import sys

src, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src, 'rb').read() + b'\0'
with open(out, 'w') as f:
    f.write('/* generated from %s at build time */\n' % name)
    f.write('const char cnn_kernel_%s[] = {\n' % name)
    for i in range(0, len(data), 16):
        f.write('  ' + ', '.join(str(b) for b in data[i:i + 16]) + ',\n')
    f.write('};\n')
