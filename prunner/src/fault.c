/*
 * fault.c - the fault-injection hook of debug builds (see fault.h).  Only
 * compiled when the meson option fault_injection is on.
 *
 * Each kind has a call counter and an `armed` word holding the number of
 * the call to fail (shifted left by one) and the persistent bit; 0 means
 * disarmed.  One word, so that a call never sees the number of one arming
 * with the persistent bit of another.
 *
 * Memory orders.  Every access here is relaxed: the words publish no other
 * data, and their order against the operations under test comes from those
 * operations themselves.  A test arms on its own thread before it starts
 * the operation, and any worker thread that makes a call during it was
 * created, or was handed a task, after that (pthread_create, the task's
 * post) so the call happens after the arming and, by read-write coherence,
 * sees it.  Likewise the test reads the counters after the operation has
 * returned, which happens after every call the operation made (a join, the
 * end of a run).  Counting is the only read-modify-write, and it is atomic
 * because workers allocate concurrently.
 */
#include "fault.h"

#include <errno.h>
#include <stdatomic.h>

static _Atomic uint64_t calls[PR_FAULT_KINDS];
static _Atomic uint64_t failures[PR_FAULT_KINDS];
static _Atomic uint64_t armed[PR_FAULT_KINDS]; /* (call number << 1) | persistent; 0: disarmed */
static _Atomic uint64_t threads_started, threads_joined;
static _Atomic int64_t live_allocs;

/* Counts one call of kind k; true when this call must fail. */
static bool fault_hit(enum pr_fault_kind k)
{
	/* Relaxed: see the top of the file. */
	uint64_t c = atomic_fetch_add_explicit(&calls[k], 1, memory_order_relaxed) + 1;
	uint64_t a = atomic_load_explicit(&armed[k], memory_order_relaxed);
	if (a == 0)
		return false;
	uint64_t at = a >> 1;
	if (c != at && !(c > at && (a & 1)))
		return false;
	atomic_fetch_add_explicit(&failures[k], 1, memory_order_relaxed);
	return true;
}

static void live_add(int64_t d)
{
	atomic_fetch_add_explicit(&live_allocs, d, memory_order_relaxed);
}

void *pr_malloc(size_t size)
{
	if (fault_hit(PR_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = malloc(size);
	if (p)
		live_add(1);
	return p;
}

void *pr_calloc(size_t n, size_t size)
{
	if (fault_hit(PR_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = calloc(n, size);
	if (p)
		live_add(1);
	return p;
}

/* A failure leaves p allocated and unchanged, as realloc's does.  (prunner
 * never calls it with size 0, whose result is implementation-defined.) */
void *pr_realloc(void *p, size_t size)
{
	if (fault_hit(PR_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	void *q = realloc(p, size);
	if (q && !p)
		live_add(1);
	return q;
}

void *pr_aligned_alloc(size_t align, size_t size)
{
	if (fault_hit(PR_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = aligned_alloc(align, size);
	if (p)
		live_add(1);
	return p;
}

void pr_free(void *p)
{
	if (p)
		live_add(-1);
	free(p);
}

int pr_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	if (fault_hit(PR_FAULT_THREAD))
		return EAGAIN;
	int rc = pthread_create(t, attr, fn, arg);
	if (rc == 0)
		atomic_fetch_add_explicit(&threads_started, 1, memory_order_relaxed);
	return rc;
}

int pr_thread_join(pthread_t t, void **ret)
{
	int rc = pthread_join(t, ret);
	if (rc == 0)
		atomic_fetch_add_explicit(&threads_joined, 1, memory_order_relaxed);
	return rc;
}

#ifdef __linux__
int pr_eventfd(unsigned int initval, int flags)
{
	if (fault_hit(PR_FAULT_FD)) {
		errno = EMFILE;
		return -1;
	}
	return eventfd(initval, flags);
}
#endif

void pr_fault_arm(enum pr_fault_kind kind, uint64_t n, bool persistent)
{
	if ((unsigned)kind >= PR_FAULT_KINDS || n == 0)
		return;
	uint64_t at = atomic_load_explicit(&calls[kind], memory_order_relaxed) + n;
	atomic_store_explicit(&armed[kind], at << 1 | (persistent ? 1u : 0u), memory_order_relaxed);
}

void pr_fault_disarm(void)
{
	for (int k = 0; k < PR_FAULT_KINDS; k++)
		atomic_store_explicit(&armed[k], 0, memory_order_relaxed);
}

uint64_t pr_fault_calls(enum pr_fault_kind kind)
{
	return (unsigned)kind < PR_FAULT_KINDS ? atomic_load_explicit(&calls[kind], memory_order_relaxed) : 0;
}

uint64_t pr_fault_failures(enum pr_fault_kind kind)
{
	return (unsigned)kind < PR_FAULT_KINDS ? atomic_load_explicit(&failures[kind], memory_order_relaxed)
	                                       : 0;
}

uint64_t pr_fault_threads_started(void)
{
	return atomic_load_explicit(&threads_started, memory_order_relaxed);
}

uint64_t pr_fault_threads_joined(void)
{
	return atomic_load_explicit(&threads_joined, memory_order_relaxed);
}

int64_t pr_fault_live_allocs(void)
{
	return atomic_load_explicit(&live_allocs, memory_order_relaxed);
}
