/*
 * injector.c - the outside-posting FIFO.  See injector.h.
 */
#include "injector.h"

#include <errno.h>

int pr_injector_init(struct pr_injector *q, struct pr_task_pool *pool)
{
	int rc = pthread_mutex_init(&q->lock, NULL);
	if (rc)
		return -rc;
	q->head = q->tail = NULL;
	pr_task_cache_init(&q->cache, pool);
	atomic_init(&q->len, 0);
	return 0;
}

void pr_injector_destroy(struct pr_injector *q)
{
	for (struct pr_task *t = q->head; t; t = t->next)
		pr_task_release_payload(t);
	q->head = q->tail = NULL;
	atomic_store_explicit(&q->len, 0, memory_order_relaxed);
	/* The tasks themselves belong to the pool's slabs. */
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&q->lock));
}

struct pr_task *pr_injector_take(struct pr_injector *q, size_t max, size_t *n)
{
	*n = 0;
	if (!pr_injector_nonempty_hint(q))
		return NULL;
	pr_mutex_lock(&q->lock);
	struct pr_task *head = q->head, *last = NULL, *t = head;
	size_t k = 0;
	while (t && k < max) {
		last = t;
		t = t->next;
		k++;
	}
	if (k) {
		last->next = NULL;
		q->head = t;
		if (!t)
			q->tail = NULL;
		atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) - k,
		                      memory_order_relaxed);
	} else {
		head = NULL;
	}
	pr_mutex_unlock(&q->lock);
	*n = k;
	return head;
}
