/*
 * bench_prunner.c - the benchmark workloads on prunner's object API.
 *
 * Usage: bench_prunner WORKLOAD N WORKERS      (see common.h)
 *
 *   sum          the seed's sum, task by task: begin posts init(N); init
 *                posts add_one(i) for i in [0, N); add_one posts
 *                double(i + 1); double posts sum_up(n) twice; sum_up adds n
 *                to a plain int64 under prunner_lock().  4N + 1 tasks;
 *                check: total == N * (N + 1).
 *   sum-counter  the same with PRUNNER_TERMINATION_COUNTER (one shared
 *                pending counter) instead of the default per-worker flags.
 *   tree         a binary tree of tasks: depth d < N posts two children at
 *                depth d + 1; a task at depth N is a leaf and counts itself
 *                in its worker's own counter.  2^(N+1) - 1 tasks.
 *   empty        begin (on the calling thread, outside the pool) posts N
 *                empty tasks while the workers already run them; each
 *                counts itself in its worker's counter.  N tasks.
 *   foo          begin posts N tasks; each adds foo(val) to an int64 under
 *                prunner_lock().  N tasks; check against N * foo(val)
 *                computed serially before timing.
 *
 * What is timed: prunner_run() of the workload, begin hook included, until
 * it returns (every task finished).  Not timed: prunner_new(), and a first
 * run with an empty begin hook that creates the worker threads; they stay
 * parked between runs, so the timed run starts with the pool in place.
 *
 * With BENCH_STATS set (non-empty), the run's prunner_get_stats() counts
 * (steals, sleeps...) are printed on stderr after the RESULT line.
 *
 * Besides the workload's own check, the run must return 0 (no failed
 * task: a task whose post failed returns the error) and prunner_get_stats()
 * must report exactly the expected number of executed tasks.
 */
#include <stdalign.h>

#include "common.h"
#include <prunner.h>

#define SYSTEM "prunner"

/* Set in main() before the timed run, read-only during it. */
static prunner_t *runner;
static long long size_n;
static int foo_arg;

/* The shared sum, guarded by prunner_lock(runner). */
static int64_t total;

/* Per-worker counters on their own cache lines: a worker only writes its
 * own slot; main() reads them after the run (prunner_run() returning
 * orders every task before it). */
struct slot {
	alignas(64) int64_t v;
};
static struct slot *slots;

static inline void count_one(void)
{
	slots[prunner_worker_index()].v++;
}

static int64_t count_total(int workers)
{
	int64_t s = 0;

	for (int w = 0; w < workers; w++)
		s += slots[w].v;
	return s;
}

/* ---- sum ---------------------------------------------------------------- */

static int add_one(void *data);
static int double_(void *data);
static int sum_up(void *data);

static int init(void *data)
{
	int64_t n = *(const int64_t *)data;

	for (int64_t i = 0; i < n; i++) {
		int rc = prunner_post(runner, add_one, &i, sizeof i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_one(void *data)
{
	int64_t n = *(const int64_t *)data + 1;

	return prunner_post(runner, double_, &n, sizeof n);
}

static int double_(void *data)
{
	int64_t n = *(const int64_t *)data;
	int rc = prunner_post(runner, sum_up, &n, sizeof n);

	return rc < 0 ? rc : prunner_post(runner, sum_up, &n, sizeof n);
}

static int sum_up(void *data)
{
	int64_t n = *(const int64_t *)data;

	prunner_lock(runner);
	total += n;
	prunner_unlock(runner);
	return 0;
}

/* ---- tree --------------------------------------------------------------- */

static int tree_node(void *data)
{
	int d = *(const int *)data;

	if (d >= size_n) {
		count_one();
		return 0;
	}
	d++;
	int rc = prunner_post(runner, tree_node, &d, sizeof d);
	return rc < 0 ? rc : prunner_post(runner, tree_node, &d, sizeof d);
}

/* ---- empty -------------------------------------------------------------- */

static int empty_task(void *data)
{
	(void)data;
	count_one();
	return 0;
}

/* ---- foo ---------------------------------------------------------------- */

static int foo_task(void *data)
{
	int64_t v = foo(foo_arg);

	(void)data;
	prunner_lock(runner);
	total += v;
	prunner_unlock(runner);
	return 0;
}

/* ---- begin hooks -------------------------------------------------------- */

/* A post from begin that fails: nothing to return it to, so count it; the
 * check then fails. */
static long long begin_errors;

static void begin_nothing(prunner_t *r, void *arg)
{
	(void)r;
	(void)arg;
}

static void begin_sum(prunner_t *r, void *arg)
{
	int64_t n = size_n;

	(void)arg;
	if (prunner_post(r, init, &n, sizeof n) < 0)
		begin_errors++;
}

static void begin_tree(prunner_t *r, void *arg)
{
	int d = 0;

	(void)arg;
	if (prunner_post(r, tree_node, &d, sizeof d) < 0)
		begin_errors++;
}

static void begin_empty(prunner_t *r, void *arg)
{
	(void)arg;
	for (long long i = 0; i < size_n; i++)
		if (prunner_post(r, empty_task, NULL, 0) < 0)
			begin_errors++;
}

static void begin_foo(prunner_t *r, void *arg)
{
	(void)arg;
	for (long long i = 0; i < size_n; i++)
		if (prunner_post(r, foo_task, NULL, 0) < 0)
			begin_errors++;
}

/* ---- main --------------------------------------------------------------- */

static int die(const char *what, int rc)
{
	fprintf(stderr, "bench_prunner: %s: %s\n", what, prunner_strerror(rc));
	return BENCH_EXIT_FAIL;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	void (*begin)(prunner_t *, void *);
	int64_t expected = 0, got = 0;
	int counted = 0; /* the workload counts in the per-worker slots */
	int rc;

	if (bench_parse_args(argc, argv, SYSTEM, &a) < 0)
		return BENCH_EXIT_USAGE;
	size_n = a.n;
	long long tasks = bench_task_count(a.workload, a.n);
	bool counter_mode = strcmp(a.workload, "sum-counter") == 0;

	if (strcmp(a.workload, "sum") == 0 || counter_mode) {
		begin = begin_sum;
		expected = bench_sum_expected(a.n);
	} else if (strcmp(a.workload, "tree") == 0) {
		begin = begin_tree;
		expected = (int64_t)1 << a.n;
		counted = 1;
	} else if (strcmp(a.workload, "empty") == 0) {
		begin = begin_empty;
		expected = a.n;
		counted = 1;
	} else if (strcmp(a.workload, "foo") == 0) {
		begin = begin_foo;
		foo_arg = foo_val();
		expected = (int64_t)a.n * foo(foo_arg); /* serially, before timing */
	} else {
		print_unsupported(SYSTEM, a.workload);
		return BENCH_EXIT_UNSUPPORTED;
	}

	slots = aligned_alloc(64, sizeof *slots * (size_t)a.workers);
	if (!slots)
		return die("slots", -ENOMEM);
	memset(slots, 0, sizeof *slots * (size_t)a.workers);

	if ((rc = prunner_new(&runner)) < 0)
		return die("prunner_new", rc);
	if ((rc = prunner_set_workers(runner, a.workers)) < 0)
		return die("prunner_set_workers", rc);
	if (counter_mode && (rc = prunner_set_termination(runner, PRUNNER_TERMINATION_COUNTER)) < 0)
		return die("prunner_set_termination", rc);

	/* Untimed warm-up: creates the worker threads. */
	if ((rc = prunner_set_hooks(runner, begin_nothing, NULL, NULL)) < 0)
		return die("prunner_set_hooks", rc);
	if ((rc = prunner_run(runner)) != 0)
		return die("warm-up run", rc < 0 ? rc : -EIO);

	if ((rc = prunner_set_hooks(runner, begin, NULL, NULL)) < 0)
		return die("prunner_set_hooks", rc);

	double t0 = now_seconds();
	rc = prunner_run(runner);
	double t1 = now_seconds();

	if (rc < 0)
		return die("prunner_run", rc);

	struct prunner_stats st = {0};
	int ok = rc == 0 && begin_errors == 0;
	if (prunner_get_stats(runner, &st) != 0 || st.executed != (uint64_t)tasks || st.failed != 0)
		ok = 0;
	got = counted ? count_total(a.workers) : total;
	if (got != expected)
		ok = 0;
	if (!ok) {
		fprintf(stderr,
		        "bench_prunner: %s: got %" PRId64 ", expected %" PRId64 "; run returned %d, "
		        "%" PRIu64 " of %lld tasks executed, %" PRIu64 " failed\n",
		        a.workload, got, expected, rc, st.executed, tasks, st.failed);
		print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
		return BENCH_EXIT_FAIL;
	}
	print_result(SYSTEM, a.workload, a.n, a.workers, tasks, t1 - t0);
	if (getenv("BENCH_STATS") && *getenv("BENCH_STATS")) /* diagnostics, on stderr */
		fprintf(stderr, "stats: posted=%" PRIu64 " executed=%" PRIu64 " steals=%" PRIu64 " sleeps=%" PRIu64 "\n",
		        st.posted, st.executed, st.steals, st.sleeps);
	prunner_free(runner);
	free(slots);
	return BENCH_EXIT_OK;
}
