/*
 * futures.c - Python's concurrent.futures, in C with prunner's executor.
 *
 * A runner opened with prunner_open() is a long-lived executor, like
 *
 *   with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
 *       ...
 *
 * and prunner_submit() returns a future, like executor.submit().  This
 * program walks through what a Python programmer does with them, one step
 * per section, and checks every value it prints:
 *
 *   1. submit     f = executor.submit(fib, 25); f.result()
 *   2. map        pool.map(compute, range(8))  (one future per element,
 *                 futurist's waiters.wait_for_all, then each result)
 *   3. as_completed  for f in as_completed(fs): ...   (prunner_wait_any;
 *                 eventloop.c does the same from an epoll loop with the
 *                 completion fd)
 *   4. chain      celery.chain(add.s(4, 6), multiply.s(10))  (prunner_then)
 *   5. cancel     f.cancel() on a future still queued, and on one running
 *   6. shutdown   executor.shutdown(wait=True)  (prunner_close, DRAIN)
 *
 * Usage: futures [WORKERS]   (default 4; 0 = one per CPU)
 *
 * It exits non-zero when any value is not the expected one.
 *
 * What C adds to the Python version:
 *   - A task is an `int fn(void *data)` returning 0 (the future becomes
 *     DONE) or an error (FAILED).  Its argument is a payload of bytes,
 *     copied at submit time; its return value is a result of bytes, set with
 *     prunner_set_result() and copied out with prunner_future_result().
 *   - A future is reference counted: prunner_submit() hands one reference
 *     to the caller, who drops it with prunner_future_release() when done
 *     with the handle (the task runs whether or not the handle is kept).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <prunner.h>

/* ------------------------------------------------------------------------ */
/* Checking and printing                                                    */
/* ------------------------------------------------------------------------ */

static int failures;

/* Records a failure unless `ok`; the program exits non-zero at the end. */
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	failures++;
	fprintf(stderr, "futures: FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *state_name(enum prunner_future_state s)
{
	switch (s) {
	case PRUNNER_FUTURE_PENDING:
		return "PENDING";
	case PRUNNER_FUTURE_RUNNING:
		return "RUNNING";
	case PRUNNER_FUTURE_DONE:
		return "DONE";
	case PRUNNER_FUTURE_FAILED:
		return "FAILED";
	case PRUNNER_FUTURE_CANCELLED:
		return "CANCELLED";
	}
	return "?";
}

/* The name of an error code, as the header spells it. */
static const char *errname(int rc)
{
	switch (rc) {
	case 0:
		return "0";
	case -EBUSY:
		return "-EBUSY";
	case -EALREADY:
		return "-EALREADY";
	case -ETIMEDOUT:
		return "-ETIMEDOUT";
	case -ECANCELED:
		return "-ECANCELED";
	case -EINPROGRESS:
		return "-EINPROGRESS";
	case -EDOM:
		return "-EDOM";
	}
	return prunner_strerror(rc);
}

/* Reads an int64_t result; returns it, or -1 (and records a failure). */
static int64_t result_i64(prunner_future_t *f, const char *what)
{
	int64_t v = -1;
	size_t len = 0;
	int rc = prunner_future_result(f, &v, sizeof v, &len);

	check(rc == 0 && len == sizeof v, "%s: prunner_future_result: %s, %zu bytes", what,
	      prunner_strerror(rc), len);
	return rc == 0 && len == sizeof v ? v : -1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------------ */
/* The tasks                                                                */
/* ------------------------------------------------------------------------ */

static int64_t fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* def fib(n): return fib(n - 1) + fib(n - 2) ...  Payload: an int. */
static int fib_task(void *data)
{
	int64_t v = fib(*(const int *)data);

	return prunner_set_result(&v, sizeof v); /* the future's result */
}

/* def compute(n): return n + 1   (the map example).  Payload: int64_t. */
static int compute(void *data)
{
	int64_t v = *(const int64_t *)data + 1;

	return prunner_set_result(&v, sizeof v);
}

/* Sleeps the payload's milliseconds, then returns them. */
static int nap(void *data)
{
	int64_t ms = *(const int64_t *)data;

	sleep_ms((int)ms);
	return prunner_set_result(&ms, sizeof ms);
}

/* @app.task def add(x, y): return x + y */
struct add_args {
	int64_t x, y;
};

static int add(void *data)
{
	const struct add_args *a = data;
	int64_t v = a->x + a->y;

	return prunner_set_result(&v, sizeof v);
}

/*
 * @app.task def multiply(x, y): return x * y, as the second link of
 * chain(add.s(4, 6), multiply.s(10)).  A continuation's payload is the
 * previous result and nothing else, so the partial's 10 is written into
 * the function.
 */
#define FACTOR 10

static int multiply_by_factor(void *data)
{
	int64_t v = *(const int64_t *)data * FACTOR;

	return prunner_set_result(&v, sizeof v);
}

/* A task that fails: returns an error and leaves a message as its result
 * (a FAILED future's result stays readable). */
static const char div_error[] = "division by zero";

static int divide(void *data)
{
	const struct add_args *a = data;

	if (a->y == 0) {
		int rc = prunner_set_result(div_error, sizeof div_error);
		return rc < 0 ? rc : -EDOM;
	}
	int64_t v = a->x / a->y;
	return prunner_set_result(&v, sizeof v);
}

/* Destroy functions: called exactly once with the task's payload when a
 * task never runs.  They count their calls and remember what they got. */
static atomic_int chain_destroyed;
static char chain_destroyed_msg[sizeof div_error];

static void chain_destroy(void *data)
{
	if (data)
		memcpy(chain_destroyed_msg, data, sizeof chain_destroyed_msg);
	atomic_fetch_add(&chain_destroyed, 1);
}

static atomic_int victim_destroyed;
static int victim_destroyed_arg = -1;

static void victim_destroy(void *data)
{
	victim_destroyed_arg = *(const int *)data;
	atomic_fetch_add(&victim_destroyed, 1);
}

/* Runs until the gate opens; with one per worker, the pool is busy. */
static atomic_int gate;

static int blocker(void *data)
{
	while (!atomic_load(&gate))
		sleep_ms(1);
	return 0;
}

/* Fire-and-forget tasks of the shutdown step count themselves. */
static atomic_int drained;

static int count_me(void *data)
{
	sleep_ms(2);
	atomic_fetch_add(&drained, 1);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The steps                                                                */
/* ------------------------------------------------------------------------ */

/* 1. f = executor.submit(fib, 25); print(f.result()) */
static void step_submit(prunner_t *r)
{
	int n = 25;
	prunner_future_t *f;
	int rc = prunner_submit(r, fib_task, &n, sizeof n, NULL, &f);

	check(rc == 0, "submit: %s", prunner_strerror(rc));
	if (rc < 0)
		return;
	enum prunner_future_state before = prunner_future_state(f);
	rc = prunner_future_wait(f, -1); /* f.result() blocks like this */
	check(rc == 0, "submit: wait: %s", prunner_strerror(rc));
	int64_t v = result_i64(f, "submit");
	printf("1. submit:       fib(%d) -> %" PRId64 "  (state %s just after submit, %s after wait)\n", n, v,
	       state_name(before), state_name(prunner_future_state(f)));
	check(prunner_future_state(f) == PRUNNER_FUTURE_DONE && prunner_future_status(f) == 0,
	      "submit: state %s, status %d", state_name(prunner_future_state(f)), prunner_future_status(f));
	check(v == 75025, "submit: fib(25) = %" PRId64 ", expected 75025", v);
	prunner_future_release(f);
}

/* 2. pool.map(compute, range(8)): one future per element, wait for all
 *    (futurist.waiters.wait_for_all), then read the results in order. */
#define MAP_N 8

static void step_map(prunner_t *r)
{
	prunner_future_t *fs[MAP_N];
	size_t n = 0;

	for (int64_t i = 0; i < MAP_N; i++) {
		int rc = prunner_submit(r, compute, &i, sizeof i, NULL, &fs[n]);
		check(rc == 0, "map: submit %" PRId64 ": %s", i, prunner_strerror(rc));
		if (rc < 0)
			break;
		n++;
	}
	int rc = prunner_wait_all(fs, n, -1);
	check(rc == 0, "map: wait_all: %s", prunner_strerror(rc));

	printf("2. map:          pool.map(compute, range(%d)) -> [", MAP_N);
	for (size_t i = 0; i < n; i++) {
		int64_t v = result_i64(fs[i], "map");
		printf("%s%" PRId64, i ? ", " : "", v);
		check(v == (int64_t)i + 1, "map: compute(%zu) = %" PRId64 ", expected %zu", i, v, i + 1);
		prunner_future_release(fs[i]);
	}
	printf("]\n");
	check(n == MAP_N, "map: only %zu of %d submitted", n, MAP_N);
}

/*
 * 3. for f in as_completed(fs): ...  Four naps of different lengths.  wait_any
 *    returns one future that is final; it leaves the array, and the loop
 *    waits for the others.  With at least four workers all naps run at once
 *    and come back shortest first; with fewer, the order also depends on
 *    which worker frees up first.
 */
#define NAPS 4

static void step_as_completed(prunner_t *r)
{
	static const int64_t naps_ms[NAPS] = {80, 20, 60, 40};
	prunner_future_t *fs[NAPS];
	int64_t ms_of[NAPS]; /* the nap of fs[i], kept aligned with fs */
	int seen[NAPS] = {0};
	size_t n = 0;
	int64_t t0 = now_ns();

	for (int i = 0; i < NAPS; i++) {
		int rc = prunner_submit(r, nap, &naps_ms[i], sizeof naps_ms[i], NULL, &fs[n]);
		check(rc == 0, "as_completed: submit: %s", prunner_strerror(rc));
		if (rc < 0)
			break;
		ms_of[n++] = naps_ms[i];
	}
	check(n == NAPS, "as_completed: only %zu of %d submitted", n, NAPS);

	printf("3. as_completed: naps of 80, 20, 60, 40 ms come back as");
	while (n > 0) {
		size_t i = 0;
		int rc = prunner_wait_any(fs, n, -1, &i);
		check(rc == 0 && i < n, "as_completed: wait_any: %s", prunner_strerror(rc));
		if (rc < 0 || i >= n)
			break;
		int64_t v = result_i64(fs[i], "as_completed");
		printf(" %" PRId64 " (at %" PRId64 " ms)", v, (now_ns() - t0) / 1000000);
		check(v == ms_of[i], "as_completed: nap of %" PRId64 " ms returned %" PRId64, ms_of[i], v);
		for (int k = 0; k < NAPS; k++)
			if (naps_ms[k] == v)
				seen[k]++;
		prunner_future_release(fs[i]);
		fs[i] = fs[n - 1]; /* remove it: swap with the last */
		ms_of[i] = ms_of[n - 1];
		n--;
	}
	printf("\n");
	for (int k = 0; k < NAPS; k++)
		check(seen[k] == 1, "as_completed: the %" PRId64 " ms nap came back %d times", naps_ms[k],
		      seen[k]);
}

/*
 * 4. chain(add.s(4, 6), multiply.s(10)): prunner_then() runs the next link
 *    with the previous link's result as its payload.  A link that fails
 *    breaks the chain: the next link never runs, its future is CANCELLED,
 *    and its destroy function receives the failed link's result.
 */
static void step_chain(prunner_t *r)
{
	struct add_args args = {.x = 4, .y = 6};
	prunner_future_t *sum = NULL, *product = NULL;
	int rc = prunner_submit(r, add, &args, sizeof args, NULL, &sum);

	if (rc == 0)
		rc = prunner_then(sum, multiply_by_factor, NULL, &product);
	check(rc == 0, "chain: %s", prunner_strerror(rc));
	if (rc == 0) {
		/* Waiting for the last link is enough: it runs after the first. */
		rc = prunner_future_wait(product, -1);
		check(rc == 0, "chain: wait: %s", prunner_strerror(rc));
		int64_t s = result_i64(sum, "chain add");
		int64_t p = result_i64(product, "chain multiply");
		printf("4. chain:        add(4, 6) -> %" PRId64 ", then multiply(%d) -> %" PRId64 "\n", s,
		       FACTOR, p);
		check(s == 10 && p == 100,
		      "chain: add -> %" PRId64 " (expected 10), multiply -> %" PRId64 " (expected 100)", s,
		      p);
	}
	prunner_future_release(sum);
	prunner_future_release(product);

	/* The broken chain: divide(1, 0) fails, so multiply never runs. */
	struct add_args bad = {.x = 1, .y = 0};
	prunner_future_t *quotient = NULL, *after = NULL;
	rc = prunner_submit(r, divide, &bad, sizeof bad, NULL, &quotient);
	if (rc == 0)
		rc = prunner_then(quotient, multiply_by_factor, chain_destroy, &after);
	check(rc == 0, "broken chain: %s", prunner_strerror(rc));
	if (rc == 0) {
		rc = prunner_future_wait(after, -1);
		check(rc == 0, "broken chain: wait: %s", prunner_strerror(rc));
		/* The destroy function runs on the worker that resolves the
		 * chain, as part of divide's task.  prunner_wait_idle() returns
		 * once no task runs: then what destroy recorded is complete. */
		rc = prunner_wait_idle(r);
		check(rc == 0, "broken chain: wait_idle: %s", prunner_strerror(rc));
		char msg[64] = "";
		size_t len = 0;
		int qrc = prunner_future_result(quotient, msg, sizeof msg - 1, &len);
		printf("                 divide(1, 0) -> %s with %s, result \"%s\"; then multiply -> %s,\n"
		       "                 its destroy function called %d time(s) with \"%s\"\n",
		       state_name(prunner_future_state(quotient)), errname(prunner_future_status(quotient)),
		       msg, state_name(prunner_future_state(after)), atomic_load(&chain_destroyed),
		       chain_destroyed_msg);
		check(prunner_future_state(quotient) == PRUNNER_FUTURE_FAILED &&
		          prunner_future_status(quotient) == -EDOM,
		      "broken chain: divide is %s with status %d", state_name(prunner_future_state(quotient)),
		      prunner_future_status(quotient));
		check(qrc == 0 && len == sizeof div_error && strcmp(msg, div_error) == 0,
		      "broken chain: divide's result \"%s\" (%s)", msg, prunner_strerror(qrc));
		check(prunner_future_state(after) == PRUNNER_FUTURE_CANCELLED &&
		          prunner_future_status(after) == -ECANCELED,
		      "broken chain: multiply is %s", state_name(prunner_future_state(after)));
		check(atomic_load(&chain_destroyed) == 1 && strcmp(chain_destroyed_msg, div_error) == 0,
		      "broken chain: destroy called %d times with \"%s\"", atomic_load(&chain_destroyed),
		      chain_destroyed_msg);
	}
	prunner_future_release(quotient);
	prunner_future_release(after);
}

/*
 * 5. f.cancel().  One blocker per worker keeps the pool busy, so a task
 *    submitted now stays queued: cancelling it succeeds, it never runs, and
 *    its destroy function gets its payload.  A running task cannot be
 *    cancelled (-EBUSY), nor a finished one (-EALREADY).
 */
static void step_cancel(prunner_t *r, int workers)
{
	prunner_future_t **blockers = calloc((size_t)workers, sizeof *blockers);
	prunner_future_t *victim = NULL;
	int n = 0, rc;

	check(blockers != NULL, "cancel: out of memory");
	if (!blockers)
		return;
	atomic_store(&gate, 0);
	for (; n < workers; n++) {
		rc = prunner_submit(r, blocker, NULL, 0, NULL, &blockers[n]);
		check(rc == 0, "cancel: submit blocker: %s", prunner_strerror(rc));
		if (rc < 0)
			break;
	}
	/* Wait until every worker runs a blocker (state RUNNING). */
	int64_t deadline = now_ns() + (int64_t)30 * 1000000000;
	for (int i = 0; i < n; i++)
		while (prunner_future_state(blockers[i]) != PRUNNER_FUTURE_RUNNING && now_ns() < deadline)
			sleep_ms(1);
	for (int i = 0; i < n; i++)
		check(prunner_future_state(blockers[i]) == PRUNNER_FUTURE_RUNNING, "cancel: blocker %d is %s",
		      i, state_name(prunner_future_state(blockers[i])));

	int arg = 30;
	rc = prunner_submit(r, fib_task, &arg, sizeof arg, victim_destroy, &victim);
	check(rc == 0, "cancel: submit: %s", prunner_strerror(rc));
	if (rc == 0) {
		int poll_rc = prunner_future_wait(victim, 0); /* f.done()? */
		enum prunner_future_state before = prunner_future_state(victim);
		int cancel_rc = prunner_future_cancel(victim);
		int again_rc = prunner_future_cancel(victim);
		int64_t v;
		int res_rc = prunner_future_result(victim, &v, sizeof v, NULL);
		printf("5. cancel:       fib(%d) behind %d busy workers is %s, wait(timeout 0) -> %s;\n"
		       "                 cancel -> %s: now %s, result -> %s, destroy called %d time(s);"
		       " cancel again -> %s\n",
		       arg, n, state_name(before), errname(poll_rc), errname(cancel_rc),
		       state_name(prunner_future_state(victim)), errname(res_rc),
		       atomic_load(&victim_destroyed), errname(again_rc));
		check(before == PRUNNER_FUTURE_PENDING && poll_rc == -ETIMEDOUT, "cancel: victim was %s (%d)",
		      state_name(before), poll_rc);
		check(cancel_rc == 0 && again_rc == -EALREADY, "cancel: cancel -> %d, again -> %d", cancel_rc,
		      again_rc);
		check(prunner_future_state(victim) == PRUNNER_FUTURE_CANCELLED &&
		          prunner_future_status(victim) == -ECANCELED && res_rc == -ECANCELED,
		      "cancel: victim is %s, result %d", state_name(prunner_future_state(victim)), res_rc);
		check(atomic_load(&victim_destroyed) == 1 && victim_destroyed_arg == arg,
		      "cancel: destroy called %d times with %d", atomic_load(&victim_destroyed),
		      victim_destroyed_arg);
	}

	if (n > 0) {
		int busy_rc = prunner_future_cancel(blockers[0]);
		atomic_store(&gate, 1);
		rc = prunner_wait_all(blockers, (size_t)n, -1);
		int done_rc = prunner_future_cancel(blockers[0]);
		printf("                 cancel a running task -> %s; once it finished -> %s\n",
		       errname(busy_rc), errname(done_rc));
		check(busy_rc == -EBUSY && done_rc == -EALREADY, "cancel: running -> %d, finished -> %d",
		      busy_rc, done_rc);
		check(rc == 0, "cancel: waiting for the blockers: %s", prunner_strerror(rc));
		for (int i = 0; i < n; i++)
			check(prunner_future_state(blockers[i]) == PRUNNER_FUTURE_DONE,
			      "cancel: blocker %d is %s", i, state_name(prunner_future_state(blockers[i])));
	}
	atomic_store(&gate, 1);
	for (int i = 0; i < n; i++)
		prunner_future_release(blockers[i]);
	prunner_future_release(victim);
	free(blockers);
}

/*
 * 6. executor.shutdown(wait=True): prunner_close(DRAIN) refuses new tasks,
 *    runs every task already accepted, and returns once none runs.  The
 *    tasks here are fire-and-forget: submitted without a handle.
 */
#define DRAIN_TASKS 20

static int step_shutdown(prunner_t *r)
{
	int accepted = 0;

	atomic_store(&drained, 0);
	for (int i = 0; i < DRAIN_TASKS; i++) {
		int rc = prunner_submit(r, count_me, NULL, 0, NULL, NULL); /* no handle */
		check(rc == 0, "shutdown: submit: %s", prunner_strerror(rc));
		accepted += rc == 0;
	}
	int ran_before = atomic_load(&drained);
	int rc = prunner_close(r, PRUNNER_CLOSE_DRAIN);
	int ran = atomic_load(&drained);
	prunner_future_t *late = NULL;
	int late_rc = prunner_submit(r, count_me, NULL, 0, NULL, &late);
	printf("6. shutdown:     close(DRAIN) with %d of %d tasks done -> %d ran; then submit -> %s\n",
	       ran_before, accepted, ran, errname(late_rc));
	check(rc == 0, "shutdown: close: %s", prunner_strerror(rc));
	check(ran == accepted && accepted == DRAIN_TASKS, "shutdown: %d of %d accepted tasks ran", ran,
	      accepted);
	check(late_rc == -ECANCELED && late == NULL, "shutdown: submit after close -> %d", late_rc);
	return rc;
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

int main(int argc, char **argv)
{
	long workers = 4;
	prunner_t *r = NULL;
	int rc;

	if (argc > 2 || (argc > 1 && parse_count(argv[1], PRUNNER_MAX_WORKERS, &workers) < 0)) {
		fprintf(stderr, "usage: futures [WORKERS]   (0 <= WORKERS <= %d, 0 = one per CPU)\n",
		        PRUNNER_MAX_WORKERS);
		return 2;
	}

	/* with ThreadPoolExecutor(max_workers=4) as executor: */
	rc = prunner_new(&r);
	if (rc == 0)
		rc = prunner_set_workers(r, (int)workers);
	if (rc == 0)
		rc = prunner_open(r);
	if (rc < 0) {
		fprintf(stderr, "futures: starting the executor: %s\n", prunner_strerror(rc));
		prunner_free(r);
		return 1;
	}
	printf("executor open with %d worker(s)\n", prunner_get_workers(r));

	step_submit(r);
	step_map(r);
	step_as_completed(r);
	step_chain(r);
	step_cancel(r, prunner_get_workers(r));
	step_shutdown(r);
	prunner_free(r);

	if (failures) {
		fprintf(stderr, "futures: %d check(s) failed\n", failures);
		return 1;
	}
	printf("all checks passed\n");
	return 0;
}
