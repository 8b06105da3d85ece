/*
 * internal.h - the runner and worker structures shared by runner.c,
 * worker.c, idle.c and module.c.  docs/design.md explains the protocols;
 * each field says what protects it.
 */
#ifndef PR_INTERNAL_H
#define PR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "deque.h"
#include "dict.h"
#include "idle.h"
#include "injector.h"
#include "prunner.h"
#include "task.h"
#include "util.h"

/*
 * Something a thread waits for (a future, a group) wakes it through a
 * waiter.  A worker's waiter wakes it in the sleep set, so that a helping
 * worker that sleeps also wakes for new work; a program thread's waiter is
 * a flag under its own mutex and condition variable.
 */
enum pr_waiter_kind { PR_WAITER_WORKER, PR_WAITER_THREAD };

struct pr_waiter {
	enum pr_waiter_kind kind;
	/* PR_WAITER_WORKER (immutable): */
	struct pr_sleep *sleep;
	struct pr_sleeper *sleeper;
	/* PR_WAITER_THREAD: `woken` protected by `lock`. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool woken;
};

/* Initial deque size: 2^PR_DEQUE_LOG_CAP slots; it grows on demand. */
#define PR_DEQUE_LOG_CAP 10
/* Most tasks a worker moves from the injector to its deque at once; must
 * stay below the deque's initial capacity so the moves never allocate. */
#define PR_INJECT_BATCH 64

/*
 * One worker.  Three cache lines of distinct writers:
 *   - the deque (its own two lines, see deque.h);
 *   - `hot`: written only by the owner, per task;
 *   - `idle`: written by the owner on idle/busy transitions, read by
 *     termination detectors.
 */
struct pr_worker {
	struct pr_deque deque;

	/* Owner-only state (no other thread reads these). */
	PR_CACHE_ALIGNED struct pr_task_cache cache;
	prunner_t *runner;
	int index;
	bool idle_set;   /* mirror of `idle`, owner's copy */
	uint64_t rng;    /* xorshift state for victim selection */
	pthread_t thread;
	char name[24]; /* "prunner-wN"; at most 15 chars for N <= PRUNNER_MAX_WORKERS */

	/* Counters: each written only by its owner (a plain increment
	 * published with a release store), read by detectors and by the
	 * thread that ends a run.  They only ever grow, over all runs.
	 * posted:   tasks this worker posted to its own runner;
	 * finished: tasks this worker ran, plus posts of its that failed
	 *           after `posted` was counted (so that posted and finished
	 *           stay balanced). */
	PR_CACHE_ALIGNED _Atomic uint64_t posted;
	_Atomic uint64_t finished;
	_Atomic uint64_t failed;
	_Atomic uint64_t steals;
	_Atomic uint64_t sleeps;
	_Atomic uint64_t dropped;   /* posts counted, then refused (ENOMEM) */
	_Atomic uint64_t cancelled; /* tasks taken that did not run (cancelled) */

	/* 1 while the worker has found no work since its last task.  Written
	 * only by the owner (seq_cst), read by detectors (seq_cst). */
	PR_CACHE_ALIGNED _Atomic int idle;

	/* The worker's place in the sleeper set (runner->sleep.lock). */
	struct pr_sleeper sleeper;
	/* Its waiter for helping waits (immutable). */
	struct pr_waiter waiter;
};

/* run_state: bit 0 = a run is active, bit 1 = its end is being confirmed
 * (see idle.c), bits 2.. = the run's generation. */
#define PR_RUN_ACTIVE 1u
#define PR_RUN_CLOSING 2u
#define PR_RUN_GEN_ONE 4u

struct prunner {
	/* --- Configuration: protected by ctl; read by workers only through
	 * the atomics below or while a run is active (when it cannot
	 * change). --- */
	pthread_mutex_t ctl;
	bool running;      /* a prunner_run() is in progress (ctl) */
	int workers_cfg;   /* as given to prunner_set_workers (ctl) */
	void (*begin)(prunner_t *, void *);
	void (*end)(prunner_t *, void *);
	void *hook_arg;
	struct prunner_class cls; /* class runners only */
	bool has_class;
	void *class_options;
	void *user;
	_Atomic int debug;        /* relaxed: read by workers for logging */
	_Atomic int termination;  /* enum prunner_termination; relaxed */

	/* --- The pool: created by a run, destroyed by stop_workers/free,
	 * both with ctl held and no run active; immutable in between. --- */
	struct pr_worker **workers;
	int nworkers;
	_Atomic bool shutdown;    /* tells workers to exit; set before wake-all */
	/* Held for writing while the pool is created or destroyed; held for
	 * reading by a thread outside the pool that runs the termination
	 * check (a refused outside post), so that the workers array it walks
	 * cannot be freed under it.  Workers and the run's caller need not
	 * take it: workers are joined before the pool goes, and the caller is
	 * the one who changes it. */
	pthread_rwlock_t pool_lock;

	/* --- Shared run-time structures. --- */
	struct pr_task_pool pool;
	struct pr_injector injector;
	struct pr_sleep sleep;

	/* Run state word (see PR_RUN_*).  Written by the caller of
	 * prunner_run (start) and by the detector that ends the run. */
	PR_CACHE_ALIGNED _Atomic uint64_t run_state;

	/* Counts outside the workers' own (see idle.c); only ever grow.
	 * ext_posted: post attempts from threads outside the pool (begin
	 * included), begin tokens, and the posted counts of retired workers.
	 * ext_finished: begin tokens returned, outside posts that failed, and
	 * the finished counts of retired workers. */
	PR_CACHE_ALIGNED _Atomic uint64_t ext_posted;
	_Atomic uint64_t ext_finished;
	/* Outside posts that were queued (for the statistics only).
	 * Incremented under the injector lock, before the task can run. */
	_Atomic uint64_t ext_accepted;

	/* The shared counter of PRUNNER_TERMINATION_COUNTER mode: tasks
	 * posted and not yet finished, plus the begin token. */
	PR_CACHE_ALIGNED _Atomic int64_t pending;

	/* Executor state.  `open`: r was opened by prunner_open and not yet
	 * closed (ctl).  `closed`: 0 while posts are accepted, else the
	 * PRUNNER_CLOSE_* mode + 1 from the start of a close until the next
	 * open or run (relaxed atomic: read on every post). */
	bool open;
	bool closing; /* a prunner_close is under way (done_lock) */
	_Atomic int closed;
	/* Tokens held by an open executor (1 while open): the detector
	 * treats "nothing pending but these" as quiet. */
	_Atomic int held_tokens;

	/* prunner_wait_idle.  A waiter takes a ticket (quiet_ticket, bumped
	 * under quiet_lock); a detector reads quiet_ticket before its sweep
	 * and, when the sweep finds a quiet instant, raises quiet_done to
	 * what it read: only waiters registered before the sweep began are
	 * released.  quiet_done is protected by quiet_lock; quiet_waiters
	 * mirrors the number of waiters for the detector's fast path. */
	pthread_mutex_t quiet_lock;
	pthread_cond_t quiet_cond;
	_Atomic uint64_t quiet_ticket;
	uint64_t quiet_done;
	_Atomic int quiet_waiters;

	/* Completion queue for the event-loop fd: protected by
	 * completion_lock; completion_fd is -1 until created, then
	 * immutable (atomic, read on every future completion). */
	pthread_mutex_t completion_lock;
	_Atomic int completion_fd;
	struct prunner_future *completed_head, *completed_tail;

	/* Run completion: protected by done_lock. */
	pthread_mutex_t done_lock;
	pthread_cond_t done_cond;
	bool done;

	/* Counter sums at the start of the current run and the last run's
	 * result (caller of prunner_run only). */
	struct prunner_stats stats;
	uint64_t base_posted, base_finished, base_failed, base_steals, base_sleeps, base_dropped,
	    base_cancelled, base_ext;

	/* User-visible shared state. */
	struct prunner_dict *dict;
	pthread_mutex_t user_lock;
};

/* Per-thread state: which runner (and worker) the thread is serving. */
struct pr_tls {
	prunner_t *runner;        /* runner of the task or hook on this thread */
	struct pr_worker *worker; /* this thread's worker, if it is one */
	struct prunner_future *future; /* future of the running task, if any */
	int locks_held;           /* prunner_lock() calls not yet unlocked */
};
extern PR_THREAD_LOCAL struct pr_tls pr_tls;

/* worker.c */
int pr_pool_start(prunner_t *r, int n);
void pr_pool_stop(prunner_t *r);
int pr_post_local(struct pr_worker *w, prunner_task_fn fn, int label, unsigned flags, const void *data,
                  size_t size, void *ctx);
/* Runs tasks on w until done(arg) is true, sleeping in the sleep set when
 * there is nothing to run (w->waiter must be registered where the awaited
 * event wakes it).  deadline_ns: CLOCK_MONOTONIC, < 0 for none.  Returns 0,
 * or -ETIMEDOUT. */
int pr_help_until(struct pr_worker *w, bool (*done)(void *), void *arg, int64_t deadline_ns);

/* runner.c */
int pr_post(prunner_t *r, prunner_task_fn fn, int label, unsigned flags, const void *data, size_t size,
            void *ctx);
int pr_resolve_workers(int n);

/* idle.c: termination, quiet instants, waiters */
void pr_try_terminate(prunner_t *r);
void pr_counter_release(prunner_t *r);
void pr_signal_quiet(prunner_t *r, uint64_t ticket);
void pr_waiter_init_thread(struct pr_waiter *w);
void pr_waiter_destroy_thread(struct pr_waiter *w);
void pr_waiter_wake(struct pr_waiter *w);
/* Waits until w is woken or the deadline (CLOCK_MONOTONIC ns, < 0: none)
 * passes.  Returns 0 or -ETIMEDOUT. */
int pr_waiter_wait_thread(struct pr_waiter *w, int64_t deadline_ns);
int64_t pr_now_ns(void);
int64_t pr_deadline(int64_t timeout_ns);

/* future.c: what the worker loop calls for future and group tasks */
int pr_run_future_task(struct pr_worker *w, struct pr_task *t, bool cancel, bool *ran);
void pr_group_child_done(void *group, bool failed);
void pr_completion_close(prunner_t *r);

/* log.c */
void pr_log(const prunner_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define PR_LOG(r, ...)                                                                      \
	do {                                                                                \
		if (pr_unlikely(atomic_load_explicit(&(r)->debug, memory_order_relaxed))) \
			pr_log((r), __VA_ARGS__);                                           \
	} while (0)

#endif /* PR_INTERNAL_H */
