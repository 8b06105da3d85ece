/*
 * runner.c - the object API: creating, configuring, running and freeing a
 * runner, and posting from threads outside its pool.
 *
 * A run (prunner_run) goes:
 *
 *   1. create the pool if there is none (or its size changed);
 *   2. take the "begin token": count one pending pseudo-task, so that the
 *      run cannot be found over while begin is still posting;
 *   3. mark the run ACTIVE (a new generation of run_state): posts are
 *      accepted from here on;
 *   4. call begin on this thread;
 *   5. return the token and run the termination check once;
 *   6. wait on done_cond until a detector ends the run (idle.c);
 *   7. call end on this thread and compute the run's counts.
 *
 * Worker threads survive between runs, asleep.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"

int pr_resolve_workers(int n)
{
	if (n > 0)
		return n;
	const char *env = getenv("PRUNNER_WORKERS");
	if (env && *env) {
		char *end;
		errno = 0;
		long v = strtol(env, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0 && v <= PRUNNER_MAX_WORKERS)
			return (int)v;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	if (cpus > PRUNNER_MAX_WORKERS)
		cpus = PRUNNER_MAX_WORKERS;
	return (int)cpus;
}

static bool env_debug(void)
{
	const char *env = getenv("PRUNNER_DEBUG");
	return env && *env && strcmp(env, "0") != 0;
}

int prunner_new(prunner_t **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	prunner_t *r = pr_aligned_alloc(PR_CACHE_LINE, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	int rc;
	int stage = 0;
	if ((rc = -pthread_mutex_init(&r->ctl, NULL)))
		goto fail;
	stage++;
	if ((rc = -pthread_mutex_init(&r->done_lock, NULL)))
		goto fail;
	stage++;
	if ((rc = -pthread_cond_init(&r->done_cond, NULL)))
		goto fail;
	stage++;
	if ((rc = -pthread_mutex_init(&r->user_lock, NULL)))
		goto fail;
	stage++;
	if ((rc = -pthread_rwlock_init(&r->pool_lock, NULL)))
		goto fail;
	stage++;
	if ((rc = -pthread_mutex_init(&r->quiet_lock, NULL)))
		goto fail;
	stage++;
	if ((rc = -pthread_cond_init(&r->quiet_cond, NULL)))
		goto fail;
	stage++;
	if ((rc = -pthread_mutex_init(&r->completion_lock, NULL)))
		goto fail;
	stage++;
	if ((rc = pr_task_pool_init(&r->pool)))
		goto fail;
	stage++;
	if ((rc = pr_injector_init(&r->injector, &r->pool)))
		goto fail;
	stage++;
	if ((rc = pr_sleep_init(&r->sleep)))
		goto fail;
	stage++;
	r->dict = pr_dict_new();
	if (!r->dict) {
		rc = -ENOMEM;
		goto fail;
	}
	atomic_init(&r->debug, env_debug());
	atomic_init(&r->termination, PRUNNER_TERMINATION_FLAGS);
	atomic_init(&r->shutdown, false);
	atomic_init(&r->run_state, 0);
	atomic_init(&r->ext_posted, 0);
	atomic_init(&r->ext_finished, 0);
	atomic_init(&r->ext_accepted, 0);
	atomic_init(&r->closed, 0);
	atomic_init(&r->held_tokens, 0);
	atomic_init(&r->quiet_waiters, 0);
	atomic_init(&r->quiet_ticket, 0);
	atomic_init(&r->completion_fd, -1);
	atomic_init(&r->pending, 0);
	*out = r;
	return 0;

fail:
	if (rc > 0)
		rc = -rc;
	if (stage > 10)
		pr_sleep_destroy(&r->sleep);
	if (stage > 9)
		pr_injector_destroy(&r->injector);
	if (stage > 8)
		pr_task_pool_destroy(&r->pool);
	if (stage > 7)
		pthread_mutex_destroy(&r->completion_lock);
	if (stage > 6)
		pthread_cond_destroy(&r->quiet_cond);
	if (stage > 5)
		pthread_mutex_destroy(&r->quiet_lock);
	if (stage > 4)
		pthread_rwlock_destroy(&r->pool_lock);
	if (stage > 3)
		pthread_mutex_destroy(&r->user_lock);
	if (stage > 2)
		pthread_cond_destroy(&r->done_cond);
	if (stage > 1)
		pthread_mutex_destroy(&r->done_lock);
	if (stage > 0)
		pthread_mutex_destroy(&r->ctl);
	pr_free(r);
	return rc;
}

/* True when the calling thread is one of r's workers. */
static bool on_own_worker(const prunner_t *r)
{
	return pr_tls.worker && pr_tls.worker->runner == r;
}

void prunner_free(prunner_t *r)
{
	if (!r)
		return;
	if (!on_own_worker(r))
		prunner_close(r, PRUNNER_CLOSE_DRAIN); /* an open executor drains first */
	pr_mutex_lock(&r->ctl);
	bool busy = r->running || on_own_worker(r);
	pr_mutex_unlock(&r->ctl);
	if (busy) {
		PR_LOG(r, "prunner_free during a run or from a worker: ignored");
		return;
	}
	pr_pool_stop(r);
	pr_completion_close(r);
	pr_injector_destroy(&r->injector);
	pr_sleep_destroy(&r->sleep);
	pr_task_pool_destroy(&r->pool);
	pr_dict_free(r->dict);
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&r->completion_lock));
	PR_CHECK_PTHREAD(pthread_cond_destroy(&r->quiet_cond));
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&r->quiet_lock));
	PR_CHECK_PTHREAD(pthread_rwlock_destroy(&r->pool_lock));
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&r->user_lock));
	PR_CHECK_PTHREAD(pthread_cond_destroy(&r->done_cond));
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&r->done_lock));
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&r->ctl));
	pr_free(r);
}

/* Runs `set` on r with ctl held, unless a run is active. */
#define WITH_CONFIG(r, ...)                      \
	do {                                     \
		if (!(r))                        \
			return -EINVAL;          \
		pr_mutex_lock(&(r)->ctl);        \
		if ((r)->running) {              \
			pr_mutex_unlock(&(r)->ctl); \
			return -EBUSY;           \
		}                                \
		__VA_ARGS__;                     \
		pr_mutex_unlock(&(r)->ctl);      \
		return 0;                        \
	} while (0)

int prunner_set_workers(prunner_t *r, int n)
{
	if (n < 0 || n > PRUNNER_MAX_WORKERS)
		return -EINVAL;
	WITH_CONFIG(r, r->workers_cfg = n);
}

int prunner_get_workers(const prunner_t *r)
{
	if (!r)
		return -EINVAL;
	return pr_resolve_workers(r->workers_cfg);
}

int prunner_set_debug(prunner_t *r, bool on)
{
	WITH_CONFIG(r, atomic_store_explicit(&r->debug, on, memory_order_relaxed));
}

int prunner_set_hooks(prunner_t *r, void (*begin)(prunner_t *, void *), void (*end)(prunner_t *, void *),
                      void *arg)
{
	WITH_CONFIG(r, r->begin = begin; r->end = end; r->hook_arg = arg);
}

int prunner_set_termination(prunner_t *r, enum prunner_termination mode)
{
	if (mode != PRUNNER_TERMINATION_FLAGS && mode != PRUNNER_TERMINATION_COUNTER)
		return -EINVAL;
	WITH_CONFIG(r, atomic_store_explicit(&r->termination, (int)mode, memory_order_relaxed));
}

int prunner_set_userdata(prunner_t *r, void *user)
{
	WITH_CONFIG(r, r->user = user);
}

void *prunner_userdata(const prunner_t *r)
{
	return r ? r->user : NULL;
}

struct prunner_dict *prunner_dict(prunner_t *r)
{
	return r ? r->dict : NULL;
}

void prunner_lock(prunner_t *r)
{
	if (r) {
		pr_mutex_lock(&r->user_lock);
		pr_tls.locks_held++; /* a helping wait under the lock is refused */
	}
}

void prunner_unlock(prunner_t *r)
{
	if (r) {
		pr_tls.locks_held--;
		pr_mutex_unlock(&r->user_lock);
	}
}

prunner_t *prunner_current(void)
{
	return pr_tls.runner;
}

int prunner_worker_index(void)
{
	return pr_tls.worker ? pr_tls.worker->index : -1;
}

/* A post from a thread that is not one of r's workers: the begin hook, a
 * program thread, or a task of another runner.  See idle.c for why the
 * count is taken before the state is checked. */
static int post_outside(prunner_t *r, prunner_task_fn fn, int label, unsigned flags, const void *data,
                        size_t size, void *ctx)
{
	bool counter = atomic_load_explicit(&r->termination, memory_order_relaxed) == PRUNNER_TERMINATION_COUNTER;
	void *heap = NULL;
	if (size > PRUNNER_INLINE_PAYLOAD) {
		heap = pr_malloc(size);
		if (!heap)
			return -ENOMEM;
		memcpy(heap, data, size);
	}

	/* Count first (seq_cst), then check that the run is open (seq_cst):
	 * a detector that confirms the end re-reads this count after closing
	 * the run, so either it sees this post or this post sees it closed. */
	if (counter)
		atomic_fetch_add_explicit(&r->pending, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&r->ext_posted, 1, memory_order_seq_cst);
	uint64_t s = atomic_load_explicit(&r->run_state, memory_order_seq_cst);
	int rc = 0;
	if ((s & (PR_RUN_ACTIVE | PR_RUN_CLOSING)) != PR_RUN_ACTIVE ||
	    atomic_load_explicit(&r->closed, memory_order_seq_cst) != 0) {
		rc = atomic_load_explicit(&r->closed, memory_order_relaxed) ? -ECANCELED : PRUNNER_ENORUN;
	} else {
		pr_mutex_lock(&r->injector.lock);
		struct pr_task *t = pr_task_alloc(&r->injector.cache);
		if (t) {
			t->fn = fn;
			t->label = label;
			t->ctx = ctx;
			t->size = (uint32_t)size;
			if (heap) {
				t->flags = (uint16_t)(PR_TASK_HEAP | flags);
				pr_task_set_heap(t, heap);
			} else {
				t->flags = (uint16_t)flags;
				if (size)
					memcpy(t->payload, data, size);
			}
			pr_injector_push_locked(&r->injector, t);
			/* Written only here, under the injector lock: no RMW. */
			atomic_store_explicit(&r->ext_accepted,
			                      atomic_load_explicit(&r->ext_accepted, memory_order_relaxed) + 1,
			                      memory_order_relaxed);
		}
		pr_mutex_unlock(&r->injector.lock);
		if (!t)
			rc = -ENOMEM;
	}
	if (rc != 0) {
		/* Give the count back on the "finished" side and let the
		 * detector look again: this post may have been what kept a
		 * finished run open. */
		pr_free(heap);
		atomic_fetch_add_explicit(&r->ext_finished, 1, memory_order_seq_cst);
		if (counter) {
			pr_counter_release(r);
		} else {
			/* The check walks the workers: keep the pool from being
			 * torn down under us (the run may end meanwhile). */
			PR_CHECK_PTHREAD(pthread_rwlock_rdlock(&r->pool_lock));
			if (r->workers)
				pr_try_terminate(r);
			PR_CHECK_PTHREAD(pthread_rwlock_unlock(&r->pool_lock));
		}
		return rc;
	}
	PR_LOG(r, "outside post of %p (%zu bytes)", (void *)(uintptr_t)fn, size);
	pr_sleep_notify(&r->sleep);
	return 0;
}

int pr_post(prunner_t *r, prunner_task_fn fn, int label, unsigned flags, const void *data, size_t size,
            void *ctx)
{
	/* Invalid arguments first, then sizes: the order every call keeps
	 * (prunner.h, "Errors"). */
	if (size > 0 && !data)
		return -EINVAL;
	if (size > PRUNNER_MAX_PAYLOAD)
		return -E2BIG;
	struct pr_worker *w = pr_tls.worker;
	if (w && w->runner == r) {
		/* A task of r posting.  During a DRAIN close its children are
		 * part of the accepted work; during a CANCEL close they would
		 * only be cancelled, so they are refused. */
		if (pr_unlikely(atomic_load_explicit(&r->closed, memory_order_relaxed) ==
		                PRUNNER_CLOSE_CANCEL + 1))
			return -ECANCELED;
		return pr_post_local(w, fn, label, flags, data, size, ctx);
	}
	return post_outside(r, fn, label, flags, data, size, ctx);
}

int prunner_post(prunner_t *r, prunner_task_fn fn, const void *data, size_t size)
{
	if (!r || !fn)
		return -EINVAL;
	return pr_post(r, fn, 0, 0, data, size, NULL);
}

int prunner_queue_put(prunner_t *r, int label, const void *data, size_t size)
{
	if (!r || !r->has_class)
		return -EINVAL;
	return pr_post(r, NULL, label, PR_TASK_LABELLED, data, size, NULL);
}

int prunner_new_class(prunner_t **out, int n_workers, bool debug, const struct prunner_class *cls,
                      void *options)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cls || !cls->run || n_workers < 0 || n_workers > PRUNNER_MAX_WORKERS)
		return -EINVAL;
	prunner_t *r;
	int rc = prunner_new(&r);
	if (rc)
		return rc;
	r->workers_cfg = n_workers;
	r->cls = *cls;
	r->has_class = true;
	r->class_options = options;
	if (debug)
		atomic_store_explicit(&r->debug, 1, memory_order_relaxed);
	*out = r;
	return 0;
}

/* Sums of the workers' counters. */
struct sums {
	uint64_t posted, finished, failed, steals, sleeps, dropped, cancelled;
};

static struct sums sum_counters(prunner_t *r)
{
	struct sums s = { 0 };
	for (int i = 0; i < r->nworkers; i++) {
		struct pr_worker *w = r->workers[i];
		s.posted += atomic_load_explicit(&w->posted, memory_order_acquire);
		s.finished += atomic_load_explicit(&w->finished, memory_order_acquire);
		s.failed += atomic_load_explicit(&w->failed, memory_order_relaxed);
		s.steals += atomic_load_explicit(&w->steals, memory_order_relaxed);
		s.sleeps += atomic_load_explicit(&w->sleeps, memory_order_relaxed);
		s.dropped += atomic_load_explicit(&w->dropped, memory_order_relaxed);
		s.cancelled += atomic_load_explicit(&w->cancelled, memory_order_relaxed);
	}
	return s;
}

/* Creates the pool for this run if needed.  ctl held, no run active. */
static int ensure_pool(prunner_t *r)
{
	int n = pr_resolve_workers(r->workers_cfg);
	if (r->workers && r->nworkers == n)
		return 0;
	/* Tasks may still sit in a deque only if a worker failed after
	 * counting them; never in practice.  Stopping is safe: all idle. */
	pr_pool_stop(r);
	return pr_pool_start(r, n);
}

/*
 * Steps 1-3 of a run: the pool, the base of the statistics, the token, and
 * the run opened.  On success r->running is set and the token is held.
 */
static int run_start(prunner_t *r)
{
	if (!r)
		return -EINVAL;
	if (on_own_worker(r))
		return -EBUSY;
	pr_mutex_lock(&r->ctl);
	if (r->running) {
		pr_mutex_unlock(&r->ctl);
		return -EBUSY;
	}
	int rc = ensure_pool(r);
	if (rc) {
		pr_mutex_unlock(&r->ctl);
		return rc;
	}
	r->running = true;
	pr_mutex_unlock(&r->ctl);

	struct sums base = sum_counters(r);
	r->base_posted = base.posted;
	r->base_finished = base.finished;
	r->base_failed = base.failed;
	r->base_steals = base.steals;
	r->base_sleeps = base.sleeps;
	r->base_dropped = base.dropped;
	r->base_cancelled = base.cancelled;
	r->base_ext = atomic_load_explicit(&r->ext_accepted, memory_order_relaxed);

	pr_mutex_lock(&r->done_lock);
	r->done = false;
	pr_mutex_unlock(&r->done_lock);
	atomic_store_explicit(&r->closed, 0, memory_order_relaxed);

	/* The token (step 2), then open the run (step 3).  Seq-cst on the
	 * state: a detector that sees the run open sees the token. */
	if (atomic_load_explicit(&r->termination, memory_order_relaxed) == PRUNNER_TERMINATION_COUNTER)
		atomic_fetch_add_explicit(&r->pending, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&r->ext_posted, 1, memory_order_seq_cst);
	uint64_t s = atomic_load_explicit(&r->run_state, memory_order_relaxed);
	atomic_store_explicit(&r->run_state, s | PR_RUN_ACTIVE, memory_order_seq_cst);
	PR_LOG(r, "run starts with %d workers", r->nworkers);
	return 0;
}

/* Step 5: returns the token and runs the check once. */
static void return_token(prunner_t *r)
{
	atomic_fetch_add_explicit(&r->ext_finished, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&r->termination, memory_order_relaxed) == PRUNNER_TERMINATION_COUNTER)
		pr_counter_release(r);
	else
		pr_try_terminate(r);
}

static void wait_done(prunner_t *r)
{
	pr_mutex_lock(&r->done_lock);
	while (!r->done)
		PR_CHECK_PTHREAD(pthread_cond_wait(&r->done_cond, &r->done_lock));
	pr_mutex_unlock(&r->done_lock);
}

/* Step 7 (after end): the run's statistics; clears r->running.  Every task
 * of the run finished before `done` was set, so the sums are final for the
 * run (an accepted outside post counted itself in ext_accepted before its
 * task could run). */
static int run_finish(prunner_t *r)
{
	struct sums end = sum_counters(r);
	uint64_t dropped = end.dropped - r->base_dropped;
	r->stats.posted = end.posted - r->base_posted - dropped +
	                  atomic_load_explicit(&r->ext_accepted, memory_order_relaxed) - r->base_ext;
	r->stats.cancelled = end.cancelled - r->base_cancelled;
	r->stats.executed = end.finished - r->base_finished - dropped - r->stats.cancelled;
	r->stats.failed = end.failed - r->base_failed;
	r->stats.steals = end.steals - r->base_steals;
	r->stats.sleeps = end.sleeps - r->base_sleeps;
	r->stats.workers = r->nworkers;
	PR_LOG(r, "run over: %llu tasks, %llu failed", (unsigned long long)r->stats.executed,
	       (unsigned long long)r->stats.failed);

	pr_mutex_lock(&r->ctl);
	r->running = false;
	r->open = false;
	pr_mutex_unlock(&r->ctl);
	return r->stats.failed > INT_MAX ? INT_MAX : (int)r->stats.failed;
}

int prunner_run(prunner_t *r)
{
	int rc = run_start(r);
	if (rc)
		return rc;

	struct pr_tls saved = pr_tls;
	pr_tls.runner = r;
	pr_tls.worker = NULL;
	if (r->has_class) {
		if (r->cls.begin)
			r->cls.begin(r, r->class_options);
	} else if (r->begin) {
		r->begin(r, r->hook_arg);
	}
	return_token(r);
	wait_done(r);
	if (r->has_class) {
		if (r->cls.end)
			r->cls.end(r);
	} else if (r->end) {
		r->end(r, r->hook_arg);
	}
	pr_tls = saved;
	return run_finish(r);
}

int prunner_open(prunner_t *r)
{
	int rc = run_start(r);
	if (rc)
		return rc;
	/* The token stays held until prunner_close: the run cannot end. */
	atomic_store_explicit(&r->held_tokens, 1, memory_order_seq_cst);
	pr_mutex_lock(&r->ctl);
	r->open = true;
	pr_mutex_unlock(&r->ctl);
	PR_LOG(r, "executor open");
	return 0;
}

int prunner_close(prunner_t *r, enum prunner_close_mode mode)
{
	if (!r || (mode != PRUNNER_CLOSE_DRAIN && mode != PRUNNER_CLOSE_CANCEL))
		return -EINVAL;
	if (on_own_worker(r))
		return -EDEADLK;
	pr_mutex_lock(&r->ctl);
	bool open = r->open, running = r->running;
	if (open) {
		r->open = false; /* this call closes it */
		pr_mutex_lock(&r->done_lock);
		r->closing = true;
		pr_mutex_unlock(&r->done_lock);
	}
	pr_mutex_unlock(&r->ctl);
	if (!open) {
		/* Not open: nothing to do, also while another thread's close
		 * is under way; -EBUSY only for a prunner_run in progress. */
		pr_mutex_lock(&r->done_lock);
		bool closing = r->closing;
		pr_mutex_unlock(&r->done_lock);
		return running && !closing ? -EBUSY : 0;
	}
	PR_LOG(r, "executor closes (%s)", mode == PRUNNER_CLOSE_DRAIN ? "drain" : "cancel");
	/* From here posts are refused (runner.c: pr_post) and, in CANCEL
	 * mode, workers cancel what they take instead of running it. */
	atomic_store_explicit(&r->closed, (int)mode + 1, memory_order_seq_cst);
	atomic_store_explicit(&r->held_tokens, 0, memory_order_seq_cst);
	return_token(r);
	wait_done(r);
	run_finish(r);
	pr_mutex_lock(&r->done_lock);
	r->closing = false;
	pr_mutex_unlock(&r->done_lock);
	return 0;
}

int prunner_wait_idle(prunner_t *r)
{
	if (!r)
		return -EINVAL;
	/* From a task or hook of r (a worker, or the begin hook, whose token
	 * keeps the run busy until it returns): it would wait for itself. */
	if (pr_tls.runner == r)
		return -EDEADLK;
	pr_mutex_lock(&r->quiet_lock);
	uint64_t ticket = atomic_load_explicit(&r->quiet_ticket, memory_order_relaxed) + 1;
	atomic_store_explicit(&r->quiet_ticket, ticket, memory_order_seq_cst);
	atomic_fetch_add_explicit(&r->quiet_waiters, 1, memory_order_seq_cst);
	pr_mutex_unlock(&r->quiet_lock);

	/* Registered: a detection that reads our ticket (or a later one)
	 * before its sweep, and finds nothing pending, releases us; so does
	 * the end of the run.  If no run is active there is nothing to wait
	 * for.  If one is, look once ourselves (the workers may all be asleep
	 * already, and then nobody else would). */
	uint64_t s = atomic_load_explicit(&r->run_state, memory_order_seq_cst);
	bool active = s & PR_RUN_ACTIVE;
	if (active) {
		if (atomic_load_explicit(&r->termination, memory_order_relaxed) == PRUNNER_TERMINATION_COUNTER) {
			int64_t p = atomic_load_explicit(&r->pending, memory_order_seq_cst);
			if (p == atomic_load_explicit(&r->held_tokens, memory_order_seq_cst))
				pr_signal_quiet(r, ticket);
		} else {
			PR_CHECK_PTHREAD(pthread_rwlock_rdlock(&r->pool_lock));
			if (r->workers)
				pr_try_terminate(r);
			PR_CHECK_PTHREAD(pthread_rwlock_unlock(&r->pool_lock));
		}
	}

	pr_mutex_lock(&r->quiet_lock);
	while (active && r->quiet_done < ticket)
		PR_CHECK_PTHREAD(pthread_cond_wait(&r->quiet_cond, &r->quiet_lock));
	atomic_fetch_sub_explicit(&r->quiet_waiters, 1, memory_order_seq_cst);
	pr_mutex_unlock(&r->quiet_lock);
	return 0;
}

int prunner_stop_workers(prunner_t *r)
{
	WITH_CONFIG(r, pr_pool_stop(r));
}

int prunner_get_stats(const prunner_t *r, struct prunner_stats *out)
{
	if (!r || !out)
		return -EINVAL;
	prunner_t *m = (prunner_t *)r;
	pr_mutex_lock(&m->ctl);
	bool running = m->running;
	if (!running)
		*out = m->stats;
	pr_mutex_unlock(&m->ctl);
	return running ? -EBUSY : 0;
}
