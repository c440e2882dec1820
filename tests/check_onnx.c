/* ONNX export: the protobuf fields it writes (decoded here with a mini reader), every
 * activation with/without bottleneck and normalization, onnx.checker, I/O and misuse errors,
 * allocation failures. The ONNX Runtime comparison lives in tests/onnx/run.sh. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/train.h"
#include "testutil.h"

/* ---- a mini protobuf reader ----------------------------------------------------------- */

typedef struct pb_field {
    uint32_t num, wire;
    uint64_t v;          /* wire 0 */
    const uint8_t *data; /* wire 2 */
    size_t len;
} pb_field;

static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 1;
    }
    return 0;
}

/* Next field of [*p, end): 1 on success, 0 at the end, -1 on malformed input. */
static int rd_field(const uint8_t **p, const uint8_t *end, pb_field *f)
{
    if (*p == end)
        return 0;
    uint64_t key;
    if (!rd_varint(p, end, &key))
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    if (f->wire == 0)
        return rd_varint(p, end, &f->v) ? 1 : -1;
    if (f->wire == 2) {
        uint64_t n;
        if (!rd_varint(p, end, &n) || n > (uint64_t)(end - *p))
            return -1;
        f->data = *p;
        f->len = (size_t)n;
        *p += n;
        return 1;
    }
    return -1; /* the exporter writes only varints and length-delimited fields */
}

static int str_is(const pb_field *f, const char *s)
{
    return f->wire == 2 && f->len == strlen(s) && memcmp(f->data, s, f->len) == 0;
}

/* The string field `num` of a message, or NULL (copied into buf). */
static const char *sub_string(const uint8_t *p, size_t n, uint32_t num, char *buf, size_t cap)
{
    const uint8_t *end = p + n;
    pb_field f;
    while (rd_field(&p, end, &f) == 1) {
        if (f.num == num && f.wire == 2 && f.len < cap) {
            memcpy(buf, f.data, f.len);
            buf[f.len] = '\0';
            return buf;
        }
    }
    return NULL;
}

/* ---- students ---------------------------------------------------------------------------- */

static mimic_student *make_student(size_t D, size_t k, size_t H, size_t C, int32_t act, int norm)
{
    mimic_student *s = tu_student(D, k, H, C, act, 7);
    if (norm)
        tu_set_norm(s, D, 1);
    return s;
}

/* Walk the whole model: top-level fields, opset, metadata, and every initializer's bytes
 * against the student's tensor. */
static void check_model_bytes(const uint8_t *buf, size_t n, const mimic_student *s, int32_t act,
                              size_t k, int norm)
{
    const uint8_t *p = buf, *end = buf + n;
    pb_field f;
    int r, seen_ir = 0, seen_opset = 0, seen_graph = 0, n_meta = 0, n_init = 0, n_nodes = 0;
    char tmp[64], key[64];
    /* The first bytes: ir_version (field 1, varint) = 7. */
    ck_assert_int_eq(rd_field(&p, end, &f), 1);
    ck_assert_uint_eq(f.num, 1);
    ck_assert_uint_eq(f.wire, 0);
    ck_assert_uint_eq(f.v, 7);
    seen_ir = 1;
    while ((r = rd_field(&p, end, &f)) == 1) {
        if (f.num == 2) {
            ck_assert(str_is(&f, "libmimic"));
        } else if (f.num == 3) {
            ck_assert(str_is(&f, mimic_version_string()));
        } else if (f.num == 8) { /* opset_import: domain "" version 13 */
            const uint8_t *q = f.data, *qe = f.data + f.len;
            pb_field g;
            uint64_t version = 0;
            while (rd_field(&q, qe, &g) == 1) {
                if (g.num == 1)
                    ck_assert(str_is(&g, ""));
                if (g.num == 2)
                    version = g.v;
            }
            ck_assert_uint_eq(version, 13);
            seen_opset++;
        } else if (f.num == 14) { /* metadata_props */
            ck_assert_ptr_nonnull(sub_string(f.data, f.len, 1, key, sizeof key));
            ck_assert_ptr_nonnull(sub_string(f.data, f.len, 2, tmp, sizeof tmp));
            if (strcmp(key, "n_bottleneck") == 0)
                ck_assert_uint_eq(strtoul(tmp, NULL, 10), k);
            if (strcmp(key, "activation") == 0)
                ck_assert_str_eq(tmp, act == MIMIC_ACT_RELU      ? "relu"
                                      : act == MIMIC_ACT_SIGMOID ? "sigmoid"
                                                                 : "tanh");
            n_meta++;
        } else if (f.num == 7) { /* graph */
            const uint8_t *q = f.data, *qe = f.data + f.len;
            pb_field g;
            while (rd_field(&q, qe, &g) == 1) {
                if (g.num == 1)
                    n_nodes++;
                if (g.num != 5) /* initializer: name (8), raw_data (9) vs the student */
                    continue;
                const uint8_t *t = g.data, *te = g.data + g.len;
                pb_field h;
                const uint8_t *raw = NULL;
                size_t raw_len = 0;
                while (rd_field(&t, te, &h) == 1)
                    if (h.num == 9) {
                        raw = h.data;
                        raw_len = h.len;
                    }
                ck_assert_ptr_nonnull(sub_string(g.data, g.len, 8, key, sizeof key));
                const float *data;
                size_t rows, cols;
                ck_assert_int_eq(mimic_student_tensor(s, key, &data, &rows, &cols), MIMIC_OK);
                ck_assert_uint_eq(raw_len, rows * cols * 4);
                ck_assert(memcmp(raw, data, raw_len) == 0); /* x86/ARM: little-endian host */
                n_init++;
            }
            seen_graph++;
        }
    }
    ck_assert_int_eq(r, 0); /* consumed exactly to the end: lengths are exact */
    ck_assert(seen_ir);
    ck_assert_int_eq(seen_opset, 1);
    ck_assert_int_eq(seen_graph, 1);
    ck_assert_int_eq(n_meta, 5);
    ck_assert_int_eq(n_init, (norm ? 2 : 0) + (k ? 1 : 0) + 4);
    ck_assert_int_eq(n_nodes, (norm ? 2 : 0) + (k ? 1 : 0) + 3);
}

START_TEST(test_export_variants)
{
    const int32_t acts[] = {MIMIC_ACT_RELU, MIMIC_ACT_SIGMOID, MIMIC_ACT_TANH};
    for (int a = 0; a < 3; a++)
        for (int kb = 0; kb < 2; kb++)
            for (int norm = 0; norm < 2; norm++) {
                size_t k = kb ? 6 : 0;
                mimic_student *s = make_student(21, k, 33, 5, acts[a], norm);
                const char *path = tu_path("variant.onnx");
                ck_assert_int_eq(mimic_student_export_onnx(s, path), MIMIC_OK);
                size_t n = 0;
                uint8_t *buf = tu_read_file(path, &n);
                ck_assert_ptr_nonnull(buf);
                check_model_bytes(buf, n, s, acts[a], k, norm);
                free(buf);
                mimic_student_free(s);
            }
}
END_TEST

static const char *const checker_script =
    "import sys, onnx\n"
    "m = onnx.load(sys.argv[1])\n"
    "onnx.checker.check_model(m, full_check=True)\n"
    "assert m.ir_version == 7 and m.producer_name == 'libmimic', m\n"
    "assert [(o.domain, o.version) for o in m.opset_import] == [('', 13)]\n"
    "meta = {p.key: p.value for p in m.metadata_props}\n"
    "assert meta == {'n_inputs': '21', 'n_hidden': '33', 'n_bottleneck': '6',\n"
    "                'n_classes': '5', 'activation': 'tanh'}, meta\n"
    "d = m.graph.input[0].type.tensor_type.shape.dim\n"
    "assert m.graph.input[0].name == 'input' and d[0].dim_param == 'batch' and d[1].dim_value == 21\n"
    "d = m.graph.output[0].type.tensor_type.shape.dim\n"
    "assert m.graph.output[0].name == 'logits' and d[0].dim_param == 'batch' and d[1].dim_value == 5\n"
    "assert [n.op_type for n in m.graph.node] == ['Sub', 'Mul', 'Gemm', 'Gemm', 'Tanh', 'Gemm']\n";

START_TEST(test_onnx_checker)
{
    mimic_student *s = make_student(21, 6, 33, 5, MIMIC_ACT_TANH, 1);
    const char *path = tu_path("checked.onnx");
    ck_assert_int_eq(mimic_student_export_onnx(s, path), MIMIC_OK);
    const char *args[] = {path};
    if (tu_have_python("onnx", "test_onnx_checker"))
        ck_assert_int_eq(tu_python(checker_script, args, 1), 0);
    mimic_student_free(s);
}
END_TEST

static int dir_has_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp."))
            found = 1;
    closedir(d);
    return found;
}

START_TEST(test_io_errors)
{
    mimic_student *s = make_student(8, 0, 4, 3, MIMIC_ACT_RELU, 0);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", tu_path("a_directory"));
    mkdir(dir, 0755);
    ck_assert_int_eq(mimic_student_export_onnx(s, dir), MIMIC_ERR_IO);
    ck_assert(strstr(mimic_last_error(), "a_directory") != NULL);

    const char *missing = tu_path("no/such/dir/model.onnx");
    ck_assert_int_eq(mimic_student_export_onnx(s, missing), MIMIC_ERR_IO);
    ck_assert(strstr(mimic_last_error(), "no/such/dir") != NULL);

    /* An existing file is replaced only by a complete model. */
    const char *path = tu_path("existing.onnx");
    tu_write_file(path, "keep me", 7);
    mimic__alloc_fail_at(1);
    ck_assert_int_eq(mimic_student_export_onnx(s, path), MIMIC_ERR_NOMEM);
    mimic__alloc_fail_at(0);
    size_t n = 0;
    char *buf = tu_read_file(path, &n);
    ck_assert(buf && n == 7 && memcmp(buf, "keep me", 7) == 0);
    free(buf);
    ck_assert_int_eq(mimic_student_export_onnx(s, path), MIMIC_OK);
    buf = tu_read_file(path, &n);
    ck_assert(buf && n > 100 && buf[0] == 0x08 && buf[1] == 7); /* field 1, varint: 7 */
    free(buf);
    mimic_student_free(s);
}
END_TEST

START_TEST(test_misuse)
{
    mimic_student *s = make_student(8, 2, 4, 3, MIMIC_ACT_SIGMOID, 0);
    ck_assert_int_eq(mimic_student_export_onnx(NULL, tu_path("x.onnx")), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_student_export_onnx(s, NULL), MIMIC_ERR_INVALID);
    ck_assert(strstr(mimic_last_error(), "path") != NULL);
    ck_assert_int_eq(mimic_student_export_onnx(s, ""), MIMIC_ERR_INVALID);
    struct mimic_student fake;
    memset(&fake, 0, sizeof fake);
    fake.magic = MIMIC__MAGIC_DEAD; /* a freed handle */
    ck_assert_int_eq(mimic_student_export_onnx(&fake, tu_path("x.onnx")), MIMIC_ERR_MISUSE);
    fake.magic = MIMIC__MAGIC_DATASET; /* a wrong-typed handle */
    ck_assert_int_eq(mimic_student_export_onnx(&fake, tu_path("x.onnx")), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic__onnx_export(s, tu_path("x.onnx"), 42), MIMIC_ERR_INVALID);

    /* A successful export leaves the caller's last error alone (the normalization probe
     * must not leak its "no such tensor" message). */
    mimic__error(MIMIC_ERR_SHAPE, "earlier failure");
    ck_assert_int_eq(mimic_student_export_onnx(s, tu_path("x.onnx")), MIMIC_OK);
    ck_assert_str_eq(mimic_last_error(), "earlier failure");
    mimic_student_free(s);
}
END_TEST

START_TEST(test_alloc_failures)
{
    mimic_student *s = make_student(16, 4, 8, 3, MIMIC_ACT_RELU, 1);
    const char *path = tu_path("alloc.onnx");
    tu_write_file(path, "old", 3);
    int ok = 0;
    for (uint64_t n = 1; n < 1000 && !ok; n++) {
        mimic__alloc_fail_at(n);
        int rc = mimic_student_export_onnx(s, path);
        mimic__alloc_fail_at(0);
        if (rc == MIMIC_OK) {
            ok = 1;
            break;
        }
        ck_assert_int_eq(rc, MIMIC_ERR_NOMEM);
        ck_assert(strlen(mimic_last_error()) > 0);
        size_t len = 0;
        char *buf = tu_read_file(path, &len);
        ck_assert(buf && len == 3 && memcmp(buf, "old", 3) == 0);
        free(buf);
    }
    ck_assert(ok);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", tu_path(""));
    ck_assert(!dir_has_temp_files(dir));
    mimic_student_free(s);
}
END_TEST

START_TEST(test_matmul_layout)
{
    /* The benchmark's variant: MatMul on transposed weights + Add, also a valid model. */
    mimic_student *s = make_student(21, 6, 33, 5, MIMIC_ACT_TANH, 1);
    const char *path = tu_path("matmul.onnx");
    ck_assert_int_eq(mimic__onnx_export(s, path, MIMIC__ONNX_MATMUL), MIMIC_OK);
    const char *script =
        "import sys, onnx\n"
        "from onnx import numpy_helper\n"
        "m = onnx.load(sys.argv[1])\n"
        "onnx.checker.check_model(m, full_check=True)\n"
        "ops = [n.op_type for n in m.graph.node]\n"
        "assert ops == ['Sub', 'Mul', 'MatMul', 'MatMul', 'Add', 'Tanh', 'MatMul', 'Add'], ops\n"
        "w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}\n"
        "assert w['bottleneck.weight_t'].shape == (21, 6), w['bottleneck.weight_t'].shape\n";
    const char *args[] = {path};
    if (tu_have_python("onnx numpy", "test_matmul_layout"))
        ck_assert_int_eq(tu_python(script, args, 1), 0);
    /* The transposed initializer holds V^T. */
    const float *v;
    size_t rows, cols;
    ck_assert_int_eq(mimic_student_tensor(s, "bottleneck.weight", &v, &rows, &cols), MIMIC_OK);
    size_t n = 0;
    uint8_t *buf = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(buf);
    /* Find V^T's raw bytes: the first element row 0 of V^T is V[0][0], V[1][0], ... */
    float vt[6];
    for (size_t j = 0; j < 6; j++)
        vt[j] = v[j * cols];
    ck_assert_ptr_nonnull(memmem(buf, n, vt, sizeof vt));
    free(buf);
    mimic_student_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_export_variants);
    tcase_add_test(tc, test_onnx_checker);
    tcase_add_test(tc, test_io_errors);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_matmul_layout);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
