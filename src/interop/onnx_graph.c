/* onnx_graph.c: building and writing an ONNX model (see onnx_graph.h).
 *
 * Every part of the message tree is allocated with malloc, as protobuf-c's
 * unpacker allocates by default, so protobuf_c_message_free_unpacked frees
 * the whole model, and a part that fails half-built is freed the same way. */
#include "interop/onnx_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "util/atomic_file.h"

struct onnx_graph {
    Onnx__ModelProto *model;
    int failed; /* a call ran out of host memory */
};

/* Remembers a failure and frees msg, a part not yet in the tree; NULL. */
static const char *fail(onnx_graph *g, void *msg)
{
    g->failed = 1;
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
    return NULL;
}

/* Appends the `size` bytes at item to the repeated field whose array
 * pointer is at `field` and count at *count. The field's pointer is
 * read and written through memcpy: it is an array of any element type. */
static int append(void *field, size_t *count, size_t size, const void *item)
{
    void *array;
    memcpy(&array, field, sizeof array);
    void *grown = realloc(array, (*count + 1) * size);
    if (!grown)
        return 0;
    memcpy((char *)grown + *count * size, item, size);
    memcpy(field, &grown, sizeof grown);
    (*count)++;
    return 1;
}

#define APPEND(array, count, item) append(&(array), &(count), sizeof *(array), &(item))
/* Allocates p and initialises it as its message type; 0 when out of memory. */
#define NEW(p, init) (((p) = malloc(sizeof *(p))) ? (init(p), 1) : 0)

cnn_status onnx_graph_create(onnx_graph **out, const char *producer, const char *version,
                             cnn_error *err)
{
    onnx_graph *g = calloc(1, sizeof *g);
    Onnx__ModelProto *m = NULL;
    Onnx__OperatorSetIdProto *opset = NULL;
    int ok = g && NEW(m, onnx__model_proto__init) && NEW(m->graph, onnx__graph_proto__init) &&
             NEW(opset, onnx__operator_set_id_proto__init);
    if (ok && !APPEND(m->opset_import, m->n_opset_import, opset)) {
        free(opset);
        ok = 0;
    }
    ok = ok && (m->producer_name = strdup(producer)) &&
         (m->producer_version = strdup(version)) && (m->graph->name = strdup(producer));
    if (!ok) {
        if (m)
            protobuf_c_message_free_unpacked(&m->base, NULL);
        free(g);
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory for an ONNX model");
    }
    m->has_ir_version = 1;
    m->ir_version = ONNX_IR_VERSION;
    opset->has_version = 1;
    opset->version = ONNX_OPSET; /* of the default domain, "" */
    g->model = m;
    *out = g;
    return CNN_OK;
}

void onnx_graph_free(onnx_graph *g)
{
    if (!g)
        return;
    protobuf_c_message_free_unpacked(&g->model->base, NULL);
    free(g);
}

/* Whether a value of the graph is already called `name`. */
static int taken(const Onnx__GraphProto *gr, const char *name)
{
    for (size_t i = 0; i < gr->n_input; i++)
        if (!strcmp(gr->input[i]->name, name))
            return 1;
    for (size_t i = 0; i < gr->n_initializer; i++)
        if (!strcmp(gr->initializer[i]->name, name))
            return 1;
    for (size_t i = 0; i < gr->n_node; i++)
        if (!strcmp(gr->node[i]->output[0], name))
            return 1;
    return 0;
}

/* A name no value has yet: stem, else stem_2, stem_3, ... (malloc'd). */
static char *fresh_name(const Onnx__GraphProto *gr, const char *stem)
{
    size_t size = strlen(stem) + 24;
    char *name = malloc(size);
    if (!name)
        return NULL;
    snprintf(name, size, "%s", stem);
    for (long k = 2; taken(gr, name); k++)
        snprintf(name, size, "%s_%ld", stem, k);
    return name;
}

/* A float tensor type of shape (N, dims...), N symbolic. */
static Onnx__TypeProto *batch_type(int ndim, const int *dims)
{
    Onnx__TypeProto *t;
    if (!NEW(t, onnx__type_proto__init))
        return NULL;
    Onnx__TypeProto__Tensor *tt = NULL;
    int ok = NEW(tt, onnx__type_proto__tensor__init);
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    ok = ok && NEW(tt->shape, onnx__tensor_shape_proto__init);
    if (ok) {
        tt->has_elem_type = 1;
        tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    }
    for (int i = -1; ok && i < ndim; i++) {
        Onnx__TensorShapeProto *shape = tt->shape;
        Onnx__TensorShapeProto__Dimension *d;
        if (!NEW(d, onnx__tensor_shape_proto__dimension__init) ||
            !APPEND(shape->dim, shape->n_dim, d)) {
            free(d);
            ok = 0;
        } else if (i < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            ok = (d->dim_param = strdup(ONNX_BATCH)) != NULL;
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
    }
    if (!ok) {
        protobuf_c_message_free_unpacked(&t->base, NULL);
        return NULL;
    }
    return t;
}

/* A value of the graph's inputs (output 0) or outputs (1). */
static const char *add_value_info(onnx_graph *g, int output, const char *name, int ndim,
                                  const int *dims)
{
    if (g->failed)
        return NULL;
    Onnx__GraphProto *gr = g->model->graph;
    Onnx__ValueInfoProto *v;
    if (!NEW(v, onnx__value_info_proto__init))
        return fail(g, NULL);
    if (!(v->name = output ? strdup(name) : fresh_name(gr, name)) ||
        !(v->type = batch_type(ndim, dims)) ||
        !(output ? APPEND(gr->output, gr->n_output, v) : APPEND(gr->input, gr->n_input, v)))
        return fail(g, v);
    return v->name;
}

const char *onnx_graph_input(onnx_graph *g, const char *name, int ndim, const int *dims)
{
    return add_value_info(g, 0, name, ndim, dims);
}

void onnx_graph_output(onnx_graph *g, const char *value, int ndim, const int *dims)
{
    if (value)
        add_value_info(g, 1, value, ndim, dims);
}

const char *onnx_graph_tensor(onnx_graph *g, const char *name, int ndim, const int *dims,
                              const float *data)
{
    if (g->failed)
        return NULL;
    Onnx__GraphProto *gr = g->model->graph;
    Onnx__TensorProto *t;
    if (!NEW(t, onnx__tensor_proto__init))
        return fail(g, NULL);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->dims = ndim ? malloc((size_t)ndim * sizeof *t->dims) : NULL;
    t->float_data = malloc(count * sizeof *t->float_data);
    if ((ndim && !t->dims) || !t->float_data ||
        !(t->name = fresh_name(gr, name)) || !APPEND(gr->initializer, gr->n_initializer, t))
        return fail(g, t);
    t->n_dims = (size_t)ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->n_float_data = count;
    memcpy(t->float_data, data, count * sizeof *data);
    return t->name;
}

/* The attribute a describes, or NULL. */
static Onnx__AttributeProto *attribute(const onnx_attr *a)
{
    Onnx__AttributeProto *p;
    if (!NEW(p, onnx__attribute_proto__init))
        return NULL;
    p->has_type = 1;
    int ok = (p->name = strdup(a->name)) != NULL;
    if (a->type == ONNX_ATTR_INT) {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        p->has_i = 1;
        p->i = a->ints[0];
    } else if (a->type == ONNX_ATTR_FLOAT) {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        p->has_f = 1;
        p->f = a->f;
    } else {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        if (ok && (p->ints = malloc((size_t)a->count * sizeof *p->ints))) {
            p->n_ints = (size_t)a->count;
            memcpy(p->ints, a->ints, (size_t)a->count * sizeof *p->ints);
        }
        ok = ok && p->ints;
    }
    if (!ok) {
        protobuf_c_message_free_unpacked(&p->base, NULL);
        return NULL;
    }
    return p;
}

const char *onnx_graph_node(onnx_graph *g, const char *op, const char *stem,
                            const char *const *inputs, int ninputs, const onnx_attr *attrs,
                            int nattrs)
{
    if (g->failed)
        return NULL;
    Onnx__GraphProto *gr = g->model->graph;
    Onnx__NodeProto *n;
    if (!NEW(n, onnx__node_proto__init))
        return fail(g, NULL);
    char *out = fresh_name(gr, stem);
    if (!out || !APPEND(n->output, n->n_output, out)) {
        free(out);
        return fail(g, n);
    }
    if (!(n->op_type = strdup(op)) || !(n->name = strdup(out)))
        return fail(g, n);
    for (int i = 0; i < ninputs; i++) {
        char *in = strdup(inputs[i]);
        if (!in || !APPEND(n->input, n->n_input, in)) {
            free(in);
            return fail(g, n);
        }
    }
    for (int i = 0; i < nattrs; i++) {
        Onnx__AttributeProto *a = attribute(&attrs[i]);
        if (!a || !APPEND(n->attribute, n->n_attribute, a)) {
            if (a)
                protobuf_c_message_free_unpacked(&a->base, NULL);
            return fail(g, n);
        }
    }
    if (!APPEND(gr->node, gr->n_node, n))
        return fail(g, n);
    return out;
}

void onnx_graph_meta(onnx_graph *g, const char *key, const char *value)
{
    if (g->failed)
        return;
    Onnx__ModelProto *m = g->model;
    Onnx__StringStringEntryProto *e;
    if (!NEW(e, onnx__string_string_entry_proto__init))
        fail(g, NULL);
    else if (!(e->key = strdup(key)) || !(e->value = strdup(value)) ||
        !APPEND(m->metadata_props, m->n_metadata_props, e))
        fail(g, e);
}

cnn_status onnx_graph_status(const onnx_graph *g, cnn_error *err)
{
    return g->failed ? cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory while "
                                "building an ONNX model") : CNN_OK;
}

/* protobuf-c's output stream, appending to a file; a failed write shows
 * in the stream's error flag, which the commit checks. */
typedef struct {
    ProtobufCBuffer base;
    FILE *f;
} file_buffer;

static void file_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    fwrite(data, 1, len, ((file_buffer *)b)->f);
}

cnn_status onnx_graph_write(const onnx_graph *g, const char *path, cnn_error *err)
{
    cnn_status st = onnx_graph_status(g, err);
    atomic_file a;
    if (st || (st = atomic_file_open(&a, path, err)))
        return st;
    file_buffer b = {.base = {.append = file_append}, .f = a.f};
    protobuf_c_message_pack_to_buffer(&g->model->base, &b.base);
    return atomic_file_commit(&a, err);
}
