/*
 * executor_cycle, executor_cycle_thread: creating, running and freeing an
 * executor, beside what the kernel objects alone cost (an eventfd and an
 * io_uring of the same size, created and destroyed).
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"

#define RING_ENTRIES 256 /* = rex's default, used by both sides */

static int rex_cycle_once(enum rex_drop_policy policy)
{
	struct rex_config cfg;
	rex_executor *ex;
	rex_config_init(&cfg);
	cfg.ring_entries = RING_ENTRIES;
	cfg.policy = policy;
	int err = rex_executor_new(&cfg, &ex);
	if (err)
		return err;
	err = rex_executor_run(ex, &bench_empty_task, NULL, 0, NULL);
	rex_executor_free(ex);
	return err;
}

static int raw_cycle_once(void)
{
	struct io_uring ring;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	int err = io_uring_queue_init(RING_ENTRIES, &ring, 0);
	if (err < 0) {
		close(efd);
		return err;
	}
	close(efd);
	io_uring_queue_exit(&ring);
	return 0;
}

double bench_rep_rex_cycle(void *arg)
{
	struct bench_cycle_arg *a = arg;
	uint64_t t0 = thread_cpu_ns();
	for (unsigned long long i = 0; i < a->n; i++)
		if (rex_cycle_once(a->policy))
			return -1;
	return (double)(thread_cpu_ns() - t0) / (double)a->n;
}

static double rep_raw_cycle(void *arg)
{
	struct bench_cycle_arg *a = arg;
	uint64_t t0 = thread_cpu_ns();
	for (unsigned long long i = 0; i < a->n; i++)
		if (raw_cycle_once())
			return -1;
	return (double)(thread_cpu_ns() - t0) / (double)a->n;
}

static double rep_rex_cycle_thread(void *arg)
{
	struct bench_cycle_arg *a = arg;
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.ring_entries = RING_ENTRIES;
	uint64_t t0 = mono_ns();
	for (unsigned long long i = 0; i < a->n; i++) {
		rex_thread *t;
		if (rex_thread_spawn(&cfg, &bench_empty_task, NULL, 0, &t))
			return -1;
		if (rex_thread_join(t, NULL))
			return -1;
	}
	return (double)(mono_ns() - t0) / (double)a->n;
}

static void *raw_cycle_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)raw_cycle_once();
}

static double rep_raw_cycle_thread(void *arg)
{
	struct bench_cycle_arg *a = arg;
	uint64_t t0 = mono_ns();
	for (unsigned long long i = 0; i < a->n; i++) {
		pthread_t th;
		void *ret;
		if (pthread_create(&th, NULL, raw_cycle_thread, NULL))
			return -1;
		pthread_join(th, &ret);
		if (ret)
			return -1;
	}
	return (double)(mono_ns() - t0) / (double)a->n;
}

static void run_executor_cycle(struct bench_run *run)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "executor_cycle");
	if (!r)
		return;
	r->unit = "ns/cycle";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what),
		 "rex_executor_new + run an empty root task + "
		 "rex_executor_free, calling thread");
	snprintf(
		r->floor_what, sizeof(r->floor_what),
		"eventfd + io_uring_queue_init(%d) + close + io_uring_queue_exit",
		RING_ENTRIES);
	r->goal_max_ratio = 1.2;
	struct bench_cycle_arg a = { .n = smoke ? 20 : 400 };
	struct bench_cycle_arg warm = { .n = smoke ? 2 : 200 };
	r->count = a.n;
	bench_rep_rex_cycle(&warm);
	rep_raw_cycle(&warm);
	bench_interleave(r, bench_reps(run->opt, 15), bench_rep_rex_cycle, &a,
			 rep_raw_cycle, &a);
}

static void run_executor_cycle_thread(struct bench_run *run)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "executor_cycle_thread");
	if (!r)
		return;
	r->unit = "ns/cycle";
	r->clock = "wall";
	snprintf(
		r->what, sizeof(r->what),
		"rex_thread_spawn (new, run empty root, free) + rex_thread_join");
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "pthread_create + (eventfd + io_uring_queue_init(%d) + close + "
		 "io_uring_queue_exit) + pthread_join",
		 RING_ENTRIES);
	r->goal_max_ratio = 1.2;
	struct bench_cycle_arg a = { .n = smoke ? 20 : 250 };
	struct bench_cycle_arg warm = { .n = smoke ? 2 : 100 };
	r->count = a.n;
	rep_rex_cycle_thread(&warm);
	rep_raw_cycle_thread(&warm);
	bench_interleave(r, bench_reps(run->opt, 15), rep_rex_cycle_thread, &a,
			 rep_raw_cycle_thread, &a);
}

/* Pinned: the threads of executor_cycle_thread inherit the last CPU, as the
 * single-threaded code they run always did. */
const struct bench_figure bench_fig_executor_cycle = {
	.name = "executor_cycle",
	.pinned = true,
	.run = run_executor_cycle,
};
const struct bench_figure bench_fig_executor_cycle_thread = {
	.name = "executor_cycle_thread",
	.pinned = true,
	.run = run_executor_cycle_thread,
};
