/*
 * The small-batch kernels: Y (R x n) = X (R x kk) . W^T over a range of W's rows, for R <= 4
 * input rows, with W in float32, float16 or int8 (one scale per row). One implementation per
 * instruction set, each written for its own registers (AVX-512: one zmm per accumulator;
 * AVX2: two ymm; portable C: an array the compiler vectorizes as it can), chosen at run time
 * from the CPU (mimic__cpu_isa). Every implementation is reachable on its own, so the tests
 * compare each with the portable one and bench/mv_bench times each on one machine.
 *
 * All of them give the same bits. An output is the sum over i < kk of W[j][i] * X[r][i] in 16
 * lanes (lane l adds the products at i = l, l + 16, ... below kk rounded down to 16, in
 * order), then the lanes are added up, then the kk % 16 leftover products in order.
 *   float32 weights: each product rounded to float and added (no FMA), the lanes added to 0
 *     in order 0..15 (the bits of libmimic 1.2's kernel);
 *   float16 and int8 weights (widened exactly): each product fused into the lane by FMA, the
 *     lanes added as a tree (t8[i] = l[i] + l[i + 8], t4[i] = t8[i] + t8[i + 4],
 *     t2[i] = t4[i] + t4[i + 2], t2[0] + t2[1]), the leftovers fused in by FMA; an int8 row
 *     then multiplies the sum by its scale. (Fewer instructions: these kernels convert every
 *     weight, and the bandwidth they save is only worth it if they keep up.)
 * A split of the rows of W between threads changes nothing.
 *
 * The weights are streamed once per call: every loaded row of W serves all R input rows
 * (up to 4 rows of W at a time, as many as the registers hold with R accumulators each).
 */
#include <math.h>

#include "model/model.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MV_X86 1
#endif

#define LANES 16
#define INLINE static inline __attribute__((always_inline))

enum { DT_F32, DT_F16, DT_I8 };

static size_t dt_size(int dt)
{
    return dt == DT_F32 ? 4 : dt == DT_F16 ? 2 : 1;
}

/* Element i of a weight row, as float (exact). */
INLINE float w_at(const void *row, size_t i, int dt)
{
    if (dt == DT_F32)
        return ((const float *)row)[i];
    if (dt == DT_I8)
        return (float)((const int8_t *)row)[i];
    float f;
    mimic__f16_to_f32_portable((const uint16_t *)row + i, &f, 1);
    return f;
}

/* A lane's step: + w * x rounded (float32 weights) or fused (the others). */
INLINE float lane_step(float acc, float w, float x, int dt)
{
    return dt == DT_F32 ? acc + w * x : fmaf(w, x, acc);
}

/* The end of an output from its lanes summed (sum) or, for float32 weights, stored (lanes):
 * the float32 lanes added to 0 in order, the leftover products, the scale. */
INLINE float finish(float sum, const float *lanes, const void *row, const float *x, size_t kv,
                    size_t kk, const float *scale, size_t j, int dt)
{
    float s = sum;
    if (dt == DT_F32) {
        s = 0.0f;
        for (int l = 0; l < LANES; l++)
            s += lanes[l];
    }
    for (size_t i = kv; i < kk; i++)
        s = lane_step(s, w_at(row, i, dt), x[i], dt);
    return dt == DT_I8 ? s * scale[j] : s;
}

static const void *w_row(const mimic__mv *a, size_t j, int dt)
{
    return (const char *)a->w + j * a->ldw * dt_size(dt);
}

/* For an instruction set `isa` with block_<isa>(a, j, JB, R, dt) (JB rows of W from row j,
 * R input rows; JB, R and dt are constants once inlined): the walk over rows [j0, j1) in
 * blocks of JB_OF(R) rows, the switch that makes R a constant, and the three entry points
 * <isa>_f32, <isa>_f16, <isa>_i8. */
#define MV_ENTRIES(isa, ATTR, JB_OF)                                                               \
    INLINE ATTR void rows_##isa(const mimic__mv *a, size_t j0, size_t j1, const int R, int dt)     \
    {                                                                                              \
        const size_t jb = (size_t)(JB_OF(R));                                                      \
        size_t j = j0;                                                                             \
        for (; j + jb <= j1; j += jb)                                                              \
            block_##isa(a, j, JB_OF(R), R, dt);                                                    \
        for (; j < j1; j++)                                                                        \
            block_##isa(a, j, 1, R, dt);                                                           \
    }                                                                                              \
    INLINE ATTR void mv_##isa(const mimic__mv *a, size_t j0, size_t j1, int dt)                    \
    {                                                                                              \
        switch (a->R) {                                                                            \
        case 1: rows_##isa(a, j0, j1, 1, dt); break;                                               \
        case 2: rows_##isa(a, j0, j1, 2, dt); break;                                               \
        case 3: rows_##isa(a, j0, j1, 3, dt); break;                                               \
        default: rows_##isa(a, j0, j1, 4, dt); break;                                              \
        }                                                                                          \
    }                                                                                              \
    ATTR static void isa##_f32(const mimic__mv *a, size_t j0, size_t j1)                           \
    {                                                                                              \
        mv_##isa(a, j0, j1, DT_F32);                                                               \
    }                                                                                              \
    ATTR static void isa##_f16(const mimic__mv *a, size_t j0, size_t j1)                           \
    {                                                                                              \
        mv_##isa(a, j0, j1, DT_F16);                                                               \
    }                                                                                              \
    ATTR static void isa##_i8(const mimic__mv *a, size_t j0, size_t j1)                            \
    {                                                                                              \
        mv_##isa(a, j0, j1, DT_I8);                                                                \
    }

/* ---- portable C --------------------------------------------------------------------------- */

INLINE void load16(const void *row, size_t i, int dt, float *w)
{
    if (dt == DT_F32)
        memcpy(w, (const float *)row + i, LANES * sizeof(float));
    else if (dt == DT_F16)
        mimic__f16_to_f32_portable((const uint16_t *)row + i, w, LANES);
    else
        for (int l = 0; l < LANES; l++)
            w[l] = (float)((const int8_t *)row)[i + l];
}

/* One row of W (JB = 1), R input rows. */
INLINE void block_portable(const mimic__mv *a, size_t j, const int JB, const int R, int dt)
{
    (void)JB;
    const size_t kk = a->kk, kv = kk - kk % LANES;
    const void *row = w_row(a, j, dt);
    float acc[MIMIC__MV_MAX_ROWS][LANES] = {{0}};
    for (size_t i = 0; i < kv; i += LANES) {
        float w[LANES];
        load16(row, i, dt, w);
        for (int r = 0; r < R; r++) {
            const float *x = a->x + (size_t)r * a->ldx + i;
            for (int l = 0; l < LANES; l++)
                acc[r][l] = lane_step(acc[r][l], w[l], x[l], dt);
        }
    }
    for (int r = 0; r < R; r++) {
        float t8[8], t4[4], t2[2];
        for (int l = 0; l < 8; l++)
            t8[l] = acc[r][l] + acc[r][l + 8];
        for (int l = 0; l < 4; l++)
            t4[l] = t8[l] + t8[l + 4];
        for (int l = 0; l < 2; l++)
            t2[l] = t4[l] + t4[l + 2];
        a->y[(size_t)r * a->ldy + j] =
            finish(t2[0] + t2[1], acc[r], row, a->x + (size_t)r * a->ldx, kv, kk, a->scale, j, dt);
    }
}

#define PORTABLE /* no target attribute: the build's baseline */
#define JB_PORTABLE(R) 1
MV_ENTRIES(portable, PORTABLE, JB_PORTABLE)

#ifdef MV_X86

/* ---- AVX2: an accumulator is two ymm (lanes 0-7, 8-15) ------------------------------------ */

#define AVX2 __attribute__((target("avx2,f16c,fma")))

/* The tree of 8 lanes (the t8 of the 16): t4, t2, the sum. */
INLINE AVX2 float tree8(__m256 t8)
{
    __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
    __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_shuffle_ps(t2, t2, 1)));
}

/* Lanes 8h .. 8h + 7 of the 16 weights at row + i, as floats. */
INLINE AVX2 __m256 w256(const void *row, size_t i, int h, int dt)
{
    i += 8 * (size_t)h;
    if (dt == DT_F32)
        return _mm256_loadu_ps((const float *)row + i);
    if (dt == DT_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return _mm256_cvtepi32_ps(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)row + i))));
}

/* JB rows of W from j, R input rows: 2 * JB * R accumulators (at most 8 of the 16 ymm). */
INLINE AVX2 void block_avx2(const mimic__mv *a, size_t j, const int JB, const int R, int dt)
{
    const size_t kk = a->kk, kv = kk - kk % LANES;
    const void *rows[4];
    __m256 acc[4][4][2];
    for (int b = 0; b < JB; b++) {
        rows[b] = w_row(a, j + (size_t)b, dt);
        for (int r = 0; r < R; r++)
            acc[b][r][0] = acc[b][r][1] = _mm256_setzero_ps();
    }
    for (size_t i = 0; i < kv; i += LANES)
        for (int b = 0; b < JB; b++)
            for (int h = 0; h < 2; h++) {
                const __m256 w = w256(rows[b], i, h, dt);
                for (int r = 0; r < R; r++) {
                    const __m256 x = _mm256_loadu_ps(a->x + (size_t)r * a->ldx + i + 8 * h);
                    acc[b][r][h] = dt == DT_F32 ? _mm256_add_ps(acc[b][r][h], _mm256_mul_ps(w, x))
                                                : _mm256_fmadd_ps(w, x, acc[b][r][h]);
                }
            }
    for (int b = 0; b < JB; b++)
        for (int r = 0; r < R; r++) {
            float lanes[LANES], sum = 0.0f;
            if (dt == DT_F32) {
                _mm256_storeu_ps(lanes, acc[b][r][0]);
                _mm256_storeu_ps(lanes + 8, acc[b][r][1]);
            } else {
                sum = tree8(_mm256_add_ps(acc[b][r][0], acc[b][r][1]));
            }
            a->y[(size_t)r * a->ldy + j + (size_t)b] =
                finish(sum, lanes, rows[b], a->x + (size_t)r * a->ldx, kv, kk, a->scale,
                       j + (size_t)b, dt);
        }
}

#define JB_AVX2(R) ((R) == 1 ? 4 : (R) == 2 ? 2 : 1)
MV_ENTRIES(avx2, AVX2, JB_AVX2)

/* ---- AVX-512: an accumulator is one zmm ---------------------------------------------------- */

#define AVX512 __attribute__((target("avx512f,fma")))

/* The tree of 16 lanes: t8, t4, t2, the sum. */
INLINE AVX512 float tree16(__m512 v)
{
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 t8 = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
    __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
    __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_shuffle_ps(t2, t2, 1)));
}

INLINE AVX512 __m512 w512(const void *row, size_t i, int dt)
{
    if (dt == DT_F32)
        return _mm512_loadu_ps((const float *)row + i);
    if (dt == DT_F16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
    return _mm512_cvtepi32_ps(
        _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)row + i))));
}

/* JB rows of W from j, R input rows: JB * R accumulators (at most 16 of the 32 zmm). */
INLINE AVX512 void block_avx512(const mimic__mv *a, size_t j, const int JB, const int R, int dt)
{
    const size_t kk = a->kk, kv = kk - kk % LANES;
    const void *rows[4];
    __m512 acc[4][4];
    for (int b = 0; b < JB; b++) {
        rows[b] = w_row(a, j + (size_t)b, dt);
        for (int r = 0; r < R; r++)
            acc[b][r] = _mm512_setzero_ps();
    }
    for (size_t i = 0; i < kv; i += LANES) {
        __m512 x[4];
        for (int r = 0; r < R; r++)
            x[r] = _mm512_loadu_ps(a->x + (size_t)r * a->ldx + i);
        for (int b = 0; b < JB; b++) {
            const __m512 w = w512(rows[b], i, dt);
            for (int r = 0; r < R; r++)
                acc[b][r] = dt == DT_F32 ? _mm512_add_ps(acc[b][r], _mm512_mul_ps(w, x[r]))
                                         : _mm512_fmadd_ps(w, x[r], acc[b][r]);
        }
    }
    for (int b = 0; b < JB; b++)
        for (int r = 0; r < R; r++) {
            float lanes[LANES], sum = 0.0f;
            if (dt == DT_F32)
                _mm512_storeu_ps(lanes, acc[b][r]);
            else
                sum = tree16(acc[b][r]);
            a->y[(size_t)r * a->ldy + j + (size_t)b] =
                finish(sum, lanes, rows[b], a->x + (size_t)r * a->ldx, kv, kk, a->scale,
                       j + (size_t)b, dt);
        }
}

#define JB_AVX512(R) 4
MV_ENTRIES(avx512, AVX512, JB_AVX512)

#endif /* MV_X86 */

/* ---- the table ---------------------------------------------------------------------------- */

static const mimic__mv_kernels kernels[MIMIC__ISA_COUNT] = {
    {"portable", portable_f32, portable_f16, portable_i8},
#ifdef MV_X86
    {"avx2", avx2_f32, avx2_f16, avx2_i8},
    {"avx512", avx512_f32, avx512_f16, avx512_i8},
#endif
};

const mimic__mv_kernels *mimic__mv_kernels_of(int isa)
{
    if (isa < 0 || isa >= MIMIC__ISA_COUNT || !kernels[isa].name)
        return NULL;
    return &kernels[isa];
}

const mimic__mv_kernels *mimic__mv_kernels_best(void)
{
    int isa = mimic__cpu_isa();
    while (!mimic__mv_kernels_of(isa))
        isa--;
    return &kernels[isa];
}
