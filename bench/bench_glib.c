/*
 * bench_glib.c - the benchmark workloads on GLib's GThreadPool.
 *
 * Usage: bench_glib WORKLOAD N WORKERS      (see common.h)
 *
 * The idiom: one exclusive GThreadPool of WORKERS threads
 * (g_thread_pool_new(run_item, NULL, WORKERS, TRUE, &err)); a task is
 * g_thread_pool_push(pool, item, &err) where item is a g_new()'d struct
 * {kind, value} that the task frees.  Tasks post their children to the same
 * pool.  GThreadPool has no "wait for all", so the program keeps a pending
 * count: +1 before every push, -1 after every task; the decrement that
 * reaches 0 sets `done` under a GMutex and signals a GCond, on which main()
 * waits.  main() holds one count of its own while it posts (it starts at 1
 * and main() drops it when it has posted everything), so the count cannot
 * reach 0 while main() is still pushing.
 *
 *   sum    main() pushes init; init pushes add_one(i) for i in [0, N);
 *          add_one pushes double(i + 1); double pushes sum_up(n) twice;
 *          sum_up adds n to an int64 under a GMutex.  4N + 1 tasks; check:
 *          total == N * (N + 1).
 *   tree   a task at depth d < N pushes two children at depth d + 1; a leaf
 *          (depth N) counts itself in its thread's own counter.
 *          2^(N+1) - 1 tasks; check: leaves == 2^N.
 *   empty  main(), which is not a pool thread, pushes N empty tasks (each
 *          counts itself in its thread's counter) while the pool runs
 *          them, then waits.  N tasks.
 *   foo    main() pushes N tasks; each adds foo(val) to an int64 under the
 *          GMutex.  N tasks; check against N * foo(val) computed serially
 *          before timing.
 *
 * What is timed: from just before main() pushes the first task until the
 * last task signalled completion and main() woke up.  Not timed: creating
 * the pool (an exclusive pool starts its WORKERS threads at once) and a
 * warm-up round of WORKERS empty tasks through the same machinery.
 */
#include <stdalign.h>
#include <stdatomic.h>

#include <glib.h>

#define BENCH_WANT_SLOTS
#include "common.h"

#define SYSTEM "glib"

/*
 * ThreadSanitizer cannot see GLib's synchronisation: GMutex, GCond and the
 * pool's GAsyncQueue are built on raw futexes inside a library that is not
 * instrumented.  Under -fsanitize=thread the program therefore tells it
 * what they do (a lock acquires, an unlock releases, a push hands the item
 * over), so that its own accesses can be checked.  In normal builds these
 * are empty.
 */
#if defined(__SANITIZE_THREAD__)
#define BENCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BENCH_TSAN 1
#endif
#endif
#ifdef BENCH_TSAN
#include <sanitizer/tsan_interface.h>
#define tsan_acquire(p) __tsan_acquire(p)
#define tsan_release(p) __tsan_release(p)
#else
#define tsan_acquire(p) ((void)(p))
#define tsan_release(p) ((void)(p))
#endif

static inline void lock(GMutex *m)
{
	g_mutex_lock(m);
	tsan_acquire(m);
}

static inline void unlock(GMutex *m)
{
	tsan_release(m);
	g_mutex_unlock(m);
}

enum kind { K_INIT, K_ADD_ONE, K_DOUBLE, K_SUM_UP, K_TREE, K_EMPTY, K_FOO, K_WARM };

/* A task: what to run, and its argument. */
struct item {
	enum kind kind;
	int64_t value;
};

/* Set in main() before the timed part, read-only during it. */
static GThreadPool *pool;
static long long size_n;
static int foo_arg;

/* The shared sum, guarded by total_lock. */
static GMutex total_lock;
static int64_t total;

/* Completion: the number of pushed tasks not yet finished (+1 for main()
 * while it posts), and the flag the last one sets. */
static atomic_llong pending;
static GMutex done_lock;
static GCond done_cond;
static gboolean done;

/* Pushes that failed (the check then fails). */
static atomic_llong push_errors;

/*
 * Per-thread counters on their own cache lines.  GThreadPool has no thread
 * index, so each thread takes the next free slot the first time it counts;
 * an exclusive pool has exactly WORKERS threads for its whole life.  Only
 * the slot's thread writes it; main() reads them after the completion
 * signal (the pending count's acq_rel decrements and done_lock order every
 * task before that).  Threads beyond the slots (none expected) count in
 * `overflow` instead.
 */
/* count_one() and count_total(): common.h's per-thread slots. */

static inline void add_to_total(int64_t n)
{
	lock(&total_lock);
	total += n;
	unlock(&total_lock);
}

/* ---- posting and completion --------------------------------------------- */

static void post(enum kind kind, int64_t value)
{
	struct item *it = g_new(struct item, 1);
	GError *err = NULL;

	it->kind = kind;
	it->value = value;
	atomic_fetch_add_explicit(&pending, 1, memory_order_relaxed);
	tsan_release(it);
	if (!g_thread_pool_push(pool, it, &err)) {
		fprintf(stderr, "bench_glib: g_thread_pool_push: %s\n", err ? err->message : "failed");
		g_clear_error(&err);
		g_free(it);
		atomic_fetch_add_explicit(&push_errors, 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&pending, 1, memory_order_relaxed);
	}
}

/* One task (or main()'s own count) finished; the last one wakes main(). */
static void finished(void)
{
	if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1) {
		lock(&done_lock);
		done = TRUE;
		g_cond_signal(&done_cond);
		unlock(&done_lock);
	}
}

static void wait_all(void)
{
	lock(&done_lock);
	while (!done) {
		tsan_release(&done_lock); /* g_cond_wait() unlocks ... */
		g_cond_wait(&done_cond, &done_lock);
		tsan_acquire(&done_lock); /* ... and locks again */
	}
	done = FALSE; /* ready for the next round */
	unlock(&done_lock);
}

/* ---- the tasks ---------------------------------------------------------- */

static void run_item(gpointer data, gpointer user_data)
{
	struct item *it = data;
	int64_t v;
	enum kind kind;

	(void)user_data;
	tsan_acquire(it); /* the push handed it over */
	v = it->value;
	kind = it->kind;

	g_free(it);
	switch (kind) {
	case K_INIT:
		for (int64_t i = 0; i < v; i++)
			post(K_ADD_ONE, i);
		break;
	case K_ADD_ONE:
		post(K_DOUBLE, v + 1);
		break;
	case K_DOUBLE:
		post(K_SUM_UP, v);
		post(K_SUM_UP, v);
		break;
	case K_SUM_UP:
		add_to_total(v);
		break;
	case K_TREE:
		if (v >= size_n) {
			count_one();
		} else {
			post(K_TREE, v + 1);
			post(K_TREE, v + 1);
		}
		break;
	case K_EMPTY:
		count_one();
		break;
	case K_FOO:
		add_to_total(foo(foo_arg));
		break;
	case K_WARM:
		break;
	}
	finished();
}

int main(int argc, char **argv)
{
	struct bench_args a;
	enum kind kind;
	int64_t expected, got;
	int counted = 0; /* the workload counts in the per-thread slots */
	GError *err = NULL;

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
		fprintf(stderr, "bench_glib: out of memory\n");
		return BENCH_EXIT_FAIL;
	}

	pool = g_thread_pool_new(run_item, NULL, a.workers, TRUE, &err);
	if (!pool) {
		fprintf(stderr, "bench_glib: g_thread_pool_new: %s\n", err ? err->message : "failed");
		g_clear_error(&err);
		return BENCH_EXIT_FAIL;
	}

	/* Untimed warm-up through the same machinery. */
	atomic_store(&pending, 1);
	for (int i = 0; i < a.workers; i++)
		post(K_WARM, 0);
	finished();
	wait_all();

	double t0 = now_seconds();
	atomic_store_explicit(&pending, 1, memory_order_relaxed); /* main()'s own count */
	if (kind == K_INIT) {
		post(K_INIT, a.n);
	} else if (kind == K_TREE) {
		post(K_TREE, 0);
	} else {
		for (long long i = 0; i < a.n; i++)
			post(kind, 0);
	}
	finished();
	wait_all();
	double t1 = now_seconds();

	got = counted ? count_total() : total;
	if (got != expected || atomic_load(&push_errors) != 0) {
		fprintf(stderr, "bench_glib: %s: got %" PRId64 ", expected %" PRId64 "; %lld failed pushes\n",
		        a.workload, got, expected, (long long)atomic_load(&push_errors));
		print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
		return BENCH_EXIT_FAIL;
	}
	print_result(SYSTEM, a.workload, a.n, a.workers, tasks, t1 - t0);
	g_thread_pool_free(pool, FALSE, TRUE);
	bench_slots_free();
	return BENCH_EXIT_OK;
}
