/*
 * Fuzz target: dataset manifests.
 *   mimic__manifest_parse on the bytes (exact-size buffer), and for an accepted manifest the
 *     formatter: what it writes parses back to the same shards;
 *   mimic_dataset_load_manifest on the bytes written to a file, in a directory that holds
 *     small valid shard files (a.x.npy, a.z.npy, a.y.npy: 3 rows; b.x.npy, b.z.npy: 2 rows
 *     of other columns; c.z16.npy: float16 logits), so manifests naming them load and those
 *     naming anything else fail as they must.
 *
 * Oracle: no sanitizer report; failures return a documented status with a message that
 * names the manifest; the parser and the loader agree (a manifest the parser rejects never
 * loads, with the parser's status); a loaded dataset has as many rows as its shards hold
 * and every row reads back (logits finite, labels in range).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/format.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[200], manifest[256];

static void remove_files(void)
{
    static const char *const names[] = {"a.x.npy", "a.z.npy",   "a.y.npy", "b.x.npy",
                                        "b.z.npy", "c.z16.npy", "m.json"};
    char p[300];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void save(const char *name, const void *v, int32_t dtype, size_t rows, size_t cols)
{
    char p[300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FUZZ_CHECK(mimic_npy_save(p, v, dtype, rows, cols) == MIMIC_OK, "harness: %s",
               mimic_last_error());
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/mimic-fuzz-manifest-%ld",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    FUZZ_CHECK(mkdir(dir, 0700) == 0 || access(dir, W_OK) == 0, "harness cannot create %s", dir);
    snprintf(manifest, sizeof manifest, "%s/m.json", dir);
    atexit(remove_files);
    const float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    const float z[9] = {1, -1, 0.5f, 2, 0, -2, 3, 1, 0};
    const int32_t y[3] = {0, 2, 1};
    const uint16_t z16[9] = {0x3c00, 0xbc00, 0x3800, 0x4000, 0, 0xc000, 0x4200, 0x3c00, 0};
    save("a.x.npy", x, MIMIC_DTYPE_F32, 3, 4);
    save("a.z.npy", z, MIMIC_DTYPE_F32, 3, 3);
    save("a.y.npy", y, MIMIC_DTYPE_I32, 3, 0);
    save("b.x.npy", x, MIMIC_DTYPE_F32, 2, 6);
    save("b.z.npy", z, MIMIC_DTYPE_F32, 2, 3);
    save("c.z16.npy", z16, MIMIC_DTYPE_F16, 3, 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    uint8_t *copy = malloc(size ? size : 1); /* exact size: an overread is an ASan report */
    FUZZ_CHECK(copy != NULL, "harness out of memory");
    if (size)
        memcpy(copy, data, size);
    mimic__manifest m;
    int prc = mimic__manifest_parse(copy, size, "fuzz.json", &m);
    free(copy);
    if (prc != MIMIC_OK) {
        fuzz_check_failure(prc, "mimic__manifest_parse");
        FUZZ_CHECK(prc == MIMIC_ERR_FORMAT || prc == MIMIC_ERR_VERSION || prc == MIMIC_ERR_NOMEM,
                   "undocumented status %d: %s", prc, mimic_last_error());
        FUZZ_CHECK(strncmp(mimic_last_error(), "fuzz.json: ", 11) == 0,
                   "message does not name the manifest: %s", mimic_last_error());
        FUZZ_CHECK(m.shards == NULL && m.n_shards == 0, "output not cleared on failure");
    } else {
        FUZZ_CHECK(m.n_shards >= 1, "a manifest of no shards accepted");
        for (size_t i = 0; i < m.n_shards; i++)
            FUZZ_CHECK(m.shards[i].inputs && m.shards[i].inputs[0], "shard %zu: no inputs", i);
        char *text = NULL;
        size_t n = 0;
        int frc = mimic__manifest_format(&m, "fuzz.json", &text, &n);
        /* paths are strings the strict reader decoded: always valid UTF-8 */
        FUZZ_CHECK(frc == MIMIC_OK || frc == MIMIC_ERR_NOMEM, "format: %s", mimic_last_error());
        if (frc == MIMIC_OK) {
            mimic__manifest again;
            FUZZ_CHECK(mimic__manifest_parse((const uint8_t *)text, n, "again", &again) == MIMIC_OK,
                       "the formatter's output does not parse: %s", mimic_last_error());
            FUZZ_CHECK(again.n_shards == m.n_shards && again.has_rows == m.has_rows &&
                           again.rows == m.rows,
                       "round trip changed the manifest");
            for (size_t i = 0; i < m.n_shards; i++) {
                const mimic__manifest_shard *a = &m.shards[i], *b = &again.shards[i];
                FUZZ_CHECK(strcmp(a->inputs, b->inputs) == 0 && !a->logits == !b->logits &&
                               (!a->logits || strcmp(a->logits, b->logits) == 0) &&
                               !a->labels == !b->labels &&
                               (!a->labels || strcmp(a->labels, b->labels) == 0) &&
                               a->has_rows == b->has_rows && a->rows == b->rows,
                           "round trip changed shard %zu", i);
            }
            mimic__manifest_free(&again);
            mimic__free(text);
        }
        mimic__manifest_free(&m);
    }

    /* the same bytes as a file, beside real shards */
    FILE *f = fopen(manifest, "wb");
    FUZZ_CHECK(f != NULL, "harness cannot write %s", manifest);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size, "harness write");
    FUZZ_CHECK(fclose(f) == 0, "harness close");
    mimic_dataset *d = (mimic_dataset *)&d;
    int rc = mimic_dataset_load_manifest(&d, manifest);
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic_dataset_load_manifest");
        FUZZ_CHECK(d == NULL, "*out not NULL on failure");
        FUZZ_CHECK(strncmp(mimic_last_error(), manifest, strlen(manifest)) == 0,
                   "message does not name the manifest: %s", mimic_last_error());
        FUZZ_CHECK(prc == MIMIC_OK || rc == prc ||
                       (rc == MIMIC_ERR_FORMAT && strstr(mimic_last_error(), "not a dataset")),
                   "parser said %d, loader %d: %s", prc, rc, mimic_last_error());
        return 0;
    }
    FUZZ_CHECK(prc == MIMIC_OK, "the loader took a manifest the parser rejects");
    FUZZ_CHECK(mimic_dataset_n_shards(d) >= 1, "no shards");
    fuzz_check_dataset(d);
    /* every view across it reads back too */
    size_t rows = mimic_dataset_rows(d);
    mimic_dataset *v = NULL;
    if (rows > 2 && mimic_dataset_slice(&v, d, 1, rows - 2) == MIMIC_OK) {
        fuzz_check_dataset(v);
        mimic_dataset_free(v);
    }
    mimic_dataset_free(d);
    return 0;
}
