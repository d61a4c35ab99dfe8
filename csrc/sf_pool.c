#define _GNU_SOURCE
#include "sf_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    sf_task_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
    atomic_int workers;
} sf_pool_run;

int sf_cpu_count(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void *worker(void *arg)
{
    sf_pool_run *run = arg;
    int id = atomic_fetch_add_explicit(&run->workers, 1, memory_order_relaxed);
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&run->next, 1, memory_order_relaxed);
        if (i >= run->n)
            break;
        run->fn(run->ctx, i, id);
    }
    return NULL;
}

int sf_pool_size(size_t n, int threads)
{
    if (threads <= 0)
        threads = sf_cpu_count();
    if ((size_t)threads > n)
        threads = (int)n;
    return threads;
}

int sf_parallel_for(size_t n, int threads, sf_task_fn fn, void *ctx)
{
    if (n == 0)
        return 0;
    threads = sf_pool_size(n, threads);

    sf_pool_run run = {.fn = fn, .ctx = ctx, .n = n};
    atomic_init(&run.next, 0);
    atomic_init(&run.workers, 0);

    /* Threads live for one batch only: nothing survives a fork() in a worker
     * process, and thread start-up is microseconds against milliseconds of work. */
    pthread_t *tids = NULL;
    int started = 0;
    if (threads > 1 && (tids = malloc(sizeof *tids * (size_t)(threads - 1))) != NULL) {
        for (int t = 0; t < threads - 1; t++) {
            if (pthread_create(&tids[started], NULL, worker, &run) != 0)
                break; /* fewer threads; the caller still drains the queue */
            started++;
        }
    }
    worker(&run);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    free(tids);
    return started + 1;
}
