/*
 * task.h - task objects and the caches they come from.
 *
 * A task is one cache line: the function, a link for intrusive lists, a
 * context pointer (its future or fork-join group), the payload size and
 * label, 24 bytes of inline payload aligned for any type, and flags.  Payloads larger than PRUNNER_INLINE_PAYLOAD live on the heap
 * and the inline area holds the pointer.
 *
 * Tasks are never freed one by one: they come from slabs owned by a pool
 * (one per runner), move between the pool and per-worker caches in batches,
 * and the slabs are freed with the pool.  The steady state therefore makes
 * no malloc per task: a worker allocates from and frees to its own cache,
 * touching the pool's lock only once per PR_TASK_BATCH tasks.
 */
#ifndef PR_TASK_H
#define PR_TASK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fault.h"
#include "prunner.h"
#include "util.h"

/* flags */
#define PR_TASK_HEAP 0x1     /* payload on the heap (payload.heap) */
#define PR_TASK_LABELLED 0x2 /* a prunner_queue_put task: run by the class */
#define PR_TASK_FUTURE 0x4   /* ctx is its future; the payload lives there */
#define PR_TASK_GROUP 0x8    /* ctx is the group it is a child of */

struct pr_task {
	prunner_task_fn fn;   /* what to run (NULL for labelled tasks) */
	struct pr_task *next; /* link in the injector, a cache or a batch */
	void *ctx;            /* the future or group of the task, if any */
	uint32_t size;        /* payload size in bytes */
	int32_t label;        /* label of a labelled task */
	/* At offset 32, aligned for any type: the inline payload, or the
	 * pointer to a heap payload (PR_TASK_HEAP; see pr_task_heap). */
	_Alignas(16) unsigned char payload[PRUNNER_INLINE_PAYLOAD];
	uint16_t flags;       /* PR_TASK_* */
	uint16_t reserved16;  /* room for priority and state bits */
	uint32_t reserved32;  /* room for a generation or a retry count */
};

_Static_assert(sizeof(struct pr_task) == 64, "a task is one cache line");
_Static_assert(offsetof(struct pr_task, payload) % _Alignof(max_align_t) == 0,
               "inline payload aligned for any type");

/* Tasks handed between a cache and the pool at a time. */
#define PR_TASK_BATCH 256

/* The shared pool: free batches and the slabs all tasks come from.
 * Every field is protected by `lock`. */
struct pr_task_pool {
	pthread_mutex_t lock;
	struct pr_task *batches; /* stack of full batches, linked by pr_task_heap() */
	void **slabs;            /* every slab allocated, freed with the pool */
	size_t nslabs, slabs_cap;
};

/* A cache: a LIFO free list used by one thread at a time (a worker, or
 * posters from outside the pool under the injector's lock). */
struct pr_task_cache {
	struct pr_task *free;
	uint32_t count;
	struct pr_task_pool *pool;
};

int pr_task_pool_init(struct pr_task_pool *p);
/* Frees every slab: every task ever allocated from the pool, wherever it is
 * (callers make sure no task is still in use). */
void pr_task_pool_destroy(struct pr_task_pool *p);

static inline void pr_task_cache_init(struct pr_task_cache *c, struct pr_task_pool *p)
{
	c->free = NULL;
	c->count = 0;
	c->pool = p;
}

/* Gives the cache's tasks back to its pool. */
void pr_task_cache_flush(struct pr_task_cache *c);

/* Slow paths of alloc and free. */
int pr_task_cache_refill(struct pr_task_cache *c);
void pr_task_cache_spill(struct pr_task_cache *c);

/* A task from the cache, with uninitialised fields; NULL on ENOMEM. */
static inline struct pr_task *pr_task_alloc(struct pr_task_cache *c)
{
	if (pr_unlikely(!c->free) && pr_task_cache_refill(c) != 0)
		return NULL;
	struct pr_task *t = c->free;
	c->free = t->next;
	c->count--;
	return t;
}

/* Returns a task (its heap payload already freed) to the cache. */
static inline void pr_task_free(struct pr_task_cache *c, struct pr_task *t)
{
	t->next = c->free;
	c->free = t;
	if (pr_unlikely(++c->count > 2 * PR_TASK_BATCH))
		pr_task_cache_spill(c);
}

/*
 * Fills a task's payload (copying `size` bytes of `data`) and sets its flags
 * to PR_TASK_HEAP or 0.  Returns 0, or -ENOMEM when a heap payload could not
 * be allocated (the task is then untouched and still the caller's).
 */
int pr_task_fill_payload(struct pr_task *t, const void *data, size_t size);

/* A pointer kept in the payload area (a heap payload, or a batch link). */
static inline void *pr_task_heap(const struct pr_task *t)
{
	void *p;
	memcpy(&p, t->payload, sizeof(p));
	return p;
}

static inline void pr_task_set_heap(struct pr_task *t, void *p)
{
	memcpy(t->payload, &p, sizeof(p));
}

/* The task's payload (NULL when size is 0). */
static inline void *pr_task_data(struct pr_task *t)
{
	if (t->size == 0)
		return NULL;
	return (t->flags & PR_TASK_HEAP) ? pr_task_heap(t) : (void *)t->payload;
}

/* Frees the heap payload, if any. */
static inline void pr_task_release_payload(struct pr_task *t)
{
	if (t->flags & PR_TASK_HEAP)
		pr_free(pr_task_heap(t));
}

#endif /* PR_TASK_H */
