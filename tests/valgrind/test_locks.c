/*
 * test_locks.c - the lock-based paths of prunner, written so that Helgrind
 * can check them: the module API (module_lock, prunner_start's joins), the
 * global lock, the dict used from tasks and program threads, the executor
 * (prunner_wait_idle's quiet tickets, close), futures waited by program
 * threads and by a task of another runner (waiters' mutex and condition
 * variable, wait / wait_all / wait_any, continuations, cancel with
 * destroy) and the completion fd.
 *
 * Helgrind does not see the happens-before edges of C11 atomics, so every
 * task that moves between threads through the lock-free deque (a steal)
 * looks like a race on its payload.  Here every runner has one worker: a
 * task reaches its worker through the injector (a mutex) or was posted by
 * that worker itself, and the test's own data moves only through the
 * library's mutexes, condition variables and joins, or its own mutex.  The
 * library's atomics that remain (counters, run state, future states and
 * reference counts) are listed in helgrind.supp, each with its reason.
 *
 * Also a plain test of the runner suite: exact counts, asserted on the
 * test's thread only.  No sleeps, no atomics in the test's own code (a
 * gate task waits on a condition variable).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prunner.h"
#include "test_torture.h"

#define THREADS    3
#define PER_THREAD 200
#define LONG_NS    (60 * 1000000000LL)

/* A gate: tasks that call gate_pass block until gate_open. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int open, waiting;
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->open = g->waiting = 0;
}

/* Called once the gate's tasks are done (the run ended): taking the lock
 * first orders the destruction after their last unlock for Helgrind too
 * (the end of a run is ordered after its tasks through atomics). */
static void gate_destroy(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

static int gate_task(void *data)
{
	struct gate *g = *(struct gate **)data;
	pthread_mutex_lock(&g->lock);
	g->waiting++;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* Blocks until n gate tasks wait. */
static void gate_wait_for(struct gate *g, int n)
{
	pthread_mutex_lock(&g->lock);
	while (g->waiting < n)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* ------------------------------------------------------------------------ */
/* The module API, the global lock and the dict                             */
/* ------------------------------------------------------------------------ */

/* A plain counter under the global lock, the same sum in the dict. */
static int64_t g_plain;

static int lock_task(void *data)
{
	int64_t v;
	memcpy(&v, data, sizeof v);
	prunner_global_lock();
	g_plain += v;
	prunner_global_unlock();
	if (prunner_dict_add_int(prunner_get_dict(), "sum", v, NULL) != 0)
		return 1;
	if (v % 7 == 0) { /* a child from the worker */
		int64_t one = 1;
		return prunner_post_task(lock_task, &one, sizeof one) != 0;
	}
	return 0;
}

static struct gate g_mgate;
static struct gate *g_mgate_p = &g_mgate;
static int g_post_errors; /* under the global lock */
static int64_t g_end_plain = -1, g_end_dict = -1;

/* A program thread posting while the run is held open by the gate. */
static void *module_poster(void *arg)
{
	(void)arg;
	int errs = 0;
	for (int64_t v = 1; v <= PER_THREAD; v++)
		errs += prunner_post_task(lock_task, &v, sizeof v) != 0;
	prunner_global_lock();
	g_post_errors += errs;
	prunner_global_unlock();
	gate_open(&g_mgate);
	return NULL;
}

static pthread_t g_mthread;
static int g_mthread_rc;

static void module_begin(void)
{
	prunner_dict_set_int(prunner_get_dict(), "sum", 0);
	for (int64_t v = 1; v <= PER_THREAD; v++)
		prunner_post_task(lock_task, &v, sizeof v);
	prunner_post_task(gate_task, &g_mgate_p, sizeof g_mgate_p);
	g_mthread_rc = pthread_create(&g_mthread, NULL, module_poster, NULL);
}

static void module_end(void)
{
	/* Under the lock: the run's end happens after every task, but
	 * through the detector's atomics, which Helgrind does not see. */
	prunner_global_lock();
	g_end_plain = g_plain;
	prunner_global_unlock();
	prunner_dict_get_int(prunner_get_dict(), "sum", &g_end_dict);
}

/* Sum of v + one child (1) per multiple of 7, for v in 1..n. */
static int64_t lock_sum(int64_t n)
{
	return n * (n + 1) / 2 + n / 7;
}

START_TEST(test_module_global_lock_dict)
{
	ck_assert_int_eq(prunner_init(1, false, module_begin, module_end), 0);
	for (int run = 0; run < 3; run++) {
		g_plain = 0;
		gate_init(&g_mgate);
		ck_assert_int_eq(prunner_start(), 0);
		ck_assert_int_eq(g_mthread_rc, 0);
		ck_assert_int_eq(pthread_join(g_mthread, NULL), 0);
		gate_destroy(&g_mgate);
		ck_assert_int_eq(g_post_errors, 0);
		ck_assert_int_eq(g_end_plain, 2 * lock_sum(PER_THREAD));
		ck_assert_int_eq(g_end_dict, 2 * lock_sum(PER_THREAD));
	}
	prunner_cleanup();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The executor: program threads, prunner_wait_idle, the global lock         */
/* ------------------------------------------------------------------------ */

struct exec_arg {
	prunner_t *r;
	int errors;
};

static void *exec_poster(void *p)
{
	struct exec_arg *a = p;
	for (int64_t v = 1; v <= PER_THREAD; v++) {
		a->errors += prunner_post(a->r, lock_task, &v, sizeof v) != 0;
		if (v % 50 == 0)
			a->errors += prunner_wait_idle(a->r) != 0;
	}
	return NULL;
}

START_TEST(test_executor_threads)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, 1), 0);
	g_plain = 0;
	ck_assert_int_eq(prunner_dict_set_int(prunner_dict(r), "sum", 0), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	pthread_t th[THREADS];
	struct exec_arg args[THREADS];
	for (int t = 0; t < THREADS; t++) {
		args[t] = (struct exec_arg){r, 0};
		ck_assert_int_eq(pthread_create(&th[t], NULL, exec_poster, &args[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
		ck_assert_int_eq(args[t].errors, 0);
	}
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	int64_t sum = -1;
	ck_assert_int_eq(prunner_dict_get_int(prunner_dict(r), "sum", &sum), 0);
	ck_assert_int_eq(sum, THREADS * lock_sum(PER_THREAD));
	prunner_lock(r);
	ck_assert_int_eq(g_plain, THREADS * lock_sum(PER_THREAD));
	prunner_unlock(r);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Futures                                                                  */
/* ------------------------------------------------------------------------ */

static int square_task(void *data)
{
	int64_t v;
	memcpy(&v, data, sizeof v);
	v *= v;
	return prunner_set_result(&v, sizeof v);
}

static int plus_one_task(void *data)
{
	int64_t v;
	memcpy(&v, data, sizeof v);
	v += 1;
	return prunner_set_result(&v, sizeof v);
}

struct fut_arg {
	prunner_t *r;
	int id;
	int bad;
};

/* Per round: a future waited alone, one with a continuation, and two
 * waited with wait_any then wait_all. */
static void *fut_thread(void *p)
{
	struct fut_arg *a = p;
	for (int64_t i = 0; i < PER_THREAD / 4; i++) {
		int64_t v = a->id * 1000 + i, w = v + 1;
		prunner_future_t *f = NULL, *c = NULL, *x = NULL;
		if (prunner_submit(a->r, square_task, &v, sizeof v, NULL, &f) != 0 ||
		    prunner_then(f, plus_one_task, NULL, &c) != 0 ||
		    prunner_submit(a->r, square_task, &w, sizeof w, NULL, &x) != 0) {
			a->bad++;
			break;
		}
		prunner_future_t *both[2] = {f, x};
		size_t idx = 9;
		a->bad += prunner_wait_any(both, 2, LONG_NS, &idx) != 0 || idx > 1;
		a->bad += prunner_wait_all(both, 2, LONG_NS) != 0;
		a->bad += prunner_future_wait(c, LONG_NS) != 0;
		a->bad += torture_result_i64(f) != v * v || torture_result_i64(x) != w * w;
		a->bad += torture_result_i64(c) != v * v + 1;
		prunner_future_release(f);
		prunner_future_release(c);
		prunner_future_release(x);
	}
	return NULL;
}

START_TEST(test_futures_program_threads)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, 1), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	pthread_t th[THREADS];
	struct fut_arg args[THREADS];
	for (int t = 0; t < THREADS; t++) {
		args[t] = (struct fut_arg){r, t + 1, 0};
		ck_assert_int_eq(pthread_create(&th[t], NULL, fut_thread, &args[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
		ck_assert_int_eq(args[t].bad, 0);
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
}
END_TEST

/* Cancel: the worker held by a gate, futures queued behind it; every
 * other one cancelled (destroy runs on this thread), then a CANCEL close
 * drops the rest (destroy runs on the worker). */
struct destroy_count {
	pthread_mutex_t lock;
	int n;
};

static struct destroy_count g_destroyed = {PTHREAD_MUTEX_INITIALIZER, 0};

static void count_destroy(void *data)
{
	(void)data;
	pthread_mutex_lock(&g_destroyed.lock);
	g_destroyed.n++;
	pthread_mutex_unlock(&g_destroyed.lock);
}

START_TEST(test_futures_cancel)
{
	enum { N = 100 };
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, 1), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	struct gate g;
	gate_init(&g);
	struct gate *gp = &g;
	ck_assert_int_eq(prunner_post(r, gate_task, &gp, sizeof gp), 0);
	gate_wait_for(&g, 1);
	prunner_future_t *fs[N];
	for (int64_t i = 0; i < N; i++)
		ck_assert_int_eq(prunner_submit(r, square_task, &i, sizeof i, count_destroy, &fs[i]), 0);
	for (int i = 0; i < N; i += 2)
		ck_assert_int_eq(prunner_future_cancel(fs[i]), 0);
	pthread_mutex_lock(&g_destroyed.lock);
	ck_assert_int_eq(g_destroyed.n, N / 2);
	pthread_mutex_unlock(&g_destroyed.lock);
	gate_open(&g);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_CANCEL), 0);
	int done = 0, cancelled = 0;
	for (int i = 0; i < N; i++) {
		enum prunner_future_state st = prunner_future_state(fs[i]);
		if (st == PRUNNER_FUTURE_DONE) {
			done++;
			ck_assert_int_eq(torture_result_i64(fs[i]), (int64_t)i * i);
		} else {
			ck_assert_int_eq(st, PRUNNER_FUTURE_CANCELLED);
			cancelled++;
		}
		prunner_future_release(fs[i]);
	}
	ck_assert_int_eq(done + cancelled, N);
	pthread_mutex_lock(&g_destroyed.lock);
	ck_assert_int_eq(g_destroyed.n, cancelled);
	pthread_mutex_unlock(&g_destroyed.lock);
	gate_destroy(&g);
	prunner_free(r);
}
END_TEST

/* A task of runner A submits to runner B and waits for the future: a
 * worker of another runner blocks like a program thread.  A thread drains
 * B's completion fd meanwhile. */
/* got and bad: written by A's worker, read after the run, under lock
 * (the end of a run happens after its tasks through atomics). */
struct cross {
	prunner_t *b;
	pthread_mutex_t lock;
	int64_t got[PER_THREAD];
	int bad;
};

static int cross_task(void *data)
{
	struct cross *c = *(struct cross **)data;
	for (int64_t i = 0; i < PER_THREAD; i++) {
		prunner_future_t *f = NULL;
		int ok = prunner_submit(c->b, square_task, &i, sizeof i, NULL, &f) == 0 &&
		         prunner_future_wait(f, LONG_NS) == 0;
		int64_t v = ok ? torture_result_i64(f) : -1;
		prunner_future_release(f);
		pthread_mutex_lock(&c->lock);
		c->got[i] = v;
		c->bad += !ok;
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

static void cross_begin(prunner_t *r, void *arg)
{
	prunner_post(r, cross_task, &arg, sizeof arg);
}

struct drain {
	prunner_t *r;
	int fd, want, got, bad;
};

static void *drainer(void *p)
{
	struct drain *d = p;
	while (d->got < d->want) {
		struct pollfd pf = {.fd = d->fd, .events = POLLIN};
		if (poll(&pf, 1, -1) < 0 && errno != EINTR) {
			d->bad++;
			break;
		}
		prunner_future_t *out[16];
		int n = prunner_completed(d->r, out, 16);
		if (n < 0) {
			d->bad++;
			break;
		}
		for (int k = 0; k < n; k++) {
			d->bad += prunner_future_state(out[k]) != PRUNNER_FUTURE_DONE;
			prunner_future_release(out[k]);
		}
		d->got += n;
	}
	return NULL;
}

START_TEST(test_future_across_runners)
{
	prunner_t *a = NULL, *b = NULL;
	ck_assert_int_eq(prunner_new(&a), 0);
	ck_assert_int_eq(prunner_new(&b), 0);
	ck_assert_int_eq(prunner_set_workers(a, 1), 0);
	ck_assert_int_eq(prunner_set_workers(b, 1), 0);
	struct drain d = {b, prunner_completion_fd(b), PER_THREAD, 0, 0};
	ck_assert_int_ge(d.fd, 0);
	ck_assert_int_eq(prunner_open(b), 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, drainer, &d), 0);
	struct cross *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->b = b;
	pthread_mutex_init(&c->lock, NULL);
	ck_assert_int_eq(prunner_set_hooks(a, cross_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(a), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(d.bad, 0);
	ck_assert_int_eq(d.got, PER_THREAD);
	pthread_mutex_lock(&c->lock);
	int bad = c->bad;
	int64_t wrong = -1;
	for (int64_t i = 0; i < PER_THREAD && wrong < 0; i++)
		if (c->got[i] != i * i)
			wrong = i;
	pthread_mutex_unlock(&c->lock);
	ck_assert_int_eq(bad, 0);
	ck_assert_msg(wrong < 0, "future %ld: wrong result", (long)wrong);
	pthread_mutex_destroy(&c->lock);
	ck_assert_int_eq(prunner_close(b, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(a);
	prunner_free(b);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *locks_suite(void)
{
	Suite *s = suite_create("locks");
	TCase *tc = tcase_create("locks");
	tcase_add_test(tc, test_module_global_lock_dict);
	tcase_add_test(tc, test_executor_threads);
	tcase_add_test(tc, test_futures_program_threads);
	tcase_add_test(tc, test_futures_cancel);
	tcase_add_test(tc, test_future_across_runners);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	SRunner *sr = srunner_create(locks_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
