/* onnx_import.c: an ONNX model's chain as a cnn-cl arch and its tensors
 * (see onnx_import.h).
 *
 * The nodes are walked in the file's order (ONNX's is topological),
 * following one value, the chain's: each node must read it and becomes an
 * arch token, with its tensors converted to cnn-cl's layout. A residual
 * Add reads the chain and a value the chain had before (or a 1x1 Conv and
 * BatchNormalization of one, which are the only nodes read off the chain):
 * that opens "res[" where the value was and closes "]" here. The spec is
 * then parsed by arch_parse, which checks every shape, and the tensors are
 * named after its layers. */
#include "interop/onnx_import.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn/batchnorm.h"
#include "onnx.pb-c.h"

/* Larger files are not a network cnn-cl builds. */
#define MAX_FILE_BYTES (1L << 30)

/* A tensor of a token, converted: the layout cnn-cl declares. */
typedef struct {
    int ndim, shape[4];
    float *data;
} param;

/* An arch token and what it carries. */
typedef struct {
    char token[32];     /* "conv8k3p1", or "]" closing a block */
    int opens;          /* "res[" written before the token */
    int nparams;
    param params[LAYER_MAX_PARAMS];
    int proj_stride;    /* "]" with a projection: its Conv's stride */
    int begin;          /* "]": the item its block opens before */
    const Onnx__NodeProto *node; /* for messages */
} item;

/* A value of the chain: where it was, and its shape. */
typedef struct {
    const char *name;
    int pos;            /* the items before it */
    int c, h, w, flat;
} value;

/* A projection read off the chain: a 1x1 Conv of value `origin`, then
 * optionally BatchNormalization. */
typedef struct {
    const char *name;   /* its output */
    int origin, stride, has_bn;
    param params[5];
} side;

typedef struct {
    const char *path;
    const Onnx__GraphProto *g;
    cnn_error *err;
    item items[ARCH_MAX_LAYERS];
    int nitems;
    value values[4 * ARCH_MAX_LAYERS];
    int nvalues;
    side sides[ARCH_MAX_LAYERS];
    int nsides;
    value cur;          /* the chain's value now */
    int scale;          /* the input scaling read: 0 none, 1 Div 255, 2 Sub
                           (or Add), 3 Div by std */
    int ended;          /* a Softmax or LogSoftmax was the last op */
    norm_stats norm;
    const Onnx__NodeProto *matmul; /* the last node was MatMul: its Add is
                                      the bias */
} walk;

int onnx_import_is(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && !strcasecmp(path + n - 5, ".onnx");
}

static const char *node_name(const Onnx__NodeProto *n)
{
    return n->name && *n->name ? n->name : n->n_output ? n->output[0] : "?";
}

/* CNN_ERR_INPUT about node n: "<path>: node 'x' (Op): <what>". */
static cnn_status refuse(walk *w, const Onnx__NodeProto *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cnn_status refuse(walk *w, const Onnx__NodeProto *n, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cnn_fail(w->err, CNN_ERR_INPUT, "%s: node '%s' (%s): %s", w->path,
                    node_name(n), n->op_type ? n->op_type : "?", what);
}

/* The tensor that value `name` is when it is a constant: an initializer or
 * a Constant node's value; NULL otherwise. */
static const Onnx__TensorProto *constant(const walk *w, const char *name)
{
    for (size_t i = 0; i < w->g->n_initializer; i++)
        if (w->g->initializer[i]->name && !strcmp(w->g->initializer[i]->name, name))
            return w->g->initializer[i];
    for (size_t i = 0; i < w->g->n_node; i++) {
        const Onnx__NodeProto *n = w->g->node[i];
        if (n->op_type && !strcmp(n->op_type, "Constant") && n->n_output == 1 &&
            !strcmp(n->output[0], name))
            for (size_t k = 0; k < n->n_attribute; k++)
                if (n->attribute[k]->name && !strcmp(n->attribute[k]->name, "value"))
                    return n->attribute[k]->t;
    }
    return NULL;
}

/* Input i of n, "" when absent. */
static const char *input(const Onnx__NodeProto *n, size_t i)
{
    return i < n->n_input && n->input[i] ? n->input[i] : "";
}

/* The elements of t, a tensor of `type`, each `size` bytes, into *out
 * (malloc'd), and their count; from its typed field (float_data or
 * int64_data) or its little-endian raw_data. */
static cnn_status tensor_data(walk *w, const Onnx__NodeProto *n, const char *what,
                              const Onnx__TensorProto *t, int type, size_t size,
                              void **out, size_t *count)
{
    size_t c = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > (1 << 28) || (c *= (size_t)t->dims[d]) > (1 << 28))
            return refuse(w, n, "%s has a dimension below 0 or too large", what);
    }
    if (!t->has_data_type || t->data_type != type)
        return refuse(w, n, "%s is not %s", what, type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                                                      ? "float" : "int64");
    if (t->has_data_location &&
        t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return refuse(w, n, "%s is kept in an external file; save the model with its "
                      "data inside", what);
    size_t typed = type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? t->n_float_data
                                                                : t->n_int64_data;
    const void *src = type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? (const void *)t->float_data
                                                                   : (const void *)t->int64_data;
    if (t->has_raw_data && t->raw_data.len) {
        typed = t->raw_data.len / size;
        src = t->raw_data.data;
        if (t->raw_data.len % size)
            typed = (size_t)-1;
    }
    if (typed != c)
        return refuse(w, n, "%s holds %zu values for its shape's %zu", what,
                      typed == (size_t)-1 ? 0 : typed, c);
    if (!(*out = malloc(c ? c * size : 1)))
        return cnn_fail(w->err, CNN_ERR_RUNTIME, "out of host memory for %s", what);
    if (c)
        memcpy(*out, src, c * size);
    *count = c;
    return CNN_OK;
}

/* Input i of n as a constant float tensor into p, of `ndim` dimensions
 * (0: any) and, where want is not NULL, of those sizes (-1: any). */
static cnn_status float_input(walk *w, const Onnx__NodeProto *n, size_t i, int ndim,
                              const int *want, param *p)
{
    char what[160];
    snprintf(what, sizeof what, "input %zu, '%.100s',", i, input(n, i));
    const Onnx__TensorProto *t = constant(w, input(n, i));
    if (!t)
        return refuse(w, n, "%s is not a constant (an initializer or a Constant node)",
                      what);
    if (ndim && (int)t->n_dims != ndim)
        return refuse(w, n, "%s has %zu dimensions, not %d", what, t->n_dims, ndim);
    if (t->n_dims > 4)
        return refuse(w, n, "%s has %zu dimensions, more than 4", what, t->n_dims);
    for (int d = 0; want && d < ndim; d++)
        if (want[d] >= 0 && t->dims[d] != want[d])
            return refuse(w, n, "%s has size %lld in dimension %d, not %d", what,
                          (long long)t->dims[d], d, want[d]);
    size_t count;
    void *data;
    cnn_status st = tensor_data(w, n, what, t, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                sizeof(float), &data, &count);
    if (st)
        return st;
    p->ndim = (int)t->n_dims;
    for (int d = 0; d < p->ndim; d++)
        p->shape[d] = (int)t->dims[d];
    p->data = data;
    return CNN_OK;
}

/* p, a (rows, cols) matrix, transposed. */
static cnn_status transpose(walk *w, param *p)
{
    int r = p->shape[0], c = p->shape[1];
    float *t = malloc((size_t)r * c * sizeof *t + 1);
    if (!t)
        return cnn_fail(w->err, CNN_ERR_RUNTIME, "out of host memory");
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++)
            t[(size_t)j * r + i] = p->data[(size_t)i * c + j];
    free(p->data);
    p->data = t;
    p->shape[0] = c, p->shape[1] = r;
    return CNN_OK;
}

/* A zero bias of n values. */
static cnn_status zeros(walk *w, int n, param *p)
{
    if (!(p->data = calloc((size_t)n + 1, sizeof *p->data)))
        return cnn_fail(w->err, CNN_ERR_RUNTIME, "out of host memory");
    p->ndim = 1;
    p->shape[0] = n;
    return CNN_OK;
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

/* Integer attribute `name` of n, or def when absent. */
static long long int_attr(const Onnx__NodeProto *n, const char *name, long long def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a ? a->i : def;
}

/* The attributes cnn-cl cannot take other than at their defaults: a list
 * of ints all `one` (dilations 1, pads 0), or a string "NOTSET". */
static cnn_status plain_attrs(walk *w, const Onnx__NodeProto *n)
{
    const Onnx__AttributeProto *a;
    if ((a = attr(n, "dilations")))
        for (size_t i = 0; i < a->n_ints; i++)
            if (a->ints[i] != 1)
                return refuse(w, n, "dilations other than 1 are not supported");
    if ((a = attr(n, "auto_pad")) && a->has_s &&
        !(a->s.len == 6 && !memcmp(a->s.data, "NOTSET", 6)))
        return refuse(w, n, "auto_pad is not supported; give explicit pads");
    if (int_attr(n, "group", 1) != 1)
        return refuse(w, n, "grouped convolution (group %lld) is not supported",
                      int_attr(n, "group", 1));
    if (int_attr(n, "ceil_mode", 0) || int_attr(n, "storage_order", 0))
        return refuse(w, n, "ceil_mode and storage_order are not supported");
    return CNN_OK;
}

/* A square window's attributes: kernel_shape (k, k), strides (s, s)
 * (default 1), and pads[4] (default 0). */
static cnn_status window(walk *w, const Onnx__NodeProto *n, int *k, int *s, int pads[4])
{
    const Onnx__AttributeProto *ks = attr(n, "kernel_shape"), *st = attr(n, "strides"),
                               *pa = attr(n, "pads");
    if (!ks || ks->n_ints != 2 || ks->ints[0] != ks->ints[1] || ks->ints[0] < 1 ||
        ks->ints[0] > 4096)
        return refuse(w, n, "kernel_shape must be two equal sides (a square window)");
    *k = (int)ks->ints[0];
    *s = 1;
    if (st && (st->n_ints != 2 || st->ints[0] != st->ints[1] || st->ints[0] < 1 ||
               st->ints[0] > 4096))
        return refuse(w, n, "strides must be two equal steps");
    if (st)
        *s = (int)st->ints[0];
    memset(pads, 0, 4 * sizeof *pads);
    if (pa && pa->n_ints != 4)
        return refuse(w, n, "pads must have 4 values");
    for (size_t i = 0; pa && i < 4; i++) {
        if (pa->ints[i] < 0 || pa->ints[i] >= *k)
            return refuse(w, n, "pads must be from 0 to the kernel's side less 1 (%d)",
                          *k - 1);
        pads[i] = (int)pa->ints[i];
    }
    return plain_attrs(w, n);
}

/* The chain moves on to n's output, of the shape in w->cur. */
static cnn_status advance(walk *w, const Onnx__NodeProto *n)
{
    if (n->n_output < 1 || !n->output[0] || !*n->output[0])
        return refuse(w, n, "it has no output");
    if (w->nvalues == (int)(sizeof w->values / sizeof w->values[0]))
        return refuse(w, n, "the graph has more nodes than cnn-cl's %d layers",
                      ARCH_MAX_LAYERS);
    w->cur.name = n->output[0];
    w->cur.pos = w->nitems;
    w->values[w->nvalues++] = w->cur;
    return CNN_OK;
}

/* A new token for node n (its text from fmt). */
static item *token(walk *w, const Onnx__NodeProto *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static item *token(walk *w, const Onnx__NodeProto *n, const char *fmt, ...)
{
    if (w->nitems == ARCH_MAX_LAYERS) {
        refuse(w, n, "the graph has more than cnn-cl's %d layers", ARCH_MAX_LAYERS);
        return NULL;
    }
    item *it = &w->items[w->nitems++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->token, sizeof it->token, fmt, ap);
    va_end(ap);
    it->node = n;
    return it;
}

/* One output dimension of a window of k at stride s over in, padded by a
 * and b; 0 when the window does not fit. */
static int out_side(int in, int k, int s, int a, int b)
{
    return in + a + b < k ? 0 : (in + a + b - k) / s + 1;
}

/* "p<P>", "same" or "" for pads (top, left, bottom, right) of a k-wide
 * kernel at stride s on the current input; NULL when cnn-cl has neither. */
static const char *pad_token(const walk *w, int k, int s, const int p[4], char *buf,
                             size_t size)
{
    if (p[0] == p[1] && p[1] == p[2] && p[2] == p[3]) {
        snprintf(buf, size, p[0] ? "p%d" : "", p[0]);
        return buf;
    }
    /* Keras' 'same' (conv_axis): half the total before, the rest after. */
    const int in[2] = {w->cur.h, w->cur.w};
    for (int d = 0; d < 2; d++) {
        int out = (in[d] + s - 1) / s, total = (out - 1) * s + k - in[d];
        if (total < 0)
            total = 0;
        if (p[d] != total / 2 || p[d + 2] != total - total / 2)
            return NULL;
    }
    return "same";
}

static cnn_status need_spatial(walk *w, const Onnx__NodeProto *n)
{
    return w->cur.flat ? refuse(w, n, "it needs (N, C, H, W) but comes after the "
                                "features were flattened") : CNN_OK;
}

static cnn_status on_conv(walk *w, const Onnx__NodeProto *n)
{
    int k, s, pads[4];
    cnn_status st;
    if ((st = need_spatial(w, n)) || (st = window(w, n, &k, &s, pads)))
        return st;
    const char *pad;
    char buf[16];
    if (!(pad = pad_token(w, k, s, pads, buf, sizeof buf)))
        return refuse(w, n, "pads [%d, %d, %d, %d] are neither the same on every side "
                      "nor 'same' (the extra row and column at the end)", pads[0],
                      pads[1], pads[2], pads[3]);
    param wt = {0};
    const int want[] = {-1, w->cur.c, k, k};
    if ((st = float_input(w, n, 1, 4, want, &wt)))
        return st;
    int f = wt.shape[0];
    char stride[16] = "";
    if (s > 1)
        snprintf(stride, sizeof stride, "s%d", s);
    item *it = f >= 1 ? token(w, n, "conv%dk%d%s%s", f, k, stride, pad) : NULL;
    if (!it) {
        free(wt.data);
        return f >= 1 ? CNN_ERR_INPUT : refuse(w, n, "its weight has no filters");
    }
    it->params[0] = wt;
    it->nparams = 2;
    const int fs[] = {f};
    st = *input(n, 2) ? float_input(w, n, 2, 1, fs, &it->params[1])
                      : zeros(w, f, &it->params[1]);
    if (st)
        return st;
    if (!strcmp(pad, "same")) {
        w->cur.h = (w->cur.h + s - 1) / s;
        w->cur.w = (w->cur.w + s - 1) / s;
    } else {
        w->cur.h = out_side(w->cur.h, k, s, pads[0], pads[2]);
        w->cur.w = out_side(w->cur.w, k, s, pads[1], pads[3]);
    }
    w->cur.c = f;
    if (w->cur.h < 1 || w->cur.w < 1)
        return refuse(w, n, "its %dx%d kernel is larger than its padded input", k, k);
    return advance(w, n);
}

static cnn_status on_pool(walk *w, const Onnx__NodeProto *n, const char *prefix)
{
    int k, s, pads[4];
    cnn_status st;
    if ((st = need_spatial(w, n)) || (st = window(w, n, &k, &s, pads)))
        return st;
    if (pads[0] || pads[1] || pads[2] || pads[3])
        return refuse(w, n, "padded pooling is not supported");
    if (k > w->cur.h || k > w->cur.w)
        return refuse(w, n, "its %dx%d window is larger than its input", k, k);
    char stride[16] = "";
    if (s != k)
        snprintf(stride, sizeof stride, "s%d", s);
    if (!token(w, n, "%s%d%s", prefix, k, stride))
        return CNN_ERR_INPUT;
    w->cur.h = out_side(w->cur.h, k, s, 0, 0);
    w->cur.w = out_side(w->cur.w, k, s, 0, 0);
    return advance(w, n);
}

/* BatchNormalization's four tensors of c channels into p[0 .. 4), its
 * epsilon checked. */
static cnn_status bn_params(walk *w, const Onnx__NodeProto *n, int c, param *p)
{
    const Onnx__AttributeProto *eps = attr(n, "epsilon");
    float e = eps ? eps->f : 1e-5f; /* ONNX's default */
    if (e != (float)BATCHNORM_EPSILON)
        return refuse(w, n, "epsilon is %g; cnn-cl's batch norm adds %g to the variance "
                      "(export the model with eps=%g)", (double)e, BATCHNORM_EPSILON,
                      BATCHNORM_EPSILON);
    if (int_attr(n, "training_mode", 0))
        return refuse(w, n, "training_mode is set; export the model for inference");
    if (n->n_output > 1)
        return refuse(w, n, "it has training outputs");
    cnn_status st = CNN_OK;
    for (size_t i = 1; i <= 4 && st == CNN_OK; i++)
        st = float_input(w, n, i, 1, &c, &p[i - 1]);
    return st;
}

static cnn_status on_bn(walk *w, const Onnx__NodeProto *n)
{
    cnn_status st;
    item *it;
    if (!(it = token(w, n, "bn")))
        return CNN_ERR_INPUT;
    it->nparams = 4;
    if ((st = bn_params(w, n, w->cur.c, it->params)))
        return st;
    return advance(w, n);
}

/* Flatten, or Reshape to (N, features): flatten on a spatial value, the
 * identity on a flat one. */
static cnn_status on_flatten(walk *w, const Onnx__NodeProto *n)
{
    long long features = (long long)w->cur.c * w->cur.h * w->cur.w;
    if (!strcmp(n->op_type, "Flatten") && int_attr(n, "axis", 1) != 1)
        return refuse(w, n, "axis must be 1 (to (N, features))");
    if (!strcmp(n->op_type, "Reshape")) {
        const Onnx__TensorProto *t = constant(w, input(n, 1));
        void *data = NULL;
        size_t count = 0;
        if (!t)
            return refuse(w, n, "its shape is not a constant");
        cnn_status st = tensor_data(w, n, "its shape", t, ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
                                    sizeof(int64_t), &data, &count);
        if (st)
            return st;
        const int64_t *s = data;
        int ok = count == 2 && (s[0] == 0 || s[0] == -1 || s[1] == -1) &&
                 (s[1] == features || (s[1] == -1 && s[0] == 0));
        free(data);
        if (!ok)
            return refuse(w, n, "it reshapes to other than (N, %lld), the features",
                          features);
    }
    if (!w->cur.flat) {
        if (features > INT_MAX)
            return refuse(w, n, "its %lld features are more than cnn-cl takes", features);
        if (!token(w, n, "flatten"))
            return CNN_ERR_INPUT;
        w->cur = (value){.c = (int)features, .h = 1, .w = 1, .flat = 1};
    }
    return advance(w, n);
}

/* Gemm or MatMul: a dense layer; MatMul's bias is the Add after it. */
static cnn_status on_dense(walk *w, const Onnx__NodeProto *n)
{
    if (!w->cur.flat)
        return refuse(w, n, "it needs (N, features); Flatten first");
    int gemm = !strcmp(n->op_type, "Gemm");
    const Onnx__AttributeProto *alpha = attr(n, "alpha"), *beta = attr(n, "beta");
    if (gemm && ((alpha && alpha->f != 1) || (beta && beta->f != 1) ||
                 int_attr(n, "transA", 0)))
        return refuse(w, n, "alpha and beta must be 1 and transA 0");
    int trans = !gemm || !int_attr(n, "transB", 0);
    param wt = {0};
    int want[] = {-1, -1};
    want[trans ? 0 : 1] = w->cur.c;
    cnn_status st = float_input(w, n, 1, 2, want, &wt);
    if (st == CNN_OK && trans)
        st = transpose(w, &wt);
    if (st == CNN_OK && wt.shape[0] < 1)
        st = refuse(w, n, "its weight has no outputs");
    item *it = st == CNN_OK ? token(w, n, "fc%d", wt.shape[0]) : NULL;
    if (!it) {
        free(wt.data);
        return st ? st : CNN_ERR_INPUT;
    }
    it->params[0] = wt;
    it->nparams = 2;
    const int units = wt.shape[0];
    st = gemm && *input(n, 2) ? float_input(w, n, 2, 1, &units, &it->params[1])
                              : zeros(w, units, &it->params[1]);
    w->cur.c = units;
    w->matmul = gemm ? NULL : n;
    return st ? st : advance(w, n);
}

/* The index of the chain's value called name, or -1. */
static int find_value(const walk *w, const char *name)
{
    for (int i = w->nvalues - 1; i >= 0; i--)
        if (!strcmp(w->values[i].name, name))
            return i;
    return -1;
}

static int find_side(const walk *w, const char *name)
{
    for (int i = 0; i < w->nsides; i++)
        if (!strcmp(w->sides[i].name, name))
            return i;
    return -1;
}

/* A node read off the chain: the projection of a residual block. */
static cnn_status on_side(walk *w, const Onnx__NodeProto *n)
{
    const char *x = input(n, 0);
    int v = find_value(w, x), sd = find_side(w, x);
    cnn_status st;
    int conv = !strcmp(n->op_type, "Conv"), gemm = !strcmp(n->op_type, "Gemm");
    if ((conv || gemm) && v >= 0 && w->values[v].flat == gemm) {
        int k = 1, s = 1, pads[4] = {0};
        if (conv && (st = window(w, n, &k, &s, pads)))
            return st;
        if (gemm && (!int_attr(n, "transB", 0) || int_attr(n, "transA", 0) ||
                     attr(n, "alpha") || attr(n, "beta")))
            return refuse(w, n, "a Gemm off the chain must be a residual block's "
                          "projection: transB 1, no alpha, beta or bias");
        if (k != 1 || pads[0] || pads[1] || pads[2] || pads[3] || *input(n, 2))
            return refuse(w, n, "a convolution off the chain must be a residual "
                          "block's projection: 1x1, unpadded, without bias");
        if (w->nsides == ARCH_MAX_LAYERS || n->n_output < 1)
            return refuse(w, n, "too many projections");
        const int want[] = {-1, w->values[v].c, 1, 1};
        param wt = {0};
        if ((st = float_input(w, n, 1, conv ? 4 : 2, want, &wt)))
            return st;
        /* A Gemm's (F, C) is the 1x1 Conv's (F, C, 1, 1), as res declares it. */
        wt.ndim = 4;
        wt.shape[2] = wt.shape[3] = 1;
        w->sides[w->nsides++] = (side){.name = n->output[0], .origin = v, .stride = s,
                                       .params = {wt}};
        return CNN_OK;
    }
    if (!strcmp(n->op_type, "BatchNormalization") && sd >= 0 && !w->sides[sd].has_bn &&
        n->n_output >= 1) {
        side *p = &w->sides[sd];
        if ((st = bn_params(w, n, p->params[0].shape[0], p->params + 1)))
            return st;
        p->has_bn = 1;
        p->name = n->output[0];
        return CNN_OK;
    }
    return refuse(w, n, "it reads '%s', which is not the chain's value ('%s'); cnn-cl "
                  "imports a chain, with residual blocks (an Add of the chain and an "
                  "earlier value, or of its 1x1 Conv without bias and BatchNormalization)",
                  x, w->cur.name);
}

/* An Add of the chain and an earlier value or its projection: a block. */
static cnn_status on_residual(walk *w, const Onnx__NodeProto *n, const char *other)
{
    int v = find_value(w, other), sd = find_side(w, other);
    if (sd >= 0)
        v = w->sides[sd].origin;
    if (v < 0)
        return refuse(w, n, "it adds '%s', neither a constant nor an earlier value of "
                      "the chain", other);
    const value *from = &w->values[v];
    if (from->pos >= w->nitems || from->flat != w->cur.flat)
        return refuse(w, n, "a residual block must hold layers and keep the input "
                      "spatial or flat");
    if (sd < 0 && (from->c != w->cur.c || from->h != w->cur.h || from->w != w->cur.w))
        return refuse(w, n, "its shortcut changes shape (%dx%dx%d to %dx%dx%d) without "
                      "a projection", from->c, from->h, from->w, w->cur.c, w->cur.h,
                      w->cur.w);
    /* Blocks nest: one that closed must not hold this one's start alone. */
    for (int i = from->pos + 1; i < w->nitems; i++)
        if (!strcmp(w->items[i].token, "]") && w->items[i].begin < from->pos)
            return refuse(w, n, "its shortcut starts inside a residual block that ended "
                          "before it; blocks must nest");
    item *it = token(w, n, "]");
    if (!it)
        return CNN_ERR_INPUT;
    it->begin = from->pos;
    w->items[from->pos].opens++;
    if (sd >= 0) {
        side *p = &w->sides[sd];
        it->nparams = p->has_bn ? 5 : 1;
        memcpy(it->params, p->params, sizeof p->params);
        memset(p->params, 0, sizeof p->params);
        it->proj_stride = p->stride;
    }
    return advance(w, n);
}

static cnn_status on_add(walk *w, const Onnx__NodeProto *n)
{
    const char *a = input(n, 0), *b = input(n, 1);
    int first = !strcmp(a, w->cur.name);
    if (!first && strcmp(b, w->cur.name))
        return on_side(w, n);
    const char *other = first ? b : a;
    if (!constant(w, other))
        return on_residual(w, n, other);
    if (!w->matmul)
        return refuse(w, n, "an Add of a constant must be a MatMul's bias, or at the "
                      "input after its Div by 255");
    item *it = &w->items[w->nitems - 1];
    free(it->params[1].data);
    it->params[1].data = NULL;
    cnn_status st = float_input(w, n, first ? 1 : 0, 1, &w->cur.c, &it->params[1]);
    w->matmul = NULL;
    return st ? st : advance(w, n);
}

/* The input's scaling, Div by 255, Sub (or Add) of the mean, Div by the std:
 * a constant of one value or one per channel, (C, 1, 1) as export writes. */
static cnn_status on_scale(walk *w, const Onnx__NodeProto *n, int *taken)
{
    const char *op = n->op_type;
    int div = !strcmp(op, "Div"), sub = !strcmp(op, "Sub"), add = !strcmp(op, "Add");
    *taken = 0;
    if (!(div || sub || add || !strcmp(op, "Mul")) || w->scale == 3 || w->nitems ||
        strcmp(input(n, 0), w->cur.name) || !constant(w, input(n, 1)))
        return CNN_OK;
    if (!div && !sub && !add)
        return refuse(w, n, "cnn-cl scales its input as x / 255, then (x - mean) / std: "
                      "a Mul is not that exactly; write Div");
    if (w->scale == 0 && !div)
        return CNN_OK;
    if (w->scale == 2 && !div)
        return refuse(w, n, "the input's scaling must be Div 255, Sub mean, Div std");
    param p = {0};
    cnn_status st = float_input(w, n, 1, 0, NULL, &p);
    if (st)
        return st;
    size_t count = 1;
    for (int d = 0; d < p.ndim; d++)
        count *= (size_t)p.shape[d];
    int c = w->cur.c, per_channel = (int)count == c && p.ndim >= 3 &&
        p.shape[p.ndim - 3] == c && p.shape[p.ndim - 2] == 1 && p.shape[p.ndim - 1] == 1;
    if (count != 1 && !per_channel)
        st = refuse(w, n, "its constant must be one value or one per channel, (%d, 1, 1)", c);
    else if (w->scale == 0 && p.data[0] != 255.0f)
        st = refuse(w, n, "the input must first be divided by 255 (cnn-cl feeds "
                    "pixel values 0 to 255); this divides by %g", (double)p.data[0]);
    else if (w->scale > 0 && c > NORM_MAX_CHANNELS)
        st = refuse(w, n, "input statistics for %d channels; cnn-cl keeps up to %d", c,
                    NORM_MAX_CHANNELS);
    for (int i = 0; st == CNN_OK && w->scale > 0 && i < c; i++) {
        float v = p.data[count == 1 ? 0 : i];
        if (div && !(v > 0))
            st = refuse(w, n, "a std of %g; it must be above 0", (double)v);
        else if (div)
            w->norm.std[i] = v;
        else
            w->norm.mean[i] = add ? -v : v; /* x + a is x - (-a) exactly */
        if (!div && w->scale == 1)
            w->norm.std[i] = 1;
    }
    free(p.data);
    if (st)
        return st;
    if (w->scale == 1) {
        w->norm.channels = c;
        if (div)
            w->scale = 3; /* mean 0: std alone */
    }
    w->scale = w->scale == 3 ? 3 : w->scale + 1;
    *taken = 1;
    return advance(w, n);
}

static cnn_status on_node(walk *w, const Onnx__NodeProto *n)
{
    const char *op = n->op_type;
    if (!op)
        return refuse(w, n, "it has no op_type");
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return refuse(w, n, "domain '%s' is not ONNX's own", n->domain);
    if (!strcmp(op, "Constant"))
        return CNN_OK; /* read where used */
    int taken;
    cnn_status st = on_scale(w, n, &taken);
    if (st || taken)
        return st;
    if (w->scale == 0)
        return refuse(w, n, "the graph must start with a Div of its input by 255: cnn-cl "
                      "feeds pixel values 0 to 255 and divides them by 255 (a model "
                      "taking 0 to 1 needs that Div in front)");
    if (w->ended)
        return refuse(w, n, "nothing may follow the Softmax");
    if (!strcmp(op, "Add"))
        return on_add(w, n);
    if (w->matmul)
        w->matmul = NULL; /* its bias stays zero */
    if (strcmp(input(n, 0), w->cur.name))
        return on_side(w, n);
    if (!strcmp(op, "Conv"))
        return on_conv(w, n);
    if (!strcmp(op, "Relu"))
        return token(w, n, "relu") ? advance(w, n) : CNN_ERR_INPUT;
    if (!strcmp(op, "MaxPool"))
        return n->n_output > 1 ? refuse(w, n, "its Indices output is not supported")
                               : on_pool(w, n, "pool");
    if (!strcmp(op, "AveragePool"))
        return on_pool(w, n, "avgpool");
    if (!strcmp(op, "GlobalAveragePool")) {
        if ((st = need_spatial(w, n)) || !token(w, n, "gap"))
            return st ? st : CNN_ERR_INPUT;
        w->cur = (value){.c = w->cur.c, .h = 1, .w = 1, .flat = 1};
        return advance(w, n);
    }
    if (!strcmp(op, "BatchNormalization"))
        return on_bn(w, n);
    if (!strcmp(op, "Dropout"))
        return advance(w, n);
    if (!strcmp(op, "Flatten") || !strcmp(op, "Reshape"))
        return on_flatten(w, n);
    if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul"))
        return on_dense(w, n);
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
        long long axis = int_attr(n, "axis", -1);
        if (!w->cur.flat || (axis != 1 && axis != -1))
            return refuse(w, n, "it must be over the class scores, (N, classes), axis 1");
        w->ended = 1;
        return advance(w, n);
    }
    return refuse(w, n, "op %s is not one cnn-cl imports (Conv, Relu, MaxPool, "
                  "AveragePool, GlobalAveragePool, BatchNormalization, Dropout, Flatten, "
                  "Reshape, Gemm, MatMul, Add, Softmax, LogSoftmax; Div, Sub, Add at the "
                  "input)", op);
}

/* The graph's one input that is not an initializer, (N, C, H, W). */
static cnn_status read_input(walk *w)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < w->g->n_input; i++) {
        const Onnx__ValueInfoProto *v = w->g->input[i];
        if (!v->name || constant(w, v->name))
            continue;
        if (in)
            return cnn_fail(w->err, CNN_ERR_INPUT, "%s: the graph has inputs '%s' and "
                            "'%s'; cnn-cl takes one, the images", w->path, in->name,
                            v->name);
        in = v;
    }
    if (!in)
        return cnn_fail(w->err, CNN_ERR_INPUT, "%s: the graph has no input", w->path);
    const Onnx__TypeProto *t = in->type;
    const Onnx__TensorShapeProto *s =
        t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && t->tensor_type
            ? t->tensor_type->shape : NULL;
    int ok = s && s->n_dim == 4 && t->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    int side[3];
    for (int d = 0; ok && d < 3; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = s->dim[d + 1];
        ok = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
             dim->dim_value >= 1 && dim->dim_value <= ARCH_MAX_SIDE;
        side[d] = ok ? (int)dim->dim_value : 0;
    }
    if (!ok)
        return cnn_fail(w->err, CNN_ERR_INPUT, "%s: the graph's input '%s' is not float "
                        "(N, C, H, W) with C, H and W given", w->path, in->name);
    w->cur = (value){.name = in->name, .c = side[0], .h = side[1], .w = side[2]};
    w->values[w->nvalues++] = w->cur;
    return CNN_OK;
}

/* The spec of the items: tokens joined by '-', blocks opened before
 * theirs and closed by "]". */
static cnn_status write_spec(walk *w, char *spec, size_t size)
{
    size_t used = 0;
    *spec = '\0';
    for (int i = 0; i < w->nitems && used < size; i++) {
        const item *it = &w->items[i];
        if (i && strcmp(it->token, "]"))
            used += (size_t)snprintf(spec + used, size - used, "-");
        for (int k = 0; k < it->opens && used < size; k++)
            used += (size_t)snprintf(spec + used, size - used, "res[");
        if (used < size)
            used += (size_t)snprintf(spec + used, size - used, "%s", it->token);
    }
    if (used >= size)
        return cnn_fail(w->err, CNN_ERR_INPUT, "%s: the graph's arch is longer than "
                        "cnn-cl's %zu characters", w->path, size - 1);
    return CNN_OK;
}

/* Names the items' tensors after the arch's layers, each checked against
 * the shape the layer declares. */
static cnn_status name_tensors(walk *w, onnx_model *m)
{
    int next = 0;
    for (int i = 0; i < m->a.count; i++) {
        const arch_layer *l = &m->a.layers[i];
        layer_param decl[LAYER_MAX_PARAMS];
        int n = l->kind->params ? l->kind->params(l, decl) : 0;
        if (!n)
            continue;
        while (next < w->nitems && !w->items[next].nparams)
            next++;
        if (next == w->nitems)
            return cnn_fail(w->err, CNN_ERR_INPUT, "%s: cnn-cl's %s has tensors the graph "
                            "does not give", w->path, l->name);
        item *it = &w->items[next++];
        if (it->nparams != n || (it->proj_stride && it->proj_stride != l->chain_stride))
            return refuse(w, it->node, "cnn-cl's %s has %d tensors (a projection at "
                          "stride %d, with batch norm only when its chain has one); "
                          "the graph gives %d%s", l->name, n, l->chain_stride,
                          it->nparams, it->proj_stride ? " or another stride" : "");
        for (int p = 0; p < n; p++) {
            param *src = &it->params[p];
            size_t want = 1, got = 1;
            for (int d = 0; d < decl[p].ndim; d++)
                want *= (size_t)decl[p].shape[d];
            for (int d = 0; d < src->ndim; d++)
                got *= (size_t)src->shape[d];
            if (want != got || (decl[p].ndim > 1 && src->ndim != decl[p].ndim))
                return refuse(w, it->node, "its tensor %d has %zu values; cnn-cl's %s.%s "
                              "needs %zu", p, got, l->name, decl[p].what, want);
            onnx_tensor *t = &m->tensors[m->count++];
            snprintf(t->name, sizeof t->name, "%s.%s", l->name, decl[p].what);
            t->ndim = decl[p].ndim;
            memcpy(t->shape, decl[p].shape, sizeof t->shape);
            t->data = src->data;
            src->data = NULL;
        }
    }
    for (; next < w->nitems; next++)
        if (w->items[next].nparams)
            return refuse(w, w->items[next].node, "cnn-cl's arch %s has no layer for its "
                          "tensors (a projection where the shape stays?)", m->a.spec);
    return CNN_OK;
}

static void walk_free(walk *w)
{
    for (int i = 0; i < w->nitems; i++)
        for (int p = 0; p < LAYER_MAX_PARAMS; p++)
            free(w->items[i].params[p].data);
    for (int i = 0; i < w->nsides; i++)
        for (int p = 0; p < 5; p++)
            free(w->sides[i].params[p].data);
}

static cnn_status import_graph(walk *w, onnx_model *m)
{
    cnn_status st = read_input(w);
    arch_shape input = {w->cur.c, w->cur.h, w->cur.w};
    for (size_t i = 0; st == CNN_OK && i < w->g->n_node; i++)
        st = on_node(w, w->g->node[i]);
    if (st)
        return st;
    if (w->g->n_output != 1 || !w->g->output[0]->name ||
        strcmp(w->g->output[0]->name, w->cur.name))
        return cnn_fail(w->err, CNN_ERR_INPUT, "%s: the graph's output must be one, the "
                        "chain's last value '%s'", w->path, w->cur.name);
    if (!w->cur.flat || !w->nitems)
        return cnn_fail(w->err, CNN_ERR_INPUT, "%s: the chain must end in class scores, "
                        "(N, classes)", w->path);
    char spec[sizeof m->a.spec];
    if ((st = write_spec(w, spec, sizeof spec)))
        return st;
    if ((st = arch_parse(spec, input, w->cur.c, &m->a, w->err)))
        return cnn_fail_context(w->err, "%s: the graph as the arch %s", w->path, spec);
    m->norm = w->norm;
    return name_tensors(w, m);
}

/* The file's bytes (malloc'd) and their count. */
static cnn_status read_file(const char *path, uint8_t **out, size_t *size, cnn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_fail(err, CNN_ERR_INPUT, "cannot open %s: %s", path, strerror(errno));
    long n = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    uint8_t *buf = n >= 0 && n <= MAX_FILE_BYTES ? malloc((size_t)n + 1) : NULL;
    int ok = buf && !fseek(f, 0, SEEK_SET) && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok) {
        free(buf);
        return cnn_fail(err, CNN_ERR_INPUT, "cannot read %s%s", path,
                        n > MAX_FILE_BYTES ? ": larger than 1 GiB" : "");
    }
    *out = buf;
    *size = (size_t)n;
    return CNN_OK;
}

cnn_status onnx_import_read(const char *path, onnx_model **out, cnn_error *err)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    cnn_status st = read_file(path, &bytes, &size, err);
    if (st)
        return st;
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, bytes);
    free(bytes);
    if (!model || !model->graph) {
        if (model)
            onnx__model_proto__free_unpacked(model, NULL);
        return cnn_fail(err, CNN_ERR_INPUT, "%s: not an ONNX model (it does not parse as "
                        "a ModelProto with a graph)", path);
    }
    walk *w = calloc(1, sizeof *w);
    onnx_model *m = calloc(1, sizeof *m);
    if (!w || !m)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK) {
        *w = (walk){.path = path, .g = model->graph, .err = err};
        st = import_graph(w, m);
    }
    if (w)
        walk_free(w);
    free(w);
    onnx__model_proto__free_unpacked(model, NULL);
    if (st) {
        onnx_model_free(m);
        return st;
    }
    *out = m;
    return CNN_OK;
}

cnn_status onnx_model_tensor(const onnx_model *m, const char *path, const char *name,
                             int ndim, const int *shape, float *out, cnn_error *err)
{
    for (int i = 0; i < m->count; i++) {
        const onnx_tensor *t = &m->tensors[i];
        if (strcmp(t->name, name))
            continue;
        size_t count = 1;
        int same = t->ndim == ndim;
        for (int d = 0; d < ndim; d++) {
            same = same && t->shape[d] == shape[d];
            count *= (size_t)shape[d];
        }
        if (!same)
            return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' is not of the shape the "
                            "network needs", path, name);
        memcpy(out, t->data, count * sizeof *out);
        return CNN_OK;
    }
    return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' is missing", path, name);
}

void onnx_model_free(onnx_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->count; i++)
        free(m->tensors[i].data);
    free(m);
}
