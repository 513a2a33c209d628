/* arch.c: parsing and shape-checking of architecture specs (see arch.h).
 * Everything kind-specific is in the layer table's rows. */
#include "nn/arch.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

long arch_size(arch_shape s) { return (long)s.c * s.h * s.w; }

void arch_known_tokens(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < layer_kind_count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                                 layer_kinds[i]->syntax);
}

static const layer_kind *kind_of(const char *token)
{
    for (int i = 0; i < layer_kind_count; i++)
        if (!strncmp(token, layer_kinds[i]->prefix, strlen(layer_kinds[i]->prefix)))
            return layer_kinds[i];
    return NULL;
}

static int is_flat(arch_shape s) { return s.h == 1 && s.w == 1; }

/* Parses one token into l and works out its shapes from `in`. */
static cnn_status parse_layer(arch_layer *l, arch_shape in, int flattened,
                              cnn_error *err)
{
    l->kind = kind_of(l->token);
    if (!l->kind) {
        char known[512];
        arch_known_tokens(known, sizeof known);
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: unknown token '%s'; known: %s",
                        l->token, known);
    }
    unsigned flags = l->kind->flags;
    cnn_status st = l->kind->parse(l->token + strlen(l->kind->prefix), l, err);
    if (st)
        return st;
    if ((flags & LAYER_SPATIAL) && flattened)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' cannot follow a flat layer "
                        "(its input is %d features)", l->token, in.c);
    if ((flags & LAYER_FLAT_IN) && !is_flat(in))
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' needs a flat input: put "
                        "'flatten' before it (its input is %dx%dx%d)", l->token,
                        in.c, in.h, in.w);
    l->in = in;
    return l->kind->shape(l, err);
}

/* The last layer must give the `classes` scores. A mismatch names where the
 * count comes from when `origin` says so: the count may be the fault. */
static cnn_status check_scores(const arch_layer *last, int classes, const char *origin,
                               cnn_error *err)
{
    const char *scores = "";
    for (int i = 0; i < layer_kind_count && !*scores; i++)
        if (layer_kinds[i]->flags & LAYER_CLASSES)
            scores = layer_kinds[i]->prefix;
    if (!(last->kind->flags & LAYER_CLASSES))
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the last layer '%s' must be %s%d "
                        "(the class scores%s%s)", last->token, scores, classes,
                        origin ? "; " : "", origin ? origin : "");
    if (last->out.c == classes)
        return CNN_OK;
    return origin ? cnn_fail(err, CNN_ERR_INPUT, "%s, but the last layer '%s' has %d "
                             "outputs; if the data is right, end --arch with %s%d",
                             origin, last->token, last->out.c, scores, classes)
                  : cnn_fail(err, CNN_ERR_INPUT, "--arch: the last layer '%s' has %d "
                             "outputs but the data has %d classes", last->token,
                             last->out.c, classes);
}

cnn_status arch_parse(const char *spec, arch_shape input, int classes,
                      arch *out, cnn_error *err)
{
    return arch_parse_from(spec, input, classes, NULL, out, err);
}

cnn_status arch_parse_from(const char *spec, arch_shape input, int classes,
                           const char *origin, arch *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(spec) >= sizeof out->spec)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the spec is too long");
    snprintf(out->spec, sizeof out->spec, "%s", spec);
    /* Sizes are counted in int, and conv_axis adds a stride to a side. */
    if (input.c < 1 || input.h < 1 || input.w < 1 || input.h > ARCH_MAX_SIDE ||
        input.w > ARCH_MAX_SIDE || arch_size(input) > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: input %dx%dx%d is not a shape "
                        "cnn-cl takes (sides 1..%d, at most %d values)", input.c,
                        input.h, input.w, ARCH_MAX_SIDE, INT_MAX);
    out->input = input;
    out->classes = classes;
    arch_shape shape = input;
    int flattened = 0, counts[64] = {0};
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
        cnn_status st = parse_layer(l, shape, flattened, err);
        if (st)
            return st;
        if (arch_size(l->out) > INT_MAX)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' gives %dx%dx%d, more than "
                            "%d values", l->token, l->out.c, l->out.h, l->out.w, INT_MAX);
        int k = 0;
        while (layer_kinds[k] != l->kind)
            k++;
        snprintf(l->name, sizeof l->name, "%s%d", l->kind->prefix, ++counts[k]);
        /* Once flat, always flat: spatial kinds cannot follow. */
        flattened |= (l->kind->flags & LAYER_FLAT_OUT) != 0;
        shape = l->out;
        p += len;
        if (*p == '-' && !*++p)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' ends with '-'", spec);
    }
    if (out->count == 0)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the spec is empty");
    return check_scores(&out->layers[out->count - 1], classes, origin, err);
}
