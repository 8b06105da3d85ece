/*
 * testutil_forkjoin.h - fork-join workloads shared by test_group.c and its
 * stress version test_slow2.c: fib with a task per call, and random
 * fork-join trees with a serial recursion of the same generator.  Task-side
 * code only: nothing here asserts, so it runs on workers.
 */
#ifndef PRUNNER_TESTUTIL_FORKJOIN_H
#define PRUNNER_TESTUTIL_FORKJOIN_H

#include "testutil.h"

struct fib_ctx {
	atomic_long calls;
	atomic_int bad;
	int n;
	int64_t result; /* written by the root task, read after the run */
};

struct fib_job {
	int n;
	int64_t *out;
	struct fib_ctx *c;
};

/* Each call with n >= 2 spawns both sub-calls into a group on its stack
 * and waits; the children write the parent's stack variables. */
static inline int fib_task(void *data)
{
	struct fib_job *j = data;
	atomic_fetch_add_explicit(&j->c->calls, 1, memory_order_relaxed);
	if (j->n < 2) {
		*j->out = j->n;
		return 0;
	}
	int64_t a = -1, b = -1;
	prunner_group_t g;
	struct fib_job ja = { j->n - 1, &a, j->c }, jb = { j->n - 2, &b, j->c };
	if (prunner_group_init(&g, NULL) != 0 || prunner_group_spawn(&g, fib_task, &ja, sizeof ja) != 0 ||
	    prunner_group_spawn(&g, fib_task, &jb, sizeof jb) != 0) {
		atomic_fetch_add(&j->c->bad, 1);
		return 1;
	}
	if (prunner_group_wait(&g) != 0)
		atomic_fetch_add(&j->c->bad, 1);
	*j->out = a + b;
	return 0;
}

static inline void fib_begin(prunner_t *r, void *arg)
{
	struct fib_ctx *c = arg;
	struct fib_job j = { c->n, &c->result, c };
	if (prunner_post(r, fib_task, &j, sizeof j) != 0)
		atomic_fetch_add(&c->bad, 1);
}

static inline long fib_calls(int n)
{
	return n < 2 ? 1 : 1 + fib_calls(n - 1) + fib_calls(n - 2);
}

/* Node `seed` at `depth`: value seed & 0xffff; 0-3 children below the
 * depth limit; fails (after doing its work) for about one node in 11.
 * Its result, written to the parent's slot, is its value plus its
 * children's results; its group wait must count exactly the failing
 * children. */
#define TREE_MAX_DEPTH 18

struct tree_ctx {
	atomic_long nodes;
	atomic_int bad, wrong_failed;
	int64_t sum;
};

struct tree_job {
	uint64_t seed;
	int depth;
	int64_t *out;
	struct tree_ctx *c;
};

static inline int tree_children(uint64_t seed, int depth)
{
	return depth >= TREE_MAX_DEPTH ? 0 : (int)((mix64(seed) >> 7) % 4);
}

static inline uint64_t tree_child_seed(uint64_t seed, int i)
{
	return mix64(seed * 4 + (uint64_t)i + 1);
}

static inline int tree_fails(uint64_t seed)
{
	return mix64(seed ^ 0xabcdefull) % 11 == 0;
}

static inline int tree_task(void *data)
{
	struct tree_job *j = data;
	struct tree_ctx *c = j->c;
	atomic_fetch_add_explicit(&c->nodes, 1, memory_order_relaxed);
	int k = tree_children(j->seed, j->depth);
	int64_t sums[3] = { -1, -1, -1 };
	int expect_failed = 0;
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 1;
	}
	for (int i = 0; i < k; i++) {
		struct tree_job cj = { tree_child_seed(j->seed, i), j->depth + 1, &sums[i], c };
		expect_failed += tree_fails(cj.seed);
		if (prunner_group_spawn(&g, tree_task, &cj, sizeof cj) != 0)
			atomic_fetch_add(&c->bad, 1);
	}
	int failed = prunner_group_wait(&g);
	if (failed != expect_failed)
		atomic_fetch_add(&c->wrong_failed, 1);
	int64_t s = (int64_t)(j->seed & 0xffff);
	for (int i = 0; i < k; i++)
		s += sums[i];
	*j->out = s;
	return tree_fails(j->seed);
}

static inline void tree_serial(uint64_t seed, int depth, int64_t *sum, long *nodes, int *fails)
{
	(*nodes)++;
	*fails += tree_fails(seed);
	*sum += (int64_t)(seed & 0xffff);
	int k = tree_children(seed, depth);
	for (int i = 0; i < k; i++)
		tree_serial(tree_child_seed(seed, i), depth + 1, sum, nodes, fails);
}

#endif /* PRUNNER_TESTUTIL_FORKJOIN_H */
