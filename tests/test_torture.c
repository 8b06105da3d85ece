/*
 * test_torture.c - torture tests of the 'slow' suite, scheduler part: the
 * checks a runtime that others trust is expected to pass, at every worker
 * count from 1 to twice the online CPUs plus 64 and 256 (test_torture.h).
 *
 *   - nested spawning: a binary tree of 2^22 leaves (8,388,607 tasks), each
 *     leaf setting its own bit; with prunner_run, on an executor closed
 *     (DRAIN) while the tree is still spawning, and fork-join (every node
 *     waits for its halves in a group);
 *   - re-posting chains through stages: 8,192 chains x 64 stages (524,288
 *     tasks) through the labelled-task API, and the same chains bouncing
 *     between two executors (every stage an outside post into the other);
 *   - lost wake-ups: one worker, 30,000 post-and-wait rounds, each wait
 *     with a 10 s deadline (and 10,000 at every count); two workers,
 *     100,000 rounds as short runs and 100,000 on an executor of a task
 *     spinning until a flag is set and the no-op task that sets it, posted
 *     from the spinning worker (another worker must wake to steal it) or
 *     from outside (10,000 of each at every count from 2).
 *
 * Idle CPU, memory stability and fork are in test_torture2.c.
 *
 * Rules as in test_runner.c: ck_assert only on the test's own thread, tasks
 * record into atomics and per-task slots, no sleeps, no timed assertions.
 * The 10 s limits are liveness deadlines (a lost wake-up never completes; a
 * round that passes its deadline fails the test with its number), not
 * speed checks.
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
#include "test_torture.h"
#include "testutil.h"

static int g_counts[TORTURE_MAX_COUNTS];
static int g_ncounts;

/* Every liveness deadline: a round not done 10 s after it started lost a
 * wake-up (or deadlocked). */
#define LIMIT_NS (10 * 1000000000LL)

/* ------------------------------------------------------------------------ */
/* A binary tree of 2^22 leaves                                             */
/* ------------------------------------------------------------------------ */

/* Node (lo, n) posts its two halves to the runner it runs on; a leaf sets
 * bit lo.  A bit already set is a task that ran twice; a bit missing at
 * the end, one that never ran. */
#define BT_LEAVES (1u << 22)
#define BT_TASKS  (2ull * BT_LEAVES - 1)

struct bt_ctx {
	_Atomic uint64_t *bits; /* BT_LEAVES / 64 words */
	atomic_uint twice;
	atomic_int post_err;
};

struct bt_msg {
	struct bt_ctx *c;
	uint32_t lo, n;
};

static int bt_task(void *data)
{
	struct bt_msg m = *(struct bt_msg *)data;
	if (m.n == 1) {
		uint64_t bit = 1ull << (m.lo & 63);
		if (atomic_fetch_or_explicit(&m.c->bits[m.lo >> 6], bit, memory_order_relaxed) & bit)
			atomic_fetch_add(&m.c->twice, 1);
		return 0;
	}
	uint32_t half = m.n / 2;
	struct bt_msg a = {m.c, m.lo, half}, b = {m.c, m.lo + half, m.n - half};
	prunner_t *r = prunner_current();
	if (prunner_post(r, bt_task, &a, sizeof a) != 0 || prunner_post(r, bt_task, &b, sizeof b) != 0)
		atomic_fetch_add(&m.c->post_err, 1);
	return 0;
}

static void bt_begin(prunner_t *r, void *arg)
{
	struct bt_msg m = {arg, 0, BT_LEAVES};
	if (prunner_post(r, bt_task, &m, sizeof m) != 0)
		atomic_fetch_add(&m.c->post_err, 1);
}

/* The same tree fork-join: a node spawns its halves into a group on its
 * stack and waits for them (helping), as TensorFlow's nested
 * ParallelFor does. */
static int bt_join_task(void *data)
{
	struct bt_msg m = *(struct bt_msg *)data;
	if (m.n == 1)
		return bt_task(data);
	uint32_t half = m.n / 2;
	struct bt_msg a = {m.c, m.lo, half}, b = {m.c, m.lo + half, m.n - half};
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0 || prunner_group_spawn(&g, bt_join_task, &a, sizeof a) != 0 ||
	    prunner_group_spawn(&g, bt_join_task, &b, sizeof b) != 0 || prunner_group_wait(&g) != 0)
		atomic_fetch_add(&m.c->post_err, 1);
	return 0;
}

static void bt_reset(struct bt_ctx *c)
{
	memset(c->bits, 0, BT_LEAVES / 8);
	atomic_store(&c->twice, 0);
	atomic_store(&c->post_err, 0);
}

static void bt_check(struct bt_ctx *c, int w, const char *how)
{
	uint64_t leaves = 0;
	uint32_t first_missing = BT_LEAVES;
	for (uint32_t i = 0; i < BT_LEAVES / 64; i++) {
		uint64_t v = atomic_load_explicit(&c->bits[i], memory_order_relaxed);
		leaves += (uint64_t)__builtin_popcountll(v);
		if (v != ~0ull && first_missing == BT_LEAVES)
			first_missing = i * 64 + (uint32_t)__builtin_ctzll(~v);
	}
	ck_assert_msg(
	    atomic_load(&c->post_err) == 0 && atomic_load(&c->twice) == 0 && leaves == BT_LEAVES,
	    "w=%d %s: %" PRIu64 " of %u leaves ran (first missing %u), %u ran twice, %d failed posts", w, how,
	    leaves, BT_LEAVES, first_missing, atomic_load(&c->twice), atomic_load(&c->post_err));
}

/* Loop index: worker count.  The two ways alternate the detectors. */
START_TEST(test_binary_tree_2p22)
{
	int w = g_counts[_i];
	struct bt_ctx c;
	c.bits = malloc(BT_LEAVES / 8);
	ck_assert_ptr_nonnull(c.bits);

	/* prunner_run, the runner freed as soon as it returns. */
	bt_reset(&c);
	prunner_t *r = new_runner(w, (_i & 1) ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_set_hooks(r, bt_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	bt_check(&c, w, "prunner_run");
	check_run_stats(r, w, BT_TASKS, 0);
	prunner_free(r);

	/* An executor: the root posted from this thread, then at once a DRAIN
	 * close while the tree is spawning (the tasks' posts are accepted
	 * work), then at once prunner_free. */
	bt_reset(&c);
	r = new_runner(w, (_i & 1) ? PRUNNER_TERMINATION_FLAGS : PRUNNER_TERMINATION_COUNTER);
	ck_assert_int_eq(prunner_open(r), 0);
	struct bt_msg root = {&c, 0, BT_LEAVES};
	ck_assert_int_eq(prunner_post(r, bt_task, &root, sizeof root), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	bt_check(&c, w, "open, post, close(DRAIN) while spawning");
	check_run_stats(r, w, BT_TASKS, 0);

	/* Fork-join on the same runner, reopened: the root is a group child
	 * of this thread. */
	bt_reset(&c);
	ck_assert_int_eq(prunner_open(r), 0);
	prunner_group_t g;
	ck_assert_int_eq(prunner_group_init(&g, r), 0);
	ck_assert_int_eq(prunner_group_spawn(&g, bt_join_task, &root, sizeof root), 0);
	ck_assert_int_eq(prunner_group_wait(&g), 0);
	bt_check(&c, w, "fork-join groups");
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	check_run_stats(r, w, BT_TASKS, 0);
	prunner_free(r);
	free(c.bits);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Re-posting chains through stages                                         */
/* ------------------------------------------------------------------------ */

/* Chain k starts with acc = mix64(k); stage s replaces acc by
 * mix64(acc + s) and posts stage s + 1; the last stage stores acc. */
#define CH_CHAINS 8192
#define CH_STAGES 64
#define CH_TASKS  ((uint64_t)CH_CHAINS * CH_STAGES)

struct ch_ctx {
	prunner_t *rs[2]; /* ping-pong: stage s runs on rs[s & 1] */
	atomic_uint stage_runs[CH_STAGES];
	atomic_uchar finished[CH_CHAINS];
	uint64_t acc[CH_CHAINS]; /* written by the chain's last stage only */
	atomic_int done;         /* chains finished (ping-pong) */
	atomic_int bad;
};

static uint64_t ch_step(uint64_t acc, uint32_t stage)
{
	return mix64(acc + stage);
}

/* Stage `stage` of `chain` ran with `acc`: counts it, returns the next
 * acc, and records the chain's end after the last stage. */
static uint64_t ch_stage(struct ch_ctx *c, uint32_t chain, uint32_t stage, uint64_t acc)
{
	if (chain >= CH_CHAINS || stage >= CH_STAGES) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	atomic_fetch_add_explicit(&c->stage_runs[stage], 1, memory_order_relaxed);
	acc = ch_step(acc, stage);
	if (stage + 1 == CH_STAGES) {
		c->acc[chain] = acc;
		atomic_fetch_add(&c->finished[chain], 1);
		atomic_fetch_add(&c->done, 1); /* seq_cst: publishes acc[chain] */
	}
	return acc;
}

static void ch_check(struct ch_ctx *c, int w, const char *how)
{
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	for (uint32_t s = 0; s < CH_STAGES; s++)
		ck_assert_msg(atomic_load(&c->stage_runs[s]) == CH_CHAINS,
		              "w=%d %s: stage %u ran %u times, expected %u", w, how, s,
		              atomic_load(&c->stage_runs[s]), CH_CHAINS);
	for (uint32_t k = 0; k < CH_CHAINS; k++) {
		uint64_t want = mix64(k);
		for (uint32_t s = 0; s < CH_STAGES; s++)
			want = ch_step(want, s);
		ck_assert_msg(atomic_load(&c->finished[k]) == 1 && c->acc[k] == want,
		              "w=%d %s: chain %u finished %d times with acc %016" PRIx64
		              ", expected once with %016" PRIx64,
		              w, how, k, (int)atomic_load(&c->finished[k]), c->acc[k], want);
	}
}

/* The labelled-task API: the label is the stage. */
struct ch_msg {
	uint32_t chain;
	uint32_t pad;
	uint64_t acc;
};

static int ch_run(prunner_t *r, const struct prunner_task *task)
{
	struct ch_ctx *c = prunner_userdata(r);
	struct ch_msg m;
	if (task->size != sizeof m || task->label < 0) {
		atomic_fetch_add(&c->bad, 1);
		return 1;
	}
	memcpy(&m, task->data, sizeof m);
	uint32_t stage = (uint32_t)task->label;
	m.acc = ch_stage(c, m.chain, stage, m.acc);
	if (stage + 1 < CH_STAGES && prunner_queue_put(r, (int)stage + 1, &m, sizeof m) != 0)
		atomic_fetch_add(&c->bad, 1);
	return 0;
}

static void ch_begin(prunner_t *r, void *options)
{
	struct ch_ctx *c = options;
	for (uint32_t k = 0; k < CH_CHAINS; k++) {
		struct ch_msg m = {k, 0, mix64(k)};
		if (prunner_queue_put(r, 0, &m, sizeof m) != 0)
			atomic_fetch_add(&c->bad, 1);
	}
}

START_TEST(test_stage_chains_labelled)
{
	int w = g_counts[_i];
	struct ch_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	static const struct prunner_class cls = {ch_begin, ch_run, NULL};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &cls, c), 0);
	ck_assert_int_eq(prunner_set_userdata(r, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ch_check(c, w, "labelled");
	check_run_stats(r, w, CH_TASKS, 0);
	prunner_free(r);
	free(c);
}
END_TEST

/* Two executors: stage s runs on rs[s & 1] and posts stage s + 1 to the
 * other one, so every hop is a post from outside that pool (its injector,
 * its sleepers).  The test thread waits for a quiet instant of each in
 * turn until every chain is done (each wait returns only after such an
 * instant, so the loop follows the chains' progress). */
struct pp_msg {
	struct ch_ctx *c;
	uint32_t chain, stage;
	uint64_t acc;
};

static int pp_task(void *data)
{
	struct pp_msg m = *(struct pp_msg *)data;
	struct ch_ctx *c = m.c;
	if (m.stage >= CH_STAGES || prunner_current() != c->rs[m.stage & 1]) {
		atomic_fetch_add(&c->bad, 1);
		return 1;
	}
	m.acc = ch_stage(c, m.chain, m.stage, m.acc);
	m.stage++;
	if (m.stage < CH_STAGES && prunner_post(c->rs[m.stage & 1], pp_task, &m, sizeof m) != 0)
		atomic_fetch_add(&c->bad, 1);
	return 0;
}

START_TEST(test_stage_chains_ping_pong)
{
	int w = g_counts[_i];
	struct ch_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	for (int i = 0; i < 2; i++) {
		c->rs[i] =
		    new_runner(w, (i ^ _i) & 1 ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS);
		ck_assert_int_eq(prunner_open(c->rs[i]), 0);
	}
	for (uint32_t k = 0; k < CH_CHAINS; k++) {
		struct pp_msg m = {c, k, 0, mix64(k)};
		ck_assert_int_eq(prunner_post(c->rs[0], pp_task, &m, sizeof m), 0);
	}
	while (atomic_load(&c->done) < CH_CHAINS && atomic_load(&c->bad) == 0) {
		ck_assert_int_eq(prunner_wait_idle(c->rs[0]), 0);
		ck_assert_int_eq(prunner_wait_idle(c->rs[1]), 0);
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(prunner_close(c->rs[i], PRUNNER_CLOSE_DRAIN), 0);
	ch_check(c, w, "ping-pong between two executors");
	for (int i = 0; i < 2; i++) {
		check_run_stats(c->rs[i], w, CH_TASKS / 2, 0);
		prunner_free(c->rs[i]);
	}
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Lost wake-ups: one worker, post and wait                                 */
/* ------------------------------------------------------------------------ */

static int pw_task(void *data)
{
	set_result_i64((int64_t)mix64(*(uint64_t *)data));
	return 0;
}

static int pw_then(void *data)
{
	set_result_i64(*(int64_t *)data + 1);
	return 0;
}

/* Before the next post: nothing, a short busy pause of varying length,
 * or (every eighth round) until every worker thread is asleep in the
 * kernel as far as /proc tells (a bounded wait: a worker that does not
 * get there is no failure, the round is then just less pointed).  So the
 * posts meet the workers searching, spinning, yielding, joining the sleep
 * set and asleep.  The lengths vary the interleavings only: no check
 * depends on them. */
static void pw_pause(unsigned round, const pid_t *workers, int nworkers)
{
	uint64_t h = mix64(round);
	if (round % 8 == 7) {
		for (int tries = 0; tries < 200; tries++) {
			int i = 0;
			while (i < nworkers && torture_thread_state(workers[i]) == 'S')
				i++;
			if (i == nworkers)
				break;
			sched_yield();
		}
	} else if (h & 1) {
		atomic_int spin = 0;
		for (unsigned k = (unsigned)(h >> 8) % 20000; k > 0; k--)
			atomic_fetch_add_explicit(&spin, 1, memory_order_relaxed);
	}
}

/* The worker threads of an executor just opened: the threads that did not
 * exist in before[]. */
static int pw_workers(const pid_t *before, int nb, pid_t *out, int max)
{
	pid_t *now = malloc((size_t)max * sizeof *now);
	ck_assert_ptr_nonnull(now);
	int nn = torture_list_tids(now, max);
	int n = nn < 0 ? 0 : torture_new_tids(before, nb, now, nn, out);
	free(now);
	return n;
}

/* `rounds` rounds on an executor of w workers, from this thread: submit a
 * future (kind 0), a future and a continuation (kind 1, wait for the
 * continuation), or two futures (kind 2, wait_all); every wait has a 10 s
 * deadline; every result is checked. */
static void post_and_wait(int w, unsigned rounds)
{
	enum { MAXT = 1100 };
	pid_t *before = malloc(MAXT * sizeof *before), *workers = malloc(MAXT * sizeof *workers);
	ck_assert(before && workers);
	int nb = torture_list_tids(before, MAXT);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_open(r), 0);
	int nw = nb < 0 ? 0 : pw_workers(before, nb, workers, MAXT);
	for (unsigned round = 0; round < rounds; round++) {
		uint64_t v = round;
		prunner_future_t *f = NULL, *g = NULL;
		ck_assert_int_eq(prunner_submit(r, pw_task, &v, sizeof v, NULL, &f), 0);
		int kind = (int)(round % 3), rc;
		int64_t want_f = (int64_t)mix64(round), want_g = 0;
		if (kind == 1) {
			ck_assert_int_eq(prunner_then(f, pw_then, NULL, &g), 0);
			want_g = want_f + 1;
			rc = prunner_future_wait(g, LIMIT_NS);
			if (rc == 0)
				rc = prunner_future_wait(f, 0);
		} else if (kind == 2) {
			uint64_t v2 = round + 1;
			ck_assert_int_eq(prunner_submit(r, pw_task, &v2, sizeof v2, NULL, &g), 0);
			want_g = (int64_t)mix64(v2);
			prunner_future_t *both[2] = {f, g};
			rc = prunner_wait_all(both, 2, LIMIT_NS);
		} else {
			rc = prunner_future_wait(f, LIMIT_NS);
		}
		if (rc != 0)
			ck_abort_msg("w=%d round %u of %u (kind %d): wait returned %d: not done within 10 s, "
			             "a lost wake-up",
			             w, round, rounds, kind, rc);
		ck_assert_msg(torture_result_i64(f) == want_f && (!g || torture_result_i64(g) == want_g),
		              "w=%d round %u: results %" PRId64 " %" PRId64 ", expected %" PRId64 " %" PRId64,
		              w, round, torture_result_i64(f), g ? torture_result_i64(g) : 0, want_f, want_g);
		prunner_future_release(f);
		prunner_future_release(g);
		pw_pause(round, workers, nw);
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	/* 1 + 2 tasks for every kind-1 and kind-2 round. */
	check_run_stats(r, w, rounds + (rounds / 3) * 2 + (rounds % 3 == 2), 0);
	prunner_free(r);
	free(before);
	free(workers);
}

START_TEST(test_post_wait_1_worker_30k)
{
	post_and_wait(1, 30000);
}
END_TEST

/* The same, 10,000 rounds at every worker count. */
START_TEST(test_post_wait_every_count)
{
	post_and_wait(g_counts[_i], 10000);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Lost wake-ups: a spinning task and the task that stops it                */
/* ------------------------------------------------------------------------ */

/* The spinner of round k spins (yielding) until `flag` reads k; the setter
 * of round k stores k.  The spinner occupies its worker, so another
 * worker must run the setter: if that worker sleeps through the setter's
 * post, the spinner spins for ever.  It gives up after 10 s and counts a
 * timeout, so the round fails with its number instead of hanging. */
struct sp_ctx {
	atomic_int flag;
	atomic_int started; /* rounds whose spinner started */
	atomic_int ran;     /* spinners and setters that ran */
	atomic_int timeouts, post_err;
	int first_timeout; /* written by the spinner that timed out first */
};

struct sp_msg {
	struct sp_ctx *c;
	int round;
	int spinner_posts; /* the spinner posts the setter itself */
};

static int sp_setter(void *data)
{
	struct sp_msg *m = data;
	atomic_fetch_add(&m->c->ran, 1);
	atomic_store_explicit(&m->c->flag, m->round, memory_order_release); /* pairs with sp_spinner */
	return 0;
}

static int sp_spinner(void *data)
{
	struct sp_msg *m = data;
	struct sp_ctx *c = m->c;
	atomic_fetch_add(&c->ran, 1);
	atomic_store(&c->started, m->round);
	if (m->spinner_posts && prunner_post(prunner_current(), sp_setter, m, sizeof *m) != 0)
		atomic_fetch_add(&c->post_err, 1);
	int64_t deadline = torture_now_ns() + LIMIT_NS;
	for (unsigned n = 1; atomic_load_explicit(&c->flag, memory_order_acquire) != m->round; n++) {
		if (n % 64 == 0 && torture_now_ns() > deadline) {
			if (atomic_fetch_add(&c->timeouts, 1) == 0)
				c->first_timeout = m->round;
			break;
		}
		sched_yield();
	}
	return 0;
}

static void sp_begin(prunner_t *r, void *arg)
{
	struct sp_msg *m = arg;
	if (prunner_post(r, sp_spinner, m, sizeof *m) != 0)
		atomic_fetch_add(&m->c->post_err, 1);
}

static void sp_check_round(struct sp_ctx *c, int w, int round, const char *how)
{
	if (atomic_load(&c->timeouts) != 0 || atomic_load(&c->post_err) != 0 ||
	    atomic_load(&c->ran) != 2 * round)
		ck_abort_msg(
		    "w=%d %s, round %d: %d spinners gave up after 10 s (first in round %d: its setter was "
		    "not "
		    "run by another worker, a lost wake-up), %d failed posts, %d tasks ran, expected %d",
		    w, how, round, atomic_load(&c->timeouts), c->first_timeout, atomic_load(&c->post_err),
		    atomic_load(&c->ran), 2 * round);
}

/* Rounds as short runs: begin posts the spinner, which posts the setter
 * onto its own deque: only a steal by another worker can run it. */
static void spin_set_runs(int w, int rounds)
{
	struct sp_ctx c;
	memset(&c, 0, sizeof c);
	struct sp_msg m = {&c, 0, 1};
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, sp_begin, NULL, &m), 0);
	for (int round = 1; round <= rounds; round++) {
		m.round = round;
		int rc = prunner_run(r);
		if (rc != 0)
			ck_abort_msg("w=%d run %d returned %d", w, round, rc);
		sp_check_round(&c, w, round, "short runs");
	}
	prunner_free(r);
}

/* Rounds on an executor: the spinner is submitted from this thread; the
 * setter is posted by the spinner (odd rounds) or from this thread once
 * the spinner runs (even rounds: an outside post must wake a sleeper). */
static void spin_set_executor(int w, int rounds)
{
	struct sp_ctx c;
	memset(&c, 0, sizeof c);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_open(r), 0);
	for (int round = 1; round <= rounds; round++) {
		struct sp_msg m = {&c, round, round & 1};
		prunner_future_t *f = NULL;
		ck_assert_int_eq(prunner_submit(r, sp_spinner, &m, sizeof m, NULL, &f), 0);
		if (!m.spinner_posts) {
			while (atomic_load(&c.started) != round)
				sched_yield();
			ck_assert_int_eq(prunner_post(r, sp_setter, &m, sizeof m), 0);
		}
		/* The spinner's own deadline is 10 s; twice that for the
		 * spinner's future to become final. */
		int rc = prunner_future_wait(f, 2 * LIMIT_NS);
		if (rc != 0)
			ck_abort_msg("w=%d executor round %d: the spinner's future not final after 20 s (%d)",
			             w, round, rc);
		prunner_future_release(f);
		/* The setter may still be returning; its count came first. */
		sp_check_round(&c, w, round, "executor");
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
}

START_TEST(test_spin_set_2_workers_100k_runs)
{
	spin_set_runs(2, 100000);
}
END_TEST

START_TEST(test_spin_set_2_workers_100k_executor)
{
	spin_set_executor(2, 100000);
}
END_TEST

/* Both, 10,000 rounds each, at every worker count from 2 (one worker
 * cannot run a spinner and its setter at once). */
START_TEST(test_spin_set_every_count)
{
	int w = g_counts[_i];
	if (w < 2)
		return;
	spin_set_runs(w, 10000);
	spin_set_executor(w, 10000);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *torture_suite(void)
{
	Suite *s = suite_create("slow");
	TCase *tc;

	tc = tcase_create("trees");
	tcase_add_loop_test(tc, test_binary_tree_2p22, 0, g_ncounts);
	suite_add_tcase(s, tc);

	tc = tcase_create("chains");
	tcase_add_loop_test(tc, test_stage_chains_labelled, 0, g_ncounts);
	tcase_add_loop_test(tc, test_stage_chains_ping_pong, 0, g_ncounts);
	suite_add_tcase(s, tc);

	tc = tcase_create("wakeups");
	tcase_add_test(tc, test_post_wait_1_worker_30k);
	tcase_add_test(tc, test_spin_set_2_workers_100k_runs);
	tcase_add_test(tc, test_spin_set_2_workers_100k_executor);
	tcase_add_loop_test(tc, test_post_wait_every_count, 0, g_ncounts);
	tcase_add_loop_test(tc, test_spin_set_every_count, 0, g_ncounts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "900", 0);
	g_ncounts = torture_worker_counts(g_counts);
	SRunner *sr = srunner_create(torture_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
