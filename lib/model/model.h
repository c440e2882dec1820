/*
 * libmimic internals, layer 3 of 4: the model (lib/model/).
 *
 * Datasets (dataset.c), the student handle and its named tensors (student.c), the
 * forward/backward kernels (kernels.c), student files (student_io.c: .safetensors;
 * student_onnx.c: ONNX export), the losses as descriptors (loss.c) and evaluation
 * (evaluate.c). Includes format/format.h and common/common.h; knows nothing of training.
 */
#ifndef MIMIC_LIB_MODEL_H
#define MIMIC_LIB_MODEL_H

#include "format/format.h"

/* ---- arrays (array.c) ------------------------------------------------------------------ */

int mimic__array_check(const mimic_array *a, const char *arg);
const char *mimic__array_name(const mimic_array *a);
/* The bytes the array points into (shared with datasets), or NULL when they are borrowed. */
mimic__blob *mimic__array_blob(const mimic_array *a);
/* The values as float32: the stored bytes when they can be used as they are (aligned
 * little-endian '<f4'), else NULL. */
const float *mimic__array_f32_view(const mimic_array *a);
/* All values converted to float32 into out. */
void mimic__array_floats(const mimic_array *a, float *out);
/* The values of an integer array as labels in [0, n_classes) (n_classes 0: any >= 0);
 * MIMIC_ERR_RANGE naming the row. */
int mimic__array_labels(const mimic_array *a, size_t n_classes, int32_t *out);
/* "<f4", "|u1", ... and the element size of a MIMIC_DTYPE_*. */
const char *mimic__dtype_descr(int32_t dtype);
size_t mimic__dtype_size(int32_t dtype);

/* ---- file kinds (file.c) --------------------------------------------------------------- */

/* MIMIC_OK when the bytes of `path` are of kind `want` (or of no kind we know: let the
 * parser judge), else MIMIC_ERR_FORMAT "PATH: this is <kind>, not <want_text>". */
int mimic__expect_kind(const char *path, const uint8_t *buf, size_t len, int32_t want,
                       const char *want_text);

/* Read a .safetensors file that must be of kind `want` (MIMIC_FILE_STUDENT also accepts a
 * plain .safetensors file with a student's tensors). */
int mimic__read_safetensors_as(const char *path, int32_t want, mimic__st_file *out);

/* ---- datasets (dataset.c) ----------------------------------------------------------- */

typedef struct mimic__storage mimic__storage; /* refcounted owner of mapped/copied arrays */

struct mimic_dataset {
    uint32_t magic;
    int32_t input_dtype;  /* MIMIC_DTYPE_F32 or MIMIC_DTYPE_U8 */
    size_t rows, n_inputs, n_classes;
    const void *inputs;   /* row 0 of this view; rows x n_inputs of input_dtype */
    const float *logits;  /* rows x n_classes, or NULL */
    const int32_t *labels; /* rows, or NULL */
    mimic__storage *storage; /* NULL for a wrap without anything owned */
};

/* Validates a handle: returns MIMIC_OK, or sets an error naming `arg` and returns
 * MIMIC_ERR_MISUSE. */
int mimic__dataset_check(const mimic_dataset *d, const char *arg);

/* Bytes of one input row of `d`. */
size_t mimic__dataset_row_bytes(const mimic_dataset *d);

/* ---- students (student.c) ---------------------------------------------------------- */

/* Trainable parameters live in one flat float array, in this order:
 *   bottleneck.weight (k x D, if k > 0), hidden.weight (H x k'), hidden.bias (H),
 *   output.weight (C x H), output.bias (C)          with k' = k ? k : D.
 * Gradients and optimizer state use the same layout, so the optimizer is one loop. */
typedef struct mimic__layout {
    size_t D, H, k, C, kin; /* kin = k ? k : D (hidden layer's input width) */
    size_t off_bottleneck, off_hidden_w, off_hidden_b, off_output_w, off_output_b;
    size_t n_params;
} mimic__layout;

struct mimic_student {
    uint32_t magic;
    mimic_student_options opts;
    mimic__layout L;
    float *params;    /* n_params floats, 64-byte aligned */
    float *in_mean;   /* D floats or NULL (no input normalization) */
    float *in_scale;  /* D floats or NULL */
};

int mimic__student_check(const mimic_student *s, const char *arg);
/* Fill a layout from sizes; MIMIC_ERR_RANGE on overflow. */
int mimic__layout_init(mimic__layout *L, size_t D, size_t H, size_t k, size_t C);
/* Validate student options (sizes, activation, init) and fill their layout. */
int mimic__student_options_validate(const mimic_student_options *o, mimic__layout *L);
/* A student with validated options and uninitialized parameters (no normalization). */
int mimic__student_alloc(const mimic_student_options *o, mimic_student **out);
/* A deep copy (for best-weights snapshots, last-good restore). */
int mimic__student_clone(const mimic_student *s, mimic_student **out);

/* The named tensors of a student, in file order: one table for save, load, the tensor
 * getters and the ONNX export. */
typedef enum mimic__tensor_id {
    MIMIC__T_INPUT_MEAN,
    MIMIC__T_INPUT_SCALE,
    MIMIC__T_BOTTLENECK_W,
    MIMIC__T_HIDDEN_W,
    MIMIC__T_HIDDEN_B,
    MIMIC__T_OUTPUT_W,
    MIMIC__T_OUTPUT_B,
    MIMIC__T_COUNT
} mimic__tensor_id;

typedef struct mimic__tensor_desc {
    const char *name;   /* "hidden.weight" */
    size_t rows, cols;  /* 2-D: out x in; 1-D (biases, normalization): rows = 0, cols = n */
    bool present;       /* this student has it (bottleneck: k > 0; input.*: normalized) */
    bool trainable;     /* part of the flat parameter array (at `offset`) */
    size_t offset;      /* trainable: offset in the parameter array */
} mimic__tensor_desc;

/* Tensor `id` of a student with layout L (with input normalization or not). */
void mimic__tensor_describe(const mimic__layout *L, bool normalized, mimic__tensor_id id,
                            mimic__tensor_desc *out);
/* The id of the tensor called `name`, or MIMIC__T_COUNT. */
mimic__tensor_id mimic__tensor_lookup(const char *name);
/* Where tensor `id` of `s` lives (NULL when absent). */
float *mimic__tensor_data(const mimic_student *s, mimic__tensor_id id);
/* "input.mean, input.scale, ..." for messages, into buf. */
const char *mimic__tensor_names(char *buf, size_t cap);

/* Hidden activation names ("relu", "sigmoid", "tanh"): NULL for an unknown value. */
const char *mimic__activation_name(int32_t act);
/* The activation called `name`, or 0. */
int32_t mimic__activation_lookup(const char *name);

/* ---- kernels (kernels.c) ---------------------------------------------------------------- */

/* Floats of workspace the forward/backward pass needs for `rows` rows:
 * z (rows x k, only if k > 0), h (rows x H), logits (rows x C). */
size_t mimic__student_ws_floats(const mimic__layout *L, size_t rows);

/* Inverted dropout on the hidden activations, for one training step. Unit j of batch row r
 * (index i = r * H + j, which must fit in 32 bits) is kept when
 * mimic__dropout_bits(i, k0, k1) >= threshold, i.e. with probability 1 - threshold / 2^32;
 * kept activations are multiplied by `scale` = 1 / keep, dropped ones are 0. The mask is a
 * pure function of (key, index): the backward pass recomputes it instead of storing it, and
 * a resumed run draws the same masks. */
typedef struct mimic__dropout {
    uint32_t k0, k1;      /* the step's key */
    uint32_t threshold;   /* round(p * 2^32) */
    float scale;          /* 1 / keep */
    float keep;           /* 1 - p */
} mimic__dropout;

/* The dropout of rate p in [0, 1) with a 64-bit key (p = 0 keeps every unit; callers pass
 * NULL instead to skip the mask altogether). */
void mimic__dropout_init(mimic__dropout *d, double p, uint64_t key);

/* 32 well-mixed bits of (index, key): two rounds of a 32-bit integer hash (multiply and
 * xor-shift; vectorizes). */
static inline uint32_t mimic__dropout_bits(uint32_t i, uint32_t k0, uint32_t k1)
{
    uint32_t x = i ^ k0;
    for (int round = 0; round < 2; round++) {
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        x ^= x >> 16;
        x += k1;
    }
    return x;
}

/* Forward pass on already-normalized inputs x (rows x D) with parameters `params` (flat
 * layout): z = x V^T (if k), h = f(z W_hid^T + b_hid), logits = h W_out^T + b_out.
 * `ws` holds mimic__student_ws_floats floats; on return *z_out, *h_out, *logits_out point
 * into it (z_out may be NULL when k = 0). With `dropout` (training; NULL = none) h holds the
 * dropped and rescaled activations that the logits were computed from. No allocation. */
void mimic__student_forward_ws(const mimic__layout *L, int32_t activation, const float *params,
                               const float *x, size_t rows, const mimic__dropout *dropout,
                               float *ws, float **z_out, float **h_out, float **logits_out);

/* Backward pass for the activations of the matching forward call (same `dropout`): given
 * dlogits (rows x C, dL/dlogits), write dL/dparams into `grads` (flat layout, overwritten).
 * h is overwritten with dL/d(pre-activation); `dz` is a scratch of rows x k floats (if k).
 * No gradient for the raw inputs. No allocation. */
void mimic__student_backward_ws(const mimic__layout *L, int32_t activation, const float *params,
                                const float *x, size_t rows, const mimic__dropout *dropout,
                                const float *z, float *h, const float *dlogits, float *dz,
                                float *grads);

/* Normalize rows of raw inputs (f32 or u8) into dst (rows x D floats):
 * dst = (x - mean) * scale, or a plain conversion when mean/scale are NULL. */
void mimic__normalize_rows(const float *mean, const float *scale, size_t D, const void *src,
                           int32_t src_dtype, size_t rows, float *dst);

/* ---- ONNX export (student_onnx.c) ------------------------------------------------------ */

/* Layouts of the linear layers in an exported graph: Gemm(transB=1) on the PyTorch weights
 * (what mimic_student_export_onnx writes), or MatMul on transposed weights + Add (kept for
 * the latency benchmark's comparison). */
enum { MIMIC__ONNX_GEMM = 0, MIMIC__ONNX_MATMUL = 1 };
int mimic__onnx_export(const mimic_student *s, const char *path, int layout);

/* ---- losses (loss.c) ------------------------------------------------------------------- */

/* What a loss reads, per batch: student logits, teacher targets (the teacher's logits after
 * the target normalization) and/or labels, and its parameters. */
typedef struct mimic__loss_args {
    const float *logits;   /* rows x classes */
    const float *targets;  /* rows x classes, or NULL when the loss takes none */
    const int32_t *labels; /* rows, or NULL when the loss takes none */
    size_t rows, classes;
    const mimic_train_options *o; /* the loss's options (temperature, hard_weight, ...) */
    float *scratch;        /* rows x classes floats */
} mimic__loss_args;

/* Needs of a loss (mimic__loss.needs). */
enum {
    MIMIC__NEEDS_LOGITS = 1u,        /* teacher logits */
    MIMIC__NEEDS_LABELS = 2u,        /* labels, always */
    MIMIC__LABELS_IF_HARD = 4u,      /* labels when hard_weight > 0 */
    MIMIC__USES_TEMPERATURE = 8u,    /* options.temperature and hard_weight apply */
    MIMIC__TAKES_TARGET_NORM = 16u   /* options.target_norm CENTER / STANDARDIZE apply */
};

/* One loss, everything the rest of the library needs to know about it. Adding a loss is a
 * row in loss.c's table (and its MIMIC_LOSS_* value in train.h). */
typedef struct mimic__loss {
    int32_t id;               /* MIMIC_LOSS_* */
    const char *name;         /* "l2": CLI --loss value, Python loss= */
    const char *title;        /* "logit L2" for reports and plots */
    const char *formula;      /* "1/(2N) sum ||s - t||^2", for the CLI's progress legend */
    uint32_t needs;           /* MIMIC__NEEDS_* | ... */
    int32_t auto_target_norm; /* what MIMIC_TARGET_AUTO means with this loss */
    double sgd_lr;            /* default learning rate for optimizers whose step scales with
                                 the gradient (SGD); scale-free ones bring their own */
    /* The batch loss and, when grad is not NULL, dL/dlogits (rows x classes). */
    int (*batch)(const mimic__loss_args *a, double *loss, float *grad);
    /* The evaluation criterion: what early stopping minimizes and what the progress line
     * calls the validation loss; one of the metrics. */
    const char *criterion;    /* its name in mimic_metrics: "logit_l2", "kl", "hard_ce" */
    double (*criterion_of)(const mimic_metrics *m);
} mimic__loss;

/* The rows of the loss's options in the mimic_train_options table. */
extern const mimic__opt_group mimic__loss_options;

/* The loss with id `id`, or NULL. */
const mimic__loss *mimic__loss_get(int32_t id);
/* All losses, in id order; *n gets the count. */
const mimic__loss *mimic__loss_all(size_t *n);
/* Whether a training run with this loss needs labels (given hard_weight). */
bool mimic__loss_needs_labels(const mimic__loss *l, double hard_weight);

/* Row primitives shared by the loss routines and evaluation (one definition each):
 * T^2 KL(softmax(t/T) || softmax(s/T)) and, when g is set, scale * (softmax(s/T) -
 * softmax(t/T)) into g; -log softmax(s)[y]. */
double mimic__kd_row(const float *s, const float *t, size_t C, double T, double scale, float *g);
double mimic__ce_row(const float *s, size_t y, size_t C);

/* ---- evaluation (evaluate.c) ------------------------------------------------------------ */

/* Metrics of `s` on `d` in chunks of `chunk` rows, with caller workspaces x (chunk x D,
 * aligned) and ws (mimic__student_ws_floats(chunk) floats). center = 1 compares the logits
 * with row-centered teacher logits (target_norm CENTER). Allocates nothing. */
void mimic__evaluate_ws(const mimic_student *s, const mimic_dataset *d, double temperature,
                        int center, size_t chunk, float *x, float *ws, mimic_metrics *out);

#endif /* MIMIC_LIB_MODEL_H */
