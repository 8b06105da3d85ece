/*
 * test_lowlevel.c - the labelled-task API (struct prunner_class,
 * prunner_new_class, prunner_queue_put): prunner.py's ParallelTaskRunner,
 * where begin(options) / run(task) / end() are supplied by the program and
 * run() dispatches on labels.  Links only the public library.
 *
 * Rules: ck_assert only on the test's own thread.  begin/end run on the
 * thread calling prunner_run (the test thread) and record into plain
 * variables; run() runs on workers and records into atomics or per-task
 * slots; the test asserts after prunner_run returned.  Nothing sleeps; a
 * gate task spins on an atomic flag where a run must stay active.
 */
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prunner.h"
#include "testutil.h"

static const int WORKERS[] = {1, 2, 3, 8, 64};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))

/* ------------------------------------------------------------------------ */
/* The seed's MyRunner: TASK_INIT -> TASK_ADD_ONE -> TASK_DOUBLE -> 2x      */
/* TASK_SUM, with the dict and the lock.                                    */
/* ------------------------------------------------------------------------ */

enum { TASK_INIT = 1, TASK_ADD_ONE, TASK_DOUBLE, TASK_SUM };

struct sum_options {
	int64_t n;
	uint32_t magic;
};

static struct {
	/* begin / end: on the thread calling prunner_run */
	int begin_calls, end_calls, begin_err, end_rc;
	const void *begin_options;
	prunner_t *begin_r, *end_r;
	int64_t end_sum, end_executed;
	/* run(): on workers */
	atomic_llong executed;
	atomic_int errors, bad_label, wrong_runner;
	prunner_t *r;
} S;

static void put64(prunner_t *r, int label, int64_t v)
{
	if (prunner_queue_put(r, label, &v, sizeof v) != 0)
		atomic_fetch_add(&S.errors, 1);
}

static void sum_begin(prunner_t *r, void *options)
{
	const struct sum_options *o = options;
	S.begin_calls++;
	S.begin_options = options;
	S.begin_r = r;
	if (o == NULL || o->magic != 0xc0ffee) {
		S.begin_err++;
		return;
	}
	if (prunner_dict_set_int(prunner_dict(r), "sum", 0) != 0)
		S.begin_err++;
	if (prunner_queue_put(r, TASK_INIT, &o->n, sizeof o->n) != 0)
		S.begin_err++;
}

static int sum_run(prunner_t *r, const struct prunner_task *t)
{
	atomic_fetch_add_explicit(&S.executed, 1, memory_order_relaxed);
	if (r != S.r || prunner_current() != r)
		atomic_fetch_add(&S.wrong_runner, 1);
	if (t->size != sizeof(int64_t) || t->data == NULL) {
		atomic_fetch_add(&S.bad_label, 1);
		return 1;
	}
	int64_t v = *(const int64_t *)t->data;
	switch (t->label) {
	case TASK_INIT:
		for (int64_t i = 0; i < v; i++)
			put64(r, TASK_ADD_ONE, i);
		return 0;
	case TASK_ADD_ONE:
		put64(r, TASK_DOUBLE, v + 1);
		return 0;
	case TASK_DOUBLE:
		put64(r, TASK_SUM, v);
		put64(r, TASK_SUM, v);
		return 0;
	case TASK_SUM: {
		int64_t s = 0;
		prunner_lock(r);
		if (prunner_dict_get_int(prunner_dict(r), "sum", &s) != 0 ||
		    prunner_dict_set_int(prunner_dict(r), "sum", s + v) != 0)
			atomic_fetch_add(&S.errors, 1);
		prunner_unlock(r);
		return 0;
	}
	default:
		atomic_fetch_add(&S.bad_label, 1);
		return 1;
	}
}

static void sum_end(prunner_t *r)
{
	S.end_calls++;
	S.end_r = r;
	S.end_rc = prunner_dict_get_int(prunner_dict(r), "sum", &S.end_sum);
	S.end_executed = atomic_load(&S.executed);
}

static const struct prunner_class SUM_CLASS = {sum_begin, sum_run, sum_end};

static void reset_sum(prunner_t *r)
{
	S.begin_calls = S.end_calls = S.begin_err = 0;
	S.end_rc = 12345;
	S.begin_options = NULL;
	S.begin_r = S.end_r = NULL;
	S.end_sum = S.end_executed = -1;
	atomic_store(&S.executed, 0);
	atomic_store(&S.errors, 0);
	atomic_store(&S.bad_label, 0);
	atomic_store(&S.wrong_runner, 0);
	S.r = r;
}

static void run_and_check_sum(prunner_t *r, int w, struct sum_options *o)
{
	reset_sum(r);
	int rc = prunner_run(r);
	int64_t n = o->n, want = n * (n + 1), tasks = 4 * n + 1;
	ck_assert_msg(rc == 0, "w=%d n=%" PRId64 ": run returned %d", w, n, rc);
	ck_assert_int_eq(S.begin_calls, 1);
	ck_assert_int_eq(S.end_calls, 1);
	ck_assert_int_eq(S.begin_err, 0);
	ck_assert_ptr_eq(S.begin_options, o);
	ck_assert_ptr_eq(S.begin_r, r);
	ck_assert_ptr_eq(S.end_r, r);
	ck_assert_int_eq(atomic_load(&S.errors), 0);
	ck_assert_int_eq(atomic_load(&S.bad_label), 0);
	ck_assert_int_eq(atomic_load(&S.wrong_runner), 0);
	ck_assert_int_eq(S.end_rc, 0);
	ck_assert_msg(S.end_sum == want, "w=%d n=%" PRId64 ": end saw sum %" PRId64 ", expected %" PRId64, w, n,
	              S.end_sum, want);
	ck_assert_msg(S.end_executed == tasks, "w=%d n=%" PRId64 ": end saw %" PRId64 " tasks, expected %" PRId64, w, n,
	              S.end_executed, tasks);
	ck_assert_int_eq(atomic_load(&S.executed), tasks);
	int64_t s = -1;
	ck_assert_int_eq(prunner_dict_get_int(prunner_dict(r), "sum", &s), 0);
	ck_assert_int_eq(s, want);
	check_run_stats(r, w, (uint64_t)tasks, 0);
}

START_TEST(test_seed_example_10_workers)
{
	struct sum_options o = {2000, 0xc0ffee};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, 10, false, &SUM_CLASS, &o), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(prunner_get_workers(r), 10);
	run_and_check_sum(r, 10, &o);
	ck_assert_int_eq(S.end_sum, 4002000);
	prunner_free(r);
}
END_TEST

START_TEST(test_class_sum)
{
	int w = WORKERS[_i];
	struct sum_options o = {0, 0xc0ffee};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &SUM_CLASS, &o), 0);
	ck_assert_int_eq(prunner_get_workers(r), w);
	const int64_t ns[] = {0, 1, 2000};
	for (int mode = 0; mode < 2; mode++) {
		ck_assert_int_eq(prunner_set_termination(r, mode ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS),
		                 0);
		for (int k = 0; k < 3; k++) {
			o.n = ns[k]; /* same options pointer, new contents: begin reads it each run */
			run_and_check_sum(r, w, &o);
		}
	}
	prunner_free(r);
}
END_TEST

/* 50 runs on one class runner. */
START_TEST(test_class_many_runs)
{
	int w = WORKERS[_i];
	struct sum_options o = {0, 0xc0ffee};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &SUM_CLASS, &o), 0);
	for (int k = 0; k < 50; k++) {
		o.n = k * 3;
		run_and_check_sum(r, w, &o);
		if (k == 25)
			ck_assert_int_eq(prunner_stop_workers(r), 0);
	}
	prunner_free(r);
}
END_TEST

/* The class struct is copied: clobbering the caller's copy afterwards does
 * not matter. */
START_TEST(test_class_struct_copied)
{
	int w = WORKERS[_i];
	struct sum_options o = {100, 0xc0ffee};
	struct prunner_class *cls = malloc(sizeof *cls);
	ck_assert_ptr_nonnull(cls);
	*cls = SUM_CLASS;
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, cls, &o), 0);
	memset(cls, 0, sizeof *cls);
	free(cls);
	run_and_check_sum(r, w, &o);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Labels and payloads                                                      */
/* ------------------------------------------------------------------------ */

static const int LABELS[] = {0, 1, -1, 42, 7777, INT_MAX, INT_MIN};
#define N_LABELS ((int)(sizeof LABELS / sizeof LABELS[0]))
static const size_t LSIZES[] = {0, 1, 16, 100, PRUNNER_INLINE_PAYLOAD, PRUNNER_INLINE_PAYLOAD + 1, 4096};
#define N_LSIZES ((int)(sizeof LSIZES / sizeof LSIZES[0]))
#define LABEL_POSTER (-424242) /* a task that posts the whole set again from a worker */

static struct {
	atomic_int slot[N_LABELS][N_LSIZES];
	atomic_int corrupt, misaligned, unknown, post_err, wrong_runner;
} L;

static unsigned char lpattern(int label, size_t size, size_t j)
{
	return (unsigned char)(((unsigned)label * 7u + (unsigned)size * 13u + (unsigned)j) & 0xffu);
}

static void put_label_set(prunner_t *r)
{
	static _Thread_local unsigned char buf[4096];
	for (int li = 0; li < N_LABELS; li++) {
		for (int si = 0; si < N_LSIZES; si++) {
			size_t size = LSIZES[si];
			for (size_t j = 0; j < size; j++)
				buf[j] = lpattern(LABELS[li], size, j);
			if (prunner_queue_put(r, LABELS[li], size ? buf : NULL, size) != 0)
				atomic_fetch_add(&L.post_err, 1);
			memset(buf, 0, size); /* reused at once */
		}
	}
}

static void label_begin(prunner_t *r, void *options)
{
	(void)options;
	put_label_set(r);
	if (prunner_queue_put(r, LABEL_POSTER, NULL, 0) != 0)
		atomic_fetch_add(&L.post_err, 1);
}

static int label_run(prunner_t *r, const struct prunner_task *t)
{
	if (prunner_current() != r)
		atomic_fetch_add(&L.wrong_runner, 1);
	if (t->label == LABEL_POSTER) {
		put_label_set(r);
		return 0;
	}
	int li = -1, si = -1;
	for (int i = 0; i < N_LABELS; i++)
		if (LABELS[i] == t->label)
			li = i;
	for (int i = 0; i < N_LSIZES; i++)
		if (LSIZES[i] == t->size)
			si = i;
	if (li < 0 || si < 0) {
		atomic_fetch_add(&L.unknown, 1);
		return 1;
	}
	if (t->size == 0) {
		if (t->data != NULL)
			atomic_fetch_add(&L.corrupt, 1);
	} else {
		if (t->data == NULL) {
			atomic_fetch_add(&L.corrupt, 1);
			return 1;
		}
		if ((uintptr_t)t->data % _Alignof(max_align_t) != 0)
			atomic_fetch_add(&L.misaligned, 1);
		const unsigned char *p = t->data;
		for (size_t j = 0; j < t->size; j++)
			if (p[j] != lpattern(t->label, t->size, j)) {
				atomic_fetch_add(&L.corrupt, 1);
				break;
			}
		memset(t->data, 0xab, t->size); /* writable */
	}
	atomic_fetch_add(&L.slot[li][si], 1);
	return 0;
}

static const struct prunner_class LABEL_CLASS = {label_begin, label_run, NULL};

START_TEST(test_labels_and_sizes)
{
	int w = WORKERS[_i];
	memset(&L, 0, sizeof L);
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &LABEL_CLASS, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&L.post_err), 0);
	ck_assert_int_eq(atomic_load(&L.unknown), 0);
	ck_assert_int_eq(atomic_load(&L.corrupt), 0);
	ck_assert_int_eq(atomic_load(&L.misaligned), 0);
	ck_assert_int_eq(atomic_load(&L.wrong_runner), 0);
	for (int li = 0; li < N_LABELS; li++)
		for (int si = 0; si < N_LSIZES; si++)
			ck_assert_msg(atomic_load(&L.slot[li][si]) == 2, "w=%d: label %d size %zu arrived %d times (expected 2)",
			              w, LABELS[li], LSIZES[si], atomic_load(&L.slot[li][si]));
	check_run_stats(r, w, 2 * N_LABELS * N_LSIZES + 1, 0);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Failures, errors, hooks                                                  */
/* ------------------------------------------------------------------------ */

#define LFAIL_N 2000
static atomic_int g_lfail_ran;

static void lfail_begin(prunner_t *r, void *options)
{
	int n = *(int *)options;
	for (int i = 0; i < n; i++)
		prunner_queue_put(r, i, NULL, 0);
}

static int lfail_run(prunner_t *r, const struct prunner_task *t)
{
	(void)r;
	atomic_fetch_add(&g_lfail_ran, 1);
	if (t->label % 11 == 5)
		return t->label % 2 ? -1 : 1000;
	return 0;
}

START_TEST(test_run_failures_counted)
{
	int w = WORKERS[_i];
	int n = LFAIL_N, expect = 0;
	for (int i = 0; i < n; i++)
		expect += i % 11 == 5;
	struct prunner_class cls = {lfail_begin, lfail_run, NULL};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &cls, &n), 0);
	atomic_store(&g_lfail_ran, 0);
	int rc = prunner_run(r);
	ck_assert_msg(rc == expect, "w=%d: run returned %d, expected %d", w, rc, expect);
	ck_assert_int_eq(atomic_load(&g_lfail_ran), n);
	check_run_stats(r, w, (uint64_t)n, (uint64_t)expect);
	/* a run with no failing label */
	n = 5;
	ck_assert_int_eq(prunner_run(r), 0);
	check_run_stats(r, w, 5, 0);
	prunner_free(r);
}
END_TEST

static atomic_int g_min_ran;
static int min_run(prunner_t *r, const struct prunner_task *t)
{
	(void)r;
	(void)t;
	atomic_fetch_add(&g_min_ran, 1);
	return 0;
}

/* begin and end NULL: a run with nothing to do; queue_put outside a run is
 * PRUNNER_ENORUN and never runs. */
START_TEST(test_null_begin_end)
{
	int w = WORKERS[_i];
	struct prunner_class cls = {NULL, min_run, NULL};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &cls, NULL), 0);
	atomic_store(&g_min_ran, 0);
	ck_assert_int_eq(prunner_queue_put(r, 1, NULL, 0), PRUNNER_ENORUN);
	int v = 3;
	ck_assert_int_eq(prunner_queue_put(r, 2, &v, sizeof v), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(prunner_queue_put(r, 1, NULL, 0), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_min_ran), 0);
	check_run_stats(r, w, 0, 0);
	prunner_free(r);
}
END_TEST

/* queue_put errors inside a run; a payload of exactly the cap works. */
static int g_qe_rc[4];
static unsigned char *g_qe_big;

static void qe_begin(prunner_t *r, void *options)
{
	(void)options;
	g_qe_rc[0] = prunner_queue_put(r, 1, NULL, 8);
	g_qe_rc[1] = prunner_queue_put(r, 1, g_qe_big, PRUNNER_MAX_PAYLOAD + 1);
	g_qe_rc[2] = prunner_queue_put(r, 2, g_qe_big, PRUNNER_MAX_PAYLOAD);
	g_qe_rc[3] = prunner_queue_put(r, 3, NULL, 0);
}

static atomic_int g_qe_ok, g_qe_bad;
static int qe_run(prunner_t *r, const struct prunner_task *t)
{
	(void)r;
	int ok;
	if (t->label == 2) {
		ok = t->size == PRUNNER_MAX_PAYLOAD && t->data != NULL;
		const unsigned char *p = t->data;
		for (size_t j = 0; ok && j < t->size; j++)
			ok = p[j] == (unsigned char)(j * 7 + (j >> 9));
	} else {
		ok = t->label == 3 && t->size == 0 && t->data == NULL;
	}
	atomic_fetch_add(ok ? &g_qe_ok : &g_qe_bad, 1);
	return 0;
}

START_TEST(test_queue_put_errors)
{
	int w = WORKERS[_i];
	g_qe_big = malloc(PRUNNER_MAX_PAYLOAD + 1);
	ck_assert_ptr_nonnull(g_qe_big);
	for (size_t j = 0; j <= PRUNNER_MAX_PAYLOAD; j++)
		g_qe_big[j] = (unsigned char)(j * 7 + (j >> 9));
	struct prunner_class cls = {qe_begin, qe_run, NULL};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &cls, NULL), 0);
	atomic_store(&g_qe_ok, 0);
	atomic_store(&g_qe_bad, 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(g_qe_rc[0], -EINVAL);
	ck_assert_int_eq(g_qe_rc[1], -E2BIG);
	ck_assert_int_eq(g_qe_rc[2], 0);
	ck_assert_int_eq(g_qe_rc[3], 0);
	ck_assert_int_eq(atomic_load(&g_qe_ok), 2);
	ck_assert_int_eq(atomic_load(&g_qe_bad), 0);
	check_run_stats(r, w, 2, 0);
	free(g_qe_big);
	prunner_free(r);
}
END_TEST

/* A program thread puts labelled tasks while the run is active (a gate
 * label keeps it active until the thread is done). */
#define LOUT_M 1000
#define LABEL_GATE (-1)

static struct {
	prunner_t *r;
	atomic_int gate, post_err;
	atomic_uchar slot[LOUT_M];
	pthread_t th;
	int th_rc;
} O;

static void *lout_thread(void *p)
{
	(void)p;
	for (int i = 0; i < LOUT_M; i++)
		if (prunner_queue_put(O.r, i, &i, sizeof i) != 0)
			atomic_fetch_add(&O.post_err, 1);
	atomic_store_explicit(&O.gate, 1, memory_order_release); /* pairs with the gate's acquire */
	return NULL;
}

static void lout_begin(prunner_t *r, void *options)
{
	(void)options;
	if (prunner_queue_put(r, LABEL_GATE, NULL, 0) != 0)
		atomic_fetch_add(&O.post_err, 1);
	O.th_rc = pthread_create(&O.th, NULL, lout_thread, NULL);
	if (O.th_rc != 0)
		atomic_store_explicit(&O.gate, 1, memory_order_release);
}

static int lout_run(prunner_t *r, const struct prunner_task *t)
{
	(void)r;
	if (t->label == LABEL_GATE) {
		while (!atomic_load_explicit(&O.gate, memory_order_acquire))
			sched_yield();
		return 0;
	}
	if (t->label >= 0 && t->label < LOUT_M && t->size == sizeof(int) && *(int *)t->data == t->label)
		atomic_fetch_add(&O.slot[t->label], 1);
	else
		atomic_fetch_add(&O.post_err, 1000);
	return 0;
}

START_TEST(test_queue_put_from_program_thread)
{
	int w = WORKERS[_i];
	memset(&O, 0, sizeof O);
	struct prunner_class cls = {lout_begin, lout_run, NULL};
	ck_assert_int_eq(prunner_new_class(&O.r, w, false, &cls, NULL), 0);
	ck_assert_int_eq(prunner_run(O.r), 0);
	ck_assert_int_eq(O.th_rc, 0);
	ck_assert_int_eq(pthread_join(O.th, NULL), 0);
	ck_assert_int_eq(atomic_load(&O.post_err), 0);
	for (int i = 0; i < LOUT_M; i++)
		ck_assert_msg(atomic_load(&O.slot[i]) == 1, "w=%d: label %d arrived %d times", w, i,
		              (int)atomic_load(&O.slot[i]));
	check_run_stats(O.r, w, LOUT_M + 1, 0);
	prunner_free(O.r);
}
END_TEST

/* begin, run and end see the runner; hooks on the caller's thread. */
static struct {
	prunner_t *begin_cur, *end_cur;
	int begin_idx, end_idx, w;
	atomic_int bad;
} W;

static void where_begin(prunner_t *r, void *options)
{
	(void)options;
	W.begin_cur = prunner_current();
	W.begin_idx = prunner_worker_index();
	for (int i = 0; i < 100; i++)
		prunner_queue_put(r, i, NULL, 0);
}

static int where_run(prunner_t *r, const struct prunner_task *t)
{
	(void)t;
	int idx = prunner_worker_index();
	if (prunner_current() != r || idx < 0 || idx >= W.w)
		atomic_fetch_add(&W.bad, 1);
	return 0;
}

static void where_end(prunner_t *r)
{
	(void)r;
	W.end_cur = prunner_current();
	W.end_idx = prunner_worker_index();
}

START_TEST(test_current_in_class_runner)
{
	int w = WORKERS[_i];
	memset(&W, 0, sizeof W);
	W.w = w;
	struct prunner_class cls = {where_begin, where_run, where_end};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, true /* debug log on */, &cls, NULL), 0);
	ck_assert_int_eq(prunner_set_debug(r, false), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_ptr_eq(W.begin_cur, r);
	ck_assert_ptr_eq(W.end_cur, r);
	ck_assert_int_eq(W.begin_idx, -1);
	ck_assert_int_eq(W.end_idx, -1);
	ck_assert_int_eq(atomic_load(&W.bad), 0);
	ck_assert_ptr_null(prunner_current());
	check_run_stats(r, w, 100, 0);
	prunner_free(r);
}
END_TEST

/* The debug flag of prunner_new_class: behaviour unchanged. */
START_TEST(test_debug_flag)
{
	int w = WORKERS[_i] > 8 ? 8 : WORKERS[_i];
	struct sum_options o = {3, 0xc0ffee};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, true, &SUM_CLASS, &o), 0);
	run_and_check_sum(r, w, &o);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *lowlevel_suite(void)
{
	Suite *s = suite_create("lowlevel");
	TCase *tc;

	tc = tcase_create("sum");
	tcase_add_test(tc, test_seed_example_10_workers);
	tcase_add_loop_test(tc, test_class_sum, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_class_many_runs, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_class_struct_copied, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("labels");
	tcase_add_loop_test(tc, test_labels_and_sizes, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_run_failures_counted, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_null_begin_end, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_queue_put_errors, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_queue_put_from_program_thread, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_current_in_class_runner, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_debug_flag, 0, N_WORKERS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	SRunner *sr = srunner_create(lowlevel_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
