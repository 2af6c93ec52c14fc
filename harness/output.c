/* Writers: CSV rows (format fixed for the plotting script), the JSON
 * summary and JUnit XML. */
#include "exstress.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A kind's name as a CSV column name part: "socket:unix" -> "socket_unix". */
static void column_name(char *buf, size_t len, int k)
{
	snprintf(buf, len, "%s", fdkind_name(k));
	for (char *p = buf; *p; p++)
		if (*p == ':')
			*p = '_';
}

/* scenario,policy,iteration,phase,elapsed_ms, fd_KIND for every kind,
 * vsz_bytes,rss_bytes,heap_bytes,heap_allocs, bpf_KIND_opens/closes/live
 * for every kind, bpf_lost_events (harness/README.md). */
const char *exs_csv_header(void)
{
	static char header[8192];
	size_t n = 0;
	char kind[32];

	if (header[0])
		return header;
	n += (size_t)snprintf(header + n, sizeof(header) - n,
			      "scenario,policy,iteration,phase,elapsed_ms");
	for (int k = 0; k < FDKIND_COUNT; k++) {
		column_name(kind, sizeof(kind), k);
		n += (size_t)snprintf(header + n, sizeof(header) - n, ",fd_%s",
				      kind);
	}
	n += (size_t)snprintf(header + n, sizeof(header) - n,
			      ",vsz_bytes,rss_bytes,heap_bytes,heap_allocs");
	for (int k = 0; k < FDKIND_COUNT; k++) {
		column_name(kind, sizeof(kind), k);
		n += (size_t)snprintf(header + n, sizeof(header) - n,
				      ",bpf_%s_opens,bpf_%s_closes,bpf_%s_live",
				      kind, kind, kind);
	}
	snprintf(header + n, sizeof(header) - n, ",bpf_lost_events\n");
	return header;
}

/* Appends to buf[*n..len); -1 once it does not fit. */
static int put(char *buf, size_t len, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	if (*n >= len)
		return -1;
	va_start(ap, fmt);
	int m = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= len - *n)
		return -1;
	*n += (size_t)m;
	return 0;
}

int exs_csv_format(char *buf, size_t len, const char *scenario,
		   const char *policy, const struct exs_sample *s)
{
	size_t n = 0;
	int err = put(buf, len, &n, "%s,%s,%" PRIu64 ",%s,%.3f", scenario,
		      policy, s->iteration, exs_phase_name(s->phase),
		      s->elapsed_ms);
	for (int k = 0; k < FDKIND_COUNT; k++)
		err |= put(buf, len, &n, ",%" PRId64, s->fds[k]);
	err |= put(buf, len, &n, ",%" PRIu64 ",%" PRIu64, s->vsz_bytes,
		   s->rss_bytes);
	if (s->has_heap)
		err |= put(buf, len, &n, ",%" PRId64 ",%" PRId64, s->heap_bytes,
			   s->heap_allocs);
	else
		err |= put(buf, len, &n, ",,");
	for (int k = 0; k < FDKIND_COUNT; k++) {
		if (s->has_bpf)
			err |= put(buf, len, &n,
				   ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
				   s->bpf.opens[k], s->bpf.closes[k],
				   s->bpf.live[k]);
		else
			err |= put(buf, len, &n, ",,,");
	}
	if (s->has_bpf)
		err |= put(buf, len, &n, ",%" PRIu64 "\n", s->bpf.lost);
	else
		err |= put(buf, len, &n, ",\n");
	return err ? -1 : (int)n;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- CSV file ---- */

static int csv_flush(struct exs_csv *c)
{
	int rc = write_all(c->out.fd, c->buf, c->used);
	c->used = 0;
	return rc;
}

struct exs_csv *exs_csv_open(const char *path, char *why, size_t whylen)
{
	struct exs_csv *c = malloc(sizeof(*c));
	if (!c) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (outfile_open(&c->out, path, why, whylen)) {
		free(c);
		return NULL;
	}
	c->used = strlen(exs_csv_header());
	memcpy(c->buf, exs_csv_header(), c->used);
	return c;
}

int exs_csv_row(struct exs_csv *c, const char *scenario, const char *policy,
		const struct exs_sample *s)
{
	char row[512];
	int n = exs_csv_format(row, sizeof(row), scenario, policy, s);
	if (n < 0)
		return -EOVERFLOW;
	/* Only whole rows ever reach the file. */
	if (c->used + (size_t)n > sizeof(c->buf)) {
		int rc = csv_flush(c);
		if (rc)
			return rc;
	}
	memcpy(c->buf + c->used, row, (size_t)n);
	c->used += (size_t)n;
	return 0;
}

int exs_csv_close(struct exs_csv *c, char *why, size_t whylen)
{
	if (!c)
		return 0;
	int rc = csv_flush(c);
	if (rc) {
		snprintf(why, whylen, "%s", strerror(-rc));
		outfile_abort(&c->out);
	} else {
		rc = outfile_commit(&c->out, why, whylen);
	}
	if (rc && c->out.kept)
		snprintf(why + strlen(why), whylen - strlen(why),
			 "; the finished file is %s", c->out.kept);
	outfile_abort(&c->out);
	free(c);
	return rc;
}

void exs_csv_abort(struct exs_csv *c)
{
	if (!c)
		return;
	outfile_abort(&c->out);
	free(c);
}

/* ---- JSON ---- */

static void json_checks(FILE *out, const struct exs_verdict *v, const char *ind)
{
	fputs("[", out);
	for (size_t i = 0; i < v->nchecks; i++) {
		const struct exs_check *c = &v->checks[i];
		fprintf(out, "%s\n%s  {\"name\": ", i ? "," : "", ind);
		json_str(out, c->name);
		fprintf(out, ", \"pass\": %s, \"value\": ",
			c->pass ? "true" : "false");
		json_num(out, c->value);
		json_put_num(out, ", \"limit\": ", c->limit);
		fputs("}", out);
	}
	fprintf(out, "\n%s]", ind);
}

/* {"eventfd": N, "io_uring": N, ...}: every kind, in fdkind order (a NaN
 * is null). */
static void json_kind_map(FILE *out, const double *vals)
{
	fputc('{', out);
	for (int k = 0; k < FDKIND_COUNT; k++) {
		fprintf(out, "%s\"%s\": ", k ? ", " : "", fdkind_name(k));
		json_num(out, vals[k]);
	}
	fputc('}', out);
}

static void json_fd_map(FILE *out, const int64_t *vals)
{
	double d[FDKIND_COUNT];
	for (int k = 0; k < FDKIND_COUNT; k++)
		d[k] = (double)vals[k];
	json_kind_map(out, d);
}

static void json_scenario(FILE *out, const struct exs_run_info *info,
			  const struct exs_result *r)
{
	const struct exs_verdict *v = &r->v;
	char summary[1024];
	exs_verdict_summary(v, summary, sizeof(summary));
	json_put_str(out, "    {\n      \"scenario\": ",
		     exs_scenario_name(r->scenario));
	json_put_str(out, ",\n      \"policy\": ", info->policy);
	fprintf(out,
		",\n      \"verdict\": \"%s\",\n      \"interrupted\": %s"
		",\n      \"iterations\": %" PRIu64
		",\n      \"reference_iteration\": %" PRIu64
		",\n      \"probe\": ",
		/* a finding stands; an interrupted run never passes */
		r->not_run	 ? "not run"
		: v->leak	 ? "leak"
		: r->interrupted ? "interrupted"
		: r->no_verdict	 ? "none"
				 : "pass",
		r->interrupted ? "true" : "false", v->iterations,
		v->ref_iteration);
	json_str(out, info->probe);
	json_put_num(out, ",\n      \"elapsed_s\": ", r->elapsed_s);
	json_put_num(out,
		     ",\n      \"parked_per_iteration\": ", r->parked_per_iter);
	/* the measured iterations' teardowns: how many parked tasks had their
	 * destructors run, and what the others left behind */
	uint64_t torn = r->tasks_destroyed + r->tasks_left;
	fprintf(out,
		",\n      \"teardown\": {\"tasks_destroyed\": %" PRIu64
		", \"tasks_left\": %" PRIu64 ", \"bytes_left\": %" PRIu64
		", \"destructors_run_pct\": ",
		r->tasks_destroyed, r->tasks_left, r->bytes_left);
	json_num(out, torn ? 100.0 * (double)r->tasks_destroyed / (double)torn
			   : NAN);
	json_put_num(out, ", \"bytes_left_per_iter\": ",
		     v->iterations
			     ? (double)r->bytes_left / (double)v->iterations
			     : NAN);
	fputs("}", out);
	fputs(",\n      \"fd_growth\": ", out);
	json_fd_map(out, v->fd_growth);
	fputs(",\n      \"fd_max_deviation\": ", out);
	json_fd_map(out, v->fd_max_dev);
	double first[FDKIND_COUNT];
	for (int k = 0; k < FDKIND_COUNT; k++)
		first[k] = v->fd_first[k] ? (double)v->fd_first[k]
					  : NAN; /* none: null */
	fputs(",\n      \"fd_growth_per_iter\": ", out);
	json_kind_map(out, v->fd_per_iter);
	fputs(",\n      \"fd_first_leak_iteration\": ", out);
	json_kind_map(out, first);
	json_put_num(out,
		     ",\n      \"vsz_slope_bytes_per_iter\": ", v->vsz_slope);
	json_put_num(out,
		     ",\n      \"rss_slope_bytes_per_iter\": ", v->rss_slope);
	json_put_num(out, ",\n      \"vsz_growth_bytes\": ", v->vsz_growth);
	json_put_num(out, ",\n      \"rss_growth_bytes\": ", v->rss_growth);
	fputs(",\n      \"heap\": ", out);
	if (v->has_heap) {
		fprintf(out,
			"{\"growth_bytes\": %" PRId64
			", \"growth_allocs\": %" PRId64
			", \"max_deviation_bytes\": %" PRId64
			", \"max_deviation_allocs\": %" PRId64
			", \"first_leak_iteration\": ",
			v->heap_growth_bytes, v->heap_growth_allocs,
			v->heap_max_dev_bytes, v->heap_max_dev_allocs);
		if (v->heap_first)
			fprintf(out, "%" PRIu64, v->heap_first);
		else
			fputs("null", out);
		fputs("}", out);
	} else {
		fputs("null", out);
	}
	json_put_num(out, ",\n      \"heap_growth_bytes_per_iter\": ",
		     v->has_heap ? v->heap_bytes_per_iter : NAN);
	json_put_num(out, ",\n      \"heap_growth_allocs_per_iter\": ",
		     v->has_heap ? v->heap_allocs_per_iter : NAN);
	fputs(",\n      \"bpf\": ", out);
	if (v->has_bpf) {
		fputs("{", out);
		for (int k = 0; k < FDKIND_COUNT; k++)
			fprintf(out,
				"%s\n        \"%s\": {\"opens\": %" PRId64
				", \"opened_outside_syscalls\": %" PRId64
				", \"closes\": %" PRId64
				", \"closed_outside_syscalls\": %" PRId64
				", \"unbalanced\": %" PRId64
				", \"live_growth\": %" PRId64
				", \"live_vs_proc_max_dev\": %" PRId64
				", \"outside_syscalls_max\": %" PRId64 "}",
				k ? "," : "", fdkind_name(k), v->bpf_opens[k],
				v->bpf_opened_outside_syscalls[k],
				v->bpf_closes[k],
				v->bpf_closed_outside_syscalls[k],
				v->bpf_unbalanced[k], v->bpf_live_growth[k],
				v->bpf_live_max_dev[k],
				v->bpf_outside_syscalls_max[k]);
		fprintf(out,
			",\n        \"lost_events\": %" PRIu64
			", \"reconciled_samples\": %" PRIu64
			", \"exact\": %s, \"fds_not_tracked\": %" PRIu64
			", \"runs_missed\": %" PRIu64 "}",
			v->bpf_lost, v->bpf_reconciled,
			v->bpf_not_exact || v->bpf_runs_missed ? "false" : "true",
			v->bpf_not_exact, v->bpf_runs_missed);
	} else {
		fputs("null", out);
	}
	fputs(",\n      \"checks\": ", out);
	json_checks(out, v, "      ");
	json_put_str(out, ",\n      \"summary\": ", summary);
	json_put_str(out, ",\n      \"note\": ", r->note);
	fputs("\n    }", out);
}

int exs_json_write(FILE *out, const struct exs_run_info *info,
		   const struct exs_result *r, size_t n)
{
	int leak = 0, measured = 0;
	uint64_t iters = 0;
	int64_t growth[FDKIND_COUNT] = { 0 };
	double vs = 0, rs = 0, hb = NAN, ha = NAN;
	for (size_t i = 0; i < n; i++) {
		if (r[i].v.has_heap &&
		    !(fabs(r[i].v.heap_bytes_per_iter) <= fabs(hb))) {
			hb = r[i].v.heap_bytes_per_iter;
			ha = r[i].v.heap_allocs_per_iter;
		}
		leak |= r[i].v.leak;
		measured |= !r[i].no_verdict;
		iters += r[i].v.iterations;
		for (int k = 0; k < FDKIND_COUNT; k++)
			growth[k] += r[i].v.fd_growth[k];
		if (i == 0 || r[i].v.vsz_slope > vs)
			vs = r[i].v.vsz_slope;
		if (i == 0 || r[i].v.rss_slope > rs)
			rs = r[i].v.rss_slope;
	}
	json_put_str(out, "{\n  \"tool\": \"exstress\",\n  \"scenario\": ",
		     info->scenario);
	json_put_str(out, ",\n  \"policy\": ", info->policy);
	/* a leak found stands; a run stopped by a signal never passes */
	fprintf(out,
		",\n  \"verdict\": \"%s\",\n  \"interrupted\": %s"
		",\n  \"stopped_outright\": %s",
		leak		    ? "leak"
		: info->interrupted ? "interrupted"
		: measured	    ? "pass"
				    : "none",
		info->interrupted ? "true" : "false",
		info->stopped_outright ? "true" : "false");
	if (info->interrupted)
		fprintf(out, ",\n  \"signal\": \"%s\"",
			info->interrupted == SIGINT    ? "SIGINT"
			: info->interrupted == SIGTERM ? "SIGTERM"
			: info->interrupted == SIGHUP  ? "SIGHUP"
						       : "other");
	fprintf(out, ",\n  \"iterations\": %" PRIu64 ",\n  \"probe\": ",
		n == 1 ? r[0].v.iterations : iters);
	json_str(out, info->probe);
	json_put_str(out, ",\n  \"heap\": ", info->heap);
	json_put_num(out, ",\n  \"elapsed_s\": ", info->elapsed_s);
	fprintf(out,
		",\n  \"seed\": %" PRIu64
		",\n  \"executors\": %u,\n  \"tasks\": %u"
		",\n  \"warmup\": %" PRIu64 ",\n  \"limits\": {\"vsz_slope\": ",
		info->seed, info->executors, info->tasks, info->warmup);
	json_num(out, info->limits->vsz_slope);
	json_put_num(out, ", \"rss_slope\": ", info->limits->rss_slope);
	json_put_num(out, ", \"vsz_growth\": ", info->limits->vsz_growth);
	json_put_num(out, ", \"rss_growth\": ", info->limits->rss_growth);
	json_put_num(out, ", \"slope_floor\": ", info->limits->slope_floor);
	fputs("},\n  \"fd_growth\": ", out);
	json_fd_map(out, growth);
	/* For several scenarios: the worst slope, one check per scenario. */
	json_put_num(out, ",\n  \"vsz_slope_bytes_per_iter\": ", vs);
	json_put_num(out, ",\n  \"rss_slope_bytes_per_iter\": ", rs);
	json_put_num(out, ",\n  \"heap_growth_bytes_per_iter\": ", hb);
	json_put_num(out, ",\n  \"heap_growth_allocs_per_iter\": ", ha);
	fputs(",\n  \"checks\": ", out);
	if (n == 1) {
		json_checks(out, &r[0].v, "  ");
	} else {
		fputs("[", out);
		for (size_t i = 0; i < n; i++) {
			size_t failed = 0;
			for (size_t c = 0; c < r[i].v.nchecks; c++)
				failed += !r[i].v.checks[c].pass;
			fprintf(out, "%s\n    {\"name\": ", i ? "," : "");
			json_str(out, exs_scenario_name(r[i].scenario));
			fprintf(out,
				", \"pass\": %s, \"value\": %zu, \"limit\": 0}",
				r[i].v.leak ? "false" : "true", failed);
		}
		fputs("\n  ]", out);
	}
	fputs(",\n  \"scenarios\": [\n", out);
	for (size_t i = 0; i < n; i++) {
		json_scenario(out, info, &r[i]);
		fputs(i + 1 < n ? ",\n" : "\n", out);
	}
	fputs("  ]\n}\n", out);
	return ferror(out) ? -EIO : 0;
}

/* ---- JUnit ---- */

static void xml_str(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\n':
			fputs("&#10;", out);
			break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, out);
		}
	}
}

int exs_junit_write(FILE *out, const struct exs_run_info *info,
		    const struct exs_result *r, size_t n)
{
	size_t failures = 0, skipped = 0, errors = 0;
	for (size_t i = 0; i < n; i++) {
		failures += r[i].v.leak != 0;
		skipped += r[i].not_run != 0;
		/* interrupted: it did not finish, an error, never a pass */
		errors += !r[i].v.leak && !r[i].not_run && r[i].interrupted;
	}
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
	fprintf(out,
		"<testsuites name=\"exstress\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.3f\">\n",
		n, failures, errors, info->elapsed_s);
	fprintf(out,
		"  <testsuite name=\"exstress.%s\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
		"skipped=\"%zu\" time=\"%.3f\">\n",
		info->policy, n, failures, errors, skipped, info->elapsed_s);
	fprintf(out,
		"    <properties><property name=\"interrupted\" value=\"%s\"/></properties>\n",
		info->interrupted ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		const struct exs_verdict *v = &r[i].v;
		fprintf(out,
			"    <testcase classname=\"exstress.%s\" name=\"%s\" time=\"%.3f\">\n",
			info->policy, exs_scenario_name(r[i].scenario),
			r[i].elapsed_s);
		if (r[i].not_run) {
			fputs("      <skipped message=\"", out);
			xml_str(out, r[i].note);
			fputs("\"/>\n    </testcase>\n", out);
			continue;
		}
		if (v->leak) {
			char summary[1024];
			exs_verdict_summary(v, summary, sizeof(summary));
			char *text = NULL;
			size_t tlen = 0;
			FILE *m = open_memstream(&text, &tlen);
			if (m) {
				exs_verdict_print(m, v);
				fclose(m);
			}
			fputs("      <failure type=\"leak\" message=\"", out);
			xml_str(out, summary);
			fputs("\">", out);
			xml_str(out, text ? text : "");
			fputs("</failure>\n", out);
			free(text);
		}
		if (!v->leak && r[i].interrupted) {
			fputs("      <error type=\"interrupted\" message=\"",
			      out);
			xml_str(out, r[i].note);
			fputs("\"/>\n", out);
		}
		fprintf(out,
			"      <system-out>probe=%s heap=%s iterations=%" PRIu64
			" warmup=%" PRIu64,
			info->probe, info->heap, v->iterations, info->warmup);
		if (v->has_heap)
			fprintf(out,
				" heap_growth_bytes_per_iter=%.6g heap_growth_allocs_per_iter=%.6g",
				v->heap_bytes_per_iter,
				v->heap_allocs_per_iter);
		for (size_t c = 0; c < v->nchecks; c++)
			fprintf(out, " %s=%.6g(%s)", v->checks[c].name,
				v->checks[c].value,
				v->checks[c].pass ? "ok" : "FAIL");
		if (r[i].note[0]) {
			fputs(" note=", out);
			xml_str(out, r[i].note);
		}
		fputs("</system-out>\n    </testcase>\n", out);
	}
	fputs("  </testsuite>\n</testsuites>\n", out);
	return ferror(out) ? -EIO : 0;
}
