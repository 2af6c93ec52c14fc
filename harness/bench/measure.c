/*
 * The measuring and reporting code every figure shares: repetitions,
 * interleaving, statistics and goals, the Markdown table and the JSON file.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "json.h"

void bench_progress(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

int bench_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static enum rex_poll empty_poll(void *state, struct rex_context *cx)
{
	(void)state;
	cx->output = 0;
	return REX_READY;
}
const struct rex_task_vtable bench_empty_task = { "bench-empty", empty_poll,
						  NULL };

/* ---- selection and repetitions ----------------------------------------- */

static bool in_list(const char *list, const char *name, size_t n)
{
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

bool bench_selected(const struct bench_options *o, const char *name)
{
	if (!o->only)
		return true;
	if (in_list(o->only, name, strlen(name)))
		return true;
	const char *slash = strchr(name, '/');
	return slash && in_list(o->only, name, (size_t)(slash - name));
}

int bench_reps(const struct bench_options *o, int dflt)
{
	if (o->smoke)
		return 1;
	int n = o->reps > 0 ? o->reps : dflt;
	return n > BENCH_MAX_REPS ? BENCH_MAX_REPS : n;
}

struct bench_result *bench_result_add(struct bench_run *run, const char *fmt,
				      ...)
{
	if (run->nresults == BENCH_MAX_RESULTS) {
		fprintf(stderr,
			"bench: more than %d results; raise BENCH_MAX_RESULTS\n",
			BENCH_MAX_RESULTS);
		return NULL;
	}
	struct bench_result *r = &run->results[run->nresults++];
	memset(r, 0, sizeof(*r));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->name, sizeof(r->name), fmt, ap);
	va_end(ap);
	return r;
}

void bench_metric(struct bench_result *r, const char *name, double value)
{
	for (int i = 0; i < r->nmetrics; i++)
		if (!strcmp(r->metrics[i].name, name)) {
			r->metrics[i].value = value;
			return;
		}
	if (r->nmetrics < BENCH_MAX_METRICS) {
		r->metrics[r->nmetrics].name = name;
		r->metrics[r->nmetrics++].value = value;
	}
}

int bench_interleave(struct bench_result *r, int n, bench_rep_fn fig,
		     void *fig_arg, bench_rep_fn floor, void *floor_arg)
{
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			/* even repetitions: figure first; odd: floor first */
			bool is_fig = (k == 0) ^ (i % 2 == 1);
			bench_rep_fn f = is_fig ? fig : floor;
			if (!f)
				continue;
			double v = f(is_fig ? fig_arg : floor_arg);
			if (v < 0) {
				if (!r->error[0])
					snprintf(r->error, sizeof(r->error),
						 "%s failed",
						 is_fig ? "figure" : "floor");
				return -1;
			}
			(is_fig ? r->fig : r->floor)[i] = v;
		}
		r->nrep = i + 1;
		bench_progress(".");
	}
	return 0;
}

/* ---- statistics ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void stats(const double *v, int n, double *med, double *min, double *max)
{
	double s[BENCH_MAX_REPS];
	if (n <= 0) {
		*med = *min = *max = NAN;
		return;
	}
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	*min = s[0];
	*max = s[n - 1];
	*med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double bench_median(const double *v, int n)
{
	double med, min, max;

	stats(v, n, &med, &min, &max);
	return med;
}

static void finish_one(struct bench_result *r)
{
	stats(r->fig, r->nrep, &r->med, &r->min, &r->max);
	r->floor_med = r->floor_min = r->floor_max = r->ratio =
		r->paired_ratio = r->paired_min = r->paired_max = NAN;
	r->extra_med = r->extra_min = r->extra_max = NAN;
	if (r->floor_what[0]) {
		double q[BENCH_MAX_REPS], lo, hi;
		stats(r->floor, r->nrep, &r->floor_med, &r->floor_min,
		      &r->floor_max);
		if (r->floor_med > 0)
			r->ratio = r->med / r->floor_med;
		for (int i = 0; i < r->nrep; i++)
			q[i] = r->floor[i] > 0 ? r->fig[i] / r->floor[i] : NAN;
		stats(q, r->nrep, &r->paired_ratio, &lo, &hi);
		r->paired_min = lo;
		r->paired_max = hi;
	}
	if (r->nextra)
		stats(r->extra, r->nextra, &r->extra_med, &r->extra_min,
		      &r->extra_max);
	r->met = !r->error[0] && r->nrep > 0 && r->ratio <= r->goal_max_ratio;
}

static bool has_goal(const struct bench_result *r)
{
	return r->goal_max_ratio > 0;
}

/* "ratio <= 1.2", "ratio <= 1.05", "ratio <= 2.0" */
static void goal_text(const struct bench_result *r, char *buf, size_t len)
{
	double v = r->goal_max_ratio;
	snprintf(buf, len,
		 fabs(v * 10 - round(v * 10)) < 1e-9 ? "ratio <= %.1f"
						     : "ratio <= %.2f",
		 v);
}

void bench_finish(struct bench_run *run)
{
	for (int i = 0; i < run->nresults; i++)
		finish_one(&run->results[i]);
}

/* ---- machine ---------------------------------------------------------------- */

static double loadavg(void)
{
	double l[1];
	return getloadavg(l, 1) == 1 ? l[0] : NAN;
}

static void read_line(const char *cmd, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(buf, (int)len, p))
		buf[strcspn(buf, "\n")] = 0;
	pclose(p);
}

static void cpu_model(char *buf, size_t len)
{
	snprintf(buf, len, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');
			if (p) {
				p += 1 + strspn(p + 1, " \t");
				p[strcspn(p, "\n")] = 0;
				snprintf(buf, len, "%s", p);
			}
			break;
		}
	}
	fclose(f);
}

/* ---- JSON --------------------------------------------------------------------- */

static void json_result(FILE *f, const struct bench_result *r)
{
	bool has_floor = r->floor_what[0] !=
			 0; /* false only for a bug: check_json fails it */
	json_put_str(f, "\n    {\"name\": ", r->name);
	json_put_str(f, ", \"unit\": ", r->unit);
	json_put_str(f, ", \"clock\": ", r->clock);
	if (r->scenario)
		json_put_str(f, ", \"scenario\": ", r->scenario);
	json_put_str(f, ", \"what\": ", r->what);
	json_put_num(f, ",\n     \"median\": ", r->med);
	json_put_num(f, ", \"min\": ", r->min);
	json_put_num(f, ", \"max\": ", r->max);
	json_put_str(f, ",\n     \"baseline\": ",
		     has_floor ? r->floor_what : NULL);
	json_put_num(f, ", \"baseline_median\": ", r->floor_med);
	json_put_num(f, ", \"baseline_min\": ", r->floor_min);
	json_put_num(f, ", \"baseline_max\": ", r->floor_max);
	json_put_num(f, ",\n     \"ratio\": ", r->ratio);
	json_put_num(f, ", \"paired_ratio_median\": ", r->paired_ratio);
	json_put_num(f, ", \"paired_ratio_min\": ", r->paired_min);
	json_put_num(f, ", \"paired_ratio_max\": ", r->paired_max);
	if (r->extra_name) {
		json_put_str(f, ",\n     ", r->extra_name);
		json_put_num(f, ": {\"median\": ", r->extra_med);
		json_put_num(f, ", \"min\": ", r->extra_min);
		json_put_num(f, ", \"max\": ", r->extra_max);
		fprintf(f, ", \"values\": ");
		json_num_array(f, r->extra, (size_t)r->nextra);
		fprintf(f, "}");
	}
	char goal[32];
	goal_text(r, goal, sizeof(goal));
	json_put_str(f, ",\n     \"goal\": ", has_goal(r) ? goal : NULL);
	json_put_num(f, ", \"goal_max_ratio\": ",
		     has_goal(r) ? r->goal_max_ratio : NAN);
	fprintf(f, ", \"goal_met\": %s, \"reps\": %d, \"count_per_rep\": %llu",
		!has_goal(r) ? "null"
		: r->met     ? "true"
			     : "false",
		r->nrep, r->count);
	fprintf(f, ",\n     \"values\": ");
	json_num_array(f, r->fig, (size_t)r->nrep);
	fprintf(f, ", \"baseline_values\": ");
	if (has_floor)
		json_num_array(f, r->floor, (size_t)r->nrep);
	else
		fputs("null", f);
	if (r->nmetrics) {
		fprintf(f, ",\n     \"metrics\": {");
		for (int i = 0; i < r->nmetrics; i++) {
			fprintf(f, "%s", i ? ", " : "");
			json_str(f, r->metrics[i].name);
			json_put_num(f, ": ", r->metrics[i].value);
		}
		fprintf(f, "}");
	}
	if (r->error[0])
		json_put_str(f, ",\n     \"error\": ", r->error);
	fprintf(f, "}");
}

int bench_write_json(const struct bench_run *run, const char *path,
		     double wall_s)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", tmp,
			strerror(errno));
		return -1;
	}
	struct utsname u;
	uname(&u);
	char cpu[256], commit[128], date[64];
	cpu_model(cpu, sizeof(cpu));
	read_line("git rev-parse --short HEAD 2>/dev/null", commit,
		  sizeof(commit));
	time_t now = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

	json_put_str(f, "{\n  \"machine\": {\"kernel\": ", u.release);
	json_put_str(f, ", \"arch\": ", u.machine);
	fprintf(f, ", \"cpus\": %d, \"cpu_model\": ", bench_ncpus());
	json_str(f, cpu);
	json_put_str(f, "},\n  \"date\": ", date);
	json_put_str(f, ",\n  \"commit\": ", commit);
	fprintf(f, ",\n  \"other_tracing_bpf_programs\": %d",
		run->other_tracing_bpf_programs);
	json_put_num(f, ",\n  \"load_average_at_end\": ", loadavg());
	fprintf(f, ",\n  \"smoke\": %s,\n  \"wall_s\": ",
		run->opt->smoke ? "true" : "false");
	json_num(f, wall_s);
	fprintf(f, ",\n  \"results\": [");
	for (int i = 0; i < run->nresults; i++) {
		if (i)
			fputc(',', f);
		json_result(f, &run->results[i]);
	}
	fprintf(f, "\n  ]\n}\n");
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path,
			strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---- Markdown ------------------------------------------------------------------ */

static void fmt_num(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "—");
	else if (fabs(v) >= 1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (fabs(v) >= 100)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

static void print_row(const struct bench_result *r, bool smoke)
{
	char med[32], min[32], max[32], floor_med[32], ratio[64], goal[32];
	fmt_num(med, sizeof(med), r->med);
	fmt_num(min, sizeof(min), r->min);
	fmt_num(max, sizeof(max), r->max);
	fmt_num(floor_med, sizeof(floor_med), r->floor_med);
	if (isnan(r->ratio))
		snprintf(ratio, sizeof(ratio), "—");
	else if (r->goal_max_ratio > 0 && !isnan(r->paired_min))
		/* a goal's ratio with the spread of its pairs' ratios */
		snprintf(ratio, sizeof(ratio), "%.3f (pairs %.3f-%.3f)",
			 r->ratio, r->paired_min, r->paired_max);
	else
		snprintf(ratio, sizeof(ratio), "%.3f", r->ratio);
	if (has_goal(r))
		goal_text(r, goal, sizeof(goal));
	else
		snprintf(goal, sizeof(goal), "— (reported)");
	printf("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
	       r->name, r->unit, med, min, max, floor_med, ratio, goal,
	       r->error[0]	       ? "error"
	       : !has_goal(r) || smoke ? "—"
	       : r->met		       ? "yes"
				       : "**no**",
	       r->clock);
}

/* The third configuration (e.g. nothing attached) beside the floor. */
static void print_extra(const struct bench_result *r)
{
	char med[32], min[32], max[32];
	fmt_num(med, sizeof(med), r->extra_med);
	fmt_num(min, sizeof(min), r->extra_min);
	fmt_num(max, sizeof(max), r->extra_max);
	printf("\n`%s`, %s: median %s %s (min %s, max %s); floor %.3g, figure %.3g: "
	       "the floor costs %+.0f%% over %s, the figure %+.0f%% over the floor.\n",
	       r->name, r->extra_name, med, r->unit, min, max, r->floor_med,
	       r->med, (r->floor_med / r->extra_med - 1) * 100, r->extra_name,
	       (r->med / r->floor_med - 1) * 100);
}

void bench_print_markdown(const struct bench_run *run, double wall_s)
{
	const struct bench_result *rs = run->results;
	int n = run->nresults;

	printf("| figure | unit | median | min | max | floor median | ratio | goal | met | clock |\n");
	printf("|---|---|---:|---:|---:|---:|---:|---|---|---|\n");
	for (int i = 0; i < n; i++)
		print_row(&rs[i], run->opt->smoke);
	for (int i = 0; i < n; i++)
		if (rs[i].extra_name && rs[i].nextra)
			print_extra(&rs[i]);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < rs[i].nmetrics; k++)
			printf("%s`%s` %s: %.4g", k ? "; " : "\n", rs[i].name,
			       rs[i].metrics[k].name, rs[i].metrics[k].value);
	for (int i = 0; i < n; i++)
		if (rs[i].nmetrics) {
			printf("\n");
			break;
		}
	if (run->other_tracing_bpf_programs > 0 && !run->opt->smoke)
		printf("\nNote: %d tracing BPF program(s) of other processes were loaded "
		       "during the syscall figure (another fdtrack?): \"nothing loaded\" "
		       "and the floor include them.\n",
		       run->other_tracing_bpf_programs);
	printf("\nLoad average at the end: %.2f on %d CPUs.\n", loadavg(),
	       bench_ncpus());
	int missed = 0;
	for (int i = 0; i < n; i++)
		missed += has_goal(&rs[i]) && !rs[i].met && !rs[i].error[0];
	printf("\n");
	if (run->opt->smoke) {
		/* tiny counts, one repetition: the ratios mean nothing, so no
		 * goal is judged (a "missed" line here would read like a
		 * failure in make check's log) */
		printf("Goals not judged: a smoke run measures nothing.\n");
	} else if (missed) {
		printf("Goals missed (%d):", missed);
		for (int i = 0; i < n; i++)
			if (has_goal(&rs[i]) && !rs[i].met && !rs[i].error[0])
				printf(" `%s`", rs[i].name);
		printf("\n");
	} else {
		printf("Every measured goal met.\n");
	}
	for (int i = 0; i < n; i++)
		if (rs[i].error[0])
			printf("Not measured: `%s`: %s\n", rs[i].name,
			       rs[i].error);
	printf("\nbench, %d CPUs, %.1f s%s.\n", bench_ncpus(), wall_s,
	       run->opt->smoke
		       ? " (smoke: tiny counts, 1 repetition; not a measurement)"
		       : "");
}
