/*
 * spawn_complete, local_wake: the task paths of one executor on one core,
 * each beside the same workload on the floor executor (floor_executor.c).
 * The workloads are written twice, once per API, line for line alike.
 * Every task has a drop function (the floor's cost includes the indirect
 * drop call) and each repetition checks that every task was polled to
 * completion and dropped exactly once.
 */
#include <stdint.h>

#include "bench.h"
#include "clock.h"

#define SPAWN_BATCH 1024

/* What the trivial tasks and the spawner share. */
struct spawn_counts {
	unsigned long long completed, dropped;
};

struct spawner {
	unsigned long long total, spawned;
	struct spawn_counts *counts;
	int err;
};

static void count_drop(void *st)
{
	struct spawn_counts *c = *(struct spawn_counts **)st;
	c->dropped++;
}

/* ---- spawn_complete on rex ------------------------------------------------ */

static enum rex_poll rex_trivial_poll(void *st, struct rex_context *cx)
{
	struct spawn_counts *c = *(struct spawn_counts **)st;
	c->completed++;
	cx->output = 0;
	return REX_READY;
}
static const struct rex_task_vtable rex_trivial_vt = { "bench-trivial",
						       rex_trivial_poll,
						       count_drop };

/* The run queue is FIFO: spawn a batch, wake ourselves (queued behind the
 * batch), and on the next poll the whole batch has run to completion. */
static enum rex_poll rex_spawner_poll(void *st, struct rex_context *cx)
{
	struct spawner *s = *(struct spawner **)st;
	if (s->counts->completed == s->total || s->err) {
		cx->output = 0;
		return REX_READY;
	}
	if (s->counts->completed == s->spawned) {
		unsigned long long n = s->total - s->spawned;
		if (n > SPAWN_BATCH)
			n = SPAWN_BATCH;
		for (unsigned long long i = 0; i < n; i++) {
			if (rex_spawn(cx->executor, &rex_trivial_vt, &s->counts,
				      sizeof(s->counts), NULL)) {
				s->err = -1;
				break;
			}
			s->spawned++;
		}
	}
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable rex_spawner_vt = { "bench-spawner",
						       rex_spawner_poll, NULL };

static double rep_rex_spawn(void *arg)
{
	struct bench_rate_arg *a = arg;
	struct spawn_counts counts = { 0, 0 };
	struct spawner s = { .total = a->n, .counts = &counts };
	struct spawner *sp = &s;
	rex_executor *ex;
	if (rex_executor_new(NULL, &ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = rex_executor_run(ex, &rex_spawner_vt, &sp, sizeof(sp), NULL);
	uint64_t t1 = thread_cpu_ns();
	rex_executor_free(ex);
	if (err || s.err || counts.completed != a->n || counts.dropped != a->n)
		return -1;
	return (double)(t1 - t0) / (double)a->n;
}

/* ---- spawn_complete on the floor executor ----------------------------------- */

static enum rex_poll floor_trivial_poll(void *st, struct floor_context *cx)
{
	struct spawn_counts *c = *(struct spawn_counts **)st;
	(void)cx;
	c->completed++;
	return REX_READY;
}
static const struct floor_task_vtable floor_trivial_vt = { floor_trivial_poll,
							   count_drop };

static enum rex_poll floor_spawner_poll(void *st, struct floor_context *cx)
{
	struct spawner *s = *(struct spawner **)st;
	if (s->counts->completed == s->total || s->err)
		return REX_READY;
	if (s->counts->completed == s->spawned) {
		unsigned long long n = s->total - s->spawned;
		if (n > SPAWN_BATCH)
			n = SPAWN_BATCH;
		for (unsigned long long i = 0; i < n; i++) {
			if (floor_spawn(cx->ex, &floor_trivial_vt, &s->counts,
					sizeof(s->counts))) {
				s->err = -1;
				break;
			}
			s->spawned++;
		}
	}
	floor_wake_by_ref(cx->task);
	return REX_PENDING;
}
static const struct floor_task_vtable floor_spawner_vt = { floor_spawner_poll,
							   NULL };

static double rep_floor_spawn(void *arg)
{
	struct bench_rate_arg *a = arg;
	struct spawn_counts counts = { 0, 0 };
	struct spawner s = { .total = a->n, .counts = &counts };
	struct spawner *sp = &s;
	struct floor_executor *ex;
	if (floor_executor_new(&ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = floor_spawn(ex, &floor_spawner_vt, &sp, sizeof(sp));
	if (!err)
		floor_run(ex);
	uint64_t t1 = thread_cpu_ns();
	floor_executor_free(ex);
	if (err || s.err || counts.completed != a->n || counts.dropped != a->n)
		return -1;
	return (double)(t1 - t0) / (double)a->n;
}

/* ---- local_wake ----------------------------------------------------------------- */

/* A task wakes itself from its own executor, n times: each wake queues it,
 * the loop pops and re-polls it. */
struct self_waker {
	unsigned long long left;
	unsigned long long *dropped;
};

static void self_waker_drop(void *st)
{
	struct self_waker *w = st;
	++*w->dropped;
}

static enum rex_poll rex_self_wake_poll(void *st, struct rex_context *cx)
{
	struct self_waker *w = st;
	if (w->left == 0) {
		cx->output = 0;
		return REX_READY;
	}
	w->left--;
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable rex_self_wake_vt = { "bench-self-wake",
							 rex_self_wake_poll,
							 self_waker_drop };

static enum rex_poll floor_self_wake_poll(void *st, struct floor_context *cx)
{
	struct self_waker *w = st;
	if (w->left == 0)
		return REX_READY;
	w->left--;
	floor_wake_by_ref(cx->task);
	return REX_PENDING;
}
static const struct floor_task_vtable floor_self_wake_vt = {
	floor_self_wake_poll, self_waker_drop
};

double bench_rep_rex_wake(void *arg)
{
	struct bench_rate_arg *a = arg;
	unsigned long long dropped = 0;
	struct self_waker w = { .left = a->n, .dropped = &dropped };
	struct rex_config cfg;
	rex_executor *ex;
	rex_config_init(&cfg);
	cfg.policy = a->policy;
	if (rex_executor_new(&cfg, &ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = rex_executor_run(ex, &rex_self_wake_vt, &w, sizeof(w), NULL);
	uint64_t t1 = thread_cpu_ns();
	rex_executor_free(ex);
	if (err || dropped != 1)
		return -1;
	return (double)(t1 - t0) / (double)a->n;
}

static double rep_floor_wake(void *arg)
{
	struct bench_rate_arg *a = arg;
	unsigned long long dropped = 0;
	struct self_waker w = { .left = a->n, .dropped = &dropped };
	struct floor_executor *ex;
	if (floor_executor_new(&ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = floor_spawn(ex, &floor_self_wake_vt, &w, sizeof(w));
	if (!err)
		floor_run(ex);
	uint64_t t1 = thread_cpu_ns();
	floor_executor_free(ex);
	if (err || dropped != 1)
		return -1;
	return (double)(t1 - t0) / (double)a->n;
}

/* ---- the figures ------------------------------------------------------------------ */

static void run_spawn_complete(struct bench_run *run)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "spawn_complete");
	if (!r)
		return;
	r->unit = "ns/task";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what),
		 "rex_spawn a trivial task (batches of %d) and run "
		 "it to completion, one executor, one core",
		 SPAWN_BATCH);
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "the same on the floor executor "
		 "(bench floor_executor.c: malloc + free, 2 atomic RMWs, FIFO push + pop, "
		 "indirect poll + drop)");
	r->goal_max_ratio = 2.0;
	struct bench_rate_arg a = { .n = smoke ? 20000 : 1000000 };
	struct bench_rate_arg warm = { .n = smoke ? 1000 : 100000 };
	r->count = a.n;
	rep_rex_spawn(&warm);
	rep_floor_spawn(&warm);
	bench_interleave(r, bench_reps(run->opt, 7), rep_rex_spawn, &a,
			 rep_floor_spawn, &a);
}

static void run_local_wake(struct bench_run *run)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "local_wake");
	if (!r)
		return;
	r->unit = "ns/wake";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what),
		 "a task wakes itself (rex_waker_wake_by_ref) on its "
		 "own executor and is re-polled");
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "the same on the floor executor "
		 "(bench floor_executor.c: CAS to NOTIFIED, FIFO push + pop, 2 atomic RMWs "
		 "around an indirect poll)");
	r->goal_max_ratio = 2.0;
	struct bench_rate_arg a = { .n = smoke ? 100000 : 5000000 };
	struct bench_rate_arg warm = { .n = smoke ? 1000 : 500000 };
	r->count = a.n;
	bench_rep_rex_wake(&warm);
	rep_floor_wake(&warm);
	bench_interleave(r, bench_reps(run->opt, 7), bench_rep_rex_wake, &a,
			 rep_floor_wake, &a);
}

const struct bench_figure bench_fig_spawn_complete = {
	.name = "spawn_complete",
	.pinned = true,
	.run = run_spawn_complete,
};
const struct bench_figure bench_fig_local_wake = {
	.name = "local_wake",
	.pinned = true,
	.run = run_local_wake,
};
