/*
 * test_deque.c - the Chase-Lev deque alone: sequential semantics, growth,
 * and a multi-threaded torture in which one owner pushes and pops while
 * thieves steal, and every item must be taken exactly once.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "deque.h"

/* Items are small integers disguised as pointers (never NULL). */
#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((size_t)(uintptr_t)(p) - 1)

START_TEST(test_lifo_owner_fifo_thief)
{
	struct pr_deque q;
	ck_assert_int_eq(pr_deque_init(&q, 2), 0);
	ck_assert_ptr_null(pr_deque_pop(&q));
	ck_assert_ptr_eq(pr_deque_steal(&q), PR_DEQUE_EMPTY);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pr_deque_push(&q, ITEM(i)), 0);
	ck_assert_ptr_eq(pr_deque_steal(&q), ITEM(0)); /* oldest */
	ck_assert_ptr_eq(pr_deque_pop(&q), ITEM(2));   /* newest */
	ck_assert_ptr_eq(pr_deque_pop(&q), ITEM(1));
	ck_assert_ptr_null(pr_deque_pop(&q));
	ck_assert_ptr_eq(pr_deque_steal(&q), PR_DEQUE_EMPTY);
	ck_assert(!pr_deque_nonempty_hint(&q));
	pr_deque_destroy(&q);
}
END_TEST

START_TEST(test_growth_keeps_order)
{
	struct pr_deque q;
	ck_assert_int_eq(pr_deque_init(&q, 1), 0); /* 2 slots: grows many times */
	const int n = 10000;
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(pr_deque_push(&q, ITEM(i)), 0);
	/* Steal the first half in order, pop the rest in reverse. */
	for (int i = 0; i < n / 2; i++)
		ck_assert_ptr_eq(pr_deque_steal(&q), ITEM(i));
	for (int i = n - 1; i >= n / 2; i--)
		ck_assert_ptr_eq(pr_deque_pop(&q), ITEM(i));
	ck_assert_ptr_null(pr_deque_pop(&q));
	pr_deque_destroy(&q);
}
END_TEST

START_TEST(test_wraparound)
{
	struct pr_deque q;
	ck_assert_int_eq(pr_deque_init(&q, 3), 0); /* 8 slots */
	/* Indices run far past the capacity without growing. */
	for (int round = 0; round < 1000; round++) {
		for (int i = 0; i < 6; i++)
			ck_assert_int_eq(pr_deque_push(&q, ITEM(round * 6 + i)), 0);
		for (int i = 0; i < 3; i++)
			ck_assert_ptr_eq(pr_deque_steal(&q), ITEM(round * 6 + i));
		for (int i = 5; i >= 3; i--)
			ck_assert_ptr_eq(pr_deque_pop(&q), ITEM(round * 6 + i));
	}
	ck_assert_int_eq((int)(atomic_load(&q.array)->mask), 7);
	pr_deque_destroy(&q);
}
END_TEST

/* --- Torture: one owner, several thieves. --------------------------------- */

#define TORTURE_ITEMS 400000

struct torture {
	struct pr_deque q;
	_Atomic unsigned char *seen; /* times each item was taken */
	atomic_bool owner_done;
	_Atomic size_t stolen;
	_Atomic size_t aborts;
};

static void take(struct torture *t, void *x)
{
	atomic_fetch_add_explicit(&t->seen[INDEX(x)], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
	struct torture *t = arg;
	size_t stolen = 0, aborts = 0;
	for (;;) {
		/* Read the flag before trying: once the owner is done and the
		 * deque is empty, it stays empty. */
		bool done = atomic_load_explicit(&t->owner_done, memory_order_acquire);
		void *x = pr_deque_steal(&t->q);
		if (x == PR_DEQUE_ABORT) {
			aborts++;
		} else if (x != PR_DEQUE_EMPTY) {
			take(t, x);
			stolen++;
		} else if (done) {
			break;
		} else {
			sched_yield(); /* let the owner run on a small machine */
		}
	}
	atomic_fetch_add(&t->stolen, stolen);
	atomic_fetch_add(&t->aborts, aborts);
	return NULL;
}

static void run_torture(int nthieves, unsigned log_cap)
{
	struct torture t;
	ck_assert_int_eq(pr_deque_init(&t.q, log_cap), 0);
	t.seen = calloc(TORTURE_ITEMS, 1);
	ck_assert_ptr_nonnull(t.seen);
	atomic_init(&t.owner_done, false);
	atomic_init(&t.stolen, 0);
	atomic_init(&t.aborts, 0);

	pthread_t th[16];
	for (int i = 0; i < nthieves; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, thief, &t), 0);

	/* The owner pushes in bursts of varying size and pops some of each
	 * burst, so that the last-element race happens often. */
	uint64_t rng = 12345;
	size_t next = 0, popped = 0;
	while (next < TORTURE_ITEMS) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		size_t burst = 1 + rng % 64, pops = rng % (burst + 1);
		for (size_t i = 0; i < burst && next < TORTURE_ITEMS; i++)
			ck_assert_int_eq(pr_deque_push(&t.q, ITEM(next++)), 0);
		for (size_t i = 0; i < pops; i++) {
			void *x = pr_deque_pop(&t.q);
			if (!x)
				break;
			take(&t, x);
			popped++;
		}
	}
	for (void *x; (x = pr_deque_pop(&t.q));) {
		take(&t, x);
		popped++;
	}
	atomic_store_explicit(&t.owner_done, true, memory_order_release);
	for (int i = 0; i < nthieves; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);

	size_t missing = 0, twice = 0;
	for (size_t i = 0; i < TORTURE_ITEMS; i++) {
		unsigned char n = atomic_load(&t.seen[i]);
		missing += n == 0;
		twice += n > 1;
	}
	ck_assert_uint_eq(missing, 0);
	ck_assert_uint_eq(twice, 0);
	ck_assert_uint_eq(popped + atomic_load(&t.stolen), TORTURE_ITEMS);
	free((void *)t.seen);
	pr_deque_destroy(&t.q);
}

static const int thief_counts[] = { 1, 2, 3, 7 };

START_TEST(test_torture)
{
	run_torture(thief_counts[_i], 10);
}
END_TEST

START_TEST(test_torture_growing)
{
	/* A 2-slot start: the array grows while thieves read it. */
	run_torture(thief_counts[_i], 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deque");
	TCase *tc = tcase_create("sequential");
	tcase_add_test(tc, test_lifo_owner_fifo_thief);
	tcase_add_test(tc, test_growth_keeps_order);
	tcase_add_test(tc, test_wraparound);
	suite_add_tcase(s, tc);
	tc = tcase_create("torture");
	tcase_add_loop_test(tc, test_torture, 0, 4);
	tcase_add_loop_test(tc, test_torture_growing, 0, 4);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
