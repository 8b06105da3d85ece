/*
 * testutil.h - helpers shared by the test programs.
 *
 * Counting the process's threads, to check that a runner starts and joins
 * exactly the threads it should.  Two things make a bare count unreliable,
 * and both are handled here without any sleep:
 *   - a runtime may start a helper thread of its own on first use
 *     (ThreadSanitizer does): the first call creates and joins one thread,
 *     so that helper is in every baseline;
 *   - a thread joined a moment ago can still be listed until the kernel has
 *     reaped it: after joins, the count is re-read (a bounded number of
 *     times, yielding) while it is above what is expected.  A thread that
 *     was really not joined stays listed and the caller's check fails.
 */
#ifndef PRUNNER_TESTUTIL_H
#define PRUNNER_TESTUTIL_H

#include <dirent.h>
#include <pthread.h>
#include <sched.h>

static void *testutil_noop_thread(void *arg)
{
	return arg;
}

/* Threads of this process (entries of /proc/self/task); -1 without /proc. */
static inline int thread_count(void)
{
	static int warmed;
	if (!warmed) {
		pthread_t t;
		if (pthread_create(&t, NULL, testutil_noop_thread, NULL) == 0)
			pthread_join(t, NULL);
		warmed = 1;
	}
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The steady count: the least of repeated reads (nothing starts a thread
 * meanwhile, so the count only goes down as joined threads are reaped). */
static inline int thread_count_steady(void)
{
	int n = thread_count();
	for (int i = 0; i < 200 && n >= 0; i++) {
		sched_yield();
		int m = thread_count();
		if (m < n)
			n = m;
	}
	return n;
}

/* The count after threads were joined, re-read while above `expected`. */
static inline int thread_count_after_join(int expected)
{
	int n = thread_count();
	for (int i = 0; i < 100000 && n > expected; i++) {
		sched_yield();
		n = thread_count();
	}
	return n;
}

#endif /* PRUNNER_TESTUTIL_H */
