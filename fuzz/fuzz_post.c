/*
 * fuzz_post.c - libFuzzer harness for the post path: prunner_post,
 * prunner_post_task, prunner_submit (futures, their results, waits,
 * cancels and continuations), prunner_queue_put (the class API) and
 * prunner_group_spawn, from outside the pool and from tasks, in a
 * prunner_run() or an open/close executor, checked against a model.
 *
 * Encoding (reading past the end gives zeros):
 *
 *   input  := header(1) salt(1) node*          at most MAX_NODES nodes
 *   header := bits 0-1 workers - 1, bit 2 class runner, bit 3 counter
 *             termination, bits 4-5 mode (run; run with a second program
 *             thread posting roots; executor closed with DRAIN; with
 *             CANCEL), bit 6 wait_idle in the middle, bit 7 count runs in
 *             the runner's dict
 *   salt   := varies payload contents; bit 0: plain roots are posted into
 *             a group of their program thread, which waits for it (blocking)
 *   node   := kind(1) parent(1) size(1-3) [bad(1) huge(1)] [result(1-3) rflags(1)]
 *             kind: bits 0-1 method (post, submit, queue_put, invalid),
 *             bits 2-3 what the task does (return 0, fail, post its
 *             children, post them into a group and wait), bits 4-7 F_*;
 *             parent < 0x60: a root, else the (parent - 0x60) % n-th spawner
 *             so far; bad/huge for invalid posts; result and R_* flags for
 *             futures (decode_size, decode_result, decode).
 *
 * So an input is a program: roots are posted from the begin hook (and a
 * second program thread), or from the main thread into an open executor;
 * a spawner's task posts its children when it runs.  The tree is bounded
 * by MAX_NODES and every input's work is small.
 *
 * The model is the node table itself: the poster records each post's
 * return value; every task identifies its node (payload byte 0 is the node
 * id, labelled tasks carry it as the label, a continuation's payload is its
 * source's result, which starts with the id too; 0-byte payloads are
 * counted per function), checks its payload (size, alignment, NULL for
 * size 0, contents) and counts its run.  After the run the harness checks:
 * each accepted post ran exactly once (at most once under a CANCEL close,
 * and then futures were cancelled with their destroy called once), each
 * rejected post returned its documented errno and never ran, children of
 * a task that did not run were never posted, futures' states, statuses and
 * results, continuations (run with the result, or cancelled with destroy),
 * group wait results, the event-loop fd's completion queue (every future
 * once), and the run's statistics (posted, executed, failed, cancelled,
 * workers) and return value.  Any difference aborts.
 *
 * Runners are created once per (object/class, worker count) and reused by
 * every input, since creating threads per input would cost more than the
 * input's work; the state they keep between inputs (statistics are per
 * run; the dict is cleared and checked; the completion queue is drained
 * and checked; "closed" decides whether a post between runs fails with
 * -ECANCELED or PRUNNER_ENORUN) is part of what is checked.
 */
#include "fuzz_input.h"

#include "prunner.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

#define MAX_NODES 256 /* node ids fit in payload byte 0 */
#define PAYLOAD_BUDGET ((size_t)2 << 20) /* bytes of payloads and results per input */
#define NOT_ATTEMPTED 1 /* never a return value of a post */

enum method { M_POST, M_SUBMIT, M_PUT, M_BAD };
enum behaviour { B_OK, B_FAIL, B_SPAWN, B_GROUP };
enum mode { MODE_RUN, MODE_RUN_THREAD, MODE_DRAIN, MODE_CANCEL };

/* Node flags (4 bits of the node's first byte). */
#define F_PROBE 0x1     /* leaf: call the run-time API guards from the task */
#define F_WAIT 0x1      /* spawner: wait for its future children */
#define F_CANCEL 0x2    /* future: its poster cancels it right after submitting */
#define F_MODULE 0x2    /* plain post: with prunner_post_task (the current runner) */
#define F_ZERO_PTR 0x4  /* size 0 posted with a non-NULL pointer */
#define F_NO_HANDLE 0x8 /* future: submitted with out == NULL */

/* Result flags. */
#define R_TWICE 0x1 /* an earlier, different result that the last one replaces */
#define R_BAD 0x2   /* invalid prunner_set_result calls first */
#define R_WAIT(f) (((f) >> 2) & 3) /* the poster waits: 1 forever, 2 polls, 3 for 50 us */
#define R_THEN 0x10 /* the poster chains a continuation (prunner_then) */

/* Invalid posts (M_BAD). */
enum bad {
	BAD_POST_NULL_FN,
	BAD_POST_NULL_DATA,
	BAD_POST_TOO_BIG,
	BAD_POST_NULL_RUNNER,
	BAD_SUBMIT_NULL_FN,
	BAD_SUBMIT_NULL_DATA,
	BAD_SUBMIT_TOO_BIG,
	BAD_PUT_TOO_BIG,
	BAD_PUT_NULL_DATA,
	BAD_POST_HUGE,
	BAD_HUGE_NULL_DATA,
	BAD_GROUP_NULL_FN,
	BAD_GROUP_TOO_BIG,
	BAD_PUT_HUGE,
	N_BAD
};

struct node {
	/* Decoded before the run; read-only while it runs. */
	uint8_t method, beh, flags, bad;
	uint8_t rflags;
	bool rset;      /* the task sets a result of rsize bytes last */
	bool in_group;  /* posted with prunner_group_spawn (by its parent, or its root poster) */
	size_t size;    /* payload size */
	size_t rsize;   /* result size */
	size_t huge;    /* size for BAD_*_HUGE */
	int parent;     /* -1: root */
	int first_child, last_child, next_sibling;
	int failval;    /* what a B_FAIL task returns */
	int want, want_alt; /* accepted return values of its post */

	/* Written by the thread that posts it, or by its own task, during the
	 * run; read by the main thread after it. */
	int post_rc;
	prunner_future_t *fut;
	int cancel_rc;
	int group_rc;
	prunner_future_t *then_fut; /* R_THEN: the continuation */
	_Atomic int runs;
	_Atomic int destroys;
	_Atomic int then_runs, then_destroys;
};

static struct {
	prunner_t *r;
	bool cls, idle, dict_count;
	bool roots_in_group;        /* salt bit 0: plain roots go into a group of their poster */
	int root_posters;           /* program threads that posted roots */
	prunner_group_t root_group[2];
	int root_group_rc[2];       /* their group waits */
	int workers, mode;
	uint8_t salt;
	int nnodes, nroots;
	int roots[MAX_NODES];
	struct node nodes[MAX_NODES];

	_Atomic uint64_t accepted, executed, cancels;
	_Atomic uint64_t zero_runs[2][2]; /* [post, submit][ok, fail]: 0-byte payloads */
	_Atomic uint64_t zero_destroys;
	_Atomic uint64_t then_runs, zero_then_runs, zero_then_destroys; /* continuations */
	int begin_calls, end_calls; /* on the thread of prunner_run */
} G;

static unsigned char bigbuf[PRUNNER_MAX_PAYLOAD + 1]; /* a real buffer one byte over the limit */
static const unsigned char zero_byte;

/* ------------------------------------------------------------------------ */
/* Payloads and results                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Contents: byte 0 of a payload is its node's id, the rest a window of a
 * fixed pseudo-random pattern that starts at an offset chosen by id and
 * salt (results: by id, salt and variant).  Written and compared with
 * memcpy/memcmp, so that megabyte payloads stay cheap.
 */
#define PATTERN_SLACK 8192
static unsigned char pattern[PRUNNER_MAX_PAYLOAD + PATTERN_SLACK];

NO_COVERAGE static void pattern_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < sizeof pattern; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pattern[i] = (unsigned char)(x >> 24);
	}
}

static const unsigned char *pay_pattern(unsigned id)
{
	return pattern + (id * 61u + G.salt) % (PATTERN_SLACK / 2);
}

static const unsigned char *res_pattern(unsigned id, unsigned v)
{
	return pattern + PATTERN_SLACK / 2 + (id * 37u + G.salt * 5u + v * 1001u) % (PATTERN_SLACK / 2);
}

static void fill_payload(unsigned char *buf, unsigned id, size_t size)
{
	if (size) {
		buf[0] = (unsigned char)id;
		memcpy(buf + 1, pay_pattern(id) + 1, size - 1);
	}
}

/* The first byte of data[0..size) that differs from node id's payload
 * (scanned only once memcmp found a difference), or size. */
static size_t payload_diff(unsigned id, const unsigned char *data, size_t size)
{
	const unsigned char *p = pay_pattern(id);
	if (size == 0 || (data[0] == (unsigned char)id && memcmp(data + 1, p + 1, size - 1) == 0))
		return size;
	if (data[0] != (unsigned char)id)
		return 0;
	size_t i = 1;
	while (data[i] == p[i])
		i++;
	return i;
}

/* Results start with the node id too: a continuation's payload is a copy
 * of its source's result. */
static void fill_result(unsigned char *buf, unsigned id, size_t size, unsigned v)
{
	if (size) {
		buf[0] = (unsigned char)id;
		memcpy(buf + 1, res_pattern(id, v) + 1, size - 1);
	}
}

static bool result_ok(unsigned id, const unsigned char *data, size_t size, unsigned v)
{
	return size == 0 || (data[0] == (unsigned char)id && memcmp(data + 1, res_pattern(id, v) + 1, size - 1) == 0);
}

static void check_payload(unsigned id, const unsigned char *data, size_t size)
{
	if (size == 0) {
		FZ_CHECK(data == NULL, "node %u: 0-byte payload not NULL", id);
		return;
	}
	FZ_CHECK(data != NULL, "node %u: payload NULL", id);
	FZ_CHECK((uintptr_t)data % alignof(max_align_t) == 0, "node %u: payload misaligned (%p)", id,
	         (const void *)data);
	size_t i = payload_diff(id, data, size);
	if (i < size)
		FZ_FAIL("node %u: payload byte %zu of %zu is %u, posted %u", id, i, size, data[i],
		        i ? pay_pattern(id)[i] : id);
}

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

static void do_post(int id, prunner_group_t *group, bool from_task);

static void check_context(void)
{
	FZ_CHECK(prunner_current() == G.r, "prunner_current() in a task");
	int w = prunner_worker_index();
	FZ_CHECK(w >= 0 && w < G.workers, "worker index %d of %d", w, G.workers);
}

static void count_run(bool then)
{
	atomic_fetch_add_explicit(then ? &G.then_runs : &G.executed, 1, memory_order_relaxed);
	if (G.dict_count)
		FZ_RC(prunner_dict_add_int(prunner_get_dict(), "ran", 1, NULL), 0);
}

/* The run-time guards, from inside a task of G.r. */
static void probe_inside(const struct node *n)
{
	struct prunner_stats st;

	FZ_RC(prunner_run(G.r), -EBUSY);
	FZ_RC(prunner_open(G.r), -EBUSY);
	FZ_RC(prunner_wait_idle(G.r), -EDEADLK);
	FZ_RC(prunner_close(G.r, PRUNNER_CLOSE_DRAIN), -EDEADLK);
	FZ_RC(prunner_set_workers(G.r, 2), -EBUSY);
	FZ_RC(prunner_stop_workers(G.r), -EBUSY);
	FZ_RC(prunner_get_stats(G.r, &st), -EBUSY);
	FZ_RC(prunner_post(G.r, NULL, NULL, 0), -EINVAL);
	if (n->method != M_SUBMIT)
		FZ_RC(prunner_set_result("x", 1), -EINVAL); /* not a future's task */
}

/* Posts n's children (into a group if n is a group spawner), then waits. */
static void post_children(struct node *n)
{
	prunner_group_t g;
	bool grp = n->beh == B_GROUP;
	prunner_future_t *waits[MAX_NODES];
	size_t nw = 0;

	if (grp)
		FZ_RC(prunner_group_init(&g, NULL), 0);
	for (int c = n->first_child; c >= 0; c = G.nodes[c].next_sibling) {
		do_post(c, grp ? &g : NULL, true);
		struct node *ch = &G.nodes[c];
		if ((n->flags & F_WAIT) && ch->method == M_SUBMIT && ch->post_rc == 0 && ch->fut)
			waits[nw++] = ch->fut;
	}
	if (grp) {
		n->group_rc = prunner_group_wait(&g);
		FZ_CHECK(n->group_rc >= 0, "group wait returned %d", n->group_rc);
	}
	if (nw == 0)
		return;
	switch (n->size % 3) {
	case 0:
		FZ_RC(prunner_wait_all(waits, nw, -1), 0);
		break;
	case 1:
		for (size_t k = 0; k < nw; k++)
			FZ_RC(prunner_future_wait(waits[k], -1), 0);
		break;
	default: {
		size_t idx = nw;
		FZ_RC(prunner_wait_any(waits, nw, -1, &idx), 0);
		FZ_CHECK(idx < nw, "wait_any index %zu of %zu", idx, nw);
		enum prunner_future_state s = prunner_future_state(waits[idx]);
		FZ_CHECK(s >= PRUNNER_FUTURE_DONE, "wait_any returned a future in state %d", (int)s);
		FZ_RC(prunner_wait_all(waits, nw, -1), 0);
		break;
	}
	}
	for (size_t k = 0; k < nw; k++)
		FZ_CHECK(prunner_future_state(waits[k]) >= PRUNNER_FUTURE_DONE, "waited-for future not final");
}

/* The body shared by every identified task. */
static int exec_node(struct node *n, unsigned id, void *data, size_t size)
{
	check_payload(id, data, size);
	int prev = atomic_fetch_add_explicit(&n->runs, 1, memory_order_relaxed);
	FZ_CHECK(prev == 0, "node %u ran %d times", id, prev + 1);
	if (size)
		memset(data, 0xee, size); /* the task's copy is private and writable */
	count_run(false);
	if ((n->beh == B_OK || n->beh == B_FAIL) && (n->flags & F_PROBE))
		probe_inside(n);
	if (n->beh == B_SPAWN || n->beh == B_GROUP)
		post_children(n);
	return n->beh == B_FAIL ? n->failval : 0;
}

/* The node a payload of a plain or future task belongs to. */
static struct node *node_of(const void *data, int method, int beh)
{
	unsigned id = *(const unsigned char *)data;
	FZ_CHECK((int)id < G.nnodes, "payload names node %u of %d", id, G.nnodes);
	struct node *n = &G.nodes[id];
	FZ_CHECK(n->method == method, "node %u (method %d) run as method %d", id, n->method, method);
	bool spawn = n->beh == B_SPAWN || n->beh == B_GROUP;
	FZ_CHECK(beh == B_SPAWN ? spawn : n->beh == beh, "node %u ran the wrong function", id);
	return n;
}

static int run_plain(void *data, int beh)
{
	check_context();
	if (!data) {
		FZ_CHECK(beh != B_SPAWN, "a spawner got no payload");
		atomic_fetch_add_explicit(&G.zero_runs[0][beh], 1, memory_order_relaxed);
		count_run(false);
		return beh == B_FAIL;
	}
	struct node *n = node_of(data, M_POST, beh);
	unsigned id = (unsigned)(n - G.nodes);
	return exec_node(n, id, data, n->size);
}

/* The result a future's task leaves: the last one it set. */
static void expected_result(const struct node *n, size_t *len, unsigned *variant)
{
	*variant = 0;
	*len = 0;
	if (n->size == 0)
		return; /* the task could not tell which node it was: no result */
	if (n->rset) {
		*len = n->rsize;
	} else if (n->rflags & R_TWICE) {
		*len = (n->rsize + 7) % 40;
		*variant = 1;
	}
}

static void set_results(const struct node *n, unsigned id)
{
	if (n->rflags & R_BAD) {
		FZ_RC(prunner_set_result(NULL, 3), -EINVAL);
		FZ_RC(prunner_set_result(bigbuf, PRUNNER_MAX_PAYLOAD + 1), -E2BIG);
	}
	if (n->rflags & R_TWICE) {
		unsigned char junk[40];
		size_t len = (n->rsize + 7) % sizeof junk;
		fill_result(junk, id, len, 1);
		FZ_RC(prunner_set_result(junk, len), 0);
	}
	if (n->rset) {
		unsigned char *buf = n->rsize ? malloc(n->rsize) : NULL;
		if (n->rsize && !buf)
			abort();
		fill_result(buf, id, n->rsize, 0);
		FZ_RC(prunner_set_result(buf, n->rsize), 0);
		free(buf);
	}
}

static int run_future(void *data, int beh)
{
	check_context();
	if (!data) {
		FZ_CHECK(beh != B_SPAWN, "a spawner future got no payload");
		atomic_fetch_add_explicit(&G.zero_runs[1][beh], 1, memory_order_relaxed);
		count_run(false);
		return beh == B_FAIL;
	}
	struct node *n = node_of(data, M_SUBMIT, beh);
	unsigned id = (unsigned)(n - G.nodes);
	int rc = exec_node(n, id, data, n->size);
	set_results(n, id);
	return rc;
}

/* A continuation (prunner_then): its payload is a copy of its source's
 * result, which names the source node. */
static int then_run(void *data)
{
	check_context();
	if (!data) {
		atomic_fetch_add_explicit(&G.zero_then_runs, 1, memory_order_relaxed);
		count_run(true);
		return 0;
	}
	unsigned id = *(const unsigned char *)data;
	FZ_CHECK((int)id < G.nnodes && (G.nodes[id].rflags & R_THEN), "continuation payload names node %u", id);
	struct node *n = &G.nodes[id];
	size_t len;
	unsigned v;
	expected_result(n, &len, &v);
	FZ_CHECK(len > 0 && (uintptr_t)data % alignof(max_align_t) == 0 && result_ok(id, data, len, v),
	         "node %u: continuation payload differs from the result", id);
	int prev = atomic_fetch_add_explicit(&n->then_runs, 1, memory_order_relaxed);
	FZ_CHECK(prev == 0, "node %u: continuation ran twice", id);
	count_run(true);
	return 0;
}

static void then_destroy(void *data)
{
	if (!data) {
		atomic_fetch_add_explicit(&G.zero_then_destroys, 1, memory_order_relaxed);
		return;
	}
	unsigned id = *(const unsigned char *)data;
	FZ_CHECK((int)id < G.nnodes && (G.nodes[id].rflags & R_THEN), "continuation destroy names node %u", id);
	struct node *n = &G.nodes[id];
	size_t len;
	unsigned v;
	expected_result(n, &len, &v);
	FZ_CHECK(len > 0 && result_ok(id, data, len, v), "node %u: continuation destroy got other bytes", id);
	int prev = atomic_fetch_add_explicit(&n->then_destroys, 1, memory_order_relaxed);
	FZ_CHECK(prev == 0, "node %u: continuation destroyed twice", id);
	FZ_CHECK(atomic_load_explicit(&n->then_runs, memory_order_relaxed) == 0, "node %u: continuation ran and was destroyed", id);
}

static int task_ok(void *data) { return run_plain(data, B_OK); }
static int task_fail(void *data) { return run_plain(data, B_FAIL); }
static int task_spawn(void *data) { return run_plain(data, B_SPAWN); }
static int fut_ok(void *data) { return run_future(data, B_OK); }
static int fut_fail(void *data) { return run_future(data, B_FAIL); }
static int fut_spawn(void *data) { return run_future(data, B_SPAWN); }

static int task_never(void *data)
{
	(void)data;
	FZ_FAIL("a rejected post ran");
}

static void destroy_never(void *data)
{
	(void)data;
	FZ_FAIL("destroy called for a rejected submit");
}

static void fut_destroy(void *data)
{
	if (!data) {
		atomic_fetch_add_explicit(&G.zero_destroys, 1, memory_order_relaxed);
		return;
	}
	unsigned id = *(const unsigned char *)data;
	FZ_CHECK((int)id < G.nnodes && G.nodes[id].method == M_SUBMIT, "destroy of a payload naming node %u", id);
	struct node *n = &G.nodes[id];
	check_payload(id, data, n->size);
	int prev = atomic_fetch_add_explicit(&n->destroys, 1, memory_order_relaxed);
	FZ_CHECK(prev == 0, "node %u destroyed twice", id);
	FZ_CHECK(atomic_load_explicit(&n->runs, memory_order_relaxed) == 0, "node %u destroyed after it ran", id);
}

static prunner_task_fn const post_fn[4] = {task_ok, task_fail, task_spawn, task_spawn};
static prunner_task_fn const fut_fn[4] = {fut_ok, fut_fail, fut_spawn, fut_spawn};

static int cls_run(prunner_t *r, const struct prunner_task *t)
{
	check_context();
	FZ_CHECK(r == G.r && t, "class run() arguments");
	FZ_CHECK(t->label >= 0 && t->label < G.nnodes, "label %d of %d nodes", t->label, G.nnodes);
	struct node *n = &G.nodes[t->label];
	FZ_CHECK(n->method == M_PUT, "label %d is not a queue_put node", t->label);
	FZ_CHECK(t->size == n->size, "node %d: size %zu, posted %zu", t->label, t->size, n->size);
	return exec_node(n, (unsigned)t->label, t->data, t->size);
}

/* ------------------------------------------------------------------------ */
/* Posting                                                                  */
/* ------------------------------------------------------------------------ */

static int do_bad(struct node *n, int id, const void *data, prunner_group_t *group)
{
	prunner_future_t *f = (prunner_future_t *)(uintptr_t)&zero_byte; /* must become NULL */
	size_t sz = n->size ? n->size : 1;
	int rc;

	switch (n->bad) {
	case BAD_POST_NULL_FN:
		return prunner_post(G.r, NULL, data, n->size);
	case BAD_POST_NULL_DATA:
		return prunner_post(G.r, task_never, NULL, sz);
	case BAD_POST_TOO_BIG:
		return prunner_post(G.r, task_never, bigbuf, PRUNNER_MAX_PAYLOAD + 1);
	case BAD_POST_NULL_RUNNER:
		return prunner_post(NULL, task_never, data, n->size);
	case BAD_SUBMIT_NULL_FN:
		rc = prunner_submit(G.r, NULL, data, n->size, destroy_never, &f);
		break;
	case BAD_SUBMIT_NULL_DATA:
		rc = prunner_submit(G.r, task_never, NULL, sz, destroy_never, &f);
		break;
	case BAD_SUBMIT_TOO_BIG:
		rc = prunner_submit(G.r, task_never, bigbuf, PRUNNER_MAX_PAYLOAD + 1, destroy_never, &f);
		break;
	case BAD_PUT_TOO_BIG:
		return prunner_queue_put(G.r, id, bigbuf, PRUNNER_MAX_PAYLOAD + 1);
	case BAD_PUT_NULL_DATA:
		return prunner_queue_put(G.cls && (n->flags & 1) ? G.r : NULL, id, NULL, sz);
	case BAD_POST_HUGE:
		/* Sizes far over the limit (some over 32 bits, the task's own
		 * size field) with a real buffer: checked before any copy. */
		return prunner_post(G.r, task_never, bigbuf, n->huge);
	case BAD_HUGE_NULL_DATA:
		if (n->flags & 1)
			return prunner_post(G.r, task_never, NULL, n->huge);
		rc = prunner_submit(G.r, task_never, NULL, n->huge, destroy_never, &f);
		break;
	case BAD_GROUP_NULL_FN:
		if (group)
			return prunner_group_spawn(group, NULL, data, n->size);
		return prunner_group_spawn(NULL, task_never, data, n->size);
	case BAD_GROUP_TOO_BIG:
		if (group)
			return prunner_group_spawn(group, task_never, bigbuf, PRUNNER_MAX_PAYLOAD + 1);
		rc = prunner_submit(NULL, task_never, data, n->size, destroy_never, &f);
		break;
	default: /* BAD_PUT_HUGE */
		return prunner_queue_put(G.r, id, bigbuf, n->huge);
	}
	FZ_CHECK(f == NULL, "a failed submit (%d) left *out set", rc);
	return rc;
}

static void do_post(int id, prunner_group_t *group, bool from_task)
{
	struct node *n = &G.nodes[id];
	unsigned char *buf = NULL;
	const void *data = NULL;
	int rc;

	if (n->size) {
		buf = malloc(n->size); /* exact size: ASan sees an over-read */
		if (!buf)
			abort();
		fill_payload(buf, (unsigned)id, n->size);
		data = buf;
	} else if (n->flags & F_ZERO_PTR) {
		data = &zero_byte;
	}
	switch (n->method) {
	case M_POST:
		if (group)
			rc = prunner_group_spawn(group, post_fn[n->beh], data, n->size);
		else if (n->flags & F_MODULE)
			rc = prunner_post_task(post_fn[n->beh], data, n->size);
		else
			rc = prunner_post(G.r, post_fn[n->beh], data, n->size);
		break;
	case M_SUBMIT: {
		prunner_future_t *f = (prunner_future_t *)(uintptr_t)&zero_byte;
		bool handle = !(n->flags & F_NO_HANDLE);
		rc = prunner_submit(G.r, fut_fn[n->beh], data, n->size, fut_destroy, handle ? &f : NULL);
		if (handle) {
			FZ_CHECK(rc == 0 ? f != NULL && f != (prunner_future_t *)(uintptr_t)&zero_byte : f == NULL,
			         "submit returned %d and *out %p", rc, (void *)f);
			n->fut = rc == 0 ? f : NULL;
		}
		if (rc != 0 || !handle)
			break;
		if (n->rflags & R_THEN) {
			prunner_future_t *t = (prunner_future_t *)(uintptr_t)&zero_byte;
			FZ_RC(prunner_then(f, then_run, then_destroy, &t), 0);
			FZ_CHECK(t && t != (prunner_future_t *)(uintptr_t)&zero_byte, "prunner_then gave no handle");
			n->then_fut = t;
		}
		if (n->flags & F_CANCEL) {
			n->cancel_rc = prunner_future_cancel(f);
			if (n->cancel_rc == 0)
				atomic_fetch_add_explicit(&G.cancels, 1, memory_order_relaxed);
		}
		if (R_WAIT(n->rflags)) {
			static const int64_t timeouts[4] = {0, -1, 0, 50000};
			int w = prunner_future_wait(f, timeouts[R_WAIT(n->rflags)]);
			FZ_CHECK(w == 0 || (w == -ETIMEDOUT && R_WAIT(n->rflags) != 1), "future wait returned %d", w);
			if (w == 0)
				FZ_CHECK(prunner_future_state(f) >= PRUNNER_FUTURE_DONE, "waited-for future not final");
		}
		break;
	}
	case M_PUT:
		rc = prunner_queue_put(G.r, id, data, n->size);
		break;
	default:
		rc = do_bad(n, id, data, group);
		break;
	}
	n->post_rc = rc;
	if (rc == 0)
		atomic_fetch_add_explicit(&G.accepted, 1, memory_order_relaxed);
	int want = n->want, alt = n->want_alt;
	/* prunner_post_task outside a task or hook acts on the process-wide
	 * runner, and there is none. */
	if (n->method == M_POST && !group && (n->flags & F_MODULE) && prunner_current() == NULL)
		want = alt = PRUNNER_ENORUN;
	/* A task's post during a CANCEL close may be refused (-ECANCELED). */
	bool ok = rc == want || rc == alt ||
	          (rc == -ECANCELED && n->want == 0 && from_task && G.mode == MODE_CANCEL);
	FZ_CHECK(ok, "node %d (method %d, bad %d, size %zu): post returned %d (%s), expected %d", id, n->method,
	         n->method == M_BAD ? n->bad : -1, n->size, rc, prunner_strerror(rc), want);
	free(buf);
}

/*
 * Posts roots[from, to) with index % step == phase, from a program thread
 * (the begin hook, the second thread, the main thread).  When the salt's
 * bit 0 is set, plain roots go into a group of this thread, waited for
 * (blocking: not a worker) once `last` says this is the thread's last
 * batch; the wait's result goes to G.root_group_rc[phase].
 */
static void post_roots(int from, int to, int phase, int step, bool last)
{
	prunner_group_t *g = &G.root_group[phase];

	if (G.roots_in_group && from == 0)
		FZ_RC(prunner_group_init(g, G.r), 0);
	for (int k = from; k < to; k++)
		if (k % step == phase)
			do_post(G.roots[k], G.roots_in_group ? g : NULL, false);
	if (G.roots_in_group && last)
		G.root_group_rc[phase] = prunner_group_wait(g);
}

static void *side_main(void *arg)
{
	(void)arg;
	FZ_CHECK(prunner_current() == NULL, "prunner_current() on a program thread");
	post_roots(0, G.nroots, 1, 2, true);
	return NULL;
}

static void begin_common(prunner_t *r)
{
	FZ_CHECK(r == G.r && prunner_current() == r, "begin hook's runner");
	FZ_CHECK(prunner_worker_index() == -1, "worker index in the begin hook");
	G.begin_calls++;
	if (G.idle)
		FZ_RC(prunner_wait_idle(r), -EDEADLK);
	pthread_t t;
	if (G.mode == MODE_RUN_THREAD && pthread_create(&t, NULL, side_main, NULL) == 0) {
		G.root_posters = 2;
		post_roots(0, G.nroots, 0, 2, true);
		FZ_RC(pthread_join(t, NULL), 0);
		return;
	}
	G.root_posters = 1;
	post_roots(0, G.nroots, 0, 1, true);
}

static void end_common(prunner_t *r)
{
	FZ_CHECK(r == G.r && prunner_current() == r, "end hook's runner");
	G.end_calls++;
}

static void obj_begin(prunner_t *r, void *arg)
{
	FZ_CHECK(arg == &G, "hook argument");
	begin_common(r);
}

static void obj_end(prunner_t *r, void *arg)
{
	FZ_CHECK(arg == &G, "hook argument");
	end_common(r);
}

static void cls_begin(prunner_t *r, void *options)
{
	FZ_CHECK(options == &G, "class options");
	begin_common(r);
}

static const struct prunner_class klass = {cls_begin, cls_run, end_common};

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */
/* ------------------------------------------------------------------------ */

static size_t decode_size(struct fz_in *in, size_t *budget)
{
	static const size_t big[8] = {PRUNNER_MAX_PAYLOAD, PRUNNER_MAX_PAYLOAD - 1, 4096, 65536,
	                              65537, 8192, 100000, 4095};
	uint8_t c = fz_u8(in);
	size_t s;

	switch (c >> 5) {
	case 0:
		s = 0;
		break;
	case 1:
		s = 1 + (c & 31) % 3;
		break;
	case 2:
		s = 4 + (c & 31) % 21; /* 4..24: inline */
		break;
	case 3:
		s = 22 + (c & 31) % 6; /* 22..27: around PRUNNER_INLINE_PAYLOAD */
		break;
	case 4:
		s = 25 + fz_u16(in) % 1000;
		break;
	case 5:
		s = 1024 + (size_t)fz_u16(in);
		break;
	case 6:
		s = big[c & 7];
		break;
	default:
		s = c & 1;
		break;
	}
	if (*budget + s > PAYLOAD_BUDGET)
		s %= 64;
	*budget += s;
	return s;
}

static size_t decode_result(struct fz_in *in, bool *set, size_t *budget)
{
	uint8_t c = fz_u8(in);
	size_t s;

	*set = true;
	switch (c >> 5) {
	case 0:
		*set = false;
		return 0;
	case 1:
		s = 0;
		break;
	case 2:
		s = 1 + (c & 15); /* within the future's inline result */
		break;
	case 3:
		s = 15 + (c & 3); /* around it */
		break;
	case 4:
		s = 25 + fz_u16(in) % 2000;
		break;
	case 5:
		s = 2048 + (size_t)fz_u16(in);
		break;
	case 6:
		s = PRUNNER_MAX_PAYLOAD - (c & 1);
		break;
	default:
		s = c & 31;
		break;
	}
	if (*budget + s > PAYLOAD_BUDGET)
		s %= 64;
	*budget += s;
	return s;
}

static const int failvals[6] = {1, -1, 2, INT32_MIN, -EINVAL, 42};

/* The documented result of an invalid post. */
static void bad_want(struct node *n)
{
	n->want_alt = n->want = -EINVAL;
	switch (n->bad) {
	case BAD_POST_TOO_BIG:
	case BAD_SUBMIT_TOO_BIG:
	case BAD_POST_HUGE:
		n->want_alt = n->want = -E2BIG;
		break;
	case BAD_PUT_TOO_BIG:
	case BAD_PUT_HUGE:
		n->want_alt = n->want = G.cls ? -E2BIG : -EINVAL;
		break;
	case BAD_HUGE_NULL_DATA:
		/* Both -EINVAL (data NULL with size > 0) and -E2BIG apply: the
		 * header's order says -EINVAL. */
		break;
	case BAD_GROUP_TOO_BIG:
		if (n->in_group)
			n->want_alt = n->want = -E2BIG;
		break;
	default:
		break;
	}
}

static void decode(struct fz_in *in)
{
	static const size_t huge[4] = {PRUNNER_MAX_PAYLOAD + 2, ((size_t)1 << 32) + 1, (size_t)1 << 31, SIZE_MAX};
	uint8_t h = fz_u8(in);
	int spawners[MAX_NODES], nsp = 0;
	size_t budget = 0;

	G.workers = 1 + (h & 3);
	G.cls = (h >> 2) & 1;
	/* bit 3: termination, read by the caller */
	G.mode = (h >> 4) & 3;
	G.idle = (h >> 6) & 1;
	G.dict_count = (h >> 7) & 1;
	G.salt = fz_u8(in);
	G.roots_in_group = G.salt & 1;

	while (G.nnodes < MAX_NODES && fz_more(in)) {
		int id = G.nnodes++;
		struct node *n = &G.nodes[id];
		uint8_t k = fz_u8(in);
		uint8_t p = fz_u8(in);

		n->method = k & 3;
		n->beh = (k >> 2) & 3;
		n->flags = k >> 4;
		n->parent = p < 0x60 || nsp == 0 ? -1 : spawners[(p - 0x60) % nsp];
		n->size = decode_size(in, &budget);
		n->first_child = n->last_child = n->next_sibling = -1;
		n->post_rc = n->cancel_rc = n->group_rc = NOT_ATTEMPTED;
		n->in_group = (n->parent >= 0 ? G.nodes[n->parent].beh == B_GROUP : G.roots_in_group) &&
		              (n->method == M_POST || n->method == M_BAD);
		if (n->method == M_BAD) {
			n->beh = B_OK;
			n->bad = fz_u8(in) % N_BAD;
			n->huge = huge[fz_u8(in) & 3];
			bad_want(n);
		} else {
			n->want = n->want_alt = n->method == M_PUT && !G.cls ? -EINVAL : 0;
		}
		if (n->method == M_SUBMIT) {
			n->rsize = decode_result(in, &n->rset, &budget);
			n->rflags = fz_u8(in);
			/* Under a CANCEL close a continuation may be refused or
			 * dropped, which the statistics cannot tell apart. */
			if (G.mode == MODE_CANCEL)
				n->rflags &= (uint8_t)~R_THEN;
		}
		/* A spawner must find its node; under a CANCEL close every
		 * task must, to tell which ones ran. */
		if (n->size == 0 && (n->method == M_POST || n->method == M_SUBMIT) &&
		    (n->beh >= B_SPAWN || G.mode == MODE_CANCEL))
			n->size = 1;
		n->failval = failvals[(G.salt + id) % 6];
		if (n->parent < 0) {
			G.roots[G.nroots++] = id;
		} else {
			struct node *pa = &G.nodes[n->parent];
			if (pa->last_child < 0)
				pa->first_child = id;
			else
				G.nodes[pa->last_child].next_sibling = id;
			pa->last_child = id;
		}
		if (n->method != M_BAD && n->beh >= B_SPAWN)
			spawners[nsp++] = id;
	}
}

/* ------------------------------------------------------------------------ */
/* Runners, reused by every input                                           */
/* ------------------------------------------------------------------------ */

static prunner_t *runners[2][5];
static bool closed_last[2][5];  /* last use ended with prunner_close */
static int completion_fd[2][5]; /* object runners' event-loop fd, -1 for class runners */

static void free_runners(void)
{
	for (int c = 0; c < 2; c++)
		for (int w = 0; w < 5; w++) {
			prunner_free(runners[c][w]);
			runners[c][w] = NULL;
		}
}

static prunner_t *get_runner(void)
{
	static bool registered;
	prunner_t **slot = &runners[G.cls][G.workers];

	if (!*slot) {
		if (G.cls) {
			FZ_RC(prunner_new_class(slot, G.workers, false, &klass, &G), 0);
		} else {
			FZ_RC(prunner_new(slot), 0);
			FZ_RC(prunner_set_workers(*slot, G.workers), 0);
			FZ_RC(prunner_set_hooks(*slot, obj_begin, obj_end, &G), 0);
		}
		completion_fd[G.cls][G.workers] = G.cls ? -1 : prunner_completion_fd(*slot);
		FZ_CHECK(G.cls || completion_fd[G.cls][G.workers] >= 0, "prunner_completion_fd failed");
		if (!registered) {
			registered = true;
			atexit(free_runners);
		}
	}
	return *slot;
}

/* Posts to a runner with no run: refused with `want`, never run. */
static void probe_idle(int want)
{
	prunner_future_t *f = (prunner_future_t *)(uintptr_t)&zero_byte;

	FZ_RC(prunner_post(G.r, task_never, "x", 1), want);
	FZ_RC(prunner_post(G.r, task_never, NULL, 0), want);
	FZ_RC(prunner_submit(G.r, task_never, "x", 1, destroy_never, &f), want);
	FZ_CHECK(f == NULL, "a refused submit left *out set");
	FZ_RC(prunner_queue_put(G.r, 0, "x", 1), G.cls ? want : -EINVAL);
	FZ_RC(prunner_wait_idle(G.r), 0);
	FZ_RC(prunner_close(G.r, PRUNNER_CLOSE_CANCEL), 0); /* not open: nothing to do */
}

/* ------------------------------------------------------------------------ */
/* Checks after the run                                                     */
/* ------------------------------------------------------------------------ */

/* Tallies of check_run() that check_future() and check_then() add to. */
static struct {
	uint64_t then_posted, zero_then_runs, zero_then_destroys, futures;
} T;

/* A continuation: run with its source's result if the source is DONE,
 * cancelled (destroy called with that result, NULL if none) otherwise. */
static void check_then(struct node *n, unsigned id, enum prunner_future_state src)
{
	prunner_future_t *t = n->then_fut;
	enum prunner_future_state st = prunner_future_state(t);
	int runs = atomic_load_explicit(&n->then_runs, memory_order_relaxed);
	int destroys = atomic_load_explicit(&n->then_destroys, memory_order_relaxed);
	size_t len, l = 7;
	unsigned v;

	expected_result(n, &len, &v);
	if (src == PRUNNER_FUTURE_CANCELLED)
		len = 0; /* its task never ran: no result */
	T.futures++;
	if (src == PRUNNER_FUTURE_DONE) {
		FZ_CHECK(st == PRUNNER_FUTURE_DONE, "node %u: continuation of a DONE future in state %d", id, (int)st);
		FZ_RC(prunner_future_status(t), 0);
		FZ_RC(prunner_future_result(t, NULL, 0, &l), 0);
		FZ_CHECK(l == 0, "node %u: continuation result %zu bytes", id, l);
		if (len)
			FZ_CHECK(runs == 1 && destroys == 0, "node %u: continuation ran %d, destroyed %d", id, runs,
			         destroys);
		else
			T.zero_then_runs++;
		T.then_posted++;
	} else {
		FZ_CHECK(st == PRUNNER_FUTURE_CANCELLED, "node %u: continuation of a %d future in state %d", id,
		         (int)src, (int)st);
		FZ_RC(prunner_future_status(t), -ECANCELED);
		if (len)
			FZ_CHECK(runs == 0 && destroys == 1, "node %u: cancelled continuation ran %d, destroyed %d", id,
			         runs, destroys);
		else
			T.zero_then_destroys++;
	}
	FZ_RC(prunner_future_cancel(t), -EALREADY);
	prunner_future_release(t);
	n->then_fut = NULL;
}

static void check_future(struct node *n, unsigned id)
{
	prunner_future_t *f = n->fut;
	enum prunner_future_state st = prunner_future_state(f);
	int runs = atomic_load_explicit(&n->runs, memory_order_relaxed);
	int destroys = atomic_load_explicit(&n->destroys, memory_order_relaxed);
	bool identified = n->size > 0;

	FZ_CHECK(st >= PRUNNER_FUTURE_DONE, "node %u: future not final after the run (%d)", id, (int)st);
	FZ_RC(prunner_future_wait(f, 0), 0);
	switch (n->cancel_rc) {
	case NOT_ATTEMPTED:
		break;
	case 0:
		FZ_CHECK(st == PRUNNER_FUTURE_CANCELLED, "node %u: cancelled, state %d", id, (int)st);
		break;
	case -EBUSY:
		FZ_CHECK(st != PRUNNER_FUTURE_CANCELLED, "node %u: cancel said running, state %d", id, (int)st);
		break;
	case -EALREADY:
		FZ_CHECK(st != PRUNNER_FUTURE_CANCELLED || G.mode == MODE_CANCEL,
		         "node %u: cancel said final, state %d", id, (int)st);
		break;
	default:
		FZ_FAIL("node %u: prunner_future_cancel returned %d", id, n->cancel_rc);
	}

	if (st == PRUNNER_FUTURE_CANCELLED) {
		FZ_CHECK(n->cancel_rc == 0 || G.mode == MODE_CANCEL, "node %u cancelled by no one", id);
		FZ_CHECK(!identified || (runs == 0 && destroys == 1), "node %u: cancelled, ran %d, destroyed %d", id,
		         runs, destroys);
		FZ_RC(prunner_future_status(f), -ECANCELED);
		FZ_RC(prunner_future_result(f, NULL, 0, NULL), -ECANCELED);
	} else {
		bool fail = n->beh == B_FAIL;
		FZ_CHECK(st == (fail ? PRUNNER_FUTURE_FAILED : PRUNNER_FUTURE_DONE), "node %u: state %d", id, (int)st);
		FZ_CHECK(!identified || (runs == 1 && destroys == 0), "node %u: final, ran %d, destroyed %d", id,
		         runs, destroys);
		FZ_RC(prunner_future_status(f), fail ? (identified ? n->failval : 1) : 0);

		size_t want, len = 12345;
		unsigned v;
		expected_result(n, &want, &v);
		unsigned char *buf = malloc(want + 1);
		if (!buf)
			abort();
		memset(buf, 0xa5, want + 1);
		FZ_RC(prunner_future_result(f, buf, want, &len), 0);
		FZ_CHECK(len == want, "node %u: result of %zu bytes, set %zu", id, len, want);
		FZ_CHECK(result_ok(id, buf, want, v), "node %u: result bytes differ (%zu bytes)", id, want);
		FZ_CHECK(buf[want] == 0xa5, "node %u: result copy overran", id);
		if (want) {
			memset(buf, 0xa5, want);
			len = 0;
			FZ_RC(prunner_future_result(f, buf, want - 1, &len), -ERANGE);
			FZ_CHECK(len == want, "node %u: -ERANGE length %zu, want %zu", id, len, want);
			FZ_CHECK(buf[0] == 0xa5 && memcmp(buf, buf + 1, want - 1) == 0, "node %u: -ERANGE copied bytes",
			         id);
		}
		FZ_RC(prunner_future_result(f, NULL, 0, NULL), want ? -ERANGE : 0);
		FZ_RC(prunner_future_result(f, NULL, 1, NULL), -EINVAL);
		free(buf);
	}
	FZ_RC(prunner_future_cancel(f), -EALREADY);
	if (n->then_fut)
		check_then(n, id, st);
	prunner_future_release(f);
	n->fut = NULL;
}

/* The completion queue of the event-loop fd (object runners have one):
 * every future that became final in this input, once; the fd readable
 * exactly while something is queued. */
static void drain_completions(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	prunner_future_t *out[8];
	size_t max = 1 + G.salt % 8;
	uint64_t got = 0;

	FZ_RC(poll(&p, 1, 0), T.futures ? 1 : 0);
	FZ_RC(prunner_completed(G.r, NULL, 1), -EINVAL);
	for (;;) {
		int k = prunner_completed(G.r, out, max);
		FZ_CHECK(k >= 0 && (size_t)k <= max, "prunner_completed returned %d (max %zu)", k, max);
		for (int i = 0; i < k; i++) {
			FZ_CHECK(prunner_future_state(out[i]) >= PRUNNER_FUTURE_DONE, "a completed future is not final");
			prunner_future_release(out[i]);
		}
		got += (uint64_t)k;
		if ((size_t)k < max)
			break;
	}
	FZ_CHECK(got == T.futures, "%llu futures completed, model %llu", (unsigned long long)got,
	         (unsigned long long)T.futures);
	FZ_RC(poll(&p, 1, 0), 0);
}

/* A group spawner's prunner_group_wait result: its accepted group children
 * that failed, counting those a CANCEL close dropped. */
static bool group_child_failed(const struct node *ch)
{
	if (!ch->in_group || ch->post_rc != 0)
		return false;
	/* A 0-byte child cannot be told apart: it ran (no CANCEL close then,
	 * see decode), so only its own result counts. */
	bool dropped = ch->size > 0 && atomic_load_explicit(&ch->runs, memory_order_relaxed) == 0;
	return ch->beh == B_FAIL || dropped;
}

static void check_group(const struct node *n, unsigned id)
{
	int want = 0;
	for (int c = n->first_child; c >= 0; c = G.nodes[c].next_sibling)
		want += group_child_failed(&G.nodes[c]);
	FZ_CHECK(n->group_rc == want, "node %u: group wait returned %d, model %d", id, n->group_rc, want);
}

/* The groups of the program threads that posted roots into one. */
static void check_root_groups(void)
{
	if (!G.roots_in_group)
		return;
	for (int p = 0; p < G.root_posters; p++) {
		int want = 0;
		for (int k = p; k < G.nroots; k += G.root_posters)
			want += group_child_failed(&G.nodes[G.roots[k]]);
		FZ_CHECK(G.root_group_rc[p] == want, "root group %d: wait returned %d, model %d", p,
		         G.root_group_rc[p], want);
	}
}

static void check_run(int run_rc)
{
	struct prunner_stats st;
	uint64_t accepted = 0, ran = 0, fails = 0, dropped_children = 0;
	uint64_t zero_acc[2][2] = {{0, 0}, {0, 0}}, zero_cancelled = 0;
	bool cancel_mode = G.mode == MODE_CANCEL;

	memset(&T, 0, sizeof T);
	FZ_RC(prunner_get_stats(G.r, &st), 0);
	for (int id = 0; id < G.nnodes; id++) {
		struct node *n = &G.nodes[id];
		int runs = atomic_load_explicit(&n->runs, memory_order_relaxed);
		int destroys = atomic_load_explicit(&n->destroys, memory_order_relaxed);
		bool posted = n->parent < 0 || atomic_load_explicit(&G.nodes[n->parent].runs, memory_order_relaxed);

		if (!posted) {
			FZ_CHECK(n->post_rc == NOT_ATTEMPTED && runs == 0 && destroys == 0,
			         "node %d: its parent did not run, yet it was posted (%d) or ran (%d)", id, n->post_rc,
			         runs);
			continue;
		}
		FZ_CHECK(n->post_rc != NOT_ATTEMPTED, "node %d: its parent ran but did not post it", id);
		if (n->post_rc != 0) {
			FZ_CHECK(runs == 0 && destroys == 0 && n->fut == NULL, "node %d: refused (%d) but ran", id,
			         n->post_rc);
			continue;
		}
		accepted++;
		if (n->method == M_SUBMIT)
			T.futures++;
		if (n->size > 0 || n->method == M_PUT) {
			FZ_CHECK(runs <= 1, "node %d ran %d times", id, runs);
			ran += (uint64_t)runs;
			if (n->beh == B_FAIL)
				fails += (uint64_t)runs;
			if (n->in_group && runs == 0)
				dropped_children++; /* a group child cancelled by close: failed */
			if (n->method == M_SUBMIT)
				FZ_CHECK(runs + destroys == 1, "node %d: future ran %d, destroyed %d", id, runs,
				         destroys);
			else
				FZ_CHECK(runs == 1 || cancel_mode, "node %d: accepted, ran %d times", id, runs);
		} else {
			int m = n->method == M_SUBMIT;
			zero_acc[m][n->beh]++;
			if (n->cancel_rc == 0) {
				zero_acc[m][n->beh]--;
				zero_cancelled++;
			}
		}
		if (n->method == M_SUBMIT && n->fut)
			check_future(n, (unsigned)id);
		if (n->beh == B_GROUP && runs == 1)
			check_group(n, (unsigned)id);
	}
	for (int m = 0; m < 2; m++)
		for (int b = 0; b < 2; b++) {
			uint64_t z = atomic_load_explicit(&G.zero_runs[m][b], memory_order_relaxed);
			FZ_CHECK(z == zero_acc[m][b], "0-byte %s tasks (%s): ran %llu, accepted %llu",
			         m ? "future" : "plain", b ? "failing" : "ok", (unsigned long long)z,
			         (unsigned long long)zero_acc[m][b]);
			ran += z;
			if (b == B_FAIL)
				fails += z;
		}
	FZ_CHECK(atomic_load(&G.zero_destroys) == zero_cancelled, "0-byte futures destroyed %llu, cancelled %llu",
	         (unsigned long long)atomic_load(&G.zero_destroys), (unsigned long long)zero_cancelled);
	FZ_CHECK(atomic_load(&G.zero_then_runs) == T.zero_then_runs &&
	                 atomic_load(&G.zero_then_destroys) == T.zero_then_destroys,
	         "0-byte continuations: ran %llu/%llu, destroyed %llu/%llu",
	         (unsigned long long)atomic_load(&G.zero_then_runs), (unsigned long long)T.zero_then_runs,
	         (unsigned long long)atomic_load(&G.zero_then_destroys), (unsigned long long)T.zero_then_destroys);
	FZ_CHECK(atomic_load(&G.then_runs) == T.then_posted, "continuations ran %llu, model %llu",
	         (unsigned long long)atomic_load(&G.then_runs), (unsigned long long)T.then_posted);
	FZ_CHECK(atomic_load(&G.accepted) == accepted && atomic_load(&G.executed) == ran,
	         "counters: accepted %llu/%llu, executed %llu/%llu", (unsigned long long)atomic_load(&G.accepted),
	         (unsigned long long)accepted, (unsigned long long)atomic_load(&G.executed),
	         (unsigned long long)ran);

	check_root_groups();
	uint64_t failed = fails + dropped_children;
	/* Continuations of DONE futures were posted, and ran (no CANCEL close
	 * when there are any: see decode). */
	accepted += T.then_posted;
	ran += T.then_posted;
	FZ_CHECK(st.posted == accepted, "stats.posted %llu, model %llu", (unsigned long long)st.posted,
	         (unsigned long long)accepted);
	FZ_CHECK(st.executed == ran, "stats.executed %llu, model %llu", (unsigned long long)st.executed,
	         (unsigned long long)ran);
	FZ_CHECK(st.cancelled == accepted - ran, "stats.cancelled %llu, model %llu", (unsigned long long)st.cancelled,
	         (unsigned long long)(accepted - ran));
	FZ_CHECK(st.failed == failed, "stats.failed %llu, model %llu", (unsigned long long)st.failed,
	         (unsigned long long)failed);
	FZ_CHECK(st.workers == G.workers, "stats.workers %d, model %d", st.workers, G.workers);
	if (G.mode == MODE_RUN || G.mode == MODE_RUN_THREAD) {
		FZ_RC(run_rc, (int)failed);
		FZ_CHECK(G.begin_calls == 1 && G.end_calls == 1, "hooks: begin %d, end %d", G.begin_calls,
		         G.end_calls);
	} else {
		FZ_CHECK(G.begin_calls == 0 && G.end_calls == 0, "hooks ran in executor mode");
	}

	struct prunner_dict *d = prunner_dict(G.r);
	if (G.dict_count) {
		int64_t v = -1;
		FZ_RC(prunner_dict_get_int(d, "ran", &v), ran ? 0 : -ENOENT);
		FZ_CHECK(!ran || v == (int64_t)ran, "dict counted %lld runs, model %llu", (long long)v,
		         (unsigned long long)ran);
	}
	FZ_RC(prunner_dict_clear(d), 0);
	FZ_CHECK(prunner_dict_len(d) == 0, "dict not empty after clear");
	if (completion_fd[G.cls][G.workers] >= 0)
		drain_completions(completion_fd[G.cls][G.workers]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size, 0};

	static bool init;
	if (!init) {
		pattern_init();
		init = true;
	}
	memset(&G, 0, sizeof G);
	decode(&in);
	G.r = get_runner();
	prunner_t *r = G.r;
	FZ_RC(prunner_set_termination(r, data && size && (data[0] & 8) ? PRUNNER_TERMINATION_COUNTER
	                                                                 : PRUNNER_TERMINATION_FLAGS),
	      0);
	bool *closed = &closed_last[G.cls][G.workers];

	probe_idle(*closed ? -ECANCELED : PRUNNER_ENORUN);
	int run_rc = 0;
	if (G.mode == MODE_RUN || G.mode == MODE_RUN_THREAD) {
		run_rc = prunner_run(r);
		FZ_CHECK(run_rc >= 0, "prunner_run returned %d", run_rc);
		*closed = false;
	} else {
		FZ_RC(prunner_open(r), 0);
		*closed = false;
		FZ_RC(prunner_open(r), -EBUSY);
		int half = G.idle ? G.nroots / 2 : G.nroots;
		G.root_posters = 1;
		post_roots(0, half, 0, 1, !G.idle);
		if (G.idle) {
			struct prunner_stats st;
			FZ_RC(prunner_wait_idle(r), 0);
			uint64_t acc = atomic_load(&G.accepted), ex = atomic_load(&G.executed),
			         can = atomic_load(&G.cancels);
			FZ_CHECK(ex + can == acc, "after wait_idle: %llu accepted, %llu ran, %llu cancelled",
			         (unsigned long long)acc, (unsigned long long)ex, (unsigned long long)can);
			FZ_RC(prunner_get_stats(r, &st), -EBUSY);
		}
		if (G.idle)
			post_roots(half, G.nroots, 0, 1, true);
		FZ_RC(prunner_close(r, G.mode == MODE_DRAIN ? PRUNNER_CLOSE_DRAIN : PRUNNER_CLOSE_CANCEL), 0);
		*closed = true;
		FZ_RC(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0); /* twice is harmless */
	}
	check_run(run_rc);
	probe_idle(*closed ? -ECANCELED : PRUNNER_ENORUN);
	return 0;
}
