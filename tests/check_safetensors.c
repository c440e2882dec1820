/* .safetensors writer and the strict parser for untrusted bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "testutil.h"

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

START_TEST(test_roundtrip)
{
    const char *path = tu_path("rt.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {-1.5f, 0.25f, 1e-30f};
    const mimic__st_tensor t[3] = {
        {"matrix", 2, 3, a}, {"vector \"quoted\"\\", 3, 0, b}, {"empty", 0, 0, NULL}};
    const mimic__st_meta m[3] = {
        {"k", "v"}, {"escapes", "tab\tnewline\n\x01 quote\" caf\xc3\xa9"}, {"empty", ""}};
    ck_assert_int_eq(mimic__safetensors_write(path, t, 3, m, 3), MIMIC_OK);
    size_t n;
    uint8_t *raw = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(raw);
    uint64_t hlen = le64(raw);
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(n, 8 + hlen + 9 * 4);
    ck_assert_int_eq(raw[8], '{');
    /* padded with spaces after the closing brace */
    size_t end = 8 + (size_t)hlen;
    while (raw[end - 1] == ' ')
        end--;
    ck_assert_int_eq(raw[end - 1], '}');
    /* stable order: the data follows the given order */
    ck_assert_mem_eq(raw + 8 + hlen, a, sizeof a);
    ck_assert_mem_eq(raw + 8 + hlen + sizeof a, b, sizeof b);

    mimic__st_file f;
    ck_assert_msg(mimic__safetensors_parse(raw, n, "rt", &f) == MIMIC_OK, "%s",
                  mimic_last_error());
    ck_assert_uint_eq(f.n_tensors, 3);
    ck_assert_uint_eq(f.n_meta, 3);
    const mimic__st_tensor *x = mimic__st_find(&f, "matrix");
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(x->rows, 2);
    ck_assert_uint_eq(x->cols, 3);
    ck_assert_mem_eq(x->data, a, sizeof a);
    ck_assert_uint_eq((uintptr_t)x->data % 64, 0);
    x = mimic__st_find(&f, "vector \"quoted\"\\");
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(x->rows, 3);
    ck_assert_uint_eq(x->cols, 0);
    ck_assert_mem_eq(x->data, b, sizeof b);
    x = mimic__st_find(&f, "empty");
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(x->rows, 0);
    ck_assert_ptr_null(mimic__st_find(&f, "nope"));
    ck_assert_str_eq(mimic__st_meta_get(&f, "escapes"), m[1].value);
    ck_assert_str_eq(mimic__st_meta_get(&f, "empty"), "");
    ck_assert_ptr_null(mimic__st_meta_get(&f, "missing"));
    mimic__st_close(&f);
    mimic__st_close(&f); /* idempotent */

    mimic__st_file g;
    ck_assert_int_eq(mimic__safetensors_read(path, &g), MIMIC_OK);
    ck_assert_uint_eq(g.n_tensors, 3);
    mimic__st_close(&g);
    free(raw);

    /* Python's json reads our header */
    const char *py = "import json,struct,sys\n"
                     "b=open(sys.argv[1],'rb').read()\n"
                     "n=struct.unpack('<Q',b[:8])[0]\n"
                     "h=json.loads(b[8:8+n])\n"
                     "assert h['__metadata__']['escapes']=='tab\\tnewline\\n\\x01 quote\" caf\\xe9'\n"
                     "assert h['vector \"quoted\"\\\\']['shape']==[3]\n"
                     "assert h['matrix']=={'dtype':'F32','shape':[2,3],'data_offsets':[0,24]}\n";
    const char *args[1] = {path};
    if (tu_have_python("json", "test_roundtrip"))
        ck_assert_int_eq(tu_python(py, args, 1), 0);
}
END_TEST

static int parse_str(const char *header, const void *data, size_t data_len, mimic__st_file *f)
{
    size_t hl = strlen(header), n = 8 + hl + data_len;
    uint8_t *buf = malloc(n);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (data_len)
        memcpy(buf + 8 + hl, data, data_len);
    int rc = mimic__safetensors_parse(buf, n, "mem", f);
    free(buf);
    return rc;
}

/* Tensors of their own dtype (compact students): F16 and I8 written little-endian beside F32,
 * read back by the typed parse only; the F32 parse (checkpoints) refuses them. */
START_TEST(test_typed_round_trip)
{
    const char *path = tu_path("typed.safetensors");
    float a[6] = {1, 2, 3, 4, 5, -6};
    uint16_t h[4] = {0x3c00u, 0xc000u, 0x0001u, 0x7bffu}; /* 1, -2, a subnormal, 65504 */
    int8_t q[10] = {-128, -127, -1, 0, 1, 2, 63, 64, 126, 127};
    const mimic__st_typed t[4] = {{"f32", 2, 3, MIMIC_DTYPE_F32, a},
                                  {"f16", 4, 0, MIMIC_DTYPE_F16, h},
                                  {"i8", 2, 5, MIMIC_DTYPE_I8, q},
                                  {"empty", 0, 0, MIMIC_DTYPE_I8, NULL}};
    const mimic__st_meta m[1] = {{"weight_dtype", "int8"}};
    ck_assert_int_eq(mimic__safetensors_write_typed(path, t, 4, m, 1), MIMIC_OK);
    size_t n;
    uint8_t *raw = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(raw);
    const uint64_t hlen = le64(raw);
    ck_assert_uint_eq(n, 8 + hlen + sizeof a + sizeof h + sizeof q);
    const char *hdr = (const char *)raw + 8;
    ck_assert_ptr_nonnull(
        strstr(hdr, "\"f16\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}"));
    ck_assert_ptr_nonnull(
        strstr(hdr, "\"i8\":{\"dtype\":\"I8\",\"shape\":[2,5],\"data_offsets\":[32,42]}"));
    const uint8_t *d = raw + 8 + hlen;
    ck_assert_int_eq(d[24], 0x00); /* 0x3c00 little-endian */
    ck_assert_int_eq(d[25], 0x3c);
    ck_assert_mem_eq(d + 32, q, sizeof q);

    mimic__st_file f;
    ck_assert_msg(mimic__safetensors_parse_typed(raw, n, "typed", &f) == MIMIC_OK, "%s",
                  mimic_last_error());
    ck_assert_uint_eq(f.n_tensors, 4);
    for (size_t i = 0; i < 4; i++) {
        const mimic__st_typed *x = mimic__st_find_typed(&f, t[i].name);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(x->dtype, t[i].dtype);
        ck_assert_uint_eq(x->rows, t[i].rows);
        ck_assert_uint_eq(x->cols, t[i].cols);
        ck_assert_uint_eq((uintptr_t)x->data % 64, 0);
        const size_t bytes = i == 0 ? sizeof a : i == 1 ? sizeof h : i == 2 ? sizeof q : 0;
        if (bytes)
            ck_assert_mem_eq(x->data, t[i].data, bytes);
        /* the F32 view has only the F32 tensor's data */
        const mimic__st_tensor *y = mimic__st_find(&f, t[i].name);
        ck_assert_ptr_nonnull(y);
        if (i == 0)
            ck_assert_ptr_eq(y->data, x->data);
        else
            ck_assert_ptr_null(y->data);
    }
    ck_assert_ptr_null(mimic__st_find_typed(&f, "nope"));
    mimic__st_close(&f);
    /* the header alone: dtypes and shapes, no data */
    ck_assert_int_eq(mimic__safetensors_parse_header(raw, n, "typed", &f), MIMIC_OK);
    ck_assert_int_eq(mimic__st_find_typed(&f, "f16")->dtype, MIMIC_DTYPE_F16);
    ck_assert_ptr_null(mimic__st_find_typed(&f, "f16")->data);
    mimic__st_close(&f);
    /* the F32 parse refuses them */
    ck_assert_int_eq(mimic__safetensors_parse(raw, n, "typed", &f), MIMIC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "dtype is not F32"));
    ck_assert_ptr_null(f.typed);
    free(raw);
    /* element sizes count in the offsets */
    static const char bad_span[] =
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,4]}}";
    uint8_t buf[128] = {0};
    const size_t bl = sizeof bad_span - 1;
    buf[0] = (uint8_t)bl;
    memcpy(buf + 8, bad_span, bl);
    ck_assert_int_eq(mimic__safetensors_parse_typed(buf, 8 + bl + 4, "span", &f), MIMIC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "needs 6"));
    static const char other[] = "{\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}";
    memset(buf, 0, sizeof buf);
    buf[0] = (uint8_t)(sizeof other - 1);
    memcpy(buf + 8, other, sizeof other - 1);
    ck_assert_int_eq(mimic__safetensors_parse_typed(buf, 8 + sizeof other - 1 + 3, "u8", &f),
                     MIMIC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "not F32, F16 or I8"));
    /* the writer takes only those three */
    const mimic__st_typed u8 = {"u", 3, 0, MIMIC_DTYPE_U8, q};
    ck_assert_int_eq(mimic__safetensors_write_typed(path, &u8, 1, NULL, 0), MIMIC_ERR_INVALID);
}
END_TEST

START_TEST(test_json_features)
{
    const float d[3] = {1, 2, 3};
    mimic__st_file f;
    /* escapes incl. a surrogate pair, whitespace everywhere, key order free, unaligned data
     * (header length 121: not a multiple of 8), 2-D [1,3] */
    const char *h = " {\n\t\"\\u00e9\\ud83d\\ude00\\n\\/\" : { \"data_offsets\" : [ 0 , 12 ] ,"
                    " \"shape\" : [ 1 , 3 ] , \"dtype\" : \"F32\" } ,"
                    " \"__metadata__\" : { \"a\\\"b\" : \"\\u0041\" } }  ";
    ck_assert_msg(parse_str(h, d, sizeof d, &f) == MIMIC_OK, "%s", mimic_last_error());
    ck_assert_uint_eq(f.n_tensors, 1);
    ck_assert_str_eq(f.tensors[0].name, "\xc3\xa9\xf0\x9f\x98\x80\n/");
    ck_assert_uint_eq(f.tensors[0].rows, 1);
    ck_assert_uint_eq(f.tensors[0].cols, 3);
    ck_assert_mem_eq(f.tensors[0].data, d, sizeof d);
    ck_assert_uint_eq((uintptr_t)f.tensors[0].data % 64, 0);
    ck_assert_str_eq(mimic__st_meta_get(&f, "a\"b"), "A");
    mimic__st_close(&f);
    /* empty header object, rank 0 (one element), a 2-D shape with a zero dim */
    ck_assert_int_eq(parse_str("{}", NULL, 0, &f), MIMIC_OK);
    ck_assert_uint_eq(f.n_tensors, 0);
    mimic__st_close(&f);
    ck_assert_int_eq(parse_str("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                               "\"z\":{\"dtype\":\"F32\",\"shape\":[5,0],\"data_offsets\":[4,4]}}",
                               d, 4, &f),
                     MIMIC_OK);
    ck_assert_uint_eq(mimic__st_find(&f, "s")->rows, 1);
    ck_assert_uint_eq(mimic__st_find(&f, "s")->cols, 0);
    ck_assert_uint_eq(mimic__st_find(&f, "z")->rows, 0);
    ck_assert_uint_eq(mimic__st_find(&f, "z")->cols, 0);
    mimic__st_close(&f);
}
END_TEST

/* Each committed fixture (tests/data/safetensors, made by make_fixtures.py) is rejected with
 * the right code and a message naming the file and the problem. */
START_TEST(test_malformed_fixtures)
{
    static const struct {
        const char *file;
        const char *needle;
    } cases[] = {
        {"short", "too short"},
        {"header_past_end", "exceeds"},
        {"header_empty", "too short"},
        {"bad_json", "byte"},
        {"trailing_garbage", "unexpected bytes"},
        {"top_level_array", "object"},
        {"dtype_f64", "F32"},
        {"rank3", "rank"},
        {"offsets_out_of_range", "out of range"},
        {"offsets_size_mismatch", "span"},
        {"offsets_reversed", "out of range"},
        {"overlap", "overlap"},
        {"hole", "belong to no tensor"},
        {"trailing_data", "belong to no tensor"},
        {"duplicate_name", "appears twice"},
        {"duplicate_metadata", "appears twice"},
        {"duplicate_metadata_key", "appears twice"},
        {"metadata_not_string", "strings"},
        {"metadata_not_object", "must be an object"},
        {"negative_int", "negative"},
        {"float_offset", "fraction"},
        {"leading_zero", "leading zero"},
        {"int_overflow", "overflows"},
        {"shape_overflow", "overflows"},
        {"nested_shape", "integer"},
        {"bad_escape", "escape"},
        {"lone_surrogate", "surrogate"},
        {"bad_utf8", "UTF-8"},
        {"control_char", "control character"},
        {"unknown_field", "unknown field"},
        {"missing_offsets", "without data_offsets"},
        {"three_offsets", "two entries"},
        {"unterminated_string", "unterminated"},
        {"not_object_entry", "must be an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/safetensors/%s.safetensors", MIMIC_TEST_DATA,
                 cases[i].file);
        mimic__st_file f;
        memset(&f, 0xAB, sizeof f);
        int rc = mimic__safetensors_read(path, &f);
        ck_assert_msg(rc == MIMIC_ERR_FORMAT, "%s: got %d (%s)", cases[i].file, rc,
                      mimic_last_error());
        ck_assert_ptr_null(f.tensors);
        ck_assert_msg(strstr(mimic_last_error(), cases[i].needle) != NULL,
                      "%s: message '%s' lacks '%s'", cases[i].file, mimic_last_error(),
                      cases[i].needle);
        ck_assert_msg(strstr(mimic_last_error(), path) != NULL, "%s: message '%s'",
                      cases[i].file, mimic_last_error());
        mimic__st_close(&f);
        /* the student loader says the same */
        mimic_student *s = (mimic_student *)(uintptr_t)1;
        ck_assert_int_eq(mimic_student_load(&s, path), MIMIC_ERR_FORMAT);
        ck_assert_ptr_null(s);
    }
}
END_TEST

static uint8_t *valid_file(size_t *n)
{
    const char *path = tu_path("valid.safetensors");
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
    const mimic__st_tensor t[2] = {{"a", 2, 2, a}, {"b", 2, 0, b}};
    const mimic__st_meta m[1] = {{"k", "v\\u"}};
    ck_assert_int_eq(mimic__safetensors_write(path, t, 2, m, 1), MIMIC_OK);
    uint8_t *raw = tu_read_file(path, n);
    ck_assert_ptr_nonnull(raw);
    return raw;
}

/* Every truncation fails cleanly; every single-byte corruption either parses or fails with
 * MIMIC_ERR_FORMAT (run under ASan/UBSan this is a small deterministic fuzz). */
START_TEST(test_truncations_and_corruptions)
{
    size_t n;
    uint8_t *raw = valid_file(&n);
    mimic__st_file f;
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, raw, len);
        ck_assert_int_eq(mimic__safetensors_parse(cut, len, "cut", &f), MIMIC_ERR_FORMAT);
        free(cut);
    }
    const uint8_t values[] = {0, '"', '\\', '{', '}', '[', ']', ',', ':', '1', '-', 0x80, 0xff};
    size_t ok = 0;
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(buf, raw, n);
            buf[i] = values[v];
            int rc = mimic__safetensors_parse(buf, n, "mut", &f);
            ck_assert_msg(rc == MIMIC_OK || rc == MIMIC_ERR_FORMAT, "byte %zu = %u: %d", i,
                          values[v], rc);
            if (rc == MIMIC_OK) {
                ok++;
                mimic__st_close(&f);
            }
        }
    ck_assert_uint_gt(ok, 0); /* e.g. data bytes may change freely */
    free(buf);
    free(raw);
}
END_TEST

START_TEST(test_writer_and_reader_errors)
{
    float a[2] = {1, 2};
    mimic__st_tensor t[2] = {{"a", 2, 0, a}, {"a", 2, 0, a}};
    mimic__st_meta m[1] = {{"k", NULL}};
    const char *path = tu_path("w.safetensors");
    ck_assert_int_eq(mimic__safetensors_write(path, t, 2, NULL, 0), MIMIC_ERR_INVALID);
    ck_assert(strstr(mimic_last_error(), "twice") != NULL);
    ck_assert_int_eq(mimic__safetensors_write(path, t, 1, m, 1), MIMIC_ERR_INVALID);
    t[0].data = NULL;
    ck_assert_int_eq(mimic__safetensors_write(path, t, 1, NULL, 0), MIMIC_ERR_INVALID);
    t[0].data = a;
    t[0].name = "__metadata__";
    ck_assert_int_eq(mimic__safetensors_write(path, t, 1, NULL, 0), MIMIC_ERR_INVALID);
    t[0].name = "a";
    t[0].rows = SIZE_MAX;
    t[0].cols = 3;
    ck_assert_int_eq(mimic__safetensors_write(path, t, 1, NULL, 0), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic__safetensors_write(NULL, t, 1, NULL, 0), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic__safetensors_write(tu_path("no/such/dir/x"), t, 0, NULL, 0),
                     MIMIC_ERR_IO);
    mimic__st_file f;
    ck_assert_int_eq(mimic__safetensors_read(tu_path("missing.safetensors"), &f), MIMIC_ERR_IO);
    ck_assert_int_eq(mimic__safetensors_read(NULL, &f), MIMIC_ERR_INVALID);
    /* header length limit */
    uint8_t big[16] = {0, 0, 0, 0, 0, 0, 0, 0x7f, '{', '}'};
    ck_assert_int_eq(mimic__safetensors_parse(big, sizeof big, "big", &f), MIMIC_ERR_FORMAT);
}
END_TEST

START_TEST(test_parse_alloc_failures)
{
    size_t n;
    uint8_t *raw = valid_file(&n);
    mimic__st_file f;
    uint64_t i;
    for (i = 1; i < 50; i++) {
        mimic__alloc_fail_at(i);
        int rc = mimic__safetensors_parse(raw, n, "nomem", &f);
        uint64_t made = mimic__alloc_fail_at(0);
        if (rc == MIMIC_OK) {
            ck_assert_uint_lt(made, i);
            mimic__st_close(&f);
            break;
        }
        ck_assert_int_eq(rc, MIMIC_ERR_NOMEM);
        ck_assert_ptr_null(f.tensors);
    }
    ck_assert_uint_gt(i, 1);
    free(raw);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_typed_round_trip);
    tcase_add_test(tc, test_json_features);
    tcase_add_test(tc, test_malformed_fixtures);
    tcase_add_test(tc, test_truncations_and_corruptions);
    tcase_add_test(tc, test_writer_and_reader_errors);
    tcase_add_test(tc, test_parse_alloc_failures);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
