#!/usr/bin/env python3
"""Build step: libcnn-cl.a as one relocatable object made from the internal
archives, with every hidden symbol made local, so a program linking it
statically sees cnn_cl_* and nothing else of cnn-cl (no clash with its own
names). Usage: static-lib.py OBJCOPY AR OUTPUT ARCHIVE... -- CC [ARG...]"""
import os
import subprocess
import sys

split = sys.argv.index('--')
objcopy, ar, out, archives = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:split]
cc = sys.argv[split + 1:]
merged = out + '.o'
subprocess.run(cc + ['-r', '-nostdlib', '-o', merged, '-Wl,--whole-archive'] + archives +
               ['-Wl,--no-whole-archive'], check=True)
subprocess.run([objcopy, '--localize-hidden', merged], check=True)
if os.path.exists(out):
    os.remove(out)
subprocess.run([ar, 'rcs', out, merged], check=True)
os.remove(merged)
