/*
 * One scenario's run: the baseline sample, the iterations with a sample
 * after each (folded into the verdict as they come), the last sample
 * reconciled, and the report on stderr.
 *
 * What a run stopped outright must still write (the CSV, the folds, the
 * last sample) changes only under the state lock (main.c), taken between
 * iterations and never while one runs: exs_run_snapshot() reads it from
 * the signal thread while this one may be stuck inside an iteration.
 *
 * Over 600 lines for a reason: the run, its snapshot and its report all
 * read one struct scenario_run, which stays private to this file.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "run.h"

/* fdtrack's task_file snapshot runs at the baseline, the reference, the
 * last sample, every this many iterations, and whenever fdtrack's live
 * counts differ from /proc's (exs_probe_sample). */
#define RECONCILE_EVERY 256

static int take_sample(struct ctx *c, struct exs_sample *s, uint64_t iteration,
		       enum exs_phase phase, int reconcile, double t0,
		       char *msg, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->iteration = iteration;
	s->phase = phase;
	if (c->heap) {
		struct exs_heap_counts h;
		exs_heap_read(&h);
		s->has_heap = 1;
		s->heap_bytes = h.bytes;
		s->heap_allocs = h.allocs;
	}
	int rc = exs_sampler_read(&c->sampler, s);
	if (rc) {
		snprintf(msg, len, "reading /proc/self: %s", strerror(-rc));
		return rc;
	}
	if (c->probe && (rc = exs_probe_sample(c->probe, s, reconcile))) {
		snprintf(msg, len, "reading fdtrack: %s", strerror(-rc));
		return rc;
	}
	s->elapsed_ms = (mono_s() - t0) * 1000.0;
	return 0;
}

static void progress_line(struct ctx *c, enum exs_scenario sc, uint64_t i,
			  uint64_t total, double rate,
			  const struct exs_sample *s)
{
	char vsz[32];
	exs_fmt_bytes((double)s->vsz_bytes, vsz, sizeof(vsz));
	if (total)
		fprintf(stderr,
			"\r%s [%s] iteration %" PRIu64 "/%" PRIu64
			"  %.0f it/s  eventfd %" PRId64 "  io_uring %" PRId64
			"  VSZ %s\033[K",
			exs_scenario_name(sc), exs_target_label(c->target), i,
			total, rate, s->fds[FDKIND_EVENTFD],
			s->fds[FDKIND_IO_URING], vsz);
	else
		fprintf(stderr,
			"\r%s [%s] iteration %" PRIu64
			"  %.0f it/s  eventfd %" PRId64 "  io_uring %" PRId64
			"  VSZ %s\033[K",
			exs_scenario_name(sc), exs_target_label(c->target), i,
			rate, s->fds[FDKIND_EVENTFD], s->fds[FDKIND_IO_URING],
			vsz);
}

/* The state of one scenario's run. No sample is kept: the verdict is
 * folded in as they come (stats.c). `last` is the newest measured sample,
 * added to the fold only when the next one arrives, so that the final one
 * can still be reconciled first. */
struct scenario_run {
	enum exs_scenario sc;
	const char *name, *policy;
	struct exs_sample cur, last;
	struct exs_verdict_acc acc;
	int have_last;
	size_t n;	   /* samples taken, the baseline included */
	uint64_t total;	   /* iterations to run; 0 = until the duration */
	uint64_t csv_last; /* iteration of the last CSV row written */
	double t0, measure_t0;
	uint64_t failed_iteration; /* the iteration that could not run, or 0 */
	struct rex_teardown_totals teardown_ref; /* at the reference sample */
	int failed_errno;
	struct exs_sample baseline;
	/* the warm-up's fds against the baseline: if they ran out before
	 * the first measured iteration, was it this scenario's leak? */
	struct exs_verdict_acc warm;
	int64_t fd_budget; /* fds it may leak before it stops */
	char msg[512];
};

/* The scenario in progress (state lock). */
static struct scenario_run *running;

/* s with only what the warm-up can judge: fds (and fdtrack's); the heap
 * and memory are those of the baseline, as one-time allocations are no
 * leak. */
static struct exs_sample fds_only(const struct exs_sample *s,
				  const struct exs_sample *baseline)
{
	struct exs_sample f = *s;

	f.has_heap = 0;
	f.vsz_bytes = baseline->vsz_bytes;
	f.rss_bytes = baseline->rss_bytes;
	return f;
}

static int write_csv_row(struct ctx *c, struct scenario_run *run,
			 const struct exs_sample *s)
{
	if (exs_csv_row(c->csv, run->name, run->policy, s) == 0) {
		run->csv_last = s->iteration;
		return 0;
	}
	snprintf(run->msg, sizeof(run->msg), "writing %s: %s", c->o->csv_path,
		 strerror(errno));
	return -1;
}

static int loop_done(const struct exs_options *o,
		     const struct scenario_run *run, uint64_t i)
{
	if (run->total)
		return i > run->total;
	return i > o->warmup && run->measure_t0 > 0 &&
	       mono_s() - run->measure_t0 >= o->duration_s;
}

static int64_t fds_total(const struct exs_sample *s)
{
	int64_t n = 0;
	for (int k = 0; k < FDKIND_COUNT; k++)
		n += s->fds[k];
	return n;
}

/* fds leak for good in this process (the runtime under test never closes
 * them), so with --scenario all a scenario that leaks must not take the
 * fds the ones after it need: once its leak is established (an fd count
 * off the reference) and its fds grew by its share, it stops, with its
 * verdict. A single scenario runs on until the fds run out, the way issue
 * 448 was reported (that is a leak verdict too). */
static int over_fd_budget(const struct scenario_run *run)
{
	int leaking = 0;
	for (int k = 0; k < FDKIND_COUNT; k++)
		leaking |= run->cur.fds[k] != run->acc.ref.fds[k];
	return leaking && fds_total(&run->cur) - fds_total(&run->baseline) >=
				  run->fd_budget;
}

/* With --scenario all, a leaking scenario stops once it leaked this many
 * fds: the leak is beyond doubt by then, and each sample reads every open
 * fd, so thousands of leaked fds would make the later scenarios crawl. */
#define ALL_LEAK_CAP 512

/* With --scenario all: this scenario's share of the fds left (what the
 * limit leaves after the fds open now and a reserve for one iteration's
 * own, split between it and the scenarios still to run), at most
 * ALL_LEAK_CAP. Otherwise no bound. */
static int64_t fd_budget(const struct ctx *c, const struct exs_sample *baseline)
{
	struct rlimit rl;
	if (c->o->scenario != EXS_SC_ALL)
		return INT64_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return ALL_LEAK_CAP;
	int64_t reserve = 8 * (int64_t)c->o->executors + 32;
	int64_t left = (int64_t)rl.rlim_cur - fds_total(baseline) - reserve;
	unsigned share = c->scenarios_left ? c->scenarios_left : 1;
	int64_t budget = left > 0 ? left / share : 0;
	return budget < ALL_LEAK_CAP ? budget : ALL_LEAK_CAP;
}

/* Does iteration i record the stacks of its allocations (--heap-stacks)? */
static int heap_tracked(const struct exs_options *o,
			const struct scenario_run *run, uint64_t i)
{
	if (i <= o->warmup || o->heap_stacks == EXS_HEAP_STACKS_OFF)
		return 0;
	if (o->heap_stacks == EXS_HEAP_STACKS_ALL)
		return 1;
	return i <= o->warmup + EXS_HEAP_WINDOW ||
	       (run->total && i + EXS_HEAP_WINDOW > run->total);
}

/* Folds the samples added so far into res->v. */
static void end_verdict(struct ctx *c, struct scenario_run *run,
			struct exs_result *res)
{
	exs_state_lock();
	if (run->have_last)
		exs_verdict_add(&run->acc, &run->last);
	run->have_last = 0;
	exs_verdict_end(&run->acc, &c->o->limits, &res->v);
	exs_state_unlock();
}

/* The sample of iteration i (run->cur): its CSV row, the folds. Under the
 * state lock. 0, or -1 (run->msg says why). */
static int record_sample(struct ctx *c, struct scenario_run *run, uint64_t i)
{
	const struct exs_options *o = c->o;

	if (c->csv &&
	    (i % o->sample_every == 0 || i == o->warmup || i == run->total) &&
	    write_csv_row(c, run, &run->cur))
		return -1;
	run->n++;
	if (i <= o->warmup) {
		struct exs_sample f = fds_only(&run->cur, &run->baseline);
		exs_verdict_add(&run->warm, &f);
	}
	if (i == o->warmup) {
		run->measure_t0 = mono_s();
		rex_teardown_totals(&run->teardown_ref);
		exs_verdict_begin(&run->acc, &run->cur);
	} else if (i > o->warmup) {
		if (run->have_last)
			exs_verdict_add(&run->acc, &run->last);
		run->have_last = 1;
	}
	run->last = run->cur;
	return 0;
}

/* Did the warm-up's fds grow from the baseline (this scenario leaking
 * them, not the limit being too small for one iteration)? */
static int warmup_leaked(const struct scenario_run *run)
{
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (run->last.fds[k] > run->baseline.fds[k])
			return 1;
	return 0;
}

/* Iterations until the count, the duration or a signal. Returns 0, 1 when
 * the runtime could not go on because fds leaked (res->v holds that leak
 * verdict), or -1 on an environment error (run->msg says what). */
static int measure(struct ctx *c, struct scenario_run *run,
		   struct exs_result *res)
{
	struct exs_options *o = c->o;
	double last_draw = run->t0;
	uint64_t last_i = 0;

	for (uint64_t i = 1;; i++) {
		if (exs_stopping()) {
			res->interrupted = 1;
			return 0;
		}
		if (loop_done(o, run, i))
			return 0;
		int track = heap_tracked(o, run, i);
		if (track)
			exs_heap_track(1);
		int rc = exs_target_iteration(c->target, run->sc, i, run->msg,
					      sizeof(run->msg));
		if (!rc)
			exs_test_fault_inject(i);
		if (track)
			exs_heap_track(0);
		exs_watchdog_progress(run->name);
		if (rc) {
			/* Out of fds because fds leaked, or of memory because
			 * memory leaked (glommio-448 under ulimit -v): that is
			 * the verdict, not an environment problem, when the
			 * samples so far show the leak; fds in the warm-up
			 * too (judged against the baseline there). */
			int emfile = rc == -EMFILE || rc == -ENFILE;
			if ((emfile || rc == -ENOMEM) &&
			    run->n > o->warmup + 1) {
				end_verdict(c, run, res);
				if (res->v.leak) {
					snprintf(res->note, sizeof(res->note),
						 "stopped at iteration %" PRIu64
						 ": %s",
						 i, run->msg);
					return 1;
				}
			} else if (emfile && warmup_leaked(run)) {
				exs_state_lock();
				exs_verdict_end(&run->warm, &o->limits,
						&res->v);
				exs_state_unlock();
				res->warmup_leak = 1;
				snprintf(res->note, sizeof(res->note),
					 "stopped at iteration %" PRIu64
					 ", in the warm-up: %s; the fds it "
					 "leaked since the baseline took the "
					 "limit",
					 i, run->msg);
				return 1;
			}
			run->failed_iteration = i;
			run->failed_errno = rc == -EMFILE || rc == -ENFILE
						    ? EMFILE
						    : -rc;
			return -1;
		}
		enum exs_phase ph = i <= o->warmup ? EXS_PHASE_WARMUP
						   : EXS_PHASE_MEASURE;
		int reconcile = i % RECONCILE_EVERY == 0 || i == o->warmup ||
				i == run->total;
		if (take_sample(c, &run->cur, i, ph, reconcile, run->t0,
				run->msg, sizeof(run->msg)))
			return -1;
		exs_state_lock();
		rc = record_sample(c, run, i);
		exs_state_unlock();
		if (rc)
			return -1;
		if (i > o->warmup && over_fd_budget(run)) {
			struct rlimit rl;
			char why[128];
			getrlimit(RLIMIT_NOFILE, &rl);
			if (run->fd_budget == ALL_LEAK_CAP)
				snprintf(why, sizeof(why),
					 "the most one scenario of --scenario all "
					 "may leak");
			else
				snprintf(why, sizeof(why),
					 "its share of RLIMIT_NOFILE=%llu",
					 (unsigned long long)rl.rlim_cur);
			/* the lines below count from the reference (the
			 * end of warm-up): say what warm-up left too */
			int64_t all = fds_total(&run->cur) -
				      fds_total(&run->baseline),
				measured = fds_total(&run->cur) -
					   fds_total(&run->acc.ref);
			snprintf(res->note, sizeof(res->note),
				 "stopped at iteration %" PRIu64
				 ": the leak is established, %" PRId64
				 " fds open more than at the scenario's start, "
				 "%" PRId64 " of them from its %" PRIu64
				 " warm-up iterations and %" PRId64
				 " from the %" PRIu64
				 " measured ones (%s)",
				 i, all, all - measured, o->warmup, measured,
				 i - o->warmup, why);
			return 0;
		}
		if (c->progress && mono_s() - last_draw >= 0.25) {
			double t = mono_s();
			progress_line(c, run->sc, i, run->total,
				      (double)(i - last_i) / (t - last_draw),
				      &run->cur);
			last_draw = t;
			last_i = i;
		}
	}
}

/* The last sample is always reconciled (--duration, a signal or the sample
 * bound ended the loop early: still the same boundary, as no iteration ran
 * since its /proc counts were read) and always has its CSV row. */
static int finish_samples(struct ctx *c, struct scenario_run *run,
			  struct exs_result *res)
{
	int rc = 0;

	if (c->probe && !res->v.nchecks && !run->last.bpf.reconciled) {
		struct exs_sample last = run->last;
		if ((rc = exs_probe_sample(c->probe, &last, 1))) {
			snprintf(run->msg, sizeof(run->msg),
				 "reading fdtrack: %s", strerror(-rc));
			return -1;
		}
		exs_state_lock();
		run->last = last;
		exs_state_unlock();
	}
	exs_state_lock();
	if (c->csv && run->n > 1 && run->last.iteration != run->csv_last)
		rc = write_csv_row(c, run, &run->last);
	exs_state_unlock();
	return rc;
}

int exs_run_snapshot(struct ctx *c, struct exs_result *res)
{
	struct scenario_run *run = running;

	if (!run)
		return 0;
	memset(res, 0, sizeof(*res));
	res->scenario = run->sc;
	res->interrupted = res->stopped_hard = 1;
	res->elapsed_s = mono_s() - run->t0;
	if (run->n > c->o->warmup + 1) {
		/* a copy: the fold itself stays as the main thread left it */
		struct exs_verdict_acc acc = run->acc;
		if (run->have_last)
			exs_verdict_add(&acc, &run->last);
		exs_verdict_end(&acc, &c->o->limits, &res->v);
	} else {
		res->no_verdict = 1;
	}
	/* (its own msg is the main thread's: no write_csv_row) */
	if (c->csv && run->last.iteration != run->csv_last &&
	    !exs_csv_row(c->csv, run->name, run->policy, &run->last))
		run->csv_last = run->last.iteration;
	snprintf(res->note, sizeof(res->note),
		 "stopped outright after iteration %" PRIu64
		 " (a second signal, or the run still going after the "
		 "first): %s",
		 run->last.iteration,
		 run->n > c->o->warmup + 1
			 ? "the verdict over the samples taken"
			 : "during the warm-up, no verdict");
	return 1;
}

/* One call stack of the heap report, named: up to main() or the thread's
 * start routine, as valgrind shows them. */
struct named_site {
	uint64_t bytes, count;
	char text[1536];
};

static void name_site(const struct exs_heap_site *site, struct named_site *out)
{
	size_t used = 0;

	out->bytes = site->bytes;
	out->count = site->count;
	out->text[0] = '\0';
	for (unsigned f = 0; f < site->nframes; f++) {
		char line[512];
		if (exs_symbolize(site->frames[f], line, sizeof(line)) != 0 ||
		    strncmp(line, "start_thread ", 13) == 0 ||
		    strncmp(line, "__libc_start", 12) == 0)
			break;
		int n = snprintf(out->text + used, sizeof(out->text) - used,
				 "     %s %s\n", f ? "by" : "at", line);
		if (n < 0 || (size_t)n >= sizeof(out->text) - used)
			break;
		used += (size_t)n;
		if (strncmp(line, "main ", 5) == 0)
			break;
	}
}

/* Most allocations first (the leaked objects), then most bytes. */
static int named_site_cmp(const void *a, const void *b)
{
	const struct named_site *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Where the heap growth was allocated: the tracked allocations still
 * live, by call stack (heap.c); stacks that read the same are merged. */
static void report_heap_sites(const struct exs_options *o)
{
	struct exs_heap_site *sites;
	struct exs_heap_counts left;
	size_t n, m = 0;
	char bytes[32];

	if (o->heap_stacks == EXS_HEAP_STACKS_OFF) {
		fprintf(stderr,
			"  (no allocation stacks: --heap-stacks off)\n");
		return;
	}
	if (exs_heap_sites(&sites, &n, &left) != 0)
		return;
	struct named_site *named = calloc(n ? n : 1, sizeof(*named));
	if (!named) {
		exs_heap_sites_free(sites, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct named_site ns;
		size_t j;
		name_site(&sites[i], &ns);
		for (j = 0; j < m && strcmp(named[j].text, ns.text) != 0; j++)
			;
		if (j == m)
			named[m++] = ns;
		else {
			named[j].bytes += ns.bytes;
			named[j].count += ns.count;
		}
	}
	exs_heap_sites_free(sites, n);
	qsort(named, m, sizeof(*named), named_site_cmp);
	exs_fmt_bytes((double)left.bytes, bytes, sizeof(bytes));
	if (o->heap_stacks == EXS_HEAP_STACKS_ALL)
		fprintf(stderr,
			"  allocations made during the measured iterations");
	else
		fprintf(stderr,
			"  allocations made during the first and last %d measured iterations",
			EXS_HEAP_WINDOW);
	fprintf(stderr, " and still live (%" PRId64 ", %s), by call stack:\n",
		left.allocs, bytes);
	if (m == 0)
		fprintf(stderr,
			"    none: the growth came from iterations whose allocations were "
			"not tracked (--heap-stacks all tracks every one)\n");
	for (size_t i = 0; i < m && i < 5; i++) {
		exs_fmt_bytes((double)named[i].bytes, bytes, sizeof(bytes));
		fprintf(stderr,
			"  %" PRIu64 " allocation%s, %s, allocated at:\n%s",
			named[i].count, named[i].count == 1 ? "" : "s", bytes,
			named[i].text);
	}
	if (m > 5)
		fprintf(stderr, "  (and %zu more call stacks)\n", m - 5);
	if (left.untracked)
		fprintf(stderr,
			"  (%" PRIu64
			" allocations were not tracked: the table was full)\n",
			left.untracked);
	free(named);
}

static void report_leak(struct ctx *c, const struct scenario_run *run,
			const struct exs_result *res, double rate)
{
	const struct exs_verdict *v = &res->v;
	char summary[1024];

	exs_verdict_summary(v, summary, sizeof(summary));
	if (res->warmup_leak)
		fprintf(stderr,
			"exstress: %s [%s]: LEAK during the warm-up, over %" PRIu64
			" iterations from the baseline (%.0f it/s); %s\n",
			run->name, run->policy, v->iterations, rate, res->note);
	else
		fprintf(stderr,
			"exstress: %s [%s]: LEAK over %" PRIu64
			" iterations after %" PRIu64
			" warm-up (%.0f it/s)%s%s\n",
			run->name, run->policy, v->iterations, c->o->warmup,
			rate, res->note[0] ? "; " : "", res->note);
	exs_verdict_print(stderr, v);
	uint64_t leaked_kinds = 0;
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (v->fd_max_dev[k])
			leaked_kinds |= FDKIND_MASK(k);
	int fd_leak = leaked_kinds != 0;
	if (c->probe && fd_leak) {
		/* fdtrack lists every live fd: say which part the verdict
		 * counted, so the numbers below add up */
		const struct exs_sample *ref = &run->acc.ref,
					*last = &run->last;
		for (int k = 0; k < FDKIND_COUNT; k++) {
			if (!v->fd_max_dev[k])
				continue;
			if (res->warmup_leak) {
				fprintf(stderr,
					"  %s: %" PRId64 " open now = %" PRId64
					" at the start of the scenario + %" PRId64
					" during the warm-up\n",
					fdkind_name(k), last->fds[k],
					run->baseline.fds[k],
					last->fds[k] - run->baseline.fds[k]);
				continue;
			}
			fprintf(stderr,
				"  %s: %" PRId64 " open now = %" PRId64
				" at the start of the "
				"scenario + %" PRId64
				" during the warm-up + %" PRId64 " during the "
				"measured iterations\n",
				fdkind_name(k), last->fds[k],
				run->baseline.fds[k],
				ref->fds[k] - run->baseline.fds[k],
				last->fds[k] - ref->fds[k]);
		}
		fprintf(stderr,
			"  where the live fds of those kinds were opened (fdtrack):\n");
		exs_probe_print_live(c->probe, stderr, leaked_kinds);
	} else if (fd_leak) {
		fprintf(stderr,
			"  (no opening stacks: fdtrack is off; run with --probe require as root)\n");
	}
	if (v->has_heap && (v->heap_max_dev_bytes || v->heap_max_dev_allocs))
		report_heap_sites(c->o);
}

static void report_pass(const struct scenario_run *run,
			const struct exs_result *res, double rate)
{
	const struct exs_verdict *v = &res->v;
	char vs[32], rs[32], fds[512] = "";
	size_t n = 0;

	/* eventfd and io_uring, and every other kind held */
	for (int k = 0; k < FDKIND_COUNT && n < sizeof(fds); k++)
		if (run->last.fds[k] || k == FDKIND_EVENTFD ||
		    k == FDKIND_IO_URING)
			n += (size_t)snprintf(fds + n, sizeof(fds) - n,
					      "%s%s %" PRId64, n ? " " : "",
					      fdkind_name(k), run->last.fds[k]);
	exs_fmt_bytes(v->vsz_slope, vs, sizeof(vs));
	exs_fmt_bytes(v->rss_slope, rs, sizeof(rs));
	fprintf(stderr,
		"exstress: %s [%s]: pass, %" PRIu64
		" iterations (%.0f it/s); fds %s (= reference "
		"at every iteration); %sVSZ slope %s/iter, RSS slope %s/iter%s%s\n",
		run->name, run->policy, v->iterations, rate, fds,
		v->has_heap ? "heap = reference at every iteration; " : "", vs,
		rs, res->note[0] ? "; " : "", res->note);
}

/* The scenario is over: its result joins the finished ones. */
static int publish(struct ctx *c, const struct exs_result *res, int status)
{
	exs_state_lock();
	c->results[c->nres++] = *res;
	running = NULL;
	exs_state_unlock();
	return status;
}

/* Returns EXS_EXIT_PASS/LEAK with c->results[c->nres++] filled, or
 * EXS_EXIT_USAGE after printing why. */
int exs_run_scenario(struct ctx *c, enum exs_scenario sc)
{
	struct exs_options *o = c->o;
	struct scenario_run run = {
		.sc = sc,
		.name = exs_scenario_name(sc),
		.policy = exs_target_label(c->target),
		.total = o->duration_s > 0 ? 0 : o->warmup + o->iterations,
		.t0 = mono_s(),
	};
	/* static: big, and one scenario runs at a time */
	static struct exs_result result;
	struct exs_result *res = &result;
	int rc;

	memset(res, 0, sizeof(*res));
	res->scenario = sc;
	(void)exs_target_take_parked(c->target);
	exs_heap_track_reset();
	if (take_sample(c, &run.cur, 0, EXS_PHASE_BASELINE, 1, run.t0, run.msg,
			sizeof(run.msg)))
		goto env_error;
	exs_state_lock();
	rc = c->csv ? write_csv_row(c, &run, &run.cur) : 0;
	run.n = 1;
	run.last = run.cur;
	run.baseline = run.cur;
	run.fd_budget = fd_budget(c, &run.cur);
	rex_teardown_totals(&run.teardown_ref);
	exs_verdict_begin(&run.warm, &run.cur);
	if (o->warmup == 0) {
		run.measure_t0 = run.t0;
		exs_verdict_begin(&run.acc, &run.cur);
	}
	running = &run;
	exs_state_unlock();
	if (rc)
		goto env_error;

	rc = measure(c, &run, res);
	if (c->progress)
		fputs("\r\033[K", stderr);
	if (rc < 0)
		goto env_error;
	if (finish_samples(c, &run, res))
		goto env_error;
	if (res->interrupted)
		snprintf(res->note, sizeof(res->note),
			 "interrupted by %s after %" PRIu64 " iterations",
			 exs_stop_signal() == SIGTERM  ? "SIGTERM"
			 : exs_stop_signal() == SIGHUP ? "SIGHUP"
						       : "SIGINT",
			 run.last.iteration);
	if (run.n <= o->warmup + 1 && res->interrupted) {
		/* Nothing measured yet: no verdict. */
		res->no_verdict = 1;
		res->elapsed_s = mono_s() - run.t0;
		fprintf(stderr,
			"exstress: %s [%s]: %s, during the warm-up: no verdict\n",
			run.name, run.policy, res->note);
		return publish(c, res, EXS_EXIT_PASS);
	}
	if (run.n <= o->warmup && !res->warmup_leak) {
		snprintf(run.msg, sizeof(run.msg),
			 "no iteration after the warm-up");
		goto env_error;
	}
	if (!res->v.nchecks)
		end_verdict(c, &run, res);
	res->elapsed_s = mono_s() - run.t0;
	res->parked_per_iter = (double)exs_target_take_parked(c->target) /
			       (double)(run.n - 1);
	struct rex_teardown_totals td;
	rex_teardown_totals(&td);
	res->tasks_destroyed = td.tasks_destroyed -
			       run.teardown_ref.tasks_destroyed;
	res->tasks_left = td.tasks_left - run.teardown_ref.tasks_left;
	res->bytes_left = td.bytes_left - run.teardown_ref.bytes_left;
	if (res->v.bpf_lost)
		snprintf(res->note + strlen(res->note),
			 sizeof(res->note) - strlen(res->note),
			 "%sfdtrack lost %" PRIu64 " events",
			 res->note[0] ? "; " : "", res->v.bpf_lost);
	if (res->v.bpf_runs_missed)
		snprintf(res->note + strlen(res->note),
			 sizeof(res->note) - strlen(res->note),
			 "%sthe kernel skipped %" PRIu64
			 " runs of fdtrack's programs (docs/design.md 4.1b): "
			 "its counts were judged within that",
			 res->note[0] ? "; " : "", res->v.bpf_runs_missed);

	double rate = (double)(run.n - 1) /
		      (res->elapsed_s > 0 ? res->elapsed_s : 1);
	if (res->v.leak) {
		report_leak(c, &run, res, rate);
		return publish(c, res, EXS_EXIT_LEAK);
	}
	if (!o->quiet)
		report_pass(&run, res, rate);
	return publish(c, res, EXS_EXIT_PASS);

env_error:
	exs_state_lock();
	running = NULL;
	exs_state_unlock();
	if (run.failed_iteration && run.failed_errno == EMFILE)
		snprintf(run.msg + strlen(run.msg),
			 sizeof(run.msg) - strlen(run.msg), "; %s",
			 c->leaked_before
				 ? "the fds leaked by the scenarios before it took them"
				 : "raise ulimit -n");
	if (run.failed_iteration)
		fprintf(stderr,
			"exstress: %s [%s], iteration %" PRIu64 ": %s\n",
			run.name, run.policy, run.failed_iteration, run.msg);
	else
		fprintf(stderr, "exstress: %s [%s]: %s\n", run.name, run.policy,
			run.msg);
	return EXS_EXIT_USAGE;
}
