/* api/error: how the library (cnn_cl.h) hands the internal modules' errors
 * to its caller. The internals keep their cnn_status and cnn_error; a
 * public function ends through api_status. */
#ifndef API_ERROR_H
#define API_ERROR_H

#include "cnn_cl.h"
#include "util/cnn_error.h"

/* Fills *out, when not NULL, with st and, on failure, in's message (on
 * success an empty one); returns st as the public status. */
cnn_cl_status api_status(cnn_cl_error *out, cnn_status st, const cnn_error *in);

/* For a NULL argument `name` of function `fn`: CNN_ERR_INPUT saying so. */
cnn_status api_null(cnn_error *err, const char *fn, const char *name);

#endif
