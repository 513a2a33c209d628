/* svg_plot: a picture of a training run from its metrics log.
 *
 * One self-contained SVG (no scripts, fonts or other files) with panels
 * side by side: loss and accuracy against epoch, training solid and
 * validation dashed in distinct colours, and the learning rate at each
 * epoch's end when the log has it; axes, round ticks, a legend and a marker
 * on every epoch so that a single epoch still shows. Non-finite values (a
 * diverged run) are left out, breaking the line. */
#ifndef SVG_PLOT_H
#define SVG_PLOT_H

#include "util/cnn_error.h"
#include "train/metrics_log.h"

/* Writes the plot of rows[0..count) (increasing epochs, count >= 1) to path,
 * atomically. The title is any text: it is escaped for XML, and bytes that
 * are not valid UTF-8 are replaced. */
cnn_status svg_plot_write(const char *path, const metrics_row *rows, int count,
                          const char *title, cnn_error *err);

#endif
