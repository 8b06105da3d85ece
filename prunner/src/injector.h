/*
 * injector.h - the queue for tasks posted from outside the worker pool
 * (the begin hook, or any thread of the program).
 *
 * A FIFO of tasks linked through task->next, protected by one mutex.  Idle
 * workers take tasks in batches (a share of the queue) and push them onto
 * their own deque, where other workers can steal them, so the lock is taken
 * once per batch on the consuming side.  `len` mirrors the length so that a
 * worker can see an empty injector without taking the lock.
 *
 * The injector also owns the task cache that outside posters allocate from;
 * it is protected by the same lock.
 */
#ifndef PR_INJECTOR_H
#define PR_INJECTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "task.h"
#include "util.h"

struct pr_injector {
	pthread_mutex_t lock;
	struct pr_task *head, *tail; /* protected by lock */
	struct pr_task_cache cache;  /* protected by lock */
	/* Number of queued tasks.  Written under lock; read without it as a
	 * hint (and, with seq_cst, by the sleep protocol: see idle.c). */
	PR_CACHE_ALIGNED _Atomic size_t len;
};

int pr_injector_init(struct pr_injector *q, struct pr_task_pool *pool);
/* Releases queued tasks' payloads (they never ran) and the cache. */
void pr_injector_destroy(struct pr_injector *q);

/* Appends t.  Lock held by the caller. */
static inline void pr_injector_push_locked(struct pr_injector *q, struct pr_task *t)
{
	t->next = NULL;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) + 1,
	                      memory_order_seq_cst);
}

/*
 * Takes up to `max` tasks from the front, returned as a list linked by
 * next in FIFO order, with their number in *n.  NULL when empty.
 */
struct pr_task *pr_injector_take(struct pr_injector *q, size_t max, size_t *n);

/* True when the injector looked non-empty. */
static inline int pr_injector_nonempty_hint(struct pr_injector *q)
{
	return atomic_load_explicit(&q->len, memory_order_seq_cst) != 0;
}

#endif /* PR_INJECTOR_H */
