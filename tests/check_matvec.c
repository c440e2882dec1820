/* The small-batch kernels (lib/model/matvec.c): every instruction set's implementation that
 * this CPU runs against the portable one, bitwise; the portable one against the summation
 * order matvec.c documents, bitwise, and against a double reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"
#include "testutil.h"

enum { DT_F32, DT_F16, DT_I8, DT_COUNT };
static const char *const DT_NAME[DT_COUNT] = {"f32", "f16", "i8"};

/* Shapes (rows of W, row length) with and without a tail below 16, one of the bench's. */
static const size_t SHAPES[][2] = {{1, 1},  {3, 15},   {4, 16},  {5, 17},
                                   {9, 33}, {13, 100}, {8, 784}, {37, 256}};

typedef struct case_data {
    size_t n, kk, ldw, ldx, ldy;
    float *wf;    /* n x ldw floats: the weights as the kernels read them, widened */
    void *w;      /* n x ldw in the type under test */
    float *scale; /* n */
    float *x;     /* 4 x ldx */
} case_data;

static void make_case(case_data *c, size_t n, size_t kk, int dt, uint64_t seed)
{
    c->n = n;
    c->kk = kk;
    c->ldw = kk + 3; /* rows apart by more than their length: ldw is honoured */
    c->ldx = kk + 5;
    c->ldy = n + 2;
    c->wf = malloc(n * c->ldw * sizeof(float));
    c->scale = malloc(n * sizeof(float));
    c->x = malloc(MIMIC__MV_MAX_ROWS * c->ldx * sizeof(float));
    tu_fill_uniform(c->wf, n * c->ldw, -1.0f, 1.0f, seed);
    tu_fill_uniform(c->x, MIMIC__MV_MAX_ROWS * c->ldx, -2.0f, 2.0f, seed + 1);
    tu_fill_uniform(c->scale, n, 0.001f, 0.05f, seed + 2);
    size_t size = dt == DT_F32 ? 4 : dt == DT_F16 ? 2 : 1;
    c->w = malloc(n * c->ldw * size);
    for (size_t i = 0; i < n * c->ldw; i++) {
        if (dt == DT_F16) {
            uint16_t h = mimic__f32_to_f16(c->wf[i]);
            ((uint16_t *)c->w)[i] = h;
            mimic__f16_to_f32_portable(&h, &c->wf[i], 1);
        } else if (dt == DT_I8) {
            int8_t q = (int8_t)lrintf(c->wf[i] * 127.0f);
            ((int8_t *)c->w)[i] = q;
            c->wf[i] = (float)q;
        } else {
            ((float *)c->w)[i] = c->wf[i];
        }
    }
}

static void free_case(case_data *c)
{
    free(c->wf);
    free(c->w);
    free(c->scale);
    free(c->x);
}

static mimic__mv_fn pick(const mimic__mv_kernels *k, int dt)
{
    return dt == DT_F32 ? k->f32 : dt == DT_F16 ? k->f16 : k->i8;
}

/* y (R rows, ldy apart) from kernel f over rows [j0, j1); the rest of y stays NaN. */
static float *run(const case_data *c, mimic__mv_fn f, size_t R, size_t j0, size_t j1)
{
    float *y = malloc(R * c->ldy * sizeof(float));
    for (size_t i = 0; i < R * c->ldy; i++)
        y[i] = NAN;
    const mimic__mv a = {c->w, c->scale, c->ldw, c->kk, c->x, c->ldx, R, y, c->ldy};
    f(&a, j0, j1);
    return y;
}

/* The order matvec.c documents, spelled out one float operation at a time: float32 weights
 * with rounded products and the lanes added in order, the others fused (fmaf) and the lanes
 * added as a tree. */
static float documented(const case_data *c, size_t j, size_t r, int dt)
{
    const float *w = c->wf + j * c->ldw, *x = c->x + r * c->ldx;
    const size_t kv = c->kk - c->kk % 16;
    float lane[16] = {0}, s = 0.0f;
    for (size_t i = 0; i < kv; i++) {
        volatile float p = w[i] * x[i]; /* rounded before the add */
        lane[i % 16] = dt == DT_F32 ? lane[i % 16] + p : fmaf(w[i], x[i], lane[i % 16]);
    }
    if (dt == DT_F32) {
        for (int l = 0; l < 16; l++)
            s = s + lane[l];
    } else {
        float t8[8], t4[4], t2[2];
        for (int l = 0; l < 8; l++)
            t8[l] = lane[l] + lane[l + 8];
        for (int l = 0; l < 4; l++)
            t4[l] = t8[l] + t8[l + 4];
        for (int l = 0; l < 2; l++)
            t2[l] = t4[l] + t4[l + 2];
        s = t2[0] + t2[1];
    }
    for (size_t i = kv; i < c->kk; i++) {
        volatile float p = w[i] * x[i];
        s = dt == DT_F32 ? s + p : fmaf(w[i], x[i], s);
    }
    return dt == DT_I8 ? s * c->scale[j] : s;
}

START_TEST(test_portable_is_the_documented_sum)
{
    const mimic__mv_kernels *p = mimic__mv_kernels_of(MIMIC__ISA_PORTABLE);
    ck_assert_ptr_nonnull(p);
    for (int dt = 0; dt < DT_COUNT; dt++)
        for (size_t s = 0; s < MIMIC__ARRAY_LEN(SHAPES); s++)
            for (size_t R = 1; R <= MIMIC__MV_MAX_ROWS; R++) {
                case_data c;
                make_case(&c, SHAPES[s][0], SHAPES[s][1], dt, 10 * s + (size_t)dt);
                float *y = run(&c, pick(p, dt), R, 0, c.n);
                for (size_t r = 0; r < R; r++)
                    for (size_t j = 0; j < c.n; j++) {
                        float want = documented(&c, j, r, dt);
                        ck_assert_msg(memcmp(&y[r * c.ldy + j], &want, 4) == 0,
                                      "%s %zux%zu R=%zu y[%zu][%zu] = %a, documented %a",
                                      DT_NAME[dt], c.n, c.kk, R, r, j, (double)y[r * c.ldy + j],
                                      (double)want);
                        /* and close to the exact sum */
                        double ref = 0;
                        for (size_t i = 0; i < c.kk; i++)
                            ref += (double)c.wf[j * c.ldw + i] * c.x[r * c.ldx + i];
                        if (dt == DT_I8)
                            ref *= c.scale[j];
                        ck_assert_double_le(fabs(y[r * c.ldy + j] - ref),
                                            1e-5 * (1 + fabs(ref)) * (dt == DT_I8 ? 127 : 1));
                    }
                free(y);
                free_case(&c);
            }
}
END_TEST

/* Each instruction set this CPU has gives the portable bits, for every row count, over any
 * range of W's rows (how threads split a layer), and writes nothing outside the range. */
START_TEST(test_every_isa_matches_portable)
{
    const mimic__mv_kernels *p = mimic__mv_kernels_of(MIMIC__ISA_PORTABLE);
    int tested = 0;
    for (int isa = MIMIC__ISA_PORTABLE + 1; isa < MIMIC__ISA_COUNT; isa++) {
        const mimic__mv_kernels *k = mimic__mv_kernels_of(isa);
        if (!k || isa > mimic__cpu_isa()) {
            fprintf(stderr, "SKIP %s: this CPU or build has no %s kernels\n", __func__,
                    k ? k->name : "such");
            continue;
        }
        tested++;
        for (int dt = 0; dt < DT_COUNT; dt++)
            for (size_t s = 0; s < MIMIC__ARRAY_LEN(SHAPES); s++)
                for (size_t R = 1; R <= MIMIC__MV_MAX_ROWS; R++) {
                    case_data c;
                    make_case(&c, SHAPES[s][0], SHAPES[s][1], dt, 100 + s + (size_t)dt);
                    const size_t j0 = c.n / 3, j1 = c.n - c.n / 4;
                    float *want = run(&c, pick(p, dt), R, j0, j1);
                    float *got = run(&c, pick(k, dt), R, j0, j1);
                    for (size_t i = 0; i < R * c.ldy; i++) {
                        int same =
                            memcmp(&want[i], &got[i], 4) == 0 || (isnan(want[i]) && isnan(got[i]));
                        ck_assert_msg(same,
                                      "%s %s %zux%zu R=%zu rows [%zu, %zu): y[%zu] = %a, "
                                      "portable %a",
                                      k->name, DT_NAME[dt], c.n, c.kk, R, j0, j1, i, (double)got[i],
                                      (double)want[i]);
                    }
                    free(want);
                    free(got);
                    free_case(&c);
                }
    }
    if (mimic__cpu_isa() > MIMIC__ISA_PORTABLE)
        ck_assert_int_gt(tested, 0);
}
END_TEST

/* The best kernels are those of the CPU's instruction set. */
START_TEST(test_best_is_the_cpus)
{
    const mimic__mv_kernels *b = mimic__mv_kernels_best();
    ck_assert_ptr_nonnull(b);
    const mimic__mv_kernels *k = mimic__mv_kernels_of(mimic__cpu_isa());
    if (k)
        ck_assert_ptr_eq(b, k);
    ck_assert_ptr_null(mimic__mv_kernels_of(MIMIC__ISA_COUNT));
    ck_assert_ptr_null(mimic__mv_kernels_of(-1));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("matvec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_portable_is_the_documented_sum);
    tcase_add_test(tc, test_every_isa_matches_portable);
    tcase_add_test(tc, test_best_is_the_cpus);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
