/*
 * common.h - what every benchmark program shares (C11 and C++, header only).
 *
 * Every program bench_<system> follows one contract:
 *
 *   bench_<system> WORKLOAD N WORKERS
 *
 *   WORKLOAD  sum | tree | empty | foo | sum-counter (prunner only)
 *             | fib | fib-serial (prunner only) | roundtrip
 *   N         the workload's size (see bench_task_count() below)
 *   WORKERS   the pool size, >= 1
 *
 * and prints exactly one line on stdout:
 *
 *   RESULT system=S workload=W n=N workers=K tasks=T seconds=X.XXXXXXXXX
 *          maxrss_kb=M check=ok                                  exit 0
 *   RESULT system=S workload=W n=N workers=K tasks=T maxrss_kb=M
 *          check=FAIL                                            exit 1
 *   RESULT system=S workload=W unsupported                       exit 3
 *
 * A workload may add fields of its own after `seconds` (roundtrip adds
 * p50_ns=... p99_ns=..., see print_result_latency()); parsers must accept
 * any KEY=VALUE field.
 *
 * and a usage message on stderr with exit 2 for bad arguments.
 *
 * Use: parse with bench_parse_args(); compute the reference values before
 * timing; time with now_seconds() around "start the work" .. "all tasks
 * finished"; then print_result() or print_fail() or print_unsupported().
 *
 * The function names here are stable: bench_omp.c, bench_tbb.cpp,
 * bench_glib.c and bench_uv.c use them too.
 *
 * The build defines _GNU_SOURCE for C (project arguments); g++ defines it
 * itself.  Include this header before any other if you build it otherwise.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Exit codes of the contract. */
#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAIL 1
#define BENCH_EXIT_USAGE 2
#define BENCH_EXIT_UNSUPPORTED 3

/* The largest tree depth accepted (2^(N+1)-1 tasks must fit easily). */
#define BENCH_MAX_TREE_DEPTH 40

/* The largest fib argument accepted: fib(N) with a task per call makes
 * 2 fib(N+1) - 1 tasks, about 4e10 at N = 50 (fib(92) is the largest that
 * fits int64_t, so every count here is exact). */
#define BENCH_MAX_FIB 50

/* The largest number of round trips accepted: each one's duration is
 * kept in an array of int64_t (800 MB at the limit). */
#define BENCH_MAX_ROUNDTRIP 100000000LL

/* The largest worker count accepted. */
#define BENCH_MAX_WORKERS 1024

/* The foo kernel's default argument, and the largest accepted: above 1290,
 * i*i*i overflows int inside foo() (1289^3 < INT_MAX < 1290^3). */
#define BENCH_FOO_DEFAULT_VAL 1290
#define BENCH_FOO_MAX_VAL 1290

/* Monotonic time in seconds. */
static inline double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Monotonic time in nanoseconds (for per-operation latencies). */
static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

/* Peak resident set size of this process in KiB (ru_maxrss on Linux). */
static inline long maxrss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return ru.ru_maxrss;
}

/*
 * The compute kernel of the HTTP seed, unchanged except for one empty asm
 * statement: it tells the compiler that `val` may have changed, so two
 * calls with the same argument can never be merged or hoisted out of a
 * loop or a task (foo is otherwise a pure function the optimiser could
 * compute once).  It costs nothing at run time.
 */
static inline int foo(int val)
{
	float result = 0.0f;

#if defined(__GNUC__)
	__asm__ __volatile__("" : "+r"(val));
#endif
	for (int c = 0; c < 1000; c++) {
		for (int i = 0; i < val; i++) {
			result += (float)(i);
			result += sqrtf((float)(i * i));
			result += powf((float)(i * i * i), 0.1f);
		}
	}
	return (int)result;
}

/*
 * The argument for foo(): BENCH_FOO_VAL from the environment when it holds
 * an integer in [1, BENCH_FOO_MAX_VAL], else BENCH_FOO_DEFAULT_VAL (with a
 * warning on stderr when it is set but invalid).  Read it once in main().
 */
static inline int foo_val(void)
{
	const char *s = getenv("BENCH_FOO_VAL");
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return BENCH_FOO_DEFAULT_VAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > BENCH_FOO_MAX_VAL) {
		fprintf(stderr, "BENCH_FOO_VAL=%s ignored (want 1..%d); using %d\n", s, BENCH_FOO_MAX_VAL,
		        BENCH_FOO_DEFAULT_VAL);
		return BENCH_FOO_DEFAULT_VAL;
	}
	return (int)v;
}

/* The parsed command line. */
struct bench_args {
	const char *workload; /* as given; the program decides if it knows it */
	long long n;          /* >= 0 */
	int workers;          /* >= 1 */
};

/* Parses a non-negative decimal integer <= max; returns 0 or -1. */
static inline int bench_parse_count(const char *s, long long max, long long *out)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9') /* no sign, no blanks */
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Parses "WORKLOAD N WORKERS" into *a.  Returns 0, or prints the usage on
 * stderr and returns -1: the caller then exits with BENCH_EXIT_USAGE.
 * N is limited to INT_MAX (so N * (N + 1) fits int64_t), and for the tree
 * to BENCH_MAX_TREE_DEPTH; WORKERS to 1..BENCH_MAX_WORKERS.
 */
static inline int bench_parse_args(int argc, char **argv, const char *system, struct bench_args *a)
{
	long long n = 0, w = 0;
	int ok = argc == 4;

	if (ok)
		ok = bench_parse_count(argv[2], INT_MAX, &n) == 0 && bench_parse_count(argv[3], BENCH_MAX_WORKERS, &w) == 0 &&
		     w >= 1;
	if (ok && strcmp(argv[1], "tree") == 0 && n > BENCH_MAX_TREE_DEPTH)
		ok = 0;
	if (ok && (strcmp(argv[1], "fib") == 0 || strcmp(argv[1], "fib-serial") == 0) && n > BENCH_MAX_FIB)
		ok = 0;
	if (ok && strcmp(argv[1], "roundtrip") == 0 && n > BENCH_MAX_ROUNDTRIP)
		ok = 0;
	if (!ok) {
		fprintf(stderr,
		        "usage: bench_%s WORKLOAD N WORKERS\n"
		        "  WORKLOAD  sum | tree | empty | foo | sum-counter (prunner only)\n"
		        "            | fib | fib-serial (prunner only) | roundtrip\n"
		        "  N         size: sum N numbers (4N+1 tasks), tree depth N <= %d (2^(N+1)-1 tasks),\n"
		        "            empty N tasks, foo N tasks (BENCH_FOO_VAL, default %d); N <= %d\n"
		        "            fib(N) with a task per call, N <= %d (2 fib(N+1)-1 tasks),\n"
		        "            roundtrip N submit-to-result round trips, N <= %lld\n"
		        "  WORKERS   pool size, 1..%d\n",
		        system, BENCH_MAX_TREE_DEPTH, BENCH_FOO_DEFAULT_VAL, INT_MAX, BENCH_MAX_FIB,
		        BENCH_MAX_ROUNDTRIP, BENCH_MAX_WORKERS);
		return -1;
	}
	a->workload = argv[1];
	a->n = n;
	a->workers = (int)w;
	return 0;
}

/* fib(n), iteratively: the reference value of the fib workloads (exact for
 * n <= 92). */
static inline int64_t bench_fib(long long n)
{
	int64_t a = 0, b = 1;

	for (long long i = 0; i < n; i++) {
		int64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}

/* Number of calls of the recursive fib(n) (fib(k) for k < 2 is a leaf):
 * c(n) = 1 + c(n-1) + c(n-2), c(0) = c(1) = 1, so c(n) = 2 fib(n+1) - 1. */
static inline long long bench_fib_calls(long long n)
{
	return 2 * (long long)bench_fib(n + 1) - 1;
}

/* Number of tasks of `workload` at size n, or -1 for an unknown workload. */
static inline long long bench_task_count(const char *workload, long long n)
{
	if (strcmp(workload, "fib") == 0 || strcmp(workload, "fib-serial") == 0)
		return bench_fib_calls(n); /* fib-serial: calls, not tasks */
	if (strcmp(workload, "roundtrip") == 0)
		return n;
	if (strcmp(workload, "sum") == 0 || strcmp(workload, "sum-counter") == 0)
		return 4 * n + 1;
	if (strcmp(workload, "tree") == 0)
		return (2LL << n) - 1;
	if (strcmp(workload, "empty") == 0 || strcmp(workload, "foo") == 0)
		return n;
	return -1;
}

/* Expected result of the sum: sum((i + 1) * 2 for i in range(n)). */
static inline int64_t bench_sum_expected(long long n)
{
	return (int64_t)n * (int64_t)(n + 1);
}

/* The success line (stdout, flushed). */
static inline void print_result(const char *system, const char *workload, long long n, int workers, long long tasks,
                                double seconds)
{
	printf("RESULT system=%s workload=%s n=%lld workers=%d tasks=%lld seconds=%.9f maxrss_kb=%ld check=ok\n", system,
	       workload, n, workers, tasks, seconds, maxrss_kb());
	fflush(stdout);
}

/*
 * The success line with extra fields: `extra` (one or more KEY=VALUE
 * tokens separated by single blanks) goes right after seconds.  Otherwise
 * the same line as print_result().
 */
static inline void print_result_extra(const char *system, const char *workload, long long n, int workers,
                                      long long tasks, double seconds, const char *extra)
{
	printf("RESULT system=%s workload=%s n=%lld workers=%d tasks=%lld seconds=%.9f %s maxrss_kb=%ld check=ok\n",
	       system, workload, n, workers, tasks, seconds, extra, maxrss_kb());
	fflush(stdout);
}

static inline int bench_cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The p-th percentile (0 < p <= 100) of the n values of sorted[] (ascending)
 * by the nearest-rank method: the smallest value such that at least p% of
 * the values are <= it, i.e. sorted[ceil(p/100 * n) - 1].  0 when n == 0.
 */
static inline int64_t bench_percentile(const int64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	double rank = ceil(p / 100.0 * (double)n);
	size_t i = rank < 1.0 ? 0 : (size_t)rank - 1;

	return sorted[i < n ? i : n - 1];
}

/*
 * The success line of a latency workload: sorts the n per-operation
 * durations ns[] (nanoseconds; the array is reordered) and prints
 * print_result_extra() with "p50_ns=<median> p99_ns=<99th percentile>"
 * (nearest rank).
 */
static inline void print_result_latency(const char *system, const char *workload, long long n, int workers,
                                        long long tasks, double seconds, int64_t *ns, size_t count)
{
	char extra[96];

	qsort(ns, count, sizeof *ns, bench_cmp_int64);
	snprintf(extra, sizeof extra, "p50_ns=%" PRId64 " p99_ns=%" PRId64, bench_percentile(ns, count, 50.0),
	         bench_percentile(ns, count, 99.0));
	print_result_extra(system, workload, n, workers, tasks, seconds, extra);
}

/* The failure line: no seconds field (stdout, flushed).  Exit 1 after it. */
static inline void print_fail(const char *system, const char *workload, long long n, int workers, long long tasks)
{
	printf("RESULT system=%s workload=%s n=%lld workers=%d tasks=%lld maxrss_kb=%ld check=FAIL\n", system, workload,
	       n, workers, tasks, maxrss_kb());
	fflush(stdout);
}

/* The line for a workload this system does not implement.  Exit 3 after it. */
static inline void print_unsupported(const char *system, const char *workload)
{
	printf("RESULT system=%s workload=%s unsupported\n", system, workload);
	fflush(stdout);
}

#ifdef BENCH_WANT_SLOTS
/*
 * Per-thread counters for pools whose threads have no index (GLib, libuv):
 * each thread claims the next free slot the first time it counts.  An
 * exclusive pool has exactly WORKERS threads for its whole life.  Only the
 * slot's thread writes it; main() reads the slots after the pool's own
 * completion signal, which orders every task before it.  Threads beyond the
 * slots (none expected) count in the overflow counter instead.  C only.
 */
#include <stdalign.h>
#include <stdatomic.h>

struct bench_slot {
	alignas(64) int64_t v;
};
static struct bench_slot *bench_slots;
static int bench_nslots;
static atomic_int bench_next_slot;
static atomic_llong bench_overflow;
static _Thread_local struct bench_slot *bench_my_slot;

/* 0, or -1 when out of memory. */
static inline int bench_slots_init(int n)
{
	bench_nslots = n;
	bench_slots = aligned_alloc(alignof(struct bench_slot), sizeof *bench_slots * (size_t)n);
	if (!bench_slots)
		return -1;
	memset(bench_slots, 0, sizeof *bench_slots * (size_t)n);
	return 0;
}

static inline void bench_slots_free(void)
{
	free(bench_slots);
	bench_slots = NULL;
}

static inline void count_one(void)
{
	if (bench_my_slot == NULL) {
		int i = atomic_fetch_add_explicit(&bench_next_slot, 1, memory_order_relaxed);
		if (i >= bench_nslots) {
			atomic_fetch_add_explicit(&bench_overflow, 1, memory_order_relaxed);
			return;
		}
		bench_my_slot = &bench_slots[i];
	}
	bench_my_slot->v++;
}

static inline int64_t count_total(void)
{
	int64_t s = atomic_load(&bench_overflow);

	for (int i = 0; i < bench_nslots; i++)
		s += bench_slots[i].v;
	return s;
}
#endif /* BENCH_WANT_SLOTS */

#endif /* BENCH_COMMON_H */
