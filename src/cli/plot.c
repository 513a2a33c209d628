/* plot.c: `cnn-cl plot` — draws a training run's metrics log as an SVG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/metrics_log.h"
#include "train/svg_plot.h"

static const char usage[] =
    "usage: cnn-cl plot LOG.csv [-o FILE.svg] [--title TEXT]\n"
    "\n"
    "Draws the metrics log that `cnn-cl train` writes (one row per epoch) as\n"
    "a self-contained SVG: loss and accuracy against epoch, training and\n"
    "validation. Prints the path written.\n"
    "\n"
    "  -o, --output FILE  where to write (default: LOG with .csv replaced by\n"
    "                     .svg, or .svg appended)\n"
    "  --title TEXT       the plot's title (default: the log's file name)\n";

/* LOG.csv -> LOG.svg; any other name gets .svg appended. */
static void default_output(const char *log, char *out, size_t size)
{
    size_t n = strlen(log);
    if (n > 4 && !strcmp(log + n - 4, ".csv"))
        n -= 4;
    snprintf(out, size, "%.*s.svg", (int)n, log);
}

int cli_plot(int argc, char **argv)
{
    cnn_error err = {0};
    const char *log = NULL, *output = NULL, *title = NULL;
    cli_args a;
    cli_args_init(&a, "plot", argc, argv);
    while (cli_args_next(&a)) {
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_args_is(&a, "--output") || cli_args_is(&a, "-o")) {
            st = cli_args_value(&a, &output, &err);
        } else if (cli_args_is(&a, "--title")) {
            st = cli_args_value(&a, &title, &err);
        } else if (a.name[0] == '-' && a.name[1] != '\0') {
            st = cli_args_unknown(&a, &err);
        } else if (log) {
            st = cnn_fail(&err, CNN_ERR_INPUT, "plot takes one log, got '%s' and "
                          "'%s'; see `cnn-cl plot --help`", log, a.name);
        } else {
            log = a.name;
        }
        if (st)
            return cli_report(&err);
    }
    if (!log) {
        cnn_fail(&err, CNN_ERR_INPUT, "plot needs a metrics log; see "
                 "`cnn-cl plot --help`");
        return cli_report(&err);
    }
    char path[4096];
    if (!output) {
        default_output(log, path, sizeof path);
        output = path;
    }
    if (!title)
        title = strrchr(log, '/') ? strrchr(log, '/') + 1 : log;

    metrics_row *rows;
    int count;
    if (metrics_log_read(log, &rows, &count, &err))
        return cli_report(&err);
    if (count == 0) {
        cnn_fail(&err, CNN_ERR_INPUT, "%s: holds no epochs to plot", log);
        return cli_report(&err);
    }
    cnn_status st = svg_plot_write(output, rows, count, title, &err);
    free(rows);
    if (st)
        return cli_report(&err);
    printf("%s\n", output);
    return 0;
}
