/*
 * bench_textbook.c - the benchmark workloads on a textbook thread pool.
 *
 * Usage: bench_textbook WORKLOAD N WORKERS      (see common.h)
 *
 * The pool is the one every home-made pool starts from, and the floor
 * prunner is measured against: one mutex, one condition variable, one
 * FIFO.
 *
 *   - A post mallocs a node (fn, arg, next), appends it to the FIFO under
 *     the mutex, increments the pending count and signals the condition
 *     variable.  The payload is malloc'd by the poster and freed by the
 *     task.
 *   - A worker takes the mutex, waits on the condition variable while the
 *     FIFO is empty, pops the head, drops the mutex, runs the task, frees
 *     the node, then retakes the mutex to decrement the pending count.
 *   - The waiter (the main thread) waits on a second condition variable
 *     until the pending count is 0.  A task posts its children before it
 *     finishes, so the count cannot reach 0 while work remains.
 *
 * Workloads: sum, tree, empty, foo, as described in common.h and in
 * bench_prunner.c; sum_up and foo add to an int64 under a pthread mutex;
 * tree leaves and empty tasks count in per-worker counters.  sum-counter
 * is prunner-only (exit 3).
 *
 * What is timed: from just before the first post (made by the main thread,
 * outside the pool) until the wait for pending == 0 returns.  Not timed:
 * creating the worker threads, which happens before, and joining them.
 */
#include <pthread.h>
#include <stdalign.h>

#include "common.h"

#define SYSTEM "textbook"

/* ---- the pool ----------------------------------------------------------- */

struct tb_node {
	void (*fn)(void *arg);
	void *arg;
	struct tb_node *next;
};

struct tb_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;  /* signalled on every post and at stop */
	pthread_cond_t done;  /* broadcast when pending drops to 0 */
	struct tb_node *head; /* FIFO: pop at head, push at tail */
	struct tb_node *tail;
	long long pending; /* posted and not yet finished */
	int stop;
	int n_threads;
	pthread_t *threads;
	long long post_errors; /* posts that failed (malloc), under mu */
};

struct tb_start {
	struct tb_pool *pool;
	int index;
};

/* The index of the worker running on this thread, for per-worker counters. */
static _Thread_local int tb_worker_index;

static struct tb_pool pool;

/* Posts fn(arg); arg is owned by the task from now on.  Returns 0 or -1. */
static int tb_post(void (*fn)(void *), void *arg)
{
	struct tb_node *node = malloc(sizeof *node);

	if (!node) {
		pthread_mutex_lock(&pool.mu);
		pool.post_errors++;
		pthread_mutex_unlock(&pool.mu);
		free(arg);
		return -1;
	}
	node->fn = fn;
	node->arg = arg;
	node->next = NULL;
	pthread_mutex_lock(&pool.mu);
	if (pool.tail)
		pool.tail->next = node;
	else
		pool.head = node;
	pool.tail = node;
	pool.pending++;
	pthread_cond_signal(&pool.work);
	pthread_mutex_unlock(&pool.mu);
	return 0;
}

static void *tb_worker(void *p)
{
	struct tb_start *start = p;

	tb_worker_index = start->index;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!pool.head && !pool.stop)
			pthread_cond_wait(&pool.work, &pool.mu);
		if (!pool.head) /* stop, and nothing left */
			break;
		struct tb_node *node = pool.head;
		pool.head = node->next;
		if (!pool.head)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.mu);

		node->fn(node->arg);
		free(node);

		pthread_mutex_lock(&pool.mu);
		if (--pool.pending == 0)
			pthread_cond_broadcast(&pool.done);
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

/* Waits until every posted task has finished. */
static void tb_wait(void)
{
	pthread_mutex_lock(&pool.mu);
	while (pool.pending > 0)
		pthread_cond_wait(&pool.done, &pool.mu);
	pthread_mutex_unlock(&pool.mu);
}

static struct tb_start *starts;

static int tb_start_pool(int n)
{
	pthread_mutex_init(&pool.mu, NULL);
	pthread_cond_init(&pool.work, NULL);
	pthread_cond_init(&pool.done, NULL);
	pool.threads = calloc((size_t)n, sizeof *pool.threads);
	starts = calloc((size_t)n, sizeof *starts);
	if (!pool.threads || !starts)
		return -1;
	for (int i = 0; i < n; i++) {
		starts[i].pool = &pool;
		starts[i].index = i;
		if (pthread_create(&pool.threads[i], NULL, tb_worker, &starts[i]) != 0)
			return -1;
		pool.n_threads = i + 1;
	}
	return 0;
}

static void tb_stop_pool(void)
{
	pthread_mutex_lock(&pool.mu);
	pool.stop = 1;
	pthread_cond_broadcast(&pool.work);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.n_threads; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	free(starts);
	pthread_cond_destroy(&pool.done);
	pthread_cond_destroy(&pool.work);
	pthread_mutex_destroy(&pool.mu);
}

/* ---- the workloads ------------------------------------------------------ */

static long long size_n;
static int foo_arg;

static pthread_mutex_t total_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t total;

struct slot {
	alignas(64) int64_t v;
};
static struct slot *slots;

/* Posts fn with a malloc'd copy of the int64 n. */
static void post_int64(void (*fn)(void *), int64_t n)
{
	int64_t *p = malloc(sizeof *p);

	if (!p) { /* count it: the check fails */
		pthread_mutex_lock(&pool.mu);
		pool.post_errors++;
		pthread_mutex_unlock(&pool.mu);
		return;
	}
	*p = n;
	tb_post(fn, p);
}

static void add_one(void *arg);
static void double_(void *arg);
static void sum_up(void *arg);

static void init(void *arg)
{
	int64_t n = *(int64_t *)arg;

	free(arg);
	for (int64_t i = 0; i < n; i++)
		post_int64(add_one, i);
}

static void add_one(void *arg)
{
	int64_t n = *(int64_t *)arg + 1;

	free(arg);
	post_int64(double_, n);
}

static void double_(void *arg)
{
	int64_t n = *(int64_t *)arg;

	free(arg);
	post_int64(sum_up, n);
	post_int64(sum_up, n);
}

static void sum_up(void *arg)
{
	int64_t n = *(int64_t *)arg;

	free(arg);
	pthread_mutex_lock(&total_mu);
	total += n;
	pthread_mutex_unlock(&total_mu);
}

static void tree_node(void *arg)
{
	int64_t d = *(int64_t *)arg;

	free(arg);
	if (d >= size_n) {
		slots[tb_worker_index].v++;
		return;
	}
	post_int64(tree_node, d + 1);
	post_int64(tree_node, d + 1);
}

static void empty_task(void *arg)
{
	(void)arg;
	slots[tb_worker_index].v++;
}

static void foo_task(void *arg)
{
	int64_t v = foo(foo_arg);

	(void)arg;
	pthread_mutex_lock(&total_mu);
	total += v;
	pthread_mutex_unlock(&total_mu);
}

int main(int argc, char **argv)
{
	struct bench_args a;
	int64_t expected, got;

	if (bench_parse_args(argc, argv, SYSTEM, &a) < 0)
		return BENCH_EXIT_USAGE;
	size_n = a.n;
	long long tasks = bench_task_count(a.workload, a.n);
	enum { W_SUM, W_TREE, W_EMPTY, W_FOO } w;

	if (strcmp(a.workload, "sum") == 0) {
		w = W_SUM;
		expected = bench_sum_expected(a.n);
	} else if (strcmp(a.workload, "tree") == 0) {
		w = W_TREE;
		expected = (int64_t)1 << a.n;
	} else if (strcmp(a.workload, "empty") == 0) {
		w = W_EMPTY;
		expected = a.n;
	} else if (strcmp(a.workload, "foo") == 0) {
		w = W_FOO;
		foo_arg = foo_val();
		expected = (int64_t)a.n * foo(foo_arg); /* serially, before timing */
	} else {
		print_unsupported(SYSTEM, a.workload);
		return BENCH_EXIT_UNSUPPORTED;
	}

	slots = aligned_alloc(64, sizeof *slots * (size_t)a.workers);
	if (!slots || tb_start_pool(a.workers) < 0) {
		fprintf(stderr, "bench_textbook: cannot start the pool\n");
		return BENCH_EXIT_FAIL;
	}
	memset(slots, 0, sizeof *slots * (size_t)a.workers);

	double t0 = now_seconds();
	switch (w) {
	case W_SUM:
		post_int64(init, a.n);
		break;
	case W_TREE:
		post_int64(tree_node, 0);
		break;
	case W_EMPTY:
		for (long long i = 0; i < a.n; i++)
			tb_post(empty_task, NULL);
		break;
	case W_FOO:
		for (long long i = 0; i < a.n; i++)
			tb_post(foo_task, NULL);
		break;
	}
	tb_wait();
	double t1 = now_seconds();

	tb_stop_pool(); /* joins the workers: their writes are visible now */
	if (w == W_SUM || w == W_FOO) {
		got = total;
	} else {
		got = 0;
		for (int i = 0; i < a.workers; i++)
			got += slots[i].v;
	}
	free(slots);
	if (got != expected || pool.post_errors != 0) {
		fprintf(stderr, "bench_textbook: %s: got %" PRId64 ", expected %" PRId64 ", %lld failed posts\n",
		        a.workload, got, expected, pool.post_errors);
		print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
		return BENCH_EXIT_FAIL;
	}
	print_result(SYSTEM, a.workload, a.n, a.workers, tasks, t1 - t0);
	return BENCH_EXIT_OK;
}
