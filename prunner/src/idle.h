/*
 * idle.h - how idle workers sleep and get woken without losing a post.
 *
 * An event count (see idle.c and docs/design.md, "Sleeping and waking"):
 *
 *   sleeper:  key = pr_sleep_prepare(s);      announce, read the epoch
 *             look for work once more;
 *             found -> pr_sleep_cancel(s);    else pr_sleep_wait(s, key);
 *   poster:   make the task visible; pr_sleep_notify(s);
 *
 * pr_sleep_notify costs one fence and one load when nobody sleeps: no
 * system call.
 */
#ifndef PR_IDLE_H
#define PR_IDLE_H

#include <stdatomic.h>
#include <stdint.h>

#include "util.h"

struct pr_sleep {
	/* Workers between prepare and the end of wait/cancel.  RMW by
	 * sleepers, read by every notify. */
	PR_CACHE_ALIGNED _Atomic uint32_t sleepers;
	/* Bumped by each notify that found sleepers; sleepers block on it
	 * (futex word). */
	_Atomic uint32_t epoch;
#ifndef __linux__
	pthread_mutex_t lock;
	pthread_cond_t cond;
#endif
};

int pr_sleep_init(struct pr_sleep *s);
void pr_sleep_destroy(struct pr_sleep *s);

uint32_t pr_sleep_prepare(struct pr_sleep *s);
void pr_sleep_cancel(struct pr_sleep *s);
void pr_sleep_wait(struct pr_sleep *s, uint32_t key);
/* Wakes one sleeper if there is any.  Call after publishing work. */
void pr_sleep_notify_slow(struct pr_sleep *s);
/* Wakes every sleeper (shutdown). */
void pr_sleep_notify_all(struct pr_sleep *s);

static inline void pr_sleep_notify(struct pr_sleep *s)
{
	/* Seq-cst fence: orders the publication of the work (a deque or
	 * injector store sequenced before this call) before the load of
	 * sleepers.  Pairs with the fence in pr_sleep_prepare: either the
	 * sleeper's re-check sees the work or this load sees the sleeper. */
	atomic_thread_fence(memory_order_seq_cst);
	if (pr_unlikely(atomic_load_explicit(&s->sleepers, memory_order_relaxed) != 0))
		pr_sleep_notify_slow(s);
}

#endif /* PR_IDLE_H */
