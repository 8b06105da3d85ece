/*
 * eventloop.c - slow jobs on prunner's pool, fast requests on an epoll loop.
 *
 * The setting is the one of "Asynchronous Computation: Web Servers + Dask":
 * a server answers cheap requests ("/fast") itself and hands expensive ones
 * ("/fib/35") to a pool, so that a slow request never holds up a fast one:
 *
 *   class FibHandler(tornado.web.RequestHandler):
 *       async def get(self, n):
 *           future = dask_client.submit(fib, int(n))  # work happens elsewhere
 *           result = await future                     # the loop stays free
 *           self.write(str(result))
 *
 * In C the event loop is the program's own (here epoll; libuv, poll or an
 * HTTP library in external-select mode work the same way) and the pool is a
 * prunner executor.  The loop learns about finished jobs from one file
 * descriptor, prunner_completion_fd(): it becomes readable when futures
 * complete, and prunner_completed() hands them over without blocking.  So
 * the loop thread blocks in exactly one place, epoll_wait().
 *
 * Instead of HTTP clients, two sources of load:
 *   - fast requests: a timerfd fires every millisecond; each expiry is a
 *     request answered inline on the loop thread (a tiny computation);
 *   - slow jobs: fib(FIB_N - 3) .. fib(FIB_N) as futures on the pool, one
 *     per worker at a time; whenever the loop sees one complete it submits
 *     the next, until SLOW_JOBS have run.
 *
 * It prints two latencies:
 *   - fast requests: from the timer's expiry (known exactly: expiry k of a
 *     periodic timer is at start + k ms) to the moment the loop handles it;
 *     this is what a slow job would ruin if it ran on the loop thread;
 *   - slow jobs: from submission to the moment the loop sees the result,
 *     and separately from the task's end to that moment (the cost of the
 *     completion fd itself).
 *
 * Usage: eventloop [SLOW_JOBS [FIB_N [WORKERS]]]
 *        defaults: SLOW_JOBS = 20, FIB_N = 35, WORKERS = 0 (one per CPU)
 *
 * (fib(35) takes some 40 ms here, where the article's Python took 5 s.)
 * With one worker per CPU the loop thread shares the
 * cores with busy workers, and the operating system's time slices (a few
 * milliseconds) show in the fast requests' p99: WORKERS = CPUs - 1 leaves
 * a core to the loop, as a server would.
 *
 * It exits non-zero when a slow result is wrong, when a completion reaches
 * the loop twice or never (a future final for two seconds that the fd did
 * not report), or when a fast request is answered wrongly.  Linux only
 * (epoll, timerfd).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <prunner.h>

#define MAX_FIB_N 45
#define TICK_NS   ((int64_t)1000000) /* the fast-request period: 1 ms */
#define FAST_FIB  12                 /* a fast request computes fib(12) */
#define MISSED_NS ((int64_t)2000000000)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The slow work and the fast work: the plain recursion, two calls per
 * level as in the article.  As in fib.c, NOINLINE and OPAQUE keep GCC from
 * merging levels or turning one of the two calls into a loop.
 */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define NOINLINE __attribute__((noipa))
#elif defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

#if defined(__GNUC__)
#define OPAQUE(x) __asm__ volatile("" : "+r"(x))
#else
#define OPAQUE(x) ((void)0)
#endif

NOINLINE static int64_t fib(int n)
{
	if (n < 2)
		return n;
	int64_t a = fib(n - 1);
	int64_t b = fib(n - 2);
	OPAQUE(b);
	return a + b;
}

/* fib(n) by the loop: the expected value of every slow job. */
static int64_t fib_loop(int n)
{
	int64_t a = 0, b = 1;

	for (int i = 0; i < n; i++) {
		int64_t c = a + b;
		a = b;
		b = c;
	}
	return a;
}

/* ------------------------------------------------------------------------ */
/* Slow jobs                                                                */
/* ------------------------------------------------------------------------ */

/* What a slow job's future holds as its result. */
struct slow_result {
	int64_t value;
	int64_t start_ns, end_ns; /* CLOCK_MONOTONIC, on the worker */
};

/* The task: payload an int n, result a struct slow_result. */
static int slow_fib(void *data)
{
	struct slow_result res;

	res.start_ns = now_ns();
	res.value = fib(*(const int *)data);
	res.end_ns = now_ns();
	return prunner_set_result(&res, sizeof res);
}

/* One slot per job in flight; the loop thread alone touches them. */
struct slot {
	prunner_future_t *f; /* NULL: free */
	int job, n;
	int64_t submit_ns;
	int64_t final_seen_ns; /* watchdog: when it was first seen final */
};

struct loop {
	prunner_t *r;
	int tfd, ep; /* the timerfd and the epoll instance (-1: none) */
	struct slot *slots;
	int nslots;
	int jobs, fib_n;
	int submitted, completed;
	int64_t *slow_lat, *notify_lat; /* per completed job */
	int errors;
};

/* Submits job number l->submitted into slot s. */
static int submit_job(struct loop *l, struct slot *s)
{
	int n = l->fib_n - l->submitted % 4;
	int rc;

	if (n < 0)
		n = 0;
	s->job = l->submitted;
	s->n = n;
	s->final_seen_ns = 0;
	s->submit_ns = now_ns();
	rc = prunner_submit(l->r, slow_fib, &n, sizeof n, NULL, &s->f);
	if (rc < 0) {
		fprintf(stderr, "eventloop: submit: %s\n", prunner_strerror(rc));
		return rc;
	}
	l->submitted++;
	return 0;
}

/* Handles one completed future from prunner_completed(). */
static void on_completed(struct loop *l, prunner_future_t *f, int64_t seen_ns)
{
	struct slot *s = NULL;

	for (int i = 0; i < l->nslots; i++)
		if (l->slots[i].f == f)
			s = &l->slots[i];
	if (!s) {
		/* Not one of ours in flight: reported twice, or unknown. */
		fprintf(stderr, "eventloop: a completion that matches no job in flight\n");
		l->errors++;
		prunner_future_release(f);
		return;
	}

	struct slow_result res = {.value = -1};
	size_t len = 0;
	int rc = prunner_future_result(f, &res, sizeof res, &len);
	if (prunner_future_state(f) != PRUNNER_FUTURE_DONE || rc < 0 || len != sizeof res ||
	    res.value != fib_loop(s->n)) {
		fprintf(stderr,
		        "eventloop: job %d: fib(%d) -> %" PRId64 " (state %d, %s), expected %" PRId64 "\n",
		        s->job, s->n, res.value, (int)prunner_future_state(f), prunner_strerror(rc),
		        fib_loop(s->n));
		l->errors++;
	}
	l->slow_lat[l->completed] = seen_ns - s->submit_ns;
	l->notify_lat[l->completed] = seen_ns - res.end_ns;
	l->completed++;

	/* Two references: the one prunner_completed() gave us, and the one
	 * prunner_submit() gave us.  The future is freed after both. */
	prunner_future_release(f);
	prunner_future_release(s->f);
	s->f = NULL;

	/* One new slow job whenever one completes. */
	if (l->submitted < l->jobs && submit_job(l, s) < 0)
		l->errors++;
}

/* The completion fd is readable: take every completed future. */
static void drain_completions(struct loop *l)
{
	prunner_future_t *done[16];
	int k;

	do {
		k = prunner_completed(l->r, done, 16);
		if (k < 0) {
			fprintf(stderr, "eventloop: prunner_completed: %s\n", prunner_strerror(k));
			l->errors++;
			return;
		}
		int64_t t = now_ns();
		for (int i = 0; i < k; i++)
			on_completed(l, done[i], t);
	} while (k == 16);
}

/*
 * The watchdog, on the loop's own clock: a future that is final but was
 * not reported by the fd for MISSED_NS is a missed completion (the fd
 * never became readable for it).  Polling the states is only a check; the
 * loop never relies on it.
 */
static int missed_completion(struct loop *l, int64_t t)
{
	for (int i = 0; i < l->nslots; i++) {
		struct slot *s = &l->slots[i];
		if (!s->f || prunner_future_state(s->f) < PRUNNER_FUTURE_DONE)
			continue;
		if (s->final_seen_ns == 0)
			s->final_seen_ns = t;
		else if (t - s->final_seen_ns > MISSED_NS) {
			fprintf(stderr,
			        "eventloop: job %d is final but the completion fd did not report it\n",
			        s->job);
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Fast requests                                                            */
/* ------------------------------------------------------------------------ */

/* Read at each request, so that the compiler cannot fold fib(12). */
static volatile int fast_n = FAST_FIB;

struct fast {
	int64_t start_ns;  /* expiry k is at start_ns + k * TICK_NS */
	uint64_t expiries; /* expiries handled so far */
	int64_t *lat;      /* one per expiry */
	size_t cap;
	int wrong;
};

/* The timerfd is readable: `count` expiries since the last read.  Each is a
 * request; each was due at its own expiry time. */
static int on_timer(struct fast *fs, uint64_t count, int64_t t)
{
	if (fs->expiries + count > fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 4096;
		while (cap < fs->expiries + count)
			cap *= 2;
		int64_t *lat = realloc(fs->lat, cap * sizeof *lat);
		if (!lat)
			return -ENOMEM;
		fs->lat = lat;
		fs->cap = cap;
	}
	for (uint64_t j = 1; j <= count; j++) {
		uint64_t k = fs->expiries + j;
		fs->lat[k - 1] = t - (fs->start_ns + (int64_t)k * TICK_NS);
		/* The request itself: a tiny computation, answered inline. */
		if (fib(fast_n) != 144)
			fs->wrong++;
	}
	fs->expiries += count;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */
/* ------------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of sorted v[0..n), in milliseconds. */
static double pct_ms(const int64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1e6;
}

/* Parses a non-negative decimal integer in [min, max]; returns 0 or -1. */
static int parse_count(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9') /* no sign, no leading blanks */
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */
/* ------------------------------------------------------------------------ */

/* Prints both latencies and says whether every check passed (0) or not. */
static int report(struct loop *l, struct fast *fs, int64_t elapsed_ns)
{
	printf("%d slow jobs fib(%d..%d) on %d worker(s), %d in flight, fast requests every %.0f ms\n",
	       l->jobs, l->fib_n >= 3 ? l->fib_n - 3 : 0, l->fib_n, prunner_get_workers(l->r), l->nslots,
	       (double)TICK_NS / 1e6);
	printf("run time:      %.3f s\n", (double)elapsed_ns / 1e9);
	printf("slow jobs:     %d submitted, %d seen complete through the completion fd\n", l->submitted,
	       l->completed);
	if (l->completed > 0) {
		size_t n = (size_t)l->completed;
		qsort(l->slow_lat, n, sizeof *l->slow_lat, cmp_i64);
		qsort(l->notify_lat, n, sizeof *l->notify_lat, cmp_i64);
		printf("  submit -> result seen by the loop:   median %8.3f ms, max %8.3f ms\n",
		       pct_ms(l->slow_lat, n, 0.5), pct_ms(l->slow_lat, n, 1.0));
		printf("  task end -> result seen by the loop: median %8.3f ms, max %8.3f ms\n",
		       pct_ms(l->notify_lat, n, 0.5), pct_ms(l->notify_lat, n, 1.0));
	}
	printf("fast requests: %" PRIu64 " answered inline (fib(%d) each)\n", fs->expiries, FAST_FIB);
	if (fs->expiries > 0) {
		size_t n = (size_t)fs->expiries, late = 0;
		for (size_t i = 0; i < n; i++)
			late += fs->lat[i] >= TICK_NS;
		qsort(fs->lat, n, sizeof *fs->lat, cmp_i64);
		printf("  timer expiry -> handled: median %.3f ms, p99 %.3f ms, max %.3f ms; %zu over 1 ms\n",
		       pct_ms(fs->lat, n, 0.5), pct_ms(fs->lat, n, 0.99), pct_ms(fs->lat, n, 1.0), late);
	}

	if (fs->wrong) {
		fprintf(stderr, "eventloop: %d fast request(s) answered wrongly\n", fs->wrong);
		return 1;
	}
	if (l->errors || l->submitted != l->jobs || l->completed != l->jobs) {
		fprintf(stderr, "eventloop: %d error(s); %d submitted, %d completed of %d\n", l->errors,
		        l->submitted, l->completed, l->jobs);
		return 1;
	}
	return 0;
}

/* Opens the pool, the fds and the timer, runs the loop until every slow
 * job completed, and reports.  Returns main()'s exit status. */
static int serve(struct loop *l, struct fast *fs, int workers)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct itimerspec its = {.it_interval = {.tv_sec = 0, .tv_nsec = TICK_NS}};
	int64_t t_begin, t_end, last_check;
	int cfd, rc;

	/* The pool: an executor that accepts futures from this thread. */
	rc = prunner_new(&l->r);
	if (rc == 0)
		rc = prunner_set_workers(l->r, workers);
	if (rc == 0)
		rc = prunner_open(l->r);
	if (rc < 0) {
		fprintf(stderr, "eventloop: starting the pool: %s\n", prunner_strerror(rc));
		return 1;
	}
	/* One job per worker in flight keeps the pool busy without a queue. */
	l->nslots = prunner_get_workers(l->r);
	if (l->nslots > l->jobs)
		l->nslots = l->jobs;
	l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
	if (!l->slots) {
		fprintf(stderr, "eventloop: out of memory\n");
		return 1;
	}

	/*
	 * The completion fd, before the first submit: from its creation on,
	 * every future of the runner that completes is queued for
	 * prunner_completed().  prunner owns it (prunner_free closes it).
	 */
	cfd = prunner_completion_fd(l->r);
	if (cfd < 0) {
		fprintf(stderr, "eventloop: prunner_completion_fd: %s\n", prunner_strerror(cfd));
		return 1;
	}

	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->tfd < 0 || l->ep < 0) {
		perror("eventloop: timerfd/epoll");
		return 1;
	}
	ev.data.fd = l->tfd;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->tfd, &ev) < 0) {
		perror("eventloop: epoll_ctl(timerfd)");
		return 1;
	}
	ev.data.fd = cfd;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, cfd, &ev) < 0) {
		perror("eventloop: epoll_ctl(completion fd)");
		return 1;
	}

	/* The fast-request source: an absolute periodic timer, so expiry k
	 * is at start + k ms exactly, however late the loop reads it. */
	t_begin = now_ns();
	fs->start_ns = t_begin;
	its.it_value.tv_sec = (time_t)((t_begin + TICK_NS) / 1000000000);
	its.it_value.tv_nsec = (long)((t_begin + TICK_NS) % 1000000000);
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		perror("eventloop: timerfd_settime");
		return 1;
	}

	for (int i = 0; i < l->nslots; i++)
		if (submit_job(l, &l->slots[i]) < 0)
			return 1;

	/* The loop.  It blocks in epoll_wait() only; the timer wakes it every
	 * millisecond, the completion fd whenever a job finishes. */
	last_check = t_begin;
	while (l->completed < l->jobs && l->errors == 0 && fs->wrong == 0) {
		struct epoll_event evs[4];
		int nev = epoll_wait(l->ep, evs, 4, -1);
		if (nev < 0) {
			if (errno == EINTR)
				continue;
			perror("eventloop: epoll_wait");
			return 1;
		}
		bool timer = false, completions = false;
		for (int i = 0; i < nev; i++) {
			timer |= evs[i].data.fd == l->tfd;
			completions |= evs[i].data.fd == cfd;
		}
		/* Fast requests first: they are the ones with a deadline. */
		if (timer) {
			uint64_t count;
			int64_t t = now_ns();
			if (read(l->tfd, &count, sizeof count) == (ssize_t)sizeof count &&
			    on_timer(fs, count, t) < 0) {
				fprintf(stderr, "eventloop: out of memory\n");
				return 1;
			}
		}
		if (completions)
			drain_completions(l);
		int64_t t = now_ns();
		if (t - last_check >= 100 * TICK_NS) {
			last_check = t;
			if (missed_completion(l, t))
				l->errors++;
		}
	}
	t_end = now_ns();

	/* Done: the pool has nothing left; close it and make sure the fd has
	 * nothing more to report (every completion was seen exactly once). */
	rc = prunner_close(l->r, PRUNNER_CLOSE_DRAIN);
	if (rc < 0) {
		fprintf(stderr, "eventloop: prunner_close: %s\n", prunner_strerror(rc));
		l->errors++;
	}
	prunner_future_t *extra[1];
	rc = prunner_completed(l->r, extra, 1);
	if (rc != 0) {
		fprintf(stderr, "eventloop: %d completion(s) left after the last job\n", rc);
		if (rc > 0)
			prunner_future_release(extra[0]);
		l->errors++;
	}
	return report(l, fs, t_end - t_begin);
}

int main(int argc, char **argv)
{
	long jobs = 20, fib_n = 35, workers = 0;
	struct loop l = {.tfd = -1, .ep = -1};
	struct fast fs = {0};
	int status = 1;

	if (argc > 4 || (argc > 1 && parse_count(argv[1], 1, 1000000, &jobs) < 0) ||
	    (argc > 2 && parse_count(argv[2], 0, MAX_FIB_N, &fib_n) < 0) ||
	    (argc > 3 && parse_count(argv[3], 0, PRUNNER_MAX_WORKERS, &workers) < 0)) {
		fprintf(stderr,
		        "usage: eventloop [SLOW_JOBS [FIB_N [WORKERS]]]   (1 <= SLOW_JOBS <= 1000000,\n"
		        "       FIB_N <= %d, 0 <= WORKERS <= %d, 0 = one per CPU)\n",
		        MAX_FIB_N, PRUNNER_MAX_WORKERS);
		return 2;
	}
	l.jobs = (int)jobs;
	l.fib_n = (int)fib_n;
	l.slow_lat = calloc((size_t)jobs, sizeof *l.slow_lat);
	l.notify_lat = calloc((size_t)jobs, sizeof *l.notify_lat);
	if (l.slow_lat && l.notify_lat)
		status = serve(&l, &fs, (int)workers);
	else
		fprintf(stderr, "eventloop: out of memory\n");

	/* On an early error jobs may still be in flight: prunner_free()
	 * drains the open executor first; our references go before. */
	for (int i = 0; l.slots && i < l.nslots; i++)
		prunner_future_release(l.slots[i].f);
	prunner_free(l.r); /* closes the completion fd too */
	if (l.tfd >= 0)
		close(l.tfd);
	if (l.ep >= 0)
		close(l.ep);
	free(l.slots);
	free(l.slow_lat);
	free(l.notify_lat);
	free(fs.lat);
	return status;
}
