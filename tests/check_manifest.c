/* Transfer sets: the streaming .npy writer, manifests (parser, loader, writer), sharded
 * datasets (64-bit rows, more than 2^32 of them; views across shards; training on shards
 * and on float16 logits gives the results of one float32 file), the order of an epoch. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/train.h"
#include "train_testutil.h"

/* A fresh empty directory under the suite's temporary directory. */
static const char *fresh_dir(const char *name)
{
    static char slots[4][1024];
    static int next;
    char *p = slots[next++ % 4];
    snprintf(p, sizeof slots[0], "%s", tu_path(name));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", p, p);
    ck_assert_int_eq(system(cmd), 0);
    return p;
}

static const char *join(const char *dir, const char *name)
{
    static char slots[8][1200];
    static int next;
    char *p = slots[next++ % 8];
    snprintf(p, sizeof slots[0], "%s/%s", dir, name);
    return p;
}

/* Files in dir whose names contain `part`. */
static int count_files(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static void assert_error(int rc, int want, const char *part)
{
    ck_assert_msg(rc == want, "status %d, want %d (%s)", rc, want, mimic_last_error());
    ck_assert_msg(strstr(mimic_last_error(), part) != NULL, "'%s' not in: %s", part,
                  mimic_last_error());
}

/* IEEE binary16 bits of small exact values (k / 4 for |k| < 2048). */
static uint16_t f16_of(float v)
{
    return mimic__f32_to_f16(v);
}

/* ---- the .npy writer ------------------------------------------------------------------------ */

START_TEST(test_npy_writer_roundtrip)
{
    const char *dir = fresh_dir("npyw");
    const char *p = join(dir, "images.npy");
    const size_t shape[2] = {3, 4};
    uint8_t img[10 * 12];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 7 % 251);
    mimic_npy_writer *w = NULL;
    ck_assert_int_eq(mimic_npy_writer_open(&w, p, MIMIC_DTYPE_U8, shape, 2), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, img, 4), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, img + 48, 0), MIMIC_OK); /* no-op */
    ck_assert_int_eq(mimic_npy_writer_append(w, img + 48, 6), MIMIC_OK);
    ck_assert_uint_eq(mimic_npy_writer_rows(w), 10);
    /* while it is written, the file is not there under its name: only a temporary file */
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(count_files(dir, "images.npy.tmp."), 1);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    ck_assert_int_eq(count_files(dir, ".tmp."), 0);

    mimic_array *a = NULL;
    ck_assert_int_eq(mimic_array_load(&a, p), MIMIC_OK);
    ck_assert_uint_eq(mimic_array_rows(a), 10);
    ck_assert_uint_eq(mimic_array_cols(a), 12);
    ck_assert_int_eq(mimic_array_dtype(a), MIMIC_DTYPE_U8);
    size_t h = 0, wd = 0;
    mimic_array_image_shape(a, &h, &wd);
    ck_assert_uint_eq(h, 3);
    ck_assert_uint_eq(wd, 4);
    ck_assert(memcmp(mimic_array_data(a), img, sizeof img) == 0);
    /* the data starts on a 64-byte boundary, as numpy writes it */
    ck_assert_uint_eq(((const uint8_t *)mimic_array_data(a) - (const uint8_t *)0) % 64,
                      ((uintptr_t)mimic_array_data(a)) % 64);
    mimic_array_free(a);

    /* float16 logits (2-D) and int64 labels (1-D) */
    uint16_t z[6];
    for (int i = 0; i < 6; i++)
        z[i] = f16_of((float)i * 0.25f - 1.0f);
    const size_t C = 2;
    const char *pz = join(dir, "z.npy");
    ck_assert_int_eq(mimic_npy_writer_open(&w, pz, MIMIC_DTYPE_F16, &C, 1), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, z, 3), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    int64_t y[3] = {1, 0, 1};
    const char *py = join(dir, "y.npy");
    ck_assert_int_eq(mimic_npy_writer_open(&w, py, MIMIC_DTYPE_I64, NULL, 0), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, y, 3), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    ck_assert_int_eq(mimic_array_load(&a, pz), MIMIC_OK);
    ck_assert_int_eq(mimic_array_dtype(a), MIMIC_DTYPE_F16);
    float zf[6];
    ck_assert_int_eq(mimic_array_to_f32(a, 0, 3, zf), MIMIC_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(zf[i], (float)i * 0.25f - 1.0f);
    mimic_array_free(a);
    ck_assert_int_eq(mimic_array_load(&a, py), MIMIC_OK);
    ck_assert_int_eq(mimic_array_ndim(a), 1);
    ck_assert_int_eq(mimic_array_dtype(a), MIMIC_DTYPE_I64);
    mimic_array_free(a);

    if (tu_have_python("numpy", "test_npy_writer_roundtrip")) {
        static const char check[] =
            "import sys, numpy as np\n"
            "a = np.load(sys.argv[1]); z = np.load(sys.argv[2]); y = np.load(sys.argv[3])\n"
            "ok = a.shape == (10, 3, 4) and a.dtype == np.uint8\n"
            "ok = ok and (a.ravel() == (np.arange(120) * 7 % 251).astype(np.uint8)).all()\n"
            "ok = ok and z.dtype == np.float16 and z.shape == (3, 2)\n"
            "ok = ok and (z.ravel() == np.arange(6) * 0.25 - 1).all()\n"
            "ok = ok and y.dtype == np.int64 and list(y) == [1, 0, 1]\n"
            "sys.exit(0 if ok else 1)\n";
        const char *args[3] = {p, pz, py};
        ck_assert_int_eq(tu_python(check, args, 3), 0);
    }
}
END_TEST

START_TEST(test_npy_writer_errors)
{
    const char *dir = fresh_dir("npyw_err");
    const char *p = join(dir, "x.npy");
    const size_t shape[8] = {2, 2, 2, 2, 2, 2, 2, 2}, zero[1] = {0};
    mimic_npy_writer *w = (mimic_npy_writer *)&w;
    assert_error(mimic_npy_writer_open(NULL, p, MIMIC_DTYPE_F32, shape, 1), MIMIC_ERR_INVALID,
                 "out is NULL");
    assert_error(mimic_npy_writer_open(&w, NULL, MIMIC_DTYPE_F32, shape, 1), MIMIC_ERR_INVALID,
                 "path");
    ck_assert_ptr_null(w);
    assert_error(mimic_npy_writer_open(&w, p, 42, shape, 1), MIMIC_ERR_INVALID, "dtype 42");
    assert_error(mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, shape, 8), MIMIC_ERR_INVALID,
                 "8 dimensions");
    assert_error(mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, zero, 1), MIMIC_ERR_INVALID,
                 "row_shape[0] is 0");
    assert_error(mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, NULL, 1), MIMIC_ERR_INVALID,
                 "row_shape is NULL");
    assert_error(mimic_npy_writer_open(&w, join(dir, "no/such/dir.npy"), MIMIC_DTYPE_F32, shape, 1),
                 MIMIC_ERR_IO, "no/such/dir.npy");
    const size_t big[2] = {SIZE_MAX / 2, 3};
    assert_error(mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, big, 2), MIMIC_ERR_RANGE,
                 "overflows");
    ck_assert_int_eq(count_files(dir, "x.npy"), 0);

    /* abort: the temporary file goes, an existing file stays */
    tu_write_file(p, "keep", 4);
    ck_assert_int_eq(mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, shape, 1), MIMIC_OK);
    float v[4] = {1, 2, 3, 4};
    ck_assert_int_eq(mimic_npy_writer_append(w, v, 2), MIMIC_OK);
    assert_error(mimic_npy_writer_append(w, NULL, 1), MIMIC_ERR_INVALID, "rows is NULL");
    assert_error(mimic_npy_writer_append(w, v, SIZE_MAX / 4), MIMIC_ERR_RANGE, "overflows");
    mimic_npy_writer_abort(w);
    mimic_npy_writer_abort(NULL);
    ck_assert_int_eq(count_files(dir, ".tmp."), 0);
    size_t n = 0;
    char *kept = tu_read_file(p, &n);
    ck_assert(n == 4 && memcmp(kept, "keep", 4) == 0);
    free(kept);
    assert_error(mimic_npy_writer_append(NULL, v, 1), MIMIC_ERR_MISUSE, "npy writer");
    assert_error(mimic_npy_writer_close(NULL), MIMIC_ERR_MISUSE, "npy writer");
    ck_assert_uint_eq(mimic_npy_writer_rows(NULL), 0);
    /* zero rows: a valid empty file */
    ck_assert_int_eq(mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, shape, 1), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    mimic__map m;
    mimic__npy hd;
    ck_assert_int_eq(mimic__map_file(p, &m), MIMIC_OK);
    ck_assert_int_eq(mimic__npy_parse(m.data, m.size, p, &hd), MIMIC_OK);
    ck_assert_uint_eq(hd.shape[0], 0);
    ck_assert_uint_eq(hd.shape[1], 2);
    mimic__unmap(&m);
}
END_TEST

/* The child of test_npy_writer_full_disk: exits 0 when every expectation holds, else the
 * number of the first that failed (ck_assert cannot report from a grandchild). */
static int full_disk_child(const char *p)
{
    signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG instead of killing us */
    struct rlimit lim = {64 * 1024, 64 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 1;
    const size_t cols = 1000;
    static float rows[16 * 1000];
    mimic_npy_writer *w = NULL;
    if (mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, &cols, 1) != MIMIC_OK)
        return 2;
    int rc = MIMIC_OK;
    uint64_t complete = 0;
    for (int i = 0; i < 100 && rc == MIMIC_OK; i++) {
        complete = mimic_npy_writer_rows(w);
        rc = mimic_npy_writer_append(w, rows, 16);
    }
    if (rc != MIMIC_ERR_IO)
        return 3;
    char want[64];
    snprintf(want, sizeof want, "after %llu complete rows", (unsigned long long)complete);
    if (!strstr(mimic_last_error(), p) || !strstr(mimic_last_error(), want) ||
        !strstr(mimic_last_error(), "File too large"))
        return 4;
    if (mimic_npy_writer_append(w, rows, 1) != MIMIC_ERR_MISUSE)
        return 5;
    if (mimic_npy_writer_close(w) != MIMIC_ERR_IO || !strstr(mimic_last_error(), "not written"))
        return 6;
    return 0;
}

START_TEST(test_npy_writer_full_disk)
{
    const char *dir = fresh_dir("npyw_full");
    const char *p = join(dir, "logits.npy");
    tu_write_file(p, "saved earlier", 13);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(full_disk_child(p));
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed at check %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    /* nothing already saved is lost, and nothing half-written is left */
    size_t n = 0;
    char *kept = tu_read_file(p, &n);
    ck_assert(n == 13 && memcmp(kept, "saved earlier", 13) == 0);
    free(kept);
    ck_assert_int_eq(count_files(dir, ".tmp."), 0);
}
END_TEST

START_TEST(test_npy_writer_alloc_failures)
{
    const char *dir = fresh_dir("npyw_oom");
    const char *p = join(dir, "x.npy");
    const size_t cols = 3;
    const float v[6] = {1, 2, 3, 4, 5, 6};
    int failures = 0;
    for (uint64_t k = 1; k < 64; k++) {
        mimic__alloc_fail_at(k);
        mimic_npy_writer *w = NULL;
        int rc = mimic_npy_writer_open(&w, p, MIMIC_DTYPE_F32, &cols, 1);
        if (rc == MIMIC_OK)
            rc = mimic_npy_writer_append(w, v, 2);
        if (rc == MIMIC_OK)
            rc = mimic_npy_writer_close(w);
        else
            mimic_npy_writer_abort(w);
        uint64_t made = mimic__alloc_fail_at(0);
        ck_assert_msg(rc == MIMIC_OK || rc == MIMIC_ERR_NOMEM, "k=%llu: %d (%s)",
                      (unsigned long long)k, rc, mimic_last_error());
        ck_assert_int_eq(count_files(dir, ".tmp."), 0);
        if (rc == MIMIC_OK) {
            ck_assert_uint_lt(made, k);
            break;
        }
        failures++;
        ck_assert_int_eq(access(p, F_OK), -1);
    }
    ck_assert_int_gt(failures, 0);
    ck_assert_int_eq(access(p, F_OK), 0);
}
END_TEST

/* ---- the manifest parser ------------------------------------------------------------------- */

typedef struct parse_case {
    const char *text;
    int status;
    const char *part; /* in the message, or (status 0) the second shard's inputs */
} parse_case;

static const parse_case parse_cases[] = {
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a.npy\", "
     "\"logits\": \"b.npy\"}, {\"inputs\": \"c\\u00e9.npy\", \"logits\": null, \"labels\": "
     "\"y.npy\", \"rows\": 7}], \"rows\": 9, \"metadata\": {\"seed\": [1, 2, {\"x\": null}]}}",
     0, "c\xc3\xa9.npy"},
    {"[1]", MIMIC_ERR_FORMAT, "a manifest is a JSON object"},
    {"{\"version\": 1, \"shards\": [{\"inputs\": \"a\"}]}", MIMIC_ERR_FORMAT, "no \"format\""},
    {"{\"format\": \"mimic-manifest\", \"shards\": [{\"inputs\": \"a\"}]}", MIMIC_ERR_FORMAT,
     "no \"version\""},
    {"{\"format\": \"mimic-manifest\", \"version\": 1}", MIMIC_ERR_FORMAT, "no \"shards\""},
    {"{\"format\": \"other\", \"version\": 1, \"shards\": []}", MIMIC_ERR_FORMAT,
     "\"format\" is \"other\""},
    {"{\"format\": \"mimic-manifest\", \"version\": 2, \"shards\": []}", MIMIC_ERR_VERSION,
     "manifest version 2"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": []}", MIMIC_ERR_FORMAT,
     "\"shards\" is empty"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": {}}", MIMIC_ERR_FORMAT,
     "must be an array"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [\"a.npy\"]}", MIMIC_ERR_FORMAT,
     "expected a shard object"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"logits\": \"z\"}]}",
     MIMIC_ERR_FORMAT, "shard 0: no \"inputs\""},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{}]}", MIMIC_ERR_FORMAT,
     "shard 0: empty object"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a\"}, "
     "{\"inputs\": \"b\", \"label\": \"y\"}]}",
     MIMIC_ERR_FORMAT, "shard 1: unknown key \"label\""},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a\", "
     "\"inputs\": \"b\"}]}",
     MIMIC_ERR_FORMAT, "shard 0: duplicate key \"inputs\""},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a\", "
     "\"rows\": 0}]}",
     MIMIC_ERR_FORMAT, "\"rows\" is 0"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a\", "
     "\"rows\": -3}]}",
     MIMIC_ERR_FORMAT, "negative integer"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"\"}]}",
     MIMIC_ERR_FORMAT, "empty path"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": null}]}",
     MIMIC_ERR_FORMAT, "expected a path string"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a\"}]} x",
     MIMIC_ERR_FORMAT, "unexpected bytes"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shard\": []}", MIMIC_ERR_FORMAT,
     "unknown key \"shard\""},
    {"{\"format\": \"mimic-manifest\", \"format\": \"mimic-manifest\"}", MIMIC_ERR_FORMAT,
     "duplicate key \"format\""},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a\\u0000\"}]}",
     MIMIC_ERR_FORMAT, "\\u0000"},
    {"{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": [{\"inputs\": \"a\"",
     MIMIC_ERR_FORMAT, "expected ',' or '}'"},
    {"", MIMIC_ERR_FORMAT, "expected '{'"},
};

START_TEST(test_manifest_parse)
{
    const parse_case *c = &parse_cases[_i];
    size_t len = strlen(c->text);
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    memcpy(copy, c->text, len);
    mimic__manifest m;
    int rc = mimic__manifest_parse(copy, len, "m.json", &m);
    free(copy);
    if (c->status != MIMIC_OK) {
        assert_error(rc, c->status, c->part);
        ck_assert_msg(strncmp(mimic_last_error(), "m.json: ", 8) == 0, "%s", mimic_last_error());
        ck_assert_ptr_null(m.shards);
        return;
    }
    ck_assert_int_eq(rc, MIMIC_OK);
    ck_assert_uint_eq(m.n_shards, 2);
    ck_assert_str_eq(m.shards[0].inputs, "a.npy");
    ck_assert_str_eq(m.shards[0].logits, "b.npy");
    ck_assert_ptr_null(m.shards[0].labels);
    ck_assert(!m.shards[0].has_rows);
    ck_assert_str_eq(m.shards[1].inputs, c->part);
    ck_assert_ptr_null(m.shards[1].logits);
    ck_assert_str_eq(m.shards[1].labels, "y.npy");
    ck_assert(m.shards[1].has_rows && m.shards[1].rows == 7);
    ck_assert(m.has_rows && m.rows == 9);
    /* the formatter writes what the parser reads */
    char *text = NULL;
    size_t n = 0;
    ck_assert_int_eq(mimic__manifest_format(&m, "m.json", &text, &n), MIMIC_OK);
    mimic__manifest again;
    ck_assert_int_eq(mimic__manifest_parse((const uint8_t *)text, n, "again", &again), MIMIC_OK);
    ck_assert_uint_eq(again.n_shards, 2);
    ck_assert_str_eq(again.shards[1].inputs, c->part);
    ck_assert_str_eq(again.shards[1].labels, "y.npy");
    ck_assert(again.shards[1].rows == 7 && again.rows == 9);
    ck_assert_int_eq(mimic__sniff((const uint8_t *)text, n), MIMIC_FILE_MANIFEST);
    mimic__manifest_free(&again);
    mimic__free(text);
    mimic__manifest_free(&m);
}
END_TEST

/* ---- sharded datasets ------------------------------------------------------------------------ */

#define NX 5 /* input columns of the test shards */
#define NC 3 /* classes */

/* Shard k of a small transfer set: rows of u8 inputs, float16 logits, int32 labels whose
 * values are functions of the global row (first + i), so any row can be checked. */
static uint8_t x_at(uint64_t r, size_t j)
{
    return (uint8_t)((r * 31 + j * 7) % 251);
}
static float z_at(uint64_t r, size_t c)
{
    return (float)((int)((r * 13 + c * 5) % 64) - 32) * 0.25f;
}
static int32_t y_at(uint64_t r)
{
    return (int32_t)(r % NC);
}

static void write_shard(const char *dir, int k, uint64_t first, size_t rows, int with_labels)
{
    char name[3][64];
    snprintf(name[0], sizeof name[0], "s%d.inputs.npy", k);
    snprintf(name[1], sizeof name[1], "s%d.logits.npy", k);
    snprintf(name[2], sizeof name[2], "s%d.labels.npy", k);
    uint8_t *x = malloc(rows * NX);
    uint16_t *z = malloc(rows * NC * sizeof *z);
    int32_t *y = malloc(rows * sizeof *y);
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < NX; j++)
            x[i * NX + j] = x_at(first + i, j);
        for (size_t c = 0; c < NC; c++)
            z[i * NC + c] = f16_of(z_at(first + i, c));
        y[i] = y_at(first + i);
    }
    const size_t nx = NX, nc = NC;
    mimic_npy_writer *w;
    ck_assert_int_eq(mimic_npy_writer_open(&w, join(dir, name[0]), MIMIC_DTYPE_U8, &nx, 1),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, x, rows), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_open(&w, join(dir, name[1]), MIMIC_DTYPE_F16, &nc, 1),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, z, rows), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    if (with_labels)
        ck_assert_int_eq(mimic_npy_save(join(dir, name[2]), y, MIMIC_DTYPE_I32, rows, 0), MIMIC_OK);
    free(x);
    free(z);
    free(y);
}

/* dir/m.json over shards 0..n-1 written by write_shard (relative paths). */
static const char *write_manifest(const char *dir, int n, int with_labels)
{
    const char *path = join(dir, "m.json");
    mimic_manifest_writer *m = NULL;
    ck_assert_int_eq(mimic_manifest_writer_open(&m, path), MIMIC_OK);
    for (int k = 0; k < n; k++) {
        char x[64], z[64], y[64];
        snprintf(x, sizeof x, "s%d.inputs.npy", k);
        snprintf(z, sizeof z, "s%d.logits.npy", k);
        snprintf(y, sizeof y, "s%d.labels.npy", k);
        int rc = mimic_manifest_writer_add(m, x, z, with_labels ? y : NULL);
        ck_assert_msg(rc == MIMIC_OK, "%s", mimic_last_error());
    }
    ck_assert_int_eq(mimic_manifest_writer_close(m), MIMIC_OK);
    return path;
}

static const size_t shard_rows[3] = {4, 7, 5};

static const char *three_shards(const char *name)
{
    const char *dir = fresh_dir(name);
    uint64_t first = 0;
    for (int k = 0; k < 3; k++) {
        write_shard(dir, k, first, shard_rows[k], 1);
        first += shard_rows[k];
    }
    return write_manifest(dir, 3, 1);
}

/* Rows [0, n) of d (global rows first..first+n) hold the values of x_at, z_at, y_at. */
static void assert_rows(const mimic_dataset *d, size_t n, uint64_t first)
{
    float *x = malloc(n * NX * sizeof *x), *z = malloc(n * NC * sizeof *z);
    int32_t *y = malloc(n * sizeof *y);
    ck_assert_int_eq(mimic_dataset_get_inputs(d, 0, n, x), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_get_logits(d, 0, n, z), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_get_labels(d, 0, n, y), MIMIC_OK);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < NX; j++)
            ck_assert_float_eq(x[i * NX + j], (float)x_at(first + i, j));
        for (size_t c = 0; c < NC; c++)
            ck_assert_float_eq(z[i * NC + c], z_at(first + i, c));
        ck_assert_int_eq(y[i], y_at(first + i));
    }
    free(x);
    free(z);
    free(y);
}

START_TEST(test_manifest_load)
{
    const char *m = three_shards("shards3");
    mimic_dataset *d = NULL;
    ck_assert_msg(mimic_dataset_load_manifest(&d, m) == MIMIC_OK, "%s", mimic_last_error());
    ck_assert_uint_eq(mimic_dataset_rows(d), 16);
    ck_assert_uint_eq(mimic_dataset_n_shards(d), 3);
    ck_assert_uint_eq(mimic_dataset_n_inputs(d), NX);
    ck_assert_uint_eq(mimic_dataset_n_classes(d), NC);
    ck_assert_int_eq(mimic_dataset_input_dtype(d), MIMIC_DTYPE_U8);
    ck_assert_int_eq(mimic_dataset_logits_dtype(d), MIMIC_DTYPE_F16);
    ck_assert(mimic_dataset_has_labels(d) && mimic_dataset_has_logits(d));
    assert_rows(d, 16, 0);
    /* views across and within shards */
    mimic_dataset *v = NULL, *w = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&v, d, 2, 11), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_n_shards(v), 3);
    assert_rows(v, 11, 2);
    ck_assert_int_eq(mimic_dataset_slice(&w, v, 3, 5), MIMIC_OK); /* rows 5..9: shard 1 */
    ck_assert_uint_eq(mimic_dataset_n_shards(w), 1);
    assert_rows(w, 5, 5);
    uint64_t first, rows;
    const char *name;
    mimic__view_shard(v, 0, &first, &rows, &name);
    ck_assert(first == 0 && rows == 2 && strstr(name, "s0.inputs.npy"));
    mimic__view_shard(v, 2, &first, &rows, &name);
    ck_assert(first == 9 && rows == 2 && strstr(name, "s2.inputs.npy"));
    mimic_dataset_free(d); /* the views keep the storage */
    assert_rows(w, 5, 5);
    mimic_dataset_free(v);
    mimic_dataset_free(w);
    /* getters check their ranges */
    ck_assert_int_eq(mimic_dataset_load_manifest(&d, m), MIMIC_OK);
    float out[NC];
    assert_error(mimic_dataset_get_logits(d, 16, 1, out), MIMIC_ERR_RANGE, "outside");
    assert_error(mimic_dataset_get_logits(d, 0, 1, NULL), MIMIC_ERR_INVALID, "out is NULL");
    mimic_dataset_free(d);
}
END_TEST

/* A manifest file with `text` in `dir`. */
static const char *manifest_text(const char *dir, const char *text)
{
    const char *p = join(dir, "hand.json");
    tu_write_file(p, text, strlen(text));
    return p;
}

#define HEAD "{\"format\": \"mimic-manifest\", \"version\": 1, \"shards\": ["

START_TEST(test_manifest_errors)
{
    const char *m = three_shards("shards_err");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", m);
    *strrchr(dir, '/') = '\0';
    mimic_dataset *d = (mimic_dataset *)&d;
    char want[1200];

    /* a missing shard: named, with the manifest */
    const char *p = manifest_text(dir, HEAD "{\"inputs\": \"s0.inputs.npy\", \"logits\": "
                                            "\"s0.logits.npy\"}, {\"inputs\": \"gone.npy\", "
                                            "\"logits\": \"s1.logits.npy\"}]}");
    snprintf(want, sizeof want, "%s: shard 1: %s/gone.npy: cannot open", p, dir);
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_IO, want);
    ck_assert_ptr_null(d);
    /* rows that disagree with the manifest */
    p = manifest_text(dir, HEAD "{\"inputs\": \"s1.inputs.npy\", \"logits\": \"s1.logits.npy\", "
                                "\"rows\": 8}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_SHAPE,
                 "shard 0: the manifest says 8 rows, but");
    p = manifest_text(dir, HEAD "{\"inputs\": \"s1.inputs.npy\", \"logits\": \"s1.logits.npy\"}],"
                                " \"rows\": 8}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_SHAPE,
                 "the manifest says 8 rows, its shards hold 7");
    /* rows that disagree within a shard */
    p = manifest_text(dir, HEAD "{\"inputs\": \"s1.inputs.npy\", \"logits\": \"s2.logits.npy\"}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_SHAPE, "shard 0: ");
    /* labels in one shard and not in another */
    p = manifest_text(dir, HEAD "{\"inputs\": \"s0.inputs.npy\", \"logits\": \"s0.logits.npy\", "
                                "\"labels\": \"s0.labels.npy\"}, {\"inputs\": \"s1.inputs.npy\", "
                                "\"logits\": \"s1.logits.npy\"}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_SHAPE,
                 "shard 1 has no labels, but shard 0 has");
    /* another element type: float32 logits after float16 ones */
    float z32[7 * NC];
    for (size_t i = 0; i < 7 * NC; i++)
        z32[i] = (float)i;
    ck_assert_int_eq(mimic_npy_save(join(dir, "z32.npy"), z32, MIMIC_DTYPE_F32, 7, NC), MIMIC_OK);
    p = manifest_text(dir, HEAD "{\"inputs\": \"s0.inputs.npy\", \"logits\": \"s0.logits.npy\"}, "
                                "{\"inputs\": \"s1.inputs.npy\", \"logits\": \"z32.npy\"}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_UNSUPPORTED, "shard 1: ");
    ck_assert_ptr_nonnull(
        strstr(mimic_last_error(), "holds '<f4', but shard 0's logits hold '<f2'"));
    /* other columns */
    ck_assert_int_eq(mimic_npy_save(join(dir, "z4.npy"), z32, MIMIC_DTYPE_F32, 5, 4), MIMIC_OK);
    p = manifest_text(dir, HEAD "{\"inputs\": \"s2.inputs.npy\", \"logits\": \"s2.logits.npy\"}, "
                                "{\"inputs\": \"s2.inputs.npy\", \"logits\": \"z4.npy\"}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_SHAPE,
                 "has 4 columns, but shard 0's logits has 3");
    /* a truncated shard */
    size_t n = 0;
    uint8_t *bytes = tu_read_file(join(dir, "s1.logits.npy"), &n);
    tu_write_file(join(dir, "cut.npy"), bytes, n - 5);
    free(bytes);
    p = manifest_text(dir, HEAD "{\"inputs\": \"s0.inputs.npy\", \"logits\": \"s0.logits.npy\"}, "
                                "{\"inputs\": \"s1.inputs.npy\", \"logits\": \"cut.npy\"}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_FORMAT, "shard 1: ");
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "cut.npy: data truncated"));
    /* a NaN teacher logit in shard 2: shard, file, row and column */
    uint16_t zh[5 * NC];
    for (size_t i = 0; i < 5 * NC; i++)
        zh[i] = f16_of(1.0f);
    zh[3 * NC + 1] = 0x7e00; /* NaN */
    const size_t nc = NC;
    mimic_npy_writer *w;
    ck_assert_int_eq(mimic_npy_writer_open(&w, join(dir, "nan.npy"), MIMIC_DTYPE_F16, &nc, 1),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, zh, 5), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    p = manifest_text(dir, HEAD "{\"inputs\": \"s0.inputs.npy\", \"logits\": \"s0.logits.npy\"}, "
                                "{\"inputs\": \"s1.inputs.npy\", \"logits\": \"s1.logits.npy\"}, "
                                "{\"inputs\": \"s2.inputs.npy\", \"logits\": \"nan.npy\"}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_NUMERIC, "shard 2: ");
    ck_assert_ptr_nonnull(
        strstr(mimic_last_error(), "nan.npy: teacher logit at row 3, column 1 is NaN"));
    /* a file of another kind where a manifest or an array belongs */
    assert_error(mimic_dataset_load_manifest(&d, join(dir, "s0.inputs.npy")), MIMIC_ERR_FORMAT,
                 "this is a NumPy .npy array, not a dataset manifest");
    p = manifest_text(dir, HEAD "{\"inputs\": \"hand.json\", \"logits\": \"s0.logits.npy\"}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_FORMAT,
                 "this is a dataset manifest, not an array");
    assert_error(mimic_dataset_load_manifest(&d, dir), MIMIC_ERR_IO, "not a regular file");
    assert_error(mimic_dataset_load_manifest(&d, join(dir, "none.json")), MIMIC_ERR_IO,
                 "cannot open");
    /* malformed JSON: the byte */
    p = manifest_text(dir, HEAD "{\"inputs\": \"s0.inputs.npy\", \"logits\": 3}]}");
    assert_error(mimic_dataset_load_manifest(&d, p), MIMIC_ERR_FORMAT, "manifest, byte ");
    assert_error(mimic_dataset_load_manifest(NULL, p), MIMIC_ERR_INVALID, "out is NULL");
    assert_error(mimic_dataset_load_manifest(&d, NULL), MIMIC_ERR_INVALID, "path");
    /* the array loaders point at the manifest loader */
    mimic_array *a = NULL;
    assert_error(mimic_array_load(&a, m), MIMIC_ERR_FORMAT, "mimic_dataset_load_manifest");
}
END_TEST

START_TEST(test_manifest_writer)
{
    const char *dir = fresh_dir("mwriter");
    write_shard(dir, 0, 0, 4, 1);
    write_shard(dir, 1, 4, 3, 0);
    float z4[3 * 4] = {0};
    ck_assert_int_eq(mimic_npy_save(join(dir, "z4.npy"), z4, MIMIC_DTYPE_F32, 3, 4), MIMIC_OK);
    const char *path = join(dir, "m.json");
    mimic_manifest_writer *m = NULL;
    ck_assert_int_eq(mimic_manifest_writer_open(&m, path), MIMIC_OK);
    assert_error(mimic_manifest_writer_add(m, NULL, "z", NULL), MIMIC_ERR_INVALID,
                 "shard 0: inputs path");
    assert_error(mimic_manifest_writer_add(m, "s0.inputs.npy", NULL, NULL), MIMIC_ERR_INVALID,
                 "both NULL");
    assert_error(mimic_manifest_writer_add(m, "s0.inputs.npy", "gone.npy", NULL), MIMIC_ERR_IO,
                 "gone.npy: cannot open");
    assert_error(mimic_manifest_writer_add(m, "s0.inputs.npy", "\xff\xfe.npy", NULL),
                 MIMIC_ERR_INVALID, "not UTF-8");
    assert_error(mimic_manifest_writer_add(m, "s0.labels.npy", "s0.logits.npy", NULL),
                 MIMIC_ERR_UNSUPPORTED, "inputs must be a 2-D array");
    ck_assert_int_eq(
        mimic_manifest_writer_add(m, "s0.inputs.npy", "s0.logits.npy", "s0.labels.npy"), MIMIC_OK);
    assert_error(mimic_manifest_writer_add(m, "s1.inputs.npy", "s1.logits.npy", NULL),
                 MIMIC_ERR_SHAPE, "shard 1 has no labels, but shard 0 has");
    assert_error(mimic_manifest_writer_add(m, "s1.inputs.npy", "z4.npy", "s0.labels.npy"),
                 MIMIC_ERR_SHAPE, "s0.labels.npy: 4 rows, but");
    ck_assert_uint_eq(mimic_manifest_writer_rows(m), 4);
    /* nothing is written until close */
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(mimic_manifest_writer_close(m), MIMIC_OK);
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_load_manifest(&d, path), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_rows(d), 4);
    mimic_dataset_free(d);
    /* no shards: nothing written; abort writes nothing */
    const char *p2 = join(dir, "empty.json");
    ck_assert_int_eq(mimic_manifest_writer_open(&m, p2), MIMIC_OK);
    assert_error(mimic_manifest_writer_close(m), MIMIC_ERR_INVALID, "no shards");
    ck_assert_int_eq(mimic_manifest_writer_open(&m, p2), MIMIC_OK);
    ck_assert_int_eq(mimic_manifest_writer_add(m, "s1.inputs.npy", "s1.logits.npy", NULL),
                     MIMIC_OK);
    mimic_manifest_writer_abort(m);
    mimic_manifest_writer_abort(NULL);
    ck_assert_int_eq(access(p2, F_OK), -1);
    assert_error(mimic_manifest_writer_add(NULL, "a", "b", NULL), MIMIC_ERR_MISUSE,
                 "manifest writer");
    ck_assert_int_eq(count_files(dir, ".tmp."), 0);

    /* paths JSON must escape, written and read back */
    char odd[64];
    snprintf(odd, sizeof odd, "%s", "q\"uo\\te \xc3\xa9.npy");
    size_t n = 0;
    void *bytes = tu_read_file(join(dir, "s1.inputs.npy"), &n);
    tu_write_file(join(dir, odd), bytes, n);
    free(bytes);
    ck_assert_int_eq(mimic_manifest_writer_open(&m, join(dir, "odd.json")), MIMIC_OK);
    ck_assert_int_eq(mimic_manifest_writer_add(m, odd, "s1.logits.npy", NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_manifest_writer_close(m), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_load_manifest(&d, join(dir, "odd.json")), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_rows(d), 3);
    mimic_dataset_free(d);
}
END_TEST

/* More than 2^32 rows: one small shard repeated, under two spellings of its path (mapped and
 * checked once), indexed with 64-bit arithmetic. */
START_TEST(test_manifest_beyond_2_32_rows)
{
    const char *dir = fresh_dir("huge");
    const size_t R = (size_t)1 << 20; /* rows of the shard */
    const int repeats = 4097;         /* 4097 x 2^20 > 2^32 */
    uint8_t *x = malloc(R);
    uint16_t *z = malloc(R * 2 * sizeof *z);
    for (size_t i = 0; i < R; i++) {
        x[i] = (uint8_t)(i % 251);
        z[2 * i] = f16_of((float)(i % 1024));
        z[2 * i + 1] = f16_of(-(float)(i % 512));
    }
    const size_t one = 1, two = 2;
    mimic_npy_writer *w;
    ck_assert_int_eq(mimic_npy_writer_open(&w, join(dir, "x.npy"), MIMIC_DTYPE_U8, &one, 1),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, x, R), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_open(&w, join(dir, "z.npy"), MIMIC_DTYPE_F16, &two, 1),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_append(w, z, R), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_writer_close(w), MIMIC_OK);
    free(x);
    free(z);
    mimic_manifest_writer *m;
    ck_assert_int_eq(mimic_manifest_writer_open(&m, join(dir, "m.json")), MIMIC_OK);
    for (int k = 0; k < repeats; k++)
        ck_assert_int_eq(mimic_manifest_writer_add(m, k % 2 ? "./x.npy" : "x.npy", "z.npy", NULL),
                         MIMIC_OK);
    ck_assert_uint_eq(mimic_manifest_writer_rows(m), (uint64_t)repeats * R);
    ck_assert_int_eq(mimic_manifest_writer_close(m), MIMIC_OK);

    mimic_dataset *d = NULL;
    ck_assert_msg(mimic_dataset_load_manifest(&d, join(dir, "m.json")) == MIMIC_OK, "%s",
                  mimic_last_error());
    const uint64_t N = (uint64_t)repeats * R;
    ck_assert(N > ((uint64_t)1 << 32));
    ck_assert_uint_eq(mimic_dataset_rows(d), N);
    ck_assert_uint_eq(mimic_dataset_n_shards(d), (size_t)repeats);
    const uint64_t probes[] = {
        0,    R - 1, R, ((uint64_t)1 << 32) - 1, (uint64_t)1 << 32, ((uint64_t)1 << 32) + 123457,
        N - 1};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
        uint64_t r = probes[k], local = r % R;
        float xv, zv[2];
        ck_assert_int_eq(mimic_dataset_get_inputs(d, r, 1, &xv), MIMIC_OK);
        ck_assert_int_eq(mimic_dataset_get_logits(d, r, 1, zv), MIMIC_OK);
        ck_assert_float_eq(xv, (float)(local % 251));
        ck_assert_float_eq(zv[0], (float)(local % 1024));
        ck_assert_float_eq(zv[1], -(float)(local % 512));
    }
    /* a view across the 2^32 boundary */
    mimic_dataset *v = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&v, d, ((size_t)1 << 32) - 2, 4), MIMIC_OK);
    ck_assert_uint_eq(mimic_dataset_n_shards(v), 2);
    float xs[4];
    ck_assert_int_eq(mimic_dataset_get_inputs(v, 0, 4, xs), MIMIC_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(xs[i], (float)(((((uint64_t)1 << 32) - 2 + i) % R) % 251));
    mimic_dataset_free(v);

    /* a few training steps on all of it: the order is computed, not stored */
    mimic_student *s = tt_student(1, 8, 0, 2, 1);
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    o.loss = MIMIC_LOSS_L2;
    o.target_norm = MIMIC_TARGET_NONE;
    o.batch_size = 64;
    o.epochs = 1;
    mimic_trainer *t = NULL;
    ck_assert_msg(mimic_trainer_create(&t, s, d, &o) == MIMIC_OK, "%s", mimic_last_error());
    for (int i = 0; i < 3; i++) {
        double loss = NAN;
        ck_assert_int_eq(mimic_trainer_step(t, &loss), MIMIC_OK);
        ck_assert(isfinite(loss));
    }
    mimic_trainer_free(t);
    mimic_student_free(s);
    mimic_dataset_free(d);
}
END_TEST

/* ---- training on shards and on float16 logits ----------------------------------------------- */

/* The runs of the training tests: L2, a few epochs, optionally checkpointed. */
static void run_options(mimic_train_options *o, uint64_t epochs, const char *ckpt, int resume)
{
    mimic_train_options_init(o, sizeof *o);
    o->loss = MIMIC_LOSS_L2;
    o->epochs = epochs;
    o->batch_size = 3;
    o->standardize = 1;
    o->seed = 11;
    o->schedule = MIMIC_SCHEDULE_CONSTANT; /* so a run can be resumed for more epochs */
    o->checkpoint_path = ckpt;
    o->resume = resume;
}

/* Train a student on d. */
static mimic_student *train_on(const mimic_dataset *d, const char *ckpt, int resume,
                               uint64_t epochs)
{
    mimic_student *s = tt_student(NX, 16, 0, NC, 7);
    mimic_train_options o;
    run_options(&o, epochs, ckpt, resume);
    int rc = mimic_train(s, d, &o, NULL);
    ck_assert_msg(rc == MIMIC_OK, "%s", mimic_last_error());
    return s;
}

static bool same_params(const mimic_student *a, const mimic_student *b)
{
    return mimic_student_num_params(a) == mimic_student_num_params(b) &&
           memcmp(a->params, b->params, mimic_student_num_params(a) * sizeof(float)) == 0;
}

START_TEST(test_train_shards_as_one_file)
{
    const char *m = three_shards("train_shards");
    mimic_dataset *sharded = NULL, *single = NULL;
    ck_assert_int_eq(mimic_dataset_load_manifest(&sharded, m), MIMIC_OK);
    /* the same rows in one float32 array: the float16 values widened exactly */
    const size_t N = 16;
    uint8_t x[16 * NX];
    float z[16 * NC];
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < NX; j++)
            x[i * NX + j] = x_at(i, j);
        for (size_t c = 0; c < NC; c++)
            z[i * NC + c] = z_at(i, c);
    }
    ck_assert_int_eq(mimic_dataset_create(&single, x, MIMIC_DTYPE_U8, z, NULL, N, NX, NC),
                     MIMIC_OK);
    mimic_student *a = train_on(sharded, NULL, 0, 3), *b = train_on(single, NULL, 0, 3);
    ck_assert(same_params(a, b));
    mimic_student_free(a);
    mimic_student_free(b);
    mimic_dataset_free(single);
    mimic_dataset_free(sharded);
}
END_TEST

START_TEST(test_checkpoint_names_changed_shard)
{
    const char *m = three_shards("ckpt_shards");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", m);
    *strrchr(dir, '/') = '\0';
    const char *ck = join(dir, "run.ckpt");
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_load_manifest(&d, m), MIMIC_OK);
    /* an interrupted run resumed on the same shards is the uninterrupted run */
    mimic_student *full = train_on(d, NULL, 0, 4);
    mimic_student_free(train_on(d, ck, 0, 2));
    mimic_student *resumed = train_on(d, ck, 1, 4);
    ck_assert(same_params(full, resumed));
    mimic_student_free(full);
    mimic_student_free(resumed);
    mimic_student_free(train_on(d, ck, 0, 2));
    mimic_dataset_free(d);

    /* shard 1's logits replaced by other values of the same shape */
    write_shard(dir, 1, 1000, shard_rows[1], 1);
    ck_assert_int_eq(mimic_dataset_load_manifest(&d, m), MIMIC_OK);
    mimic_student *s = tt_student(NX, 16, 0, NC, 7);
    mimic_train_options o;
    run_options(&o, 4, ck, 1);
    char want[1200];
    snprintf(want, sizeof want,
             "shard 1 (%s/s1.inputs.npy) differs from the one it was written "
             "with",
             dir);
    assert_error(mimic_train(s, d, &o, NULL), MIMIC_ERR_SHAPE, want);
    mimic_dataset_free(d);
    /* a sharded checkpoint resumed on one file */
    mimic_dataset *one = NULL;
    ck_assert_int_eq(
        mimic_dataset_load_npy(&one, join(dir, "s0.inputs.npy"), join(dir, "s0.logits.npy"), NULL),
        MIMIC_OK);
    assert_error(mimic_train(s, one, &o, NULL), MIMIC_ERR_SHAPE, "written for a sharded");
    mimic_dataset_free(one);
    /* a missing shard is refused when the manifest is loaded, by name */
    snprintf(want, sizeof want, "%s/s2.logits.npy", dir);
    ck_assert_int_eq(unlink(want), 0);
    assert_error(mimic_dataset_load_manifest(&d, m), MIMIC_ERR_IO, "shard 2: ");
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), want));
    mimic_student_free(s);
}
END_TEST

/* ---- the order of an epoch ------------------------------------------------------------------ */

START_TEST(test_order_keyed_is_a_permutation)
{
    const uint64_t rows[] = {MIMIC__ORDER_TABLE_ROWS + 1, MIMIC__ORDER_TABLE_ROWS + 77,
                             3 * MIMIC__ORDER_TABLE_ROWS - 5};
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        const uint64_t n = rows[k];
        mimic__order o;
        ck_assert_int_eq(mimic__order_init(&o, n), MIMIC_OK);
        ck_assert_ptr_null(o.table); /* no memory per row */
        mimic__rng r, start;
        mimic__rng_seed(&r, 5 + k);
        start = r;
        mimic__order_draw(&o, &r);
        ck_assert(mimic__order_consistent(n, &start, &r));
        mimic__rng other = start;
        (void)mimic__rng_next(&other);
        ck_assert(!mimic__order_consistent(n, &start, &other));
        uint8_t *seen = calloc((size_t)(n + 7) / 8, 1);
        uint64_t fixed = 0, ids[100];
        for (uint64_t i = 0; i < n; i++) {
            uint64_t v = mimic__order_at(&o, i);
            ck_assert(v < n);
            ck_assert_msg(!(seen[v / 8] >> (v % 8) & 1), "row %llu twice", (unsigned long long)v);
            seen[v / 8] |= (uint8_t)(1u << (v % 8));
            fixed += v == i;
        }
        free(seen);
        ck_assert_uint_lt(fixed, 20); /* shuffled (a random permutation fixes ~1 point) */
        /* a batch of positions is the positions one by one */
        const uint64_t *b = mimic__order_batch(&o, n - 100, 100, ids);
        for (int i = 0; i < 100; i++)
            ck_assert_uint_eq(b[i], mimic__order_at(&o, n - 100 + (uint64_t)i));
        /* another draw, another order */
        mimic__order_draw(&o, &r);
        uint64_t same = 0;
        for (uint64_t i = 0; i < 1000; i++)
            same += mimic__order_at(&o, i) == b[0];
        ck_assert_uint_lt(same, 5);
        mimic__order_free(&o);
    }
}
END_TEST

START_TEST(test_order_table_is_fisher_yates)
{
    /* up to the threshold: the shuffle libmimic 1.x made, so results are unchanged */
    const uint64_t n = 1000;
    mimic__order o;
    ck_assert_int_eq(mimic__order_init(&o, n), MIMIC_OK);
    ck_assert_ptr_nonnull(o.table);
    mimic__rng r, ref;
    mimic__rng_seed(&r, 3);
    ref = r;
    mimic__order_draw(&o, &r);
    uint64_t perm[1000];
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = mimic__rng_below(&ref, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    ck_assert(memcmp(perm, o.table, sizeof perm) == 0);
    ck_assert(memcmp(&r, &ref, sizeof r) == 0);
    mimic__order_free(&o);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *w = tcase_create("npy_writer");
    tcase_add_test(w, test_npy_writer_roundtrip);
    tcase_add_test(w, test_npy_writer_errors);
    tcase_add_test(w, test_npy_writer_full_disk);
    tcase_add_test(w, test_npy_writer_alloc_failures);
    suite_add_tcase(s, w);
    TCase *m = tcase_create("manifest");
    tcase_add_loop_test(m, test_manifest_parse, 0, sizeof parse_cases / sizeof parse_cases[0]);
    tcase_add_test(m, test_manifest_load);
    tcase_add_test(m, test_manifest_errors);
    tcase_add_test(m, test_manifest_writer);
    tcase_set_timeout(m, 600);
    tcase_add_test(m, test_manifest_beyond_2_32_rows);
    suite_add_tcase(s, m);
    TCase *t = tcase_create("training");
    tcase_add_test(t, test_train_shards_as_one_file);
    tcase_add_test(t, test_checkpoint_names_changed_shard);
    tcase_add_test(t, test_order_keyed_is_a_permutation);
    tcase_add_test(t, test_order_table_is_fisher_yates);
    tcase_set_timeout(t, 600);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
