/*
 * fib.c - recursive fork-join with prunner's groups: fib(N), a task per call.
 *
 * The textbook recursive Fibonacci, written as fork-join: a call spawns its
 * two sub-calls as tasks of a group, waits for the group, and adds the two
 * results.  It is the worst case for a task runner (almost no work per task,
 * millions of tasks), so the time it takes is mostly the cost of a task:
 * spawn, run, join.  In Python the same shape would be
 *
 *   def fib(n):
 *       if n < 2:
 *           return n
 *       with Group() as g:                      # prunner_group_init
 *           a = g.spawn(fib, n - 1)             # prunner_group_spawn
 *           b = g.spawn(fib, n - 2)
 *       # leaving the block waits for both     # prunner_group_wait
 *       return a.value + b.value
 *
 * CUTOFF is the usual remedy: a call fib(n) with n <= CUTOFF is not a task
 * but a plain serial recursion inside its parent's task, so each task has
 * enough work to pay for itself.  CUTOFF 0 turns this off: every call, down
 * to fib(0) and fib(1), is a task of its own.  The root call is always a
 * task.
 *
 * Usage: fib [N [CUTOFF [WORKERS]]]
 *        defaults: N = 30, CUTOFF = 0, WORKERS = 0 (one per CPU)
 *
 * It prints fib(N), the time of the task version, the time of the same
 * recursion run serially on the main thread, and their ratio.  It exits
 * non-zero when the result is wrong or when the number of tasks that ran is
 * not the number of calls that had to be tasks (a task lost or run twice).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <prunner.h>

/* fib(92) is the largest that fits in an int64_t, but the recursion takes
 * exponential time: fib(50) already needs some 2 * 10^10 calls. */
#define MAX_N 50

/*
 * The serial recursion, used by the reference run on the main thread and by
 * the tasks for calls at or below the cutoff: the two versions have the
 * same shape, call for call.
 *
 * Three things keep the compiler from making the serial version cheaper
 * than a fair comparison allows:
 *   - NOINLINE: no inlining of the function into itself (which would merge
 *     levels of the recursion) and no specialised clones;
 *   - the empty asm makes `b` opaque, so fib_serial(n - 2) + a is not a
 *     tail call with an accumulator, which GCC would otherwise turn into a
 *     loop (one recursive call per level instead of two);
 *   - main() reads N from a volatile, so fib(N) cannot be folded at compile
 *     time.
 */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define NOINLINE __attribute__((noipa))
#elif defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

#if defined(__GNUC__)
#define OPAQUE(x) __asm__ volatile("" : "+r"(x))
#else
#define OPAQUE(x) ((void)0)
#endif

NOINLINE static int64_t fib_serial(int n)
{
	if (n < 2)
		return n;
	int64_t a = fib_serial(n - 1);
	int64_t b = fib_serial(n - 2);
	OPAQUE(b);
	return a + b;
}

/* Set by main() before the executor opens; only read by the tasks. */
static int cutoff;

/* Whether the call fib(n) is a task of its own (else a serial call). */
static int is_task(int n)
{
	return cutoff == 0 || n > cutoff;
}

/*
 * A task's payload: which call it is and where its result goes.  `out`
 * points into the parent's stack frame, which is safe because the parent
 * does not return before prunner_group_wait() says the child is finished.
 */
struct fib_job {
	int n;
	int64_t *out;
};

static int fib_task(void *data)
{
	const struct fib_job *job = data; /* our copy of the payload */
	int n = job->n;

	if (n < 2) {
		*job->out = n;
		return 0;
	}

	/* The group lives on this task's stack; prunner_group_init(&g, NULL)
	 * attaches it to the runner this task runs on. */
	prunner_group_t g;
	int64_t a = 0, b = 0;
	int rc = prunner_group_init(&g, NULL);
	if (rc < 0)
		return rc;

	struct fib_job left = {.n = n - 1, .out = &a};
	struct fib_job right = {.n = n - 2, .out = &b};
	if (is_task(left.n))
		rc = prunner_group_spawn(&g, fib_task, &left, sizeof left);
	else
		a = fib_serial(left.n);
	if (rc == 0) {
		if (is_task(right.n))
			rc = prunner_group_spawn(&g, fib_task, &right, sizeof right);
		else
			b = fib_serial(right.n);
	}

	/*
	 * Wait even when a spawn failed: a child that was spawned writes into
	 * `a`, on this stack, so this frame must outlive it.  While it waits,
	 * this worker runs other tasks (its own children first), so even one
	 * worker gets through the whole tree without deadlock.
	 */
	int failed = prunner_group_wait(&g);
	if (rc < 0)
		return rc;
	if (failed != 0)
		return failed < 0 ? failed : -1;
	*job->out = a + b;
	return 0;
}

/* The number of tasks computing fib(n) as a task takes: itself plus those
 * of its sub-calls that are tasks.  Iterative, so it costs nothing. */
static uint64_t expected_tasks(int n)
{
	uint64_t t[MAX_N + 1];

	for (int i = 0; i <= n; i++) {
		t[i] = 1;
		if (i >= 2) {
			t[i] += is_task(i - 1) ? t[i - 1] : 0;
			t[i] += is_task(i - 2) ? t[i - 2] : 0;
		}
	}
	return t[n];
}

/* fib(n) by the loop, as an independent check of both versions. */
static int64_t fib_loop(int n)
{
	int64_t a = 0, b = 1;

	for (int i = 0; i < n; i++) {
		int64_t c = a + b;
		a = b;
		b = c;
	}
	return a;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses a non-negative decimal integer <= max; returns 0 or -1. */
static int parse_count(const char *s, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9') /* no sign, no leading blanks */
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The N main() read, through a volatile: unknown at compile time. */
static volatile int fib_n;

int main(int argc, char **argv)
{
	long n = 30, cut = 0, workers = 0;
	double t0, serial_s, tasks_s;
	struct prunner_stats stats;
	prunner_t *r = NULL;
	prunner_group_t root;
	int64_t serial, result = -1, expected;
	int rc, failed;

	if (argc > 4 || (argc > 1 && parse_count(argv[1], MAX_N, &n) < 0) ||
	    (argc > 2 && parse_count(argv[2], MAX_N, &cut) < 0) ||
	    (argc > 3 && parse_count(argv[3], PRUNNER_MAX_WORKERS, &workers) < 0)) {
		fprintf(stderr,
		        "usage: fib [N [CUTOFF [WORKERS]]]   (N <= %d, CUTOFF <= %d, 0 = a task per call,\n"
		        "       0 <= WORKERS <= %d, 0 = one per CPU)\n",
		        MAX_N, MAX_N, PRUNNER_MAX_WORKERS);
		return 2;
	}
	fib_n = (int)n;
	cutoff = (int)cut;
	expected = fib_loop((int)n);

	/* The reference: the same recursion on this thread, no tasks. */
	t0 = now();
	serial = fib_serial(fib_n);
	serial_s = now() - t0;

	/*
	 * An executor: prunner_open() starts the workers, which then wait for
	 * tasks from any thread.  Opening first keeps thread creation out of
	 * the time below.
	 */
	rc = prunner_new(&r);
	if (rc == 0)
		rc = prunner_set_workers(r, (int)workers);
	if (rc == 0)
		rc = prunner_open(r);
	if (rc < 0) {
		fprintf(stderr, "fib: starting the runner: %s\n", prunner_strerror(rc));
		prunner_free(r);
		return 1;
	}

	/*
	 * The root call, spawned from the main thread into a group of its own.
	 * The main thread is not a worker: its prunner_group_wait() blocks
	 * (it cannot help) until the whole tree has finished.
	 */
	struct fib_job job = {.n = fib_n, .out = &result};
	t0 = now();
	rc = prunner_group_init(&root, r);
	if (rc == 0)
		rc = prunner_group_spawn(&root, fib_task, &job, sizeof job);
	failed = rc == 0 ? prunner_group_wait(&root) : 0;
	tasks_s = now() - t0;

	/* Nothing is left to run; DRAIN returns at once and ends the session,
	 * whose counts prunner_get_stats() then reports. */
	int close_rc = prunner_close(r, PRUNNER_CLOSE_DRAIN);
	int stats_rc = prunner_get_stats(r, &stats);
	prunner_free(r);

	if (rc < 0) {
		fprintf(stderr, "fib: spawning the root: %s\n", prunner_strerror(rc));
		return 1;
	}
	if (close_rc < 0 || stats_rc < 0) {
		fprintf(stderr, "fib: closing: %s\n", prunner_strerror(close_rc < 0 ? close_rc : stats_rc));
		return 1;
	}
	if (failed != 0) {
		fprintf(stderr, "fib: the computation failed (%s)\n",
		        failed < 0 ? prunner_strerror(failed) : "a task could not spawn its children");
		return 1;
	}

	printf("fib(%ld) = %" PRId64 "\n", n, result);
	printf("tasks:  %8.3f s  on %d worker(s), cutoff %ld, %" PRIu64 " tasks, %" PRIu64 " steals\n",
	       tasks_s, stats.workers, cut, stats.executed, stats.steals);
	printf("serial: %8.3f s  on the main thread\n", serial_s);
	printf("tasks / serial: %.2fx the time\n", serial_s > 0 ? tasks_s / serial_s : 0.0);

	if (result != expected || serial != expected) {
		fprintf(stderr,
		        "fib: wrong result: tasks %" PRId64 ", serial %" PRId64 ", expected %" PRId64 "\n",
		        result, serial, expected);
		return 1;
	}
	if (stats.executed != expected_tasks((int)n) || stats.failed != 0) {
		fprintf(stderr, "fib: %" PRIu64 " tasks ran (%" PRIu64 " failed), expected %" PRIu64 "\n",
		        stats.executed, stats.failed, expected_tasks((int)n));
		return 1;
	}
	return 0;
}
