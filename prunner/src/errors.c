/*
 * errors.c - prunner_strerror: what each error code means in prunner's
 * terms.  Codes are negative errno values (see prunner.h).
 */
#include <errno.h>
#include <string.h>

#include "prunner.h"

const char *prunner_strerror(int err)
{
	if (err > 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case -EINVAL:
		return "invalid argument";
	case -ENOMEM:
		return "out of memory";
	case -EAGAIN:
		return "cannot create a worker thread (resource limit reached)";
	case -EBUSY:
		return "busy: the runner is running, or the task already started";
	case -E2BIG:
		return "too large: payload over PRUNNER_MAX_PAYLOAD, or dict key/value over its cap";
	case -ENOENT:
		return "no such key in the dict";
	case -EDEADLK:
		return "would deadlock: a wait under the global lock or from the runner's own worker, "
		       "or a dict call inside prunner_dict_foreach on the same dict";
	case -EALREADY:
		return "already final (done, failed or cancelled)";
	case -EINPROGRESS:
		return "not final yet (queued or running)";
	case -ERANGE:
		return "buffer too small for the value";
	case PRUNNER_ENORUN:
		return "no run is active: post from begin, from a task, or while the run is in progress";
	case PRUNNER_ETYPE:
		return "the dict key holds a value of another type";
	case -ECANCELED:
		return "cancelled";
	case -ETIMEDOUT:
		return "timed out";
	default:
		return "unknown error";
	}
}
