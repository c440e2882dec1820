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

static void add_node(mimic__onnx_model *m, const char *op, const char *name, const char *a,
                     const char *b, const char *c, const char *out, int trans_b)
{
    mimic__onnx_node *n = &m->nodes[m->n_nodes++];
    n->op = op;
    n->name = name;
    n->in[0] = a;
    n->in[1] = b;
    n->in[2] = c;
    n->n_in = c ? 3 : b ? 2 : 1;
    n->out = out;
    n->trans_b = trans_b;
}

/* Student tensor `id` as an initializer named `name` (the tensor's own name, or, with
 * `transpose`, a transposed copy's name: stored as cols x rows). */
static void add_tensor(mimic__onnx_model *m, const mimic_student *s, mimic__tensor_id id,
                       const char *name, int transpose)
{
    mimic__tensor_desc d;
    mimic__tensor_describe(&s->L, s->in_mean != NULL, id, &d);
    mimic__onnx_tensor *t = &m->tensors[m->n_tensors++];
    t->name = name ? name : d.name;
    t->data = mimic__tensor_data(s, id);
    t->count = d.rows ? d.rows * d.cols : d.cols;
    t->transpose_cols = 0;
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

/* One linear layer y = x W^T (+ b): Gemm(transB=1) on the PyTorch layout, or MatMul on the
 * transposed weight followed by Add. */
static void add_linear(mimic__onnx_model *m, const mimic_student *s, int layout, const char *x,
                       mimic__tensor_id w, const char *w_t, mimic__tensor_id b,
                       const char *mm_out, const char *y)
{
    const bool matmul = layout == MIMIC__ONNX_MATMUL, bias = b != MIMIC__T_COUNT;
    mimic__tensor_desc dw, db;
    mimic__tensor_describe(&s->L, false, w, &dw);
    add_tensor(m, s, w, matmul ? w_t : NULL, matmul);
    if (bias) {
        mimic__tensor_describe(&s->L, false, b, &db);
        add_tensor(m, s, b, NULL, 0);
    }
    const char *bn = bias ? db.name : NULL;
    if (!matmul) {
        add_node(m, "Gemm", y, x, dw.name, bn, y, 1);
    } else if (bias) {
        add_node(m, "MatMul", mm_out, x, w_t, NULL, mm_out, 0);
        add_node(m, "Add", y, mm_out, bn, NULL, y, 0);
    } else {
        add_node(m, "MatMul", y, x, w_t, NULL, y, 0);
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
        add_node(m, "Sub", "input_centered", x, "input.mean", NULL, "input_centered", 0);
        add_node(m, "Mul", "input_normalized", "input_centered", "input.scale", NULL,
                 "input_normalized", 0);
        x = "input_normalized";
    }
    if (o->n_bottleneck > 0) {
        add_linear(m, s, layout, x, MIMIC__T_BOTTLENECK_W, "bottleneck.weight_t", MIMIC__T_COUNT,
                   NULL, "bottleneck");
        x = "bottleneck";
    }
    add_linear(m, s, layout, x, MIMIC__T_HIDDEN_W, "hidden.weight_t", MIMIC__T_HIDDEN_B,
               "hidden_matmul", "hidden_pre");
    add_node(m, activation_op(o->activation), "hidden", "hidden_pre", NULL, NULL, "hidden", 0);
    add_linear(m, s, layout, "hidden", MIMIC__T_OUTPUT_W, "output.weight_t", MIMIC__T_OUTPUT_B,
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
    snprintf(m->doc, sizeof m->doc,
             "libmimic student %zu-%zu-%zu-%zu (inputs-bottleneck-hidden-classes), %s%s",
             o->n_inputs, o->n_bottleneck, o->n_hidden, o->n_classes, act,
             s->in_mean ? ", input normalization in the graph" : "");
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
    mimic__onnx_model m;
    build_model(&m, s, layout);
    return mimic__onnx_write(path, &m);
}

int mimic_student_export_onnx(const mimic_student *s, const char *path)
{
    return mimic__onnx_export(s, path, MIMIC__ONNX_GEMM);
}
