/* dataset.c: telling the formats apart, and the label scan they share (see
 * dataset.h). */
#include "dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cifar.h"
#include "idx.h"

cnn_status dataset_open(const char *dir, dataset *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return cnn_fail(err, CNN_ERR_INPUT,
                        "%s: no such data folder; fetch MNIST with "
                        "`tools/fetch-datasets.sh mnist` or pass --data DIR", dir);
    if (idx_dataset_present(dir))
        return idx_dataset_open(dir, out, err);
    if (cifar_dataset_present(dir))
        return cifar_dataset_open(dir, out, err);
    return cnn_fail(err, CNN_ERR_INPUT,
                    "%s: holds no data set; a data folder holds the IDX files "
                    "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may be .gz), "
                    "or CIFAR-10's binary batches data_batch_1.bin ... data_batch_5.bin "
                    "and test_batch.bin", dir);
}

int dataset_read_at(int fd, void *buf, size_t n, off_t off)
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

static cnn_status check_part(const dataset_part *p, int classes, const char *whose,
                             int *largest, unsigned char *buf, cnn_error *err)
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
        if (dataset_read_at(fd, buf, want, at)) {
            s = cnn_fail_file(err, f->name, "read failed at label %llu",
                              (unsigned long long)done);
            break;
        }
        for (uint64_t i = 0; i < n; i++) {
            int label = buf[i * f->stride];
            if (label >= classes) {
                s = cnn_fail_file(err, f->name, "label %d at item %llu is outside %s %d "
                                  "classes (0..%d)", label,
                                  (unsigned long long)(done + i), whose, classes,
                                  classes - 1);
                break;
            }
            if (label > *largest)
                *largest = label;
        }
        done += n;
    }
    close(fd);
    return s;
}

cnn_status dataset_check_labels(const dataset_split *split, int classes,
                                const char *whose, int *largest,
                                cnn_error *err)
{
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    int top = 0;
    cnn_status s = CNN_OK;
    for (int i = 0; i < split->nparts && s == CNN_OK; i++)
        s = check_part(&split->part[i], classes, whose, &top, buf, err);
    free(buf);
    if (s == CNN_OK && largest)
        *largest = top;
    return s;
}

cnn_status dataset_check_model(const dataset *ds, const char *dir,
                               dataset_shape input, int classes,
                               cnn_error *err)
{
    dataset_shape d = ds->shape;
    if (d.c != input.c || d.h != input.h || d.w != input.w)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: images are %dx%dx%d but the model takes "
                        "%dx%dx%d", dir, d.c, d.h, d.w, input.c, input.h, input.w);
    /* Below the data set's own class count, every label is known to fit. */
    if (ds->classes <= classes)
        return CNN_OK;
    return dataset_check_labels(&ds->test, classes, "the model's", NULL, err);
}
