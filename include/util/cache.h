/* cache: cnn-cl's cache folder, $XDG_CACHE_HOME/cnn-cl, else
 * ~/.cache/cnn-cl — for what is costly to redo and safe to lose:
 * decompressed data sets, the kernel variants the tuner chose for a device. */
#ifndef CACHE_H
#define CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util/cnn_error.h"

/* The path of entry `name` in the cache folder, creating the folder. */
cnn_status cache_path(const char *name, char *out, size_t size, cnn_error *err);

/* FNV-1a over n bytes, continuing from h (start with CACHE_HASH_SEED), to
 * name entries after what they depend on. */
#define CACHE_HASH_SEED 1469598103934665603ull
uint64_t cache_hash(uint64_t h, const void *data, size_t n);

#endif
