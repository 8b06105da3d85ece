/*
 * deque.c - Chase-Lev work-stealing deque with C11 atomics.
 *
 * Indices top and bottom only grow (64-bit, so they never wrap in practice).
 * The elements live in [top, bottom).  The owner pushes at bottom and pops
 * at bottom - 1; thieves take top with a CAS.  When one element is left the
 * owner and the thieves race for it through the same CAS on top.
 *
 * Memory orders are those of Lê et al. (PPoPP 2013, fig. 1) with one change:
 * every store to bottom is a release store, where the paper has a release
 * fence before push's relaxed store and relaxed stores in pop.  A thief that
 * reads bottom with acquire may read a value written by pop (the decrement,
 * or the restore after it); with a release store there, it still
 * synchronises with the owner and sees the contents of every element it can
 * steal, without relying on release sequences.  On x86 a release store is a
 * plain mov, so this costs nothing there, and ThreadSanitizer, which does
 * not model fences, understands it.
 *
 * Slots are atomics accessed with relaxed order: a thief may read a slot
 * that the owner is overwriting after a wrap-around; it then loses the CAS
 * on top and discards the value, but the read must not be a data race.
 */
#include "deque.h"

#include <errno.h>
#include <stdlib.h>

#include "fault.h"

char pr_deque_abort_marker;

static struct pr_deque_array *array_new(int64_t cap)
{
	struct pr_deque_array *a = pr_malloc(sizeof(*a) + (size_t)cap * sizeof(a->slot[0]));
	if (!a)
		return NULL;
	a->mask = cap - 1;
	a->retired = NULL;
	for (int64_t i = 0; i < cap; i++)
		atomic_init(&a->slot[i], NULL);
	return a;
}

int pr_deque_init(struct pr_deque *q, unsigned log_cap)
{
	struct pr_deque_array *a = array_new((int64_t)1 << log_cap);
	if (!a)
		return -ENOMEM;
	atomic_init(&q->top, 0);
	atomic_init(&q->bottom, 0);
	q->top_cache = 0;
	atomic_init(&q->array, a);
	return 0;
}

void pr_deque_destroy(struct pr_deque *q)
{
	struct pr_deque_array *a = atomic_load_explicit(&q->array, memory_order_relaxed);
	while (a) {
		struct pr_deque_array *older = a->retired;
		pr_free(a);
		a = older;
	}
	atomic_store_explicit(&q->array, NULL, memory_order_relaxed);
}

/* Owner only: doubles the array, copying [t, b).  The old array stays
 * reachable from the new one's retired list (thieves may still read it). */
static struct pr_deque_array *grow(struct pr_deque *q, struct pr_deque_array *a, int64_t t, int64_t b)
{
	struct pr_deque_array *n = array_new(2 * (a->mask + 1));
	if (!n)
		return NULL;
	for (int64_t i = t; i < b; i++) {
		void *x = atomic_load_explicit(&a->slot[i & a->mask], memory_order_relaxed);
		atomic_store_explicit(&n->slot[i & n->mask], x, memory_order_relaxed);
	}
	n->retired = a;
	/* Release: a thief that acquires the new array sees the copied
	 * slots.  Pairs with the acquire load of array in steal. */
	atomic_store_explicit(&q->array, n, memory_order_release);
	return n;
}

int pr_deque_push(struct pr_deque *q, void *x)
{
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
	struct pr_deque_array *a = atomic_load_explicit(&q->array, memory_order_relaxed);
	if (pr_unlikely(b - q->top_cache > a->mask)) {
		/* Acquire pairs with the thieves' CAS on top: once we see
		 * that a thief advanced top past a slot, its read of that slot
		 * is done and the slot may be reused.  Every slot we reuse lies
		 * below a top value read here, so the stale bound in between
		 * is safe: it can only make the array look fuller. */
		int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
		q->top_cache = t;
		if (b - t > a->mask) {
			a = grow(q, a, t, b);
			if (!a)
				return -ENOMEM;
		}
	}
	atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
	/* Release: the element (and everything the owner wrote before pushing
	 * it, such as the task's payload) is visible to a thief that reads
	 * this bottom with acquire in steal. */
	atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
	return 0;
}

void *pr_deque_pop(struct pr_deque *q)
{
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed) - 1;
	struct pr_deque_array *a = atomic_load_explicit(&q->array, memory_order_relaxed);
	atomic_store_explicit(&q->bottom, b, memory_order_release);
	/* Seq-cst fence: the store of bottom above must be ordered before the
	 * load of top below (store-load ordering), against the thief's fence
	 * between its load of top and its load of bottom.  Otherwise owner
	 * and thief could both take the last element. */
	atomic_thread_fence(memory_order_seq_cst);
	int64_t t = atomic_load_explicit(&q->top, memory_order_relaxed);
	void *x;
	if (t <= b) {
		x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
		if (t == b) {
			/* The last element: race the thieves for it. */
			if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
			                                             memory_order_relaxed))
				x = NULL;
			atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
		}
	} else {
		x = NULL;
		atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
	}
	return x;
}

void *pr_deque_steal(struct pr_deque *q)
{
	/* Acquire on top pairs with other thieves' CAS. */
	int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
	/* Pairs with the fence in pop (see there). */
	atomic_thread_fence(memory_order_seq_cst);
	/* Acquire pairs with the release store of bottom in push. */
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_acquire);
	if (t >= b)
		return PR_DEQUE_EMPTY;
	/* Acquire pairs with the release store in grow.  (The paper uses
	 * consume, which compilers implement as acquire.) */
	struct pr_deque_array *a = atomic_load_explicit(&q->array, memory_order_acquire);
	void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
	                                             memory_order_relaxed))
		return PR_DEQUE_ABORT;
	return x;
}
