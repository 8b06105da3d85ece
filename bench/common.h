/*
 * common.h - what every benchmark program shares (C11 and C++, header only).
 *
 * Every program bench_<system> follows one contract:
 *
 *   bench_<system> WORKLOAD N WORKERS
 *
 *   WORKLOAD  sum | tree | empty | foo | sum-counter (prunner only)
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
	if (!ok) {
		fprintf(stderr,
		        "usage: bench_%s WORKLOAD N WORKERS\n"
		        "  WORKLOAD  sum | tree | empty | foo | sum-counter (prunner only)\n"
		        "  N         size: sum N numbers (4N+1 tasks), tree depth N <= %d (2^(N+1)-1 tasks),\n"
		        "            empty N tasks, foo N tasks (BENCH_FOO_VAL, default %d); N <= %d\n"
		        "  WORKERS   pool size, 1..%d\n",
		        system, BENCH_MAX_TREE_DEPTH, BENCH_FOO_DEFAULT_VAL, INT_MAX, BENCH_MAX_WORKERS);
		return -1;
	}
	a->workload = argv[1];
	a->n = n;
	a->workers = (int)w;
	return 0;
}

/* Number of tasks of `workload` at size n, or -1 for an unknown workload. */
static inline long long bench_task_count(const char *workload, long long n)
{
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

#endif /* BENCH_COMMON_H */
