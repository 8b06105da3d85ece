/*
 * module.c - the module-style API: prunner.py's init / start / post_task /
 * get_dict / global_lock, as a thin layer over one process-wide runner.
 *
 * The process-wide runner is created by prunner_init and replaced by the
 * next one; its pointer is protected by module_lock.  prunner_start runs it
 * on the calling thread and joins its workers before returning, so that a
 * program that calls init/start once leaves no thread behind.
 */
#include "internal.h"

#include <errno.h>

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static prunner_t *module_runner;        /* protected by module_lock */
static bool module_running;             /* protected by module_lock */
static void (*module_begin)(void);      /* protected by module_lock */
static void (*module_end)(void);        /* protected by module_lock */

/* The object API's hooks take (runner, arg); prunner.py's take nothing.
 * module_begin/module_end change only in prunner_init, never during a run,
 * and prunner_start reads module_lock after that, so no lock is needed
 * here. */
static void module_begin_hook(prunner_t *r, void *arg)
{
	(void)r;
	(void)arg;
	if (module_begin)
		module_begin();
}

static void module_end_hook(prunner_t *r, void *arg)
{
	(void)r;
	(void)arg;
	if (module_end)
		module_end();
}

/* The runner the module-style calls act on: the current runner inside a
 * task or hook (no lock on that hot path), else the process-wide one. */
static prunner_t *module_target(void)
{
	prunner_t *r = pr_tls.runner;
	if (r)
		return r;
	pr_mutex_lock(&module_lock);
	r = module_runner;
	pr_mutex_unlock(&module_lock);
	return r;
}

int prunner_init(int n_workers, bool debug, void (*begin)(void), void (*end)(void))
{
	if (n_workers < 0 || n_workers > PRUNNER_MAX_WORKERS)
		return -EINVAL;
	if (pr_tls.runner)
		return -EBUSY; /* from a task or hook */
	prunner_t *r;
	int rc = prunner_new(&r);
	if (rc)
		return rc;
	prunner_set_workers(r, n_workers);
	if (debug)
		prunner_set_debug(r, true);
	prunner_set_hooks(r, module_begin_hook, module_end_hook, NULL);

	pr_mutex_lock(&module_lock);
	if (module_running) {
		pr_mutex_unlock(&module_lock);
		prunner_free(r);
		return -EBUSY;
	}
	prunner_t *old = module_runner;
	module_runner = r;
	module_begin = begin;
	module_end = end;
	pr_mutex_unlock(&module_lock);
	prunner_free(old);
	return 0;
}

int prunner_start(void)
{
	pr_mutex_lock(&module_lock);
	prunner_t *r = module_runner;
	if (!r || module_running) {
		pr_mutex_unlock(&module_lock);
		return r ? -EBUSY : -EINVAL;
	}
	module_running = true;
	pr_mutex_unlock(&module_lock);

	int rc = prunner_run(r);
	if (rc >= 0)
		prunner_stop_workers(r);

	pr_mutex_lock(&module_lock);
	module_running = false;
	pr_mutex_unlock(&module_lock);
	return rc;
}

int prunner_post_task(prunner_task_fn fn, const void *data, size_t size)
{
	if (!fn)
		return -EINVAL;
	prunner_t *r = pr_tls.runner;
	if (!r) {
		/* A program thread: the process-wide runner, if running.  The
		 * lock keeps it from being freed under us; prunner_init
		 * cannot replace it while it runs. */
		pr_mutex_lock(&module_lock);
		r = module_running ? module_runner : NULL;
		int rc = r ? pr_post(r, fn, 0, 0, data, size, NULL) : PRUNNER_ENORUN;
		pr_mutex_unlock(&module_lock);
		return rc;
	}
	return pr_post(r, fn, 0, 0, data, size, NULL);
}

struct prunner_dict *prunner_get_dict(void)
{
	return prunner_dict(module_target());
}

void prunner_global_lock(void)
{
	prunner_lock(module_target());
}

void prunner_global_unlock(void)
{
	prunner_unlock(module_target());
}

void prunner_cleanup(void)
{
	pr_mutex_lock(&module_lock);
	if (module_running) {
		pr_mutex_unlock(&module_lock);
		return;
	}
	prunner_t *r = module_runner;
	module_runner = NULL;
	module_begin = NULL;
	module_end = NULL;
	pr_mutex_unlock(&module_lock);
	prunner_free(r);
}
