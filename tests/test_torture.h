/*
 * test_torture.h - what test_torture.c and test_torture2.c share (and
 * valgrind/test_locks.c, the result helper): the worker counts every
 * torture test runs at, and reading the process's own threads and memory
 * from /proc (thread ids, scheduler state, CPU time, resident set).
 * Nothing here asserts.
 *
 * Worker counts: every count from 1 to twice the online CPUs (read at run
 * time: 1-4 on a 2-core CI machine, 1-32 on a 16-core one), then 64 and
 * 256, each once.
 */
#ifndef PRUNNER_TEST_TORTURE_H
#define PRUNNER_TEST_TORTURE_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "prunner.h"

#define TORTURE_MAX_COUNTS 80

/* Fills out[] (room for TORTURE_MAX_COUNTS) in ascending order; returns
 * how many. */
static inline int torture_worker_counts(int *out)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int top = cpus < 1 ? 2 : (int)(2 * cpus);
	if (top > TORTURE_MAX_COUNTS - 2)
		top = TORTURE_MAX_COUNTS - 2;
	int n = 0;
	for (int w = 1; w <= top; w++)
		out[n++] = w;
	if (top < 64)
		out[n++] = 64;
	if (top < 256)
		out[n++] = 256;
	return n;
}

/* The int64_t result of a final future, or -1 (no asserts: any thread). */
static inline int64_t torture_result_i64(prunner_future_t *f)
{
	int64_t v = -1;
	size_t len = 0;
	if (prunner_future_result(f, &v, sizeof v, &len) != 0 || len != sizeof v)
		return -1;
	return v;
}

/* Monotonic clock in nanoseconds: for liveness deadlines and the length of
 * a measurement window, never for an assertion about speed. */
static inline int64_t torture_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* This process's threads                                                   */
/* ------------------------------------------------------------------------ */

/* The ids of this process's threads (/proc/self/task); at most max; -1
 * without /proc. */
static inline int torture_list_tids(pid_t *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < max)
		if (e->d_name[0] != '.')
			out[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

/* The ids in now[] that are not in before[]: threads started since. */
static inline int torture_new_tids(const pid_t *before, int nb, const pid_t *now, int nn, pid_t *out)
{
	int n = 0;
	for (int i = 0; i < nn; i++) {
		int old = 0;
		for (int j = 0; j < nb && !old; j++)
			old = before[j] == now[i];
		if (!old)
			out[n++] = now[i];
	}
	return n;
}

/* Reads /proc/self/task/TID/NAME into buf; the length, or -1. */
static inline int torture_read_task_file(pid_t tid, const char *name, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/%s", (int)tid, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (int)n;
}

/* The scheduler state of a thread ('R' running or runnable, 'S' asleep in
 * the kernel, ...), from the field after the command name; '?' when
 * unreadable. */
static inline char torture_thread_state(pid_t tid)
{
	char buf[512];
	if (torture_read_task_file(tid, "stat", buf, sizeof buf) < 0)
		return '?';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* CPU time the thread has used, in nanoseconds: the first field of
 * schedstat (the scheduler's exact run time), or utime + stime of stat in
 * clock ticks where schedstat is missing; -1 when unreadable. */
static inline int64_t torture_thread_cpu_ns(pid_t tid)
{
	char buf[512];
	if (torture_read_task_file(tid, "schedstat", buf, sizeof buf) > 0)
		return strtoll(buf, NULL, 10);
	if (torture_read_task_file(tid, "stat", buf, sizeof buf) < 0)
		return -1;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* After ')': state is field 3; utime and stime are fields 14, 15. */
	unsigned long long ut = 0, st = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)(ut + st) * (1000000000 / sysconf(_SC_CLK_TCK));
}

/* Sum of torture_thread_cpu_ns over tids (-1 if one is unreadable). */
static inline int64_t torture_threads_cpu_ns(const pid_t *tids, int n)
{
	int64_t s = 0;
	for (int i = 0; i < n; i++) {
		int64_t t = torture_thread_cpu_ns(tids[i]);
		if (t < 0)
			return -1;
		s += t;
	}
	return s;
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/* Resident set size in bytes (/proc/self/statm, second field); -1 when
 * unreadable. */
static inline int64_t torture_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	long long size = 0, res = -1;
	int ok = fscanf(f, "%lld %lld", &size, &res) == 2;
	fclose(f);
	return ok ? res * sysconf(_SC_PAGESIZE) : -1;
}

#endif /* PRUNNER_TEST_TORTURE_H */
