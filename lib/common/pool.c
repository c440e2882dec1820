/*
 * A small pool of worker threads that a caller runs one job at a time on (mimic__pool_for):
 * a job is n chunks, each run by whichever thread claims it first (the caller claims too),
 * and the call returns when every chunk is done. Claiming rather than assigning keeps a busy
 * machine from stalling a call: when a worker is not scheduled, the caller runs its chunks. Made only when a caller asks for more than one thread (a student's set_threads, a
 * trainer's options.threads); nothing here touches process-wide state (no signal handlers,
 * no atfork handlers, no BLAS setting).
 *
 * Between jobs a worker spins on the claim word for up to `spin_s` seconds, so back-to-back
 * jobs (a forward pass is three) are picked up in well under a microsecond, then sleeps on a
 * condition variable. A pool made to yield calls sched_yield while it spins instead: a
 * trainer's workers share the cores with BLAS's threads, which must get them at once when a
 * BLAS call starts.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "common/common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Threads a pool may have: far more than any machine we run on, few enough that a typo in
 * a thread count fails instead of starting thousands of threads. */
#define MAX_THREADS 1024

/* The claim word of a job: its number (the upper 32 bits), the next unclaimed chunk (16
 * bits) and its chunk count (16 bits), so that a claim, and the count it is checked
 * against, are one atomic compare-and-swap that fails once the job has moved on. */
#define CLAIM(gen, next, n) ((uint64_t)(gen) << 32 | (uint64_t)(next) << 16 | (uint64_t)(n))
#define CLAIM_GEN(c) ((uint32_t)((c) >> 32))
#define CLAIM_NEXT(c) ((size_t)((c) >> 16 & 0xffffu))
#define CLAIM_N(c) ((size_t)((c)&0xffffu))

struct mimic__pool {
    size_t n_workers; /* threads - 1 */
    pthread_t *workers;
    pid_t pid;     /* the process that started the workers (a forked child has none) */
    double spin_s; /* how long an idle worker spins before it sleeps */
    bool yield;    /* it gives its core away (sched_yield) while it spins */
    /* the job: written by the caller that owns `busy` before it publishes the claim word;
     * read by a thread only after it has claimed one of the job's chunks, so they cannot
     * change under it (the job is not done until that chunk is) */
    mimic__pool_fn fn;
    void *ctx;
    atomic_int busy;             /* a caller is running a job */
    atomic_uint_least64_t claim; /* CLAIM(job number, next chunk, chunks) */
    atomic_size_t done;          /* chunks of the current job finished */
    atomic_int stop;
    atomic_int sleepers; /* workers waiting on cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Claim and run chunks of job `gen` until none is left. */
static void run_chunks(mimic__pool *p, uint32_t gen)
{
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
    while (CLAIM_GEN(c) == gen && CLAIM_NEXT(c) < CLAIM_N(c)) {
        const size_t i = CLAIM_NEXT(c), n = CLAIM_N(c);
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, CLAIM(gen, i + 1, n),
                                                   memory_order_acquire, memory_order_acquire))
            continue; /* c now holds the current word */
        p->fn(p->ctx, i, n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        c = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
}

/* Wait until a job other than `seen` is published: spin first, then sleep. */
static uint32_t wait_for_job(mimic__pool *p, uint32_t seen)
{
    double deadline = 0;
    for (unsigned spins = 0;; spins++) {
        uint32_t g = CLAIM_GEN(atomic_load_explicit(&p->claim, memory_order_acquire));
        if (g != seen)
            return g;
        if (p->yield)
            sched_yield();
        else
            CPU_RELAX();
        if (p->yield || (spins & 63) == 63) {
            double t = mimic__now();
            if (deadline == 0)
                deadline = t + p->spin_s;
            else if (t >= deadline)
                break;
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1); /* seq_cst: pairs with publish's claim, sleepers */
    uint32_t g;
    while ((g = CLAIM_GEN(atomic_load(&p->claim))) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg)
{
    mimic__pool *p = arg;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        run_chunks(p, seen);
    }
}

/* Publish a claim word (a new job, or the stop) and wake the workers that sleep. */
static void publish(mimic__pool *p, uint64_t claim)
{
    atomic_store(&p->claim, claim); /* seq_cst, see wait_for_job */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void release(mimic__pool *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    mimic__free(p->workers);
    mimic__free(p);
}

static void stop_workers(mimic__pool *p, size_t started)
{
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    uint64_t c = atomic_load(&p->claim);
    publish(p, CLAIM(CLAIM_GEN(c) + 1, 0, 0));
    for (size_t i = 0; i < started; i++)
        pthread_join(p->workers[i], NULL);
}

int mimic__pool_create(mimic__pool **out, size_t threads, double spin_s, bool yield)
{
    *out = NULL;
    if (threads > MAX_THREADS)
        return mimic__error(MIMIC_ERR_INVALID, "%zu threads: at most %d", threads, MAX_THREADS);
    if (threads <= 1)
        return MIMIC_OK; /* NULL: the calling thread alone */
    mimic__pool *p = mimic__calloc(1, sizeof *p);
    pthread_t *workers = mimic__calloc(threads - 1, sizeof *workers);
    if (!p || !workers) {
        mimic__free(p);
        mimic__free(workers);
        return mimic__error(MIMIC_ERR_NOMEM, "out of memory for a pool of %zu threads", threads);
    }
    p->n_workers = threads - 1;
    p->workers = workers;
    p->pid = getpid();
    p->spin_s = spin_s;
    p->yield = yield;
    atomic_init(&p->busy, 0);
    atomic_init(&p->claim, CLAIM(0, 0, 0));
    atomic_init(&p->done, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->sleepers, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    /* The workers block every signal: signals stay with the application's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)1 << 20); /* the kernels need little stack */
    int err = 0;
    size_t started = 0;
    for (; started < p->n_workers && !err; started += err ? 0 : 1)
        err = pthread_create(&p->workers[started], &attr, worker_main, p);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        stop_workers(p, started);
        release(p);
        return mimic__error(MIMIC_ERR_NOMEM, "cannot start thread %zu of %zu: %s", started + 2,
                            threads, strerror(err));
    }
    *out = p;
    return MIMIC_OK;
}

void mimic__pool_free(mimic__pool *p)
{
    if (!p)
        return;
    if (p->pid != getpid()) {
        /* A forked child: the workers are the parent's, and the condition variable may show
         * their waits, so it cannot be destroyed; only the memory is ours. */
        mimic__free(p->workers);
        mimic__free(p);
        return;
    }
    stop_workers(p, p->n_workers);
    release(p);
}

size_t mimic__pool_threads(const mimic__pool *p)
{
    return p ? p->n_workers + 1 : 1;
}

void mimic__pool_for(mimic__pool *p, size_t n, mimic__pool_fn fn, void *ctx)
{
    /* Alone when there are no workers or one chunk, when another call holds the workers,
     * or in a forked child (which has none of its parent's threads). */
    if (!p || n <= 1 || atomic_exchange_explicit(&p->busy, 1, memory_order_acquire)) {
        fn(ctx, 0, 1);
        return;
    }
    if (p->pid != getpid() || n > MIMIC__POOL_MAX_CHUNKS) {
        atomic_store_explicit(&p->busy, 0, memory_order_release);
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    const uint32_t gen = CLAIM_GEN(atomic_load_explicit(&p->claim, memory_order_relaxed)) + 1;
    publish(p, CLAIM(gen, 0, n));
    run_chunks(p, gen);
    /* What is left is chunks a worker is running: wait for them, giving the CPU away now and
     * then in case that worker waits for it (more threads than cores). */
    for (unsigned spins = 1; atomic_load_explicit(&p->done, memory_order_acquire) != n; spins++) {
        CPU_RELAX();
        if ((spins & 1023) == 0)
            sched_yield();
    }
    atomic_store_explicit(&p->busy, 0, memory_order_release);
}

void mimic__split(size_t n, size_t part, size_t parts, size_t *begin, size_t *end)
{
    size_t chunk = (n + parts - 1) / parts;
    if (chunk > 8)
        chunk = (chunk + 3) & ~(size_t)3; /* whole blocks of 4 for the kernels */
    size_t b = part * chunk;
    *begin = b < n ? b : n;
    *end = b + chunk < n ? b + chunk : n;
}

void mimic__split_aligned(size_t len, size_t i, size_t n, size_t align, size_t *begin, size_t *end)
{
    size_t per = ((len + n - 1) / n + align - 1) & ~(align - 1), b = i * per;
    *begin = b < len ? b : len;
    *end = b + per < len ? b + per : len;
}

size_t mimic__pool_chunks(const mimic__pool *p, size_t units, size_t unit_bytes, size_t min_bytes)
{
    if (!p || units < 2 || unit_bytes == 0)
        return 1;
    const size_t most = 4 * (p->n_workers + 1);
    size_t c =
        unit_bytes >= min_bytes ? units : units / ((min_bytes + unit_bytes - 1) / unit_bytes);
    c = c > most ? most : c;
    c = c > MIMIC__POOL_MAX_CHUNKS ? MIMIC__POOL_MAX_CHUNKS : c;
    return c ? c : 1;
}
