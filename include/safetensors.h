/* safetensors: reading and writing the safetensors format — an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian data — for F32 tensors
 * and string metadata. Readers check every byte range before use; a fault
 * is CNN_ERR_INPUT with one line naming the file. Writes are atomic. */
#ifndef SAFETENSORS_H
#define SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn_error.h"

#define ST_MAX_DIMS 8

typedef struct {
    char name[128];
    char dtype[16];
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end; /* byte range within the data section */
} st_entry;

typedef struct {
    char key[64];
    char value[1024];
} st_meta;

typedef struct {
    char path[4096];
    st_entry *entries;
    int count;
    st_meta *meta;
    int nmeta;
    uint64_t data_start; /* file offset of the data section */
} st_header;

/* Parses and checks the header of `path`: valid JSON, every tensor's byte
 * range inside the file, ranges not overlapping. */
cnn_status st_read_header(const char *path, st_header *h, cnn_error *err);
void st_header_free(st_header *h);

const st_entry *st_find(const st_header *h, const char *name);
const char *st_meta_get(const st_header *h, const char *key);

/* Reads an F32 tensor's data into out (count floats, count matching the
 * entry's byte range). */
cnn_status st_read_f32(const st_header *h, const st_entry *e, float *out,
                       size_t count, cnn_error *err);

typedef struct {
    const char *name;
    int ndim;
    const int *shape;
    const float *data;
} st_tensor;

/* Writes tensors (F32) and metadata to path: a temporary file in the same
 * folder, fsync, rename, so a crash leaves the previous file whole. */
cnn_status st_write(const char *path, const st_tensor *tensors, int count,
                    const st_meta *meta, int nmeta, cnn_error *err);

#endif
