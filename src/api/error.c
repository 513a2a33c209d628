/* error.c: the library's status and messages, and its version (see
 * api/error.h). */
#include "api/error.h"

#include <stdio.h>

cnn_cl_status api_status(cnn_cl_error *out, cnn_status st, const cnn_error *in)
{
    if (out) {
        out->status = (cnn_cl_status)st;
        snprintf(out->message, sizeof out->message, "%s", st ? in->msg : "");
    }
    return (cnn_cl_status)st;
}

cnn_status api_null(cnn_error *err, const char *fn, const char *name)
{
    return cnn_fail(err, CNN_ERR_INPUT, "%s: %s is NULL", fn, name);
}

const char *cnn_cl_version(void)
{
    return CNN_CL_VERSION_STRING;
}
