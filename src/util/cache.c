/* cache.c: the cache folder (see cache.h). */
#include "util/cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static cnn_status mkdirs(const char *path, cnn_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char keep = *p;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return cnn_fail(err, CNN_ERR_RUNTIME, "cannot create %s: %s", buf,
                            strerror(errno));
        if (!keep)
            return CNN_OK;
        *p = keep;
    }
}

cnn_status cache_path(const char *name, char *out, size_t size, cnn_error *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/cnn-cl", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/cnn-cl", home);
    else
        return cnn_fail(err, CNN_ERR_RUNTIME,
                        "neither XDG_CACHE_HOME nor HOME is set, so cnn-cl has "
                        "no cache folder; set one");
    cnn_status st = mkdirs(dir, err);
    if (st == CNN_OK)
        snprintf(out, size, "%s/%s", dir, name);
    return st;
}

uint64_t cache_hash(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
