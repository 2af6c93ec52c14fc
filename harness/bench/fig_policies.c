/*
 * policy/POLICY:PATH: what each drop policy costs on the paths it touches,
 * beside fixed measured in the same run (the floor: the fix we ship). For
 * `make compare`, which puts them in the table of the seed's options.
 *
 *   foreign_wake    a round trip between executors on two threads over two
 *                   shared channels: two foreign wakes through the sleep
 *                   notifier, where option B takes its mutex around the
 *                   eventfd and option C upgrades its weak reference
 *   local_wake      a task waking itself on its own executor (no policy
 *                   touches this path: the ratio shows it)
 *   executor_cycle  new + run an empty root + free (the notifier's set-up
 *                   and teardown differ per policy)
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

enum path {
	FOREIGN_WAKE,
	LOCAL_WAKE,
	EXECUTOR_CYCLE,
	NPATHS
};
static const char *const path_names[NPATHS] = { "foreign_wake", "local_wake",
						"executor_cycle" };

/* The seed's options only: the glommio-* policies are glommio's shape on
 * legacy-448's and fixed's paths (their executors would leak threads). */
#define NPOLICIES REX_DROP_GLOMMIO_448

static const char *policy_variant(unsigned i)
{
	static char name[64];

	if (i >= (unsigned)NPOLICIES * NPATHS)
		return NULL;
	snprintf(name, sizeof(name), "%s:%s",
		 rex_policy_name((enum rex_drop_policy)(i / NPATHS)),
		 path_names[i % NPATHS]);
	return name;
}

static void measure_path(struct bench_run *run, enum rex_drop_policy policy,
			 enum path path)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "policy/%s:%s",
						  rex_policy_name(policy),
						  path_names[path]);
	if (!r)
		return;
	r->goal_max_ratio = 0; /* reported: what the option costs, not a goal */
	if (path == FOREIGN_WAKE) {
		struct bench_pingpong_arg a = { .n = smoke ? 300 : 3000,
						.warm = smoke ? 30 : 300,
						.cpu_a = 0,
						.cpu_b = bench_ncpus() > 1 ? 1
									   : 0,
						.policy = policy };
		struct bench_pingpong_arg floor = a;
		floor.policy = REX_DROP_FIXED;
		r->unit = "ns/round-trip";
		r->clock = "wall";
		r->count = a.n;
		snprintf(r->what, sizeof(r->what),
			 "round trip between executors on 2 threads over "
			 "2 shared channels (2 foreign wakes), policy %s",
			 rex_policy_name(policy));
		snprintf(r->floor_what, sizeof(r->floor_what),
			 "the same under fixed");
		bench_interleave(r, bench_reps(run->opt, 7),
				 bench_rep_rex_pingpong, &a,
				 bench_rep_rex_pingpong, &floor);
	} else if (path == LOCAL_WAKE) {
		struct bench_rate_arg a = { .n = smoke ? 10000 : 2000000,
					    .policy = policy };
		struct bench_rate_arg floor = { .n = a.n,
						.policy = REX_DROP_FIXED };
		r->unit = "ns/wake";
		r->clock = "thread-cpu";
		r->count = a.n;
		snprintf(r->what, sizeof(r->what),
			 "a task wakes itself and is re-polled, policy %s",
			 rex_policy_name(policy));
		snprintf(r->floor_what, sizeof(r->floor_what),
			 "the same under fixed");
		bench_interleave(r, bench_reps(run->opt, 7), bench_rep_rex_wake,
				 &a, bench_rep_rex_wake, &floor);
	} else {
		struct bench_cycle_arg a = { .n = smoke ? 20 : 300,
					     .policy = policy };
		struct bench_cycle_arg floor = { .n = a.n,
						 .policy = REX_DROP_FIXED };
		r->unit = "ns/cycle";
		r->clock = "thread-cpu";
		r->count = a.n;
		snprintf(r->what, sizeof(r->what),
			 "rex_executor_new + run an empty root + "
			 "rex_executor_free, policy %s",
			 rex_policy_name(policy));
		snprintf(r->floor_what, sizeof(r->floor_what),
			 "the same under fixed");
		bench_interleave(r, bench_reps(run->opt, 9),
				 bench_rep_rex_cycle, &a, bench_rep_rex_cycle,
				 &floor);
	}
}

static void run_policy(struct bench_run *run)
{
	/* the first ping-pong of a process runs cold (CPU frequency, pages):
	 * not inside a figure */
	struct bench_pingpong_arg warm = { .n = 300,
					   .warm = 30,
					   .cpu_a = 0,
					   .cpu_b = bench_ncpus() > 1 ? 1 : 0 };
	bench_rep_rex_pingpong(&warm);
	for (unsigned i = 0; policy_variant(i); i++) {
		char name[80];
		snprintf(name, sizeof(name), "policy/%s", policy_variant(i));
		if (bench_selected(run->opt, name))
			measure_path(run, (enum rex_drop_policy)(i / NPATHS),
				     (enum path)(i % NPATHS));
	}
}

const struct bench_figure bench_fig_policy = {
	.name = "policy",
	.variant = policy_variant,
	.pinned = false,
	.run = run_policy,
};
