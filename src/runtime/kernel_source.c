/* kernel_source.c: the kernels' source — the copies embedded at build time,
 * or the .cl files of a folder the caller names, so kernel work needs no
 * rebuild. All files form the main program; a variant's program is built
 * from its own file (clrt_kernels_from). The command line takes the folder
 * from CNN_CL_KERNELS, so the messages name that variable: it is what the
 * user set and can unset. */
#include "runtime/clrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_list.h" /* generated: CNN_KERNEL_LIST is X(name) per file */

#define X(name) extern const char cnn_kernel_##name[];
CNN_KERNEL_LIST
#undef X

#define X(name) {#name, cnn_kernel_##name},
static const struct {
    const char *name;
    const char *source;
} embedded[] = {CNN_KERNEL_LIST};
#undef X

enum { NKERNELS = sizeof embedded / sizeof embedded[0] };

static cnn_status read_file(const char *path, char **out, size_t *len,
                            cnn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_fail(err, CNN_ERR_INPUT,
                        "CNN_CL_KERNELS: cannot read %s; unset CNN_CL_KERNELS "
                        "to use the built-in kernels", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cnn_fail(err, CNN_ERR_INPUT, "CNN_CL_KERNELS: error reading %s", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CNN_OK;
}

/* Kernel file i's text into *part (malloc'd when read from the folder, *own
 * set then). */
static cnn_status file_text(const char *dir, int i, char **part, size_t *len, int *own,
                            cnn_error *err)
{
    *own = dir && *dir;
    if (!*own) {
        *part = (char *)embedded[i].source;
        *len = strlen(embedded[i].source);
        return CNN_OK;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cl", dir, embedded[i].name);
    return read_file(path, part, len, err);
}

/* The kernel file `file` ("conv") after the shared helpers of vec.cl, or
 * every file when NULL, as one string, from dir or the embedded copies. */
static cnn_status join(const char *dir, const char *file, char **out, cnn_error *err)
{
    char *parts[NKERNELS] = {0};
    size_t lens[NKERNELS] = {0}, total = 1;
    int own[NKERNELS] = {0}, found = 0;
    cnn_status st = CNN_OK;
    for (int i = 0; i < NKERNELS && !st; i++) {
        if (file && strcmp(file, embedded[i].name) && strcmp("vec", embedded[i].name))
            continue;
        found |= !file || !strcmp(file, embedded[i].name);
        if (!(st = file_text(dir, i, &parts[i], &lens[i], &own[i], err)))
            total += lens[i] + 1;
    }
    if (!st && !found)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "no kernel file '%s.cl' is built in", file);
    char *all = st ? NULL : malloc(total), *p = all;
    if (!st && !all)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    for (int i = 0; i < NKERNELS; i++) {
        if (all && parts[i]) {
            memcpy(p, parts[i], lens[i]);
            p += lens[i];
            *p++ = '\n';
        }
        if (own[i])
            free(parts[i]);
    }
    if (st)
        return st;
    *p = '\0';
    *out = all;
    return CNN_OK;
}

cnn_status clrt_kernel_source(const char *dir, char **out, cnn_error *err)
{
    return join(dir, NULL, out, err);
}

cnn_status clrt_kernel_file_source(const char *dir, const char *file, char **out,
                                   cnn_error *err)
{
    return join(dir, file, out, err);
}
