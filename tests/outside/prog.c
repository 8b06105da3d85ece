/*
 * prog.c - a program outside the source tree, built against an installed
 * prunner with `cc prog.c $(pkg-config --cflags --libs prunner)`.
 *
 * It uses only the module-style API and checks the seed's sum for
 * N = 200000 with 10 workers: the result must be N * (N + 1).  Exit status
 * 0 means it is.  Run by run.sh.
 */
#include <inttypes.h>
#include <stdio.h>

#include <prunner.h>

#define N       200000
#define WORKERS 10

static int add_one(void *data);
static int double_(void *data);
static int sum_up(void *data);

static int init(void *data)
{
	int64_t n = *(const int64_t *)data;

	for (int64_t i = 0; i < n; i++) {
		int rc = prunner_post_task(add_one, &i, sizeof i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_one(void *data)
{
	int64_t n = *(const int64_t *)data + 1;

	return prunner_post_task(double_, &n, sizeof n);
}

/* Also counts its calls in "doubles", with a read and a write made atomic
 * by the global lock. */
static int double_(void *data)
{
	struct prunner_dict *dict = prunner_get_dict();
	int64_t n = *(const int64_t *)data;
	int64_t calls;
	int rc;

	prunner_global_lock();
	rc = prunner_dict_get_int(dict, "doubles", &calls);
	if (rc == 0)
		rc = prunner_dict_set_int(dict, "doubles", calls + 1);
	prunner_global_unlock();
	if (rc == 0)
		rc = prunner_post_task(sum_up, &n, sizeof n);
	if (rc == 0)
		rc = prunner_post_task(sum_up, &n, sizeof n);
	return rc;
}

/* The atomic add needs no lock. */
static int sum_up(void *data)
{
	return prunner_dict_add_int(prunner_get_dict(), "sum", *(const int64_t *)data, NULL);
}

static void begin(void)
{
	int64_t n = N;
	int rc = prunner_dict_set_int(prunner_get_dict(), "sum", 0);

	if (rc == 0)
		rc = prunner_dict_set_int(prunner_get_dict(), "doubles", 0);
	if (rc == 0)
		rc = prunner_post_task(init, &n, sizeof n);
	if (rc < 0)
		fprintf(stderr, "prog: begin: %s\n", prunner_strerror(rc));
}

int main(void)
{
	const int64_t expected = (int64_t)N * (N + 1);
	int64_t sum = -1, doubles = -1;
	int rc;

	rc = prunner_init(WORKERS, false, begin, NULL);
	if (rc < 0) {
		fprintf(stderr, "prog: prunner_init: %s\n", prunner_strerror(rc));
		return 1;
	}
	rc = prunner_start();
	if (rc != 0) {
		fprintf(stderr, "prog: prunner_start: %s\n",
		        rc < 0 ? prunner_strerror(rc) : "some tasks failed");
		return 1;
	}
	if (prunner_dict_get_int(prunner_get_dict(), "sum", &sum) < 0 ||
	    prunner_dict_get_int(prunner_get_dict(), "doubles", &doubles) < 0 || sum != expected ||
	    doubles != N) {
		fprintf(stderr,
		        "prog: sum %" PRId64 " (expected %" PRId64 "), doubles %" PRId64 " (expected %d)\n",
		        sum, expected, doubles, N);
		return 1;
	}
	printf("prog: sum %" PRId64 " = N * (N + 1) for N = %d\n", sum, N);
	return 0;
}
