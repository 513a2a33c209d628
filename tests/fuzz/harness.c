/* harness.c: one libFuzzer harness, built once per target with
 * -DFUZZ_TARGET=fuzz_<name> (see tests/fuzz/meson.build). */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_TARGET(data, size);
    return 0;
}
