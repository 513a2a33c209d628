/* normalize.c: input statistics, their cache, applying them (see
 * normalize.h). */
#include "data/normalize.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/records.h"
#include "util/atomic_file.h"
#include "util/cache.h"

/* Images are read this many bytes of records at a time (one record at
 * least). */
#define CHUNK (1 << 20)

typedef uint64_t histogram[NORM_MAX_CHANNELS][256];

/* Counts the byte values of records 0 .. n - 1 of part p, channel by
 * channel. */
static cnn_status count_part(const dataset_part *p, uint64_t n, dataset_shape s,
                             histogram h, unsigned char *buf, cnn_error *err)
{
    const dataset_field *f = &p->images;
    size_t plane = (size_t)s.h * (size_t)s.w, pixels = (size_t)s.c * plane;
    int fd = open(f->path, O_RDONLY);
    if (fd < 0)
        return cnn_fail_file(err, f->name, "cannot open: %s", strerror(errno));
    uint64_t per_chunk = f->stride < CHUNK ? CHUNK / f->stride : 1;
    cnn_status st = CNN_OK;
    for (uint64_t done = 0; done < n && st == CNN_OK;) {
        uint64_t k = n - done < per_chunk ? n - done : per_chunk;
        size_t want = (size_t)(k - 1) * f->stride + pixels;
        if (records_read_at(fd, buf, want, f->offset + (off_t)(done * f->stride))) {
            st = cnn_fail_file(err, f->name, "read failed at image %llu (was the file "
                               "changed?)", (unsigned long long)done);
            break;
        }
        for (uint64_t r = 0; r < k; r++) {
            const unsigned char *px = buf + r * f->stride;
            for (int c = 0; c < s.c; c++)
                for (size_t i = 0; i < plane; i++)
                    h[c][px[(size_t)c * plane + i]]++;
        }
        done += k;
    }
    close(fd);
    return st;
}

cnn_status norm_compute(const dataset_split *split, uint64_t limit, norm_stats *out,
                        cnn_error *err)
{
    memset(out, 0, sizeof *out);
    dataset_shape s = split->shape;
    uint64_t samples = limit && limit < split->count ? limit : split->count;
    if (s.c < 1 || s.c > NORM_MAX_CHANNELS)
        return cnn_fail(err, CNN_ERR_INPUT, "images of %d channels cannot be normalised; "
                        "1 to %d can", s.c, NORM_MAX_CHANNELS);
    if (!samples)
        return cnn_fail(err, CNN_ERR_INPUT, "no samples to compute input statistics of");
    size_t biggest = 0;
    for (int k = 0; k < split->nparts; k++)
        if (split->part[k].images.stride > biggest)
            biggest = split->part[k].images.stride;
    unsigned char *buf = malloc(biggest > CHUNK ? biggest : CHUNK);
    histogram *h = calloc(1, sizeof *h);
    cnn_status st = buf && h ? CNN_OK : cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    uint64_t left = samples;
    for (int k = 0; k < split->nparts && left && st == CNN_OK; k++) {
        uint64_t n = split->part[k].count < left ? split->part[k].count : left;
        st = count_part(&split->part[k], n, s, *h, buf, err);
        left -= n;
    }
    if (st == CNN_OK) {
        double total = (double)samples * s.h * s.w;
        out->channels = s.c;
        for (int c = 0; c < s.c; c++) {
            double sum = 0, dev = 0;
            for (int v = 0; v < 256; v++)
                sum += (double)(*h)[c][v] * (v / 255.0);
            double mean = sum / total;
            for (int v = 0; v < 256; v++)
                dev += (double)(*h)[c][v] * (v / 255.0 - mean) * (v / 255.0 - mean);
            float sd = (float)sqrt(dev / total);
            out->mean[c] = (float)mean;
            out->std[c] = sd > 0 ? sd : 1.0f;
        }
    }
    free(h);
    free(buf);
    return st;
}

/* The cache entry for the statistics of split's first `samples` samples:
 * "normalize-<hash>" (see norm_cached). */
static cnn_status entry_path(const dataset_split *split, uint64_t samples, char *path,
                             size_t size, cnn_error *err)
{
    static const char version[] = "cnn-cl normalize 1";
    uint64_t h = cache_hash(CACHE_HASH_SEED, version, sizeof version);
    h = cache_hash(h, &samples, sizeof samples);
    h = cache_hash(h, &split->shape, sizeof split->shape);
    for (int k = 0; k < split->nparts; k++) {
        const dataset_part *p = &split->part[k];
        char real[PATH_MAX];
        struct stat st;
        if (!realpath(p->images.name, real) || stat(real, &st))
            return cnn_fail_file(err, p->images.name, "cannot open: %s", strerror(errno));
        h = cache_hash(h, real, strlen(real) + 1);
        h = cache_hash(h, &st.st_dev, sizeof st.st_dev);
        h = cache_hash(h, &st.st_ino, sizeof st.st_ino);
        h = cache_hash(h, &st.st_size, sizeof st.st_size);
        h = cache_hash(h, &st.st_mtim, sizeof st.st_mtim);
        h = cache_hash(h, &st.st_ctim, sizeof st.st_ctim);
        h = cache_hash(h, &p->images.offset, sizeof p->images.offset);
        h = cache_hash(h, &p->images.stride, sizeof p->images.stride);
        h = cache_hash(h, &p->count, sizeof p->count);
    }
    char name[64];
    snprintf(name, sizeof name, "normalize-%016llx", (unsigned long long)h);
    return cache_path(name, path, size, err);
}

/* Reads an entry's two lines, "mean A,B,C" and "std A,B,C"; -1 when the
 * file is missing or not that. */
static int entry_read(const char *path, int channels, norm_stats *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char mean[256], std[256];
    int ok = fscanf(f, "mean %255s std %255s", mean, std) == 2 &&
             !norm_parse(mean, channels, out->mean) && !norm_parse(std, channels, out->std);
    fclose(f);
    for (int c = 0; ok && c < channels; c++)
        ok = out->std[c] > 0;
    out->channels = ok ? channels : 0;
    return ok ? 0 : -1;
}

cnn_status norm_cached(const dataset_split *split, uint64_t limit, norm_stats *out,
                       int *cached, cnn_error *err)
{
    uint64_t samples = limit && limit < split->count ? limit : split->count;
    char path[4200];
    cnn_status st = entry_path(split, samples, path, sizeof path, err);
    *cached = st == CNN_OK && !entry_read(path, split->shape.c, out);
    if (st || *cached)
        return st;
    if ((st = norm_compute(split, limit, out, err)))
        return st;
    atomic_file a;
    cnn_error ignored = {0};
    if (atomic_file_open(&a, path, &ignored) == CNN_OK) {
        char mean[256], std[256];
        norm_format(out->mean, out->channels, mean, sizeof mean);
        norm_format(out->std, out->channels, std, sizeof std);
        fprintf(a.f, "mean %s\nstd %s\n", mean, std);
        atomic_file_commit(&a, &ignored);
    }
    return CNN_OK;
}

void norm_scale(const unsigned char *bytes, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)bytes[i] / 255.0f;
}

void norm_apply(const norm_stats *n, float *x, size_t plane)
{
    for (int c = 0; c < n->channels; c++, x += plane)
        for (size_t i = 0; i < plane; i++)
            x[i] = (x[i] - n->mean[c]) / n->std[c];
}

void norm_format(const float *v, int channels, char *out, size_t size)
{
    size_t used = 0;
    *out = '\0';
    for (int c = 0; c < channels && used < size; c++)
        used += (size_t)snprintf(out + used, size - used, "%s%.9g", c ? "," : "",
                                 (double)v[c]);
}

int norm_parse(const char *text, int channels, float *v)
{
    const char *p = text;
    for (int c = 0; c < channels; c++) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x) || fabs(x) > 1e30 || *end != (c + 1 < channels ? ',' : '\0'))
            return -1;
        v[c] = (float)x;
        p = end + 1;
    }
    return channels > 0 ? 0 : -1;
}
