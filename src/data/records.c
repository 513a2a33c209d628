/* records.c: reading record fields and scanning labels, for every format
 * (see records.h). */
#include "data/records.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int records_read_at(int fd, void *buf, size_t n, off_t off)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t got = pread(fd, p, n, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
        off += got;
    }
    return 0;
}

/* Labels are read a chunk of records at a time: one read per record would
 * be one system call per byte for IDX. */
#define CHUNK (1 << 16)

/* Scans part number k of a split, raising *largest to each new largest
 * label it meets. */
static cnn_status check_part(const dataset_part *p, int k, int classes, const char *why,
                             records_label *largest, unsigned char *buf, cnn_error *err)
{
    const dataset_field *f = &p->labels;
    int fd = open(f->path, O_RDONLY);
    if (fd < 0)
        return cnn_fail_file(err, f->name, "cannot open: %s", strerror(errno));
    uint64_t per_chunk = f->stride < CHUNK ? CHUNK / f->stride : 1;
    cnn_status s = CNN_OK;
    for (uint64_t done = 0; done < p->count && s == CNN_OK;) {
        uint64_t n = p->count - done < per_chunk ? p->count - done : per_chunk;
        size_t want = (size_t)(n - 1) * f->stride + 1;
        off_t at = f->offset + (off_t)(done * f->stride);
        if (records_read_at(fd, buf, want, at)) {
            s = cnn_fail_file(err, f->name, "read failed at label %llu",
                              (unsigned long long)done);
            break;
        }
        for (uint64_t i = 0; i < n; i++) {
            int label = buf[i * f->stride];
            if (label >= classes) {
                s = cnn_fail_file(err, f->name, "label %d at index %llu is outside "
                                  "0..%d (%s)", label, (unsigned long long)(done + i),
                                  classes - 1, why);
                break;
            }
            if (label > largest->label)
                *largest = (records_label){label, k, done + i};
        }
        done += n;
    }
    close(fd);
    return s;
}

cnn_status records_check_labels(const dataset_split *split, int classes,
                                const char *why, records_label *largest,
                                cnn_error *err)
{
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    /* Only a larger label replaces it, so the first one stays. */
    records_label top = {0, 0, 0};
    cnn_status s = CNN_OK;
    for (int i = 0; i < split->nparts && s == CNN_OK; i++)
        s = check_part(&split->part[i], i, classes, why, &top, buf, err);
    free(buf);
    if (s == CNN_OK && largest)
        *largest = top;
    return s;
}

cnn_status records_open(records_files *f, const dataset_split *split, cnn_error *err)
{
    f->split = *split;
    for (int k = 0; k < DATASET_MAX_PARTS; k++)
        f->images[k] = f->labels[k] = -1;
    for (int k = 0; k < split->nparts; k++) {
        const dataset_part *p = &split->part[k];
        const char *failed = (f->images[k] = open(p->images.path, O_RDONLY)) < 0
                                 ? p->images.name
                             : (f->labels[k] = open(p->labels.path, O_RDONLY)) < 0
                                 ? p->labels.name : NULL;
        if (failed) {
            cnn_fail_file(err, failed, "cannot open: %s", strerror(errno));
            records_close(f);
            return CNN_ERR_INPUT;
        }
    }
    return CNN_OK;
}

cnn_status records_sample(const records_files *f, uint64_t r, unsigned char *pixels,
                          unsigned char *label, cnn_error *err)
{
    int k = 0; /* the part holding sample r, as record r of it */
    while (r >= f->split.part[k].count)
        r -= f->split.part[k++].count;
    const dataset_part *p = &f->split.part[k];
    dataset_shape s = f->split.shape;
    off_t at = p->images.offset + (off_t)(r * p->images.stride);
    if (records_read_at(f->images[k], pixels, (size_t)s.c * (size_t)s.h * (size_t)s.w, at))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: read failed at image %llu (was the file "
                        "changed?)", p->images.name, (unsigned long long)r);
    at = p->labels.offset + (off_t)(r * p->labels.stride);
    if (records_read_at(f->labels[k], label, 1, at))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: read failed at label %llu (was the file "
                        "changed?)", p->labels.name, (unsigned long long)r);
    return CNN_OK;
}

void records_close(records_files *f)
{
    for (int k = 0; k < DATASET_MAX_PARTS; k++) {
        if (f->images[k] >= 0)
            close(f->images[k]);
        if (f->labels[k] >= 0)
            close(f->labels[k]);
        f->images[k] = f->labels[k] = -1;
    }
}
