/*
 * test_fault_post.c - fault walks over the calls that queue work or store
 * data: prunner_post from the test thread (inline and heap payloads) and
 * from tasks (a task posting more children than its deque holds),
 * prunner_queue_put, prunner_submit with prunner_set_result, prunner_then
 * (on a pending and on a final future), prunner_wait_any / wait_all with
 * many futures, group spawns (from a task and from the test thread), dict
 * sets of strings and blobs (the table grows twice), and
 * prunner_completion_fd.
 *
 * Accounting is per task: every post has an id; the poster records whether
 * its post returned 0 and the task counts its own runs in its id's slot.
 * After each step: every accepted id ran exactly once, every refused one
 * never, every refusal said -ENOMEM (-EMFILE for the fd), and a retry of
 * the refused calls without the fault succeeds (and those run once).
 *
 * Assertions only on the test thread; tasks record in atomics.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "../testutil.h"
#include "prunner.h"
#include "walk.h"

/* ------------------------------------------------------------------------ */
/* Per-id accounting                                                        */
/* ------------------------------------------------------------------------ */

#define MAX_IDS 1200

struct ledger {
	atomic_int ran[MAX_IDS];    /* runs of each id (by the task) */
	int rc[MAX_IDS];            /* the post's result (by the poster) */
	atomic_int posted[MAX_IDS]; /* 1 once a post of the id returned 0 */
	atomic_int bad;             /* anything a task saw that is wrong */
	int n;                      /* ids in use */
};

static struct ledger L; /* one step at a time */

static void ledger_reset(int n)
{
	for (int i = 0; i < MAX_IDS; i++) {
		atomic_store(&L.ran[i], 0);
		atomic_store(&L.posted[i], 0);
		L.rc[i] = 0;
	}
	atomic_store(&L.bad, 0);
	L.n = n;
}

/* Records a post's result (poster side: any thread). */
static void ledger_post(int id, int rc)
{
	L.rc[id] = rc;
	if (rc == 0)
		atomic_fetch_add(&L.posted[id], 1);
}

/*
 * Every id ran as often as it was accepted (at most once), and refused
 * posts said `err`.  Returns the number of refused ids.  With `all`,
 * every id must have been accepted.
 */
static int ledger_check(const struct walk *w, int err, bool all)
{
	int refused = 0;
	ck_assert_msg(atomic_load(&L.bad) == 0, "%s N=%" PRIu64 ": a task saw a wrong payload or result",
	              w->name, w->n);
	for (int i = 0; i < L.n; i++) {
		int p = atomic_load(&L.posted[i]), r = atomic_load(&L.ran[i]);
		ck_assert_msg(p <= 1 && r == p, "%s N=%" PRIu64 ": id %d accepted %d times, ran %d times",
		              w->name, w->n, i, p, r);
		if (!p) {
			refused++;
			ck_assert_msg(L.rc[i] == err, "%s N=%" PRIu64 ": id %d refused with %d (%s)", w->name,
			              w->n, i, L.rc[i], prunner_strerror(L.rc[i]));
		}
	}
	if (all)
		ck_assert_msg(refused == 0, "%s N=%" PRIu64 ": %d posts refused without a fault", w->name,
		              w->n, refused);
	return refused;
}

/* A payload: its id, padded to `size` bytes with a pattern the task checks
 * (so a payload copy that went wrong is seen). */
struct payload {
	int id;
	unsigned char pad[60];
};

/* Every heap_every-th payload is on the heap (> PRUNNER_INLINE_PAYLOAD),
 * the others inline. */
static int heap_every = 3;

static size_t payload_size(int id)
{
	return id % heap_every == heap_every - 1 ? sizeof(struct payload) : sizeof(int) + 8;
}

static struct payload make_payload(int id)
{
	struct payload p;
	p.id = id;
	for (size_t i = 0; i < sizeof p.pad; i++)
		p.pad[i] = (unsigned char)(id + i);
	return p;
}

static void check_payload(const struct payload *p)
{
	size_t n = payload_size(p->id) - sizeof(int);
	for (size_t i = 0; i < n; i++)
		if (p->pad[i] != (unsigned char)(p->id + i))
			atomic_fetch_add(&L.bad, 1);
}

_Static_assert(sizeof(int) + 8 <= PRUNNER_INLINE_PAYLOAD, "inline payload");
_Static_assert(sizeof(struct payload) > PRUNNER_INLINE_PAYLOAD, "heap payload");

static int id_task(void *data)
{
	const struct payload *p = data;
	check_payload(p);
	atomic_fetch_add(&L.ran[p->id], 1);
	return 0;
}

/* Futures whose id does not matter. */
static atomic_int noid_ran;

static int id_task_noid(void *data)
{
	(void)data;
	atomic_fetch_add(&noid_ran, 1);
	return 0;
}

static int post_id(prunner_t *r, int id)
{
	struct payload p = make_payload(id);
	int rc = prunner_post(r, id_task, &p, payload_size(id));
	ledger_post(id, rc);
	return rc;
}

static prunner_t *open_runner(int workers)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, workers), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	return r;
}

/* ------------------------------------------------------------------------ */
/* prunner_post from the test thread                                        */
/* ------------------------------------------------------------------------ */

#define OUTSIDE_POSTS 9

static bool step_outside_post(struct walk *w)
{
	prunner_t *r = open_runner(2);
	ledger_reset(OUTSIDE_POSTS);
	walk_arm(w->kind, w->n, w->persistent);
	for (int i = 0; i < OUTSIDE_POSTS; i++)
		post_id(r, i);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	bool fired = walk_disarm(w->kind);
	int refused = ledger_check(w, -ENOMEM, !fired);
	ck_assert(fired || refused == 0);
	/* Retry the refused ones. */
	for (int i = 0; i < OUTSIDE_POSTS; i++)
		if (!atomic_load(&L.posted[i]))
			ck_assert_int_eq(post_id(r, i), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ledger_check(w, 0, true);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.executed, OUTSIDE_POSTS);
	ck_assert_uint_eq(st.posted, OUTSIDE_POSTS);
	prunner_free(r);
	return fired;
}

START_TEST(test_outside_post)
{
	/* The injector's first slab (2 calls) and 3 heap payloads. */
	ck_assert_uint_ge(walk_both("post from the test thread", step_outside_post, NULL, PR_FAULT_ALLOC), 5);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_post from a task                                                 */
/* ------------------------------------------------------------------------ */

/*
 * One parent task posts `n` children, recording each result.  With one
 * worker, nobody takes the children while the parent runs, so its deque
 * (1024 slots) grows: the growth is a fault site of the post, and its
 * cache runs out of tasks once (a second slab).  A second run posts the
 * refused ids again.
 */
#define INSIDE_CHILDREN 1100

struct parent_arg {
	int n;
	bool retry; /* post only the ids not accepted yet */
};

static int parent_task(void *data)
{
	const struct parent_arg *a = data;
	prunner_t *r = prunner_current();
	for (int i = 0; i < a->n; i++)
		if (!a->retry || !atomic_load(&L.posted[i]))
			post_id(r, i);
	return 0;
}

static void begin_parent(prunner_t *r, void *arg)
{
	/* From begin (outside the pool): retried until accepted, so that
	 * the walk goes on to the parent's own posts. */
	while (prunner_post(r, parent_task, arg, sizeof(struct parent_arg)) != 0)
		pr_fault_disarm();
}

/* Workers, and termination by flags (0) or by the counter (1), whose
 * error path for a failed deque growth gives back `pending`. */
static const int INSIDE_CFGS[][2] = {{1, 0}, {2, 0}, {1, 1}, {2, 1}};

static bool step_inside_post(struct walk *w)
{
	const int *c = w->arg;
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, c[0]), 0);
	ck_assert_int_eq(
	    prunner_set_termination(r, c[1] ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS), 0);
	struct parent_arg a = {INSIDE_CHILDREN, false};
	heap_every = 100; /* keep the walk short: 11 heap payloads */
	ck_assert_int_eq(prunner_set_hooks(r, begin_parent, NULL, &a), 0);
	ledger_reset(INSIDE_CHILDREN);
	/* Start the pool first: its allocations are walked by test_fault_run. */
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);

	walk_arm(w->kind, w->n, w->persistent);
	ck_assert_int_eq(prunner_run(r), 0);
	bool fired = walk_disarm(w->kind);
	int refused = ledger_check(w, -ENOMEM, !fired);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.executed, (uint64_t)(INSIDE_CHILDREN - refused + 1));
	ck_assert_uint_eq(st.posted, st.executed);

	a.retry = true;
	ck_assert_int_eq(prunner_run(r), 0);
	ledger_check(w, 0, true);
	prunner_free(r);
	heap_every = 3;
	return fired;
}

static const int INSIDE_WORKERS[] = {1, 2};

START_TEST(test_inside_post)
{
	char name[64];
	snprintf(name, sizeof name, "post from a task, %d w, %s", INSIDE_CFGS[_i][0],
	         INSIDE_CFGS[_i][1] ? "counter" : "flags");
	/* At least the injector's slab (begin's post: 2 calls), the
	 * parent's first slab and the 11 heap payloads; on one worker
	 * also its second slab and the deque's growth (with two, the thief
	 * may keep the deque short and spill tasks back to the pool). */
	uint64_t least = INSIDE_CFGS[_i][0] == 1 ? 16 : 14;
	ck_assert_uint_ge(walk_both(name, step_inside_post, (void *)INSIDE_CFGS[_i], PR_FAULT_ALLOC), least);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_queue_put (labelled tasks), from begin and from run()            */
/* ------------------------------------------------------------------------ */

#define PUT_ROOTS    3
#define PUT_CHILDREN 5 /* per root */
#define PUT_IDS      (PUT_ROOTS * (1 + PUT_CHILDREN))

/* First pass: roots put their children.  Retry: begin puts every id
 * still missing, children included. */
static atomic_bool put_first_pass;

static int put_id(prunner_t *r, int id)
{
	struct payload p = make_payload(id);
	int rc = prunner_queue_put(r, id < PUT_ROOTS ? 0 : 1, &p, payload_size(id));
	ledger_post(id, rc);
	return rc;
}

static void put_begin(prunner_t *r, void *options)
{
	(void)options;
	/* First pass: the roots (they put their children).  Retry: every id
	 * still missing. */
	bool first = atomic_load(&put_first_pass);
	for (int i = 0; i < (first ? PUT_ROOTS : PUT_IDS); i++)
		if (!atomic_load(&L.posted[i]))
			put_id(r, i);
}

static int put_run(prunner_t *r, const struct prunner_task *t)
{
	const struct payload *p = t->data;
	check_payload(p);
	if (t->size != payload_size(p->id))
		atomic_fetch_add(&L.bad, 1);
	atomic_fetch_add(&L.ran[p->id], 1);
	/* Label 0: a root, which puts its children (on the first pass). */
	if (t->label == 0 && atomic_load(&put_first_pass))
		for (int c = 0; c < PUT_CHILDREN; c++)
			put_id(r, PUT_ROOTS + p->id * PUT_CHILDREN + c);
	return 0;
}

static bool step_queue_put(struct walk *w)
{
	static const struct prunner_class cls = {put_begin, put_run, NULL};
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new_class(&r, 2, false, &cls, NULL), 0);
	ledger_reset(PUT_IDS);
	atomic_store(&put_first_pass, true);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);

	walk_arm(w->kind, w->n, w->persistent);
	ck_assert_int_eq(prunner_run(r), 0);
	bool fired = walk_disarm(w->kind);
	/* The children of a refused root were never put: not refused, just
	 * never tried.  Count them as refused for the check. */
	for (int i = 0; i < PUT_ROOTS; i++)
		if (!atomic_load(&L.posted[i]))
			for (int c = 0; c < PUT_CHILDREN; c++)
				L.rc[PUT_ROOTS + i * PUT_CHILDREN + c] = -ENOMEM;
	ledger_check(w, -ENOMEM, !fired);

	atomic_store(&put_first_pass, false);
	ck_assert_int_eq(prunner_run(r), 0);
	ledger_check(w, 0, true);
	prunner_free(r);
	return fired;
}

START_TEST(test_queue_put)
{
	ck_assert_uint_ge(walk_both("queue_put from begin and run()", step_queue_put, NULL, PR_FAULT_ALLOC),
	                  5);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_submit and prunner_set_result                                    */
/* ------------------------------------------------------------------------ */

/* A future's task: sets a result of 8 bytes (inline in the future) or of
 * 40 bytes (a heap copy), records set_result's answer in L.rc's upper half,
 * and counts itself. */
#define SUBMITS       8
#define RESULT_RC(id) (MAX_IDS / 2 + (id))

static size_t result_size(int id)
{
	return id % 2 ? 40 : 8;
}

static int result_task(void *data)
{
	const struct payload *p = data;
	check_payload(p);
	unsigned char res[40];
	memset(res, p->id, sizeof res);
	L.rc[RESULT_RC(p->id)] = prunner_set_result(res, result_size(p->id));
	atomic_fetch_add(&L.ran[p->id], 1);
	return 0;
}

static void destroy_never(void *data)
{
	(void)data;
	atomic_fetch_add(&L.bad, 1); /* nothing is cancelled here */
}

static int submit_id(prunner_t *r, int id, prunner_future_t **out)
{
	struct payload p = make_payload(id);
	int rc = prunner_submit(r, result_task, &p, payload_size(id), destroy_never, out);
	ledger_post(id, rc);
	return rc;
}

/* A future of id `id` is DONE and holds what its set_result stored: its
 * bytes, or nothing when set_result failed (a failed call has no effect). */
static void check_result(const struct walk *w, int id, prunner_future_t *f)
{
	ck_assert_int_eq(prunner_future_wait(f, -1), 0);
	ck_assert_int_eq(prunner_future_state(f), PRUNNER_FUTURE_DONE);
	unsigned char buf[40];
	size_t len = 99;
	ck_assert_int_eq(prunner_future_result(f, buf, sizeof buf, &len), 0);
	int src = L.rc[RESULT_RC(id)];
	if (src == 0) {
		ck_assert_uint_eq(len, result_size(id));
		for (size_t i = 0; i < len; i++)
			ck_assert_int_eq(buf[i], (unsigned char)id);
	} else {
		ck_assert_msg(src == -ENOMEM, "%s N=%" PRIu64 ": set_result gave %d", w->name, w->n, src);
		ck_assert_uint_eq(len, 0);
	}
}

static bool step_submit(struct walk *w)
{
	prunner_t *r = open_runner(2);
	ledger_reset(SUBMITS);
	prunner_future_t *fs[SUBMITS];

	walk_arm(w->kind, w->n, w->persistent);
	for (int i = 0; i < SUBMITS; i++) {
		fs[i] = (prunner_future_t *)&fs; /* must be overwritten */
		int rc = submit_id(r, i, &fs[i]);
		if (rc != 0)
			ck_assert_ptr_null(fs[i]);
	}
	for (int i = 0; i < SUBMITS; i++)
		if (fs[i])
			ck_assert_int_eq(prunner_future_wait(fs[i], -1), 0);
	bool fired = walk_disarm(w->kind);
	ledger_check(w, -ENOMEM, !fired);
	int result_failures = 0;
	for (int i = 0; i < SUBMITS; i++)
		if (fs[i]) {
			check_result(w, i, fs[i]);
			result_failures += L.rc[RESULT_RC(i)] != 0;
		}
	ck_assert(fired || result_failures == 0);

	/* Retry: the refused submits, and set_result on every id. */
	for (int i = 0; i < SUBMITS; i++) {
		prunner_future_release(fs[i]);
		fs[i] = NULL;
		atomic_store(&L.posted[i], 0);
		atomic_store(&L.ran[i], 0);
		ck_assert_int_eq(submit_id(r, i, &fs[i]), 0);
	}
	for (int i = 0; i < SUBMITS; i++) {
		check_result(w, i, fs[i]);
		ck_assert_int_eq(L.rc[RESULT_RC(i)], 0);
		prunner_future_release(fs[i]);
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ledger_check(w, 0, true);
	prunner_free(r);
	return fired;
}

START_TEST(test_submit)
{
	/* 8 futures, the injector's slab, 4 heap results (and the heap
	 * payloads, which live in the future's own block). */
	ck_assert_uint_ge(walk_both("submit + set_result (outside)", step_submit, NULL, PR_FAULT_ALLOC), 14);
}
END_TEST

/* The same from a task: a parent submits SUBMITS futures to its own
 * worker, waits for each (helping) and checks nothing itself: the test
 * thread checks the ledger and the futures it is handed. */
static prunner_future_t *inside_fs[SUBMITS];

static int submit_parent(void *data)
{
	(void)data;
	prunner_t *r = prunner_current();
	for (int i = 0; i < SUBMITS; i++)
		if (!atomic_load(&L.posted[i]))
			submit_id(r, i, &inside_fs[i]);
	for (int i = 0; i < SUBMITS; i++)
		if (inside_fs[i] && prunner_future_wait(inside_fs[i], -1) != 0)
			atomic_fetch_add(&L.bad, 1);
	return 0;
}

static void begin_submit_parent(prunner_t *r, void *arg)
{
	(void)arg;
	while (prunner_post(r, submit_parent, NULL, 0) != 0)
		pr_fault_disarm(); /* walked by the outside tests */
}

static bool step_submit_inside(struct walk *w)
{
	int workers = *(const int *)w->arg;
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, workers), 0);
	ck_assert_int_eq(prunner_set_hooks(r, begin_submit_parent, NULL, NULL), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ledger_reset(SUBMITS);
	memset(inside_fs, 0, sizeof inside_fs);

	walk_arm(w->kind, w->n, w->persistent);
	ck_assert_int_eq(prunner_run(r), 0);
	bool fired = walk_disarm(w->kind);
	ledger_check(w, -ENOMEM, !fired);
	for (int i = 0; i < SUBMITS; i++)
		if (inside_fs[i])
			check_result(w, i, inside_fs[i]);

	ck_assert_int_eq(prunner_run(r), 0); /* submits the refused ids */
	ledger_check(w, 0, true);
	for (int i = 0; i < SUBMITS; i++) {
		check_result(w, i, inside_fs[i]);
		prunner_future_release(inside_fs[i]);
	}
	prunner_free(r);
	return fired;
}

START_TEST(test_submit_inside)
{
	char name[64];
	snprintf(name, sizeof name, "submit + set_result (task), %d w", INSIDE_WORKERS[_i]);
	ck_assert_uint_ge(walk_both(name, step_submit_inside, (void *)&INSIDE_WORKERS[_i], PR_FAULT_ALLOC),
	                  13);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_then                                                             */
/* ------------------------------------------------------------------------ */

/*
 * THEN_K sources held by a gate (pending when their continuations are
 * added) and THEN_K sources already DONE.  Source i sets the result i (8
 * bytes), so its continuation's payload, a copy of that result, says which
 * continuation runs.  A continuation added to a pending source is resolved
 * by the worker that completes the source: if the copy or the post fails
 * there, it is cancelled (its destroy runs, with NULL when the copy
 * failed).  A continuation added to a final source is resolved by
 * prunner_then itself, which then returns -ENOMEM with no effect.
 */
#define THEN_K 3

struct gate_src {
	atomic_int open;
};

static struct gate_src then_gate;
static atomic_int then_destroyed;

struct src_payload {
	int64_t id;
	bool wait;
};

static int source_task(void *data)
{
	const struct src_payload *p = data;
	while (p->wait && !atomic_load_explicit(&then_gate.open, memory_order_acquire))
		sched_yield();
	if (prunner_set_result(&p->id, sizeof p->id) != 0)
		atomic_fetch_add(&L.bad, 1); /* 8 bytes: inline, cannot fail */
	return 0;
}

static int cont_task(void *data)
{
	int64_t id = *(const int64_t *)data;
	if (id < 0 || id >= 2 * THEN_K)
		atomic_fetch_add(&L.bad, 1);
	else
		atomic_fetch_add(&L.ran[id], 1);
	return 0;
}

static void cont_destroy(void *data)
{
	(void)data;
	atomic_fetch_add(&then_destroyed, 1);
}

static bool step_then(struct walk *w)
{
	prunner_t *r = open_runner(2);
	ledger_reset(2 * THEN_K);
	atomic_store(&then_gate.open, 0);
	atomic_store(&then_destroyed, 0);
	prunner_future_t *src[2 * THEN_K], *cont[2 * THEN_K];
	/* The final sources first: the gated ones hold both workers. */
	for (int i = 2 * THEN_K - 1; i >= 0; i--) {
		struct src_payload p = {i, i < THEN_K};
		ck_assert_int_eq(prunner_submit(r, source_task, &p, sizeof p, NULL, &src[i]), 0);
		if (i == THEN_K)
			for (int j = THEN_K; j < 2 * THEN_K; j++)
				ck_assert_int_eq(prunner_future_wait(src[j], -1), 0);
	}

	walk_arm(w->kind, w->n, w->persistent);
	for (int i = 0; i < 2 * THEN_K; i++) {
		int rc = prunner_then(src[i], cont_task, cont_destroy, &cont[i]);
		ledger_post(i, rc);
		if (rc != 0)
			ck_assert_ptr_null(cont[i]);
	}
	atomic_store_explicit(&then_gate.open, 1, memory_order_release);
	for (int i = 0; i < 2 * THEN_K; i++) {
		ck_assert_int_eq(prunner_future_wait(src[i], -1), 0);
		if (cont[i])
			ck_assert_int_eq(prunner_future_wait(cont[i], -1), 0);
	}
	bool fired = walk_disarm(w->kind);

	/* Each continuation ran or was cancelled, exactly once; only those
	 * of pending sources can have been cancelled; a refused prunner_then
	 * said -ENOMEM and left nothing. */
	int cancelled = 0;
	ck_assert_int_eq(atomic_load(&L.bad), 0);
	for (int i = 0; i < 2 * THEN_K; i++) {
		int ran = atomic_load(&L.ran[i]);
		if (!cont[i]) {
			ck_assert_int_eq(L.rc[i], -ENOMEM);
			ck_assert_int_eq(ran, 0);
			continue;
		}
		enum prunner_future_state s = prunner_future_state(cont[i]);
		if (s == PRUNNER_FUTURE_CANCELLED) {
			ck_assert_msg(i < THEN_K,
			              "%s N=%" PRIu64 ": then on a final source accepted, then cancelled",
			              w->name, w->n);
			ck_assert_int_eq(ran, 0);
			cancelled++;
		} else {
			ck_assert_int_eq(s, PRUNNER_FUTURE_DONE);
			ck_assert_int_eq(ran, 1);
		}
	}
	ck_assert_int_eq(atomic_load(&then_destroyed), cancelled);
	ck_assert(fired || cancelled == 0);

	/* Retry the refused ones (every source is final now). */
	for (int i = 0; i < 2 * THEN_K; i++) {
		if (cont[i])
			continue;
		ck_assert_int_eq(prunner_then(src[i], cont_task, cont_destroy, &cont[i]), 0);
		ck_assert_int_eq(prunner_future_wait(cont[i], -1), 0);
		ck_assert_int_eq(prunner_future_state(cont[i]), PRUNNER_FUTURE_DONE);
		ck_assert_int_eq(atomic_load(&L.ran[i]), 1);
	}
	for (int i = 0; i < 2 * THEN_K; i++) {
		prunner_future_release(src[i]);
		prunner_future_release(cont[i]);
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	return fired;
}

START_TEST(test_then)
{
	/* 6 continuations, 6 result copies, and the posts' slabs. */
	ck_assert_uint_ge(walk_both("then (pending and final sources)", step_then, NULL, PR_FAULT_ALLOC), 12);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_wait_any / prunner_wait_all with many futures                    */
/* ------------------------------------------------------------------------ */

#define WAIT_N 16 /* more than wait_any's 8 links on the stack */

static int gate_task(void *data)
{
	(void)data;
	while (!atomic_load_explicit(&then_gate.open, memory_order_acquire))
		sched_yield();
	return 0;
}

/*
 * From the test thread.  One worker, held by the first future's task
 * behind a closed gate; so no future is final while the waits run, and a
 * wait with a finite timeout (any finite one: nothing can finish) must
 * time out unless its allocation failed.
 */
static bool step_wait_outside(struct walk *w)
{
	prunner_t *r = open_runner(1);
	atomic_store(&then_gate.open, 0);
	prunner_future_t *fs[WAIT_N];
	ck_assert_int_eq(prunner_submit(r, gate_task, NULL, 0, NULL, &fs[0]), 0);
	for (int i = 1; i < WAIT_N; i++)
		ck_assert_int_eq(prunner_submit(r, noop_task, NULL, 0, NULL, &fs[i]), 0);

	walk_arm(w->kind, w->n, w->persistent);
	size_t index = 99;
	int any = prunner_wait_any(fs, WAIT_N, 1000000, &index);
	int all = prunner_wait_all(fs, WAIT_N, 1000000);
	bool fired = walk_disarm(w->kind);
	ck_assert_msg(any == (fired ? -ENOMEM : -ETIMEDOUT), "%s N=%" PRIu64 ": wait_any gave %d", w->name,
	              w->n, any);
	ck_assert_uint_eq(index, 99); /* untouched on failure */
	ck_assert_int_eq(all, -ETIMEDOUT);

	atomic_store_explicit(&then_gate.open, 1, memory_order_release);
	ck_assert_int_eq(prunner_wait_any(fs, WAIT_N, -1, &index), 0);
	ck_assert_uint_lt(index, WAIT_N);
	ck_assert_int_eq(prunner_wait_all(fs, WAIT_N, -1), 0);
	for (int i = 0; i < WAIT_N; i++) {
		ck_assert_int_eq(prunner_future_state(fs[i]), PRUNNER_FUTURE_DONE);
		prunner_future_release(fs[i]);
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	return fired;
}

START_TEST(test_wait_outside)
{
	ck_assert_uint_eq(
	    walk_both("wait_any/all, 16 futures (outside)", step_wait_outside, NULL, PR_FAULT_ALLOC), 1);
}
END_TEST

/*
 * From a task on the only worker: its futures sit in its own deque, so
 * none is final when it calls wait_any; the wait then helps (runs them).
 */
static atomic_int wait_any_rc, wait_all_rc, wait_accepted;

static int wait_parent(void *data)
{
	(void)data;
	prunner_t *r = prunner_current();
	prunner_future_t *fs[WAIT_N];
	int n = 0;
	for (int i = 0; i < WAIT_N; i++) {
		int rc = prunner_submit(r, id_task_noid, NULL, 0, NULL, &fs[n]);
		if (rc == 0)
			n++;
		else if (rc != -ENOMEM)
			atomic_fetch_add(&L.bad, 1);
	}
	atomic_store(&wait_accepted, n);
	size_t index;
	atomic_store(&wait_any_rc, n ? prunner_wait_any(fs, (size_t)n, -1, &index) : 0);
	atomic_store(&wait_all_rc, prunner_wait_all(fs, (size_t)n, -1));
	for (int i = 0; i < n; i++) {
		if (prunner_future_state(fs[i]) != PRUNNER_FUTURE_DONE)
			atomic_fetch_add(&L.bad, 1);
		prunner_future_release(fs[i]);
	}
	return 0;
}

static void begin_wait_parent(prunner_t *r, void *arg)
{
	(void)arg;
	while (prunner_post(r, wait_parent, NULL, 0) != 0)
		pr_fault_disarm();
}

static bool step_wait_inside(struct walk *w)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, 1), 0);
	ck_assert_int_eq(prunner_set_hooks(r, begin_wait_parent, NULL, NULL), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ledger_reset(0);
	atomic_store(&noid_ran, 0);

	walk_arm(w->kind, w->n, w->persistent);
	ck_assert_int_eq(prunner_run(r), 0);
	bool fired = walk_disarm(w->kind);
	ck_assert_int_eq(atomic_load(&L.bad), 0);
	int any = atomic_load(&wait_any_rc), n = atomic_load(&wait_accepted);
	ck_assert_msg(any == 0 || (fired && any == -ENOMEM), "%s N=%" PRIu64 ": wait_any gave %d", w->name,
	              w->n, any);
	ck_assert_int_eq(atomic_load(&wait_all_rc), 0);
	ck_assert_int_eq(atomic_load(&noid_ran), n);
	ck_assert(fired || n == WAIT_N);

	atomic_store(&noid_ran, 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&wait_any_rc), 0);
	ck_assert_int_eq(atomic_load(&wait_accepted), WAIT_N);
	ck_assert_int_eq(atomic_load(&noid_ran), WAIT_N);
	prunner_free(r);
	return fired;
}

START_TEST(test_wait_inside)
{
	/* 16 futures, the worker's slab, the links. */
	ck_assert_uint_ge(
	    walk_both("wait_any/all, 16 futures (task)", step_wait_inside, NULL, PR_FAULT_ALLOC), 18);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Fork-join groups                                                         */
/* ------------------------------------------------------------------------ */

#define GROUP_CHILDREN 20

static atomic_int group_failed;

static void spawn_all(prunner_group_t *g)
{
	for (int i = 0; i < GROUP_CHILDREN; i++) {
		if (atomic_load(&L.posted[i]))
			continue;
		struct payload p = make_payload(i);
		ledger_post(i, prunner_group_spawn(g, id_task, &p, payload_size(i)));
	}
}

static int group_parent(void *data)
{
	(void)data;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&L.bad, 1);
		return 0;
	}
	spawn_all(&g);
	atomic_store(&group_failed, prunner_group_wait(&g));
	return 0;
}

static void begin_group_parent(prunner_t *r, void *arg)
{
	(void)arg;
	while (prunner_post(r, group_parent, NULL, 0) != 0)
		pr_fault_disarm();
}

static bool step_group_inside(struct walk *w)
{
	int workers = *(const int *)w->arg;
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	ck_assert_int_eq(prunner_set_workers(r, workers), 0);
	ck_assert_int_eq(prunner_set_hooks(r, begin_group_parent, NULL, NULL), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ledger_reset(GROUP_CHILDREN);

	walk_arm(w->kind, w->n, w->persistent);
	ck_assert_int_eq(prunner_run(r), 0);
	bool fired = walk_disarm(w->kind);
	ck_assert_int_eq(atomic_load(&group_failed), 0);
	ledger_check(w, -ENOMEM, !fired);

	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&group_failed), 0);
	ledger_check(w, 0, true);
	prunner_free(r);
	return fired;
}

START_TEST(test_group_inside)
{
	char name[64];
	snprintf(name, sizeof name, "group spawn (task), %d workers", INSIDE_WORKERS[_i]);
	ck_assert_uint_ge(walk_both(name, step_group_inside, (void *)&INSIDE_WORKERS[_i], PR_FAULT_ALLOC), 7);
}
END_TEST

static bool step_group_outside(struct walk *w)
{
	prunner_t *r = open_runner(2);
	ledger_reset(GROUP_CHILDREN);
	prunner_group_t g;
	ck_assert_int_eq(prunner_group_init(&g, r), 0);

	walk_arm(w->kind, w->n, w->persistent);
	spawn_all(&g);
	int failed = prunner_group_wait(&g);
	bool fired = walk_disarm(w->kind);
	ck_assert_int_eq(failed, 0);
	ledger_check(w, -ENOMEM, !fired);

	spawn_all(&g);
	ck_assert_int_eq(prunner_group_wait(&g), 0);
	ledger_check(w, 0, true);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	return fired;
}

START_TEST(test_group_outside)
{
	ck_assert_uint_ge(walk_both("group spawn (test thread)", step_group_outside, NULL, PR_FAULT_ALLOC),
	                  8);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The dict                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * A fixed sequence of sets: 40 new keys (strings, blobs and ints: the
 * table is created, then doubles at 13 and 25 keys), then 10 replacements
 * of a value by one of another type (string -> blob -> int -> string).  A model holds what the
 * dict must contain.  A set that fails must say -ENOMEM and leave the key
 * as the model has it; after the walk the whole sequence is replayed
 * without the fault and the dict must equal the model.
 */
#define DICT_KEYS 40
#define DICT_OPS  (DICT_KEYS + 10)

struct dval {
	enum prunner_type type; /* 0: absent */
	int64_t i;
	char s[80];
	size_t len;
};

static struct dval model[DICT_KEYS];

static void op_value(int op, int *key, struct dval *v)
{
	memset(v, 0, sizeof *v);
	int k = op < DICT_KEYS ? op : (op - DICT_KEYS) * 4;
	*key = k;
	int kind = (op < DICT_KEYS ? k : k + 1) % 3; /* a replacement changes the type */
	if (kind == 0) {
		v->type = PRUNNER_TYPE_STRING;
		v->len = (size_t)snprintf(v->s, sizeof v->s,
		                          "value %d of op %d, long enough to be a real string", k, op);
	} else if (kind == 1) {
		v->type = PRUNNER_TYPE_BLOB;
		v->len = 20 + (size_t)op % 30;
		for (size_t i = 0; i < v->len; i++)
			v->s[i] = (char)(op * 7 + (int)i);
	} else {
		v->type = PRUNNER_TYPE_INT;
		v->i = op * 1000 + 1;
	}
}

static int apply_op(struct prunner_dict *d, int op)
{
	int k;
	struct dval v;
	op_value(op, &k, &v);
	char key[32];
	snprintf(key, sizeof key, "key-%d", k);
	int rc;
	if (v.type == PRUNNER_TYPE_STRING)
		rc = prunner_dict_set_string(d, key, v.s);
	else if (v.type == PRUNNER_TYPE_BLOB)
		rc = prunner_dict_set_blob(d, key, v.s, v.len);
	else
		rc = prunner_dict_set_int(d, key, v.i);
	if (rc == 0)
		model[k] = v;
	return rc;
}

/* The dict holds key k exactly as the model says. */
static void check_key(const struct walk *w, struct prunner_dict *d, int k)
{
	char key[32];
	snprintf(key, sizeof key, "key-%d", k);
	enum prunner_type t;
	int rc = prunner_dict_type(d, key, &t);
	if (model[k].type == 0) {
		ck_assert_msg(rc == -ENOENT, "%s N=%" PRIu64 ": %s present after a failed insert", w->name,
		              w->n, key);
		return;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(t, model[k].type);
	char buf[80];
	size_t len = 0;
	int64_t i;
	switch (t) {
	case PRUNNER_TYPE_STRING:
		ck_assert_int_eq(prunner_dict_get_string(d, key, buf, sizeof buf, &len), (int)model[k].len);
		ck_assert_str_eq(buf, model[k].s);
		break;
	case PRUNNER_TYPE_BLOB:
		ck_assert_int_eq(prunner_dict_get_blob(d, key, buf, sizeof buf, &len), 0);
		ck_assert_uint_eq(len, model[k].len);
		ck_assert_mem_eq(buf, model[k].s, len);
		break;
	default:
		ck_assert_int_eq(prunner_dict_get_int(d, key, &i), 0);
		ck_assert_int_eq(i, model[k].i);
	}
}

static size_t model_len(void)
{
	size_t n = 0;
	for (int k = 0; k < DICT_KEYS; k++)
		n += model[k].type != 0;
	return n;
}

static bool step_dict(struct walk *w)
{
	prunner_t *r = NULL;
	ck_assert_int_eq(prunner_new(&r), 0);
	struct prunner_dict *d = prunner_dict(r);
	memset(model, 0, sizeof model);

	walk_arm(w->kind, w->n, w->persistent);
	int failures = 0;
	for (int op = 0; op < DICT_OPS; op++) {
		int rc = apply_op(d, op);
		if (rc != 0) {
			failures++;
			ck_assert_msg(rc == -ENOMEM, "%s N=%" PRIu64 ": op %d gave %d", w->name, w->n, op,
			              rc);
		}
		int k;
		struct dval v;
		op_value(op, &k, &v);
		check_key(w, d, k);
		ck_assert_uint_eq(prunner_dict_len(d), model_len());
	}
	bool fired = walk_disarm(w->kind);
	ck_assert(fired || failures == 0);

	for (int op = 0; op < DICT_OPS; op++)
		ck_assert_int_eq(apply_op(d, op), 0);
	ck_assert_uint_eq(prunner_dict_len(d), DICT_KEYS);
	for (int k = 0; k < DICT_KEYS; k++)
		check_key(w, d, k);
	prunner_free(r);
	return fired;
}

START_TEST(test_dict)
{
	/* 40 entries, 27 value copies, 3 tables, 7 replacement copies. */
	ck_assert_uint_ge(walk_both("dict sets (strings, blobs, ints)", step_dict, NULL, PR_FAULT_ALLOC), 70);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_completion_fd                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A future is queued for the fd by the worker that completes it, after
 * its waiters are woken but before the task counts as finished; so once
 * prunner_wait_idle has returned, every completion of the step is queued
 * (or was not, because the fd did not exist yet).
 */
static bool step_completion_fd(struct walk *w)
{
	prunner_t *r = open_runner(1);
	prunner_future_t *got[2];
	walk_arm(w->kind, w->n, w->persistent);
	int fd = prunner_completion_fd(r);
	prunner_future_t *f = NULL;
	int src = prunner_submit(r, noop_task, NULL, 0, NULL, &f);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	bool fired = walk_disarm(w->kind);
	if (src != 0) {
		ck_assert(fired);
		ck_assert_int_eq(src, -ENOMEM);
		ck_assert_ptr_null(f);
	}
	if (fd < 0) {
		ck_assert_msg(fired, "completion_fd failed without a fault: %d", fd);
		ck_assert_int_eq(fd, walk_errno(w->kind));
		fd = prunner_completion_fd(r); /* retry */
		ck_assert_int_ge(fd, 0);
		/* f completed before the fd existed: not queued. */
		ck_assert(!fd_readable_now(fd));
		ck_assert_int_eq(prunner_completed(r, got, 2), 0);
	} else if (f) {
		/* Queued once, and the fd says so. */
		ck_assert(fd_readable_now(fd));
		ck_assert_int_eq(prunner_completed(r, got, 2), 1);
		ck_assert_ptr_eq(got[0], f);
		prunner_future_release(got[0]);
	}
	prunner_future_release(f);
	ck_assert_int_eq(prunner_completion_fd(r), fd); /* the same fd */

	/* A retry of the whole: a completion reaches the fd. */
	ck_assert_int_eq(prunner_submit(r, noop_task, NULL, 0, NULL, &f), 0);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert(fd_readable_now(fd));
	ck_assert_int_eq(prunner_completed(r, got, 2), 1);
	ck_assert_ptr_eq(got[0], f);
	ck_assert(!fd_readable_now(fd));
	prunner_future_release(got[0]);
	prunner_future_release(f);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	return fired;
}

START_TEST(test_completion_fd_fd)
{
	ck_assert_uint_eq(walk_both("completion fd + submit", step_completion_fd, NULL, PR_FAULT_FD), 1);
}
END_TEST

START_TEST(test_completion_fd_alloc)
{
	/* The future and the injector's slab; the fd and the queue allocate
	 * nothing. */
	ck_assert_uint_eq(walk_both("completion fd + submit", step_completion_fd, NULL, PR_FAULT_ALLOC), 3);
}
END_TEST

static Suite *fault_post_suite(void)
{
	Suite *s = suite_create("fault_post");
	TCase *tc = tcase_create("walks");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_outside_post);
	tcase_add_loop_test(tc, test_inside_post, 0, 4);
	tcase_add_test(tc, test_queue_put);
	tcase_add_test(tc, test_submit);
	tcase_add_loop_test(tc, test_submit_inside, 0, 2);
	tcase_add_test(tc, test_then);
	tcase_add_test(tc, test_wait_outside);
	tcase_add_test(tc, test_wait_inside);
	tcase_add_loop_test(tc, test_group_inside, 0, 2);
	tcase_add_test(tc, test_group_outside);
	tcase_add_test(tc, test_dict);
	tcase_add_test(tc, test_completion_fd_fd);
	tcase_add_test(tc, test_completion_fd_alloc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_post_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
