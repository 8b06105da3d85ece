/*
 * bench_uv.c - the benchmark workloads on libuv's thread pool.
 *
 * Usage: bench_uv WORKLOAD N WORKERS      (see common.h)
 *
 * The idiom: uv_queue_work(loop, req, work_cb, after_work_cb).  work_cb
 * runs on one of libuv's pool threads, after_work_cb afterwards on the loop
 * thread; uv_run() returns when no request is left, which is "wait until
 * all tasks ran".  A request is a malloc'd struct job whose uv_work_t's
 * data points at the job (its payload: kind and value); after_work_cb
 * frees it.  The pool is process-wide and its size comes from the
 * environment variable UV_THREADPOOL_SIZE, read once at the first
 * uv_queue_work(): main() sets it to WORKERS before that.
 *
 * uv_queue_work() may only be called on the loop thread, so a task cannot
 * post its children from work_cb: it posts them from its after_work_cb,
 * on the loop thread.  That is how libuv chains work, and the faithful
 * libuv form of "a task posts tasks": a task's work is its work_cb, its
 * posts happen in its after_work_cb.
 *
 *   sum    main() queues init; init's after_work queues add_one(i) for i in
 *          [0, N); add_one's work computes i + 1, its after_work queues
 *          double(i + 1); double's after_work queues sum_up(n) twice;
 *          sum_up's work adds n to an int64 under a uv_mutex_t.  4N + 1
 *          tasks; check: total == N * (N + 1).
 *   tree   a task at depth d < N queues two children at depth d + 1 (from
 *          its after_work); a leaf's work (depth N) counts itself in its
 *          thread's own counter.  2^(N+1) - 1 tasks; check: leaves == 2^N.
 *   empty  main(), the loop thread and not a pool thread, queues N requests
 *          whose work counts itself in its thread's counter, then runs the
 *          loop until every after_work ran.  N tasks.
 *   foo    main() queues N requests; each work adds foo(val) to an int64
 *          under the mutex.  N tasks; check against N * foo(val) computed
 *          serially before timing.
 *
 * What is timed: from just before main() queues the first request until
 * uv_run() returned (every work_cb and after_work_cb ran).  Not timed:
 * the loop's creation and a warm-up round of WORKERS empty requests,
 * which makes libuv start its pool threads (it starts all of them at the
 * first uv_queue_work() and keeps them).
 */
#include <stdalign.h>
#include <stdatomic.h>

#include <uv.h>

#define BENCH_WANT_SLOTS
#include "common.h"

#define SYSTEM "uv"

enum kind { K_INIT, K_ADD_ONE, K_DOUBLE, K_SUM_UP, K_TREE, K_EMPTY, K_FOO, K_WARM };

/* A request and its payload; req.data points at the job. */
struct job {
	uv_work_t req;
	enum kind kind;
	int64_t value;
};

/* Set in main() before the timed part, read-only during it. */
static uv_loop_t loop;
static long long size_n;
static int foo_arg;

/* The shared sum, guarded by total_lock. */
static uv_mutex_t total_lock;
static int64_t total;

/* Failed uv_queue_work() calls and failed requests (loop thread only). */
static long long errors;

/*
 * Per-thread counters on their own cache lines.  libuv's pool has no
 * thread index, so each thread takes the next free slot the first time it
 * counts; the pool has exactly WORKERS threads.  Only the slot's thread
 * writes it; main() reads them after uv_run() returned (libuv hands every
 * finished request to the loop thread under its mutex).  Threads beyond
 * the slots (none expected) count in `overflow` instead.
 */
/* count_one() and count_total(): common.h's per-thread slots. */

static inline void add_to_total(int64_t n)
{
	uv_mutex_lock(&total_lock);
	total += n;
	uv_mutex_unlock(&total_lock);
}

/* ---- posting (loop thread only) ----------------------------------------- */

static void work_cb(uv_work_t *req);
static void after_work_cb(uv_work_t *req, int status);

static void post(enum kind kind, int64_t value)
{
	struct job *job = malloc(sizeof *job);
	int rc;

	if (!job) {
		fprintf(stderr, "bench_uv: out of memory\n");
		errors++;
		return;
	}
	job->req.data = job;
	job->kind = kind;
	job->value = value;
	rc = uv_queue_work(&loop, &job->req, work_cb, after_work_cb);
	if (rc < 0) {
		fprintf(stderr, "bench_uv: uv_queue_work: %s\n", uv_strerror(rc));
		free(job);
		errors++;
	}
}

/* ---- the tasks: work on a pool thread ----------------------------------- */

static void work_cb(uv_work_t *req)
{
	struct job *job = req->data;

	switch (job->kind) {
	case K_ADD_ONE:
		job->value++; /* after_work posts double(i + 1) */
		break;
	case K_SUM_UP:
		add_to_total(job->value);
		break;
	case K_TREE:
		if (job->value >= size_n)
			count_one();
		break;
	case K_EMPTY:
		count_one();
		break;
	case K_FOO:
		add_to_total(foo(foo_arg));
		break;
	case K_INIT:
	case K_DOUBLE:
	case K_WARM:
		break; /* nothing but posting, done in after_work */
	}
}

/* ---- ... and its posts, on the loop thread ------------------------------ */

static void after_work_cb(uv_work_t *req, int status)
{
	struct job *job = req->data;
	int64_t v = job->value;

	if (status != 0) {
		fprintf(stderr, "bench_uv: request failed: %s\n", uv_strerror(status));
		errors++;
	} else {
		switch (job->kind) {
		case K_INIT:
			for (int64_t i = 0; i < v; i++)
				post(K_ADD_ONE, i);
			break;
		case K_ADD_ONE:
			post(K_DOUBLE, v);
			break;
		case K_DOUBLE:
			post(K_SUM_UP, v);
			post(K_SUM_UP, v);
			break;
		case K_TREE:
			if (v < size_n) {
				post(K_TREE, v + 1);
				post(K_TREE, v + 1);
			}
			break;
		case K_SUM_UP:
		case K_EMPTY:
		case K_FOO:
		case K_WARM:
			break;
		}
	}
	free(job);
}

static int run_loop(void)
{
	int rc = uv_run(&loop, UV_RUN_DEFAULT);

	if (rc < 0) {
		fprintf(stderr, "bench_uv: uv_run: %s\n", uv_strerror(rc));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	enum kind kind;
	int64_t expected, got;
	int counted = 0; /* the workload counts in the per-thread slots */
	char size[16];
	int rc;

	if (bench_parse_args(argc, argv, SYSTEM, &a) < 0)
		return BENCH_EXIT_USAGE;
	size_n = a.n;
	long long tasks = bench_task_count(a.workload, a.n);

	if (strcmp(a.workload, "sum") == 0) {
		kind = K_INIT;
		expected = bench_sum_expected(a.n);
	} else if (strcmp(a.workload, "tree") == 0) {
		kind = K_TREE;
		expected = (int64_t)1 << a.n;
		counted = 1;
	} else if (strcmp(a.workload, "empty") == 0) {
		kind = K_EMPTY;
		expected = a.n;
		counted = 1;
	} else if (strcmp(a.workload, "foo") == 0) {
		kind = K_FOO;
		foo_arg = foo_val();
		expected = (int64_t)a.n * foo(foo_arg); /* serially, before timing */
	} else {
		print_unsupported(SYSTEM, a.workload);
		return BENCH_EXIT_UNSUPPORTED;
	}

	if (bench_slots_init(a.workers) != 0) {
		fprintf(stderr, "bench_uv: out of memory\n");
		return BENCH_EXIT_FAIL;
	}

	/* The pool size, read by libuv at the first uv_queue_work(). */
	snprintf(size, sizeof size, "%d", a.workers);
	if (setenv("UV_THREADPOOL_SIZE", size, 1) != 0) {
		perror("bench_uv: setenv");
		return BENCH_EXIT_FAIL;
	}
	if ((rc = uv_mutex_init(&total_lock)) < 0 || (rc = uv_loop_init(&loop)) < 0) {
		fprintf(stderr, "bench_uv: init: %s\n", uv_strerror(rc));
		return BENCH_EXIT_FAIL;
	}

	/* Untimed warm-up: starts the pool's threads. */
	for (int i = 0; i < a.workers; i++)
		post(K_WARM, 0);
	if (run_loop() < 0 || errors != 0)
		return BENCH_EXIT_FAIL;

	double t0 = now_seconds();
	if (kind == K_INIT) {
		post(K_INIT, a.n);
	} else if (kind == K_TREE) {
		post(K_TREE, 0);
	} else {
		for (long long i = 0; i < a.n; i++)
			post(kind, 0);
	}
	rc = run_loop();
	double t1 = now_seconds();

	got = counted ? count_total() : total;
	if (rc < 0 || got != expected || errors != 0) {
		fprintf(stderr, "bench_uv: %s: got %" PRId64 ", expected %" PRId64 "; %lld errors\n",
		        a.workload, got, expected, errors);
		print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
		return BENCH_EXIT_FAIL;
	}
	print_result(SYSTEM, a.workload, a.n, a.workers, tasks, t1 - t0);
	if ((rc = uv_loop_close(&loop)) < 0)
		fprintf(stderr, "bench_uv: uv_loop_close: %s\n", uv_strerror(rc));
	uv_mutex_destroy(&total_lock);
	bench_slots_free();
	return BENCH_EXIT_OK;
}
