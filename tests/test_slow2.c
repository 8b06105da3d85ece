/*
 * test_slow2.c - the 'slow' stress suite for the executor, futures,
 * fork-join groups and the completion fd: the checks of test_executor.c,
 * test_future.c and test_group.c repeated at sizes and round counts too
 * large for the default suite (a thousand open/close cycles, fib(25) with
 * a task per call, a hundred rounds of the cancellation race, a thousand
 * rounds of the completion-fd race, many rounds of prunner_wait_idle).
 * Links only the public library.
 *
 * Rules as in test_runner.c: ck_assert only on the test's own thread,
 * tasks record into atomics or per-task slots, no sleeps, no timing: only
 * counts and exact values.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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

static const int SLOW_WORKERS[] = {1, 2, 8};
#define N_SLOW_WORKERS ((int)(sizeof SLOW_WORKERS / sizeof SLOW_WORKERS[0]))

/* ------------------------------------------------------------------------ */
/* A thousand open / post / close / free cycles                             */
/* ------------------------------------------------------------------------ */

/* Each cycle: a new runner (1, 2, 3 or 8 workers, both detectors), open,
 * 30 plain posts and 10 futures with destroy functions, close with DRAIN
 * or CANCEL alternately, check, free.  DRAIN: everything ran once, no
 * destroy.  CANCEL: each future DONE (ran once, no destroy) or CANCELLED
 * (never ran, destroy once); plain tasks ran at most once.  At the end
 * the process has as many threads as before. */
#define OC_CYCLES 1000
#define OC_PLAIN 30
#define OC_FUT 10

struct oc_ctx {
	atomic_int plain_ran;
	atomic_uchar fut_ran[OC_FUT];
	atomic_uchar destroyed[OC_FUT];
	atomic_int bad;
};

struct oc_job {
	uint32_t id;
	struct oc_ctx *c;
};

static int oc_plain(void *data)
{
	struct oc_ctx *c = *(struct oc_ctx **)data;
	atomic_fetch_add(&c->plain_ran, 1);
	return 0;
}

static int oc_fut(void *data)
{
	struct oc_job *j = data;
	atomic_fetch_add(&j->c->fut_ran[j->id], 1);
	return 0;
}

static void oc_destroy(void *data)
{
	struct oc_job *j = data;
	if (j && j->id < OC_FUT)
		atomic_fetch_add(&j->c->destroyed[j->id], 1);
}

START_TEST(test_open_close_cycles)
{
	static const int ws[] = {1, 2, 3, 8};
	prunner_t *r = new_runner(2, PRUNNER_TERMINATION_FLAGS); /* warm-up */
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	int base = thread_count_steady();
	struct oc_ctx *c = malloc(sizeof *c);
	ck_assert_ptr_nonnull(c);
	for (int cycle = 0; cycle < OC_CYCLES; cycle++) {
		int w = ws[cycle % 4];
		enum prunner_termination mode = (cycle / 4) % 2 ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS;
		int cancel = cycle % 2;
		memset(c, 0, sizeof *c);
		r = new_runner(w, mode);
		ck_assert_int_eq(prunner_open(r), 0);
		prunner_future_t *fs[OC_FUT];
		for (int i = 0; i < OC_PLAIN; i++) {
			ck_assert_int_eq(prunner_post(r, oc_plain, &c, sizeof c), 0);
			if (i % 3 == 0 && i / 3 < OC_FUT) {
				struct oc_job j = { (uint32_t)(i / 3), c };
				ck_assert_int_eq(prunner_submit(r, oc_fut, &j, sizeof j, oc_destroy, &fs[i / 3]), 0);
			}
		}
		ck_assert_int_eq(prunner_close(r, cancel ? PRUNNER_CLOSE_CANCEL : PRUNNER_CLOSE_DRAIN), 0);
		int plain = atomic_load(&c->plain_ran);
		if (cancel)
			ck_assert_msg(plain <= OC_PLAIN, "cycle %d: %d plain tasks ran", cycle, plain);
		else
			ck_assert_msg(plain == OC_PLAIN, "cycle %d (w=%d, DRAIN): %d plain tasks ran, expected %d", cycle, w,
			              plain, OC_PLAIN);
		for (int i = 0; i < OC_FUT; i++) {
			enum prunner_future_state st = prunner_future_state(fs[i]);
			int ran = atomic_load(&c->fut_ran[i]), dest = atomic_load(&c->destroyed[i]);
			if (st == PRUNNER_FUTURE_DONE)
				ck_assert_msg(ran == 1 && dest == 0, "cycle %d: DONE future %d ran %d, destroyed %d", cycle, i,
				              ran, dest);
			else
				ck_assert_msg(cancel && st == PRUNNER_FUTURE_CANCELLED && ran == 0 && dest == 1,
				              "cycle %d (w=%d, %s): future %d in state %d, ran %d, destroyed %d", cycle, w,
				              cancel ? "CANCEL" : "DRAIN", i, (int)st, ran, dest);
			prunner_future_release(fs[i]);
		}
		ck_assert_int_eq(prunner_post(r, noop_task, NULL, 0), -ECANCELED);
		prunner_free(r);
	}
	free(c);
	if (base >= 0) {
		int after = thread_count_after_join(base);
		ck_assert_msg(after == base, "%d threads after %d cycles, %d before", after, OC_CYCLES, base);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* fib(25), a task per call                                                 */
/* ------------------------------------------------------------------------ */

START_TEST(test_fib25)
{
	int w = SLOW_WORKERS[_i];
	struct fib_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->n = 25;
	c->result = -1;
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_set_hooks(r, fib_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_msg(c->result == 75025, "w=%d: fib(25) = %" PRId64, w, c->result);
	ck_assert_int_eq(atomic_load(&c->calls), fib_calls(25));
	/* The same on an open executor, the root waited by the test thread
	 * through a group. */
	memset(c, 0, sizeof *c);
	ck_assert_int_eq(prunner_open(r), 0);
	prunner_group_t g;
	ck_assert_int_eq(prunner_group_init(&g, r), 0);
	struct fib_job j = { 25, &c->result, c };
	ck_assert_int_eq(prunner_group_spawn(&g, fib_task, &j, sizeof j), 0);
	ck_assert_int_eq(prunner_group_wait(&g), 0);
	ck_assert_msg(c->result == 75025, "w=%d executor: fib(25) = %" PRId64, w, c->result);
	ck_assert_int_eq(atomic_load(&c->calls), fib_calls(25));
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The cancellation race, many rounds                                       */
/* ------------------------------------------------------------------------ */

/* As test_future.c: N short tasks submitted while a program thread
 * cancels every other one as soon as it is published; each future ends
 * in exactly one final state, consistent with whether its task ran and
 * with its cancel's return; destroy once per CANCELLED future; each
 * delivered once by the completion fd. */
#define RACE_N 1000

struct race_ctx {
	_Atomic(prunner_future_t *) fs[RACE_N];
	int cancel_rc[RACE_N];
	atomic_uchar ran[RACE_N];
	atomic_uchar destroyed[RACE_N];
	atomic_uchar delivered[RACE_N];
	atomic_int bad;
};

struct race_job {
	uint32_t id;
	struct race_ctx *c;
};

static int race_ret(uint32_t id)
{
	return id % 5 == 3 ? (int)id + 1 : 0;
}

static int race_task(void *data)
{
	struct race_job *j = data;
	atomic_fetch_add(&j->c->ran[j->id], 1);
	set_result_i64(j->id);
	return race_ret(j->id);
}

static atomic_int g_race_bad_payload;

static void race_destroy(void *data)
{
	struct race_job *j = data;
	if (!j || j->id >= RACE_N) {
		atomic_fetch_add(&g_race_bad_payload, 1);
		return;
	}
	atomic_fetch_add(&j->c->destroyed[j->id], 1);
}

static void *race_canceller(void *arg)
{
	struct race_ctx *c = arg;
	for (uint32_t i = 0; i < RACE_N; i += 2) {
		prunner_future_t *f;
		while (!(f = atomic_load_explicit(&c->fs[i], memory_order_acquire)))
			sched_yield();
		c->cancel_rc[i] = prunner_future_cancel(f);
	}
	return NULL;
}

/* One round on the open runner r (completion fd fd); returns nothing. */
static void race_round(prunner_t *r, int fd, int w, int round)
{
	struct race_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, race_canceller, c), 0);
	for (uint32_t i = 0; i < RACE_N; i++) {
		struct race_job j = { i, c };
		prunner_future_t *f = NULL;
		if (prunner_submit(r, race_task, &j, sizeof j, race_destroy, &f) != 0 || !f) {
			atomic_fetch_add(&c->bad, 1);
			ck_assert_int_eq(prunner_submit(r, noop_task, NULL, 0, NULL, &f), 0);
		}
		atomic_store_explicit(&c->fs[i], f, memory_order_release);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	prunner_future_t **all = malloc(RACE_N * sizeof *all);
	ck_assert_ptr_nonnull(all);
	for (uint32_t i = 0; i < RACE_N; i++)
		all[i] = atomic_load(&c->fs[i]);
	ck_assert_int_eq(prunner_wait_all(all, RACE_N, -1), 0);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	int cancelled = 0, cancel_ok = 0, destroyed = 0;
	for (uint32_t i = 0; i < RACE_N; i++) {
		enum prunner_future_state st = prunner_future_state(all[i]);
		int ran = atomic_load(&c->ran[i]), dest = atomic_load(&c->destroyed[i]);
		destroyed += dest;
		if (i % 2 == 0 && c->cancel_rc[i] == 0)
			cancel_ok++;
		if (st == PRUNNER_FUTURE_CANCELLED) {
			cancelled++;
			ck_assert_msg(ran == 0 && dest == 1 && i % 2 == 0 && c->cancel_rc[i] == 0,
			              "w=%d round %d: CANCELLED future %u ran %d, destroyed %d", w, round, i, ran, dest);
		} else {
			int ret = race_ret(i);
			ck_assert_msg(st == (ret ? PRUNNER_FUTURE_FAILED : PRUNNER_FUTURE_DONE) && ran == 1 && dest == 0,
			              "w=%d round %d: future %u in state %d ran %d, destroyed %d", w, round, i, (int)st, ran,
			              dest);
			if (i % 2 == 0)
				ck_assert_msg(c->cancel_rc[i] == -EBUSY || c->cancel_rc[i] == -EALREADY,
				              "w=%d round %d: future %u ran, cancel returned %d", w, round, i,
				              c->cancel_rc[i]);
			ck_assert_int_eq(prunner_future_status(all[i]), ret);
		}
	}
	ck_assert_int_eq(atomic_load(&g_race_bad_payload), 0);
	ck_assert_int_eq(cancelled, cancel_ok);
	ck_assert_int_eq(destroyed, cancelled);

	struct ptr_idx *map = malloc(RACE_N * sizeof *map);
	ck_assert_ptr_nonnull(map);
	for (uint32_t i = 0; i < RACE_N; i++)
		map[i] = (struct ptr_idx){ (uintptr_t)all[i], i };
	qsort(map, RACE_N, sizeof *map, cmp_ptr);
	int total = 0;
	prunner_future_t *buf[64];
	for (;;) {
		int n = prunner_completed(r, buf, 64);
		ck_assert_int_ge(n, 0);
		for (int k = 0; k < n; k++) {
			uintptr_t key = (uintptr_t)buf[k];
			struct ptr_idx *hit = bsearch(&key, map, RACE_N, sizeof *map, cmp_ptr);
			ck_assert_msg(hit != NULL, "w=%d round %d: unknown future delivered", w, round);
			ck_assert_msg(atomic_fetch_add(&c->delivered[hit->i], 1) == 0,
			              "w=%d round %d: future %u delivered twice", w, round, hit->i);
			prunner_future_release(buf[k]);
		}
		total += n;
		if (n < 64)
			break;
	}
	ck_assert_msg(total == RACE_N, "w=%d round %d: %d completions, expected %d", w, round, total, RACE_N);
	ck_assert(!fd_readable_now(fd));
	for (uint32_t i = 0; i < RACE_N; i++)
		prunner_future_release(all[i]);
	free(map);
	free(all);
	free(c);
}

START_TEST(test_cancel_race_100_rounds)
{
	int w = 8;
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	int fd = prunner_completion_fd(r);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(prunner_open(r), 0);
	for (int round = 0; round < 100; round++)
		race_round(r, fd, w, round);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The completion-fd race, a thousand rounds                                */
/* ------------------------------------------------------------------------ */

#define CR_N 300

struct cr_ctx {
	prunner_t *r;
	int fd;
	int n;
	atomic_uchar seen[CR_N];
	atomic_int got, cancelled, dup, bad, poll_err;
};

static int cr_task(void *data)
{
	uint32_t id = *(uint32_t *)data;
	set_result_i64(id);
	return 0;
}

static void *cr_drainer(void *arg)
{
	struct cr_ctx *c = arg;
	prunner_future_t *out[16];
	int got = 0;
	while (got < c->n) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0) {
			atomic_fetch_add(&c->poll_err, 1);
			continue;
		}
		int n = prunner_completed(c->r, out, 16);
		if (n < 0) {
			atomic_fetch_add(&c->bad, 1);
			break;
		}
		for (int k = 0; k < n; k++) {
			enum prunner_future_state st = prunner_future_state(out[k]);
			if (st == PRUNNER_FUTURE_CANCELLED) {
				atomic_fetch_add(&c->cancelled, 1);
			} else {
				int64_t id = -1;
				size_t len = 0;
				if (st != PRUNNER_FUTURE_DONE ||
				    prunner_future_result(out[k], &id, sizeof id, &len) != 0 || len != sizeof id ||
				    id < 0 || id >= c->n)
					atomic_fetch_add(&c->bad, 1);
				else if (atomic_fetch_add(&c->seen[id], 1) != 0)
					atomic_fetch_add(&c->dup, 1);
			}
			prunner_future_release(out[k]);
		}
		got += n;
	}
	atomic_store(&c->got, got);
	return NULL;
}

static void completion_round(prunner_t *r, int fd, int w, int round)
{
	struct cr_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	c->fd = fd;
	c->n = CR_N;
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, cr_drainer, c), 0);
	int cancel_ok = 0;
	for (uint32_t i = 0; i < CR_N; i++) {
		if (i % 4 == 0) {
			prunner_future_t *f;
			ck_assert_int_eq(prunner_submit(r, cr_task, &i, sizeof i, NULL, &f), 0);
			if (i % 8 == 0 && prunner_future_cancel(f) == 0)
				cancel_ok++;
			prunner_future_release(f);
		} else {
			ck_assert_int_eq(prunner_submit(r, cr_task, &i, sizeof i, NULL, NULL), 0);
		}
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(atomic_load(&c->bad) == 0 && atomic_load(&c->dup) == 0 && atomic_load(&c->poll_err) == 0,
	              "w=%d round %d: bad %d, duplicates %d, poll errors %d", w, round, atomic_load(&c->bad),
	              atomic_load(&c->dup), atomic_load(&c->poll_err));
	ck_assert_int_eq(atomic_load(&c->got), CR_N);
	ck_assert_int_eq(atomic_load(&c->cancelled), cancel_ok);
	int seen = 0;
	for (int i = 0; i < CR_N; i++)
		seen += atomic_load(&c->seen[i]);
	ck_assert_int_eq(seen + cancel_ok, CR_N);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	prunner_future_t *out[4];
	ck_assert_int_eq(prunner_completed(r, out, 4), 0);
	ck_assert(!fd_readable_now(fd));
	free(c);
}

START_TEST(test_completion_race_1000_rounds)
{
	static const int ws[] = {1, 2, 8};
	for (int k = 0; k < 3; k++) {
		int w = ws[k];
		prunner_t *r = new_runner(w, k == 1 ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS);
		int fd = prunner_completion_fd(r);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(prunner_open(r), 0);
		int rounds = k == 2 ? 334 : 333;
		for (int round = 0; round < rounds; round++)
			completion_round(r, fd, w, round);
		ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
		prunner_free(r);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_wait_idle, many rounds                                           */
/* ------------------------------------------------------------------------ */

/* One program thread: post a chain of 1-3 tasks, wait_idle, check the
 * count, 20000 times; every 50 rounds a close, a prunner_run and a new
 * open in between.  Then four threads doing the same concurrently. */
struct wi_ctx {
	prunner_t *r;
	atomic_long count[4];
	atomic_int early[4];
	int first_round[4];
	long first_short[4];
	atomic_int bad;
};

struct wi_job {
	atomic_long *counter;
	int depth;
	atomic_int *bad;
};

static int wi_task(void *data)
{
	struct wi_job *j = data;
	if (j->depth > 0) {
		struct wi_job child = { j->counter, j->depth - 1, j->bad };
		if (prunner_post(prunner_current(), wi_task, &child, sizeof child) != 0)
			atomic_fetch_add(j->bad, 1);
	}
	atomic_fetch_add(j->counter, 1);
	return 0;
}

static void wi_begin(prunner_t *r, void *arg)
{
	struct wi_ctx *c = arg;
	struct wi_job j = { &c->count[0], 0, &c->bad };
	prunner_post(r, wi_task, &j, sizeof j);
}

struct wi_arg {
	struct wi_ctx *c;
	int t, rounds, with_runs;
};

static void *wi_thread(void *p)
{
	struct wi_arg *a = p;
	struct wi_ctx *c = a->c;
	long want = 0;
	for (int round = 0; round < a->rounds; round++) {
		struct wi_job j = { &c->count[a->t], round % 3, &c->bad };
		if (prunner_post(c->r, wi_task, &j, sizeof j) != 0)
			atomic_fetch_add(&c->bad, 1);
		want += round % 3 + 1;
		if (prunner_wait_idle(c->r) != 0)
			atomic_fetch_add(&c->bad, 1);
		long got = atomic_load(&c->count[a->t]);
		if (got != want) {
			if (atomic_fetch_add(&c->early[a->t], 1) == 0) {
				c->first_round[a->t] = round;
				c->first_short[a->t] = want - got;
			}
			while (atomic_load(&c->count[a->t]) != want)
				sched_yield();
		}
		if (a->with_runs && round % 50 == 49) {
			if (prunner_close(c->r, PRUNNER_CLOSE_DRAIN) != 0 || prunner_run(c->r) != 0 ||
			    prunner_open(c->r) != 0)
				atomic_fetch_add(&c->bad, 1);
			want += 1;
			if (atomic_load(&c->count[a->t]) != want)
				atomic_fetch_add(&c->bad, 1);
		}
	}
	return NULL;
}

static void wait_idle_rounds(int w, enum prunner_termination mode, int threads, int with_runs, int rounds)
{
	struct wi_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, mode);
	c->r = r;
	ck_assert_int_eq(prunner_set_hooks(r, wi_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	pthread_t th[4];
	struct wi_arg args[4];
	for (int t = 0; t < threads; t++) {
		args[t] = (struct wi_arg){ c, t, rounds, with_runs };
		ck_assert_int_eq(pthread_create(&th[t], NULL, wi_thread, &args[t]), 0);
	}
	for (int t = 0; t < threads; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	for (int t = 0; t < threads; t++)
		ck_assert_msg(atomic_load(&c->early[t]) == 0,
		              "w=%d %s, %d thread(s)%s: prunner_wait_idle returned before the caller's tasks ran in "
		              "%d of %d rounds of thread %d (first: round %d, %ld tasks not done)",
		              w, mode == PRUNNER_TERMINATION_COUNTER ? "counter" : "flags", threads,
		              with_runs ? ", close/run/open every 50 rounds" : "", atomic_load(&c->early[t]), rounds, t,
		              c->first_round[t], c->first_short[t]);
	prunner_free(r);
	free(c);
}

/* Loop index: workers (1, 2, 8) x detector (flags, counter) x kind (one
 * thread with a close, a run and an open every 50 rounds; one thread, the
 * executor open throughout; four threads). */
START_TEST(test_wait_idle_many_rounds)
{
	int w = SLOW_WORKERS[_i % N_SLOW_WORKERS];
	enum prunner_termination mode =
	    (_i / N_SLOW_WORKERS) % 2 ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS;
	int kind = _i / (2 * N_SLOW_WORKERS);
	if (kind == 0)
		wait_idle_rounds(w, mode, 1, 1, 20000);
	else if (kind == 1)
		wait_idle_rounds(w, mode, 1, 0, 20000);
	else
		wait_idle_rounds(w, mode, 4, 0, 5000);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Random fork-join trees, many seeds                                       */
/* ------------------------------------------------------------------------ */

START_TEST(test_random_trees_many)
{
	int w = SLOW_WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_open(r), 0);
	for (uint64_t seed = 1; seed <= 300; seed++) {
		int64_t want_sum = 0;
		long want_nodes = 0;
		int want_fails = 0;
		tree_serial(seed, 0, &want_sum, &want_nodes, &want_fails);
		struct tree_ctx *c = calloc(1, sizeof *c);
		ck_assert_ptr_nonnull(c);
		c->sum = -1;
		/* The root is a group child of the test thread. */
		prunner_group_t g;
		ck_assert_int_eq(prunner_group_init(&g, r), 0);
		struct tree_job j = { seed, 0, &c->sum, c };
		ck_assert_int_eq(prunner_group_spawn(&g, tree_task, &j, sizeof j), 0);
		ck_assert_int_eq(prunner_group_wait(&g), tree_fails(seed));
		ck_assert_int_eq(atomic_load(&c->bad), 0);
		ck_assert_int_eq(atomic_load(&c->wrong_failed), 0);
		ck_assert_msg(atomic_load(&c->nodes) == want_nodes && c->sum == want_sum,
		              "w=%d seed %" PRIu64 ": %ld nodes, sum %" PRId64 "; expected %ld, %" PRId64, w, seed,
		              atomic_load(&c->nodes), c->sum, want_nodes, want_sum);
		free(c);
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *slow2_suite(void)
{
	Suite *s = suite_create("slow");
	TCase *tc;

	tc = tcase_create("executor");
	tcase_add_test(tc, test_open_close_cycles);
	tcase_add_loop_test(tc, test_wait_idle_many_rounds, 0, 6 * N_SLOW_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("fork_join");
	tcase_add_loop_test(tc, test_fib25, 0, N_SLOW_WORKERS);
	tcase_add_loop_test(tc, test_random_trees_many, 0, N_SLOW_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("futures");
	tcase_add_test(tc, test_cancel_race_100_rounds);
	tcase_add_test(tc, test_completion_race_1000_rounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "900", 0);
	SRunner *sr = srunner_create(slow2_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
