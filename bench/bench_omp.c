/*
 * bench_omp.c - the benchmark workloads as OpenMP tasks (gcc's libgomp).
 *
 * Usage: bench_omp WORKLOAD N WORKERS      (see common.h)
 *
 * The idiom: one `#pragma omp parallel num_threads(WORKERS)` team, one
 * member of it enters `#pragma omp single` and creates the first task(s);
 * every post is a `#pragma omp task` with the task's value `firstprivate`.
 * Nobody waits for individual tasks: the implicit barrier at the end of the
 * single construct (and of the parallel region) does not complete before
 * every task of the team has finished, which is exactly "wait until all
 * tasks ran".
 *
 *   sum    the single thread creates the init task; init creates add_one(i)
 *          for i in [0, N); add_one creates double(i + 1); double creates
 *          sum_up(n) twice; sum_up adds n to an int64 under a pthread
 *          mutex.  4N + 1 tasks; check: total == N * (N + 1).
 *   tree   a task at depth d < N creates two child tasks at depth d + 1; a
 *          leaf (depth N) counts itself in its thread's own counter.
 *          2^(N+1) - 1 tasks; check: leaves == 2^N.
 *   empty  the single thread creates N empty tasks (each counts itself in
 *          its thread's counter).  OpenMP has no way to submit tasks from
 *          a thread outside the team: the producer is a team member, the
 *          closest OpenMP expression of "posted from one thread".  N tasks.
 *   foo    the single thread creates N tasks; each adds foo(val) to an
 *          int64 under the mutex.  N tasks; check against N * foo(val)
 *          computed serially before timing.
 *   fib    fib(N) by recursive fork-join with a task for every call, no
 *          cutoff: the single thread creates the root task; a call with
 *          n >= 2 creates `#pragma omp task shared(x)` for fib(n-1) and
 *          `shared(y)` for fib(n-2) and waits with `#pragma omp taskwait`
 *          (the shape of the fib example in the OpenMP Examples document).
 *          2 fib(N+1) - 1 tasks; check against an iterative fib(N) computed
 *          before timing.  With one thread libgomp runs each task at once
 *          as a call (see below); beyond the throttle the same happens with
 *          more threads.
 *
 * roundtrip is unsupported (exit 3): OpenMP cannot take a task from a
 * thread outside the team and hand a result back to it, so it has no
 * submit-to-result round trip.  The nearest expression, a `parallel` /
 * `single` / `task` region per round trip started by main() as the team's
 * master, measures something else: the fork and join of a team (the
 * barrier that ends the region), with the task most often run by main()
 * itself at that barrier (measured with 2 threads on the 2-core test VM:
 * about 0.9 us per region, main() ran the task in 86% of them); its number
 * would sit in the table beside real cross-thread round trips as if it
 * were one.
 *
 * libgomp's task throttle shapes these numbers: when more than
 * 64 * WORKERS tasks are queued, a new task is not queued but run at once,
 * undeferred, by the thread creating it.  So in `empty` the producer runs
 * nearly all tasks itself (measured: all but a few thousand of 10^7 with 2
 * workers), and in `tree` and `sum` most tasks run as plain calls inside
 * their parent.  That is libgomp's behaviour for this code, not a shortcut
 * of this program; the tree deliberately has no taskwait per node (no
 * other system waits per node), which would cost far more.
 *
 * What is timed: the parallel region of the workload, from just before it
 * starts (waking the team) until it ends (every task finished).  Not
 * timed: an empty parallel region of WORKERS threads run first, which
 * creates libgomp's threads; they stay docked between regions, so the
 * timed region starts with the pool in place.  libgomp's wait policy is
 * left at its default (OMP_WAIT_POLICY / GOMP_SPINCOUNT unset).
 */
#include <omp.h>
#include <pthread.h>
#include <stdalign.h>

#include "common.h"

#define SYSTEM "omp"

/* Set in main() before the timed region, read-only during it. */
static long long size_n;
static int foo_arg;

/* The shared sum, guarded by total_lock. */
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t total;

/* Per-thread counters on their own cache lines: a thread only writes the
 * slot of its omp_get_thread_num(); main() reads them after the parallel
 * region (its end orders every task before it). */
struct slot {
	alignas(64) int64_t v;
};
static struct slot *slots;

static inline void count_one(void)
{
	slots[omp_get_thread_num()].v++;
}

static int64_t count_total(int workers)
{
	int64_t s = 0;

	for (int w = 0; w < workers; w++)
		s += slots[w].v;
	return s;
}

static inline void add_to_total(int64_t n)
{
	pthread_mutex_lock(&total_lock);
	total += n;
	pthread_mutex_unlock(&total_lock);
}

/* ---- sum ---------------------------------------------------------------- */

static void sum_up(int64_t n)
{
	add_to_total(n);
}

static void double_(int64_t n)
{
#pragma omp task firstprivate(n)
	sum_up(n);
#pragma omp task firstprivate(n)
	sum_up(n);
}

static void add_one(int64_t i)
{
	int64_t n = i + 1;

#pragma omp task firstprivate(n)
	double_(n);
}

static void init(int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
#pragma omp task firstprivate(i)
		add_one(i);
	}
}

/* ---- tree --------------------------------------------------------------- */

static void tree_node(int d)
{
	if (d >= size_n) {
		count_one();
		return;
	}
	d++;
#pragma omp task firstprivate(d)
	tree_node(d);
#pragma omp task firstprivate(d)
	tree_node(d);
}

/* ---- fib ---------------------------------------------------------------- */

static int64_t fib_result; /* the root task's, read after the region */

static int64_t fib_task(int n)
{
	int64_t x, y;

	if (n < 2)
		return n;
#pragma omp task shared(x)
	x = fib_task(n - 1);
#pragma omp task shared(y)
	y = fib_task(n - 2);
#pragma omp taskwait
	return x + y;
}

/* ---- empty and foo ------------------------------------------------------ */

static void empty_task(void)
{
	count_one();
}

static void foo_task(void)
{
	add_to_total(foo(foo_arg));
}

/* ---- the workloads: what the single thread does ------------------------- */

enum workload { W_SUM, W_TREE, W_EMPTY, W_FOO, W_FIB };

static void start_workload(enum workload w)
{
	int64_t n = size_n;
	int d = 0;

	switch (w) {
	case W_SUM:
#pragma omp task firstprivate(n)
		init(n);
		break;
	case W_TREE:
#pragma omp task firstprivate(d)
		tree_node(d);
		break;
	case W_EMPTY:
		for (int64_t i = 0; i < n; i++) {
#pragma omp task
			empty_task();
		}
		break;
	case W_FOO:
		for (int64_t i = 0; i < n; i++) {
#pragma omp task
			foo_task();
		}
		break;
	case W_FIB:
		d = (int)n;
#pragma omp task firstprivate(d)
		fib_result = fib_task(d);
		break;
	}
}

int main(int argc, char **argv)
{
	struct bench_args a;
	enum workload w;
	int64_t expected, got;
	int counted = 0; /* the workload counts in the per-thread slots */
	int team_size = 0;

	if (bench_parse_args(argc, argv, SYSTEM, &a) < 0)
		return BENCH_EXIT_USAGE;
	size_n = a.n;
	long long tasks = bench_task_count(a.workload, a.n);

	if (strcmp(a.workload, "sum") == 0) {
		w = W_SUM;
		expected = bench_sum_expected(a.n);
	} else if (strcmp(a.workload, "tree") == 0) {
		w = W_TREE;
		expected = (int64_t)1 << a.n;
		counted = 1;
	} else if (strcmp(a.workload, "empty") == 0) {
		w = W_EMPTY;
		expected = a.n;
		counted = 1;
	} else if (strcmp(a.workload, "foo") == 0) {
		w = W_FOO;
		foo_arg = foo_val();
		expected = (int64_t)a.n * foo(foo_arg); /* serially, before timing */
	} else if (strcmp(a.workload, "fib") == 0) {
		w = W_FIB;
		expected = bench_fib(a.n); /* before timing */
	} else {
		print_unsupported(SYSTEM, a.workload);
		return BENCH_EXIT_UNSUPPORTED;
	}

	slots = aligned_alloc(alignof(struct slot), sizeof *slots * (size_t)a.workers);
	if (!slots) {
		fprintf(stderr, "bench_omp: out of memory\n");
		return BENCH_EXIT_FAIL;
	}
	memset(slots, 0, sizeof *slots * (size_t)a.workers);

	/* Untimed warm-up: creates the team's threads (libgomp keeps them). */
#pragma omp parallel num_threads(a.workers)
	{
#pragma omp single
		team_size = omp_get_num_threads();
	}
	if (team_size != a.workers) {
		fprintf(stderr, "bench_omp: asked for %d threads, the team has %d\n", a.workers, team_size);
		print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
		return BENCH_EXIT_FAIL;
	}

	double t0 = now_seconds();
#pragma omp parallel num_threads(a.workers)
	{
#pragma omp single
		start_workload(w);
		/* The barrier ending single waits for every task of the team. */
	}
	double t1 = now_seconds();

	got = counted ? count_total(a.workers) : w == W_FIB ? fib_result : total;
	if (got != expected) {
		fprintf(stderr, "bench_omp: %s: got %" PRId64 ", expected %" PRId64 "\n", a.workload, got,
		        expected);
		print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
		return BENCH_EXIT_FAIL;
	}
	print_result(SYSTEM, a.workload, a.n, a.workers, tasks, t1 - t0);
	free(slots);
	return BENCH_EXIT_OK;
}
