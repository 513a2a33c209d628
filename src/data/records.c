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
