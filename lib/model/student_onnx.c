/*
 * ONNX export of a student: the graph built from the student's tensors, written by the
 * format layer's ONNX writer (format/onnx.c).
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
 *
 * Compact weights (mimic_student_quantize) stay compact in the file: a float16 matrix is a
 * FLOAT16 initializer followed by Cast(to = FLOAT), an int8 one an INT8 initializer and its
 * scales "<matrix>.weight_scale" followed by DequantizeLinear(axis = 0, no zero point), each
 * into "<matrix>.weight_dequantized", which the Gemm reads. (ONNX Runtime folds these into
 * float32 weights when it loads the model.)
 */
#include <stdio.h>
#include <string.h>

#include "model/model.h"

/* ---- building the model description --------------------------------------------------- */

static const char *activation_op(int32_t a)
{
    switch (a) {
    case MIMIC_ACT_RELU: return "Relu";
    case MIMIC_ACT_SIGMOID: return "Sigmoid";
    default: return "Tanh"; /* MIMIC_ACT_TANH: a student's activation is validated */
    }
}

/* A node; `attr` (or NULL) is its one integer attribute, of value `value`. */
static void add_node(mimic__onnx_model *m, const char *op, const char *name, const char *a,
                     const char *b, const char *c, const char *out, const char *attr, int64_t value)
{
    mimic__onnx_node *n = &m->nodes[m->n_nodes++];
    n->op = op;
    n->name = name;
    n->in[0] = a;
    n->in[1] = b;
    n->in[2] = c;
    n->n_in = c ? 3 : b ? 2 : 1;
    n->out = out;
    n->attr = attr;
    n->attr_value = value;
}

/* ONNX's TensorProto.DataType FLOAT, for Cast's "to". */
#define ONNX_FLOAT 1

static void add_raw_tensor(mimic__onnx_model *m, const char *name, int32_t dtype, const void *data,
                           size_t rows, size_t cols)
{
    mimic__onnx_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dtype;
    t->data = data;
    t->count = cols ? rows * cols : rows;
    t->ndim = cols ? 2 : 1;
    t->dims[0] = (int64_t)rows;
    t->dims[1] = (int64_t)cols;
}

/* Compact matrix mi of s as its initializer(s) and the node that makes it float32 again:
 * returns the name the Gemm reads. */
static const char *add_compact_matrix(mimic__onnx_model *m, const mimic_student *s, size_t mi,
                                      const char *name)
{
    const mimic__compact *q = s->compact;
    const char *deq = mimic__matrix_dequantized_name(mi);
    add_raw_tensor(m, name, q->dtype, q->w[mi], q->rows[mi], q->cols[mi]);
    if (q->dtype == MIMIC_DTYPE_F16) {
        add_node(m, "Cast", deq, name, NULL, NULL, deq, "to", ONNX_FLOAT);
        return deq;
    }
    const char *scale = mimic__matrix_scale_name(mi);
    add_raw_tensor(m, scale, MIMIC_DTYPE_F32, q->scale[mi], q->rows[mi], 0);
    add_node(m, "DequantizeLinear", deq, name, scale, NULL, deq, "axis", 0);
    return deq;
}

/* Student tensor `id` as an initializer named `name` (the tensor's own name, or, with
 * `transpose`, a transposed copy's name: stored as cols x rows). */
static void add_tensor(mimic__onnx_model *m, const mimic_student *s, mimic__tensor_id id,
                       const char *name, int transpose)
{
    mimic__tensor_desc d;
    mimic__tensor_describe(&s->L, s->in_mean != NULL, id, &d);
    mimic__onnx_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = name ? name : d.name;
    t->dtype = MIMIC_DTYPE_F32;
    t->data = mimic__tensor_data(s, id);
    t->count = d.rows ? d.rows * d.cols : d.cols;
    if (!d.rows) {
        t->ndim = 1;
        t->dims[0] = (int64_t)d.cols;
    } else if (transpose) {
        t->ndim = 2;
        t->dims[0] = (int64_t)d.cols;
        t->dims[1] = (int64_t)d.rows;
        t->transpose_cols = d.cols;
    } else {
        t->ndim = 2;
        t->dims[0] = (int64_t)d.rows;
        t->dims[1] = (int64_t)d.cols;
    }
}

/* One linear layer y = x W^T (+ b) with weight matrix mi: Gemm(transB=1) on the PyTorch
 * layout (of the compact weights made float32 again, for a compact student), or MatMul on the
 * transposed weight followed by Add. */
static void add_linear(mimic__onnx_model *m, const mimic_student *s, int layout, const char *x,
                       size_t mi, const char *w_t, mimic__tensor_id b, const char *mm_out,
                       const char *y)
{
    const bool matmul = layout == MIMIC__ONNX_MATMUL, bias = b != MIMIC__T_COUNT;
    const mimic__tensor_id w = mimic__matrix_tensor(mi);
    mimic__tensor_desc dw, db;
    mimic__tensor_describe(&s->L, false, w, &dw);
    const char *wn = dw.name;
    if (s->compact)
        wn = add_compact_matrix(m, s, mi, dw.name);
    else
        add_tensor(m, s, w, matmul ? w_t : NULL, matmul);
    if (bias) {
        mimic__tensor_describe(&s->L, false, b, &db);
        add_tensor(m, s, b, NULL, 0);
    }
    const char *bn = bias ? db.name : NULL;
    if (!matmul) {
        add_node(m, "Gemm", y, x, wn, bn, y, "transB", 1);
    } else if (bias) {
        add_node(m, "MatMul", mm_out, x, w_t, NULL, mm_out, NULL, 0);
        add_node(m, "Add", y, mm_out, bn, NULL, y, NULL, 0);
    } else {
        add_node(m, "MatMul", y, x, w_t, NULL, y, NULL, 0);
    }
}

static void build_model(mimic__onnx_model *m, const mimic_student *s, int layout)
{
    const mimic_student_options *o = &s->opts;
    memset(m, 0, sizeof *m);
    m->graph_name = "mimic_student";
    const char *x = "input";
    if (s->in_mean) {
        add_tensor(m, s, MIMIC__T_INPUT_MEAN, NULL, 0);
        add_tensor(m, s, MIMIC__T_INPUT_SCALE, NULL, 0);
        add_node(m, "Sub", "input_centered", x, "input.mean", NULL, "input_centered", NULL, 0);
        add_node(m, "Mul", "input_normalized", "input_centered", "input.scale", NULL,
                 "input_normalized", NULL, 0);
        x = "input_normalized";
    }
    if (o->n_bottleneck > 0) {
        add_linear(m, s, layout, x, MIMIC__M_BOTTLENECK, "bottleneck.weight_t", MIMIC__T_COUNT,
                   NULL, "bottleneck");
        x = "bottleneck";
    }
    add_linear(m, s, layout, x, MIMIC__M_HIDDEN, "hidden.weight_t", MIMIC__T_HIDDEN_B,
               "hidden_matmul", "hidden_pre");
    add_node(m, activation_op(o->activation), "hidden", "hidden_pre", NULL, NULL, "hidden", NULL,
             0);
    add_linear(m, s, layout, "hidden", MIMIC__M_OUTPUT, "output.weight_t", MIMIC__T_OUTPUT_B,
               "logits_matmul", "logits");

    m->input.name = "input";
    m->input.width = (int64_t)o->n_inputs;
    m->output.name = "logits";
    m->output.width = (int64_t)o->n_classes;
    const struct {
        const char *key;
        size_t value;
    } sizes[] = {{"n_inputs", o->n_inputs},
                 {"n_hidden", o->n_hidden},
                 {"n_bottleneck", o->n_bottleneck},
                 {"n_classes", o->n_classes}};
    for (size_t i = 0; i < 4; i++) {
        m->meta[i].key = sizes[i].key;
        snprintf(m->meta[i].value, sizeof m->meta[i].value, "%zu", sizes[i].value);
    }
    const char *act = mimic__activation_name(o->activation);
    m->meta[4].key = "activation";
    snprintf(m->meta[4].value, sizeof m->meta[4].value, "%s", act);
    m->n_meta = 5;
    const char *wd = mimic__weight_dtype_name(s->compact ? s->compact->dtype : MIMIC_DTYPE_F32);
    if (s->compact) {
        m->meta[5].key = "weight_dtype";
        snprintf(m->meta[5].value, sizeof m->meta[5].value, "%s", wd);
        m->n_meta = 6;
    }
    snprintf(m->doc, sizeof m->doc,
             "libmimic student %zu-%zu-%zu-%zu (inputs-bottleneck-hidden-classes), %s%s%s%s",
             o->n_inputs, o->n_bottleneck, o->n_hidden, o->n_classes, act,
             s->in_mean ? ", input normalization in the graph" : "", s->compact ? ", weights " : "",
             s->compact ? wd : "");
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
    if (layout == MIMIC__ONNX_MATMUL && s->compact)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "ONNX export: the MatMul layout takes float32 weights only");
    mimic__onnx_model m;
    build_model(&m, s, layout);
    return mimic__onnx_write(path, &m);
}

int mimic_student_export_onnx(const mimic_student *s, const char *path)
{
    return mimic__onnx_export(s, path, MIMIC__ONNX_GEMM);
}
