/* Compact weights (lib/model/compact.c, mimic_student_quantize): float16 and int8 weights
 * against their definitions, the forward pass on them (float16: the float32 path's bits on
 * the widened weights; int8: a double reference), any thread count, save/load round trips
 * and the files' contents (NumPy reads them), malformed files, and what a compact student
 * refuses (training, setting weights). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_testutil.h"

enum { D_ = 37, K_ = 12, H_ = 150, C_ = 5 };

static mimic_student *make(size_t k, uint64_t seed)
{
    mimic_student *s = tu_student(D_, k, H_, C_, MIMIC_ACT_RELU, seed);
    tu_set_norm(s, D_, seed + 1);
    tu_fill_uniform(s->params + s->L.off_hidden_b, H_, -0.5f, 0.5f, seed + 3);
    return s;
}

/* A copy of `s`'s float32 tensors in a new float32 student. */
static mimic_student *float_copy(const mimic_student *s)
{
    mimic_student *c = NULL;
    ck_assert_int_eq(mimic__student_clone(s, &c), MIMIC_OK);
    ck_assert_int_eq(mimic_student_quantize(c, MIMIC_DTYPE_F32), MIMIC_OK);
    ck_assert_ptr_null(c->compact);
    return c;
}

static const float *tensor(const mimic_student *s, const char *name, size_t *rows, size_t *cols)
{
    const float *d = NULL;
    ck_assert_int_eq(mimic_student_tensor(s, name, &d, rows, cols), MIMIC_OK);
    return d;
}

static const char *const MATRICES[3] = {"bottleneck.weight", "hidden.weight", "output.weight"};

/* Weight i of matrix m of a compact student, in double: q * scale for int8 (scale applied to
 * the row's sum in the kernel: the same number exactly), the widened float16. */
static double wq(const mimic__compact *q, size_t m, size_t j, size_t i)
{
    const size_t at = j * q->cols[m] + i;
    if (q->dtype == MIMIC_DTYPE_I8)
        return (double)((const int8_t *)q->w[m])[at] * q->scale[m][j];
    float f;
    mimic__f16_to_f32_portable((const uint16_t *)q->w[m] + at, &f, 1);
    return f;
}

/* logits of one row with compact weights, in double. */
static void ref_compact(const mimic_student *s, const float *x, double *out)
{
    const mimic__layout *L = &s->L;
    const mimic__compact *q = s->compact;
    double in[D_], z[K_], h[H_];
    for (size_t i = 0; i < L->D; i++)
        in[i] = ((double)x[i] - s->in_mean[i]) * s->in_scale[i];
    const double *v = in;
    size_t n = L->D;
    if (L->k) {
        for (size_t j = 0; j < L->k; j++) {
            double acc = 0;
            for (size_t i = 0; i < n; i++)
                acc += wq(q, 0, j, i) * v[i];
            z[j] = acc;
        }
        v = z;
        n = L->k;
    }
    for (size_t j = 0; j < L->H; j++) {
        double acc = 0;
        for (size_t i = 0; i < n; i++)
            acc += wq(q, 1, j, i) * v[i];
        acc += s->params[L->off_hidden_b + j];
        h[j] = acc > 0 ? acc : 0;
    }
    for (size_t j = 0; j < L->C; j++) {
        double acc = 0;
        for (size_t i = 0; i < L->H; i++)
            acc += wq(q, 2, j, i) * h[i];
        out[j] = acc + s->params[L->off_output_b + j];
    }
}

/* rows logits y of a compact student against the double reference. */
static void check_reference(const mimic_student *s, const float *x, const float *y, size_t rows)
{
    for (size_t r = 0; r < rows; r++) {
        double ref[C_];
        ref_compact(s, x + r * D_, ref);
        for (size_t j = 0; j < C_; j++)
            ck_assert_double_le(fabs(y[r * C_ + j] - ref[j]), 1e-4 * (1 + fabs(ref[j])));
    }
}

START_TEST(test_f16_weights_and_forward)
{
    mimic_student *s = make((size_t)_i * K_, 3), *orig = float_copy(s);
    ck_assert_int_eq(mimic_student_weight_dtype(s), MIMIC_DTYPE_F32);
    ck_assert_int_eq(mimic_student_quantize(s, MIMIC_DTYPE_F16), MIMIC_OK);
    ck_assert_int_eq(mimic_student_weight_dtype(s), MIMIC_DTYPE_F16);
    /* every weight is its float16 rounding (nearest even, as NumPy's astype), widened */
    for (int m = _i ? 0 : 1; m < 3; m++) {
        size_t r, c;
        const float *w = tensor(s, MATRICES[m], &r, &c), *w0 = tensor(orig, MATRICES[m], &r, &c);
        const uint16_t *h = s->compact->w[m];
        for (size_t i = 0; i < r * c; i++) {
            ck_assert_uint_eq(h[i], mimic__f32_to_f16(w0[i]));
            float wide;
            mimic__f16_to_f32_portable(&h[i], &wide, 1);
            ck_assert_mem_eq(&w[i], &wide, sizeof wide);
        }
    }
    /* biases and normalization untouched */
    size_t r, c;
    ck_assert_mem_eq(tensor(s, "hidden.bias", &r, &c), tensor(orig, "hidden.bias", &r, &c),
                     H_ * sizeof(float));
    ck_assert_mem_eq(tensor(s, "input.scale", &r, &c), tensor(orig, "input.scale", &r, &c),
                     D_ * sizeof(float));
    /* rows 1-4 stream the float16 weights: the logits of the widened weights (a double
     * reference), the same bits for any thread count */
    float x[4 * D_], got[4 * C_], one[4 * C_];
    tu_fill_uniform(x, 4 * D_, -2, 2, 9);
    ck_assert_int_eq(mimic_student_forward(s, x, 4, one), MIMIC_OK);
    check_reference(s, x, one, 4);
    for (size_t t = 2; t <= 3; t++) {
        ck_assert_int_eq(mimic_student_set_threads(s, t), MIMIC_OK);
        for (size_t rows = 1; rows <= 4; rows++) {
            ck_assert_int_eq(mimic_student_forward(s, x, rows, got), MIMIC_OK);
            ck_assert_mem_eq(got, one, rows * C_ * sizeof(float));
        }
    }
    mimic_student_free(orig);
    mimic_student_free(s);
}
END_TEST

START_TEST(test_int8_weights_and_forward)
{
    mimic_student *s = make((size_t)_i * K_, 4), *orig = float_copy(s);
    /* a row of zeros gets scale 1 and zeros */
    memset(s->params + s->L.off_output_w + 2 * H_, 0, H_ * sizeof(float));
    ck_assert_int_eq(mimic_student_quantize(s, MIMIC_DTYPE_I8), MIMIC_OK);
    ck_assert_int_eq(mimic_student_weight_dtype(s), MIMIC_DTYPE_I8);
    const mimic__compact *q = s->compact;
    for (int m = _i ? 0 : 1; m < 3; m++) {
        size_t r, c;
        const float *w = tensor(s, MATRICES[m], &r, &c), *w0 = tensor(orig, MATRICES[m], &r, &c);
        if (m == 2)
            w0 = s->params + s->L.off_output_w; /* the zeroed row: compare with what it was */
        const int8_t *qw = q->w[m];
        for (size_t j = 0; j < r; j++) {
            float mx = 0;
            for (size_t i = 0; i < c; i++)
                mx = fmaxf(mx, fabsf(m == 2 && j == 2 ? 0.0f : w0[j * c + i]));
            const float sc = q->scale[m][j];
            ck_assert_float_eq(sc, mx > 0 ? mx / 127.0f : 1.0f);
            int top = 0;
            for (size_t i = 0; i < c; i++) {
                const int8_t v = qw[j * c + i];
                ck_assert_int_le(abs(v), 127);
                top = abs(v) > top ? abs(v) : top;
                if (!(m == 2 && j == 2)) /* the nearest integer to w / scale */
                    ck_assert_float_eq(v, nearbyintf(w0[j * c + i] / sc));
                ck_assert_float_eq(w[j * c + i], (float)v * sc); /* the float32 view */
            }
            ck_assert_int_eq(top, mx > 0 ? 127 : 0);
        }
    }
    /* forward on the int8 weights: close to the double reference, same bits for every
     * thread count */
    float x[4 * D_], got[4 * C_], one[4 * C_];
    tu_fill_uniform(x, 4 * D_, -2, 2, 10);
    ck_assert_int_eq(mimic_student_forward(s, x, 4, one), MIMIC_OK);
    check_reference(s, x, one, 4);
    for (size_t t = 2; t <= 4; t++) {
        ck_assert_int_eq(mimic_student_set_threads(s, t), MIMIC_OK);
        for (size_t rows = 1; rows <= 4; rows++) {
            ck_assert_int_eq(mimic_student_forward(s, x, rows, got), MIMIC_OK);
            ck_assert_mem_eq(got, one, rows * C_ * sizeof(float));
        }
    }
    mimic_student_free(orig);
    mimic_student_free(s);
}
END_TEST

/* Larger batches run BLAS on the dequantized float32 copy: the logits of a float32 student
 * with those weights. Predict and evaluate agree with forward. */
START_TEST(test_large_batches_use_the_dequantized_weights)
{
    mimic_student *s = make(K_, 5);
    ck_assert_int_eq(mimic_student_quantize(s, _i ? MIMIC_DTYPE_I8 : MIMIC_DTYPE_F16), MIMIC_OK);
    mimic_student *f = float_copy(s);
    enum { N = 40 };
    float x[N * D_], a[N * C_], b[N * C_];
    tu_fill_uniform(x, N * D_, -2, 2, 11);
    ck_assert_int_eq(mimic_student_forward(s, x, N, a), MIMIC_OK);
    ck_assert_int_eq(mimic_student_forward(f, x, N, b), MIMIC_OK);
    ck_assert_mem_eq(a, b, sizeof a);
    mimic_student_free(f);
    mimic_student_free(s);
}
END_TEST

START_TEST(test_save_load_round_trip)
{
    const int32_t dt = _i ? MIMIC_DTYPE_I8 : MIMIC_DTYPE_F16;
    mimic_student *s = make(K_, 6);
    ck_assert_int_eq(mimic_student_quantize(s, dt), MIMIC_OK);
    const char *path = tu_path("compact.safetensors");
    ck_assert_int_eq(mimic_student_save(s, path), MIMIC_OK);
    mimic_student *l = NULL;
    ck_assert_msg(mimic_student_load(&l, path) == MIMIC_OK, "%s", mimic_last_error());
    ck_assert_int_eq(mimic_student_weight_dtype(l), dt);
    ck_assert_mem_eq(l->params, s->params, s->L.n_params * sizeof(float));
    for (int m = 0; m < 3; m++) {
        const size_t n = s->compact->rows[m] * s->compact->cols[m];
        ck_assert_mem_eq(l->compact->w[m], s->compact->w[m], n * mimic__weight_size(dt));
        if (dt == MIMIC_DTYPE_I8)
            ck_assert_mem_eq(l->compact->scale[m], s->compact->scale[m],
                             s->compact->rows[m] * sizeof(float));
    }
    float x[D_], a[C_], b[C_];
    tu_fill_uniform(x, D_, -1, 1, 12);
    ck_assert_int_eq(mimic_student_forward(s, x, 1, a), MIMIC_OK);
    ck_assert_int_eq(mimic_student_forward(l, x, 1, b), MIMIC_OK);
    ck_assert_mem_eq(a, b, sizeof a);
    /* the file: smaller, weight_dtype in the metadata */
    mimic_metadata *md = NULL;
    ck_assert_int_eq(mimic_metadata_read(&md, path), MIMIC_OK);
    ck_assert_str_eq(mimic_metadata_get(md, "weight_dtype"), _i ? "int8" : "float16");
    ck_assert_uint_eq(mimic_metadata_tensor_count(md), _i ? 10 : 7);
    mimic_metadata_free(md);
    /* float32 again: saved as before compact weights existed (no weight_dtype) */
    ck_assert_int_eq(mimic_student_quantize(l, MIMIC_DTYPE_F32), MIMIC_OK);
    ck_assert_int_eq(mimic_student_save(l, path), MIMIC_OK);
    ck_assert_int_eq(mimic_metadata_read(&md, path), MIMIC_OK);
    ck_assert_ptr_null(mimic_metadata_get(md, "weight_dtype"));
    mimic_metadata_free(md);
    mimic_student_free(l);
    mimic_student_free(s);
}
END_TEST

/* NumPy reads the compact file as plain safetensors: int8 or float16 weights, and
 * q * scale (or the widened float16) is the student's float32 view. */
static const char PY_COMPACT[] =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "path, ref = sys.argv[1], sys.argv[2]\n"
    "b = open(path, 'rb').read()\n"
    "n = struct.unpack('<Q', b[:8])[0]\n"
    "h = json.loads(b[8:8 + n])\n"
    "data = b[8 + n:]\n"
    "types = {'F32': '<f4', 'F16': '<f2', 'I8': 'i1'}\n"
    "def arr(name):\n"
    "    e = h[name]\n"
    "    s, t = e['data_offsets']\n"
    "    return np.frombuffer(data[s:t], types[e['dtype']]).reshape(e['shape'])\n"
    "want = np.fromfile(ref, '<f4')\n"
    "pos = 0\n"
    "for m in ('bottleneck', 'hidden', 'output'):\n"
    "    w = arr(m + '.weight')\n"
    "    if w.dtype == np.int8:\n"
    "        f = (w.astype(np.float32) * arr(m + '.weight_scale')[:, None]).astype(np.float32)\n"
    "    else:\n"
    "        assert w.dtype == np.float16\n"
    "        f = w.astype(np.float32)\n"
    "    assert np.array_equal(f.ravel(), want[pos:pos + f.size]), m\n"
    "    pos += f.size\n"
    "assert pos == want.size\n"
    "assert h['__metadata__']['weight_dtype'] in ('float16', 'int8')\n";

START_TEST(test_numpy_reads_the_file)
{
    TU_NEEDS_PYTHON("numpy");
    mimic_student *s = make(K_, 7);
    ck_assert_int_eq(mimic_student_quantize(s, _i ? MIMIC_DTYPE_I8 : MIMIC_DTYPE_F16), MIMIC_OK);
    const char *path = tu_path("np_compact.safetensors");
    char ref[1024];
    snprintf(ref, sizeof ref, "%s", tu_path("np_compact.f32"));
    ck_assert_int_eq(mimic_student_save(s, path), MIMIC_OK);
    FILE *f = fopen(ref, "wb");
    for (int m = 0; m < 3; m++) {
        size_t r, c;
        const float *w = tensor(s, MATRICES[m], &r, &c);
        ck_assert_uint_eq(fwrite(w, sizeof(float), r * c, f), r * c);
    }
    fclose(f);
    const char *args[2] = {path, ref};
    ck_assert_int_eq(tu_python(PY_COMPACT, args, 2), 0);
    mimic_student_free(s);
}
END_TEST

START_TEST(test_load_rejects_bad_compact_files)
{
    const char *path = tu_path("bad_compact.safetensors");
    int8_t hq[6 * 4], oq[3 * 6];
    uint16_t hh[6 * 4], oh[3 * 6];
    float hs[6], os[3], hb[6], ob[3];
    for (int i = 0; i < 24; i++) {
        hq[i] = (int8_t)(i - 12);
        hh[i] = mimic__f32_to_f16((float)i * 0.1f);
    }
    for (int i = 0; i < 18; i++) {
        oq[i] = (int8_t)(7 - i);
        oh[i] = mimic__f32_to_f16((float)i * -0.1f);
    }
    tu_fill_uniform(hs, 6, 0.01f, 0.1f, 1);
    tu_fill_uniform(os, 3, 0.01f, 0.1f, 2);
    tu_fill_uniform(hb, 6, -1, 1, 3);
    tu_fill_uniform(ob, 3, -1, 1, 4);
    const mimic__st_typed i8[6] = {{"hidden.weight", 6, 4, MIMIC_DTYPE_I8, hq},
                                   {"hidden.weight_scale", 6, 0, MIMIC_DTYPE_F32, hs},
                                   {"hidden.bias", 6, 0, MIMIC_DTYPE_F32, hb},
                                   {"output.weight", 3, 6, MIMIC_DTYPE_I8, oq},
                                   {"output.weight_scale", 3, 0, MIMIC_DTYPE_F32, os},
                                   {"output.bias", 3, 0, MIMIC_DTYPE_F32, ob}};
    const mimic__st_typed f16[4] = {{"hidden.weight", 6, 4, MIMIC_DTYPE_F16, hh},
                                    {"hidden.bias", 6, 0, MIMIC_DTYPE_F32, hb},
                                    {"output.weight", 3, 6, MIMIC_DTYPE_F16, oh},
                                    {"output.bias", 3, 0, MIMIC_DTYPE_F32, ob}};
    mimic__st_meta meta[6] = {{"n_inputs", "4"},  {"n_hidden", "6"},      {"n_bottleneck", "0"},
                              {"n_classes", "3"}, {"activation", "relu"}, {"weight_dtype", "int8"}};
    mimic_student *s = NULL;
    ck_assert_int_eq(mimic__safetensors_write_typed(path, i8, 6, meta, 6), MIMIC_OK);
    ck_assert_msg(mimic_student_load(&s, path) == MIMIC_OK, "%s", mimic_last_error());
    ck_assert_int_eq(mimic_student_weight_dtype(s), MIMIC_DTYPE_I8);
    ck_assert_float_eq(s->params[s->L.off_hidden_w + 5], (float)hq[5] * hs[1]);
    mimic_student_free(s);
    meta[5].value = "float16";
    ck_assert_int_eq(mimic__safetensors_write_typed(path, f16, 4, meta, 6), MIMIC_OK);
    ck_assert_msg(mimic_student_load(&s, path) == MIMIC_OK, "%s", mimic_last_error());
    ck_assert_int_eq(mimic_student_weight_dtype(s), MIMIC_DTYPE_F16);
    mimic_student_free(s);

    const float zero_scales[6] = {0.01f, 0.0f, 0.01f, 0.01f, 0.01f, 0.01f};
    const float nan_scales[6] = {0.01f, NAN, 0.01f, 0.01f, 0.01f, 0.01f};
    uint16_t inf_h[24];
    memcpy(inf_h, hh, sizeof inf_h);
    inf_h[7] = 0x7c00u;
    struct {
        const char *what, *wdtype;
        mimic__st_typed t[6];
        size_t n;
        int code;
        const char *needle;
    } cases[] = {
        {"int8 tensors, float16 metadata",
         "float16",
         {i8[0], i8[2], i8[3], i8[5]},
         4,
         MIMIC_ERR_FORMAT,
         "hidden.weight\" is int8"},
        {"float16 tensors, no weight_dtype",
         NULL,
         {f16[0], f16[1], f16[2], f16[3]},
         4,
         MIMIC_ERR_FORMAT,
         "is float16, but the student's weights are float32"},
        {"unknown weight_dtype",
         "int4",
         {i8[0], i8[1], i8[2], i8[3], i8[4], i8[5]},
         6,
         MIMIC_ERR_FORMAT,
         "int4"},
        {"missing scale",
         "int8",
         {i8[0], i8[2], i8[3], i8[4], i8[5]},
         5,
         MIMIC_ERR_FORMAT,
         "hidden.weight_scale\" is missing"},
        {"scale of the wrong length",
         "int8",
         {i8[0], {"hidden.weight_scale", 5, 0, MIMIC_DTYPE_F32, hs}, i8[2], i8[3], i8[4], i8[5]},
         6,
         MIMIC_ERR_FORMAT,
         "hidden.weight_scale"},
        {"scale 0",
         "int8",
         {i8[0],
          {"hidden.weight_scale", 6, 0, MIMIC_DTYPE_F32, zero_scales},
          i8[2],
          i8[3],
          i8[4],
          i8[5]},
         6,
         MIMIC_ERR_NUMERIC,
         "not > 0"},
        {"NaN scale",
         "int8",
         {i8[0],
          {"hidden.weight_scale", 6, 0, MIMIC_DTYPE_F32, nan_scales},
          i8[2],
          i8[3],
          i8[4],
          i8[5]},
         6,
         MIMIC_ERR_NUMERIC,
         "hidden.weight_scale"},
        {"scales in a float16 file",
         "float16",
         {f16[0], f16[1], f16[2], f16[3], i8[1]},
         5,
         MIMIC_ERR_FORMAT,
         "unexpected tensor"},
        {"infinite float16 weight",
         "float16",
         {{"hidden.weight", 6, 4, MIMIC_DTYPE_F16, inf_h}, f16[1], f16[2], f16[3]},
         4,
         MIMIC_ERR_NUMERIC,
         "hidden.weight"},
        {"float16 bias",
         "float16",
         {f16[0], {"hidden.bias", 6, 0, MIMIC_DTYPE_F16, hh}, f16[2], f16[3]},
         4,
         MIMIC_ERR_FORMAT,
         "hidden.bias\" is float16, but the student's vectors are float32"},
        {"int8 scale",
         "int8",
         {i8[0], {"hidden.weight_scale", 6, 0, MIMIC_DTYPE_I8, hq}, i8[2], i8[3], i8[4], i8[5]},
         6,
         MIMIC_ERR_FORMAT,
         "hidden.weight_scale\" is int8"},
    };
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(cases); i++) {
        meta[5].value = cases[i].wdtype;
        ck_assert_int_eq(mimic__safetensors_write_typed(path, cases[i].t, cases[i].n, meta,
                                                        cases[i].wdtype ? 6 : 5),
                         MIMIC_OK);
        tu_expect_load_error(path, cases[i].code, cases[i].what, cases[i].needle);
    }
}
END_TEST

/* What a compact student refuses, and quantize's own errors: the student is unchanged. */
START_TEST(test_refusals_and_errors)
{
    mimic_student *s = make(K_, 8);
    tt_problem pb;
    tt_problem_make(&pb, 40, D_, C_, 3, 1.0f, 0.0f);
    ck_assert_int_eq(mimic_student_quantize(NULL, MIMIC_DTYPE_I8), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_student_weight_dtype(NULL), 0);
    ck_assert_int_eq(mimic_student_quantize(s, MIMIC_DTYPE_U8), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "MIMIC_DTYPE_I8"));
    /* a weight beyond float16's range: MIMIC_ERR_RANGE naming it, nothing changed */
    mimic_student *before = float_copy(s);
    s->params[s->L.off_hidden_w + 17] = 70000.0f;
    before->params[before->L.off_hidden_w + 17] = 70000.0f;
    ck_assert_int_eq(mimic_student_quantize(s, MIMIC_DTYPE_F16), MIMIC_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "hidden.weight"));
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "element 17"));
    ck_assert_ptr_null(s->compact);
    ck_assert(tt_same_student(s, before));
    s->params[s->L.off_hidden_w + 17] = 0.5f;
    ck_assert_int_eq(mimic_student_quantize(s, MIMIC_DTYPE_I8), MIMIC_OK);
    /* no training, no weight matrices set; biases and normalization may change */
    mimic_train_options o = tt_options();
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, s, pb.d, &o), MIMIC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "int8"));
    ck_assert_int_eq(mimic_train(s, pb.d, &o, NULL), MIMIC_ERR_UNSUPPORTED);
    float w[H_ * K_], b[H_];
    tu_fill_uniform(w, H_ * K_, -1, 1, 1);
    tu_fill_uniform(b, H_, -1, 1, 2);
    ck_assert_int_eq(mimic_student_set_tensor(s, "hidden.weight", w, H_, K_),
                     MIMIC_ERR_UNSUPPORTED);
    ck_assert_int_eq(mimic_student_set_tensor(s, "hidden.bias", b, 1, H_), MIMIC_OK);
    ck_assert_int_eq(mimic_student_set_input_norm(s, NULL, NULL), MIMIC_OK);
    /* back to float32: trainable again, with the dequantized weights */
    ck_assert_int_eq(mimic_student_quantize(s, MIMIC_DTYPE_F32), MIMIC_OK);
    ck_assert_int_eq(mimic_student_set_tensor(s, "hidden.weight", w, H_, K_), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_create(&t, s, pb.d, &o), MIMIC_OK);
    mimic_trainer_free(t);
    tt_problem_free(&pb);
    mimic_student_free(before);
    mimic_student_free(s);
}
END_TEST

/* Every allocation of quantize, load and clone of a compact student failing in turn:
 * MIMIC_ERR_NOMEM and nothing changed or leaked (ASan). */
START_TEST(test_alloc_failures)
{
    mimic_student *s = make(K_, 9), *ref = float_copy(s);
    for (uint64_t n = 1;; n++) {
        mimic__alloc_fail_at(n);
        int rc = mimic_student_quantize(s, MIMIC_DTYPE_I8);
        uint64_t made = mimic__alloc_fail_at(0);
        if (rc == MIMIC_OK) {
            ck_assert_uint_lt(made, n);
            break;
        }
        ck_assert_int_eq(rc, MIMIC_ERR_NOMEM);
        ck_assert_ptr_null(s->compact);
        ck_assert(tt_same_student(s, ref));
    }
    const char *path = tu_path("alloc_compact.safetensors");
    ck_assert_int_eq(mimic_student_save(s, path), MIMIC_OK);
    for (int what = 0; what < 2; what++)
        for (uint64_t n = 1;; n++) {
            mimic_student *c = NULL;
            mimic__alloc_fail_at(n);
            int rc = what ? mimic__student_clone(s, &c) : mimic_student_load(&c, path);
            uint64_t made = mimic__alloc_fail_at(0);
            if (rc == MIMIC_OK) {
                ck_assert_uint_lt(made, n);
                ck_assert_int_eq(mimic_student_weight_dtype(c), MIMIC_DTYPE_I8);
                mimic_student_free(c);
                break;
            }
            ck_assert_int_eq(rc, MIMIC_ERR_NOMEM);
            ck_assert_ptr_null(c);
        }
    mimic_student_free(ref);
    mimic_student_free(s);
}
END_TEST

/* The ONNX export keeps the weights compact: a quarter (int8) or half (float16) of the float32
 * file's weight bytes, the dequantizing operator, weight_dtype in the metadata. (tests/onnx
 * runs these models in ONNX Runtime.) */
START_TEST(test_export_onnx_compact)
{
    mimic_student *s = tu_student(300, 0, 400, 10, MIMIC_ACT_RELU, 12);
    const char *path = tu_path("compact.onnx");
    ck_assert_int_eq(mimic_student_export_onnx(s, path), MIMIC_OK);
    size_t n32, n;
    free(tu_read_file(path, &n32));
    const char *op[2] = {"Cast", "DequantizeLinear"};
    const int32_t dts[2] = {MIMIC_DTYPE_F16, MIMIC_DTYPE_I8};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(mimic_student_quantize(s, dts[i]), MIMIC_OK);
        ck_assert_int_eq(mimic_student_export_onnx(s, path), MIMIC_OK);
        char *b = tu_read_file(path, &n);
        const size_t weights = 300 * 400 + 400 * 10; /* 4, 2 or 1 byte each */
        ck_assert_uint_lt(n, n32 - (i ? 3 : 2) * weights + 4096);
        ck_assert_ptr_nonnull(memmem(b, n, op[i], strlen(op[i])));
        ck_assert_ptr_nonnull(memmem(b, n, "weight_dtype", 12));
        ck_assert_ptr_nonnull(memmem(b, n, "hidden.weight_dequantized", 25));
        free(b);
    }
    ck_assert_int_eq(mimic__onnx_export(s, path, MIMIC__ONNX_MATMUL), MIMIC_ERR_UNSUPPORTED);
    mimic_student_free(s);
}
END_TEST

/* mimic_evaluate on a compact student: the metrics of its own forward pass. */
START_TEST(test_evaluate_compact)
{
    tt_problem pb;
    tt_problem_make(&pb, 3, D_, C_, 5, 1.0f, 0.0f); /* 3 rows: the small-batch path */
    mimic_student *s = make(K_, 10);
    ck_assert_int_eq(mimic_student_quantize(s, MIMIC_DTYPE_I8), MIMIC_OK);
    float logits[3 * C_];
    ck_assert_int_eq(mimic_student_forward(s, pb.x, 3, logits), MIMIC_OK);
    mimic_metrics want, got = tt_eval(s, pb.d, 1.0);
    mimic_metrics_init(&want, sizeof want);
    ck_assert_int_eq(mimic_evaluate_logits(logits, pb.t, pb.y, 3, C_, 1.0, &want), MIMIC_OK);
    ck_assert_double_eq(got.logit_l2, want.logit_l2);
    ck_assert_double_eq(got.accuracy, want.accuracy);
    mimic_student_free(s);
    tt_problem_free(&pb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_f16_weights_and_forward, 0, 2);
    tcase_add_loop_test(tc, test_int8_weights_and_forward, 0, 2);
    tcase_add_loop_test(tc, test_large_batches_use_the_dequantized_weights, 0, 2);
    tcase_add_loop_test(tc, test_save_load_round_trip, 0, 2);
    tcase_add_loop_test(tc, test_numpy_reads_the_file, 0, 2);
    tcase_add_test(tc, test_load_rejects_bad_compact_files);
    tcase_add_test(tc, test_refusals_and_errors);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_evaluate_compact);
    tcase_add_test(tc, test_export_onnx_compact);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
