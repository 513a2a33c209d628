/* idxfile: writes small IDX files for the data tests. Pixel p of image i is
 * byte p % 3 of i (little-endian), so the first three pixels spell the
 * sample's index; its label is i % classes. A reader's output thus tells
 * which sample it came from. */
#ifndef IDXFILE_H
#define IDXFILE_H

#include <stdint.h>

/* Writes dir/name; `gzip` compresses it. Returns the path (static). */
const char *idxfile_images(const char *dir, const char *name, uint32_t count,
                           uint32_t rows, uint32_t cols, int gzip);
const char *idxfile_labels(const char *dir, const char *name, uint32_t count,
                           int classes, int gzip);

/* Writes raw bytes to dir/name (for malformed files). */
const char *idxfile_raw(const char *dir, const char *name, const void *bytes,
                        size_t n);

#endif
