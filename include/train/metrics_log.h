/* metrics_log: the per-epoch CSV log of training.
 *
 * One header row, exactly METRICS_LOG_HEADER, then one row per epoch in
 * increasing epoch order:
 *   epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_second,lr
 * lr is the learning rate of the epoch's last step. A log an older cnn-cl
 * wrote, without the lr column (METRICS_LOG_HEADER_V1), reads with lr NaN.
 * The training loop rewrites the whole log after every epoch (atomically,
 * so a crash leaves the previous log), and on --resume reads it back to keep
 * the rows of the epochs already done. Reading is strict: a fault is
 * CNN_ERR_INPUT with one line naming the file and the line. */
#ifndef METRICS_LOG_H
#define METRICS_LOG_H

#include "util/cnn_error.h"

#define METRICS_LOG_HEADER_V1 \
    "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_second"
#define METRICS_LOG_HEADER METRICS_LOG_HEADER_V1 ",lr"

typedef struct metrics_row {
    int epoch;                  /* 1-based */
    double loss, accuracy;      /* training set, mean over the epoch */
    double val_loss, val_accuracy;
    double seconds;             /* wall time of the epoch */
    double images_per_second;   /* training throughput */
    double lr;                  /* the rate of the epoch's last step */
} metrics_row;

/* Reads the log at path into *rows (malloc'd, the caller frees it; NULL
 * when the log holds only its header) and *count. Epochs must be positive
 * and increasing; values may be nan or inf (a diverged run is still logged). */
cnn_status metrics_log_read(const char *path, metrics_row **rows, int *count,
                            cnn_error *err);

/* Writes the whole log (header and count rows) atomically: metrics with
 * %.6f, seconds with %.3f, images/s with %.1f, the rate with %.6g. */
cnn_status metrics_log_write(const char *path, const metrics_row *rows,
                             int count, cnn_error *err);

#endif
