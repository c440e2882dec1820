/* Status codes, last error, version, versioned options structs, allocation hook, small
 * helpers. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "testutil.h"

START_TEST(test_version)
{
    ck_assert_str_eq(mimic_version_string(), MIMIC_VERSION_STRING);
    ck_assert_int_eq(mimic_version_number(), MIMIC_VERSION_NUMBER);
    ck_assert_int_eq(MIMIC_VERSION_NUMBER,
                     MIMIC_VERSION_MAJOR * 10000 + MIMIC_VERSION_MINOR * 100 + MIMIC_VERSION_PATCH);
}
END_TEST

START_TEST(test_status_str)
{
    for (int c = MIMIC_OK; c >= MIMIC_ERR_INTERNAL; c--) {
        const char *s = mimic_status_str(c);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "unknown status");
    }
    ck_assert_str_eq(mimic_status_str(-1000), "unknown status");
    ck_assert_str_eq(mimic_status_str(5), "unknown status");
    ck_assert_str_eq(mimic_status_str(MIMIC_ERR_NOMEM), "out of memory");
}
END_TEST

static void *other_thread(void *arg)
{
    (void)arg;
    /* A fresh thread starts with an empty message: the slot is thread-local. */
    const char *m = mimic_last_error();
    return (void *)(uintptr_t)(m != NULL && m[0] == '\0');
}

START_TEST(test_last_error_thread_local)
{
    ck_assert_ptr_nonnull(mimic_last_error());
    ck_assert_int_eq(mimic__error(MIMIC_ERR_SHAPE, "%s: %d rows, but %s has %d", "z.npy", 99,
                                  "x.npy", 100),
                     MIMIC_ERR_SHAPE);
    ck_assert_str_eq(mimic_last_error(), "z.npy: 99 rows, but x.npy has 100");
    pthread_t t;
    void *ok = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &ok);
    ck_assert(ok != NULL);
    ck_assert_str_eq(mimic_last_error(), "z.npy: 99 rows, but x.npy has 100");
}
END_TEST

START_TEST(test_last_error_truncates_long_messages)
{
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mimic__error(MIMIC_ERR_IO, "%s", big);
    size_t n = strlen(mimic_last_error());
    ck_assert(n > 100 && n < sizeof big - 1);
}
END_TEST

typedef struct v2 {
    size_t struct_size;
    int64_t a;
    int64_t b; /* "new" field */
} v2;
typedef struct v1 {
    size_t struct_size;
    int64_t a;
} v1;
typedef struct v3 {
    size_t struct_size;
    int64_t a;
    int64_t b;
    int64_t c; /* unknown to the library */
} v3;

START_TEST(test_options_copy)
{
    v2 ours = {sizeof(v2), 1, 2};
    v1 old = {sizeof(v1), 7};
    ck_assert_int_eq(mimic__struct_copy_in(&ours, sizeof ours, &old, "opts"), MIMIC_OK);
    ck_assert_int_eq((int)ours.a, 7);
    ck_assert_int_eq((int)ours.b, 2); /* default kept for the field the caller does not know */
    ck_assert_uint_eq(ours.struct_size, sizeof(v2));

    v3 newer = {sizeof(v3), 5, 6, 0};
    ck_assert_int_eq(mimic__struct_copy_in(&ours, sizeof ours, &newer, "opts"), MIMIC_OK);
    ck_assert_int_eq((int)ours.b, 6);
    newer.c = 1;
    ck_assert_int_eq(mimic__struct_copy_in(&ours, sizeof ours, &newer, "opts"), MIMIC_ERR_VERSION);
    ck_assert(strstr(mimic_last_error(), "opts") != NULL);

    v1 bad = {0, 0};
    ck_assert_int_eq(mimic__struct_copy_in(&ours, sizeof ours, &bad, "opts"), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic__struct_copy_in(&ours, sizeof ours, NULL, "opts"), MIMIC_ERR_INVALID);
}
END_TEST

START_TEST(test_alloc_fail_injection)
{
    mimic__alloc_fail_at(0);
    void *a = mimic__malloc(10);
    ck_assert_ptr_nonnull(a);
    mimic__free(a);
    ck_assert_uint_eq(mimic__alloc_fail_at(2), 1);
    void *b = mimic__malloc(10);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(mimic__calloc(1, 1));
    ck_assert_ptr_null(mimic__aligned_alloc(100)); /* every allocation after the n-th fails */
    ck_assert_uint_eq(mimic__alloc_fail_at(0), 3);
    mimic__free(b);
    ck_assert_ptr_null(mimic__calloc(SIZE_MAX / 2, 3)); /* overflow is a failure, not a wrap */
    void *c = mimic__aligned_alloc(100);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq((uintptr_t)c % 64, 0);
    mimic__free(c);
}
END_TEST

START_TEST(test_rng_deterministic)
{
    mimic__rng a, b;
    mimic__rng_seed(&a, 42);
    mimic__rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(mimic__rng_next(&a), mimic__rng_next(&b));
    mimic__rng_seed(&b, 43);
    ck_assert_uint_ne(mimic__rng_next(&a), mimic__rng_next(&b));
    double sum = 0, sq = 0;
    int counts[7] = {0};
    for (int i = 0; i < 20000; i++) {
        double z = mimic__rng_normal(&a);
        sum += z;
        sq += z * z;
        counts[mimic__rng_below(&a, 7)]++;
    }
    ck_assert_double_lt(sum / 20000 < 0 ? -sum / 20000 : sum / 20000, 0.05);
    ck_assert_double_lt(sq / 20000 > 1 ? sq / 20000 - 1 : 1 - sq / 20000, 0.05);
    for (int i = 0; i < 7; i++)
        ck_assert_int_gt(counts[i], 2500);
}
END_TEST

/* Option-name lists of the descriptors: whole words only, any spacing, NULL and "" empty. */
START_TEST(test_name_in)
{
    ck_assert(mimic__name_in("adam_beta1 adam_beta2 adam_eps", "adam_beta2"));
    ck_assert(mimic__name_in("adam_beta1 adam_beta2 adam_eps", "adam_eps"));
    ck_assert(mimic__name_in("  temperature   hard_weight ", "hard_weight"));
    ck_assert(!mimic__name_in("adam_beta1 adam_beta2", "adam_beta"));
    ck_assert(!mimic__name_in("adam_beta1", "adam_beta12"));
    ck_assert(!mimic__name_in("", "momentum"));
    ck_assert(!mimic__name_in(NULL, "momentum"));
}
END_TEST

/* ---- float16 ---------------------------------------------------------------------------- */

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static float float_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

START_TEST(test_f16_widen_every_value)
{
    static uint16_t h[65536];
    static float portable[65536], fast[65536], api[65536];
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    mimic__f16_to_f32_portable(h, portable, 65536);
    mimic__f16_to_f32_f16c(h, fast, 65536); /* the portable path where F16C is missing */
    mimic_f16_to_f32(h, api, 65536);
    for (uint32_t i = 0; i < 65536; i++) {
        ck_assert_msg(bits_of(portable[i]) == bits_of(fast[i]), "0x%04x: %08x vs F16C %08x", i,
                      bits_of(portable[i]), bits_of(fast[i]));
        ck_assert_uint_eq(bits_of(api[i]), bits_of(portable[i]));
        ck_assert_int_eq(mimic__f16_finite(h[i]), isfinite(portable[i]) ? 1 : 0);
    }
    ck_assert_float_eq(portable[0x3c00], 1.0f);
    ck_assert_float_eq(portable[0xc000], -2.0f);
    ck_assert_float_eq(portable[0x7bff], 65504.0f);
    ck_assert_float_eq(portable[0x0001], ldexpf(1.0f, -24)); /* the smallest subnormal */
    ck_assert_float_eq(portable[0x03ff], ldexpf(1023.0f, -24));
    ck_assert_uint_eq(bits_of(portable[0x8000]), 0x80000000u); /* -0 */
    ck_assert(isinf(portable[0x7c00]) && portable[0x7c00] > 0);
    ck_assert(isinf(portable[0xfc00]) && portable[0xfc00] < 0);
    ck_assert(isnan(portable[0x7e00]));
    printf("F16C %s on this CPU\n", mimic__f16c_available() ? "used" : "absent: portable path");
}
END_TEST

START_TEST(test_f16_narrow)
{
    /* every finite float16 survives the round trip */
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        if (!mimic__f16_finite(h))
            continue;
        float f;
        mimic__f16_to_f32_portable(&h, &f, 1);
        ck_assert_msg(mimic__f32_to_f16(f) == h, "0x%04x -> %g -> 0x%04x", i, (double)f,
                      mimic__f32_to_f16(f));
    }
    /* ties to even, overflow, underflow, subnormals */
    ck_assert_uint_eq(mimic__f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);     /* tie: even */
    ck_assert_uint_eq(mimic__f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02); /* tie: even */
    ck_assert_uint_eq(mimic__f32_to_f16(1.0f + ldexpf(1.0f, -11) + ldexpf(1.0f, -20)), 0x3c01);
    ck_assert_uint_eq(mimic__f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(mimic__f32_to_f16(65520.0f), 0x7c00); /* rounds up to infinity */
    ck_assert_uint_eq(mimic__f32_to_f16(-1e10f), 0xfc00);
    ck_assert_uint_eq(mimic__f32_to_f16(ldexpf(1.0f, -25)), 0x0000); /* tie with 0: even */
    ck_assert_uint_eq(mimic__f32_to_f16(ldexpf(1.5f, -25)), 0x0001);
    ck_assert_uint_eq(mimic__f32_to_f16(-ldexpf(3.0f, -25)), 0x8002); /* tie: even */
    ck_assert_uint_eq(mimic__f32_to_f16(ldexpf(1023.5f, -24)), 0x0400); /* to the normals */
    ck_assert_uint_eq(mimic__f32_to_f16(float_of(0x7fc00000u)) & 0x7e00u, 0x7e00u); /* NaN */
    float src[3] = {0.5f, -3.25f, 1e-3f};
    uint16_t dst[3];
    mimic_f32_to_f16(src, dst, 3);
    ck_assert(dst[0] == 0x3800 && dst[1] == 0xc280 && dst[2] == mimic__f32_to_f16(1e-3f));
}
END_TEST

/* NumPy's conversions, both ways, on every float16 and on float32 values of every kind. */
START_TEST(test_f16_as_numpy)
{
    TU_NEEDS_PYTHON("numpy");
    const char *pw = tu_path("f16_all.npy"), *pf = tu_path("f16_all_f32.npy"),
               *px = tu_path("f32_many.npy"), *pn = tu_path("f32_many_f16.npy");
    static const char script[] =
        "import sys, numpy as np\n"
        "h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)\n"
        "np.save(sys.argv[1], h)\n"
        "with np.errstate(all='ignore'):\n"
        "    np.save(sys.argv[2], h.astype(np.float32))\n"
        "rng = np.random.default_rng(3)\n"
        "bits = rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32)\n"
        "x = bits.view(np.float32)\n"
        "x = x[np.isfinite(x)]\n"
        "extra = np.array([65504, 65519, 65520, 1e-8, 2**-25, 3 * 2**-25, 1 + 2**-11], np.float32)\n"
        "near = (rng.standard_normal(100000) * 10).astype(np.float32)\n"
        "x = np.concatenate([x, extra, near, -near])\n"
        "np.save(sys.argv[3], x)\n"
        "with np.errstate(all='ignore'):\n"
        "    np.save(sys.argv[4], x.astype(np.float16))\n";
    const char *args[4] = {pw, pf, px, pn};
    ck_assert_int_eq(tu_python(script, args, 4), 0);
    mimic_array *a = NULL, *b = NULL;
    ck_assert_int_eq(mimic_array_load(&a, pw), MIMIC_OK);
    ck_assert_int_eq(mimic_array_load(&b, pf), MIMIC_OK);
    ck_assert_int_eq(mimic_array_dtype(a), MIMIC_DTYPE_F16);
    float *mine = malloc(65536 * sizeof *mine);
    ck_assert_int_eq(mimic_array_to_f32(a, 0, 65536, mine), MIMIC_OK);
    const float *np32 = mimic_array_data(b);
    for (size_t i = 0; i < 65536; i++) /* NaNs: NaN (NumPy may or may not quiet them) */
        ck_assert_msg(isnan(np32[i]) ? isnan(mine[i]) : bits_of(mine[i]) == bits_of(np32[i]),
                      "0x%04zx: %08x, NumPy %08x", i, bits_of(mine[i]), bits_of(np32[i]));
    free(mine);
    mimic_array_free(a);
    mimic_array_free(b);
    ck_assert_int_eq(mimic_array_load(&a, px), MIMIC_OK);
    ck_assert_int_eq(mimic_array_load(&b, pn), MIMIC_OK);
    size_t n = mimic_array_rows(a);
    const float *x = mimic_array_data(a);
    const uint16_t *want = mimic_array_data(b);
    uint16_t *got = malloc(n * sizeof *got);
    mimic_f32_to_f16(x, got, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%.9g: 0x%04x, NumPy 0x%04x", (double)x[i], got[i],
                      want[i]);
    free(got);
    mimic_array_free(a);
    mimic_array_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_status_str);
    tcase_add_test(tc, test_last_error_thread_local);
    tcase_add_test(tc, test_last_error_truncates_long_messages);
    tcase_add_test(tc, test_options_copy);
    tcase_add_test(tc, test_alloc_fail_injection);
    tcase_add_test(tc, test_rng_deterministic);
    tcase_add_test(tc, test_name_in);
    tcase_add_test(tc, test_f16_widen_every_value);
    tcase_add_test(tc, test_f16_narrow);
    tcase_add_test(tc, test_f16_as_numpy);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
