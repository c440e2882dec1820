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
/* The array's dtype as .npy writes it ("<f2"). */
const char *mimic__array_descr(const mimic_array *a);

/* ---- file kinds (file.c) --------------------------------------------------------------- */

/* MIMIC_OK when the bytes of `path` are of kind `want` (or of no kind we know: let the
 * parser judge), else MIMIC_ERR_FORMAT "PATH: this is <kind>, not <want_text>". */
int mimic__expect_kind(const char *path, const uint8_t *buf, size_t len, int32_t want,
                       const char *want_text);

/* Read a .safetensors file that must be of kind `want` (MIMIC_FILE_STUDENT also accepts a
 * plain .safetensors file with a student's tensors, and F16 and I8 tensors: typed parse). */
int mimic__read_safetensors_as(const char *path, int32_t want, mimic__st_file *out);

/* ---- datasets (dataset.c, manifest.c) --------------------------------------------------- */

/* A contiguous run of a dataset's rows with its own arrays (one per file of a manifest). */
typedef struct mimic__shard {
    uint64_t first;          /* its row 0 as a row of the storage's numbering */
    uint64_t rows;
    const uint8_t *inputs;   /* rows x n_inputs of input_dtype */
    const uint8_t *logits;   /* rows x n_classes of logits_dtype, or NULL */
    const uint8_t *labels;   /* rows of labels_dtype, or NULL */
    const char *name;        /* the inputs file (manifests), for messages; else NULL */
} mimic__shard;

/* Everything a dataset owns: its shard table (manifests), the bytes of the arrays it uses in
 * place (shared with the arrays), converted copies, names. Freed when the last view releases
 * it; allocated as one block by mimic__storage_new. */
typedef struct mimic__storage {
    atomic_size_t refs;
    mimic__shard *shards;
    size_t n_shards;
    mimic__blob **blobs;
    size_t n_blobs;
    void **owned;            /* mimic__free'd */
    size_t n_owned;
} mimic__storage;

mimic__storage *mimic__storage_new(size_t n_shards, size_t n_blobs, size_t n_owned);
void mimic__storage_release(mimic__storage *s);

struct mimic_dataset {
    uint32_t magic;
    int32_t input_dtype;     /* MIMIC_DTYPE_F32 or MIMIC_DTYPE_U8 */
    int32_t logits_dtype;    /* MIMIC_DTYPE_F32 or MIMIC_DTYPE_F16; 0: no teacher logits */
    int32_t labels_dtype;    /* MIMIC_DTYPE_I32, _I64 or _U8; 0: no labels */
    size_t rows, n_inputs, n_classes;
    size_t image_h, image_w; /* the inputs' image shape when their file gives one, else 0 */
    uint64_t first;          /* this view's row 0 in the shards' numbering (slices) */
    const mimic__shard *shards; /* &one, or the storage's table */
    size_t n_shards;
    mimic__shard one;        /* a single-shard dataset's shard */
    mimic__storage *storage; /* NULL for a wrap */
};

typedef struct mimic__dataset_shape {
    int32_t input_dtype, logits_dtype, labels_dtype;
    size_t rows, n_inputs, n_classes;
    size_t image_h, image_w;
} mimic__dataset_shape;

int mimic__dataset_new(mimic_dataset **out, const char *fn, const mimic__dataset_shape *shape,
                       const mimic__shard *shards, size_t n_shards, mimic__storage *s);

/* Validates a handle: returns MIMIC_OK, or sets an error naming `arg` and returns
 * MIMIC_ERR_MISUSE. */
int mimic__dataset_check(const mimic_dataset *d, const char *arg);

/* Bytes of one input row of `d`. */
size_t mimic__dataset_row_bytes(const mimic_dataset *d);

/* Row r of a dataset (r < rows; 64-bit across shards): its raw input row; its teacher logits
 * as float32 into dst (C floats; converted from float16); a pointer to them when they are
 * stored as float32 (else NULL); its label. mimic__dataset_span: how many of the n rows from
 * r lie in r's shard (contiguous in memory). */
const void *mimic__input_row(const mimic_dataset *d, uint64_t r);
void mimic__logits_row(const mimic_dataset *d, uint64_t r, float *dst);
const float *mimic__logits_f32(const mimic_dataset *d, uint64_t r);
/* The row's label as stored (labels_dtype). */
const void *mimic__labels_stored(const mimic_dataset *d, uint64_t r);
/* The row's logits as stored (float32 or float16 bytes). */
const void *mimic__logits_stored(const mimic_dataset *d, uint64_t r);
int32_t mimic__label_at(const mimic_dataset *d, uint64_t r);
uint64_t mimic__dataset_span(const mimic_dataset *d, uint64_t r, uint64_t n);
/* The file the row's shard came from (manifests), or NULL. */
const char *mimic__shard_name(const mimic_dataset *d, uint64_t r);
/* The shards a view covers (1 unless it spans a manifest's shards), and the k-th's part of
 * the view: its first row (in the view's numbering), its rows, its name (or NULL). */
size_t mimic__view_shards(const mimic_dataset *d);
void mimic__view_shard(const mimic_dataset *d, size_t k, uint64_t *first, uint64_t *rows,
                       const char **name);
/* FNV-1a over `samples` evenly spread rows of [first, first + rows) of the view: inputs,
 * logits as stored, labels as int32 (the checkpoints' data fingerprint). */
uint64_t mimic__dataset_fingerprint(const mimic_dataset *d, uint64_t first, uint64_t rows,
                                    uint64_t samples);

/* Checks run once when a dataset is made: every logit finite, every label a class index; the
 * messages name `what` and the row (counted from `base`). *top (optional) gets the largest
 * label. */
int mimic__check_logits(const void *z, int32_t dtype, uint64_t rows, size_t classes,
                        uint64_t base, const char *what);
int mimic__check_labels(const void *y, int32_t dtype, uint64_t rows, size_t classes,
                        uint64_t base, const char *what, int64_t *top);
/* Bytes of one teacher logit of `dtype`. */
size_t mimic__dtype_size_of_logits(int32_t dtype);

/* Arrays in their dataset roles (rank, dtype, not empty), and row counts that agree. */
int mimic__check_input_array(const mimic_array *a);
int mimic__check_logits_array(const mimic_array *a);
int mimic__check_labels_array(const mimic_array *a);
int mimic__same_rows(const mimic_array *a, const mimic_array *ref);
/* An array's values for a dataset: in place (*blob_slot retains its bytes) when they can be
 * used as stored, else converted to float32 (*owned_slot); *view and *dtype describe them. */
int mimic__array_in_place(const mimic_array *a, mimic__blob **blob_slot, void **owned_slot,
                          const uint8_t **view, int32_t *dtype);

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

/* Compact weights (compact.c): the three weight matrices, in file order, as float16 or int8
 * with a scale per row. */
enum { MIMIC__M_BOTTLENECK, MIMIC__M_HIDDEN, MIMIC__M_OUTPUT, MIMIC__N_MATRICES };

typedef struct mimic__compact {
    int32_t dtype;                   /* MIMIC_DTYPE_F16 or MIMIC_DTYPE_I8 */
    void *w[MIMIC__N_MATRICES];      /* rows x cols of dtype (NULL: no bottleneck) */
    float *scale[MIMIC__N_MATRICES]; /* int8: one factor per row; else NULL */
    size_t rows[MIMIC__N_MATRICES], cols[MIMIC__N_MATRICES];
} mimic__compact;

struct mimic_student {
    uint32_t magic;
    mimic_student_options opts;
    mimic__layout L;
    float *params;    /* n_params floats, 64-byte aligned */
    float *in_mean;   /* D floats or NULL (no input normalization) */
    float *in_scale;  /* D floats or NULL */
    mimic__pool *pool; /* mimic_student_set_threads: forward/predict's workers, or NULL */
    mimic__compact *compact; /* mimic_student_quantize: compact weights (params then hold their
                                dequantized values), or NULL */
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
/* mimic_student_set_input_norm in two halves, for a caller that must know every fallible
 * step succeeded before it changes anything: checked copies of mean and scale (D floats
 * each; *m and *c NULL when mean is NULL; `fn` names the caller in messages), then the
 * student takes them (frees its own; cannot fail). */
int mimic__input_norm_copy(const mimic_student *s, const float *mean, const float *scale, float **m,
                           float **c, const char *fn);
void mimic__input_norm_take(mimic_student *s, float *m, float *c);

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

/* ---- compact weights (compact.c) ------------------------------------------------------ */

/* "float32", "float16", "int8" (the files' weight_dtype and the tools' spelling), or NULL; and
 * back (0 for an unknown name). */
const char *mimic__weight_dtype_name(int32_t dtype);
int32_t mimic__weight_dtype_lookup(const char *name);
/* Bytes of one weight of a MIMIC_DTYPE_F32, _F16 or _I8 student. */
size_t mimic__weight_size(int32_t dtype);
/* Matrix m's tensor, and the file name of its int8 scales ("hidden.weight_scale"). */
mimic__tensor_id mimic__matrix_tensor(size_t m);
const char *mimic__matrix_scale_name(size_t m);
/* The name of matrix m as float32 again in an exported ONNX graph. */
const char *mimic__matrix_dequantized_name(size_t m);
/* Uninitialized compact weights of `dtype` for layout L; a deep copy (NULL stays NULL). */
int mimic__compact_alloc(mimic__compact **out, const mimic__layout *L, int32_t dtype);
int mimic__compact_clone(const mimic__compact *q, const mimic__layout *L, mimic__compact **out);
void mimic__compact_free(mimic__compact *q);
/* Matrix m as float32 (rows x cols into dst): the values the compact weights stand for. */
void mimic__compact_dequantize(const mimic__compact *q, size_t m, float *dst);
/* MIMIC_OK for a float32 student, else MIMIC_ERR_UNSUPPORTED naming `fn`: training and
 * setting weights need float32 weights. */
int mimic__student_check_float(const mimic_student *s, const char *fn);

/* Hidden activation names ("relu", "sigmoid", "tanh"): NULL for an unknown value. */
const char *mimic__activation_name(int32_t act);
/* The activation called `name`, or 0. */
int32_t mimic__activation_lookup(const char *name);

/* ---- small-batch kernels (matvec.c) ---------------------------------------------------- */

#define MIMIC__MV_MAX_ROWS 4

/* One product Y = X . W^T for a few rows (R <= MIMIC__MV_MAX_ROWS), over rows [j0, j1) of W:
 * y[r * ldy + j] = sum_i W[j][i] * x[r * ldx + i], i < kk, summed as matvec.c describes
 * (the same bits from every kernel, whatever split of [0, n) calls it). */
typedef struct mimic__mv {
    const void *w;      /* W: rows of float, uint16_t (binary16 bits) or int8_t */
    const float *scale; /* int8: one factor per row of W; else unused */
    size_t ldw;         /* elements from one row of W to the next */
    size_t kk;          /* elements of a row in the product */
    const float *x;     /* R input rows, ldx floats apart */
    size_t ldx;
    size_t R;
    float *y; /* R output rows, ldy floats apart */
    size_t ldy;
} mimic__mv;

typedef void (*mimic__mv_fn)(const mimic__mv *a, size_t j0, size_t j1);

/* The kernels of one instruction set, by weight type. */
typedef struct mimic__mv_kernels {
    const char *name; /* "portable", "avx2", "avx512" */
    mimic__mv_fn f32, f16, i8;
} mimic__mv_kernels;

/* The kernels written for instruction set `isa` (MIMIC__ISA_*), or NULL when this build has
 * none; whether the CPU can run them is the caller's question (mimic__cpu_isa). */
const mimic__mv_kernels *mimic__mv_kernels_of(int isa);
/* The best kernels this CPU runs. */
const mimic__mv_kernels *mimic__mv_kernels_best(void);

/* ---- the inference GEMM (gemm.c) ---------------------------------------------------------- */

/* Y^T = W . X^T over rows [j0, j1) of W, then + bias and ReLU (see gemm.c for the exact sums,
 * the same bits from every kernel and split). X^T and Y^T are in panels of
 * MIMIC__GEMM_PANEL columns: column c of row i of X^T at
 * xt[(c / PANEL) * kk * PANEL + i * PANEL + c % PANEL], of Y^T at
 * yt[(c / PANEL) * ny * PANEL + j * PANEL + c % PANEL]. */
#define MIMIC__GEMM_PANEL 32

typedef struct mimic__gemm {
    const float *w; /* W: rows of kk floats, ldw apart */
    size_t ldw, kk;
    const float *xt; /* X^T: kk rows of m columns, in panels */
    size_t m;
    float *yt; /* Y^T: ny rows of m columns, in panels */
    size_t ny;
    const float *bias; /* one per row of W, or NULL */
    bool relu;         /* max(v, 0) after the bias */
} mimic__gemm;

typedef void (*mimic__gemm_fn)(const mimic__gemm *g, size_t j0, size_t j1);

/* The kernel of instruction set `isa`, or NULL when this build has none; the best one this
 * CPU runs. */
mimic__gemm_fn mimic__gemm_of(int isa);
mimic__gemm_fn mimic__gemm_best(void);

/* ---- kernels (kernels.c) ---------------------------------------------------------------- */

/* Floats of workspace the forward/backward pass needs for `rows` rows:
 * z (rows x k, only if k > 0), h (rows x H), logits (rows x C). */
size_t mimic__student_ws_floats(const mimic__layout *L, size_t rows);

/* Inverted dropout on the hidden activations, for one training step. Unit j of batch row r
 * (index i = offset + r * H + j, which must fit in 32 bits) is kept when
 * mimic__dropout_bits(i, k0, k1) >= threshold, i.e. with probability 1 - threshold / 2^32;
 * kept activations are multiplied by `scale` = 1 / keep, dropped ones are 0. The mask is a
 * pure function of (key, index): the backward pass recomputes it instead of storing it, and
 * a resumed run draws the same masks. */
typedef struct mimic__dropout {
    uint32_t k0, k1;      /* the step's key */
    uint32_t offset;      /* index of the first row's first unit: row0 * H for a rank that
                             holds the batch rows from row0 on (0 after mimic__dropout_init) */
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
 * dropped and rescaled activations that the logits were computed from. The elementwise passes
 * between the sgemm calls run on `pool` (NULL: the calling thread), split by rows or
 * columns: the same bits for every pool. No allocation. */
void mimic__student_forward_ws(const mimic__layout *L, int32_t activation, const float *params,
                               const float *x, size_t rows, const mimic__dropout *dropout,
                               float *ws, float **z_out, float **h_out, float **logits_out,
                               mimic__pool *pool);

/* Floats of workspace the inference GEMM needs for `rows` rows: X^T, Z^T, H^T, logits^T and
 * the logits (rows x (D + k + H + 2C)); SIZE_MAX on overflow. */
size_t mimic__infer_ws_floats(const mimic__layout *L, size_t rows);

/* The logits of `s` for `rows` normalized input rows, split over `pool` (NULL: the calling
 * thread; same bits). With `gemm_ws` (mimic__infer_ws_floats(rows) floats), as
 * mimic_student_forward computes them: more than 4 rows through the inference GEMM. Without,
 * as the trainer computes them: through BLAS, in `ws` (mimic__student_ws_floats(rows)
 * floats). Up to 4 rows, both use the small-batch kernels (and the compact weights). The
 * return value points at the logits (rows x C) in a workspace. No allocation. */
float *mimic__student_infer(const mimic_student *s, const float *x, size_t rows, float *ws,
                            float *gemm_ws, mimic__pool *pool);

/* Backward pass for the activations of the matching forward call (same `dropout`): given
 * dlogits (rows x C, dL/dlogits), write dL/dparams into `grads` (flat layout, overwritten).
 * h is overwritten with dL/d(pre-activation); `dz` is a scratch of rows x k floats (if k).
 * No gradient for the raw inputs. The passes between the sgemm calls run on `pool` as in the
 * forward pass (the same bits for every pool). No allocation. */
void mimic__student_backward_ws(const mimic__layout *L, int32_t activation, const float *params,
                                const float *x, size_t rows, const mimic__dropout *dropout,
                                const float *z, float *h, const float *dlogits, float *dz,
                                float *grads, mimic__pool *pool);

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
    size_t norm_rows;      /* the loss and its gradient are sums over the rows divided by
                              this: the whole global batch's rows when these are one rank's
                              part of it; 0 = rows */
} mimic__loss_args;

/* What a loss needs from the data (mimic__loss.needs). */
enum {
    MIMIC__NEEDS_LOGITS = 1u,  /* teacher logits */
    MIMIC__NEEDS_LABELS = 2u,  /* labels, always */
    MIMIC__LABELS_IF_HARD = 4u /* labels when hard_weight > 0 */
};

/* One loss, everything the rest of the library needs to know about it. Adding a loss is a
 * row in loss.c's table (and its MIMIC_LOSS_* value in train.h). */
typedef struct mimic__loss {
    int32_t id;               /* MIMIC_LOSS_* */
    const char *name;         /* "l2": CLI --loss value, Python loss= */
    const char *title;        /* "logit L2" for reports and plots */
    const char *formula;      /* "1/(2N) sum ||s - t||^2", for the CLI's progress legend */
    uint32_t needs;           /* MIMIC__NEEDS_* | ... */
    const char *options;      /* the options it reads, space-separated: "has no effect"
                                 with the other losses (mimic__name_in); "target_norm" when
                                 it regresses on the teacher's logits, so that center and
                                 standardize apply */
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

/* The workspaces of an evaluation in chunks of `chunk` rows: inputs (chunk x D, aligned),
 * the forward pass (mimic__student_ws_floats(chunk)), teacher rows (chunk x C), labels. */
typedef struct mimic__eval_ws {
    float *x, *ws, *t;
    int32_t *y;
    float *gemm_ws; /* mimic__infer_ws_floats(chunk): mimic_evaluate, the forward pass of
                       mimic_student_forward; NULL: the trainer's validation, through BLAS */
} mimic__eval_ws;

int mimic__eval_ws_alloc(mimic__eval_ws *w, const mimic__layout *L, size_t chunk);
void mimic__eval_ws_free(mimic__eval_ws *w);

/* Metrics of `s` on `d` in chunks of `chunk` rows through the workspaces w, the forward
 * passes split over `pool` (NULL: the calling thread; same bits). center = 1 compares the
 * logits with row-centered teacher logits (target_norm CENTER). Allocates nothing. */
void mimic__evaluate_ws(const mimic_student *s, const mimic_dataset *d, double temperature,
                        int center, size_t chunk, const mimic__eval_ws *w, mimic__pool *pool,
                        mimic_metrics *out);

/* The sums the metrics are made of, over some rows: what ranks that each evaluate a part of
 * a dataset add up (5 doubles; the counts are exact up to 2^53 rows). */
typedef struct mimic__eval_sums {
    double sq, kl, ce;     /* squared logit errors, KL / T^2, hard-label CE */
    double correct, agree; /* rows with argmax = label, = argmax of the teacher */
} mimic__eval_sums;

/* Add the sums of rows [first, end) of `d`, in chunks of `chunk` rows starting at `first`
 * (mimic__evaluate_ws is this over every row, then mimic__evaluate_finish). */
void mimic__evaluate_sums(const mimic_student *s, const mimic_dataset *d, double temperature,
                          int center, uint64_t first, uint64_t end, size_t chunk,
                          const mimic__eval_ws *w, mimic__pool *pool, mimic__eval_sums *a);
/* The metrics of `d`'s rows from their sums. */
void mimic__evaluate_finish(const mimic__eval_sums *a, const mimic_dataset *d, mimic_metrics *out);

#endif /* MIMIC_LIB_MODEL_H */
