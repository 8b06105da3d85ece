/*
 * test_task.c - task objects and caches: payload storage (inline and heap,
 * alignment, copies), and the batch exchange between caches and the pool
 * (every task handed out is distinct; tasks freed by one cache are reused
 * by another; nothing is allocated in the steady state).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

START_TEST(test_inline_and_heap_payloads)
{
	struct pr_task_pool pool;
	ck_assert_int_eq(pr_task_pool_init(&pool), 0);
	struct pr_task_cache c;
	pr_task_cache_init(&c, &pool);
	static const size_t sizes[] = { 0, 1, 7, 16, 31, 32, 33, 100, 4096, PRUNNER_MAX_PAYLOAD };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k];
		unsigned char *src = malloc(size + 1), *expect = malloc(size + 1);
		ck_assert_ptr_nonnull(src);
		ck_assert_ptr_nonnull(expect);
		for (size_t i = 0; i < size; i++)
			src[i] = expect[i] = (unsigned char)(i * 31 + k);
		struct pr_task *t = pr_task_alloc(&c);
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(pr_task_fill_payload(t, src, size), 0);
		ck_assert_int_eq(!!(t->flags & PR_TASK_HEAP), size > PRUNNER_INLINE_PAYLOAD);
		memset(src, 0xAA, size); /* the task has its own copy */
		unsigned char *data = pr_task_data(t);
		if (size == 0) {
			ck_assert_ptr_null(data);
		} else {
			ck_assert_uint_eq((uintptr_t)data % _Alignof(max_align_t), 0);
			ck_assert_int_eq(memcmp(data, expect, size), 0);
		}
		pr_task_release_payload(t);
		pr_task_free(&c, t);
		free(src);
		free(expect);
	}
	pr_task_cache_flush(&c);
	pr_task_pool_destroy(&pool);
}
END_TEST

START_TEST(test_tasks_distinct_and_recycled)
{
	struct pr_task_pool pool;
	ck_assert_int_eq(pr_task_pool_init(&pool), 0);
	struct pr_task_cache a, b;
	pr_task_cache_init(&a, &pool);
	pr_task_cache_init(&b, &pool);

	/* Allocate many from a, free them all into b (a producer/consumer
	 * imbalance): b spills batches to the pool, a refills from them. */
	enum { N = 5000 };
	struct pr_task **ts = malloc(N * sizeof(*ts));
	ck_assert_ptr_nonnull(ts);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++) {
			ts[i] = pr_task_alloc(&a);
			ck_assert_ptr_nonnull(ts[i]);
			ck_assert_uint_eq((uintptr_t)ts[i] % 64, 0);
			ts[i]->label = i; /* mark, to detect a task handed out twice */
		}
		for (int i = 0; i < N; i++)
			ck_assert_int_eq(ts[i]->label, i);
		for (int i = 0; i < N; i++)
			pr_task_free(&b, ts[i]);
		ck_assert_uint_le(b.count, 2 * PR_TASK_BATCH);
	}
	/* After the first round, the pool serves a's refills from b's spills:
	 * the slab count stays what the first round needed. */
	size_t slabs = pool.nslabs;
	for (int i = 0; i < N; i++)
		ts[i] = pr_task_alloc(&a);
	for (int i = 0; i < N; i++)
		pr_task_free(&b, ts[i]);
	ck_assert_uint_eq(pool.nslabs, slabs);
	ck_assert_uint_le(slabs, (N + 2 * PR_TASK_BATCH) / 1024 + 2);
	free(ts);
	pr_task_cache_flush(&a);
	pr_task_cache_flush(&b);
	pr_task_pool_destroy(&pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("task");
	TCase *tc = tcase_create("task");
	tcase_add_test(tc, test_inline_and_heap_payloads);
	tcase_add_test(tc, test_tasks_distinct_and_recycled);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
