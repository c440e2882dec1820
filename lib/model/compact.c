/*
 * Compact weights for inference (mimic_student_quantize): a student's three weight matrices
 * stored as float16, or as int8 with one symmetric scale per output row (w = q * scale, q in
 * [-127, 127], scale = max |w| of the row / 127). Biases and the input normalization stay
 * float32, and so do the activations: an int8 layer is y = scale * sum(q * x) in float.
 *
 * The student keeps its float32 parameters too, set to the dequantized values (exactly what
 * the compact weights stand for): the tensor getters, batches of more than 4 rows (BLAS) and
 * anything else that reads the parameters see the same model. Batches of up to 4 rows stream
 * the compact weights (matvec.c), which is where fewer bytes are speed; save, load and the
 * ONNX export write and read them as they are.
 */
#include <math.h>

#include "model/model.h"

static const mimic__tensor_id matrix_tensor[MIMIC__N_MATRICES] = {
    MIMIC__T_BOTTLENECK_W, MIMIC__T_HIDDEN_W, MIMIC__T_OUTPUT_W};
static const char *const scale_name[MIMIC__N_MATRICES] = {
    "bottleneck.weight_scale", "hidden.weight_scale", "output.weight_scale"};
static const char *const dequantized_name[MIMIC__N_MATRICES] = {
    "bottleneck.weight_dequantized", "hidden.weight_dequantized", "output.weight_dequantized"};

static const struct {
    const char *name;
    int32_t dtype;
} weight_dtypes[] = {
    {"float32", MIMIC_DTYPE_F32}, {"float16", MIMIC_DTYPE_F16}, {"int8", MIMIC_DTYPE_I8}};

const char *mimic__weight_dtype_name(int32_t dtype)
{
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(weight_dtypes); i++)
        if (weight_dtypes[i].dtype == dtype)
            return weight_dtypes[i].name;
    return NULL;
}

int32_t mimic__weight_dtype_lookup(const char *name)
{
    for (size_t i = 0; name && i < MIMIC__ARRAY_LEN(weight_dtypes); i++)
        if (strcmp(weight_dtypes[i].name, name) == 0)
            return weight_dtypes[i].dtype;
    return 0;
}

mimic__tensor_id mimic__matrix_tensor(size_t m)
{
    return matrix_tensor[m];
}

const char *mimic__matrix_scale_name(size_t m)
{
    return scale_name[m];
}

const char *mimic__matrix_dequantized_name(size_t m)
{
    return dequantized_name[m];
}

size_t mimic__weight_size(int32_t dtype)
{
    return dtype == MIMIC_DTYPE_F16 ? 2 : dtype == MIMIC_DTYPE_I8 ? 1 : 4;
}

void mimic__compact_free(mimic__compact *q)
{
    if (!q)
        return;
    for (size_t m = 0; m < MIMIC__N_MATRICES; m++) {
        mimic__free(q->w[m]);
        mimic__free(q->scale[m]);
    }
    mimic__free(q);
}

int mimic__compact_alloc(mimic__compact **out, const mimic__layout *L, int32_t dtype)
{
    *out = NULL;
    mimic__compact *q = mimic__calloc(1, sizeof *q);
    bool ok = q != NULL;
    for (size_t m = 0; ok && m < MIMIC__N_MATRICES; m++) {
        mimic__tensor_desc d;
        mimic__tensor_describe(L, false, matrix_tensor[m], &d);
        q->rows[m] = d.rows;
        q->cols[m] = d.cols;
        if (!d.present)
            continue;
        ok = (q->w[m] = mimic__aligned_alloc(d.rows * d.cols * mimic__weight_size(dtype))) &&
             (dtype != MIMIC_DTYPE_I8 || (q->scale[m] = mimic__falloc(d.rows, 1)));
    }
    if (!ok) {
        mimic__compact_free(q);
        return mimic__error(MIMIC_ERR_NOMEM, "student: out of memory for %s weights",
                            mimic__weight_dtype_name(dtype));
    }
    q->dtype = dtype;
    *out = q;
    return MIMIC_OK;
}

int mimic__compact_clone(const mimic__compact *q, const mimic__layout *L, mimic__compact **out)
{
    *out = NULL;
    if (!q)
        return MIMIC_OK;
    int rc = mimic__compact_alloc(out, L, q->dtype);
    for (size_t m = 0; rc == MIMIC_OK && m < MIMIC__N_MATRICES; m++) {
        if (!q->w[m])
            continue;
        memcpy((*out)->w[m], q->w[m], q->rows[m] * q->cols[m] * mimic__weight_size(q->dtype));
        if (q->scale[m])
            memcpy((*out)->scale[m], q->scale[m], q->rows[m] * sizeof(float));
    }
    return rc;
}

/* float16 weights of a rows x cols matrix, or MIMIC_ERR_RANGE naming the first weight beyond
 * float16's range (|w| > 65504 rounds to infinity). */
static int to_f16(const float *w, size_t n, uint16_t *h, const char *tensor)
{
    for (size_t i = 0; i < n; i++) {
        h[i] = mimic__f32_to_f16(w[i]);
        if (!mimic__f16_finite(h[i]))
            return mimic__error(MIMIC_ERR_RANGE,
                                "mimic_student_quantize: %s has %g at element %zu, beyond "
                                "float16's range (65504)",
                                tensor, (double)w[i], i);
    }
    return MIMIC_OK;
}

/* int8 weights and a scale per row: scale = max |w| / 127 (1 for a row of zeros), q the
 * nearest integer to w / scale (ties to even). */
static void to_i8(const float *w, size_t rows, size_t cols, int8_t *q, float *scale)
{
    for (size_t r = 0; r < rows; r++, w += cols, q += cols) {
        float m = 0.0f;
        for (size_t i = 0; i < cols; i++)
            m = fabsf(w[i]) > m ? fabsf(w[i]) : m;
        const float s = m > 0.0f ? m / 127.0f : 1.0f;
        scale[r] = s;
        for (size_t i = 0; i < cols; i++) {
            float v = nearbyintf(w[i] / s);
            q[i] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
}

void mimic__compact_dequantize(const mimic__compact *q, size_t m, float *dst)
{
    const size_t rows = q->rows[m], cols = q->cols[m];
    if (q->dtype == MIMIC_DTYPE_F16) {
        mimic__f16_to_f32(q->w[m], dst, rows * cols);
        return;
    }
    const int8_t *w = q->w[m];
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < cols; i++)
            dst[r * cols + i] = (float)w[r * cols + i] * q->scale[m][r];
}

int mimic_student_quantize(mimic_student *s, int32_t dtype)
{
    static const char fn[] = "mimic_student_quantize";
    int rc = mimic__student_check(s, fn);
    if (rc != MIMIC_OK)
        return rc;
    if (!mimic__weight_dtype_name(dtype))
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: dtype %d is not MIMIC_DTYPE_F32, MIMIC_DTYPE_F16 or "
                            "MIMIC_DTYPE_I8",
                            fn, (int)dtype);
    if (dtype == MIMIC_DTYPE_F32) {
        /* float32 again: the dequantized weights become the trainable ones */
        mimic__compact_free(s->compact);
        s->compact = NULL;
        return MIMIC_OK;
    }
    mimic__compact *q;
    if ((rc = mimic__compact_alloc(&q, &s->L, dtype)) != MIMIC_OK)
        return rc;
    for (size_t m = 0; m < MIMIC__N_MATRICES && rc == MIMIC_OK; m++) {
        if (!q->w[m])
            continue;
        const float *w = mimic__tensor_data(s, matrix_tensor[m]);
        mimic__tensor_desc d;
        mimic__tensor_describe(&s->L, false, matrix_tensor[m], &d);
        if (dtype == MIMIC_DTYPE_F16)
            rc = to_f16(w, q->rows[m] * q->cols[m], q->w[m], d.name);
        else
            to_i8(w, q->rows[m], q->cols[m], q->w[m], q->scale[m]);
    }
    if (rc != MIMIC_OK) {
        mimic__compact_free(q);
        return rc;
    }
    for (size_t m = 0; m < MIMIC__N_MATRICES; m++)
        if (q->w[m])
            mimic__compact_dequantize(q, m, mimic__tensor_data(s, matrix_tensor[m]));
    mimic__compact_free(s->compact);
    s->compact = q;
    return MIMIC_OK;
}

int32_t mimic_student_weight_dtype(const mimic_student *s)
{
    if (!s || s->magic != MIMIC__MAGIC_STUDENT)
        return 0;
    return s->compact ? s->compact->dtype : MIMIC_DTYPE_F32;
}

int mimic__student_check_float(const mimic_student *s, const char *fn)
{
    if (!s->compact)
        return MIMIC_OK;
    return mimic__error(MIMIC_ERR_UNSUPPORTED,
                        "%s: the student's weights are %s (mimic_student_quantize): train or "
                        "change a float32 student, then quantize it",
                        fn, mimic__weight_dtype_name(s->compact->dtype));
}
