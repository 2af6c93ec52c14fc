/*
 * The seed's two workarounds for issue 448, as exstress scenarios: the
 * same work per iteration as issue448 (executor pairs, a shared channel,
 * parked tasks), run as a "job" on executors that are not dropped per
 * iteration, so the drop policy never comes into play.
 *
 *   long-lived    one executor per worker thread, created when the thread
 *                 starts and reused for every job ("reuse the executor");
 *   thread-local  each worker thread creates its executor on its first
 *                 job and keeps it in a thread-local ("a thread-local
 *                 executor created once per thread", vlovich's pattern).
 *
 * The worker threads live as long as the runner. A job that parks tasks
 * cancels them before it ends (runner.c, pair_end_job): on an executor
 * that stays, nothing else would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

struct worker {
	struct exs_runner *r;
	struct exs_exec *x;
	pthread_t thread;
	int started; /* the thread runs: workers_stop joins it */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int thread_local; /* create the executor on the first job */
	rex_executor *ex; /* long-lived: made when the thread starts */
	int start_err;
	/* the job: a root task state, handed over under mu */
	const struct rex_task_vtable *root_vt;
	void *root;
	size_t root_size;
	int has_job, job_done, stop;
	int job_err;
};

/* The thread-local workaround's executor: one per thread, for its life. */
static _Thread_local rex_executor *thread_executor;

static rex_executor *job_executor(struct worker *w, int *err)
{
	if (!w->thread_local) {
		*err = w->start_err;
		return w->ex;
	}
	if (!thread_executor)
		*err = rex_executor_new(&w->r->rcfg, &thread_executor);
	return thread_executor;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (!w->thread_local)
		w->start_err = rex_executor_new(&w->r->rcfg, &w->ex);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->has_job && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		w->has_job = 0;
		pthread_mutex_unlock(&w->mu);

		int err = 0;
		int64_t out = 0;
		rex_executor *ex = job_executor(w, &err);
		if (ex)
			err = rex_executor_run(ex, w->root_vt, w->root,
					       w->root_size, &out);
		else if (w->root_vt->drop)
			w->root_vt->drop(
				w->root); /* no executor: the root is ours to drop */

		pthread_mutex_lock(&w->mu);
		w->job_err = err;
		w->job_done = 1;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	/* Every job cancelled what it parked: the drop closes the eventfd
	 * under any policy. */
	rex_executor_free(w->thread_local ? thread_executor : w->ex);
	thread_executor = NULL;
	return NULL;
}

/* Start a worker per executor. On failure the ones started are stopped by
 * workers_stop(). */
static int workers_start(struct exs_runner *r, int thread_local,
			 const char **what)
{
	unsigned k = r->cfg.executors;

	r->workers = calloc(k, sizeof(*r->workers));
	if (!r->workers)
		return *what = "allocating worker threads", -ENOMEM;
	r->workers_thread_local = thread_local;
	for (unsigned i = 0; i < k; i++) {
		struct worker *w = &r->workers[i];
		w->r = r;
		w->x = &r->x[i];
		w->thread_local = thread_local;
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc) {
			pthread_mutex_destroy(&w->mu);
			pthread_cond_destroy(&w->cv);
			return *what = "starting a worker thread", -rc;
		}
		w->started = 1;
	}
	return 0;
}

/* Hand each worker its job, then wait for all of them. */
int workers_run_jobs(struct exs_runner *r, int thread_local,
		     const struct rex_task_vtable *root_vt, size_t root_size,
		     void (*root_init)(void *root, struct exs_exec *x),
		     const char **what)
{
	unsigned k = r->cfg.executors;
	int err = 0;

	if (r->workers && r->workers_thread_local != thread_local)
		workers_stop(r); /* the other workaround ran before */
	if (!r->workers && (err = workers_start(r, thread_local, what)))
		return err;
	for (unsigned i = 0; i < k; i++) {
		struct worker *w = &r->workers[i];
		w->root = calloc(1, root_size);
		if (!w->root)
			return *what = "allocating a job", -ENOMEM;
		root_init(w->root, w->x);
		pthread_mutex_lock(&w->mu);
		w->root_vt = root_vt;
		w->root_size = root_size;
		w->job_done = 0;
		w->has_job = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	for (unsigned i = 0; i < k; i++) {
		struct worker *w = &r->workers[i];
		pthread_mutex_lock(&w->mu);
		while (!w->job_done)
			pthread_cond_wait(&w->cv, &w->mu);
		pthread_mutex_unlock(&w->mu);
		if (!err && w->job_err) {
			err = w->job_err;
			*what = "executor creation failed";
		} else if (!err && w->x->err) {
			err = w->x->err;
			*what = w->x->what;
		}
		free(w->root);
		w->root = NULL;
	}
	return err;
}

void workers_stop(struct exs_runner *r)
{
	if (!r->workers)
		return;
	for (unsigned i = 0; i < r->cfg.executors; i++) {
		struct worker *w = &r->workers[i];
		if (!w->started)
			continue;
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		free(w->root);
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
	}
	free(r->workers);
	r->workers = NULL;
}
