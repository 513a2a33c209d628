/* cnn_error.c: formatting of cnn_error messages. */
#include "util/cnn_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

cnn_status cnn_fail(cnn_error *err, cnn_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

cnn_status cnn_fail_file(cnn_error *err, const char *path, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cnn_fail(err, CNN_ERR_INPUT, "%s: %s", path, what);
}

cnn_status cnn_fail_context(cnn_error *err, const char *fmt, ...)
{
    if (!err)
        return CNN_ERR_RUNTIME;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->status;
}
