/*
 * test_injector.c - the outside-posting FIFO: order, batch taking, the
 * length hint, and several producers racing several consumers with every
 * task taken exactly once.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "injector.h"

START_TEST(test_fifo_batches)
{
	struct pr_task_pool pool;
	struct pr_injector q;
	ck_assert_int_eq(pr_task_pool_init(&pool), 0);
	ck_assert_int_eq(pr_injector_init(&q, &pool), 0);
	size_t n;
	ck_assert_ptr_null(pr_injector_take(&q, 10, &n));
	ck_assert_uint_eq(n, 0);
	pr_mutex_lock(&q.lock);
	for (int i = 0; i < 10; i++) {
		struct pr_task *t = pr_task_alloc(&q.cache);
		ck_assert_ptr_nonnull(t);
		t->label = i;
		t->flags = 0;
		pr_injector_push_locked(&q, t);
	}
	pr_mutex_unlock(&q.lock);
	ck_assert(pr_injector_nonempty_hint(&q));
	int expect = 0;
	for (size_t want = 1; expect < 10; want++) {
		struct pr_task *list = pr_injector_take(&q, want, &n);
		ck_assert_uint_eq(n, want < (size_t)(10 - expect) ? want : (size_t)(10 - expect));
		for (struct pr_task *t = list; t; t = t->next)
			ck_assert_int_eq(t->label, expect++);
	}
	ck_assert(!pr_injector_nonempty_hint(&q));
	ck_assert_ptr_null(pr_injector_take(&q, 10, &n));
	pr_injector_destroy(&q);
	pr_task_pool_destroy(&pool);
}
END_TEST

#define PRODUCERS 3
#define CONSUMERS 3
#define PER_PRODUCER 50000

struct shared {
	struct pr_injector q;
	_Atomic unsigned char *seen;
	atomic_int producers_left;
	_Atomic long taken;
};

struct producer {
	struct shared *sh;
	int id;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 0; i < PER_PRODUCER; i++) {
		pr_mutex_lock(&p->sh->q.lock);
		struct pr_task *t = pr_task_alloc(&p->sh->q.cache);
		if (t) {
			t->label = p->id * PER_PRODUCER + i;
			t->flags = 0;
			pr_injector_push_locked(&p->sh->q, t);
		}
		pr_mutex_unlock(&p->sh->q.lock);
	}
	atomic_fetch_sub(&p->sh->producers_left, 1);
	return NULL;
}

static void *consume(void *arg)
{
	struct shared *sh = arg;
	long taken = 0;
	for (;;) {
		bool last = atomic_load(&sh->producers_left) == 0;
		size_t n;
		struct pr_task *list = pr_injector_take(&sh->q, 7, &n);
		for (struct pr_task *t = list; t; t = t->next) {
			atomic_fetch_add(&sh->seen[t->label], 1);
			taken++;
		}
		if (!list && last)
			break;
	}
	atomic_fetch_add(&sh->taken, taken);
	return NULL;
}

START_TEST(test_concurrent_exactly_once)
{
	struct pr_task_pool pool;
	struct shared sh;
	ck_assert_int_eq(pr_task_pool_init(&pool), 0);
	ck_assert_int_eq(pr_injector_init(&sh.q, &pool), 0);
	sh.seen = calloc(PRODUCERS * PER_PRODUCER, 1);
	ck_assert_ptr_nonnull(sh.seen);
	atomic_init(&sh.producers_left, PRODUCERS);
	atomic_init(&sh.taken, 0);
	pthread_t pt[PRODUCERS], ct[CONSUMERS];
	struct producer ps[PRODUCERS];
	for (int i = 0; i < CONSUMERS; i++)
		ck_assert_int_eq(pthread_create(&ct[i], NULL, consume, &sh), 0);
	for (int i = 0; i < PRODUCERS; i++) {
		ps[i] = (struct producer){ &sh, i };
		ck_assert_int_eq(pthread_create(&pt[i], NULL, produce, &ps[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(pt[i], NULL);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(ct[i], NULL);
	ck_assert_int_eq(atomic_load(&sh.taken), PRODUCERS * PER_PRODUCER);
	for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++)
		ck_assert_int_eq(atomic_load(&sh.seen[i]), 1);
	free((void *)sh.seen);
	pr_injector_destroy(&sh.q);
	pr_task_pool_destroy(&pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("injector");
	TCase *tc = tcase_create("injector");
	tcase_add_test(tc, test_fifo_batches);
	tcase_add_test(tc, test_concurrent_exactly_once);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
