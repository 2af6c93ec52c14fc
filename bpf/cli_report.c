/*
 * fdtrack's reports: the text for a person and the JSON for tools (its keys
 * are described in the README). Per process, the counts add up:
 *   at start + opened (+ opened outside syscalls) - closed (- closed
 *   outside syscalls) = open at exit (or open now),
 * where "closed" excludes the closes the exit itself did: those are the
 * ones open at exit. Leaked = open at exit (or now) and opened after
 * tracking began; fds open since the start (inherited, or open before
 * fdtrack attached) are listed apart, as valgrind marks inherited fds.
 *
 * The JSON goes to FILE as outfile.h writes any output: through a
 * temporary beside a regular file, renamed over it when complete (FILE is
 * never partial), in place into anything else (a device, a FIFO, "-");
 * it is opened before attaching, so a FILE that cannot be written fails
 * first. Strings are valid UTF-8 in the JSON (json.h says how bytes that
 * are not are written) and escaped as ls -b does in the text, so no name
 * can forge a report line or reach the terminal as an escape sequence.
 *
 * Over 600 lines for a reason: the text and the JSON of one report stay
 * side by side, so that what one says the other cannot drift from.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdtrack_cli.h"
#include "json.h"

/* Text lines for processes that closed what they opened, at most. */
#define CLEAN_LINES_MAX 20

/* ---- text escaping ---------------------------------------------------- */

void cli_text_str(FILE *out, const char *s)
{
	for (; s && *s;) {
		unsigned char ch = (unsigned char)*s;
		int n = json_utf8_len(s);

		if (ch == '\\')
			fputs("\\\\", out);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch == '\r')
			fputs("\\r", out);
		else if (!n || ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\%03o", ch);
		else if (ch == 0xc2 && (unsigned char)s[1] < 0xa0) /* C1 */
			fprintf(out, "\\%03o\\%03o", ch, (unsigned char)s[1]);
		else
			fwrite(s, 1, (size_t)n, out);
		s += n ? n : 1;
	}
}

char *cli_text_dup(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m)
		return NULL;
	cli_text_str(m, s);
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* n strings escaped (NULL entries stay NULL); NULL when out of memory. */
static char **text_dup_all(char *const *v, size_t n)
{
	char **e = calloc(n ? n : 1, sizeof(*e));

	for (size_t i = 0; e && i < n; i++)
		if (v[i] && !(e[i] = cli_text_dup(v[i]))) {
			while (i--)
				free(e[i]);
			free(e);
			return NULL;
		}
	return e;
}

static void free_all(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* The library's group printer over escaped copies of every text a group
 * holds (frames name files and functions of the program; fd names are
 * whatever the program named its files). */
static void print_groups(FILE *out, const struct fdtrack_group *g, size_t n)
{
	struct fdtrack_group *e = calloc(n ? n : 1, sizeof(*e));
	size_t i;

	for (i = 0; e && i < n; i++) {
		char *name = cli_text_dup(g[i].name);

		e[i] = g[i];
		e[i].frames = text_dup_all(g[i].frames, g[i].nframes);
		e[i].fd_names = g[i].fd_names ? text_dup_all(g[i].fd_names,
							     g[i].count)
					      : NULL;
		if (name)
			snprintf(e[i].name, sizeof(e[i].name), "%s", name);
		free(name);
		if (!name || !e[i].frames || (g[i].fd_names && !e[i].fd_names))
			break;
	}
	if (e && i == n)
		fdtrack_print_groups(out, e, n);
	else
		fprintf(out, "fdtrack: out of memory printing the stacks\n");
	for (size_t j = 0; e && j < n && j <= i; j++) {
		free_all(e[j].frames, g[j].nframes);
		free_all(e[j].fd_names, g[j].count);
	}
	free(e);
}

/* ---- what a process left, in numbers --------------------------------- */

static uint64_t leaked_total(const struct fdtrack_counts *c)
{
	uint64_t n = 0;

	for (int k = 0; k < FDKIND_COUNT; k++)
		n += fdtrack_leaked(c, k);
	return n;
}

static bool kind_active(const struct fdtrack_counts *c, int k)
{
	return c->at_start[k] || c->opens[k] || c->closes[k] ||
	       c->opened_outside_syscalls[k] || c->closed_outside_syscalls[k];
}

static void add_counts(struct fdtrack_counts *sum,
		       const struct fdtrack_counts *c)
{
	for (int k = 0; k < FDKIND_COUNT; k++) {
		sum->opens[k] += c->opens[k];
		sum->closes[k] += c->closes[k];
		sum->live[k] += c->live[k];
		sum->closed_outside_syscalls[k] += c->closed_outside_syscalls[k];
		sum->opened_outside_syscalls[k] += c->opened_outside_syscalls[k];
		sum->at_start[k] += c->at_start[k];
		sum->open_at_exit[k] += c->open_at_exit[k];
		sum->open_since_start[k] += c->open_since_start[k];
		sum->open_std[k] += c->open_std[k];
		sum->suppressed[k] += c->suppressed[k];
	}
}

static void why(struct run_totals *t, const char *fmt, unsigned long long n,
		unsigned size)
{
	if (t->nwhy < sizeof(t->why_not_exact) / sizeof(t->why_not_exact[0]))
		snprintf(t->why_not_exact[t->nwhy++],
			 sizeof(t->why_not_exact[0]), fmt, n, size);
	t->exact = false;
}

static const struct stopped_proc *stopped_of(const struct run_info *ri,
					     pid_t pid)
{
	for (size_t i = 0; i < ri->nstopped; i++)
		if (ri->stopped[i].pid == pid)
			return &ri->stopped[i];
	return NULL;
}

/* Did p end without the chance to close its fds: still running when
 * fdtrack stopped watching (-p, -d), or killed by fdtrack's SIGKILL (-d
 * ended, or it outlived a stop signal's grace)? What it opened and still
 * held is then "still open", not leaked: a leak is an fd a process holds
 * when it exits by itself, as valgrind reports at exit. */
bool cli_cut_short(const struct fdtrack_process *p, const struct run_info *ri)
{
	const struct stopped_proc *sp = stopped_of(ri, p->pid);

	return !p->exited || (sp && sp->last_sig == SIGKILL);
}

/* Per kind, p's fds leaked and its fds still open (cli_cut_short). */
static void split_open(const struct fdtrack_process *p,
		       const struct run_info *ri, uint64_t *leaked,
		       uint64_t *still_open)
{
	bool cut = cli_cut_short(p, ri);

	for (int k = 0; k < FDKIND_COUNT; k++) {
		uint64_t n = fdtrack_leaked(&p->counts, k);

		leaked[k] = cut ? 0 : n;
		still_open[k] = cut ? n : 0;
	}
}

static uint64_t sum_kinds(const uint64_t *v)
{
	uint64_t n = 0;

	for (int k = 0; k < FDKIND_COUNT; k++)
		n += v[k];
	return n;
}

void run_totals_of(const struct fdtrack_counts *all,
		   const struct fdtrack_process *p, size_t np,
		   const struct run_info *ri, struct run_totals *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < np; i++) {
		uint64_t leaked[FDKIND_COUNT], still[FDKIND_COUNT];

		split_open(&p[i], ri, leaked, still);
		add_counts(&out->counts, &p[i].counts);
		for (int k = 0; k < FDKIND_COUNT; k++) {
			out->leaked_by_kind[k] += leaked[k];
			out->still_open_by_kind[k] += still[k];
		}
		out->leaked += sum_kinds(leaked);
		out->leaking += sum_kinds(leaked) > 0;
		out->still_open += sum_kinds(still);
		out->holding += sum_kinds(still) > 0;
		out->counts.running += p[i].counts.running;
	}
	out->counts.processes = np;
	out->counts.exited = all->exited;
	out->counts.lost_events = all->lost_events;
	out->counts.stacks_dropped = all->stacks_dropped;
	out->counts.fds_full = all->fds_full;
	out->counts.procs_full = all->procs_full;
	out->counts.races_lost = all->races_lost;
	out->counts.runs_missed = all->runs_missed;
	out->counts.unwinds_dropped = all->unwinds_dropped;
	out->counts.unwound = all->unwound;
	out->exact = true;
	if (all->fds_full)
		why(out,
		    "%llu fds not tracked: fdtrack's fd table (%u entries) "
		    "was full; raise it with --max-fds",
		    all->fds_full, ri->opts.max_fds);
	if (all->procs_full)
		why(out,
		    "%llu processes not followed: fdtrack's process table "
		    "(%u) was full; raise it with --max-procs",
		    all->procs_full, ri->opts.max_procs);
	if (all->stacks_dropped)
		why(out,
		    "%llu opens without their stack: fdtrack's stack table "
		    "(%u) was full; raise it with --max-stacks",
		    all->stacks_dropped, ri->opts.max_stacks);
	if (all->runs_missed)
		why(out,
		    "the kernel skipped %llu runs of fdtrack's programs "
		    "(preemptible syscall tracepoints): syscalls may be "
		    "missing",
		    (unsigned long long)all->runs_missed, 0);
}

/* ---- text ------------------------------------------------------------- */

/* "1 fd", "2 fds" */
static const char *fds_word(uint64_t n)
{
	return n == 1 ? "fd" : "fds";
}

/* The process pid of the report, if it exited with a status. */
static const struct fdtrack_process *
exited_proc(const struct fdtrack_process *p, size_t np, pid_t pid)
{
	for (size_t j = 0; j < np; j++)
		if (p[j].pid == pid && p[j].exited && p[j].has_status)
			return &p[j];
	return NULL;
}

/* "KILL" for SIGKILL. */
static const char *sig_abbrev(int sig)
{
	const char *name = sigabbrev_np(sig);

	return name ? name : "?";
}

/* "killed by signal 9 (SIGKILL)", for a wait() status. */
static void print_wait_status(FILE *out, int st)
{
	if (WIFSIGNALED(st))
		fprintf(out, "killed by signal %d (SIG%s)", WTERMSIG(st),
			sig_abbrev(WTERMSIG(st)));
	else
		fprintf(out, "exited with status %d", WEXITSTATUS(st));
}

static void print_status(FILE *out, const struct fdtrack_process *p,
			 const struct run_info *ri)
{
	const struct stopped_proc *sp = stopped_of(ri, p->pid);

	if (!p->exited)
		fprintf(out, "still running");
	else if (!p->has_status)
		fprintf(out, "exited");
	else
		print_wait_status(out, p->status);
	if (sp && p->exited)
		fprintf(out, ", stopped by fdtrack");
}

/* "A at start + O opened - C closed = N left open" for kind k: the one
 * balance the summary and the interval lines both print. Sums over
 * processes too: a running one has nothing open at exit, an exited one
 * nothing live, and "closed" never counts the closes the exit did. */
void cli_print_balance(FILE *out, const struct fdtrack_counts *c, int k,
		       bool all_exited)
{
	uint64_t open = c->live[k] + c->open_at_exit[k];
	uint64_t closed = c->closes[k] - c->open_at_exit[k];

	fprintf(out, "%llu at start + %llu opened",
		(unsigned long long)c->at_start[k],
		(unsigned long long)c->opens[k]);
	if (c->opened_outside_syscalls[k])
		fprintf(out, " + %llu opened outside syscalls",
			(unsigned long long)c->opened_outside_syscalls[k]);
	fprintf(out, " - %llu closed", (unsigned long long)closed);
	if (c->closed_outside_syscalls[k])
		fprintf(out, " - %llu closed outside syscalls",
			(unsigned long long)c->closed_outside_syscalls[k]);
	fprintf(out, " = %llu %s", (unsigned long long)open,
		all_exited ? "left open" : "open now");
}

/* "kind: A at start + O opened - C closed = N open at exit (L leaked)",
 * or "(L still open)" for a process cut short (cli_cut_short). */
static void print_kind_line(FILE *out, const struct fdtrack_counts *c, int k,
			    bool cut)
{
	uint64_t n = fdtrack_leaked(c, k);

	fprintf(out, "  %-15s ", fdkind_name(k));
	cli_print_balance(out, c, k, c->exited);
	if (n)
		fprintf(out, " (%llu %s)", (unsigned long long)n,
			cut ? "still open" : "leaked");
	fputc('\n', out);
}

bool cli_kind_active(const struct fdtrack_counts *c, int k)
{
	return kind_active(c, k);
}

static void print_process(FILE *out, const struct fdtrack_process *p,
			  const struct run_info *ri)
{
	const struct fdtrack_counts *c = &p->counts;
	bool cut = cli_cut_short(p, ri);

	fprintf(out, "fdtrack: pid %d", (int)p->pid);
	if (ri->follow)
		fprintf(out, " (parent %d)", (int)p->ppid);
	fprintf(out, " ");
	print_status(out, p, ri);
	fprintf(out, ": ");
	cli_text_str(out, p->cmdline ? p->cmdline : "?");
	fputc('\n', out);
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (kind_active(c, k))
			print_kind_line(out, c, k, cut);
	if (c->exited)
		fprintf(out, "  (\"left open\": open when it exited, closed "
			     "by the exit; \"closed\" does not count those)\n");
	if (cut && leaked_total(c))
		fprintf(out, "  (\"still open\": opened during the run and "
			     "still open when %s: not leaks, as a process "
			     "leaks only what it holds when it exits by itself)\n",
			c->exited ? "fdtrack killed it" : "fdtrack stopped watching");
	if (p->ngroups)
		fputc('\n', out);
	print_groups(out, p->groups, p->ngroups);
}

/* One line for a process with nothing to report. */
static void print_clean(FILE *out, const struct fdtrack_process *p,
			const struct run_info *ri)
{
	uint64_t opened = 0, std = 0, sup = 0;

	for (int k = 0; k < FDKIND_COUNT; k++) {
		opened += p->counts.opens[k];
		std += p->counts.open_std[k];
		sup += p->counts.suppressed[k];
	}
	fprintf(out, "fdtrack: pid %d (parent %d) ", (int)p->pid, (int)p->ppid);
	print_status(out, p, ri);
	if (std || sup)
		fprintf(out,
			", leaked none of the %llu %s it opened (%llu left "
			"at 0-2, stdin/stdout/stderr; %llu suppressed): ",
			(unsigned long long)opened, fds_word(opened),
			(unsigned long long)std, (unsigned long long)sup);
	else if (opened == 1)
		fprintf(out, ", closed the 1 fd it opened: ");
	else
		fprintf(out, ", closed all %llu fds it opened: ",
			(unsigned long long)opened);
	cli_text_str(out, p->cmdline ? p->cmdline : "?");
	fputc('\n', out);
}

/* The processes fdtrack stopped (a signal, or -d ended): what it sent
 * each and how each ended. */
static void print_stopped(FILE *out, const struct fdtrack_process *p, size_t np,
			  const struct run_info *ri)
{
	if (!ri->nstopped)
		return;
	fprintf(out, "fdtrack: stopped %zu process%s of the command (%s):\n",
		ri->nstopped, ri->nstopped == 1 ? "" : "es",
		ri->cmd_killed ? "the duration ended"
			       : "fdtrack was stopped by a signal");
	for (size_t i = 0; i < ri->nstopped; i++) {
		const struct stopped_proc *sp = &ri->stopped[i];
		const struct fdtrack_process *fp = exited_proc(p, np, sp->pid);
		fprintf(out, "  pid %d: sent SIG%s", (int)sp->pid,
			sig_abbrev(sp->first_sig));
		if (sp->last_sig != sp->first_sig)
			fprintf(out, ", then SIG%s", sig_abbrev(sp->last_sig));
		fprintf(out, "; ");
		if (sp->reaped)
			print_wait_status(out, sp->status);
		else if (fp)
			print_wait_status(out, fp->status);
		else
			fprintf(out, "ended (its parent reaped it)");
		fprintf(out, ": ");
		cli_text_str(out, sp->cmdline[0] ? sp->cmdline : "?");
		fputc('\n', out);
	}
}

static bool has_news(const struct fdtrack_process *p)
{
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (p->counts.opened_outside_syscalls[k] ||
		    p->counts.closed_outside_syscalls[k])
			return true;
	return leaked_total(&p->counts) > 0;
}

void text_report(FILE *out, const struct fdtrack_process *p, size_t np,
		 const struct run_totals *tot, const struct run_info *ri)
{
	uint64_t suppressed = 0;
	size_t clean = 0;

	if (!ri->opts.want_stacks)
		fprintf(out, "fdtrack: opening stacks are off (--no-stacks): "
			     "the fds below are listed without the stack "
			     "that opened them\n");
	for (size_t i = 0; i < np; i++) {
		if (!ri->follow || i == 0 || has_news(&p[i])) {
			print_process(out, &p[i], ri);
		} else if (clean++ < CLEAN_LINES_MAX) {
			print_clean(out, &p[i], ri);
		}
	}
	if (clean > CLEAN_LINES_MAX)
		fprintf(out,
			"fdtrack: ... and %zu more processes that leaked "
			"no fd\n",
			clean - CLEAN_LINES_MAX);
	print_stopped(out, p, np, ri);
	if (ri->follow)
		fprintf(out,
			"fdtrack: %zu process%s followed (%llu still "
			"running);",
			np, np == 1 ? "" : "es",
			(unsigned long long)tot->counts.running);
	else
		fprintf(out, "fdtrack:");
	if (tot->leaked)
		fprintf(out, " %llu %s leaked in %zu process%s",
			(unsigned long long)tot->leaked, fds_word(tot->leaked),
			tot->leaking, tot->leaking == 1 ? "" : "es");
	else
		fprintf(out, " no fd leaked");
	if (tot->still_open)
		fprintf(out,
			", %llu %s still open in %zu process%s fdtrack "
			"stopped or left running (not counted as leaks)",
			(unsigned long long)tot->still_open,
			fds_word(tot->still_open), tot->holding,
			tot->holding == 1 ? "" : "es");
	for (int k = 0; k < FDKIND_COUNT; k++)
		suppressed += tot->counts.suppressed[k];
	if (suppressed)
		fprintf(out, " (%llu suppressed)",
			(unsigned long long)suppressed);
	fprintf(out, "; lost events %llu, stacks dropped %llu\n",
		(unsigned long long)tot->counts.lost_events,
		(unsigned long long)tot->counts.stacks_dropped);
	for (size_t i = 0; i < tot->nwhy; i++)
		fprintf(out, "fdtrack: NOT EXACT: %s\n", tot->why_not_exact[i]);
	if (tot->counts.unwinds_dropped)
		fprintf(out,
			"fdtrack: %llu opens have frame-pointer frames only: "
			"more call paths behind one frame-pointer stack than "
			"fdtrack unwinds (%d), or its unwind tables were full\n",
			(unsigned long long)tot->counts.unwinds_dropped,
			FDT_VARIANTS_PUBLIC);
	if (tot->counts.races_lost)
		fprintf(out,
			"fdtrack: %llu closes lost the race for their fd "
			"number four times in a row and were counted as closed "
			"outside syscalls\n",
			(unsigned long long)tot->counts.races_lost);
	if (ri->interrupted)
		fprintf(out, "fdtrack: interrupted by signal %d\n",
			ri->interrupted);
}

/* ---- JSON ------------------------------------------------------------- */

/* The first JSON version's per-kind objects, for its readers: eventfd and
 * io_uring only (those tracked), over every process. */
static void json_legacy_kinds(FILE *f, const char *key, const uint64_t *v,
			      uint64_t kinds)
{
	const enum fdkind legacy[] = { FDKIND_EVENTFD, FDKIND_IO_URING };
	bool first = true;

	fprintf(f, "  \"%s\": {", key);
	for (size_t i = 0; i < 2; i++) {
		if (!(kinds & FDKIND_MASK(legacy[i])))
			continue;
		fprintf(f, "%s\"%s\": %llu", first ? "" : ", ",
			fdkind_name(legacy[i]),
			(unsigned long long)v[legacy[i]]);
		first = false;
	}
	fprintf(f, "},\n");
}

/* {"kind": {"at_start": .., ...}, ...} for the kinds with anything. */
static void json_by_kind(FILE *f, const struct fdtrack_counts *c,
			 const uint64_t *leaked, const uint64_t *still_open,
			 const char *indent)
{
	bool first = true;

	fprintf(f, "{");
	for (int k = 0; k < FDKIND_COUNT; k++) {
		if (!kind_active(c, k))
			continue;
		fprintf(f,
			"%s\n%s  \"%s\": {\"at_start\": %llu, \"opens\": %llu, "
			"\"closes\": %llu, \"open_at_exit\": %llu, \"live\": %llu, "
			"\"leaked\": %llu, \"still_open\": %llu, "
			"\"suppressed\": %llu, "
			"\"open_std\": %llu, "
			"\"opened_outside_syscalls\": %llu, "
			"\"closed_outside_syscalls\": %llu}",
			first ? "" : ",", indent, fdkind_name(k),
			(unsigned long long)c->at_start[k],
			(unsigned long long)c->opens[k],
			(unsigned long long)c->closes[k],
			(unsigned long long)c->open_at_exit[k],
			(unsigned long long)c->live[k],
			(unsigned long long)leaked[k],
			(unsigned long long)still_open[k],
			(unsigned long long)c->suppressed[k],
			(unsigned long long)c->open_std[k],
			(unsigned long long)c->opened_outside_syscalls[k],
			(unsigned long long)c->closed_outside_syscalls[k]);
		first = false;
	}
	fprintf(f, "%s%s}", first ? "" : "\n", first ? "" : indent);
}

static void json_group(FILE *f, const struct fdtrack_group *g,
		       const char *indent)
{
	fprintf(f, "%s{ \"pid\": %d, \"kind\": \"%s\", ", indent, (int)g->pid,
		fdkind_name(g->kind));
	if (g->kind == FDKIND_ANON) {
		json_put_str(f, "\"name\": ", g->name);
		fprintf(f, ", ");
	}
	fprintf(f, "\"count\": %u, \"fds\": [", g->count);
	for (unsigned i = 0; i < g->count; i++)
		fprintf(f, "%s%d", i ? ", " : "", g->fds[i]);
	fprintf(f, "], \"fd_names\": [");
	for (unsigned i = 0; i < g->count; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, g->fd_names ? g->fd_names[i] : NULL);
	}
	fprintf(f, "], \"stack\": [");
	for (unsigned j = 0; j < g->nframes; j++) {
		fprintf(f, "%s\n%s    ", j ? "," : "", indent);
		json_str(f, g->frames[j]);
	}
	fprintf(f, " ],\n%s  \"frames\": [", indent);
	for (unsigned j = 0; g->frame_info && j < g->nframes; j++) {
		const struct fdtrack_frame *fr = &g->frame_info[j];

		fprintf(f, "%s\n%s    {\"addr\": \"0x%llx\", \"symbol\": ",
			j ? "," : "", indent, (unsigned long long)fr->addr);
		json_str(f, fr->symbol);
		json_put_str(f, ", \"file\": ", fr->file);
		if (fr->line > 0)
			fprintf(f, ", \"line\": %d", fr->line);
		else
			fprintf(f, ", \"line\": null");
		json_put_str(f, ", \"module\": ", fr->module);
		fprintf(f, "}");
	}
	fprintf(f, " ]");
	/* why "stack" is empty: the user's --no-stacks, or not recorded
	 * (opened outside a syscall, or the stack table was full) */
	fprintf(f, ", \"stack_absent\": %s",
		g->nframes || g->at_start ? "null"
		: g->stacks_off		  ? "\"stacks_off\""
					  : "\"not_recorded\"");
	fprintf(f, ", \"frame_pointers_only\": %s }",
		g->frame_pointers_only ? "true" : "false");
}

/* Which list of a process's report a group is in. */
enum group_list {
	LEAKS,
	STILL_OPEN,
	SUPPRESSED,
	OPEN_STD,
	OPEN_SINCE_START
};

static enum group_list list_of(const struct fdtrack_group *g, bool cut)
{
	return g->at_start     ? OPEN_SINCE_START
	       : g->std	       ? OPEN_STD
	       : g->suppressed ? SUPPRESSED
	       : cut	       ? STILL_OPEN
			       : LEAKS;
}

/* The groups of p in one list. */
static void json_groups(FILE *f, const struct fdtrack_process *p, size_t np,
			const struct run_info *ri, enum group_list list,
			const char *indent)
{
	bool first = true;

	fprintf(f, "[");
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < p[i].ngroups; j++) {
			if (list_of(&p[i].groups[j], cli_cut_short(&p[i], ri)) !=
			    list)
				continue;
			fprintf(f, "%s\n", first ? "" : ",");
			json_group(f, &p[i].groups[j], indent);
			first = false;
		}
	fprintf(f, "%s%s]", first ? "" : "\n", first ? "" : indent + 2);
}

static void json_process(FILE *f, const struct fdtrack_process *p,
			 const struct run_info *ri)
{
	uint64_t leaked[FDKIND_COUNT], still[FDKIND_COUNT];

	split_open(p, ri, leaked, still);
	fprintf(f,
		"    { \"pid\": %d, \"ppid\": %d, \"command\": ", (int)p->pid,
		(int)p->ppid);
	json_str(f, p->cmdline);
	fprintf(f, ", \"exited\": %s", p->exited ? "true" : "false");
	if (p->exited && p->has_status && WIFSIGNALED(p->status))
		fprintf(f, ", \"exit_status\": null, \"signal\": %d",
			WTERMSIG(p->status));
	else if (p->exited && p->has_status)
		fprintf(f, ", \"exit_status\": %d, \"signal\": null",
			WEXITSTATUS(p->status));
	else
		fprintf(f, ", \"exit_status\": null, \"signal\": null");
	fprintf(f,
		", \"leaked\": %llu, \"still_open\": %llu,\n"
		"      \"by_kind\": ",
		(unsigned long long)sum_kinds(leaked),
		(unsigned long long)sum_kinds(still));
	json_by_kind(f, &p->counts, leaked, still, "      ");
	fprintf(f, ",\n      \"leaks\": ");
	json_groups(f, p, 1, ri, LEAKS, "        ");
	fprintf(f, ",\n      \"still_open\": ");
	json_groups(f, p, 1, ri, STILL_OPEN, "        ");
	fprintf(f, ",\n      \"suppressed\": ");
	json_groups(f, p, 1, ri, SUPPRESSED, "        ");
	fprintf(f, ",\n      \"open_std\": ");
	json_groups(f, p, 1, ri, OPEN_STD, "        ");
	fprintf(f, ",\n      \"open_since_start\": ");
	json_groups(f, p, 1, ri, OPEN_SINCE_START, "        ");
	fprintf(f, " }");
}

/* "exit_status": N, "signal": null (or the other way round) for a wait()
 * status; both null when not known. */
static void json_wait_status(FILE *f, bool known, int st)
{
	if (known && WIFSIGNALED(st))
		fprintf(f, "\"exit_status\": null, \"signal\": %d",
			WTERMSIG(st));
	else if (known)
		fprintf(f, "\"exit_status\": %d, \"signal\": null",
			WEXITSTATUS(st));
	else
		fprintf(f, "\"exit_status\": null, \"signal\": null");
}

/* "stopped_by_fdtrack": the processes of CMD's tree fdtrack signalled to
 * stop (a stop signal, or -d ended), the signals it sent and how each
 * ended (null when its own parent reaped it and fdtrack did not follow
 * it). */
static void json_stopped(FILE *f, const struct fdtrack_process *p, size_t np,
			 const struct run_info *ri)
{
	fprintf(f, "  \"duration_ended\": %s,\n  \"stopped_by_fdtrack\": [",
		ri->duration_ended ? "true" : "false");
	for (size_t i = 0; i < ri->nstopped; i++) {
		const struct stopped_proc *sp = &ri->stopped[i];
		const struct fdtrack_process *fp = exited_proc(p, np, sp->pid);
		fprintf(f, "%s\n    {\"pid\": %d, \"command\": ", i ? "," : "",
			(int)sp->pid);
		json_str(f, sp->cmdline[0] ? sp->cmdline : NULL);
		fprintf(f, ", \"signals_sent\": [%d", sp->first_sig);
		if (sp->last_sig != sp->first_sig)
			fprintf(f, ", %d", sp->last_sig);
		fprintf(f, "], ");
		json_wait_status(f, sp->reaped || fp,
				 sp->reaped ? sp->status
				 : fp	    ? fp->status
					    : 0);
		fprintf(f, "}");
	}
	fprintf(f, "%s],\n", ri->nstopped ? "\n  " : "");
}

static void json_body(FILE *f, const struct fdtrack_process *p, size_t np,
		      const struct run_totals *tot, const struct run_info *ri)
{
	const struct fdtrack_counts *c = &tot->counts;
	uint64_t left_open[FDKIND_COUNT];
	bool first = true;

	for (int k = 0; k < FDKIND_COUNT; k++)
		left_open[k] = c->open_at_exit[k] + c->live[k];
	fprintf(f,
		"{\n  \"version\": 2,\n  \"pid\": %d,\n  \"target_exited\": %s,\n",
		(int)ri->pid, c->exited ? "true" : "false");
	fprintf(f, "  \"interrupted\": %s,\n",
		ri->interrupted ? "true" : "false");
	if (ri->interrupted)
		fprintf(f, "  \"signal\": %d,\n", ri->interrupted);
	if (ri->cmd) {
		json_put_str(f, "  \"command\": ", ri->cmd[0]);
		fprintf(f, ",\n  \"command_status\": %d,\n", ri->cmd_status);
	}
	fprintf(f, "  \"follow\": %s,\n  \"kinds\": [",
		ri->follow ? "true" : "false");
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (ri->kinds & FDKIND_MASK(k)) {
			fprintf(f, "%s\"%s\"", first ? "" : ", ",
				fdkind_name(k));
			first = false;
		}
	fprintf(f, "],\n  \"suppressions\": [");
	for (size_t i = 0; ri->opts.suppress && ri->opts.suppress[i]; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, ri->opts.suppress[i]);
	}
	fprintf(f, "],\n  \"exact\": %s,\n  \"not_exact_because\": [",
		tot->exact ? "true" : "false");
	for (size_t i = 0; i < tot->nwhy; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, tot->why_not_exact[i]);
	}
	fprintf(f, "],\n");
	json_legacy_kinds(f, "opens", c->opens, ri->kinds);
	json_legacy_kinds(f, "closes", c->closes, ri->kinds);
	json_legacy_kinds(f, "open_at_exit", left_open, ri->kinds);
	json_legacy_kinds(f, "closed_outside_syscalls",
			  c->closed_outside_syscalls, ri->kinds);
	json_legacy_kinds(f, "opened_outside_syscalls",
			  c->opened_outside_syscalls, ri->kinds);
	json_legacy_kinds(f, "at_start", c->at_start, ri->kinds);
	fprintf(f,
		"  \"totals\": { \"processes\": %zu, \"running\": %llu, "
		"\"leaking_processes\": %zu, \"leaked\": %llu, "
		"\"still_open\": %llu,\n    \"by_kind\": ",
		np, (unsigned long long)c->running, tot->leaking,
		(unsigned long long)tot->leaked,
		(unsigned long long)tot->still_open);
	json_by_kind(f, c, tot->leaked_by_kind, tot->still_open_by_kind,
		     "    ");
	fprintf(f, " },\n  \"processes\": [\n");
	for (size_t i = 0; i < np; i++) {
		json_process(f, &p[i], ri);
		fprintf(f, "%s\n", i + 1 < np ? "," : "");
	}
	fprintf(f, "  ],\n");
	json_stopped(f, p, np, ri);
	/* fdtrack's own memory: after attaching, when tracing ended, after
	 * the report (symbolisation loads debug info) */
	fprintf(f,
		"  \"fdtrack_rss_kb\": {\"start\": %ld, \"traced\": %ld, "
		"\"end\": %ld, \"max\": %ld},\n",
		ri->rss_start, ri->rss_traced, ri->rss_end, ri->rss_max);
	fprintf(f,
		"  \"lost_events\": %llu,\n  \"stacks_dropped\": %llu,\n"
		"  \"stacks_unwound\": %llu,\n  \"unwinds_dropped\": %llu,\n"
		"  \"races_lost\": %llu,\n  \"runs_missed\": %llu,\n"
		"  \"still_open\": ",
		(unsigned long long)c->lost_events,
		(unsigned long long)c->stacks_dropped,
		(unsigned long long)c->unwound,
		(unsigned long long)c->unwinds_dropped,
		(unsigned long long)c->races_lost,
		(unsigned long long)c->runs_missed);
	json_groups(f, p, np, ri, STILL_OPEN, "    ");
	fprintf(f, ",\n  \"leaks\": ");
	json_groups(f, p, np, ri, LEAKS, "    ");
	fprintf(f, "\n}\n");
}

int json_report_write(struct outfile *out, const struct fdtrack_process *p,
		      size_t np, const struct run_totals *tot,
		      const struct run_info *ri)
{
	FILE *f = outfile_stream(out);
	char why[256];

	if (!f) {
		fprintf(stderr, "fdtrack: cannot write the JSON report to ");
		cli_text_str(stderr, out->path);
		fprintf(stderr, ": %s\n", strerror(errno));
		outfile_abort(out);
		return -1;
	}
	json_body(f, p, np, tot, ri);
	if (!outfile_commit(out, why, sizeof(why)))
		return 0;
	fprintf(stderr, "fdtrack: writing the JSON report to ");
	cli_text_str(stderr, out->path);
	fprintf(stderr, " failed: %s", why);
	if (out->kept) {
		fprintf(stderr, "; the finished report is in ");
		cli_text_str(stderr, out->kept);
	}
	fputc('\n', stderr);
	outfile_abort(out);
	return -1;
}
