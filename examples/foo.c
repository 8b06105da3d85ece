/*
 * foo.c - a CPU-bound kernel run as prunner tasks, with the object API.
 *
 * foo() is the "compute service" kernel from the blog post prunner's
 * examples grew from, where it was served by one process per core.  Here
 * each call is a task; the program runs the same batch of TASKS calls once
 * with one worker and once with WORKERS workers, and prints both times and
 * the speedup.
 *
 * Usage: foo [TASKS [VAL [WORKERS]]]
 *        defaults: TASKS = 200, VAL = 1290, WORKERS = 0 (one per CPU)
 *
 * Each task adds its result plus its index to the dict's "checksum" (so a
 * task lost or run twice changes it); the program exits non-zero unless
 * both runs give the checksum computed serially on the main thread.
 *
 * It uses the object API: a prunner_t made with prunner_new(), configured
 * with setters, and run with prunner_run() as many times as needed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <prunner.h>

/*
 * The kernel, as in the post.  VAL is capped at 1291 so that i * i * i
 * (i < VAL) fits in an int.  The float sum is order-dependent, so the
 * compiler must do every iteration; and every result is used (it goes into
 * the checksum), so no call can be dropped.
 */
static int foo(int val)
{
	float result = 0.0f;

	for (int c = 0; c < 1000; c++) {
		for (int i = 0; i < val; i++) {
			result += (float)i;
			result += sqrtf((float)(i * i));
			result += powf((float)(i * i * i), 0.1f);
		}
	}
	return (int)result;
}

#define MAX_VAL 1291

/* A task's payload, copied by prunner_post() when the task is posted. */
struct job {
	int index;
	int val;
};

/* The batch, passed to the begin hook as its `arg`. */
struct batch {
	int tasks;
	int val;
};

static int foo_task(void *data)
{
	const struct job *job = data; /* our own copy, valid until we return */
	int64_t v = (int64_t)foo(job->val) + job->index;

	/* prunner_current(): the runner this task runs on.  The dict's add is
	 * atomic, so no lock is needed. */
	return prunner_dict_add_int(prunner_dict(prunner_current()), "checksum", v, NULL);
}

/* Runs on the prunner_run() thread; workers may start on the first tasks
 * before it returns. */
static void begin(prunner_t *r, void *arg)
{
	const struct batch *b = arg;
	int rc = prunner_dict_set_int(prunner_dict(r), "checksum", 0);

	for (int t = 0; t < b->tasks && rc == 0; t++) {
		struct job job = {.index = t, .val = b->val};
		rc = prunner_post(r, foo_task, &job, sizeof job);
	}
	if (rc < 0)
		fprintf(stderr, "foo: begin: %s\n", prunner_strerror(rc));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Runs the batch on r with `workers` workers; stores the time taken (thread
 * creation included) in *secs.  Returns 0 when the checksum is `expected`.
 */
static int run_batch(prunner_t *r, int workers, int64_t expected, double *secs)
{
	int64_t checksum;
	double t0;
	int rc;

	rc = prunner_set_workers(r, workers);
	if (rc < 0) {
		fprintf(stderr, "foo: prunner_set_workers(%d): %s\n", workers, prunner_strerror(rc));
		return -1;
	}
	t0 = now();
	rc = prunner_run(r);
	*secs = now() - t0;
	if (rc != 0) {
		fprintf(stderr, "foo: prunner_run: %s\n",
		        rc < 0 ? prunner_strerror(rc) : "some tasks failed");
		return -1;
	}
	rc = prunner_dict_get_int(prunner_dict(r), "checksum", &checksum);
	if (rc < 0) {
		fprintf(stderr, "foo: reading the checksum: %s\n", prunner_strerror(rc));
		return -1;
	}
	if (checksum != expected) {
		fprintf(stderr, "foo: %d workers: checksum %" PRId64 ", expected %" PRId64 "\n",
		        prunner_get_workers(r), checksum, expected);
		return -1;
	}
	return 0;
}

/* Parses a non-negative decimal integer <= max; returns 0 or -1. */
static int parse_count(const char *s, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9') /* no sign, no leading blanks */
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	long tasks = 200, val = 1290, workers = 0;
	double serial_s, one_s, many_s, t0;
	int64_t expected = 0;
	struct batch batch;
	prunner_t *r = NULL;
	int rc, n_workers;

	if (argc > 4 || (argc > 1 && parse_count(argv[1], 10000000, &tasks) < 0) ||
	    (argc > 2 && parse_count(argv[2], MAX_VAL, &val) < 0) ||
	    (argc > 3 && parse_count(argv[3], PRUNNER_MAX_WORKERS, &workers) < 0)) {
		fprintf(stderr,
		        "usage: foo [TASKS [VAL [WORKERS]]]   (TASKS <= 10000000, VAL <= %d,\n"
		        "       0 <= WORKERS <= %d, 0 = one per CPU)\n",
		        MAX_VAL, PRUNNER_MAX_WORKERS);
		return 2;
	}
	batch.tasks = (int)tasks;
	batch.val = (int)val;

	/* The reference: the same calls, one after the other, on this thread.
	 * val is read through a volatile so that the compiler cannot treat
	 * the calls as repeats of one and compute foo() only once. */
	t0 = now();
	for (int t = 0; t < batch.tasks; t++) {
		volatile int v = batch.val;
		expected += (int64_t)foo(v) + t;
	}
	serial_s = now() - t0;

	rc = prunner_new(&r);
	if (rc == 0)
		rc = prunner_set_hooks(r, begin, NULL, &batch);
	if (rc == 0)
		rc = prunner_set_workers(r, (int)workers);
	if (rc < 0) {
		fprintf(stderr, "foo: creating the runner: %s\n", prunner_strerror(rc));
		prunner_free(r);
		return 1;
	}
	n_workers = prunner_get_workers(r); /* resolves 0 to the CPU count */

	if (run_batch(r, 1, expected, &one_s) < 0 || run_batch(r, n_workers, expected, &many_s) < 0) {
		prunner_free(r);
		return 1;
	}
	prunner_free(r);

	printf("foo(%d) x %d tasks, checksum %" PRId64 "\n", batch.val, batch.tasks, expected);
	printf("serial loop, no prunner: %8.3f s\n", serial_s);
	printf("prunner,    1 worker(s): %8.3f s\n", one_s);
	printf("prunner, %4d worker(s): %8.3f s, speedup %.2fx over 1 worker\n", n_workers, many_s,
	       many_s > 0 ? one_s / many_s : 0.0);
	return 0;
}
