/* comm.c: the job's ranks (see comm.h), through MPI when built with it. */
#include "parallel/comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CNN_CL_MPI
#include <mpi.h>
#endif

struct comm {
    int rank, size;
    int joined; /* MPI_Init was called */
#ifdef CNN_CL_MPI
    MPI_Request pending[COMM_MAX_PENDING];
    int used[COMM_MAX_PENDING];
#endif
};

int comm_has_mpi(void)
{
#ifdef CNN_CL_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef CNN_CL_MPI
/* "MPI_Allgather failed: <MPI's words>". */
static cnn_status mpi_fail(cnn_error *err, const char *call, int code)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", code);
    return cnn_fail(err, CNN_ERR_RUNTIME, "%s failed: %s; another rank may have "
                    "stopped: see its messages", call, text);
}
#endif

cnn_status comm_init(comm **out, int launched, cnn_error *err)
{
    comm *c = calloc(1, sizeof *c);
    if (!c)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    c->size = 1;
    *out = c;
    if (!launched)
        return CNN_OK;
#ifdef CNN_CL_MPI
    int rc = MPI_Init(NULL, NULL);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Init", rc);
    c->joined = 1;
    /* Errors come back as codes, so each is reported with what failed. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    return CNN_OK;
#else
    return cnn_fail(err, CNN_ERR_INPUT, "started by mpirun, but this cnn-cl was built "
                    "without MPI; install libopenmpi-dev and rebuild with "
                    "`meson configure build -Dmpi=enabled`");
#endif
}

void comm_finalize(comm *c)
{
    if (!c)
        return;
#ifdef CNN_CL_MPI
    if (c->joined)
        MPI_Finalize();
#endif
    free(c);
}

int comm_rank(const comm *c) { return c ? c->rank : 0; }

int comm_size(const comm *c) { return c ? c->size : 1; }

void comm_abort(const comm *c, int code)
{
    fflush(stdout);
    fflush(stderr);
#ifdef CNN_CL_MPI
    if (c && c->joined && c->size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)c;
#endif
    exit(code);
}

cnn_status comm_broadcast(const comm *c, void *buf, size_t bytes, cnn_error *err)
{
    if (comm_size(c) == 1)
        return CNN_OK;
#ifdef CNN_CL_MPI
    for (size_t done = 0; done < bytes;) {
        int chunk = bytes - done > INT_MAX ? INT_MAX : (int)(bytes - done);
        int rc = MPI_Bcast((char *)buf + done, chunk, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, "MPI_Bcast", rc);
        done += (size_t)chunk;
    }
    return CNN_OK;
#else
    (void)buf;
    (void)bytes;
    return cnn_fail(err, CNN_ERR_RUNTIME, "no MPI in this build");
#endif
}

cnn_status comm_allgather_start(comm *c, const float *send, float *recv, size_t count,
                                int *slot, cnn_error *err)
{
    *slot = -1;
    if (comm_size(c) == 1) {
        memmove(recv, send, count * sizeof *send);
        return CNN_OK;
    }
#ifdef CNN_CL_MPI
    if (count > INT_MAX)
        return cnn_fail(err, CNN_ERR_RUNTIME, "an exchange of %zu floats is more than "
                        "MPI's %d", count, INT_MAX);
    int s = 0;
    while (s < COMM_MAX_PENDING && c->used[s])
        s++;
    if (s == COMM_MAX_PENDING)
        return cnn_fail(err, CNN_ERR_RUNTIME, "more than %d exchanges pending",
                        COMM_MAX_PENDING);
    int rc = MPI_Iallgather(send, (int)count, MPI_FLOAT, recv, (int)count, MPI_FLOAT,
                            MPI_COMM_WORLD, &c->pending[s]);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Iallgather", rc);
    c->used[s] = 1;
    *slot = s;
    return CNN_OK;
#else
    (void)recv;
    return cnn_fail(err, CNN_ERR_RUNTIME, "no MPI in this build");
#endif
}

cnn_status comm_test(comm *c, int slot, int *done, cnn_error *err)
{
    *done = 1;
    if (slot < 0)
        return CNN_OK;
#ifdef CNN_CL_MPI
    int rc = MPI_Test(&c->pending[slot], done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Test", rc);
    return CNN_OK;
#else
    (void)c;
    return cnn_fail(err, CNN_ERR_RUNTIME, "no MPI in this build");
#endif
}

cnn_status comm_wait(comm *c, int slot, cnn_error *err)
{
    if (slot < 0)
        return CNN_OK;
#ifdef CNN_CL_MPI
    c->used[slot] = 0;
    int rc = MPI_Wait(&c->pending[slot], MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Wait", rc);
    return CNN_OK;
#else
    (void)c;
    return cnn_fail(err, CNN_ERR_RUNTIME, "no MPI in this build");
#endif
}
