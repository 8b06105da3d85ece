/*
 * sum.c - prunner's first example: the sum from prunner.py, in C.
 *
 * It computes sum((i + 1) * 2 for i in range(N)) = N * (N + 1) in a
 * deliberately silly way, as a chain of tiny tasks spread over WORKERS
 * threads:
 *
 *   begin()      dict["sum"] = 0; post init(N)
 *   init(N)      post add_one(i) for every i in [0, N)
 *   add_one(n)   post double(n + 1)
 *   double(n)    post sum_up(n) twice
 *   sum_up(n)    with the global lock: dict["sum"] += n
 *   end()        print dict["sum"]
 *
 * The Python original, for comparison:
 *
 *   def begin():
 *       prunner.get_dict()['sum'] = 0
 *       prunner.post_task(init, range(2000))
 *   def init(numbers):
 *       for i in numbers:
 *           prunner.post_task(add_one, i)
 *   def add_one(n):
 *       prunner.post_task(double, n + 1)
 *   def double(n):
 *       prunner.post_task(sum_up, n)
 *       prunner.post_task(sum_up, n)
 *   def sum_up(n):
 *       with prunner.global_lock():
 *           prunner.get_dict()['sum'] += n
 *   def end():
 *       print prunner.get_dict()['sum']
 *   prunner.init(10, False, begin, end)
 *   prunner.start()
 *
 * Usage: sum [N [WORKERS]]      (defaults: N = 2000, WORKERS = 10;
 *                                WORKERS = 0 means one per CPU)
 *
 * For N = 2000 it prints 4002000.  It exits non-zero when the sum is not
 * N * (N + 1), so it doubles as a test.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <prunner.h>

/*
 * What C adds to the Python version:
 *
 *   - A task is an `int fn(void *data)`.  Its argument travels as a payload
 *     of bytes: prunner_post_task(fn, &value, sizeof value) copies those
 *     bytes when it is called, so posting the address of a local variable
 *     is fine and the variable may change right after the call.
 *   - `data` points to the task's own copy.  It is valid until the task
 *     returns (and suitably aligned for any type), so read it, don't keep
 *     the pointer.
 *   - A task returns 0 for success.  Anything else marks it as failed;
 *     prunner_start() returns how many tasks failed.
 *   - Every fallible call returns 0 or a negative errno value, which
 *     prunner_strerror() turns into text.
 */

static int add_one(void *data);
static int double_(void *data); /* `double` is a C keyword */
static int sum_up(void *data);

/* Set by main() before prunner_start(), only read afterwards. */
static int64_t n_numbers;

/* prunner.post_task(init, range(N)): the range travels as its length. */
static int init(void *data)
{
	int64_t n = *(const int64_t *)data;

	for (int64_t i = 0; i < n; i++) {
		int rc = prunner_post_task(add_one, &i, sizeof i); /* i is copied */
		if (rc < 0)
			return rc; /* the task failed; the self-check will notice */
	}
	return 0;
}

static int add_one(void *data)
{
	int64_t n = *(const int64_t *)data + 1;

	return prunner_post_task(double_, &n, sizeof n);
}

static int double_(void *data)
{
	int64_t n = *(const int64_t *)data;
	int rc = prunner_post_task(sum_up, &n, sizeof n);

	return rc < 0 ? rc : prunner_post_task(sum_up, &n, sizeof n);
}

/*
 * with prunner.global_lock(): prunner.get_dict()['sum'] += n
 *
 * Each dict call is atomic on its own, but a read followed by a write is
 * not: another worker could update "sum" in between and its addition would
 * be lost.  The global lock makes the pair atomic.  (The dict also has
 * prunner_dict_add_int(), which does the same in one call.)
 */
static int sum_up(void *data)
{
	int64_t n = *(const int64_t *)data;
	struct prunner_dict *dict = prunner_get_dict();
	int64_t sum;
	int rc;

	prunner_global_lock();
	rc = prunner_dict_get_int(dict, "sum", &sum);
	if (rc == 0)
		rc = prunner_dict_set_int(dict, "sum", sum + n);
	prunner_global_unlock();
	return rc;
}

/* begin and end run on the thread that called prunner_start(). */
static void begin(void)
{
	int rc = prunner_dict_set_int(prunner_get_dict(), "sum", 0);

	if (rc == 0)
		rc = prunner_post_task(init, &n_numbers, sizeof n_numbers);
	if (rc < 0)
		fprintf(stderr, "sum: begin: %s\n", prunner_strerror(rc));
}

static void end(void)
{
	int64_t sum;

	if (prunner_dict_get_int(prunner_get_dict(), "sum", &sum) == 0)
		printf("%" PRId64 "\n", sum);
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
	long n = 2000, workers = 10;
	int64_t sum, expected;
	int rc;

	/* N <= INT_MAX keeps N * (N + 1) within int64_t. */
	if (argc > 3 || (argc > 1 && parse_count(argv[1], INT_MAX, &n) < 0) ||
	    (argc > 2 && parse_count(argv[2], PRUNNER_MAX_WORKERS, &workers) < 0)) {
		fprintf(stderr, "usage: sum [N [WORKERS]]   (N >= 0, 0 <= WORKERS <= %d)\n",
		        PRUNNER_MAX_WORKERS);
		return 2;
	}
	n_numbers = n;

	/* prunner.init(10, False, begin, end); prunner.start() */
	rc = prunner_init((int)workers, false, begin, end);
	if (rc < 0) {
		fprintf(stderr, "sum: prunner_init: %s\n", prunner_strerror(rc));
		return 1;
	}
	rc = prunner_start();
	if (rc < 0) {
		fprintf(stderr, "sum: prunner_start: %s\n", prunner_strerror(rc));
		return 1;
	}
	if (rc > 0) {
		fprintf(stderr, "sum: %d tasks failed\n", rc);
		return 1;
	}

	/* The dict stays readable after the run; check the result. */
	expected = (int64_t)n * (n + 1);
	rc = prunner_dict_get_int(prunner_get_dict(), "sum", &sum);
	if (rc < 0) {
		fprintf(stderr, "sum: reading the sum: %s\n", prunner_strerror(rc));
		return 1;
	}
	if (sum != expected) {
		fprintf(stderr, "sum: got %" PRId64 ", expected %" PRId64 "\n", sum, expected);
		return 1;
	}
	prunner_cleanup();
	return 0;
}
