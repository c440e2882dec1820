/* Datasets: create (copy), wrap (borrow), load_npy (mmap / convert), slices sharing
 * refcounted storage, getters, handle armor, every rejection with its fixture, and
 * allocation-failure injection. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "testutil.h"

#define BOGUS ((mimic_dataset *)(uintptr_t)0x1)

static const char *fixture(const char *name)
{
    static char slots[8][1024];
    static int next;
    char *p = slots[next++ % 8];
    snprintf(p, sizeof slots[0], "%s/npy/%s", MIMIC_TEST_DATA, name);
    return p;
}

/* The values the fixture script writes. */
static float x_val(size_t r, size_t c)
{
    return (float)(r * 3 + c) * 0.5f - 1.0f;
}
static float z_val(size_t r, size_t c)
{
    return (float)(r * 4 + c) * 0.25f - 2.0f;
}
static const int32_t y_vals[6] = {0, 1, 2, 3, 0, 1};

static void check_fixture_values(const mimic_dataset *d, size_t first_row, bool labels)
{
    const float *x = TU_INPUTS(d);
    for (size_t r = 0; r < d->rows; r++) {
        float z[4];
        mimic__logits_row(d, r, z); /* float32 or float16 as stored */
        for (size_t c = 0; c < 3; c++)
            ck_assert_float_eq(x[r * 3 + c], x_val(first_row + r, c));
        for (size_t c = 0; c < 4; c++)
            ck_assert_float_eq(z[c], z_val(first_row + r, c));
        if (labels)
            ck_assert_int_eq(mimic__label_at(d, r), y_vals[first_row + r]);
    }
}

/* ---- create / wrap ------------------------------------------------------------------------ */

/* The dataset holds exactly these inputs, logits and labels, as stored. */
static void assert_holds(const mimic_dataset *d, const void *x, size_t xb, const float *z,
                         size_t zb, const int32_t *y, size_t yb)
{
    ck_assert(memcmp(TU_INPUTS(d), x, xb) == 0);
    const float *dz = TU_LOGITS(d);
    const int32_t *dy = TU_LABELS(d);
    ck_assert(dz && dy);
    ck_assert(memcmp(dz, z, zb) == 0);
    ck_assert(memcmp(dy, y, yb) == 0);
}

START_TEST(test_create_copies)
{
    float x[12], z[8];
    int32_t y[4] = {0, 1, 1, 0};
    tu_fill_uniform(x, 12, -1, 1, 1);
    tu_fill_uniform(z, 8, -5, 5, 2);
    mimic_dataset *d = BOGUS;
    ck_assert_int_eq(mimic_dataset_create(&d, x, MIMIC_DTYPE_F32, z, y, 4, 3, 2), MIMIC_OK);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(mimic_dataset_rows(d), 4);
    ck_assert_uint_eq(mimic_dataset_n_inputs(d), 3);
    ck_assert_uint_eq(mimic_dataset_n_classes(d), 2);
    ck_assert_int_eq(mimic_dataset_has_labels(d), 1);
    ck_assert_int_eq(mimic_dataset_has_logits(d), 1);
    ck_assert_int_eq(mimic_dataset_input_dtype(d), MIMIC_DTYPE_F32);
    ck_assert_ptr_ne(TU_INPUTS(d), x);
    ck_assert_uint_eq((uintptr_t)TU_INPUTS(d) % 64, 0);
    ck_assert_uint_eq((uintptr_t)TU_LOGITS(d) % 64, 0);
    assert_holds(d, x, sizeof x, z, sizeof z, y, sizeof y);
    /* a copy: changing the caller's arrays does not change the dataset */
    float x0 = x[0];
    x[0] = 99;
    z[0] = 99;
    y[0] = 1;
    ck_assert_float_eq(((const float *)TU_INPUTS(d))[0], x0);
    ck_assert_float_ne(TU_LOGITS(d)[0], 99);
    ck_assert_int_eq(TU_LABELS(d)[0], 0);
    mimic_dataset_free(d);
}
END_TEST

START_TEST(test_create_u8_and_labels_only)
{
    uint8_t x[6] = {0, 255, 3, 4, 5, 6};
    int32_t y[3] = {2, 0, 1};
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d, x, MIMIC_DTYPE_U8, NULL, y, 3, 2, 3), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_input_dtype(d), MIMIC_DTYPE_U8);
    ck_assert_int_eq(mimic_dataset_has_logits(d), 0);
    ck_assert_int_eq(mimic_dataset_has_labels(d), 1);
    ck_assert_ptr_null(TU_LOGITS(d));
    ck_assert(memcmp(TU_INPUTS(d), x, sizeof x) == 0);
    mimic_dataset_free(d);

    float z[6] = {0, 1, 2, 3, 4, 5};
    ck_assert_int_eq(mimic_dataset_create(&d, x, MIMIC_DTYPE_U8, z, NULL, 3, 2, 2), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_has_labels(d), 0);
    ck_assert_ptr_null(TU_LABELS(d));
    mimic_dataset_free(d);
}
END_TEST

typedef int (*make_fn)(mimic_dataset **, const void *, int32_t, const float *, const int32_t *,
                       size_t, size_t, size_t);

START_TEST(test_create_wrap_errors)
{
    make_fn fns[2] = {mimic_dataset_create, mimic_dataset_wrap};
    const char *names[2] = {"mimic_dataset_create", "mimic_dataset_wrap"};
    make_fn make = fns[_i];
    float x[6] = {0}, z[6] = {0, 1, 2, 3, 4, 5};
    int32_t y[3] = {0, 1, 2};
    mimic_dataset *d;

    ck_assert_int_eq(make(NULL, x, MIMIC_DTYPE_F32, z, y, 3, 2, 2), MIMIC_ERR_INVALID);
#define EXPECT(call, code, word)                                                              \
    do {                                                                                      \
        d = BOGUS;                                                                            \
        ck_assert_int_eq(call, code);                                                         \
        ck_assert_ptr_null(d);                                                                \
        ck_assert_msg(strstr(mimic_last_error(), word) != NULL, "'%s' not in: %s", word,      \
                      mimic_last_error());                                                    \
        ck_assert(strncmp(mimic_last_error(), names[_i], strlen(names[_i])) == 0 ||           \
                  strncmp(mimic_last_error(), "teacher_logits", 14) == 0 ||                   \
                  strncmp(mimic_last_error(), "labels", 6) == 0);                             \
    } while (0)
    EXPECT(make(&d, NULL, MIMIC_DTYPE_F32, z, y, 3, 2, 2), MIMIC_ERR_INVALID, "inputs is NULL");
    EXPECT(make(&d, x, MIMIC_DTYPE_I32, z, y, 3, 2, 2), MIMIC_ERR_INVALID, "input_dtype 3");
    EXPECT(make(&d, x, 0, z, y, 3, 2, 2), MIMIC_ERR_INVALID, "input_dtype 0");
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, NULL, NULL, 3, 2, 2), MIMIC_ERR_INVALID, "both NULL");
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, z, y, 0, 2, 2), MIMIC_ERR_INVALID, "rows is 0");
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, z, y, 3, 0, 2), MIMIC_ERR_INVALID, "n_inputs is 0");
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, z, y, 3, 2, 0), MIMIC_ERR_INVALID, "n_classes is 0");
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, z, y, SIZE_MAX / 4, 2, 2), MIMIC_ERR_RANGE, "overflow");
    EXPECT(make(&d, x, MIMIC_DTYPE_U8, NULL, y, SIZE_MAX / 2, 1, 2), MIMIC_ERR_RANGE, "overflow");
    z[3] = NAN;
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, z, y, 3, 2, 2), MIMIC_ERR_NUMERIC, "row 1, column 1");
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "NaN"));
    z[3] = 3;
    z[4] = -INFINITY;
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, z, y, 3, 2, 2), MIMIC_ERR_NUMERIC, "row 2, column 0 is -Inf");
    z[4] = 4;
    y[2] = 2;
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, z, y, 3, 2, 2), MIMIC_ERR_RANGE, "row 2 is 2");
    y[2] = 1;
    y[1] = -1;
    EXPECT(make(&d, x, MIMIC_DTYPE_F32, NULL, y, 3, 2, 2), MIMIC_ERR_RANGE, "row 1 is -1");
    y[1] = 1;
    /* float inputs may hold anything: they are the caller's features */
    x[0] = NAN;
    d = NULL;
    ck_assert_int_eq(make(&d, x, MIMIC_DTYPE_F32, z, y, 3, 2, 2), MIMIC_OK);
    mimic_dataset_free(d);
#undef EXPECT
}
END_TEST

START_TEST(test_wrap_borrows)
{
    float x[8], z[4] = {1, 2, 3, 4};
    int32_t y[4] = {0, 0, 0, 0};
    tu_fill_uniform(x, 8, 0, 1, 3);
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_wrap(&d, x, MIMIC_DTYPE_F32, z, y, 4, 2, 1), MIMIC_OK);
    ck_assert_ptr_eq(TU_INPUTS(d), x);
    ck_assert_ptr_eq(TU_LOGITS(d), z);
    ck_assert_ptr_eq(TU_LABELS(d), y);
    ck_assert_ptr_null(d->storage);
    mimic_dataset *s = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&s, d, 1, 2), MIMIC_OK);
    mimic_dataset_free(d); /* the parent goes first; the borrowed arrays are still ours */
    ck_assert_ptr_eq(TU_INPUTS(s), x + 2);
    ck_assert_ptr_eq(TU_LOGITS(s), z + 1);
    ck_assert_ptr_eq(TU_LABELS(s), y + 1);
    mimic_dataset_free(s);
    ck_assert_float_eq(z[3], 4); /* untouched */
}
END_TEST

/* ---- slices ------------------------------------------------------------------------------- */

START_TEST(test_slices)
{
    enum { R = 10, D = 3, C = 2 };
    float x[R * D], z[R * C];
    int32_t y[R];
    for (int i = 0; i < R * D; i++)
        x[i] = (float)i;
    for (int i = 0; i < R * C; i++)
        z[i] = (float)-i;
    for (int i = 0; i < R; i++)
        y[i] = i % C;
    mimic_dataset *d = NULL, *s = BOGUS, *ss = BOGUS;
    ck_assert_int_eq(mimic_dataset_create(&d, x, MIMIC_DTYPE_F32, z, y, R, D, C), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_slice(&s, d, 2, 7), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_rows(s), 7);
    ck_assert_uint_eq(mimic_dataset_n_inputs(s), D);
    ck_assert_uint_eq(mimic_dataset_n_classes(s), C);
    ck_assert_int_eq(mimic_dataset_has_labels(s), 1);
    ck_assert_ptr_eq(s->storage, d->storage);
    /* a slice of a slice: rows 3..6 of the slice = rows 5..8 of the parent */
    ck_assert_int_eq(mimic_dataset_slice(&ss, s, 3, 4), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_rows(ss), 4);
    /* free the parent and the middle slice first: the grandchild keeps the storage */
    mimic_dataset_free(d);
    mimic_dataset_free(s);
    const float *sx = TU_INPUTS(ss);
    for (size_t r = 0; r < 4; r++) {
        for (size_t c = 0; c < D; c++)
            ck_assert_float_eq(sx[r * D + c], (float)((5 + r) * D + c));
        for (size_t c = 0; c < C; c++)
            ck_assert_float_eq(TU_LOGITS(ss)[r * C + c], -(float)((5 + r) * C + c));
        ck_assert_int_eq(TU_LABELS(ss)[r], (int)(5 + r) % C);
    }
    /* range errors */
    mimic_dataset *bad = BOGUS;
    ck_assert_int_eq(mimic_dataset_slice(&bad, ss, 0, 5), MIMIC_ERR_RANGE);
    ck_assert_ptr_null(bad);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "outside the dataset's 4 rows"));
    bad = BOGUS;
    ck_assert_int_eq(mimic_dataset_slice(&bad, ss, 4, 1), MIMIC_ERR_RANGE);
    ck_assert_ptr_null(bad);
    bad = BOGUS;
    ck_assert_int_eq(mimic_dataset_slice(&bad, ss, 5, 0), MIMIC_ERR_RANGE);
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(mimic_dataset_slice(&bad, ss, 2, 0), MIMIC_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "n_rows is 0"));
    ck_assert_int_eq(mimic_dataset_slice(&bad, ss, SIZE_MAX, 2), MIMIC_ERR_RANGE);
    ck_assert_int_eq(mimic_dataset_slice(&bad, ss, 1, SIZE_MAX), MIMIC_ERR_RANGE);
    ck_assert_int_eq(mimic_dataset_slice(NULL, ss, 0, 1), MIMIC_ERR_INVALID);
    /* the whole dataset is a valid slice */
    ck_assert_int_eq(mimic_dataset_slice(&bad, ss, 0, 4), MIMIC_OK);
    mimic_dataset_free(ss);
    ck_assert_float_eq(((const float *)TU_INPUTS(bad))[0], (float)(5 * D));
    mimic_dataset_free(bad);
}
END_TEST

START_TEST(test_slice_u8)
{
    uint8_t x[12];
    float z[4] = {1, 2, 3, 4};
    for (int i = 0; i < 12; i++)
        x[i] = (uint8_t)(i * 20);
    mimic_dataset *d = NULL, *s = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d, x, MIMIC_DTYPE_U8, z, NULL, 4, 3, 1), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_slice(&s, d, 3, 1), MIMIC_OK);
    mimic_dataset_free(d);
    ck_assert_int_eq(mimic_dataset_input_dtype(s), MIMIC_DTYPE_U8);
    ck_assert_int_eq(((const uint8_t *)TU_INPUTS(s))[1], 200);
    ck_assert_float_eq(TU_LOGITS(s)[0], 4);
    ck_assert_ptr_null(TU_LABELS(s));
    mimic_dataset_free(s);
}
END_TEST

typedef struct slicer_arg {
    const mimic_dataset *d;
    int ok;
} slicer_arg;

static void *slicer(void *p)
{
    slicer_arg *a = p;
    a->ok = 1;
    for (int i = 0; i < 2000; i++) {
        mimic_dataset *s = NULL;
        if (mimic_dataset_slice(&s, a->d, (size_t)i % 5, 1) != MIMIC_OK ||
            TU_LOGITS(s)[0] != TU_LOGITS(a->d)[(size_t)(i % 5) * a->d->n_classes])
            a->ok = 0;
        mimic_dataset_free(s);
    }
    return NULL;
}

/* Slicing one const dataset from several threads: the refcount is atomic (TSan/ASan). */
START_TEST(test_slice_threads)
{
    float x[5] = {0}, z[10];
    for (int i = 0; i < 10; i++)
        z[i] = (float)i;
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d, x, MIMIC_DTYPE_F32, z, NULL, 5, 1, 2), MIMIC_OK);
    pthread_t t[4];
    slicer_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i].d = d;
        ck_assert_int_eq(pthread_create(&t[i], NULL, slicer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(a[i].ok, 1);
    }
    mimic_dataset_free(d);
}
END_TEST

/* ---- handle armor --------------------------------------------------------------------------- */

START_TEST(test_getters_and_misuse)
{
    ck_assert_uint_eq(mimic_dataset_rows(NULL), 0);
    ck_assert_uint_eq(mimic_dataset_n_inputs(NULL), 0);
    ck_assert_uint_eq(mimic_dataset_n_classes(NULL), 0);
    ck_assert_int_eq(mimic_dataset_has_labels(NULL), 0);
    ck_assert_int_eq(mimic_dataset_has_logits(NULL), 0);
    ck_assert_int_eq(mimic_dataset_input_dtype(NULL), 0);
    mimic_dataset_free(NULL);

    ck_assert_int_eq(mimic__dataset_check(NULL, "train: data"), MIMIC_ERR_MISUSE);
    ck_assert_str_eq(mimic_last_error(), "train: data: dataset handle is NULL");

    /* A look-alike of a freed handle (we never touch really freed memory) and a handle of
     * the wrong type: getters give 0, calls give MISUSE, free leaves it alone. */
    struct mimic_dataset fake;
    memset(&fake, 0, sizeof fake);
    fake.magic = MIMIC__MAGIC_DEAD;
    fake.input_dtype = fake.logits_dtype = MIMIC_DTYPE_F32;
    fake.labels_dtype = MIMIC_DTYPE_I32;
    fake.rows = 2;
    fake.n_inputs = fake.n_classes = 1;
    ck_assert_uint_eq(mimic_dataset_rows(&fake), 0);
    ck_assert_uint_eq(mimic_dataset_n_inputs(&fake), 0);
    ck_assert_uint_eq(mimic_dataset_n_classes(&fake), 0);
    ck_assert_int_eq(mimic_dataset_has_labels(&fake), 0);
    ck_assert_int_eq(mimic_dataset_has_logits(&fake), 0);
    ck_assert_int_eq(mimic_dataset_input_dtype(&fake), 0);
    ck_assert_int_eq(mimic__dataset_check(&fake, "eval: d"), MIMIC_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "eval: d: dataset handle was already freed"));
    mimic_dataset *s = BOGUS;
    ck_assert_int_eq(mimic_dataset_slice(&s, &fake, 0, 1), MIMIC_ERR_MISUSE);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(mimic_dataset_slice(&s, NULL, 0, 1), MIMIC_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "NULL"));
    mimic_dataset_free(&fake); /* ignored: freeing a stack object would crash */
    ck_assert_uint_eq(fake.magic, MIMIC__MAGIC_DEAD);

    fake.magic = MIMIC__MAGIC_STUDENT;
    ck_assert_int_eq(mimic__dataset_check(&fake, "d"), MIMIC_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "not a dataset handle"));
    ck_assert_uint_eq(mimic_dataset_rows(&fake), 0);
    mimic_dataset_free(&fake);

    fake.magic = MIMIC__MAGIC_DATASET; /* the same struct with the right magic is valid */
    ck_assert_int_eq(mimic__dataset_check(&fake, "d"), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_rows(&fake), 2);
    ck_assert_int_eq(mimic_dataset_has_labels(&fake), 1);
}
END_TEST

/* ---- load_npy ------------------------------------------------------------------------------- */

START_TEST(test_load_f4_mapped)
{
    mimic_dataset *d = BOGUS;
    int rc = mimic_dataset_load_npy(&d, fixture("x_f4.npy"), fixture("z_f4.npy"),
                                    fixture("y_i4.npy"));
    ck_assert_msg(rc == MIMIC_OK, "%s", mimic_last_error());
    ck_assert_uint_eq(mimic_dataset_rows(d), 6);
    ck_assert_uint_eq(mimic_dataset_n_inputs(d), 3);
    ck_assert_uint_eq(mimic_dataset_n_classes(d), 4);
    ck_assert_int_eq(mimic_dataset_input_dtype(d), MIMIC_DTYPE_F32);
    ck_assert_int_eq(mimic_dataset_has_labels(d), 1);
    check_fixture_values(d, 0, true);
    /* mapped: the arrays sit right after numpy's 64-byte aligned header in a page-aligned
     * mapping, not in a heap copy */
    ck_assert_uint_eq((uintptr_t)TU_INPUTS(d) % 4096, 128);
    ck_assert_uint_eq((uintptr_t)TU_LOGITS(d) % 4096, 128);
    mimic_dataset *s = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&s, d, 2, 3), MIMIC_OK);
    mimic_dataset_free(d); /* the mapping outlives the parent */
    check_fixture_values(s, 2, true);
    mimic_dataset_free(s);

    ck_assert_int_eq(mimic_dataset_load_npy(&d, fixture("x_f4.npy"), fixture("z_f4.npy"), NULL),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_has_labels(d), 0);
    check_fixture_values(d, 0, false);
    mimic_dataset_free(d);
}
END_TEST

START_TEST(test_load_variants)
{
    /* f8 converted to f32; every label dtype; v2.0 and v3.0 headers; an odd header */
    static const char *const xs[] = {"x_f8.npy", "x_v2.npy", "x_v3.npy", "x_odd_header.npy",
                                     "x_f4.npy", "x_f4.npy", "x_f4.npy"};
    static const char *const zs[] = {"z_f8.npy", "z_f4.npy", "z_f8.npy", "z_f4.npy", "z_f4.npy",
                                     "z_f8.npy", "z_f2.npy"};
    static const char *const ys[] = {"y_i8.npy", "y_u1.npy", "y_i4.npy", "y_i8.npy", "y_u1.npy",
                                     "y_i8.npy", "y_i4.npy"};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        mimic_dataset *d = NULL;
        int rc = mimic_dataset_load_npy(&d, fixture(xs[i]), fixture(zs[i]), fixture(ys[i]));
        ck_assert_msg(rc == MIMIC_OK, "%s %s %s: %s", xs[i], zs[i], ys[i], mimic_last_error());
        ck_assert_int_eq(mimic_dataset_input_dtype(d), MIMIC_DTYPE_F32);
        /* float16 logits stay float16 (used in place, widened per row) */
        ck_assert_int_eq(mimic_dataset_logits_dtype(d),
                         strcmp(zs[i], "z_f2.npy") == 0 ? MIMIC_DTYPE_F16 : MIMIC_DTYPE_F32);
        check_fixture_values(d, 0, true);
        /* converted or copied arrays are 64-byte aligned heap copies */
        if (strcmp(xs[i], "x_f8.npy") == 0 || strcmp(xs[i], "x_odd_header.npy") == 0)
            ck_assert_uint_eq((uintptr_t)TU_INPUTS(d) % 64, 0);
        mimic_dataset *s = NULL;
        ck_assert_int_eq(mimic_dataset_slice(&s, d, 5, 1), MIMIC_OK);
        mimic_dataset_free(d);
        check_fixture_values(s, 5, true);
        mimic_dataset_free(s);
    }
}
END_TEST

START_TEST(test_load_u8_inputs_stay_u8)
{
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_load_npy(&d, fixture("x_u1.npy"), fixture("z_f4.npy"),
                                            fixture("y_u1.npy")),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_input_dtype(d), MIMIC_DTYPE_U8);
    ck_assert_uint_eq(mimic_dataset_n_inputs(d), 3);
    const uint8_t *x = TU_INPUTS(d);
    for (int i = 0; i < 18; i++)
        ck_assert_int_eq(x[i], i * 13 % 256);
    ck_assert_uint_eq((uintptr_t)TU_INPUTS(d) % 4096, 128); /* mapped, not copied */
    mimic_dataset *s = NULL, *ss = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&s, d, 1, 4), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_slice(&ss, s, 2, 2), MIMIC_OK);
    mimic_dataset_free(s);
    mimic_dataset_free(d);
    ck_assert_int_eq(((const uint8_t *)TU_INPUTS(ss))[0], 9 * 13 % 256);
    ck_assert_int_eq(mimic_dataset_input_dtype(ss), MIMIC_DTYPE_U8);
    mimic_dataset_free(ss);
}
END_TEST

START_TEST(test_load_fortran_column)
{
    /* logits of shape (6, 1) marked Fortran order have the C layout: accepted */
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_load_npy(&d, fixture("x_f4.npy"),
                                            fixture("z_fortran_column.npy"), NULL),
                     MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_n_classes(d), 1);
    ck_assert_float_eq(TU_LOGITS(d)[5], 5);
    mimic_dataset_free(d);
}
END_TEST

typedef struct reject_case {
    const char *x, *z, *y; /* y may be NULL */
    int status;
    const char *named;     /* the file the message must start with */
    const char *keyword;
} reject_case;

static const reject_case rejects[] = {
    /* malformed headers, as inputs, logits or labels */
    {"bad_magic.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "bad_magic.npy", "bad magic"},
    {"x_f4.npy", "bad_magic.npy", NULL, MIMIC_ERR_FORMAT, "bad_magic.npy", "bad magic"},
    {"x_f4.npy", "z_f4.npy", "bad_magic.npy", MIMIC_ERR_FORMAT, "bad_magic.npy", "bad magic"},
    {"empty.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "empty.npy", "this is an empty file"},
    {"truncated_preamble.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "truncated_preamble.npy",
     "truncated header"},
    {"truncated_header.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "truncated_header.npy",
     "truncated header"},
    {"truncated_data.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "truncated_data.npy",
     "data truncated: header says 72 bytes, file has 20"},
    {"x_f4.npy", "truncated_data.npy", NULL, MIMIC_ERR_FORMAT, "truncated_data.npy",
     "data truncated"},
    {"shape_overflow.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "shape_overflow.npy", "overflows"},
    {"dim_overflow.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "dim_overflow.npy", "overflows"},
    {"shape_exceeds_file.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "shape_exceeds_file.npy",
     "data truncated: header says 4000000000 bytes"},
    {"header_no_brace.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "header_no_brace.npy",
     "malformed header"},
    {"header_missing_key.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "header_missing_key.npy",
     "missing"},
    {"header_unknown_key.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "header_unknown_key.npy",
     "unknown key"},
    {"header_duplicate_key.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "header_duplicate_key.npy",
     "duplicate key"},
    {"header_negative_dim.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "header_negative_dim.npy",
     "non-negative"},
    {"header_unterminated.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "header_unterminated.npy",
     "malformed header"},
    {"header_bad_bool.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT, "header_bad_bool.npy",
     "True or False"},
    {"header_trailing_garbage.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT,
     "header_trailing_garbage.npy", "unexpected bytes"},
    {"header_shape_not_tuple.npy", "z_f4.npy", NULL, MIMIC_ERR_FORMAT,
     "header_shape_not_tuple.npy", "not a tuple"},
    {"fortran.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "fortran.npy", "Fortran"},
    {"big_endian.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "big_endian.npy", "big-endian"},
    {"dtype_f2.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "dtype_f2.npy", "'<f2'"},
    {"dtype_structured.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "dtype_structured.npy",
     "structured"},
    {"rank0.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "rank0.npy", "0-D"},
    {"rank9.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "rank9.npy", "9-D"},
    {"version4.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "version4.npy", "version 4.0"},
    /* well-formed files in the wrong role */
    {"inputs_1d.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "inputs_1d.npy",
     "inputs must be a 2-D array"},
    {"x_f4.npy", "z_f4.npy", "labels_2d.npy", MIMIC_ERR_UNSUPPORTED, "labels_2d.npy",
     "labels must be a 1-D array"},
    {"x_f4.npy", "logits_u1.npy", NULL, MIMIC_ERR_UNSUPPORTED, "logits_u1.npy",
     "dtype '|u1' for teacher logits"},
    {"x_f4.npy", "z_f4.npy", "labels_f4.npy", MIMIC_ERR_UNSUPPORTED, "labels_f4.npy",
     "dtype '<f4' for labels"},
    {"y_i4.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "y_i4.npy", "2-D"},
    {"x_f4.npy", "z_f4.npy", "x_f4.npy", MIMIC_ERR_UNSUPPORTED, "x_f4.npy", "1-D"},
    {"y_i4.npy", "z_f4.npy", NULL, MIMIC_ERR_UNSUPPORTED, "y_i4.npy", "inputs"},
    /* shapes */
    {"x_f4.npy", "z_5rows.npy", NULL, MIMIC_ERR_SHAPE, "z_5rows.npy", "5 rows, but "},
    {"x_f4.npy", "z_f4.npy", "y_5rows.npy", MIMIC_ERR_SHAPE, "y_5rows.npy", "5 rows, but "},
    {"x_zero_rows.npy", "z_f4.npy", NULL, MIMIC_ERR_SHAPE, "x_zero_rows.npy", "0 rows"},
    {"x_zero_cols.npy", "z_f4.npy", NULL, MIMIC_ERR_SHAPE, "x_zero_cols.npy", "0 columns"},
    /* values */
    {"x_f4.npy", "z_nan.npy", "y_i4.npy", MIMIC_ERR_NUMERIC, "z_nan.npy",
     "row 2, column 1 is NaN"},
    {"x_f8.npy", "z_inf_f8.npy", NULL, MIMIC_ERR_NUMERIC, "z_inf_f8.npy",
     "row 4, column 3 is -Inf"},
    {"x_f4.npy", "z_f4.npy", "y_range.npy", MIMIC_ERR_RANGE, "y_range.npy",
     "label at row 3 is 4, outside [0, 4)"},
    {"x_f4.npy", "z_f4.npy", "y_negative_i8.npy", MIMIC_ERR_RANGE, "y_negative_i8.npy",
     "label at row 5 is -1"},
    {"x_u1.npy", "z_f8.npy", "y_range_u1.npy", MIMIC_ERR_RANGE, "y_range_u1.npy",
     "label at row 0 is 200"},
    /* files that are not there */
    {"no_such_file.npy", "z_f4.npy", NULL, MIMIC_ERR_IO, "no_such_file.npy", "cannot open"},
    {"x_f4.npy", "z_f4.npy", "no_such_labels.npy", MIMIC_ERR_IO, "no_such_labels.npy",
     "cannot open"},
};

START_TEST(test_load_rejections)
{
    const reject_case *c = &rejects[_i];
    char named[1024];
    snprintf(named, sizeof named, "%s", fixture(c->named));
    mimic_dataset *d = BOGUS;
    int rc = mimic_dataset_load_npy(&d, fixture(c->x), fixture(c->z), c->y ? fixture(c->y) : NULL);
    const char *msg = mimic_last_error();
    ck_assert_msg(rc == c->status, "[%d] %s %s %s: got %d (%s), want %d", _i, c->x, c->z,
                  c->y ? c->y : "-", rc, msg, c->status);
    ck_assert_ptr_null(d);
    ck_assert_msg(strncmp(msg, named, strlen(named)) == 0, "[%d] message does not start with %s: %s",
                  _i, c->named, msg);
    ck_assert_msg(strstr(msg, c->keyword) != NULL, "[%d] '%s' not in: %s", _i, c->keyword, msg);
}
END_TEST

START_TEST(test_load_row_mismatch_message)
{
    char x[1024], z[1024], expect[2100];
    snprintf(x, sizeof x, "%s", fixture("x_f4.npy"));
    snprintf(z, sizeof z, "%s", fixture("z_5rows.npy"));
    mimic_dataset *d = BOGUS;
    ck_assert_int_eq(mimic_dataset_load_npy(&d, x, z, NULL), MIMIC_ERR_SHAPE);
    ck_assert_ptr_null(d);
    snprintf(expect, sizeof expect, "%s: 5 rows, but %s has 6", z, x);
    ck_assert_str_eq(mimic_last_error(), expect);
}
END_TEST

START_TEST(test_load_bad_args)
{
    mimic_dataset *d = BOGUS;
    ck_assert_int_eq(mimic_dataset_load_npy(NULL, "a", "b", NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_dataset_load_npy(&d, NULL, "b", NULL), MIMIC_ERR_INVALID);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "inputs path is NULL"));
    d = BOGUS;
    ck_assert_int_eq(mimic_dataset_load_npy(&d, "a", NULL, NULL), MIMIC_ERR_INVALID);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "teacher_logits path is NULL"));
    /* a directory is not a file */
    d = BOGUS;
    ck_assert_int_eq(mimic_dataset_load_npy(&d, MIMIC_TEST_DATA, fixture("z_f4.npy"), NULL),
                     MIMIC_ERR_IO);
    ck_assert_ptr_null(d);
}
END_TEST

/* A file the library writes loads back as a dataset. */
START_TEST(test_save_then_load)
{
    enum { R = 7, D = 5, C = 3 };
    float x[R * D], z[R * C];
    int32_t y[R];
    tu_fill_uniform(x, R * D, -3, 3, 7);
    tu_fill_uniform(z, R * C, -9, 9, 8);
    for (int i = 0; i < R; i++)
        y[i] = (i * 2) % C;
    const char *px = tu_path("sl_x.npy"), *pz = tu_path("sl_z.npy"), *py = tu_path("sl_y.npy");
    ck_assert_int_eq(mimic_npy_save(px, x, MIMIC_DTYPE_F32, R, D), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_save(pz, z, MIMIC_DTYPE_F32, R, C), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_save(py, y, MIMIC_DTYPE_I32, R, 0), MIMIC_OK);
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_load_npy(&d, px, pz, py), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_rows(d), R);
    ck_assert_uint_eq(mimic_dataset_n_inputs(d), D);
    ck_assert_uint_eq(mimic_dataset_n_classes(d), C);
    assert_holds(d, x, sizeof x, z, sizeof z, y, sizeof y);
    mimic_dataset_free(d);
}
END_TEST

/* ---- allocation failures ---------------------------------------------------------------- */

typedef int (*attempt_fn)(mimic_dataset **out, void *ctx);

/* Fail the 1st, 2nd, ... allocation until the call succeeds; every failure must be a clean
 * NOMEM with *out NULL (leaks show up under ASan/LSan). Returns the number of failures. */
static int fail_each_allocation(attempt_fn f, void *ctx, const char *what)
{
    int failures = 0;
    for (uint64_t n = 1; n < 1000; n++) {
        mimic_dataset *d = BOGUS;
        mimic__alloc_fail_at(n);
        int rc = f(&d, ctx);
        uint64_t made = mimic__alloc_fail_at(0);
        if (rc == MIMIC_OK) {
            ck_assert_ptr_nonnull(d);
            ck_assert_uint_lt(made, n);
            mimic_dataset_free(d);
            return failures;
        }
        ck_assert_msg(rc == MIMIC_ERR_NOMEM, "%s, failing allocation %llu: %d (%s)", what,
                      (unsigned long long)n, rc, mimic_last_error());
        ck_assert_ptr_null(d);
        ck_assert_ptr_nonnull(strstr(mimic_last_error(), "out of memory"));
        failures++;
    }
    ck_abort_msg("%s never succeeded", what);
    return failures;
}

typedef struct arrays {
    const void *x;
    const float *z;
    const int32_t *y;
    int32_t dtype;
} arrays;

static int try_create(mimic_dataset **out, void *ctx)
{
    const arrays *a = ctx;
    return mimic_dataset_create(out, a->x, a->dtype, a->z, a->y, 4, 3, 2);
}

static int try_wrap(mimic_dataset **out, void *ctx)
{
    const arrays *a = ctx;
    return mimic_dataset_wrap(out, a->x, a->dtype, a->z, a->y, 4, 3, 2);
}

static int try_load(mimic_dataset **out, void *ctx)
{
    const char *const *files = ctx;
    return mimic_dataset_load_npy(out, fixture(files[0]), fixture(files[1]),
                                  files[2] ? fixture(files[2]) : NULL);
}

static int try_slice(mimic_dataset **out, void *ctx)
{
    return mimic_dataset_slice(out, ctx, 1, 2);
}

START_TEST(test_alloc_failures)
{
    float x[12], z[8];
    uint8_t xu[12] = {0};
    int32_t y[4] = {0, 1, 0, 1};
    tu_fill_uniform(x, 12, 0, 1, 4);
    tu_fill_uniform(z, 8, 0, 1, 5);
    arrays full = {x, z, y, MIMIC_DTYPE_F32}, labels_only = {xu, NULL, y, MIMIC_DTYPE_U8},
           no_labels = {x, z, NULL, MIMIC_DTYPE_F32};
    ck_assert_int_eq(fail_each_allocation(try_create, &full, "create"), 5);
    ck_assert_int_eq(fail_each_allocation(try_create, &labels_only, "create labels-only"), 4);
    ck_assert_int_eq(fail_each_allocation(try_create, &no_labels, "create without labels"), 4);
    ck_assert_int_eq(fail_each_allocation(try_wrap, &full, "wrap"), 1);

    /* Loading: per file an array handle and its mapping (2); then the storage, a converted
     * copy of each f8 array and the handle (labels are read in place). */
    const char *f8[3] = {"x_f8.npy", "z_f8.npy", "y_i8.npy"};
    ck_assert_int_eq(fail_each_allocation(try_load, (void *)f8, "load f8 + i8 labels"), 10);
    const char *f4[3] = {"x_f4.npy", "z_f4.npy", NULL};
    ck_assert_int_eq(fail_each_allocation(try_load, (void *)f4, "load f4"), 6);
    const char *u1[3] = {"x_u1.npy", "z_f4.npy", "y_u1.npy"};
    ck_assert_int_eq(fail_each_allocation(try_load, (void *)u1, "load u1"), 8);

    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_load_npy(&d, fixture("x_f8.npy"), fixture("z_f4.npy"),
                                            fixture("y_i4.npy")),
                     MIMIC_OK);
    ck_assert_int_eq(fail_each_allocation(try_slice, d, "slice"), 1);
    /* the failed slices did not take references: freeing d releases everything (LSan) */
    mimic_dataset_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("memory");
    tcase_add_test(tc, test_create_copies);
    tcase_add_test(tc, test_create_u8_and_labels_only);
    tcase_add_loop_test(tc, test_create_wrap_errors, 0, 2);
    tcase_add_test(tc, test_wrap_borrows);
    tcase_add_test(tc, test_slices);
    tcase_add_test(tc, test_slice_u8);
    tcase_add_test(tc, test_slice_threads);
    tcase_add_test(tc, test_getters_and_misuse);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("npy");
    tcase_add_test(tl, test_load_f4_mapped);
    tcase_add_test(tl, test_load_variants);
    tcase_add_test(tl, test_load_u8_inputs_stay_u8);
    tcase_add_test(tl, test_load_fortran_column);
    tcase_add_loop_test(tl, test_load_rejections, 0, (int)(sizeof rejects / sizeof rejects[0]));
    tcase_add_test(tl, test_load_row_mismatch_message);
    tcase_add_test(tl, test_load_bad_args);
    tcase_add_test(tl, test_save_then_load);
    suite_add_tcase(s, tl);
    return tu_run_suite(s);
}
