/*
 * The ONNX writer: a mimic__onnx_model (format.h) as a self-contained ModelProto (IR
 * version 7, opset 13; float32 input and output, float32, float16 or int8 initializers),
 * written with the small protobuf writer in protobuf.c.
 * Field numbers follow onnx/onnx.proto. What graph to write is the caller's business
 * (model/student_onnx.c builds a student's).
 */
#include <stdio.h>
#include <string.h>

#include "format/format.h"
#include "format/protobuf.h"

/* onnx.proto field numbers and enum values used below. */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
    MODEL_DOC_STRING = 6, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8, MODEL_METADATA_PROPS = 14,
    OPSET_DOMAIN = 1, OPSET_VERSION = 2,
    ENTRY_KEY = 1, ENTRY_VALUE = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_DOC_STRING = 10,
    GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
    ATTR_NAME = 1, ATTR_I = 3, ATTR_TYPE = 20, ATTR_TYPE_INT = 2,
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
    TENSOR_FLOAT = 1,
    VALUE_NAME = 1, VALUE_TYPE = 2,
    TYPE_TENSOR_TYPE = 1, TYPE_TENSOR_ELEM_TYPE = 1, TYPE_TENSOR_SHAPE = 2,
    SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2
};

/* TensorProto.DataType of compact initializers (TENSOR_FLOAT above for the rest). */
enum { TENSOR_INT8 = 3, TENSOR_FLOAT16 = 10 };

#define ONNX_IR_VERSION 7
#define ONNX_OPSET 13
#define ONNX_MAX_BYTES 2147483647u /* protobuf messages are limited to 2 GiB - 1 */
#define ONNX_WRITE_BUFFER (256u * 1024u)

/* ---- message bodies ------------------------------------------------------------------ */

static void emit_opset(mimic__pb *w, const void *ctx)
{
    (void)ctx;
    mimic__pb_string(w, OPSET_DOMAIN, ""); /* the default ai.onnx domain */
    mimic__pb_int(w, OPSET_VERSION, ONNX_OPSET);
}

static void emit_entry(mimic__pb *w, const void *ctx)
{
    const mimic__onnx_entry *e = ctx;
    mimic__pb_string(w, ENTRY_KEY, e->key);
    mimic__pb_string(w, ENTRY_VALUE, e->value);
}

static void emit_tensor(mimic__pb *w, const void *ctx)
{
    const mimic__onnx_tensor *t = ctx;
    for (int i = 0; i < t->ndim; i++)
        mimic__pb_int(w, TENSOR_DIMS, t->dims[i]);
    mimic__pb_int(w, TENSOR_DATA_TYPE,
                  t->dtype == MIMIC_DTYPE_F16  ? TENSOR_FLOAT16
                  : t->dtype == MIMIC_DTYPE_I8 ? TENSOR_INT8
                                               : TENSOR_FLOAT);
    mimic__pb_string(w, TENSOR_NAME, t->name);
    if (t->dtype == MIMIC_DTYPE_F16) {
        mimic__pb_len_prefix(w, TENSOR_RAW_DATA, (uint64_t)t->count * 2);
        mimic__pb_halves_le(w, t->data, t->count);
    } else if (t->dtype == MIMIC_DTYPE_I8) {
        mimic__pb_len_prefix(w, TENSOR_RAW_DATA, (uint64_t)t->count);
        mimic__pb_bytes(w, t->data, t->count);
    } else {
        mimic__pb_len_prefix(w, TENSOR_RAW_DATA, (uint64_t)t->count * 4);
        mimic__pb_floats_le(w, t->data, t->count, t->transpose_cols);
    }
}

static void emit_attr(mimic__pb *w, const void *ctx)
{
    const mimic__onnx_node *n = ctx;
    mimic__pb_string(w, ATTR_NAME, n->attr);
    mimic__pb_int(w, ATTR_I, n->attr_value);
    mimic__pb_int(w, ATTR_TYPE, ATTR_TYPE_INT);
}

static void emit_node(mimic__pb *w, const void *ctx)
{
    const mimic__onnx_node *n = ctx;
    for (int i = 0; i < n->n_in; i++)
        mimic__pb_string(w, NODE_INPUT, n->in[i]);
    mimic__pb_string(w, NODE_OUTPUT, n->out);
    mimic__pb_string(w, NODE_NAME, n->name);
    mimic__pb_string(w, NODE_OP_TYPE, n->op);
    if (n->attr)
        mimic__pb_message(w, NODE_ATTRIBUTE, emit_attr, n);
}

static void emit_dim_batch(mimic__pb *w, const void *ctx)
{
    (void)ctx;
    mimic__pb_string(w, DIM_PARAM, "batch");
}

static void emit_dim_value(mimic__pb *w, const void *ctx)
{
    mimic__pb_int(w, DIM_VALUE, *(const int64_t *)ctx);
}

static void emit_shape(mimic__pb *w, const void *ctx)
{
    mimic__pb_message(w, SHAPE_DIM, emit_dim_batch, NULL);
    mimic__pb_message(w, SHAPE_DIM, emit_dim_value, ctx);
}

static void emit_tensor_type(mimic__pb *w, const void *ctx)
{
    mimic__pb_int(w, TYPE_TENSOR_ELEM_TYPE, TENSOR_FLOAT);
    mimic__pb_message(w, TYPE_TENSOR_SHAPE, emit_shape, ctx);
}

static void emit_type(mimic__pb *w, const void *ctx)
{
    mimic__pb_message(w, TYPE_TENSOR_TYPE, emit_tensor_type, ctx);
}

static void emit_value(mimic__pb *w, const void *ctx)
{
    const mimic__onnx_value *v = ctx;
    mimic__pb_string(w, VALUE_NAME, v->name);
    mimic__pb_message(w, VALUE_TYPE, emit_type, &v->width);
}

static void emit_graph(mimic__pb *w, const void *ctx)
{
    const mimic__onnx_model *m = ctx;
    for (size_t i = 0; i < m->n_nodes; i++)
        mimic__pb_message(w, GRAPH_NODE, emit_node, &m->nodes[i]);
    mimic__pb_string(w, GRAPH_NAME, m->graph_name);
    for (size_t i = 0; i < m->n_tensors; i++)
        mimic__pb_message(w, GRAPH_INITIALIZER, emit_tensor, &m->tensors[i]);
    mimic__pb_string(w, GRAPH_DOC_STRING, m->doc);
    mimic__pb_message(w, GRAPH_INPUT, emit_value, &m->input);
    mimic__pb_message(w, GRAPH_OUTPUT, emit_value, &m->output);
}

/* Small top-level fields first (a reader of the first bytes sees the version and opset),
 * the graph with the weights after them, the metadata last. */
static void emit_model(mimic__pb *w, const void *ctx)
{
    const mimic__onnx_model *m = ctx;
    mimic__pb_int(w, MODEL_IR_VERSION, ONNX_IR_VERSION);
    mimic__pb_message(w, MODEL_OPSET_IMPORT, emit_opset, NULL);
    mimic__pb_string(w, MODEL_PRODUCER_NAME, "libmimic");
    mimic__pb_string(w, MODEL_PRODUCER_VERSION, mimic_version_string());
    mimic__pb_string(w, MODEL_DOC_STRING, m->doc);
    mimic__pb_message(w, MODEL_GRAPH, emit_graph, m);
    for (size_t i = 0; i < m->n_meta; i++)
        mimic__pb_message(w, MODEL_METADATA_PROPS, emit_entry, &m->meta[i]);
}

int mimic__onnx_write(const char *path, const mimic__onnx_model *m)
{
    uint64_t total = mimic__pb_measure(emit_model, m);
    if (total > ONNX_MAX_BYTES)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: the model needs %llu bytes, over ONNX's 2 GiB protobuf limit",
                            path, (unsigned long long)total);

    mimic__atomic_file f;
    int rc = mimic__atomic_open(&f, path);
    if (rc != MIMIC_OK)
        return rc;
    mimic__pb w;
    rc = mimic__pb_init_file(&w, &f, ONNX_WRITE_BUFFER);
    if (rc == MIMIC_OK) {
        emit_model(&w, m);
        rc = mimic__pb_finish(&w);
        if (rc == MIMIC_OK && w.total != total)
            rc = mimic__error(MIMIC_ERR_INTERNAL, "%s: wrote %llu bytes, sized %llu", path,
                              (unsigned long long)w.total, (unsigned long long)total);
    }
    if (rc != MIMIC_OK) {
        mimic__atomic_abort(&f);
        return rc;
    }
    return mimic__atomic_commit(&f);
}
