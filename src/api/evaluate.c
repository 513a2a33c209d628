/* evaluate.c: a model's loss, accuracy and confusion matrix on a data
 * folder's test split, as `cnn-cl eval` reports them (cnn_cl.h). */
#include "api/data.h"
#include "api/error.h"
#include "api/model.h"
#include "train/trainer.h"
#include "train/tta.h"

cnn_cl_status cnn_cl_evaluate(cnn_cl_model *m, const cnn_cl_data *d, int flags, double *loss,
                              double *accuracy, long *confusion, cnn_cl_error *err)
{
    cnn_error e = {0};
    if (!loss || !accuracy)
        return api_status(err, api_null(&e, "cnn_cl_evaluate", loss ? "accuracy" : "loss"),
                          &e);
    if (flags & ~CNN_CL_TTA_FLIP)
        return api_status(err, cnn_fail(&e, CNN_ERR_INPUT, "cnn_cl_evaluate: flags %#x "
                                        "name no option (CNN_CL_TTA_FLIP is the one)",
                                        (unsigned)flags), &e);
    cnn_cl_status st = cnn_cl_model_check(m, d, err);
    if (st)
        return st;
    cnn_status s = flags & CNN_CL_TTA_FLIP
                       ? tta_evaluate(api_model_network(m), &d->ds.test, &m->meta.norm, loss,
                                      accuracy, confusion, &e)
                       : trainer_evaluate(&m->rep, &d->ds.test, &m->meta.norm, loss, accuracy,
                                          confusion, &e);
    return api_status(err, s, &e);
}
