/*
 * dict.h - internal interface of the dict (dict.c).
 *
 * The public prunner_dict_* functions are declared in prunner.h; this header
 * adds what the runner needs to own a dict: create and destroy.
 */
#ifndef PR_DICT_H
#define PR_DICT_H

#include "prunner.h"

/*
 * Creates an empty dict.  Allocates no bucket array yet (the first insert
 * does).  Returns NULL when memory or the mutex cannot be had.
 */
struct prunner_dict *pr_dict_new(void);

/*
 * Frees the dict, every key and every value.  NULL is a no-op.  No other
 * thread may be using the dict, and it must not be called from inside a
 * prunner_dict_foreach() callback of the same dict (aborts: the mutex is
 * held).
 */
void pr_dict_free(struct prunner_dict *d);

#endif /* PR_DICT_H */
