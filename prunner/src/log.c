/*
 * log.c - the debug log: worker and task events on stderr, one line per
 * event, enabled by prunner_set_debug() or $PRUNNER_DEBUG.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "internal.h"

void pr_log(const prunner_t *r, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char line[512];
	int n = snprintf(line, sizeof(line), "prunner[%p %ld.%06ld] ", (const void *)r, (long)ts.tv_sec,
	                 ts.tv_nsec / 1000);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fprintf per line: stdio locks the stream, so lines from
	 * different workers do not interleave. */
	fprintf(stderr, "%s\n", line);
}
