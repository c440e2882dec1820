/*
 * ONNX export of a student: a self-contained ModelProto (IR version 7, opset 13, float32)
 * written with the small protobuf writer in protobuf.c. Field numbers follow onnx/onnx.proto.
 *
 * Graph ("batch" is a symbolic dimension):
 *   input [batch, D] -> Sub(input.mean) -> Mul(input.scale)        (when normalized)
 *     -> Gemm(bottleneck.weight, transB=1)                         (when k > 0)
 *     -> Gemm(hidden.weight, hidden.bias, transB=1) -> Relu|Sigmoid|Tanh
 *     -> Gemm(output.weight, output.bias, transB=1) -> logits [batch, C]
 * Gemm with transB=1 keeps the PyTorch (out x in) layout of the weights, so the initializers
 * are the student's tensors byte for byte under the same names. The MatMul layout (weights
 * stored transposed, in x out, followed by Add) is kept as an internal variant for the
 * latency benchmark (bench/onnx_latency), which measures both in ONNX Runtime.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "protobuf.h"

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

#define ONNX_IR_VERSION 7
#define ONNX_OPSET 13
#define ONNX_MAX_BYTES 2147483647u /* protobuf messages are limited to 2 GiB - 1 */
#define ONNX_WRITE_BUFFER (256u * 1024u)

typedef struct onnx_tensor {
    const char *name;
    int64_t dims[2];
    int ndim;
    const float *data;
    size_t count;
    size_t transpose_cols; /* > 0: data is (dims[1] x dims[0]) and is written transposed */
} onnx_tensor;

typedef struct onnx_node {
    const char *op;
    const char *name;
    const char *in[3];
    int n_in;
    const char *out;
    int trans_b; /* emit the attribute transB = 1 */
} onnx_node;

typedef struct onnx_value {
    const char *name;
    int64_t width; /* [batch, width] */
} onnx_value;

typedef struct onnx_entry {
    const char *key;
    char value[32];
} onnx_entry;

typedef struct onnx_model {
    onnx_tensor tensors[7];
    size_t n_tensors;
    onnx_node nodes[10];
    size_t n_nodes;
    onnx_value input, output;
    onnx_entry meta[6];
    size_t n_meta;
    char doc[160];
} onnx_model;

/* ---- message bodies ------------------------------------------------------------------ */

static void emit_opset(mimic__pb *w, const void *ctx)
{
    (void)ctx;
    mimic__pb_string(w, OPSET_DOMAIN, ""); /* the default ai.onnx domain */
    mimic__pb_int(w, OPSET_VERSION, ONNX_OPSET);
}

static void emit_entry(mimic__pb *w, const void *ctx)
{
    const onnx_entry *e = ctx;
    mimic__pb_string(w, ENTRY_KEY, e->key);
    mimic__pb_string(w, ENTRY_VALUE, e->value);
}

static void emit_tensor(mimic__pb *w, const void *ctx)
{
    const onnx_tensor *t = ctx;
    for (int i = 0; i < t->ndim; i++)
        mimic__pb_int(w, TENSOR_DIMS, t->dims[i]);
    mimic__pb_int(w, TENSOR_DATA_TYPE, TENSOR_FLOAT);
    mimic__pb_string(w, TENSOR_NAME, t->name);
    mimic__pb_len_prefix(w, TENSOR_RAW_DATA, (uint64_t)t->count * 4);
    mimic__pb_floats_le(w, t->data, t->count, t->transpose_cols);
}

static void emit_attr_trans_b(mimic__pb *w, const void *ctx)
{
    (void)ctx;
    mimic__pb_string(w, ATTR_NAME, "transB");
    mimic__pb_int(w, ATTR_I, 1);
    mimic__pb_int(w, ATTR_TYPE, ATTR_TYPE_INT);
}

static void emit_node(mimic__pb *w, const void *ctx)
{
    const onnx_node *n = ctx;
    for (int i = 0; i < n->n_in; i++)
        mimic__pb_string(w, NODE_INPUT, n->in[i]);
    mimic__pb_string(w, NODE_OUTPUT, n->out);
    mimic__pb_string(w, NODE_NAME, n->name);
    mimic__pb_string(w, NODE_OP_TYPE, n->op);
    if (n->trans_b)
        mimic__pb_message(w, NODE_ATTRIBUTE, emit_attr_trans_b, NULL);
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
    const onnx_value *v = ctx;
    mimic__pb_string(w, VALUE_NAME, v->name);
    mimic__pb_message(w, VALUE_TYPE, emit_type, &v->width);
}

static void emit_graph(mimic__pb *w, const void *ctx)
{
    const onnx_model *m = ctx;
    for (size_t i = 0; i < m->n_nodes; i++)
        mimic__pb_message(w, GRAPH_NODE, emit_node, &m->nodes[i]);
    mimic__pb_string(w, GRAPH_NAME, "mimic_student");
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
    const onnx_model *m = ctx;
    mimic__pb_int(w, MODEL_IR_VERSION, ONNX_IR_VERSION);
    mimic__pb_message(w, MODEL_OPSET_IMPORT, emit_opset, NULL);
    mimic__pb_string(w, MODEL_PRODUCER_NAME, "libmimic");
    mimic__pb_string(w, MODEL_PRODUCER_VERSION, mimic_version_string());
    mimic__pb_string(w, MODEL_DOC_STRING, m->doc);
    mimic__pb_message(w, MODEL_GRAPH, emit_graph, m);
    for (size_t i = 0; i < m->n_meta; i++)
        mimic__pb_message(w, MODEL_METADATA_PROPS, emit_entry, &m->meta[i]);
}

/* ---- building the model description --------------------------------------------------- */

static const char *activation_op(int32_t a)
{
    switch (a) {
    case MIMIC_ACT_RELU: return "Relu";
    case MIMIC_ACT_SIGMOID: return "Sigmoid";
    case MIMIC_ACT_TANH: return "Tanh";
    default: return NULL;
    }
}

static const char *activation_name(int32_t a)
{
    switch (a) {
    case MIMIC_ACT_SIGMOID: return "sigmoid";
    case MIMIC_ACT_TANH: return "tanh";
    default: return "relu";
    }
}

static void add_node(onnx_model *m, const char *op, const char *name, const char *a,
                     const char *b, const char *c, const char *out, int trans_b)
{
    onnx_node *n = &m->nodes[m->n_nodes++];
    n->op = op;
    n->name = name;
    n->in[0] = a;
    n->in[1] = b;
    n->in[2] = c;
    n->n_in = c ? 3 : b ? 2 : 1;
    n->out = out;
    n->trans_b = trans_b;
}

/* Fetch a student tensor of rows x cols elements (1-D tensors: rows = 1) as an initializer
 * named `name`; `transpose` stores it as cols x rows. */
static int add_tensor(onnx_model *m, const mimic_student *s, const char *tensor, const char *name,
                      size_t rows, size_t cols, int transpose)
{
    const float *data = NULL;
    size_t r = 0, c = 0;
    int rc = mimic_student_tensor(s, tensor, &data, &r, &c);
    if (rc != MIMIC_OK)
        return rc;
    if (r != rows || c != cols || !data)
        return mimic__error(MIMIC_ERR_INTERNAL, "ONNX export: tensor %s is %zu x %zu, expected %zu x %zu",
                            tensor, r, c, rows, cols);
    onnx_tensor *t = &m->tensors[m->n_tensors++];
    t->name = name;
    t->data = data;
    t->count = rows * cols;
    t->transpose_cols = 0;
    if (rows == 1) {
        t->ndim = 1;
        t->dims[0] = (int64_t)cols;
    } else if (transpose) {
        t->ndim = 2;
        t->dims[0] = (int64_t)cols;
        t->dims[1] = (int64_t)rows;
        t->transpose_cols = cols;
    } else {
        t->ndim = 2;
        t->dims[0] = (int64_t)rows;
        t->dims[1] = (int64_t)cols;
    }
    return MIMIC_OK;
}

/* One linear layer y = x W^T (+ b): Gemm(transB=1) on the PyTorch layout, or MatMul on the
 * transposed weight followed by Add. */
static int add_linear(onnx_model *m, const mimic_student *s, int layout, const char *x,
                      const char *w, const char *w_t, const char *b, size_t out, size_t in,
                      const char *mm_out, const char *y)
{
    int matmul = layout == MIMIC__ONNX_MATMUL;
    int rc = add_tensor(m, s, w, matmul ? w_t : w, out, in, matmul);
    if (rc == MIMIC_OK && b)
        rc = add_tensor(m, s, b, b, 1, out, 0);
    if (rc != MIMIC_OK)
        return rc;
    if (!matmul) {
        add_node(m, "Gemm", y, x, w, b, y, 1);
    } else if (b) {
        add_node(m, "MatMul", mm_out, x, w_t, NULL, mm_out, 0);
        add_node(m, "Add", y, mm_out, b, NULL, y, 0);
    } else {
        add_node(m, "MatMul", y, x, w_t, NULL, y, 0);
    }
    return MIMIC_OK;
}

/* Whether the student stores an input normalization. Probing through the public getter
 * sets the thread's last-error text when there is none; a successful export must leave the
 * caller's last error as it was, so it is saved and restored around the probe. */
static int has_input_norm(const mimic_student *s)
{
    char saved[512];
    snprintf(saved, sizeof saved, "%s", mimic_last_error());
    const float *data = NULL;
    size_t r = 0, c = 0;
    int rc = mimic_student_tensor(s, "input.mean", &data, &r, &c);
    (void)mimic__error(MIMIC_OK, "%s", saved);
    return rc == MIMIC_OK;
}

static int build_model(onnx_model *m, const mimic_student *s, int layout)
{
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    int rc = mimic_student_get_options(s, &o);
    if (rc != MIMIC_OK)
        return rc;
    const char *act = activation_op(o.activation);
    if (!act)
        return mimic__error(MIMIC_ERR_INVALID, "ONNX export: unknown activation %d",
                            (int)o.activation);
    if (o.n_inputs == 0 || o.n_hidden == 0 || o.n_classes == 0 ||
        o.n_inputs > INT64_MAX || o.n_hidden > INT64_MAX || o.n_classes > INT64_MAX ||
        o.n_bottleneck > INT64_MAX)
        return mimic__error(MIMIC_ERR_INVALID, "ONNX export: invalid student sizes");

    memset(m, 0, sizeof *m);
    const char *x = "input";
    if (has_input_norm(s)) {
        rc = add_tensor(m, s, "input.mean", "input.mean", 1, o.n_inputs, 0);
        if (rc == MIMIC_OK)
            rc = add_tensor(m, s, "input.scale", "input.scale", 1, o.n_inputs, 0);
        if (rc != MIMIC_OK)
            return rc;
        add_node(m, "Sub", "input_centered", x, "input.mean", NULL, "input_centered", 0);
        add_node(m, "Mul", "input_normalized", "input_centered", "input.scale", NULL,
                 "input_normalized", 0);
        x = "input_normalized";
    }
    size_t kin = o.n_inputs;
    if (o.n_bottleneck > 0) {
        rc = add_linear(m, s, layout, x, "bottleneck.weight", "bottleneck.weight_t", NULL,
                        o.n_bottleneck, o.n_inputs, NULL, "bottleneck");
        if (rc != MIMIC_OK)
            return rc;
        x = "bottleneck";
        kin = o.n_bottleneck;
    }
    rc = add_linear(m, s, layout, x, "hidden.weight", "hidden.weight_t", "hidden.bias",
                    o.n_hidden, kin, "hidden_matmul", "hidden_pre");
    if (rc != MIMIC_OK)
        return rc;
    add_node(m, act, "hidden", "hidden_pre", NULL, NULL, "hidden", 0);
    rc = add_linear(m, s, layout, "hidden", "output.weight", "output.weight_t", "output.bias",
                    o.n_classes, o.n_hidden, "logits_matmul", "logits");
    if (rc != MIMIC_OK)
        return rc;

    m->input.name = "input";
    m->input.width = (int64_t)o.n_inputs;
    m->output.name = "logits";
    m->output.width = (int64_t)o.n_classes;
    const struct {
        const char *key;
        size_t value;
    } sizes[] = {{"n_inputs", o.n_inputs},
                 {"n_hidden", o.n_hidden},
                 {"n_bottleneck", o.n_bottleneck},
                 {"n_classes", o.n_classes}};
    for (size_t i = 0; i < 4; i++) {
        m->meta[i].key = sizes[i].key;
        snprintf(m->meta[i].value, sizeof m->meta[i].value, "%zu", sizes[i].value);
    }
    m->meta[4].key = "activation";
    snprintf(m->meta[4].value, sizeof m->meta[4].value, "%s", activation_name(o.activation));
    m->n_meta = 5;
    snprintf(m->doc, sizeof m->doc,
             "libmimic student %zu-%zu-%zu-%zu (inputs-bottleneck-hidden-classes), %s%s",
             o.n_inputs, o.n_bottleneck, o.n_hidden, o.n_classes, activation_name(o.activation),
             m->n_tensors > 0 && strcmp(m->tensors[0].name, "input.mean") == 0
                 ? ", input normalization in the graph" : "");
    return MIMIC_OK;
}

int mimic__onnx_export(const mimic_student *s, const char *path, int layout)
{
    int rc = mimic__student_check(s, "s");
    if (rc != MIMIC_OK)
        return rc;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "ONNX export: path is NULL or empty");
    if (layout != MIMIC__ONNX_GEMM && layout != MIMIC__ONNX_MATMUL)
        return mimic__error(MIMIC_ERR_INVALID, "ONNX export: unknown layout %d", layout);
    onnx_model m;
    rc = build_model(&m, s, layout);
    if (rc != MIMIC_OK)
        return rc;
    uint64_t total = mimic__pb_measure(emit_model, &m);
    if (total > ONNX_MAX_BYTES)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: the model needs %llu bytes, over ONNX's 2 GiB protobuf limit",
                            path, (unsigned long long)total);

    mimic__atomic_file f;
    rc = mimic__atomic_open(&f, path);
    if (rc != MIMIC_OK)
        return rc;
    mimic__pb w;
    rc = mimic__pb_init_file(&w, &f, ONNX_WRITE_BUFFER);
    if (rc == MIMIC_OK) {
        emit_model(&w, &m);
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

int mimic_student_export_onnx(const mimic_student *s, const char *path)
{
    return mimic__onnx_export(s, path, MIMIC__ONNX_GEMM);
}
