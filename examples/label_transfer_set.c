/*
 * label_transfer_set: label a transfer set with a teacher written in C, store it as shards of
 * .npy files (float16 logits) and a manifest, then load it back as one dataset.
 *
 * Usage: label_transfer_set INPUTS.npy OUT_DIR [SHARD_ROWS] [TEACHER.safetensors]
 *   INPUTS.npy   rows x features (float32, float64 or uint8): inputs the teacher never saw
 *   OUT_DIR      an existing directory; gets shard-NNNNN.inputs.npy, shard-NNNNN.logits.npy
 *                and manifest.json (written last: a crash never leaves a manifest of
 *                incomplete shards, and every shard file appears only when complete)
 *   SHARD_ROWS   rows per shard, default 65536
 *   TEACHER      the teacher; here a libmimic student stands in for any inference engine
 *                (replace teacher_forward below with your engine's call). Without one, a
 *                random network is the teacher, so the example runs anywhere.
 * Then: mimic train --manifest OUT_DIR/manifest.json --hidden 1024 --loss l2 --out s.safetensors
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimic.h>

#define BATCH 256

/* The teacher: a batch of float32 inputs to its logits. Any engine fits here. */
static int teacher_forward(const mimic_student *teacher, const float *x, size_t rows, float *logits)
{
    return mimic_student_forward(teacher, x, rows, logits);
}

static int fail(int st, const char *what)
{
    fprintf(stderr, "label_transfer_set: %s: %s (%s)\n", what, mimic_last_error(),
            mimic_status_str(st));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s INPUTS.npy OUT_DIR [SHARD_ROWS] [TEACHER.safetensors]\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[2];
    size_t shard_rows = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 65536;
    if (shard_rows == 0) {
        fprintf(stderr, "label_transfer_set: SHARD_ROWS must be at least 1\n");
        return 2;
    }
    mimic_array *x = NULL;
    int st = mimic_array_load(&x, argv[1]); /* memory-mapped: any size */
    if (st != MIMIC_OK)
        return fail(st, "inputs");
    const size_t rows = mimic_array_rows(x), D = mimic_array_cols(x);

    mimic_student *teacher = NULL;
    if (argc > 4) {
        st = mimic_student_load(&teacher, argv[4]);
    } else {
        mimic_student_options so;
        mimic_student_options_init(&so, sizeof so);
        so.n_inputs = D;
        so.n_hidden = 64;
        so.n_classes = 10;
        so.seed = 42;
        st = mimic_student_create(&teacher, &so);
    }
    if (st != MIMIC_OK) {
        mimic_array_free(x);
        return fail(st, "teacher");
    }
    mimic_student_options to;
    mimic_student_options_init(&to, sizeof to);
    mimic_student_get_options(teacher, &to);
    const size_t C = to.n_classes;
    if (to.n_inputs != D) {
        fprintf(stderr, "label_transfer_set: the teacher takes %zu inputs, %s has %zu\n",
                to.n_inputs, argv[1], D);
        mimic_student_free(teacher);
        mimic_array_free(x);
        return 1;
    }

    /* inputs are stored as they came (uint8 stays uint8); float64 becomes float32 */
    const int32_t in_dtype =
        mimic_array_dtype(x) == MIMIC_DTYPE_U8 ? MIMIC_DTYPE_U8 : MIMIC_DTYPE_F32;
    float *xf = malloc(BATCH * D * sizeof *xf), *z = malloc(BATCH * C * sizeof *z);
    uint16_t *z16 = malloc(BATCH * C * sizeof *z16);
    char path[4096], xname[64], zname[64];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    mimic_manifest_writer *m = NULL;
    st = xf && z && z16 ? mimic_manifest_writer_open(&m, path) : MIMIC_ERR_NOMEM;
    size_t shards = 0;
    for (size_t first = 0; st == MIMIC_OK && first < rows; first += shard_rows, shards++) {
        size_t n = rows - first < shard_rows ? rows - first : shard_rows;
        snprintf(xname, sizeof xname, "shard-%05zu.inputs.npy", shards);
        snprintf(zname, sizeof zname, "shard-%05zu.logits.npy", shards);
        mimic_npy_writer *wx = NULL, *wz = NULL;
        snprintf(path, sizeof path, "%s/%s", dir, xname);
        st = mimic_npy_writer_open(&wx, path, in_dtype, &D, 1);
        snprintf(path, sizeof path, "%s/%s", dir, zname);
        if (st == MIMIC_OK)
            st = mimic_npy_writer_open(&wz, path, MIMIC_DTYPE_F16, &C, 1);
        for (size_t r = first; st == MIMIC_OK && r < first + n; r += BATCH) {
            size_t b = first + n - r < BATCH ? first + n - r : BATCH;
            st = mimic_array_to_f32(x, r, b, xf);
            if (st == MIMIC_OK)
                st = teacher_forward(teacher, xf, b, z);
            if (st == MIMIC_OK) { /* the logits as float16: half the bytes */
                mimic_f32_to_f16(z, z16, b * C);
                st = mimic_npy_writer_append(wz, z16, b);
            }
            if (st == MIMIC_OK) {
                const uint8_t *raw = mimic_array_data(x);
                st = in_dtype == MIMIC_DTYPE_U8 ? mimic_npy_writer_append(wx, raw + r * D, b)
                                                : mimic_npy_writer_append(wx, xf, b);
            }
        }
        if (st == MIMIC_OK) { /* complete: the files appear under their names */
            st = mimic_npy_writer_close(wx);
            wx = NULL;
        }
        if (st == MIMIC_OK) {
            st = mimic_npy_writer_close(wz);
            wz = NULL;
        }
        mimic_npy_writer_abort(wx); /* after a failure: no partial file is left */
        mimic_npy_writer_abort(wz);
        if (st == MIMIC_OK)
            st = mimic_manifest_writer_add(m, xname, zname, NULL);
    }
    if (st == MIMIC_OK) {
        st = mimic_manifest_writer_close(m); /* last: the set is complete */
    } else {
        mimic_manifest_writer_abort(m);
    }
    free(xf);
    free(z);
    free(z16);
    mimic_student_free(teacher);
    mimic_array_free(x);
    if (st != MIMIC_OK)
        return fail(st, "labelling");

    mimic_dataset *d = NULL;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    st = mimic_dataset_load_manifest(&d, path);
    if (st != MIMIC_OK)
        return fail(st, "loading the manifest");
    printf("%s: %zu rows x %zu inputs, %zu classes (float16 logits) in %zu shards\n", path,
           mimic_dataset_rows(d), mimic_dataset_n_inputs(d), mimic_dataset_n_classes(d),
           mimic_dataset_n_shards(d));
    mimic_dataset_free(d);
    return 0;
}
