/*
 * testutil.h - helpers shared by the test programs: runner construction
 * and stats checks (these assert: test thread only), task-side helpers
 * that never assert (no-op and gate tasks, set_result_i64, mix64), and
 * thread counting.  Workloads shared by a test and its slow-suite version
 * are in testutil_runs.h (runner / slow) and testutil_forkjoin.h
 * (group / slow2).
 *
 * Counting the process's threads, to check that a runner starts and joins
 * exactly the threads it should.  Two things make a bare count unreliable,
 * and both are handled here without any sleep:
 *   - a runtime may start a helper thread of its own on first use
 *     (ThreadSanitizer does): the first call creates and joins one thread,
 *     so that helper is in every baseline;
 *   - a thread joined a moment ago can still be listed until the kernel has
 *     reaped it: after joins, the count is re-read (a bounded number of
 *     times, yielding) while it is above what is expected.  A thread that
 *     was really not joined stays listed and the caller's check fails.
 */
#ifndef PRUNNER_TESTUTIL_H
#define PRUNNER_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "prunner.h"

static void *testutil_noop_thread(void *arg)
{
	return arg;
}

/* Threads of this process (entries of /proc/self/task); -1 without /proc. */
static inline int thread_count(void)
{
	static int warmed;
	if (!warmed) {
		pthread_t t;
		if (pthread_create(&t, NULL, testutil_noop_thread, NULL) == 0)
			pthread_join(t, NULL);
		warmed = 1;
	}
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The steady count: the least of repeated reads (nothing starts a thread
 * meanwhile, so the count only goes down as joined threads are reaped). */
static inline int thread_count_steady(void)
{
	int n = thread_count();
	for (int i = 0; i < 200 && n >= 0; i++) {
		sched_yield();
		int m = thread_count();
		if (m < n)
			n = m;
	}
	return n;
}

/* The count after threads were joined, re-read while above `expected`. */
static inline int thread_count_after_join(int expected)
{
	int n = thread_count();
	for (int i = 0; i < 100000 && n > expected; i++) {
		sched_yield();
		n = thread_count();
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* Runners and stats (test thread only: these assert)                       */
/* ------------------------------------------------------------------------ */

static inline prunner_t *new_runner(int workers, enum prunner_termination mode)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(prunner_set_workers(r, workers), 0);
	ck_assert_int_eq(prunner_set_termination(r, mode), 0);
	return r;
}

/* A runner with `workers` workers and the default termination detector. */
static inline prunner_t *new_runner_default(int workers)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(prunner_set_workers(r, workers), 0);
	return r;
}

/* Stats that must hold after a successful run of `w` workers. */
static inline void check_run_stats(prunner_t *r, int w, uint64_t executed, uint64_t failed)
{
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_msg(st.executed == executed, "w=%d: stats.executed %" PRIu64 ", expected %" PRIu64, w, st.executed,
	              executed);
	ck_assert_msg(st.posted == executed, "w=%d: stats.posted %" PRIu64 ", expected %" PRIu64, w, st.posted,
	              executed);
	ck_assert_msg(st.failed == failed, "w=%d: stats.failed %" PRIu64 ", expected %" PRIu64, w, st.failed, failed);
	ck_assert_int_eq(st.workers, w);
}

/* Readable now, without waiting (poll with timeout 0)?  Asserts. */
static inline int fd_readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, 0);
	ck_assert_int_ge(n, 0);
	return n == 1 && (p.revents & POLLIN);
}

/* ------------------------------------------------------------------------ */
/* Task-side helpers (no asserts: usable on workers)                        */
/* ------------------------------------------------------------------------ */

static inline int noop_task(void *data)
{
	(void)data;
	return 0;
}

static inline int set_result_i64(int64_t v)
{
	return prunner_set_result(&v, sizeof v);
}

/* Gate tasks (payload: a struct gate *): count themselves started, then
 * spin until opened.  The release store of `open` pairs with the acquire
 * loads here; `started` (seq_cst) tells the test that a task is surely
 * running. */
struct gate {
	atomic_int open;
	atomic_int started;
};

static inline int gate_fn(void *data)
{
	struct gate *g = *(struct gate **)data;
	atomic_fetch_add(&g->started, 1);
	while (!atomic_load_explicit(&g->open, memory_order_acquire))
		sched_yield();
	return 0;
}

/* Spins until n gate tasks run. */
static inline void wait_started(struct gate *g, int n)
{
	while (atomic_load(&g->started) < n)
		sched_yield();
}

/* A pointer with its index, sorted by pointer (qsort). */
struct ptr_idx {
	uintptr_t p;
	uint32_t i;
};

static inline int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* splitmix64 finaliser: the pseudo-random generator of the task trees. */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* One cache line per worker; written only by its worker. */
struct wcount {
	_Alignas(64) uint64_t n;
};

#endif /* PRUNNER_TESTUTIL_H */
