/* targets.c: the parsers' fuzz targets (see targets.h). Every input is
 * written to a file in one folder per process, under $TMPDIR (else /tmp),
 * which also serves as the cache folder for decompressed IDX files. */
#include "targets.h"

#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "nn/arch.h"
#include "train/checkpoint.h"
#include "data/cifar.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "train/metrics_log.h"
#include "data/pnm.h"
#include "data/records.h"
#include "train/safetensors.h"
#include "interop/onnx_import.h"
#include "train/svg_plot.h"

/* A broken promise of a parser: libFuzzer reports the abort as a crash. */
#define PROMISE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: parser promise broken: %s\n", __FILE__,    \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

static char work[4096];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void work_remove(void)
{
    nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The process's folder, created on first use, with cnn-cl's cache in it. */
static const char *work_dir(void)
{
    if (work[0])
        return work;
    const char *tmp = getenv("TMPDIR");
    snprintf(work, sizeof work, "%s/cnn-cl-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(work)) {
        perror(work);
        abort();
    }
    setenv("XDG_CACHE_HOME", work, 1);
    atexit(work_remove);
    return work;
}

static const char *work_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", work_dir(), name);
    return buf;
}

/* Writes data to path, replacing its contents (through every hard link). */
static cnn_status put(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return CNN_ERR_RUNTIME;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return close(fd) == 0 && done == size ? CNN_OK : CNN_ERR_RUNTIME;
}

/* The last byte of a field's last record can be read: the parser checked
 * the file's length. */
static void check_readable(const dataset_field *f, uint64_t count, size_t bytes)
{
    int fd = open(f->path, O_RDONLY);
    PROMISE(fd >= 0);
    unsigned char b;
    PROMISE(records_read_at(fd, &b, 1, f->offset + (off_t)((count - 1) * f->stride +
                                                           bytes - 1)) == 0);
    close(fd);
}

/* idx_open on path; on success, the promised bytes are all there and
 * exactly there, and a label file's labels scan. The decompressed copy,
 * if any, is removed so that the next input cannot hit it in the cache. */
static cnn_status idx_one(const char *path, uint32_t magic, idx_file *f)
{
    cnn_error err = {0};
    cnn_status s = idx_open(path, magic, f, &err);
    if (s == CNN_OK) {
        uint64_t item = (uint64_t)f->rows * f->cols;
        struct stat st;
        PROMISE(f->count > 0 && item > 0 && stat(f->path, &st) == 0);
        PROMISE((uint64_t)st.st_size == (uint64_t)f->data_offset + item * f->count);
        dataset_split split;
        idx_file images = *f;
        images.magic = IDX_IMAGES;
        PROMISE(idx_split_make(&images, f, &split, &err) == CNN_OK);
        check_readable(&split.part[0].images, split.count, item);
        if (magic == IDX_LABELS) {
            records_label largest;
            PROMISE(records_check_labels(&split, 256, "fuzz", &largest, &err) == CNN_OK);
            PROMISE(largest.label >= 0 && largest.label < 256 && largest.part == 0 &&
                    largest.index < split.count);
        }
    }
    PROMISE(s == CNN_OK || err.msg[0]);
    if (f->path[0] && strcmp(f->path, path))
        unlink(f->path);
    return s;
}

cnn_status fuzz_idx(const uint8_t *data, size_t size)
{
    char raw[4200], gz[4200];
    if (put(work_path(raw, sizeof raw, "input-idx"), data, size))
        return CNN_ERR_RUNTIME;
    static const uint32_t magic[2] = {IDX_IMAGES, IDX_LABELS};
    cnn_status result = CNN_ERR_INPUT;
    int gzipped = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gzipped) {
        /* The same bytes gzipped must read the same. */
        gzFile out = gzopen(work_path(gz, sizeof gz, "input-idx.gz"), "wb");
        if (!out || (size && gzwrite(out, data, (unsigned)size) != (int)size) ||
            gzclose(out) != Z_OK)
            return CNN_ERR_RUNTIME;
    }
    for (int i = 0; i < 2; i++) {
        idx_file a, b;
        cnn_status s = idx_one(raw, magic[i], &a);
        if (s == CNN_OK)
            result = CNN_OK;
        if (gzipped)
            continue;
        cnn_status t = idx_one(gz, magic[i], &b);
        PROMISE(s == t);
        PROMISE(s || (a.count == b.count && a.rows == b.rows && a.cols == b.cols &&
                      a.data_offset == b.data_offset));
    }
    return result;
}

cnn_status fuzz_cifar(const uint8_t *data, size_t size)
{
    static const char *const names[6] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    char dir[4200], path[4300], first[4300];
    work_path(dir, sizeof dir, "cifar");
    snprintf(first, sizeof first, "%s/%s", dir, names[0]);
    if (access(dir, F_OK)) {
        /* One file under six names: each input is written once. */
        if (mkdir(dir, 0700) || put(first, data, 0))
            return CNN_ERR_RUNTIME;
        for (int i = 1; i < 6; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if (link(first, path))
                return CNN_ERR_RUNTIME;
        }
    }
    if (put(first, data, size))
        return CNN_ERR_RUNTIME;
    dataset ds;
    cnn_error err = {0};
    cnn_status s = dataset_format_cifar.open(dir, &ds, &err);
    if (s == CNN_OK) {
        enum { RECORD = 1 + CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE };
        uint64_t records = size / RECORD;
        PROMISE(size % RECORD == 0 && records > 0);
        PROMISE(ds.train.count == 5 * records && ds.test.count == records);
        PROMISE(ds.train.nparts == 5 && ds.test.nparts == 1);
        for (size_t i = 0; i < records; i++)
            PROMISE(data[i * RECORD] < CIFAR_CLASSES);
        const dataset_part *p = &ds.test.part[0];
        check_readable(&p->images, p->count, RECORD - 1);
        check_readable(&p->labels, p->count, 1);
    }
    PROMISE(s == CNN_OK || err.msg[0]);
    return s;
}

/* An accepted spec's layers chain from its input to its classes, every
 * shape positive and small enough to count in an int. */
static void check_arch(const arch *a)
{
    PROMISE(a->count >= 1 && a->count <= ARCH_MAX_LAYERS);
    arch_shape at = a->input;
    for (int i = 0; i < a->count; i++) {
        const arch_layer *l = &a->layers[i];
        PROMISE(l->kind && l->name[0]);
        PROMISE(l->in.c == at.c && l->in.h == at.h && l->in.w == at.w);
        at = l->out;
        PROMISE(at.c > 0 && at.h > 0 && at.w > 0 && arch_size(at) <= INT_MAX);
    }
    PROMISE(at.c == a->classes);
}

cnn_status fuzz_safetensors(const uint8_t *data, size_t size)
{
    char path[4200];
    if (put(work_path(path, sizeof path, "input.safetensors"), data, size))
        return CNN_ERR_RUNTIME;
    st_header h;
    cnn_error err = {0};
    cnn_status s = st_read_header(path, &h, &err);
    PROMISE(s == CNN_OK || err.msg[0]);
    if (s)
        return s;
    PROMISE(h.count >= 0 && h.nmeta >= 0 && h.data_start <= size);
    for (int i = 0; i < h.count; i++) {
        const st_entry *e = &h.entries[i];
        PROMISE(e->begin <= e->end && h.data_start + e->end <= size);
        PROMISE(e->ndim >= 0 && e->ndim <= ST_MAX_DIMS);
        const st_entry *found = st_find(&h, e->name);
        PROMISE(found && !strcmp(found->name, e->name));
        uint64_t bytes = e->end - e->begin;
        if (strcmp(e->dtype, "F32") || bytes % 4)
            continue;
        float *buf = malloc(bytes ? bytes : 1);
        PROMISE(buf);
        PROMISE(st_read_f32(&h, e, buf, bytes / 4, &err) == CNN_OK);
        free(buf);
    }
    for (int i = 0; i < h.nmeta; i++)
        PROMISE(st_meta_get(&h, h.meta[i].key) != NULL);
    st_header_free(&h);

    /* What eval, predict and --resume read before building the network. */
    checkpoint_meta meta;
    err.msg[0] = '\0';
    if ((s = checkpoint_read_meta(path, &meta, &err))) {
        PROMISE(err.msg[0]);
        return s;
    }
    PROMISE(meta.input.c > 0 && meta.input.h > 0 && meta.input.w > 0);
    PROMISE(meta.classes > 0 && meta.batch_size > 0 && meta.samples > 0);
    arch a;
    s = arch_parse(meta.arch, meta.input, meta.classes, &a, &err);
    PROMISE(s == CNN_OK || err.msg[0]);
    if (s == CNN_OK)
        check_arch(&a);
    return s;
}

cnn_status fuzz_onnx(const uint8_t *data, size_t size)
{
    char path[4200];
    if (put(work_path(path, sizeof path, "input.onnx"), data, size))
        return CNN_ERR_RUNTIME;
    onnx_model *m;
    cnn_error err = {0};
    cnn_status s = onnx_import_read(path, &m, &err);
    PROMISE(s == CNN_OK || err.msg[0]);
    if (s)
        return s;
    /* The arch parsed, and every tensor of its layers is there, at the
     * shape the layer declares, its values readable. */
    check_arch(&m->a);
    int tensors = 0;
    for (int i = 0; i < m->a.count; i++) {
        const arch_layer *l = &m->a.layers[i];
        layer_param decl[LAYER_MAX_PARAMS];
        int n = l->kind->params ? l->kind->params(l, decl) : 0;
        for (int p = 0; p < n; p++, tensors++) {
            char name[96];
            size_t count = 1;
            snprintf(name, sizeof name, "%s.%s", l->name, decl[p].what);
            for (int d = 0; d < decl[p].ndim; d++)
                count *= (size_t)decl[p].shape[d];
            float *buf = malloc(count * sizeof *buf);
            PROMISE(buf);
            PROMISE(onnx_model_tensor(m, path, name, decl[p].ndim, decl[p].shape, buf,
                                      &err) == CNN_OK);
            free(buf);
        }
    }
    PROMISE(tensors == m->count);
    PROMISE(m->norm.channels == 0 || m->norm.channels == m->a.input.c);
    onnx_model_free(m);
    return CNN_OK;
}

cnn_status fuzz_pnm(const uint8_t *data, size_t size)
{
    static const int want[][3] = {{1, 28, 28}, {3, 32, 32}, {1, 2, 3}, {3, 3, 2},
                                  {1, 1, 1}};
    char path[4200];
    if (put(work_path(path, sizeof path, "input.pnm"), data, size))
        return CNN_ERR_RUNTIME;
    cnn_status result = CNN_ERR_INPUT;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int n = want[k][0] * want[k][1] * want[k][2];
        float pixels[3 * 32 * 32];
        for (int i = 0; i < n; i++)
            pixels[i] = -1.0f;
        cnn_error err = {0};
        cnn_status s = pnm_read(path, want[k][0], want[k][1], want[k][2], pixels, &err);
        PROMISE(s == CNN_OK || err.msg[0]);
        if (s)
            continue;
        /* Every sample written, scaled to [0, 1]. */
        for (int i = 0; i < n; i++)
            PROMISE(pixels[i] >= 0.0f && pixels[i] <= 1.0f);
        result = CNN_OK;
    }
    return result;
}

cnn_status fuzz_arch(const uint8_t *data, size_t size)
{
    static const int input[][4] = {{1, 28, 28, 10}, {3, 32, 32, 10}, {1, 1, 1, 1},
                                   {2, 5, 7, 3}};
    char *spec = malloc(size + 1);
    if (!spec)
        return CNN_ERR_RUNTIME;
    memcpy(spec, data, size);
    spec[size] = '\0';
    cnn_status result = CNN_ERR_INPUT;
    static arch a;
    for (size_t k = 0; k < sizeof input / sizeof input[0]; k++) {
        arch_shape in = {input[k][0], input[k][1], input[k][2]};
        cnn_error err = {0};
        cnn_status s = arch_parse(spec, in, input[k][3], &a, &err);
        PROMISE(s == CNN_OK || err.msg[0]);
        if (s)
            continue;
        check_arch(&a);
        result = CNN_OK;
    }
    free(spec);
    return result;
}

cnn_status fuzz_metrics(const uint8_t *data, size_t size)
{
    char path[4200], svg[4200], copy[4200];
    if (put(work_path(path, sizeof path, "input.csv"), data, size))
        return CNN_ERR_RUNTIME;
    metrics_row *rows;
    int count;
    cnn_error err = {0};
    cnn_status s = metrics_log_read(path, &rows, &count, &err);
    PROMISE(s == CNN_OK || (err.msg[0] && !rows && count == 0));
    if (s)
        return s;
    PROMISE(count >= 0 && (count == 0) == (rows == NULL));
    for (int i = 0; i < count; i++)
        PROMISE(rows[i].epoch >= 1 && (i == 0 || rows[i].epoch > rows[i - 1].epoch));
    /* What `plot` does with it. */
    if (count > 0)
        PROMISE(svg_plot_write(work_path(svg, sizeof svg, "plot.svg"), rows, count,
                               "input.csv", &err) == CNN_OK);
    /* What --resume does: write the rows back, and read them again. */
    metrics_row *again;
    int n;
    PROMISE(metrics_log_write(work_path(copy, sizeof copy, "copy.csv"), rows, count,
                              &err) == CNN_OK);
    PROMISE(metrics_log_read(copy, &again, &n, &err) == CNN_OK && n == count);
    for (int i = 0; i < n; i++)
        PROMISE(again[i].epoch == rows[i].epoch);
    free(again);
    free(rows);
    return CNN_OK;
}

const fuzz_entry fuzz_targets[] = {
    {"idx", fuzz_idx},   {"cifar", fuzz_cifar}, {"safetensors", fuzz_safetensors},
    {"pnm", fuzz_pnm},   {"arch", fuzz_arch},   {"metrics", fuzz_metrics},
    {"onnx", fuzz_onnx},
};
const int fuzz_target_count = sizeof fuzz_targets / sizeof fuzz_targets[0];
