/* safetensors.c: the safetensors file format (see safetensors.h). jansson
 * reads and writes the JSON; this file holds the format's rules. */
#include "train/safetensors.h"

#include "util/atomic_file.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

typedef struct {
    const char *path;
    cnn_error *err;
} ctx;

static cnn_status bad(const ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static cnn_status bad(const ctx *c, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cnn_fail(c->err, CNN_ERR_INPUT, "%s: not a valid safetensors file: %s",
                    c->path, what);
}

static cnn_status out_of_memory(const ctx *c)
{
    return cnn_fail(c->err, CNN_ERR_RUNTIME, "out of host memory");
}

/* The format's dtypes and their sizes in bytes. */
static const struct {
    const char *name;
    int size;
} dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2},
    {"I32", 4}, {"U32", 4}, {"F32", 4},
    {"I64", 8}, {"U64", 8}, {"F64", 8},
};

static int dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dtypes[i].name, name))
            return dtypes[i].size;
    return 0;
}

/* A JSON string into out (at most size-1 bytes; longer is an error). The
 * parser refuses \u0000, so the string has no NUL inside. */
static cnn_status copy_string(const ctx *c, const json_t *v, const char *what,
                              char *out, size_t size)
{
    if (!json_is_string(v))
        return bad(c, "%s is not a string", what);
    size_t n = json_string_length(v);
    if (n >= size)
        return bad(c, "%s is longer than %zu bytes", what, size - 1);
    memcpy(out, json_string_value(v), n);
    out[n] = '\0';
    return CNN_OK;
}

/* An array of at most max integers >= 0 into out. */
static int int_array(const json_t *v, int64_t *out, int max, int *count)
{
    if (!json_is_array(v) || json_array_size(v) > (size_t)max)
        return 0;
    *count = (int)json_array_size(v);
    for (int i = 0; i < *count; i++) {
        const json_t *x = json_array_get(v, (size_t)i);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return 0;
        out[i] = json_integer_value(x);
    }
    return 1;
}

static cnn_status tensor_entry(const ctx *c, const char *name, const json_t *v,
                               st_entry *e)
{
    memset(e, 0, sizeof *e);
    if (strlen(name) >= sizeof e->name)
        return bad(c, "a tensor name is longer than %zu bytes", sizeof e->name - 1);
    snprintf(e->name, sizeof e->name, "%s", name);
    if (!json_is_object(v))
        return bad(c, "tensor '%s' is not an object", name);
    const char *key;
    const json_t *field;
    json_object_foreach((json_t *)v, key, field)
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return bad(c, "tensor '%s' has an unknown field '%.32s'", name, key);
    const json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
                 *offsets = json_object_get(v, "data_offsets");
    if (!dtype || !shape || !offsets)
        return bad(c, "tensor '%s' lacks dtype, shape or data_offsets", name);
    cnn_status st = copy_string(c, dtype, "a dtype", e->dtype, sizeof e->dtype);
    if (st)
        return st;
    int size = dtype_size(e->dtype);
    if (!size)
        return bad(c, "tensor '%s' has an unknown dtype '%s'", name, e->dtype);
    if (!int_array(shape, e->shape, ST_MAX_DIMS, &e->ndim))
        return bad(c, "tensor '%s' has a bad shape (not at most %d integers >= 0)", name,
                   ST_MAX_DIMS);
    int64_t off[2];
    int n;
    if (!int_array(offsets, off, 2, &n) || n != 2 || off[1] < off[0])
        return bad(c, "tensor '%s' has bad data_offsets (not [begin, end], "
                   "0 <= begin <= end)", name);
    e->begin = (uint64_t)off[0];
    e->end = (uint64_t)off[1];
    uint64_t bytes = (uint64_t)size;
    for (int d = 0; d < e->ndim; d++)
        if (__builtin_mul_overflow(bytes, (uint64_t)e->shape[d], &bytes))
            return bad(c, "tensor '%s' has a shape too large to address", name);
    if (bytes != e->end - e->begin)
        return bad(c, "tensor '%s' is %s of %llu bytes, its data_offsets hold %llu", name,
                   e->dtype, (unsigned long long)bytes,
                   (unsigned long long)(e->end - e->begin));
    return CNN_OK;
}

/* 8 lowercase hex digits into *crc. */
static int parse_crc(const char *s, uint32_t *crc)
{
    if (strlen(s) != 8 || strspn(s, "0123456789abcdef") != 8)
        return 0;
    *crc = (uint32_t)strtoul(s, NULL, 16);
    return 1;
}

/* The metadata strings, and the checksums into h's entries. */
static cnn_status metadata(const ctx *c, const json_t *md, const json_t *root,
                           st_header *h)
{
    if (!json_is_object(md))
        return bad(c, "__metadata__ is not an object");
    h->meta = malloc((json_object_size(md) + 1) * sizeof *h->meta);
    if (!h->meta)
        return out_of_memory(c);
    const char *key;
    const json_t *v;
    size_t prefix = strlen(ST_CRC_PREFIX);
    int crcs = 0;
    json_object_foreach((json_t *)md, key, v) {
        cnn_status st;
        if (!strncmp(key, ST_CRC_PREFIX, prefix)) {
            const char *tensor = key + prefix;
            if (!strcmp(tensor, "__metadata__") || !json_object_get(root, tensor))
                return bad(c, "metadata '%.160s' is the checksum of no tensor", key);
            if (!json_is_string(v) || !parse_crc(json_string_value(v), &(uint32_t){0}))
                return bad(c, "metadata '%.160s' is not 8 lowercase hex digits", key);
            crcs++;
            continue;
        }
        st_meta *m = &h->meta[h->nmeta++];
        if (strlen(key) >= sizeof m->key)
            return bad(c, "a metadata key is longer than %zu bytes", sizeof m->key - 1);
        snprintf(m->key, sizeof m->key, "%s", key);
        char what[96];
        snprintf(what, sizeof what, "metadata '%s'", key);
        if ((st = copy_string(c, v, what, m->value, sizeof m->value)))
            return st;
    }
    if (!crcs)
        return CNN_OK;
    /* Some checksums: then every tensor has one, so that dropping a key
     * cannot hide damage. */
    char name[sizeof ST_CRC_PREFIX + sizeof h->entries[0].name];
    for (int i = 0; i < h->count; i++) {
        st_entry *e = &h->entries[i];
        snprintf(name, sizeof name, ST_CRC_PREFIX "%s", e->name);
        const json_t *crc = json_object_get(md, name);
        if (!crc)
            return bad(c, "tensor '%s' has no checksum while others do", e->name);
        parse_crc(json_string_value(crc), &e->crc);
        e->has_crc = 1;
    }
    h->checksummed = 1;
    return CNN_OK;
}

static cnn_status parse(const ctx *c, const char *text, size_t len, st_header *h)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return bad(c, "the header is not valid JSON: %s (header byte %d)", jerr.text,
                   jerr.position);
    cnn_status st = CNN_OK;
    if (!json_is_object(root)) {
        st = bad(c, "the header is not a JSON object");
        goto done;
    }
    h->entries = malloc((json_object_size(root) + 1) * sizeof *h->entries);
    if (!h->entries) {
        st = out_of_memory(c);
        goto done;
    }
    const char *name;
    const json_t *v;
    json_object_foreach(root, name, v)
        if (strcmp(name, "__metadata__") &&
            (st = tensor_entry(c, name, v, &h->entries[h->count++])))
            goto done;
    const json_t *md = json_object_get(root, "__metadata__");
    if (md)
        st = metadata(c, md, root, h);
    if (!h->count)
        h->checksummed = 1; /* nothing to check */
done:
    json_decref(root);
    return st;
}

static int by_begin(const void *a, const void *b)
{
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1
         : x->end < y->end ? -1 : x->end > y->end;
}

/* The byte ranges, in order of their start, must tile the data section:
 * each inside it, none overlapping, no byte between or after them. */
static cnn_status check_ranges(const ctx *c, const st_header *h, uint64_t data_size)
{
    st_entry **order = malloc((size_t)(h->count ? h->count : 1) * sizeof *order);
    if (!order)
        return out_of_memory(c);
    for (int i = 0; i < h->count; i++)
        order[i] = &h->entries[i];
    qsort(order, (size_t)h->count, sizeof *order, by_begin);
    cnn_status st = CNN_OK;
    uint64_t covered = 0;
    for (int i = 0; i < h->count && st == CNN_OK; i++) {
        const st_entry *e = order[i];
        if (e->end > data_size)
            st = bad(c, "tensor '%s' ends at byte %llu, past the data's %llu", e->name,
                     (unsigned long long)e->end, (unsigned long long)data_size);
        else if (e->begin < covered)
            st = bad(c, "tensors '%s' and '%s' overlap", order[i - 1]->name, e->name);
        else if (e->begin > covered)
            st = bad(c, "data bytes %llu to %llu belong to no tensor",
                     (unsigned long long)covered, (unsigned long long)e->begin);
        else
            covered = e->end;
    }
    if (st == CNN_OK && covered != data_size)
        st = bad(c, "data bytes %llu to %llu belong to no tensor",
                 (unsigned long long)covered, (unsigned long long)data_size);
    free(order);
    return st;
}

cnn_status st_read_header(const char *path, st_header *h, cnn_error *err)
{
    memset(h, 0, sizeof *h);
    snprintf(h->path, sizeof h->path, "%s", path);
    ctx c = {path, err};
    struct stat sb;
    if (stat(path, &sb))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    unsigned char len8[8];
    cnn_status st = CNN_OK;
    char *text = NULL;
    if (fread(len8, 1, 8, f) != 8) {
        st = bad(&c, "shorter than the 8-byte header length");
        goto done;
    }
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | len8[i];
    if (len < 2 || len > (uint64_t)sb.st_size - 8) {
        st = bad(&c, "header length %llu does not fit the file's %lld bytes",
                 (unsigned long long)len, (long long)sb.st_size);
        goto done;
    }
    if (len > ST_MAX_HEADER) {
        st = bad(&c, "header length %llu is over cnn-cl's limit of %u bytes (16 MiB)",
                 (unsigned long long)len, ST_MAX_HEADER);
        goto done;
    }
    text = malloc(len);
    if (!text) {
        st = out_of_memory(&c);
        goto done;
    }
    if (fread(text, 1, len, f) != len) {
        st = bad(&c, "header shorter than its length says");
        goto done;
    }
    if ((st = parse(&c, text, len, h)))
        goto done;
    h->data_start = 8 + len;
    st = check_ranges(&c, h, (uint64_t)sb.st_size - h->data_start);
done:
    free(text);
    fclose(f);
    if (st)
        st_header_free(h);
    return st;
}

void st_header_free(st_header *h)
{
    free(h->entries);
    free(h->meta);
    h->entries = NULL;
    h->meta = NULL;
    h->count = h->nmeta = 0;
}

const st_entry *st_find(const st_header *h, const char *name)
{
    for (int i = 0; i < h->count; i++)
        if (!strcmp(h->entries[i].name, name))
            return &h->entries[i];
    return NULL;
}

const char *st_meta_get(const st_header *h, const char *key)
{
    for (int i = 0; i < h->nmeta; i++)
        if (!strcmp(h->meta[i].key, key))
            return h->meta[i].value;
    return NULL;
}

cnn_status st_read_f32(const st_header *h, const st_entry *e, float *out,
                       size_t count, cnn_error *err)
{
    if (strcmp(e->dtype, "F32") || e->end - e->begin != count * 4)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' is %s of %llu bytes, "
                        "expected F32 of %zu", h->path, e->name, e->dtype,
                        (unsigned long long)(e->end - e->begin), count * 4);
    FILE *f = fopen(h->path, "rb");
    if (!f)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot open: %s", h->path, strerror(errno));
    unsigned char *raw = (unsigned char *)out; /* converted in place */
    int ok = fseeko(f, (off_t)(h->data_start + e->begin), SEEK_SET) == 0 &&
             fread(raw, 4, count, f) == count;
    fclose(f);
    if (!ok)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot read tensor '%s'", h->path, e->name);
    uint32_t crc = (uint32_t)crc32_z(0, raw, count * 4);
    if (e->has_crc && crc != e->crc)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' is damaged: its bytes' CRC-32 "
                        "is %08x, the file records %08x", h->path, e->name,
                        (unsigned)crc, (unsigned)e->crc);
    for (size_t i = 0; i < count; i++) {
        const unsigned char *b = raw + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        memcpy(&out[i], &u, 4);
    }
    return CNN_OK;
}

static size_t elements(const st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* Floats k.. of t (as many as fit) into buf as little-endian bytes;
 * returns how many. */
static size_t chunk_le(const st_tensor *t, size_t k, unsigned char *buf, size_t size)
{
    size_t n = elements(t) - k;
    if (n > size / 4)
        n = size / 4;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &t->data[k + i], 4);
        for (int b = 0; b < 4; b++)
            buf[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    return n;
}

/* The header's JSON, in the order st_write promises; NULL when out of
 * memory or a string is not UTF-8. */
static json_t *header_json(const st_tensor *tensors, int count, const uint32_t *crc,
                           const st_meta *meta, int nmeta)
{
    json_t *root = json_object(), *md = json_object();
    int ok = root && md && !json_object_set(root, "__metadata__", md);
    for (int i = 0; ok && i < nmeta; i++)
        ok = !json_object_set_new(md, meta[i].key, json_string(meta[i].value));
    char key[sizeof ST_CRC_PREFIX + 160], hex[9];
    for (int i = 0; ok && i < count; i++) {
        snprintf(key, sizeof key, ST_CRC_PREFIX "%s", tensors[i].name);
        snprintf(hex, sizeof hex, "%08x", (unsigned)crc[i]);
        ok = !json_object_set_new(md, key, json_string(hex));
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < count; i++) {
        ok = 0; /* until this tensor is in */
        json_t *shape = json_array();
        int dims = shape != NULL;
        for (int d = 0; dims && d < tensors[i].ndim; d++)
            dims = !json_array_append_new(shape, json_integer(tensors[i].shape[d]));
        if (!dims) {
            json_decref(shape);
            break;
        }
        uint64_t end = offset + 4 * (uint64_t)elements(&tensors[i]);
        /* json_pack takes shape, also when it fails */
        ok = !json_object_set_new(root, tensors[i].name,
                 json_pack("{s:s,s:o,s:[I,I]}", "dtype", "F32", "shape", shape,
                           "data_offsets", (json_int_t)offset, (json_int_t)end));
        offset = end;
    }
    json_decref(md);
    if (!ok)
        json_decref(root);
    return ok ? root : NULL;
}

static int write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

cnn_status st_write(const char *path, const st_tensor *tensors, int count,
                    const st_meta *meta, int nmeta, cnn_error *err)
{
    for (int i = 0; i < nmeta; i++)
        if (!strncmp(meta[i].key, ST_CRC_PREFIX, strlen(ST_CRC_PREFIX)))
            return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata key '%s' is reserved for "
                            "checksums", path, meta[i].key);
    for (int i = 0; i < count; i++)
        for (int j = 0; j <= i; j++)
            if (!strcmp(tensors[i].name, j < i ? tensors[j].name : "__metadata__"))
                return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor name '%s' given twice or "
                                "reserved", path, tensors[i].name);
    unsigned char buf[4096];
    uint32_t *crc = malloc((count > 0 ? (size_t)count : 1) * sizeof *crc);
    if (!crc)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    for (int i = 0; i < count; i++) {
        crc[i] = (uint32_t)crc32_z(0, NULL, 0);
        for (size_t k = 0, n; (n = chunk_le(&tensors[i], k, buf, sizeof buf)); k += n)
            crc[i] = (uint32_t)crc32_z(crc[i], buf, 4 * n);
    }
    json_t *root = header_json(tensors, count, crc, meta, nmeta);
    free(crc);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text)
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: cannot build the header (out of host "
                        "memory, or a name that is not UTF-8)", path);
    size_t len = strlen(text);
    static const char spaces[8] = "        ";
    size_t pad = (8 - len % 8) % 8; /* the data section starts 8-byte aligned */

    atomic_file out;
    cnn_status st = atomic_file_open(&out, path, err);
    if (st) {
        free(text);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)(len + pad) >> (8 * i));
    int ok = write_all(out.f, len8, 8) && write_all(out.f, text, len) &&
             write_all(out.f, spaces, pad);
    free(text);
    for (int i = 0; ok && i < count; i++)
        for (size_t k = 0, n; ok && (n = chunk_le(&tensors[i], k, buf, sizeof buf)); k += n)
            ok = write_all(out.f, buf, 4 * n);
    if (!ok) {
        atomic_file_abort(&out);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: cannot write: %s", path, strerror(errno));
    }
    return atomic_file_commit(&out, err);
}
