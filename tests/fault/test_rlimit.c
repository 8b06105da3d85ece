/*
 * test_rlimit.c - a real thread limit (RLIMIT_NPROC), no fault hook: a
 * runner that cannot create its workers must fail with -EAGAIN from the
 * call that starts them (prunner_run, prunner_open, prunner_start), not
 * hang or crash; it must leave no thread behind, including a pool that got
 * some of its workers before the limit stopped it; and once the limit is
 * raised the same runner (and the module-style one) runs normally.
 *
 * The limit is set in a forked child, so that the test process keeps its
 * own.  RLIMIT_NPROC does not apply to root (nor to a process with
 * CAP_SYS_RESOURCE or CAP_SYS_ADMIN), so a child running as root first
 * becomes the unprivileged uid/gid 65534 ("nobody"); it then marks itself
 * dumpable again (a uid change clears that flag, and LeakSanitizer needs it
 * to inspect the process at exit).  The limit counts every thread of the
 * real uid; the child lowers only the soft limit, so it can raise it back.
 * If the limit cannot be made to bite (no permission to change uid), the
 * test says so and passes without checking.
 *
 * The child cannot use check's assertions (they report through the test
 * process); it prints what failed and exits with a non-zero status, which
 * the test thread asserts on.  It exits through exit(), so that the
 * sanitizers' exit-time checks (leaks) run in it too.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../testutil.h"
#include "prunner.h"

#define CHILD_SKIP 77
#define NOBODY     65534

#define CHILD_CHECK(cond)                                                                                    \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "child: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
			exit(1);                                                                             \
		}                                                                                            \
	} while (0)

static struct rlimit saved_limit;

/* Becomes unprivileged if root; returns 0, or CHILD_SKIP. */
static int drop_privileges(void)
{
	if (geteuid() != 0)
		return 0;
	if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0) {
		fprintf(stderr, "child: cannot become uid %d (%s): RLIMIT_NPROC does not apply to root\n",
		        NOBODY, strerror(errno));
		return CHILD_SKIP;
	}
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return 0;
}

/* Lets the real uid have at most `threads` more threads than this
 * process has now (other processes of the uid count too, which can only
 * make the limit tighter). */
static void limit_threads(int now, int more)
{
	struct rlimit l = saved_limit;
	l.rlim_cur = (rlim_t)(now + more);
	CHILD_CHECK(setrlimit(RLIMIT_NPROC, &l) == 0);
}

static void unlimit_threads(void)
{
	CHILD_CHECK(setrlimit(RLIMIT_NPROC, &saved_limit) == 0);
}

static void *noop_thread(void *arg)
{
	return arg;
}

/* True when the limit bites: a thread cannot be created. */
static bool limited(void)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, noop_thread, NULL);
	if (rc == 0) {
		pthread_join(t, NULL);
		return false;
	}
	return rc == EAGAIN;
}

/* Tasks count themselves; begin posts TASKS of them. */
#define TASKS 100
static atomic_int ran, begins;

static int count_task(void *data)
{
	(void)data;
	atomic_fetch_add(&ran, 1);
	return 0;
}

static void post_tasks(prunner_t *r, void *arg)
{
	(void)arg;
	atomic_fetch_add(&begins, 1);
	for (int i = 0; i < TASKS; i++)
		if (prunner_post(r, count_task, NULL, 0) != 0)
			exit(2);
}

static void module_begin(void)
{
	post_tasks(prunner_current(), NULL);
}

static int child(void)
{
	/* The baseline, before the limit (counting starts a thread once). */
	int base = thread_count_steady();
	CHILD_CHECK(base > 0);
	int rc = drop_privileges();
	if (rc)
		return rc;
	CHILD_CHECK(getrlimit(RLIMIT_NPROC, &saved_limit) == 0);

	prunner_t *r = NULL;
	CHILD_CHECK(prunner_new(&r) == 0);
	CHILD_CHECK(prunner_set_workers(r, 4) == 0);
	CHILD_CHECK(prunner_set_hooks(r, post_tasks, NULL, NULL) == 0);
	CHILD_CHECK(prunner_init(4, false, module_begin, NULL) == 0);

	/* No thread at all; then room for 2 of the 4 workers (a half-started
	 * pool must be stopped and joined). */
	for (int room = 0; room <= 2; room += 2) {
		limit_threads(base, room);
		if (room == 0 && !limited()) {
			unlimit_threads();
			fprintf(stderr, "child: RLIMIT_NPROC does not stop thread creation here\n");
			return CHILD_SKIP;
		}
		CHILD_CHECK(prunner_run(r) == -EAGAIN);
		CHILD_CHECK(atomic_load(&begins) == 0); /* begin is not called */
		CHILD_CHECK(thread_count_after_join(base) == base);
		CHILD_CHECK(prunner_open(r) == -EAGAIN);
		CHILD_CHECK(thread_count_after_join(base) == base);
		CHILD_CHECK(prunner_post(r, count_task, NULL, 0) == PRUNNER_ENORUN); /* not open */
		CHILD_CHECK(prunner_start() == -EAGAIN);
		CHILD_CHECK(thread_count_after_join(base) == base);
		CHILD_CHECK(atomic_load(&ran) == 0);
		unlimit_threads();
	}

	/* With the limit back, the same runners run. */
	CHILD_CHECK(prunner_run(r) == 0);
	CHILD_CHECK(atomic_load(&begins) == 1 && atomic_load(&ran) == TASKS);
	struct prunner_stats st;
	CHILD_CHECK(prunner_get_stats(r, &st) == 0);
	CHILD_CHECK(st.executed == TASKS && st.workers == 4);
	prunner_free(r);
	CHILD_CHECK(thread_count_after_join(base) == base);
	CHILD_CHECK(prunner_start() == 0);
	CHILD_CHECK(atomic_load(&ran) == 2 * TASKS);
	CHILD_CHECK(thread_count_after_join(base) == base);
	prunner_cleanup();
	return 0;
}

START_TEST(test_nproc)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		exit(child());
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "the child died of signal %d",
	              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	if (WEXITSTATUS(status) == CHILD_SKIP) {
		printf("test_nproc: skipped, RLIMIT_NPROC cannot be made to apply here\n");
		return;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "the child failed with status %d (see its message above)",
	              WEXITSTATUS(status));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault_rlimit");
	TCase *tc = tcase_create("nproc");
	tcase_add_test(tc, test_nproc);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
