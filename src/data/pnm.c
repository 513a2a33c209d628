/* pnm.c: see pnm.h. */
#include "data/pnm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The next character, with a comment read as the line end that closes it
 * (as Netpbm does, so that newline may also be the one whitespace character
 * before P5's raster). */
static int next_char(FILE *f)
{
    int c = getc(f);
    if (c == '#')
        while ((c = getc(f)) != EOF && c != '\n' && c != '\r')
            ;
    return c;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Reads an unsigned decimal number after any whitespace and comments, and
 * the one character that ends it. Returns 1, 0 at end of file before any
 * digit, or -1 when something else stands there or it exceeds `limit`
 * (then *value holds the digits read so far, capped above limit). */
static int read_number(FILE *f, long limit, long *value)
{
    int c;
    *value = 0;
    while ((c = next_char(f)) != EOF && is_space(c))
        ;
    if (c == EOF)
        return 0;
    if (c < '0' || c > '9')
        return -1;
    long v = 0;
    for (; c >= '0' && c <= '9'; c = next_char(f))
        if ((v = v * 10 + (c - '0')) > limit)
            v = limit + 1;
    *value = v;
    if (v > limit)
        return -1;
    /* A number ends at whitespace (or a comment, read as a newline) or at
     * the end of the file; "28x" is not a number. */
    return c == EOF || is_space(c) ? 1 : -1;
}

static const char *const header_field[3] = {"width", "height", "maxval"};

/* Reads the magic number and the header's three numbers: width, height and
 * maxval. *channels is 1 for a PGM, 3 for a PPM. */
static cnn_status read_header(FILE *f, const char *path, long dims[3], int *channels,
                              int *binary, cnn_error *err)
{
    unsigned char magic[2];
    size_t got = fread(magic, 1, 2, f);
    if (got < 2 || magic[0] != 'P' || !magic[1] || !strchr("2356", magic[1])) {
        if (got == 2 && magic[0] == 'P' && magic[1] >= '1' && magic[1] <= '7')
            return cnn_fail_file(err, path, "is a Netpbm P%c (%s) file, not a PGM or PPM "
                                 "(P2, P5, P3 or P6)", magic[1],
                                 magic[1] == '7' ? "PAM" : "black and white PBM");
        return cnn_fail_file(err, path, "is not a PGM or PPM (it does not start with "
                             "P2, P5, P3 or P6)");
    }
    *channels = magic[1] == '3' || magic[1] == '6' ? 3 : 1;
    *binary = magic[1] == '5' || magic[1] == '6';
    int c = getc(f);
    if (c == '#' || c == EOF)
        ungetc(c, f);
    else if (!is_space(c))
        return cnn_fail_file(err, path, "bad header: no whitespace after the magic P%c",
                             magic[1]);
    /* Width and height are bounded so that their product fits in a long. */
    const long limit[3] = {1 << 20, 1 << 20, 65535};
    for (int i = 0; i < 3; i++) {
        int r = read_number(f, limit[i], &dims[i]);
        if (r == 0)
            return cnn_fail_file(err, path, "bad header: the file ends before the %s",
                                 header_field[i]);
        if (r < 0 && i == 2 && dims[2] > 65535)
            return cnn_fail_file(err, path, "bad header: maxval is above 65535");
        if (r < 0)
            return cnn_fail_file(err, path, "bad header: the %s is not a number",
                                 header_field[i]);
        if (dims[i] == 0)
            return cnn_fail_file(err, path, "bad header: the %s is 0", header_field[i]);
    }
    return CNN_OK;
}

/* "pixel 4 (row 1, column 0)", then " green" for a colour image: where
 * sample i of the file stands, for messages. */
static const char *where(char *buf, size_t size, long i, long w, int channels)
{
    static const char *const name[3] = {"red", "green", "blue"};
    long px = i / channels;
    snprintf(buf, size, "pixel %ld (row %ld, column %ld)%s%s", px, px / w, px % w,
             channels == 1 ? "" : " ", channels == 1 ? "" : name[i % channels]);
    return buf;
}

/* Reads the raster's w * h * channels samples, interleaved in the file,
 * into planar pixels. */
static cnn_status read_raster(FILE *f, const char *path, long w, long h, int channels,
                              long maxval, int binary, float *pixels, cnn_error *err)
{
    long n = w * h * channels;
    const char *unit = channels == 1 ? "pixels" : "samples";
    char at[96];
    for (long i = 0; i < n; i++) {
        long v = 0;
        if (binary) {
            int hi = maxval > 255 ? getc(f) : 0, lo = getc(f);
            if (hi == EOF || lo == EOF)
                return cnn_fail_file(err, path, "truncated: the data ends after %ld of "
                                     "%ld %s", i, n, unit);
            v = hi << 8 | lo;
        } else {
            int r = read_number(f, 1L << 40, &v);
            if (r == 0)
                return cnn_fail_file(err, path, "truncated: the data ends after %ld of "
                                     "%ld %s", i, n, unit);
            if (r < 0)
                return cnn_fail_file(err, path, "%s is not a number",
                                     where(at, sizeof at, i, w, channels));
        }
        if (v > maxval)
            return cnn_fail_file(err, path, "%s is %ld, above the maxval %ld",
                                 where(at, sizeof at, i, w, channels), v, maxval);
        pixels[i % channels * w * h + i / channels] = (float)v / (float)maxval;
    }
    return CNN_OK;
}

cnn_status pnm_read(const char *path, int want_c, int want_h, int want_w,
                    float *pixels, cnn_error *err)
{
    struct stat st;
    if (stat(path, &st))
        return cnn_fail_file(err, path, "cannot open: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cnn_fail_file(err, path, "is not a regular file");
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_fail_file(err, path, "cannot open: %s", strerror(errno));
    long dims[3] = {0};
    int channels = 0, binary = 0;
    cnn_status s = read_header(f, path, dims, &channels, &binary, err);
    if (s == CNN_OK && channels != want_c)
        s = cnn_fail_file(err, path, "image has %d channel%s (a %s); expected %d channel%s",
                          channels, channels == 1 ? "" : "s",
                          channels == 1 ? "grey PGM" : "colour PPM", want_c,
                          want_c == 1 ? "" : "s");
    if (s == CNN_OK && (dims[0] != want_w || dims[1] != want_h))
        s = cnn_fail_file(err, path, "image is %ld wide and %ld high; expected %d wide and "
                          "%d high", dims[0], dims[1], want_w, want_h);
    if (s == CNN_OK)
        s = read_raster(f, path, dims[0], dims[1], channels, dims[2], binary, pixels, err);
    if (s == CNN_OK && ferror(f))
        s = cnn_fail_file(err, path, "cannot read: %s", strerror(errno));
    fclose(f);
    return s;
}
