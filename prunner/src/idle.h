/*
 * idle.h - how idle workers sleep and get woken without losing a post.
 *
 * A set of sleepers under a mutex, with its size mirrored in an atomic
 * (see idle.c and docs/design.md, "Sleeping and waking"):
 *
 *   sleeper:  pr_sleep_prepare(s, me);       join the set, fence
 *             look for work once more;
 *             found -> pr_sleep_cancel(s, me);  else pr_sleep_wait(s, me);
 *   poster:   make the task visible; pr_sleep_notify(s);
 *
 * pr_sleep_notify costs one fence and one load when nobody sleeps: no
 * system call, no lock.  When somebody sleeps, it takes one sleeper out of
 * the set and signals it, so the next post sees one sleeper less at once
 * (no burst of wake-up calls while the woken thread gets scheduled).
 */
#ifndef PR_IDLE_H
#define PR_IDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* One per worker.  Every field is protected by the pr_sleep's lock. */
struct pr_sleeper {
	pthread_cond_t cond;
	struct pr_sleeper *next; /* in the set */
	bool in_set;
	/* Mirror of in_set, written under the lock, read without it by
	 * pr_sleep_wake (seq_cst; see there). */
	_Atomic bool in_set_hint;
};

struct pr_sleep {
	/* Number of sleepers in the set.  Changed under `lock` (seq_cst
	 * RMW), read without it by every notify. */
	PR_CACHE_ALIGNED _Atomic uint32_t nsleepers;
	pthread_mutex_t lock;
	struct pr_sleeper *head; /* the set, a stack (lock) */
};

int pr_sleep_init(struct pr_sleep *s);
void pr_sleep_destroy(struct pr_sleep *s);
int pr_sleeper_init(struct pr_sleeper *me);
void pr_sleeper_destroy(struct pr_sleeper *me);

void pr_sleep_prepare(struct pr_sleep *s, struct pr_sleeper *me);
/* Leaves the set if still in it.  True when somebody (a notify or a wake)
 * had taken `me` out already: its wake-up was spent on us. */
bool pr_sleep_cancel(struct pr_sleep *s, struct pr_sleeper *me);
void pr_sleep_wait(struct pr_sleep *s, struct pr_sleeper *me);
/* As pr_sleep_wait, but gives up at deadline_ns (CLOCK_MONOTONIC; < 0:
 * never), leaving the set.  0 when woken, -ETIMEDOUT. */
int pr_sleep_wait_until(struct pr_sleep *s, struct pr_sleeper *me, int64_t deadline_ns);
/* Wakes `me` if it is in the set (an awaited event happened). */
void pr_sleep_wake(struct pr_sleep *s, struct pr_sleeper *me);
/* Wakes one sleeper if there is any.  Call after publishing work. */
void pr_sleep_notify_slow(struct pr_sleep *s);
/* Wakes every sleeper (shutdown). */
void pr_sleep_notify_all(struct pr_sleep *s);

static inline void pr_sleep_notify(struct pr_sleep *s)
{
	/* Seq-cst fence: orders the publication of the work (a deque or
	 * injector store sequenced before this call) before the load of
	 * nsleepers.  Pairs with the fence in pr_sleep_prepare: either the
	 * sleeper's re-check sees the work or this load sees the sleeper. */
	atomic_thread_fence(memory_order_seq_cst);
	if (pr_unlikely(atomic_load_explicit(&s->nsleepers, memory_order_relaxed) != 0))
		pr_sleep_notify_slow(s);
}

#endif /* PR_IDLE_H */
