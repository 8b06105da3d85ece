/*
 * walk.h - the fault walk shared by the fault-injection tests.
 *
 * A walk runs one operation again and again with the Nth call of one kind
 * (allocation, thread creation, descriptor) made to fail, N = 1, 2, 3, ...,
 * until an iteration in which the armed fault never fired: the operation
 * made fewer than N such calls, so every call site it reaches has been made
 * to fail once.  Each iteration (a "step", written by the test) arms the
 * fault with walk_arm() where the operation begins, disarms it with
 * walk_disarm() where it ends, checks the operation's result and its
 * exactly-once accounting, retries what failed, and frees everything.
 * After each step the walk checks what every step must leave behind:
 *
 *   - no allocation of the library still live (the wrappers count them;
 *     the ASan build's LeakSanitizer checks the same at exit);
 *   - every worker thread the library started has been joined.
 *
 * In "persistent" mode every call from the Nth on fails (as when memory is
 * really exhausted), not just the Nth.
 *
 * Each walk prints one line: the operation, the kind, the mode, the number
 * of call sites it walked (the largest N that fired) and its time.
 */
#ifndef PRUNNER_FAULT_WALK_H
#define PRUNNER_FAULT_WALK_H

#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "fault.h"
#include "prunner.h"

/* A walk that has not ended after this many steps is stuck. */
#define WALK_LIMIT 20000

static const char *const KIND_NAMES[PR_FAULT_KINDS] = {"alloc", "thread", "fd"};

/* What the library held when the walk started (the test's own runners,
 * if any, and nothing else). */
struct walk_base {
	int64_t live;
	uint64_t started, joined;
};

static inline struct walk_base walk_base_take(void)
{
	struct walk_base b = {pr_fault_live_allocs(), pr_fault_threads_started(), pr_fault_threads_joined()};
	return b;
}

/* Every thread the library started has been joined (test thread only). */
static inline void check_threads_joined(const char *what, uint64_t n)
{
	uint64_t s = pr_fault_threads_started(), j = pr_fault_threads_joined();
	ck_assert_msg(s == j, "%s, N=%" PRIu64 ": %" PRIu64 " threads started, %" PRIu64 " joined", what, n,
	              s, j);
}

static inline void check_clean(const struct walk_base *b, const char *what, uint64_t n)
{
	int64_t live = pr_fault_live_allocs();
	ck_assert_msg(live == b->live, "%s, N=%" PRIu64 ": %" PRId64 " allocations live, %" PRId64 " before",
	              what, n, live, b->live);
	uint64_t s = pr_fault_threads_started() - b->started, j = pr_fault_threads_joined() - b->joined;
	ck_assert_msg(s == j, "%s, N=%" PRIu64 ": %" PRIu64 " threads started, %" PRIu64 " joined", what, n,
	              s, j);
}

/* The failure count when the current step armed its fault. */
static uint64_t walk_failures0;

static inline void walk_arm(enum pr_fault_kind kind, uint64_t n, bool persistent)
{
	walk_failures0 = pr_fault_failures(kind);
	pr_fault_arm(kind, n, persistent);
}

/* Disarms; true when the armed fault fired since walk_arm. */
static inline bool walk_disarm(enum pr_fault_kind kind)
{
	pr_fault_disarm();
	return pr_fault_failures(kind) != walk_failures0;
}

/* True while armed and the fault has fired (for steps that must stop
 * early, or check an error right where it happened). */
static inline bool walk_fired(enum pr_fault_kind kind)
{
	return pr_fault_failures(kind) != walk_failures0;
}

struct walk {
	const char *name;
	enum pr_fault_kind kind;
	bool persistent;
	uint64_t n; /* the current N (1-based) */
	void *arg;  /* the step's own parameters */
};

/* One step; returns walk_disarm()'s answer. */
typedef bool (*walk_step_fn)(struct walk *w);

static inline double walk_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Walks N over every call site of `kind`; returns the largest N that
 * fired (0 when the operation makes no such call). */
static inline uint64_t walk_run(const char *name, walk_step_fn step, void *arg, enum pr_fault_kind kind,
                                bool persistent)
{
	struct walk_base b = walk_base_take();
	struct walk w = {name, kind, persistent, 0, arg};
	double t0 = walk_now();
	uint64_t n;
	for (n = 1;; n++) {
		ck_assert_msg(n <= WALK_LIMIT, "%s: the walk does not end", name);
		w.n = n;
		bool fired = step(&w);
		pr_fault_disarm(); /* in case the step returned early */
		check_clean(&b, name, n);
		if (!fired)
			break;
	}
	printf("walk %-34s %-6s %-10s %4" PRIu64 " call sites  %6.2f s\n", name, KIND_NAMES[kind],
	       persistent ? "persistent" : "once", n - 1, walk_now() - t0);
	fflush(stdout);
	return n - 1;
}

/* Both modes. */
static inline uint64_t walk_both(const char *name, walk_step_fn step, void *arg, enum pr_fault_kind kind)
{
	uint64_t a = walk_run(name, step, arg, kind, false);
	uint64_t b = walk_run(name, step, arg, kind, true);
	return a > b ? a : b;
}

/* The error a failed call of `kind` must report. */
static inline int walk_errno(enum pr_fault_kind kind)
{
	return kind == PR_FAULT_THREAD ? -EAGAIN : kind == PR_FAULT_FD ? -EMFILE : -ENOMEM;
}

#endif /* PRUNNER_FAULT_WALK_H */
