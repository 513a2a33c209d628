/* safetensors.c: the safetensors file format (see safetensors.h). The JSON
 * reader understands what the format's header can hold — objects, arrays,
 * strings, integers — and rejects anything else. */
#include "safetensors.h"

#include "atomic_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Headers beyond this are not cnn-cl checkpoints and not worth parsing. */
#define MAX_HEADER (16u << 20)

typedef struct {
    const char *start, *p, *end;
    const char *path;
    cnn_error *err;
} json;

static cnn_status bad(json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static cnn_status bad(json *j, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cnn_fail(j->err, CNN_ERR_INPUT, "%s: not a valid safetensors file: %s",
                    j->path, what);
}

static void skip_ws(json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int accept(json *j, char c)
{
    skip_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

static cnn_status expect(json *j, char c)
{
    return accept(j, c) ? CNN_OK : bad(j, "expected '%c' at header byte %ld", c,
                                       (long)(j->p - j->start));
}

/* A JSON string into out (at most size-1 bytes; longer is an error).
 * Escapes other than \uXXXX beyond ASCII are decoded; \u above 0x7f is
 * stored as '?', which no cnn-cl name contains. */
static cnn_status string(json *j, char *out, size_t size)
{
    if (!accept(j, '"'))
        return bad(j, "expected a string");
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p >= j->end)
                break;
            char e = *j->p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                if (j->end - j->p < 4)
                    return bad(j, "short \\u escape");
                char hex[5] = {j->p[0], j->p[1], j->p[2], j->p[3], 0};
                j->p += 4;
                long v = strtol(hex, NULL, 16);
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            default: c = e; break; /* \" \\ \/ */
            }
        } else if ((unsigned char)c < 0x20) {
            return bad(j, "control character in a string");
        }
        if (n + 1 >= size)
            return bad(j, "a string longer than %zu bytes", size - 1);
        out[n++] = c;
    }
    if (!accept(j, '"'))
        return bad(j, "unterminated string");
    out[n] = '\0';
    return CNN_OK;
}

static cnn_status integer(json *j, int64_t *out)
{
    skip_ws(j);
    const char *start = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    if (j->p == start || j->p - start > 19)
        return bad(j, "expected an integer");
    char buf[24];
    memcpy(buf, start, (size_t)(j->p - start));
    buf[j->p - start] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno)
        return bad(j, "integer out of range");
    *out = v;
    return CNN_OK;
}

static cnn_status int_array(json *j, int64_t *out, int max, int *count)
{
    cnn_status st = expect(j, '[');
    *count = 0;
    if (st || accept(j, ']'))
        return st;
    do {
        if (*count == max)
            return bad(j, "an array longer than %d", max);
        if ((st = integer(j, &out[(*count)++])))
            return st;
    } while (accept(j, ','));
    return expect(j, ']');
}

static cnn_status tensor_entry(json *j, st_entry *e)
{
    cnn_status st = expect(j, '{');
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (st || accept(j, '}'))
        return st ? st : bad(j, "tensor '%s' has no fields", e->name);
    do {
        char key[32];
        if ((st = string(j, key, sizeof key)) || (st = expect(j, ':')))
            return st;
        if (!strcmp(key, "dtype")) {
            st = string(j, e->dtype, sizeof e->dtype);
            have_dtype = 1;
        } else if (!strcmp(key, "shape")) {
            st = int_array(j, e->shape, ST_MAX_DIMS, &e->ndim);
            have_shape = 1;
        } else if (!strcmp(key, "data_offsets")) {
            int64_t off[2];
            int n;
            if (!(st = int_array(j, off, 2, &n))) {
                if (n != 2 || off[0] < 0 || off[1] < off[0])
                    return bad(j, "tensor '%s' has bad data_offsets", e->name);
                e->begin = (uint64_t)off[0];
                e->end = (uint64_t)off[1];
            }
            have_offsets = 1;
        } else {
            return bad(j, "tensor '%s' has an unknown field '%s'", e->name, key);
        }
        if (st)
            return st;
    } while (accept(j, ','));
    if (!have_dtype || !have_shape || !have_offsets)
        return bad(j, "tensor '%s' lacks dtype, shape or data_offsets", e->name);
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] < 0)
            return bad(j, "tensor '%s' has a negative dimension", e->name);
    return expect(j, '}');
}

static cnn_status metadata(json *j, st_header *h)
{
    cnn_status st = expect(j, '{');
    if (st || accept(j, '}'))
        return st;
    do {
        st_meta *grown = realloc(h->meta, (size_t)(h->nmeta + 1) * sizeof *grown);
        if (!grown)
            return cnn_fail(j->err, CNN_ERR_RUNTIME, "out of host memory");
        h->meta = grown;
        st_meta *m = &h->meta[h->nmeta++];
        if ((st = string(j, m->key, sizeof m->key)) || (st = expect(j, ':')) ||
            (st = string(j, m->value, sizeof m->value)))
            return st;
    } while (accept(j, ','));
    return expect(j, '}');
}

static cnn_status parse(json *j, st_header *h)
{
    cnn_status st = expect(j, '{');
    if (st || accept(j, '}'))
        return st;
    do {
        char name[sizeof h->entries[0].name];
        if ((st = string(j, name, sizeof name)) || (st = expect(j, ':')))
            return st;
        if (!strcmp(name, "__metadata__")) {
            if ((st = metadata(j, h)))
                return st;
            continue;
        }
        if (st_find(h, name))
            return bad(j, "tensor '%s' appears twice", name);
        st_entry *grown = realloc(h->entries, (size_t)(h->count + 1) * sizeof *grown);
        if (!grown)
            return cnn_fail(j->err, CNN_ERR_RUNTIME, "out of host memory");
        h->entries = grown;
        st_entry *e = &h->entries[h->count++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        if ((st = tensor_entry(j, e)))
            return st;
    } while (accept(j, ','));
    if ((st = expect(j, '}')))
        return st;
    skip_ws(j);
    return j->p == j->end ? CNN_OK : bad(j, "bytes after the header's JSON");
}

static int by_begin(const void *a, const void *b)
{
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

cnn_status st_read_header(const char *path, st_header *h, cnn_error *err)
{
    memset(h, 0, sizeof *h);
    snprintf(h->path, sizeof h->path, "%s", path);
    struct stat sb;
    if (stat(path, &sb))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    unsigned char len8[8];
    json j = {.path = path, .err = err};
    cnn_status st = CNN_OK;
    char *text = NULL;
    if (fread(len8, 1, 8, f) != 8) {
        st = bad(&j, "shorter than the 8-byte header length");
        goto done;
    }
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | len8[i];
    if (len < 2 || len > MAX_HEADER || len > (uint64_t)sb.st_size - 8) {
        st = bad(&j, "header length %llu does not fit the file's %lld bytes",
                 (unsigned long long)len, (long long)sb.st_size);
        goto done;
    }
    text = malloc(len);
    if (!text) {
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
        goto done;
    }
    if (fread(text, 1, len, f) != len) {
        st = bad(&j, "header shorter than its length says");
        goto done;
    }
    j.start = j.p = text;
    j.end = text + len;
    if ((st = parse(&j, h)))
        goto done;
    h->data_start = 8 + len;
    uint64_t data_size = (uint64_t)sb.st_size - h->data_start;
    st_entry **order = malloc((size_t)(h->count ? h->count : 1) * sizeof *order);
    if (!order) {
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
        goto done;
    }
    for (int i = 0; i < h->count; i++)
        order[i] = &h->entries[i];
    qsort(order, (size_t)h->count, sizeof *order, by_begin);
    for (int i = 0; i < h->count && st == CNN_OK; i++) {
        if (order[i]->end > data_size)
            st = bad(&j, "tensor '%s' ends at byte %llu, past the data's %llu",
                     order[i]->name, (unsigned long long)order[i]->end,
                     (unsigned long long)data_size);
        else if (i && order[i]->begin < order[i - 1]->end)
            st = bad(&j, "tensors '%s' and '%s' overlap", order[i - 1]->name,
                     order[i]->name);
    }
    free(order);
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
    for (size_t i = 0; i < count; i++) {
        const unsigned char *b = raw + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        memcpy(&out[i], &u, 4);
    }
    return CNN_OK;
}

/* Appends JSON-escaped s to the growing buffer. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *grown = realloc(t->s, cap);
        if (!grown) {
            t->oom = 1;
            return;
        }
        t->s = grown;
        t->cap = cap;
    }
}

static void put_string(text *t, const char *s)
{
    put(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(t, "\\%c", c);
        else if (c < 0x20)
            put(t, "\\u%04x", c);
        else
            put(t, "%c", c);
    }
    put(t, "\"");
}

static int write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

cnn_status st_write(const char *path, const st_tensor *tensors, int count,
                    const st_meta *meta, int nmeta, cnn_error *err)
{
    text h = {0};
    put(&h, "{\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
        put(&h, i ? "," : "");
        put_string(&h, meta[i].key);
        put(&h, ":");
        put_string(&h, meta[i].value);
    }
    put(&h, "}");
    uint64_t offset = 0;
    for (int i = 0; i < count; i++) {
        uint64_t n = 1;
        put(&h, ",");
        put_string(&h, tensors[i].name);
        put(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < tensors[i].ndim; d++) {
            put(&h, "%s%d", d ? "," : "", tensors[i].shape[d]);
            n *= (uint64_t)tensors[i].shape[d];
        }
        put(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
            (unsigned long long)(offset + 4 * n));
        offset += 4 * n;
    }
    put(&h, "}");
    while (!h.oom && h.len % 8) /* the data section starts 8-byte aligned */
        put(&h, " ");
    if (h.oom) {
        free(h.s);
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    }

    atomic_file out;
    cnn_status st = atomic_file_open(&out, path, err);
    if (st) {
        free(h.s);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int ok = write_all(out.f, len8, 8) && write_all(out.f, h.s, h.len);
    free(h.s);
    unsigned char buf[4096];
    for (int i = 0; ok && i < count; i++) {
        size_t n = 1, used = 0;
        for (int d = 0; d < tensors[i].ndim; d++)
            n *= (size_t)tensors[i].shape[d];
        for (size_t k = 0; ok && k < n; k++) {
            uint32_t u;
            memcpy(&u, &tensors[i].data[k], 4);
            for (int b = 0; b < 4; b++)
                buf[used++] = (unsigned char)(u >> (8 * b));
            if (used == sizeof buf || k + 1 == n) {
                ok = write_all(out.f, buf, used);
                used = 0;
            }
        }
    }
    if (!ok) {
        atomic_file_abort(&out);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: cannot write: %s", path, strerror(errno));
    }
    return atomic_file_commit(&out, err);
}
