/*
 * test_module.c - the module-style API (prunner_init / prunner_start /
 * prunner_post_task / prunner_get_dict / prunner_global_lock), a C rendering
 * of prunner.py's functions, checked on the seed's sum and on its lifecycle
 * rules.  Links only the public library.
 *
 * The process-wide runner is global state: every test starts with its own
 * prunner_init().  Check's fork mode gives every test a fresh process; the
 * tests also pass under CK_FORK=no because none relies on a pristine
 * process.  Assertions only on the test's own thread: hooks (which run on
 * it) and tasks record, the test asserts after prunner_start() returned.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prunner.h"
#include "testutil.h"

static const int WORKERS[] = {1, 2, 3, 8, 64};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))

/* ------------------------------------------------------------------------ */
/* The seed's sum, as prunner.py's example                                  */
/* ------------------------------------------------------------------------ */

static int64_t g_n;                 /* N of the next start */
static int g_reset_in_begin = 1;    /* begin sets sum to 0 (else keeps it) */
static atomic_llong g_executed;     /* tasks run */
static atomic_int g_errors;         /* failed posts / dict calls in tasks */
static int g_begin_calls, g_end_calls, g_begin_err, g_end_rc;
static int64_t g_end_sum, g_end_executed;

struct range {
	int64_t lo, hi;
};

static int m_add_one(void *data);
static int m_double(void *data);
static int m_sum_up(void *data);

static void m_post(prunner_task_fn fn, int64_t v)
{
	if (prunner_post_task(fn, &v, sizeof v) != 0)
		atomic_fetch_add(&g_errors, 1);
}

static int m_init(void *data)
{
	struct range *rg = data;
	atomic_fetch_add_explicit(&g_executed, 1, memory_order_relaxed);
	for (int64_t i = rg->lo; i < rg->hi; i++)
		m_post(m_add_one, i);
	return 0;
}

static int m_add_one(void *data)
{
	atomic_fetch_add_explicit(&g_executed, 1, memory_order_relaxed);
	m_post(m_double, *(int64_t *)data + 1);
	return 0;
}

static int m_double(void *data)
{
	atomic_fetch_add_explicit(&g_executed, 1, memory_order_relaxed);
	m_post(m_sum_up, *(int64_t *)data);
	m_post(m_sum_up, *(int64_t *)data);
	return 0;
}

static int m_sum_up(void *data)
{
	atomic_fetch_add_explicit(&g_executed, 1, memory_order_relaxed);
	int64_t s = 0;
	prunner_global_lock();
	struct prunner_dict *d = prunner_get_dict();
	if (prunner_dict_get_int(d, "sum", &s) != 0 || prunner_dict_set_int(d, "sum", s + *(int64_t *)data) != 0)
		atomic_fetch_add(&g_errors, 1);
	prunner_global_unlock();
	return 0;
}

static void m_begin(void)
{
	g_begin_calls++;
	struct prunner_dict *d = prunner_get_dict();
	if (d == NULL)
		g_begin_err++;
	if (g_reset_in_begin && prunner_dict_set_int(d, "sum", 0) != 0)
		g_begin_err++;
	if (prunner_dict_add_int(d, "starts", 1, NULL) != 0)
		g_begin_err++;
	struct range rg = {0, g_n};
	if (prunner_post_task(m_init, &rg, sizeof rg) != 0)
		g_begin_err++;
}

static void m_end(void)
{
	g_end_calls++;
	g_end_rc = prunner_dict_get_int(prunner_get_dict(), "sum", &g_end_sum);
	g_end_executed = atomic_load(&g_executed);
}

static void reset_counts(void)
{
	atomic_store(&g_executed, 0);
	atomic_store(&g_errors, 0);
	g_begin_calls = g_end_calls = g_begin_err = 0;
	g_end_rc = 12345;
	g_end_sum = g_end_executed = -1;
	g_reset_in_begin = 1;
}

/* One init + start of the sum at n, fully checked. */
static void module_sum(int w, int64_t n)
{
	reset_counts();
	g_n = n;
	ck_assert_int_eq(prunner_init(w, false, m_begin, m_end), 0);
	ck_assert_ptr_nonnull(prunner_get_dict());
	int rc = prunner_start();
	int64_t want = n * (n + 1), tasks = 4 * n + 1;
	ck_assert_msg(rc == 0, "w=%d n=%" PRId64 ": prunner_start returned %d (%s)", w, n, rc, prunner_strerror(rc));
	ck_assert_int_eq(g_begin_calls, 1);
	ck_assert_int_eq(g_end_calls, 1);
	ck_assert_int_eq(g_begin_err, 0);
	ck_assert_int_eq(atomic_load(&g_errors), 0);
	ck_assert_int_eq(g_end_rc, 0);
	ck_assert_msg(g_end_sum == want, "w=%d n=%" PRId64 ": end saw sum %" PRId64 ", expected %" PRId64, w, n,
	              g_end_sum, want);
	ck_assert_msg(g_end_executed == tasks, "w=%d n=%" PRId64 ": end saw %" PRId64 " tasks, expected %" PRId64, w, n,
	              g_end_executed, tasks);
	ck_assert_int_eq(atomic_load(&g_executed), tasks);
	/* readable after start returned */
	int64_t s = -1;
	ck_assert_int_eq(prunner_dict_get_int(prunner_get_dict(), "sum", &s), 0);
	ck_assert_int_eq(s, want);
}

START_TEST(test_seed_sum_10_workers)
{
	module_sum(10, 2000);
	ck_assert_int_eq(g_end_sum, 4002000);
	prunner_cleanup();
}
END_TEST

START_TEST(test_sum_sizes)
{
	int w = WORKERS[_i];
	const int64_t ns[] = {0, 1, 5000};
	for (int k = 0; k < 3; k++)
		module_sum(w, ns[k]);
	prunner_cleanup();
}
END_TEST

/* 100 init/start cycles: each exact, the dict readable after start, fresh
 * after the next init. */
START_TEST(test_init_start_cycles)
{
	int w = WORKERS[_i];
	int cycles = 100;
	for (int k = 0; k < cycles; k++) {
		int64_t n = 20 + k;
		if (k > 0) {
			/* the previous cycle's dict is still there, with its values */
			int64_t s = -1;
			ck_assert_int_eq(prunner_dict_get_int(prunner_get_dict(), "marker", &s), 0);
			ck_assert_int_eq(s, k - 1);
		}
		reset_counts();
		g_n = n;
		ck_assert_int_eq(prunner_init(w, false, m_begin, m_end), 0);
		struct prunner_dict *d = prunner_get_dict();
		ck_assert_ptr_nonnull(d);
		ck_assert_msg(prunner_dict_len(d) == 0, "cycle %d: dict has %zu keys after init", k, prunner_dict_len(d));
		int64_t s = 0;
		ck_assert_int_eq(prunner_dict_get_int(d, "marker", &s), -ENOENT);
		ck_assert_int_eq(prunner_dict_get_int(d, "sum", &s), -ENOENT);
		ck_assert_int_eq(prunner_start(), 0);
		ck_assert_int_eq(g_begin_calls, 1);
		ck_assert_int_eq(g_end_calls, 1);
		ck_assert_int_eq(atomic_load(&g_errors), 0);
		ck_assert_msg(g_end_sum == n * (n + 1), "w=%d cycle %d: sum %" PRId64 ", expected %" PRId64, w, k, g_end_sum,
		              n * (n + 1));
		ck_assert_int_eq(atomic_load(&g_executed), 4 * n + 1);
		ck_assert_int_eq(prunner_dict_get_int(prunner_get_dict(), "sum", &s), 0);
		ck_assert_int_eq(s, n * (n + 1));
		ck_assert_int_eq(prunner_dict_set_int(prunner_get_dict(), "marker", k), 0);
	}
	prunner_cleanup();
}
END_TEST

/* prunner_start repeated without re-init: begin runs again, the dict is
 * kept (begin here accumulates instead of resetting). */
START_TEST(test_start_repeated)
{
	int w = WORKERS[_i];
	int64_t n = 300;
	reset_counts();
	g_reset_in_begin = 0;
	g_n = n;
	ck_assert_int_eq(prunner_init(w, false, m_begin, m_end), 0);
	ck_assert_int_eq(prunner_dict_set_int(prunner_get_dict(), "sum", 0), 0);
	struct prunner_dict *d = prunner_get_dict();
	for (int k = 1; k <= 4; k++) {
		ck_assert_int_eq(prunner_start(), 0);
		ck_assert_ptr_eq(prunner_get_dict(), d);
		ck_assert_int_eq(g_begin_calls, k);
		ck_assert_int_eq(g_end_calls, k);
		ck_assert_int_eq(g_begin_err, 0);
		ck_assert_int_eq(atomic_load(&g_errors), 0);
		ck_assert_int_eq(atomic_load(&g_executed), k * (4 * n + 1));
		int64_t s = -1, starts = -1;
		ck_assert_int_eq(prunner_dict_get_int(d, "sum", &s), 0);
		ck_assert_msg(s == k * n * (n + 1), "w=%d start %d: sum %" PRId64 ", expected %" PRId64, w, k, s,
		              k * n * (n + 1));
		ck_assert_int_eq(g_end_sum, s);
		ck_assert_int_eq(prunner_dict_get_int(d, "starts", &starts), 0);
		ck_assert_int_eq(starts, k);
	}
	prunner_cleanup();
}
END_TEST

/* Failed tasks are counted in prunner_start's result. */
#define MFAIL_N 1000
static atomic_int g_mfail_ran;
static int g_mfail_on = 1;

static int mfail_task(void *data)
{
	int i = *(int *)data;
	atomic_fetch_add(&g_mfail_ran, 1);
	return (g_mfail_on && i % 9 == 4) ? (i % 2 ? -1 : 3) : 0;
}

static void mfail_begin(void)
{
	for (int i = 0; i < MFAIL_N; i++)
		prunner_post_task(mfail_task, &i, sizeof i);
}

START_TEST(test_failed_tasks_counted)
{
	int w = WORKERS[_i];
	int expect = 0;
	for (int i = 0; i < MFAIL_N; i++)
		expect += i % 9 == 4;
	atomic_store(&g_mfail_ran, 0);
	g_mfail_on = 1;
	ck_assert_int_eq(prunner_init(w, false, mfail_begin, NULL), 0);
	int rc = prunner_start();
	ck_assert_msg(rc == expect, "w=%d: prunner_start returned %d, expected %d", w, rc, expect);
	ck_assert_int_eq(atomic_load(&g_mfail_ran), MFAIL_N);
	g_mfail_on = 0;
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(atomic_load(&g_mfail_ran), 2 * MFAIL_N);
	prunner_cleanup();
}
END_TEST

/* NULL hooks: a start that does nothing. */
START_TEST(test_null_hooks)
{
	int w = WORKERS[_i];
	ck_assert_int_eq(prunner_init(w, false, NULL, NULL), 0);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_ptr_nonnull(prunner_get_dict());
	prunner_cleanup();
}
END_TEST

/* The worker threads are joined before prunner_start returns. */
START_TEST(test_start_joins_workers)
{
	int w = WORKERS[_i];
	int before = thread_count();
	if (before < 0)
		return; /* no /proc: nothing to check */
	module_sum(w, 200);
	int n = thread_count_after_join(before);
	ck_assert_msg(n == before, "w=%d: %d threads before init, %d after start", w, before, n);
	module_sum(w, 10);
	ck_assert_int_eq(thread_count_after_join(before), before);
	prunner_cleanup();
	ck_assert_int_eq(thread_count_after_join(before), before);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_post_task from a task of an object-API runner                    */
/* ------------------------------------------------------------------------ */

#define OBJ_CHILDREN 500

struct obj_ctx {
	prunner_t *r;
	atomic_int post_rc_bad, child_ran, child_wrong_runner, grandchild_ran;
};

static struct obj_ctx g_obj;

static int obj_grandchild(void *data)
{
	(void)data;
	if (prunner_current() != g_obj.r)
		atomic_fetch_add(&g_obj.child_wrong_runner, 1);
	atomic_fetch_add(&g_obj.grandchild_ran, 1);
	return 0;
}

static int obj_child(void *data)
{
	int i = *(int *)data;
	if (prunner_current() != g_obj.r)
		atomic_fetch_add(&g_obj.child_wrong_runner, 1);
	atomic_fetch_add(&g_obj.child_ran, 1);
	if (i % 5 == 0 && prunner_post_task(obj_grandchild, NULL, 0) != 0)
		atomic_fetch_add(&g_obj.post_rc_bad, 1);
	return 0;
}

static int obj_root(void *data)
{
	(void)data;
	for (int i = 0; i < OBJ_CHILDREN; i++)
		if (prunner_post_task(obj_child, &i, sizeof i) != 0)
			atomic_fetch_add(&g_obj.post_rc_bad, 1);
	return 0;
}

static void obj_begin(prunner_t *r, void *arg)
{
	(void)arg;
	prunner_post(r, obj_root, NULL, 0);
}

static atomic_int g_module_side_ran;
static void module_side_begin(void)
{
	atomic_fetch_add(&g_module_side_ran, 1);
}

static void obj_runner_case(int w)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, w), 0);
	memset(&g_obj, 0, sizeof g_obj);
	g_obj.r = r;
	ck_assert_int_eq(prunner_set_hooks(r, obj_begin, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_obj.post_rc_bad), 0);
	ck_assert_int_eq(atomic_load(&g_obj.child_ran), OBJ_CHILDREN);
	ck_assert_int_eq(atomic_load(&g_obj.grandchild_ran), OBJ_CHILDREN / 5);
	ck_assert_int_eq(atomic_load(&g_obj.child_wrong_runner), 0);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.executed, 1 + OBJ_CHILDREN + OBJ_CHILDREN / 5);
	prunner_free(r);
}

START_TEST(test_post_task_into_object_runner)
{
	int w = WORKERS[_i];
	/* without any module runner */
	obj_runner_case(w);
	/* with a module runner initialised (not started): still the object
	 * runner, and the module runner gets nothing */
	atomic_store(&g_module_side_ran, 0);
	ck_assert_int_eq(prunner_init(2, false, module_side_begin, NULL), 0);
	obj_runner_case(w);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(atomic_load(&g_module_side_ran), 1);
	prunner_cleanup();
}
END_TEST

/*
 * prunner_get_dict() is documented as "the process-wide runner's dict (NULL
 * before the first prunner_init())", with no exception for tasks of
 * object-API runners (unlike prunner_post_task, which documents one).  So a
 * task of an object-API runner gets the process-wide dict, or NULL when
 * there is none.
 */
static struct prunner_dict *_Atomic g_dict_seen_in_task;
static atomic_int g_dict_task_ran;

static int dict_probe_task(void *data)
{
	(void)data;
	atomic_store(&g_dict_seen_in_task, prunner_get_dict());
	atomic_fetch_add(&g_dict_task_ran, 1);
	return 0;
}

static void dict_probe_begin(prunner_t *r, void *arg)
{
	(void)arg;
	prunner_post(r, dict_probe_task, NULL, 0);
}

static struct prunner_dict *dict_seen_from_object_task(int w, prunner_t **out)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, w), 0);
	ck_assert_int_eq(prunner_set_hooks(r, dict_probe_begin, NULL, NULL), 0);
	atomic_store(&g_dict_task_ran, 0);
	atomic_store(&g_dict_seen_in_task, (struct prunner_dict *)&g_dict_task_ran); /* neither NULL nor a dict */
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_dict_task_ran), 1);
	*out = r;
	return atomic_load(&g_dict_seen_in_task);
}

/* Inside a task of an object-API runner, the module-style calls act on that
 * runner (prunner_current()), whether or not a process-wide runner exists. */
START_TEST(test_get_dict_in_object_task)
{
	int w = WORKERS[_i];
	prunner_t *r;
	prunner_cleanup(); /* no process-wide runner (also under CK_FORK=no) */
	struct prunner_dict *seen = dict_seen_from_object_task(w, &r);
	ck_assert_msg(seen == prunner_dict(r),
	              "w=%d: without a process-wide runner, prunner_get_dict() in an object-API task returned "
	              "%p, the object runner's dict is %p",
	              w, (void *)seen, (void *)prunner_dict(r));
	prunner_free(r);

	ck_assert_int_eq(prunner_init(2, false, NULL, NULL), 0);
	struct prunner_dict *module_dict = prunner_get_dict();
	ck_assert_ptr_nonnull(module_dict);
	seen = dict_seen_from_object_task(w, &r);
	ck_assert_msg(seen == prunner_dict(r) && seen != module_dict,
	              "w=%d: prunner_get_dict() in an object-API task returned %p, the object runner's dict is "
	              "%p (the process-wide one is %p)",
	              w, (void *)seen, (void *)prunner_dict(r), (void *)module_dict);
	prunner_free(r);
	/* Outside any task, the process-wide dict again. */
	ck_assert_ptr_eq(prunner_get_dict(), module_dict);
	prunner_cleanup();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Lifecycle: cleanup, nested start, posts from a program thread            */
/* ------------------------------------------------------------------------ */

START_TEST(test_cleanup)
{
	int w = WORKERS[_i];
	module_sum(w, 100);
	prunner_cleanup();
	ck_assert_ptr_null(prunner_get_dict());
	prunner_global_lock(); /* no-ops now */
	prunner_global_unlock();
	ck_assert_int_eq(prunner_post_task(m_add_one, &g_n, sizeof g_n), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_start(), -EINVAL);
	prunner_cleanup(); /* twice: harmless */
	ck_assert_ptr_null(prunner_get_dict());
	/* init works again after cleanup */
	module_sum(w, 50);
	prunner_cleanup();
	ck_assert_ptr_null(prunner_get_dict());
}
END_TEST

static int g_nested_begin_rc;
static atomic_int g_nested_task_rc, g_nested_tasks;

static int nested_task(void *data)
{
	(void)data;
	atomic_store(&g_nested_task_rc, prunner_start());
	atomic_fetch_add(&g_nested_tasks, 1);
	return 0;
}

static int g_nested_begins;
static void nested_begin(void)
{
	if (g_nested_begins++ > 0)
		return;
	g_nested_begin_rc = prunner_start();
	prunner_post_task(nested_task, NULL, 0);
}

START_TEST(test_start_from_inside)
{
	int w = WORKERS[_i];
	g_nested_begins = 0;
	g_nested_begin_rc = 12345;
	atomic_store(&g_nested_task_rc, 12345);
	atomic_store(&g_nested_tasks, 0);
	ck_assert_int_eq(prunner_init(w, false, nested_begin, NULL), 0);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(g_nested_begins, 1);
	ck_assert_msg(g_nested_begin_rc == -EBUSY, "w=%d: prunner_start from begin gave %d", w, g_nested_begin_rc);
	ck_assert_msg(atomic_load(&g_nested_task_rc) == -EBUSY, "w=%d: prunner_start from a task gave %d", w,
	              atomic_load(&g_nested_task_rc));
	ck_assert_int_eq(atomic_load(&g_nested_tasks), 1);
	prunner_cleanup();
}
END_TEST

/* A program thread posts with prunner_post_task while prunner_start runs;
 * a gate task keeps the run active until it is done. */
#define MOUT_M 1500
static atomic_int g_gate, g_mout_post_err;
static atomic_uchar g_mout_slot[MOUT_M];
static pthread_t g_mout_th;
static int g_mout_th_rc;

static int mout_gate(void *data)
{
	(void)data;
	while (!atomic_load_explicit(&g_gate, memory_order_acquire)) /* pairs with mout_thread's release */
		sched_yield();
	return 0;
}

static int mout_task(void *data)
{
	int i = *(int *)data;
	if (i >= 0 && i < MOUT_M)
		atomic_fetch_add(&g_mout_slot[i], 1);
	return 0;
}

static void *mout_thread(void *p)
{
	(void)p;
	for (int i = 0; i < MOUT_M; i++)
		if (prunner_post_task(mout_task, &i, sizeof i) != 0)
			atomic_fetch_add(&g_mout_post_err, 1);
	atomic_store_explicit(&g_gate, 1, memory_order_release);
	return NULL;
}

static void mout_begin(void)
{
	prunner_post_task(mout_gate, NULL, 0);
	g_mout_th_rc = pthread_create(&g_mout_th, NULL, mout_thread, NULL);
	if (g_mout_th_rc != 0)
		atomic_store_explicit(&g_gate, 1, memory_order_release);
}

START_TEST(test_post_task_from_program_thread)
{
	int w = WORKERS[_i];
	atomic_store(&g_gate, 0);
	atomic_store(&g_mout_post_err, 0);
	for (int i = 0; i < MOUT_M; i++)
		atomic_store(&g_mout_slot[i], 0);
	ck_assert_int_eq(prunner_init(w, false, mout_begin, NULL), 0);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(g_mout_th_rc, 0);
	ck_assert_int_eq(pthread_join(g_mout_th, NULL), 0);
	ck_assert_int_eq(atomic_load(&g_mout_post_err), 0);
	for (int i = 0; i < MOUT_M; i++)
		ck_assert_msg(atomic_load(&g_mout_slot[i]) == 1, "w=%d: task %d ran %d times", w, i,
		              (int)atomic_load(&g_mout_slot[i]));
	prunner_cleanup();
}
END_TEST

/* prunner_current() / prunner_worker_index() under the module API. */
static prunner_t *g_where_begin, *g_where_end;
static int g_where_begin_idx, g_where_end_idx, g_where_w;
static _Atomic(prunner_t *) g_where_task_runner;
static atomic_int g_where_bad;

static int where_task(void *data)
{
	(void)data;
	prunner_t *cur = prunner_current();
	prunner_t *expect = NULL;
	if (cur == NULL)
		atomic_fetch_add(&g_where_bad, 1);
	else if (!atomic_compare_exchange_strong(&g_where_task_runner, &expect, cur) && expect != cur)
		atomic_fetch_add(&g_where_bad, 1); /* two tasks saw different runners */
	int idx = prunner_worker_index();
	if (idx < 0 || idx >= g_where_w)
		atomic_fetch_add(&g_where_bad, 1);
	return 0;
}

static void where_begin(void)
{
	g_where_begin = prunner_current();
	g_where_begin_idx = prunner_worker_index();
	for (int i = 0; i < 200; i++)
		prunner_post_task(where_task, NULL, 0);
}

static void where_end(void)
{
	g_where_end = prunner_current();
	g_where_end_idx = prunner_worker_index();
}

START_TEST(test_current_in_module_run)
{
	int w = WORKERS[_i];
	g_where_w = w;
	atomic_store(&g_where_task_runner, NULL);
	atomic_store(&g_where_bad, 0);
	ck_assert_int_eq(prunner_init(w, false, where_begin, where_end), 0);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(atomic_load(&g_where_bad), 0);
	ck_assert_ptr_nonnull(g_where_begin);
	ck_assert_ptr_eq(g_where_begin, g_where_end);
	ck_assert_ptr_eq(atomic_load(&g_where_task_runner), g_where_begin);
	ck_assert_int_eq(g_where_begin_idx, -1);
	ck_assert_int_eq(g_where_end_idx, -1);
	ck_assert_ptr_null(prunner_current());
	ck_assert_int_eq(prunner_worker_index(), -1);
	prunner_cleanup();
}
END_TEST

/* The global lock protects a plain counter across every task. */
#define MLOCK_TASKS 5000
static int64_t g_mlock_plain; /* protected by prunner_global_lock() */

static int mlock_task(void *data)
{
	int64_t v = *(int64_t *)data;
	prunner_global_lock();
	g_mlock_plain += v;
	prunner_global_unlock();
	return 0;
}

static void mlock_begin(void)
{
	for (int64_t i = 1; i <= MLOCK_TASKS; i++)
		prunner_post_task(mlock_task, &i, sizeof i);
}

START_TEST(test_global_lock)
{
	int w = WORKERS[_i];
	g_mlock_plain = 0;
	ck_assert_int_eq(prunner_init(w, false, mlock_begin, NULL), 0);
	ck_assert_int_eq(prunner_start(), 0);
	prunner_global_lock();
	int64_t got = g_mlock_plain;
	prunner_global_unlock();
	ck_assert_int_eq(got, (int64_t)MLOCK_TASKS * (MLOCK_TASKS + 1) / 2);
	prunner_cleanup();
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *module_suite(void)
{
	Suite *s = suite_create("module");
	TCase *tc;

	tc = tcase_create("sum");
	tcase_add_test(tc, test_seed_sum_10_workers);
	tcase_add_loop_test(tc, test_sum_sizes, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_init_start_cycles, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_start_repeated, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_failed_tasks_counted, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_null_hooks, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_start_joins_workers, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_loop_test(tc, test_post_task_into_object_runner, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_get_dict_in_object_task, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_cleanup, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_start_from_inside, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_post_task_from_program_thread, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_current_in_module_run, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_global_lock, 0, N_WORKERS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	SRunner *sr = srunner_create(module_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
