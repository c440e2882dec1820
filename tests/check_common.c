/* Status codes, last error, version, versioned options structs, allocation hook, small
 * helpers. */
#include <pthread.h>
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
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
