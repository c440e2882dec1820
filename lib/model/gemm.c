/*
 * The inference GEMM: Y^T (n x m) = W (n x kk) . X^T (kk x m) over a range of W's rows, then
 * + bias and, for ReLU, the activation, for the forward pass of more than 4 rows.
 *
 * Activations are kept transposed, in panels of MIMIC__GEMM_PANEL (32) columns: a panel is
 * the rows of a layer for 32 rows of the batch, row-major (32 floats a row), so a kernel
 * walks its input panel from start to end, and a layer's output panels are the next layer's
 * input as they are. A unit's bias is one number per row, and W's rows are read as they are
 * stored (nn.Linear's out x in), one broadcast element at a time. The columns of the last
 * panel past m are padding: kernels read them and may write any finite value there.
 *
 * One implementation per instruction set, each written for its registers and chosen at run
 * time like the small-batch kernels (matvec.c): AVX-512 (8 rows of W x 32 columns, 16 zmm
 * accumulators), AVX2 (6 x 16, 12 ymm) and portable C. All give the same bits in the columns
 * below m: an output is fma(W[j][kk-1], X[kk-1][c], ... fma(W[j][0], X[0][c], 0)), the
 * products fused and added in order of i (fmaf in the portable code, correctly rounded like
 * the hardware's FMA), then + bias[j] (one rounding), then max(v, 0) for ReLU (as
 * `v > 0 ? v : 0`). A split of W's rows or of the panels changes nothing.
 *
 * Blocking: the sums run over i in blocks of KC (a panel's KC rows stay in L1; a block's
 * partial sums wait in Y^T, and the next block continues them: the order of the additions
 * does not change), and W's rows in blocks whose KC columns stay in L2 while every panel
 * passes over them.
 */
#include <math.h>

#include "model/model.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

#define INLINE static inline __attribute__((always_inline))
#define PANEL MIMIC__GEMM_PANEL

/* Rows of X^T per block (32 KiB of a panel, in L1), and rows of W per block (their KC
 * columns: 192 KiB, in L2). */
#define KC 256
#define NB 192

static float finish(float v, const mimic__gemm *g, size_t j)
{
    if (g->bias)
        v += g->bias[j];
    return g->relu ? (v > 0.0f ? v : 0.0f) : v;
}

/* ---- portable C -------------------------------------------------------------------------- */

static void portable_f32(const mimic__gemm *g, size_t j0, size_t j1)
{
    for (size_t p = 0; p * PANEL < g->m; p++) {
        const float *x = g->xt + p * g->kk * PANEL;
        float *y = g->yt + p * g->ny * PANEL;
        const size_t cols = g->m - p * PANEL < PANEL ? g->m - p * PANEL : PANEL;
        for (size_t j = j0; j < j1; j++) {
            const float *w = g->w + j * g->ldw;
            for (size_t c = 0; c < cols; c++) {
                float acc = 0.0f;
                for (size_t i = 0; i < g->kk; i++)
                    acc = fmaf(w[i], x[i * PANEL + c], acc);
                y[j * PANEL + c] = finish(acc, g, j);
            }
        }
    }
}

#ifdef GEMM_X86

/* The part of a product a tile call computes: W's rows j .. j + rows - 1 over panel p, the
 * sums over i in [i0, i1), continuing the partial sums in Y^T unless i0 = 0, finished (bias,
 * ReLU) when i1 = kk. */
typedef struct tile_at {
    size_t j, rows, p, i0, i1;
} tile_at;

/* Rows [j0, j1) of W: blocks of KC columns of i, blocks of NB rows, every panel, MR rows at a
 * time. */
#define GEMM_WALK(TILE, MR)                                                                        \
    do {                                                                                           \
        const size_t nb = NB - NB % (MR);                                                          \
        for (size_t i0 = 0; i0 < g->kk; i0 += KC) {                                                \
            const size_t i1 = g->kk - i0 < KC ? g->kk : i0 + KC;                                   \
            for (size_t b0 = j0; b0 < j1; b0 += nb) {                                              \
                const size_t b1 = j1 - b0 < nb ? j1 : b0 + nb;                                     \
                for (size_t p = 0; p * PANEL < g->m; p++)                                          \
                    for (size_t j = b0; j < b1; j += (MR)) {                                       \
                        const tile_at t = {j, b1 - j < (MR) ? b1 - j : (MR), p, i0, i1};           \
                        TILE(g, &t);                                                               \
                    }                                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* The body of a tile kernel: R rows (a constant) of W over two vectors of type V of L lanes
 * from column `col` of panel t->p, with the instruction set's LOAD, STORE, SET1 (broadcast),
 * FMA, ADD, MAX and ZERO. Everything the loop over i uses is in registers (it stores
 * nothing). */
#define TILE_BODY(V, L, MR, col, LOAD, STORE, SET1, FMA, ADD, MAX, ZERO)                           \
    do {                                                                                           \
        V acc[MR][2];                                                                              \
        const size_t ldw = g->ldw, i1 = t->i1;                                                     \
        const float *w = g->w + t->j * ldw;                                                        \
        const float *x = g->xt + (t->p * g->kk + t->i0) * PANEL + (col);                           \
        float *y = g->yt + (t->p * g->ny + t->j) * PANEL + (col);                                  \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                        \
        {                                                                                          \
            acc[r][0] = t->i0 ? LOAD(y + r * PANEL) : ZERO();                                      \
            acc[r][1] = t->i0 ? LOAD(y + r * PANEL + (L)) : ZERO();                                \
        }                                                                                          \
        for (size_t i = t->i0; i < i1; i++, x += PANEL) {                                          \
            const V x0 = LOAD(x), x1 = LOAD(x + (L));                                              \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                    \
            {                                                                                      \
                const V a = SET1(w[(size_t)r * ldw + i]);                                          \
                acc[r][0] = FMA(a, x0, acc[r][0]);                                                 \
                acc[r][1] = FMA(a, x1, acc[r][1]);                                                 \
            }                                                                                      \
        }                                                                                          \
        const bool last = i1 == g->kk;                                                             \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++, y += PANEL)                            \
        {                                                                                          \
            V v0 = acc[r][0], v1 = acc[r][1];                                                      \
            if (last && g->bias) {                                                                 \
                const V b = SET1(g->bias[t->j + (size_t)r]);                                       \
                v0 = ADD(v0, b);                                                                   \
                v1 = ADD(v1, b);                                                                   \
            }                                                                                      \
            if (last && g->relu) { /* v > 0 ? v : 0, NaN -> 0 */                                   \
                v0 = MAX(v0, ZERO());                                                              \
                v1 = MAX(v1, ZERO());                                                              \
            }                                                                                      \
            STORE(y, v0);                                                                          \
            STORE(y + (L), v1);                                                                    \
        }                                                                                          \
    } while (0)

/* ---- AVX-512: 8 rows x 32 columns ------------------------------------------------------- */

#define AVX512 __attribute__((target("avx512f,fma")))
#define MR512 8

INLINE AVX512 void tile512(const mimic__gemm *g, const tile_at *t, const int R)
{
    TILE_BODY(__m512, 16, MR512, 0, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
              _mm512_fmadd_ps, _mm512_add_ps, _mm512_max_ps, _mm512_setzero_ps);
}

AVX512 static void tile512_any(const mimic__gemm *g, const tile_at *t)
{
    switch (t->rows) {
    case 8: tile512(g, t, 8); break;
    case 7: tile512(g, t, 7); break;
    case 6: tile512(g, t, 6); break;
    case 5: tile512(g, t, 5); break;
    case 4: tile512(g, t, 4); break;
    case 3: tile512(g, t, 3); break;
    case 2: tile512(g, t, 2); break;
    default: tile512(g, t, 1); break;
    }
}

AVX512 static void avx512_f32(const mimic__gemm *g, size_t j0, size_t j1)
{
    GEMM_WALK(tile512_any, MR512);
}

/* ---- AVX2: 6 rows x 16 columns, two tiles a panel --------------------------------------- */

#define AVX2 __attribute__((target("avx2,fma")))
#define MR2 6

INLINE AVX2 void tile2(const mimic__gemm *g, const tile_at *t, const int R, size_t half)
{
    TILE_BODY(__m256, 8, MR2, 16 * half, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
              _mm256_fmadd_ps, _mm256_add_ps, _mm256_max_ps, _mm256_setzero_ps);
}

AVX2 static void tile2_any(const mimic__gemm *g, const tile_at *t)
{
    for (size_t half = 0; half < 2 && t->p * PANEL + 16 * half < g->m; half++)
        switch (t->rows) {
        case 6: tile2(g, t, 6, half); break;
        case 5: tile2(g, t, 5, half); break;
        case 4: tile2(g, t, 4, half); break;
        case 3: tile2(g, t, 3, half); break;
        case 2: tile2(g, t, 2, half); break;
        default: tile2(g, t, 1, half); break;
        }
}

AVX2 static void avx2_f32(const mimic__gemm *g, size_t j0, size_t j1)
{
    GEMM_WALK(tile2_any, MR2);
}

#endif /* GEMM_X86 */

static const mimic__gemm_fn kernels[MIMIC__ISA_COUNT] = {
    portable_f32,
#ifdef GEMM_X86
    avx2_f32,
    avx512_f32,
#endif
};

mimic__gemm_fn mimic__gemm_of(int isa)
{
    return isa >= 0 && isa < MIMIC__ISA_COUNT ? kernels[isa] : NULL;
}

mimic__gemm_fn mimic__gemm_best(void)
{
    int isa = mimic__cpu_isa();
    while (!mimic__gemm_of(isa))
        isa--;
    return kernels[isa];
}
