/*
 * bench_tbb.cpp - the benchmark workloads on oneTBB (task_arena + task_group).
 *
 * Usage: bench_tbb WORKLOAD N WORKERS      (see common.h)
 *
 * The idiom: a tbb::task_arena of concurrency WORKERS (one slot reserved
 * for the calling thread, so WORKERS - 1 TBB worker threads plus main()
 * while it is inside the arena) and one tbb::task_group; every post is a
 * tg.run(lambda) on that task group, from inside a task for the recursive
 * workloads; tg.wait() waits for all of them, and the waiting thread helps
 * to run them (that is how oneTBB waits).
 *
 *   sum    main() runs the init task; init runs add_one(i) for i in [0, N);
 *          add_one runs double(i + 1); double runs sum_up(n) twice; sum_up
 *          adds n to an int64 under a std::mutex.  4N + 1 tasks; check:
 *          total == N * (N + 1).
 *   tree   a task at depth d < N runs two children at depth d + 1; a leaf
 *          (depth N) counts itself in its arena slot's own counter.
 *          2^(N+1) - 1 tasks; check: leaves == 2^N.
 *   empty  main() posts N empty tasks (each counts itself in its slot's
 *          counter) and then waits: oneTBB's documented pattern for "submit
 *          now, wait later", arena.execute([&]{ tg.run(f); }) ... then
 *          arena.execute([&]{ tg.wait(); }).  Note that a thread calling
 *          task_arena::execute joins the arena (in the slot reserved for it)
 *          while it posts: the tasks go to its own deque, from which the
 *          WORKERS - 1 workers steal them while main() is still posting;
 *          then main() leaves, re-enters to wait and helps drain the rest.
 *          (Rejected: arena.enqueue(tg.defer(f)) from outside the arena,
 *          which never joins it while posting; it measured no faster, and
 *          with WORKERS = 1 oneTBB lends the worker-less arena an extra
 *          thread to run enqueued tasks, so the pool is not WORKERS.)
 *          N tasks.
 *   foo    main() posts N tasks the same way; each adds foo(val) to an int64
 *          under the mutex.  N tasks; check against N * foo(val) computed
 *          serially before timing.
 *   fib    fib(N) by recursive fork-join with a task for every call, no
 *          cutoff, in oneTBB's own idiom (the fib example of its task_group
 *          documentation): main() runs the root call as a task of the
 *          global task group; a call with n >= 2 makes a tbb::task_group on
 *          its stack, g.run()s fib(n-1) and fib(n-2), each writing its
 *          result to a local of the parent captured by reference, and
 *          g.wait()s (helping).  2 fib(N+1) - 1 tasks; check against an
 *          iterative fib(N) computed before timing.  (The serial baseline
 *          is bench_prunner's fib-serial.)
 *   roundtrip  the submit-to-result round trip from a thread outside the
 *          pool, N times one after the other, each timed on its own with
 *          CLOCK_MONOTONIC, after 1000 untimed ones.  oneTBB's way for a
 *          thread that does not take part in the work is
 *          task_arena::enqueue() (its maintainers' advice for "submit from a
 *          non-arena thread": oneTBB issues #1140 and #1354).  enqueue
 *          returns nothing to wait on, and oneTBB 2021.8 has no call that
 *          waits for one enqueued task without joining the arena, so the
 *          result comes back the standard C++ way: the task fulfils a
 *          std::promise<int64_t> with its input + 1 and main() blocks in
 *          std::future::get().  The arena here has WORKERS slots, none
 *          reserved for main() (task_arena(WORKERS, 0)): WORKERS worker
 *          threads, main() outside, as prunner's executor.  (Rejected:
 *          arena.execute([&]{ tg.run(f); tg.wait(); }) makes main() join the
 *          arena, and its wait would run the task itself: no round trip to
 *          another thread.)  Each round trip includes making and destroying
 *          the promise, as prunner's includes making and releasing the
 *          future.  seconds = the wall time of the N timed round trips;
 *          the RESULT line adds p50_ns and p99_ns (nearest rank).  N tasks;
 *          check: every result == its input + 1.
 *
 * What is timed: from just before main() enters the arena to start the
 * workload until tg.wait() returned (every task finished).  Not timed: the
 * creation of the arena and of its worker threads, done by a warm-up in
 * which WORKERS tasks meet (each waits, for at most a second, until all of
 * them run at once); oneTBB keeps its worker threads between uses, so the
 * timed part starts with the pool in place.  (roundtrip: see above.)
 */
#include "common.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#define SYSTEM "tbb"

namespace
{

// Set in main() before the timed part, read-only during it.
long long size_n;
int foo_arg;
tbb::task_group *tg;

// The shared sum, guarded by total_lock.
std::mutex total_lock;
int64_t total;

// fib's result, written by the root task, read after tg.wait().
int64_t fib_result;

// Per-slot counters on their own cache lines, indexed by the arena slot of
// the running thread (this_task_arena::current_thread_index(), unique among
// the threads in the arena at any time).  Only the slot's thread writes it;
// relaxed atomics keep that free of data races even if oneTBB hands a slot
// to another thread between two tasks.  main() reads them after tg.wait().
// A slot index beyond the arena's concurrency (none expected) counts in
// `overflow` instead.
struct alignas(64) slot {
	std::atomic<int64_t> v{0};
};
std::unique_ptr<slot[]> slots;
int n_slots;
std::atomic<int64_t> overflow{0};

inline void count_one()
{
	int i = tbb::this_task_arena::current_thread_index();

	if (i < 0 || i >= n_slots) {
		overflow.fetch_add(1, std::memory_order_relaxed);
		return;
	}
	std::atomic<int64_t> &c = slots[i].v;
	c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

int64_t count_total()
{
	int64_t s = overflow.load(std::memory_order_relaxed);

	for (int i = 0; i < n_slots; i++)
		s += slots[i].v.load(std::memory_order_relaxed);
	return s;
}

inline void add_to_total(int64_t n)
{
	std::lock_guard<std::mutex> guard(total_lock);
	total += n;
}

// ---- sum -----------------------------------------------------------------

void sum_up(int64_t n)
{
	add_to_total(n);
}

void double_(int64_t n)
{
	tg->run([n] { sum_up(n); });
	tg->run([n] { sum_up(n); });
}

void add_one(int64_t i)
{
	int64_t n = i + 1;

	tg->run([n] { double_(n); });
}

void init(int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		tg->run([i] { add_one(i); });
}

// ---- tree ----------------------------------------------------------------

void tree_node(int d)
{
	if (d >= size_n) {
		count_one();
		return;
	}
	d++;
	tg->run([d] { tree_node(d); });
	tg->run([d] { tree_node(d); });
}

// ---- empty and foo -------------------------------------------------------

void empty_task()
{
	count_one();
}

void foo_task()
{
	add_to_total(foo(foo_arg));
}

// ---- fib -----------------------------------------------------------------

int64_t fib_task(int n)
{
	if (n < 2)
		return n;
	int64_t x, y;
	tbb::task_group g;
	g.run([&] { x = fib_task(n - 1); });
	g.run([&] { y = fib_task(n - 2); });
	g.wait();
	return x + y;
}

// ---- roundtrip -----------------------------------------------------------

// One round trip from outside the arena; true when the result is i + 1.
bool round_trip(tbb::task_arena &arena, int64_t i)
{
	std::promise<int64_t> p;
	std::future<int64_t> f = p.get_future();

	arena.enqueue([&p, i] { p.set_value(i + 1); });
	int64_t got = f.get();
	if (got != i + 1) {
		fprintf(stderr, "bench_tbb: round trip %" PRId64 ": got %" PRId64 "\n", i, got);
		return false;
	}
	return true;
}

const int roundtrip_warmup = 1000;

int run_roundtrip(const struct bench_args &a)
{
	std::vector<int64_t> ns((size_t)a.n);
	long long errors = 0;

	// WORKERS worker threads; max_allowed_parallelism counts main() too.
	tbb::global_control gc(tbb::global_control::max_allowed_parallelism, (size_t)a.workers + 1);
	tbb::task_arena arena(a.workers, 0); // no slot reserved for main()

	arena.initialize();
	if (arena.max_concurrency() != a.workers) {
		fprintf(stderr, "bench_tbb: asked for an arena of %d, got %d\n", a.workers,
		        arena.max_concurrency());
		print_fail(SYSTEM, a.workload, a.n, a.workers, a.n);
		return BENCH_EXIT_FAIL;
	}
	for (int64_t i = 0; i < roundtrip_warmup; i++) // untimed: the workers join the arena
		if (!round_trip(arena, -1 - i))
			errors++;

	double t0 = now_seconds();
	for (long long i = 0; i < a.n; i++) {
		int64_t s = now_ns();
		if (!round_trip(arena, i))
			errors++;
		ns[(size_t)i] = now_ns() - s;
	}
	double t1 = now_seconds();

	if (errors) {
		fprintf(stderr, "bench_tbb: roundtrip: %lld wrong results\n", errors);
		print_fail(SYSTEM, a.workload, a.n, a.workers, a.n);
		return BENCH_EXIT_FAIL;
	}
	print_result_latency(SYSTEM, a.workload, a.n, a.workers, a.n, t1 - t0, ns.data(), ns.size());
	return BENCH_EXIT_OK;
}

// Untimed: brings the arena's worker threads into being.  WORKERS tasks
// each wait (for at most a second) until all of them have started, so
// every worker thread has joined the arena once.
void warm_up(tbb::task_arena &arena, int workers)
{
	std::atomic<int> arrived{0};

	arena.execute([&] {
		tbb::task_group g;
		for (int i = 0; i < workers; i++)
			g.run([&] {
				auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(1);
				arrived.fetch_add(1);
				while (arrived.load() < workers && std::chrono::steady_clock::now() < limit)
					std::this_thread::yield();
			});
		g.wait();
	});
}

} // namespace

int main(int argc, char **argv)
{
	struct bench_args a;
	int64_t expected, got;
	bool counted = false; // the workload counts in the per-slot counters

	if (bench_parse_args(argc, argv, SYSTEM, &a) < 0)
		return BENCH_EXIT_USAGE;
	size_n = a.n;
	long long tasks = bench_task_count(a.workload, a.n);
	std::string w = a.workload;

	if (w == "sum") {
		expected = bench_sum_expected(a.n);
	} else if (w == "tree") {
		expected = (int64_t)1 << a.n;
		counted = true;
	} else if (w == "empty") {
		expected = a.n;
		counted = true;
	} else if (w == "foo") {
		foo_arg = foo_val();
		expected = (int64_t)a.n * foo(foo_arg); // serially, before timing
	} else if (w == "fib") {
		expected = bench_fib(a.n); // before timing
	} else if (w == "roundtrip") {
		try {
			return run_roundtrip(a);
		} catch (const std::exception &e) {
			fprintf(stderr, "bench_tbb: %s\n", e.what());
			return BENCH_EXIT_FAIL;
		}
	} else {
		print_unsupported(SYSTEM, a.workload);
		return BENCH_EXIT_UNSUPPORTED;
	}

	try {
		// By default oneTBB starts at most (CPUs - 1) workers in all; let it
		// start the WORKERS - 1 this arena asks for even beyond the CPUs.
		tbb::global_control gc(tbb::global_control::max_allowed_parallelism, (size_t)a.workers);
		tbb::task_arena arena(a.workers); // 1 slot reserved for main()
		tbb::task_group group;

		arena.initialize();
		n_slots = arena.max_concurrency();
		if (n_slots != a.workers) {
			fprintf(stderr, "bench_tbb: asked for an arena of %d, got %d\n", a.workers, n_slots);
			print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
			return BENCH_EXIT_FAIL;
		}
		slots.reset(new slot[(size_t)n_slots]);
		tg = &group;
		warm_up(arena, a.workers);

		double t0 = now_seconds();
		if (w == "sum") {
			arena.execute([&] {
				int64_t n = size_n;
				group.run([n] { init(n); });
				group.wait();
			});
		} else if (w == "tree") {
			arena.execute([&] {
				group.run([] { tree_node(0); });
				group.wait();
			});
		} else if (w == "fib") {
			arena.execute([&] {
				int n = (int)size_n;
				group.run([n] { fib_result = fib_task(n); });
				group.wait();
			});
		} else if (w == "empty") {
			arena.execute([&] {
				for (long long i = 0; i < size_n; i++)
					group.run(empty_task);
			});
			arena.execute([&] { group.wait(); });
		} else {
			arena.execute([&] {
				for (long long i = 0; i < size_n; i++)
					group.run(foo_task);
			});
			arena.execute([&] { group.wait(); });
		}
		double t1 = now_seconds();

		got = counted ? count_total() : w == "fib" ? fib_result : total;
		if (got != expected) {
			fprintf(stderr, "bench_tbb: %s: got %" PRId64 ", expected %" PRId64 "\n", a.workload,
			        got, expected);
			print_fail(SYSTEM, a.workload, a.n, a.workers, tasks);
			return BENCH_EXIT_FAIL;
		}
		print_result(SYSTEM, a.workload, a.n, a.workers, tasks, t1 - t0);
	} catch (const std::exception &e) {
		fprintf(stderr, "bench_tbb: %s\n", e.what());
		return BENCH_EXIT_FAIL;
	}
	return BENCH_EXIT_OK;
}
