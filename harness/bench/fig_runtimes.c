/*
 * exstress_runtime/NAME: what exstress costs a loop runtime's iteration
 * (issue 27). The figure: one exstress iteration of `timers` through the
 * adapter, probe off, in process (exs_target_iteration: K loops on their
 * threads, created, M timers parked in each, a turn, the correct teardown,
 * joined; + exs_sampler_read + the verdict fold). The floor: the same
 * create/park/turn/teardown cycle run bare: K threads calling the
 * adapter's functions directly, joined, no sampling, no probe. Goal:
 * ratio <= 2.0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "clock.h"
#include "exstress.h"
#include "target.h"

#define MAX_LOOPS 64

static const char *const runtimes[] = { "libuv", "libevent", "glib", "tokio" };

static const char *runtime_variant(unsigned i)
{
	return i < sizeof(runtimes) / sizeof(runtimes[0]) ? runtimes[i] : NULL;
}

struct rt_arg {
	struct exs_target *t;
	const struct exs_adapter *a;
	struct exs_sampler *sampler;
	struct exs_verdict_acc *acc; /* NULL during the warm-up */
	int idle_fd;
	unsigned loops, tasks;
	unsigned long long n;
	uint64_t iteration;
	char *err;
	size_t errlen;
};

static double rep_exstress(void *arg)
{
	struct rt_arg *a = arg;
	uint64_t t0 = mono_ns();
	char msg[256];

	for (unsigned long long i = 0; i < a->n; i++) {
		struct exs_sample s;
		int rc = exs_target_iteration(a->t, EXS_SC_TIMERS,
					      ++a->iteration, msg, sizeof(msg));
		memset(&s, 0, sizeof(s));
		if (rc || exs_sampler_read(a->sampler, &s)) {
			snprintf(a->err, a->errlen, "exstress iteration: %s",
				 rc ? msg : "reading /proc/self");
			return -1;
		}
		if (a->acc)
			exs_verdict_add(a->acc, &s);
	}
	return (double)(mono_ns() - t0) / (double)a->n;
}

static void *bare_loop(void *arg)
{
	struct rt_arg *a = arg;
	struct exs_loop_env env = { .idle_fd = a->idle_fd };
	int err = 0;
	void *loop = a->a->loop_new(&env, &err);

	if (!loop)
		return (void *)1;
	for (unsigned m = 0; m < a->tasks && !err; m++)
		err = a->a->park(loop, EXS_PARK_TIMER);
	if (!err)
		err = a->a->turn(loop);
	a->a->teardown(loop, EXS_TEARDOWN_CORRECT);
	return err ? (void *)1 : NULL;
}

static double rep_bare(void *arg)
{
	struct rt_arg *a = arg;
	pthread_t th[MAX_LOOPS];
	uint64_t t0 = mono_ns();

	for (unsigned long long i = 0; i < a->n; i++) {
		unsigned started = 0;
		int ok = 1;
		while (started < a->loops &&
		       !pthread_create(&th[started], NULL, bare_loop, a))
			started++;
		ok = started == a->loops;
		for (unsigned k = 0; k < started; k++) {
			void *ret;
			pthread_join(th[k], &ret);
			ok &= ret == NULL;
		}
		if (!ok) {
			snprintf(a->err, a->errlen, "bare cycle failed");
			return -1;
		}
	}
	return (double)(mono_ns() - t0) / (double)a->n;
}

static void measure_runtime(struct bench_run *run, const char *name)
{
	const struct bench_options *o = run->opt;
	struct bench_result *r = bench_result_add(run, "exstress_runtime/%s",
						  name);
	struct exs_options eo;
	struct exs_sampler sampler = { -1, -1, 0 };
	struct rt_arg a = { 0 };
	char msg[256];
	int rc;

	if (!r)
		return;
	exs_options_default(&eo);
	eo.runtime = name;
	eo.scenario = EXS_SC_TIMERS;
	r->scenario = "timers";
	r->unit = "ns/iteration";
	r->clock = "wall";
	r->goal_max_ratio = 2.0;
	snprintf(
		r->what, sizeof(r->what),
		"one exstress iteration of timers through the %s adapter, probe "
		"off, in process: exs_target_iteration (%u loops on their "
		"threads, %u timers each, correct teardown) + exs_sampler_read "
		"+ the verdict fold",
		name, eo.executors, eo.tasks);
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "the same cycle bare: %u threads each calling the adapter's "
		 "loop_new, park x%u, turn, teardown(correct), joined; no "
		 "sampling",
		 eo.executors, eo.tasks);
	if ((rc = exs_sampler_open(&sampler))) {
		snprintf(r->error, sizeof(r->error), "opening /proc/self: %s",
			 strerror(-rc));
		return;
	}
	if ((rc = exs_target_open(&eo, &a.t, msg, sizeof(msg)))) {
		snprintf(r->error, sizeof(r->error), "%s", msg);
		goto out;
	}
	a.a = exs_target_adapter(a.t, &a.idle_fd);
	a.sampler = &sampler;
	a.loops = eo.executors > MAX_LOOPS ? MAX_LOOPS : eo.executors;
	a.tasks = eo.tasks;
	a.err = r->error;
	a.errlen = sizeof(r->error);
	a.n = o->smoke ? 5 : eo.warmup;
	r->count = o->smoke ? 20 : 300;
	if (rep_bare(&a) < 0 || rep_exstress(&a) < 0)
		goto out;
	struct exs_verdict_acc acc;
	struct exs_sample ref;
	memset(&ref, 0, sizeof(ref));
	if (exs_sampler_read(&sampler, &ref)) {
		snprintf(r->error, sizeof(r->error), "reading /proc/self");
		goto out;
	}
	exs_verdict_begin(&acc, &ref);
	a.acc = &acc;
	a.n = r->count;
	if (bench_interleave(r, bench_reps(o, 15), rep_exstress, &a, rep_bare,
			     &a))
		goto out;
	bench_fds_steady(&acc, r, "of the correct teardown");
out:
	exs_target_free(a.t);
	exs_sampler_close(&sampler);
}

static void run_runtimes(struct bench_run *run)
{
	for (unsigned i = 0; runtime_variant(i); i++) {
		char name[96];
		snprintf(name, sizeof(name), "exstress_runtime/%s",
			 runtime_variant(i));
		if (bench_selected(run->opt, name))
			measure_runtime(run, runtime_variant(i));
	}
}

const struct bench_figure bench_fig_exstress_runtime = {
	.name = "exstress_runtime",
	.variant = runtime_variant,
	.run = run_runtimes,
};
