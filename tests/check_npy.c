/* .npy: the header parser over untrusted bytes (fixtures, inline headers, truncations,
 * mutations) and the writer (cross-checked with NumPy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/train.h"
#include "testutil.h"

static const char *fixture(const char *name)
{
    static char slots[4][1024];
    static int next;
    char *p = slots[next++ % 4];
    snprintf(p, sizeof slots[0], "%s/npy/%s", MIMIC_TEST_DATA, name);
    return p;
}

/* Map a fixture and parse it with its path as the name. */
static int parse_file(const char *path, mimic__npy *h, mimic__map *m)
{
    ck_assert_int_eq(mimic__map_file(path, m), MIMIC_OK);
    return mimic__npy_parse(m->data, m->size, path, h);
}

/* Parse an exact-size heap copy, so ASan catches any read past `len`. */
static int parse_bytes(const void *bytes, size_t len, mimic__npy *h)
{
    void *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, bytes, len);
    int rc = mimic__npy_parse(len ? copy : NULL, len, "mem.npy", h);
    free(copy);
    return rc;
}

/* A v1.0 image with header dict `dict` (unpadded, '\n'-terminated) and `data_len` zeros. */
static size_t make_image(uint8_t *buf, size_t cap, const char *dict, size_t data_len)
{
    size_t n = strlen(dict);
    size_t total = 10 + n + 1 + data_len;
    ck_assert_uint_le(total, cap);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)((n + 1) & 0xff);
    buf[9] = (uint8_t)((n + 1) >> 8);
    memcpy(buf + 10, dict, n);
    buf[10 + n] = '\n';
    memset(buf + 11 + n, 0, data_len);
    return total;
}

typedef struct valid_case {
    const char *file;
    char dtype;
    int itemsize, ndim;
    size_t rows, cols;
} valid_case;

static const valid_case valid_files[] = {
    {"x_f4.npy", 'f', 4, 2, 6, 3},   {"x_f8.npy", 'f', 8, 2, 6, 3},
    {"x_u1.npy", 'u', 1, 2, 6, 3},   {"z_f4.npy", 'f', 4, 2, 6, 4},
    {"y_i4.npy", 'i', 4, 1, 6, 1},   {"y_i8.npy", 'i', 8, 1, 6, 1},
    {"y_u1.npy", 'u', 1, 1, 6, 1},   {"x_v2.npy", 'f', 4, 2, 6, 3},
    {"x_v3.npy", 'f', 4, 2, 6, 3},   {"x_odd_header.npy", 'f', 4, 2, 6, 3},
    {"z_fortran_column.npy", 'f', 4, 2, 6, 1},
    {"x_nhw.npy", 'u', 1, 3, 2, 9},  {"x_n1hw.npy", 'u', 1, 4, 2, 12},
    {"x_nhwc.npy", 'f', 4, 4, 2, 12},
};

START_TEST(test_parse_valid_files)
{
    const valid_case *c = &valid_files[_i];
    const char *path = fixture(c->file);
    mimic__npy h;
    mimic__map m;
    int rc = parse_file(path, &h, &m);
    ck_assert_msg(rc == MIMIC_OK, "%s: %s", c->file, mimic_last_error());
    ck_assert_int_eq(h.dtype, c->dtype);
    ck_assert_int_eq(h.itemsize, c->itemsize);
    ck_assert_int_eq(h.ndim, c->ndim);
    ck_assert_uint_eq(h.shape[0], c->rows);
    ck_assert_uint_eq(h.shape[1], c->cols);
    ck_assert_uint_eq(h.count, c->rows * c->cols);
    ck_assert_uint_eq(h.data_bytes, h.count * (size_t)c->itemsize);
    ck_assert_uint_eq(h.data_offset + h.data_bytes, m.size);
    if (strcmp(c->file, "x_odd_header.npy") == 0)
        ck_assert_uint_ne(h.data_offset % 4, 0); /* the fixture exercises unaligned data */
    else if (strncmp(c->file, "x_v", 3) == 0 || c->file[1] == '_')
        ck_assert_uint_eq(h.data_offset % 64, 0); /* numpy's padding */
    if (c->dtype == 'f' && c->itemsize == 4 && c->rows == 6 && c->cols == 3) {
        for (size_t i = 0; i < 18; i++) {
            float v;
            memcpy(&v, m.data + h.data_offset + 4 * i, 4);
            ck_assert_float_eq(v, (float)i * 0.5f - 1.0f);
        }
    }
    mimic__unmap(&m);
}
END_TEST

typedef struct bad_case {
    const char *file;
    int status;
    const char *keyword;
} bad_case;

static const bad_case bad_files[] = {
    {"bad_magic.npy", MIMIC_ERR_FORMAT, "bad magic"},
    {"empty.npy", MIMIC_ERR_FORMAT, "truncated header"},
    {"truncated_preamble.npy", MIMIC_ERR_FORMAT, "truncated header"},
    {"truncated_header.npy", MIMIC_ERR_FORMAT, "truncated header"},
    {"truncated_data.npy", MIMIC_ERR_FORMAT, "data truncated: header says 72 bytes, file has 20"},
    {"shape_overflow.npy", MIMIC_ERR_FORMAT, "overflows"},
    {"dim_overflow.npy", MIMIC_ERR_FORMAT, "overflows"},
    {"shape_exceeds_file.npy", MIMIC_ERR_FORMAT, "data truncated: header says 4000000000 bytes"},
    {"header_no_brace.npy", MIMIC_ERR_FORMAT, "expected '{'"},
    {"header_missing_key.npy", MIMIC_ERR_FORMAT, "'fortran_order' is missing"},
    {"header_unknown_key.npy", MIMIC_ERR_FORMAT, "unknown key 'colour'"},
    {"header_duplicate_key.npy", MIMIC_ERR_FORMAT, "duplicate key 'descr'"},
    {"header_negative_dim.npy", MIMIC_ERR_FORMAT, "non-negative integer"},
    {"header_unterminated.npy", MIMIC_ERR_FORMAT, "malformed header"},
    {"header_bad_bool.npy", MIMIC_ERR_FORMAT, "True or False"},
    {"header_trailing_garbage.npy", MIMIC_ERR_FORMAT, "unexpected bytes"},
    {"header_shape_not_tuple.npy", MIMIC_ERR_FORMAT, "not a tuple"},
    {"fortran.npy", MIMIC_ERR_UNSUPPORTED, "Fortran"},
    {"big_endian.npy", MIMIC_ERR_UNSUPPORTED, "big-endian dtype '>f4'"},
    {"dtype_c8.npy", MIMIC_ERR_UNSUPPORTED, "unsupported dtype '<c8'"},
    {"dtype_structured.npy", MIMIC_ERR_UNSUPPORTED, "structured"},
    {"rank0.npy", MIMIC_ERR_UNSUPPORTED, "0-D"},
    {"rank9.npy", MIMIC_ERR_UNSUPPORTED, "9-D arrays are not supported (at most 8-D)"},
    {"version4.npy", MIMIC_ERR_UNSUPPORTED, "version 4.0"},
};

START_TEST(test_parse_malformed_files)
{
    const bad_case *c = &bad_files[_i];
    const char *path = fixture(c->file);
    mimic__npy h;
    mimic__map m;
    int rc = parse_file(path, &h, &m);
    const char *msg = mimic_last_error();
    ck_assert_msg(rc == c->status, "%s: got %d (%s), want %d", c->file, rc, msg, c->status);
    ck_assert_msg(strncmp(msg, path, strlen(path)) == 0, "%s: message does not start with the "
                  "path: %s", c->file, msg);
    ck_assert_msg(strstr(msg, c->keyword) != NULL, "%s: '%s' not in: %s", c->file, c->keyword,
                  msg);
    ck_assert_uint_eq(h.count, 0);
    ck_assert_uint_eq(h.data_bytes, 0);
    mimic__unmap(&m);
}
END_TEST

typedef struct inline_case {
    const char *dict;
    size_t data_len;
    int status;
    size_t rows, cols;
    int ndim;
} inline_case;

static const inline_case inline_headers[] = {
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 12, 0, 3, 1, 1},
    {"{'descr':'<f4','fortran_order':False,'shape':(3,4)}", 48, 0, 3, 4, 2},
    {"  {\t'shape' : ( 3 , 4 , ) , 'descr' : '<i8' , 'fortran_order' : False }  ", 96, 0, 3, 4,
     2},
    {"{\"descr\": \"|u1\", \"fortran_order\": True, \"shape\": (5,)}", 5, 0, 5, 1, 1},
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 4), }", 16, 0, 1, 4, 2},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 0, 0, 0, 3, 2},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L), }", 24, 0, 3, 2, 2},
    /* extra data after the array is tolerated, as numpy does */
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 64, 0, 2, 1, 1},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, MIMIC_ERR_UNSUPPORTED, 0, 0,
     0},
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, MIMIC_ERR_UNSUPPORTED, 0,
     0, 0},
    {"{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }", 8, MIMIC_ERR_UNSUPPORTED, 0, 0,
     0},
    {"{'descr': '<u1', 'fortran_order': False, 'shape': (2,), }", 8, MIMIC_ERR_UNSUPPORTED, 0, 0,
     0},
    {"{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", 8, MIMIC_ERR_UNSUPPORTED, 0, 0,
     0},
    {"{'descr': '!f4', 'fortran_order': False, 'shape': (2,), }", 8, MIMIC_ERR_UNSUPPORTED, 0, 0,
     0},
    /* (n, ...): n rows of the other dimensions' product */
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5), }", 480, 0, 1, 120, 5},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2), }", 8,
     MIMIC_ERR_UNSUPPORTED, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2, 1, 2), }", 16,
     MIMIC_ERR_UNSUPPORTED, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1, 3, 1), }", 12, 0, 1, 3, 4},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4294967296, 4294967296), }", 0,
     MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4}", 48, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4], }", 48, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': Truex, 'shape': (3,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3,), }", 12, MIMIC_ERR_FORMAT, 0, 0,
     0},
    {"{'descr': '<f4' 'fortran_order': False, 'shape': (3,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), },", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ,}", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': <f4, 'fortran_order': False, 'shape': (3,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{descr: '<f4', 'fortran_order': False, 'shape': (3,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr' '<f4', 'fortran_order': False, 'shape': (3,), }", 12, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{}", 0, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{,}", 0, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"", 0, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 11, MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", 8,
     MIMIC_ERR_FORMAT, 0, 0, 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616, 0), }", 0,
     MIMIC_ERR_FORMAT, 0, 0, 0},
    /* an overflowing product with a zero dimension is an empty array */
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }", 0, 0,
     4294967296, 0, 3},
};

START_TEST(test_parse_inline_headers)
{
    const inline_case *c = &inline_headers[_i];
    uint8_t buf[1024];
    size_t len = make_image(buf, sizeof buf, c->dict, c->data_len);
    mimic__npy h;
    int rc = parse_bytes(buf, len, &h);
    ck_assert_msg(rc == c->status, "[%d] %s: got %d (%s)", _i, c->dict, rc, mimic_last_error());
    if (rc == MIMIC_OK) {
        ck_assert_int_eq(h.ndim, c->ndim);
        ck_assert_uint_eq(h.shape[0], c->rows);
        ck_assert_uint_eq(h.shape[1], c->cols);
        ck_assert_uint_eq(h.data_offset, 10 + strlen(c->dict) + 1);
    } else {
        ck_assert(strncmp(mimic_last_error(), "mem.npy: ", 9) == 0);
    }
}
END_TEST

/* The image shape of (n, H, W) and (n, H, W, 1) arrays, and none where a dimension is 0
 * (an array of no columns is not an image: found by fuzz_idx). */
START_TEST(test_array_image_shape)
{
    static const struct {
        const char *dict;
        size_t data_len, cols, h, w;
    } cases[] = {
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }", 24, 12, 3, 4},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4, 1), }", 24, 12, 3, 4},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 3, 4), }", 24, 12, 3, 4},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 12), }", 24, 12, 0, 0},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 30, 0), }", 0, 0, 0, 0},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 0, 30), }", 0, 0, 0, 0},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 0, 5, 1), }", 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[1024];
        size_t len = make_image(buf, sizeof buf, cases[i].dict, cases[i].data_len);
        mimic_array *a = NULL;
        ck_assert_msg(mimic_array_parse(&a, buf, len, "mem.npy", 1) == MIMIC_OK, "%s: %s",
                      cases[i].dict, mimic_last_error());
        size_t h = 99, w = 99;
        mimic_array_image_shape(a, &h, &w);
        ck_assert_uint_eq(mimic_array_cols(a), cases[i].cols);
        ck_assert_msg(h == cases[i].h && w == cases[i].w, "%s: image %zu x %zu", cases[i].dict, h,
                      w);
        mimic_array_free(a);
    }
}
END_TEST

START_TEST(test_parse_versions_inline)
{
    /* version 2.0/3.0 use a 4-byte header length; 3.0 allows utf-8 (only inside strings). */
    const char *dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n";
    size_t n = strlen(dict);
    uint8_t buf[256];
    for (int major = 1; major <= 4; major++) {
        size_t lb = major == 1 ? 2 : 4;
        memcpy(buf, "\x93NUMPY", 6);
        buf[6] = (uint8_t)major;
        buf[7] = 0;
        memset(buf + 8, 0, lb);
        buf[8] = (uint8_t)n;
        memcpy(buf + 8 + lb, dict, n);
        memset(buf + 8 + lb + n, 7, 8);
        mimic__npy h;
        int rc = parse_bytes(buf, 8 + lb + n + 8, &h);
        if (major <= 3) {
            ck_assert_msg(rc == MIMIC_OK, "v%d: %s", major, mimic_last_error());
            ck_assert_uint_eq(h.data_offset, 8 + lb + n);
        } else {
            /* a v4 reader would use a 4-byte length; we must refuse rather than guess */
            ck_assert_int_eq(rc, MIMIC_ERR_UNSUPPORTED);
        }
    }
    /* minor version 1 is unknown */
    buf[6] = 1;
    buf[7] = 1;
    mimic__npy h;
    ck_assert_int_eq(parse_bytes(buf, 20, &h), MIMIC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "version 1.1"));
    /* utf-8 in a v3.0 descr fails the dtype match, not the parser */
    const char *u = "{'descr': '<f4\xc3\xa9', 'fortran_order': False, 'shape': (2,), }\n";
    n = strlen(u);
    memcpy(buf, "\x93NUMPY\x03\x00", 8);
    buf[8] = (uint8_t)n;
    buf[9] = buf[10] = buf[11] = 0;
    memcpy(buf + 12, u, n);
    ck_assert_int_eq(parse_bytes(buf, 12 + n + 8, &h), MIMIC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "'<f4?" "?'"));
    /* a 4-byte header length near 4 GiB must not wrap */
    memcpy(buf, "\x93NUMPY\x02\x00\xf0\xff\xff\xff", 12);
    ck_assert_int_eq(parse_bytes(buf, 64, &h), MIMIC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "truncated header"));
}
END_TEST

/* Every proper prefix of a valid file is rejected as FORMAT, never read past. */
START_TEST(test_parse_every_truncation)
{
    size_t len = 0;
    uint8_t *img = tu_read_file(fixture("x_v2.npy"), &len);
    ck_assert_ptr_nonnull(img);
    mimic__npy h;
    ck_assert_int_eq(parse_bytes(img, len, &h), MIMIC_OK);
    size_t data_offset = h.data_offset;
    for (size_t n = 0; n < len; n++) {
        int rc = parse_bytes(img, n, &h);
        ck_assert_msg(rc == MIMIC_ERR_FORMAT, "prefix %zu: %d %s", n, rc, mimic_last_error());
        ck_assert(strstr(mimic_last_error(),
                         n < data_offset ? "truncated header" : "data truncated") != NULL);
    }
    free(img);
}
END_TEST

/* Random mutations of a header: no crash, no over-read (ASan), and any accepted header
 * describes data that lies inside the buffer. */
START_TEST(test_parse_mutations)
{
    size_t len = 0;
    uint8_t *img = tu_read_file(fixture("z_f4.npy"), &len);
    ck_assert_ptr_nonnull(img);
    uint8_t *m = malloc(len);
    ck_assert_ptr_nonnull(m);
    static const char alphabet[] = "{}()[],:'\" 0123456789TrueFalse<|>fiu\\\n\x93";
    uint64_t s = 12345;
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(m, img, len);
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(s >> 33) % 128;
            uint8_t v = (s >> 20) & 1 ? (uint8_t)(s >> 24)
                                       : (uint8_t)alphabet[(s >> 24) % (sizeof alphabet - 1)];
            m[pos] = v;
        }
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = (s >> 40) % 8 == 0 ? (size_t)(s >> 33) % len : len;
        mimic__npy h;
        int rc = parse_bytes(m, n, &h);
        ck_assert(rc == MIMIC_OK || rc == MIMIC_ERR_FORMAT || rc == MIMIC_ERR_UNSUPPORTED);
        if (rc == MIMIC_OK) {
            accepted++;
            ck_assert_uint_le(h.data_offset, n);
            ck_assert_uint_le(h.data_bytes, n - h.data_offset);
            ck_assert_uint_eq(h.data_bytes, h.count * h.itemsize);
        } else {
            ck_assert(strncmp(mimic_last_error(), "mem.npy: ", 9) == 0);
        }
    }
    ck_assert_int_gt(accepted, 0); /* some mutations land in the padding */
    free(m);
    free(img);
}
END_TEST

/* ---- writer ------------------------------------------------------------------------------- */

static void check_written_header(const char *path, const char *dict_part, size_t data_bytes)
{
    size_t len = 0;
    uint8_t *img = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(img);
    ck_assert(memcmp(img, "\x93NUMPY\x01\x00", 8) == 0);
    size_t hlen = (size_t)img[8] | (size_t)img[9] << 8;
    ck_assert_uint_eq((10 + hlen) % 64, 0);
    ck_assert_int_eq(img[10 + hlen - 1], '\n');
    ck_assert_uint_eq(len, 10 + hlen + data_bytes);
    char *hdr = strndup((const char *)img + 10, hlen);
    ck_assert_msg(strstr(hdr, dict_part) != NULL, "%s not in %s", dict_part, hdr);
    free(hdr);
    free(img);
}

static const char numpy_check[] =
    "import sys, numpy as np\n"
    "a = np.load(sys.argv[1], mmap_mode=None, allow_pickle=False)\n"
    "kind = sys.argv[2]\n"
    "if kind == 'f4':\n"
    "    want = (np.arange(35, dtype=np.float32) * np.float32(0.25) - np.float32(3)).reshape(5, 7)\n"
    "    want[2, 3] = np.float32(1e-30); want[4, 6] = np.float32(-3.4e38)\n"
    "elif kind == 'i4':\n"
    "    want = (np.arange(9, dtype=np.int64) * -7 + 3).astype(np.int32)\n"
    "    want[8] = -2**31\n"
    "elif kind == 'u1':\n"
    "    want = (np.arange(12) * 37 % 256).astype(np.uint8).reshape(4, 3)\n"
    "elif kind == 'u1_1d':\n"
    "    want = (np.arange(12) * 37 % 256).astype(np.uint8)\n"
    "elif kind == 'empty':\n"
    "    want = np.zeros((0,), np.float32)\n"
    "ok = a.dtype == want.dtype and a.dtype.byteorder in '<|=' and a.shape == want.shape \\\n"
    "     and np.array_equal(a, want) and a.flags.c_contiguous\n"
    "sys.exit(0 if ok else 1)\n";

static void numpy_verify(const char *path, const char *kind)
{
    if (!tu_have_python("numpy", "numpy_verify"))
        return;
    const char *args[2] = {path, kind};
    ck_assert_msg(tu_python(numpy_check, args, 2) == 0, "numpy rejects %s (%s)", path, kind);
}

static void f4_values(float *x)
{
    for (int i = 0; i < 35; i++)
        x[i] = (float)i * 0.25f - 3.0f;
    x[2 * 7 + 3] = 1e-30f;
    x[4 * 7 + 6] = -3.4e38f;
}

START_TEST(test_save_numpy_reads_it)
{
    float f[35];
    f4_values(f);
    int32_t i4[9];
    for (int i = 0; i < 9; i++)
        i4[i] = i * -7 + 3;
    i4[8] = INT32_MIN;
    uint8_t u1[12];
    for (int i = 0; i < 12; i++)
        u1[i] = (uint8_t)(i * 37 % 256);

    const char *pf = tu_path("save_f4.npy");
    ck_assert_int_eq(mimic_npy_save(pf, f, MIMIC_DTYPE_F32, 5, 7), MIMIC_OK);
    check_written_header(pf, "'descr': '<f4', 'fortran_order': False, 'shape': (5, 7), }", 140);
    numpy_verify(pf, "f4");
    /* a wrong expectation must fail: the check can fail */
    const char *args[2] = {pf, "i4"};
    if (tu_have_python("numpy", "test_save_numpy_reads_it"))
        ck_assert_int_ne(tu_python(numpy_check, args, 2), 0);

    const char *pi = tu_path("save_i4.npy");
    ck_assert_int_eq(mimic_npy_save(pi, i4, MIMIC_DTYPE_I32, 9, 0), MIMIC_OK);
    check_written_header(pi, "'descr': '<i4', 'fortran_order': False, 'shape': (9,), }", 36);
    numpy_verify(pi, "i4");

    const char *pu = tu_path("save_u1.npy");
    ck_assert_int_eq(mimic_npy_save(pu, u1, MIMIC_DTYPE_U8, 4, 3), MIMIC_OK);
    check_written_header(pu, "'descr': '|u1', 'fortran_order': False, 'shape': (4, 3), }", 12);
    numpy_verify(pu, "u1");

    const char *pu1 = tu_path("save_u1_1d.npy");
    ck_assert_int_eq(mimic_npy_save(pu1, u1, MIMIC_DTYPE_U8, 12, 0), MIMIC_OK);
    numpy_verify(pu1, "u1_1d");

    const char *pe = tu_path("save_empty.npy");
    ck_assert_int_eq(mimic_npy_save(pe, f, MIMIC_DTYPE_F32, 0, 0), MIMIC_OK);
    numpy_verify(pe, "empty");
}
END_TEST

START_TEST(test_save_parse_roundtrip)
{
    float f[35];
    f4_values(f);
    const char *p = tu_path("rt.npy");
    /* overwrite an existing file: the rename replaces it */
    tu_write_file(p, "old", 3);
    ck_assert_int_eq(mimic_npy_save(p, f, MIMIC_DTYPE_F32, 5, 7), MIMIC_OK);
    mimic__map m;
    mimic__npy h;
    ck_assert_int_eq(parse_file(p, &h, &m), MIMIC_OK);
    ck_assert_int_eq(h.dtype, 'f');
    ck_assert_int_eq(h.itemsize, 4);
    ck_assert_int_eq(h.ndim, 2);
    ck_assert_uint_eq(h.shape[0], 5);
    ck_assert_uint_eq(h.shape[1], 7);
    ck_assert_uint_eq(h.data_offset % 64, 0);
    ck_assert(memcmp(m.data + h.data_offset, f, sizeof f) == 0);
    mimic__unmap(&m);

    int32_t y[3] = {2, -1, 7};
    ck_assert_int_eq(mimic_npy_save(p, y, MIMIC_DTYPE_I32, 3, 0), MIMIC_OK);
    ck_assert_int_eq(parse_file(p, &h, &m), MIMIC_OK);
    ck_assert_int_eq(h.dtype, 'i');
    ck_assert_int_eq(h.ndim, 1);
    ck_assert_uint_eq(h.shape[0], 3);
    ck_assert(memcmp(m.data + h.data_offset, y, sizeof y) == 0);
    mimic__unmap(&m);

    /* the largest header we can write still fits the 64-byte padding scheme */
    uint8_t u = 1;
    ck_assert_int_eq(mimic_npy_save(p, &u, MIMIC_DTYPE_U8, 1, 1), MIMIC_OK);
    ck_assert_int_eq(parse_file(p, &h, &m), MIMIC_OK);
    ck_assert_int_eq(h.dtype, 'u');
    ck_assert_uint_eq(h.count, 1);
    ck_assert_int_eq(m.data[h.data_offset], 1);
    mimic__unmap(&m);
}
END_TEST

START_TEST(test_save_errors)
{
    float f[4] = {1, 2, 3, 4};
    const char *p = tu_path("err.npy");
    unlink(p);
    ck_assert_int_eq(mimic_npy_save(NULL, f, MIMIC_DTYPE_F32, 2, 2), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_npy_save("", f, MIMIC_DTYPE_F32, 2, 2), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_npy_save(p, NULL, MIMIC_DTYPE_F32, 2, 2), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "err.npy: data is NULL"));
    ck_assert_int_eq(mimic_npy_save(p, f, 99, 2, 2), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "dtype 99"));
    ck_assert_int_eq(mimic_npy_save(p, f, MIMIC_DTYPE_F32, SIZE_MAX / 2, 3), MIMIC_ERR_RANGE);
    ck_assert_int_eq(mimic_npy_save(p, f, MIMIC_DTYPE_I32, SIZE_MAX / 2, 0), MIMIC_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "overflow"));
    ck_assert_int_eq(mimic_npy_save(tu_path("no/such/dir/x.npy"), f, MIMIC_DTYPE_F32, 2, 2),
                     MIMIC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "no/such/dir/x.npy"));
    ck_assert_int_eq(access(p, F_OK), -1); /* nothing was written for the failed calls */
    /* an existing file survives a failed save */
    ck_assert_int_eq(mimic_npy_save(p, f, MIMIC_DTYPE_F32, 2, 2), MIMIC_OK);
    size_t before = 0, after = 0;
    void *a = tu_read_file(p, &before);
    ck_assert_int_eq(mimic_npy_save(p, f, MIMIC_DTYPE_F32, SIZE_MAX, 2), MIMIC_ERR_RANGE);
    void *b = tu_read_file(p, &after);
    ck_assert_uint_eq(before, after);
    ck_assert(memcmp(a, b, before) == 0);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_save_alloc_failures)
{
    float f[6] = {1, 2, 3, 4, 5, 6};
    const char *p = tu_path("oom.npy");
    unlink(p);
    int failures = 0;
    for (uint64_t n = 1; n < 100; n++) {
        mimic__alloc_fail_at(n);
        int rc = mimic_npy_save(p, f, MIMIC_DTYPE_F32, 2, 3);
        uint64_t made = mimic__alloc_fail_at(0);
        if (rc == MIMIC_OK) {
            ck_assert_uint_lt(made, n);
            break;
        }
        ck_assert_msg(rc == MIMIC_ERR_NOMEM, "n=%llu: %d %s", (unsigned long long)n, rc,
                      mimic_last_error());
        ck_assert_int_eq(access(p, F_OK), -1);
        failures++;
    }
    ck_assert_int_gt(failures, 0);
    mimic__map m;
    mimic__npy h;
    ck_assert_int_eq(parse_file(p, &h, &m), MIMIC_OK);
    ck_assert_uint_eq(h.count, 6);
    mimic__unmap(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, test_parse_valid_files, 0,
                        (int)(sizeof valid_files / sizeof valid_files[0]));
    tcase_add_loop_test(tc, test_parse_malformed_files, 0,
                        (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_loop_test(tc, test_parse_inline_headers, 0,
                        (int)(sizeof inline_headers / sizeof inline_headers[0]));
    tcase_add_test(tc, test_parse_versions_inline);
    tcase_add_test(tc, test_parse_every_truncation);
    tcase_add_test(tc, test_parse_mutations);
    suite_add_tcase(s, tc);
    TCase *tw = tcase_create("save");
    tcase_add_test(tw, test_save_numpy_reads_it);
    tcase_add_test(tw, test_save_parse_roundtrip);
    tcase_add_test(tw, test_array_image_shape);
    tcase_add_test(tw, test_save_errors);
    tcase_add_test(tw, test_save_alloc_failures);
    suite_add_tcase(s, tw);
    return tu_run_suite(s);
}
