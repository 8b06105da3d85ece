/*
 * idle.c - sleeping and waking, and termination detection.
 *
 * Two protocols live here; docs/design.md states them with their proofs.
 *
 * 1. Sleeping without lost wake-ups (an event count).
 *
 *    Sleeper W                          Poster P
 *    W1 sleepers += 1 (RMW)             P1 publish the task (deque/injector)
 *    W2 seq_cst fence                   P2 seq_cst fence
 *    W3 key = epoch                     P3 if sleepers != 0:
 *    W4 look for work in every queue    P4     epoch += 1; futex_wake(epoch, 1)
 *    W5 none: futex_wait(epoch, key)
 *    W6 sleepers -= 1
 *
 *    By the seq_cst fence rule, W2 and P2 are ordered one way or the other:
 *    if P2 comes first, W4 sees the task; if W2 comes first, P3 sees W1's
 *    increment and P4 runs.  If W3 read the epoch before P4's increment,
 *    futex_wait at W5 returns at once or is woken by P4's wake (the kernel
 *    compares the futex word and queues the waiter atomically).  If W3 read
 *    it after P4, W3 synchronises with P4 and so W4 sees the task.  Either
 *    way W does not sleep while the task waits.  When nobody sleeps, P3
 *    reads zero and posting makes no system call.
 *
 * 2. Termination: per-worker idle flags to decide *when* to look, and
 *    per-worker counters, each written only by its owner, to decide
 *    *whether* the run is over.  See pr_try_terminate().
 */
#include "internal.h"

#include <limits.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	/* EAGAIN (value changed) and EINTR both mean "look again". */
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
#endif

int pr_sleep_init(struct pr_sleep *s)
{
	atomic_init(&s->sleepers, 0);
	atomic_init(&s->epoch, 0);
#ifndef __linux__
	int rc = pthread_mutex_init(&s->lock, NULL);
	if (rc)
		return -rc;
	rc = pthread_cond_init(&s->cond, NULL);
	if (rc) {
		pthread_mutex_destroy(&s->lock);
		return -rc;
	}
#endif
	return 0;
}

void pr_sleep_destroy(struct pr_sleep *s)
{
#ifndef __linux__
	PR_CHECK_PTHREAD(pthread_cond_destroy(&s->cond));
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&s->lock));
#else
	(void)s;
#endif
}

uint32_t pr_sleep_prepare(struct pr_sleep *s)
{
	atomic_fetch_add_explicit(&s->sleepers, 1, memory_order_seq_cst); /* W1 */
	atomic_thread_fence(memory_order_seq_cst);                        /* W2 */
	/* W3.  Acquire pairs with the seq_cst increment in P4. */
	return atomic_load_explicit(&s->epoch, memory_order_acquire);
}

void pr_sleep_cancel(struct pr_sleep *s)
{
	atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
}

void pr_sleep_wait(struct pr_sleep *s, uint32_t key)
{
#ifdef __linux__
	futex_wait(&s->epoch, key); /* W5 */
#else
	pr_mutex_lock(&s->lock);
	while (atomic_load_explicit(&s->epoch, memory_order_acquire) == key)
		PR_CHECK_PTHREAD(pthread_cond_wait(&s->cond, &s->lock));
	pr_mutex_unlock(&s->lock);
#endif
	atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed); /* W6 */
}

void pr_sleep_notify_slow(struct pr_sleep *s)
{
	atomic_fetch_add_explicit(&s->epoch, 1, memory_order_seq_cst); /* P4 */
#ifdef __linux__
	futex_wake(&s->epoch, 1);
#else
	pr_mutex_lock(&s->lock);
	PR_CHECK_PTHREAD(pthread_cond_signal(&s->cond));
	pr_mutex_unlock(&s->lock);
#endif
}

void pr_sleep_notify_all(struct pr_sleep *s)
{
	atomic_fetch_add_explicit(&s->epoch, 1, memory_order_seq_cst);
#ifdef __linux__
	futex_wake(&s->epoch, INT_MAX);
#else
	pr_mutex_lock(&s->lock);
	PR_CHECK_PTHREAD(pthread_cond_broadcast(&s->cond));
	pr_mutex_unlock(&s->lock);
#endif
}

/* ------------------------------------------------------------------------ */
/* Termination                                                              */
/* ------------------------------------------------------------------------ */

/* Ends run `s` (whose end was confirmed): a new generation, inactive, and
 * the caller of prunner_run is woken. */
static void finish_run(prunner_t *r, uint64_t closing)
{
	uint64_t next = (closing & ~(uint64_t)(PR_RUN_ACTIVE | PR_RUN_CLOSING)) + PR_RUN_GEN_ONE;
	/* Release: the caller of prunner_run, which acquires the state (via
	 * done_lock), sees every counter this thread read. */
	atomic_store_explicit(&r->run_state, next, memory_order_release);
	pr_mutex_lock(&r->done_lock);
	r->done = true;
	PR_CHECK_PTHREAD(pthread_cond_broadcast(&r->done_cond));
	pr_mutex_unlock(&r->done_lock);
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
		if (finished != posted || !confirm_end(r, s, ext_unchanged, ext))
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
	if (atomic_fetch_sub_explicit(&r->pending, 1, memory_order_seq_cst) != 1)
		return;
	for (;;) {
		uint64_t s = atomic_load_explicit(&r->run_state, memory_order_seq_cst);
		if ((s & (PR_RUN_ACTIVE | PR_RUN_CLOSING)) != PR_RUN_ACTIVE)
			return;
		if (atomic_load_explicit(&r->pending, memory_order_seq_cst) != 0 ||
		    !confirm_end(r, s, counter_zero, 0))
			return;
	}
}
