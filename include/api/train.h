/* api/train: what the command line needs of the library's training beyond
 * cnn_cl.h: the numeric settings' ranges, so `cnn-cl train` checks its
 * options' text against the ranges the library checks values against, and
 * training as one rank of an MPI job, which only the command line joins
 * (MPI_Init, MPI_Abort and MPI_Finalize belong to the process). */
#ifndef API_TRAIN_H
#define API_TRAIN_H

#include "cnn_cl.h"
#include "parallel/comm.h"
#include "util/cnn_error.h"

/* The options of the numeric settings ("--batch", ...), for i from 0 up to
 * the first NULL. */
const char *api_train_numeric(int i);

/* Sets the numeric setting `option` of c from the command line's text:
 * text that is not a number of the setting's kind, or is outside its range,
 * is CNN_ERR_INPUT: "--batch: 'TEXT' is not an integer in [1, 65536]". */
cnn_status api_train_set(cnn_cl_train_config *c, const char *option, const char *text,
                         cnn_error *err);

/* cnn_cl_train as one rank of `job` (comm.h; NULL: a job of one). Every
 * rank calls it; rank 0 alone writes to out and to the log. */
cnn_cl_status api_train_job(comm *job, cnn_cl_device *const *devices, int n,
                            const cnn_cl_train_config *config, cnn_cl_train_result *result,
                            cnn_cl_error *err);

#endif
