/* api/data: the library's data handle (cnn_cl_data) — a data folder opened
 * and validated (dataset.h), with its path for messages. */
#ifndef API_DATA_H
#define API_DATA_H

#include "cnn_cl.h"
#include "data/dataset.h"

struct cnn_cl_data {
    dataset ds;
    char *dir;
};

#endif
