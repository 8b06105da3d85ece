/*
 * test_future.c - behaviour of futures (prunner_submit, prunner_set_result,
 * prunner_future_*), continuations (prunner_then), prunner_wait_all /
 * prunner_wait_any and the event-loop fd (prunner_completion_fd,
 * prunner_completed).  Links only the public library.
 *
 * Rules as in test_runner.c: ck_assert only on the test's own thread.
 * Tasks, destroy functions and helper threads record what they saw into
 * atomics or per-task slots; the test thread asserts after it waited for
 * the futures, after prunner_wait_idle() or after the run.  Nothing sleeps
 * and nothing is timed: every check is an exact count or value; timeouts
 * are only checked for their return code.  Where a task must stay queued
 * or running while the test acts, a "gate" task spins on an atomic flag
 * (acquire loads + sched_yield) until the test opens it.
 *
 * Every runner test runs at 1, 2, 3, 8 and 64 workers (check loop tests),
 * the cancellation race at 1, 2 and 8.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prunner.h"
#include "testutil.h"

static const int WORKERS[] = {1, 2, 3, 8, 64};
#define N_WORKERS ((int)(sizeof WORKERS / sizeof WORKERS[0]))
static const int RACE_WORKERS[] = {1, 2, 8};
#define N_RACE_WORKERS ((int)(sizeof RACE_WORKERS / sizeof RACE_WORKERS[0]))

#define MS ((int64_t)1000000)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* A runner opened as an executor. */
static prunner_t *open_runner(int workers)
{
	prunner_t *r = new_runner_default(workers);
	ck_assert_int_eq(prunner_open(r), 0);
	return r;
}

static void close_and_free(prunner_t *r)
{
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
}

static void gate_open(struct gate *g)
{
	atomic_store_explicit(&g->open, 1, memory_order_release);
}

static prunner_future_t *submit_gate(prunner_t *r, struct gate *g)
{
	prunner_future_t *f = NULL;
	ck_assert_int_eq(prunner_submit(r, gate_fn, &g, sizeof g, NULL, &f), 0);
	ck_assert_ptr_nonnull(f);
	return f;
}

static int64_t result_i64(prunner_future_t *f)
{
	int64_t v = 0;
	size_t len = 0;
	ck_assert_int_eq(prunner_future_result(f, &v, sizeof v, &len), 0);
	ck_assert_uint_eq(len, sizeof v);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Round trip                                                               */
/* ------------------------------------------------------------------------ */

/* Many futures: each task records that it ran, sets an int64 result and
 * returns 0, a positive or a negative value. */
#define RT_N 3000

struct rt_ctx {
	atomic_uchar ran[RT_N];
	atomic_int bad;
	prunner_future_t *fs[RT_N];
	atomic_int submit_err;
};

struct rt_job {
	uint32_t id;
	struct rt_ctx *c;
};

static int rt_ret(uint32_t id)
{
	if (id % 10 == 9)
		return (int)(1000 + id);
	if (id % 10 == 4)
		return -(int)id - 1;
	return 0;
}

static int64_t rt_value(uint32_t id)
{
	return (int64_t)id * id + 7;
}

static int rt_task(void *data)
{
	struct rt_job *j = data;
	if (j->id >= RT_N) {
		atomic_fetch_add(&j->c->bad, 1);
		return 0;
	}
	atomic_fetch_add(&j->c->ran[j->id], 1);
	if (set_result_i64(rt_value(j->id)) != 0)
		atomic_fetch_add(&j->c->bad, 1);
	return rt_ret(j->id);
}

static int rt_failures(void)
{
	int n = 0;
	for (uint32_t i = 0; i < RT_N; i++)
		n += rt_ret(i) != 0;
	return n;
}

static void rt_check(struct rt_ctx *c, int w)
{
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->submit_err), 0);
	for (uint32_t i = 0; i < RT_N; i++) {
		prunner_future_t *f = c->fs[i];
		ck_assert_ptr_nonnull(f);
		int ret = rt_ret(i);
		enum prunner_future_state st = prunner_future_state(f);
		ck_assert_msg(st == (ret ? PRUNNER_FUTURE_FAILED : PRUNNER_FUTURE_DONE),
		              "w=%d: future %u in state %d, task returned %d", w, i, (int)st, ret);
		ck_assert_int_eq(prunner_future_status(f), ret);
		ck_assert_msg(result_i64(f) == rt_value(i), "w=%d: future %u has a wrong result", w, i);
		ck_assert_msg(atomic_load(&c->ran[i]) == 1, "w=%d: task %u ran %d times", w, i,
		              (int)atomic_load(&c->ran[i]));
		prunner_future_release(f);
		c->fs[i] = NULL;
	}
}

/* Executor: submit from the test thread, wait for each future. */
START_TEST(test_roundtrip_executor)
{
	int w = WORKERS[_i];
	struct rt_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = open_runner(w);
	for (uint32_t i = 0; i < RT_N; i++) {
		struct rt_job j = { i, c };
		c->fs[i] = (prunner_future_t *)(uintptr_t)1; /* must be overwritten */
		ck_assert_int_eq(prunner_submit(r, rt_task, &j, sizeof j, NULL, &c->fs[i]), 0);
		ck_assert_ptr_nonnull(c->fs[i]);
	}
	for (uint32_t i = 0; i < RT_N; i++)
		ck_assert_int_eq(prunner_future_wait(c->fs[i], -1), 0);
	rt_check(c, w);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	ck_assert_uint_eq(st.executed, RT_N);
	ck_assert_uint_eq(st.posted, RT_N);
	ck_assert_uint_eq(st.failed, (uint64_t)rt_failures());
	prunner_free(r);
	free(c);
}
END_TEST

static void rt_begin(prunner_t *r, void *arg)
{
	struct rt_ctx *c = arg;
	for (uint32_t i = 0; i < RT_N; i++) {
		struct rt_job j = { i, c };
		if (prunner_submit(r, rt_task, &j, sizeof j, NULL, &c->fs[i]) != 0)
			atomic_fetch_add(&c->submit_err, 1);
	}
}

/* prunner_run: futures submitted from begin are final when the run returns
 * (no wait needed), and the run counts the failed ones. */
START_TEST(test_roundtrip_run)
{
	int w = WORKERS[_i];
	struct rt_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, rt_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), rt_failures());
	rt_check(c, w);
	prunner_free(r);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Results of every size                                                    */
/* ------------------------------------------------------------------------ */

static const size_t RS_SIZES[] = {0, 1, 24, 25, 4096, PRUNNER_MAX_PAYLOAD};
#define N_RS_SIZES ((int)(sizeof RS_SIZES / sizeof RS_SIZES[0]))

struct rs_ctx {
	atomic_int bad;
	atomic_int einval, e2big, kept;
};

struct rs_job {
	size_t size;
	uint32_t seed;
	int ret;
	struct rs_ctx *c;
};

static unsigned char rs_byte(uint32_t seed, size_t j)
{
	return (unsigned char)((seed + j * 7u + (j >> 8)) & 0xffu);
}

/* Sets a 3-byte result first, then the real one (the last call wins); the
 * buffer is scribbled over and freed before returning (the result is a
 * copy). */
static int rs_task(void *data)
{
	struct rs_job *j = data;
	if (prunner_set_result("xyz", 3) != 0)
		atomic_fetch_add(&j->c->bad, 1);
	unsigned char *buf = NULL;
	if (j->size) {
		buf = malloc(j->size);
		if (!buf) {
			atomic_fetch_add(&j->c->bad, 1);
			return 0;
		}
		for (size_t k = 0; k < j->size; k++)
			buf[k] = rs_byte(j->seed, k);
	}
	if (prunner_set_result(buf, j->size) != 0)
		atomic_fetch_add(&j->c->bad, 1);
	if (buf)
		memset(buf, 0xee, j->size);
	free(buf);
	return j->ret;
}

/* Failing prunner_set_result calls have no effect on the result set
 * before them. */
static int rs_error_task(void *data)
{
	struct rs_ctx *c = *(struct rs_ctx **)data;
	if (prunner_set_result("keep", 4) != 0)
		atomic_fetch_add(&c->bad, 1);
	if (prunner_set_result(NULL, 5) == -EINVAL)
		atomic_fetch_add(&c->einval, 1);
	unsigned char *big = malloc(PRUNNER_MAX_PAYLOAD + 1);
	if (big) {
		memset(big, 1, PRUNNER_MAX_PAYLOAD + 1);
		if (prunner_set_result(big, PRUNNER_MAX_PAYLOAD + 1) == -E2BIG)
			atomic_fetch_add(&c->e2big, 1);
		free(big);
	}
	return 0;
}

static int rs_none_task(void *data)
{
	(void)data;
	return 0;
}

static void rs_check(prunner_future_t *f, size_t size, uint32_t seed, int w)
{
	size_t len = 12345;
	int rc = prunner_future_result(f, NULL, 0, &len);
	ck_assert_msg(rc == (size == 0 ? 0 : -ERANGE), "w=%d size %zu: result(NULL, 0) gave %d", w, size, rc);
	ck_assert_msg(len == size, "w=%d: result size %zu, expected %zu", w, len, size);
	unsigned char *buf = malloc(size + 64);
	ck_assert_ptr_nonnull(buf);
	if (size > 0) {
		memset(buf, 0xa5, size + 64);
		len = 0;
		ck_assert_int_eq(prunner_future_result(f, buf, size - 1, &len), -ERANGE);
		ck_assert_uint_eq(len, size);
		for (size_t k = 0; k < size + 64; k++)
			if (buf[k] != 0xa5)
				ck_abort_msg("w=%d size %zu: -ERANGE copied byte %zu", w, size, k);
	}
	memset(buf, 0x5a, size + 64);
	len = 0;
	ck_assert_int_eq(prunner_future_result(f, buf, size + 64, &len), 0);
	ck_assert_uint_eq(len, size);
	for (size_t k = 0; k < size; k++)
		if (buf[k] != rs_byte(seed, k))
			ck_abort_msg("w=%d size %zu: result byte %zu is %u, expected %u", w, size, k, buf[k],
			             rs_byte(seed, k));
	for (size_t k = size; k < size + 64; k++)
		if (buf[k] != 0x5a)
			ck_abort_msg("w=%d size %zu: wrote past the result (byte %zu)", w, size, k);
	ck_assert_int_eq(prunner_future_result(f, buf, size, NULL), 0);
	free(buf);
}

START_TEST(test_result_sizes)
{
	int w = WORKERS[_i];
	struct rs_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = open_runner(w);
	prunner_future_t *fs[N_RS_SIZES][2];
	for (int s = 0; s < N_RS_SIZES; s++)
		for (int fail = 0; fail < 2; fail++) {
			/* A FAILED task's result is readable too. */
			struct rs_job j = { RS_SIZES[s], (uint32_t)(s * 31 + fail), fail ? 3 : 0, c };
			ck_assert_int_eq(prunner_submit(r, rs_task, &j, sizeof j, NULL, &fs[s][fail]), 0);
		}
	prunner_future_t *fe, *fn;
	ck_assert_int_eq(prunner_submit(r, rs_error_task, &c, sizeof c, NULL, &fe), 0);
	ck_assert_int_eq(prunner_submit(r, rs_none_task, NULL, 0, NULL, &fn), 0);

	for (int s = 0; s < N_RS_SIZES; s++)
		for (int fail = 0; fail < 2; fail++) {
			prunner_future_t *f = fs[s][fail];
			ck_assert_int_eq(prunner_future_wait(f, -1), 0);
			ck_assert_int_eq(prunner_future_state(f), fail ? PRUNNER_FUTURE_FAILED : PRUNNER_FUTURE_DONE);
			ck_assert_int_eq(prunner_future_status(f), fail ? 3 : 0);
			rs_check(f, RS_SIZES[s], (uint32_t)(s * 31 + fail), w);
			prunner_future_release(f);
		}

	ck_assert_int_eq(prunner_future_wait(fe, -1), 0);
	ck_assert_int_eq(prunner_future_state(fe), PRUNNER_FUTURE_DONE);
	char keep[8] = { 0 };
	size_t len = 0;
	ck_assert_int_eq(prunner_future_result(fe, keep, sizeof keep, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(keep, "keep", 4);
	ck_assert_int_eq(atomic_load(&c->einval), 1);
	ck_assert_int_eq(atomic_load(&c->e2big), 1);
	prunner_future_release(fe);

	/* No result set: size 0. */
	ck_assert_int_eq(prunner_future_wait(fn, -1), 0);
	len = 99;
	ck_assert_int_eq(prunner_future_result(fn, NULL, 0, &len), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(prunner_future_result(fn, keep, sizeof keep, &len), 0);
	ck_assert_uint_eq(len, 0);
	prunner_future_release(fn);

	ck_assert_int_eq(atomic_load(&c->bad), 0);
	close_and_free(r);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* prunner_set_result outside a future's task                               */
/* ------------------------------------------------------------------------ */

/* -EINVAL everywhere but in the task of a future: the test thread, a begin
 * hook, a plain task, a group child, and a plain task or group child that
 * a future's task runs nested inside its helping wait (on one worker the
 * helper surely runs them itself).  Those nested calls must not change the
 * future's result either; a future run nested inside another future's
 * wait sets its own result, and the outer one's next call sets the
 * outer's. */
struct sro_ctx {
	atomic_int begin_rc, plain_rc, child_rc, nested_plain_rc, nested_child_rc;
	atomic_int inner_rc, outer_after_rc, inner_seen_ok, posted, bad;
};

static int sro_plain(void *data)
{
	struct sro_ctx *c = *(struct sro_ctx **)data;
	atomic_store(&c->plain_rc, prunner_set_result("PLAIN", 5));
	return 0;
}

static int sro_child(void *data)
{
	struct sro_ctx *c = *(struct sro_ctx **)data;
	atomic_store(&c->child_rc, prunner_set_result("CHILD", 5));
	return 0;
}

static int sro_nested_plain(void *data)
{
	struct sro_ctx *c = *(struct sro_ctx **)data;
	atomic_store(&c->nested_plain_rc, prunner_set_result("NPLAIN", 6));
	return 0;
}

static int sro_nested_child(void *data)
{
	struct sro_ctx *c = *(struct sro_ctx **)data;
	atomic_store(&c->nested_child_rc, prunner_set_result("NCHILD", 6));
	return 0;
}

/* Future A: result "A-first."; then a group wait that helps (a child and a
 * plain task posted after it, so that the LIFO pop runs the plain task
 * first); A does not set its result again. */
static int sro_future_a(void *data)
{
	struct sro_ctx *c = *(struct sro_ctx **)data;
	if (prunner_set_result("A-first.", 8) != 0)
		atomic_fetch_add(&c->bad, 1);
	prunner_group_t g;
	if (prunner_group_init(&g, NULL) != 0 || prunner_group_spawn(&g, sro_nested_child, &c, sizeof c) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	if (prunner_post(prunner_current(), sro_nested_plain, &c, sizeof c) != 0)
		atomic_fetch_add(&c->bad, 1);
	if (prunner_group_wait(&g) != 0)
		atomic_fetch_add(&c->bad, 1);
	return 0;
}

static int sro_inner(void *data)
{
	struct sro_ctx *c = *(struct sro_ctx **)data;
	atomic_store(&c->inner_rc, prunner_set_result("INNER-res", 9));
	return 0;
}

/* Future B: waits for a future it submitted (run nested on one worker),
 * then sets its own result. */
static int sro_future_b(void *data)
{
	struct sro_ctx *c = *(struct sro_ctx **)data;
	prunner_future_t *in = NULL;
	if (prunner_submit(prunner_current(), sro_inner, &c, sizeof c, NULL, &in) != 0) {
		atomic_fetch_add(&c->bad, 1);
		return 0;
	}
	if (prunner_future_wait(in, -1) != 0)
		atomic_fetch_add(&c->bad, 1);
	char buf[16];
	size_t len = 0;
	if (prunner_future_result(in, buf, sizeof buf, &len) == 0 && len == 9 && memcmp(buf, "INNER-res", 9) == 0)
		atomic_store(&c->inner_seen_ok, 1);
	prunner_future_release(in);
	atomic_store(&c->outer_after_rc, prunner_set_result("B-after.", 8));
	return 0;
}

static void sro_begin(prunner_t *r, void *arg)
{
	struct sro_ctx *c = arg;
	atomic_store(&c->begin_rc, prunner_set_result("BEGIN", 5));
	if (prunner_post(r, sro_plain, &c, sizeof c) == 0)
		atomic_fetch_add(&c->posted, 1);
	prunner_group_t g;
	if (prunner_group_init(&g, r) == 0 && prunner_group_spawn(&g, sro_child, &c, sizeof c) == 0 &&
	    prunner_group_wait(&g) == 0)
		atomic_fetch_add(&c->posted, 1);
}

static void check_str_result(prunner_future_t *f, const char *want)
{
	char buf[32];
	size_t len = 0;
	ck_assert_int_eq(prunner_future_wait(f, -1), 0);
	ck_assert_int_eq(prunner_future_state(f), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(prunner_future_result(f, buf, sizeof buf, &len), 0);
	ck_assert_msg(len == strlen(want) && memcmp(buf, want, len) == 0, "result \"%.*s\", expected \"%s\"", (int)len,
	              buf, want);
}

START_TEST(test_set_result_outside_future)
{
	int w = WORKERS[_i];
	struct sro_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(prunner_set_result("abcd", 4), -EINVAL);
	ck_assert_int_eq(prunner_set_result(NULL, 0), -EINVAL);

	prunner_t *r = new_runner_default(w);
	atomic_store(&c->begin_rc, 1);
	atomic_store(&c->plain_rc, 1);
	atomic_store(&c->child_rc, 1);
	ck_assert_int_eq(prunner_set_hooks(r, sro_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c->posted), 2);
	ck_assert_int_eq(atomic_load(&c->begin_rc), -EINVAL);
	ck_assert_int_eq(atomic_load(&c->plain_rc), -EINVAL);
	ck_assert_int_eq(atomic_load(&c->child_rc), -EINVAL);
	ck_assert_int_eq(prunner_set_hooks(r, NULL, NULL, NULL), 0);

	ck_assert_int_eq(prunner_open(r), 0);
	atomic_store(&c->nested_plain_rc, 1);
	atomic_store(&c->nested_child_rc, 1);
	prunner_future_t *fa, *fb;
	ck_assert_int_eq(prunner_submit(r, sro_future_a, &c, sizeof c, NULL, &fa), 0);
	ck_assert_int_eq(prunner_submit(r, sro_future_b, &c, sizeof c, NULL, &fb), 0);
	ck_assert_int_eq(prunner_future_wait(fa, -1), 0);
	ck_assert_int_eq(prunner_future_wait(fb, -1), 0);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	{
		char got[32];
		size_t len = 0;
		ck_assert_int_eq(prunner_future_result(fa, got, sizeof got, &len), 0);
		ck_assert_msg(atomic_load(&c->nested_plain_rc) == -EINVAL && atomic_load(&c->nested_child_rc) == -EINVAL,
		              "w=%d: prunner_set_result returned %d in a plain task and %d in a group child run by "
		              "the helping wait of a future's task, expected -EINVAL (the future's result is now "
		              "\"%.*s\", expected \"A-first.\")",
		              w, atomic_load(&c->nested_plain_rc), atomic_load(&c->nested_child_rc), (int)len, got);
	}
	check_str_result(fa, "A-first.");
	ck_assert_int_eq(atomic_load(&c->inner_rc), 0);
	ck_assert_int_eq(atomic_load(&c->inner_seen_ok), 1);
	ck_assert_int_eq(atomic_load(&c->outer_after_rc), 0);
	check_str_result(fb, "B-after.");
	prunner_future_release(fa);
	prunner_future_release(fb);
	close_and_free(r);
	/* Still -EINVAL on the test thread afterwards. */
	ck_assert_int_eq(prunner_set_result("abcd", 4), -EINVAL);
	free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad arguments, and submitting with no run                                */
/* ------------------------------------------------------------------------ */

static atomic_int g_args_destroyed, g_args_ran;

static void args_destroy(void *data)
{
	(void)data;
	atomic_fetch_add(&g_args_destroyed, 1);
}

static int args_task(void *data)
{
	(void)data;
	atomic_fetch_add(&g_args_ran, 1);
	return 0;
}

/* A payload of exactly PRUNNER_MAX_PAYLOAD bytes arrives intact. */
static atomic_int g_max_ok;

static int max_payload_task(void *data)
{
	unsigned char *p = data;
	for (size_t k = 0; k < PRUNNER_MAX_PAYLOAD; k++)
		if (p[k] != (unsigned char)(k * 13u + (k >> 10)))
			return 1;
	atomic_store(&g_max_ok, 1);
	return 0;
}

START_TEST(test_submit_bad_args)
{
	int w = WORKERS[_i];
	atomic_store(&g_args_destroyed, 0);
	atomic_store(&g_args_ran, 0);
	atomic_store(&g_max_ok, 0);
	prunner_t *r = new_runner_default(w);
	int x = 1;
	prunner_future_t *f = (prunner_future_t *)(uintptr_t)1;

	/* No run: PRUNNER_ENORUN, *out NULL, destroy not called. */
	ck_assert_int_eq(prunner_submit(r, args_task, &x, sizeof x, args_destroy, &f), PRUNNER_ENORUN);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(prunner_submit(r, args_task, &x, sizeof x, args_destroy, NULL), PRUNNER_ENORUN);

	ck_assert_int_eq(prunner_open(r), 0);
	f = (prunner_future_t *)(uintptr_t)1;
	ck_assert_int_eq(prunner_submit(NULL, args_task, &x, sizeof x, args_destroy, &f), -EINVAL);
	ck_assert_ptr_null(f);
	f = (prunner_future_t *)(uintptr_t)1;
	ck_assert_int_eq(prunner_submit(r, NULL, &x, sizeof x, args_destroy, &f), -EINVAL);
	ck_assert_ptr_null(f);
	f = (prunner_future_t *)(uintptr_t)1;
	ck_assert_int_eq(prunner_submit(r, args_task, NULL, 4, args_destroy, &f), -EINVAL);
	ck_assert_ptr_null(f);
	unsigned char *big = malloc(PRUNNER_MAX_PAYLOAD + 1);
	ck_assert_ptr_nonnull(big);
	for (size_t k = 0; k <= PRUNNER_MAX_PAYLOAD; k++)
		big[k] = (unsigned char)(k * 13u + (k >> 10));
	f = (prunner_future_t *)(uintptr_t)1;
	ck_assert_int_eq(prunner_submit(r, args_task, big, PRUNNER_MAX_PAYLOAD + 1, args_destroy, &f), -E2BIG);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(prunner_submit(r, max_payload_task, big, PRUNNER_MAX_PAYLOAD, args_destroy, &f), 0);
	memset(big, 0, PRUNNER_MAX_PAYLOAD + 1); /* copied at submit */
	ck_assert_int_eq(prunner_future_wait(f, -1), 0);
	ck_assert_int_eq(prunner_future_status(f), 0);
	ck_assert_int_eq(atomic_load(&g_max_ok), 1);
	prunner_future_release(f);
	free(big);
	/* NULL data with size 0 is fine. */
	ck_assert_int_eq(prunner_submit(r, args_task, NULL, 0, args_destroy, NULL), 0);

	/* NULL handles. */
	ck_assert_int_eq(prunner_future_state(NULL), PRUNNER_FUTURE_CANCELLED);
	ck_assert_int_eq(prunner_future_status(NULL), -EINVAL);
	size_t len = 0;
	char buf[4];
	ck_assert_int_eq(prunner_future_result(NULL, buf, sizeof buf, &len), -EINVAL);
	ck_assert_int_eq(prunner_future_cancel(NULL), -EINVAL);
	ck_assert_int_eq(prunner_future_wait(NULL, 0), -EINVAL);
	ck_assert_int_eq(prunner_future_wait(NULL, -1), -EINVAL);
	prunner_future_release(NULL);
	f = (prunner_future_t *)(uintptr_t)1;
	ck_assert_int_eq(prunner_then(NULL, args_task, NULL, &f), -EINVAL);
	ck_assert_ptr_null(f);
	prunner_future_t *g = NULL;
	ck_assert_int_eq(prunner_submit(r, args_task, NULL, 0, NULL, &g), 0);
	f = (prunner_future_t *)(uintptr_t)1;
	ck_assert_int_eq(prunner_then(g, NULL, NULL, &f), -EINVAL);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(prunner_future_wait(g, -1), 0);
	ck_assert_int_eq(prunner_future_result(g, NULL, 4, &len), -EINVAL);
	prunner_future_release(g);

	ck_assert_int_eq(prunner_completion_fd(NULL), -EINVAL);
	prunner_future_t *out[2];
	ck_assert_int_eq(prunner_completed(NULL, out, 2), -EINVAL);
	ck_assert_int_eq(prunner_completed(r, NULL, 2), -EINVAL);

	close_and_free(r);
	ck_assert_int_eq(atomic_load(&g_args_ran), 2);
	ck_assert_int_eq(atomic_load(&g_args_destroyed), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Waiting with timeouts                                                    */
/* ------------------------------------------------------------------------ */

struct tw_ctx {
	prunner_future_t *gated;
	atomic_int rc;
};

/* Inside a task: a 1 ms wait for a future whose task runs (gated) on
 * another worker times out. */
static int tw_inner_wait(void *data)
{
	struct tw_ctx *c = *(struct tw_ctx **)data;
	atomic_store(&c->rc, prunner_future_wait(c->gated, MS));
	return 0;
}

START_TEST(test_wait_timeouts)
{
	int w = WORKERS[_i];
	prunner_t *r = open_runner(w);
	struct gate gt = { 0 };
	prunner_future_t *g = submit_gate(r, &gt);

	/* Gated: PENDING or RUNNING, whatever the timing. */
	ck_assert_int_eq(prunner_future_wait(g, 0), -ETIMEDOUT);
	enum prunner_future_state st = prunner_future_state(g);
	ck_assert(st == PRUNNER_FUTURE_PENDING || st == PRUNNER_FUTURE_RUNNING);
	ck_assert_int_eq(prunner_future_status(g), -EINPROGRESS);
	char buf[8];
	size_t len = 0;
	ck_assert_int_eq(prunner_future_result(g, buf, sizeof buf, &len), -EINPROGRESS);
	ck_assert_int_eq(prunner_future_wait(g, MS), -ETIMEDOUT);
	size_t idx = 77;
	ck_assert_int_eq(prunner_wait_any(&g, 1, 0, &idx), -ETIMEDOUT);
	ck_assert_int_eq(prunner_wait_any(&g, 1, MS, &idx), -ETIMEDOUT);
	ck_assert_int_eq(prunner_wait_all(&g, 1, 0), -ETIMEDOUT);
	ck_assert_int_eq(prunner_wait_all(&g, 1, MS), -ETIMEDOUT);

	/* A task's own timed wait (needs a second worker to hold the gate). */
	struct tw_ctx tc = { .gated = g };
	struct tw_ctx *tcp = &tc;
	if (w >= 2) {
		wait_started(&gt, 1);
		atomic_store(&tc.rc, 1);
		prunner_future_t *t;
		ck_assert_int_eq(prunner_submit(r, tw_inner_wait, &tcp, sizeof tcp, NULL, &t), 0);
		ck_assert_int_eq(prunner_future_wait(t, -1), 0);
		ck_assert_int_eq(atomic_load(&tc.rc), -ETIMEDOUT);
		prunner_future_release(t);
	}
	ck_assert_int_eq(prunner_future_wait(g, 0), -ETIMEDOUT);

	gate_open(&gt);
	int polls = 0;
	while (prunner_future_wait(g, 0) == -ETIMEDOUT) {
		polls++;
		sched_yield();
	}
	(void)polls;
	ck_assert_int_eq(prunner_future_state(g), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(prunner_future_wait(g, 0), 0);
	ck_assert_int_eq(prunner_future_wait(g, MS), 0);
	ck_assert_int_eq(prunner_future_wait(g, -1), 0);
	ck_assert_int_eq(prunner_wait_any(&g, 1, 0, &idx), 0);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(prunner_wait_all(&g, 1, 0), 0);
	ck_assert_int_eq(prunner_future_status(g), 0);
	prunner_future_release(g);
	close_and_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Cancellation                                                             */
/* ------------------------------------------------------------------------ */

#define CX_N 24
#define CX_MAGIC 0xC0FFEE11u
#define CX_PAD 4096

struct cx_ctx {
	atomic_int ran[CX_N];
	atomic_int destroyed[CX_N];
	atomic_int null_destroyed;
	atomic_int bad, wrong_thread;
	pthread_t test_thread;
};

/* Small payloads fit inline, big ones carry a pattern. */
struct cx_small {
	uint32_t magic, id;
	struct cx_ctx *c;
};
struct cx_big {
	struct cx_small h;
	unsigned char pad[CX_PAD];
};

static int cx_task(void *data)
{
	struct cx_small *h = data;
	if (h && h->id < CX_N)
		atomic_fetch_add(&h->c->ran[h->id], 1);
	return 0;
}

static struct cx_ctx *g_cx; /* for the payload-less tasks */

static int cx_task_empty(void *data)
{
	(void)data;
	atomic_fetch_add(&g_cx->bad, 1000); /* must never run */
	return 0;
}

static void cx_destroy(void *data)
{
	if (!data) {
		atomic_fetch_add(&g_cx->null_destroyed, 1);
		if (!pthread_equal(pthread_self(), g_cx->test_thread))
			atomic_fetch_add(&g_cx->wrong_thread, 1);
		return;
	}
	struct cx_small *h = data;
	if (h->magic != CX_MAGIC || h->id >= CX_N) {
		atomic_fetch_add(&g_cx->bad, 1);
		return;
	}
	if (h->id % 2) {
		struct cx_big *b = data;
		for (size_t k = 0; k < CX_PAD; k++)
			if (b->pad[k] != (unsigned char)(h->id + k)) {
				atomic_fetch_add(&h->c->bad, 1);
				break;
			}
	}
	if (!pthread_equal(pthread_self(), h->c->test_thread))
		atomic_fetch_add(&h->c->wrong_thread, 1);
	atomic_fetch_add(&h->c->destroyed[h->id], 1);
}

/* Every worker held by a started gate task, so the tasks submitted next
 * are surely PENDING: cancelling them returns 0, makes them CANCELLED,
 * calls destroy at once on this thread with the task's payload, and the
 * task never runs.  Cancelling a RUNNING one gives -EBUSY, a final one
 * -EALREADY. */
START_TEST(test_cancel_pending)
{
	int w = WORKERS[_i];
	struct cx_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->test_thread = pthread_self();
	g_cx = c;
	prunner_t *r = open_runner(w);
	struct gate gt = { 0 };
	prunner_future_t **gates = calloc((size_t)w, sizeof *gates);
	ck_assert_ptr_nonnull(gates);
	for (int i = 0; i < w; i++)
		gates[i] = submit_gate(r, &gt);
	wait_started(&gt, w);
	for (int i = 0; i < w; i++) {
		ck_assert_int_eq(prunner_future_state(gates[i]), PRUNNER_FUTURE_RUNNING);
		ck_assert_int_eq(prunner_future_cancel(gates[i]), -EBUSY);
	}

	prunner_future_t *fs[CX_N];
	for (uint32_t i = 0; i < CX_N; i++) {
		struct cx_big b;
		b.h.magic = CX_MAGIC;
		b.h.id = i;
		b.h.c = c;
		for (size_t k = 0; k < CX_PAD; k++)
			b.pad[k] = (unsigned char)(i + k);
		size_t size = i % 2 ? sizeof b : sizeof b.h;
		ck_assert_int_eq(prunner_submit(r, cx_task, &b, size, cx_destroy, &fs[i]), 0);
		memset(&b, 0, sizeof b); /* the payload is a copy */
	}
	prunner_future_t *fe, *fnd;
	ck_assert_int_eq(prunner_submit(r, cx_task_empty, NULL, 0, cx_destroy, &fe), 0);
	ck_assert_int_eq(prunner_submit(r, cx_task_empty, NULL, 0, NULL, &fnd), 0); /* no destroy */

	for (uint32_t i = 0; i < CX_N; i++) {
		ck_assert_int_eq(prunner_future_state(fs[i]), PRUNNER_FUTURE_PENDING);
		ck_assert_int_eq(prunner_future_cancel(fs[i]), 0);
		/* Destroy ran during the call. */
		ck_assert_int_eq(atomic_load(&c->destroyed[i]), 1);
		ck_assert_int_eq(prunner_future_state(fs[i]), PRUNNER_FUTURE_CANCELLED);
		ck_assert_int_eq(prunner_future_status(fs[i]), -ECANCELED);
		char buf[4];
		size_t len = 0;
		ck_assert_int_eq(prunner_future_result(fs[i], buf, sizeof buf, &len), -ECANCELED);
		ck_assert_int_eq(prunner_future_wait(fs[i], 0), 0);
		ck_assert_int_eq(prunner_future_wait(fs[i], -1), 0);
		ck_assert_int_eq(prunner_future_cancel(fs[i]), -EALREADY);
		ck_assert_int_eq(atomic_load(&c->destroyed[i]), 1);
	}
	ck_assert_int_eq(prunner_future_cancel(fe), 0);
	ck_assert_int_eq(atomic_load(&c->null_destroyed), 1);
	ck_assert_int_eq(prunner_future_cancel(fnd), 0);
	ck_assert_int_eq(prunner_future_state(fnd), PRUNNER_FUTURE_CANCELLED);
	ck_assert_int_eq(prunner_future_cancel(fe), -EALREADY);

	gate_open(&gt);
	ck_assert_int_eq(prunner_wait_all(gates, (size_t)w, -1), 0);
	for (int i = 0; i < w; i++) {
		ck_assert_int_eq(prunner_future_state(gates[i]), PRUNNER_FUTURE_DONE);
		ck_assert_int_eq(prunner_future_cancel(gates[i]), -EALREADY);
		prunner_future_release(gates[i]);
	}
	/* The workers now take the cancelled tasks and must skip them. */
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	struct prunner_stats st;
	ck_assert_int_eq(prunner_get_stats(r, &st), 0);
	prunner_free(r);
	for (uint32_t i = 0; i < CX_N; i++) {
		ck_assert_msg(atomic_load(&c->ran[i]) == 0, "w=%d: cancelled task %u ran", w, i);
		ck_assert_msg(atomic_load(&c->destroyed[i]) == 1, "w=%d: destroy of %u ran %d times", w, i,
		              atomic_load(&c->destroyed[i]));
		ck_assert_int_eq(prunner_future_state(fs[i]), PRUNNER_FUTURE_CANCELLED);
		prunner_future_release(fs[i]);
	}
	ck_assert_int_eq(atomic_load(&c->null_destroyed), 1);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->wrong_thread), 0);
	prunner_future_release(fe);
	prunner_future_release(fnd);
	free(gates);
	free(c);
	/* Last, so that the checks above still run: only the gates ran
	 * ("executed: tasks that ran"). */
	ck_assert_msg(st.executed == (uint64_t)w,
	              "w=%d: stats.executed %" PRIu64 ", but only the %d gate tasks ran (%d were cancelled)", w,
	              st.executed, w, CX_N + 2);
}
END_TEST

static int fail_task(void *data)
{
	(void)data;
	return 5;
}

START_TEST(test_cancel_final)
{
	int w = WORKERS[_i];
	prunner_t *r = open_runner(w);
	prunner_future_t *ok, *bad;
	ck_assert_int_eq(prunner_submit(r, noop_task, NULL, 0, NULL, &ok), 0);
	ck_assert_int_eq(prunner_submit(r, fail_task, NULL, 0, NULL, &bad), 0);
	ck_assert_int_eq(prunner_future_wait(ok, -1), 0);
	ck_assert_int_eq(prunner_future_wait(bad, -1), 0);
	ck_assert_int_eq(prunner_future_cancel(ok), -EALREADY);
	ck_assert_int_eq(prunner_future_cancel(bad), -EALREADY);
	ck_assert_int_eq(prunner_future_state(ok), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(prunner_future_state(bad), PRUNNER_FUTURE_FAILED);
	ck_assert_int_eq(prunner_future_status(bad), 5);
	prunner_future_release(ok);
	prunner_future_release(bad);
	close_and_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Continuations                                                            */
/* ------------------------------------------------------------------------ */

#define CHAIN_LEN 1000

static atomic_int g_add_ran, g_add_bad, g_add_destroyed;

static int add_one(void *data)
{
	atomic_fetch_add(&g_add_ran, 1);
	if (!data) {
		atomic_fetch_add(&g_add_bad, 1);
		return 1;
	}
	int64_t v;
	memcpy(&v, data, sizeof v);
	if (set_result_i64(v + 1) != 0)
		atomic_fetch_add(&g_add_bad, 1);
	return 0;
}

static void add_destroy(void *data)
{
	(void)data;
	atomic_fetch_add(&g_add_destroyed, 1);
}

struct zero_job {
	struct gate *g; /* NULL: no gate */
	int64_t start;
};

static int start_task(void *data)
{
	struct zero_job *j = data;
	if (j->g)
		while (!atomic_load_explicit(&j->g->open, memory_order_acquire))
			sched_yield();
	set_result_i64(j->start);
	return 0;
}

/* Builds a chain of CHAIN_LEN continuations after root, releasing the
 * intermediate handles at once; returns the last. */
static prunner_future_t *build_chain(prunner_future_t *root)
{
	prunner_future_t *prev = root;
	for (int i = 0; i < CHAIN_LEN; i++) {
		prunner_future_t *next = (prunner_future_t *)(uintptr_t)1;
		ck_assert_int_eq(prunner_then(prev, add_one, add_destroy, &next), 0);
		ck_assert_ptr_nonnull(next);
		if (prev != root)
			prunner_future_release(prev);
		prev = next;
	}
	return prev;
}

/* A chain of 1000 continuations each adding 1: built while the root is
 * held by a gate (every link registered on a pending future), and built
 * behind a root that is already final (links posted as they are made,
 * racing with the ones running). */
START_TEST(test_then_chain)
{
	int w = WORKERS[_i];
	atomic_store(&g_add_ran, 0);
	atomic_store(&g_add_bad, 0);
	atomic_store(&g_add_destroyed, 0);
	prunner_t *r = open_runner(w);

	struct gate gt = { 0 };
	struct zero_job j = { &gt, 0 };
	prunner_future_t *root;
	ck_assert_int_eq(prunner_submit(r, start_task, &j, sizeof j, NULL, &root), 0);
	prunner_future_t *last = build_chain(root);
	ck_assert_int_eq(prunner_future_wait(last, 0), -ETIMEDOUT);
	ck_assert_int_eq(atomic_load(&g_add_ran), 0);
	gate_open(&gt);
	ck_assert_int_eq(prunner_future_wait(last, -1), 0);
	ck_assert_int_eq(prunner_future_state(last), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(result_i64(last), CHAIN_LEN);
	ck_assert_int_eq(prunner_future_state(root), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(atomic_load(&g_add_ran), CHAIN_LEN);
	prunner_future_release(last);
	prunner_future_release(root);

	struct zero_job j2 = { NULL, 5000 };
	ck_assert_int_eq(prunner_submit(r, start_task, &j2, sizeof j2, NULL, &root), 0);
	ck_assert_int_eq(prunner_future_wait(root, -1), 0);
	last = build_chain(root);
	ck_assert_int_eq(prunner_future_wait(last, -1), 0);
	ck_assert_int_eq(result_i64(last), 5000 + CHAIN_LEN);
	prunner_future_release(last);
	prunner_future_release(root);

	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&g_add_ran), 2 * CHAIN_LEN);
	ck_assert_int_eq(atomic_load(&g_add_bad), 0);
	ck_assert_int_eq(atomic_load(&g_add_destroyed), 0);
	close_and_free(r);
}
END_TEST

/* Continuation payloads: a copy of the source's result, or NULL when the
 * source set none; on an already final source the continuation runs. */
#define TF_MAGIC 0x5eedf00dcafe1234ull

struct tf_ctx {
	atomic_int ran_with_result, ran_null, bad;
};
static struct tf_ctx g_tf;

struct tf_result {
	uint64_t magic;
	unsigned char bytes[40];
};

static int tf_source(void *data)
{
	int with = *(int *)data;
	if (with) {
		struct tf_result res = { .magic = TF_MAGIC };
		for (int k = 0; k < 40; k++)
			res.bytes[k] = (unsigned char)(k * 3);
		prunner_set_result(&res, sizeof res);
	}
	return 0;
}

static int tf_cont(void *data)
{
	if (!data) {
		atomic_fetch_add(&g_tf.ran_null, 1);
		return 0;
	}
	struct tf_result *res = data;
	if (res->magic != TF_MAGIC)
		atomic_fetch_add(&g_tf.bad, 1);
	for (int k = 0; k < 40; k++)
		if (res->bytes[k] != (unsigned char)(k * 3))
			atomic_fetch_add(&g_tf.bad, 1);
	atomic_fetch_add(&g_tf.ran_with_result, 1);
	return 0;
}

START_TEST(test_then_on_final)
{
	int w = WORKERS[_i];
	memset(&g_tf, 0, sizeof g_tf);
	atomic_store(&g_add_destroyed, 0);
	prunner_t *r = open_runner(w);
	for (int with = 0; with < 2; with++) {
		prunner_future_t *src, *cont;
		ck_assert_int_eq(prunner_submit(r, tf_source, &with, sizeof with, NULL, &src), 0);
		ck_assert_int_eq(prunner_future_wait(src, -1), 0);
		ck_assert_int_eq(prunner_then(src, tf_cont, add_destroy, &cont), 0);
		ck_assert_int_eq(prunner_future_wait(cont, -1), 0);
		ck_assert_int_eq(prunner_future_state(cont), PRUNNER_FUTURE_DONE);
		/* A continuation with no handle wanted still runs. */
		ck_assert_int_eq(prunner_then(src, tf_cont, add_destroy, NULL), 0);
		prunner_future_release(cont);
		prunner_future_release(src);
	}
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&g_tf.ran_null), 2);
	ck_assert_int_eq(atomic_load(&g_tf.ran_with_result), 2);
	ck_assert_int_eq(atomic_load(&g_tf.bad), 0);
	ck_assert_int_eq(atomic_load(&g_add_destroyed), 0);
	close_and_free(r);
}
END_TEST

/* After a FAILED or CANCELLED source the continuation never runs, becomes
 * CANCELLED, and its destroy runs once with a copy of the source's result
 * (NULL when there is none); a chain behind it is cancelled link by
 * link. */
struct tx_ctx {
	atomic_int ran, destroyed_with, destroyed_null, bad;
};
static struct tx_ctx g_tx;

static int tx_failing_source(void *data)
{
	struct gate *g = *(struct gate **)data;
	if (g)
		while (!atomic_load_explicit(&g->open, memory_order_acquire))
			sched_yield();
	uint32_t why[4] = { 0xdead, 1, 2, 3 };
	prunner_set_result(why, sizeof why);
	return 9;
}

static int tx_cont(void *data)
{
	(void)data;
	atomic_fetch_add(&g_tx.ran, 1);
	return 0;
}

static void tx_destroy(void *data)
{
	if (!data) {
		atomic_fetch_add(&g_tx.destroyed_null, 1);
		return;
	}
	uint32_t why[4];
	memcpy(why, data, sizeof why);
	if (why[0] != 0xdead || why[1] != 1 || why[2] != 2 || why[3] != 3)
		atomic_fetch_add(&g_tx.bad, 1);
	atomic_fetch_add(&g_tx.destroyed_with, 1);
}

static void expect_cancelled(prunner_future_t *f)
{
	ck_assert_int_eq(prunner_future_wait(f, -1), 0);
	ck_assert_int_eq(prunner_future_state(f), PRUNNER_FUTURE_CANCELLED);
	ck_assert_int_eq(prunner_future_status(f), -ECANCELED);
	size_t len;
	char buf[4];
	ck_assert_int_eq(prunner_future_result(f, buf, sizeof buf, &len), -ECANCELED);
}

START_TEST(test_then_after_failure)
{
	int w = WORKERS[_i];
	memset(&g_tx, 0, sizeof g_tx);
	prunner_t *r = open_runner(w);

	/* FAILED source, continuation registered before it completes (chain
	 * of 3) and after. */
	struct gate gt = { 0 };
	struct gate *gp = &gt;
	prunner_future_t *src, *c1, *c2, *c3, *late;
	ck_assert_int_eq(prunner_submit(r, tx_failing_source, &gp, sizeof gp, NULL, &src), 0);
	ck_assert_int_eq(prunner_then(src, tx_cont, tx_destroy, &c1), 0);
	ck_assert_int_eq(prunner_then(c1, tx_cont, tx_destroy, &c2), 0);
	ck_assert_int_eq(prunner_then(c2, tx_cont, tx_destroy, &c3), 0);
	gate_open(&gt);
	ck_assert_int_eq(prunner_future_wait(src, -1), 0);
	ck_assert_int_eq(prunner_future_state(src), PRUNNER_FUTURE_FAILED);
	ck_assert_int_eq(prunner_future_status(src), 9);
	ck_assert_int_eq(prunner_then(src, tx_cont, tx_destroy, &late), 0);
	expect_cancelled(c1);
	expect_cancelled(c2);
	expect_cancelled(c3);
	expect_cancelled(late);
	/* c1 and late got the source's result; c2 and c3 follow a
	 * cancelled source with no result. */
	ck_assert_int_eq(atomic_load(&g_tx.destroyed_with), 2);
	ck_assert_int_eq(atomic_load(&g_tx.destroyed_null), 2);
	prunner_future_release(src);
	prunner_future_release(c1);
	prunner_future_release(c2);
	prunner_future_release(c3);
	prunner_future_release(late);

	/* CANCELLED source (cancelled while every worker is held). */
	struct gate hold = { 0 };
	prunner_future_t **gates = calloc((size_t)w, sizeof *gates);
	ck_assert_ptr_nonnull(gates);
	for (int i = 0; i < w; i++)
		gates[i] = submit_gate(r, &hold);
	wait_started(&hold, w);
	struct gate *none = NULL;
	prunner_future_t *csrc, *before, *after;
	ck_assert_int_eq(prunner_submit(r, tx_failing_source, &none, sizeof none, NULL, &csrc), 0);
	ck_assert_int_eq(prunner_then(csrc, tx_cont, tx_destroy, &before), 0);
	ck_assert_int_eq(prunner_future_cancel(csrc), 0);
	ck_assert_int_eq(prunner_then(csrc, tx_cont, tx_destroy, &after), 0);
	expect_cancelled(csrc);
	expect_cancelled(before);
	expect_cancelled(after);
	ck_assert_int_eq(atomic_load(&g_tx.destroyed_null), 4);
	gate_open(&hold);
	ck_assert_int_eq(prunner_wait_all(gates, (size_t)w, -1), 0);
	for (int i = 0; i < w; i++)
		prunner_future_release(gates[i]);
	free(gates);
	prunner_future_release(csrc);
	prunner_future_release(before);
	prunner_future_release(after);

	ck_assert_int_eq(prunner_wait_idle(r), 0);
	close_and_free(r);
	ck_assert_int_eq(atomic_load(&g_tx.ran), 0);
	ck_assert_int_eq(atomic_load(&g_tx.destroyed_with), 2);
	ck_assert_int_eq(atomic_load(&g_tx.destroyed_null), 4);
	ck_assert_int_eq(atomic_load(&g_tx.bad), 0);
}
END_TEST

/* A continuation cancelled while its source completes on a worker: the
 * cancel either wins (0: CANCELLED, never runs, destroy once; its payload,
 * if any, is the source's result) or loses (-EBUSY / -EALREADY: it runs
 * once, no destroy).  The test thread only polls states (atomic loads), so
 * that nothing it does orders its cancel against the worker's resolution
 * of the continuation: ThreadSanitizer sees any unsynchronised access. */
#define TC_ROUNDS 400

struct tcr_ctx {
	atomic_int ran, destroyed, bad_payload;
};
static struct tcr_ctx g_tcr;

static int tcr_source(void *data)
{
	struct gate *g = *(struct gate **)data;
	while (!atomic_load_explicit(&g->open, memory_order_acquire))
		sched_yield();
	set_result_i64(4242);
	return 0;
}

static int tcr_cont(void *data)
{
	int64_t v = 0;
	if (data)
		memcpy(&v, data, sizeof v);
	if (v != 4242)
		atomic_fetch_add(&g_tcr.bad_payload, 1);
	atomic_fetch_add(&g_tcr.ran, 1);
	return 0;
}

static void tcr_destroy(void *data)
{
	if (data) {
		int64_t v;
		memcpy(&v, data, sizeof v);
		if (v != 4242)
			atomic_fetch_add(&g_tcr.bad_payload, 1);
	}
	atomic_fetch_add(&g_tcr.destroyed, 1);
}

START_TEST(test_then_cancel_race)
{
	int w = WORKERS[_i];
	memset(&g_tcr, 0, sizeof g_tcr);
	prunner_t *r = open_runner(w);
	int won = 0, lost = 0;
	/* One gate per round, freed once every task is over. */
	struct gate *gates = calloc(TC_ROUNDS, sizeof *gates);
	ck_assert_ptr_nonnull(gates);
	for (int round = 0; round < TC_ROUNDS; round++) {
		struct gate *g = &gates[round];
		prunner_future_t *src, *cont;
		ck_assert_int_eq(prunner_submit(r, tcr_source, &g, sizeof g, NULL, &src), 0);
		ck_assert_int_eq(prunner_then(src, tcr_cont, tcr_destroy, &cont), 0);
		gate_open(g);
		for (int k = 0; k < round % 40; k++)
			sched_yield();
		int rc = prunner_future_cancel(cont);
		if (rc == 0)
			won++;
		else if (rc == -EBUSY || rc == -EALREADY)
			lost++;
		else
			ck_abort_msg("w=%d round %d: cancel of a continuation returned %d", w, round, rc);
		while (prunner_future_state(src) < PRUNNER_FUTURE_DONE || prunner_future_state(cont) < PRUNNER_FUTURE_DONE)
			sched_yield();
		ck_assert_int_eq(prunner_future_state(src), PRUNNER_FUTURE_DONE);
		ck_assert_int_eq(prunner_future_state(cont), rc == 0 ? PRUNNER_FUTURE_CANCELLED : PRUNNER_FUTURE_DONE);
		prunner_future_release(cont);
		prunner_future_release(src);
	}
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	close_and_free(r);
	free(gates);
	ck_assert_int_eq(won + lost, TC_ROUNDS);
	ck_assert_msg(atomic_load(&g_tcr.ran) == lost && atomic_load(&g_tcr.destroyed) == won,
	              "w=%d: %d cancels won, %d lost; %d continuations ran, %d destroys", w, won, lost,
	              atomic_load(&g_tcr.ran), atomic_load(&g_tcr.destroyed));
	ck_assert_int_eq(atomic_load(&g_tcr.bad_payload), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* wait_all / wait_any                                                      */
/* ------------------------------------------------------------------------ */

static void *open_gate_thread(void *arg)
{
	gate_open(arg);
	return NULL;
}

/* n futures: one (index n/2+1 or 1) held by its own gate and surely
 * RUNNING, the others behind a second gate.  wait_any, blocked, wakes when
 * a helper thread opens the first gate and names that index; wait_all
 * times out until the second gate opens. */
static void wait_any_all_case(int w, size_t n)
{
	prunner_t *r = open_runner(w);
	struct gate one = { 0 }, rest = { 0 };
	size_t k = n > 3 ? n / 2 + 1 : 1;
	prunner_future_t **fs = calloc(n, sizeof *fs);
	ck_assert_ptr_nonnull(fs);
	fs[k] = submit_gate(r, &one);
	wait_started(&one, 1);
	for (size_t i = 0; i < n; i++)
		if (i != k)
			fs[i] = submit_gate(r, &rest);

	size_t idx = 999;
	ck_assert_int_eq(prunner_wait_any(fs, n, 0, &idx), -ETIMEDOUT);
	ck_assert_int_eq(prunner_wait_any(fs, n, MS, &idx), -ETIMEDOUT);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, open_gate_thread, &one), 0);
	ck_assert_int_eq(prunner_wait_any(fs, n, -1, &idx), 0);
	ck_assert_uint_eq(idx, k);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(prunner_future_state(fs[k]), PRUNNER_FUTURE_DONE);
	idx = 999;
	ck_assert_int_eq(prunner_wait_any(fs, n, 0, &idx), 0);
	ck_assert_uint_eq(idx, k);

	ck_assert_int_eq(prunner_wait_all(fs, n, 0), -ETIMEDOUT);
	ck_assert_int_eq(prunner_wait_all(fs, n, MS), -ETIMEDOUT);
	gate_open(&rest);
	ck_assert_int_eq(prunner_wait_all(fs, n, -1), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(prunner_future_state(fs[i]), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(prunner_wait_all(fs, n, 0), 0);
	ck_assert_int_eq(prunner_wait_any(fs, n, -1, &idx), 0);
	ck_assert_uint_lt(idx, n);

	/* Bad arguments. */
	ck_assert_int_eq(prunner_wait_any(NULL, 1, 0, &idx), -EINVAL);
	ck_assert_int_eq(prunner_wait_any(fs, 0, 0, &idx), -EINVAL);
	ck_assert_int_eq(prunner_wait_all(NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(prunner_wait_all(fs, 0, -1), 0);
	prunner_future_t *saved = fs[n - 1];
	fs[n - 1] = NULL;
	ck_assert_int_eq(prunner_wait_any(fs, n, -1, &idx), -EINVAL);
	ck_assert_int_eq(prunner_wait_all(fs, n, -1), -EINVAL);
	fs[n - 1] = saved;

	for (size_t i = 0; i < n; i++)
		prunner_future_release(fs[i]);
	free(fs);
	close_and_free(r);
}

START_TEST(test_wait_any_all)
{
	int w = WORKERS[_i];
	wait_any_all_case(w, 3);  /* fewer than 8: the waiter's links on its stack */
	wait_any_all_case(w, 20); /* more */
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Every future reaches exactly one final state, exactly once               */
/* ------------------------------------------------------------------------ */

/* N short tasks submitted from the test thread while a program thread
 * cancels every other one as soon as its handle is published.  Then, for
 * each future: final; ran exactly once iff DONE or FAILED (never when
 * CANCELLED); destroy ran exactly once iff CANCELLED, which is iff the
 * cancel call returned 0; status and result consistent; and the
 * completion fd delivered each future exactly once. */
#define RACE_N 2000

struct race_ctx {
	prunner_t *r;
	_Atomic(prunner_future_t *) fs[RACE_N];
	int cancel_rc[RACE_N]; /* written by the canceller, read after join */
	atomic_uchar ran[RACE_N];
	atomic_uchar destroyed[RACE_N];
	atomic_uchar delivered[RACE_N];
	atomic_int bad;
};

struct race_job {
	uint32_t id;
	struct race_ctx *c;
};

static int race_ret(uint32_t id)
{
	return id % 5 == 3 ? (int)id + 1 : 0;
}

static int race_task(void *data)
{
	struct race_job *j = data;
	atomic_fetch_add(&j->c->ran[j->id], 1);
	set_result_i64(j->id);
	return race_ret(j->id);
}

static atomic_int g_race_bad_payload;

static void race_destroy(void *data)
{
	struct race_job *j = data;
	if (!j || j->id >= RACE_N) {
		atomic_fetch_add(&g_race_bad_payload, 1);
		return;
	}
	atomic_fetch_add(&j->c->destroyed[j->id], 1);
}

static void *race_canceller(void *arg)
{
	struct race_ctx *c = arg;
	for (uint32_t i = 0; i < RACE_N; i += 2) {
		prunner_future_t *f;
		while (!(f = atomic_load_explicit(&c->fs[i], memory_order_acquire)))
			sched_yield();
		c->cancel_rc[i] = prunner_future_cancel(f);
	}
	return NULL;
}

static void race_round(int w)
{
	struct race_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = open_runner(w);
	c->r = r;
	int fd = prunner_completion_fd(r);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(prunner_completion_fd(r), fd);

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, race_canceller, c), 0);
	for (uint32_t i = 0; i < RACE_N; i++) {
		struct race_job j = { i, c };
		prunner_future_t *f = NULL;
		int rc = prunner_submit(r, race_task, &j, sizeof j, race_destroy, &f);
		if (rc != 0 || !f) {
			/* Keep the canceller going before failing. */
			atomic_fetch_add(&c->bad, 1);
			ck_assert_int_eq(prunner_submit(r, noop_task, NULL, 0, NULL, &f), 0);
		}
		atomic_store_explicit(&c->fs[i], f, memory_order_release);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);

	prunner_future_t **all = malloc(RACE_N * sizeof *all);
	ck_assert_ptr_nonnull(all);
	for (uint32_t i = 0; i < RACE_N; i++)
		all[i] = atomic_load(&c->fs[i]);
	ck_assert_int_eq(prunner_wait_all(all, RACE_N, -1), 0);
	ck_assert_int_eq(prunner_wait_idle(r), 0);

	int cancelled = 0, cancel_ok = 0, destroyed = 0;
	for (uint32_t i = 0; i < RACE_N; i++) {
		prunner_future_t *f = all[i];
		enum prunner_future_state st = prunner_future_state(f);
		int ran = atomic_load(&c->ran[i]);
		int dest = atomic_load(&c->destroyed[i]);
		destroyed += dest;
		if (i % 2 == 0 && c->cancel_rc[i] == 0)
			cancel_ok++;
		if (st == PRUNNER_FUTURE_CANCELLED) {
			cancelled++;
			ck_assert_msg(ran == 0 && dest == 1, "w=%d: CANCELLED future %u ran %d times, destroyed %d times",
			              w, i, ran, dest);
			ck_assert_msg(i % 2 == 0 && c->cancel_rc[i] == 0,
			              "w=%d: future %u CANCELLED, but its cancel returned %d", w, i,
			              i % 2 == 0 ? c->cancel_rc[i] : 1);
			ck_assert_int_eq(prunner_future_status(f), -ECANCELED);
		} else {
			int ret = race_ret(i);
			ck_assert_msg(st == (ret ? PRUNNER_FUTURE_FAILED : PRUNNER_FUTURE_DONE),
			              "w=%d: future %u in state %d", w, i, (int)st);
			ck_assert_msg(ran == 1 && dest == 0, "w=%d: %s future %u ran %d times, destroyed %d times", w,
			              ret ? "FAILED" : "DONE", i, ran, dest);
			if (i % 2 == 0)
				ck_assert_msg(c->cancel_rc[i] == -EBUSY || c->cancel_rc[i] == -EALREADY,
				              "w=%d: future %u ran, but its cancel returned %d", w, i, c->cancel_rc[i]);
			ck_assert_int_eq(prunner_future_status(f), ret);
			ck_assert_int_eq(result_i64(f), i);
		}
	}
	ck_assert_int_eq(atomic_load(&g_race_bad_payload), 0);
	ck_assert_int_eq(cancelled, cancel_ok);
	ck_assert_int_eq(destroyed, cancelled);

	/* The completion queue holds each future exactly once. */
	struct ptr_idx *map = malloc(RACE_N * sizeof *map);
	ck_assert_ptr_nonnull(map);
	for (uint32_t i = 0; i < RACE_N; i++) {
		map[i].p = (uintptr_t)all[i];
		map[i].i = i;
	}
	qsort(map, RACE_N, sizeof *map, cmp_ptr);
	ck_assert(fd_readable_now(fd));
	int total = 0;
	prunner_future_t *buf[64];
	for (;;) {
		int n = prunner_completed(r, buf, 64);
		ck_assert_int_ge(n, 0);
		for (int k = 0; k < n; k++) {
			uintptr_t key = (uintptr_t)buf[k];
			struct ptr_idx *hit = bsearch(&key, map, RACE_N, sizeof *map, cmp_ptr);
			ck_assert_msg(hit != NULL, "w=%d: prunner_completed gave an unknown future", w);
			ck_assert_msg(atomic_fetch_add(&c->delivered[hit->i], 1) == 0,
			              "w=%d: future %u delivered twice", w, hit->i);
			prunner_future_release(buf[k]);
		}
		total += n;
		if (n < 64)
			break;
	}
	ck_assert_msg(total == RACE_N, "w=%d: %d completions delivered, expected %d", w, total, RACE_N);
	ck_assert(!fd_readable_now(fd));
	ck_assert_int_eq(prunner_completed(r, buf, 64), 0);

	for (uint32_t i = 0; i < RACE_N; i++)
		prunner_future_release(all[i]);
	free(map);
	free(all);
	close_and_free(r);
	free(c);
}

START_TEST(test_exactly_once_with_cancel_race)
{
	int w = RACE_WORKERS[_i];
	for (int round = 0; round < 10; round++)
		race_round(w);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The completion fd                                                        */
/* ------------------------------------------------------------------------ */

#define CF_N 100

struct cf_ctx {
	atomic_int submit_err;
	atomic_uchar seen[2 * CF_N];
};

static int cf_task(void *data)
{
	uint32_t id = *(uint32_t *)data;
	set_result_i64(id);
	return id % 7 == 0; /* FAILED ones complete too */
}

static void cf_begin(prunner_t *r, void *arg)
{
	struct cf_ctx *c = arg;
	for (uint32_t i = 0; i < CF_N; i++)
		if (prunner_submit(r, cf_task, &i, sizeof i, NULL, NULL) != 0) /* no handle kept */
			atomic_fetch_add(&c->submit_err, 1);
}

/* Drains with small batches; returns how many came.  Every future must be
 * final and carry a result id in [0, lim). */
static int cf_drain(prunner_t *r, int fd, struct cf_ctx *c, uint32_t lim)
{
	int total = 0;
	prunner_future_t *out[7];
	for (;;) {
		int n = prunner_completed(r, out, 7);
		ck_assert_int_ge(n, 0);
		for (int k = 0; k < n; k++) {
			enum prunner_future_state st = prunner_future_state(out[k]);
			ck_assert(st == PRUNNER_FUTURE_DONE || st == PRUNNER_FUTURE_FAILED);
			int64_t id = result_i64(out[k]);
			ck_assert(id >= 0 && (uint64_t)id < lim);
			ck_assert_msg(atomic_fetch_add(&c->seen[id], 1) == 0, "future %d delivered twice", (int)id);
			prunner_future_release(out[k]);
		}
		total += n;
		if (n < 7) {
			/* A call that returned fewer than max leaves the fd quiet. */
			ck_assert(!fd_readable_now(fd));
			return total;
		}
	}
}

START_TEST(test_completion_fd)
{
	int w = WORKERS[_i];
	struct cf_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = new_runner_default(w);
	prunner_future_t *out[4];
	ck_assert_int_eq(prunner_completed(r, out, 4), 0); /* no fd yet */
	ck_assert_int_eq(prunner_set_hooks(r, cf_begin, NULL, c), 0);

	/* Futures that complete before the fd exists are not queued. */
	ck_assert_int_eq(prunner_run(r), CF_N / 7 + 1);
	int fd = prunner_completion_fd(r);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(prunner_completion_fd(r), fd);
	ck_assert(!fd_readable_now(fd));
	ck_assert_int_eq(prunner_completed(r, out, 4), 0);
	ck_assert_int_eq(prunner_completed(r, NULL, 0), 0);

	/* A run: everything is complete when it returns. */
	ck_assert_int_eq(prunner_run(r), CF_N / 7 + 1);
	ck_assert(fd_readable_now(fd));
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, -1), 1); /* work known complete: may block */
	ck_assert_int_eq(cf_drain(r, fd, c, CF_N), CF_N);
	for (int i = 0; i < CF_N; i++)
		ck_assert_int_eq(atomic_load(&c->seen[i]), 1);
	ck_assert_int_eq(prunner_completed(r, out, 4), 0);
	ck_assert(!fd_readable_now(fd));

	/* The executor: futures and continuations of them, and cancelled
	 * ones (which complete too). */
	memset(c->seen, 0, sizeof c->seen);
	ck_assert_int_eq(prunner_set_hooks(r, NULL, NULL, NULL), 0);
	ck_assert_int_eq(prunner_open(r), 0);
	for (uint32_t i = 0; i < CF_N; i++) {
		prunner_future_t *f;
		ck_assert_int_eq(prunner_submit(r, cf_task, &i, sizeof i, NULL, &f), 0);
		ck_assert_int_eq(prunner_then(f, add_one, NULL, NULL), 0);
		prunner_future_release(f);
	}
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(poll(&p, 1, -1), 1);
	/* CF_N sources, and one continuation per DONE source (id + 1, so
	 * ids up to CF_N); a FAILED source's continuation is CANCELLED. */
	int total = 0;
	int cancelled = 0;
	prunner_future_t *o[5];
	for (;;) {
		int n = prunner_completed(r, o, 5);
		for (int k = 0; k < n; k++) {
			if (prunner_future_state(o[k]) == PRUNNER_FUTURE_CANCELLED)
				cancelled++;
			prunner_future_release(o[k]);
		}
		total += n;
		if (n < 5)
			break;
	}
	ck_assert_int_eq(total, 2 * CF_N);
	ck_assert_int_eq(cancelled, CF_N / 7 + 1);
	ck_assert(!fd_readable_now(fd));
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);

	/* Completions left in the queue are released by prunner_free (the
	 * leak checker of the sanitizer builds watches), and the fd closed. */
	ck_assert_int_eq(prunner_open(r), 0);
	for (uint32_t i = 0; i < 10; i++)
		ck_assert_int_eq(prunner_submit(r, cf_task, &i, sizeof i, NULL, NULL), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	ck_assert(fd_readable_now(fd));
	ck_assert_int_eq(atomic_load(&c->submit_err), 0);
	prunner_free(r);
	errno = 0;
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	free(c);
}
END_TEST

/* A program thread drains in a loop, blocking in poll(fd, -1), until it
 * has received N completions, while N futures complete on the workers:
 * the loop ends only if no completion is missed. */
#define CR_N 3000

struct cr_ctx {
	prunner_t *r;
	int fd;
	atomic_uchar seen[CR_N];
	atomic_int got, cancelled, dup, bad, poll_err;
};

static int cr_task(void *data)
{
	uint32_t id = *(uint32_t *)data;
	set_result_i64(id);
	return 0;
}

static void *cr_drainer(void *arg)
{
	struct cr_ctx *c = arg;
	prunner_future_t *out[16];
	int got = 0;
	while (got < CR_N) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0) {
			atomic_fetch_add(&c->poll_err, 1);
			continue;
		}
		int n = prunner_completed(c->r, out, 16);
		if (n < 0) {
			atomic_fetch_add(&c->bad, 1);
			break;
		}
		for (int k = 0; k < n; k++) {
			enum prunner_future_state st = prunner_future_state(out[k]);
			if (st == PRUNNER_FUTURE_CANCELLED) {
				atomic_fetch_add(&c->cancelled, 1);
			} else {
				int64_t id = -1;
				size_t len = 0;
				if (st != PRUNNER_FUTURE_DONE ||
				    prunner_future_result(out[k], &id, sizeof id, &len) != 0 || len != sizeof id ||
				    id < 0 || id >= CR_N)
					atomic_fetch_add(&c->bad, 1);
				else if (atomic_fetch_add(&c->seen[id], 1) != 0)
					atomic_fetch_add(&c->dup, 1);
			}
			prunner_future_release(out[k]);
		}
		got += n;
	}
	atomic_store(&c->got, got);
	return NULL;
}

/* One round; returns nothing, asserts on the test thread. */
static void completion_race_round(int w, int n)
{
	struct cr_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = open_runner(w);
	c->r = r;
	c->fd = prunner_completion_fd(r);
	ck_assert_int_ge(c->fd, 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, cr_drainer, c), 0);
	int cancel_ok = 0;
	for (uint32_t i = 0; i < (uint32_t)n; i++) {
		if (i % 4 == 0) {
			/* Some with a handle, half of those cancelled (racing
			 * with their run). */
			prunner_future_t *f;
			ck_assert_int_eq(prunner_submit(r, cr_task, &i, sizeof i, NULL, &f), 0);
			if (i % 8 == 0 && prunner_future_cancel(f) == 0)
				cancel_ok++;
			prunner_future_release(f);
		} else {
			ck_assert_int_eq(prunner_submit(r, cr_task, &i, sizeof i, NULL, NULL), 0);
		}
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->dup), 0);
	ck_assert_int_eq(atomic_load(&c->poll_err), 0);
	ck_assert_int_eq(atomic_load(&c->got), n);
	ck_assert_int_eq(atomic_load(&c->cancelled), cancel_ok);
	int seen = 0;
	for (int i = 0; i < n; i++)
		seen += atomic_load(&c->seen[i]);
	ck_assert_int_eq(seen + cancel_ok, n);
	/* Everything taken: nothing more, and the fd goes quiet. */
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	prunner_future_t *out[4];
	ck_assert_int_eq(prunner_completed(r, out, 4), 0);
	ck_assert(!fd_readable_now(c->fd));
	close_and_free(r);
	free(c);
}

START_TEST(test_completion_race)
{
	int w = WORKERS[_i];
	for (int round = 0; round < 3; round++)
		completion_race_round(w, CR_N);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Futures inside tasks                                                     */
/* ------------------------------------------------------------------------ */

/* Parents submit K children from inside their task, wait for them (three
 * ways: wait_all, a wait_any loop, one wait per child) while helping, and
 * set the sum of their results; each also submits fire-and-forget
 * children. */
#define SI_PARENTS 60
#define SI_K 12

struct si_ctx {
	atomic_int child_ran, ff_ran, bad;
};

struct si_job {
	uint32_t id;
	struct si_ctx *c;
};

static int si_child(void *data)
{
	struct si_job *j = data;
	atomic_fetch_add(&j->c->child_ran, 1);
	set_result_i64((int64_t)j->id * 3 + 1);
	return 0;
}

static int si_ff(void *data)
{
	struct si_job *j = data;
	atomic_fetch_add(&j->c->ff_ran, 1);
	return 0;
}

static int si_parent(void *data)
{
	struct si_job *pj = data;
	struct si_ctx *c = pj->c;
	prunner_t *r = prunner_current();
	prunner_future_t *fs[SI_K];
	for (uint32_t k = 0; k < SI_K; k++) {
		struct si_job j = { pj->id * 100 + k, c };
		if (prunner_submit(r, si_child, &j, sizeof j, NULL, &fs[k]) != 0) {
			atomic_fetch_add(&c->bad, 1);
			return 1;
		}
	}
	for (int k = 0; k < 2; k++)
		if (prunner_submit(r, si_ff, pj, sizeof *pj, NULL, NULL) != 0)
			atomic_fetch_add(&c->bad, 1);
	int mode = (int)(pj->id % 3);
	if (mode == 0) {
		if (prunner_wait_all(fs, SI_K, -1) != 0)
			atomic_fetch_add(&c->bad, 1);
	} else if (mode == 1) {
		prunner_future_t *left[SI_K];
		memcpy(left, fs, sizeof left);
		size_t n = SI_K;
		while (n > 0) {
			size_t idx = SIZE_MAX;
			if (prunner_wait_any(left, n, -1, &idx) != 0 || idx >= n) {
				atomic_fetch_add(&c->bad, 1);
				break;
			}
			left[idx] = left[--n];
		}
	} else {
		for (int k = SI_K - 1; k >= 0; k--)
			if (prunner_future_wait(fs[k], -1) != 0)
				atomic_fetch_add(&c->bad, 1);
	}
	int64_t sum = 0;
	for (uint32_t k = 0; k < SI_K; k++) {
		int64_t v = 0;
		size_t len = 0;
		if (prunner_future_state(fs[k]) != PRUNNER_FUTURE_DONE ||
		    prunner_future_result(fs[k], &v, sizeof v, &len) != 0 || len != sizeof v)
			atomic_fetch_add(&c->bad, 1);
		sum += v;
		prunner_future_release(fs[k]);
	}
	set_result_i64(sum);
	return 0;
}

START_TEST(test_submit_inside_tasks)
{
	int w = WORKERS[_i];
	struct si_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	prunner_t *r = open_runner(w);
	prunner_future_t *ps[SI_PARENTS];
	for (uint32_t i = 0; i < SI_PARENTS; i++) {
		struct si_job j = { i, c };
		ck_assert_int_eq(prunner_submit(r, si_parent, &j, sizeof j, NULL, &ps[i]), 0);
	}
	for (uint32_t i = 0; i < SI_PARENTS; i++) {
		ck_assert_int_eq(prunner_future_wait(ps[i], -1), 0);
		ck_assert_int_eq(prunner_future_state(ps[i]), PRUNNER_FUTURE_DONE);
		int64_t want = 0;
		for (uint32_t k = 0; k < SI_K; k++)
			want += (int64_t)(i * 100 + k) * 3 + 1;
		ck_assert_msg(result_i64(ps[i]) == want, "w=%d: parent %u sum wrong", w, i);
		prunner_future_release(ps[i]);
	}
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(atomic_load(&c->child_ran), SI_PARENTS * SI_K);
	ck_assert_int_eq(atomic_load(&c->ff_ran), SI_PARENTS * 2);
	close_and_free(r);
	free(c);
}
END_TEST

/* prunner_future_wait from a task of the same runner, at every worker
 * count and in particular on 1 worker, where only the waiting task's
 * helper can run what it waits for: a future submitted by the begin hook
 * after the task started (queued in the shared queue), and a chain of
 * nested waits (each task submits the next and waits for it). */
#define NW_DEPTH 200

struct nw_ctx {
	_Atomic(prunner_future_t *) outside;
	atomic_int outside_rc, bad;
	atomic_int chain_ran;
	prunner_future_t *top;
	prunner_future_t *chain;
	atomic_int submit_err;
};

static int nw_outside_task(void *data)
{
	(void)data;
	set_result_i64(4242);
	return 0;
}

static int nw_waiter(void *data)
{
	struct nw_ctx *c = *(struct nw_ctx **)data;
	prunner_future_t *f;
	while (!(f = atomic_load_explicit(&c->outside, memory_order_acquire)))
		sched_yield();
	atomic_store(&c->outside_rc, prunner_future_wait(f, -1));
	int64_t v = 0;
	size_t len;
	if (prunner_future_result(f, &v, sizeof v, &len) != 0 || v != 4242)
		atomic_fetch_add(&c->bad, 1);
	return 0;
}

struct chain_job {
	int depth;
	struct nw_ctx *c;
};

static int nw_chain(void *data)
{
	struct chain_job *j = data;
	atomic_fetch_add(&j->c->chain_ran, 1);
	if (j->depth == 0) {
		set_result_i64(0);
		return 0;
	}
	struct chain_job next = { j->depth - 1, j->c };
	prunner_future_t *f;
	if (prunner_submit(prunner_current(), nw_chain, &next, sizeof next, NULL, &f) != 0) {
		atomic_fetch_add(&j->c->bad, 1);
		return 1;
	}
	int64_t v = -1000000;
	size_t len;
	if (prunner_future_wait(f, -1) != 0 || prunner_future_result(f, &v, sizeof v, &len) != 0)
		atomic_fetch_add(&j->c->bad, 1);
	prunner_future_release(f);
	set_result_i64(v + 1);
	return 0;
}

static void nw_begin(prunner_t *r, void *arg)
{
	struct nw_ctx *c = arg;
	if (prunner_submit(r, nw_waiter, &c, sizeof c, NULL, &c->top) != 0)
		atomic_fetch_add(&c->submit_err, 1);
	struct chain_job j = { NW_DEPTH, c };
	if (prunner_submit(r, nw_chain, &j, sizeof j, NULL, &c->chain) != 0)
		atomic_fetch_add(&c->submit_err, 1);
	prunner_future_t *f = NULL;
	if (prunner_submit(r, nw_outside_task, NULL, 0, NULL, &f) != 0)
		atomic_fetch_add(&c->submit_err, 1);
	atomic_store_explicit(&c->outside, f, memory_order_release);
}

START_TEST(test_wait_inside_task)
{
	int w = WORKERS[_i];
	struct nw_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	atomic_store(&c->outside_rc, 1);
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, nw_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	ck_assert_int_eq(atomic_load(&c->submit_err), 0);
	ck_assert_int_eq(atomic_load(&c->outside_rc), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_int_eq(prunner_future_state(c->top), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(prunner_future_state(c->chain), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(result_i64(c->chain), NW_DEPTH);
	ck_assert_int_eq(atomic_load(&c->chain_ran), NW_DEPTH + 1);
	prunner_future_release(c->top);
	prunner_future_release(c->chain);
	prunner_future_release(atomic_load(&c->outside));
	prunner_free(r);
	free(c);
}
END_TEST

/* Recursive fib with a future per call: each call submits both sub-calls
 * and waits for them with prunner_wait_all (helping), then sets its
 * result.  Nested future waits on every worker count, one included. */
#define FF_N 16

static atomic_long g_ff_calls;
static atomic_int g_ff_bad;

static int ff_task(void *data)
{
	int n = *(int *)data;
	atomic_fetch_add_explicit(&g_ff_calls, 1, memory_order_relaxed);
	if (n < 2) {
		set_result_i64(n);
		return 0;
	}
	prunner_t *r = prunner_current();
	prunner_future_t *fs[2];
	int a = n - 1, b = n - 2;
	if (prunner_submit(r, ff_task, &a, sizeof a, NULL, &fs[0]) != 0 ||
	    prunner_submit(r, ff_task, &b, sizeof b, NULL, &fs[1]) != 0) {
		atomic_fetch_add(&g_ff_bad, 1);
		return 1;
	}
	int64_t sum = 0;
	if (prunner_wait_all(fs, 2, -1) != 0)
		atomic_fetch_add(&g_ff_bad, 1);
	for (int k = 0; k < 2; k++) {
		int64_t v = 0;
		size_t len = 0;
		if (prunner_future_result(fs[k], &v, sizeof v, &len) != 0 || len != sizeof v)
			atomic_fetch_add(&g_ff_bad, 1);
		sum += v;
		prunner_future_release(fs[k]);
	}
	set_result_i64(sum);
	return 0;
}

START_TEST(test_future_fib)
{
	int w = WORKERS[_i];
	atomic_store(&g_ff_calls, 0);
	atomic_store(&g_ff_bad, 0);
	prunner_t *r = open_runner(w);
	int n = FF_N;
	prunner_future_t *f;
	ck_assert_int_eq(prunner_submit(r, ff_task, &n, sizeof n, NULL, &f), 0);
	ck_assert_int_eq(prunner_future_wait(f, -1), 0);
	ck_assert_int_eq(prunner_future_state(f), PRUNNER_FUTURE_DONE);
	ck_assert_int_eq(result_i64(f), 987);
	prunner_future_release(f);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&g_ff_bad), 0);
	ck_assert_int_eq(atomic_load(&g_ff_calls), 3193); /* calls of fib(16) */
	close_and_free(r);
}
END_TEST

/* A task of runner A waits for a future of runner B (a program thread's
 * future, for B): results exact, nothing lost. */
#define XR_N 40

struct xr_ctx {
	prunner_t *b;
	atomic_int bad;
};

struct xr_job {
	uint32_t id;
	struct xr_ctx *c;
};

static int xr_b_task(void *data)
{
	uint32_t id = *(uint32_t *)data;
	set_result_i64((int64_t)id * 7);
	return 0;
}

static int xr_a_task(void *data)
{
	struct xr_job *j = data;
	prunner_future_t *f;
	if (prunner_submit(j->c->b, xr_b_task, &j->id, sizeof j->id, NULL, &f) != 0) {
		atomic_fetch_add(&j->c->bad, 1);
		return 1;
	}
	int64_t v = -1;
	size_t len;
	if (prunner_future_wait(f, -1) != 0 || prunner_future_result(f, &v, sizeof v, &len) != 0 ||
	    v != (int64_t)j->id * 7)
		atomic_fetch_add(&j->c->bad, 1);
	prunner_future_release(f);
	set_result_i64(v + 1);
	return 0;
}

START_TEST(test_wait_cross_runner)
{
	int w = WORKERS[_i];
	struct xr_ctx c = { 0 };
	prunner_t *a = open_runner(w);
	c.b = open_runner(w == 1 ? 1 : 2);
	prunner_future_t *fs[XR_N];
	for (uint32_t i = 0; i < XR_N; i++) {
		struct xr_job j = { i, &c };
		ck_assert_int_eq(prunner_submit(a, xr_a_task, &j, sizeof j, NULL, &fs[i]), 0);
	}
	ck_assert_int_eq(prunner_wait_all(fs, XR_N, -1), 0);
	for (uint32_t i = 0; i < XR_N; i++) {
		ck_assert_int_eq(result_i64(fs[i]), (int64_t)i * 7 + 1);
		prunner_future_release(fs[i]);
	}
	ck_assert_int_eq(atomic_load(&c.bad), 0);
	close_and_free(a);
	close_and_free(c.b);
}
END_TEST

/* Several program threads wait for the same future: blocking, polling and
 * timed waits, wait_any and wait_all; all see it DONE with its result. */
#define MW_THREADS 6

struct mw_ctx {
	prunner_future_t *f;
	int rc[MW_THREADS];
	int state[MW_THREADS];
	int64_t value[MW_THREADS];
};

struct mw_arg {
	struct mw_ctx *c;
	int k;
};

static int mw_task(void *data)
{
	struct gate *g = *(struct gate **)data;
	while (!atomic_load_explicit(&g->open, memory_order_acquire))
		sched_yield();
	set_result_i64(777);
	return 0;
}

static void *mw_thread(void *arg)
{
	struct mw_arg *a = arg;
	struct mw_ctx *c = a->c;
	int rc;
	size_t idx;
	switch (a->k % 4) {
	case 0:
		rc = prunner_future_wait(c->f, -1);
		break;
	case 1:
		while ((rc = prunner_future_wait(c->f, 0)) == -ETIMEDOUT)
			sched_yield();
		break;
	case 2:
		while ((rc = prunner_future_wait(c->f, MS)) == -ETIMEDOUT)
			;
		break;
	default:
		rc = prunner_wait_any(&c->f, 1, -1, &idx);
		if (rc == 0 && idx != 0)
			rc = -1000;
		if (rc == 0)
			rc = prunner_wait_all(&c->f, 1, -1);
		break;
	}
	c->rc[a->k] = rc;
	c->state[a->k] = prunner_future_state(c->f);
	size_t len = 0;
	if (prunner_future_result(c->f, &c->value[a->k], sizeof c->value[a->k], &len) != 0)
		c->value[a->k] = -1;
	return NULL;
}

START_TEST(test_wait_from_many_threads)
{
	int w = WORKERS[_i];
	prunner_t *r = open_runner(w);
	struct gate gt = { 0 };
	struct gate *gp = &gt;
	struct mw_ctx c;
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(prunner_submit(r, mw_task, &gp, sizeof gp, NULL, &c.f), 0);
	pthread_t th[MW_THREADS];
	struct mw_arg args[MW_THREADS];
	for (int k = 0; k < MW_THREADS; k++) {
		args[k].c = &c;
		args[k].k = k;
		ck_assert_int_eq(pthread_create(&th[k], NULL, mw_thread, &args[k]), 0);
	}
	gate_open(&gt);
	ck_assert_int_eq(prunner_future_wait(c.f, -1), 0);
	for (int k = 0; k < MW_THREADS; k++) {
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);
		ck_assert_int_eq(c.rc[k], 0);
		ck_assert_int_eq(c.state[k], PRUNNER_FUTURE_DONE);
		ck_assert_int_eq(c.value[k], 777);
	}
	prunner_future_release(c.f);
	close_and_free(r);
}
END_TEST

/* Handles released at once (while queued) and tasks without handles: each
 * runs exactly once; the memory checkers watch the references. */
#define RE_N 2000

static atomic_uchar g_re_ran[RE_N];

static int re_task(void *data)
{
	uint32_t id = *(uint32_t *)data;
	atomic_fetch_add(&g_re_ran[id], 1);
	return id % 3 == 0;
}

START_TEST(test_release_early)
{
	int w = WORKERS[_i];
	memset(g_re_ran, 0, sizeof g_re_ran);
	prunner_t *r = open_runner(w);
	for (uint32_t i = 0; i < RE_N; i++) {
		prunner_future_t *f = NULL;
		if (i % 2) {
			ck_assert_int_eq(prunner_submit(r, re_task, &i, sizeof i, NULL, &f), 0);
			prunner_future_release(f);
		} else {
			ck_assert_int_eq(prunner_submit(r, re_task, &i, sizeof i, NULL, NULL), 0);
		}
	}
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	for (uint32_t i = 0; i < RE_N; i++)
		ck_assert_msg(atomic_load(&g_re_ran[i]) == 1, "w=%d: task %u ran %d times", w, i,
		              (int)atomic_load(&g_re_ran[i]));
	close_and_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *future_suite(void)
{
	Suite *s = suite_create("runner");
	TCase *tc;

	tc = tcase_create("roundtrip");
	tcase_add_loop_test(tc, test_roundtrip_executor, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_roundtrip_run, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_result_sizes, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_set_result_outside_future, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_submit_bad_args, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_release_early, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("wait");
	tcase_add_loop_test(tc, test_wait_timeouts, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_wait_any_all, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_wait_inside_task, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_wait_cross_runner, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_wait_from_many_threads, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_submit_inside_tasks, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_future_fib, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_add_loop_test(tc, test_cancel_pending, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_cancel_final, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_exactly_once_with_cancel_race, 0, N_RACE_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("then");
	tcase_add_loop_test(tc, test_then_chain, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_then_on_final, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_then_after_failure, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_then_cancel_race, 0, N_WORKERS);
	suite_add_tcase(s, tc);

	tc = tcase_create("completion_fd");
	tcase_add_loop_test(tc, test_completion_fd, 0, N_WORKERS);
	tcase_add_loop_test(tc, test_completion_race, 0, N_WORKERS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	SRunner *sr = srunner_create(future_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
