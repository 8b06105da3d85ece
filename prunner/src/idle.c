/*
 * idle.c - sleeping and waking, and termination detection.
 *
 * Two protocols live here; docs/design.md states them with their proofs.
 *
 * 1. Sleeping without lost wake-ups: a set of sleepers under a mutex.
 *
 *    Sleeper W                          Poster P
 *    W1 lock; join the set;             P1 publish the task (deque/injector)
 *       nsleepers += 1; unlock          P2 seq_cst fence
 *    W2 seq_cst fence                   P3 if nsleepers != 0:
 *    W3 look for work in every queue    P4     lock; take one sleeper S out of
 *    W4 found: lock; leave the set           the set; nsleepers -= 1;
 *       (if still in it); unlock; run it      signal S; unlock
 *    W5 none: lock; wait on own condvar
 *       while in the set; unlock
 *
 *    By the seq_cst fence rule W2 and P2 are ordered: if P2 comes first,
 *    W3 sees the task; if W2 comes first, P3 sees W1's increment and P4
 *    runs.  A sleeper that P4 takes out of the set leaves its wait (or its
 *    cancel) after P4's unlock, so its next search sees the task.  If P4
 *    finds the set empty, every sleeper counted at P3 left it through W4
 *    (awake, with work, and it searches again before sleeping), and any
 *    thread that joins the set later does so after P4's unlock and sees
 *    the task at W3.  Either way no worker sleeps while the task waits.
 *
 * 2. Termination: per-worker idle flags to decide *when* to look, and
 *    per-worker counters, each written only by its owner, to decide
 *    *whether* the run is over.  See pr_try_terminate().
 */
#include "internal.h"

#include <errno.h>
#include <time.h>

int pr_sleep_init(struct pr_sleep *s)
{
	atomic_init(&s->nsleepers, 0);
	s->head = NULL;
	int rc = pthread_mutex_init(&s->lock, NULL);
	return rc ? -rc : 0;
}

void pr_sleep_destroy(struct pr_sleep *s)
{
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&s->lock));
}

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
static int monotonic_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);
	if (rc)
		return -rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return rc ? -rc : 0;
}

int64_t pr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pr_deadline(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return -1;
	int64_t now = pr_now_ns();
	return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

/* pthread_cond_timedwait until deadline_ns, or pthread_cond_wait when
 * deadline_ns < 0.  Returns 0 or ETIMEDOUT. */
static int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ns)
{
	if (deadline_ns < 0) {
		PR_CHECK_PTHREAD(pthread_cond_wait(c, m));
		return 0;
	}
	struct timespec ts = { .tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000 };
	int rc = pthread_cond_timedwait(c, m, &ts);
	PR_ASSERT(rc == 0 || rc == ETIMEDOUT);
	return rc;
}

int pr_sleeper_init(struct pr_sleeper *me)
{
	me->next = NULL;
	me->in_set = false;
	atomic_init(&me->in_set_hint, false);
	return monotonic_cond_init(&me->cond);
}

void pr_sleeper_destroy(struct pr_sleeper *me)
{
	PR_CHECK_PTHREAD(pthread_cond_destroy(&me->cond));
}

void pr_sleep_prepare(struct pr_sleep *s, struct pr_sleeper *me)
{
	pr_mutex_lock(&s->lock); /* W1 */
	me->in_set = true;
	atomic_store_explicit(&me->in_set_hint, true, memory_order_seq_cst);
	me->next = s->head;
	s->head = me;
	atomic_fetch_add_explicit(&s->nsleepers, 1, memory_order_seq_cst);
	pr_mutex_unlock(&s->lock);
	atomic_thread_fence(memory_order_seq_cst); /* W2, pairs with P2 */
}

/* Takes `me` out of the set.  Lock held. */
static void leave_locked(struct pr_sleep *s, struct pr_sleeper *me)
{
	struct pr_sleeper **p = &s->head;
	while (*p != me)
		p = &(*p)->next;
	*p = me->next;
	me->in_set = false;
	atomic_store_explicit(&me->in_set_hint, false, memory_order_relaxed);
	atomic_fetch_sub_explicit(&s->nsleepers, 1, memory_order_seq_cst);
}

bool pr_sleep_cancel(struct pr_sleep *s, struct pr_sleeper *me)
{
	pr_mutex_lock(&s->lock); /* W4 */
	bool taken = !me->in_set;
	if (!taken)
		leave_locked(s, me);
	/* else a notifier took us out already: its wake-up is consumed by
	 * our being awake, and its task is visible to our next search. */
	pr_mutex_unlock(&s->lock);
	return taken;
}

void pr_sleep_wait(struct pr_sleep *s, struct pr_sleeper *me)
{
	pr_mutex_lock(&s->lock); /* W5 */
	while (me->in_set)
		PR_CHECK_PTHREAD(pthread_cond_wait(&me->cond, &s->lock));
	pr_mutex_unlock(&s->lock);
}

int pr_sleep_wait_until(struct pr_sleep *s, struct pr_sleeper *me, int64_t deadline_ns)
{
	int rc = 0;
	pr_mutex_lock(&s->lock);
	while (me->in_set && rc == 0)
		rc = cond_wait_until(&me->cond, &s->lock, deadline_ns);
	if (me->in_set)
		leave_locked(s, me);
	pr_mutex_unlock(&s->lock);
	return rc ? -ETIMEDOUT : 0;
}

/*
 * The awaited event's side: the caller stored its "done" state before this
 * call (a release store or an acq_rel exchange: neither orders a later load
 * on its own); the sleeper joined the set (storing the hint, seq_cst, then
 * the W2 fence) before testing that state.  The seq_cst fence here pairs
 * with W2 as P2 does: either the sleeper's test sees "done", or the load
 * below sees the hint.  So if the hint reads false, the sleeper joins
 * later and sees "done" itself: the lock, and most of the time any
 * contention, is skipped (a helping waiter is usually awake, running
 * tasks).  Without the fence the load may be satisfied before the "done"
 * store is visible (x86's store buffer does exactly that to a release
 * store), and both sides miss: the lost wake-up that the SPIN model's
 * WEAK_WAKE variant exhibits (docs/design.md, section 10.5).
 */
void pr_sleep_wake(struct pr_sleep *s, struct pr_sleeper *me)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&me->in_set_hint, memory_order_seq_cst))
		return;
	pr_mutex_lock(&s->lock);
	if (me->in_set) {
		leave_locked(s, me);
		PR_CHECK_PTHREAD(pthread_cond_signal(&me->cond));
	}
	pr_mutex_unlock(&s->lock);
}

/* Takes the most recent sleeper out of the set and signals it.  Lock held. */
static void wake_one_locked(struct pr_sleep *s)
{
	struct pr_sleeper *w = s->head;
	s->head = w->next;
	w->in_set = false;
	atomic_store_explicit(&w->in_set_hint, false, memory_order_relaxed);
	atomic_fetch_sub_explicit(&s->nsleepers, 1, memory_order_seq_cst);
	PR_CHECK_PTHREAD(pthread_cond_signal(&w->cond));
}

void pr_sleep_notify_slow(struct pr_sleep *s)
{
	pr_mutex_lock(&s->lock); /* P4 */
	if (s->head)
		wake_one_locked(s);
	pr_mutex_unlock(&s->lock);
}

void pr_sleep_notify_all(struct pr_sleep *s)
{
	pr_mutex_lock(&s->lock);
	while (s->head)
		wake_one_locked(s);
	pr_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------------ */
/* Waiters                                                                  */
/* ------------------------------------------------------------------------ */

void pr_waiter_init_thread(struct pr_waiter *w)
{
	w->kind = PR_WAITER_THREAD;
	w->sleep = NULL;
	w->sleeper = NULL;
	w->woken = false;
	PR_CHECK_PTHREAD(pthread_mutex_init(&w->lock, NULL));
	PR_CHECK_PTHREAD(-monotonic_cond_init(&w->cond));
}

void pr_waiter_destroy_thread(struct pr_waiter *w)
{
	PR_CHECK_PTHREAD(pthread_cond_destroy(&w->cond));
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&w->lock));
}

/*
 * Wakes w.  For a thread waiter, `woken` is set under its lock, and the
 * waiter returns only after seeing it under that lock: so once this call
 * has released the lock it does not touch w again, and the waiter may free
 * it (it usually lives on the waiter's stack).
 */
void pr_waiter_wake(struct pr_waiter *w)
{
	if (w->kind == PR_WAITER_WORKER) {
		pr_sleep_wake(w->sleep, w->sleeper);
		return;
	}
	pr_mutex_lock(&w->lock);
	w->woken = true;
	PR_CHECK_PTHREAD(pthread_cond_signal(&w->cond));
	pr_mutex_unlock(&w->lock);
}

int pr_waiter_wait_thread(struct pr_waiter *w, int64_t deadline_ns)
{
	int rc = 0;
	pr_mutex_lock(&w->lock);
	while (!w->woken && rc == 0)
		rc = cond_wait_until(&w->cond, &w->lock, deadline_ns);
	bool woken = w->woken;
	pr_mutex_unlock(&w->lock);
	return woken ? 0 : -ETIMEDOUT;
}

/* ------------------------------------------------------------------------ */
/* Termination and quiet instants                                           */
/* ------------------------------------------------------------------------ */

/* Wakes the prunner_wait_idle() callers whose ticket is at most `ticket`,
 * the value of quiet_ticket read before the sweep that found nothing
 * pending: for them, the quiet instant came after they registered. */
void pr_signal_quiet(prunner_t *r, uint64_t ticket)
{
	if (atomic_load_explicit(&r->quiet_waiters, memory_order_seq_cst) == 0)
		return;
	pr_mutex_lock(&r->quiet_lock);
	if (ticket > r->quiet_done)
		r->quiet_done = ticket;
	PR_CHECK_PTHREAD(pthread_cond_broadcast(&r->quiet_cond));
	pr_mutex_unlock(&r->quiet_lock);
}

/* Ends run `s` (whose end was confirmed): a new generation, inactive, and
 * the caller of prunner_run is woken. */
static void finish_run(prunner_t *r, uint64_t closing)
{
	uint64_t next = (closing & ~(uint64_t)(PR_RUN_ACTIVE | PR_RUN_CLOSING)) + PR_RUN_GEN_ONE;
	/* Seq-cst (and so release: the caller of prunner_run, which acquires
	 * the state via done_lock, sees every counter this thread read). */
	atomic_store_explicit(&r->run_state, next, memory_order_seq_cst);
	/* The run is over for every prunner_wait_idle caller registered so
	 * far; one that registers later reads the state after its ticket and
	 * sees the run inactive.  Read before `done`: the next run's waiters
	 * (registered after its caller saw `done`) hold later tickets. */
	uint64_t ticket = atomic_load_explicit(&r->quiet_ticket, memory_order_seq_cst);
	pr_mutex_lock(&r->done_lock);
	r->done = true;
	PR_CHECK_PTHREAD(pthread_cond_broadcast(&r->done_cond));
	pr_mutex_unlock(&r->done_lock);
	pr_signal_quiet(r, ticket);
}

/*
 * The second phase, common to both modes: the counts said "nothing
 * pending" while the run was in state `s`.  Only posts from outside the
 * pool can still arrive (no task runs, so no worker posts).  Mark the run
 * CLOSING, which makes outside posts that have not yet checked the state
 * give up; then ask still_quiet() whether a post got in before that: if
 * not, the run is over; if so, its poster saw the run active and its task
 * must run, so re-open the run.
 *
 * Returns true when the caller must check again: after a re-open, a task
 * that finished (or a post that gave up) while the state was CLOSING found
 * the detector busy and returned, so the detector takes over its check.
 */
static bool confirm_end(prunner_t *r, uint64_t s, bool (*still_quiet)(prunner_t *, uint64_t), uint64_t arg)
{
	uint64_t closing = s | PR_RUN_CLOSING;
	if (!atomic_compare_exchange_strong_explicit(&r->run_state, &s, closing, memory_order_seq_cst,
	                                             memory_order_seq_cst))
		return false; /* another detector, or another generation */
	if (still_quiet(r, arg)) {
		PR_LOG(r, "run over");
		finish_run(r, closing);
		return false;
	}
	/* Only this thread leaves CLOSING, so a plain store suffices; seq_cst
	 * orders it before the re-check that follows. */
	atomic_store_explicit(&r->run_state, s, memory_order_seq_cst);
	return true;
}

static bool ext_unchanged(prunner_t *r, uint64_t ext_posted_seen)
{
	return atomic_load_explicit(&r->ext_posted, memory_order_seq_cst) == ext_posted_seen;
}

/*
 * Flags mode.  Called by a worker that just became idle, by the caller of
 * prunner_run after begin returned, and by an outside post that gave up.
 *
 *   1. Every idle flag must be set (otherwise the worker that is still
 *      busy will call this when it becomes idle).
 *   2. F = sum of every "finished" counter (workers' and ext_finished);
 *      then P = sum of every "posted" counter (workers' and ext_posted).
 *   3. If F == P: each counter only grows and a task is counted as posted
 *      before it can be taken, so at the instant between the two sweeps
 *      finished(t) >= F == P >= posted(t) >= finished(t): nothing was
 *      pending then, and with nothing running no worker can post again.
 *      Confirm against outside posts (confirm_end) and end the run.
 */
void pr_try_terminate(prunner_t *r)
{
	for (;;) {
		/* Before the sweep: see pr_signal_quiet. */
		uint64_t ticket = atomic_load_explicit(&r->quiet_ticket, memory_order_seq_cst);
		uint64_t s = atomic_load_explicit(&r->run_state, memory_order_seq_cst);
		if ((s & (PR_RUN_ACTIVE | PR_RUN_CLOSING)) != PR_RUN_ACTIVE)
			return;
		int n = r->nworkers;
		for (int i = 0; i < n; i++)
			if (!atomic_load_explicit(&r->workers[i]->idle, memory_order_seq_cst))
				return;
		uint64_t finished = atomic_load_explicit(&r->ext_finished, memory_order_seq_cst);
		for (int i = 0; i < n; i++)
			finished += atomic_load_explicit(&r->workers[i]->finished, memory_order_seq_cst);
		uint64_t ext = atomic_load_explicit(&r->ext_posted, memory_order_seq_cst);
		uint64_t posted = ext;
		for (int i = 0; i < n; i++)
			posted += atomic_load_explicit(&r->workers[i]->posted, memory_order_seq_cst);
		if (finished != posted) {
			/* An open executor holds tokens that stay pending: with
			 * nothing else pending the run is quiet, not over (the
			 * same sweep argument, with the tokens subtracted). */
			int held = atomic_load_explicit(&r->held_tokens, memory_order_seq_cst);
			if (held > 0 && finished + (uint64_t)held == posted)
				pr_signal_quiet(r, ticket);
			return;
		}
		if (!confirm_end(r, s, ext_unchanged, ext))
			return;
	}
}

static bool counter_zero(prunner_t *r, uint64_t unused)
{
	(void)unused;
	return atomic_load_explicit(&r->pending, memory_order_seq_cst) == 0;
}

/*
 * Counter mode: drops one unit of `pending` (a finished task, the begin
 * token, or an outside post that gave up).  Whoever brings it to zero ends
 * the run, with the same confirmation against outside posts.
 */
void pr_counter_release(prunner_t *r)
{
	uint64_t ticket = atomic_load_explicit(&r->quiet_ticket, memory_order_seq_cst);
	int64_t left = atomic_fetch_sub_explicit(&r->pending, 1, memory_order_seq_cst) - 1;
	if (left != 0) {
		int held = atomic_load_explicit(&r->held_tokens, memory_order_seq_cst);
		if (held <= 0 || left != held)
			return;
		/* Quiet at our decrement: release the waiters registered
		 * before it.  A waiter that registered after our ticket read
		 * but checked `pending` before our decrement saw neither; so
		 * while new tickets appear, re-check for them. */
		for (;;) {
			pr_signal_quiet(r, ticket);
			uint64_t later = atomic_load_explicit(&r->quiet_ticket, memory_order_seq_cst);
			if (later == ticket ||
			    atomic_load_explicit(&r->pending, memory_order_seq_cst) != held)
				return;
			ticket = later;
		}
	}
	for (;;) {
		uint64_t s = atomic_load_explicit(&r->run_state, memory_order_seq_cst);
		if ((s & (PR_RUN_ACTIVE | PR_RUN_CLOSING)) != PR_RUN_ACTIVE)
			return;
		if (atomic_load_explicit(&r->pending, memory_order_seq_cst) != 0 ||
		    !confirm_end(r, s, counter_zero, 0))
			return;
	}
}
