/*
 * bench: librex / fdtrack speed, each figure measured side by side with its
 * floor in the same run (see bench.h for the layout, harness/bench/README.md
 * for the method and the figures).
 *
 * Prints a Markdown table on stdout (progress on stderr), writes JSON with
 * --json. Exit 0 even when goals are missed (it says which); 1 when a figure
 * could not be measured at all (e.g. BPF unavailable); 2 on usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "bench.h"
#include "clock.h"

#define BENCH_FIGURE_PTR(name) &bench_fig_##name,
static const struct bench_figure *const figures[] = { BENCH_FIGURES(
	BENCH_FIGURE_PTR) };
#define NFIGURES (sizeof(figures) / sizeof(figures[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench [--smoke] [--json FILE] [--reps N] [--only NAME[,NAME...]]\n"
		"             [--exstress PATH] [--list]\n"
		"  --smoke       tiny counts, one repetition (seconds; for make check)\n"
		"  --json FILE   write the results as JSON\n"
		"  --reps N      repetitions of each figure and of its floor (1..%d)\n"
		"  --only NAMES  run only these figures (comma separated; see --list)\n"
		"  --exstress P  the exstress binary (default " BENCH_EXSTRESS
		")\n"
		"  --list        list the figures\n",
		BENCH_MAX_REPS);
}

static void list_figures(FILE *f)
{
	for (size_t i = 0; i < NFIGURES; i++) {
		const struct bench_figure *fig = figures[i];
		if (!fig->variant) {
			fprintf(f, "%s\n", fig->name);
			continue;
		}
		const char *v;
		for (unsigned k = 0; (v = fig->variant(k)); k++)
			fprintf(f, "%s/%s\n", fig->name, v);
	}
}

/* Is `name` (len bytes) a figure, or "family/variant" of one? */
static bool figure_exists(const char *name, size_t len)
{
	for (size_t i = 0; i < NFIGURES; i++) {
		const struct bench_figure *fig = figures[i];
		size_t n = strlen(fig->name);
		if (len == n && strncmp(name, fig->name, n) == 0)
			return true;
		if (!fig->variant || len <= n + 1 ||
		    strncmp(name, fig->name, n) != 0 || name[n] != '/')
			continue;
		const char *v;
		for (unsigned k = 0; (v = fig->variant(k)); k++)
			if (strlen(v) == len - n - 1 &&
			    strncmp(name + n + 1, v, len - n - 1) == 0)
				return true;
	}
	return false;
}

/* Does --only select anything of this figure? */
static bool figure_selected(const struct bench_options *o,
			    const struct bench_figure *fig)
{
	if (!o->only || bench_selected(o, fig->name))
		return true;
	const char *v;
	char name[128];
	for (unsigned k = 0; fig->variant && (v = fig->variant(k)); k++) {
		snprintf(name, sizeof(name), "%s/%s", fig->name, v);
		if (bench_selected(o, name))
			return true;
	}
	return false;
}

static int parse_reps(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > BENCH_MAX_REPS)
		return -1;
	*out = (int)v;
	return 0;
}

int bench_parse_args(int argc, char **argv, struct bench_options *o, char *err,
		     size_t errlen)
{
	static const struct option longopts[] = {
		{ "smoke", no_argument, NULL, 's' },
		{ "json", required_argument, NULL, 'j' },
		{ "reps", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "exstress", required_argument, NULL, 'x' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ret = BENCH_ARGS_OK;

	*o = (struct bench_options){ .exstress = BENCH_EXSTRESS };
	err[0] = 0;
	opterr = 0;
	optind = 0; /* GNU getopt: start over, also when called again */
	for (;;) {
		int longindex = -1;
		int c = getopt_long(argc, argv, ":h", longopts, &longindex);
		if (c == -1)
			break;
		switch (c) {
		case 's':
			o->smoke = true;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'r':
			if (parse_reps(optarg, &o->reps)) {
				snprintf(
					err, errlen,
					"--reps: '%s' is not a whole number from 1 to %d",
					optarg, BENCH_MAX_REPS);
				return BENCH_ARGS_ERROR;
			}
			break;
		case 'o':
			o->only = optarg;
			break;
		case 'x':
			o->exstress = optarg;
			break;
		case 'l':
			ret = BENCH_ARGS_LIST;
			break;
		case 'h':
			return BENCH_ARGS_HELP;
		case ':':
			snprintf(err, errlen, "%s needs a value",
				 argv[optind - 1]);
			return BENCH_ARGS_ERROR;
		default:
			if (optopt)
				snprintf(err, errlen,
					 "unknown option '-%c' (see --help)",
					 optopt);
			else
				snprintf(err, errlen,
					 "unknown option '%s' (see --help)",
					 argv[optind - 1]);
			return BENCH_ARGS_ERROR;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)",
			 argv[optind]);
		return BENCH_ARGS_ERROR;
	}
	if (o->json && !o->json[0]) {
		snprintf(err, errlen, "--json: empty file name");
		return BENCH_ARGS_ERROR;
	}
	for (const char *p = o->only; p && *p;) {
		size_t len = strcspn(p, ",");
		if (!figure_exists(p, len)) {
			snprintf(
				err, errlen,
				"--only: no figure '%.*s' (bench --list names them)",
				len > INT_MAX ? INT_MAX : (int)len, p);
			return BENCH_ARGS_ERROR;
		}
		p += len + (p[len] == ',');
	}
	if (o->only && !o->only[0]) {
		snprintf(err, errlen, "--only: no figure named");
		return BENCH_ARGS_ERROR;
	}
	return ret;
}

/* Single-threaded figures run on the last CPU; the others with every CPU
 * allowed (they pin their own threads). */
static void set_affinity(bool pinned)
{
	if (pinned) {
		cpu_pin_self(bench_ncpus() - 1);
		return;
	}
	cpu_set_t all;
	CPU_ZERO(&all);
	for (int c = 0; c < bench_ncpus() && c < CPU_SETSIZE; c++)
		CPU_SET(c, &all);
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
}

int main(int argc, char **argv)
{
	struct bench_options opt;
	char err[256];

	switch (bench_parse_args(argc, argv, &opt, err, sizeof(err))) {
	case BENCH_ARGS_HELP:
		usage(stdout);
		return 0;
	case BENCH_ARGS_LIST:
		list_figures(stdout);
		return 0;
	case BENCH_ARGS_ERROR:
		fprintf(stderr, "bench: %s\n", err);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(NULL);

	static struct bench_run run; /* large: not on the stack */
	run.opt = &opt;
	run.other_tracing_bpf_programs = -1;
	uint64_t start = mono_ns();
	for (size_t i = 0; i < NFIGURES; i++) {
		const struct bench_figure *fig = figures[i];
		if (!figure_selected(&opt, fig))
			continue;
		set_affinity(fig->pinned);
		bench_progress("%-26s", fig->name);
		uint64_t t0 = mono_ns();
		fig->run(&run);
		bench_progress(" %.1f s\n", (double)(mono_ns() - t0) / 1e9);
	}

	double wall = (double)(mono_ns() - start) / 1e9;
	bench_finish(&run);
	bench_print_markdown(&run, wall);
	int errors = 0;
	for (int i = 0; i < run.nresults; i++)
		errors += run.results[i].error[0] != 0;
	if (opt.json && bench_write_json(&run, opt.json, wall))
		return 1;
	return errors ? 1 : 0;
}
