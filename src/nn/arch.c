/* arch.c: parsing and shape-checking of architecture specs (see arch.h). */
#include "arch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long arch_size(arch_shape s) { return (long)s.c * s.h * s.w; }

/* Reads a positive decimal number at *p, advancing it; -1 if none. */
static long number(const char **p)
{
    if (**p < '0' || **p > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    *p = end;
    return errno || v < 1 || v > 1 << 20 ? -1 : v;
}

static cnn_status parse_token(const char *tok, arch_layer *l, cnn_error *err)
{
    const char *p = tok;
    long a = 0, b = 0;
    if (!strcmp(tok, "relu")) {
        l->kind = ARCH_RELU;
    } else if (!strcmp(tok, "flatten")) {
        l->kind = ARCH_FLATTEN;
    } else if (!strcmp(tok, "pool2")) {
        l->kind = ARCH_POOL;
    } else if (!strncmp(tok, "conv", 4)) {
        p += 4;
        a = number(&p);
        if (a > 0 && *p == 'k') {
            p++;
            b = number(&p);
        }
        if (a <= 0 || b <= 0 || *p)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' is not conv<filters>k<size> "
                            "(e.g. conv32k3)", tok);
        l->kind = ARCH_CONV;
        l->units = (int)a;
        l->k = (int)b;
    } else if (!strncmp(tok, "fc", 2)) {
        p += 2;
        a = number(&p);
        if (a <= 0 || *p)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' is not fc<outputs> (e.g. fc64)", tok);
        l->kind = ARCH_DENSE;
        l->units = (int)a;
    } else {
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: unknown token '%s'; known: "
                        "conv<F>k<K>, pool2, relu, flatten, fc<N>", tok);
    }
    return CNN_OK;
}

/* Fills l->out from l->in, or names why the shape is impossible. */
static cnn_status propagate(arch_layer *l, cnn_error *err)
{
    arch_shape in = l->in;
    int flat = in.h == 1 && in.w == 1;
    switch (l->kind) {
    case ARCH_CONV:
        if (l->k > in.h || l->k > in.w)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s': a %dx%d kernel is larger "
                            "than its %dx%d input", l->token, l->k, l->k, in.h, in.w);
        l->out = (arch_shape){l->units, in.h - l->k + 1, in.w - l->k + 1};
        break;
    case ARCH_POOL:
        if (in.h < 2 || in.w < 2)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s': cannot pool a %dx%d input",
                            l->token, in.h, in.w);
        l->out = (arch_shape){in.c, in.h / 2, in.w / 2};
        break;
    case ARCH_RELU:
        l->out = in;
        break;
    case ARCH_FLATTEN:
        l->out = (arch_shape){(int)arch_size(in), 1, 1};
        break;
    case ARCH_DENSE:
        if (!flat)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' needs a flat input: put "
                            "'flatten' before it (its input is %dx%dx%d)", l->token,
                            in.c, in.h, in.w);
        l->out = (arch_shape){l->units, 1, 1};
        break;
    }
    return CNN_OK;
}

cnn_status arch_parse(const char *spec, arch_shape input, int classes,
                      arch *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(spec) >= sizeof out->spec)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the spec is too long");
    snprintf(out->spec, sizeof out->spec, "%s", spec);
    out->input = input;
    out->classes = classes;
    arch_shape shape = input;
    int flattened = 0;
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, "-");
        if (len == 0 || len >= sizeof out->layers[0].token)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: empty or overlong token in '%s'",
                            spec);
        if (out->count == ARCH_MAX_LAYERS)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: more than %d layers",
                            ARCH_MAX_LAYERS);
        arch_layer *l = &out->layers[out->count++];
        memcpy(l->token, p, len);
        l->token[len] = '\0';
        cnn_status st = parse_token(l->token, l, err);
        if (st)
            return st;
        if (flattened && (l->kind == ARCH_CONV || l->kind == ARCH_POOL))
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' cannot follow flatten",
                            l->token);
        flattened |= l->kind == ARCH_FLATTEN || l->kind == ARCH_DENSE;
        l->in = shape;
        if ((st = propagate(l, err)))
            return st;
        shape = l->out;
        p += len;
        if (*p == '-' && !*++p)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' ends with '-'", spec);
    }
    if (out->count == 0)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the spec is empty");
    const arch_layer *last = &out->layers[out->count - 1];
    if (last->kind != ARCH_DENSE)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the last layer '%s' must be "
                        "fc%d (the class scores)", last->token, classes);
    if (last->units != classes)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the last layer '%s' has %d "
                        "outputs but the data has %d classes", last->token,
                        last->units, classes);
    return CNN_OK;
}
