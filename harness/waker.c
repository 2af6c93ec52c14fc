/*
 * The foreign-waker thread: it runs beside the executors of an iteration,
 * wakes every waker it is handed at once (a foreign wake racing the
 * executor's work and teardown), keeps it, and after the executors are
 * gone wakes and drops them all (a late wake of a zombie task). The
 * foreign-wakers scenario hands it wakers; the workaround jobs use it to be
 * woken through their own notifier queue.
 */
#include <errno.h>
#include <stdlib.h>

#include "runner.h"

/* Runs beside the executors: wakes each waker it gets at once (a foreign
 * wake racing the executor's teardown), keeps it, and on flush (after the
 * executors are gone) wakes and drops them all. */
static void *waker_thread(void *arg)
{
	struct exs_runner *r = arg;
	size_t heldcap = 64, nheld = 0;
	/* Allocated now: this thread's malloc arena exists before the
	 * baseline sample. */
	rex_waker **held = malloc(heldcap * sizeof(*held)), **batch = NULL;
	if (!held)
		heldcap = 0;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->qn && !r->flush_req && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop && !r->qn && !r->flush_req)
			break;
		size_t n = r->qn;
		batch = r->q;
		r->q = NULL;
		r->qn = r->qcap = 0;
		int flush = r->flush_req;
		pthread_mutex_unlock(&r->mu);

		for (size_t i = 0; i < n; i++) {
			rex_waker_wake_by_ref(batch[i]);
			if (nheld == heldcap) {
				size_t nc = heldcap ? heldcap * 2 : 64;
				rex_waker **nh = realloc(held,
							 nc * sizeof(*nh));
				if (!nh) { /* keep going: wake and drop now */
					rex_waker_wake(batch[i]);
					continue;
				}
				held = nh;
				heldcap = nc;
			}
			held[nheld++] = batch[i];
		}
		free(batch);
		batch = NULL;
		if (flush) {
			for (size_t i = 0; i < nheld; i++)
				rex_waker_wake(held[i]);
			nheld = 0;
		}
		pthread_mutex_lock(&r->mu);
		if (flush) {
			r->flush_req = 0;
			r->flush_done = 1;
			pthread_cond_broadcast(&r->done_cv);
		}
	}
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < nheld; i++)
		rex_waker_wake(held[i]);
	free(held);
	return NULL;
}

/* Executor thread: hand a waker over. */
int waker_post(struct exs_runner *r, rex_waker *w)
{
	pthread_mutex_lock(&r->mu);
	if (r->qn == r->qcap) {
		size_t nc = r->qcap ? r->qcap * 2 : 16;
		rex_waker **nq = realloc(r->q, nc * sizeof(*nq));
		if (!nq) {
			pthread_mutex_unlock(&r->mu);
			return -ENOMEM;
		}
		r->q = nq;
		r->qcap = nc;
	}
	r->q[r->qn++] = w;
	r->posted = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

/* Main thread, after the executors are joined. The thread holds wakers
 * only from posts: without one since the last flush there is nothing to
 * do (and the hand-off would cost two context switches an iteration). */
void waker_flush(struct exs_runner *r)
{
	pthread_mutex_lock(&r->mu);
	if (!r->posted) {
		pthread_mutex_unlock(&r->mu);
		return;
	}
	r->posted = 0;
	r->flush_req = 1;
	r->flush_done = 0;
	pthread_cond_signal(&r->cv);
	while (!r->flush_done)
		pthread_cond_wait(&r->done_cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

int waker_start(struct exs_runner *r)
{
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->done_cv, NULL);
	r->wt_inited = 1;
	int rc = pthread_create(&r->wt, NULL, waker_thread, r);
	if (rc)
		return -rc;
	r->wt_started = 1;
	return 0;
}

void waker_stop(struct exs_runner *r)
{
	if (r->wt_started) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->wt, NULL);
		r->wt_started = 0;
	}
	if (r->wt_inited) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		pthread_cond_destroy(&r->done_cv);
		r->wt_inited = 0;
	}
	free(r->q);
	r->q = NULL;
}
