/*
 * util.h - small helpers shared by every internal module: cache-line
 * alignment, checked pthread calls, branch hints and the CPU pause.
 */
#ifndef PR_UTIL_H
#define PR_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define PR_CACHE_LINE 64
#define PR_CACHE_ALIGNED _Alignas(PR_CACHE_LINE)

/* Thread-local state with the initial-exec model: in the shared library a
 * plain %fs-relative access instead of a call to __tls_get_addr on every
 * post.  prunner's TLS is a few dozen bytes, well within the static TLS
 * surplus glibc keeps for libraries loaded with dlopen. */
#define PR_THREAD_LOCAL _Thread_local __attribute__((tls_model("initial-exec")))

#define pr_likely(x) __builtin_expect(!!(x), 1)
#define pr_unlikely(x) __builtin_expect(!!(x), 0)

/* Aborts with file and line: for "impossible" failures of calls that cannot
 * fail when used correctly (pthread_mutex_lock on a valid mutex...). */
#define PR_ASSERT(cond)                                                                  \
	do {                                                                             \
		if (pr_unlikely(!(cond))) {                                              \
			fprintf(stderr, "prunner: %s:%d: assertion failed: %s\n", __FILE__, \
			        __LINE__, #cond);                                        \
			abort();                                                         \
		}                                                                        \
	} while (0)

#define PR_CHECK_PTHREAD(call)                                                             \
	do {                                                                               \
		int pr_rc_ = (call);                                                       \
		if (pr_unlikely(pr_rc_ != 0)) {                                            \
			fprintf(stderr, "prunner: %s:%d: %s failed: error %d\n", __FILE__, \
			        __LINE__, #call, pr_rc_);                                  \
			abort();                                                           \
		}                                                                          \
	} while (0)

static inline void pr_mutex_lock(pthread_mutex_t *m) { PR_CHECK_PTHREAD(pthread_mutex_lock(m)); }
static inline void pr_mutex_unlock(pthread_mutex_t *m) { PR_CHECK_PTHREAD(pthread_mutex_unlock(m)); }

/* Tells the CPU we are spinning (cheaper for the sibling hyperthread). */
static inline void pr_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* PR_UTIL_H */
