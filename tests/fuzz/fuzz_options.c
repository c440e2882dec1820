/*
 * Fuzz target: versioned options structs from callers (struct_size and tail handling).
 *
 * Input: byte 0 selects the struct, the remaining bytes are the struct's image (host byte
 * order, struct_size first):
 *   byte0 % 3 == 0: mimic_student_options -> mimic_student_create (+ get_options, forward)
 *   byte0 % 3 == 1: mimic_train_options   -> mimic_trainer_create on a tiny dataset
 *                   (+ a few steps, an epoch, and mimic_train when the run is short)
 *   byte0 % 3 == 2: mimic__struct_copy_in with the library size in byte 1, exact oracle.
 *
 * What the harness must do for a caller that follows the API contract:
 *   - struct_size never exceeds the memory behind the pointer (a caller owns that many
 *     bytes): a larger claimed size is reduced modulo the image length + 1;
 *   - pointer fields (validation dataset, callbacks, user data, checkpoint path) hold valid
 *     pointers or NULL: the harness writes NULL or a valid object chosen by the input's
 *     bytes, and NULL when struct_size cuts through a pointer;
 *   - a student that needs between 64 MiB and 1 TiB of parameters is a legitimate but
 *     huge request the machine cannot hold: its sizes are reduced. Requests whose size
 *     overflows (or exceeds 1 TiB) go through unchanged: the library must reject them
 *     (MIMIC_ERR_RANGE) or fail the allocation (MIMIC_ERR_NOMEM) without touching memory.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { TINY_ROWS = 8, TINY_D = 4, TINY_C = 3, TINY_H = 3, TINY_K = 2 };

static const mimic_dataset *tiny_dataset(void)
{
    static mimic_dataset *ds;
    if (!ds) {
        static float x[TINY_ROWS * TINY_D], t[TINY_ROWS * TINY_C];
        static int32_t y[TINY_ROWS];
        for (int i = 0; i < TINY_ROWS * TINY_D; i++)
            x[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
        for (int i = 0; i < TINY_ROWS * TINY_C; i++)
            t[i] = (float)((i * 5) % 13) / 3.0f - 2.0f;
        for (int i = 0; i < TINY_ROWS; i++)
            y[i] = i % TINY_C;
        int rc = mimic_dataset_create(&ds, x, MIMIC_DTYPE_F32, t, y, TINY_ROWS, TINY_D, TINY_C);
        FUZZ_CHECK(rc == MIMIC_OK, "tiny dataset: %s", mimic_last_error());
    }
    return ds;
}

/* The caller's struct image: a zeroed heap block of exactly `n` bytes (ASan sees an
 * overread past it), struct_size made to fit it. */
static uint8_t *struct_image(const uint8_t *data, size_t size, size_t min_len, size_t *n)
{
    *n = size > min_len ? size : min_len;
    uint8_t *img = calloc(*n, 1);
    FUZZ_CHECK(img != NULL, "harness out of memory");
    memcpy(img, data, size);
    size_t declared;
    memcpy(&declared, img, sizeof declared);
    if (declared > *n) {
        declared %= *n + 1;
        memcpy(img, &declared, sizeof declared);
    }
    return img;
}

static void set_ptr(uint8_t *img, size_t struct_size, size_t off, const void *p)
{
    /* A pointer the struct covers only in part is set to NULL: a real caller never has
     * a struct_size that cuts a field in two, and half a pointer is garbage. */
    if (struct_size < off + sizeof p)
        p = NULL;
    memcpy(img + off, &p, sizeof p);
}

/* ---- mimic_student_options ------------------------------------------------------------ */

static size_t field_size(const uint8_t *img, size_t off)
{
    size_t v;
    memcpy(&v, img + off, sizeof v);
    return v;
}

/* Parameter bytes of a D/H/k/C student; false when the count overflows. */
static bool student_bytes(size_t D, size_t H, size_t k, size_t C, size_t *bytes)
{
    size_t kin = k ? k : D, a = 0, b = 0, c = 0, total = 0;
    return mimic__mul_ok(k, D, &a) && mimic__mul_ok(H, kin, &b) && mimic__mul_ok(C, H, &c) &&
           mimic__add_ok(a, b, &total) && mimic__add_ok(total, c, &total) &&
           mimic__add_ok(total, H, &total) && mimic__add_ok(total, C, &total) &&
           mimic__add_ok(total, 2 * D, &total) && mimic__mul_ok(total, sizeof(float), bytes);
}

/* The sizes the library sees: its defaults overwritten by the caller's first struct_size
 * bytes (a struct_size that cuts a field in two mixes caller and default bytes). */
static void seen_sizes(const uint8_t *img, size_t ss, size_t v[4])
{
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    memcpy(&o, img, ss < sizeof o ? ss : sizeof o);
    v[0] = o.n_inputs;
    v[1] = o.n_hidden;
    v[2] = o.n_bottleneck;
    v[3] = o.n_classes;
}

static void fuzz_student(const uint8_t *data, size_t size)
{
    size_t n;
    uint8_t *img = struct_image(data, size, sizeof(size_t), &n);
    size_t ss = field_size(img, 0);
    size_t offs[4] = {offsetof(mimic_student_options, n_inputs),
                      offsetof(mimic_student_options, n_hidden),
                      offsetof(mimic_student_options, n_bottleneck),
                      offsetof(mimic_student_options, n_classes)};
    size_t v[4];
    seen_sizes(img, ss, v);
    size_t bytes;
    if (student_bytes(v[0], v[1], v[2], v[3], &bytes) && bytes > ((size_t)64 << 20) &&
        bytes <= ((size_t)1 << 40)) {
        for (int i = 0; i < 4; i++) {
            if (n >= offs[i] + sizeof(size_t)) {
                size_t small = field_size(img, offs[i]) % 97;
                memcpy(img + offs[i], &small, sizeof small);
            }
        }
        seen_sizes(img, ss, v);
        if (student_bytes(v[0], v[1], v[2], v[3], &bytes) && bytes > ((size_t)64 << 20) &&
            bytes <= ((size_t)1 << 40)) {
            free(img); /* a field cut by struct_size keeps a huge value: skip */
            return;
        }
    }
    mimic_student *s = NULL;
    int rc = mimic_student_create(&s, (const mimic_student_options *)img);
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic_student_create");
        FUZZ_CHECK(s == NULL, "*out not NULL on failure");
        free(img);
        return;
    }
    mimic_student_options got;
    mimic_student_options_init(&got, sizeof got);
    FUZZ_CHECK(mimic_student_get_options(s, &got) == MIMIC_OK, "%s", mimic_last_error());
    FUZZ_CHECK(got.n_inputs == v[0] && got.n_hidden == v[1] && got.n_bottleneck == v[2] &&
                   got.n_classes == v[3],
               "options read back differ from the ones passed");
    /* One forward pass on a row of zeros (sizes are bounded above by the cap). */
    float *x = calloc(got.n_inputs, sizeof(float));
    float *out = calloc(got.n_classes, sizeof(float));
    FUZZ_CHECK(x && out, "harness out of memory");
    rc = mimic_student_forward(s, x, 1, out);
    if (rc != MIMIC_OK)
        FUZZ_CHECK(rc == MIMIC_ERR_NOMEM, "forward: %s", mimic_last_error());
    else
        for (size_t i = 0; i < got.n_classes; i++)
            FUZZ_CHECK(isfinite(out[i]), "non-finite logit %zu from a fresh student", i);
    free(x);
    free(out);
    mimic_student_free(s);
    free(img);
}

/* ---- mimic_train_options -------------------------------------------------------------- */

static int progress_cb(const mimic_progress *p, void *user)
{
    (void)user;
    FUZZ_CHECK(p != NULL && p->struct_size >= sizeof(size_t), "bad progress report");
    return (p->step % 3) == 2; /* sometimes cancel */
}

/* The all-reduces of a world of one rank: the sum is the buffer itself. */
static int sum_f32_one(float *buf, size_t n, void *user)
{
    (void)buf, (void)n, (void)user;
    return 0;
}

static int sum_f64_one(double *buf, size_t n, void *user)
{
    (void)buf, (void)n, (void)user;
    return 0;
}

static int reduce_cb(float *grads, size_t n, void *user)
{
    (void)user;
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++)
        acc += grads[i]; /* touch every element */
    return isnan(acc) ? 0 : (n % 5 == 4);
}

static const mimic_student_options *tiny_student_options(void)
{
    static mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = TINY_D;
    so.n_hidden = TINY_H;
    so.n_bottleneck = TINY_K;
    so.n_classes = TINY_C;
    so.seed = 3;
    return &so;
}

static void fuzz_train(const uint8_t *data, size_t size)
{
    const mimic_dataset *ds = tiny_dataset();
    size_t n;
    uint8_t *img = struct_image(data, size, sizeof(mimic_train_options), &n);
    size_t ss = field_size(img, 0);
    /* Pointer fields: NULL or a valid object, chosen by the low bit of the input's bytes. */
    uint8_t sel = img[offsetof(mimic_train_options, validation)] ^
                  img[offsetof(mimic_train_options, progress)] ^
                  img[offsetof(mimic_train_options, checkpoint_path)] ^
                  img[offsetof(mimic_train_options, grad_reduce)] ^
                  img[offsetof(mimic_train_options, collective)];
    set_ptr(img, ss, offsetof(mimic_train_options, validation), (sel & 1) ? ds : NULL);
    set_ptr(img, ss, offsetof(mimic_train_options, progress_user_data), NULL);
    set_ptr(img, ss, offsetof(mimic_train_options, checkpoint_path),
            (sel & 4) ? "/nonexistent-mimic-fuzz/ckpt.safetensors" : NULL);
    set_ptr(img, ss, offsetof(mimic_train_options, grad_reduce_user_data), NULL);
    /* the collective: NULL or one valid rank of one (its sums change nothing) */
    static mimic_collective one_rank;
    mimic_collective_init(&one_rank, sizeof one_rank);
    one_rank.allreduce_f32 = sum_f32_one;
    one_rank.allreduce_f64 = sum_f64_one;
    set_ptr(img, ss, offsetof(mimic_train_options, collective), (sel & 16) ? &one_rank : NULL);
    {
        mimic_progress_fn f = (sel & 2) ? progress_cb : NULL;
        mimic_grad_reduce_fn g = (sel & 8) ? reduce_cb : NULL;
        size_t po = offsetof(mimic_train_options, progress);
        size_t go = offsetof(mimic_train_options, grad_reduce);
        if (ss < po + sizeof f)
            f = NULL;
        if (ss < go + sizeof g)
            g = NULL;
        memcpy(img + po, &f, sizeof f);
        memcpy(img + go, &g, sizeof g);
    }
    const mimic_train_options *o = (const mimic_train_options *)img;

    mimic_student *s = NULL;
    FUZZ_CHECK(mimic_student_create(&s, tiny_student_options()) == MIMIC_OK, "%s",
               mimic_last_error());
    mimic_trainer *t = NULL;
    int rc = mimic_trainer_create(&t, s, ds, o);
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic_trainer_create");
        FUZZ_CHECK(t == NULL, "*out not NULL on failure");
    } else {
        for (int i = 0; i < 3; i++) {
            double loss = 0;
            rc = mimic_trainer_step(t, &loss);
            if (rc != MIMIC_OK) {
                fuzz_check_failure(rc, "mimic_trainer_step");
                break;
            }
        }
        mimic_progress p;
        memset(&p, 0, sizeof p);
        p.struct_size = sizeof p;
        rc = mimic_trainer_epoch(t, &p);
        if (rc != MIMIC_OK)
            fuzz_check_failure(rc, "mimic_trainer_epoch");
        mimic_trainer_free(t);
    }
    mimic_student_free(s);

    /* The one-call path, when the run is short (the epochs the library will see). */
    mimic_train_options seen; /* what the library reads: defaults + first ss bytes */
    mimic_train_options_init(&seen, sizeof seen);
    memcpy(&seen, img, ss < sizeof seen ? ss : sizeof seen);
    if (seen.epochs <= 12) {
        s = NULL;
        FUZZ_CHECK(mimic_student_create(&s, tiny_student_options()) == MIMIC_OK, "%s",
                   mimic_last_error());
        mimic_train_report rep;
        mimic_train_report_init(&rep, sizeof rep);
        rc = mimic_train(s, ds, o, &rep);
        if (rc != MIMIC_OK)
            fuzz_check_failure(rc, "mimic_train");
        /* Whatever happened, the student stays usable. */
        float x[TINY_D] = {0}, out[TINY_C];
        FUZZ_CHECK(mimic_student_forward(s, x, 1, out) == MIMIC_OK, "%s", mimic_last_error());
        mimic_student_free(s);
    }
    free(img);
}

/* ---- mimic__struct_copy_in: exact oracle ------------------------------------------------- */

static void fuzz_copy(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t ours = sizeof(size_t) + data[0] % 64; /* the library's struct size */
    data++;
    size--;
    size_t n;
    uint8_t *img = struct_image(data, size, sizeof(size_t), &n);
    size_t theirs = field_size(img, 0);
    uint8_t *dst = malloc(ours);
    FUZZ_CHECK(dst != NULL, "harness out of memory");
    memset(dst, 0xA5, ours);
    int rc = mimic__struct_copy_in(dst, ours, img, "fuzz options");
    if (theirs < sizeof(size_t)) {
        FUZZ_CHECK(rc == MIMIC_ERR_INVALID, "struct_size %zu accepted (%d)", theirs, rc);
    } else if (theirs > ours) {
        bool tail_zero = true;
        for (size_t i = ours; i < theirs; i++)
            tail_zero = tail_zero && img[i] == 0;
        FUZZ_CHECK(rc == (tail_zero ? MIMIC_OK : MIMIC_ERR_VERSION), "tail: rc %d", rc);
    } else {
        FUZZ_CHECK(rc == MIMIC_OK, "rc %d for struct_size %zu <= %zu", rc, theirs, ours);
    }
    if (rc == MIMIC_OK) {
        size_t copied = theirs < ours ? theirs : ours;
        FUZZ_CHECK(field_size(dst, 0) == ours, "struct_size of the copy");
        FUZZ_CHECK(memcmp(dst + sizeof(size_t), img + sizeof(size_t), copied - sizeof(size_t)) == 0,
                   "known fields not copied");
        for (size_t i = copied; i < ours; i++)
            FUZZ_CHECK(dst[i] == 0xA5, "default at byte %zu overwritten", i);
    } else {
        fuzz_check_failure(rc, "mimic__struct_copy_in");
        for (size_t i = 0; i < ours; i++)
            FUZZ_CHECK(dst[i] == 0xA5, "failed copy wrote byte %zu", i);
    }
    free(dst);
    free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_student(data + 1, size - 1);
        break;
    case 1:
        fuzz_train(data + 1, size - 1);
        break;
    default:
        fuzz_copy(data + 1, size - 1);
        break;
    }
    return 0;
}
