/* idx.c: IDX parsing and validation, with gzip files decompressed once into
 * a cache. See idx.h for the format. */
#include "data/idx.h"

#include "util/cache.h"
#include "data/records.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* A generous bound on one image: rejects nonsense headers early. */
#define MAX_IMAGE_PIXELS (1u << 24)

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decompresses `name` into the cache unless an entry for this exact file
 * (path, size, modification time) is already there; fills `path`. */
static cnn_status gunzip_cached(const char *name, const struct stat *st,
                                char *path, size_t size, cnn_error *err)
{
    char real[4096], entry[512];
    if (!realpath(name, real))
        snprintf(real, sizeof real, "%s", name);
    uint64_t h = cache_hash(CACHE_HASH_SEED, real, strlen(real));
    h = cache_hash(h, &st->st_size, sizeof st->st_size);
    h = cache_hash(h, &st->st_mtim, sizeof st->st_mtim);
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    size_t blen = strlen(base);
    if (blen > 3 && !strcmp(base + blen - 3, ".gz"))
        blen -= 3;
    snprintf(entry, sizeof entry, "%.*s-%016llx", (int)blen, base, (unsigned long long)h);
    cnn_status s = cache_path(entry, path, size, err);
    if (s || access(path, R_OK) == 0)
        return s;

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cnn_fail(err, CNN_ERR_RUNTIME, "cannot create %s: %s", tmp,
                        strerror(errno));
    gzFile gz = gzopen(name, "rb");
    s = CNN_OK;
    if (!gz) {
        s = cnn_fail_file(err, name, "cannot open: %s", strerror(errno));
    } else {
        static unsigned char buf[1 << 16];
        int n;
        while ((n = gzread(gz, buf, sizeof buf)) > 0) {
            if (write(fd, buf, (size_t)n) != n) {
                s = cnn_fail(err, CNN_ERR_RUNTIME, "writing %s: %s", tmp,
                             strerror(errno));
                break;
            }
        }
        /* A stream cut short reads as a quiet end of file: zlib reports it
         * only through gzerror (Z_BUF_ERROR) and gzclose. */
        int zerr = Z_OK;
        const char *msg = gzerror(gz, &zerr);
        if (s == CNN_OK && (n < 0 || zerr != Z_OK))
            s = cnn_fail_file(err, name, "corrupt gzip data (%s)", msg);
        if (gzclose(gz) != Z_OK && s == CNN_OK)
            s = cnn_fail_file(err, name, "corrupt gzip data (truncated or bad checksum)");
    }
    if (s == CNN_OK && fsync(fd))
        s = cnn_fail(err, CNN_ERR_RUNTIME, "writing %s: %s", tmp, strerror(errno));
    close(fd);
    if (s == CNN_OK && rename(tmp, path))
        s = cnn_fail(err, CNN_ERR_RUNTIME, "renaming %s: %s", tmp, strerror(errno));
    if (s)
        unlink(tmp);
    return s;
}

cnn_status idx_open(const char *name, uint32_t magic, idx_file *out,
                    cnn_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    struct stat st;
    if (stat(name, &st))
        return cnn_fail_file(err, name, "cannot open: %s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cnn_fail_file(err, name, "is a folder, not an IDX file");
    if (!S_ISREG(st.st_mode))
        return cnn_fail_file(err, name, "is not a regular file");

    int fd = open(name, O_RDONLY);
    if (fd < 0)
        return cnn_fail_file(err, name, "cannot open: %s", strerror(errno));
    unsigned char head[16];
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    if (got < 0)
        return cnn_fail_file(err, name, "cannot read: %s", strerror(errno));

    snprintf(out->path, sizeof out->path, "%s", name);
    if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
        cnn_status s = gunzip_cached(name, &st, out->path, sizeof out->path, err);
        if (s)
            return s;
        if (stat(out->path, &st))
            return cnn_fail_file(err, out->path, "cannot open: %s", strerror(errno));
        fd = open(out->path, O_RDONLY);
        if (fd < 0)
            return cnn_fail_file(err, out->path, "cannot open: %s", strerror(errno));
        got = read(fd, head, sizeof head);
        close(fd);
    }

    size_t header = magic == IDX_IMAGES ? 16 : 8;
    if (got < 4)
        return cnn_fail_file(err, name, "too short for an IDX header (%zd bytes)", got);
    uint32_t m = be32(head);
    if (m != magic)
        return cnn_fail_file(err, name, "wrong magic number %u (expected %u, an IDX %s file)",
                             m, magic, magic == IDX_IMAGES ? "image" : "label");
    if ((size_t)got < header)
        return cnn_fail_file(err, name, "header is %zd bytes, shorter than the %zu "
                             "an IDX %s file needs", got, header,
                             magic == IDX_IMAGES ? "image" : "label");
    out->magic = m;
    out->count = be32(head + 4);
    out->rows = magic == IDX_IMAGES ? be32(head + 8) : 1;
    out->cols = magic == IDX_IMAGES ? be32(head + 12) : 1;
    if (out->count == 0)
        return cnn_fail_file(err, name, "holds zero items");
    if (out->rows == 0 || out->cols == 0)
        return cnn_fail_file(err, name, "has a zero image dimension (%u x %u)",
                             out->rows, out->cols);
    uint64_t pixels = (uint64_t)out->rows * out->cols;
    if (pixels > MAX_IMAGE_PIXELS)
        return cnn_fail_file(err, name, "image size %u x %u overflows the limit of %u pixels",
                             out->rows, out->cols, MAX_IMAGE_PIXELS);
    uint64_t bytes = pixels * out->count; /* < 2^56: cannot overflow */
    uint64_t have = (uint64_t)st.st_size - header;
    if (have < bytes)
        return cnn_fail_file(err, name, "data is %llu bytes, shorter than the %llu its "
                             "header says (%u items)", (unsigned long long)have,
                             (unsigned long long)bytes, out->count);
    if (have > bytes)
        return cnn_fail_file(err, name, "has %llu bytes after the %llu its header says "
                             "(%u items)", (unsigned long long)(have - bytes),
                             (unsigned long long)bytes, out->count);
    out->data_offset = (off_t)header;
    return CNN_OK;
}

/* dir/base, or dir/base.gz when only that exists. */
static void find(const char *dir, const char *base, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", dir, base);
    if (access(out, F_OK) == 0)
        return;
    char gz[4200];
    snprintf(gz, sizeof gz, "%s.gz", out);
    if (access(gz, F_OK) == 0)
        snprintf(out, size, "%s", gz);
}

static const char *const file_names[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

static int present(const char *dir)
{
    char path[4200];
    for (int i = 0; i < 4; i++) {
        find(dir, file_names[i], path, sizeof path);
        if (access(path, F_OK) == 0)
            return 1;
    }
    return 0;
}

static void field(dataset_field *f, const idx_file *file, size_t stride)
{
    snprintf(f->name, sizeof f->name, "%s", file->name);
    snprintf(f->path, sizeof f->path, "%s", file->path);
    f->offset = file->data_offset;
    f->stride = stride;
}

cnn_status idx_split_make(const idx_file *images, const idx_file *labels,
                          dataset_split *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    if (images->count != labels->count)
        return cnn_fail_file(err, labels->name, "holds %u labels but %s holds %u images",
                             labels->count, images->name, images->count);
    out->shape = (dataset_shape){1, (int)images->rows, (int)images->cols};
    out->count = images->count;
    out->nparts = 1;
    field(&out->part[0].images, images, (size_t)images->rows * images->cols);
    field(&out->part[0].labels, labels, 1);
    out->part[0].count = images->count;
    return CNN_OK;
}

/* Opens dir/<prefix>-images-idx3-ubyte and dir/<prefix>-labels-idx1-ubyte. */
static cnn_status split_open(const char *dir, const char *const names[2],
                             dataset_split *out, cnn_error *err)
{
    char path[4096];
    idx_file images, labels;
    find(dir, names[0], path, sizeof path);
    cnn_status s = idx_open(path, IDX_IMAGES, &images, err);
    if (s)
        return s;
    find(dir, names[1], path, sizeof path);
    if ((s = idx_open(path, IDX_LABELS, &labels, err)))
        return s;
    return idx_split_make(&images, &labels, out, err);
}

static cnn_status open_dir(const char *dir, dataset *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    out->format = dataset_format_idx.name;
    cnn_status s = split_open(dir, file_names, &out->train, err);
    if (s == CNN_OK)
        s = split_open(dir, file_names + 2, &out->test, err);
    if (s)
        return s;
    dataset_shape a = out->train.shape, b = out->test.shape;
    if (a.h != b.h || a.w != b.w)
        return cnn_fail_file(err, out->test.part[0].images.name, "images are %d x %d but "
                             "the training images are %d x %d", b.h, b.w, a.h, a.w);
    out->shape = a;
    records_label top;
    if ((s = records_check_labels(&out->train, 256, "an IDX label is one byte", &top, err)))
        return s;
    out->classes = top.label + 1;
    snprintf(out->classes_from, sizeof out->classes_from,
             "%s: label %d at index %llu implies %d class%s",
             out->train.part[top.part].labels.name, top.label,
             (unsigned long long)top.index, out->classes, out->classes == 1 ? "" : "es");
    return records_check_labels(&out->test, out->classes, out->classes_from, NULL, err);
}

const dataset_format dataset_format_idx = {
    .name = "IDX",
    .files = "the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
             "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may be .gz)",
    .present = present,
    .open = open_dir,
};
