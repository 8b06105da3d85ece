/*
 * worker.c - the worker loop, posting from inside the pool, and the pool's
 * creation and destruction.
 *
 * A worker looks for work in this order (docs/design.md, "The worker
 * loop"):
 *
 *   1. the bottom of its own deque (LIFO: the task it posted last, whose
 *      data is still in cache);
 *   2. the injector (tasks posted from outside the pool), taking a batch
 *      onto its own deque so that others can steal from it;
 *   3. the top of another worker's deque, starting from a random victim.
 *
 * When a search finds nothing it sets its idle flag and runs the
 * termination check at once, then spins for a while (PR_SPIN_ROUNDS
 * searches), then goes to sleep in the sleeper set of idle.c, searching
 * once more after joining it so that no post is lost.
 */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "fault.h"

/* Searches made before a worker sleeps.  The first half pause the CPU
 * between searches, the second half yield it. */
#define PR_SPIN_ROUNDS 64
#define PR_PAUSES_PER_ROUND 32
/* Attempts on a victim whose deque keeps changing under us. */
#define PR_STEAL_RETRIES 4

PR_THREAD_LOCAL struct pr_tls pr_tls;

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static struct pr_task *steal(struct pr_worker *w)
{
	prunner_t *r = w->runner;
	int n = r->nworkers;
	if (n < 2)
		return NULL;
	int start = (int)(xorshift(&w->rng) % (uint64_t)n);
	for (int i = 0; i < n; i++) {
		int v = start + i < n ? start + i : start + i - n;
		if (v == w->index)
			continue;
		struct pr_deque *q = &r->workers[v]->deque;
		for (int tries = 0; tries < PR_STEAL_RETRIES; tries++) {
			void *x = pr_deque_steal(q);
			if (x == PR_DEQUE_EMPTY)
				break;
			if (x != PR_DEQUE_ABORT) {
				atomic_store_explicit(&w->steals,
				                      atomic_load_explicit(&w->steals, memory_order_relaxed) + 1,
				                      memory_order_relaxed);
				return x;
			}
		}
	}
	return NULL;
}

/* Moves a batch from the injector to our deque; returns one task of it. */
static struct pr_task *take_injected(struct pr_worker *w)
{
	prunner_t *r = w->runner;
	size_t len = atomic_load_explicit(&r->injector.len, memory_order_relaxed);
	if (len == 0)
		return NULL;
	/* A fair share of what is queued, so that the other workers find
	 * some too, at most PR_INJECT_BATCH. */
	size_t want = len / (size_t)r->nworkers + 1;
	if (want > PR_INJECT_BATCH)
		want = PR_INJECT_BATCH;
	size_t n;
	struct pr_task *list = pr_injector_take(&r->injector, want, &n);
	if (!list)
		return NULL;
	struct pr_task *first = list;
	list = list->next;
	if (list) {
		/* Our deque is empty (we just failed to pop it) and holds at
		 * least 2^PR_DEQUE_LOG_CAP > PR_INJECT_BATCH slots, so these
		 * pushes never grow it and cannot fail. */
		for (struct pr_task *t = list, *next; t; t = next) {
			next = t->next;
			int rc = pr_deque_push(&w->deque, t);
			PR_ASSERT(rc == 0);
		}
		pr_sleep_notify(&r->sleep);
	}
	return first;
}

static struct pr_task *find_task(struct pr_worker *w)
{
	struct pr_task *t = pr_deque_pop(&w->deque);
	if (t)
		return t;
	t = take_injected(w);
	if (t)
		return t;
	return steal(w);
}

static void run_task(struct pr_worker *w, struct pr_task *t)
{
	prunner_t *r = w->runner;
	/* A close in CANCEL mode: tasks not yet started never run. */
	bool cancel = atomic_load_explicit(&r->closed, memory_order_relaxed) == PRUNNER_CLOSE_CANCEL + 1;
	bool ran = true;
	int rc = 0;
	if (t->flags & PR_TASK_FUTURE) {
		rc = pr_run_future_task(w, t, cancel, &ran);
	} else if (cancel) {
		PR_LOG(r, "w%d: task %p cancelled by close", w->index, (void *)(uintptr_t)t->fn);
		rc = (t->flags & PR_TASK_GROUP) ? -ECANCELED : 0;
		ran = false;
	} else {
		/* Not a future's task: prunner_set_result must not reach the
		 * future of a task this one runs nested in (a helping wait). */
		prunner_future_t *outer = pr_tls.future;
		if (pr_unlikely(outer != NULL))
			pr_tls.future = NULL;
		if (t->flags & PR_TASK_LABELLED) {
			struct prunner_task lt = { .label = t->label, .data = pr_task_data(t), .size = t->size };
			PR_LOG(r, "w%d runs label %d (%u bytes)", w->index, t->label, t->size);
			rc = r->cls.run(r, &lt);
		} else {
			PR_LOG(r, "w%d runs task %p (%u bytes)", w->index, (void *)(uintptr_t)t->fn, t->size);
			rc = t->fn(pr_task_data(t));
		}
		if (pr_unlikely(outer != NULL))
			pr_tls.future = outer;
	}
	if (!ran)
		atomic_store_explicit(&w->cancelled,
		                      atomic_load_explicit(&w->cancelled, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
	/* A cancelled plain task is not a failure (rc stays 0); a cancelled
	 * group child is, so that its group's waiter learns it did not run. */
	if (rc != 0) {
		PR_LOG(r, "w%d: task failed with %d", w->index, rc);
		atomic_store_explicit(&w->failed, atomic_load_explicit(&w->failed, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
	}
	if (t->flags & PR_TASK_GROUP)
		pr_group_child_done(t->ctx, rc != 0);
	pr_task_release_payload(t);
	pr_task_free(&w->cache, t);
	/* Release: everything the task did, including counting its own
	 * posts in `posted` and the failure above, is visible to a detector
	 * that reads this counter (seq_cst, so acquire). */
	atomic_store_explicit(&w->finished, atomic_load_explicit(&w->finished, memory_order_relaxed) + 1,
	                      memory_order_release);
	if (atomic_load_explicit(&r->termination, memory_order_relaxed) == PRUNNER_TERMINATION_COUNTER)
		pr_counter_release(r);
}

/*
 * The helping wait.  The caller is a task on worker w waiting for an event
 * (a group's or a future's completion) that wakes w->waiter.  Until then w
 * runs whatever it finds, in the usual order (own deque, injector, steal),
 * so the tasks the event depends on cannot be starved by the wait itself:
 * if they are queued anywhere, some worker, possibly this one, runs them.
 * With nothing to run it sleeps in the sleep set, from which both new work
 * (pr_sleep_notify) and the event (pr_waiter_wake -> pr_sleep_wake) take it
 * out.  The event's side stores its "done" state, then wakes; here we join
 * the set, then test done(): either we see it, or the waker finds us in the
 * set (the seq_cst fences of pr_sleep_prepare and pr_sleep_wake order the
 * two).
 *
 * A notify that takes w out of the set may have been meant for new work.
 * worker_main always searches after such a wake; this loop may instead
 * return because done() became true.  So `owe_search` records a wake-up
 * not yet followed by a search that found nothing, and on leaving w passes
 * it on (pr_sleep_notify), so that no worker stays asleep while a task
 * waits (docs/design.md, section 5; found by the SPIN model's review).
 */
int pr_help_until(struct pr_worker *w, bool (*done)(void *), void *arg, int64_t deadline_ns)
{
	prunner_t *r = w->runner;
	bool owe_search = false;
	int rc = 0;
	for (;;) {
		if (done(arg))
			break;
		struct pr_task *t = find_task(w);
		for (int round = 0; !t && round < PR_SPIN_ROUNDS / 2; round++) {
			owe_search = false;
			if (done(arg))
				goto out;
			for (int i = 0; i < PR_PAUSES_PER_ROUND; i++)
				pr_cpu_relax();
			t = find_task(w);
		}
		if (t) {
			run_task(w, t);
			continue;
		}
		owe_search = false;
		if (deadline_ns >= 0 && pr_now_ns() >= deadline_ns) {
			rc = -ETIMEDOUT;
			break;
		}
		pr_sleep_prepare(&r->sleep, &w->sleeper);
		if (done(arg) || (t = find_task(w))) {
			if (pr_sleep_cancel(&r->sleep, &w->sleeper))
				owe_search = true;
			if (t)
				run_task(w, t);
			continue;
		}
		owe_search = true;
		if (pr_sleep_wait_until(&r->sleep, &w->sleeper, deadline_ns) != 0 && !done(arg)) {
			rc = -ETIMEDOUT;
			break;
		}
	}
out:
	if (owe_search)
		pr_sleep_notify(&r->sleep);
	return rc;
}

static void set_idle(struct pr_worker *w, bool idle)
{
	w->idle_set = idle;
	/* Seq-cst: the last worker to become idle must see every other
	 * worker's flag (see pr_try_terminate). */
	atomic_store_explicit(&w->idle, idle, memory_order_seq_cst);
}

static void *worker_main(void *arg)
{
	struct pr_worker *w = arg;
	prunner_t *r = w->runner;
	pr_tls.runner = r;
	pr_tls.worker = w;
	PR_LOG(r, "w%d starts", w->index);

	for (;;) {
		struct pr_task *t = find_task(w);
		if (!t && !w->idle_set) {
			/* Idle as soon as a search fails, before spinning: the
			 * flags only trigger the check (the counters decide), so
			 * the last worker to run out ends the run at once
			 * instead of after its spin phase. */
			set_idle(w, true);
			if (atomic_load_explicit(&r->termination, memory_order_relaxed) ==
			    PRUNNER_TERMINATION_FLAGS)
				pr_try_terminate(r);
		}
		for (int round = 0; !t && round < PR_SPIN_ROUNDS; round++) {
			if (round < PR_SPIN_ROUNDS / 2) {
				for (int i = 0; i < PR_PAUSES_PER_ROUND; i++)
					pr_cpu_relax();
			} else {
				sched_yield();
			}
			t = find_task(w);
		}
		if (!t) {
			/* Sleep protocol: announce, then search once more. */
			pr_sleep_prepare(&r->sleep, &w->sleeper);
			t = find_task(w);
			if (t) {
				pr_sleep_cancel(&r->sleep, &w->sleeper);
			} else if (atomic_load_explicit(&r->shutdown, memory_order_acquire)) {
				pr_sleep_cancel(&r->sleep, &w->sleeper);
				break;
			} else {
				atomic_store_explicit(&w->sleeps,
				                      atomic_load_explicit(&w->sleeps, memory_order_relaxed) + 1,
				                      memory_order_relaxed);
				PR_LOG(r, "w%d sleeps", w->index);
				pr_sleep_wait(&r->sleep, &w->sleeper);
				PR_LOG(r, "w%d wakes", w->index);
				continue;
			}
		}
		if (w->idle_set)
			set_idle(w, false);
		run_task(w, t);
	}
	PR_LOG(r, "w%d exits", w->index);
	pr_task_cache_flush(&w->cache);
	return NULL;
}

int pr_post_local(struct pr_worker *w, prunner_task_fn fn, int label, unsigned flags, const void *data,
                  size_t size, void *ctx)
{
	prunner_t *r = w->runner;
	struct pr_task *t = pr_task_alloc(&w->cache);
	if (!t)
		return -ENOMEM;
	if (pr_task_fill_payload(t, data, size) != 0) {
		pr_task_free(&w->cache, t);
		return -ENOMEM;
	}
	t->fn = fn;
	t->label = label;
	t->ctx = ctx;
	t->flags |= (uint16_t)flags;
	/* Count the task as posted before anyone can take it (the
	 * termination argument needs posted >= finished at all times).  The
	 * release store of bottom in push publishes this store too. */
	if (atomic_load_explicit(&r->termination, memory_order_relaxed) == PRUNNER_TERMINATION_COUNTER)
		atomic_fetch_add_explicit(&r->pending, 1, memory_order_relaxed);
	atomic_store_explicit(&w->posted, atomic_load_explicit(&w->posted, memory_order_relaxed) + 1,
	                      memory_order_release);
	if (pr_unlikely(pr_deque_push(&w->deque, t) != 0)) {
		/* Balance the count: the task is reported as not posted. */
		atomic_store_explicit(&w->dropped, atomic_load_explicit(&w->dropped, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		atomic_store_explicit(&w->finished,
		                      atomic_load_explicit(&w->finished, memory_order_relaxed) + 1,
		                      memory_order_release);
		if (atomic_load_explicit(&r->termination, memory_order_relaxed) ==
		    PRUNNER_TERMINATION_COUNTER)
			atomic_fetch_sub_explicit(&r->pending, 1, memory_order_relaxed);
		pr_task_release_payload(t);
		pr_task_free(&w->cache, t);
		return -ENOMEM;
	}
	PR_LOG(r, "w%d posts %p (%zu bytes)", w->index, (void *)(uintptr_t)fn, size);
	pr_sleep_notify(&r->sleep);
	return 0;
}

static void worker_free(struct pr_worker *w)
{
	if (!w)
		return;
	pr_sleeper_destroy(&w->sleeper);
	pr_deque_destroy(&w->deque);
	pr_free(w);
}

static struct pr_worker *worker_new(prunner_t *r, int index)
{
	struct pr_worker *w = pr_aligned_alloc(PR_CACHE_LINE, sizeof(*w));
	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w));
	if (pr_deque_init(&w->deque, PR_DEQUE_LOG_CAP) != 0) {
		pr_free(w);
		return NULL;
	}
	if (pr_sleeper_init(&w->sleeper) != 0) {
		pr_deque_destroy(&w->deque);
		pr_free(w);
		return NULL;
	}
	pr_task_cache_init(&w->cache, &r->pool);
	w->waiter.kind = PR_WAITER_WORKER;
	w->waiter.sleep = &r->sleep;
	w->waiter.sleeper = &w->sleeper;
	w->runner = r;
	w->index = index;
	w->idle_set = true;
	w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(index + 1);
	atomic_init(&w->posted, 0);
	atomic_init(&w->finished, 0);
	atomic_init(&w->failed, 0);
	atomic_init(&w->steals, 0);
	atomic_init(&w->sleeps, 0);
	atomic_init(&w->dropped, 0);
	atomic_init(&w->cancelled, 0);
	atomic_init(&w->idle, 1);
	snprintf(w->name, sizeof(w->name), "prunner-w%d", index);
	return w;
}

/*
 * Joins the first `started` workers and frees all of them.  Their posted
 * and finished counts move to the outside counters: termination compares
 * sums over every post ever made to the runner, and a worker may have
 * finished tasks that another worker (or begin) posted, so the counts of
 * a retired worker must stay in the sums.
 */
static void pool_teardown(prunner_t *r, int started)
{
	atomic_store_explicit(&r->shutdown, true, memory_order_release);
	pr_sleep_notify_all(&r->sleep);
	for (int i = 0; i < started; i++)
		PR_CHECK_PTHREAD(pr_thread_join(r->workers[i]->thread, NULL));
	uint64_t posted = 0, finished = 0;
	for (int i = 0; i < r->nworkers; i++) {
		posted += atomic_load_explicit(&r->workers[i]->posted, memory_order_relaxed);
		finished += atomic_load_explicit(&r->workers[i]->finished, memory_order_relaxed);
		worker_free(r->workers[i]);
	}
	atomic_fetch_add_explicit(&r->ext_posted, posted, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->ext_finished, finished, memory_order_relaxed);
	pr_free(r->workers);
	r->workers = NULL;
	r->nworkers = 0;
	atomic_store_explicit(&r->shutdown, false, memory_order_relaxed);
}

static int pool_start_locked(prunner_t *r, int n)
{
	r->workers = pr_calloc((size_t)n, sizeof(*r->workers));
	if (!r->workers)
		return -ENOMEM;
	r->nworkers = n;
	for (int i = 0; i < n; i++) {
		r->workers[i] = worker_new(r, i);
		if (!r->workers[i]) {
			/* Only workers 0..i-1 exist: the teardown reads the
			 * counters of the first nworkers (found by the fault
			 * walk: it used to dereference the NULL slot i). */
			r->nworkers = i;
			pool_teardown(r, 0);
			return -ENOMEM;
		}
	}
	for (int i = 0; i < n; i++) {
		struct pr_worker *w = r->workers[i];
		int rc = pr_thread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			PR_LOG(r, "cannot start worker %d: error %d", i, rc);
			pool_teardown(r, i);
			return rc == EAGAIN ? -EAGAIN : -rc;
		}
#ifdef __linux__
		pthread_setname_np(w->thread, w->name);
#endif
	}
	PR_LOG(r, "pool of %d workers started", n);
	return 0;
}

int pr_pool_start(prunner_t *r, int n)
{
	PR_CHECK_PTHREAD(pthread_rwlock_wrlock(&r->pool_lock));
	int rc = pool_start_locked(r, n);
	PR_CHECK_PTHREAD(pthread_rwlock_unlock(&r->pool_lock));
	return rc;
}

void pr_pool_stop(prunner_t *r)
{
	PR_CHECK_PTHREAD(pthread_rwlock_wrlock(&r->pool_lock));
	if (r->workers) {
		PR_LOG(r, "stopping %d workers", r->nworkers);
		pool_teardown(r, r->nworkers);
	}
	PR_CHECK_PTHREAD(pthread_rwlock_unlock(&r->pool_lock));
}
