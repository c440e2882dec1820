/* Threads of our own: the pool (lib/common/pool.c) runs every chunk of a job exactly once,
 * with concurrent callers and after a fork; a student's threads (mimic_student_set_threads)
 * give bitwise the single-threaded logits at every batch size, also when many threads share
 * the student; no thread exists unless asked for; errors leave the setting as it was. Run
 * under TSan by the tsan step of scripts/test.sh. */
#include <dirent.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train_testutil.h"

static void *nothing(void *arg)
{
    return arg;
}

/* Threads of this process (Linux: the entries of /proc/self/task), after one thread has been
 * started and joined: a runtime that starts a helper thread of its own on the first
 * pthread_create (TSan does) has done so before anything is counted. */
static int count_threads(void)
{
    static int primed;
    if (!primed) {
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, nothing, NULL), 0);
        pthread_join(t, NULL);
        primed = 1;
    }
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- the pool ------------------------------------------------------------------------------ */

typedef struct count_job {
    atomic_int *hits; /* one per chunk */
    size_t n;
    atomic_int calls_with_n; /* calls that saw the job's own n (not the alone-path's 1) */
} count_job;

static void count_chunk(void *ctx, size_t i, size_t n)
{
    count_job *j = ctx;
    if (n == 1) { /* the calling thread alone: all of it */
        for (size_t k = 0; k < j->n; k++)
            atomic_fetch_add(&j->hits[k], 1);
        return;
    }
    ck_assert_uint_eq(n, j->n);
    atomic_fetch_add(&j->hits[i], 1);
    atomic_fetch_add(&j->calls_with_n, 1);
}

static void run_and_check(mimic__pool *p, size_t n)
{
    count_job j = {calloc(n, sizeof(atomic_int)), n, 0};
    mimic__pool_for(p, n, count_chunk, &j);
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(atomic_load(&j.hits[k]) == 1, "chunk %zu of %zu ran %d times", k, n,
                      atomic_load(&j.hits[k]));
    free(j.hits);
}

START_TEST(test_pool_runs_every_chunk_once)
{
    for (size_t threads = 2; threads <= 4; threads++) {
        mimic__pool *p = NULL;
        ck_assert_int_eq(mimic__pool_create(&p, threads, 1e-4, false), MIMIC_OK);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(mimic__pool_threads(p), threads);
        for (int rep = 0; rep < 200; rep++)
            run_and_check(p, 1 + (size_t)rep % 37);
        run_and_check(p, MIMIC__POOL_MAX_CHUNKS);
        mimic__pool_free(p);
    }
}
END_TEST

START_TEST(test_pool_sizes)
{
    mimic__pool *p = (mimic__pool *)&p;
    for (size_t t = 0; t <= 1; t++) {
        ck_assert_int_eq(mimic__pool_create(&p, t, 0, false), MIMIC_OK);
        ck_assert_ptr_null(p); /* the calling thread alone: nothing to start */
        run_and_check(p, 5);
    }
    ck_assert_uint_eq(mimic__pool_threads(NULL), 1);
    p = (mimic__pool *)&p;
    ck_assert_int_eq(mimic__pool_create(&p, 1025, 0, false), MIMIC_ERR_INVALID);
    ck_assert_ptr_null(p);
    mimic__pool_free(NULL);
}
END_TEST

/* Workers that have gone to sleep wake up for the next job. */
START_TEST(test_pool_wakes_sleeping_workers)
{
    mimic__pool *p = NULL;
    ck_assert_int_eq(mimic__pool_create(&p, 3, 0, false), MIMIC_OK); /* sleep at once */
    for (int rep = 0; rep < 20; rep++) {
        usleep(2000);
        count_job j = {calloc(64, sizeof(atomic_int)), 64, 0};
        mimic__pool_for(p, 64, count_chunk, &j);
        for (size_t k = 0; k < 64; k++)
            ck_assert_int_eq(atomic_load(&j.hits[k]), 1);
        free(j.hits);
    }
    mimic__pool_free(p);
}
END_TEST

typedef struct caller_arg {
    mimic__pool *p;
    int reps;
} caller_arg;

static void *caller_main(void *arg)
{
    caller_arg *a = arg;
    for (int rep = 0; rep < a->reps; rep++)
        run_and_check(a->p, 3 + (size_t)rep % 20);
    return NULL;
}

/* Callers on several threads share one pool: each job runs whole, on the workers or alone. */
START_TEST(test_pool_concurrent_callers)
{
    mimic__pool *p = NULL;
    ck_assert_int_eq(mimic__pool_create(&p, 3, 1e-4, false), MIMIC_OK);
    pthread_t th[4];
    caller_arg a = {p, 300};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, caller_main, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    mimic__pool_free(p);
}
END_TEST

START_TEST(test_split)
{
    const size_t lens[] = {0, 1, 5, 10, 17, 256, 4096, 4099};
    for (size_t li = 0; li < MIMIC__ARRAY_LEN(lens); li++)
        for (size_t n = 1; n <= 70; n++) {
            size_t at = 0, longest = 0, shortest = SIZE_MAX;
            for (size_t i = 0; i < n; i++) {
                size_t b, e;
                mimic__split(lens[li], i, n, &b, &e);
                ck_assert_uint_eq(b, at); /* contiguous, in order */
                ck_assert_uint_le(b, e);
                at = e;
                if (e - b > 8 && e < lens[li])
                    ck_assert_uint_eq((e - b) % 4, 0);
                longest = e - b > longest ? e - b : longest;
                if (e - b)
                    shortest = e - b < shortest ? e - b : shortest;
            }
            ck_assert_uint_eq(at, lens[li]);
            if (lens[li] >= n)
                ck_assert_uint_le(longest, (lens[li] + n - 1) / n + 3);
        }
}
END_TEST

/* ---- a student's threads ---------------------------------------------------------------- */

typedef struct shape {
    size_t D, k, H, C;
    int32_t act;
} shape;

/* Layers big enough to be cut into chunks (64 KB of weights each), with and without a
 * bottleneck, with the small-C output path (C <= 16) and the BLAS one. */
static const shape SHAPES[] = {
    {300, 64, 1000, 12, MIMIC_ACT_RELU},
    {300, 0, 600, 20, MIMIC_ACT_TANH},
    {129, 0, 700, 40, MIMIC_ACT_SIGMOID},
};
static const size_t ROWS[] = {1, 2, 3, 4, 5, 9, 256};

static mimic_student *make(const shape *sh, uint64_t seed)
{
    mimic_student *s = tu_student(sh->D, sh->k, sh->H, sh->C, sh->act, seed);
    tu_set_norm(s, sh->D, seed + 1);
    return s;
}

/* Logits and classes of every row count of ROWS, one buffer after the other. */
static size_t outputs_size(const shape *sh)
{
    size_t n = 0;
    for (size_t r = 0; r < MIMIC__ARRAY_LEN(ROWS); r++)
        n += ROWS[r] * (sh->C + 1);
    return n;
}

static void outputs(const mimic_student *s, const shape *sh, const float *x, float *out)
{
    for (size_t r = 0; r < MIMIC__ARRAY_LEN(ROWS); r++) {
        ck_assert_int_eq(mimic_student_forward(s, x, ROWS[r], out), MIMIC_OK);
        out += ROWS[r] * sh->C;
        ck_assert_int_eq(mimic_student_predict(s, x, ROWS[r], (int32_t *)(void *)out), MIMIC_OK);
        out += ROWS[r];
    }
}

START_TEST(test_student_threads_bitwise)
{
    const shape *sh = &SHAPES[_i];
    mimic_student *s = make(sh, 11);
    float *x = malloc(256 * sh->D * sizeof(float));
    tu_fill_uniform(x, 256 * sh->D, -2, 2, 5);
    const size_t n = outputs_size(sh);
    float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    ck_assert_uint_eq(mimic_student_threads(s), 1);
    outputs(s, sh, x, want);
    for (size_t t = 2; t <= 4; t++) {
        ck_assert_int_eq(mimic_student_set_threads(s, t), MIMIC_OK);
        ck_assert_uint_eq(mimic_student_threads(s), t);
        for (int rep = 0; rep < 3; rep++) {
            outputs(s, sh, x, got);
            ck_assert_msg(memcmp(want, got, n * sizeof(float)) == 0, "%zu threads differ", t);
        }
    }
    ck_assert_int_eq(mimic_student_set_threads(s, 1), MIMIC_OK);
    outputs(s, sh, x, got);
    ck_assert_mem_eq(want, got, n * sizeof(float));
    free(want);
    free(got);
    free(x);
    mimic_student_free(s);
}
END_TEST

typedef struct user_arg {
    const mimic_student *s;
    const shape *sh;
    const float *x, *want;
    int mismatches;
} user_arg;

static void *user_main(void *arg)
{
    user_arg *a = arg;
    const size_t n = outputs_size(a->sh);
    float *got = malloc(n * sizeof(float));
    for (int rep = 0; rep < 5; rep++) {
        outputs(a->s, a->sh, a->x, got);
        a->mismatches += memcmp(a->want, got, n * sizeof(float)) != 0;
    }
    free(got);
    return NULL;
}

/* A student with threads shared by 4 callers: one at a time gets the workers, every one
 * gets the single-threaded bits. */
START_TEST(test_shared_student_with_threads)
{
    const shape *sh = &SHAPES[0];
    mimic_student *s = make(sh, 21);
    float *x = malloc(256 * sh->D * sizeof(float));
    tu_fill_uniform(x, 256 * sh->D, -2, 2, 6);
    float *want = malloc(outputs_size(sh) * sizeof(float));
    outputs(s, sh, x, want);
    ck_assert_int_eq(mimic_student_set_threads(s, 3), MIMIC_OK);
    user_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (user_arg){s, sh, x, want, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, user_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].mismatches, 0);
    }
    free(want);
    free(x);
    mimic_student_free(s);
}
END_TEST

/* Nothing starts a thread until asked; set_threads(n) starts n - 1, set_threads(1) and free
 * stop them. (BLAS may start threads of its own on its first call, before `base`.) */
START_TEST(test_no_thread_unless_asked)
{
    const shape *sh = &SHAPES[0];
    mimic_student *s = make(sh, 31);
    float *x = malloc(256 * sh->D * sizeof(float)), *y = malloc(256 * sh->C * sizeof(float));
    tu_fill_uniform(x, 256 * sh->D, -1, 1, 7);
    ck_assert_int_eq(mimic_student_forward(s, x, 256, y), MIMIC_OK);
    const int base = count_threads();
    ck_assert_int_eq(mimic_student_forward(s, x, 1, y), MIMIC_OK);
    ck_assert_int_eq(mimic_student_forward(s, x, 256, y), MIMIC_OK);
    ck_assert_int_eq(count_threads(), base);
    ck_assert_int_eq(mimic_student_set_threads(s, 0), MIMIC_OK);
    ck_assert_int_eq(mimic_student_set_threads(s, 1), MIMIC_OK);
    ck_assert_int_eq(count_threads(), base);
    ck_assert_int_eq(mimic_student_set_threads(s, 3), MIMIC_OK);
    ck_assert_int_eq(count_threads(), base + 2);
    ck_assert_int_eq(mimic_student_set_threads(s, 3), MIMIC_OK); /* unchanged: same threads */
    ck_assert_int_eq(count_threads(), base + 2);
    ck_assert_int_eq(mimic_student_set_threads(s, 2), MIMIC_OK);
    ck_assert_int_eq(count_threads(), base + 1);
    ck_assert_int_eq(mimic_student_set_threads(s, 1), MIMIC_OK);
    ck_assert_int_eq(count_threads(), base);
    ck_assert_uint_eq(mimic_student_threads(s), 1);
    ck_assert_int_eq(mimic_student_set_threads(s, 4), MIMIC_OK);
    mimic_student_free(s);
    ck_assert_int_eq(count_threads(), base);
    free(x);
    free(y);
}
END_TEST

START_TEST(test_set_threads_errors)
{
    const shape *sh = &SHAPES[1];
    mimic_student *s = make(sh, 41);
    ck_assert_int_eq(mimic_student_set_threads(NULL, 2), MIMIC_ERR_MISUSE);
    ck_assert_uint_eq(mimic_student_threads(NULL), 0);
    ck_assert_int_eq(mimic_student_set_threads(s, 2), MIMIC_OK);
    ck_assert_int_eq(mimic_student_set_threads(s, 100000), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "mimic_student_set_threads"));
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "at most 1024"));
    ck_assert_uint_eq(mimic_student_threads(s), 2); /* kept */
    /* every allocation of set_threads failing in turn: NOMEM, the setting kept */
    for (uint64_t n = 1;; n++) {
        mimic__alloc_fail_at(n);
        int rc = mimic_student_set_threads(s, 3);
        uint64_t made = mimic__alloc_fail_at(0);
        if (rc == MIMIC_OK) {
            ck_assert_uint_lt(made, n);
            break;
        }
        ck_assert_int_eq(rc, MIMIC_ERR_NOMEM);
        ck_assert_uint_eq(mimic_student_threads(s), 2);
    }
    ck_assert_uint_eq(mimic_student_threads(s), 3);
    mimic_student_free(s);
}
END_TEST

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/* A forked child has none of its parent's workers: its calls run alone, with the same bits.
 * (Batch 1: larger batches call BLAS, whose own threads are another story after a fork.) */
START_TEST(test_fork_child_runs_alone)
{
#ifdef UNDER_TSAN
    fprintf(stderr, "SKIP %s: TSan does not support fork in a threaded process\n", __func__);
    return;
#endif
    const shape *sh = &SHAPES[0];
    mimic_student *s = make(sh, 51);
    float *x = malloc(sh->D * sizeof(float));
    tu_fill_uniform(x, sh->D, -2, 2, 8);
    const size_t n = sh->C;
    float *want = malloc(n * sizeof(float));
    ck_assert_int_eq(mimic_student_forward(s, x, 1, want), MIMIC_OK);
    ck_assert_int_eq(mimic_student_set_threads(s, 2), MIMIC_OK);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        float *got = malloc(n * sizeof(float));
        int same = mimic_student_forward(s, x, 1, got) == MIMIC_OK &&
                   memcmp(want, got, n * sizeof(float)) == 0;
        mimic_student_free(s); /* must not join threads it does not have */
        _exit(same ? 0 : 3);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    free(want);
    free(x);
    mimic_student_free(s);
}
END_TEST

/* ---- a training run's threads ----------------------------------------------------------- */

typedef struct run_watch {
    int threads_seen; /* threads of the process at the first progress call */
    int blas_seen;    /* OpenBLAS's thread count then (-1: not OpenBLAS) */
    mimic_metrics validation[8], train[8];
    int epochs;
} run_watch;

#ifdef MIMIC_HAVE_OPENBLAS
int openblas_get_num_threads(void);
#define BLAS_THREADS() openblas_get_num_threads()
#else
#define BLAS_THREADS() (-1)
#endif

static int watch_progress(const mimic_progress *p, void *user)
{
    run_watch *w = user;
    if (w->epochs == 0) {
        w->threads_seen = count_threads();
        w->blas_seen = BLAS_THREADS();
    }
    if (p->epoch_end && w->epochs < 8) {
        w->validation[w->epochs] = p->validation;
        w->train[w->epochs] = p->train;
        w->epochs++;
    }
    return 0;
}

typedef struct train_arg {
    const tt_problem *pb;
    int32_t threads;
    mimic_student *s;
    run_watch watch;
    int rc;
} train_arg;

static void *train_main(void *arg)
{
    train_arg *a = arg;
    a->s = tt_student(a->pb->D, 96, 20, a->pb->C, 3);
    mimic_train_options o = tt_options();
    o.epochs = 3;
    o.threads = a->threads;
    o.validation = a->pb->d;
    o.eval_train = 1;
    o.dropout = 0.1;
    o.progress = watch_progress;
    o.progress_user_data = &a->watch;
    a->rc = mimic_train(a->s, a->pb->d, &o, NULL);
    return NULL;
}

/* options.threads = n starts n - 1 workers for the run and no more, stops them at its end,
 * leaves the BLAS library's thread count alone, and changes no bit of the student or of the
 * metrics the progress callback sees. */
START_TEST(test_train_threads)
{
    tt_problem pb;
    tt_problem_make(&pb, 300, 40, 6, 9, 1.0f, 0.0f);
    train_arg one = {&pb, 0, NULL, {0}, 0};
    train_main(&one); /* BLAS starts any threads of its own here, before `base` */
    ck_assert_int_eq(one.rc, MIMIC_OK);
    const int base = count_threads(), blas = BLAS_THREADS();
    for (int32_t threads = 1; threads <= 3; threads++) {
        train_arg a = {&pb, threads, NULL, {0}, 0};
        train_main(&a);
        ck_assert_int_eq(a.rc, MIMIC_OK);
        ck_assert_int_eq(a.watch.threads_seen, base + (threads > 1 ? threads - 1 : 0));
        ck_assert_int_eq(a.watch.blas_seen, blas); /* not set for the call */
        ck_assert_int_eq(count_threads(), base);
        ck_assert(tt_same_student(a.s, one.s));
        ck_assert_int_eq(a.watch.epochs, one.watch.epochs);
        ck_assert_mem_eq(a.watch.validation, one.watch.validation, sizeof a.watch.validation);
        ck_assert_mem_eq(a.watch.train, one.watch.train, sizeof a.watch.train);
        mimic_student_free(a.s);
    }
    mimic_student_free(one.s);
    tt_problem_free(&pb);
}
END_TEST

/* Runs with different thread counts at the same time: each is bitwise the run done alone
 * (no shared setting to race on). */
START_TEST(test_concurrent_train_thread_counts)
{
    tt_problem pb;
    tt_problem_make(&pb, 300, 40, 6, 10, 1.0f, 0.0f);
    train_arg alone = {&pb, 1, NULL, {0}, 0};
    train_main(&alone);
    ck_assert_int_eq(alone.rc, MIMIC_OK);
    train_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (train_arg){&pb, (int32_t)(1 + i % 3), NULL, {0}, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, train_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].rc, MIMIC_OK);
        ck_assert(tt_same_student(a[i].s, alone.s));
        ck_assert_mem_eq(a[i].watch.validation, alone.watch.validation,
                         sizeof alone.watch.validation);
        mimic_student_free(a[i].s);
    }
    mimic_student_free(alone.s);
    tt_problem_free(&pb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pool_runs_every_chunk_once);
    tcase_add_test(tc, test_pool_sizes);
    tcase_add_test(tc, test_pool_wakes_sleeping_workers);
    tcase_add_test(tc, test_pool_concurrent_callers);
    tcase_add_test(tc, test_split);
    tcase_add_loop_test(tc, test_student_threads_bitwise, 0, (int)MIMIC__ARRAY_LEN(SHAPES));
    tcase_add_test(tc, test_shared_student_with_threads);
    tcase_add_test(tc, test_no_thread_unless_asked);
    tcase_add_test(tc, test_set_threads_errors);
    tcase_add_test(tc, test_fork_child_runs_alone);
    tcase_add_test(tc, test_train_threads);
    tcase_add_test(tc, test_concurrent_train_thread_counts);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
