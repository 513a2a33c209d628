/* atomic_file: writing a whole file so that readers see either the old file
 * or the complete new one, never a half-written one.
 *
 * The text goes to a temporary file in the same folder (path.tmp-XXXXXX);
 * commit flushes it, fsyncs it and renames it over the path. A failed write
 * or an abort removes the temporary. */
#ifndef ATOMIC_FILE_H
#define ATOMIC_FILE_H

#include <stdio.h>

#include "util/cnn_error.h"

typedef struct {
    FILE *f;          /* write the contents here */
    char path[4096];  /* the file being replaced */
    char tmp[4200];   /* the temporary written meanwhile */
} atomic_file;

/* Whether atomic_file_open and commit could replace path, checked without
 * touching it: the temporary is created and removed again. A path that is
 * a folder or another non-regular file, a file without write permission,
 * or a folder where no file can be created (missing, read-only file system,
 * no permission) is CNN_ERR_INPUT naming the path. */
cnn_status atomic_file_check(const char *path, cnn_error *err);

/* Creates the temporary. A path whose folder is missing or not writable is
 * CNN_ERR_INPUT naming the path; a full disk is CNN_ERR_RUNTIME. */
cnn_status atomic_file_open(atomic_file *a, const char *path, cnn_error *err);

/* Flushes, fsyncs and renames the temporary over the path; on any failure
 * the temporary is removed and the old file (if any) is left untouched. */
cnn_status atomic_file_commit(atomic_file *a, cnn_error *err);

/* Discards the temporary (after a failure while writing it). */
void atomic_file_abort(atomic_file *a);

#endif
