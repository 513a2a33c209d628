/* safetensors: reading and writing the safetensors format — an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian data — for F32 tensors
 * and string metadata. jansson parses the header (duplicate keys rejected,
 * at most ST_MAX_HEADER bytes); readers check every name, dtype, shape and
 * byte range before use, and the ranges must tile the data exactly. A fault
 * is CNN_ERR_INPUT with one line naming the file. Writes are atomic.
 *
 * Every file cnn-cl writes records a CRC-32 (zlib's) of each tensor's bytes
 * in the metadata, as "crc32:<tensor name>" -> 8 lowercase hex digits;
 * st_read_f32 checks it. Files of other tools, without these keys, load
 * unchecked (st_header.checksummed is 0). */
#ifndef SAFETENSORS_H
#define SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/cnn_error.h"

#define ST_MAX_DIMS 8
/* Headers beyond this are not cnn-cl checkpoints and not worth parsing:
 * jansson would hold several times the length in memory. */
#define ST_MAX_HEADER (16u << 20)
/* The metadata key of a tensor's checksum is this prefix and its name. */
#define ST_CRC_PREFIX "crc32:"

typedef struct {
    char name[128];
    char dtype[16];
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end; /* byte range within the data section */
    int has_crc;
    uint32_t crc;        /* of the range's bytes, when has_crc */
} st_entry;

/* A value holds a tuner's whole record (checkpoint.c asserts it). */
#define ST_META_VALUE 40960

typedef struct {
    char key[64];
    char value[ST_META_VALUE];
} st_meta;

typedef struct {
    char path[4096];
    st_entry *entries;
    int count;
    st_meta *meta;       /* without the checksum keys */
    int nmeta;
    int checksummed;     /* every tensor has a CRC-32 (a file with some but
                            not all is refused) */
    uint64_t data_start; /* file offset of the data section */
} st_header;

/* Parses and checks the header of `path`: valid JSON without duplicate
 * keys; every tensor an object of a known dtype, a shape and data_offsets
 * holding exactly shape's bytes; the ranges in the file, not overlapping,
 * with no byte between or after them; metadata values strings; checksums
 * 8 hex digits, each naming a tensor. */
cnn_status st_read_header(const char *path, st_header *h, cnn_error *err);
void st_header_free(st_header *h);

const st_entry *st_find(const st_header *h, const char *name);
const char *st_meta_get(const st_header *h, const char *key);

/* Reads an F32 tensor's data into out (count floats, count matching the
 * entry's byte range). A recorded CRC-32 that the bytes do not match is
 * CNN_ERR_INPUT naming the file and the tensor. */
cnn_status st_read_f32(const st_header *h, const st_entry *e, float *out,
                       size_t count, cnn_error *err);

typedef struct {
    const char *name;
    int ndim;
    const int *shape;
    const float *data;
} st_tensor;

/* Writes tensors (F32), meta and each tensor's CRC-32 to path: a temporary
 * file in the same folder, fsync, rename, so a crash leaves the previous
 * file whole. The header lists meta in the given order, then the checksums,
 * then the tensors, so the same arguments give the same bytes. A tensor
 * name given twice or a metadata key starting with ST_CRC_PREFIX is
 * CNN_ERR_INPUT. */
cnn_status st_write(const char *path, const st_tensor *tensors, int count,
                    const st_meta *meta, int nmeta, cnn_error *err);

#endif
