/* atomic_file.c: see atomic_file.h. */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cnn_status atomic_file_open(atomic_file *a, const char *path, cnn_error *err)
{
    a->f = NULL;
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
        return cnn_fail(err, CNN_ERR_INPUT, "%.200s...: path is too long", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        /* A folder that is missing or not ours is the user's to fix; a full
         * disk or too many open files is the run's failure. */
        int e = errno;
        int input = e == ENOENT || e == ENOTDIR || e == EACCES || e == EPERM ||
                    e == EROFS || e == ENAMETOOLONG || e == ELOOP;
        return cnn_fail(err, input ? CNN_ERR_INPUT : CNN_ERR_RUNTIME,
                        "%s: cannot create: %s", path, strerror(e));
    }
    /* mkstemp makes the file private (0600); the result is an ordinary
     * file, readable as any other the user writes. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) || !(a->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: cannot create: %s", a->tmp,
                        strerror(e));
    }
    return CNN_OK;
}

cnn_status atomic_file_check(const char *path, cnn_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return cnn_fail(err, CNN_ERR_INPUT, "%s: is a folder", path);
        if (!S_ISREG(st.st_mode))
            return cnn_fail(err, CNN_ERR_INPUT, "%s: is not a regular file", path);
        /* The rename would replace a read-only file; its mode says it is
         * not to be replaced, even for root, whom access() lets write. */
        if (access(path, W_OK) || !(st.st_mode & 0222))
            return cnn_fail(err, CNN_ERR_INPUT, "%s: is read-only", path);
    }
    atomic_file a;
    cnn_status r = atomic_file_open(&a, path, err);
    if (r == CNN_OK)
        atomic_file_abort(&a);
    return r;
}

/* The rename is durable only once the folder's entry is on disk too; a
 * failure here loses nothing already written, so it is not an error. */
static void sync_folder(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

cnn_status atomic_file_commit(atomic_file *a, cnn_error *err)
{
    errno = 0;
    int failed = ferror(a->f) || fflush(a->f) || fsync(fileno(a->f));
    int e = errno;
    if (fclose(a->f) && !failed) {
        failed = 1;
        e = errno;
    }
    a->f = NULL;
    if (failed) {
        unlink(a->tmp);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: cannot write: %s", a->path,
                        strerror(e ? e : EIO));
    }
    if (rename(a->tmp, a->path)) {
        e = errno;
        unlink(a->tmp);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: cannot rename to %s: %s",
                        a->tmp, a->path, strerror(e));
    }
    sync_folder(a->path);
    return CNN_OK;
}

void atomic_file_abort(atomic_file *a)
{
    if (a->f)
        fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}
