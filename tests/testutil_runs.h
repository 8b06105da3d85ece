/*
 * testutil_runs.h - workloads shared by test_runner.c and its stress
 * version test_slow.c: the random task-tree generator, the hooks and
 * tasks of the many-short-runs (lost-wakeup) check, and the long chain.  Task-side code only:
 * nothing here asserts, so it may run on workers.
 */
#ifndef PRUNNER_TESTUTIL_RUNS_H
#define PRUNNER_TESTUTIL_RUNS_H

#include <string.h>

#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Random task trees of test_runner.c / test_slow.c: node `seed` at `depth` */
/* has 0-3 children below max_depth; tree_expected counts the nodes.        */
/* ------------------------------------------------------------------------ */

#define TREE_ROOTS 16
#define TREE_SEED0 0x1234u

static inline unsigned tree_children(uint64_t seed, uint32_t depth, uint32_t max_depth)
{
	return depth >= max_depth ? 0 : (unsigned)(mix64(seed) >> 62);
}

static inline uint64_t tree_child_seed(uint64_t seed, unsigned k)
{
	return mix64(seed ^ (0x9e3779b97f4a7c15ull * (k + 1)));
}

static inline uint64_t tree_expected(uint64_t seed, uint32_t depth, uint32_t max_depth)
{
	uint64_t n = 1;
	unsigned c = tree_children(seed, depth, max_depth);
	for (unsigned k = 0; k < c; k++)
		n += tree_expected(tree_child_seed(seed, k), depth + 1, max_depth);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Many short runs in a row on one runner (lost-wakeup detector), as in     */
/* test_runner.c / test_slow.c: the hooks and tasks; the loop is the test's */
/* ------------------------------------------------------------------------ */

struct short_ctx {
	unsigned run;
	atomic_int ran;
	atomic_int post_err;
};

struct short_msg {
	struct short_ctx *c;
	prunner_t *r;
	int child;
};

static inline int short_task(void *data)
{
	struct short_msg *m = data;
	atomic_fetch_add_explicit(&m->c->ran, 1, memory_order_relaxed);
	if (m->child) {
		struct short_msg k = {m->c, m->r, 0};
		if (prunner_post(m->r, short_task, &k, sizeof k) != 0)
			atomic_fetch_add(&m->c->post_err, 1);
	}
	return 0;
}

/* Run i posts 1 + (i & 1) tasks from begin; every fifth run the first
 * task posts one more from its worker. */
static inline int short_expected(unsigned run)
{
	return 1 + (int)(run & 1) + (run % 5 == 0);
}

static inline void short_begin(prunner_t *r, void *arg)
{
	struct short_ctx *c = arg;
	int n = 1 + (int)(c->run & 1);
	for (int i = 0; i < n; i++) {
		struct short_msg m = {c, r, i == 0 && c->run % 5 == 0};
		if (prunner_post(r, short_task, &m, sizeof m) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
}

/* A chain of c->len links: each task posts the next.  The link counter is
 * a plain int: the post of link i happens-before link i+1 runs, so each
 * link must see the value the previous one wrote. */
struct chain_ctx {
	prunner_t *r;
	int64_t len;        /* links in the chain */
	int64_t plain_next; /* written by link i, read by link i+1 */
	atomic_int mismatch, post_err;
};

static inline int chain_task(void *data)
{
	struct chain_ctx *c;
	int64_t i;
	memcpy(&c, data, sizeof c);
	memcpy(&i, (char *)data + sizeof c, sizeof i);
	if (c->plain_next != i)
		atomic_fetch_add(&c->mismatch, 1);
	c->plain_next = i + 1;
	if (i + 1 < c->len) {
		unsigned char buf[sizeof c + sizeof i];
		int64_t n = i + 1;
		memcpy(buf, &c, sizeof c);
		memcpy(buf + sizeof c, &n, sizeof n);
		if (prunner_post(c->r, chain_task, buf, sizeof buf) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
	return 0;
}

static inline void chain_begin(prunner_t *r, void *arg)
{
	struct chain_ctx *c = arg;
	unsigned char buf[sizeof c + sizeof(int64_t)];
	int64_t zero = 0;
	memcpy(buf, &c, sizeof c);
	memcpy(buf + sizeof c, &zero, sizeof zero);
	if (prunner_post(r, chain_task, buf, sizeof buf) != 0)
		atomic_fetch_add(&c->post_err, 1);
}

#endif /* PRUNNER_TESTUTIL_RUNS_H */
