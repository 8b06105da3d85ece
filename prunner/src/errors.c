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
		return "not allowed while the runner is running (or from its own task)";
	case -E2BIG:
		return "too large: payload over PRUNNER_MAX_PAYLOAD, or dict key/value over its cap";
	case -ENOENT:
		return "no such key in the dict";
	case -EDEADLK:
		return "dict call from inside prunner_dict_foreach on the same dict";
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
