/*
 * test_api.c - bad inputs to the public API.  Every documented error is
 * returned, a failing call has no effect (a rejected task never runs), and
 * the runner stays usable afterwards.  Links only the public library.
 *
 * Rules of these tests: ck_assert only on the test's own thread; hooks,
 * tasks and helper threads record what they saw (return codes, counts) and
 * the test thread asserts after prunner_run() returned.  No sleeps: where a
 * run must stay active while another thread acts, a "gate" task spins on an
 * atomic flag (acquire loads, sched_yield) until that thread is done.
 *
 * The test case "before_init" must see a process where prunner_init() was
 * never called.  Check's fork mode (the default) gives every test its own
 * process; the case is also added first so that it still holds under
 * CK_FORK=no.
 */
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "prunner.h"

static const int WORKERS[] = {1, 2, 3, 8, 64};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static prunner_t *new_runner(int workers)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(prunner_set_workers(r, workers), 0);
	ck_assert_int_eq(prunner_get_workers(r), workers);
	return r;
}

/* Counts every run of count_task; the payload (if any) is an int added to
 * g_ran_sum. */
static atomic_long g_ran;
static atomic_long g_ran_sum;

static int count_task(void *data)
{
	atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
	if (data != NULL)
		atomic_fetch_add_explicit(&g_ran_sum, *(int *)data, memory_order_relaxed);
	return 0;
}

/* assert_usable(): sets its own hooks, runs 10 tasks carrying 1..10 and
 * checks all ran exactly once.  Used after every error path. */
#define USABLE_TASKS 10
static int usable_rc[USABLE_TASKS];

static void usable_begin(prunner_t *r, void *arg)
{
	(void)arg;
	for (int i = 0; i < USABLE_TASKS; i++) {
		int v = i + 1;
		usable_rc[i] = prunner_post(r, count_task, &v, sizeof v);
	}
}

static void assert_usable(prunner_t *r)
{
	atomic_store(&g_ran, 0);
	atomic_store(&g_ran_sum, 0);
	for (int i = 0; i < USABLE_TASKS; i++)
		usable_rc[i] = 12345;
	ck_assert_int_eq(prunner_set_hooks(r, usable_begin, NULL, NULL), 0);
	int rc = prunner_run(r);
	ck_assert_msg(rc == 0, "usable run returned %d (%s)", rc, prunner_strerror(rc));
	for (int i = 0; i < USABLE_TASKS; i++)
		ck_assert_msg(usable_rc[i] == 0, "usable post %d returned %d", i, usable_rc[i]);
	ck_assert_int_eq(atomic_load(&g_ran), USABLE_TASKS);
	ck_assert_int_eq(atomic_load(&g_ran_sum), USABLE_TASKS * (USABLE_TASKS + 1) / 2);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.executed, USABLE_TASKS);
	ck_assert_uint_eq(st.posted, USABLE_TASKS);
	ck_assert_uint_eq(st.failed, 0);
}

/* A task that keeps the run active until *gate is set (release store by the
 * thread it waits for; this acquire load pairs with it). */
static int gate_task(void *data)
{
	atomic_int *gate = *(atomic_int **)data;
	while (!atomic_load_explicit(gate, memory_order_acquire))
		sched_yield();
	return 0;
}

static int nop_task(void *data)
{
	(void)data;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Module API before any prunner_init() (own process; added first)          */
/* ------------------------------------------------------------------------ */

static atomic_int g_module_ran;
static int module_count_task(void *data)
{
	(void)data;
	atomic_fetch_add(&g_module_ran, 1);
	return 0;
}

START_TEST(test_start_before_init)
{
	/* Nothing initialised yet in this process. */
	ck_assert_ptr_null(prunner_get_dict());
	prunner_global_lock(); /* documented no-ops before init */
	prunner_global_unlock();
	ck_assert_int_eq(prunner_post_task(module_count_task, NULL, 0), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_start(), -EINVAL);
	ck_assert_int_eq(prunner_start(), -EINVAL); /* and again: no side effect */
	ck_assert_ptr_null(prunner_get_dict());
	prunner_cleanup(); /* harmless with nothing to free */
	ck_assert_int_eq(prunner_start(), -EINVAL);
	ck_assert_int_eq(atomic_load(&g_module_ran), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Arguments (no run needed)                                                */
/* ------------------------------------------------------------------------ */

START_TEST(test_new_null)
{
	ck_assert_int_eq(prunner_new(NULL), -EINVAL);
	/* and a working prunner_new afterwards */
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_ptr_nonnull(r);
	prunner_free(r);
}
END_TEST

START_TEST(test_null_runner_handles)
{
	struct prunner_stats st;
	ck_assert_int_eq(prunner_set_workers(NULL, 1), -EINVAL);
	ck_assert_int_eq(prunner_get_workers(NULL), -EINVAL);
	ck_assert_int_eq(prunner_set_debug(NULL, true), -EINVAL);
	ck_assert_int_eq(prunner_set_hooks(NULL, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(prunner_set_termination(NULL, PRUNNER_TERMINATION_FLAGS), -EINVAL);
	ck_assert_int_eq(prunner_set_userdata(NULL, &st), -EINVAL);
	ck_assert_ptr_null(prunner_userdata(NULL));
	ck_assert_int_eq(prunner_stop_workers(NULL), -EINVAL);
	ck_assert_int_eq(prunner_get_stats(NULL, &st), -EINVAL);
	ck_assert_int_eq(prunner_post(NULL, nop_task, NULL, 0), -EINVAL);
	ck_assert_int_eq(prunner_queue_put(NULL, 1, NULL, 0), -EINVAL);
	ck_assert_int_eq(prunner_run(NULL), -EINVAL);
	/* Harmless NULL handles. */
	ck_assert_ptr_null(prunner_dict(NULL));
	ck_assert_uint_eq(prunner_dict_len(NULL), 0);
	prunner_lock(NULL);
	prunner_unlock(NULL);
	prunner_lock(NULL); /* twice: a no-op cannot deadlock */
	prunner_unlock(NULL);
	prunner_free(NULL);
	/* prunner_current() / prunner_worker_index() on a plain thread. */
	ck_assert_ptr_null(prunner_current());
	ck_assert_int_eq(prunner_worker_index(), -1);
}
END_TEST

START_TEST(test_set_workers_bad)
{
	prunner_t *r = new_runner(3);
	ck_assert_int_eq(prunner_set_workers(r, -1), -EINVAL);
	ck_assert_int_eq(prunner_set_workers(r, INT_MIN), -EINVAL);
	ck_assert_int_eq(prunner_set_workers(r, PRUNNER_MAX_WORKERS + 1), -EINVAL);
	ck_assert_int_eq(prunner_set_workers(r, INT_MAX), -EINVAL);
	/* a failed call has no effect */
	ck_assert_int_eq(prunner_get_workers(r), 3);
	/* the boundaries are accepted */
	ck_assert_int_eq(prunner_set_workers(r, PRUNNER_MAX_WORKERS), 0);
	ck_assert_int_eq(prunner_get_workers(r), PRUNNER_MAX_WORKERS);
	ck_assert_int_eq(prunner_set_workers(r, 1), 0);
	ck_assert_int_eq(prunner_get_workers(r), 1);
	ck_assert_int_eq(prunner_set_workers(r, 3), 0);
	ck_assert_int_eq(prunner_set_workers(r, -5), -EINVAL);
	assert_usable(r);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_int_eq(st.workers, 3);
	prunner_free(r);
}
END_TEST

START_TEST(test_set_termination_bad)
{
	prunner_t *r = new_runner(2);
	ck_assert_int_eq(prunner_set_termination(r, (enum prunner_termination)2), -EINVAL);
	ck_assert_int_eq(prunner_set_termination(r, (enum prunner_termination)99), -EINVAL);
	ck_assert_int_eq(prunner_set_termination(r, (enum prunner_termination)-1), -EINVAL);
	ck_assert_int_eq(prunner_set_termination(r, (enum prunner_termination)INT_MAX), -EINVAL);
	assert_usable(r);
	ck_assert_int_eq(prunner_set_termination(r, PRUNNER_TERMINATION_COUNTER), 0);
	ck_assert_int_eq(prunner_set_termination(r, (enum prunner_termination)7), -EINVAL);
	assert_usable(r);
	ck_assert_int_eq(prunner_set_termination(r, PRUNNER_TERMINATION_FLAGS), 0);
	assert_usable(r);
	prunner_free(r);
}
END_TEST

static int class_run(prunner_t *r, const struct prunner_task *t)
{
	(void)r;
	(void)t;
	return 0;
}

START_TEST(test_new_class_bad)
{
	struct prunner_class no_run = {NULL, NULL, NULL};
	struct prunner_class ok = {NULL, class_run, NULL};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, 2, false, &no_run, NULL), -EINVAL);
	ck_assert_int_eq(prunner_new_class(&r, 2, false, NULL, NULL), -EINVAL);
	ck_assert_int_eq(prunner_new_class(NULL, 2, false, &ok, NULL), -EINVAL);
	ck_assert_int_eq(prunner_new_class(&r, -1, false, &ok, NULL), -EINVAL);
	ck_assert_int_eq(prunner_new_class(&r, PRUNNER_MAX_WORKERS + 1, false, &ok, NULL), -EINVAL);
	/* and a good one works afterwards */
	r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, 2, false, &ok, NULL), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(prunner_get_workers(r), 2);
	ck_assert_int_eq(prunner_run(r), 0);
	prunner_free(r);
}
END_TEST

static atomic_int g_init_begins;
static void init_begin(void)
{
	atomic_fetch_add(&g_init_begins, 1);
}

START_TEST(test_init_bad)
{
	atomic_store(&g_init_begins, 0);
	ck_assert_int_eq(prunner_init(-1, false, NULL, NULL), -EINVAL);
	ck_assert_int_eq(prunner_init(PRUNNER_MAX_WORKERS + 1, false, NULL, NULL), -EINVAL);
	ck_assert_int_eq(prunner_init(INT_MIN, false, NULL, NULL), -EINVAL);

	/* A good init, then bad ones: the earlier runner (and dict) is kept. */
	ck_assert_int_eq(prunner_init(2, false, init_begin, NULL), 0);
	struct prunner_dict *d = prunner_get_dict();
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(prunner_dict_set_int(d, "kept", 7), 0);
	ck_assert_int_eq(prunner_init(-1, false, NULL, NULL), -EINVAL);
	ck_assert_int_eq(prunner_init(PRUNNER_MAX_WORKERS + 1, false, NULL, NULL), -EINVAL);
	ck_assert_ptr_eq(prunner_get_dict(), d);
	int64_t v = 0;
	ck_assert_int_eq(prunner_dict_get_int(prunner_get_dict(), "kept", &v), 0);
	ck_assert_int_eq(v, 7);
	/* ... and still starts with the hooks of the good init */
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(atomic_load(&g_init_begins), 1);
	ck_assert_int_eq(prunner_dict_get_int(prunner_get_dict(), "kept", &v), 0);
	ck_assert_int_eq(v, 7);
	prunner_cleanup();
}
END_TEST

START_TEST(test_post_task_outside_run)
{
	atomic_store(&g_module_ran, 0);
	/* after init, before start */
	ck_assert_int_eq(prunner_init(2, false, NULL, NULL), 0);
	ck_assert_int_eq(prunner_post_task(module_count_task, NULL, 0), PRUNNER_ENORUN);
	int x = 5;
	ck_assert_int_eq(prunner_post_task(module_count_task, &x, sizeof x), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_start(), 0); /* begin NULL: posts nothing */
	ck_assert_int_eq(atomic_load(&g_module_ran), 0);
	/* after start returned */
	ck_assert_int_eq(prunner_post_task(module_count_task, NULL, 0), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(atomic_load(&g_module_ran), 0);
	prunner_cleanup();
	/* after cleanup */
	ck_assert_int_eq(prunner_post_task(module_count_task, NULL, 0), PRUNNER_ENORUN);
	ck_assert_int_eq(atomic_load(&g_module_ran), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* PRUNNER_WORKERS                                                          */
/* ------------------------------------------------------------------------ */

static int workers_with_env(const char *value)
{
	if (value == NULL)
		unsetenv("PRUNNER_WORKERS");
	else
		setenv("PRUNNER_WORKERS", value, 1);
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	int n = prunner_get_workers(r);
	/* set_workers(0) resolves the same way */
	ck_assert_int_eq(prunner_set_workers(r, 0), 0);
	ck_assert_int_eq(prunner_get_workers(r), n);
	prunner_free(r);
	return n;
}

START_TEST(test_env_workers_valid)
{
	const char *vals[] = {"1", "3", "5", "64", "1024"};
	const int want[] = {1, 3, 5, 64, 1024};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		int n = workers_with_env(vals[i]);
		ck_assert_msg(n == want[i], "PRUNNER_WORKERS=\"%s\": prunner_get_workers() = %d", vals[i], n);
	}
	unsetenv("PRUNNER_WORKERS");
}
END_TEST

START_TEST(test_env_workers_invalid)
{
	int base = workers_with_env(NULL);
	ck_assert_msg(base >= 1 && base <= PRUNNER_MAX_WORKERS, "default worker count %d", base);
	const char *bad[] = {"", "0", "-1", "-3", "abc", "5x", "x5", "1025", "2147483648", "99999999999999999999", "1.5"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int n = workers_with_env(bad[i]);
		ck_assert_msg(n == base, "PRUNNER_WORKERS=\"%s\": prunner_get_workers() = %d, CPU default %d", bad[i], n,
		              base);
	}
	unsetenv("PRUNNER_WORKERS");
}
END_TEST

START_TEST(test_env_workers_explicit_wins)
{
	setenv("PRUNNER_WORKERS", "5", 1);
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_get_workers(r), 5);
	ck_assert_int_eq(prunner_set_workers(r, 2), 0);
	ck_assert_int_eq(prunner_get_workers(r), 2);
	prunner_free(r);

	/* prunner_new_class with n_workers 0 honours it too */
	struct prunner_class cls = {NULL, class_run, NULL};
	r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, 0, false, &cls, NULL), 0);
	ck_assert_int_eq(prunner_get_workers(r), 5);
	prunner_free(r);
	r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, 4, false, &cls, NULL), 0);
	ck_assert_int_eq(prunner_get_workers(r), 4);
	prunner_free(r);
	unsetenv("PRUNNER_WORKERS");
}
END_TEST

/* A run with PRUNNER_WORKERS=3 really has 3 workers. */
static atomic_int g_bad_index;
static int index_task(void *data)
{
	int w = *(int *)data;
	int idx = prunner_worker_index();
	if (idx < 0 || idx >= w)
		atomic_fetch_add(&g_bad_index, 1);
	atomic_fetch_add(&g_ran, 1);
	return 0;
}

static void index_begin(prunner_t *r, void *arg)
{
	int w = *(int *)arg;
	for (int i = 0; i < 200; i++)
		if (prunner_post(r, index_task, &w, sizeof w) != 0)
			atomic_fetch_add(&g_bad_index, 1000);
}

START_TEST(test_env_workers_run)
{
	setenv("PRUNNER_WORKERS", "3", 1);
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	int w = 3;
	atomic_store(&g_ran, 0);
	atomic_store(&g_bad_index, 0);
	ck_assert_int_eq(prunner_set_hooks(r, index_begin, NULL, &w), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_int_eq(st.workers, 3);
	ck_assert_int_eq(atomic_load(&g_ran), 200);
	ck_assert_int_eq(atomic_load(&g_bad_index), 0);
	prunner_free(r);
	unsetenv("PRUNNER_WORKERS");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Errors during runs (looped over worker counts)                           */
/* ------------------------------------------------------------------------ */

/* Bad posts from the begin hook (program thread) and from a task (worker
 * thread).  Codes are recorded, asserted after the run. */
enum { BP_FN_NULL, BP_DATA_NULL, BP_TOO_BIG, BP_TOO_BIG_HUGE, BP_OK_NULL0, BP_OK_PTR0, BP_N };

struct badpost_ctx {
	unsigned char *big; /* PRUNNER_MAX_PAYLOAD + 1 bytes */
	int begin_rc[BP_N];
	atomic_int task_rc[BP_N];
	atomic_int task_ran;
	atomic_int data_not_null;
};

static struct badpost_ctx *g_bp;

static int null_data_task(void *data)
{
	if (data != NULL)
		atomic_fetch_add(&g_bp->data_not_null, 1);
	atomic_fetch_add(&g_ran, 1);
	return 0;
}

static void bad_posts(prunner_t *r, struct badpost_ctx *c, int out[BP_N])
{
	int dummy = 1;
	out[BP_FN_NULL] = prunner_post(r, NULL, &dummy, sizeof dummy);
	out[BP_DATA_NULL] = prunner_post(r, count_task, NULL, 4);
	out[BP_TOO_BIG] = prunner_post(r, count_task, c->big, PRUNNER_MAX_PAYLOAD + 1);
	out[BP_TOO_BIG_HUGE] = prunner_post(r, count_task, c->big, SIZE_MAX);
	out[BP_OK_NULL0] = prunner_post(r, null_data_task, NULL, 0);
	out[BP_OK_PTR0] = prunner_post(r, null_data_task, &dummy, 0);
}

static int badpost_task(void *data)
{
	struct badpost_ctx *c = *(struct badpost_ctx **)data;
	int out[BP_N];
	bad_posts(prunner_current(), c, out);
	for (int i = 0; i < BP_N; i++)
		atomic_store(&c->task_rc[i], out[i]);
	atomic_fetch_add(&c->task_ran, 1);
	return 0;
}

static void badpost_begin(prunner_t *r, void *arg)
{
	struct badpost_ctx *c = arg;
	bad_posts(r, c, c->begin_rc);
	prunner_post(r, badpost_task, &c, sizeof c);
}

static void check_bad_codes(const int *rc, const char *where, int w)
{
	ck_assert_msg(rc[BP_FN_NULL] == -EINVAL, "%s w=%d: fn NULL gave %d", where, w, rc[BP_FN_NULL]);
	ck_assert_msg(rc[BP_DATA_NULL] == -EINVAL, "%s w=%d: data NULL size 4 gave %d", where, w, rc[BP_DATA_NULL]);
	ck_assert_msg(rc[BP_TOO_BIG] == -E2BIG, "%s w=%d: size MAX+1 gave %d", where, w, rc[BP_TOO_BIG]);
	ck_assert_msg(rc[BP_TOO_BIG_HUGE] == -E2BIG, "%s w=%d: size SIZE_MAX gave %d", where, w, rc[BP_TOO_BIG_HUGE]);
	ck_assert_msg(rc[BP_OK_NULL0] == 0, "%s w=%d: NULL size 0 gave %d", where, w, rc[BP_OK_NULL0]);
	ck_assert_msg(rc[BP_OK_PTR0] == 0, "%s w=%d: ptr size 0 gave %d", where, w, rc[BP_OK_PTR0]);
}

START_TEST(test_post_bad_args)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	struct badpost_ctx c;
	memset(&c, 0, sizeof c);
	c.big = calloc(PRUNNER_MAX_PAYLOAD + 1, 1);
	ck_assert_ptr_nonnull(c.big);
	g_bp = &c;
	atomic_store(&g_ran, 0);
	for (int i = 0; i < BP_N; i++)
		atomic_store(&c.task_rc[i], 12345);
	ck_assert_int_eq(prunner_set_hooks(r, badpost_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	check_bad_codes(c.begin_rc, "begin", w);
	int trc[BP_N];
	for (int i = 0; i < BP_N; i++)
		trc[i] = atomic_load(&c.task_rc[i]);
	check_bad_codes(trc, "task", w);
	ck_assert_int_eq(atomic_load(&c.task_ran), 1);
	/* Only the accepted size-0 tasks ran (2 from begin, 2 from the task);
	 * the rejected count_task posts never ran. */
	ck_assert_int_eq(atomic_load(&g_ran), 4);
	ck_assert_int_eq(atomic_load(&c.data_not_null), 0);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.posted, 5);
	ck_assert_uint_eq(st.executed, 5);
	ck_assert_uint_eq(st.failed, 0);
	assert_usable(r);
	free(c.big);
	prunner_free(r);
}
END_TEST

/* A payload of exactly PRUNNER_MAX_PAYLOAD bytes, posted from the begin hook
 * and from a task; the poster scribbles over its buffer right after the post
 * returns; every task must still see the exact pattern. */
#define MAXP_COPIES 3

static unsigned char pattern_byte(size_t i, unsigned seed)
{
	return (unsigned char)((i * 131u + seed * 7u + (i >> 11) + (i >> 17)) & 0xffu);
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern_byte(i, seed);
}

static atomic_int g_maxp_ok, g_maxp_bad, g_maxp_post_err;

static int maxp_verify_task(void *data)
{
	unsigned char *p = data;
	/* The seed is stored in the last 4 bytes, outside the pattern area. */
	unsigned seed;
	memcpy(&seed, p + PRUNNER_MAX_PAYLOAD - sizeof seed, sizeof seed);
	size_t bad = 0;
	for (size_t i = 0; i < PRUNNER_MAX_PAYLOAD - sizeof seed; i++)
		if (p[i] != pattern_byte(i, seed))
			bad++;
	if (bad == 0 && seed < 1000)
		atomic_fetch_add(&g_maxp_ok, 1);
	else
		atomic_fetch_add(&g_maxp_bad, 1);
	/* the copy is writable */
	memset(p, 0xa5, PRUNNER_MAX_PAYLOAD);
	return 0;
}

static void post_maxp(prunner_t *r, unsigned seed)
{
	unsigned char *buf = malloc(PRUNNER_MAX_PAYLOAD);
	if (buf == NULL) {
		atomic_fetch_add(&g_maxp_post_err, 1);
		return;
	}
	fill_pattern(buf, PRUNNER_MAX_PAYLOAD - sizeof seed, seed);
	memcpy(buf + PRUNNER_MAX_PAYLOAD - sizeof seed, &seed, sizeof seed);
	if (prunner_post(r, maxp_verify_task, buf, PRUNNER_MAX_PAYLOAD) != 0)
		atomic_fetch_add(&g_maxp_post_err, 1);
	memset(buf, 0, PRUNNER_MAX_PAYLOAD); /* caller may reuse its buffer at once */
	free(buf);
}

static int maxp_poster_task(void *data)
{
	unsigned seed = *(unsigned *)data;
	post_maxp(prunner_current(), seed);
	return 0;
}

static void maxp_begin(prunner_t *r, void *arg)
{
	(void)arg;
	for (unsigned s = 0; s < MAXP_COPIES; s++)
		post_maxp(r, s);
	for (unsigned s = 100; s < 100 + MAXP_COPIES; s++)
		if (prunner_post(r, maxp_poster_task, &s, sizeof s) != 0)
			atomic_fetch_add(&g_maxp_post_err, 1);
}

START_TEST(test_max_payload)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	atomic_store(&g_maxp_ok, 0);
	atomic_store(&g_maxp_bad, 0);
	atomic_store(&g_maxp_post_err, 0);
	ck_assert_int_eq(prunner_set_hooks(r, maxp_begin, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_maxp_post_err), 0);
	ck_assert_int_eq(atomic_load(&g_maxp_bad), 0);
	ck_assert_int_eq(atomic_load(&g_maxp_ok), 2 * MAXP_COPIES);
	assert_usable(r);
	prunner_free(r);
}
END_TEST

/* Posts outside a run: before the first run and after prunner_run returned,
 * from the test thread and from another thread; none of them ever runs. */
static void *post_from_thread(void *arg)
{
	prunner_t *r = arg;
	int v = 1000;
	intptr_t rc = prunner_post(r, count_task, &v, sizeof v);
	return (void *)rc;
}

static int g_end_post_rc;
static atomic_int g_end_calls, g_begin_calls;

static void counting_begin(prunner_t *r, void *arg)
{
	(void)r;
	(void)arg;
	atomic_fetch_add(&g_begin_calls, 1);
}

static void counting_end(prunner_t *r, void *arg)
{
	(void)r;
	(void)arg;
	atomic_fetch_add(&g_end_calls, 1);
}

START_TEST(test_post_outside_run)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	int v = 1;
	atomic_store(&g_ran, 0);
	atomic_store(&g_begin_calls, 0);
	atomic_store(&g_end_calls, 0);

	/* before the first run */
	ck_assert_int_eq(prunner_post(r, count_task, &v, sizeof v), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_post(r, count_task, NULL, 0), PRUNNER_ENORUN);
	pthread_t th;
	void *trc;
	ck_assert_int_eq(pthread_create(&th, NULL, post_from_thread, r), 0);
	ck_assert_int_eq(pthread_join(th, &trc), 0);
	ck_assert_int_eq((int)(intptr_t)trc, PRUNNER_ENORUN);
	/* bad arguments outside a run: still an error, still not queued */
	int e = prunner_post(r, NULL, NULL, 0);
	ck_assert_msg(e == -EINVAL || e == PRUNNER_ENORUN, "fn NULL outside run gave %d", e);

	ck_assert_int_eq(prunner_set_hooks(r, counting_begin, counting_end, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_ran), 0);
	ck_assert_int_eq(atomic_load(&g_begin_calls), 1);
	ck_assert_int_eq(atomic_load(&g_end_calls), 1);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.posted, 0);
	ck_assert_uint_eq(st.executed, 0);

	/* after prunner_run returned */
	ck_assert_int_eq(prunner_post(r, count_task, &v, sizeof v), PRUNNER_ENORUN);
	ck_assert_int_eq(pthread_create(&th, NULL, post_from_thread, r), 0);
	ck_assert_int_eq(pthread_join(th, &trc), 0);
	ck_assert_int_eq((int)(intptr_t)trc, PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_ran), 0);
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.executed, 0);

	/* after stop_workers too */
	ck_assert_int_eq(prunner_stop_workers(r), 0);
	ck_assert_int_eq(prunner_post(r, count_task, &v, sizeof v), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_ran), 0);
	ck_assert_int_eq(atomic_load(&g_begin_calls), 3);
	ck_assert_int_eq(atomic_load(&g_end_calls), 3);
	assert_usable(r);
	prunner_free(r);
}
END_TEST

/* The end hook runs after the run was found finished: the run is no longer
 * active, so a post from it gives PRUNNER_ENORUN and never runs. */
static void end_posting(prunner_t *r, void *arg)
{
	(void)arg;
	int v = 1;
	g_end_post_rc = prunner_post(r, count_task, &v, sizeof v);
}

START_TEST(test_post_from_end_hook)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	atomic_store(&g_ran, 0);
	g_end_post_rc = 12345;
	ck_assert_int_eq(prunner_set_hooks(r, NULL, end_posting, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_msg(g_end_post_rc == PRUNNER_ENORUN, "w=%d: post from end hook gave %d (%s)", w, g_end_post_rc,
	              prunner_strerror(g_end_post_rc));
	ck_assert_int_eq(atomic_load(&g_ran), 0);
	ck_assert_int_eq(prunner_set_hooks(r, NULL, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_ran), 0);
	assert_usable(r);
	prunner_free(r);
}
END_TEST

/* prunner_run on the same runner from its begin hook and from its task:
 * -EBUSY, and the nested attempt does not call begin/end. */
struct nested_ctx {
	prunner_t *r;
	int begin_run_rc;
	atomic_int task_run_rc;
	atomic_int task_stop_rc;
	atomic_int begins, ends;
};

static int nested_task(void *data)
{
	struct nested_ctx *c = *(struct nested_ctx **)data;
	atomic_store(&c->task_run_rc, prunner_run(c->r));
	atomic_store(&c->task_stop_rc, prunner_stop_workers(c->r));
	return 0;
}

static void nested_begin(prunner_t *r, void *arg)
{
	struct nested_ctx *c = arg;
	int n = atomic_fetch_add(&c->begins, 1);
	if (n > 0)
		return; /* a nested run must not get here */
	c->begin_run_rc = prunner_run(r);
	prunner_post(r, nested_task, &c, sizeof c);
}

static void nested_end(prunner_t *r, void *arg)
{
	struct nested_ctx *c = arg;
	(void)r;
	atomic_fetch_add(&c->ends, 1);
}

START_TEST(test_run_from_inside)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	struct nested_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.begin_run_rc = 12345;
	atomic_store(&c.task_run_rc, 12345);
	atomic_store(&c.task_stop_rc, 12345);
	ck_assert_int_eq(prunner_set_hooks(r, nested_begin, nested_end, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_msg(c.begin_run_rc == -EBUSY, "w=%d: prunner_run from begin gave %d", w, c.begin_run_rc);
	ck_assert_msg(atomic_load(&c.task_run_rc) == -EBUSY, "w=%d: prunner_run from a task gave %d", w,
	              atomic_load(&c.task_run_rc));
	ck_assert_msg(atomic_load(&c.task_stop_rc) == -EBUSY, "w=%d: prunner_stop_workers from a task gave %d", w,
	              atomic_load(&c.task_stop_rc));
	ck_assert_int_eq(atomic_load(&c.begins), 1);
	ck_assert_int_eq(atomic_load(&c.ends), 1);
	assert_usable(r);
	prunner_free(r);
}
END_TEST

/* Setters and other run-time-forbidden calls during a run, from the begin
 * hook, from a task and from another program thread (kept inside the run by
 * a gate task): all -EBUSY and without effect. */
enum { SR_SET_WORKERS, SR_SET_HOOKS, SR_SET_TERM, SR_STOP, SR_STATS, SR_RUN, SR_N };
static const char *sr_names[SR_N] = {"set_workers", "set_hooks", "set_termination", "stop_workers", "get_stats",
                                     "run"};

struct setters_ctx {
	prunner_t *r;
	int w;
	int begin_rc[SR_N];
	atomic_int task_rc[SR_N];
	atomic_int thread_rc[SR_N];
	atomic_int gate;
	pthread_t th;
	int th_created;
	atomic_int begins, ends, post_err;
};

static void forbidden_calls(struct setters_ctx *c, int out[SR_N])
{
	struct prunner_stats st;
	out[SR_SET_WORKERS] = prunner_set_workers(c->r, c->w == 1 ? 2 : 1);
	out[SR_SET_HOOKS] = prunner_set_hooks(c->r, NULL, NULL, NULL);
	out[SR_SET_TERM] = prunner_set_termination(c->r, PRUNNER_TERMINATION_COUNTER);
	out[SR_STOP] = prunner_stop_workers(c->r);
	out[SR_STATS] = prunner_get_stats(c->r, &st);
	out[SR_RUN] = prunner_run(c->r);
}

static int setters_task(void *data)
{
	struct setters_ctx *c = *(struct setters_ctx **)data;
	int out[SR_N];
	forbidden_calls(c, out);
	for (int i = 0; i < SR_N; i++)
		atomic_store(&c->task_rc[i], out[i]);
	return 0;
}

static void *setters_thread(void *arg)
{
	struct setters_ctx *c = arg;
	int out[SR_N];
	forbidden_calls(c, out);
	for (int i = 0; i < SR_N; i++)
		atomic_store(&c->thread_rc[i], out[i]);
	atomic_store_explicit(&c->gate, 1, memory_order_release); /* pairs with gate_task's acquire */
	return NULL;
}

static void setters_begin(prunner_t *r, void *arg)
{
	struct setters_ctx *c = arg;
	atomic_fetch_add(&c->begins, 1);
	forbidden_calls(c, c->begin_rc);
	atomic_int *g = &c->gate;
	if (prunner_post(r, gate_task, &g, sizeof g) != 0)
		atomic_fetch_add(&c->post_err, 1);
	if (prunner_post(r, setters_task, &c, sizeof c) != 0)
		atomic_fetch_add(&c->post_err, 1);
	c->th_created = pthread_create(&c->th, NULL, setters_thread, c) == 0;
	if (!c->th_created)
		atomic_store_explicit(&c->gate, 1, memory_order_release);
}

static void setters_end(prunner_t *r, void *arg)
{
	struct setters_ctx *c = arg;
	(void)r;
	atomic_fetch_add(&c->ends, 1);
}

START_TEST(test_setters_during_run)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	ck_assert_int_eq(prunner_set_termination(r, PRUNNER_TERMINATION_FLAGS), 0);
	struct setters_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	c->w = w;
	ck_assert_int_eq(prunner_set_hooks(r, setters_begin, setters_end, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(c->th_created, 1);
	ck_assert_int_eq(pthread_join(c->th, NULL), 0);
	ck_assert_int_eq(atomic_load(&c->post_err), 0);
	for (int i = 0; i < SR_N; i++) {
		ck_assert_msg(c->begin_rc[i] == -EBUSY, "w=%d: %s from begin gave %d", w, sr_names[i], c->begin_rc[i]);
		ck_assert_msg(atomic_load(&c->task_rc[i]) == -EBUSY, "w=%d: %s from a task gave %d", w, sr_names[i],
		              atomic_load(&c->task_rc[i]));
		ck_assert_msg(atomic_load(&c->thread_rc[i]) == -EBUSY, "w=%d: %s from another thread gave %d", w,
		              sr_names[i], atomic_load(&c->thread_rc[i]));
	}
	ck_assert_int_eq(atomic_load(&c->begins), 1);
	ck_assert_int_eq(atomic_load(&c->ends), 1);
	/* No effect: same worker count, same hooks (begin/end run again). */
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_int_eq(st.workers, w);
	ck_assert_uint_eq(st.executed, 2);
	ck_assert_int_eq(prunner_get_workers(r), w);
	atomic_store(&c->gate, 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(pthread_join(c->th, NULL), 0);
	ck_assert_int_eq(atomic_load(&c->begins), 2);
	ck_assert_int_eq(atomic_load(&c->ends), 2);
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_int_eq(st.workers, w);
	assert_usable(r);
	free(c);
	prunner_free(r);
}
END_TEST

/* prunner_free during a run (from a task, from another thread) must refuse
 * and leave the runner valid. */
struct freeing_ctx {
	prunner_t *r;
	atomic_int gate;
	pthread_t th;
	int th_created;
	atomic_int after_free_ok;
};

static int free_from_task(void *data)
{
	struct freeing_ctx *c = *(struct freeing_ctx **)data;
	prunner_free(c->r);
	/* still valid: posting into the active run works */
	int v = 1;
	if (prunner_post(c->r, count_task, &v, sizeof v) == 0)
		atomic_fetch_add(&c->after_free_ok, 1);
	return 0;
}

static void *free_from_thread(void *arg)
{
	struct freeing_ctx *c = arg;
	prunner_free(c->r);
	int v = 1;
	if (prunner_post(c->r, count_task, &v, sizeof v) == 0)
		atomic_fetch_add(&c->after_free_ok, 1);
	atomic_store_explicit(&c->gate, 1, memory_order_release);
	return NULL;
}

static void freeing_begin(prunner_t *r, void *arg)
{
	struct freeing_ctx *c = arg;
	atomic_int *g = &c->gate;
	prunner_post(r, gate_task, &g, sizeof g);
	prunner_post(r, free_from_task, &c, sizeof c);
	c->th_created = pthread_create(&c->th, NULL, free_from_thread, c) == 0;
	if (!c->th_created)
		atomic_store_explicit(&c->gate, 1, memory_order_release);
}

START_TEST(test_free_during_run_refused)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	struct freeing_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	atomic_store(&g_ran, 0);
	ck_assert_int_eq(prunner_set_hooks(r, freeing_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(c.th_created, 1);
	ck_assert_int_eq(pthread_join(c.th, NULL), 0);
	ck_assert_int_eq(atomic_load(&c.after_free_ok), 2);
	ck_assert_int_eq(atomic_load(&g_ran), 2);
	assert_usable(r);
	prunner_free(r);
}
END_TEST

/* prunner_queue_put on a runner made with prunner_new(): -EINVAL even
 * during a run, and nothing runs. */
static int g_qp_rc[3];
static void qp_begin(prunner_t *r, void *arg)
{
	(void)arg;
	int v = 3;
	g_qp_rc[0] = prunner_queue_put(r, 1, &v, sizeof v);
	g_qp_rc[1] = prunner_queue_put(r, 0, NULL, 0);
	g_qp_rc[2] = prunner_queue_put(r, -7, &v, 1);
}

START_TEST(test_queue_put_plain_runner)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w);
	ck_assert_int_eq(prunner_set_hooks(r, qp_begin, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(g_qp_rc[i] == -EINVAL, "w=%d: queue_put #%d on a plain runner gave %d", w, i, g_qp_rc[i]);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.posted, 0);
	ck_assert_uint_eq(st.executed, 0);
	assert_usable(r);
	prunner_free(r);
}
END_TEST

/* Module API bad arguments inside a start. */
static int g_mod_rc[5];
static void mod_bad_begin(void)
{
	int v = 1;
	g_mod_rc[0] = prunner_post_task(NULL, &v, sizeof v);
	g_mod_rc[1] = prunner_post_task(module_count_task, NULL, 8);
	static unsigned char big[PRUNNER_MAX_PAYLOAD + 1];
	g_mod_rc[2] = prunner_post_task(module_count_task, big, sizeof big);
	g_mod_rc[3] = prunner_start();
	/* Wrong in two ways: -EINVAL comes before -E2BIG (prunner.h). */
	g_mod_rc[4] = prunner_post_task(module_count_task, NULL, sizeof big);
}

START_TEST(test_module_bad_args)
{
	int w = WORKERS[_i];
	atomic_store(&g_module_ran, 0);
	ck_assert_int_eq(prunner_init(w, false, mod_bad_begin, NULL), 0);
	ck_assert_int_eq(prunner_start(), 0);
	ck_assert_int_eq(g_mod_rc[0], -EINVAL);
	ck_assert_int_eq(g_mod_rc[1], -EINVAL);
	ck_assert_int_eq(g_mod_rc[2], -E2BIG);
	ck_assert_int_eq(g_mod_rc[3], -EBUSY);
	ck_assert_int_eq(g_mod_rc[4], -EINVAL);
	ck_assert_int_eq(atomic_load(&g_module_ran), 0);
	prunner_cleanup();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A worker thread that cannot be created                                   */
/* ------------------------------------------------------------------------ */

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

#ifndef UNDER_SANITIZER
static void *noop_thread(void *arg)
{
	return arg;
}

/* Threads and virtual size (kB) of this process, -1 if unknown. */
static long proc_status(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long v = -1;
	size_t len = strlen(field);
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}
#endif

/*
 * prunner_run with PRUNNER_MAX_WORKERS workers under an address-space limit
 * that leaves room for only a few thread stacks: the run cannot start.  The
 * contract: -EAGAIN (or -ENOMEM), nothing started (no thread left behind),
 * begin and end not called; and once memory is back, the runner works.
 * Skipped under sanitizers (their shadow memory cannot live under a small
 * RLIMIT_AS).
 */
START_TEST(test_thread_creation_failure)
{
#ifdef UNDER_SANITIZER
	return;
#else
	/* baseline after one create/join, so lazily started helper threads count */
	pthread_t t0;
	ck_assert_int_eq(pthread_create(&t0, NULL, noop_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(t0, NULL), 0);
	long threads0 = proc_status("Threads");
	long vm_kb = proc_status("VmSize");
	if (threads0 < 0 || vm_kb < 0)
		return; /* no /proc */

	prunner_t *r = new_runner(PRUNNER_MAX_WORKERS);
	atomic_store(&g_begin_calls, 0);
	atomic_store(&g_end_calls, 0);
	ck_assert_int_eq(prunner_set_hooks(r, counting_begin, counting_end, NULL), 0);

	struct rlimit old, lim;
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)vm_kb * 1024 + ((rlim_t)48 << 20); /* 48 MiB of headroom */
	if (old.rlim_cur != RLIM_INFINITY && lim.rlim_cur > old.rlim_cur)
		lim.rlim_cur = old.rlim_cur;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
	int rc = prunner_run(r);
	long threads_after = proc_status("Threads");
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);

	ck_assert_msg(rc == -EAGAIN || rc == -ENOMEM, "run that cannot create %d workers returned %d (%s)",
	              PRUNNER_MAX_WORKERS, rc, prunner_strerror(rc));
	ck_assert_msg(threads_after == threads0, "%ld threads before, %ld after the failed run", threads0,
	              threads_after);
	ck_assert_int_eq(atomic_load(&g_begin_calls), 0);
	ck_assert_int_eq(atomic_load(&g_end_calls), 0);
	/* not running: settings may be changed, posts are refused */
	ck_assert_int_eq(prunner_post(r, count_task, NULL, 0), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_set_workers(r, 2), 0);
	assert_usable(r);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_int_eq(st.workers, 2);
	prunner_free(r);
	ck_assert_int_eq(proc_status("Threads"), threads0);
#endif
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	/* Must run in a process where prunner_init() was never called: first,
	 * and (in the default CK_FORK mode) in its own process. */
	tc = tcase_create("before_init");
	tcase_add_test(tc, test_start_before_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("args");
	tcase_add_test(tc, test_new_null);
	tcase_add_test(tc, test_null_runner_handles);
	tcase_add_test(tc, test_set_workers_bad);
	tcase_add_test(tc, test_set_termination_bad);
	tcase_add_test(tc, test_new_class_bad);
	tcase_add_test(tc, test_init_bad);
	tcase_add_test(tc, test_post_task_outside_run);
	suite_add_tcase(s, tc);

	tc = tcase_create("env");
	tcase_add_test(tc, test_env_workers_valid);
	tcase_add_test(tc, test_env_workers_invalid);
	tcase_add_test(tc, test_env_workers_explicit_wins);
	tcase_add_test(tc, test_env_workers_run);
	suite_add_tcase(s, tc);

	tc = tcase_create("in_run");
	tcase_add_loop_test(tc, test_post_bad_args, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_max_payload, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_post_outside_run, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_post_from_end_hook, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_run_from_inside, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_setters_during_run, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_free_during_run_refused, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_queue_put_plain_runner, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_module_bad_args, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	/* Lowers RLIMIT_AS for a moment: own process in fork mode; the limit
	 * is restored before any assertion. */
	tc = tcase_create("resources");
	tcase_add_test(tc, test_thread_creation_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	SRunner *sr = srunner_create(api_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
