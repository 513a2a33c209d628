/* cnn_error: how every module reports failure without exiting.
 *
 * A failing function fills a cnn_error and returns its status; only the
 * command line turns a status into an exit code. The status values are the
 * exit codes: 1 for a runtime failure, 2 for bad usage or bad input. */
#ifndef CNN_ERROR_H
#define CNN_ERROR_H

typedef enum {
    CNN_OK = 0,
    CNN_ERR_RUNTIME = 1,
    CNN_ERR_INPUT = 2,
} cnn_status;

typedef struct {
    cnn_status status;
    char msg[8192];
} cnn_error;

/* Records a formatted message and returns the status, so callers can write
 * `return cnn_fail(err, CNN_ERR_INPUT, "...")`. A NULL err is allowed. */
cnn_status cnn_fail(cnn_error *err, cnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A bad-input error about a file: "<path>: <message>", CNN_ERR_INPUT. */
cnn_status cnn_fail_file(cnn_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with context ("loading X: ..."). */
cnn_status cnn_fail_context(cnn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
