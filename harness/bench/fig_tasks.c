/*
 * spawn_complete, local_wake: the task paths of one executor on one core.
 */
#include <stdint.h>

#include "bench.h"
#include "clock.h"

struct rate_arg {
	unsigned long long n;
};

/* ---- spawn_complete ------------------------------------------------------ */

struct spawner {
	unsigned long long total, spawned, completed;
	unsigned batch;
	unsigned long long *done; /* the trivial tasks count here */
	int err;
};

static enum rex_poll trivial_poll(void *st, struct rex_context *cx)
{
	unsigned long long *done = *(unsigned long long **)st;
	++*done;
	cx->output = 0;
	return REX_READY;
}
static const struct rex_task_vtable trivial_vt = { "bench-trivial", trivial_poll, NULL };

/* The run queue is FIFO: spawn a batch, wake ourselves (queued behind the
 * batch), and on the next poll the whole batch has run to completion. */
static enum rex_poll spawner_poll(void *st, struct rex_context *cx)
{
	struct spawner *s = st;
	s->completed = *s->done;
	if (s->completed == s->total || s->err) {
		cx->output = s->err ? s->err : (int64_t)s->completed;
		return REX_READY;
	}
	if (s->completed == s->spawned) {
		unsigned long long n = s->total - s->spawned;
		if (n > s->batch)
			n = s->batch;
		for (unsigned long long i = 0; i < n; i++) {
			int err = rex_spawn(cx->executor, &trivial_vt, &s->done,
					    sizeof(s->done), NULL);
			if (err) {
				s->err = err;
				break;
			}
			s->spawned++;
		}
	}
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable spawner_vt = { "bench-spawner", spawner_poll, NULL };

static double rep_spawn_complete(void *arg)
{
	struct rate_arg *a = arg;
	unsigned long long done = 0;
	struct spawner s = { .total = a->n, .batch = 1024, .done = &done };
	rex_executor *ex;
	int64_t out;
	if (rex_executor_new(NULL, &ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = rex_executor_run(ex, &spawner_vt, &s, sizeof(s), &out);
	uint64_t t1 = thread_cpu_ns();
	rex_executor_free(ex);
	if (err || out != (int64_t)a->n)
		return -1;
	return (double)a->n / ((double)(t1 - t0) / 1e9);
}

/* ---- local_wake ------------------------------------------------------------ */

struct waker_state {
	unsigned long long left;
};

/* Wake ourselves from our own executor, n times: each wake queues the task
 * (SCHEDULED + a queue reference), the loop pops and re-polls it. */
static enum rex_poll self_wake_poll(void *st, struct rex_context *cx)
{
	struct waker_state *w = st;
	if (w->left == 0) {
		cx->output = 0;
		return REX_READY;
	}
	w->left--;
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable self_wake_vt = { "bench-self-wake", self_wake_poll, NULL };

static double rep_local_wake(void *arg)
{
	struct rate_arg *a = arg;
	struct waker_state w = { .left = a->n };
	rex_executor *ex;
	if (rex_executor_new(NULL, &ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = rex_executor_run(ex, &self_wake_vt, &w, sizeof(w), NULL);
	uint64_t t1 = thread_cpu_ns();
	rex_executor_free(ex);
	if (err)
		return -1;
	return (double)a->n / ((double)(t1 - t0) / 1e9);
}

/* ---- the figures ------------------------------------------------------------ */

static void run_spawn_complete(struct bench_run *run)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "spawn_complete");
	if (!r)
		return;
	r->unit = "tasks/s";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what), "rex_spawn a trivial task (batches of 1024) and run "
		 "it to completion, one executor, one core");
	r->goal_kind = GOAL_MEDIAN_MIN;
	r->goal_value = 10e6;
	r->goal_text = ">= 10M tasks/s";
	struct rate_arg a = { .n = smoke ? 20000 : 1000000 };
	r->count = a.n;
	rep_spawn_complete(&(struct rate_arg){ smoke ? 1000 : 100000 }); /* warm-up */
	bench_interleave(r, bench_reps(run->opt, 7), rep_spawn_complete, &a, NULL, NULL);
}

static void run_local_wake(struct bench_run *run)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "local_wake");
	if (!r)
		return;
	r->unit = "wakes/s";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what), "a task wakes itself (rex_waker_wake_by_ref) on its "
		 "own executor and is re-polled");
	r->goal_kind = GOAL_MEDIAN_MIN;
	r->goal_value = 20e6;
	r->goal_text = ">= 20M wakes/s";
	struct rate_arg a = { .n = smoke ? 100000 : 5000000 };
	r->count = a.n;
	rep_local_wake(&(struct rate_arg){ smoke ? 1000 : 500000 });
	bench_interleave(r, bench_reps(run->opt, 7), rep_local_wake, &a, NULL, NULL);
}

const struct bench_figure bench_fig_spawn_complete = {
	.name = "spawn_complete", .pinned = true, .run = run_spawn_complete,
};
const struct bench_figure bench_fig_local_wake = {
	.name = "local_wake", .pinned = true, .run = run_local_wake,
};
