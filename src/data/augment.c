/* augment.c: the transforms' table, the parser and the fast transforms
 * (see augment.h; ref/augment.c is their plain reference). */
#include "data/augment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

#define AUGMENT_STREAM_TAG 0x4155474d454e54ull /* "AUGMENT" */
#define PIXELS_MAX 255 /* crop's padding and cutout's side */

const char augment_forms[] =
    "flip (mirror left to right with probability 0.5), crop:P (zero-pad by P "
    "pixels, P from 1 to 255, then crop at the original size at random), "
    "cutout:S (set an S x S square at a random centre to 0, S from 1 to 255), "
    "joined by commas, or none";

uint64_t augment_key(uint64_t seed, uint64_t epoch, uint64_t index)
{
    return rng_key(rng_key(rng_key(seed, AUGMENT_STREAM_TAG), epoch), index);
}

/* Each step of the list draws from its own sub-stream, so adding a step
 * leaves the draws of those before it alone. */
int augment_draw_flip(uint64_t key, int step)
{
    return (int)(rng_bits(rng_key(key, (uint64_t)step), 0) >> 63);
}

/* A place in [0, ny) x [0, nx) from the step's sub-stream: a bias of
 * n / 2^64 at most. */
static void draw_place(uint64_t key, int step, uint64_t ny, uint64_t nx, int *y, int *x)
{
    uint64_t k = rng_key(key, (uint64_t)step);
    *y = (int)(rng_bits(k, 0) % ny);
    *x = (int)(rng_bits(k, 1) % nx);
}

void augment_draw_crop(uint64_t key, int step, int pad, int *dy, int *dx)
{
    uint64_t n = 2 * (uint64_t)pad + 1;
    draw_place(key, step, n, n, dy, dx);
}

void augment_draw_cutout(uint64_t key, int step, int h, int w, int *cy, int *cx)
{
    draw_place(key, step, (uint64_t)h, (uint64_t)w, cy, cx);
}

static int parse_none(const char *arg, int *param)
{
    *param = 0;
    return arg == NULL;
}

/* A count of pixels, 1 to 255, in decimal digits only. */
static int parse_pixels(const char *arg, int *param)
{
    if (!arg || *arg < '0' || *arg > '9')
        return 0;
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || v < 1 || v > PIXELS_MAX)
        return 0;
    *param = (int)v;
    return 1;
}

static void apply_flip(int param, uint64_t key, int step, float *img, float *scratch,
                       int c, int h, int w)
{
    (void)param, (void)scratch;
    if (!augment_draw_flip(key, step))
        return;
    for (long row = 0; row < (long)c * h; row++)
        for (float *a = img + row * w, *b = a + w - 1; a < b; a++, b--) {
            float t = *a;
            *a = *b;
            *b = t;
        }
}

/* Output pixel (y, x) is input (y + dy - pad, x + dx - pad), or 0 outside
 * the input: only the rows and columns inside are read. */
static void apply_crop(int pad, uint64_t key, int step, float *img, float *scratch,
                       int c, int h, int w)
{
    int dy, dx;
    augment_draw_crop(key, step, pad, &dy, &dx);
    if (dy == pad && dx == pad)
        return;
    size_t plane = (size_t)h * (size_t)w;
    memcpy(scratch, img, (size_t)c * plane * sizeof *img);
    int sx = dx - pad; /* source column of output column 0 */
    int x0 = sx < 0 ? -sx : 0, x1 = w - (sx > 0 ? sx : 0);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++) {
            float *out = img + ch * plane + (size_t)y * w;
            int src = y + dy - pad;
            if (src < 0 || src >= h || x0 >= x1) {
                memset(out, 0, (size_t)w * sizeof *out);
                continue;
            }
            const float *in = scratch + ch * plane + (size_t)src * w;
            memset(out, 0, (size_t)x0 * sizeof *out);
            memcpy(out + x0, in + x0 + sx, (size_t)(x1 - x0) * sizeof *out);
            memset(out + x1, 0, (size_t)(w - x1) * sizeof *out);
        }
}

/* Rows [cy - size / 2, cy - size / 2 + size) by the columns likewise
 * around cx, clipped to the image, are set to 0 in every channel. */
static void apply_cutout(int size, uint64_t key, int step, float *img, float *scratch,
                         int c, int h, int w)
{
    (void)scratch;
    int cy, cx;
    augment_draw_cutout(key, step, h, w, &cy, &cx);
    int y0 = cy - size / 2, x0 = cx - size / 2;
    int y1 = y0 + size < h ? y0 + size : h, x1 = x0 + size < w ? x0 + size : w;
    y0 = y0 > 0 ? y0 : 0;
    x0 = x0 > 0 ? x0 : 0;
    for (int ch = 0; ch < c; ch++)
        for (int y = y0; y < y1; y++)
            memset(img + ((size_t)ch * h + y) * w + x0, 0, (size_t)(x1 - x0) * sizeof *img);
}

typedef struct {
    const char *name;
    int (*parse)(const char *arg, int *param); /* arg: after ':', or NULL */
    void (*apply)(int param, uint64_t key, int step, float *img, float *scratch,
                  int c, int h, int w);
} augment_kind;

static const augment_kind kinds[] = {
    {"flip", parse_none, apply_flip},
    {"crop", parse_pixels, apply_crop},
    {"cutout", parse_pixels, apply_cutout},
};

cnn_status augment_parse(const char *text, const char *option, augment *out,
                         cnn_error *err)
{
    memset(out, 0, sizeof *out);
    if (!strcmp(text, "none"))
        return CNN_OK;
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[64];
        int ok = len > 0 && len < sizeof item && out->n < AUGMENT_MAX;
        if (ok) {
            memcpy(item, p, len);
            item[len] = '\0';
            char *colon = strchr(item, ':');
            if (colon)
                *colon = '\0';
            ok = 0;
            for (size_t k = 0; !ok && k < sizeof kinds / sizeof *kinds; k++)
                if (!strcmp(item, kinds[k].name) &&
                    kinds[k].parse(colon ? colon + 1 : NULL, &out->step[out->n].param)) {
                    out->step[out->n++].kind = (int)k;
                    ok = 1;
                }
        }
        if (!ok) {
            const char *why = out->n >= AUGMENT_MAX ? " (more than 8)" : "";
            memset(out, 0, sizeof *out);
            return cnn_fail(err, CNN_ERR_INPUT, "%s: '%.*s' in '%s' is not a transform%s; "
                            "it takes %s", option, (int)(len < 64 ? len : 64), p, text,
                            why, augment_forms);
        }
        if (!p[len])
            return CNN_OK;
        p += len + 1;
    }
}

void augment_text(const augment *a, char *buf, size_t size)
{
    snprintf(buf, size, "%s", a->n ? "" : "none");
    for (int i = 0; i < a->n; i++) {
        size_t at = strlen(buf);
        const augment_kind *k = &kinds[a->step[i].kind];
        if (k->parse == parse_none)
            snprintf(buf + at, size - at, "%s%s", i ? "," : "", k->name);
        else
            snprintf(buf + at, size - at, "%s%s:%d", i ? "," : "", k->name,
                     a->step[i].param);
    }
}

void augment_apply(const augment *a, uint64_t key, float *image, float *scratch,
                   int c, int h, int w)
{
    for (int i = 0; i < a->n; i++)
        kinds[a->step[i].kind].apply(a->step[i].param, key, i, image, scratch, c, h, w);
}
