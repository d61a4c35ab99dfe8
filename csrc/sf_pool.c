#define _GNU_SOURCE
#include "sf_pool.h"

#include <stdlib.h>

/* POSIX threads and C11 atomics; on Windows its own threads and Interlocked calls
 * (MSVC's <stdatomic.h> is still experimental). */
#ifdef _WIN32
#include <windows.h>
typedef volatile LONG64 sf_counter;
typedef HANDLE sf_thread;
#define counter_init(c) (*(c) = 0)
#define counter_next(c) ((size_t)(InterlockedIncrement64(c) - 1))
#else
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
typedef atomic_size_t sf_counter;
typedef pthread_t sf_thread;
#define counter_init(c) atomic_init(c, 0)
#define counter_next(c) atomic_fetch_add_explicit(c, 1, memory_order_relaxed)
#endif

typedef struct {
    sf_task_fn fn;
    void *ctx;
    size_t n;
    sf_counter next;
    sf_counter workers;
} sf_pool_run;

int sf_cpu_count(void)
{
#ifdef _WIN32
    DWORD_PTR mask, system;
    if (GetProcessAffinityMask(GetCurrentProcess(), &mask, &system) && mask != 0) {
        int n = 0;
        for (; mask; mask &= mask - 1)
            n++;
        return n;
    }
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return info.dwNumberOfProcessors > 0 ? (int)info.dwNumberOfProcessors : 1;
#else
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
#endif
}

static void drain(sf_pool_run *run)
{
    int id = (int)counter_next(&run->workers);
    for (;;) {
        size_t i = counter_next(&run->next);
        if (i >= run->n)
            break;
        run->fn(run->ctx, i, id);
    }
}

#ifdef _WIN32
static DWORD WINAPI worker(LPVOID arg)
{
    drain(arg);
    return 0;
}

static int thread_start(sf_thread *t, sf_pool_run *run)
{
    return (*t = CreateThread(NULL, 0, worker, run, 0, NULL)) != NULL;
}

static void thread_join(sf_thread t)
{
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
static void *worker(void *arg)
{
    drain(arg);
    return NULL;
}

static int thread_start(sf_thread *t, sf_pool_run *run) { return pthread_create(t, NULL, worker, run) == 0; }

static void thread_join(sf_thread t) { pthread_join(t, NULL); }
#endif

int sf_pool_size(size_t n, int threads)
{
    /* More threads than CPUs would only take turns on them (and a caller's huge
     * number would start that many). */
    int cpus = sf_cpu_count();
    if (threads <= 0 || threads > cpus)
        threads = cpus;
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
    counter_init(&run.next);
    counter_init(&run.workers);

    /* Threads live for one batch only: nothing survives a fork() in a worker
     * process, and thread start-up is microseconds against milliseconds of work. */
    sf_thread *tids = NULL;
    int started = 0;
    if (threads > 1 && (tids = malloc(sizeof *tids * (size_t)(threads - 1))) != NULL) {
        for (int t = 0; t < threads - 1; t++) {
            if (!thread_start(&tids[started], &run))
                break; /* fewer threads; the caller still drains the queue */
            started++;
        }
    }
    drain(&run);
    for (int t = 0; t < started; t++)
        thread_join(tids[t]);
    free(tids);
    return started + 1;
}
