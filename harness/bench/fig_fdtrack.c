/*
 * What fdtrack costs a program it runs (`fdtrack -- CMD`, its defaults:
 * every fd kind, opening stacks unwound with DWARF), each beside the same
 * program run bare, repetitions interleaved (issue 14):
 *
 * fdtrack_libuv: a libuv program that creates, runs once and closes
 *   100,000 event loops (targets/uv_loops.c: 4 fds a loop); the program's
 *   own wall time for its loops, so fdtrack's start-up and report are not
 *   in it. Goal: ratio <= 1.3.
 * fdtrack_startup: the wall time of `fdtrack -- CMD` for a CMD that exits
 *   at once (loading and verifying the BPF programs, the attach-time
 *   snapshot, the report): fdtrack's fixed cost. Reported.
 * fdtrack_burst: 4 threads opening and closing 100,000 eventfds, then 1,000
 *   left open (targets/fd_burst.c); the burst's own wall time. Every fd
 *   left open must have its opening stack in the report (an error
 *   otherwise: the report's JSON is checked); fdtrack's peak RSS is
 *   reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"

extern char **environ;

struct run_arg {
	char **argv;	 /* the command (fdtrack's or the bare one) */
	const char *out; /* where the target writes its seconds */
	bool whole;	 /* time the whole command, not the target's own */
	char *err;
	size_t errlen;
};

/* Run argv with stdout and stderr on /dev/null; its wall seconds, or -1
 * (err set) if it did not exit 0. */
static double run_quiet(char **argv, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	uint64_t t0 = mono_ns();
	pid_t pid;
	int st, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0],
			 strerror(rc));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(err, errlen, "%s %s exited with status %d", argv[0],
			 argv[1] ? argv[1] : "",
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return -1;
	}
	return (double)(mono_ns() - t0) / 1e9;
}

/* One repetition: the target's own seconds (from its file), or the whole
 * command's wall seconds. */
static double rep_run(void *arg)
{
	struct run_arg *a = arg;
	double whole = run_quiet(a->argv, a->err, a->errlen), own = -1;
	FILE *f;

	if (whole < 0)
		return -1;
	if (a->whole)
		return whole;
	f = fopen(a->out, "r");
	if (!f || fscanf(f, "%lf", &own) != 1 || own <= 0) {
		snprintf(a->err, a->errlen, "%s wrote no time to %s",
			 a->argv[0], a->out);
		own = -1;
	}
	if (f)
		fclose(f);
	return own;
}

/* A temporary file name (the file made, then removed: the run writes it). */
static void temp_path(char *buf, size_t len, const char *what)
{
	int fd;

	snprintf(buf, len, "/tmp/bench-%s-XXXXXX", what);
	fd = mkstemp(buf);
	if (fd >= 0)
		close(fd);
}

static void run_fdtrack_libuv(struct bench_run *run)
{
	struct bench_result *r = bench_result_add(run, "fdtrack_libuv");
	char out[64], n[32];

	if (!r)
		return;
	r->count = run->opt->smoke ? 1000 : 100000;
	snprintf(n, sizeof(n), "%llu", r->count);
	temp_path(out, sizeof(out), "uv");
	char *fig_argv[] = { BENCH_FDTRACK, "--", BENCH_UV_LOOPS, n, out, NULL };
	char *floor_argv[] = { BENCH_UV_LOOPS, n, out, NULL };
	struct run_arg fig = { fig_argv, out, false, r->error,
			       sizeof(r->error) };
	struct run_arg floor = { floor_argv, out, false, r->error,
				 sizeof(r->error) };

	r->unit = "s";
	r->clock = "wall";
	snprintf(
		r->what, sizeof(r->what),
		"uv_loops %llu: its own wall time for "
		"creating, running once and closing %llu libuv loops (4 fds each) "
		"under `fdtrack -- CMD` (defaults: every kind, stacks with DWARF "
		"unwinding)",
		r->count, r->count);
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "the same program run bare");
	r->goal_max_ratio = 1.3;
	/* 15 pairs (~2 s each): with 3, one repetition slowed by the host
	 * moved the median by 0.1-0.3; the pairs' spread is printed beside */
	bench_interleave(r, bench_reps(run->opt, 15), rep_run, &fig, rep_run,
			 &floor);
	unlink(out);
}

const struct bench_figure bench_fig_fdtrack_libuv = {
	.name = "fdtrack_libuv",
	.run = run_fdtrack_libuv,
};

/* What the kernel's verifier processed to load each mode
 * (`fdtrack --bpf-stats MODE -- true`): the largest program's count per
 * mode (the budget is 150,000; the kernel gives up at 1,000,000), and the
 * load time of the default mode, as metrics of the start-up figure. */
static void verifier_counts(struct bench_result *r)
{
	static const struct {
		const char *metric, *flags;
	} modes[] = {
		{ "verified_insns_default", "" },
		{ "verified_insns_frame_pointers", "--frame-pointers" },
		{ "verified_insns_no_stacks", "--no-stacks" },
		{ "verified_insns_f", "-f" },
		{ "verified_insns_f_frame_pointers", "-f --frame-pointers" },
		{ "verified_insns_f_no_stacks", "-f --no-stacks" },
	};
	char cmd[512], line[256];

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		double most = -1, load = -1;
		unsigned n;
		FILE *p;

		snprintf(cmd, sizeof(cmd),
			 "%s --bpf-stats %s -- true 2>&1 >/dev/null",
			 BENCH_FDTRACK, modes[m].flags);
		p = popen(cmd, "r");
		if (!p)
			continue;
		while (fgets(line, sizeof(line), p)) {
			/* "fdtrack: bpf program NAME: N verified insns" */
			if (strstr(line, "verified insns") &&
			    sscanf(strrchr(line, ':') + 1, "%u", &n) == 1 &&
			    n > most)
				most = n;
			/* "fdtrack: bpf load S s, start-up S s" */
			sscanf(line, "fdtrack: bpf load %lf", &load);
		}
		if (pclose(p) != 0 || most < 0) {
			snprintf(r->error, sizeof(r->error),
				 "fdtrack --bpf-stats %s -- true failed",
				 modes[m].flags);
			return;
		}
		bench_metric(r, modes[m].metric, most);
		if (m == 0 && load >= 0)
			bench_metric(r, "bpf_load_s_default", load);
	}
}

static void run_fdtrack_startup(struct bench_run *run)
{
	struct bench_result *r = bench_result_add(run, "fdtrack_startup");
	char out[64];

	if (!r)
		return;
	temp_path(out, sizeof(out), "uv0");
	char *fig_argv[] = {
		BENCH_FDTRACK, "--", BENCH_UV_LOOPS, "0", out, NULL
	};
	char *floor_argv[] = { BENCH_UV_LOOPS, "0", out, NULL };
	struct run_arg fig = { fig_argv, out, true, r->error,
			       sizeof(r->error) };
	struct run_arg floor = { floor_argv, out, true, r->error,
				 sizeof(r->error) };

	r->unit = "s";
	r->clock = "wall";
	r->count = 1;
	snprintf(r->what, sizeof(r->what),
		 "`fdtrack -- uv_loops 0` from start to "
		 "exit: loading and verifying the BPF programs, the attach-time "
		 "snapshot, running a command that exits at once, the report");
	snprintf(r->floor_what, sizeof(r->floor_what), "`uv_loops 0` run bare");
	bench_interleave(r, bench_reps(run->opt, 5), rep_run, &fig, rep_run,
			 &floor);
	unlink(out);
	verifier_counts(r);
}

const struct bench_figure bench_fig_fdtrack_startup = {
	.name = "fdtrack_startup",
	.run = run_fdtrack_startup,
};

/* ---- the burst ---------------------------------------------------------- */

/* The number after "key": at or after p, or -1. */
static double number_after(const char *p, const char *key)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = p ? strstr(p, pat) : NULL;
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* From fdtrack's JSON report: fds leaked, leaked fds whose group has no
 * stack, fdtrack's peak RSS. 0, or -1 if the report is not there. */
static int read_report(const char *path, double *leaked, double *nostack,
		       double *rss)
{
	static char text[4 << 20];
	const char *leaks, *g;
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	if (f)
		fclose(f);
	text[n] = 0;
	leaks = strstr(text, "\n  \"leaks\": [");
	if (!n || !leaks)
		return -1;
	*leaked = number_after(strstr(text, "\"totals\""), "leaked");
	*rss = number_after(strstr(text, "\"fdtrack_rss_kb\""), "max");
	*nostack = 0;
	for (g = strstr(leaks, "\"count\": "); g;
	     g = strstr(g + 1, "\"count\": ")) {
		const char *stack = strstr(g, "\"stack\": [");

		if (stack && !strncmp(stack + 10, " ]", 2))
			*nostack += strtod(g + 9, NULL);
	}
	return 0;
}

struct burst_arg {
	struct run_arg run;
	const char *json;
	long kept;
	struct bench_result *r;
};

static double rep_burst(void *arg)
{
	struct burst_arg *b = arg;
	double s = rep_run(&b->run), leaked, nostack, rss;

	if (s < 0)
		return -1;
	if (!b->json)
		return s; /* the bare run */
	if (read_report(b->json, &leaked, &nostack, &rss)) {
		snprintf(b->r->error, sizeof(b->r->error),
			 "no JSON report from "
			 "fdtrack in %s",
			 b->json);
		return -1;
	}
	bench_metric(b->r, "fds_without_stack", nostack);
	for (int i = 0; i < b->r->nmetrics; i++)
		if (!strcmp(b->r->metrics[i].name, "fdtrack_peak_rss_kib") &&
		    b->r->metrics[i].value > rss)
			rss = b->r->metrics[i].value;
	bench_metric(b->r, "fdtrack_peak_rss_kib", rss);
	if (leaked != b->kept || nostack) {
		snprintf(
			b->r->error, sizeof(b->r->error),
			"fdtrack reported %.0f "
			"fds left open (%ld kept), %.0f of them without a stack",
			leaked, b->kept, nostack);
		return -1;
	}
	return s;
}

static void run_fdtrack_burst(struct bench_run *run)
{
	struct bench_result *r = bench_result_add(run, "fdtrack_burst");
	char out[64], json[64], pairs[32], kept[32];
	long npairs = run->opt->smoke ? 4000 : 100000;
	long nkept = run->opt->smoke ? 100 : 1000;

	if (!r)
		return;
	snprintf(pairs, sizeof(pairs), "%ld", npairs);
	snprintf(kept, sizeof(kept), "%ld", nkept);
	temp_path(out, sizeof(out), "burst");
	temp_path(json, sizeof(json), "burst-json");
	char *fig_argv[] = { BENCH_FDTRACK, "--json",	    json,
			     "--",	    BENCH_FD_BURST, "4",
			     pairs,	    kept,	    out,
			     NULL };
	char *floor_argv[] = { BENCH_FD_BURST, "4", pairs, kept, out, NULL };
	struct burst_arg fig = { { fig_argv, out, false, r->error,
				   sizeof(r->error) },
				 json,
				 nkept,
				 r };
	struct burst_arg floor = { { floor_argv, out, false, r->error,
				     sizeof(r->error) },
				   NULL,
				   nkept,
				   r };

	r->unit = "s";
	r->clock = "wall";
	r->count = npairs;
	snprintf(r->what, sizeof(r->what),
		 "fd_burst: 4 threads open and close %ld "
		 "eventfds, then leave %ld open; its own wall time under `fdtrack "
		 "--json -- CMD` (defaults), every fd left open with its stack",
		 npairs, nkept);
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "the same program run bare");
	bench_interleave(r, bench_reps(run->opt, 3), rep_burst, &fig, rep_burst,
			 &floor);
	unlink(out);
	unlink(json);
}

const struct bench_figure bench_fig_fdtrack_burst = {
	.name = "fdtrack_burst",
	.run = run_fdtrack_burst,
};
