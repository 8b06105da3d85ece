/*
 * prunner.h - a task runner for multi-core machines.
 *
 * prunner runs callbacks ("tasks") on a fixed pool of worker threads.  A run
 * starts with a `begin` hook that posts the first tasks; tasks post more
 * tasks; the run ends by itself once every task has finished and no worker
 * has anything left to do; then an `end` hook runs.  Beside the pool, every
 * runner owns a thread-safe dict and one global lock for user code.
 *
 * The library has three layers, all declared here:
 *
 *   1. The module-style API (prunner_init, prunner_start, prunner_post_task,
 *      prunner_get_dict, prunner_global_lock), a C rendering of prunner.py's
 *      module functions.  It drives one process-wide runner.
 *   2. The object API (prunner_new, prunner_set_*, prunner_post, prunner_run,
 *      prunner_free): any number of independent runners in one process.  The
 *      module-style API is a thin layer over it.
 *   3. The labelled-task API (struct prunner_class, prunner_new_class,
 *      prunner_queue_put): prunner.py's ParallelTaskRunner, where the program
 *      supplies begin(options) / run(task) / end() and tasks are (label,
 *      data) pairs that run() dispatches on.
 *
 * Conventions that hold for every function below:
 *
 *   - Errors.  A fallible function returns 0 (or a count) on success and a
 *     negative errno value on failure; prunner_strerror() turns it into text.
 *     A function that fails has no effect: in particular, when a post
 *     returns an error the task was not queued and will never run.
 *   - Programmer errors.  A NULL runner or dict handle where one is required
 *     returns -EINVAL rather than crashing.
 *   - Ownership.  Task payloads and dict values are copied in; nothing the
 *     caller passes is retained after the call returns.  Values read from
 *     the dict are copied out.
 *   - Threads.  Each function says from which threads it may be called.
 *     "Any thread" includes worker threads running a task.
 *   - fork().  A child may create and use new runners once every runner of
 *     the parent was freed (prunner_free, prunner_cleanup) before the fork.
 *     A runner that exists at the fork, running or not, must not be used
 *     or freed in the child (its workers do not exist there and its locks
 *     may be held): such a child should only exec or _exit.  The parent is
 *     unaffected (docs/RELIABILITY.md, section 3).
 *
 * Header usable from C99 and C++.  Link with -lprunner (pkg-config prunner).
 */
#ifndef PRUNNER_H
#define PRUNNER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define PRUNNER_EXPORT __attribute__((visibility("default")))
#else
#define PRUNNER_EXPORT
#endif

#define PRUNNER_VERSION_MAJOR 0
#define PRUNNER_VERSION_MINOR 1
#define PRUNNER_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The error codes prunner returns are negative errno values.  The ones with a
 * prunner-specific meaning have names here; prunner_strerror() explains each.
 *
 *   -EINVAL        an argument is invalid (NULL function, bad worker count...)
 *   -ENOMEM        out of memory; nothing was changed
 *   -EAGAIN        a worker thread could not be created; nothing was started
 *   -EBUSY         the runner is running; the call is not allowed during a run
 *   -E2BIG         payload or dict value larger than its documented cap
 *   -ENOENT        no such key in the dict
 *   -EDEADLK       a dict call from inside prunner_dict_foreach() on the
 *                  same dict (it would deadlock)
 *   PRUNNER_ENORUN a post when no run of that runner is active
 *   PRUNNER_ETYPE  the dict key holds a value of another type
 *
 * When a call's arguments are wrong in several ways at once, the first of
 * this order is returned: -EINVAL, then -E2BIG, then the others.
 */
#define PRUNNER_ENORUN (-ESRCH)
#define PRUNNER_ETYPE (-EPROTOTYPE)

/*
 * Returns a static, human-readable description of `err`, a value returned by
 * a prunner function (negative errno).  0 gives "success"; a positive value
 * is treated like its negation.  Never returns NULL.  Any thread.
 */
PRUNNER_EXPORT const char *prunner_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

/* Largest task payload in bytes; a larger `size` gives -E2BIG. */
#define PRUNNER_MAX_PAYLOAD ((size_t)1 << 20)

/* Largest worker count accepted; a larger count gives -EINVAL. */
#define PRUNNER_MAX_WORKERS 1024

/* Payloads up to this many bytes are stored inside the task object itself
 * and cost no allocation.  Larger ones are copied to the heap. */
#define PRUNNER_INLINE_PAYLOAD 24

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A task.  `data` points to the task's private copy of the payload given at
 * post time: aligned for any type (max_align_t), valid until the function
 * returns, writable, and NULL when the payload size was 0.  Return 0 for
 * success; any other value marks the task as failed (the run goes on and the
 * failure is counted in the run's result).
 *
 * A task runs on a worker thread.  It may post further tasks, use the dict
 * and take the global lock.  It must not call prunner_run() or
 * prunner_start() on its own runner (they return -EBUSY).
 */
typedef int (*prunner_task_fn)(void *data);

/* ------------------------------------------------------------------------ */
/* The dict                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * A dict maps NUL-terminated string keys to typed values.  Each call is
 * atomic with respect to every other call on the same dict and may be made
 * from any thread.  Keys and values are copied in; getters copy out.  A key
 * holds one value of one type; setting a key replaces its value and type.
 *
 * Keys may be at most PRUNNER_DICT_MAX_KEY bytes long (without the NUL) and
 * string/blob values at most PRUNNER_DICT_MAX_VALUE bytes; longer ones give
 * -E2BIG.  An empty key "" is valid.
 *
 * Common errors: -EINVAL (NULL dict, key or required pointer), -ENOENT (key
 * missing), PRUNNER_ETYPE (key holds another type), -ENOMEM, -E2BIG,
 * -EDEADLK (called from a prunner_dict_foreach() callback of the same dict).
 * When several apply, the first in this order wins: -EINVAL, -E2BIG,
 * -EDEADLK, then the others.
 */
struct prunner_dict;

#define PRUNNER_DICT_MAX_KEY ((size_t)4096)
#define PRUNNER_DICT_MAX_VALUE ((size_t)1 << 30)

enum prunner_type {
	PRUNNER_TYPE_INT = 1, /* int64_t */
	PRUNNER_TYPE_DOUBLE,  /* double */
	PRUNNER_TYPE_STRING,  /* NUL-terminated string */
	PRUNNER_TYPE_BLOB     /* byte string of given length */
};

/* Sets `key` to the integer `value`, creating the key if needed. */
PRUNNER_EXPORT int prunner_dict_set_int(struct prunner_dict *d, const char *key, int64_t value);

/* Copies the integer at `key` to *out.  PRUNNER_ETYPE if it is not an int. */
PRUNNER_EXPORT int prunner_dict_get_int(struct prunner_dict *d, const char *key, int64_t *out);

/*
 * Atomically adds `delta` to the integer at `key` (creating the key with
 * value `delta` when missing) and stores the new value in *out_new unless
 * out_new is NULL.  Wraps around on overflow (two's complement), like
 * an unsigned addition.  PRUNNER_ETYPE if the key holds another type.
 */
PRUNNER_EXPORT int prunner_dict_add_int(struct prunner_dict *d, const char *key, int64_t delta,
                                        int64_t *out_new);

/* Sets / gets a double. */
PRUNNER_EXPORT int prunner_dict_set_double(struct prunner_dict *d, const char *key, double value);
PRUNNER_EXPORT int prunner_dict_get_double(struct prunner_dict *d, const char *key, double *out);

/* Sets `key` to a copy of the NUL-terminated string `value` (NULL: -EINVAL). */
PRUNNER_EXPORT int prunner_dict_set_string(struct prunner_dict *d, const char *key, const char *value);

/*
 * Copies the string at `key` into buf (capacity `cap` bytes, NUL included)
 * and returns its length without the NUL.  If it does not fit, copies
 * nothing and returns -ERANGE.  On success and on -ERANGE, *len_out (when
 * not NULL) receives the length, so a caller can size the buffer with a
 * first call with buf NULL and cap 0.  buf NULL with cap > 0: -EINVAL.
 */
PRUNNER_EXPORT int prunner_dict_get_string(struct prunner_dict *d, const char *key, char *buf, size_t cap,
                                           size_t *len_out);

/* Sets `key` to a copy of `size` bytes at `data` (data may be NULL if size 0). */
PRUNNER_EXPORT int prunner_dict_set_blob(struct prunner_dict *d, const char *key, const void *data, size_t size);

/*
 * Copies the blob at `key` into buf (capacity `cap`).  Returns 0; *len_out
 * (when not NULL) receives the blob's size.  If it does not fit, copies
 * nothing and returns -ERANGE (with *len_out set).  buf NULL with cap > 0:
 * -EINVAL.
 */
PRUNNER_EXPORT int prunner_dict_get_blob(struct prunner_dict *d, const char *key, void *buf, size_t cap,
                                         size_t *len_out);

/* Type of the value at `key` in *out (an enum prunner_type). */
PRUNNER_EXPORT int prunner_dict_type(struct prunner_dict *d, const char *key, enum prunner_type *out);

/* Removes `key` and its value.  -ENOENT if missing. */
PRUNNER_EXPORT int prunner_dict_delete(struct prunner_dict *d, const char *key);

/* Number of keys (0 for a NULL dict). */
PRUNNER_EXPORT size_t prunner_dict_len(struct prunner_dict *d);

/* Removes every key. */
PRUNNER_EXPORT int prunner_dict_clear(struct prunner_dict *d);

/*
 * A read-only view of one entry, valid only during the foreach callback.
 * For strings `str` is NUL-terminated and `size` is its length; for blobs
 * `blob`/`size` give the bytes.
 */
struct prunner_dict_entry {
	const char *key;
	enum prunner_type type;
	int64_t i;
	double d;
	const char *str;
	const void *blob;
	size_t size;
};

/*
 * Calls cb(entry, arg) for every entry, in no particular order, while
 * holding the dict's lock: other threads' dict calls wait until it returns.
 * A callback that returns non-zero stops the walk; that value is returned.
 * Returns 0 after a full walk.  The callback must not call into the same
 * dict: such calls return -EDEADLK instead of deadlocking (except
 * prunner_dict_len, which answers).  The callback must return normally (no
 * longjmp, no pthread_exit), or the dict stays locked.  Only re-entry on
 * the same thread is detected: two threads walking two dicts in opposite
 * nesting order deadlock, as with any two locks.
 */
PRUNNER_EXPORT int prunner_dict_foreach(struct prunner_dict *d,
                                        int (*cb)(const struct prunner_dict_entry *entry, void *arg),
                                        void *arg);

/* ------------------------------------------------------------------------ */
/* The object API                                                           */
/* ------------------------------------------------------------------------ */

/*
 * An opaque runner: a worker pool, its queues, a dict and a global lock.
 *
 * Lifecycle: prunner_new() -> prunner_set_*() -> prunner_post() /
 * prunner_run() any number of times -> prunner_free().  Worker threads are
 * created by the first prunner_run() and stay parked (asleep, using no CPU)
 * between runs until prunner_stop_workers() or prunner_free().
 */
typedef struct prunner prunner_t;

/* How a run detects that it is over (see docs/design.md). */
enum prunner_termination {
	/* Per-worker idle flags plus per-worker posted/finished counters that
	 * only their owner writes.  The default. */
	PRUNNER_TERMINATION_FLAGS = 0,
	/* One shared pending-task counter changed on every post and every
	 * completion.  Kept to measure the difference; slower. */
	PRUNNER_TERMINATION_COUNTER = 1
};

/*
 * Creates a runner in *out with default settings: one worker per online CPU
 * (or $PRUNNER_WORKERS), no hooks, debug log off (or on when $PRUNNER_DEBUG
 * is set to a non-empty value other than "0"), termination by flags.
 * Starts no thread.  Errors: -EINVAL (out NULL), -ENOMEM.  Any thread.
 */
PRUNNER_EXPORT int prunner_new(prunner_t **out);

/*
 * Frees the runner: stops and joins its workers, frees its dict and every
 * resource.  NULL is a no-op.  Must not be called during a run or from one
 * of its own workers (it returns without freeing in that case and prints a
 * diagnostic in debug mode; the runner stays valid).  Tasks still queued
 * because no run consumed them never run.
 */
PRUNNER_EXPORT void prunner_free(prunner_t *r);

/*
 * Sets the worker count.  0 means one per online CPU, overridden by the
 * environment variable PRUNNER_WORKERS when it holds a valid count.
 * Errors: -EINVAL (n < 0 or n > PRUNNER_MAX_WORKERS), -EBUSY (during a run).
 * If workers exist from an earlier run with a different count they are
 * stopped and re-created by the next run.
 */
PRUNNER_EXPORT int prunner_set_workers(prunner_t *r, int n);

/* The worker count the next run will use (resolving 0 as described above);
 * -EINVAL for a NULL runner. */
PRUNNER_EXPORT int prunner_get_workers(const prunner_t *r);

/* Turns the debug log (worker and task events on stderr) on or off. */
PRUNNER_EXPORT int prunner_set_debug(prunner_t *r, bool on);

/*
 * Sets hooks run on the thread that calls prunner_run(): begin(r, arg)
 * before any task runs (what it posts is queued), end(r, arg) after the
 * last task finished.  Either may be NULL.  -EBUSY during a run.
 */
PRUNNER_EXPORT int prunner_set_hooks(prunner_t *r, void (*begin)(prunner_t *r, void *arg),
                                     void (*end)(prunner_t *r, void *arg), void *arg);

/* Chooses the termination detector.  -EINVAL for an unknown mode, -EBUSY
 * during a run. */
PRUNNER_EXPORT int prunner_set_termination(prunner_t *r, enum prunner_termination mode);

/* A pointer for the program's own use, returned by prunner_userdata(). */
PRUNNER_EXPORT int prunner_set_userdata(prunner_t *r, void *user);
PRUNNER_EXPORT void *prunner_userdata(const prunner_t *r);

/*
 * Posts a task: fn(copy of data) will run exactly once on one of r's workers
 * during the current run.  The `size` bytes at `data` are copied now; the
 * caller may reuse its buffer at once.
 *
 * Callable from any thread while a run of `r` is active: from the begin
 * hook, from a task, or from another thread of the program.  A run is
 * active from the moment prunner_run() calls begin until the run is found
 * finished; a post from a program thread that races with the end of the run
 * either is accepted (and runs in this run) or fails with PRUNNER_ENORUN.
 *
 * Errors (the task is not queued and will never run): -EINVAL (r or fn
 * NULL, or data NULL with size > 0), -E2BIG (size > PRUNNER_MAX_PAYLOAD),
 * -ENOMEM, PRUNNER_ENORUN.
 */
PRUNNER_EXPORT int prunner_post(prunner_t *r, prunner_task_fn fn, const void *data, size_t size);

/*
 * Runs the runner: creates its workers if needed, calls begin on this
 * thread, runs every task until none is left and all workers are idle,
 * calls end on this thread, and returns.  Workers are already running
 * while begin posts, so tasks may start before begin returns; the run
 * cannot end before begin returns.  Returns 0 when every task of the
 * run returned 0, the number of failed tasks (capped at INT_MAX) otherwise,
 * or a negative errno when the run could not start: -EINVAL (NULL),
 * -EBUSY (already running, or called from one of r's own workers),
 * -EAGAIN (a worker thread could not be created), -ENOMEM.  When it fails
 * to start, begin and end are not called and queued tasks stay queued.
 */
PRUNNER_EXPORT int prunner_run(prunner_t *r);

/*
 * Stops and joins r's worker threads; the next run re-creates them.  Lets a
 * program give threads back between runs.  -EBUSY during a run.
 */
PRUNNER_EXPORT int prunner_stop_workers(prunner_t *r);

/* The runner's dict.  Valid until prunner_free(r).  NULL for a NULL r. */
PRUNNER_EXPORT struct prunner_dict *prunner_dict(prunner_t *r);

/*
 * The runner's global lock: one non-recursive mutex for user code.  Taking
 * it twice on one thread deadlocks (as a default pthread mutex).  Any
 * thread.  NULL is a no-op.
 */
PRUNNER_EXPORT void prunner_lock(prunner_t *r);
PRUNNER_EXPORT void prunner_unlock(prunner_t *r);

/*
 * The runner whose task, begin or end hook is running on the calling thread,
 * or NULL outside of those.  Lets a task find its runner without a global.
 */
PRUNNER_EXPORT prunner_t *prunner_current(void);

/*
 * The index (0 .. workers-1) of the worker running the calling task, or -1
 * when the caller is not one of the runner's worker threads.
 */
PRUNNER_EXPORT int prunner_worker_index(void);

/* Counts of the last (or current) run, for tests and monitoring. */
struct prunner_stats {
	uint64_t posted;   /* tasks accepted during the run */
	uint64_t executed; /* tasks that ran */
	uint64_t failed;   /* tasks that returned non-zero */
	uint64_t steals;   /* tasks taken from another worker's deque */
	uint64_t sleeps;   /* times a worker went to sleep */
	uint64_t cancelled; /* tasks that never ran: cancelled futures, and
	                     * tasks dropped by a CANCEL close */
	int workers;       /* workers of the run */
};

/* Fills *out with the counts of r's most recent run.  -EBUSY during a run
 * (counts are only consistent once it has ended). */
PRUNNER_EXPORT int prunner_get_stats(const prunner_t *r, struct prunner_stats *out);

/* ------------------------------------------------------------------------ */
/* The long-lived executor                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Besides prunner_run() ("run until quiet"), a runner can be opened as a
 * long-lived executor: it accepts tasks from any thread of the program until
 * it is closed.
 *
 *   prunner_open(r);                       workers start, posts accepted
 *   prunner_post / prunner_submit ...      from any thread
 *   prunner_wait_idle(r);                  wait until quiet, stay open
 *   ... next phase ...
 *   prunner_close(r, PRUNNER_CLOSE_DRAIN); run what was accepted, then stop
 *
 * After a close, posts return -ECANCELED (nothing is queued) until the
 * runner is opened or run again.  The begin/end hooks are not used by
 * open/close.
 */
enum prunner_close_mode {
	/* Stop accepting; run every task already accepted; then return. */
	PRUNNER_CLOSE_DRAIN = 0,
	/* Stop accepting; tasks not yet started never run: their futures
	 * become CANCELLED and their destroy functions run exactly once;
	 * running tasks finish; then return. */
	PRUNNER_CLOSE_CANCEL = 1
};

/*
 * Opens r as an executor: creates its workers if needed and starts a run
 * that does not end by itself.  Any thread.  Errors: -EINVAL (NULL), -EBUSY
 * (already open or running, or called from one of r's workers), -EAGAIN
 * (a worker thread could not be created), -ENOMEM.
 */
PRUNNER_EXPORT int prunner_open(prunner_t *r);

/*
 * Blocks until, at some instant after the call, no task posted to r was
 * queued or running, then returns 0; r stays open.  A program can run a
 * phase, wait, read the dict, and run the next phase on the same pool.
 * Returns 0 at once when r is neither open nor running.  Any thread but
 * r's own: from one of r's tasks or hooks it returns -EDEADLK (it would
 * wait for itself).
 */
PRUNNER_EXPORT int prunner_wait_idle(prunner_t *r);

/*
 * Closes an executor opened with prunner_open(), as `mode` says, and
 * returns once no task of r runs any more; its workers stay parked until
 * prunner_stop_workers() or prunner_free().  Closing a runner that is not
 * open returns 0 and does nothing: closing twice is harmless, and a close
 * while another thread's close is under way returns 0 at once.  Any thread
 * but r's own workers (-EDEADLK).  -EINVAL for a NULL runner or a bad mode;
 * -EBUSY when r is in a prunner_run() rather than open.
 */
PRUNNER_EXPORT int prunner_close(prunner_t *r, enum prunner_close_mode mode);

/* ------------------------------------------------------------------------ */
/* Futures                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A future is the handle of one submitted task.  It reaches exactly one
 * final state: DONE (the task returned 0), FAILED (it returned non-zero) or
 * CANCELLED (it never ran).  A task can also set a result: bytes, copied.
 *
 * Futures are reference counted: prunner_submit() gives the caller one
 * reference, which prunner_future_release() drops.  The runner keeps its
 * own while the task is queued or running, so releasing early is fine (a
 * fire-and-forget task).  A future may be used from any thread.
 */
typedef struct prunner_future prunner_future_t;

enum prunner_future_state {
	PRUNNER_FUTURE_PENDING = 0, /* queued */
	PRUNNER_FUTURE_RUNNING,     /* its task is running */
	PRUNNER_FUTURE_DONE,        /* final: the task returned 0 */
	PRUNNER_FUTURE_FAILED,      /* final: the task returned non-zero */
	PRUNNER_FUTURE_CANCELLED    /* final: the task never ran */
};

/*
 * Posts fn with a copy of `size` bytes at `data`, like prunner_post(), and
 * returns its future in *out (NULL allowed: no handle is wanted).
 * `destroy`, when not NULL, is called exactly once with the task's copy of
 * the payload if the task never runs (it is cancelled); it is not called
 * after a run.  Same threads and errors as prunner_post(), plus -ECANCELED
 * after prunner_close().  On error *out is set to NULL and nothing is
 * queued (destroy is not called: the caller still owns its data).
 */
PRUNNER_EXPORT int prunner_submit(prunner_t *r, prunner_task_fn fn, const void *data, size_t size,
                                  void (*destroy)(void *data), prunner_future_t **out);

/*
 * From inside a task started by prunner_submit() or prunner_then(): sets
 * the result of its future to a copy of `size` bytes at `data` (the last
 * call wins).  -EINVAL outside such a task, or data NULL with size > 0;
 * -E2BIG over PRUNNER_MAX_PAYLOAD; -ENOMEM.
 */
PRUNNER_EXPORT int prunner_set_result(const void *data, size_t size);

/*
 * Waits until f reaches a final state.  timeout_ns < 0 waits forever, 0
 * only polls.  Returns 0 once final, -ETIMEDOUT otherwise, -EINVAL for NULL.
 * Called from a worker of f's runner, the worker runs other tasks while it
 * waits (see prunner_group_wait), so a fixed pool cannot deadlock on it.
 * It may return before f's continuations (prunner_then) are posted; wait
 * on a continuation's own future to know when it is final.  -EDEADLK when
 * a worker would wait while holding its runner's global lock.
 */
PRUNNER_EXPORT int prunner_future_wait(prunner_future_t *f, int64_t timeout_ns);

/* The state at the time of the call.  PRUNNER_FUTURE_CANCELLED for NULL. */
PRUNNER_EXPORT enum prunner_future_state prunner_future_state(const prunner_future_t *f);

/*
 * The task's return value once DONE or FAILED; -ECANCELED when cancelled;
 * -EINPROGRESS before a final state; -EINVAL for NULL.
 */
PRUNNER_EXPORT int prunner_future_status(const prunner_future_t *f);

/*
 * Copies the result into buf (capacity cap).  Returns 0 and the size in
 * *len_out (when not NULL); a task that set no result has a result of size
 * 0.  -ERANGE when it does not fit (nothing copied, *len_out set);
 * -EINPROGRESS before a final state; -ECANCELED when cancelled; -EINVAL.
 * A FAILED task's result is readable too (it may describe the failure).
 */
PRUNNER_EXPORT int prunner_future_result(const prunner_future_t *f, void *buf, size_t cap, size_t *len_out);

/*
 * Cancels f if its task has not started: the task will never run, its
 * destroy function runs (now, on this thread), and then f becomes
 * CANCELLED: a thread that sees f final knows destroy has returned.
 * Returns 0 when this call cancelled it, -EBUSY when the task is running,
 * -EALREADY when f is already final, -EINVAL for NULL.
 */
PRUNNER_EXPORT int prunner_future_cancel(prunner_future_t *f);

/* Drops the caller's reference.  NULL is a no-op.  Any thread. */
PRUNNER_EXPORT void prunner_future_release(prunner_future_t *f);

/*
 * A continuation, as Celery's chains: when f becomes DONE, fn runs on f's
 * runner with a copy of f's result as its payload; its future is returned
 * in *out (NULL allowed).  If f becomes FAILED or CANCELLED, fn never runs
 * and the continuation's future becomes CANCELLED (destroy is called with
 * a copy of f's result).  A continuation cancelled with
 * prunner_future_cancel() before f completed has no payload yet: its
 * destroy receives NULL.  If f is already final, the continuation is posted (or
 * cancelled) now.  The continuation is posted when f completes, so f's
 * runner must still accept posts then.  Errors: -EINVAL, -ENOMEM (also when
 * f is already final and the copy of its result or the post cannot be
 * allocated: nothing was created and destroy is not called).  When f
 * completes later and the copy or the post cannot be allocated then, the
 * continuation becomes CANCELLED (destroy receives NULL if the copy failed).
 */
PRUNNER_EXPORT int prunner_then(prunner_future_t *f, prunner_task_fn fn, void (*destroy)(void *data),
                                prunner_future_t **out);

/*
 * Waits until every one of the n futures is final (prunner_wait_all) or at
 * least one is (prunner_wait_any, which stores its index in *index).
 * Timeouts as prunner_future_wait.  0 or -ETIMEDOUT; -EINVAL for a NULL
 * array with n > 0, a NULL element, or n == 0 for wait_any (wait_all of
 * nothing returns 0); -ENOMEM when wait_any must block on more than 8
 * futures and cannot allocate its list of them (nothing is waited for);
 * -EDEADLK as prunner_future_wait.
 */
PRUNNER_EXPORT int prunner_wait_all(prunner_future_t *const *fs, size_t n, int64_t timeout_ns);
PRUNNER_EXPORT int prunner_wait_any(prunner_future_t *const *fs, size_t n, int64_t timeout_ns,
                                    size_t *index);

/* ------------------------------------------------------------------------ */
/* Fork-join groups                                                         */
/* ------------------------------------------------------------------------ */

/*
 * A group lets a task spawn children and wait for all of them:
 *
 *   prunner_group_t g;
 *   prunner_group_init(&g, NULL);            current runner
 *   prunner_group_spawn(&g, child, &a, sizeof a);
 *   prunner_group_spawn(&g, child, &b, sizeof b);
 *   int failed = prunner_group_wait(&g);     helps while it waits
 *
 * The group lives in the caller's memory (on the stack is fine) and needs
 * no destruction once prunner_group_wait() returned.  It may be used only
 * by the thread that initialised it.
 *
 * Helping: a worker that waits runs other tasks meanwhile: its own deque
 * first (where its children are), then the injector and other workers'
 * deques; it sleeps only when every queue is empty, and wakes up for new
 * work or for the group's completion.  So a 1-worker pool running a
 * recursive fork-join computation never deadlocks.  Rule: do not hold a
 * lock across a wait that a task could need (the global lock included): the
 * waiter may run any queued task, on this same thread.  Waiting while
 * holding r's global lock (prunner_lock) returns -EDEADLK at once (and is
 * logged in debug mode).
 */
typedef struct prunner_group {
	uint64_t opaque[4];
} prunner_group_t;

/* Initialises g for runner r (NULL: prunner_current()).  -EINVAL when g is
 * NULL or there is no runner. */
PRUNNER_EXPORT int prunner_group_init(prunner_group_t *g, prunner_t *r);

/* Posts fn (payload copied) as a child of g.  Errors as prunner_post();
 * a child whose post failed is not counted in the group. */
PRUNNER_EXPORT int prunner_group_spawn(prunner_group_t *g, prunner_task_fn fn, const void *data, size_t size);

/*
 * Waits until every child spawned since the previous wait (or init)
 * finished; returns how many of those failed (>= 0), or -EINVAL for NULL,
 * -EDEADLK (see above).  The group is then ready for another round of
 * spawns.  A program thread outside the pool blocks; a worker helps.
 */
PRUNNER_EXPORT int prunner_group_wait(prunner_group_t *g);

/* ------------------------------------------------------------------------ */
/* Event-loop integration                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A file descriptor that becomes readable when futures of r complete, for
 * programs with their own event loop (epoll, poll, libuv, libmicrohttpd in
 * external-select mode).  Created on the first call and owned by r (closed
 * by prunner_free; do not close it).  From then on every future of r that
 * reaches a final state is queued once for prunner_completed().  Returns the
 * fd (>= 0) or -EINVAL, -EMFILE/-ENFILE/-ENOMEM.
 */
PRUNNER_EXPORT int prunner_completion_fd(prunner_t *r);

/*
 * Takes up to `max` completed futures from r's completion queue into out[],
 * in completion order, and returns how many.  Each one carries a reference
 * the caller must release.  Also consumes the fd's readiness: after a call
 * that returned fewer than max, the fd stays unreadable until the next
 * completion.  Never blocks.  Any thread.  -EINVAL for NULL arguments.
 */
PRUNNER_EXPORT int prunner_completed(prunner_t *r, prunner_future_t **out, size_t max);

/* ------------------------------------------------------------------------ */
/* The labelled-task API (prunner.py's ParallelTaskRunner)                  */
/* ------------------------------------------------------------------------ */

/* A labelled task as handed to run(): its label and its copy of the data. */
struct prunner_task {
	int label;
	void *data;  /* aligned for any type; NULL when size is 0 */
	size_t size;
};

/*
 * The methods a ParallelTaskRunner subclass overrides.  begin(r, options)
 * runs on the thread calling prunner_run() and posts the first tasks with
 * prunner_queue_put(); run(r, task) runs each task on a worker and returns 0
 * or a failure; end(r) runs on the caller's thread after the last task.
 * begin and end may be NULL; run is required.
 */
struct prunner_class {
	void (*begin)(prunner_t *r, void *options);
	int (*run)(prunner_t *r, const struct prunner_task *task);
	void (*end)(prunner_t *r);
};

/*
 * Creates a runner driven by `cls` (copied; the struct need not outlive the
 * call): ParallelTaskRunner(n_workers, debug, options).  n_workers as in
 * prunner_set_workers().  `options` is passed to begin and not otherwise
 * touched.  Run it with prunner_run(), free it with prunner_free(); its
 * dict and lock are prunner_dict() and prunner_lock().  Errors: -EINVAL
 * (out, cls or cls->run NULL, bad n_workers), -ENOMEM.
 */
PRUNNER_EXPORT int prunner_new_class(prunner_t **out, int n_workers, bool debug, const struct prunner_class *cls,
                                     void *options);

/*
 * queue.put(Task(label, data)): posts a labelled task that cls->run will
 * receive.  Same copy rules, threads and errors as prunner_post(); -EINVAL
 * also when r was not made by prunner_new_class().
 */
PRUNNER_EXPORT int prunner_queue_put(prunner_t *r, int label, const void *data, size_t size);

/* ------------------------------------------------------------------------ */
/* The module-style API (prunner.py's functions)                            */
/* ------------------------------------------------------------------------ */

/*
 * These functions act on the process-wide runner made by prunner_init(),
 * with one rule for every one of them: inside a task or hook of any runner
 * (whenever prunner_current() is not NULL) they act on that runner
 * instead.  So a task library written with prunner_post_task,
 * prunner_get_dict and prunner_global_lock works unchanged under the object
 * API, and these calls take no extra lock on the tasks' hot path.
 */

/*
 * prunner.init(n, debug, begin, end): prepares the process-wide runner with
 * n_workers workers (0: one per CPU or $PRUNNER_WORKERS), the debug log on
 * or off, and begin/end hooks (either may be NULL).  Frees the runner of an
 * earlier init, with its dict.  Errors: -EINVAL (n_workers < 0 or
 * > PRUNNER_MAX_WORKERS; the earlier runner is then kept), -EBUSY (a
 * prunner_start() is in progress), -ENOMEM.
 *
 * Call from one thread, not from a task or hook.
 */
PRUNNER_EXPORT int prunner_init(int n_workers, bool debug, void (*begin)(void), void (*end)(void));

/*
 * prunner.start(): runs begin() on this thread, every task until none is left
 * and all workers are idle, then end() on this thread, and returns.  The
 * worker threads are joined before it returns.  Result as prunner_run():
 * 0, the number of failed tasks, or a negative errno (-EINVAL when
 * prunner_init() was not called; -EBUSY from within a run).  May be repeated;
 * each start is a new run with the same hooks and the same dict.
 */
PRUNNER_EXPORT int prunner_start(void);

/*
 * prunner.post_task(fn, data): posts fn with a copy of `size` bytes at
 * `data` to the current run.  Call it from begin, from a task, or from any
 * thread while prunner_start() runs.  Errors as prunner_post();
 * PRUNNER_ENORUN when no prunner_start() is in progress (nothing queued).
 *
 * Inside a task of a runner made with the object API, it posts to that
 * runner (the one prunner_current() returns).
 */
PRUNNER_EXPORT int prunner_post_task(prunner_task_fn fn, const void *data, size_t size);

/* The process-wide runner's dict (NULL before the first prunner_init()), or
 * the current runner's inside a task or hook.  Readable after
 * prunner_start() returns, until the next prunner_init(). */
PRUNNER_EXPORT struct prunner_dict *prunner_get_dict(void);

/* The process-wide runner's global lock, or the current runner's inside a
 * task or hook (no-ops when there is neither). */
PRUNNER_EXPORT void prunner_global_lock(void);
PRUNNER_EXPORT void prunner_global_unlock(void);

/* Frees the process-wide runner and its dict (prunner_get_dict() then
 * returns NULL).  Optional: for programs that check for leaks. */
PRUNNER_EXPORT void prunner_cleanup(void);

#ifdef __cplusplus
}
#endif

#endif /* PRUNNER_H */
