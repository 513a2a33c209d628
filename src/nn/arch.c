/* arch.c: parsing and shape-checking of architecture specs (see arch.h).
 * Everything kind-specific is in the layer table's rows. */
#include "nn/arch.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long arch_size(arch_shape s) { return (long)s.c * s.h * s.w; }

void arch_known_tokens(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < layer_kind_count && used < size; i++)
        if (layer_kinds[i]->syntax)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
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

/* The one row with `flag`: a block's begin or end. */
static const layer_kind *kind_with(unsigned flag)
{
    for (int i = 0; i < layer_kind_count; i++)
        if (layer_kinds[i]->flags & flag)
            return layer_kinds[i];
    return NULL;
}

static int kind_index(const layer_kind *kind)
{
    int k = 0;
    while (layer_kinds[k] != kind)
        k++;
    return k;
}

/* The parser's state: the blocks open, innermost last. */
typedef struct {
    int begin[ARCH_MAX_LAYERS]; /* each open block's begin layer */
    int flattened[ARCH_MAX_LAYERS]; /* whether its input was flat */
    const char *text[ARCH_MAX_LAYERS]; /* where its '<prefix>[' starts */
    int depth;
} open_blocks;

/* Closes the innermost open block, whose text ends at `end` (its ']'): its
 * end layer joins the chain's output, `shape`, with the block's input. */
static cnn_status close_block(arch *out, open_blocks *b, const char *end, arch_shape shape,
                              int flattened, cnn_error *err)
{
    int first = b->begin[--b->depth];
    arch_layer *begin = &out->layers[first];
    if (out->count == ARCH_MAX_LAYERS)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: more than %d layers "
                        "(each block counts two)", ARCH_MAX_LAYERS);
    arch_layer *l = &out->layers[out->count];
    l->kind = kind_with(LAYER_BLOCK_END);
    /* The block's text names it in messages, shortened to fit. */
    int len = (int)(end - b->text[b->depth]) + 1;
    if (len < (int)sizeof l->token)
        snprintf(l->token, sizeof l->token, "%.*s", len, b->text[b->depth]);
    else
        snprintf(l->token, sizeof l->token, "%.*s...]", (int)sizeof l->token - 5,
                 b->text[b->depth]);
    memcpy(l->name, begin->name, sizeof l->name);
    if (out->count == first + 1)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: block %s '%s' is empty: put "
                        "layers between the brackets", l->name, l->token);
    l->chain_stride = 1;
    for (int i = first + 1; i < out->count; i++) {
        const arch_layer *in = &out->layers[i];
        if (flattened != b->flattened[b->depth])
            if (in->kind->flags & LAYER_FLAT_OUT)
                return cnn_fail(err, CNN_ERR_INPUT, "--arch: block %s '%s': '%s' makes "
                                "its chain flat, but its shortcut (a 1x1 convolution) "
                                "keeps the input's %dx%dx%d; end the block before it",
                                l->name, l->token, in->token, begin->in.c, begin->in.h,
                                begin->in.w);
        /* A nested block's layers are this chain's too. */
        if (in->stride > 1)
            l->chain_stride *= in->stride;
        l->chain_norm |= (in->kind->flags & LAYER_NORM) != 0;
    }
    l->in = shape;
    l->skip = begin->in;
    l->pair = first;
    begin->pair = out->count++;
    return l->kind->shape(l, err);
}

/* The expanded spec's room: a layer's token and its '-' each (a block's
 * ends share its text), so a spec that outgrows it has too many layers or
 * a token longer than any layer's. */
#define EXPANDED_SIZE (ARCH_MAX_LAYERS * (sizeof(((arch_layer *)0)->token) + 1))

typedef struct {
    const char *spec; /* as written */
    char *out;        /* its expansion so far */
    size_t used;
} expansion;

static cnn_status append(expansion *e, const char *text, size_t len, cnn_error *err)
{
    if (e->used + len >= EXPANDED_SIZE)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' has more than %d layers, or "
                        "an overlong token, when its groups are written out", e->spec,
                        ARCH_MAX_LAYERS);
    memcpy(e->out + e->used, text, len);
    e->used += len;
    e->out[e->used] = '\0';
    return CNN_OK;
}

/* Copies the text from *p to the ')' that closes the group open at `depth`
 * (or the spec's end at depth 0), writing each "(TOKENS)xN" out as TOKENS
 * N times, joined by '-'. A group starts a token and is followed by what
 * may follow one. */
static cnn_status expand_groups(expansion *e, const char **p, int depth, cnn_error *err)
{
    cnn_status st;
    const char *s = *p; /* the text not yet appended */
    while (**p) {
        if (**p == ')') {
            if (!depth)
                return cnn_fail(err, CNN_ERR_INPUT, "--arch: a ')' closes no group in "
                                "'%s' (a group is (TOKENS)x<N>)", e->spec);
            return append(e, s, (size_t)(*p - s), err);
        }
        if (**p != '(') {
            (*p)++;
            continue;
        }
        if (*p > e->spec && !strchr("-[(", (*p)[-1]))
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: a group starts inside a token "
                            "in '%s'; put '-' before its '('", e->spec);
        if ((st = append(e, s, (size_t)(*p - s), err)))
            return st;
        size_t first = e->used;
        (*p)++;
        if ((st = expand_groups(e, p, depth + 1, err)))
            return st;
        if (**p != ')')
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: a group is never closed in "
                            "'%s': end it with ')x<N>'", e->spec);
        size_t len = e->used - first;
        char *end = (char *)*p + 1;
        long n = (*p)[1] == 'x' && isdigit((unsigned char)(*p)[2]) ? strtol(*p + 2, &end, 10)
                                                                    : 0;
        if (!len || n < 1 || n > ARCH_MAX_LAYERS || !strchr("-])", *end))
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: a group in '%s' is not "
                            "(TOKENS)x<N>, N from 1 to %d", e->spec, ARCH_MAX_LAYERS);
        for (long i = 1; i < n; i++)
            if ((st = append(e, "-", 1, err)) ||
                (st = append(e, e->out + first, len, err)))
                return st;
        s = *p = end;
    }
    return append(e, s, strlen(s), err);
}

cnn_status arch_parse_from(const char *spec, arch_shape input, int classes,
                           const char *origin, arch *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(spec) >= sizeof out->spec)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the spec is too long");
    snprintf(out->spec, sizeof out->spec, "%s", spec);
    /* The layers are those of the spec with its groups written out. */
    char text[EXPANDED_SIZE];
    expansion groups = {.spec = spec, .out = text};
    const char *rest = spec;
    if (expand_groups(&groups, &rest, 0, err))
        return CNN_ERR_INPUT;
    spec = text;
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
    open_blocks blocks = {.depth = 0};
    const layer_kind *begin_kind = kind_with(LAYER_BLOCK_BEGIN);
    const int block_names = kind_index(kind_with(LAYER_BLOCK_END));
    for (const char *p = spec; *p;) {
        cnn_status st;
        arch_layer *l = &out->layers[out->count];
        if (*p == ']') {
            if (!blocks.depth)
                return cnn_fail(err, CNN_ERR_INPUT, "--arch: a ']' closes no block in "
                                "'%s' (a block is %s)", spec,
                                kind_with(LAYER_BLOCK_END)->syntax);
            if ((st = close_block(out, &blocks, p, shape, flattened, err)))
                return st;
            l = &out->layers[out->count - 1];
            p++;
        } else {
            int opens = !strncmp(p, begin_kind->prefix, strlen(begin_kind->prefix));
            size_t len = opens ? strlen(begin_kind->prefix) : strcspn(p, "-]");
            if (len == 0 || len >= sizeof l->token)
                return cnn_fail(err, CNN_ERR_INPUT, "--arch: empty or overlong token "
                                "in '%s'", spec);
            if (out->count == ARCH_MAX_LAYERS)
                return cnn_fail(err, CNN_ERR_INPUT, "--arch: more than %d layers%s",
                                ARCH_MAX_LAYERS, blocks.depth || opens ? " (each block "
                                "counts two)" : "");
            out->count++;
            memcpy(l->token, p, len);
            l->token[len] = '\0';
            if ((st = parse_layer(l, shape, flattened, err)))
                return st;
            /* A block's two ends are named after it, in the order blocks
             * open. */
            int k = opens ? block_names : kind_index(l->kind);
            snprintf(l->name, sizeof l->name, "%s%d", layer_kinds[k]->prefix, ++counts[k]);
            if (opens) {
                blocks.begin[blocks.depth] = out->count - 1;
                blocks.flattened[blocks.depth] = flattened;
                blocks.text[blocks.depth++] = p;
                p += len;
                shape = l->out;
                continue;
            }
            p += len;
        }
        if (arch_size(l->out) > INT_MAX)
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' gives %dx%dx%d, more than "
                            "%d values", l->token, l->out.c, l->out.h, l->out.w, INT_MAX);
        /* Once flat, always flat: spatial kinds cannot follow. */
        flattened |= (l->kind->flags & LAYER_FLAT_OUT) != 0;
        shape = l->out;
        if (*p == '-') {
            if (!*++p)
                return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' ends with '-'", spec);
            if (*p == ']')
                return cnn_fail(err, CNN_ERR_INPUT, "--arch: empty token before ']' in "
                                "'%s'", spec);
        } else if (*p && *p != ']') {
            return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' is followed by '%c' in "
                            "'%s'; layers are joined by '-'", l->token, *p, spec);
        }
    }
    if (blocks.depth) {
        const arch_layer *open = &out->layers[blocks.begin[blocks.depth - 1]];
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: block %s is never closed: end it "
                        "with ']' (a block is %s)", open->name,
                        kind_with(LAYER_BLOCK_END)->syntax);
    }
    if (out->count == 0)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: the spec is empty");
    return check_scores(&out->layers[out->count - 1], classes, origin, err);
}
