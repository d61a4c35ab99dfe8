/* A parallel-for over native threads: items are claimed from an atomic counter,
 * so uneven work (large and small frames in one batch) still balances. */
#ifndef SF_POOL_H
#define SF_POOL_H

#include <stddef.h>

/* `worker` is 0..threads-1, stable for the calling thread during one run, so a
 * task can keep per-thread state in ctx. */
typedef void (*sf_task_fn)(void *ctx, size_t index, int worker);

/* Number of CPUs this process may run on (affinity mask aware). */
int sf_cpu_count(void);

/* How many threads sf_parallel_for(n, threads, ...) will use at most: never more than
 * the CPUs or the items. */
int sf_pool_size(size_t n, int threads);

/* Runs fn(ctx, i, worker) for every i in [0, n) on up to `threads` threads (0, or more
 * than there are: all CPUs),
 * the calling thread included. Returns the number of threads used. */
int sf_parallel_for(size_t n, int threads, sf_task_fn fn, void *ctx);

#endif
