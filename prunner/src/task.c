/*
 * task.c - slab allocation of tasks and the batch exchange between caches
 * and their pool.  See task.h for the design.
 */
#include "task.h"

#include <errno.h>
#include <stdlib.h>

#include "fault.h"

/* Tasks per slab: one slab is 64 KiB. */
#define PR_TASKS_PER_SLAB 1024

int pr_task_pool_init(struct pr_task_pool *p)
{
	int rc = pthread_mutex_init(&p->lock, NULL);
	if (rc)
		return -rc;
	p->batches = NULL;
	p->slabs = NULL;
	p->nslabs = p->slabs_cap = 0;
	return 0;
}

void pr_task_pool_destroy(struct pr_task_pool *p)
{
	for (size_t i = 0; i < p->nslabs; i++)
		pr_free(p->slabs[i]);
	pr_free(p->slabs);
	p->slabs = NULL;
	p->nslabs = p->slabs_cap = 0;
	p->batches = NULL;
	PR_CHECK_PTHREAD(pthread_mutex_destroy(&p->lock));
}

/* Allocates a slab and returns its tasks as a list.  Pool lock held. */
static struct pr_task *slab_new_locked(struct pr_task_pool *p)
{
	if (p->nslabs == p->slabs_cap) {
		size_t cap = p->slabs_cap ? 2 * p->slabs_cap : 16;
		void **slabs = pr_realloc(p->slabs, cap * sizeof(*slabs));
		if (!slabs)
			return NULL;
		p->slabs = slabs;
		p->slabs_cap = cap;
	}
	struct pr_task *slab = pr_aligned_alloc(PR_CACHE_LINE, PR_TASKS_PER_SLAB * sizeof(struct pr_task));
	if (!slab)
		return NULL;
	p->slabs[p->nslabs++] = slab;
	for (int i = 0; i < PR_TASKS_PER_SLAB - 1; i++)
		slab[i].next = &slab[i + 1];
	slab[PR_TASKS_PER_SLAB - 1].next = NULL;
	return slab;
}

static uint32_t list_length(struct pr_task *t)
{
	uint32_t n = 0;
	for (; t; t = t->next)
		n++;
	return n;
}

int pr_task_cache_refill(struct pr_task_cache *c)
{
	struct pr_task_pool *p = c->pool;
	struct pr_task *list;
	uint32_t n;
	pr_mutex_lock(&p->lock);
	if (p->batches) {
		list = p->batches;
		p->batches = pr_task_heap(list);
		n = list->size; /* a batch head records the batch's length */
	} else {
		list = slab_new_locked(p);
		n = PR_TASKS_PER_SLAB;
	}
	pr_mutex_unlock(&p->lock);
	if (!list)
		return -ENOMEM;
	/* Append the cache's remaining tasks (usually none). */
	struct pr_task *last = list;
	while (last->next)
		last = last->next;
	last->next = c->free;
	c->free = list;
	c->count += n;
	return 0;
}

void pr_task_cache_spill(struct pr_task_cache *c)
{
	/* Detach the first PR_TASK_BATCH tasks as one batch. */
	struct pr_task *head = c->free, *last = head;
	for (int i = 1; i < PR_TASK_BATCH; i++)
		last = last->next;
	c->free = last->next;
	c->count -= PR_TASK_BATCH;
	last->next = NULL;
	head->size = PR_TASK_BATCH;

	struct pr_task_pool *p = c->pool;
	pr_mutex_lock(&p->lock);
	pr_task_set_heap(head, p->batches);
	p->batches = head;
	pr_mutex_unlock(&p->lock);
}

void pr_task_cache_flush(struct pr_task_cache *c)
{
	if (!c->free)
		return;
	struct pr_task *head = c->free;
	head->size = list_length(head);
	struct pr_task_pool *p = c->pool;
	pr_mutex_lock(&p->lock);
	pr_task_set_heap(head, p->batches);
	p->batches = head;
	pr_mutex_unlock(&p->lock);
	c->free = NULL;
	c->count = 0;
}

int pr_task_fill_payload(struct pr_task *t, const void *data, size_t size)
{
	if (size <= PRUNNER_INLINE_PAYLOAD) {
		t->flags = 0;
		if (size)
			memcpy(t->payload, data, size);
	} else {
		/* malloc returns memory aligned for max_align_t. */
		void *heap = pr_malloc(size);
		if (!heap)
			return -ENOMEM;
		memcpy(heap, data, size);
		t->flags = PR_TASK_HEAP;
		pr_task_set_heap(t, heap);
	}
	t->size = (uint32_t)size;
	return 0;
}
