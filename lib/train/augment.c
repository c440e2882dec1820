/* Label-preserving image augmentation of training rows: random mirror images and shifts,
 * drawn per row from (seed, global step, batch row), applied to the raw row before the
 * input normalization. The teacher's logits and the label of the row are kept. */
#include <stdio.h>
#include <string.h>

#include "train/train.h"

/* Salt that separates the augmentation's stream from the dropout masks of the same step. */
#define AUGMENT_SALT 0x6d696d6963617567ull /* "mimicaug" */

int mimic__augment_init(mimic__augment *a, const mimic_train_options *o, size_t D,
                        uint64_t step)
{
    memset(a, 0, sizeof *a);
    if (!(o->flip > 0) && o->shift == 0)
        return 0;
    a->H = (size_t)o->image_height;
    a->W = (size_t)o->image_width;
    a->C = D / (a->H * a->W);
    /* p = 1 must mirror every row: the threshold is compared with 32 random bits in 64 */
    a->flip_threshold = (uint64_t)(o->flip * 4294967296.0 + 0.5);
    a->shift = (uint32_t)o->shift;
    a->key = mimic__hash64(mimic__hash64(o->seed, step), AUGMENT_SALT);
    return 1;
}

void mimic__augment_draw(const mimic__augment *a, size_t row, int *flip, int *dy, int *dx)
{
    uint64_t h = mimic__hash64(a->key, (uint64_t)row);
    *flip = (h & 0xffffffffu) < a->flip_threshold;
    /* 16 bits each, mapped onto 2s + 1 values by multiply-shift (bias below (2s+1) / 2^16) */
    uint64_t span = 2 * (uint64_t)a->shift + 1;
    *dy = (int)(((h >> 32 & 0xffffu) * span) >> 16) - (int)a->shift;
    *dx = (int)(((h >> 48) * span) >> 16) - (int)a->shift;
}

/* The copy loop for one element type: dst(c, y, x) = src(c, y - dy, x' - dx) with
 * x' = W - 1 - x when mirroring, else x; 0 where that lies outside the image. */
#define AUGMENT_COPY(T)                                                                           \
    do {                                                                                          \
        const T *s = src;                                                                         \
        T *d = dst;                                                                               \
        memset(d, 0, C * H * W * sizeof(T));                                                      \
        for (size_t c = 0; c < C; c++)                                                            \
            for (long y = 0; y < (long)H; y++) {                                                  \
                long sy = y - dy;                                                                 \
                if (sy < 0 || sy >= (long)H)                                                      \
                    continue;                                                                     \
                const T *sr = s + (c * H + (size_t)sy) * W;                                       \
                T *dr = d + (c * H + (size_t)y) * W;                                              \
                for (long x = 0; x < (long)W; x++) {                                              \
                    long sx = (flip ? (long)W - 1 - x : x) - dx;                                  \
                    if (sx >= 0 && sx < (long)W)                                                  \
                        dr[x] = sr[sx];                                                           \
                }                                                                                 \
            }                                                                                     \
    } while (0)

void mimic__augment_image(const void *src, void *dst, int32_t dtype, size_t C, size_t H,
                          size_t W, int flip, int dy, int dx)
{
    if (dtype == MIMIC_DTYPE_U8)
        AUGMENT_COPY(unsigned char);
    else
        AUGMENT_COPY(float);
}

/* ---- options: rows of the mimic_train_options table -------------------------------------- */

static const char *unused_image(const void *p, char *buf, size_t cap)
{
    const mimic_train_options *o = p;
    if (o->flip > 0 || o->shift > 0)
        return NULL;
    snprintf(buf, cap, "the image shape is used by options.flip and options.shift, and both are 0");
    return buf;
}

static const mimic__opt augment_rows[] = {
    {MIMIC__TRAIN_ROW(image_height, UINT64), MIMIC__SHAPES_RUN, .since = 10200, .absent = "0",
     MIMIC__GE(0), .help = "image height of the inputs (C x H x W rows), for flip and shift",
     .unused = unused_image},
    {MIMIC__TRAIN_ROW(image_width, UINT64), MIMIC__SHAPES_RUN, .since = 10200, .absent = "0",
     MIMIC__GE(0), .help = "image width of the inputs, for flip and shift",
     .unused = unused_image},
    {MIMIC__TRAIN_ROW(flip, DOUBLE), MIMIC__SHAPES_RUN, .since = 10200, .absent = "0",
     MIMIC__IN(0, 1), .flag = "--flip", .metavar = "P",
     .help = "mirror each training image left-right with probability P (targets kept)",
     .default_text = "0 (off)"},
    {MIMIC__TRAIN_ROW(shift, UINT64), MIMIC__SHAPES_RUN, .since = 10200, .absent = "0",
     MIMIC__GE(0), .flag = "--shift", .metavar = "N",
     .help = "shift each training image by up to N pixels each way (targets kept)",
     .default_text = "0 (off)"},
};

const mimic__opt_group mimic__augment_options = {"augmentation", augment_rows,
                                                 MIMIC__ARRAY_LEN(augment_rows)};
