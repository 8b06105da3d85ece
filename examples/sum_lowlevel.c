/*
 * sum_lowlevel.c - the sum example with the labelled-task API.
 *
 * Same computation as sum.c, written like prunner.py's ParallelTaskRunner
 * subclass: one run() method receives every task as a (label, data) pair
 * and dispatches on the label.  The Python original:
 *
 *   class MyRunner(prunner.ParallelTaskRunner):
 *       def begin(self, options):
 *           self.dict_['sum'] = 0
 *           self.queue.put(prunner.Task(TASK_INIT, range(2000)))
 *       def run(self, task):
 *           if task.label == TASK_INIT:
 *               for i in task.data:
 *                   self.queue.put(prunner.Task(TASK_ADD_ONE, i))
 *               return
 *           if task.label == TASK_ADD_ONE:
 *               self.queue.put(prunner.Task(TASK_DOUBLE, task.data + 1))
 *               return
 *           if task.label == TASK_DOUBLE:
 *               self.queue.put(prunner.Task(TASK_SUM, task.data))
 *               self.queue.put(prunner.Task(TASK_SUM, task.data))
 *               return
 *           if task.label == TASK_SUM:
 *               with prunner.ScopeLock(self.lock):
 *                   self.dict_['sum'] += task.data
 *       def end(self):
 *           print self.dict_['sum']
 *   runner = MyRunner(10, False, None)
 *   runner.start()
 *
 * In C the "subclass" is a struct prunner_class holding the three methods,
 * and `self` is the prunner_t handed to each of them.
 *
 * Usage: sum_lowlevel [N [WORKERS]]   (defaults: N = 2000, WORKERS = 10)
 *
 * For N = 2000 it prints 4002000; it exits non-zero when the sum is not
 * N * (N + 1).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <prunner.h>

enum { TASK_INIT, TASK_ADD_ONE, TASK_DOUBLE, TASK_SUM };

/*
 * begin(r, options) runs on the thread that calls prunner_run().  `options`
 * is the pointer given to prunner_new_class(); here it points to N.
 * prunner_queue_put() copies the payload (here 8 bytes) when it is called.
 */
static void begin(prunner_t *r, void *options)
{
	const int64_t *n = options;
	int rc = prunner_dict_set_int(prunner_dict(r), "sum", 0);

	if (rc == 0)
		rc = prunner_queue_put(r, TASK_INIT, n, sizeof *n);
	if (rc < 0)
		fprintf(stderr, "sum_lowlevel: begin: %s\n", prunner_strerror(rc));
}

/*
 * run(r, task) runs on a worker, many at once.  task->data is this task's
 * own copy of its payload, valid until run() returns.  Return 0 on success;
 * anything else marks the task as failed.
 */
static int run(prunner_t *r, const struct prunner_task *task)
{
	int64_t n = *(const int64_t *)task->data;
	int64_t sum;
	int rc;

	switch (task->label) {
	case TASK_INIT: /* n is the length of range(N) */
		for (int64_t i = 0; i < n; i++) {
			rc = prunner_queue_put(r, TASK_ADD_ONE, &i, sizeof i);
			if (rc < 0)
				return rc;
		}
		return 0;
	case TASK_ADD_ONE:
		n += 1;
		return prunner_queue_put(r, TASK_DOUBLE, &n, sizeof n);
	case TASK_DOUBLE:
		rc = prunner_queue_put(r, TASK_SUM, &n, sizeof n);
		return rc < 0 ? rc : prunner_queue_put(r, TASK_SUM, &n, sizeof n);
	case TASK_SUM: /* with ScopeLock(self.lock): self.dict_['sum'] += n */
		prunner_lock(r);
		rc = prunner_dict_get_int(prunner_dict(r), "sum", &sum);
		if (rc == 0)
			rc = prunner_dict_set_int(prunner_dict(r), "sum", sum + n);
		prunner_unlock(r);
		return rc;
	default:
		return -EINVAL;
	}
}

/* end(r) runs on the prunner_run() thread after the last task. */
static void end(prunner_t *r)
{
	int64_t sum;

	if (prunner_dict_get_int(prunner_dict(r), "sum", &sum) == 0)
		printf("%" PRId64 "\n", sum);
}

static const struct prunner_class my_runner = {
    .begin = begin,
    .run = run,
    .end = end,
};

/* Parses a non-negative decimal integer <= max; returns 0 or -1. */
static int parse_count(const char *s, long max, long *out)
{
	char *endp;
	long v;

	if (*s < '0' || *s > '9') /* no sign, no leading blanks */
		return -1;
	errno = 0;
	v = strtol(s, &endp, 10);
	if (errno != 0 || *endp != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	long n_arg = 2000, workers = 10;
	int64_t n, sum;
	prunner_t *r;
	int rc;

	/* N <= INT_MAX keeps N * (N + 1) within int64_t. */
	if (argc > 3 || (argc > 1 && parse_count(argv[1], INT_MAX, &n_arg) < 0) ||
	    (argc > 2 && parse_count(argv[2], PRUNNER_MAX_WORKERS, &workers) < 0)) {
		fprintf(stderr, "usage: sum_lowlevel [N [WORKERS]]   (N >= 0, 0 <= WORKERS <= %d)\n",
		        PRUNNER_MAX_WORKERS);
		return 2;
	}
	n = n_arg;

	/* runner = MyRunner(10, False, options); runner.start() */
	rc = prunner_new_class(&r, (int)workers, false, &my_runner, &n);
	if (rc < 0) {
		fprintf(stderr, "sum_lowlevel: prunner_new_class: %s\n", prunner_strerror(rc));
		return 1;
	}
	rc = prunner_run(r);
	if (rc < 0) {
		fprintf(stderr, "sum_lowlevel: prunner_run: %s\n", prunner_strerror(rc));
		prunner_free(r);
		return 1;
	}
	if (rc > 0) {
		fprintf(stderr, "sum_lowlevel: %d tasks failed\n", rc);
		prunner_free(r);
		return 1;
	}

	rc = prunner_dict_get_int(prunner_dict(r), "sum", &sum);
	prunner_free(r);
	if (rc < 0) {
		fprintf(stderr, "sum_lowlevel: reading the sum: %s\n", prunner_strerror(rc));
		return 1;
	}
	if (sum != n * (n + 1)) {
		fprintf(stderr, "sum_lowlevel: got %" PRId64 ", expected %" PRId64 "\n", sum, n * (n + 1));
		return 1;
	}
	return 0;
}
