/* idxfile.c: see idxfile.h. */
#include <stddef.h>

#include "idxfile.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void fill_item(unsigned char *item, size_t n, uint64_t i, int classes)
{
    for (size_t p = 0; p < n; p++)
        item[p] = classes ? (unsigned char)(i % (uint64_t)classes)
                          : (unsigned char)(i >> (8 * (p % 3)));
}

static const char *write_file(const char *dir, const char *name,
                              const unsigned char *head, size_t nhead,
                              uint64_t count, size_t item, int classes, int gzip)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *item_buf = malloc(item ? item : 1);
    ck_assert_ptr_nonnull(item_buf);
    if (gzip) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, head, (unsigned)nhead), (int)nhead);
        for (uint64_t i = 0; i < count; i++) {
            fill_item(item_buf, item, i, classes);
            ck_assert_int_eq(gzwrite(f, item_buf, (unsigned)item), (int)item);
        }
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(head, 1, nhead, f), nhead);
        for (uint64_t i = 0; i < count; i++) {
            fill_item(item_buf, item, i, classes);
            ck_assert_uint_eq(fwrite(item_buf, 1, item, f), item);
        }
        ck_assert_int_eq(fclose(f), 0);
    }
    free(item_buf);
    return path;
}

const char *idxfile_images(const char *dir, const char *name, uint32_t count,
                           uint32_t rows, uint32_t cols, int gzip)
{
    unsigned char head[16];
    put32(head, 2051);
    put32(head + 4, count);
    put32(head + 8, rows);
    put32(head + 12, cols);
    return write_file(dir, name, head, sizeof head, count, (size_t)rows * cols, 0, gzip);
}

const char *idxfile_labels(const char *dir, const char *name, uint32_t count,
                           int classes, int gzip)
{
    unsigned char head[8];
    put32(head, 2049);
    put32(head + 4, count);
    return write_file(dir, name, head, sizeof head, count, 1, classes, gzip);
}

const char *idxfile_raw(const char *dir, const char *name, const void *bytes,
                        size_t n)
{
    return write_file(dir, name, bytes, n, 0, 0, 0, 0);
}
