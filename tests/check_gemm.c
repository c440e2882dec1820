/* The inference GEMM (lib/model/gemm.c): the portable kernel against the sums gemm.c
 * documents (bitwise) and a double reference; every instruction set this CPU runs against the
 * portable one, bitwise, for every tile edge and any range of W's rows; rows outside the
 * range untouched. Activations in panels of MIMIC__GEMM_PANEL columns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"
#include "testutil.h"

/* rows of W, row length, columns: tile edges of both kernels (12 x 32, 6 x 16) and a block
 * larger than one L2 block of rows */
static const size_t SHAPES[][3] = {{1, 1, 1},   {5, 3, 7},     {12, 17, 32}, {13, 33, 33},
                                   {6, 64, 16}, {25, 100, 47}, {40, 9, 70},  {300, 784, 20}};

#define PANEL MIMIC__GEMM_PANEL

typedef struct gcase {
    size_t n, kk, m, ldw, panels;
    float *w, *xt, *bias;
} gcase;

static size_t xi(const gcase *c, size_t i, size_t col)
{
    return (col / PANEL) * c->kk * PANEL + i * PANEL + col % PANEL;
}

static size_t yi(const gcase *c, size_t j, size_t col)
{
    return (col / PANEL) * c->n * PANEL + j * PANEL + col % PANEL;
}

static void make(gcase *c, const size_t *shape, uint64_t seed)
{
    c->n = shape[0];
    c->kk = shape[1];
    c->m = shape[2];
    c->ldw = c->kk + 2;
    c->panels = (c->m + PANEL - 1) / PANEL;
    c->w = malloc(c->n * c->ldw * sizeof(float));
    c->xt = malloc(c->panels * c->kk * PANEL * sizeof(float));
    c->bias = malloc(c->n * sizeof(float));
    tu_fill_uniform(c->w, c->n * c->ldw, -1, 1, seed);
    tu_fill_uniform(c->xt, c->panels * c->kk * PANEL, -2, 2, seed + 1); /* padding too */
    tu_fill_uniform(c->bias, c->n, -3, 3, seed + 2);
}

static void release(gcase *c)
{
    free(c->w);
    free(c->xt);
    free(c->bias);
}

/* Y^T from kernel f over rows [j0, j1); everything else starts as NaN. */
static float *run(const gcase *c, mimic__gemm_fn f, int bias, int relu, size_t j0, size_t j1)
{
    const size_t size = c->panels * c->n * PANEL;
    float *y = malloc(size * sizeof(float));
    for (size_t i = 0; i < size; i++)
        y[i] = NAN;
    const mimic__gemm g = {c->w,     c->ldw, c->kk, c->xt, c->m, y, c->n, bias ? c->bias : NULL,
                           relu != 0};
    f(&g, j0, j1);
    return y;
}

START_TEST(test_portable_is_the_documented_sum)
{
    mimic__gemm_fn p = mimic__gemm_of(MIMIC__ISA_PORTABLE);
    ck_assert(p != NULL);
    for (size_t s = 0; s < MIMIC__ARRAY_LEN(SHAPES); s++)
        for (int v = 0; v < 4; v++) {
            gcase c;
            make(&c, SHAPES[s], 10 * s + (size_t)v);
            float *y = run(&c, p, v & 1, v & 2, 0, c.n);
            for (size_t j = 0; j < c.n; j++)
                for (size_t col = 0; col < c.m; col++) {
                    float want = 0.0f;
                    double ref = 0;
                    for (size_t i = 0; i < c.kk; i++) {
                        want = fmaf(c.w[j * c.ldw + i], c.xt[xi(&c, i, col)], want);
                        ref += (double)c.w[j * c.ldw + i] * c.xt[xi(&c, i, col)];
                    }
                    if (v & 1) {
                        want = want + c.bias[j];
                        ref += c.bias[j];
                    }
                    if (v & 2) {
                        want = want > 0 ? want : 0;
                        ref = ref > 0 ? ref : 0;
                    }
                    const float got = y[yi(&c, j, col)];
                    ck_assert_msg(memcmp(&got, &want, 4) == 0, "%zux%zux%zu y[%zu][%zu] %a vs %a",
                                  c.n, c.kk, c.m, j, col, (double)got, (double)want);
                    ck_assert_double_le(fabs(got - ref),
                                        1e-5 * (double)(c.kk + 1) * (1 + fabs(ref)));
                }
            free(y);
            release(&c);
        }
}
END_TEST

START_TEST(test_every_isa_matches_portable)
{
    mimic__gemm_fn p = mimic__gemm_of(MIMIC__ISA_PORTABLE);
    int tested = 0;
    for (int isa = MIMIC__ISA_PORTABLE + 1; isa < MIMIC__ISA_COUNT; isa++) {
        mimic__gemm_fn f = mimic__gemm_of(isa);
        if (!f || isa > mimic__cpu_isa()) {
            fprintf(stderr, "SKIP %s: this CPU or build lacks instruction set %d\n", __func__, isa);
            continue;
        }
        tested++;
        for (size_t s = 0; s < MIMIC__ARRAY_LEN(SHAPES); s++)
            for (int v = 0; v < 4; v++) {
                gcase c;
                make(&c, SHAPES[s], 100 + 10 * s + (size_t)v);
                const size_t j0 = c.n / 3, j1 = c.n - c.n / 5;
                float *want = run(&c, p, v & 1, v & 2, j0, j1);
                float *got = run(&c, f, v & 1, v & 2, j0, j1);
                for (size_t j = 0; j < c.n; j++)
                    for (size_t col = 0; col < c.panels * PANEL; col++) {
                        const float a = want[yi(&c, j, col)], b = got[yi(&c, j, col)];
                        if (j < j0 || j >= j1) { /* outside the rows: untouched */
                            ck_assert_msg(isnan(b), "isa %d wrote row %zu outside [%zu, %zu)", isa,
                                          j, j0, j1);
                            continue;
                        }
                        if (col >= c.m) /* padding: any finite value */
                            continue;
                        ck_assert_msg(memcmp(&a, &b, 4) == 0,
                                      "isa %d %zux%zux%zu rows [%zu, %zu) bias %d relu %d: "
                                      "y[%zu][%zu] = %a, portable %a",
                                      isa, c.n, c.kk, c.m, j0, j1, v & 1, (v & 2) != 0, j, col,
                                      (double)b, (double)a);
                    }
                free(want);
                free(got);
                release(&c);
            }
    }
    if (mimic__cpu_isa() > MIMIC__ISA_PORTABLE)
        ck_assert_int_gt(tested, 0);
}
END_TEST

START_TEST(test_best)
{
    ck_assert(mimic__gemm_best() != NULL);
    if (mimic__gemm_of(mimic__cpu_isa()))
        ck_assert(mimic__gemm_best() == mimic__gemm_of(mimic__cpu_isa()));
    ck_assert(mimic__gemm_of(MIMIC__ISA_COUNT) == NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_portable_is_the_documented_sum);
    tcase_add_test(tc, test_every_isa_matches_portable);
    tcase_add_test(tc, test_best);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
