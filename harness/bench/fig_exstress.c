/*
 * exstress_issue448: what fdtrack's probe costs a whole exstress run
 * (subprocess, wall clock), beside the same run with the probe off.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"
#include "clock.h"

extern char **environ;

struct exs_arg {
	const char *bin;
	const char *probe;
	unsigned long long iterations;
	bool smoke;
	char *err;
	size_t errlen;
};

static double rep_exstress(void *arg)
{
	struct exs_arg *a = arg;
	char iters[32];
	snprintf(iters, sizeof(iters), "%llu", a->iterations);
	char *argv[] = { (char *)a->bin, "--policy", "fixed", "--scenario", "issue448",
			 "--iterations", iters, "--probe", (char *)a->probe,
			 "--quiet", a->smoke ? "--warmup" : NULL, "10", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	uint64_t t0 = mono_ns();
	int err = posix_spawn(&pid, a->bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		snprintf(a->err, a->errlen, "cannot run %s: %s", a->bin, strerror(err));
		return -1;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	uint64_t t1 = mono_ns();
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(a->err, a->errlen, "exstress --probe %s exited with status %d",
			 a->probe, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return -1;
	}
	return (double)(t1 - t0) / 1e9;
}

static void run_exstress_issue448(struct bench_run *run)
{
	const struct bench_options *o = run->opt;
	struct bench_result *r = bench_result_add(run, "exstress_issue448");
	if (!r)
		return;
	struct exs_arg on = { o->exstress, "require", o->smoke ? 200 : 10000, o->smoke,
			      r->error, sizeof(r->error) };
	struct exs_arg off = on;
	off.probe = "off";
	r->unit = "s";
	r->clock = "wall";
	snprintf(r->what, sizeof(r->what), "build/bin/exstress --scenario issue448 "
		 "--iterations %llu --probe require --quiet (wall)", on.iterations);
	snprintf(r->floor_what, sizeof(r->floor_what), "the same with --probe off");
	r->goal_max_ratio = 1.05;
	r->count = on.iterations;
	bench_interleave(r, bench_reps(o, 3), rep_exstress, &on, rep_exstress, &off);
}

const struct bench_figure bench_fig_exstress_issue448 = {
	.name = "exstress_issue448", .run = run_exstress_issue448,
};
