/*
 * test_group.c - behaviour of fork-join groups (prunner_group_init /
 * prunner_group_spawn / prunner_group_wait): recursive fork-join with a
 * task per call at every worker count (the helping wait must not deadlock a
 * fixed pool, one worker included), random fork-join trees checked against
 * a serial recursion of the same generator, empty and reused groups,
 * failure counts, the global-lock rule (-EDEADLK), waits from program
 * threads (begin hook, executor, a task of another runner), children that
 * post plain tasks, and children cancelled by a CANCEL close.  Links only
 * the public library.
 *
 * Rules as in test_runner.c: ck_assert only on the test's own thread;
 * tasks record into atomics or into their parent's stack slots (plain
 * variables: under ThreadSanitizer this checks that a wait happens-after
 * its children), the test asserts after the run.  No sleeps, no timing.
 */
#include <check.h>
#include <errno.h>
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
#include "testutil_forkjoin.h"

static const int WORKERS[] = {1, 2, 3, 8, 64};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))
/* fib: every count from 1 to 8, and 64. */
static const int FIB_WORKERS[] = {1, 2, 3, 4, 5, 6, 7, 8, 64};
#define N_FIB_WORKERS ((int)(sizeof FIB_WORKERS / sizeof FIB_WORKERS[0]))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static void check_stats(prunner_t *r, int w, uint64_t executed, uint64_t failed)
{
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_msg(st.executed == executed, "w=%d: stats.executed %" PRIu64 ", expected %" PRIu64, w, st.executed,
	              executed);
	ck_assert_msg(st.posted == executed, "w=%d: stats.posted %" PRIu64 ", expected %" PRIu64, w, st.posted,
	              executed);
	ck_assert_msg(st.failed == failed, "w=%d: stats.failed %" PRIu64 ", expected %" PRIu64, w, st.failed, failed);
}

/* Spins until the flag is set (release store by the thread that sets it). */
static void spin_until(atomic_int *flag)
{
	while (!atomic_load_explicit(flag, memory_order_acquire))
		sched_yield();
}

/* ------------------------------------------------------------------------ */
/* Recursive fib, a task per call                                           */
/* ------------------------------------------------------------------------ */

static int64_t fib_serial(int n)
{
	int64_t a = 0, b = 1;
	for (int i = 0; i < n; i++) {
		int64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}

static void fib_run(int w, int n)
{
	struct fib_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->n = n;
	c->result = -1;
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, fib_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_msg(c->result == fib_serial(n), "w=%d: fib(%d) = %" PRId64 ", expected %" PRId64, w, n, c->result,
	              fib_serial(n));
	ck_assert_int_eq(atomic_load(&c->calls), fib_calls(n));
	check_stats(r, w, (uint64_t)fib_calls(n), 0);
	prunner_free(r);
	free(c);
}

START_TEST(test_fib20)
{
	int w = FIB_WORKERS[_i];
	ck_assert_int_eq(fib_serial(20), 6765);
	for (int rep = 0; rep < 6; rep++)
		fib_run(w, 20);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Random fork-join trees                                                   */
/* ------------------------------------------------------------------------ */

struct tree_run {
	struct tree_ctx *c;
	uint64_t seed;
};

static void tree_begin(prunner_t *r, void *arg)
{
	struct tree_run *tr = arg;
	struct tree_job j = { tr->seed, 0, &tr->c->sum, tr->c };
	if (prunner_post(r, tree_task, &j, sizeof j) != 0)
		atomic_fetch_add(&tr->c->bad, 1);
}

START_TEST(test_random_tree)
{
	int w = WORKERS[_i];
	int trees = 0;
	for (uint64_t seed = 1; trees < 10; seed++) {
		int64_t want_sum = 0;
		long want_nodes = 0;
		int want_fails = 0;
		tree_serial(seed, 0, &want_sum, &want_nodes, &want_fails);
		if (want_nodes < 300)
			continue; /* a tree that died out early: take the next seed */
		trees++;
		struct tree_ctx *c = calloc(1, sizeof *c);
		ck_assert_ptr_nonnull(c);
		c->sum = -1;
		struct tree_run tr = { c, seed };
		prunner_t *r = new_runner_default(w);
		ck_assert_int_eq(prunner_set_hooks(r, tree_begin, NULL, &tr), 0);
		int rc = prunner_run(r);
		ck_assert_int_eq(atomic_load(&c->bad), 0);
		ck_assert_msg(rc == want_fails, "w=%d seed %" PRIu64 ": run returned %d, %d nodes fail", w, seed, rc,
		              want_fails);
		ck_assert_msg(atomic_load(&c->wrong_failed) == 0,
		              "w=%d seed %" PRIu64 ": %d group waits returned a wrong failure count", w, seed,
		              atomic_load(&c->wrong_failed));
		ck_assert_msg(atomic_load(&c->nodes) == want_nodes, "w=%d seed %" PRIu64 ": %ld nodes ran, expected %ld",
		              w, seed, atomic_load(&c->nodes), want_nodes);
		ck_assert_msg(c->sum == want_sum, "w=%d seed %" PRIu64 ": sum %" PRId64 ", expected %" PRId64, w, seed,
		              c->sum, want_sum);
		check_stats(r, w, (uint64_t)want_nodes, (uint64_t)want_fails);
		prunner_free(r);
		free(c);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Empty groups, bad arguments, spawns that fail                            */
/* ------------------------------------------------------------------------ */

struct empty_ctx {
	atomic_int task_rc1, task_rc2, begin_rc, bad, ran;
	atomic_int e2big, einval, enorun;
};

static int empty_task(void *data)
{
	struct empty_ctx *c = *(struct empty_ctx **)data;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	atomic_store(&c->task_rc1, prunner_group_wait(&g));
	atomic_store(&c->task_rc2, prunner_group_wait(&g)); /* again */
	return 0;
}

static int counted_task(void *data)
{
	struct empty_ctx *c = *(struct empty_ctx **)data;
	atomic_fetch_add(&c->ran, 1);
	return 0;
}

/* Spawns that fail are not counted: the wait returns at once with 0. */
static int failing_spawns_task(void *data)
{
	struct empty_ctx *c = *(struct empty_ctx **)data;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	unsigned char *big = calloc(1, PRUNNER_MAX_PAYLOAD + 1);
	if (big && prunner_group_spawn(&g, counted_task, big, PRUNNER_MAX_PAYLOAD + 1) == -E2BIG)
		atomic_fetch_add(&c->e2big, 1);
	free(big);
	if (prunner_group_spawn(&g, counted_task, NULL, 8) == -EINVAL)
		atomic_fetch_add(&c->einval, 1);
	if (prunner_group_spawn(&g, NULL, &c, sizeof c) == -EINVAL)
		atomic_fetch_add(&c->einval, 1);
	if (prunner_group_wait(&g) != 0)
		atomic_fetch_add(&c->bad, 1);
	return 0;
}

static void empty_begin(prunner_t *r, void *arg)
{
	struct empty_ctx *c = arg;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) { /* the current runner: r */
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	atomic_store(&c->begin_rc, prunner_group_wait(&g));
	if (prunner_post(r, empty_task, &c, sizeof c) != 0 || prunner_post(r, failing_spawns_task, &c, sizeof c) != 0)
		atomic_fetch_add(&c->bad, 1);
}

START_TEST(test_group_empty_and_errors)
{
	int w = WORKERS[_i];
	struct empty_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner_default(w);
	prunner_group_t g;

	/* Bad arguments. */
	ck_assert_int_eq(prunner_group_init(NULL, r), -EINVAL);
	ck_assert_int_eq(prunner_group_init(&g, NULL), -EINVAL); /* no current runner here */
	ck_assert_int_eq(prunner_group_spawn(NULL, counted_task, &c, sizeof c), -EINVAL);
	ck_assert_int_eq(prunner_group_wait(NULL), -EINVAL);

	/* A group of a runner with no run: spawns fail and are not counted,
	 * the wait returns at once. */
	ck_assert_int_eq(prunner_group_init(&g, r), 0);
	ck_assert_int_eq(prunner_group_wait(&g), 0);
	ck_assert_int_eq(prunner_group_spawn(&g, counted_task, &c, sizeof c), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_group_spawn(&g, NULL, &c, sizeof c), -EINVAL);
	ck_assert_int_eq(prunner_group_wait(&g), 0);

	atomic_store(&c->task_rc1, 99);
	atomic_store(&c->task_rc2, 99);
	atomic_store(&c->begin_rc, 99);
	ck_assert_int_eq(prunner_set_hooks(r, empty_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->begin_rc), 0);
	ck_assert_int_eq(atomic_load(&c->task_rc1), 0);
	ck_assert_int_eq(atomic_load(&c->task_rc2), 0);
	ck_assert_int_eq(atomic_load(&c->e2big), 1);
	ck_assert_int_eq(atomic_load(&c->einval), 2);
	ck_assert_int_eq(atomic_load(&c->ran), 0);
	check_stats(r, w, 2, 0);

	/* After the run: the group is usable again on a new run. */
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_group_init(&g, r), 0);
	ck_assert_int_eq(prunner_group_spawn(&g, counted_task, &c, sizeof c), 0);
	ck_assert_int_eq(prunner_group_wait(&g), 0);
	ck_assert_int_eq(atomic_load(&c->ran), 1);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Reuse and failures                                                       */
/* ------------------------------------------------------------------------ */

/* One group, six rounds of spawn + wait in one task.  Round k spawns k+1
 * children; child i of round k fails iff (k + i) % 3 == 0.  After each wait
 * every child spawned so far has run (each sets its slot), and the wait
 * returns how many of the children spawned since the previous wait
 * failed. */
#define REUSE_ROUNDS 6
#define REUSE_MAX (REUSE_ROUNDS * (REUSE_ROUNDS + 1) / 2)

struct reuse_ctx {
	atomic_int bad;
	int got_failed[REUSE_ROUNDS];  /* written by the parent task */
	int want_failed[REUSE_ROUNDS];
	int missing[REUSE_ROUNDS];     /* children not done after the wait */
};

struct reuse_job {
	int *slot;
	int fail;
};

static int reuse_child(void *data)
{
	struct reuse_job *j = data;
	*j->slot += 1;
	return j->fail ? -7 : 0;
}

static int reuse_parent(void *data)
{
	struct reuse_ctx *c = *(struct reuse_ctx **)data;
	int slots[REUSE_MAX];
	memset(slots, 0, sizeof slots);
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	int n = 0;
	for (int k = 0; k < REUSE_ROUNDS; k++) {
		int failed = 0;
		for (int i = 0; i <= k; i++) {
			struct reuse_job j = { &slots[n++], (k + i) % 3 == 0 };
			failed += j.fail;
			if (prunner_group_spawn(&g, reuse_child, &j, sizeof j) != 0)
				atomic_fetch_add(&c->bad, 1);
		}
		c->got_failed[k] = prunner_group_wait(&g);
		c->want_failed[k] = failed;
		for (int s = 0; s < n; s++)
			c->missing[k] += slots[s] != 1;
	}
	return 0;
}

static void reuse_begin(prunner_t *r, void *arg)
{
	struct reuse_ctx *c = arg;
	if (prunner_post(r, reuse_parent, &c, sizeof c) != 0)
		atomic_fetch_add(&c->bad, 1);
}

START_TEST(test_group_reuse)
{
	int w = WORKERS[_i];
	struct reuse_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, reuse_begin, NULL, c), 0);
	int total_failed = 0;
	for (int k = 0; k < REUSE_ROUNDS; k++)
		for (int i = 0; i <= k; i++)
			total_failed += (k + i) % 3 == 0;
	ck_assert_int_eq(prunner_run(r), total_failed);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	for (int k = 0; k < REUSE_ROUNDS; k++) {
		ck_assert_msg(c->missing[k] == 0, "w=%d round %d: %d children not done after the wait", w, k,
		              c->missing[k]);
		ck_assert_msg(c->got_failed[k] == c->want_failed[k],
		              "w=%d round %d: wait returned %d, %d of the round's children failed", w, k,
		              c->got_failed[k], c->want_failed[k]);
	}
	prunner_free(r);
	free(c);
}
END_TEST

/* 60 children, those with i % 3 == 0 fail with various non-zero values
 * (positive, negative, INT_MIN): the wait returns 20 (from a task and from
 * the begin hook, where a second round of 20 children that succeed then
 * returns 0); the run counts 40 failures. */
#define FAILS_N 60

static int fails_child(void *data)
{
	int i = *(int *)data;
	if (i % 3)
		return 0;
	switch (i % 4) {
	case 0:
		return 1;
	case 1:
		return -1;
	case 2:
		return -2147483647 - 1;
	default:
		return 12345;
	}
}

struct fails_ctx {
	atomic_int rc_task, rc_begin, rc_begin2, bad;
};

static int fails_parent(void *data)
{
	struct fails_ctx *c = *(struct fails_ctx **)data;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	for (int i = 0; i < FAILS_N; i++)
		if (prunner_group_spawn(&g, fails_child, &i, sizeof i) != 0)
			atomic_fetch_add(&c->bad, 1);
	atomic_store(&c->rc_task, prunner_group_wait(&g));
	return 0;
}

static void fails_begin(prunner_t *r, void *arg)
{
	struct fails_ctx *c = arg;
	if (prunner_post(r, fails_parent, &c, sizeof c) != 0)
		atomic_fetch_add(&c->bad, 1);
	/* The same from the begin hook (a program thread). */
	prunner_group_t g;
	if (prunner_group_init(&g, r) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	for (int i = 0; i < FAILS_N; i++)
		if (prunner_group_spawn(&g, fails_child, &i, sizeof i) != 0)
			atomic_fetch_add(&c->bad, 1);
	atomic_store(&c->rc_begin, prunner_group_wait(&g));
	/* A second round of children that succeed: nothing to report. */
	for (int i = 1; i < FAILS_N; i += 3)
		if (prunner_group_spawn(&g, fails_child, &i, sizeof i) != 0)
			atomic_fetch_add(&c->bad, 1);
	atomic_store(&c->rc_begin2, prunner_group_wait(&g));
}

START_TEST(test_group_failures)
{
	int w = WORKERS[_i];
	struct fails_ctx c = { 0 };
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, fails_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 2 * FAILS_N / 3);
	ck_assert_int_eq(atomic_load(&c.bad), 0);
	ck_assert_int_eq(atomic_load(&c.rc_task), FAILS_N / 3);
	ck_assert_int_eq(atomic_load(&c.rc_begin), FAILS_N / 3);
	ck_assert_int_eq(atomic_load(&c.rc_begin2), 0);
	check_stats(r, w, 2 * FAILS_N + FAILS_N / 3 + 1, 2 * FAILS_N / 3);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The global lock rule                                                     */
/* ------------------------------------------------------------------------ */

/* Waiting while holding the runner's global lock returns -EDEADLK at once
 * (the child is surely not done: it waits for a flag the waiter sets only
 * afterwards) and leaves the group usable: after unlocking, the wait
 * returns 0 with the child done.  The same for a future's wait inside a
 * task.  From a task and from the begin hook. */
struct lk_ctx {
	atomic_int task_rc, task_rc2, fut_rc, fut_rc2, begin_rc, begin_rc2;
	atomic_int child_ran, bad;
};

struct lk_job {
	atomic_int *flag;
	struct lk_ctx *c;
};

static int lk_child(void *data)
{
	struct lk_job *j = data;
	spin_until(j->flag);
	atomic_fetch_add(&j->c->child_ran, 1);
	return 0;
}

static int lk_parent(void *data)
{
	struct lk_ctx *c = *(struct lk_ctx **)data;
	prunner_t *r = prunner_current();
	atomic_int flag = 0;
	struct lk_job j = { &flag, c };
	prunner_group_t g;
	prunner_lock(r);
	if (prunner_group_init(&g, NULL) != 0 || prunner_group_spawn(&g, lk_child, &j, sizeof j) != 0) {
		prunner_unlock(r);
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	atomic_store(&c->task_rc, prunner_group_wait(&g));
	prunner_unlock(r);
	atomic_store_explicit(&flag, 1, memory_order_release);
	atomic_store(&c->task_rc2, prunner_group_wait(&g));

	/* A future's wait. */
	atomic_int flag2 = 0;
	struct lk_job j2 = { &flag2, c };
	prunner_future_t *f;
	if (prunner_submit(r, lk_child, &j2, sizeof j2, NULL, &f) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	prunner_lock(r);
	atomic_store(&c->fut_rc, prunner_future_wait(f, -1));
	prunner_unlock(r);
	atomic_store_explicit(&flag2, 1, memory_order_release);
	atomic_store(&c->fut_rc2, prunner_future_wait(f, -1));
	prunner_future_release(f);
	return 0;
}

static void lk_begin(prunner_t *r, void *arg)
{
	struct lk_ctx *c = arg;
	if (prunner_post(r, lk_parent, &c, sizeof c) != 0)
		atomic_fetch_add(&c->bad, 1);
	atomic_int flag = 0;
	struct lk_job j = { &flag, c };
	prunner_group_t g;
	prunner_lock(r);
	if (prunner_group_init(&g, r) != 0 || prunner_group_spawn(&g, lk_child, &j, sizeof j) != 0) {
		prunner_unlock(r);
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	atomic_store(&c->begin_rc, prunner_group_wait(&g));
	prunner_unlock(r);
	atomic_store_explicit(&flag, 1, memory_order_release);
	atomic_store(&c->begin_rc2, prunner_group_wait(&g));
}

START_TEST(test_group_wait_holding_lock)
{
	int w = WORKERS[_i];
	struct lk_ctx c = { 0 };
	atomic_store(&c.task_rc, 99);
	atomic_store(&c.begin_rc, 99);
	atomic_store(&c.fut_rc, 99);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, lk_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.bad), 0);
	ck_assert_int_eq(atomic_load(&c.task_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.task_rc2), 0);
	ck_assert_int_eq(atomic_load(&c.begin_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.begin_rc2), 0);
	ck_assert_int_eq(atomic_load(&c.fut_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.fut_rc2), 0);
	ck_assert_int_eq(atomic_load(&c.child_ran), 3);
	/* The same in debug mode (where it is also reported; few workers, to
	 * keep the log short). */
	if (w > 3) {
		prunner_free(r);
		return;
	}
	ck_assert_int_eq(prunner_set_debug(r, true), 0);
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.bad), 0);
	ck_assert_int_eq(atomic_load(&c.task_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.begin_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.fut_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.child_ran), 3);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Waiting from program threads                                             */
/* ------------------------------------------------------------------------ */

/* The begin hook (a program thread: it blocks instead of helping) waits
 * for children that each run a fork-join fib(12); after the wait it reads
 * the children's plain result slots: all written. */
#define BW_N 40

struct bw_ctx {
	struct fib_ctx fib;
	int64_t results[BW_N];
	int rc, missing;
};

static void bw_begin(prunner_t *r, void *arg)
{
	struct bw_ctx *c = arg;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&c->fib.bad, 1);
		return;
	}
	for (int i = 0; i < BW_N; i++) {
		c->results[i] = -1;
		struct fib_job j = { 12, &c->results[i], &c->fib };
		if (prunner_group_spawn(&g, fib_task, &j, sizeof j) != 0)
			atomic_fetch_add(&c->fib.bad, 1);
	}
	(void)r;
	c->rc = prunner_group_wait(&g);
	for (int i = 0; i < BW_N; i++)
		c->missing += c->results[i] != fib_serial(12);
}

START_TEST(test_group_wait_from_begin)
{
	int w = WORKERS[_i];
	struct bw_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->rc = 99;
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, bw_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c->fib.bad), 0);
	ck_assert_int_eq(c->rc, 0);
	ck_assert_msg(c->missing == 0, "w=%d: %d children not done when the begin hook's wait returned", w,
	              c->missing);
	ck_assert_int_eq(atomic_load(&c->fib.calls), BW_N * fib_calls(12));
	prunner_free(r);
	free(c);
}
END_TEST

/* The test thread waits on a group of an open executor, twice. */
START_TEST(test_group_wait_from_program_thread)
{
	int w = WORKERS[_i];
	struct fib_ctx *fc = calloc(1, sizeof *fc);
	ck_assert_ptr_nonnull(fc);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_open(r), 0);
	int64_t res[BW_N];
	prunner_group_t g;
	ck_assert_int_eq(prunner_group_init(&g, r), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < BW_N; i++) {
			res[i] = -1;
			struct fib_job j = { 10 + i % 4, &res[i], fc };
			ck_assert_int_eq(prunner_group_spawn(&g, fib_task, &j, sizeof j), 0);
		}
		ck_assert_int_eq(prunner_group_wait(&g), 0);
		for (int i = 0; i < BW_N; i++)
			ck_assert_msg(res[i] == fib_serial(10 + i % 4), "w=%d: child %d not done after the wait", w, i);
	}
	ck_assert_int_eq(atomic_load(&fc->bad), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	free(fc);
}
END_TEST

/* A task of runner A owns a group of runner B (an outside thread to B: it
 * blocks rather than help A). */
#define XG_N 12

struct xg_ctx {
	prunner_t *b;
	atomic_int bad;
	struct fib_ctx fib;
};

static int xg_task(void *data)
{
	struct xg_ctx *c = *(struct xg_ctx **)data;
	prunner_group_t g;
	int64_t res[4];
	if (prunner_group_init(&g, c->b) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		res[i] = -1;
		struct fib_job j = { 8 + i, &res[i], &c->fib };
		if (prunner_group_spawn(&g, fib_task, &j, sizeof j) != 0)
			atomic_fetch_add(&c->bad, 1);
	}
	if (prunner_group_wait(&g) != 0)
		atomic_fetch_add(&c->bad, 1);
	for (int i = 0; i < 4; i++)
		if (res[i] != fib_serial(8 + i))
			atomic_fetch_add(&c->bad, 1);
	return 0;
}

START_TEST(test_group_of_another_runner)
{
	int w = WORKERS[_i];
	struct xg_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *a = new_runner_default(w);
	c->b = new_runner_default(w == 1 ? 1 : 2);
	ck_assert_int_eq(prunner_open(a), 0);
	ck_assert_int_eq(prunner_open(c->b), 0);
	for (int i = 0; i < XG_N; i++)
		ck_assert_int_eq(prunner_post(a, xg_task, &c, sizeof c), 0);
	ck_assert_int_eq(prunner_wait_idle(a), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->fib.bad), 0);
	ck_assert_int_eq(atomic_load(&c->fib.calls),
	                 XG_N * (fib_calls(8) + fib_calls(9) + fib_calls(10) + fib_calls(11)));
	ck_assert_int_eq(prunner_close(a, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(prunner_close(c->b, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(a);
	prunner_free(c->b);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Children that post plain tasks                                           */
/* ------------------------------------------------------------------------ */

#define PP_CHILDREN 50
#define PP_PLAIN 20

struct pp_ctx {
	atomic_int children, plain, bad, wait_rc;
};

static int pp_plain(void *data)
{
	struct pp_ctx *c = *(struct pp_ctx **)data;
	atomic_fetch_add(&c->plain, 1);
	return 0;
}

static int pp_child(void *data)
{
	struct pp_ctx *c = *(struct pp_ctx **)data;
	for (int k = 0; k < PP_PLAIN; k++)
		if (prunner_post(prunner_current(), pp_plain, &c, sizeof c) != 0)
			atomic_fetch_add(&c->bad, 1);
	atomic_fetch_add(&c->children, 1);
	return 0;
}

static int pp_parent(void *data)
{
	struct pp_ctx *c = *(struct pp_ctx **)data;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	for (int i = 0; i < PP_CHILDREN; i++)
		if (prunner_group_spawn(&g, pp_child, &c, sizeof c) != 0)
			atomic_fetch_add(&c->bad, 1);
	atomic_store(&c->wait_rc, prunner_group_wait(&g));
	/* Every child is done; their plain tasks are part of the run. */
	if (atomic_load(&c->children) != PP_CHILDREN)
		atomic_fetch_add(&c->bad, 1000);
	return 0;
}

static void pp_begin(prunner_t *r, void *arg)
{
	struct pp_ctx *c = arg;
	if (prunner_post(r, pp_parent, &c, sizeof c) != 0)
		atomic_fetch_add(&c->bad, 1);
}

START_TEST(test_group_children_post_plain)
{
	int w = WORKERS[_i];
	struct pp_ctx c = { 0 };
	atomic_store(&c.wait_rc, 99);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, pp_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.bad), 0);
	ck_assert_int_eq(atomic_load(&c.wait_rc), 0);
	ck_assert_int_eq(atomic_load(&c.children), PP_CHILDREN);
	ck_assert_int_eq(atomic_load(&c.plain), PP_CHILDREN * PP_PLAIN);
	check_stats(r, w, 1 + PP_CHILDREN + PP_CHILDREN * PP_PLAIN, 0);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Children cancelled by a CANCEL close                                     */
/* ------------------------------------------------------------------------ */

/* Every worker is held by a gate task; the test thread spawns children
 * (queued behind the gates) into a group, then closes with CANCEL.  A
 * helper thread opens the gates once the close has begun (seen as a post
 * refused with -ECANCELED).  The children never run and each counts as
 * failed: the wait returns their number. */
#define CC_N 30

struct cc_ctx {
	prunner_t *r;
	atomic_int gate, started, child_ran;
	atomic_long helper_posts;
};

static int cc_gate(void *data)
{
	struct cc_ctx *c = *(struct cc_ctx **)data;
	atomic_fetch_add(&c->started, 1);
	spin_until(&c->gate);
	return 0;
}

static int cc_child(void *data)
{
	struct cc_ctx *c = *(struct cc_ctx **)data;
	atomic_fetch_add(&c->child_ran, 1);
	return 0;
}

static int cc_noop(void *data)
{
	(void)data;
	return 0;
}

static void *cc_helper(void *arg)
{
	struct cc_ctx *c = arg;
	long n = 0;
	while (prunner_post(c->r, cc_noop, NULL, 0) == 0)
		n++;
	atomic_store(&c->helper_posts, n);
	atomic_store_explicit(&c->gate, 1, memory_order_release);
	return NULL;
}

START_TEST(test_group_children_cancelled_by_close)
{
	int w = WORKERS[_i];
	struct cc_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner_default(w);
	c->r = r;
	ck_assert_int_eq(prunner_open(r), 0);
	for (int i = 0; i < w; i++)
		ck_assert_int_eq(prunner_post(r, cc_gate, &c, sizeof c), 0);
	while (atomic_load(&c->started) < w)
		sched_yield();
	prunner_group_t g;
	ck_assert_int_eq(prunner_group_init(&g, r), 0);
	for (int i = 0; i < CC_N; i++)
		ck_assert_int_eq(prunner_group_spawn(&g, cc_child, &c, sizeof c), 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, cc_helper, c), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_CANCEL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(prunner_group_wait(&g), CC_N);
	ck_assert_int_eq(atomic_load(&c->child_ran), 0);
	/* After the close, spawns are refused like posts, and not counted:
	 * the next round has nothing to report. */
	ck_assert_int_eq(prunner_group_spawn(&g, cc_child, &c, sizeof c), -ECANCELED);
	ck_assert_int_eq(prunner_group_wait(&g), 0);
	prunner_free(r);
	ck_assert_int_eq(atomic_load(&c->child_ran), 0);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *group_suite(void)
{
	Suite *s = suite_create("runner");
	TCase *tc;

	tc = tcase_create("fork_join");
	tcase_add_loop_test(tc, test_fib20, 0, N_FIB_WORKERS);
	tcase_add_loop_test(tc, test_random_tree, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("groups");
	tcase_add_loop_test(tc, test_group_empty_and_errors, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_group_reuse, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_group_failures, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_group_wait_holding_lock, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_group_children_post_plain, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_group_children_cancelled_by_close, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("program_threads");
	tcase_add_loop_test(tc, test_group_wait_from_begin, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_group_wait_from_program_thread, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_group_of_another_runner, 0, N_WORKERS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	SRunner *sr = srunner_create(group_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
