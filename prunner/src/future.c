/*
 * future.c - futures, continuations, fork-join groups, and the completion
 * queue behind the event-loop fd.
 *
 * Futures.  A future is a reference-counted object holding its task's
 * payload, its state, its result and the threads waiting for it.  Its task
 * is an ordinary task flagged PR_TASK_FUTURE whose ctx is the future.  State
 * machine (docs/design.md, "Futures"):
 *
 *     PENDING --(a worker takes the task)--> RUNNING --> DONE | FAILED
 *     PENDING --(prunner_future_cancel, or a CANCEL close)--> CANCELLING
 *             --(destroy returned)--> CANCELLED
 *
 * Both transitions out of PENDING are compare-and-swaps, so exactly one
 * wins: a task runs, or it is cancelled, never both.  CANCELLING is
 * internal (reported as PENDING): a future is final only after its
 * destroy function returned.  The final state is
 * stored under the future's lock, which also protects the list of waiters
 * and of continuations; the thread that makes the future final takes both
 * lists under that lock and wakes the waiters before releasing it.  A
 * waiter registers under the lock only while the future is not final, and
 * unlinks itself under the lock before it returns, so a waker never
 * touches a waiter that is gone.
 *
 * References: the submitter's (when it asked for the handle), the task's
 * (until the task ran or was skipped), a continuation's pending post, and
 * one per entry in the completion queue.  The last release frees it.
 *
 * Groups.  A group (in the caller's memory) counts its pending children
 * plus one unit that its owner holds until it waits.  The owner's wait
 * stores its waiter in the `waiter` word, then drops its unit; the party
 * that brings the count to zero completes the group: the owner itself (all
 * children were done), or the last child, which exchanges the word with
 * PR_GROUP_DONE and wakes the waiter it got.  After that exchange the child
 * never touches the group again: the group may live on the waiting task's
 * stack, and the waiter returns only once it saw PR_GROUP_DONE (a worker)
 * or was woken under its own lock (a program thread).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "fault.h"

/* Polls made by a program thread before it blocks on a future (about
 * 10 us of `pause` on current x86). */
#define PR_WAIT_SPINS 2000

struct pr_waitlink {
	struct pr_waitlink *next;
	struct pr_waiter *waiter;
};

struct prunner_future {
	_Atomic int state;  /* enum prunner_future_state */
	_Atomic int refs;
	prunner_t *runner;  /* immutable */
	prunner_task_fn fn; /* immutable */
	void (*destroy)(void *data);
	void *payload;      /* the task's data; immutable once posted */
	size_t size;
	bool payload_owned; /* payload is a separate allocation */
	/* Written by the task before the final state is stored (under lock). */
	int status;
	void *result; /* result_inline, or a heap copy */
	size_t result_size;
	_Alignas(16) unsigned char result_inline[16];

	pthread_mutex_t lock;
	struct pr_waitlink *waiters;    /* lock */
	struct prunner_future *thens;   /* continuations (lock), via next_then */
	struct prunner_future *next_then;
	struct prunner_future *next_completed; /* runner's completion queue */
};

/* Internal state between PENDING and CANCELLED: the cancel won the CAS and
 * the destroy function is running.  Reported as PENDING: a future is
 * CANCELLED (final) only once its destroy function has returned. */
#define PR_FUTURE_CANCELLING 100
/* Internal state of a continuation while its source's completion writes
 * its payload (then_resolve): a cancel waits for it to pass.  Reported as
 * PENDING. */
#define PR_FUTURE_SETUP 101

static bool is_final(int state)
{
	return state == PRUNNER_FUTURE_DONE || state == PRUNNER_FUTURE_FAILED ||
	       state == PRUNNER_FUTURE_CANCELLED;
}

/* PENDING -> CANCELLING: true when this caller won the task (it will never
 * run) and must call cancelled(). */
static bool claim_cancel(prunner_future_t *f)
{
	int expect = PRUNNER_FUTURE_PENDING;
	return atomic_compare_exchange_strong_explicit(&f->state, &expect, PR_FUTURE_CANCELLING,
	                                               memory_order_acq_rel, memory_order_acquire);
}

static prunner_future_t *future_new(prunner_t *r, prunner_task_fn fn, void (*destroy)(void *), const void *data,
                                    size_t size)
{
	/* One block: the future, then the payload, aligned for any type. */
	size_t head = (sizeof(struct prunner_future) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	prunner_future_t *f = pr_malloc(head + size);
	if (!f)
		return NULL;
	memset(f, 0, sizeof(*f));
	if (pthread_mutex_init(&f->lock, NULL) != 0) {
		pr_free(f);
		return NULL;
	}
	atomic_init(&f->state, PRUNNER_FUTURE_PENDING);
	atomic_init(&f->refs, 1);
	f->runner = r;
	f->fn = fn;
	f->destroy = destroy;
	f->size = size;
	f->payload = size ? (char *)f + head : NULL;
	if (size)
		memcpy(f->payload, data, size);
	return f;
}

static void future_ref(prunner_future_t *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void prunner_future_release(prunner_future_t *f)
{
	if (!f)
		return;
	/* Acq_rel: the last releaser sees every write made by the others. */
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&f->lock));
	if (f->result != f->result_inline)
		pr_free(f->result);
	if (f->payload_owned)
		pr_free(f->payload);
	pr_free(f);
}

/* ------------------------------------------------------------------------ */
/* Completion                                                               */
/* ------------------------------------------------------------------------ */

static void completion_push(prunner_t *r, prunner_future_t *f)
{
	int fd = atomic_load_explicit(&r->completion_fd, memory_order_acquire);
	if (fd < 0)
		return;
	future_ref(f);
	pr_mutex_lock(&r->completion_lock);
	f->next_completed = NULL;
	if (r->completed_tail)
		r->completed_tail->next_completed = f;
	else
		r->completed_head = f;
	r->completed_tail = f;
	pr_mutex_unlock(&r->completion_lock);
	/* After the push: a reader that sees the fd readable finds f. */
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n; /* EAGAIN: the counter is saturated, the fd readable anyway */
}

static int then_resolve(prunner_future_t *f, prunner_future_t *next, bool now);

/*
 * Makes f final with `state`, wakes its waiters, resolves its continuations
 * and queues it for the event-loop fd.  Waiters are woken before the
 * continuations are posted: a wait on f may return while a continuation of
 * f is still PENDING (wait on the continuation itself for that).
 */
static void settle(prunner_future_t *f, int state)
{
	pr_mutex_lock(&f->lock);
	atomic_store_explicit(&f->state, state, memory_order_release);
	struct pr_waitlink *links = f->waiters;
	f->waiters = NULL;
	for (struct pr_waitlink *l = links; l; l = l->next)
		pr_waiter_wake(l->waiter);
	struct prunner_future *thens = f->thens;
	f->thens = NULL;
	pr_mutex_unlock(&f->lock);
	PR_LOG(f->runner, "future %p final: %d", (void *)f, state);
	while (thens) {
		struct prunner_future *next = thens->next_then;
		then_resolve(f, thens, false);
		thens = next;
	}
	completion_push(f->runner, f);
}

/* Finishes a cancel won by claim_cancel: destroy, then final. */
static void cancelled(prunner_future_t *f)
{
	if (f->destroy)
		f->destroy(f->payload);
	settle(f, PRUNNER_FUTURE_CANCELLED);
}

int pr_run_future_task(struct pr_worker *w, struct pr_task *t, bool cancel, bool *ran)
{
	prunner_future_t *f = t->ctx;
	int expect = PRUNNER_FUTURE_PENDING;
	int rc = 0;
	*ran = false;
	if (cancel) {
		if (claim_cancel(f))
			cancelled(f);
	} else if (atomic_compare_exchange_strong_explicit(&f->state, &expect, PRUNNER_FUTURE_RUNNING,
	                                                   memory_order_acq_rel, memory_order_acquire)) {
		PR_LOG(w->runner, "w%d runs future %p", w->index, (void *)f);
		prunner_future_t *outer = pr_tls.future;
		pr_tls.future = f;
		rc = f->fn(f->payload);
		pr_tls.future = outer;
		*ran = true;
		f->status = rc;
		settle(f, rc == 0 ? PRUNNER_FUTURE_DONE : PRUNNER_FUTURE_FAILED);
	}
	/* else: cancelled while queued; its destroy already ran. */
	prunner_future_release(f); /* the task's reference */
	return rc;
}

/* Posts f's task to r.  The task takes over one reference. */
static int post_future(prunner_t *r, prunner_future_t *f)
{
	future_ref(f);
	int rc = pr_post(r, f->fn, 0, PR_TASK_FUTURE, NULL, 0, f);
	if (rc)
		atomic_fetch_sub_explicit(&f->refs, 1, memory_order_relaxed);
	return rc;
}

int prunner_submit(prunner_t *r, prunner_task_fn fn, const void *data, size_t size, void (*destroy)(void *data),
                   prunner_future_t **out)
{
	if (out)
		*out = NULL;
	if (!r || !fn || (size > 0 && !data))
		return -EINVAL;
	if (size > PRUNNER_MAX_PAYLOAD)
		return -E2BIG;
	prunner_future_t *f = future_new(r, fn, destroy, data, size);
	if (!f)
		return -ENOMEM;
	int rc = post_future(r, f);
	if (rc) {
		prunner_future_release(f);
		return rc;
	}
	if (out)
		*out = f;
	else
		prunner_future_release(f);
	return 0;
}

int prunner_set_result(const void *data, size_t size)
{
	prunner_future_t *f = pr_tls.future;
	if (!f || (size > 0 && !data))
		return -EINVAL;
	if (size > PRUNNER_MAX_PAYLOAD)
		return -E2BIG;
	void *copy = f->result_inline;
	if (size > sizeof(f->result_inline)) {
		copy = pr_malloc(size);
		if (!copy)
			return -ENOMEM;
	}
	/* Only the running task writes the result; readers read it after
	 * the final state (stored with release after this).  The inline
	 * buffer may hold the previous result: release that first. */
	if (f->result != f->result_inline)
		pr_free(f->result);
	if (size)
		memcpy(copy, data, size);
	f->result = copy;
	f->result_size = size;
	return 0;
}

enum prunner_future_state prunner_future_state(const prunner_future_t *f)
{
	if (!f)
		return PRUNNER_FUTURE_CANCELLED;
	int s = atomic_load_explicit(&((prunner_future_t *)f)->state, memory_order_acquire);
	return s == PR_FUTURE_CANCELLING || s == PR_FUTURE_SETUP ? PRUNNER_FUTURE_PENDING
	                                                         : (enum prunner_future_state)s;
}

int prunner_future_status(const prunner_future_t *f)
{
	if (!f)
		return -EINVAL;
	int s = prunner_future_state(f);
	if (!is_final(s))
		return -EINPROGRESS;
	if (s == PRUNNER_FUTURE_CANCELLED)
		return -ECANCELED;
	return f->status;
}

int prunner_future_result(const prunner_future_t *f, void *buf, size_t cap, size_t *len_out)
{
	if (!f || (!buf && cap > 0))
		return -EINVAL;
	int s = prunner_future_state(f);
	if (!is_final(s))
		return -EINPROGRESS;
	if (s == PRUNNER_FUTURE_CANCELLED)
		return -ECANCELED;
	if (len_out)
		*len_out = f->result_size;
	if (f->result_size > cap)
		return -ERANGE;
	if (f->result_size)
		memcpy(buf, f->result, f->result_size);
	return 0;
}

int prunner_future_cancel(prunner_future_t *f)
{
	if (!f)
		return -EINVAL;
	for (;;) {
		if (claim_cancel(f)) {
			cancelled(f);
			return 0;
		}
		/* A continuation being set up: a copy of a few bytes, then it
		 * is PENDING (and cancellable) or cancelled. */
		if (atomic_load_explicit(&f->state, memory_order_acquire) != PR_FUTURE_SETUP)
			break;
		pr_cpu_relax();
	}
	/* Running: -EBUSY; final, or being cancelled by someone else:
	 * -EALREADY. */
	return atomic_load_explicit(&f->state, memory_order_acquire) == PRUNNER_FUTURE_RUNNING ? -EBUSY
	                                                                                       : -EALREADY;
}

/* ------------------------------------------------------------------------ */
/* Continuations                                                            */
/* ------------------------------------------------------------------------ */

/*
 * f is final: post `next` with f's result, or cancel it.  Returns 0, except
 * with `now`: prunner_then calls it so on a source that was already final,
 * before anyone else knows `next`; then a copy or a post that fails for
 * lack of memory returns -ENOMEM and leaves `next` unposted, with the
 * link's reference, for prunner_then to undo (the call fails with no
 * effect).  Without `now` (the source's completion) there is no caller to
 * tell: such a continuation is cancelled, its destroy receiving NULL when
 * the copy failed.
 */
static int then_resolve(prunner_future_t *f, prunner_future_t *next, bool now)
{
	int s = atomic_load_explicit(&f->state, memory_order_acquire);
	/* Claim next while writing its payload, so that a concurrent
	 * prunner_future_cancel cannot read it half-written.  If it was
	 * cancelled already (destroy got NULL: no payload yet), we are done. */
	int expect = PRUNNER_FUTURE_PENDING;
	if (!atomic_compare_exchange_strong_explicit(&next->state, &expect, PR_FUTURE_SETUP, memory_order_acq_rel,
	                                             memory_order_acquire)) {
		prunner_future_release(next);
		return 0;
	}
	if (f->result_size) {
		next->payload = pr_malloc(f->result_size);
		if (next->payload) {
			memcpy(next->payload, f->result, f->result_size);
			next->size = f->result_size;
			next->payload_owned = true;
		}
	}
	bool have_payload = next->payload || f->result_size == 0;
	/* Release: the payload written above is visible to whoever claims
	 * next from PENDING (a worker, or a cancel). */
	atomic_store_explicit(&next->state, PRUNNER_FUTURE_PENDING, memory_order_release);
	int rc;
	if (!have_payload)
		rc = -ENOMEM;
	else if (s == PRUNNER_FUTURE_DONE)
		rc = post_future(next->runner, next);
	else
		rc = -ECANCELED; /* the source failed or was cancelled */
	if (rc == -ENOMEM && now)
		return -ENOMEM;
	if (rc != 0 && claim_cancel(next))
		cancelled(next);
	prunner_future_release(next); /* the link's reference */
	return 0;
}

int prunner_then(prunner_future_t *f, prunner_task_fn fn, void (*destroy)(void *data), prunner_future_t **out)
{
	if (out)
		*out = NULL;
	if (!f || !fn)
		return -EINVAL;
	prunner_future_t *next = future_new(f->runner, fn, destroy, NULL, 0);
	if (!next)
		return -ENOMEM;
	if (out) {
		future_ref(next);
		*out = next;
	}
	/* `next` starts with one reference, held by the link until resolved. */
	pr_mutex_lock(&f->lock);
	bool final = is_final(atomic_load_explicit(&f->state, memory_order_acquire));
	if (!final) {
		next->next_then = f->thens;
		f->thens = next;
	}
	pr_mutex_unlock(&f->lock);
	if (final && then_resolve(f, next, true) != 0) {
		/* Out of memory with nothing posted: undo (found by the fault
		 * walk: this used to return 0 with the continuation cancelled,
		 * a call that failed and still had an effect). */
		if (out) {
			*out = NULL;
			prunner_future_release(next); /* the caller's reference */
		}
		prunner_future_release(next); /* the link's: frees it, no destroy */
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                  */
/* ------------------------------------------------------------------------ */

struct any_arg {
	prunner_future_t *const *fs;
	size_t n;
	size_t index;
};

static bool any_final(void *arg)
{
	struct any_arg *a = arg;
	for (size_t i = 0; i < a->n; i++)
		if (is_final(atomic_load_explicit(&a->fs[i]->state, memory_order_acquire))) {
			a->index = i;
			return true;
		}
	return false;
}

/* Unlinks link from f's waiters if it is still there. */
static void unlink_waiter(prunner_future_t *f, struct pr_waitlink *link)
{
	pr_mutex_lock(&f->lock);
	for (struct pr_waitlink **p = &f->waiters; *p; p = &(*p)->next)
		if (*p == link) {
			*p = link->next;
			break;
		}
	pr_mutex_unlock(&f->lock);
}

/*
 * Waits until one of fs[0..n) is final.  Registers one waiter on each
 * future that is not final (a worker's own waiter, or one on this stack),
 * then helps (worker) or blocks (program thread).
 */
static int wait_any(prunner_future_t *const *fs, size_t n, int64_t timeout_ns, size_t *index)
{
	struct any_arg arg = { fs, n, 0 };
	if (any_final(&arg)) {
		if (index)
			*index = arg.index;
		return 0;
	}
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	struct pr_worker *w = pr_tls.worker;
	if (w && pr_tls.locks_held > 0) {
		PR_LOG(w->runner, "w%d: future wait while holding the global lock", w->index);
		return -EDEADLK;
	}
	int64_t deadline = pr_deadline(timeout_ns);

	struct pr_waitlink small[8];
	struct pr_waitlink *links = n <= 8 ? small : pr_malloc(n * sizeof(*links));
	if (!links)
		return -ENOMEM;
	struct pr_waiter thread_waiter;
	struct pr_waiter *me;
	if (w) {
		me = &w->waiter;
	} else {
		pr_waiter_init_thread(&thread_waiter);
		me = &thread_waiter;
	}
	for (size_t i = 0; i < n; i++) {
		links[i].waiter = me;
		pr_mutex_lock(&fs[i]->lock);
		if (!is_final(atomic_load_explicit(&fs[i]->state, memory_order_acquire))) {
			links[i].next = fs[i]->waiters;
			fs[i]->waiters = &links[i];
		}
		pr_mutex_unlock(&fs[i]->lock);
	}

	int rc;
	if (w) {
		/* The helper may run one of fs' own tasks on this thread; that
		 * wakes w->waiter, which only takes w out of the sleep set. */
		rc = pr_help_until(w, any_final, &arg, deadline);
	} else {
		/* Spin briefly before blocking: a short task usually finishes
		 * within a few microseconds, and waking a blocked thread costs
		 * more than that (bench roundtrip: p50 17 us blocking at once,
		 * under 1 us with this spin). */
		for (int i = 0; i < PR_WAIT_SPINS && !any_final(&arg); i++)
			pr_cpu_relax();
		rc = any_final(&arg) ? 0 : pr_waiter_wait_thread(me, deadline);
		if (rc == 0 && !any_final(&arg))
			rc = -ETIMEDOUT; /* cannot happen: woken means final */
	}
	for (size_t i = 0; i < n; i++)
		unlink_waiter(fs[i], &links[i]);
	if (!w)
		pr_waiter_destroy_thread(&thread_waiter);
	if (links != small)
		pr_free(links);
	if (rc == 0 && index)
		*index = arg.index;
	return rc;
}

int prunner_future_wait(prunner_future_t *f, int64_t timeout_ns)
{
	if (!f)
		return -EINVAL;
	return wait_any(&f, 1, timeout_ns, NULL);
}

int prunner_wait_any(prunner_future_t *const *fs, size_t n, int64_t timeout_ns, size_t *index)
{
	if (!fs || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!fs[i])
			return -EINVAL;
	return wait_any(fs, n, timeout_ns, index);
}

int prunner_wait_all(prunner_future_t *const *fs, size_t n, int64_t timeout_ns)
{
	if (!fs && n > 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!fs[i])
			return -EINVAL;
	int64_t deadline = pr_deadline(timeout_ns);
	for (size_t i = 0; i < n; i++) {
		int64_t left = deadline < 0 ? -1 : deadline - pr_now_ns();
		if (deadline >= 0 && left < 0)
			left = 0;
		int rc = wait_any(&fs[i], 1, left, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Event-loop fd                                                            */
/* ------------------------------------------------------------------------ */

int prunner_completion_fd(prunner_t *r)
{
	if (!r)
		return -EINVAL;
	pr_mutex_lock(&r->completion_lock);
	int fd = atomic_load_explicit(&r->completion_fd, memory_order_relaxed);
	if (fd < 0) {
#ifdef __linux__
		fd = pr_eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0)
			fd = -errno;
#else
		fd = -ENOSYS;
#endif
		if (fd >= 0)
			atomic_store_explicit(&r->completion_fd, fd, memory_order_release);
	}
	pr_mutex_unlock(&r->completion_lock);
	return fd;
}

int prunner_completed(prunner_t *r, prunner_future_t **out, size_t max)
{
	if (!r || (!out && max > 0))
		return -EINVAL;
	int fd = atomic_load_explicit(&r->completion_fd, memory_order_acquire);
	if (fd < 0)
		return 0;
	/* Consume the readiness first: a completion pushed after this read
	 * writes again, so the fd is readable whenever the queue may hold
	 * something we have not taken. */
	uint64_t count;
	ssize_t n = read(fd, &count, sizeof(count));
	(void)n; /* EAGAIN: nothing was signalled */
	size_t k = 0;
	pr_mutex_lock(&r->completion_lock);
	while (k < max && r->completed_head) {
		prunner_future_t *f = r->completed_head;
		r->completed_head = f->next_completed;
		if (!r->completed_head)
			r->completed_tail = NULL;
		out[k++] = f;
	}
	bool more = r->completed_head != NULL;
	pr_mutex_unlock(&r->completion_lock);
	if (more) {
		uint64_t one = 1;
		n = write(fd, &one, sizeof(one)); /* still readable */
		(void)n;
	}
	return (int)k;
}

void pr_completion_close(prunner_t *r)
{
	int fd = atomic_load_explicit(&r->completion_fd, memory_order_relaxed);
	if (fd < 0)
		return;
	while (r->completed_head) {
		prunner_future_t *f = r->completed_head;
		r->completed_head = f->next_completed;
		prunner_future_release(f);
	}
	r->completed_tail = NULL;
	close(fd);
	atomic_store_explicit(&r->completion_fd, -1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Fork-join groups                                                         */
/* ------------------------------------------------------------------------ */

struct pr_group {
	prunner_t *runner;
	/* Children not yet finished, plus 1 held by the owner until it waits:
	 * so the count reaches zero only inside prunner_group_wait. */
	_Atomic int64_t pending;
	_Atomic int64_t failed;
	_Atomic(struct pr_waiter *) waiter; /* NULL, a waiter, or PR_GROUP_DONE */
};

_Static_assert(sizeof(struct pr_group) <= sizeof(prunner_group_t), "prunner_group_t too small");
_Static_assert(_Alignof(struct pr_group) <= _Alignof(prunner_group_t), "prunner_group_t misaligned");

static char group_done_marker;
#define PR_GROUP_DONE ((struct pr_waiter *)(void *)&group_done_marker)

static void group_arm(struct pr_group *g)
{
	atomic_store_explicit(&g->pending, 1, memory_order_relaxed);
	atomic_store_explicit(&g->failed, 0, memory_order_relaxed);
	atomic_store_explicit(&g->waiter, NULL, memory_order_relaxed);
}

int prunner_group_init(prunner_group_t *pg, prunner_t *r)
{
	if (!pg)
		return -EINVAL;
	if (!r)
		r = pr_tls.runner;
	if (!r)
		return -EINVAL;
	struct pr_group *g = (struct pr_group *)pg;
	g->runner = r;
	atomic_init(&g->pending, 1);
	atomic_init(&g->failed, 0);
	atomic_init(&g->waiter, NULL);
	return 0;
}

void pr_group_child_done(void *group, bool failed)
{
	struct pr_group *g = group;
	if (failed)
		atomic_fetch_add_explicit(&g->failed, 1, memory_order_relaxed);
	/* Acq_rel: the last one sees the others' failures, and publishes
	 * them with the exchange below, which the waiter acquires. */
	if (atomic_fetch_sub_explicit(&g->pending, 1, memory_order_acq_rel) != 1)
		return;
	/* The owner already registered (it dropped its unit after that). */
	struct pr_waiter *w = atomic_exchange_explicit(&g->waiter, PR_GROUP_DONE, memory_order_acq_rel);
	/* g may be gone from here on: its waiter can return. */
	if (w)
		pr_waiter_wake(w);
}

int prunner_group_spawn(prunner_group_t *pg, prunner_task_fn fn, const void *data, size_t size)
{
	if (!pg || !fn)
		return -EINVAL;
	struct pr_group *g = (struct pr_group *)pg;
	/* The owner's unit keeps the count above zero, so a child that
	 * finishes at once cannot complete the group under us. */
	atomic_fetch_add_explicit(&g->pending, 1, memory_order_relaxed);
	int rc = pr_post(g->runner, fn, 0, PR_TASK_GROUP, data, size, g);
	if (rc)
		atomic_fetch_sub_explicit(&g->pending, 1, memory_order_relaxed); /* not counted */
	return rc;
}

static bool group_done(void *arg)
{
	struct pr_group *g = arg;
	return atomic_load_explicit(&g->waiter, memory_order_acquire) == PR_GROUP_DONE;
}

int prunner_group_wait(prunner_group_t *pg)
{
	if (!pg)
		return -EINVAL;
	struct pr_group *g = (struct pr_group *)pg;
	/* Acquire pairs with the children's acq_rel decrements. */
	if (atomic_load_explicit(&g->pending, memory_order_acquire) == 1) {
		int failed = (int)atomic_load_explicit(&g->failed, memory_order_relaxed);
		atomic_store_explicit(&g->failed, 0, memory_order_relaxed);
		return failed;
	}
	if (pr_tls.locks_held > 0) {
		PR_LOG(g->runner, "group wait while holding the global lock");
		return -EDEADLK;
	}
	struct pr_worker *w = pr_tls.worker;
	struct pr_waiter thread_waiter;
	struct pr_waiter *me;
	if (w && w->runner == g->runner) {
		me = &w->waiter;
	} else {
		pr_waiter_init_thread(&thread_waiter);
		me = &thread_waiter;
	}
	/* Register, then drop the owner's unit.  No child can have completed
	 * the group before (the unit was held), so the word is still NULL. */
	atomic_store_explicit(&g->waiter, me, memory_order_seq_cst);
	if (atomic_fetch_sub_explicit(&g->pending, 1, memory_order_acq_rel) != 1) {
		/* Children still run; the last one exchanges the word and
		 * wakes `me`. */
		if (me == &thread_waiter)
			pr_waiter_wait_thread(me, -1);
		else
			pr_help_until(w, group_done, g, -1);
	}
	if (me == &thread_waiter)
		pr_waiter_destroy_thread(&thread_waiter);
	int failed = (int)atomic_load_explicit(&g->failed, memory_order_relaxed);
	group_arm(g); /* no child is pending: ready for the next round */
	return failed;
}
