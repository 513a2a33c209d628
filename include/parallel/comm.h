/* comm: the processes of one training job, and what they exchange.
 *
 * Built with MPI (meson -Dmpi=enabled or auto), a job that mpirun started
 * has one rank per process; built without, or started alone, it has one
 * rank and every call below is a copy or nothing. The exchanges are
 * allgathers, never MPI's reductions: each rank receives every rank's data
 * in rank order and sums it itself in that order, so the result does not
 * depend on how MPI would have combined it. */
#ifndef COMM_H
#define COMM_H

#include <stddef.h>

#include "util/cnn_error.h"

typedef struct comm comm;

/* Joins the job: MPI_Init when `launched` (the process was started by
 * mpirun; the command line reads that from the environment), else a job of
 * one. Launched in a build without MPI is CNN_ERR_INPUT saying how to
 * build with it. *out is malloc'd; comm_finalize frees it. */
cnn_status comm_init(comm **out, int launched, cnn_error *err);
/* Leaves the job (MPI_Finalize when it was joined); NULL is nothing. */
void comm_finalize(comm *c);

/* This process's rank and the job's ranks. Every function here takes NULL
 * as a job of one, so library users that never join one need not. */
int comm_rank(const comm *c);
int comm_size(const comm *c);

/* Takes the whole job down with exit status `code` after this rank printed
 * why: no rank is left waiting in an exchange. A job of one just exits. */
void comm_abort(const comm *c, int code);

/* Copies `bytes` at buf from rank 0 to every rank (blocking). */
cnn_status comm_broadcast(const comm *c, void *buf, size_t bytes, cnn_error *err);

/* Starts an allgather: recv (size x count floats) gets every rank's `count`
 * floats of send, in rank order. Non-blocking: neither buffer may be touched
 * until comm_wait on the slot it returns. At most COMM_MAX_PENDING at once. */
#define COMM_MAX_PENDING 64
cnn_status comm_allgather_start(comm *c, const float *send, float *recv,
                                size_t count, int *slot, cnn_error *err);
/* Waits for the exchange in `slot` (nothing for -1); a failed one is
 * CNN_ERR_RUNTIME. */
cnn_status comm_wait(comm *c, int slot, cnn_error *err);

/* Lets MPI move the exchange in `slot` on without waiting for it (MPI
 * progresses only inside its calls): *done is 1 once it has ended, after
 * which the slot must still be waited for (at once). -1 is done. */
cnn_status comm_test(comm *c, int slot, int *done, cnn_error *err);

/* Whether this build can join a job of several ranks. */
int comm_has_mpi(void);

#endif
