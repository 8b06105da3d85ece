/*
 * deque.h - the per-worker work-stealing deque (Chase-Lev).
 *
 * One owner thread pushes and pops at the bottom; any number of thieves
 * steal from the top.  The memory orders follow Lê, Pop, Cohen and Zappa
 * Nardelli, "Correct and Efficient Work-Stealing for Weak Memory Models"
 * (PPoPP 2013), figure 1, with one deliberate strengthening described in
 * deque.c.  The array grows when full; old arrays are kept until the deque
 * is destroyed, because a thief may still be reading one.
 */
#ifndef PR_DEQUE_H
#define PR_DEQUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct pr_deque_array {
	int64_t mask;                  /* capacity - 1; capacity is a power of two */
	struct pr_deque_array *retired; /* older arrays, owner only */
	_Atomic(void *) slot[];         /* elements, indexed modulo capacity */
};

struct pr_deque {
	/* Next index to steal.  Advanced by thieves' CAS and, for the last
	 * element, by the owner's CAS in pop. */
	PR_CACHE_ALIGNED _Atomic int64_t top;
	/* Next index to push.  Written only by the owner. */
	PR_CACHE_ALIGNED _Atomic int64_t bottom;
	/* Owner only: a value of top read earlier (top only grows, so it is a
	 * lower bound).  push re-reads top only when this bound says the
	 * array may be full, so a steady stream of pushes does not pull the
	 * line that thieves write into the owner's cache on every push. */
	int64_t top_cache;
	/* The current array.  Written only by the owner (when growing), read
	 * by thieves. */
	_Atomic(struct pr_deque_array *) array;
};

/* Steal result besides an element: the deque was empty, or the steal lost a
 * race and may be retried. */
#define PR_DEQUE_EMPTY NULL
extern char pr_deque_abort_marker;
#define PR_DEQUE_ABORT ((void *)&pr_deque_abort_marker)

/* Initialises an empty deque of 2^log_cap slots.  0 or -ENOMEM. */
int pr_deque_init(struct pr_deque *q, unsigned log_cap);

/* Frees the arrays.  No thread may use the deque any more. */
void pr_deque_destroy(struct pr_deque *q);

/* Owner only.  Pushes x (not NULL) at the bottom.  0, or -ENOMEM when the
 * deque was full and could not grow (x is then not in the deque). */
int pr_deque_push(struct pr_deque *q, void *x);

/* Owner only.  Pops the most recently pushed element, or NULL when empty. */
void *pr_deque_pop(struct pr_deque *q);

/* Any thread.  Steals the oldest element; returns it, PR_DEQUE_EMPTY, or
 * PR_DEQUE_ABORT when it lost a race with another thief or the owner. */
void *pr_deque_steal(struct pr_deque *q);

/* Any thread.  True when the deque looked non-empty at the time of the
 * call (a snapshot; the tests use it to check the deque is drained). */
static inline int pr_deque_nonempty_hint(struct pr_deque *q)
{
	/* Acquire on bottom pairs with the owner's release in push, so that a
	 * caller that sees the element will also see its contents. */
	int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_acquire);
	return b > t;
}

#endif /* PR_DEQUE_H */
