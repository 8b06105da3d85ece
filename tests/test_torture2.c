/*
 * test_torture2.c - torture tests of the 'slow' suite, process part: what
 * the runner costs a process that keeps it around, and fork.
 *
 *   - idle CPU: the parked pools of runners of every worker count (after a
 *     run) and open executors with nothing to do use, all together, under
 *     5% of one core: measured as the CPU time of the worker threads over
 *     a fixed window, once /proc shows every worker asleep in the kernel;
 *     the module API joins its workers when prunner_start returns;
 *   - memory: a 1,000,000-task run repeated on one runner, and on a fresh
 *     runner each time, until the resident set and malloc's bytes in use
 *     stop growing; 100,000 queued tasks with heap payloads: their
 *     payloads are freed once they ran, identical bursts after it reuse
 *     the task slabs, and prunner_free gives the bytes back to malloc;
 *   - fork: a program that used runners and freed them forks, and the child
 *     uses a fresh runner (object and module API); a fork while a run is
 *     active leaves the parent's run whole, and the child may use only
 *     async-signal-safe calls (it writes to a pipe and _exits).
 *
 * Rules as in test_runner.c: ck_assert only on the test's own thread, exact
 * counts.  The one figure that is not a count is the idle CPU time, a
 * count of nanoseconds over a fixed window with a 20-fold allowance
 * (a parked worker uses none).  Figures are printed on stderr (one line
 * per measurement) for the record.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prunner.h"
#include "test_torture.h"
#include "testutil.h"

static int g_counts[TORTURE_MAX_COUNTS];
static int g_ncounts;

/* AddressSanitizer keeps freed blocks in quarantine instead of reusing
 * them, and the sanitizers replace malloc (mallinfo2 then says nothing):
 * the memory figures are only asserted on a plain build. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)) && !SANITIZED
#define HAVE_MALLINFO2 1
/* Bytes malloc has handed out and not had back (every arena). */
static int64_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (int64_t)(mi.uordblks + mi.hblkhd);
}
#else
#define HAVE_MALLINFO2 0
#endif

#define MAX_THREADS 4096

/* A task per payload, with its own slot: each must run once. */
struct slot_ctx {
	atomic_uchar *slot;
	uint32_t n;
	atomic_int bad;
};

struct slot_msg {
	struct slot_ctx *c;
	uint32_t i;
	unsigned char pad[188]; /* 200 bytes in all: a heap payload */
};

static int slot_task(void *data)
{
	struct slot_msg *m = data;
	if (m->i < m->c->n)
		atomic_fetch_add_explicit(&m->c->slot[m->i], 1, memory_order_relaxed);
	else
		atomic_fetch_add(&m->c->bad, 1);
	return 0;
}

/* Posts tasks lo .. hi-1 of c to r (any thread; no asserts). */
static int post_slots(prunner_t *r, struct slot_ctx *c, uint32_t lo, uint32_t hi)
{
	struct slot_msg m;
	memset(&m, 0, sizeof m);
	m.c = c;
	for (m.i = lo; m.i < hi; m.i++)
		if (prunner_post(r, slot_task, &m, sizeof m) != 0)
			return -1;
	return 0;
}

/* How many slots ran exactly `times` times (test thread, after the run). */
static uint32_t slots_at(struct slot_ctx *c, int times)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		n += atomic_load_explicit(&c->slot[i], memory_order_relaxed) == times;
	return n;
}

/* ------------------------------------------------------------------------ */
/* Idle CPU                                                                 */
/* ------------------------------------------------------------------------ */

/* A small run: begin posts 64 tasks per worker. */
#define IDLE_TASKS_PER_WORKER 64

static void idle_begin(prunner_t *r, void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++)
		prunner_post(r, noop_task, NULL, 0);
}

/* Waits until every thread of tids[] was seen asleep in the kernel (state
 * 'S', which a spinning or yielding worker never shows) in three scans in
 * a row.  Returns the scans it took, or -1 after 60 s: a worker that never
 * goes to sleep is the failure this looks for. */
static int settle(const pid_t *tids, int n)
{
	int64_t deadline = torture_now_ns() + 60 * 1000000000LL;
	int in_row = 0;
	for (int scans = 1;; scans++) {
		int i = 0;
		while (i < n && torture_thread_state(tids[i]) == 'S')
			i++;
		in_row = i == n ? in_row + 1 : 0;
		if (in_row == 3)
			return scans;
		if (torture_now_ns() > deadline)
			return -1;
		sched_yield();
	}
}

#define IDLE_WINDOW_NS 1000000000LL

struct idle_figures {
	int64_t wall_ns, workers_ns, process_ns;
	int64_t workers_before_ns; /* their CPU time up to the window */
};

static int64_t rusage_ns(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return ((int64_t)u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000;
}

/* CPU time of the threads tids[] and of the whole process over a window
 * of IDLE_WINDOW_NS during which this thread is blocked.  Blocking for a
 * fixed time is the measurement itself, not a wait for an event. */
static struct idle_figures measure_idle(const pid_t *tids, int n)
{
	struct idle_figures f;
	int64_t t0 = torture_now_ns(), p0 = rusage_ns(), w0 = torture_threads_cpu_ns(tids, n);
	struct timespec left = {IDLE_WINDOW_NS / 1000000000, IDLE_WINDOW_NS % 1000000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) == EINTR)
		;
	int64_t w1 = torture_threads_cpu_ns(tids, n), p1 = rusage_ns();
	f.wall_ns = torture_now_ns() - t0;
	f.workers_before_ns = w0;
	f.workers_ns = w0 < 0 || w1 < 0 ? -1 : w1 - w0;
	f.process_ns = p1 - p0;
	return f;
}

/* The worker threads the runners started: threads not in before[]; their
 * number must be `expected`.  Then settles and measures them. */
static void check_idle(const pid_t *before, int nb, int expected, const char *what)
{
	pid_t *now = malloc(MAX_THREADS * sizeof *now), *workers = malloc(MAX_THREADS * sizeof *workers);
	ck_assert(now && workers);
	int nn = torture_list_tids(now, MAX_THREADS);
	ck_assert_int_gt(nn, 0);
	int nw = torture_new_tids(before, nb, now, nn, workers);
	ck_assert_msg(nw == expected, "%s: %d worker threads, expected %d", what, nw, expected);
	int scans = settle(workers, nw);
	ck_assert_msg(scans > 0, "%s: the %d workers were not all asleep within 60 s", what, nw);
	struct idle_figures f = measure_idle(workers, nw);
	/* The reading works: the workers' CPU time so far (searching, spinning,
	 * running tasks) is seen. */
	ck_assert_msg(f.workers_before_ns > 0 && f.workers_ns >= 0,
	              "%s: workers' CPU time unreadable (%" PRId64 ")", what, f.workers_before_ns);
	fprintf(
	    stderr,
	    "idle CPU, %s: %d workers (%.1f ms of CPU before), asleep after %d scans; over %.3f s they used "
	    "%.3f ms of CPU (%.4f%% of one core), the whole process %.3f ms\n",
	    what, nw, f.workers_before_ns / 1e6, scans, f.wall_ns / 1e9, f.workers_ns / 1e6,
	    100.0 * (double)f.workers_ns / (double)f.wall_ns, f.process_ns / 1e6);
	ck_assert_msg(f.workers_ns * 20 < f.wall_ns,
	              "%s: %d idle workers used %" PRId64 " ns of CPU in %" PRId64
	              " ns: 5%% of one core or more",
	              what, nw, f.workers_ns, f.wall_ns);
	free(now);
	free(workers);
}

/* A runner of every worker count, each after one run: all their pools
 * parked at once. */
START_TEST(test_idle_cpu_after_runs)
{
	pid_t *before = malloc(MAX_THREADS * sizeof *before);
	ck_assert_ptr_nonnull(before);
	thread_count(); /* its warm-up thread is gone before the snapshot */
	int nb = torture_list_tids(before, MAX_THREADS);
	ck_assert_int_gt(nb, 0);
	prunner_t *rs[TORTURE_MAX_COUNTS];
	int ntasks[TORTURE_MAX_COUNTS], total = 0;
	for (int k = 0; k < g_ncounts; k++) {
		int w = g_counts[k];
		rs[k] = new_runner(w, k & 1 ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS);
		ntasks[k] = IDLE_TASKS_PER_WORKER * w;
		ck_assert_int_eq(prunner_set_hooks(rs[k], idle_begin, NULL, &ntasks[k]), 0);
		ck_assert_int_eq(prunner_run(rs[k]), 0);
		check_run_stats(rs[k], w, (uint64_t)ntasks[k], 0);
		total += w;
	}
	check_idle(before, nb, total, "pools parked after a run");
	for (int k = 0; k < g_ncounts; k++)
		prunner_free(rs[k]);
	ck_assert_int_eq(thread_count_after_join(nb), nb);
	free(before);
}
END_TEST

/* An open executor of every worker count with nothing to do: every other
 * one ran work first (and was waited idle), the others never had any. */
START_TEST(test_idle_cpu_open_executors)
{
	pid_t *before = malloc(MAX_THREADS * sizeof *before);
	ck_assert_ptr_nonnull(before);
	thread_count();
	int nb = torture_list_tids(before, MAX_THREADS);
	ck_assert_int_gt(nb, 0);
	prunner_t *rs[TORTURE_MAX_COUNTS];
	int total = 0;
	for (int k = 0; k < g_ncounts; k++) {
		rs[k] =
		    new_runner(g_counts[k], k & 2 ? PRUNNER_TERMINATION_COUNTER : PRUNNER_TERMINATION_FLAGS);
		ck_assert_int_eq(prunner_open(rs[k]), 0);
		if (k & 1) {
			for (int i = 0; i < IDLE_TASKS_PER_WORKER * g_counts[k]; i++)
				ck_assert_int_eq(prunner_post(rs[k], noop_task, NULL, 0), 0);
			ck_assert_int_eq(prunner_wait_idle(rs[k]), 0);
		}
		total += g_counts[k];
	}
	check_idle(before, nb, total, "open executors with nothing to do");
	for (int k = 0; k < g_ncounts; k++) {
		ck_assert_int_eq(prunner_close(rs[k], PRUNNER_CLOSE_DRAIN), 0);
		check_run_stats(rs[k], g_counts[k], k & 1 ? (uint64_t)IDLE_TASKS_PER_WORKER * g_counts[k] : 0,
		                0);
		prunner_free(rs[k]);
	}
	ck_assert_int_eq(thread_count_after_join(nb), nb);
	free(before);
}
END_TEST

/* The module API: prunner_start joins its workers before it returns, so
 * between starts no worker is left to be idle. */
static atomic_int g_mod_ran;

static int mod_task(void *data)
{
	(void)data;
	atomic_fetch_add(&g_mod_ran, 1);
	return 0;
}

static void mod_begin(void)
{
	for (int i = 0; i < 1000; i++)
		prunner_post_task(mod_task, NULL, 0);
}

START_TEST(test_idle_module_api_joins)
{
	int base = thread_count_steady();
	for (int k = 0; k < g_ncounts; k++) {
		ck_assert_int_eq(prunner_init(g_counts[k], false, mod_begin, NULL), 0);
		for (int run = 0; run < 3; run++) {
			atomic_store(&g_mod_ran, 0);
			ck_assert_int_eq(prunner_start(), 0);
			ck_assert_int_eq(atomic_load(&g_mod_ran), 1000);
			if (base >= 0)
				ck_assert_msg(
				    thread_count_after_join(base) == base,
				    "%d workers: %d threads after prunner_start returned, %d before",
				    g_counts[k], thread_count(), base);
		}
	}
	prunner_cleanup();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Memory: a million-task run, repeated until the resident set plateaus     */
/* ------------------------------------------------------------------------ */

/* Begin holds every worker with a gate task, posts MEM_PARENTS tasks, and
 * opens the gates; each parent posts MEM_FANOUT children.  Child value v
 * has a 40-byte payload (on the heap) when v % 4 == 0, else 16 bytes
 * (inline).  Every task adds value + 1 to its worker's sum.  The gates
 * make the peak the same in every run (all parents queued at once, then
 * a few children per worker), so memory that grows from run to run is
 * memory not given back or not reused, not a busier run. */
#define MEM_PARENTS 200000u
#define MEM_FANOUT  4u
#define MEM_TASKS   (MEM_PARENTS * (1 + MEM_FANOUT))

struct mem_ctx {
	int w;
	struct gate gate;
	struct wcount sum[PRUNNER_MAX_WORKERS];
	struct wcount count[PRUNNER_MAX_WORKERS];
	atomic_int bad;
};

struct mem_msg {
	struct mem_ctx *c;
	uint64_t v;
	unsigned char pad[24];
};

static void mem_count(struct mem_ctx *c, uint64_t v)
{
	int idx = prunner_worker_index();
	if (idx < 0 || idx >= PRUNNER_MAX_WORKERS) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	c->sum[idx].n += v + 1; /* plain: only this worker writes it */
	c->count[idx].n++;
}

static int mem_child(void *data)
{
	struct mem_msg *m = data;
	mem_count(m->c, m->v);
	return 0;
}

/* A parent's payload is the first 16 bytes of struct mem_msg only. */
static int mem_parent(void *data)
{
	const struct mem_msg *m = data;
	mem_count(m->c, m->v);
	uint64_t base = MEM_PARENTS + m->v * MEM_FANOUT;
	for (uint64_t j = 0; j < MEM_FANOUT; j++) {
		struct mem_msg k = {m->c, base + j, {0}};
		size_t size = k.v % 4 == 0 ? sizeof k : offsetof(struct mem_msg, pad);
		if (prunner_post(prunner_current(), mem_child, &k, size) != 0)
			atomic_fetch_add(&m->c->bad, 1);
	}
	return 0;
}

static void mem_begin(prunner_t *r, void *arg)
{
	struct mem_ctx *c = arg;
	struct gate *g = &c->gate;
	for (int i = 0; i < c->w; i++)
		if (prunner_post(r, gate_fn, &g, sizeof g) != 0)
			atomic_fetch_add(&c->bad, 1);
	wait_started(g, c->w);
	for (uint64_t v = 0; v < MEM_PARENTS; v++) {
		struct mem_msg m = {c, v, {0}};
		if (prunner_post(r, mem_parent, &m, offsetof(struct mem_msg, pad)) != 0)
			atomic_fetch_add(&c->bad, 1);
	}
	atomic_store_explicit(&g->open, 1, memory_order_release); /* pairs with gate_fn */
}

/* One run on r; checks the exact count and sum; returns the RSS after. */
static int64_t mem_run(prunner_t *r, struct mem_ctx *c, int w, int run)
{
	memset(c, 0, sizeof *c);
	c->w = w;
	ck_assert_int_eq(prunner_set_hooks(r, mem_begin, NULL, c), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	uint64_t sum = 0, count = 0;
	for (int i = 0; i < PRUNNER_MAX_WORKERS; i++) {
		sum += c->sum[i].n;
		count += c->count[i].n;
	}
	uint64_t want =
	    (uint64_t)MEM_TASKS * (MEM_TASKS + 1) / 2; /* values 0 .. MEM_TASKS-1, plus one each */
	ck_assert_msg(atomic_load(&c->bad) == 0 && count == MEM_TASKS && sum == want,
	              "w=%d run %d: %" PRIu64 " tasks with sum %" PRIu64 ", expected %u and %" PRIu64
	              " (%d bad)",
	              w, run, count, sum, MEM_TASKS, want, atomic_load(&c->bad));
	check_run_stats(r, w, MEM_TASKS + (uint64_t)w, 0);
	return torture_rss_bytes();
}

/* Up to MEM_MAX_RUNS runs, until a plateau: after some run b, each of the
 * next MEM_PLATEAU runs ends with the resident set within MEM_SLACK of
 * what it was after run b, and (glibc, no sanitizer) malloc's bytes in
 * use within MEM_HEAP_SLACK.  Bytes in use are counted with the runner
 * alive (one runner: its slabs, deques and caches are kept), or after
 * prunner_free (a new runner each run: what is left once it is gone).
 *
 * With one runner the plateau is not reached at once with many workers:
 * tasks freed by a worker stay in its cache (up to a few hundred per
 * worker) where the outside poster of the next run cannot take them, so
 * the runner adds a slab now and then until the caches' contents stop
 * growing.  Measured here: at 64 workers +1.6 MiB over 17 runs, at 256
 * workers +6.3 MiB over 30 runs, then flat for the next 70 runs.  Hence
 * up to 60 runs. */
#define MEM_MAX_RUNS   60
#define MEM_PLATEAU    5
#define MEM_SLACK      ((int64_t)1 << 20)
#define MEM_HEAP_SLACK ((int64_t)512 << 10)

/* Whether v[n-1-MEM_PLATEAU .. n-1] is a plateau within slack. */
static int is_plateau(const int64_t *v, int n, int64_t slack)
{
	int b = n - 1 - MEM_PLATEAU;
	if (b < 0)
		return 0;
	for (int j = b + 1; j < n; j++)
		if (v[j] > v[b] + slack)
			return 0;
	return 1;
}

static void mem_line(char *line, size_t cap, const int64_t *v, int n)
{
	size_t at = 0;
	line[0] = '\0';
	for (int k = 0; k < n && at < cap; k++)
		at += (size_t)snprintf(line + at, cap - at, " %.2f", v[k] / 1048576.0);
}

static void rss_plateau(int w, int fresh)
{
	struct mem_ctx *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	int64_t rss[MEM_MAX_RUNS], heap[MEM_MAX_RUNS];
	int runs = 0, flat = 0;
	prunner_t *r = fresh ? NULL : new_runner_default(w);
	for (int k = 0; k < MEM_MAX_RUNS && !flat; k++) {
		if (fresh)
			r = new_runner_default(w);
		rss[k] = mem_run(r, c, w, k);
		if (fresh)
			prunner_free(r);
		ck_assert_int_gt(rss[k], 0);
#if HAVE_MALLINFO2
		heap[k] = heap_in_use();
#else
		heap[k] = 0;
#endif
		runs = k + 1;
		flat = is_plateau(rss, runs, MEM_SLACK) && is_plateau(heap, runs, MEM_HEAP_SLACK);
	}
	if (!fresh)
		prunner_free(r);
	char rss_line[MEM_MAX_RUNS * 12], heap_line[MEM_MAX_RUNS * 12];
	mem_line(rss_line, sizeof rss_line, rss, runs);
	mem_line(heap_line, sizeof heap_line, heap, runs);
	fprintf(stderr, "%u tasks a run, %d workers, %s; MiB after each run: RSS%s; malloc in use%s\n",
	        MEM_TASKS, w, fresh ? "a new runner each run (in use: after prunner_free)" : "one runner",
	        rss_line, heap_line);
	if (!SANITIZED)
		ck_assert_msg(
		    flat, "w=%d%s: memory did not stop growing in %d runs (MiB after each: RSS%s; in use%s)",
		    w, fresh ? ", a new runner each run" : "", MEM_MAX_RUNS, rss_line, heap_line);
	free(c);
}

START_TEST(test_rss_plateau_one_runner)
{
	rss_plateau(g_counts[_i], 0);
}
END_TEST

START_TEST(test_rss_plateau_new_runner_each_run)
{
	rss_plateau(g_counts[_i], 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Memory: 100,000 queued tasks                                             */
/* ------------------------------------------------------------------------ */

/* An executor whose every worker is held by a gate task while this thread
 * queues 100,000 tasks with 200-byte payloads; then the gates open and the
 * tasks drain.  Three bursts.  What "released" means in prunner: a task's
 * heap payload goes back to malloc as soon as the task ran; the 64-byte
 * task objects come from 64 KiB slabs that the runner keeps for the next
 * posts until prunner_free, in its pool and in its workers' caches (a
 * worker hands tasks back to the pool only beyond two batches of 256,
 * and all of them when it exits).  So:
 *   - after the first burst drained, what the runner still holds from
 *     malloc is about the slabs (6.4 MB), not the payloads (20 MB);
 *   - the second burst, on the same open executor, reuses the payloads'
 *     blocks and the slabs, except that the tasks the workers' caches
 *     hold are not available to this thread: malloc's count may grow by
 *     those (32 KiB a worker) and 1 MiB, the resident set by 2 MiB more;
 *   - after a close and prunner_stop_workers (every cache back in the
 *     pool) and a new open, the third burst allocates no slab: malloc's
 *     count grows by less than 256 KiB and 2 KiB a worker (a slab is 64
 *     KiB, the burst's 6.1 MiB);
 *   - prunner_free hands back what the runner took (malloc's count goes
 *     back to where it was before prunner_new).
 * The resident set does not shrink when a burst drains: malloc keeps the
 * freed payload blocks for the next allocations. */
#define BURST           100000u
#define BURST_SLACK     ((int64_t)1 << 20)   /* malloc's count, burst 2 */
#define BURST_RSS_SLACK ((int64_t)2 << 20)   /* the resident set, burst 2 */
#define BURST_CACHE     ((int64_t)32 << 10)  /* one worker's cache: 512 tasks */
#define BURST3_SLACK    ((int64_t)256 << 10) /* malloc's count, burst 3 */

static void burst(prunner_t *r, struct slot_ctx *c, int w, int times)
{
	struct gate g;
	memset(&g, 0, sizeof g);
	struct gate *gp = &g;
	for (int i = 0; i < w; i++)
		ck_assert_int_eq(prunner_post(r, gate_fn, &gp, sizeof gp), 0);
	wait_started(&g, w);
	ck_assert_int_eq(post_slots(r, c, 0, BURST), 0);
	atomic_store_explicit(&g.open, 1, memory_order_release);
	ck_assert_int_eq(prunner_wait_idle(r), 0);
	ck_assert_int_eq(atomic_load(&c->bad), 0);
	ck_assert_msg(slots_at(c, times) == BURST, "w=%d burst %d: %u of %u tasks ran exactly %d times", w,
	              times, slots_at(c, times), BURST, times);
}

/* Malloc's bytes in use, or 0 where it cannot be read. */
static int64_t heap_now(void)
{
#if HAVE_MALLINFO2
	return heap_in_use();
#else
	return 0;
#endif
}

START_TEST(test_queued_100k_released)
{
	int w = g_counts[_i];
	struct slot_ctx c;
	memset(&c, 0, sizeof c);
	c.n = BURST;
	c.slot = calloc(BURST, sizeof *c.slot);
	ck_assert_ptr_nonnull(c.slot);
	/* A first runner of w workers makes malloc create the arenas their
	 * threads use (glibc keeps them for the next threads): they are not
	 * the runner's to give back. */
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(post_slots(r, &c, 0, BURST / 10), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	prunner_free(r);
	memset(c.slot, 0, BURST);

	/* [0] before prunner_new, [1] open, [2..4] after bursts 1-3, [5]
	 * after prunner_free. */
	int64_t heap[6], rss[6];
	heap[0] = heap_now();
	rss[0] = torture_rss_bytes();
	r = new_runner_default(w);
	ck_assert_int_eq(prunner_open(r), 0);
	heap[1] = heap_now();
	rss[1] = torture_rss_bytes();
	for (int k = 1; k <= 3; k++) {
		if (k == 3) {
			ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
			check_run_stats(r, w, 2 * (BURST + (uint64_t)w), 0);
			ck_assert_int_eq(prunner_stop_workers(r), 0);
			ck_assert_int_eq(prunner_open(r), 0);
		}
		burst(r, &c, w, k);
		heap[k + 1] = heap_now();
		rss[k + 1] = torture_rss_bytes();
	}
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	check_run_stats(r, w, BURST + (uint64_t)w, 0);
	prunner_free(r);
	heap[5] = heap_now();
	rss[5] = torture_rss_bytes();
	free(c.slot);

	char rss_line[80], heap_line[80];
	mem_line(rss_line, sizeof rss_line, rss, 6);
	mem_line(heap_line, sizeof heap_line, heap, 6);
	fprintf(
	    stderr,
	    "100k queued, %d workers; MiB before prunner_new, open, after bursts 1, 2, 3 (the third after "
	    "prunner_stop_workers), after prunner_free: RSS%s; malloc in use%s\n",
	    w, rss_line, heap_line);
	if (!SANITIZED)
		ck_assert_msg(rss[3] <= rss[2] + BURST_RSS_SLACK + BURST_CACHE * w &&
		                  rss[4] <= rss[3] + BURST_RSS_SLACK,
		              "w=%d: the resident set grew with the same burst again (MiB:%s)", w, rss_line);
	if (!HAVE_MALLINFO2)
		return;
	/* Payloads: 100,000 x 200 bytes; slabs: 98 x 64 KiB. */
	int64_t payloads = (int64_t)BURST * (int64_t)sizeof(struct slot_msg);
	ck_assert_msg(heap[2] - heap[1] < payloads / 2,
	              "w=%d: %" PRId64 " more bytes in use after the burst drained: the payloads (%" PRId64
	              ") were not freed",
	              w, heap[2] - heap[1], payloads);
	ck_assert_msg(heap[3] <= heap[2] + BURST_SLACK + BURST_CACHE * w,
	              "w=%d: the second burst added %" PRId64 " bytes in use: the slabs were not reused", w,
	              heap[3] - heap[2]);
	/* Fresh worker threads: glibc counts the freed blocks each thread
	 * keeps in its own cache (tcache: up to 7 of a size) as in use, hence
	 * 2 KiB a worker more. */
	ck_assert_msg(heap[4] <= heap[3] + BURST3_SLACK + ((int64_t)2 << 10) * w,
	              "w=%d: the third burst, after prunner_stop_workers, added %" PRId64 " bytes in use", w,
	              heap[4] - heap[3]);
	/* glibc's count of bytes in use moves by a few KiB per arena that
	 * threads came and went through (it settles after a few runners;
	 * memcheck, which counts blocks, finds every one freed): the
	 * allowance is 64 KiB + 2 KiB per worker, against 6 MB of slabs and
	 * 20 MB of payloads.  The exact check is memcheck's and LSan's. */
	int64_t allowance = ((int64_t)64 << 10) + ((int64_t)2 << 10) * w;
	ck_assert_msg(heap[5] <= heap[0] + allowance,
	              "w=%d: %" PRId64 " bytes in use after prunner_free, %" PRId64 " before prunner_new", w,
	              heap[5], heap[0]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* fork                                                                     */
/* ------------------------------------------------------------------------ */

/* The child's work, without check (the child is not check's process):
 * a fresh runner of w workers runs 50,000 slot tasks posted from begin and
 * from a program thread; returns 0 when each ran once. */
struct fork_work {
	struct slot_ctx c;
	prunner_t *r;
	int thread_rc;
	pthread_t th;
};

static void *fork_poster(void *arg)
{
	struct fork_work *fw = arg;
	return (void *)(intptr_t)post_slots(fw->r, &fw->c, 25000, 50000);
}

static int fork_gate_task(void *data)
{
	struct fork_work *fw = *(struct fork_work **)data;
	void *ret = NULL;
	return pthread_join(fw->th, &ret) != 0 || ret != NULL;
}

static void fork_begin(prunner_t *r, void *arg)
{
	struct fork_work *fw = arg;
	fw->thread_rc = pthread_create(&fw->th, NULL, fork_poster, fw);
	/* The joiner keeps the run open until the poster is done. */
	if (fw->thread_rc == 0)
		prunner_post(r, fork_gate_task, &fw, sizeof fw);
	post_slots(r, &fw->c, 0, 25000);
}

static int child_work(int w)
{
	struct fork_work fw;
	memset(&fw, 0, sizeof fw);
	fw.c.n = 50000;
	fw.c.slot = calloc(fw.c.n, 1);
	if (!fw.c.slot || prunner_new(&fw.r) != 0)
		return 2;
	if (prunner_set_workers(fw.r, w) != 0 || prunner_set_hooks(fw.r, fork_begin, NULL, &fw) != 0) {
		prunner_free(fw.r);
		free(fw.c.slot);
		return 2;
	}
	int rc = prunner_run(fw.r);
	prunner_free(fw.r);
	int ok = rc == 0 && fw.thread_rc == 0 && slots_at(&fw.c, 1) == fw.c.n && atomic_load(&fw.c.bad) == 0;
	free(fw.c.slot);
	return ok ? 0 : 3;
}

static int child_module_work(int w)
{
	atomic_store(&g_mod_ran, 0);
	if (prunner_init(w, false, mod_begin, NULL) != 0)
		return 5;
	int rc = prunner_start();
	prunner_cleanup();
	return rc == 0 && atomic_load(&g_mod_ran) == 1000 ? 0 : 6;
}

/* Waits for pid; its exit status, or -1 when it did not exit normally. */
static int child_status(pid_t pid)
{
	int st = 0;
	pid_t got;
	while ((got = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	return got == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The parent used an object-API runner and the module API, freed both;
 * the child uses fresh ones of the same count. */
START_TEST(test_fork_after_free)
{
	int w = g_counts[_i];
	ck_assert_int_eq(child_work(w), 0);
	ck_assert_int_eq(child_module_work(w), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int rc = child_work(w);
		_exit(rc ? rc : child_module_work(w));
	}
	int st = child_status(pid);
	ck_assert_msg(st == 0, "w=%d: the child's fresh runner failed (exit status %d)", w, st);
	/* And the parent still can. */
	ck_assert_int_eq(child_work(w), 0);
}
END_TEST

/* fork while a run is active.  POSIX: in the child of a multi-threaded
 * process only the forking thread exists and only async-signal-safe calls
 * are allowed until exec; the runner (whose workers are gone in the
 * child) must not be used there.  What is defined, and checked: the
 * parent's run is not disturbed, and the child runs (it writes a byte to
 * a pipe) and exits. */
#define FORK_TASKS 100000u

struct fork_ctx {
	struct slot_ctx c;
	int pipe_fd[2];
	atomic_int pid; /* the child forked by a task; 0 before, -1 on error */
};

static int fork_in_task(void *data)
{
	struct fork_ctx *fc = *(struct fork_ctx **)data;
	pid_t pid = fork();
	if (pid == 0) {
		char b = 'T';
		_exit(write(fc->pipe_fd[1], &b, 1) == 1 ? 40 : 41);
	}
	atomic_store(&fc->pid, pid < 0 ? -1 : (int)pid);
	return 0;
}

static void fork_run_begin(prunner_t *r, void *arg)
{
	struct fork_ctx *fc = arg;
	post_slots(r, &fc->c, 0, FORK_TASKS / 2);
	prunner_post(r, fork_in_task, &fc, sizeof fc);
	post_slots(r, &fc->c, FORK_TASKS / 2, FORK_TASKS);
}

static char read_byte(int fd)
{
	char b = 0;
	ssize_t n;
	while ((n = read(fd, &b, 1)) < 0 && errno == EINTR)
		;
	return n == 1 ? b : 0;
}

START_TEST(test_fork_during_run)
{
	int w = g_counts[_i];
	struct fork_ctx *fc = calloc(1, sizeof *fc);
	ck_assert_ptr_nonnull(fc);
	fc->c.n = FORK_TASKS;
	fc->c.slot = calloc(FORK_TASKS, 1);
	ck_assert_ptr_nonnull(fc->c.slot);
	ck_assert_int_eq(pipe(fc->pipe_fd), 0);

	/* A task forks in the middle of a run. */
	prunner_t *r = new_runner_default(w);
	ck_assert_int_eq(prunner_set_hooks(r, fork_run_begin, NULL, fc), 0);
	ck_assert_int_eq(prunner_run(r), 0);
	check_run_stats(r, w, FORK_TASKS + 1, 0);
	ck_assert_int_eq(slots_at(&fc->c, 1), FORK_TASKS);
	int pid = atomic_load(&fc->pid);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(read_byte(fc->pipe_fd[0]), 'T');
	ck_assert_int_eq(child_status(pid), 40);

	/* A program thread (this one) forks while the executor runs tasks. */
	ck_assert_int_eq(prunner_open(r), 0);
	ck_assert_int_eq(post_slots(r, &fc->c, 0, FORK_TASKS / 2), 0);
	pid_t p = fork();
	if (p == 0) {
		char b = 'P';
		_exit(write(fc->pipe_fd[1], &b, 1) == 1 ? 42 : 43);
	}
	ck_assert_int_gt(p, 0);
	ck_assert_int_eq(post_slots(r, &fc->c, FORK_TASKS / 2, FORK_TASKS), 0);
	ck_assert_int_eq(prunner_close(r, PRUNNER_CLOSE_DRAIN), 0);
	check_run_stats(r, w, FORK_TASKS, 0);
	ck_assert_int_eq(slots_at(&fc->c, 2), FORK_TASKS);
	ck_assert_int_eq(read_byte(fc->pipe_fd[0]), 'P');
	ck_assert_int_eq(child_status(p), 42);
	prunner_free(r);
	close(fc->pipe_fd[0]);
	close(fc->pipe_fd[1]);
	free(fc->c.slot);
	free(fc);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *torture2_suite(void)
{
	Suite *s = suite_create("slow");
	TCase *tc;

	tc = tcase_create("idle_cpu");
	tcase_add_test(tc, test_idle_cpu_after_runs);
	tcase_add_test(tc, test_idle_cpu_open_executors);
	tcase_add_test(tc, test_idle_module_api_joins);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_loop_test(tc, test_rss_plateau_one_runner, 0, g_ncounts);
	tcase_add_loop_test(tc, test_rss_plateau_new_runner_each_run, 0, g_ncounts);
	tcase_add_loop_test(tc, test_queued_100k_released, 0, g_ncounts);
	suite_add_tcase(s, tc);

	tc = tcase_create("fork");
	tcase_add_loop_test(tc, test_fork_after_free, 0, g_ncounts);
	tcase_add_loop_test(tc, test_fork_during_run, 0, g_ncounts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "900", 0);
	g_ncounts = torture_worker_counts(g_counts);
	SRunner *sr = srunner_create(torture2_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
