/*
 * fault.h - the fault-injection hook (debug builds): every call in
 * prunner/src that the machine can make fail goes through a wrapper here,
 * so that a test can make the Nth such call fail and check that the
 * failure is reported and leaves nothing behind (in the spirit of SQLite's
 * fault simulator; tests/fault/ walks N over every call site).
 *
 *   pr_malloc, pr_calloc, pr_realloc, pr_aligned_alloc, pr_free
 *       kind PR_FAULT_ALLOC.  A failure returns NULL with errno ENOMEM.
 *       pr_free is not a fault site; it only keeps the count of live
 *       allocations (pr_fault_live_allocs), so every block allocated by a
 *       wrapper must be freed with pr_free.
 *   pr_thread_create, pr_thread_join
 *       kind PR_FAULT_THREAD (create only).  A failure returns EAGAIN, as
 *       pthread_create does when RLIMIT_NPROC or the kernel's thread limit
 *       is reached.  Threads started and joined are counted (a thread is
 *       counted as started only when it was created).
 *   pr_eventfd (and any pipe added later)
 *       kind PR_FAULT_FD.  A failure returns -1 with errno EMFILE: the
 *       per-process descriptor limit is the failure a program really meets,
 *       and prunner_completion_fd documents -EMFILE.
 *
 * Built with -DPR_FAULT_INJECTION=1 (meson option fault_injection, on by
 * default in debug and debugoptimized builds, off in release builds).
 * Without it the wrappers are static inline pass-throughs that compile to
 * the plain calls, and the control API below does not exist.
 *
 * Cost when compiled in: one out-of-line call and one or two atomic
 * read-modify-writes per allocation, thread creation or eventfd.  The task
 * hot path (post, pop, steal) makes none of these calls: tasks come from
 * slabs, and only a slab refill, a deque growth or a heap payload
 * (> PRUNNER_INLINE_PAYLOAD bytes) allocates.
 */
#ifndef PR_FAULT_H
#define PR_FAULT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

enum pr_fault_kind {
	PR_FAULT_ALLOC,  /* malloc, calloc, realloc, aligned_alloc */
	PR_FAULT_THREAD, /* pthread_create */
	PR_FAULT_FD,     /* eventfd, pipe */
	PR_FAULT_KINDS
};

#if defined(PR_FAULT_INJECTION) && PR_FAULT_INJECTION

void *pr_malloc(size_t size);
void *pr_calloc(size_t n, size_t size);
void *pr_realloc(void *p, size_t size);
void *pr_aligned_alloc(size_t align, size_t size);
void pr_free(void *p);
int pr_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int pr_thread_join(pthread_t t, void **ret);
#ifdef __linux__
int pr_eventfd(unsigned int initval, int flags);
#endif

/*
 * Control API, for tests only.  Any thread; the counters are process-wide.
 *
 * pr_fault_arm(kind, n, persistent): the nth call of `kind` from now fails
 * (n >= 1), and with `persistent` every later one too, until disarmed.
 * "From now" counts calls from every thread: arm while no other thread
 * makes such calls if the walk must be repeatable.  Arming one kind leaves
 * the others as they are.
 */
void pr_fault_arm(enum pr_fault_kind kind, uint64_t n, bool persistent);
/* Disarms every kind. */
void pr_fault_disarm(void);
/* Calls of `kind` made so far (failed ones included). */
uint64_t pr_fault_calls(enum pr_fault_kind kind);
/* Calls of `kind` made to fail so far: a walk is past the last call site
 * of an operation when the operation ran armed and this did not move. */
uint64_t pr_fault_failures(enum pr_fault_kind kind);
/* Threads created by pr_thread_create / joined by pr_thread_join. */
uint64_t pr_fault_threads_started(void);
uint64_t pr_fault_threads_joined(void);
/* Blocks allocated by the wrappers and not yet given to pr_free. */
int64_t pr_fault_live_allocs(void);

#else /* !PR_FAULT_INJECTION: pass-throughs, no cost */

static inline void *pr_malloc(size_t size)
{
	return malloc(size);
}

static inline void *pr_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

static inline void *pr_realloc(void *p, size_t size)
{
	return realloc(p, size);
}

static inline void *pr_aligned_alloc(size_t align, size_t size)
{
	return aligned_alloc(align, size);
}

static inline void pr_free(void *p)
{
	free(p);
}

static inline int pr_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	return pthread_create(t, attr, fn, arg);
}

static inline int pr_thread_join(pthread_t t, void **ret)
{
	return pthread_join(t, ret);
}

#ifdef __linux__
static inline int pr_eventfd(unsigned int initval, int flags)
{
	return eventfd(initval, flags);
}
#endif

#endif /* PR_FAULT_INJECTION */

#endif /* PR_FAULT_H */
