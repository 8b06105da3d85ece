/*
 * test_runner.c - behaviour of the object API (prunner_new / prunner_post /
 * prunner_run): payload copies, exact totals of generated workloads under
 * both termination detectors, failure counts, many short runs (lost
 * wakeups), runner reuse, several runners at once, posts from program
 * threads, prunner_current / prunner_worker_index, the global lock.
 *
 * Rules: ck_assert only on the test's own thread.  Tasks, hooks and helper
 * threads record into atomics or per-task / per-worker slots; the test
 * thread asserts after prunner_run() returned.  Nothing sleeps and nothing
 * is timed: every check is an exact count or value.  Where a run must stay
 * active while another thread acts, a "gate" task spins on an atomic flag
 * (acquire loads + sched_yield) until that thread has finished.
 *
 * Per-worker counters are plain (non-atomic) integers written only by the
 * worker whose prunner_worker_index() selects them and read by the end hook
 * and the test thread: under ThreadSanitizer this also checks that the run's
 * end happens-after every task (as the header promises).
 *
 * Every runner test runs at 1, 2, 3, 8 and 64 workers (check loop tests).
 */
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prunner.h"
#include "testutil.h"
#include "testutil_runs.h"

static const int WORKERS[] = {1, 2, 3, 8, 64};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))
#define MAX_TEST_WORKERS 64

static const enum prunner_termination MODES[] = {PRUNNER_TERMINATION_FLAGS, PRUNNER_TERMINATION_COUNTER};
static const char *const MODE_NAMES[] = {"flags", "counter"};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static struct prunner_stats stats_of(prunner_t *r)
{
	struct prunner_stats st;
	memset(&st, 0xff, sizeof st);
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	return st;
}

/* Stats that must hold after every successful run of `w` workers. */
static void check_stats(prunner_t *r, int w, uint64_t executed, uint64_t failed)
{
	struct prunner_stats st = stats_of(r);
	ck_assert_msg(st.executed == executed, "w=%d: stats.executed %" PRIu64 ", expected %" PRIu64, w, st.executed,
	              executed);
	ck_assert_msg(st.posted == executed, "w=%d: stats.posted %" PRIu64 ", expected %" PRIu64, w, st.posted,
	              executed);
	ck_assert_msg(st.failed == failed, "w=%d: stats.failed %" PRIu64 ", expected %" PRIu64, w, st.failed, failed);
	ck_assert_int_eq(st.workers, w);
	if (w == 1)
		ck_assert_msg(st.steals == 0, "1 worker cannot steal, stats.steals %" PRIu64, st.steals);
}

/* Keeps a run active until *gate is set.  The acquire load pairs with the
 * release store of the thread being waited for. */
static int gate_task(void *data)
{
	atomic_int *gate = *(atomic_int **)data;
	while (!atomic_load_explicit(gate, memory_order_acquire))
		sched_yield();
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Payloads                                                                 */
/* ------------------------------------------------------------------------ */

/* Tasks posted from a loop that reuses one buffer; each task must see its
 * own bytes.  Sizes cover the inline (<= PRUNNER_INLINE_PAYLOAD) and the
 * heap path.  Half are posted from the begin hook, half from a task. */
static const size_t COPY_SIZES[] = {8, 16, PRUNNER_INLINE_PAYLOAD - 1, PRUNNER_INLINE_PAYLOAD,
                                    PRUNNER_INLINE_PAYLOAD + 1, 200, 4096};
#define N_COPY_SIZES ((int)(sizeof COPY_SIZES / sizeof COPY_SIZES[0]))
#define COPY_PER_SIZE 400
#define COPY_TOTAL (N_COPY_SIZES * COPY_PER_SIZE)

struct copy_ctx {
	atomic_uchar slot[COPY_TOTAL];
	atomic_int corrupt, post_err;
	atomic_ullong sum;
};
static struct copy_ctx g_copy;

/* Layout: uint32 index, uint32 size, then bytes (index * 31 + j) & 0xff. */
static int copy_task(void *data)
{
	unsigned char *p = data;
	uint32_t idx, size;
	memcpy(&idx, p, 4);
	memcpy(&size, p + 4, 4);
	if (idx >= COPY_TOTAL || size != COPY_SIZES[idx / COPY_PER_SIZE]) {
		atomic_fetch_add(&g_copy.corrupt, 1);
		return 0;
	}
	for (uint32_t j = 8; j < size; j++)
		if (p[j] != (unsigned char)((idx * 31u + j) & 0xffu)) {
			atomic_fetch_add(&g_copy.corrupt, 1);
			break;
		}
	atomic_fetch_add(&g_copy.slot[idx], 1);
	atomic_fetch_add(&g_copy.sum, idx);
	return 0;
}

static void post_copies(prunner_t *r, int odd)
{
	unsigned char buf[4096];
	for (int s = 0; s < N_COPY_SIZES; s++) {
		for (int k = odd; k < COPY_PER_SIZE; k += 2) {
			uint32_t idx = (uint32_t)(s * COPY_PER_SIZE + k);
			uint32_t size = (uint32_t)COPY_SIZES[s];
			memcpy(buf, &idx, 4);
			memcpy(buf + 4, &size, 4);
			for (uint32_t j = 8; j < size; j++)
				buf[j] = (unsigned char)((idx * 31u + j) & 0xffu);
			if (prunner_post(r, copy_task, buf, size) != 0)
				atomic_fetch_add(&g_copy.post_err, 1);
			memset(buf, 0xee, size); /* reuse at once */
		}
	}
}

static int copy_poster_task(void *data)
{
	(void)data;
	post_copies(prunner_current(), 1);
	return 0;
}

static void copy_begin(prunner_t *r, void *arg)
{
	(void)arg;
	if (prunner_post(r, copy_poster_task, NULL, 0) != 0)
		atomic_fetch_add(&g_copy.post_err, 1);
	post_copies(r, 0);
}

START_TEST(test_payload_copy)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	memset(&g_copy, 0, sizeof g_copy);
	ck_assert_int_eq(prunner_set_hooks(r, copy_begin, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_copy.post_err), 0);
	ck_assert_int_eq(atomic_load(&g_copy.corrupt), 0);
	for (int i = 0; i < COPY_TOTAL; i++)
		ck_assert_msg(atomic_load(&g_copy.slot[i]) == 1, "w=%d: task %d ran %d times", w, i,
		              (int)atomic_load(&g_copy.slot[i]));
	ck_assert_uint_eq(atomic_load(&g_copy.sum), (uint64_t)COPY_TOTAL * (COPY_TOTAL - 1) / 2);
	check_stats(r, w, COPY_TOTAL + 1, 0);
	prunner_free(r);
}
END_TEST

/* data is aligned for max_align_t and writable over its whole size, for
 * every size; size 0 gives data == NULL, whatever pointer was posted. */
static const size_t ALIGN_SIZES[] = {1, 2, 7, 8, 15, 16, 31, 32, 33, 48, 64, 100, 4096, 65536};
#define N_ALIGN_SIZES ((int)(sizeof ALIGN_SIZES / sizeof ALIGN_SIZES[0]))
#define ALIGN_REPEAT 12

static atomic_int g_misaligned, g_aligned_ok, g_align_post_err, g_zero_nonnull, g_zero_ok;

static int align_task(void *data)
{
	size_t size;
	memcpy(&size, data, sizeof size);
	if ((uintptr_t)data % _Alignof(max_align_t) != 0)
		atomic_fetch_add(&g_misaligned, 1);
	else
		atomic_fetch_add(&g_aligned_ok, 1);
	memset(data, 0x5c, size); /* writable, all of it */
	return 0;
}

static int small_align_task(void *data)
{
	/* sizes below sizeof(size_t): only the alignment is checked */
	if ((uintptr_t)data % _Alignof(max_align_t) != 0)
		atomic_fetch_add(&g_misaligned, 1);
	else
		atomic_fetch_add(&g_aligned_ok, 1);
	*(unsigned char *)data = 1;
	return 0;
}

static int zero_task(void *data)
{
	if (data != NULL)
		atomic_fetch_add(&g_zero_nonnull, 1);
	else
		atomic_fetch_add(&g_zero_ok, 1);
	return 0;
}

static void post_aligned(prunner_t *r)
{
	static _Thread_local unsigned char buf[65536 + 1];
	for (int rep = 0; rep < ALIGN_REPEAT; rep++) {
		for (int s = 0; s < N_ALIGN_SIZES; s++) {
			size_t size = ALIGN_SIZES[s];
			/* post from an odd address too: the copy must be aligned anyway */
			unsigned char *src = buf + (rep & 1);
			int rc;
			if (size >= sizeof size) {
				memcpy(src, &size, sizeof size);
				rc = prunner_post(r, align_task, src, size);
			} else {
				rc = prunner_post(r, small_align_task, src, size);
			}
			if (rc != 0)
				atomic_fetch_add(&g_align_post_err, 1);
		}
		int x = rep;
		if (prunner_post(r, zero_task, &x, 0) != 0 || prunner_post(r, zero_task, NULL, 0) != 0)
			atomic_fetch_add(&g_align_post_err, 1);
	}
}

static int align_poster_task(void *data)
{
	(void)data;
	post_aligned(prunner_current());
	return 0;
}

static void align_begin(prunner_t *r, void *arg)
{
	(void)arg;
	post_aligned(r);
	if (prunner_post(r, align_poster_task, NULL, 0) != 0)
		atomic_fetch_add(&g_align_post_err, 1);
}

START_TEST(test_payload_alignment_and_zero)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	atomic_store(&g_misaligned, 0);
	atomic_store(&g_aligned_ok, 0);
	atomic_store(&g_align_post_err, 0);
	atomic_store(&g_zero_nonnull, 0);
	atomic_store(&g_zero_ok, 0);
	ck_assert_int_eq(prunner_set_hooks(r, align_begin, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_align_post_err), 0);
	ck_assert_int_eq(atomic_load(&g_misaligned), 0);
	ck_assert_int_eq(atomic_load(&g_aligned_ok), 2 * ALIGN_REPEAT * N_ALIGN_SIZES);
	ck_assert_int_eq(atomic_load(&g_zero_nonnull), 0);
	ck_assert_int_eq(atomic_load(&g_zero_ok), 2 * ALIGN_REPEAT * 2);
	check_stats(r, w, 2 * ALIGN_REPEAT * (N_ALIGN_SIZES + 2) + 1, 0);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The seed's sum: begin -> init(n) -> add_one(i) -> double(i+1) ->         */
/* 2 x sum_up(i+1).  Total n(n+1), 4n+1 tasks.                              */
/* ------------------------------------------------------------------------ */

struct sum_ctx {
	prunner_t *r;
	int64_t n;
	int use_add; /* prunner_dict_add_int instead of lock + get + set */
	atomic_llong executed;
	atomic_int errors;     /* failed posts / dict calls inside tasks */
	atomic_int wrong_curr; /* prunner_current() != r inside a task */
	/* written by the hooks (on the thread calling prunner_run) */
	int begin_calls, end_calls, begin_err, end_rc;
	int64_t end_sum, end_executed;
};

struct sum_msg {
	struct sum_ctx *c;
	int64_t v;
};

static int sum_up(void *data);
static int sum_double(void *data);
static int sum_add_one(void *data);

static void sum_post(struct sum_ctx *c, prunner_task_fn fn, int64_t v)
{
	struct sum_msg m = {c, v};
	if (prunner_post(c->r, fn, &m, sizeof m) != 0)
		atomic_fetch_add(&c->errors, 1);
}

static void sum_enter(struct sum_ctx *c)
{
	atomic_fetch_add_explicit(&c->executed, 1, memory_order_relaxed);
	if (prunner_current() != c->r)
		atomic_fetch_add(&c->wrong_curr, 1);
}

static int sum_init(void *data)
{
	struct sum_msg *m = data;
	sum_enter(m->c);
	for (int64_t i = 0; i < m->v; i++)
		sum_post(m->c, sum_add_one, i);
	return 0;
}

static int sum_add_one(void *data)
{
	struct sum_msg *m = data;
	sum_enter(m->c);
	sum_post(m->c, sum_double, m->v + 1);
	return 0;
}

static int sum_double(void *data)
{
	struct sum_msg *m = data;
	sum_enter(m->c);
	sum_post(m->c, sum_up, m->v);
	sum_post(m->c, sum_up, m->v);
	return 0;
}

static int sum_up(void *data)
{
	struct sum_msg *m = data;
	struct sum_ctx *c = m->c;
	sum_enter(c);
	struct prunner_dict *d = prunner_dict(c->r);
	if (c->use_add) {
		if (prunner_dict_add_int(d, "sum", m->v, NULL) != 0)
			atomic_fetch_add(&c->errors, 1);
	} else {
		int64_t s = 0;
		prunner_lock(c->r);
		if (prunner_dict_get_int(d, "sum", &s) != 0 || prunner_dict_set_int(d, "sum", s + m->v) != 0)
			atomic_fetch_add(&c->errors, 1);
		prunner_unlock(c->r);
	}
	return 0;
}

static void sum_begin(prunner_t *r, void *arg)
{
	struct sum_ctx *c = arg;
	c->begin_calls++;
	if (r != c->r || prunner_dict_set_int(prunner_dict(r), "sum", 0) != 0)
		c->begin_err++;
	struct sum_msg m = {c, c->n};
	if (prunner_post(r, sum_init, &m, sizeof m) != 0)
		c->begin_err++;
}

static void sum_end(prunner_t *r, void *arg)
{
	struct sum_ctx *c = arg;
	c->end_calls++;
	c->end_rc = prunner_dict_get_int(prunner_dict(r), "sum", &c->end_sum);
	c->end_executed = atomic_load(&c->executed);
}

/* Runs the sum on r without asserting (usable from helper threads). */
static int sum_run(prunner_t *r, struct sum_ctx *c, int64_t n, int use_add)
{
	c->r = r;
	c->n = n;
	c->use_add = use_add;
	atomic_store(&c->executed, 0);
	atomic_store(&c->errors, 0);
	atomic_store(&c->wrong_curr, 0);
	c->begin_calls = c->end_calls = c->begin_err = 0;
	c->end_rc = 12345;
	c->end_sum = c->end_executed = -1;
	int rc = prunner_set_hooks(r, sum_begin, sum_end, c);
	if (rc != 0)
		return rc;
	return prunner_run(r);
}

static void check_sum(prunner_t *r, struct sum_ctx *c, int rc, int w, const char *what)
{
	int64_t n = c->n;
	int64_t want = n * (n + 1), tasks = 4 * n + 1;
	ck_assert_msg(rc == 0, "%s w=%d n=%" PRId64 ": run returned %d", what, w, n, rc);
	ck_assert_msg(c->begin_calls == 1 && c->end_calls == 1, "%s w=%d: begin %d, end %d calls", what, w,
	              c->begin_calls, c->end_calls);
	ck_assert_int_eq(c->begin_err, 0);
	ck_assert_msg(atomic_load(&c->errors) == 0, "%s w=%d: %d post/dict errors in tasks", what, w,
	              atomic_load(&c->errors));
	ck_assert_int_eq(atomic_load(&c->wrong_curr), 0);
	ck_assert_int_eq(c->end_rc, 0);
	ck_assert_msg(c->end_sum == want, "%s w=%d n=%" PRId64 ": end hook saw sum %" PRId64 ", expected %" PRId64, what,
	              w, n, c->end_sum, want);
	ck_assert_msg(c->end_executed == tasks, "%s w=%d n=%" PRId64 ": end hook saw %" PRId64 " tasks, expected %" PRId64,
	              what, w, n, c->end_executed, tasks);
	ck_assert_int_eq(atomic_load(&c->executed), tasks);
	/* the dict stays readable after the run */
	int64_t s = -1;
	ck_assert_int_eq(prunner_dict_get_int(prunner_dict(r), "sum", &s), 0);
	ck_assert_int_eq(s, want);
	check_stats(r, w, (uint64_t)tasks, 0);
}

static const int64_t SUM_NS[] = {0, 1, 100, 10000};
static const int64_t SUM_NS_SMALL[] = {0, 1, 100, 2500};

static void sum_test(int w, enum prunner_termination mode, int use_add, const int64_t *ns, int n_ns)
{
	prunner_t *r = new_runner(w, mode);
	struct sum_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	for (int k = 0; k < n_ns; k++) {
		int rc = sum_run(r, c, ns[k], use_add);
		check_sum(r, c, rc, w, use_add ? "sum(add_int)" : "sum(lock)");
	}
	free(c);
	prunner_free(r);
}

START_TEST(test_sum_lock)
{
	sum_test(WORKERS[_i], PRUNNER_TERMINATION_FLAGS, 0, SUM_NS, 4);
}
END_TEST

START_TEST(test_sum_add_int)
{
	sum_test(WORKERS[_i], PRUNNER_TERMINATION_FLAGS, 1, SUM_NS_SMALL, 4);
}
END_TEST

START_TEST(test_sum_counter_mode)
{
	sum_test(WORKERS[_i], PRUNNER_TERMINATION_COUNTER, 0, SUM_NS_SMALL, 4);
	sum_test(WORKERS[_i], PRUNNER_TERMINATION_COUNTER, 1, SUM_NS_SMALL, 4);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Random task trees                                                        */
/* ------------------------------------------------------------------------ */

/*
 * A task carries (depth, seed) and posts mix64(seed) >> 62 (0..3) children
 * until TREE_DEPTH; the expected count comes from a serial recursion of the
 * same generator.  Payload sizes change with depth (inline and heap), the
 * padding carries a pattern the task verifies.
 */
#define TREE_DEPTH 16
struct tree_ctx;
struct tnode {
	uint32_t depth;
	uint32_t check;
	uint64_t seed;
	struct tree_ctx *ctx;
};

struct tree_ctx {
	prunner_t *r;
	int w;
	uint32_t max_depth;
	struct wcount per_worker[MAX_TEST_WORKERS];
	atomic_ullong executed;
	atomic_int bad_index, corrupt, post_err;
	uint64_t end_executed, end_per_worker;
	int end_calls;
};

static size_t tree_size(uint32_t depth)
{
	return sizeof(struct tnode) + (depth % 3) * 24; /* 24, 48 or 72 bytes */
}

static uint32_t tree_check(uint64_t seed, uint32_t depth)
{
	return (uint32_t)(seed >> 32) ^ (uint32_t)seed ^ (depth * 0x01000193u);
}

static int tree_task(void *data);

static int tree_post(prunner_t *r, struct tree_ctx *c, uint64_t seed, uint32_t depth)
{
	unsigned char buf[sizeof(struct tnode) + 48];
	struct tnode n = {depth, tree_check(seed, depth), seed, c};
	size_t size = tree_size(depth);
	memcpy(buf, &n, sizeof n);
	for (size_t j = sizeof n; j < size; j++)
		buf[j] = (unsigned char)(seed + j);
	return prunner_post(r, tree_task, buf, size);
}

static int tree_task(void *data)
{
	struct tnode n;
	memcpy(&n, data, sizeof n);
	struct tree_ctx *c = n.ctx;
	const unsigned char *p = data;
	int ok = n.check == tree_check(n.seed, n.depth);
	for (size_t j = sizeof n; ok && j < tree_size(n.depth); j++)
		ok = p[j] == (unsigned char)(n.seed + j);
	if (!ok) {
		atomic_fetch_add(&c->corrupt, 1);
		return 1;
	}
	int idx = prunner_worker_index();
	if (idx >= 0 && idx < c->w)
		c->per_worker[idx].n++; /* plain: only this worker writes it */
	else
		atomic_fetch_add(&c->bad_index, 1);
	atomic_fetch_add_explicit(&c->executed, 1, memory_order_relaxed);
	unsigned k = tree_children(n.seed, n.depth, c->max_depth);
	for (unsigned i = 0; i < k; i++)
		if (tree_post(c->r, c, tree_child_seed(n.seed, i), n.depth + 1) != 0)
			atomic_fetch_add(&c->post_err, 1);
	return 0;
}

static void tree_begin(prunner_t *r, void *arg)
{
	struct tree_ctx *c = arg;
	for (unsigned i = 0; i < TREE_ROOTS; i++)
		if (tree_post(r, c, TREE_SEED0 + i, 0) != 0)
			atomic_fetch_add(&c->post_err, 1);
}

static uint64_t sum_per_worker(const struct tree_ctx *c)
{
	uint64_t s = 0;
	for (int i = 0; i < MAX_TEST_WORKERS; i++)
		s += c->per_worker[i].n;
	return s;
}

static void tree_end(prunner_t *r, void *arg)
{
	struct tree_ctx *c = arg;
	(void)r;
	c->end_calls++;
	c->end_executed = atomic_load(&c->executed);
	c->end_per_worker = sum_per_worker(c);
}

static void tree_test(int w, enum prunner_termination mode, const char *mode_name)
{
	uint64_t expected = 0;
	for (unsigned i = 0; i < TREE_ROOTS; i++)
		expected += tree_expected(TREE_SEED0 + i, 0, TREE_DEPTH);

	prunner_t *r = new_runner(w, mode);
	struct tree_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	/* two runs on the same runner: counts must not leak between runs */
	for (int round = 0; round < 2; round++) {
		memset(c, 0, sizeof *c);
		c->r = r;
		c->w = w;
		c->max_depth = TREE_DEPTH;
		ck_assert_int_eq(prunner_set_hooks(r, tree_begin, tree_end, c), 0);
		int rc = prunner_run(r);
		ck_assert_msg(rc == 0, "tree %s w=%d: run returned %d", mode_name, w, rc);
		ck_assert_int_eq(atomic_load(&c->post_err), 0);
		ck_assert_int_eq(atomic_load(&c->corrupt), 0);
		ck_assert_int_eq(atomic_load(&c->bad_index), 0);
		ck_assert_int_eq(c->end_calls, 1);
		ck_assert_msg(atomic_load(&c->executed) == expected,
		              "tree %s w=%d: %llu tasks ran, expected %" PRIu64, mode_name, w,
		              (unsigned long long)atomic_load(&c->executed), expected);
		ck_assert_msg(c->end_executed == expected, "tree %s w=%d: end hook saw %" PRIu64 ", expected %" PRIu64,
		              mode_name, w, c->end_executed, expected);
		ck_assert_msg(c->end_per_worker == expected,
		              "tree %s w=%d: per-worker counts in end hook %" PRIu64 ", expected %" PRIu64, mode_name, w,
		              c->end_per_worker, expected);
		ck_assert_uint_eq(sum_per_worker(c), expected);
		for (int i = w; i < MAX_TEST_WORKERS; i++)
			ck_assert_uint_eq(c->per_worker[i].n, 0);
		check_stats(r, w, expected, 0);
	}
	free(c);
	prunner_free(r);
}

START_TEST(test_tree_flags)
{
	tree_test(WORKERS[_i], PRUNNER_TERMINATION_FLAGS, "flags");
}
END_TEST

START_TEST(test_tree_counter)
{
	tree_test(WORKERS[_i], PRUNNER_TERMINATION_COUNTER, "counter");
}
END_TEST

/* Binary range splitting with one slot per leaf: every task exactly once. */
#define SPLIT_LEAVES 8192

struct split_ctx {
	prunner_t *r;
	atomic_uchar slot[SPLIT_LEAVES];
	atomic_int post_err;
	atomic_ullong executed;
};

struct split_msg {
	struct split_ctx *c;
	uint32_t lo, hi;
};

static int split_task(void *data)
{
	struct split_msg m = *(struct split_msg *)data;
	atomic_fetch_add_explicit(&m.c->executed, 1, memory_order_relaxed);
	if (m.hi - m.lo == 1) {
		atomic_fetch_add(&m.c->slot[m.lo], 1);
		return 0;
	}
	uint32_t mid = m.lo + (m.hi - m.lo) / 2;
	struct split_msg a = {m.c, m.lo, mid}, b = {m.c, mid, m.hi};
	if (prunner_post(m.c->r, split_task, &a, sizeof a) != 0 || prunner_post(m.c->r, split_task, &b, sizeof b) != 0)
		atomic_fetch_add(&m.c->post_err, 1);
	return 0;
}

static void split_begin(prunner_t *r, void *arg)
{
	struct split_ctx *c = arg;
	struct split_msg m = {c, 0, SPLIT_LEAVES};
	if (prunner_post(r, split_task, &m, sizeof m) != 0)
		atomic_fetch_add(&c->post_err, 1);
}

START_TEST(test_exactly_once_split)
{
	int w = WORKERS[_i];
	for (int mi = 0; mi < 2; mi++) {
		prunner_t *r = new_runner(w, MODES[mi]);
		struct split_ctx *c = calloc(1, sizeof *c);
		ck_assert_ptr_nonnull(c);
		c->r = r;
		ck_assert_int_eq(prunner_set_hooks(r, split_begin, NULL, c), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		ck_assert_int_eq(atomic_load(&c->post_err), 0);
		for (int i = 0; i < SPLIT_LEAVES; i++)
			ck_assert_msg(atomic_load(&c->slot[i]) == 1, "%s w=%d: leaf %d ran %d times", MODE_NAMES[mi], w, i,
			              (int)atomic_load(&c->slot[i]));
		ck_assert_uint_eq(atomic_load(&c->executed), 2 * SPLIT_LEAVES - 1);
		check_stats(r, w, 2 * SPLIT_LEAVES - 1, 0);
		free(c);
		prunner_free(r);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Failing tasks                                                            */
/* ------------------------------------------------------------------------ */

#define FAIL_N 3000

struct fail_ctx {
	prunner_t *r;
	atomic_int ran[2 * FAIL_N];
	atomic_int post_err;
};

static int fails(uint32_t idx)
{
	return idx % 7 == 3;
}

static int fail_task(void *data)
{
	struct fail_ctx *c;
	uint32_t idx;
	memcpy(&c, data, sizeof c);
	memcpy(&idx, (char *)data + sizeof c, sizeof idx);
	atomic_fetch_add(&c->ran[idx], 1);
	if (idx < FAIL_N && idx % 10 == 3) {
		/* a failing or succeeding task still posts: its child runs */
		unsigned char buf[sizeof c + sizeof idx];
		uint32_t child = idx + FAIL_N;
		memcpy(buf, &c, sizeof c);
		memcpy(buf + sizeof c, &child, sizeof child);
		if (prunner_post(c->r, fail_task, buf, sizeof buf) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
	if (!fails(idx))
		return 0;
	switch (idx % 3) {
	case 0: return -1;
	case 1: return 1;
	default: return 42;
	}
}

static void fail_begin(prunner_t *r, void *arg)
{
	struct fail_ctx *c = arg;
	unsigned char buf[sizeof c + sizeof(uint32_t)];
	for (uint32_t i = 0; i < FAIL_N; i++) {
		memcpy(buf, &c, sizeof c);
		memcpy(buf + sizeof c, &i, sizeof i);
		if (prunner_post(r, fail_task, buf, sizeof buf) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
}

static int fail_ok_task(void *data)
{
	(void)data;
	return 0;
}

static void ok_begin(prunner_t *r, void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++)
		prunner_post(r, fail_ok_task, NULL, 0);
}

START_TEST(test_failing_tasks)
{
	int w = WORKERS[_i];
	int expect_failed = 0, expect_ran = 0;
	for (uint32_t i = 0; i < FAIL_N; i++) {
		expect_ran++;
		expect_failed += fails(i);
		if (i % 10 == 3) {
			expect_ran++;
			expect_failed += fails(i + FAIL_N);
		}
	}
	for (int mi = 0; mi < 2; mi++) {
		prunner_t *r = new_runner(w, MODES[mi]);
		struct fail_ctx *c = calloc(1, sizeof *c);
		ck_assert_ptr_nonnull(c);
		c->r = r;
		ck_assert_int_eq(prunner_set_hooks(r, fail_begin, NULL, c), 0);
		int rc = prunner_run(r);
		ck_assert_msg(rc == expect_failed, "%s w=%d: run returned %d, expected %d failures", MODE_NAMES[mi], w, rc,
		              expect_failed);
		ck_assert_int_eq(atomic_load(&c->post_err), 0);
		int ran = 0;
		for (uint32_t i = 0; i < 2 * FAIL_N; i++) {
			int expect = i < FAIL_N || (i - FAIL_N) % 10 == 3;
			ck_assert_msg(atomic_load(&c->ran[i]) == expect, "%s w=%d: task %u ran %d times", MODE_NAMES[mi], w, i,
			              atomic_load(&c->ran[i]));
			ran += atomic_load(&c->ran[i]);
		}
		ck_assert_int_eq(ran, expect_ran);
		check_stats(r, w, (uint64_t)expect_ran, (uint64_t)expect_failed);
		/* the failure count is per run */
		ck_assert_int_eq(prunner_set_hooks(r, ok_begin, NULL, NULL), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		check_stats(r, w, 10, 0);
		free(c);
		prunner_free(r);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Many short runs in a row on one runner (lost-wakeup detector)            */
/* ------------------------------------------------------------------------ */

static void short_runs(int w, unsigned runs, enum prunner_termination mode)
{
	prunner_t *r = new_runner(w, mode);
	struct short_ctx c;
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(prunner_set_hooks(r, short_begin, NULL, &c), 0);
	for (unsigned i = 0; i < runs; i++) {
		c.run = i;
		atomic_store(&c.ran, 0);
		int rc = prunner_run(r);
		int ran = atomic_load(&c.ran);
		if (rc != 0 || ran != short_expected(i) || atomic_load(&c.post_err) != 0)
			ck_abort_msg("w=%d run %u of %u: rc %d, %d tasks ran, expected %d, post errors %d", w, i, runs, rc,
			             ran, short_expected(i), atomic_load(&c.post_err));
	}
	struct prunner_stats st = stats_of(r);
	ck_assert_uint_eq(st.executed, (uint64_t)short_expected(runs - 1));
	prunner_free(r);
}

START_TEST(test_short_runs_1_worker)
{
	short_runs(1, 30000, PRUNNER_TERMINATION_FLAGS);
}
END_TEST

START_TEST(test_short_runs_2_workers)
{
	short_runs(2, 30000, PRUNNER_TERMINATION_FLAGS);
}
END_TEST

START_TEST(test_short_runs_counter_mode)
{
	short_runs(1, 5000, PRUNNER_TERMINATION_COUNTER);
	short_runs(2, 5000, PRUNNER_TERMINATION_COUNTER);
}
END_TEST

START_TEST(test_short_runs_all_counts)
{
	int w = WORKERS[_i];
	short_runs(w, w >= 8 ? 500 : 2000, PRUNNER_TERMINATION_FLAGS);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Runner reuse                                                             */
/* ------------------------------------------------------------------------ */

/* 100 runs on one runner, rotating three hook sets (different functions,
 * arguments and task counts, one without an end hook) and alternating the
 * termination detector. */
struct hook_set {
	int id;
	int tasks;
	int begins, ends;
	int end_saw;
	int wrong;
};

static atomic_int g_hook_ran;

static int hook_task(void *data)
{
	(void)data;
	atomic_fetch_add(&g_hook_ran, 1);
	return 0;
}

static void begin_a(prunner_t *r, void *arg)
{
	struct hook_set *h = arg;
	h->begins++;
	if (h->id != 0 && h->id != 2)
		h->wrong++;
	for (int i = 0; i < h->tasks; i++)
		prunner_post(r, hook_task, &i, sizeof i);
}

static void begin_b(prunner_t *r, void *arg)
{
	struct hook_set *h = arg;
	h->begins++;
	if (h->id != 1)
		h->wrong++;
	for (int i = 0; i < h->tasks; i++)
		prunner_post(r, hook_task, NULL, 0);
}

static void end_a(prunner_t *r, void *arg)
{
	struct hook_set *h = arg;
	(void)r;
	h->ends++;
	h->end_saw = atomic_load(&g_hook_ran);
}

static void end_b(prunner_t *r, void *arg)
{
	struct hook_set *h = arg;
	(void)r;
	h->ends += 1;
	h->end_saw = atomic_load(&g_hook_ran);
	if (h->id != 2)
		h->wrong++;
}

START_TEST(test_runs_changing_hooks)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct hook_set set[3] = {{0, 5, 0, 0, 0, 0}, {1, 17, 0, 0, 0, 0}, {2, 1, 0, 0, 0, 0}};
	for (int k = 0; k < 100; k++) {
		struct hook_set *h = &set[k % 3];
		int begins = h->begins, ends = h->ends;
		switch (k % 3) {
		case 0: ck_assert_int_eq(prunner_set_hooks(r, begin_a, end_a, h), 0); break;
		case 1: ck_assert_int_eq(prunner_set_hooks(r, begin_b, NULL, h), 0); break;
		default: ck_assert_int_eq(prunner_set_hooks(r, begin_a, end_b, h), 0); break;
		}
		ck_assert_int_eq(prunner_set_termination(r, MODES[k % 2]), 0);
		h->end_saw = -1;
		atomic_store(&g_hook_ran, 0);
		ck_assert_int_eq(prunner_run(r), 0);
		ck_assert_msg(atomic_load(&g_hook_ran) == h->tasks, "w=%d run %d: %d tasks ran, expected %d", w, k,
		              atomic_load(&g_hook_ran), h->tasks);
		ck_assert_int_eq(h->begins, begins + 1);
		if (k % 3 != 1) {
			ck_assert_int_eq(h->ends, ends + 1);
			ck_assert_int_eq(h->end_saw, h->tasks);
		} else {
			ck_assert_int_eq(h->ends, 0);
		}
		check_stats(r, w, (uint64_t)h->tasks, 0);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(set[i].wrong, 0);
	ck_assert_int_eq(set[0].begins + set[1].begins + set[2].begins, 100);
	/* and a run with no hooks at all */
	ck_assert_int_eq(prunner_set_hooks(r, NULL, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	check_stats(r, w, 0, 0);
	prunner_free(r);
}
END_TEST

/* prunner_stop_workers between runs, then run again. */
START_TEST(test_stop_workers_between_runs)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct sum_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(prunner_stop_workers(r), 0); /* nothing to stop yet */
	for (int k = 0; k < 6; k++) {
		int rc = sum_run(r, c, 300 + k, k & 1);
		check_sum(r, c, rc, w, "sum after stop_workers");
		ck_assert_int_eq(prunner_stop_workers(r), 0);
		if (k % 2 == 0)
			ck_assert_int_eq(prunner_stop_workers(r), 0); /* twice */
		/* stats of the last run survive the stop */
		check_stats(r, w, (uint64_t)(4 * (300 + k) + 1), 0);
	}
	/* a run without a stop before free: prunner_free joins the workers */
	int rc = sum_run(r, c, 50, 0);
	check_sum(r, c, rc, w, "sum before free");
	free(c);
	prunner_free(r);
}
END_TEST

/* Changing the worker count between runs re-creates the workers. */
static atomic_int g_max_index, g_neg_index;

static int index_task(void *data)
{
	(void)data;
	int idx = prunner_worker_index();
	if (idx < 0)
		atomic_fetch_add(&g_neg_index, 1);
	int cur = atomic_load(&g_max_index);
	while (idx > cur && !atomic_compare_exchange_weak(&g_max_index, &cur, idx))
		;
	return 0;
}

static void index_begin(prunner_t *r, void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++)
		prunner_post(r, index_task, NULL, 0);
}

START_TEST(test_set_workers_between_runs)
{
	int w0 = WORKERS[_i];
	static const int seq[] = {1, 64, 2, 3, 8, 1, 2, 64, 3, 8, 8, 1};
	prunner_t *r = new_runner(w0, PRUNNER_TERMINATION_FLAGS);
	int n = 500;
	ck_assert_int_eq(prunner_set_hooks(r, index_begin, NULL, &n), 0);
	for (size_t k = 0; k <= sizeof seq / sizeof seq[0]; k++) {
		int w = k == 0 ? w0 : seq[k - 1];
		ck_assert_int_eq(prunner_set_workers(r, w), 0);
		ck_assert_int_eq(prunner_get_workers(r), w);
		atomic_store(&g_max_index, -1);
		atomic_store(&g_neg_index, 0);
		ck_assert_int_eq(prunner_run(r), 0);
		ck_assert_int_eq(atomic_load(&g_neg_index), 0);
		ck_assert_msg(atomic_load(&g_max_index) < w, "workers %d: a task saw worker index %d", w,
		              atomic_load(&g_max_index));
		ck_assert_int_ge(atomic_load(&g_max_index), 0);
		check_stats(r, w, (uint64_t)n, 0);
	}
	prunner_free(r);
}
END_TEST

/* userdata round trip, also seen from tasks through prunner_current(). */
static atomic_int g_userdata_ok, g_userdata_bad;

static int userdata_task(void *data)
{
	void *want = *(void **)data;
	if (prunner_userdata(prunner_current()) == want)
		atomic_fetch_add(&g_userdata_ok, 1);
	else
		atomic_fetch_add(&g_userdata_bad, 1);
	return 0;
}

static void userdata_begin(prunner_t *r, void *arg)
{
	for (int i = 0; i < 50; i++)
		prunner_post(r, userdata_task, &arg, sizeof arg);
}

START_TEST(test_userdata)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	int token;
	ck_assert_ptr_null(prunner_userdata(r));
	ck_assert_int_eq(prunner_set_userdata(r, &token), 0);
	ck_assert_ptr_eq(prunner_userdata(r), &token);
	atomic_store(&g_userdata_ok, 0);
	atomic_store(&g_userdata_bad, 0);
	ck_assert_int_eq(prunner_set_hooks(r, userdata_begin, NULL, &token), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_userdata_ok), 50);
	ck_assert_int_eq(atomic_load(&g_userdata_bad), 0);
	ck_assert_int_eq(prunner_set_userdata(r, NULL), 0);
	ck_assert_ptr_null(prunner_userdata(r));
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Several runners, program threads                                         */
/* ------------------------------------------------------------------------ */

/* 4 program threads, each with its own runner doing two sums of different
 * sizes at the same time. */
#define CONC_THREADS 4

struct conc_arg {
	int w;
	int t;
	int new_rc;
	int rc[2];
	struct sum_ctx c[2];
	int64_t n[2];
	uint64_t stats_executed[2];
	int stats_workers[2];
};

static void *conc_thread(void *p)
{
	struct conc_arg *a = p;
	prunner_t *r = NULL;
	a->new_rc = prunner_new(&r);
	if (a->new_rc != 0)
		return NULL;
	prunner_set_workers(r, a->w);
	for (int k = 0; k < 2; k++) {
		a->n[k] = 400 + 137 * a->t + 50 * k;
		a->rc[k] = sum_run(r, &a->c[k], a->n[k], (a->t + k) & 1);
		struct prunner_stats st;
		memset(&st, 0, sizeof st);
		prunner_get_stats(r, &st);
		a->stats_executed[k] = st.executed;
		a->stats_workers[k] = st.workers;
	}
	prunner_free(r);
	return NULL;
}

START_TEST(test_concurrent_runners)
{
	int w = WORKERS[_i];
	struct conc_arg *a = calloc(CONC_THREADS, sizeof *a);
	ck_assert_ptr_nonnull(a);
	pthread_t th[CONC_THREADS];
	for (int t = 0; t < CONC_THREADS; t++) {
		a[t].w = w;
		a[t].t = t;
		ck_assert_int_eq(pthread_create(&th[t], NULL, conc_thread, &a[t]), 0);
	}
	for (int t = 0; t < CONC_THREADS; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < CONC_THREADS; t++) {
		ck_assert_int_eq(a[t].new_rc, 0);
		for (int k = 0; k < 2; k++) {
			struct sum_ctx *c = &a[t].c[k];
			int64_t n = a[t].n[k];
			ck_assert_msg(a[t].rc[k] == 0, "w=%d thread %d run %d: rc %d", w, t, k, a[t].rc[k]);
			ck_assert_int_eq(c->begin_calls, 1);
			ck_assert_int_eq(c->end_calls, 1);
			ck_assert_int_eq(c->begin_err, 0);
			ck_assert_int_eq(atomic_load(&c->errors), 0);
			ck_assert_msg(atomic_load(&c->wrong_curr) == 0, "w=%d thread %d: prunner_current() was another runner",
			              w, t);
			ck_assert_int_eq(c->end_rc, 0);
			ck_assert_msg(c->end_sum == n * (n + 1), "w=%d thread %d run %d: sum %" PRId64 ", expected %" PRId64, w,
			              t, k, c->end_sum, n * (n + 1));
			ck_assert_int_eq(c->end_executed, 4 * n + 1);
			ck_assert_uint_eq(a[t].stats_executed[k], (uint64_t)(4 * n + 1));
			ck_assert_int_eq(a[t].stats_workers[k], w);
		}
	}
	free(a);
}
END_TEST

/* A program thread, started by begin, posts M tasks with prunner_post while
 * the run is active; a gate task keeps the run active until it is done. */
#define OUTSIDE_M 2000

struct outside_ctx {
	prunner_t *r;
	atomic_int gate;
	atomic_uchar slot[OUTSIDE_M];
	atomic_int post_err, thread_current_nonnull, thread_index;
	pthread_t th;
	int th_rc;
};

struct outside_msg {
	struct outside_ctx *c;
	int i;
};

static int outside_task(void *data)
{
	struct outside_msg *m = data;
	if (m->i >= 0 && m->i < OUTSIDE_M)
		atomic_fetch_add(&m->c->slot[m->i], 1);
	return 0;
}

static void *outside_thread(void *p)
{
	struct outside_ctx *c = p;
	if (prunner_current() != NULL)
		atomic_fetch_add(&c->thread_current_nonnull, 1);
	atomic_store(&c->thread_index, prunner_worker_index());
	for (int i = 0; i < OUTSIDE_M; i++) {
		struct outside_msg m = {c, i};
		if (prunner_post(c->r, outside_task, &m, sizeof m) != 0)
			atomic_fetch_add(&c->post_err, 1);
	}
	atomic_store_explicit(&c->gate, 1, memory_order_release); /* pairs with gate_task */
	return NULL;
}

static void outside_begin(prunner_t *r, void *arg)
{
	struct outside_ctx *c = arg;
	atomic_int *g = &c->gate;
	if (prunner_post(r, gate_task, &g, sizeof g) != 0)
		atomic_fetch_add(&c->post_err, 1000000);
	c->th_rc = pthread_create(&c->th, NULL, outside_thread, c);
	if (c->th_rc != 0)
		atomic_store_explicit(&c->gate, 1, memory_order_release);
}

START_TEST(test_post_from_program_thread)
{
	int w = WORKERS[_i];
	for (int mi = 0; mi < 2; mi++) {
		prunner_t *r = new_runner(w, MODES[mi]);
		struct outside_ctx *c = calloc(1, sizeof *c);
		ck_assert_ptr_nonnull(c);
		c->r = r;
		ck_assert_int_eq(prunner_set_hooks(r, outside_begin, NULL, c), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		ck_assert_int_eq(c->th_rc, 0);
		ck_assert_int_eq(pthread_join(c->th, NULL), 0);
		ck_assert_int_eq(atomic_load(&c->post_err), 0);
		for (int i = 0; i < OUTSIDE_M; i++)
			ck_assert_msg(atomic_load(&c->slot[i]) == 1, "%s w=%d: outside task %d ran %d times", MODE_NAMES[mi],
			              w, i, (int)atomic_load(&c->slot[i]));
		ck_assert_int_eq(atomic_load(&c->thread_current_nonnull), 0);
		ck_assert_int_eq(atomic_load(&c->thread_index), -1);
		check_stats(r, w, OUTSIDE_M + 1, 0);
		free(c);
		prunner_free(r);
	}
}
END_TEST

/*
 * A program thread keeps posting while the run ends by itself.  The
 * contract: each post either is accepted and runs in this run, or fails
 * with PRUNNER_ENORUN.  So the tasks executed when prunner_run returns must
 * equal the posts accepted, even counting posts the thread makes after the
 * run returned; and nothing leaks into the next run.
 */
#define RACE_CAP 3000
#define RACE_ROUNDS 15

struct race_ctx {
	prunner_t *r;
	pthread_t th;
	int th_rc;
	atomic_int accepted, enorun, other_err;
	atomic_int executed;
	atomic_int start;
};

static int race_task(void *data)
{
	struct race_ctx *c = *(struct race_ctx **)data;
	atomic_fetch_add(&c->executed, 1);
	return 0;
}

static int race_work_task(void *data)
{
	/* a bit of work posted by begin, so the run lasts a little */
	int depth = *(int *)data;
	if (depth > 0) {
		int d = depth - 1;
		prunner_post(prunner_current(), race_work_task, &d, sizeof d);
		prunner_post(prunner_current(), race_work_task, &d, sizeof d);
	}
	return 0;
}

static void *race_thread(void *p)
{
	struct race_ctx *c = p;
	for (int i = 0; i < RACE_CAP; i++) {
		int rc = prunner_post(c->r, race_task, &c, sizeof c);
		if (rc == 0) {
			atomic_fetch_add(&c->accepted, 1);
		} else if (rc == PRUNNER_ENORUN) {
			atomic_fetch_add(&c->enorun, 1);
			break;
		} else {
			atomic_fetch_add(&c->other_err, 1);
			break;
		}
	}
	return NULL;
}

static void race_begin(prunner_t *r, void *arg)
{
	struct race_ctx *c = arg;
	int d = 6;
	prunner_post(r, race_work_task, &d, sizeof d);
	c->th_rc = pthread_create(&c->th, NULL, race_thread, c);
}

START_TEST(test_post_race_with_end_of_run)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct race_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		ck_assert_int_eq(prunner_set_termination(r, MODES[round % 2]), 0);
		atomic_store(&c->accepted, 0);
		atomic_store(&c->enorun, 0);
		atomic_store(&c->other_err, 0);
		atomic_store(&c->executed, 0);
		ck_assert_int_eq(prunner_set_hooks(r, race_begin, NULL, c), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		int executed_at_return = atomic_load(&c->executed);
		ck_assert_int_eq(c->th_rc, 0);
		ck_assert_int_eq(pthread_join(c->th, NULL), 0);
		int accepted = atomic_load(&c->accepted);
		ck_assert_int_eq(atomic_load(&c->other_err), 0);
		ck_assert_msg(executed_at_return == accepted,
		              "w=%d round %d: %d posts accepted but %d ran before prunner_run returned", w, round,
		              accepted, executed_at_return);
		ck_assert_int_eq(atomic_load(&c->executed), accepted);
		/* accepted posts and the 127 tasks of the depth-6 work tree;
		 * refused posts are not counted */
		struct prunner_stats st = stats_of(r);
		ck_assert_msg(st.executed == (uint64_t)accepted + 127 && st.posted == st.executed,
		              "w=%d round %d: %d outside posts accepted (+127 work tasks): stats.executed %" PRIu64
		              ", stats.posted %" PRIu64,
		              w, round, accepted, st.executed, st.posted);
		/* an empty run: nothing accepted earlier shows up now */
		ck_assert_int_eq(prunner_set_hooks(r, NULL, NULL, NULL), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		ck_assert_int_eq(atomic_load(&c->executed), accepted);
		check_stats(r, w, 0, 0);
	}
	free(c);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_current, prunner_worker_index                                    */
/* ------------------------------------------------------------------------ */

struct where_ctx {
	prunner_t *r;
	int w;
	prunner_t *begin_current, *end_current;
	int begin_index, end_index;
	atomic_int task_wrong_current, task_bad_index, tasks;
	atomic_int gate;
	pthread_t th;
	int th_rc;
	atomic_int thread_current_nonnull, thread_index;
	atomic_int seen[MAX_TEST_WORKERS];
};

static int where_task(void *data)
{
	struct where_ctx *c = *(struct where_ctx **)data;
	if (prunner_current() != c->r)
		atomic_fetch_add(&c->task_wrong_current, 1);
	int idx = prunner_worker_index();
	if (idx < 0 || idx >= c->w)
		atomic_fetch_add(&c->task_bad_index, 1);
	else
		atomic_store(&c->seen[idx], 1);
	atomic_fetch_add(&c->tasks, 1);
	return 0;
}

static void *where_thread(void *p)
{
	struct where_ctx *c = p;
	if (prunner_current() != NULL)
		atomic_fetch_add(&c->thread_current_nonnull, 1);
	atomic_store(&c->thread_index, prunner_worker_index());
	atomic_store_explicit(&c->gate, 1, memory_order_release);
	return NULL;
}

static void where_begin(prunner_t *r, void *arg)
{
	struct where_ctx *c = arg;
	c->begin_current = prunner_current();
	c->begin_index = prunner_worker_index();
	atomic_int *g = &c->gate;
	prunner_post(r, gate_task, &g, sizeof g);
	for (int i = 0; i < 300; i++)
		prunner_post(r, where_task, &c, sizeof c);
	c->th_rc = pthread_create(&c->th, NULL, where_thread, c);
	if (c->th_rc != 0)
		atomic_store_explicit(&c->gate, 1, memory_order_release);
}

static void where_end(prunner_t *r, void *arg)
{
	struct where_ctx *c = arg;
	(void)r;
	c->end_current = prunner_current();
	c->end_index = prunner_worker_index();
}

START_TEST(test_current_and_worker_index)
{
	int w = WORKERS[_i];
	ck_assert_ptr_null(prunner_current());
	ck_assert_int_eq(prunner_worker_index(), -1);
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_ptr_null(prunner_current());
	struct where_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->r = r;
	c->w = w;
	c->begin_index = c->end_index = 12345;
	ck_assert_int_eq(prunner_set_hooks(r, where_begin, where_end, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(c->th_rc, 0);
	ck_assert_int_eq(pthread_join(c->th, NULL), 0);
	ck_assert_ptr_eq(c->begin_current, r);
	ck_assert_ptr_eq(c->end_current, r);
	ck_assert_int_eq(c->begin_index, -1);
	ck_assert_int_eq(c->end_index, -1);
	ck_assert_int_eq(atomic_load(&c->tasks), 300);
	ck_assert_int_eq(atomic_load(&c->task_wrong_current), 0);
	ck_assert_int_eq(atomic_load(&c->task_bad_index), 0);
	ck_assert_int_eq(atomic_load(&c->thread_current_nonnull), 0);
	ck_assert_int_eq(atomic_load(&c->thread_index), -1);
	int distinct = 0;
	for (int i = 0; i < MAX_TEST_WORKERS; i++)
		distinct += atomic_load(&c->seen[i]);
	ck_assert_int_ge(distinct, 1);
	ck_assert_int_le(distinct, w);
	/* after the run, on the test thread */
	ck_assert_ptr_null(prunner_current());
	ck_assert_int_eq(prunner_worker_index(), -1);
	free(c);
	prunner_free(r);
	ck_assert_ptr_null(prunner_current());
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The global lock                                                          */
/* ------------------------------------------------------------------------ */

#define LOCK_TASKS 10000

struct lock_ctx {
	prunner_t *r;
	int64_t plain; /* protected by prunner_lock(r) */
	atomic_int inside, overlaps;
};

static void locked_add(struct lock_ctx *c, int64_t v)
{
	prunner_lock(c->r);
	if (atomic_fetch_add_explicit(&c->inside, 1, memory_order_relaxed) != 0)
		atomic_fetch_add(&c->overlaps, 1);
	c->plain += v;
	atomic_fetch_sub_explicit(&c->inside, 1, memory_order_relaxed);
	prunner_unlock(c->r);
}

static int lock_task(void *data)
{
	struct lock_ctx *c;
	int64_t v;
	memcpy(&c, data, sizeof c);
	memcpy(&v, (char *)data + sizeof c, sizeof v);
	locked_add(c, v);
	return 0;
}

static void lock_begin(prunner_t *r, void *arg)
{
	struct lock_ctx *c = arg;
	unsigned char buf[sizeof c + sizeof(int64_t)];
	for (int64_t i = 1; i <= LOCK_TASKS; i++) {
		memcpy(buf, &c, sizeof c);
		memcpy(buf + sizeof c, &i, sizeof i);
		prunner_post(r, lock_task, buf, sizeof buf);
		if (i % 1000 == 0)
			locked_add(c, 1000000); /* the hook thread takes it too, while tasks run */
	}
}

START_TEST(test_global_lock)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct lock_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	ck_assert_int_eq(prunner_set_hooks(r, lock_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	int64_t want = (int64_t)LOCK_TASKS * (LOCK_TASKS + 1) / 2 + (LOCK_TASKS / 1000) * 1000000;
	prunner_lock(r);
	int64_t got = c.plain;
	prunner_unlock(r);
	ck_assert_msg(got == want, "w=%d: locked total %" PRId64 ", expected %" PRId64, w, got, want);
	ck_assert_int_eq(atomic_load(&c.overlaps), 0);
	/* two runners have two locks: holding one does not block the other */
	prunner_t *r2 = new_runner(1, PRUNNER_TERMINATION_FLAGS);
	prunner_lock(r);
	prunner_lock(r2);
	prunner_unlock(r2);
	prunner_unlock(r);
	prunner_free(r2);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Edge runs                                                                */
/* ------------------------------------------------------------------------ */

struct empty_ctx {
	int begins, ends;
};

static void empty_begin(prunner_t *r, void *arg)
{
	(void)r;
	((struct empty_ctx *)arg)->begins++;
}

static void empty_end(prunner_t *r, void *arg)
{
	(void)r;
	((struct empty_ctx *)arg)->ends++;
}

START_TEST(test_begin_posts_nothing)
{
	int w = WORKERS[_i];
	for (int mi = 0; mi < 2; mi++) {
		prunner_t *r = new_runner(w, MODES[mi]);
		struct empty_ctx c = {0, 0};
		ck_assert_int_eq(prunner_set_hooks(r, empty_begin, empty_end, &c), 0);
		for (int k = 1; k <= 3; k++) {
			ck_assert_int_eq(prunner_run(r), 0);
			ck_assert_int_eq(c.begins, k);
			ck_assert_int_eq(c.ends, k);
			check_stats(r, w, 0, 0);
		}
		/* no hooks at all */
		ck_assert_int_eq(prunner_set_hooks(r, NULL, NULL, NULL), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		ck_assert_int_eq(c.begins, 3);
		/* only an end hook */
		ck_assert_int_eq(prunner_set_hooks(r, NULL, empty_end, &c), 0);
		ck_assert_int_eq(prunner_run(r), 0);
		ck_assert_int_eq(c.ends, 4);
		prunner_free(r);
	}
}
END_TEST

/* A chain (testutil_runs.h): each task posts the next, CHAIN_LEN links. */
#define CHAIN_LEN 100000

START_TEST(test_long_chain)
{
	int w = WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	struct chain_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.len = CHAIN_LEN;
	ck_assert_int_eq(prunner_set_hooks(r, chain_begin, NULL, &c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c.post_err), 0);
	ck_assert_int_eq(atomic_load(&c.mismatch), 0);
	ck_assert_msg(c.plain_next == CHAIN_LEN, "w=%d: chain reached %" PRId64 " of %d", w, c.plain_next, CHAIN_LEN);
	check_stats(r, w, CHAIN_LEN, 0);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threads of the pool, runners inside runners                              */
/* ------------------------------------------------------------------------ */

/* prunner_new starts no thread; the first run creates the workers, which
 * stay (parked) between runs; prunner_stop_workers and prunner_free join
 * them. */
START_TEST(test_worker_threads_lifecycle)
{
	int w = WORKERS[_i];
	int base = thread_count();
	if (base < 0)
		return; /* no /proc */
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_msg(thread_count() == base, "prunner_new started %d threads", thread_count() - base);
	struct sum_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	int rc = sum_run(r, c, 50, 1);
	check_sum(r, c, rc, w, "sum");
	ck_assert_msg(thread_count() >= base + w, "w=%d: %d threads after a run, expected at least %d", w,
	              thread_count(), base + w);
	int after_first = thread_count();
	rc = sum_run(r, c, 60, 0);
	check_sum(r, c, rc, w, "sum");
	ck_assert_msg(thread_count() == after_first, "w=%d: second run changed threads %d -> %d", w, after_first,
	              thread_count());
	ck_assert_int_eq(prunner_stop_workers(r), 0);
	int n = thread_count_after_join(base);
	ck_assert_msg(n == base, "w=%d: %d threads after stop_workers, %d before", w, n, base);
	rc = sum_run(r, c, 70, 1);
	check_sum(r, c, rc, w, "sum after stop");
	ck_assert_int_ge(thread_count(), base + w);
	prunner_free(r);
	n = thread_count_after_join(base);
	ck_assert_msg(n == base, "w=%d: %d threads after prunner_free, %d before", w, n, base);
	free(c);
}
END_TEST

/* Workers of runner A post into runner B (they are "other threads" to B);
 * B's run is held open by a gate until A's run is over. */
#define CROSS_K 600

struct cross_ctx {
	prunner_t *a, *b;
	int wb;
	atomic_int gate;
	pthread_t th;
	int th_rc, a_run_rc;
	atomic_int post_err, a_wrong, b_wrong, b_ran;
};

static int cross_b_task(void *data)
{
	struct cross_ctx *c = *(struct cross_ctx **)data;
	int idx = prunner_worker_index();
	if (prunner_current() != c->b || idx < 0 || idx >= c->wb)
		atomic_fetch_add(&c->b_wrong, 1);
	atomic_fetch_add(&c->b_ran, 1);
	return 0;
}

static int cross_a_task(void *data)
{
	struct cross_ctx *c = *(struct cross_ctx **)data;
	if (prunner_current() != c->a)
		atomic_fetch_add(&c->a_wrong, 1);
	if (prunner_post(c->b, cross_b_task, &c, sizeof c) != 0)
		atomic_fetch_add(&c->post_err, 1);
	return 0;
}

static void cross_a_begin(prunner_t *r, void *arg)
{
	struct cross_ctx *c = arg;
	for (int i = 0; i < CROSS_K; i++)
		if (prunner_post(r, cross_a_task, &c, sizeof c) != 0)
			atomic_fetch_add(&c->post_err, 1000);
}

static void *cross_thread(void *p)
{
	struct cross_ctx *c = p;
	c->a_run_rc = prunner_run(c->a);
	atomic_store_explicit(&c->gate, 1, memory_order_release); /* pairs with gate_task */
	return NULL;
}

static void cross_b_begin(prunner_t *r, void *arg)
{
	struct cross_ctx *c = arg;
	atomic_int *g = &c->gate;
	if (prunner_post(r, gate_task, &g, sizeof g) != 0)
		atomic_fetch_add(&c->post_err, 1000000);
	c->th_rc = pthread_create(&c->th, NULL, cross_thread, c);
	if (c->th_rc != 0)
		atomic_store_explicit(&c->gate, 1, memory_order_release);
}

START_TEST(test_cross_runner_post)
{
	int w = WORKERS[_i];
	struct cross_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->a = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	c->wb = w == 1 ? 2 : (w == 64 ? 3 : 1);
	c->b = new_runner(c->wb, PRUNNER_TERMINATION_COUNTER);
	c->a_run_rc = 12345;
	ck_assert_int_eq(prunner_set_hooks(c->a, cross_a_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_set_hooks(c->b, cross_b_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(c->b), 0);
	ck_assert_int_eq(c->th_rc, 0);
	ck_assert_int_eq(pthread_join(c->th, NULL), 0);
	ck_assert_int_eq(c->a_run_rc, 0);
	ck_assert_int_eq(atomic_load(&c->post_err), 0);
	ck_assert_int_eq(atomic_load(&c->a_wrong), 0);
	ck_assert_int_eq(atomic_load(&c->b_wrong), 0);
	ck_assert_int_eq(atomic_load(&c->b_ran), CROSS_K);
	check_stats(c->a, w, CROSS_K, 0);
	check_stats(c->b, c->wb, CROSS_K + 1, 0);
	prunner_free(c->a);
	prunner_free(c->b);
	free(c);
}
END_TEST

/* A task of runner A creates, runs and frees its own runner B (running
 * another runner from a task is allowed; only its own is -EBUSY).  Inside
 * B's tasks prunner_current() is B; back in A's task it is A again, with
 * the same worker index. */
#define NEST_TASKS 3

struct nest_slot {
	int new_rc, run_rc;
	int64_t n;
	struct sum_ctx c;
	prunner_t *cur_after;
	int idx_before, idx_after;
};

struct nest_ctx {
	prunner_t *a;
	struct nest_slot slot[NEST_TASKS];
};

struct nest_msg {
	struct nest_ctx *c;
	int i;
};

static int nest_task(void *data)
{
	struct nest_msg *m = data;
	struct nest_slot *s = &m->c->slot[m->i];
	s->idx_before = prunner_worker_index();
	prunner_t *b = NULL;
	s->new_rc = prunner_new(&b);
	if (s->new_rc != 0)
		return 1;
	prunner_set_workers(b, 2);
	s->n = 200 + 50 * m->i;
	s->run_rc = sum_run(b, &s->c, s->n, m->i & 1);
	prunner_free(b);
	s->cur_after = prunner_current();
	s->idx_after = prunner_worker_index();
	return 0;
}

static void nest_begin(prunner_t *r, void *arg)
{
	struct nest_ctx *c = arg;
	for (int i = 0; i < NEST_TASKS; i++) {
		struct nest_msg m = {c, i};
		prunner_post(r, nest_task, &m, sizeof m);
	}
}

START_TEST(test_runner_inside_task)
{
	int w = WORKERS[_i];
	struct nest_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->a = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_set_hooks(c->a, nest_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(c->a), 0);
	for (int i = 0; i < NEST_TASKS; i++) {
		struct nest_slot *s = &c->slot[i];
		ck_assert_int_eq(s->new_rc, 0);
		ck_assert_msg(s->run_rc == 0, "w=%d: nested run %d returned %d", w, i, s->run_rc);
		ck_assert_int_eq(s->c.begin_calls, 1);
		ck_assert_int_eq(s->c.end_calls, 1);
		ck_assert_int_eq(atomic_load(&s->c.errors), 0);
		ck_assert_int_eq(atomic_load(&s->c.wrong_curr), 0);
		ck_assert_int_eq(s->c.end_sum, s->n * (s->n + 1));
		ck_assert_int_eq(s->c.end_executed, 4 * s->n + 1);
		ck_assert_ptr_eq(s->cur_after, c->a);
		ck_assert_int_ge(s->idx_before, 0);
		ck_assert_int_lt(s->idx_before, w);
		ck_assert_int_eq(s->idx_after, s->idx_before);
	}
	check_stats(c->a, w, NEST_TASKS, 0);
	prunner_free(c->a);
	free(c);
}
END_TEST

/* The debug log on: behaviour unchanged (the log goes to stderr). */
static atomic_int g_debug_ran;
static int debug_task(void *data)
{
	(void)data;
	atomic_fetch_add(&g_debug_ran, 1);
	return 0;
}

static void debug_begin(prunner_t *r, void *arg)
{
	(void)arg;
	for (int i = 0; i < 8; i++)
		prunner_post(r, debug_task, &i, sizeof i);
}

START_TEST(test_debug_log_on)
{
	int w = WORKERS[_i] > 8 ? 8 : WORKERS[_i];
	prunner_t *r = new_runner(w, PRUNNER_TERMINATION_FLAGS);
	ck_assert_int_eq(prunner_set_debug(r, true), 0);
	atomic_store(&g_debug_ran, 0);
	ck_assert_int_eq(prunner_set_hooks(r, debug_begin, NULL, NULL), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_debug_ran), 8);
	ck_assert_int_eq(prunner_set_debug(r, false), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&g_debug_ran), 16);
	prunner_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *runner_suite(void)
{
	Suite *s = suite_create("runner");
	TCase *tc;

	tc = tcase_create("payload");
	tcase_add_loop_test(tc, test_payload_copy, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_payload_alignment_and_zero, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("sum");
	tcase_add_loop_test(tc, test_sum_lock, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_sum_add_int, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_sum_counter_mode, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("tree");
	tcase_add_loop_test(tc, test_tree_flags, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_tree_counter, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_exactly_once_split, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_loop_test(tc, test_failing_tasks, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("short_runs");
	tcase_add_test(tc, test_short_runs_1_worker);
	tcase_add_test(tc, test_short_runs_2_workers);
	tcase_add_test(tc, test_short_runs_counter_mode);
	tcase_add_loop_test(tc, test_short_runs_all_counts, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("reuse");
	tcase_add_loop_test(tc, test_runs_changing_hooks, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_stop_workers_between_runs, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_set_workers_between_runs, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_userdata, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_loop_test(tc, test_concurrent_runners, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_post_from_program_thread, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_post_race_with_end_of_run, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_current_and_worker_index, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_global_lock, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_worker_threads_lifecycle, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_cross_runner_post, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_runner_inside_task, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_add_loop_test(tc, test_begin_posts_nothing, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_long_chain, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_debug_log_on, 0, N_WORKERS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "300", 0);
	SRunner *sr = srunner_create(runner_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
