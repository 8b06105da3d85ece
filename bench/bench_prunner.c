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
 *   fib          fib(N) by recursive fork-join with a task for every call, no
 *                cutoff: begin posts the root; a call with n >= 2 makes a
 *                group on its stack (prunner_group_init), spawns fib(n-1)
 *                and fib(n-2) with a pointer to a result slot on its own
 *                stack in each payload, waits (prunner_group_wait, which
 *                helps), and writes the sum through its own pointer.
 *                2 fib(N+1) - 1 tasks (one per call); check against an
 *                iterative fib(N) computed before timing.
 *   fib-serial   the same recursion as plain calls (system name `serial`):
 *                the baseline of the overhead ratio T(fib, 1 worker) /
 *                T(fib-serial).  No pool is created.  fib_serial() has the
 *                task's shape, is noinline, takes N read at run time, and an
 *                empty asm on the two partial results keeps gcc from turning
 *                the second call into a loop (its "tail recursion with
 *                accumulator") or treating the function as pure (which would
 *                let it move the call out of the timed interval).  tasks=
 *                counts the 2 fib(N+1) - 1 calls.  WORKERS is ignored.
 *   roundtrip    the submit-to-result round trip of a future, from a thread
 *                outside the pool: the runner is opened as an executor
 *                (prunner_open); main() then makes N round trips one after
 *                the other, each prunner_submit() of a task that sets its
 *                input + 1 as its result, prunner_future_wait(),
 *                prunner_future_result() and prunner_future_release(),
 *                timed on its own with CLOCK_MONOTONIC.  1000 untimed round
 *                trips come first.  seconds = the wall time of the N timed
 *                round trips (their sum plus the clock reads); the RESULT line
 *                adds p50_ns and p99_ns (nearest rank).  N tasks; check:
 *                every result == its input + 1 and the executor ran exactly
 *                1000 + N tasks.
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

static int die(const char *what, int rc);

/* ---- fib ---------------------------------------------------------------- */

/* A call's payload: its argument and where to write its result (a slot on
 * the parent's stack, or fib_result for the root).  16 bytes: stored
 * inline in the task. */
struct fib_arg {
	int n;
	int64_t *out;
};

static int64_t fib_result;

static int fib_task(void *data)
{
	const struct fib_arg *a = data;
	int n = a->n;

	if (n < 2) {
		*a->out = n;
		return 0;
	}
	int64_t x, y;
	prunner_group_t g;
	struct fib_arg left = {n - 1, &x}, right = {n - 2, &y};
	int rc = prunner_group_init(&g, NULL);
	if (rc < 0)
		return rc;
	rc = prunner_group_spawn(&g, fib_task, &left, sizeof left);
	if (rc == 0)
		rc = prunner_group_spawn(&g, fib_task, &right, sizeof right);
	/* Always wait: a child that was spawned writes to this stack. */
	int failed = prunner_group_wait(&g);
	if (rc < 0)
		return rc;
	if (failed != 0)
		return failed < 0 ? failed : -EIO;
	*a->out = x + y;
	return 0;
}

/* The serial baseline, in the task's shape (see the header comment). */
__attribute__((noinline)) static int64_t fib_serial(int n)
{
	if (n < 2)
		return n;
	int64_t x = fib_serial(n - 1);
	int64_t y = fib_serial(n - 2);
	__asm__ __volatile__("" : "+r"(x), "+r"(y));
	return x + y;
}

/* ---- roundtrip ---------------------------------------------------------- */

static int plus_one(void *data)
{
	int64_t v = *(const int64_t *)data + 1;

	return prunner_set_result(&v, sizeof v);
}

/* One round trip: submit i, wait, read the result.  Returns 0 when the
 * result is i + 1, else -1 (a message on stderr). */
static int round_trip(prunner_t *r, int64_t i)
{
	prunner_future_t *f;
	int64_t got = -1;
	size_t len = 0;
	int rc = prunner_submit(r, plus_one, &i, sizeof i, NULL, &f);

	if (rc < 0) {
		fprintf(stderr, "bench_prunner: prunner_submit: %s\n", prunner_strerror(rc));
		return -1;
	}
	rc = prunner_future_wait(f, -1);
	if (rc == 0)
		rc = prunner_future_status(f);
	if (rc == 0)
		rc = prunner_future_result(f, &got, sizeof got, &len);
	prunner_future_release(f);
	if (rc != 0 || len != sizeof got || got != i + 1) {
		fprintf(stderr, "bench_prunner: round trip %" PRId64 ": got %" PRId64 " (%zu bytes, rc %s)\n",
		        i, got, len, prunner_strerror(rc));
		return -1;
	}
	return 0;
}

#define ROUNDTRIP_WARMUP 1000

static int run_roundtrip(const struct bench_args *a)
{
	int64_t *ns = malloc(sizeof *ns * (size_t)(a->n ? a->n : 1));
	struct prunner_stats st = {0};
	long long errors = 0;
	int rc;

	if (!ns) {
		fprintf(stderr, "bench_prunner: no memory for %lld durations\n", a->n);
		return BENCH_EXIT_FAIL;
	}
	if ((rc = prunner_new(&runner)) < 0)
		return die("prunner_new", rc);
	if ((rc = prunner_set_workers(runner, a->workers)) < 0)
		return die("prunner_set_workers", rc);
	if ((rc = prunner_open(runner)) < 0)
		return die("prunner_open", rc);

	/* Untimed: the workers exist (prunner_open created them) and have
	 * each been through the submit/wait path a few times. */
	for (int64_t i = 0; i < ROUNDTRIP_WARMUP; i++)
		if (round_trip(runner, -1 - i) != 0)
			errors++;

	double t0 = now_seconds();
	for (long long i = 0; i < a->n; i++) {
		int64_t s = now_ns();
		if (round_trip(runner, i) != 0)
			errors++;
		ns[i] = now_ns() - s;
	}
	double t1 = now_seconds();

	if ((rc = prunner_close(runner, PRUNNER_CLOSE_DRAIN)) < 0)
		return die("prunner_close", rc);
	if (prunner_get_stats(runner, &st) != 0 || st.executed != (uint64_t)(ROUNDTRIP_WARMUP + a->n) ||
	    st.failed != 0)
		errors++;
	if (errors) {
		fprintf(stderr,
		        "bench_prunner: roundtrip: %lld errors; %" PRIu64 " of %lld tasks executed, %" PRIu64
		        " failed\n",
		        errors, st.executed, ROUNDTRIP_WARMUP + a->n, st.failed);
		print_fail(SYSTEM, a->workload, a->n, a->workers, a->n);
		return BENCH_EXIT_FAIL;
	}
	print_result_latency(SYSTEM, a->workload, a->n, a->workers, a->n, t1 - t0, ns, (size_t)a->n);
	prunner_free(runner);
	free(ns);
	return BENCH_EXIT_OK;
}

static int run_fib_serial(const struct bench_args *a)
{
	int64_t expected = bench_fib(a->n); /* before timing */
	int n = (int)a->n;                  /* read at run time */

	double t0 = now_seconds();
	int64_t got = fib_serial(n);
	double t1 = now_seconds();

	if (got != expected) {
		fprintf(stderr, "bench_prunner: fib-serial: got %" PRId64 ", expected %" PRId64 "\n", got,
		        expected);
		print_fail("serial", a->workload, a->n, a->workers, bench_fib_calls(a->n));
		return BENCH_EXIT_FAIL;
	}
	print_result("serial", a->workload, a->n, a->workers, bench_fib_calls(a->n), t1 - t0);
	return BENCH_EXIT_OK;
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

static void begin_fib(prunner_t *r, void *arg)
{
	struct fib_arg root = {(int)size_n, &fib_result};

	(void)arg;
	if (prunner_post(r, fib_task, &root, sizeof root) < 0)
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
	} else if (strcmp(a.workload, "fib") == 0) {
		begin = begin_fib;
		expected = bench_fib(a.n); /* before timing */
	} else if (strcmp(a.workload, "fib-serial") == 0) {
		return run_fib_serial(&a);
	} else if (strcmp(a.workload, "roundtrip") == 0) {
		return run_roundtrip(&a);
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
	got = counted ? count_total(a.workers) : begin == begin_fib ? fib_result : total;
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
