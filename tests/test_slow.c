/*
 * test_slow.c - the 'slow' stress suite: the same exact-count checks as
 * test_runner.c at sizes too large for the default suite (10 million tasks
 * in one run under both termination detectors, 2^20-leaf trees, hundreds of
 * thousands of short runs, 256 workers).  Links only the public library.
 *
 * Rules as in test_runner.c: ck_assert only on the test's own thread, tasks
 * record into atomics / per-task slots / per-worker counters, no sleeps, no
 * timing: only counts and exact values.
 */
#include <check.h>
#include <inttypes.h>
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
#include "testutil_runs.h"

#define MAX_SLOW_WORKERS PRUNNER_MAX_WORKERS

/* ------------------------------------------------------------------------ */
/* The sum at N = 2,500,000: 10,000,001 tasks in one run                    */
/* ------------------------------------------------------------------------ */

struct sum_ctx {
	prunner_t *r;
	int64_t n;
	int use_add;
	atomic_llong executed;
	atomic_int errors;
	int begin_calls, end_calls, begin_err, end_rc;
	int64_t end_sum, end_executed;
};

struct sum_msg {
	struct sum_ctx *c;
	int64_t v;
};

static int sum_up(void *data);
static int sum_double(void *data);
static int sum_add_one(void *data);

static void sum_post(struct sum_ctx *c, prunner_task_fn fn, int64_t v)
{
	struct sum_msg m = {c, v};
	if (prunner_post(c->r, fn, &m, sizeof m) != 0)
		atomic_fetch_add(&c->errors, 1);
}

static int sum_init(void *data)
{
	struct sum_msg *m = data;
	atomic_fetch_add_explicit(&m->c->executed, 1, memory_order_relaxed);
	for (int64_t i = 0; i < m->v; i++)
		sum_post(m->c, sum_add_one, i);
	return 0;
}

static int sum_add_one(void *data)
{
	struct sum_msg *m = data;
	atomic_fetch_add_explicit(&m->c->executed, 1, memory_order_relaxed);
	sum_post(m->c, sum_double, m->v + 1);
	return 0;
}

static int sum_double(void *data)
{
	struct sum_msg *m = data;
	atomic_fetch_add_explicit(&m->c->executed, 1, memory_order_relaxed);
	sum_post(m->c, sum_up, m->v);
	sum_post(m->c, sum_up, m->v);
	return 0;
}

static int sum_up(void *data)
{
	struct sum_msg *m = data;
	struct sum_ctx *c = m->c;
	atomic_fetch_add_explicit(&c->executed, 1, memory_order_relaxed);
	struct prunner_dict *d = prunner_dict(c->r);
	if (c->use_add) {
		if (prunner_dict_add_int(d, "sum", m->v, NULL) != 0)
			atomic_fetch_add(&c->errors, 1);
	} else {
		int64_t s = 0;
		prunner_lock(c->r);
		if (prunner_dict_get_int(d, "sum", &s) != 0 || prunner_dict_set_int(d, "sum", s + m->v) != 0)
			atomic_fetch_add(&c->errors, 1);
		prunner_unlock(c->r);
	}
	return 0;
}

static void sum_begin(prunner_t *r, void *arg)
{
	struct sum_ctx *c = arg;
	c->begin_calls++;
	if (prunner_dict_set_int(prunner_dict(r), "sum", 0) != 0)
		c->begin_err++;
	struct sum_msg m = {c, c->n};
	if (prunner_post(r, sum_init, &m, sizeof m) != 0)
		c->begin_err++;
}

static void sum_end(prunner_t *r, void *arg)
{
	struct sum_ctx *c = arg;
	c->end_calls++;
	c->end_rc = prunner_dict_get_int(prunner_dict(r), "sum", &c->end_sum);
	c->end_executed = atomic_load(&c->executed);
}

static void big_sum(int w, enum prunner_termination mode, int use_add, int64_t n)
{
	prunner_t *r = new_runner(w, mode);
	struct sum_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	c->n = n;
	c->use_add = use_add;
	c->end_sum = c->end_executed = -1;
	ck_assert_int_eq(prunner_set_hooks(r, sum_begin, sum_end, c), 0);
	int rc = prunner_run(r);
	int64_t want = n * (n + 1), tasks = 4 * n + 1;
	ck_assert_msg(rc == 0, "w=%d: run returned %d", w, rc);
	ck_assert_int_eq(c->begin_calls, 1);
	ck_assert_int_eq(c->end_calls, 1);
	ck_assert_int_eq(c->begin_err, 0);
	ck_assert_int_eq(atomic_load(&c->errors), 0);
	ck_assert_int_eq(c->end_rc, 0);
	ck_assert_msg(c->end_sum == want, "w=%d n=%" PRId64 ": sum %" PRId64 ", expected %" PRId64, w, n, c->end_sum,
	              want);
	ck_assert_msg(c->end_executed == tasks, "w=%d n=%" PRId64 ": end saw %" PRId64 " tasks, expected %" PRId64, w, n,
	              c->end_executed, tasks);
	check_run_stats(r, w, (uint64_t)tasks, 0);
	free(c);
	prunner_free(r);
}

START_TEST(test_sum_10m_flags)
{
	big_sum(4, PRUNNER_TERMINATION_FLAGS, 0, 2500000);
}
END_TEST

START_TEST(test_sum_10m_counter)
{
	big_sum(4, PRUNNER_TERMINATION_COUNTER, 1, 2500000);
}
END_TEST

START_TEST(test_sum_10m_2_workers)
{
	big_sum(2, PRUNNER_TERMINATION_FLAGS, 1, 2500000);
}
END_TEST

/* 1, 8 and 64 workers, alternating detectors and sum variants. */
START_TEST(test_sum_10m_mixed)
{
	static const int ws[] = {1, 8, 64};
	big_sum(ws[_i], (_i & 1) ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS, _i != 1, 2500000);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A binary tree of 2^20 leaves, one slot per leaf                          */
/* ------------------------------------------------------------------------ */

#define BIN_LEAVES (1u << 20)

struct split_ctx {
	prunner_t *r;
	atomic_uchar *slot;
	atomic_int post_err;
	atomic_ullong executed;
};

struct split_msg {
	struct split_ctx *c;
	uint32_t lo, hi;
};

static int split_task(void *data)
{
	struct split_msg m = *(struct split_msg *)data;
	atomic_fetch_add_explicit(&m.c->executed, 1, memory_order_relaxed);
	if (m.hi - m.lo == 1) {
		atomic_fetch_add_explicit(&m.c->slot[m.lo], 1, memory_order_relaxed);
		return 0;
	}
	uint32_t mid = m.lo + (m.hi - m.lo) / 2;
	struct split_msg a = {m.c, m.lo, mid}, b = {m.c, mid, m.hi};
	if (prunner_post(m.c->r, split_task, &a, sizeof a) != 0 || prunner_post(m.c->r, split_task, &b, sizeof b) != 0)
		atomic_fetch_add(&m.c->post_err, 1);
	return 0;
}

static void split_begin(prunner_t *r, void *arg)
{
	struct split_ctx *c = arg;
	struct split_msg m = {c, 0, BIN_LEAVES};
	if (prunner_post(r, split_task, &m, sizeof m) != 0)
		atomic_fetch_add(&c->post_err, 1);
}

static void binary_tree(int w, enum prunner_termination mode)
{
	prunner_t *r = new_runner(w, mode);
	struct split_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.slot = calloc(BIN_LEAVES, sizeof *c.slot);
	ck_assert_ptr_nonnull(c.slot);
	ck_assert_int_eq(prunner_set_hooks(r, split_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.post_err), 0);
	uint32_t bad = 0, first_bad = 0;
	for (uint32_t i = 0; i < BIN_LEAVES; i++)
		if (atomic_load(&c.slot[i]) != 1 && bad++ == 0)
			first_bad = i;
	ck_assert_msg(bad == 0, "w=%d: %u leaves did not run exactly once (first: %u ran %d times)", w, bad, first_bad,
	              (int)atomic_load(&c.slot[first_bad]));
	ck_assert_uint_eq(atomic_load(&c.executed), 2ull * BIN_LEAVES - 1);
	check_run_stats(r, w, 2ull * BIN_LEAVES - 1, 0);
	free(c.slot);
	prunner_free(r);
}

static const int BIN_WORKERS[] = {1, 2, 8};

START_TEST(test_binary_tree_2p20)
{
	binary_tree(BIN_WORKERS[_i], PRUNNER_TERMINATION_FLAGS);
}
END_TEST

START_TEST(test_binary_tree_2p20_counter)
{
	binary_tree(BIN_WORKERS[_i], PRUNNER_TERMINATION_COUNTER);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Random trees of ~1 million tasks on 64 and 256 workers                   */
/* ------------------------------------------------------------------------ */

#define BIG_TREE_DEPTH 26 /* 1,071,288 tasks with these roots */

struct tree_ctx {
	prunner_t *r;
	int w;
	uint32_t max_depth;
	struct wcount per_worker[MAX_SLOW_WORKERS];
	atomic_ullong executed;
	atomic_int bad_index, post_err;
	uint64_t end_executed, end_per_worker;
};

struct tnode {
	uint32_t depth;
	uint32_t pad;
	uint64_t seed;
	struct tree_ctx *ctx;
};

static int tree_task(void *data)
{
	struct tnode n = *(struct tnode *)data;
	struct tree_ctx *c = n.ctx;
	int idx = prunner_worker_index();
	if (idx >= 0 && idx < c->w)
		c->per_worker[idx].n++; /* plain: only this worker writes it */
	else
		atomic_fetch_add(&c->bad_index, 1);
	atomic_fetch_add_explicit(&c->executed, 1, memory_order_relaxed);
	unsigned k = tree_children(n.seed, n.depth, c->max_depth);
	for (unsigned i = 0; i < k; i++) {
		struct tnode ch = {n.depth + 1, 0, tree_child_seed(n.seed, i), c};
		if (prunner_post(c->r, tree_task, &ch, sizeof ch) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
	return 0;
}

static void tree_begin(prunner_t *r, void *arg)
{
	struct tree_ctx *c = arg;
	for (unsigned i = 0; i < TREE_ROOTS; i++) {
		struct tnode n = {0, 0, TREE_SEED0 + i, c};
		if (prunner_post(r, tree_task, &n, sizeof n) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
}

static uint64_t sum_per_worker(const struct tree_ctx *c)
{
	uint64_t s = 0;
	for (int i = 0; i < MAX_SLOW_WORKERS; i++)
		s += c->per_worker[i].n;
	return s;
}

static void tree_end(prunner_t *r, void *arg)
{
	struct tree_ctx *c = arg;
	(void)r;
	c->end_executed = atomic_load(&c->executed);
	c->end_per_worker = sum_per_worker(c);
}

static void big_tree(int w, enum prunner_termination mode, uint32_t depth)
{
	uint64_t expected = 0;
	for (unsigned i = 0; i < TREE_ROOTS; i++)
		expected += tree_expected(TREE_SEED0 + i, 0, depth);
	prunner_t *r = new_runner(w, mode);
	struct tree_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	c->w = w;
	c->max_depth = depth;
	ck_assert_int_eq(prunner_set_hooks(r, tree_begin, tree_end, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c->post_err), 0);
	ck_assert_int_eq(atomic_load(&c->bad_index), 0);
	ck_assert_msg(c->end_executed == expected, "w=%d: end saw %" PRIu64 " tasks, expected %" PRIu64, w,
	              c->end_executed, expected);
	ck_assert_msg(c->end_per_worker == expected, "w=%d: per-worker sum %" PRIu64 ", expected %" PRIu64, w,
	              c->end_per_worker, expected);
	check_run_stats(r, w, expected, 0);
	free(c);
	prunner_free(r);
}

START_TEST(test_tree_64_workers)
{
	big_tree(64, PRUNNER_TERMINATION_FLAGS, BIG_TREE_DEPTH);
}
END_TEST

START_TEST(test_tree_256_workers)
{
	big_tree(256, PRUNNER_TERMINATION_FLAGS, BIG_TREE_DEPTH);
}
END_TEST

START_TEST(test_tree_max_workers)
{
	big_tree(PRUNNER_MAX_WORKERS, PRUNNER_TERMINATION_FLAGS, BIG_TREE_DEPTH);
}
END_TEST

START_TEST(test_tree_256_workers_counter)
{
	big_tree(256, PRUNNER_TERMINATION_COUNTER, BIG_TREE_DEPTH);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Many short runs                                                          */
/* ------------------------------------------------------------------------ */

static void short_runs(int w, unsigned runs, enum prunner_termination mode)
{
	prunner_t *r = new_runner(w, mode);
	struct short_ctx c;
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(prunner_set_hooks(r, short_begin, NULL, &c), 0);
	for (unsigned i = 0; i < runs; i++) {
		c.run = i;
		atomic_store(&c.ran, 0);
		int rc = prunner_run(r);
		int ran = atomic_load(&c.ran);
		if (rc != 0 || ran != short_expected(i) || atomic_load(&c.post_err) != 0)
			ck_abort_msg("w=%d run %u of %u: rc %d, %d tasks ran, expected %d, post errors %d", w, i, runs, rc,
			             ran, short_expected(i), atomic_load(&c.post_err));
	}
	prunner_free(r);
}

START_TEST(test_short_runs_1_worker_100k)
{
	short_runs(1, 100000, PRUNNER_TERMINATION_FLAGS);
}
END_TEST

START_TEST(test_short_runs_2_workers_60k)
{
	short_runs(2, 60000, PRUNNER_TERMINATION_FLAGS);
}
END_TEST

START_TEST(test_short_runs_counter_30k)
{
	short_runs(1, 30000, PRUNNER_TERMINATION_COUNTER);
	short_runs(2, 30000, PRUNNER_TERMINATION_COUNTER);
}
END_TEST

START_TEST(test_short_runs_4_and_8_workers)
{
	short_runs(4, 10000, PRUNNER_TERMINATION_FLAGS);
	short_runs(8, 5000, PRUNNER_TERMINATION_FLAGS);
}
END_TEST

/* 1000 runs on one runner, the worker count changed with
 * prunner_set_workers before most of them. */
static atomic_int g_mixed_bad;
static atomic_int g_mixed_ran;
static int g_mixed_w;

static int mixed_task(void *data)
{
	int depth = *(int *)data;
	int idx = prunner_worker_index();
	if (idx < 0 || idx >= g_mixed_w)
		atomic_fetch_add(&g_mixed_bad, 1);
	atomic_fetch_add(&g_mixed_ran, 1);
	if (depth > 0) {
		int d = depth - 1;
		if (prunner_post(prunner_current(), mixed_task, &d, sizeof d) != 0 ||
		    prunner_post(prunner_current(), mixed_task, &d, sizeof d) != 0)
			atomic_fetch_add(&g_mixed_bad, 1000);
	}
	return 0;
}

static void mixed_begin(prunner_t *r, void *arg)
{
	int d = *(int *)arg;
	if (prunner_post(r, mixed_task, &d, sizeof d) != 0)
		atomic_fetch_add(&g_mixed_bad, 1000);
}

START_TEST(test_runs_mixed_worker_counts)
{
	static const int seq[] = {1, 2, 3, 8, 64, 5, 1, 16, 2, 2, 7, 32, 1, 4};
	const int n_seq = (int)(sizeof seq / sizeof seq[0]);
	prunner_t *r = new_runner(1, PRUNNER_TERMINATION_FLAGS);
	int depth = 0;
	ck_assert_int_eq(prunner_set_hooks(r, mixed_begin, NULL, &depth), 0);
	for (int k = 0; k < 1000; k++) {
		g_mixed_w = seq[(k * 7 + k / n_seq) % n_seq];
		ck_assert_int_eq(prunner_set_workers(r, g_mixed_w), 0);
		ck_assert_int_eq(prunner_set_termination(r, (k & 2) ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS),
		                 0);
		depth = k % 9;
		atomic_store(&g_mixed_ran, 0);
		atomic_store(&g_mixed_bad, 0);
		int rc = prunner_run(r);
		int want = (1 << (depth + 1)) - 1;
		if (rc != 0 || atomic_load(&g_mixed_ran) != want || atomic_load(&g_mixed_bad) != 0)
			ck_abort_msg("run %d, %d workers: rc %d, %d tasks ran, expected %d, %d bad", k, g_mixed_w, rc,
			             atomic_load(&g_mixed_ran), want, atomic_load(&g_mixed_bad));
		check_run_stats(r, g_mixed_w, (uint64_t)want, 0);
		if (k % 97 == 0)
			ck_assert_int_eq(prunner_stop_workers(r), 0);
	}
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A chain of one million tasks; posts racing with the end of runs          */
/* ------------------------------------------------------------------------ */

#define BIG_CHAIN 1000000

START_TEST(test_chain_1m)
{
	static const int ws[] = {1, 2, 8};
	int w = ws[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct chain_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.len = BIG_CHAIN;
	ck_assert_int_eq(prunner_set_hooks(r, chain_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.post_err), 0);
	ck_assert_int_eq(atomic_load(&c.mismatch), 0);
	ck_assert_int_eq(c.plain_next, BIG_CHAIN);
	check_run_stats(r, w, BIG_CHAIN, 0);
	prunner_free(r);
}
END_TEST

#define RACE_CAP 3000

struct race_ctx {
	prunner_t *r;
	pthread_t th;
	int th_rc;
	atomic_int accepted, other_err, executed;
};

static int race_task(void *data)
{
	struct race_ctx *c = *(struct race_ctx **)data;
	atomic_fetch_add(&c->executed, 1);
	return 0;
}

static int race_work_task(void *data)
{
	int depth = *(int *)data;
	if (depth > 0) {
		int d = depth - 1;
		prunner_post(prunner_current(), race_work_task, &d, sizeof d);
		prunner_post(prunner_current(), race_work_task, &d, sizeof d);
	}
	return 0;
}

static void *race_thread(void *p)
{
	struct race_ctx *c = p;
	for (int i = 0; i < RACE_CAP; i++) {
		int rc = prunner_post(c->r, race_task, &c, sizeof c);
		if (rc == 0)
			atomic_fetch_add(&c->accepted, 1);
		else {
			if (rc != PRUNNER_ENORUN)
				atomic_fetch_add(&c->other_err, 1);
			break;
		}
	}
	return NULL;
}

static void race_begin(prunner_t *r, void *arg)
{
	struct race_ctx *c = arg;
	int d = 5;
	prunner_post(r, race_work_task, &d, sizeof d);
	c->th_rc = pthread_create(&c->th, NULL, race_thread, c);
}

START_TEST(test_post_race_many_rounds)
{
	static const int ws[] = {1, 2, 8};
	int w = ws[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct race_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	ck_assert_int_eq(prunner_set_hooks(r, race_begin, NULL, c), 0);
	for (int round = 0; round < 1000; round++) {
		ck_assert_int_eq(prunner_set_termination(r, (round & 1) ? PRUNNER_TERMINATION_COUNTER
		                                                        : PRUNNER_TERMINATION_FLAGS),
		                 0);
		atomic_store(&c->accepted, 0);
		atomic_store(&c->other_err, 0);
		atomic_store(&c->executed, 0);
		ck_assert_int_eq(prunner_run(r), 0);
		int at_return = atomic_load(&c->executed);
		ck_assert_int_eq(c->th_rc, 0);
		ck_assert_int_eq(pthread_join(c->th, NULL), 0);
		int accepted = atomic_load(&c->accepted);
		ck_assert_int_eq(atomic_load(&c->other_err), 0);
		if (at_return != accepted || atomic_load(&c->executed) != accepted)
			ck_abort_msg("w=%d round %d: %d posts accepted, %d ran before prunner_run returned, %d in all", w,
			             round, accepted, at_return, atomic_load(&c->executed));
		/* accepted posts + the depth-5 work tree; refused posts are not counted */
		struct prunner_stats st;
		ck_assert_int_eq(prunner_get_stats(r, &st), 0);
		if (st.executed != (uint64_t)accepted + 63 || st.posted != st.executed)
			ck_abort_msg("w=%d round %d: %d outside posts accepted (+63 work tasks): stats.executed %" PRIu64
			             ", stats.posted %" PRIu64,
			             w, round, accepted, st.executed, st.posted);
	}
	free(c);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Floods from outside the pool                                             */
/* ------------------------------------------------------------------------ */

/* The begin hook posts 2 million tasks itself, then 4 program threads post
 * 250,000 each while a gate task holds the run open: every task exactly
 * once. */
#define FLOOD_BEGIN 2000000u
#define FLOOD_THREADS 4
#define FLOOD_PER_THREAD 250000u
#define FLOOD_TOTAL (FLOOD_BEGIN + FLOOD_THREADS * FLOOD_PER_THREAD)

struct flood_ctx {
	prunner_t *r;
	atomic_uchar *slot;
	atomic_int gate, done_threads, post_err;
	pthread_t th[FLOOD_THREADS];
	int th_rc[FLOOD_THREADS];
	uint32_t base[FLOOD_THREADS];
};

struct flood_msg {
	struct flood_ctx *c;
	uint32_t i;
};

static int flood_task(void *data)
{
	struct flood_msg *m = data;
	if (m->i < FLOOD_TOTAL)
		atomic_fetch_add_explicit(&m->c->slot[m->i], 1, memory_order_relaxed);
	else
		atomic_fetch_add(&m->c->post_err, 1000);
	return 0;
}

static int flood_gate(void *data)
{
	struct flood_ctx *c = *(struct flood_ctx **)data;
	while (atomic_load_explicit(&c->done_threads, memory_order_acquire) < FLOOD_THREADS)
		sched_yield();
	return 0;
}

struct flood_arg {
	struct flood_ctx *c;
	uint32_t base;
};

static struct flood_arg g_flood_args[FLOOD_THREADS];

static void *flood_thread(void *p)
{
	struct flood_arg *a = p;
	for (uint32_t k = 0; k < FLOOD_PER_THREAD; k++) {
		struct flood_msg m = {a->c, a->base + k};
		if (prunner_post(a->c->r, flood_task, &m, sizeof m) != 0)
			atomic_fetch_add(&a->c->post_err, 1);
	}
	atomic_fetch_add_explicit(&a->c->done_threads, 1, memory_order_release); /* pairs with flood_gate */
	return NULL;
}

static void flood_begin(prunner_t *r, void *arg)
{
	struct flood_ctx *c = arg;
	if (prunner_post(r, flood_gate, &c, sizeof c) != 0)
		atomic_fetch_add(&c->post_err, 1);
	for (int t = 0; t < FLOOD_THREADS; t++) {
		g_flood_args[t].c = c;
		g_flood_args[t].base = FLOOD_BEGIN + (uint32_t)t * FLOOD_PER_THREAD;
		c->th_rc[t] = pthread_create(&c->th[t], NULL, flood_thread, &g_flood_args[t]);
		if (c->th_rc[t] != 0)
			atomic_fetch_add_explicit(&c->done_threads, 1, memory_order_release);
	}
	for (uint32_t i = 0; i < FLOOD_BEGIN; i++) {
		struct flood_msg m = {c, i};
		if (prunner_post(r, flood_task, &m, sizeof m) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
}

START_TEST(test_outside_flood)
{
	static const int ws[] = {1, 2, 8};
	int w = ws[_i];
	prunner_t *r = new_runner(w, (w == 2) ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS);
	struct flood_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	c->slot = calloc(FLOOD_TOTAL, sizeof *c->slot);
	ck_assert_ptr_nonnull(c->slot);
	ck_assert_int_eq(prunner_set_hooks(r, flood_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	for (int t = 0; t < FLOOD_THREADS; t++) {
		ck_assert_int_eq(c->th_rc[t], 0);
		ck_assert_int_eq(pthread_join(c->th[t], NULL), 0);
	}
	ck_assert_int_eq(atomic_load(&c->post_err), 0);
	uint32_t bad = 0, first_bad = 0;
	for (uint32_t i = 0; i < FLOOD_TOTAL; i++)
		if (atomic_load(&c->slot[i]) != 1 && bad++ == 0)
			first_bad = i;
	ck_assert_msg(bad == 0, "w=%d: %u tasks did not run exactly once (first: %u ran %d times)", w, bad, first_bad,
	              (int)atomic_load(&c->slot[first_bad]));
	check_run_stats(r, w, FLOOD_TOTAL + 1, 0);
	free(c->slot);
	free(c);
	prunner_free(r);
}
END_TEST

/*
 * The same race, but the test thread stops the workers (or changes their
 * number and runs again) as soon as prunner_run returns, while the posting
 * thread may still be inside a prunner_post that is failing with
 * PRUNNER_ENORUN.  Legal by the contract (the run is over; posts race with
 * its end); the runner must not touch freed workers.  Best run under
 * AddressSanitizer.
 */
START_TEST(test_post_race_then_stop_workers)
{
	static const int ws[] = {1, 2, 8};
	int w = ws[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct race_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	ck_assert_int_eq(prunner_set_hooks(r, race_begin, NULL, c), 0);
	for (int round = 0; round < 1000; round++) {
		int cur = (round % 3 == 2) ? (w == 1 ? 2 : w - 1) : w;
		ck_assert_int_eq(prunner_set_workers(r, cur), 0);
		atomic_store(&c->accepted, 0);
		atomic_store(&c->other_err, 0);
		atomic_store(&c->executed, 0);
		ck_assert_int_eq(prunner_run(r), 0);
		int at_return = atomic_load(&c->executed);
		if (round % 3 == 0)
			ck_assert_int_eq(prunner_stop_workers(r), 0); /* poster may still be in prunner_post */
		ck_assert_int_eq(c->th_rc, 0);
		ck_assert_int_eq(pthread_join(c->th, NULL), 0);
		int accepted = atomic_load(&c->accepted);
		ck_assert_int_eq(atomic_load(&c->other_err), 0);
		if (at_return != accepted || atomic_load(&c->executed) != accepted)
			ck_abort_msg("w=%d round %d: %d posts accepted, %d ran before prunner_run returned, %d in all", w,
			             round, accepted, at_return, atomic_load(&c->executed));
	}
	free(c);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The module API at one million tasks                                      */
/* ------------------------------------------------------------------------ */

static int64_t g_mn;
static atomic_llong g_mexecuted;
static atomic_int g_merrors;
static int64_t g_mend_sum = -1;

static int m_add(void *data)
{
	atomic_fetch_add_explicit(&g_mexecuted, 1, memory_order_relaxed);
	if (prunner_dict_add_int(prunner_get_dict(), "sum", *(int64_t *)data, NULL) != 0)
		atomic_fetch_add(&g_merrors, 1);
	return 0;
}

static int m_fan(void *data)
{
	int64_t lo = ((int64_t *)data)[0], hi = ((int64_t *)data)[1];
	atomic_fetch_add_explicit(&g_mexecuted, 1, memory_order_relaxed);
	if (hi - lo <= 64) {
		for (int64_t i = lo; i < hi; i++)
			if (prunner_post_task(m_add, &i, sizeof i) != 0)
				atomic_fetch_add(&g_merrors, 1);
		return 0;
	}
	int64_t mid = lo + (hi - lo) / 2;
	int64_t a[2] = {lo, mid}, b[2] = {mid, hi};
	if (prunner_post_task(m_fan, a, sizeof a) != 0 || prunner_post_task(m_fan, b, sizeof b) != 0)
		atomic_fetch_add(&g_merrors, 1);
	return 0;
}

static void m_begin(void)
{
	prunner_dict_set_int(prunner_get_dict(), "sum", 0);
	int64_t rg[2] = {0, g_mn};
	prunner_post_task(m_fan, rg, sizeof rg);
}

static void m_end(void)
{
	prunner_dict_get_int(prunner_get_dict(), "sum", &g_mend_sum);
}

START_TEST(test_module_1m)
{
	g_mn = 1 << 20;
	ck_assert_int_eq(prunner_init(8, false, m_begin, m_end), 0);
	for (int k = 0; k < 2; k++) {
		atomic_store(&g_mexecuted, 0);
		g_mend_sum = -1;
		ck_assert_int_eq(prunner_start(), 0);
		ck_assert_int_eq(atomic_load(&g_merrors), 0);
		ck_assert_int_eq(g_mend_sum, g_mn * (g_mn - 1) / 2);
		/* fan-out tasks: 2 * 2^20/64 - 1 internal + leaves' posts */
		ck_assert_int_eq(atomic_load(&g_mexecuted), g_mn + 2 * (g_mn / 64) - 1);
	}
	prunner_cleanup();
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *slow_suite(void)
{
	Suite *s = suite_create("slow");
	TCase *tc;

	tc = tcase_create("ten_million");
	tcase_add_test(tc, test_sum_10m_flags);
	tcase_add_test(tc, test_sum_10m_counter);
	tcase_add_test(tc, test_sum_10m_2_workers);
	tcase_add_loop_test(tc, test_sum_10m_mixed, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("trees");
	tcase_add_loop_test(tc, test_binary_tree_2p20, 0, 3);
	tcase_add_loop_test(tc, test_binary_tree_2p20_counter, 0, 3);
	tcase_add_test(tc, test_tree_64_workers);
	tcase_add_test(tc, test_tree_256_workers);
	tcase_add_test(tc, test_tree_256_workers_counter);
	tcase_add_test(tc, test_tree_max_workers);
	suite_add_tcase(s, tc);

	tc = tcase_create("short_runs");
	tcase_add_test(tc, test_short_runs_1_worker_100k);
	tcase_add_test(tc, test_short_runs_2_workers_60k);
	tcase_add_test(tc, test_short_runs_counter_30k);
	tcase_add_test(tc, test_short_runs_4_and_8_workers);
	tcase_add_test(tc, test_runs_mixed_worker_counts);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_loop_test(tc, test_chain_1m, 0, 3);
	tcase_add_loop_test(tc, test_post_race_many_rounds, 0, 3);
	tcase_add_loop_test(tc, test_post_race_then_stop_workers, 0, 3);
	tcase_add_test(tc, test_module_1m);
	tcase_add_loop_test(tc, test_outside_flood, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "900", 0);
	SRunner *sr = srunner_create(slow_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
