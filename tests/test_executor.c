/*
 * test_executor.c - behaviour of the long-lived executor: prunner_open,
 * posts and submits from program threads, prunner_wait_idle, prunner_close
 * in DRAIN and CANCEL mode, and the lifecycle around them (close twice,
 * close never opened, open twice, run while open, free while open, worker
 * threads).  Links only the public library.
 *
 * Rules as in test_runner.c: ck_assert only on the test's own thread.
 * Tasks and helper threads record into atomics or per-task slots; the test
 * thread asserts after prunner_wait_idle() or prunner_close() returned, and
 * the counts it checks there must be exact ("nobody returned early").
 * Nothing sleeps and nothing is timed.  Where tasks must stay queued while
 * the test acts, "gate" tasks hold every worker: they spin on an atomic
 * flag (acquire loads + sched_yield).  A helper thread that must act once a
 * close has begun detects it by a post refused with -ECANCELED.
 *
 * Every runner test runs at 1, 2, 3, 8 and 64 workers; the main ones also
 * under both termination detectors.
 */
#include <check.h>
#include <dirent.h>
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

static const int WORKERS[] = {1, 2, 3, 8, 64};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))

static const enum prunner_termination MODES[] = {PRUNNER_TERMINATION_FLAGS, PRUNNER_TERMINATION_COUNTER};
static const char *const MODE_NAMES[] = {"flags", "counter"};
#define N_MODES 2

/* Loop index of the tests that run under both detectors. */
#define W_OF(i) (WORKERS[(i) % N_WORKERS])
#define MODE_OF(i) (MODES[(i) / N_WORKERS])
#define MODE_NAME_OF(i) (MODE_NAMES[(i) / N_WORKERS])

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Spins until a close of r has begun: a post is refused with -ECANCELED.
 * The posts that got in before run a no-op (or are cancelled). */
static long wait_close_begun(prunner_t *r)
{
	long accepted = 0;
	int rc;
	while ((rc = prunner_post(r, noop_task, NULL, 0)) == 0) {
		accepted++;
		sched_yield();
	}
	return rc == -ECANCELED ? accepted : -1;
}

/* ------------------------------------------------------------------------ */
/* Phases                                                                   */
/* ------------------------------------------------------------------------ */

/* A root task with depth d posts a child of depth d-1 (from its worker),
 * down to 0; each task marks its slot and adds 1 to the dict's "count". */
#define PH_ROOTS 1200
#define PH_DEPTH 3
#define PH_TASKS (PH_ROOTS * (PH_DEPTH + 1))
#define PH_THREADS 3

struct ph_ctx {
	prunner_t *r;
	int phase;
	atomic_uchar ran[2][PH_TASKS];
	atomic_long count;
	atomic_int bad;
};

struct ph_job {
	uint32_t root;
	uint32_t depth;
	int phase;
	struct ph_ctx *c;
};

static int ph_task(void *data)
{
	struct ph_job *j = data;
	struct ph_ctx *c = j->c;
	uint32_t slot = j->root * (PH_DEPTH + 1) + j->depth;
	atomic_fetch_add(&c->ran[j->phase][slot], 1);
	if (prunner_dict_add_int(prunner_dict(prunner_current()), "count", 1, NULL) != 0)
		atomic_fetch_add(&c->bad, 1);
	atomic_fetch_add(&c->count, 1);
	if (j->depth > 0) {
		struct ph_job child = { j->root, j->depth - 1, j->phase, c };
		if (prunner_post(prunner_current(), ph_task, &child, sizeof child) != 0)
			atomic_fetch_add(&c->bad, 1);
	}
	return 0;
}

struct ph_arg {
	struct ph_ctx *c;
	int t;
	int use_submit;
};

static void *ph_poster(void *p)
{
	struct ph_arg *a = p;
	struct ph_ctx *c = a->c;
	for (uint32_t root = (uint32_t)a->t; root < PH_ROOTS; root += PH_THREADS) {
		struct ph_job j = { root, PH_DEPTH, c->phase, c };
		int rc;
		if (a->use_submit) {
			prunner_future_t *f = NULL;
			rc = prunner_submit(c->r, ph_task, &j, sizeof j, NULL, root % 2 ? &f : NULL);
			prunner_future_release(f);
		} else {
			rc = prunner_post(c->r, ph_task, &j, sizeof j);
		}
		if (rc != 0)
			atomic_fetch_add(&c->bad, 1);
	}
	return NULL;
}

static void ph_phase(struct ph_ctx *c, int phase, int use_submit, int w, const char *mode)
{
	c->phase = phase;
	pthread_t th[PH_THREADS];
	struct ph_arg args[PH_THREADS];
	for (int t = 0; t < PH_THREADS; t++) {
		args[t] = (struct ph_arg){ c, t, use_submit };
		ck_assert_int_eq(pthread_create(&th[t], NULL, ph_poster, &args[t]), 0);
	}
	/* A wait while the posters run returns at some quiet instant: it
	 * must return, whatever it counts. */
	ck_assert_int_eq(prunner_wait_idle(c->r), 0);
	for (int t = 0; t < PH_THREADS; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	ck_assert_int_eq(prunner_wait_idle(c->r), 0);
	long want = (long)(phase + 1) * PH_TASKS;
	ck_assert_msg(atomic_load(&c->count) == want, "w=%d %s phase %d: %ld tasks done after wait_idle, expected %ld",
	              w, mode, phase, atomic_load(&c->count), want);
	int64_t v = -1;
	ck_assert_int_eq(prunner_dict_get_int(prunner_dict(c->r), "count", &v), 0);
	ck_assert_int_eq(v, want);
	for (int i = 0; i < PH_TASKS; i++)
		if (atomic_load(&c->ran[phase][i]) != 1)
			ck_abort_msg("w=%d %s phase %d: task %d ran %d times", w, mode, phase, i,
			             (int)atomic_load(&c->ran[phase][i]));
}

START_TEST(test_phases)
{
	int w = W_OF(_i);
	const char *mode = MODE_NAME_OF(_i);
	struct ph_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, MODE_OF(_i));
	c->r = r;
	ck_assert_int_eq(prunner_open(r), 0);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), -EBUSY); /* open: a run */
	ph_phase(c, 0, 0, w, mode);
	ph_phase(c, 1, 1, w, mode);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->count), 2 * PH_TASKS);
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.executed, 2 * PH_TASKS);
	ck_assert_uint_eq(st.posted, 2 * PH_TASKS);
	ck_assert_uint_eq(st.failed, 0);
	ck_assert_int_eq(st.workers, w);
	prunner_free(r);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* wait_idle from several threads                                           */
/* ------------------------------------------------------------------------ */

/* Each thread, round after round: posts K roots (each a chain of 3 tasks)
 * counting into its own counter, calls prunner_wait_idle, and checks that
 * all its tasks ran.  The threads' waits overlap each other's posts. */
#define WI_THREADS 4
#define WI_ROUNDS 40
#define WI_K 16

struct wi_ctx {
	prunner_t *r;
	atomic_long count[WI_THREADS];
	atomic_int early[WI_THREADS];
	long first_short[WI_THREADS];
	int short_round[WI_THREADS];
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

struct wi_arg {
	struct wi_ctx *c;
	int t;
	int rounds;
};

static void *wi_thread(void *p)
{
	struct wi_arg *a = p;
	struct wi_ctx *c = a->c;
	long want = 0;
	for (int round = 0; round < a->rounds; round++) {
		for (int k = 0; k < WI_K; k++) {
			struct wi_job j = { &c->count[a->t], 2, &c->bad };
			if (prunner_post(c->r, wi_task, &j, sizeof j) != 0)
				atomic_fetch_add(&c->bad, 1);
		}
		want += WI_K * 3;
		if (prunner_wait_idle(c->r) != 0)
			atomic_fetch_add(&c->bad, 1);
		long got = atomic_load(&c->count[a->t]);
		if (got != want) {
			if (atomic_fetch_add(&c->early[a->t], 1) == 0) {
				c->first_short[a->t] = want - got;
				c->short_round[a->t] = round;
			}
			/* Resynchronise so that the next rounds are checked
			 * on their own. */
			while (atomic_load(&c->count[a->t]) != want)
				sched_yield();
		}
	}
	return NULL;
}

static void wait_idle_threads(int w, enum prunner_termination mode, const char *mname, int rounds)
{
	struct wi_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, mode);
	c->r = r;
	ck_assert_int_eq(prunner_open(r), 0);
	pthread_t th[WI_THREADS];
	struct wi_arg args[WI_THREADS];
	for (int t = 0; t < WI_THREADS; t++) {
		args[t] = (struct wi_arg){ c, t, rounds };
		ck_assert_int_eq(pthread_create(&th[t], NULL, wi_thread, &args[t]), 0);
	}
	for (int t = 0; t < WI_THREADS; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	for (int t = 0; t < WI_THREADS; t++) {
		ck_assert_msg(atomic_load(&c->early[t]) == 0,
		              "w=%d %s: prunner_wait_idle returned before the caller's own tasks ran, %d times in "
		              "thread %d (first in round %d, %ld of its tasks not yet done)",
		              w, mname, atomic_load(&c->early[t]), t, c->short_round[t], c->first_short[t]);
		ck_assert_int_eq(atomic_load(&c->count[t]), (long)rounds * WI_K * 3);
	}
	prunner_free(r);
	free(c);
}

START_TEST(test_wait_idle_concurrent)
{
	wait_idle_threads(W_OF(_i), MODE_OF(_i), MODE_NAME_OF(_i), WI_ROUNDS);
}
END_TEST

/* prunner_wait_idle when there is nothing to wait for, and from the
 * threads that may not call it. */
struct wx_ctx {
	prunner_t *r;
	atomic_int wait_rc, close_rc, open_rc, ran;
};

static int wx_task(void *data)
{
	struct wx_ctx *c = *(struct wx_ctx **)data;
	atomic_store(&c->wait_rc, prunner_wait_idle(c->r));
	atomic_store(&c->close_rc, prunner_close(c->r, PRUNNER_CLOSE_DRAIN));
	atomic_store(&c->open_rc, prunner_open(c->r));
	atomic_fetch_add(&c->ran, 1);
	return 0;
}

START_TEST(test_wait_idle_edges)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_wait_idle(NULL), -EINVAL);
	ck_assert_int_eq(prunner_wait_idle(r), 0); /* never opened */
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_wait_idle(r), 0); /* nothing posted */
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	struct wx_ctx c = { .r = r };
	struct wx_ctx *cp = &c;
	ck_assert_int_eq(prunner_post(r, wx_task, &cp, sizeof cp), 0);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&c.ran), 1);
	ck_assert_int_eq(atomic_load(&c.wait_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.close_rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.open_rc), -EBUSY);
	/* Still open: posts are accepted. */
	ck_assert_int_eq(prunner_post(r, noop_task, NULL, 0), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(prunner_wait_idle(r), 0); /* closed */
	prunner_free(r);
}
END_TEST

/* prunner_wait_idle from the begin hook of a prunner_run ("any thread but
 * r's own workers"): once the tasks begin posted are done, nothing is
 * queued or running, so it returns; the tasks are all done then. */
struct wb_ctx {
	atomic_int ran, rc;
	long seen;
};

static int wb_task(void *data)
{
	struct wb_ctx *c = *(struct wb_ctx **)data;
	atomic_fetch_add(&c->ran, 1);
	return 0;
}

static void wb_begin(prunner_t *r, void *arg)
{
	struct wb_ctx *c = arg;
	for (int i = 0; i < 100; i++)
		prunner_post(r, wb_task, &c, sizeof c);
	atomic_store(&c->rc, prunner_wait_idle(r));
	c->seen = atomic_load(&c->ran);
}

START_TEST(test_wait_idle_from_begin_hook)
{
	int w = WORKERS[_i];
	struct wb_ctx c = { 0 };
	atomic_store(&c.rc, 99);
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_set_hooks(r, wb_begin, NULL, &c), 0);
	/* The begin hook's token keeps the run busy until begin returns: a
	 * wait there would wait for itself, so it is refused at once. */
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.rc), -EDEADLK);
	ck_assert_int_eq(atomic_load(&c.ran), 100); /* the run still ran them all */
	prunner_free(r);
}
END_TEST

/* One program thread, many short rounds: post a chain of 1-3 tasks,
 * prunner_wait_idle, check; every 50 rounds the executor is closed and a
 * prunner_run (whose begin posts one task) runs before it is opened again.
 * A quiet instant seen before this round's posts (the end of the previous
 * run or round) must not end this round's wait. */
#define SR_ROUNDS 3000

struct sr_ctx {
	atomic_long count;
	atomic_int bad;
};

struct sr_job {
	struct sr_ctx *c;
	int depth;
};

static int sr_task(void *data)
{
	struct sr_job *j = data;
	if (j->depth > 0) {
		struct sr_job child = { j->c, j->depth - 1 };
		if (prunner_post(prunner_current(), sr_task, &child, sizeof child) != 0)
			atomic_fetch_add(&j->c->bad, 1);
	}
	atomic_fetch_add(&j->c->count, 1);
	return 0;
}

static void sr_begin(prunner_t *r, void *arg)
{
	struct sr_job j = { arg, 0 };
	prunner_post(r, sr_task, &j, sizeof j);
}

static void single_thread_rounds(int w, enum prunner_termination mode, const char *mname, int rounds)
{
	struct sr_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, mode);
	ck_assert_int_eq(prunner_set_hooks(r, sr_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	long want = 0;
	int early = 0, first = -1;
	long first_count = 0, first_want = 0;
	for (int round = 0; round < rounds; round++) {
		struct sr_job j = { c, round % 3 };
		ck_assert_int_eq(prunner_post(r, sr_task, &j, sizeof j), 0);
		want += round % 3 + 1;
		ck_assert_int_eq(prunner_wait_idle(r), 0);
		long got = atomic_load(&c->count);
		if (got != want) {
			if (early++ == 0) {
				first = round;
				first_count = got;
				first_want = want;
			}
			while (atomic_load(&c->count) != want)
				sched_yield();
		}
		if (round % 50 == 49) {
			ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
			ck_assert_int_eq(prunner_run(r), 0);
			want += 1;
			ck_assert_int_eq(atomic_load(&c->count), want);
			ck_assert_int_eq(prunner_open(r), 0);
		}
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_msg(early == 0,
	              "w=%d %s: prunner_wait_idle returned before the tasks posted just before it ran, in %d of %d "
	              "rounds (first: round %d, %ld of %ld done)",
	              w, mname, early, rounds, first, first_count, first_want);
	prunner_free(r);
	free(c);
}

START_TEST(test_wait_idle_single_thread_rounds)
{
	single_thread_rounds(W_OF(_i), MODE_OF(_i), MODE_NAME_OF(_i), SR_ROUNDS);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* After a close                                                            */
/* ------------------------------------------------------------------------ */

static atomic_int g_pc_ran, g_pc_destroyed;

static int pc_task(void *data)
{
	(void)data;
	atomic_fetch_add(&g_pc_ran, 1);
	return 0;
}

static void pc_destroy(void *data)
{
	(void)data;
	atomic_fetch_add(&g_pc_destroyed, 1);
}

static atomic_int g_pc_hooks;

static void pc_hook(prunner_t *r, void *arg)
{
	(void)r;
	(void)arg;
	atomic_fetch_add(&g_pc_hooks, 1);
}

/* Posts after a close return -ECANCELED and nothing runs, until the next
 * open (posts accepted again) or run (after which posts give
 * PRUNNER_ENORUN). */
START_TEST(test_post_after_close)
{
	int w = WORKERS[_i];
	atomic_store(&g_pc_ran, 0);
	atomic_store(&g_pc_destroyed, 0);
	atomic_store(&g_pc_hooks, 0);
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_set_hooks(r, pc_hook, pc_hook, NULL), 0);
	ck_assert_int_eq(prunner_post(r, pc_task, NULL, 0), PRUNNER_ENORUN);
	ck_assert_int_eq(prunner_open(r), 0);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(prunner_post(r, pc_task, NULL, 0), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(atomic_load(&g_pc_ran), 50);
	ck_assert_int_eq(atomic_load(&g_pc_hooks), 0); /* open/close use no hooks */

	for (int mode = 0; mode < 2; mode++) {
		ck_assert_int_eq(prunner_post(r, pc_task, NULL, 0), -ECANCELED);
		prunner_future_t *f = (prunner_future_t *)(uintptr_t)1;
		int x = 5;
		ck_assert_int_eq(prunner_submit(r, pc_task, &x, sizeof x, pc_destroy, &f), -ECANCELED);
		ck_assert_ptr_null(f);
		ck_assert_int_eq(prunner_submit(r, pc_task, NULL, 0, pc_destroy, NULL), -ECANCELED);
		prunner_group_t g;
		ck_assert_int_eq(prunner_group_init(&g, r), 0);
		ck_assert_int_eq(prunner_group_spawn(&g, pc_task, NULL, 0), -ECANCELED);
		ck_assert_int_eq(prunner_group_wait(&g), 0);
		ck_assert_int_eq(prunner_wait_idle(r), 0);

		/* Open again: accepted; the refused ones never run. */
		ck_assert_int_eq(prunner_open(r), 0);
		ck_assert_int_eq(prunner_post(r, pc_task, NULL, 0), 0);
		ck_assert_int_eq(prunner_wait_idle(r), 0);
		ck_assert_int_eq(atomic_load(&g_pc_ran), 51 + mode);
		ck_assert_int_eq(prunner_close(r, mode ? PRUNNER_CLOSE_DRAIN : PRUNNER_CLOSE_CANCEL), 0);
	}
	ck_assert_int_eq(atomic_load(&g_pc_destroyed), 0);

	/* A run after a close: posts work in it, and after it give
	 * PRUNNER_ENORUN. */
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_pc_hooks), 2);
	ck_assert_int_eq(prunner_post(r, pc_task, NULL, 0), PRUNNER_ENORUN);
	ck_assert_int_eq(atomic_load(&g_pc_ran), 52);
	prunner_free(r);
	ck_assert_int_eq(atomic_load(&g_pc_ran), 52);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* CANCEL close with queued work                                            */
/* ------------------------------------------------------------------------ */

/* Every worker is held by a gate future; N futures with destroy functions,
 * and plain tasks, are queued behind them.  The test thread closes with
 * CANCEL; a helper opens the gates once the close has begun.  Then: each
 * queued future is CANCELLED and its destroy ran exactly once with its own
 * payload; no queued task ran; the gates are DONE; a gate's post after
 * the close began was refused; the completion fd delivered each future
 * exactly once. */
#define CC_N 200
#define CC_PLAIN 50
#define CC_MAGIC 0x7e57ab1eu

struct cc_ctx {
	prunner_t *r;
	struct gate gate;
	atomic_uchar ran[CC_N];
	atomic_uchar destroyed[CC_N];
	atomic_int plain_ran, gate_post_ok, gate_post_cancelled, gate_post_other, gate_child_ran;
	atomic_int bad;
	long helper_accepted;
};

struct cc_job {
	uint32_t magic, id;
	struct cc_ctx *c;
	char pad[40]; /* beyond the inline size */
};

static int cc_task(void *data)
{
	struct cc_job *j = data;
	atomic_fetch_add(&j->c->ran[j->id], 1);
	return 0;
}

static void cc_destroy(void *data)
{
	struct cc_job *j = data;
	if (!j || j->magic != CC_MAGIC || j->id >= CC_N) {
		/* Cannot reach the context through a bad payload. */
		return;
	}
	for (int k = 0; k < 40; k++)
		if (j->pad[k] != (char)(j->id + (uint32_t)k))
			atomic_fetch_add(&j->c->bad, 1);
	atomic_fetch_add(&j->c->destroyed[j->id], 1);
}

static int cc_plain(void *data)
{
	struct cc_ctx *c = *(struct cc_ctx **)data;
	atomic_fetch_add(&c->plain_ran, 1);
	return 0;
}

static int cc_gate_child(void *data)
{
	struct cc_ctx *c = *(struct cc_ctx **)data;
	atomic_fetch_add(&c->gate_child_ran, 1);
	return 0;
}

/* A gate that, once opened, posts a child: refused in a CANCEL close; in
 * a DRAIN close either refused or run (the test checks consistency). */
static int cc_gate(void *data)
{
	struct cc_ctx *c = *(struct cc_ctx **)data;
	atomic_fetch_add(&c->gate.started, 1);
	while (!atomic_load_explicit(&c->gate.open, memory_order_acquire))
		sched_yield();
	int rc = prunner_post(prunner_current(), cc_gate_child, &c, sizeof c);
	if (rc == 0)
		atomic_fetch_add(&c->gate_post_ok, 1);
	else if (rc == -ECANCELED)
		atomic_fetch_add(&c->gate_post_cancelled, 1);
	else
		atomic_fetch_add(&c->gate_post_other, 1);
	return 0;
}

/* Continuations of the gates and of every tenth queued future; their
 * sources set no result, so destroy gets NULL and counts globally. */
static atomic_int g_cont_ran, g_cont_destroyed;

static int cc_cont(void *data)
{
	(void)data;
	atomic_fetch_add(&g_cont_ran, 1);
	return 0;
}

static void cc_cont_destroy(void *data)
{
	(void)data;
	atomic_fetch_add(&g_cont_destroyed, 1);
}

#define CC_CONTS (CC_N / 10)

static void *cc_opener(void *arg)
{
	struct cc_ctx *c = arg;
	c->helper_accepted = wait_close_begun(c->r);
	atomic_store_explicit(&c->gate.open, 1, memory_order_release);
	return NULL;
}

/* Sets up gates and queued work; returns the gate and queued futures. */
static void cc_setup(struct cc_ctx *c, int w, prunner_future_t **gates, prunner_future_t **fs,
                     prunner_future_t **conts)
{
	atomic_store(&g_cont_ran, 0);
	atomic_store(&g_cont_destroyed, 0);
	for (int i = 0; i < w; i++) {
		ck_assert_int_eq(prunner_submit(c->r, cc_gate, &c, sizeof c, NULL, &gates[i]), 0);
		ck_assert_int_eq(prunner_then(gates[i], cc_cont, cc_cont_destroy, &conts[i]), 0);
	}
	wait_started(&c->gate, w);
	for (uint32_t i = 0; i < CC_N; i++) {
		struct cc_job j = { CC_MAGIC, i, c, { 0 } };
		for (int k = 0; k < 40; k++)
			j.pad[k] = (char)(i + (uint32_t)k);
		ck_assert_int_eq(prunner_submit(c->r, cc_task, &j, sizeof j, cc_destroy, &fs[i]), 0);
		if (i % 10 == 0)
			ck_assert_int_eq(prunner_then(fs[i], cc_cont, cc_cont_destroy, &conts[w + i / 10]), 0);
		ck_assert_int_eq(prunner_post(c->r, cc_plain, &c, sizeof c), 0);
	}
}

/* Every continuation final; DONE ones ran once, CANCELLED ones had their
 * destroy run once (counted globally: the totals must add up). */
static void cc_check_conts(prunner_future_t **conts, int n, int w, const char *mode, int all_cancelled)
{
	int done = 0, cancelled = 0;
	for (int i = 0; i < n; i++) {
		enum prunner_future_state st = prunner_future_state(conts[i]);
		if (st == PRUNNER_FUTURE_DONE)
			done++;
		else if (st == PRUNNER_FUTURE_CANCELLED)
			cancelled++;
		else
			ck_abort_msg("w=%d %s: continuation %d in state %d after the close", w, mode, i, (int)st);
		prunner_future_release(conts[i]);
	}
	if (all_cancelled)
		ck_assert_msg(cancelled == n, "w=%d %s: %d of %d continuations CANCELLED after a CANCEL close", w, mode,
		              cancelled, n);
	ck_assert_msg(atomic_load(&g_cont_ran) == done && atomic_load(&g_cont_destroyed) == cancelled,
	              "w=%d %s: %d continuations DONE and %d CANCELLED, but %d ran and %d destroys ran", w, mode, done,
	              cancelled, atomic_load(&g_cont_ran), atomic_load(&g_cont_destroyed));
}

static void cc_drain_fd(prunner_t *r, int fd_expected, int n_expected)
{
	(void)fd_expected;
	int total = 0;
	prunner_future_t *out[32];
	for (;;) {
		int n = prunner_completed(r, out, 32);
		ck_assert_int_ge(n, 0);
		for (int k = 0; k < n; k++)
			prunner_future_release(out[k]);
		total += n;
		if (n < 32)
			break;
	}
	ck_assert_int_eq(total, n_expected);
}

START_TEST(test_close_cancel)
{
	int w = W_OF(_i);
	const char *mode = MODE_NAME_OF(_i);
	struct cc_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, MODE_OF(_i));
	c->r = r;
	int fd = prunner_completion_fd(r);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(prunner_open(r), 0);
	prunner_future_t **gates = calloc((size_t)w, sizeof *gates);
	prunner_future_t **fs = calloc(CC_N, sizeof *fs);
	prunner_future_t **conts = calloc((size_t)w + CC_CONTS, sizeof *conts);
	ck_assert(gates && fs && conts);
	cc_setup(c, w, gates, fs, conts);

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, cc_opener, c), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_CANCEL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_ge(c->helper_accepted, 0);

	for (int i = 0; i < w; i++) {
		ck_assert_msg(prunner_future_state(gates[i]) == PRUNNER_FUTURE_DONE, "w=%d %s: gate %d in state %d", w,
		              mode, i, (int)prunner_future_state(gates[i]));
		ck_assert_int_eq(prunner_future_status(gates[i]), 0);
	}
	for (uint32_t i = 0; i < CC_N; i++) {
		ck_assert_msg(prunner_future_state(fs[i]) == PRUNNER_FUTURE_CANCELLED,
		              "w=%d %s: queued future %u in state %d after a CANCEL close", w, mode, i,
		              (int)prunner_future_state(fs[i]));
		ck_assert_int_eq(prunner_future_status(fs[i]), -ECANCELED);
		ck_assert_msg(atomic_load(&c->ran[i]) == 0, "w=%d %s: cancelled task %u ran", w, mode, i);
		ck_assert_msg(atomic_load(&c->destroyed[i]) == 1, "w=%d %s: destroy of %u ran %d times", w, mode, i,
		              (int)atomic_load(&c->destroyed[i]));
		ck_assert_int_eq(prunner_future_cancel(fs[i]), -EALREADY);
	}
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->plain_ran), 0);
	ck_assert_int_eq(atomic_load(&c->gate_post_cancelled), w);
	ck_assert_int_eq(atomic_load(&c->gate_child_ran), 0);
	/* A continuation cannot be posted once the close began: all
	 * CANCELLED, whether their source was cancelled or completed. */
	cc_check_conts(conts, w + CC_CONTS, w, mode, 1);
	/* Each future completed once: the gates, the cancelled ones and the
	 * continuations. */
	cc_drain_fd(r, fd, w + CC_N + w + CC_CONTS);
	/* Closed: refused. */
	ck_assert_int_eq(prunner_post(r, noop_task, NULL, 0), -ECANCELED);
	/* Only the gates ran ("executed: tasks that ran"). */
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_msg(st.executed == (uint64_t)w,
	              "w=%d %s: stats.executed %" PRIu64 " after a CANCEL close in which only the %d gates ran", w, mode,
	              st.executed, w);
	for (int i = 0; i < w; i++)
		prunner_future_release(gates[i]);
	for (uint32_t i = 0; i < CC_N; i++)
		prunner_future_release(fs[i]);
	prunner_free(r);
	for (uint32_t i = 0; i < CC_N; i++)
		ck_assert_int_eq(atomic_load(&c->destroyed[i]), 1);
	free(gates);
	free(fs);
	free(conts);
	free(c);
}
END_TEST

/* The same set-up closed with DRAIN: every accepted task runs once, no
 * destroy runs; a post made by a running task after the close began is
 * either refused or runs. */
START_TEST(test_close_drain_queued)
{
	int w = W_OF(_i);
	const char *mode = MODE_NAME_OF(_i);
	struct cc_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, MODE_OF(_i));
	c->r = r;
	ck_assert_int_eq(prunner_open(r), 0);
	prunner_future_t **gates = calloc((size_t)w, sizeof *gates);
	prunner_future_t **fs = calloc(CC_N, sizeof *fs);
	prunner_future_t **conts = calloc((size_t)w + CC_CONTS, sizeof *conts);
	ck_assert(gates && fs && conts);
	cc_setup(c, w, gates, fs, conts);

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, cc_opener, c), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_ge(c->helper_accepted, 0);
	for (int i = 0; i < w; i++)
		ck_assert_int_eq(prunner_future_state(gates[i]), PRUNNER_FUTURE_DONE);
	for (uint32_t i = 0; i < CC_N; i++) {
		ck_assert_msg(prunner_future_state(fs[i]) == PRUNNER_FUTURE_DONE,
		              "w=%d %s: queued future %u in state %d after a DRAIN close", w, mode, i,
		              (int)prunner_future_state(fs[i]));
		ck_assert_msg(atomic_load(&c->ran[i]) == 1, "w=%d %s: task %u ran %d times", w, mode, i,
		              (int)atomic_load(&c->ran[i]));
		ck_assert_int_eq(atomic_load(&c->destroyed[i]), 0);
	}
	ck_assert_int_eq(atomic_load(&c->plain_ran), CC_N);
	ck_assert_int_eq(atomic_load(&c->gate_post_other), 0);
	ck_assert_int_eq(atomic_load(&c->gate_post_ok) + atomic_load(&c->gate_post_cancelled), w);
	ck_assert_int_eq(atomic_load(&c->gate_child_ran), atomic_load(&c->gate_post_ok));
	/* Continuations posted by the workers during the drain: each either
	 * ran or was cancelled, consistently. */
	cc_check_conts(conts, w + CC_CONTS, w, mode, 0);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	uint64_t ran = (uint64_t)w + 2 * CC_N + (uint64_t)c->helper_accepted + (uint64_t)atomic_load(&c->gate_post_ok) +
	               (uint64_t)atomic_load(&g_cont_ran);
	ck_assert_msg(st.executed == ran, "w=%d %s: stats.executed %" PRIu64 ", %" PRIu64 " tasks ran", w, mode,
	              st.executed, ran);
	for (int i = 0; i < w; i++)
		prunner_future_release(gates[i]);
	for (uint32_t i = 0; i < CC_N; i++)
		prunner_future_release(fs[i]);
	prunner_free(r);
	free(gates);
	free(fs);
	free(conts);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Lifecycle edges                                                          */
/* ------------------------------------------------------------------------ */

struct le_ctx {
	atomic_int open_rc, close_rc, run_rc;
};

static void le_begin(prunner_t *r, void *arg)
{
	struct le_ctx *c = arg;
	atomic_store(&c->open_rc, prunner_open(r));
	atomic_store(&c->close_rc, prunner_close(r, PRUNNER_CLOSE_DRAIN));
	atomic_store(&c->run_rc, prunner_run(r));
}

START_TEST(test_lifecycle_edges)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);

	ck_assert_int_eq(prunner_open(NULL), -EINVAL);
	ck_assert_int_eq(prunner_close(NULL, PRUNNER_CLOSE_DRAIN), -EINVAL);
	ck_assert_int_eq(prunner_close(r, (enum prunner_close_mode)7), -EINVAL);

	/* Never opened: 0, nothing happens. */
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_CANCEL), 0);
	ck_assert_int_eq(prunner_post(r, noop_task, NULL, 0), PRUNNER_ENORUN);

	/* Open: a second open, a run and the settings are refused. */
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_open(r), -EBUSY);
	ck_assert_int_eq(prunner_run(r), -EBUSY);
	ck_assert_int_eq(prunner_set_workers(r, 2), -EBUSY);
	ck_assert_int_eq(prunner_stop_workers(r), -EBUSY);
	ck_assert_int_eq(prunner_close(r, (enum prunner_close_mode)-1), -EINVAL);
	ck_assert_int_eq(prunner_post(r, noop_task, NULL, 0), 0); /* still open */
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	/* Twice: harmless. */
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_CANCEL), 0);

	/* Close right after open, both modes, repeatedly. */
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(prunner_open(r), 0);
		ck_assert_int_eq(prunner_close(r, i % 2 ? PRUNNER_CLOSE_CANCEL : PRUNNER_CLOSE_DRAIN), 0);
	}

	/* From the begin hook of a run: open and close give -EBUSY, run too. */
	struct le_ctx c;
	atomic_store(&c.open_rc, 99);
	atomic_store(&c.close_rc, 99);
	atomic_store(&c.run_rc, 99);
	ck_assert_int_eq(prunner_set_hooks(r, le_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.open_rc), -EBUSY);
	ck_assert_int_eq(atomic_load(&c.close_rc), -EBUSY);
	ck_assert_int_eq(atomic_load(&c.run_rc), -EBUSY);
	ck_assert_int_eq(prunner_set_hooks(r, NULL, NULL, NULL), 0);

	/* And usable afterwards. */
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
}
END_TEST

/* A second close while the first is still waiting for a running task:
 * the runner is no longer open, so it returns 0 and does nothing (it
 * must not wait either: the running task's gate opens only after it). A
 * prunner_wait_idle made meanwhile returns once the close is done. */
struct cd_ctx {
	prunner_t *r;
	struct gate gate;
	int close_drain_rc, close_cancel_rc, wait_rc;
	long accepted;
};

static void *cd_closer(void *arg)
{
	struct cd_ctx *c = arg;
	c->accepted = wait_close_begun(c->r);
	c->close_drain_rc = prunner_close(c->r, PRUNNER_CLOSE_DRAIN);
	c->close_cancel_rc = prunner_close(c->r, PRUNNER_CLOSE_CANCEL);
	atomic_store_explicit(&c->gate.open, 1, memory_order_release);
	return NULL;
}

static void *cd_waiter(void *arg)
{
	struct cd_ctx *c = arg;
	while (prunner_post(c->r, noop_task, NULL, 0) == 0)
		sched_yield();
	c->wait_rc = prunner_wait_idle(c->r);
	return NULL;
}

START_TEST(test_close_while_closing)
{
	int w = WORKERS[_i];
	struct cd_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	c->r = r;
	c->close_drain_rc = c->close_cancel_rc = c->wait_rc = 99;
	ck_assert_int_eq(prunner_open(r), 0);
	struct gate *gp = &c->gate;
	prunner_future_t *g;
	ck_assert_int_eq(prunner_submit(r, gate_fn, &gp, sizeof gp, NULL, &g), 0);
	wait_started(&c->gate, 1);
	pthread_t t1, t2;
	ck_assert_int_eq(pthread_create(&t1, NULL, cd_closer, c), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, cd_waiter, c), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_int_eq(pthread_join(t1, NULL), 0);
	ck_assert_int_eq(pthread_join(t2, NULL), 0);
	ck_assert_int_ge(c->accepted, 0);
	ck_assert_int_eq(prunner_future_state(g), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(c->wait_rc, 0);
	ck_assert_msg(c->close_drain_rc == 0 && c->close_cancel_rc == 0,
	              "w=%d: prunner_close during another thread's close returned %d (DRAIN) and %d (CANCEL), "
	              "expected 0 (the runner is not open)",
	              w, c->close_drain_rc, c->close_cancel_rc);
	prunner_future_release(g);
	prunner_free(r);
	free(c);
}
END_TEST

/* prunner_free on an open executor drains it: every accepted task runs,
 * including those queued behind gates when free is called. */
struct fo_ctx {
	prunner_t *r;
	struct gate gate;
	atomic_int ran;
	long accepted;
};

static int fo_task(void *data)
{
	struct fo_ctx *c = *(struct fo_ctx **)data;
	atomic_fetch_add(&c->ran, 1);
	return 0;
}

static void *fo_opener(void *arg)
{
	struct fo_ctx *c = arg;
	/* Its last use of r is the refused post: free waits for the gates. */
	c->accepted = wait_close_begun(c->r);
	atomic_store_explicit(&c->gate.open, 1, memory_order_release);
	return NULL;
}

START_TEST(test_free_open_drains)
{
	int w = WORKERS[_i];
	struct fo_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	c->r = r;
	ck_assert_int_eq(prunner_open(r), 0);
	struct gate *gp = &c->gate;
	for (int i = 0; i < w; i++)
		ck_assert_int_eq(prunner_post(r, gate_fn, &gp, sizeof gp), 0);
	wait_started(&c->gate, w);
	prunner_future_t *fs[100];
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(prunner_post(r, fo_task, &c, sizeof c), 0);
		ck_assert_int_eq(prunner_submit(r, fo_task, &c, sizeof c, NULL, &fs[i]), 0);
	}
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, fo_opener, c), 0);
	prunner_free(r);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_ge(c->accepted, 0);
	ck_assert_int_eq(atomic_load(&c->ran), 200);
	/* Handles outlive the runner. */
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(prunner_future_state(fs[i]), PRUNNER_FUTURE_DONE);
		prunner_future_release(fs[i]);
	}

	/* And without gates: open, post, free. */
	atomic_store(&c->ran, 0);
	r = new_runner(w, PRUNNER_TERMINATION_COUNTER);
	ck_assert_int_eq(prunner_open(r), 0);
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq(prunner_post(r, fo_task, &c, sizeof c), 0);
	prunner_free(r);
	ck_assert_int_eq(atomic_load(&c->ran), 300);
	free(c);
}
END_TEST

/* Closing while the workers are asleep (nothing queued, a wait_idle
 * done), and opening/closing with nothing posted at all. */
START_TEST(test_close_sleeping_workers)
{
	int w = W_OF(_i);
	prunner_t *r = new_runner(w, MODE_OF(_i));
	atomic_store(&g_pc_ran, 0);
	for (int mode = 0; mode < 2; mode++) {
		ck_assert_int_eq(prunner_open(r), 0);
		ck_assert_int_eq(prunner_wait_idle(r), 0);
		for (int i = 0; i < 200; i++)
			sched_yield(); /* gives the workers time to go to sleep; not checked */
		ck_assert_int_eq(prunner_close(r, mode ? PRUNNER_CLOSE_CANCEL : PRUNNER_CLOSE_DRAIN), 0);

		ck_assert_int_eq(prunner_open(r), 0);
		for (int i = 0; i < 20; i++)
			ck_assert_int_eq(prunner_post(r, pc_task, NULL, 0), 0);
		ck_assert_int_eq(prunner_wait_idle(r), 0);
		ck_assert_int_eq(atomic_load(&g_pc_ran), 20 * (mode + 1));
		for (int i = 0; i < 200; i++)
			sched_yield();
		ck_assert_int_eq(prunner_close(r, mode ? PRUNNER_CLOSE_CANCEL : PRUNNER_CLOSE_DRAIN), 0);
		ck_assert_int_eq(atomic_load(&g_pc_ran), 20 * (mode + 1));
	}
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Worker threads                                                           */
/* ------------------------------------------------------------------------ */

/* prunner_new starts no thread; open starts w; they stay parked after a
 * close; stop_workers and free join them.  Counts are compared within this
 * process after a warm-up runner was created and freed (so that runtime
 * helper threads, e.g. ThreadSanitizer's, are in the baseline); after a
 * join the count is re-read until the kernel has reaped the threads. */
START_TEST(test_threads)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(2, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_post(r, noop_task, NULL, 0), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);

	int base = thread_count_steady();
	if (base < 0)
		return; /* no /proc */
	r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(thread_count(), base);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_msg(thread_count() == base + w, "w=%d: %d threads while open, expected %d", w, thread_count(),
	              base + w);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert_msg(thread_count() == base + w, "w=%d: %d threads after close, expected %d (parked)", w,
	              thread_count(), base + w);
	ck_assert_int_eq(prunner_stop_workers(r), 0);
	ck_assert_int_eq(thread_count_after_join(base), base);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(thread_count(), base + w);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_CANCEL), 0);
	/* Another worker count: the next open re-creates the pool. */
	int w2 = w == 1 ? 3 : 1;
	ck_assert_int_eq(prunner_set_workers(r, w2), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(thread_count_after_join(base + w2), base + w2);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	int after = thread_count_after_join(base);
	ck_assert_msg(after == base, "w=%d: %d threads after free, %d before", w, after, base);

	/* Free while open. */
	r = new_runner(w, PRUNNER_TERMINATION_COUNTER);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(thread_count(), base + w);
	prunner_free(r);
	ck_assert_int_eq(thread_count_after_join(base), base);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Executor and runs on one runner; the labelled-task API                   */
/* ------------------------------------------------------------------------ */

static atomic_int g_alt_ran;

static int alt_task(void *data)
{
	(void)data;
	atomic_fetch_add(&g_alt_ran, 1);
	return 0;
}

static void alt_begin(prunner_t *r, void *arg)
{
	(void)arg;
	for (int i = 0; i < 30; i++)
		prunner_post(r, alt_task, NULL, 0);
}

START_TEST(test_executor_and_runs)
{
	int w = W_OF(_i);
	atomic_store(&g_alt_ran, 0);
	prunner_t *r = new_runner(w, MODE_OF(_i));
	int want = 0;
	for (int k = 0; k < 4; k++) {
		ck_assert_int_eq(prunner_set_hooks(r, alt_begin, NULL, NULL), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		want += 30;
		ck_assert_int_eq(atomic_load(&g_alt_ran), want);
		ck_assert_int_eq(prunner_open(r), 0);
		for (int i = 0; i < 40; i++)
			ck_assert_int_eq(prunner_post(r, alt_task, NULL, 0), 0);
		ck_assert_int_eq(prunner_wait_idle(r), 0);
		want += 40;
		int got = atomic_load(&g_alt_ran);
		ck_assert_msg(got == want,
		              "w=%d %s round %d: %d tasks done after prunner_wait_idle, expected %d (after a run, "
		              "an open and 40 posts)",
		              w, MODE_NAME_OF(_i), k, got, want);
		ck_assert_int_eq(prunner_close(r, k % 2 ? PRUNNER_CLOSE_CANCEL : PRUNNER_CLOSE_DRAIN), 0);
		struct prunner_stats st;
		ck_assert_int_eq(prunner_get_stats(r, &st), 0);
		ck_assert_uint_eq(st.executed, 40);
	}
	prunner_free(r);
}
END_TEST

static atomic_int g_cls_sum, g_cls_hooks;

static void cls_begin(prunner_t *r, void *options)
{
	(void)r;
	(void)options;
	atomic_fetch_add(&g_cls_hooks, 1);
}

static void cls_end(prunner_t *r)
{
	(void)r;
	atomic_fetch_add(&g_cls_hooks, 1);
}

static int cls_run(prunner_t *r, const struct prunner_task *t)
{
	(void)r;
	int v = 0;
	if (t->size == sizeof v)
		memcpy(&v, t->data, sizeof v);
	atomic_fetch_add(&g_cls_sum, t->label * 1000 + v);
	return 0;
}

START_TEST(test_executor_labelled)
{
	int w = WORKERS[_i];
	atomic_store(&g_cls_sum, 0);
	atomic_store(&g_cls_hooks, 0);
	struct prunner_class cls = { cls_begin, cls_run, cls_end };
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, w, false, &cls, NULL), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	int want = 0;
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(prunner_queue_put(r, i % 5, &i, sizeof i), 0);
		want += (i % 5) * 1000 + i;
	}
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&g_cls_sum), want);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	int one = 1;
	ck_assert_int_eq(prunner_queue_put(r, 1, &one, sizeof one), -ECANCELED);
	ck_assert_int_eq(atomic_load(&g_cls_hooks), 0);
	prunner_free(r);
	ck_assert_int_eq(atomic_load(&g_cls_sum), want);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *executor_suite(void)
{
	Suite *s = suite_create("runner");
	TCase *tc;

	tc = tcase_create("phases");
	tcase_add_loop_test(tc, test_phases, 0, N_WORKERS * N_MODES);
	tcase_add_loop_test(tc, test_wait_idle_concurrent, 0, N_WORKERS * N_MODES);
	tcase_add_loop_test(tc, test_wait_idle_single_thread_rounds, 0, N_WORKERS * N_MODES);
	tcase_add_loop_test(tc, test_wait_idle_edges, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_executor_and_runs, 0, N_WORKERS * N_MODES);
	tcase_add_loop_test(tc, test_executor_labelled, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	/* Its own case with a shorter limit: if wait_idle hangs in a begin
	 * hook, this is where it shows. */
	tc = tcase_create("wait_idle_hook");
	tcase_set_timeout(tc, 15);
	tcase_add_loop_test(tc, test_wait_idle_from_begin_hook, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tcase_add_loop_test(tc, test_post_after_close, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_close_cancel, 0, N_WORKERS * N_MODES);
	tcase_add_loop_test(tc, test_close_drain_queued, 0, N_WORKERS * N_MODES);
	tcase_add_loop_test(tc, test_lifecycle_edges, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_close_while_closing, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_free_open_drains, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_close_sleeping_workers, 0, N_WORKERS * N_MODES);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_loop_test(tc, test_threads, 0, N_WORKERS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	SRunner *sr = srunner_create(executor_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
