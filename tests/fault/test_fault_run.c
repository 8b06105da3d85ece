/*
 * test_fault_run.c - fault walks over starting things: prunner_new +
 * prunner_run of a small task tree (1, 2 and 8 workers), the module API
 * (prunner_init + prunner_start), and the executor (prunner_open, posts,
 * prunner_close).  Kinds: allocation and thread creation, each once and
 * persistent (walk.h).
 *
 * For every N: a call that fails returns the documented error (-ENOMEM for
 * an allocation, -EAGAIN for a thread) and has no effect (a run that
 * failed to start called no hook and started no task; its threads are
 * joined); a run that started despite failing posts inside it runs exactly
 * the tasks whose post returned 0 (counted by the tasks themselves); a
 * retry without the fault runs the whole tree; and after prunner_free
 * nothing of the library is left (walk.h: check_clean).
 *
 * Assertions only on the test thread: tasks and hooks count in atomics.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fault.h"
#include "prunner.h"
#include "walk.h"

static const int WORKERS[] = {1, 2, 8};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))

/* The object API's walks also run under the counter detector, whose
 * error paths (giving back `pending`) differ. */
struct cfg {
	int workers;
	enum prunner_termination mode;
};

static const struct cfg CFGS[] = {
    {1, PRUNNER_TERMINATION_FLAGS},   {2, PRUNNER_TERMINATION_FLAGS},   {8, PRUNNER_TERMINATION_FLAGS},
    {1, PRUNNER_TERMINATION_COUNTER}, {2, PRUNNER_TERMINATION_COUNTER}, {8, PRUNNER_TERMINATION_COUNTER},
};
#define N_CFGS ((int)(sizeof CFGS / sizeof CFGS[0]))

static void cfg_name(char *buf, size_t size, const char *what, const struct cfg *c)
{
	snprintf(buf, size, "%s, %d w, %s", what, c->workers,
	         c->mode == PRUNNER_TERMINATION_FLAGS ? "flags" : "counter");
}

/* ------------------------------------------------------------------------ */
/* The task tree                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Begin posts two roots; every node above the leaves posts two children,
 * one with an inline payload and one with a heap payload (so the payload
 * allocation is a fault site too).  Every post is counted by its poster:
 * accepted (returned 0) or failed (and with which error).  The tasks count
 * themselves in `executed`.
 */
#define TREE_DEPTH 3
#define TREE_TASKS (2 * ((1 << (TREE_DEPTH + 1)) - 1))

struct tree {
	atomic_long executed, accepted, failed, bad_rc;
	atomic_int begins, ends;
};

struct node {
	struct tree *t;
	int depth;
};

struct big_node {
	struct node n;
	char pad[40]; /* > PRUNNER_INLINE_PAYLOAD in all */
};

_Static_assert(sizeof(struct node) <= PRUNNER_INLINE_PAYLOAD, "inline payload");
_Static_assert(sizeof(struct big_node) > PRUNNER_INLINE_PAYLOAD, "heap payload");

static void count_post(struct tree *t, int rc)
{
	if (rc == 0) {
		atomic_fetch_add(&t->accepted, 1);
	} else {
		atomic_fetch_add(&t->failed, 1);
		if (rc != -ENOMEM)
			atomic_fetch_add(&t->bad_rc, 1);
	}
}

static int node_fn(void *data);

/* Posts a node to `r` (NULL: through the module API). */
static void post_node(prunner_t *r, struct tree *t, int depth, bool big)
{
	struct big_node b;
	memset(&b, 0, sizeof b);
	b.n.t = t;
	b.n.depth = depth;
	size_t size = big ? sizeof b : sizeof b.n;
	int rc = r ? prunner_post(r, node_fn, &b, size) : prunner_post_task(node_fn, &b, size);
	count_post(t, rc);
}

static bool use_module_api; /* set before a run, read by its tasks */

static int node_fn(void *data)
{
	struct node *nd = data;
	atomic_fetch_add(&nd->t->executed, 1);
	if (nd->depth < TREE_DEPTH) {
		prunner_t *r = use_module_api ? NULL : prunner_current();
		post_node(r, nd->t, nd->depth + 1, false);
		post_node(r, nd->t, nd->depth + 1, true);
	}
	return 0;
}

static void tree_begin(prunner_t *r, void *arg)
{
	struct tree *t = arg;
	atomic_fetch_add(&t->begins, 1);
	post_node(r, t, 0, false);
	post_node(r, t, 0, true);
}

static void tree_end(prunner_t *r, void *arg)
{
	(void)r;
	struct tree *t = arg;
	atomic_fetch_add(&t->ends, 1);
}

static void tree_reset(struct tree *t)
{
	atomic_store(&t->executed, 0);
	atomic_store(&t->accepted, 0);
	atomic_store(&t->failed, 0);
	atomic_store(&t->bad_rc, 0);
	atomic_store(&t->begins, 0);
	atomic_store(&t->ends, 0);
}

/*
 * After a run (or an executor's close) that returned: exactly the accepted
 * tasks ran, every failed post said -ENOMEM, and without a fault the whole
 * tree ran.  With `r`, the run's statistics say the same.
 */
static void check_tree(const struct walk *w, prunner_t *r, struct tree *t, bool fired)
{
	long ex = atomic_load(&t->executed), acc = atomic_load(&t->accepted),
	     failed = atomic_load(&t->failed);
	ck_assert_msg(atomic_load(&t->bad_rc) == 0, "%s N=%" PRIu64 ": a post failed with another error",
	              w->name, w->n);
	ck_assert_msg(ex == acc, "%s N=%" PRIu64 ": %ld tasks ran, %ld posts accepted", w->name, w->n, ex,
	              acc);
	if (!fired)
		ck_assert_msg(ex == TREE_TASKS && failed == 0,
		              "%s N=%" PRIu64 ": %ld tasks ran, %ld posts failed", w->name, w->n, ex, failed);
	if (failed > 0)
		ck_assert_msg(fired, "%s N=%" PRIu64 ": posts failed without a fault", w->name, w->n);
	if (r) {
		struct prunner_stats st;
		ck_assert_int_eq(prunner_get_stats(r, &st), 0);
		ck_assert_msg(st.executed == (uint64_t)ex && st.posted == (uint64_t)acc && st.failed == 0,
		              "%s N=%" PRIu64 ": stats executed %" PRIu64 " posted %" PRIu64
		              ", tasks %ld / %ld",
		              w->name, w->n, st.executed, st.posted, ex, acc);
	}
}

/* ------------------------------------------------------------------------ */
/* prunner_new + prunner_run                                                */
/* ------------------------------------------------------------------------ */

/*
 * Arms the walk's fault, then makes a runner configured as c says.  If
 * prunner_new is the call that fails, it must fail with -ENOMEM and no
 * effect; the fault is then spent (*fired), and a retry without it makes
 * the runner, so the rest of the step runs unfaulted (a larger N walks
 * it).  Otherwise the fault stays armed for the caller's operation.
 */
static prunner_t *new_runner_armed(struct walk *w, const struct cfg *c, bool *fired)
{
	walk_arm(w->kind, w->n, w->persistent);
	prunner_t *r = NULL;
	int rc = prunner_new(&r);
	if (rc != 0) {
		*fired = walk_disarm(w->kind);
		ck_assert_msg(*fired, "prunner_new failed without a fault: %d", rc);
		ck_assert_int_eq(rc, -ENOMEM);
		ck_assert_ptr_null(r);
		ck_assert_int_eq(prunner_new(&r), 0); /* retry */
	}
	ck_assert_int_eq(prunner_set_workers(r, c->workers), 0);
	ck_assert_int_eq(prunner_set_termination(r, c->mode), 0);
	return r;
}

static bool step_run(struct walk *w)
{
	const struct cfg *c = w->arg;
	struct tree t;
	tree_reset(&t);
	use_module_api = false;

	bool fired = false;
	prunner_t *r = new_runner_armed(w, c, &fired);
	ck_assert_int_eq(prunner_set_hooks(r, tree_begin, tree_end, &t), 0);
	int rc = prunner_run(r);
	fired = walk_disarm(w->kind) || fired;
	if (rc < 0) {
		/* The run did not start: no hook, no task, no thread left. */
		ck_assert_msg(fired, "%s: prunner_run failed without a fault: %d", w->name, rc);
		ck_assert_int_eq(rc, walk_errno(w->kind));
		ck_assert_int_eq(atomic_load(&t.begins), 0);
		ck_assert_int_eq(atomic_load(&t.ends), 0);
		ck_assert_int_eq(atomic_load(&t.executed), 0);
		check_threads_joined(w->name, w->n);
	} else {
		ck_assert_int_eq(rc, 0); /* no task fails */
		ck_assert_int_eq(atomic_load(&t.begins), 1);
		ck_assert_int_eq(atomic_load(&t.ends), 1);
		check_tree(w, r, &t, fired);
	}

	/* Retry on the same runner, without the fault: the whole tree. */
	tree_reset(&t);
	ck_assert_int_eq(prunner_run(r), 0);
	check_tree(w, r, &t, false);
	prunner_free(r);
	return fired;
}

START_TEST(test_run_alloc)
{
	char name[64];
	cfg_name(name, sizeof name, "run tree", &CFGS[_i]);
	uint64_t sites = walk_both(name, step_run, (void *)&CFGS[_i], PR_FAULT_ALLOC);
	/* At least: the runner, its dict, the workers array, one worker. */
	ck_assert_uint_ge(sites, 4);
}
END_TEST

START_TEST(test_run_thread)
{
	char name[64];
	cfg_name(name, sizeof name, "run tree", &CFGS[_i]);
	uint64_t sites = walk_both(name, step_run, (void *)&CFGS[_i], PR_FAULT_THREAD);
	ck_assert_uint_eq(sites, (uint64_t)CFGS[_i].workers); /* one pthread_create per worker */
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The module API: prunner_init + prunner_start                             */
/* ------------------------------------------------------------------------ */

static struct tree module_tree; /* the module API's hooks take no argument */

static void module_begin(void)
{
	tree_begin(NULL, &module_tree);
}

static void module_end(void)
{
	tree_end(NULL, &module_tree);
}

static bool step_module(struct walk *w)
{
	int workers = *(const int *)w->arg;
	tree_reset(&module_tree);
	use_module_api = true;
	bool fired = false;

	walk_arm(w->kind, w->n, w->persistent);
	int rc = prunner_init(workers, false, module_begin, module_end);
	if (rc != 0) {
		fired = walk_disarm(w->kind);
		ck_assert_msg(fired, "prunner_init failed without a fault: %d", rc);
		ck_assert_int_eq(rc, -ENOMEM);
		ck_assert_ptr_null(prunner_get_dict()); /* no runner was installed */
		ck_assert_int_eq(prunner_start(), -EINVAL);
		ck_assert_int_eq(prunner_init(workers, false, module_begin, module_end), 0);
	}
	rc = prunner_start();
	fired = walk_disarm(w->kind) || fired;
	if (rc < 0) {
		ck_assert_msg(fired, "prunner_start failed without a fault: %d", rc);
		ck_assert_int_eq(rc, walk_errno(w->kind));
		ck_assert_int_eq(atomic_load(&module_tree.begins), 0);
		ck_assert_int_eq(atomic_load(&module_tree.executed), 0);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(atomic_load(&module_tree.ends), 1);
		check_tree(w, NULL, &module_tree, fired);
	}
	/* prunner_start joins its workers, whether or not it ran. */
	check_threads_joined(w->name, w->n);

	tree_reset(&module_tree);
	ck_assert_int_eq(prunner_start(), 0);
	check_tree(w, NULL, &module_tree, false);
	check_threads_joined(w->name, w->n);
	prunner_cleanup();
	return fired;
}

START_TEST(test_module_alloc)
{
	char name[64];
	snprintf(name, sizeof name, "init+start, %d w", WORKERS[_i]);
	ck_assert_uint_ge(walk_both(name, step_module, (void *)&WORKERS[_i], PR_FAULT_ALLOC), 4);
}
END_TEST

START_TEST(test_module_thread)
{
	char name[64];
	snprintf(name, sizeof name, "init+start, %d w", WORKERS[_i]);
	ck_assert_uint_eq(walk_both(name, step_module, (void *)&WORKERS[_i], PR_FAULT_THREAD),
	                  (uint64_t)WORKERS[_i]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The executor: prunner_open, posts from the test thread, prunner_close    */
/* ------------------------------------------------------------------------ */

static bool step_executor(struct walk *w)
{
	const struct cfg *c = w->arg;
	struct tree t;
	tree_reset(&t);
	use_module_api = false;
	bool fired = false;
	prunner_t *r = new_runner_armed(w, c, &fired);
	int rc = prunner_open(r);
	if (rc != 0) {
		fired = walk_disarm(w->kind) || fired;
		ck_assert_msg(fired, "prunner_open failed without a fault: %d", rc);
		ck_assert_int_eq(rc, walk_errno(w->kind));
		check_threads_joined(w->name, w->n);
		/* Failed: not open, so posts are refused, and it can be retried. */
		ck_assert_int_eq(prunner_post(r, node_fn, &(struct node){&t, 0}, sizeof(struct node)),
		                 PRUNNER_ENORUN);
		ck_assert_int_eq(prunner_open(r), 0);
	}
	/* Roots from the test thread (outside the pool), then drain. */
	for (int i = 0; i < 2; i++)
		post_node(r, &t, 0, i == 1);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	fired = walk_disarm(w->kind) || fired;
	/* Two roots: the tree of check_tree. */
	check_tree(w, r, &t, fired);

	tree_reset(&t);
	ck_assert_int_eq(prunner_open(r), 0);
	post_node(r, &t, 0, false);
	post_node(r, &t, 0, true);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	check_tree(w, r, &t, false);
	prunner_free(r);
	return fired;
}

START_TEST(test_executor_alloc)
{
	char name[64];
	cfg_name(name, sizeof name, "open+post+close", &CFGS[_i]);
	ck_assert_uint_ge(walk_both(name, step_executor, (void *)&CFGS[_i], PR_FAULT_ALLOC), 4);
}
END_TEST

START_TEST(test_executor_thread)
{
	char name[64];
	cfg_name(name, sizeof name, "open+post+close", &CFGS[_i]);
	ck_assert_uint_eq(walk_both(name, step_executor, (void *)&CFGS[_i], PR_FAULT_THREAD),
	                  (uint64_t)CFGS[_i].workers);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A pool re-created with another size, and a half-started pool             */
/* ------------------------------------------------------------------------ */

/*
 * A runner that ran with 2 workers is asked for 8: the next run stops the
 * old pool and starts the new one.  Thread creation fails part-way: the
 * run fails with -EAGAIN, every thread (old and new) is joined, and a
 * later run starts 8 workers and runs the tree.
 */
START_TEST(test_resize_thread)
{
	struct walk_base b = walk_base_take();
	for (uint64_t n = 1; n <= 8; n++) {
		struct walk w = {"resize 2 -> 8 workers", PR_FAULT_THREAD, false, n, NULL};
		struct tree t;
		tree_reset(&t);
		use_module_api = false;
		prunner_t *r = NULL;
		ck_assert_int_eq(prunner_new(&r), 0);
		ck_assert_int_eq(prunner_set_workers(r, 2), 0);
		ck_assert_int_eq(prunner_set_hooks(r, tree_begin, tree_end, &t), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		check_tree(&w, r, &t, false);
		ck_assert_int_eq(prunner_set_workers(r, 8), 0);
		tree_reset(&t);
		walk_arm(PR_FAULT_THREAD, n, false);
		ck_assert_int_eq(prunner_run(r), -EAGAIN);
		ck_assert(walk_disarm(PR_FAULT_THREAD));
		check_threads_joined(w.name, n);
		ck_assert_int_eq(atomic_load(&t.begins), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		check_tree(&w, r, &t, false);
		struct prunner_stats st;
		ck_assert_int_eq(prunner_get_stats(r, &st), 0);
		ck_assert_int_eq(st.workers, 8);
		prunner_free(r);
		check_clean(&b, w.name, n);
	}
}
END_TEST

static Suite *fault_run_suite(void)
{
	Suite *s = suite_create("fault_run");
	TCase *tc = tcase_create("walks");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_run_alloc, 0, N_CFGS);
	tcase_add_loop_test(tc, test_run_thread, 0, N_CFGS);
	tcase_add_loop_test(tc, test_module_alloc, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_module_thread, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_executor_alloc, 0, N_CFGS);
	tcase_add_loop_test(tc, test_executor_thread, 0, N_CFGS);
	tcase_add_test(tc, test_resize_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_run_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
