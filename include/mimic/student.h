/*
 * libmimic: the factorized shallow student.
 *
 *   student(x) = W_out . f(W_hid . (V . n(x)) + b_hid) + b_out
 *
 *   n(x) = (x - mean) * scale   input normalization stored in the model (identity if unset)
 *   V    = k x D linear bottleneck, no bias, no nonlinearity; absent when k = 0, and then
 *          W_hid is H x D
 *   f    = ReLU, sigmoid or tanh
 *
 * Tensors (row-major float32, named and shaped like PyTorch's nn.Linear, out x in):
 *   "input.mean" 1 x D, "input.scale" 1 x D     (present only after set_input_norm)
 *   "bottleneck.weight" k x D                   (only when k > 0)
 *   "hidden.weight" H x k (or H x D), "hidden.bias" 1 x H
 *   "output.weight" C x H, "output.bias" 1 x C
 * so the weights load unchanged into
 *   nn.Sequential(nn.Linear(D, k, bias=False), nn.Linear(k, H), nn.ReLU(), nn.Linear(H, C)).
 *
 * Threads: every function taking a `const mimic_student *` may be called from many threads
 * at once on the same student (a deployed model is shared); functions taking a non-const
 * student need exclusive access. A student starts no thread of its own unless asked with
 * mimic_student_set_threads, and no function here changes a process-wide setting (the BLAS
 * library's threads are the caller's: OPENBLAS_NUM_THREADS, openblas_set_num_threads).
 */
#ifndef MIMIC_STUDENT_H
#define MIMIC_STUDENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mimic_student mimic_student;

/* Hidden-layer activations (int32_t in the options). */
enum mimic_activation {
    MIMIC_ACT_RELU = 1,
    MIMIC_ACT_SIGMOID = 2,
    MIMIC_ACT_TANH = 3
};

/* Weight initialization schemes (int32_t). Both are fan-in scaled and seeded. */
enum mimic_init {
    /* PyTorch's nn.Linear default: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
     * The default: recipes (learning rates) tuned in PyTorch carry over unchanged. */
    MIMIC_INIT_UNIFORM = 1,
    /* He-normal (std sqrt(2/fan_in)) for the layer feeding a ReLU, Glorot-normal
     * (std sqrt(2/(fan_in+fan_out))) for the others; zero biases. Activations start at unit
     * scale, so SGD needs a smaller learning rate than recipes tuned for the uniform init. */
    MIMIC_INIT_HE_GLOROT = 2
};

typedef struct mimic_student_options {
    size_t struct_size;  /* sizeof(mimic_student_options), set by _options_init */
    size_t n_inputs;     /* D, > 0 */
    size_t n_hidden;     /* H, > 0 */
    size_t n_bottleneck; /* k, 0 = no bottleneck */
    size_t n_classes;    /* C, >= 2 */
    int32_t activation;  /* MIMIC_ACT_*, default MIMIC_ACT_RELU */
    uint64_t seed;       /* weight initialization seed, default 0 */
    int32_t init;        /* MIMIC_INIT_*, default MIMIC_INIT_UNIFORM (appended in 1.0) */
} mimic_student_options;

/* Fill `opts` with defaults (sizes 0, ReLU, seed 0, MIMIC_INIT_UNIFORM). struct_size = sizeof the caller's
 * struct; only that many bytes are written. */
MIMIC_API void mimic_student_options_init(mimic_student_options *opts, size_t struct_size);

/* Create a student with freshly initialized weights: deterministic from opts->seed, by
 * opts->init (see enum mimic_init), no input normalization. Errors: MIMIC_ERR_INVALID
 * (sizes, activation, init, struct_size), MIMIC_ERR_VERSION (larger struct with a non-zero unknown tail), MIMIC_ERR_RANGE (the
 * parameter count overflows), MIMIC_ERR_NOMEM. On failure *out is NULL. */
MIMIC_API int mimic_student_create(mimic_student **out, const mimic_student_options *opts);

/* Logits for `rows` input rows: inputs rows x D floats, logits_out rows x C floats.
 * Thread-safe on a shared const student. Allocates a workspace per call (none for up to 4
 * rows of a student with D + k + H <= 8192).
 * How (since 1.3): up to 4 rows go through libmimic's matrix-vector kernels, which stream the
 * weights once (the compact weights of a quantized student); more rows through libmimic's own
 * GEMM (FMA) on the float32 weights. Both are written per instruction set (AVX-512, AVX2,
 * portable C), chosen from the CPU, with the same bits on all; neither calls BLAS, so the
 * speed does not depend on the BLAS library's CPU detection. The two round differently: a
 * row's logits in a call of up to 4 rows and in a larger call may differ in the last bits.
 * (Before 1.3 larger calls ran cblas_sgemm, whose bits depended on its kernels and threads.)
 * Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_INVALID (NULL buffers, rows = 0), MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_student_forward(const mimic_student *s, const float *inputs, size_t rows,
                                    float *logits_out);

/* Predicted class (argmax of the logits, lowest index on ties) for each row. */
MIMIC_API int mimic_student_predict(const mimic_student *s, const float *inputs, size_t rows,
                                    int32_t *classes_out);

/* Threads of the student's own for mimic_student_forward and _predict (since 1.3).
 *   threads 0 or 1 (the default): every call runs on its calling thread; no thread exists.
 *   threads n > 1: starts n - 1 worker threads now, which the student owns until it is
 *     freed or set again (set back to 1, they are stopped and joined). A call of up to 4
 *     rows splits each layer's output units between the caller and the workers: each thread
 *     streams its share of the weights once, bias and activation included. A call of more
 *     rows splits each layer of the GEMM by units too (a layer of few units, such as 10
 *     classes, by rows of the batch). BLAS is not called.
 * Results are bitwise the same for every thread count: work is split by units or by rows,
 * never inside a sum. Workers wait between calls by spinning for up to 0.2 ms, then sleep
 * (no CPU); they block every signal. Concurrent calls on one student stay allowed: one at a
 * time uses the workers, the others run on their own thread alone (same bits). A forked
 * child has no workers; its calls run on their own thread. Not saved with the student.
 * Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_INVALID (more than 1024), MIMIC_ERR_NOMEM (memory, or
 * a thread could not be started: the student keeps its previous setting). */
MIMIC_API int mimic_student_set_threads(mimic_student *s, size_t threads);

/* The student's thread count (1 until set above 1); 0 for an invalid handle. */
MIMIC_API size_t mimic_student_threads(const mimic_student *s);

/* Convert the student's three weight matrices to compact weights for inference (since 1.3):
 *   MIMIC_DTYPE_F16: float16 (round to nearest even; MIMIC_ERR_RANGE for a weight beyond
 *     65504, naming it; the student is then unchanged);
 *   MIMIC_DTYPE_I8: int8 with one symmetric scale per output row (scale = max |w| of the row /
 *     127, q = w / scale rounded to the nearest integer, ties to even; a row of zeros gets
 *     scale 1). Activations stay float32: an int8 layer computes scale * sum(q * x) in float;
 *   (the compact kernels sum with FMA in another order than the float32 one: logits of a
 *   float16 student differ from those of a float32 student with the widened weights in the
 *   last bits; see lib/model/matvec.c);
 *   MIMIC_DTYPE_F32: back to float32 weights (the dequantized ones; nothing is recovered).
 * Biases and the input normalization stay float32. The float32 tensors the getters return
 * become the dequantized weights (float16 widened, q * scale), which is what every call
 * computes with: calls of up to 4 rows stream the compact weights (half or a quarter of the
 * bytes: that is where they are faster), calls of more rows run the GEMM on the dequantized
 * float32 copy, which the student keeps (memory: the compact weights plus that copy).
 * mimic_student_save writes the compact weights ("weight_dtype" in the metadata; int8 scales
 * as the F32 tensors "<matrix>.weight_scale", e.g. "hidden.weight_scale"), load reads them
 * back, mimic_student_export_onnx writes them into the graph. A student with compact weights
 * cannot be trained, and its weight matrices cannot be set (MIMIC_ERR_UNSUPPORTED): train a
 * float32 student, then quantize it. Quantizing a compact student starts from its
 * dequantized weights. Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_INVALID (another dtype),
 * MIMIC_ERR_RANGE, MIMIC_ERR_NOMEM; on failure the student is unchanged. */
MIMIC_API int mimic_student_quantize(mimic_student *s, int32_t dtype);

/* The student's weight type: MIMIC_DTYPE_F32, MIMIC_DTYPE_F16 or MIMIC_DTYPE_I8 (since 1.3);
 * 0 for an invalid handle. */
MIMIC_API int32_t mimic_student_weight_dtype(const mimic_student *s);

/* Set the stored input normalization n(x) = (x - mean) * scale (D floats each, copied).
 * Both NULL removes it. Errors: MIMIC_ERR_INVALID (only one NULL), MIMIC_ERR_NUMERIC
 * (non-finite value), MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_student_set_input_norm(mimic_student *s, const float *mean, const float *scale);

/* Save to `path` as .safetensors (F32 tensors as above, or the compact weights of
 * mimic_student_quantize; "__metadata__" holds the architecture, activation and library
 * version, and "weight_dtype" for compact weights). Written to a temporary file, flushed and
 * renamed, so an existing file at `path` is replaced whole or not at all.
 * Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_INVALID, MIMIC_ERR_IO, MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_student_save(const mimic_student *s, const char *path);

/* Load a student saved by mimic_student_save (or any safetensors file with the same tensors
 * and metadata), float32 or compact. The file is untrusted input. Errors: MIMIC_ERR_IO,
 * MIMIC_ERR_FORMAT (bad JSON, offsets out of range or overlapping, a dtype other than F32, or
 * than the metadata's weight_dtype for the weight matrices (F16, I8), shapes that disagree
 * with the metadata, missing tensors or scales), MIMIC_ERR_NUMERIC (non-finite weights,
 * scales that are not finite and > 0), MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_student_load(mimic_student **out, const char *path);

/* Number of trainable parameters (weights and biases; not the input normalization).
 * 0 for an invalid handle. */
MIMIC_API size_t mimic_student_num_params(const mimic_student *s);

/* Copy the student's architecture into *out (out->struct_size must be set by the caller,
 * e.g. via mimic_student_options_init). */
MIMIC_API int mimic_student_get_options(const mimic_student *s, mimic_student_options *out);

/* Read access to a named tensor (see the list above): *data points into the student and
 * stays valid until the student is modified or freed. 1-D tensors report rows = 1.
 * Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_INVALID (unknown name, or a tensor this student does
 * not have, e.g. "bottleneck.weight" with k = 0). */
MIMIC_API int mimic_student_tensor(const mimic_student *s, const char *name, const float **data,
                                   size_t *rows, size_t *cols);

/* Overwrite a named tensor with rows x cols floats (copied; shapes must match exactly).
 * Lets a user start from weights trained elsewhere (e.g. PyTorch). Errors as
 * mimic_student_tensor, plus MIMIC_ERR_SHAPE and MIMIC_ERR_NUMERIC (non-finite value). */
MIMIC_API int mimic_student_set_tensor(mimic_student *s, const char *name, const float *data,
                                       size_t rows, size_t cols);

/* Free a student. NULL is a no-op. */
MIMIC_API void mimic_student_free(mimic_student *s);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_STUDENT_H */
