/* metrics_log.c: see metrics_log.h. */
#include "train/metrics_log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/atomic_file.h"

enum { FIELDS = 8, FIELDS_V1 = 7 };

static const char *const field_names[FIELDS] = {
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds",
    "images_per_second", "lr"};

static cnn_status bad_line(cnn_error *err, const char *path, long line,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static cnn_status bad_line(cnn_error *err, const char *path, long line,
                           const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cnn_fail(err, CNN_ERR_INPUT, "%s: line %ld: %s", path, line, what);
}

/* Parses one data row (its line ending already removed) of `fields` into
 * r. */
static cnn_status parse_row(char *text, int fields, const char *path, long line,
                            metrics_row *r, cnn_error *err)
{
    char *field[FIELDS];
    int n = 0;
    for (char *p = text;;) {
        if (n < FIELDS)
            field[n] = p;
        n++;
        if (!(p = strchr(p, ',')))
            break;
        *p++ = '\0';
    }
    if (n != fields)
        return bad_line(err, path, line, "%d comma-separated fields, expected %d (%s)",
                        n, fields, fields == FIELDS ? METRICS_LOG_HEADER
                                                    : METRICS_LOG_HEADER_V1);
    double v[FIELDS];
    v[FIELDS - 1] = NAN;
    for (int i = 0; i < fields; i++) {
        char *end;
        errno = 0;
        if (i == 0) {
            long e = strtol(field[0], &end, 10);
            if (*field[0] == '\0' || *end || errno || e < 1 || e > INT_MAX)
                return bad_line(err, path, line, "epoch '%s' is not a positive "
                                "integer", field[0]);
            r->epoch = (int)e;
            continue;
        }
        v[i] = strtod(field[i], &end);
        if (*field[i] == '\0' || *end || end == field[i])
            return bad_line(err, path, line, "%s '%s' is not a number",
                            field_names[i], field[i]);
    }
    r->loss = v[1];
    r->accuracy = v[2];
    r->val_loss = v[3];
    r->val_accuracy = v[4];
    r->seconds = v[5];
    r->images_per_second = v[6];
    r->lr = v[7];
    return CNN_OK;
}

static cnn_status read_rows(FILE *f, const char *path, metrics_row **rows,
                            int *count, cnn_error *err)
{
    char *text = NULL;
    size_t cap = 0, have = 0;
    ssize_t len;
    long line = 0;
    int fields = FIELDS;
    cnn_status s = CNN_OK;
    while (s == CNN_OK && (len = getline(&text, &cap, f)) >= 0) {
        line++;
        if ((size_t)len != strlen(text)) {
            s = bad_line(err, path, line, "holds a NUL byte: not a text file");
            break;
        }
        /* A log opened and saved by a spreadsheet may end lines with CRLF. */
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = '\0';
        if (line == 1) {
            if (!strcmp(text, METRICS_LOG_HEADER_V1))
                fields = FIELDS_V1;
            else if (strcmp(text, METRICS_LOG_HEADER))
                s = bad_line(err, path, line, "header is '%.200s', expected '%s'",
                             text, METRICS_LOG_HEADER);
            continue;
        }
        if (len == 0) {
            s = bad_line(err, path, line, "is empty");
            break;
        }
        if (*count == INT_MAX) {
            s = bad_line(err, path, line, "too many rows");
            break;
        }
        if ((size_t)*count == have) {
            have = have ? 2 * have : 64;
            metrics_row *grown = realloc(*rows, have * sizeof *grown);
            if (!grown) {
                s = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory reading %s",
                             path);
                break;
            }
            *rows = grown;
        }
        metrics_row *r = &(*rows)[*count];
        if ((s = parse_row(text, fields, path, line, r, err)))
            break;
        if (*count > 0 && r->epoch <= r[-1].epoch) {
            s = bad_line(err, path, line, "epoch %d does not follow epoch %d",
                         r->epoch, r[-1].epoch);
            break;
        }
        (*count)++;
    }
    free(text);
    if (s == CNN_OK && ferror(f))
        s = cnn_fail(err, CNN_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
    if (s == CNN_OK && line == 0)
        s = cnn_fail(err, CNN_ERR_INPUT, "%s: is empty, expected the header '%s'",
                     path, METRICS_LOG_HEADER);
    return s;
}

cnn_status metrics_log_read(const char *path, metrics_row **rows, int *count,
                            cnn_error *err)
{
    *rows = NULL;
    *count = 0;
    struct stat st;
    if (stat(path, &st))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot open: %s", path,
                        strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: is not a regular file", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: cannot open: %s", path,
                        strerror(errno));
    cnn_status s = read_rows(f, path, rows, count, err);
    fclose(f);
    if (s) {
        free(*rows);
        *rows = NULL;
        *count = 0;
    }
    return s;
}

cnn_status metrics_log_write(const char *path, const metrics_row *rows,
                             int count, cnn_error *err)
{
    if (count < 0 || (count > 0 && !rows))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: %d rows to write", path, count);
    atomic_file a;
    cnn_status s = atomic_file_open(&a, path, err);
    if (s)
        return s;
    fputs(METRICS_LOG_HEADER "\n", a.f);
    for (int i = 0; i < count; i++) {
        const metrics_row *r = &rows[i];
        fprintf(a.f, "%d,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f,%.6g\n", r->epoch, r->loss,
                r->accuracy, r->val_loss, r->val_accuracy, r->seconds,
                r->images_per_second, r->lr);
    }
    return atomic_file_commit(&a, err);
}
