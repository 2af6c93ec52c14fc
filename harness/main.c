/* exstress: the run loop, the progress line, reports and exit codes. */
#include "clock.h"
#include "exstress.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef EXS_TEST_FAULTS
#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#endif

#define WATCHDOG_S 120 /* an iteration that takes this long is a hang */
/* fdtrack's task_file snapshot runs at the baseline, the reference, the
 * last sample, every this many iterations, and whenever fdtrack's live
 * counts differ from /proc's (exs_probe_sample). */
#define RECONCILE_EVERY 256

/* ---- watchdog: a hung iteration must not hang CI ---------------------------- */

static atomic_uint_fast64_t wd_progress;
static const char *wd_scenario = "";

static void *watchdog(void *arg)
{
	(void)arg;
	uint_fast64_t last = atomic_load(&wd_progress);
	unsigned idle = 0;
	for (;;) {
		sleep(1);
		uint_fast64_t cur = atomic_load(&wd_progress);
		if (cur != last) {
			last = cur;
			idle = 0;
			continue;
		}
		if (++idle >= WATCHDOG_S) {
			char buf[256];
			int n = snprintf(buf, sizeof(buf),
					 "\nexstress: scenario %s: an iteration has not finished after %d s "
					 "(a hang in the runtime?); giving up\n",
					 wd_scenario, WATCHDOG_S);
			if (n > 0 && write(2, buf, (size_t)n) < 0)
				_exit(EXS_EXIT_USAGE);
			_exit(EXS_EXIT_USAGE);
		}
	}
	return NULL;
}

/* ---- SIGINT/SIGTERM: stop cleanly ------------------------------------------------ */

/* Both are blocked in every thread (the runtime's threads inherit the mask
 * from main, so no syscall of theirs sees EINTR); this thread takes them
 * with sigwait and sets stop_signal, which the run loop checks between
 * iterations. The run then writes its outputs over the samples taken and
 * exits 128 + signal. A second signal, or a run that has not finished
 * GRACE_S after the first, ends the process at once. */
#define GRACE_S 5
static atomic_int stop_signal;

static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	if (sigwait(set, &sig) != 0)
		return NULL;
	atomic_store(&stop_signal, sig);
	struct timespec grace = { GRACE_S, 0 };
	int again = sigtimedwait(set, NULL, &grace);
	char buf[160];
	int n = snprintf(buf, sizeof(buf),
			 again > 0 ? "\nexstress: second signal, exiting now\n"
				   : "\nexstress: still not stopped %d s after the signal, exiting now\n",
			 GRACE_S);
	if (n > 0 && write(2, buf, (size_t)n) < 0)
		_exit(128 + sig);
	_exit(128 + sig);
}

static int stopping(void)
{
	return atomic_load_explicit(&stop_signal, memory_order_relaxed) != 0;
}

/* ---- test-only faults ---------------------------------------------------------- */

#ifdef EXS_TEST_FAULTS
/* EXS_TEST_FAULT="eventfd:N,io_uring:N,other:N,mem:B": leak an fd of that
 * kind every N iterations, or B bytes every iteration. Compiled only into
 * the test build (build/test/harness/exstress-fault). */
static uint64_t fault_every[EXS_FD_NKINDS];
static size_t fault_mem;
static void **fault_keep; /* reachable, so LeakSanitizer stays quiet */
static size_t fault_nkeep, fault_capkeep;

static int faults_parse(void)
{
	const char *env = getenv("EXS_TEST_FAULT");
	if (!env || !*env)
		return 0;
	char *copy = strdup(env), *save = NULL;
	if (!copy)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		char *end;
		if (!colon)
			goto bad;
		*colon = '\0';
		unsigned long long v = strtoull(colon + 1, &end, 10);
		if (*end || !v)
			goto bad;
		if (strcmp(tok, "eventfd") == 0)
			fault_every[EXS_FD_EVENTFD] = v;
		else if (strcmp(tok, "io_uring") == 0)
			fault_every[EXS_FD_IO_URING] = v;
		else if (strcmp(tok, "other") == 0)
			fault_every[EXS_FD_OTHER] = v;
		else if (strcmp(tok, "mem") == 0)
			fault_mem = v;
		else
			goto bad;
	}
	free(copy);
	fprintf(stderr, "exstress: test faults active: %s\n", env);
	return 0;
bad:
	free(copy);
	fprintf(stderr, "exstress: bad EXS_TEST_FAULT '%s'\n", env);
	return -1;
}

/* noinline: it must show as a frame of its own in fdtrack's stacks */
__attribute__((noinline)) static void exs_test_fault_inject(uint64_t iteration)
{
	if (fault_every[EXS_FD_EVENTFD] && iteration % fault_every[EXS_FD_EVENTFD] == 0)
		(void)eventfd(0, EFD_CLOEXEC);
	if (fault_every[EXS_FD_IO_URING] && iteration % fault_every[EXS_FD_IO_URING] == 0) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		(void)syscall(__NR_io_uring_setup, 4, &p);
	}
	if (fault_every[EXS_FD_OTHER] && iteration % fault_every[EXS_FD_OTHER] == 0)
		(void)open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fault_mem) {
		if (fault_nkeep == fault_capkeep) {
			size_t nc = fault_capkeep ? fault_capkeep * 2 : 1024;
			void **nk = realloc(fault_keep, nc * sizeof(*nk));
			if (!nk)
				return;
			fault_keep = nk;
			fault_capkeep = nc;
		}
		void *p = malloc(fault_mem);
		if (p) {
			memset(p, 0x5a, fault_mem); /* resident, not just reserved */
			fault_keep[fault_nkeep++] = p;
		}
	}
}
#endif

/* ---- one scenario -------------------------------------------------------------------- */

struct ctx {
	struct exs_options *o;
	struct exs_sampler sampler;
	struct exs_probe *probe;
	struct exs_runner *runner;
	struct exs_csv *csv;
	int progress;           /* draw the progress line */
};

static int take_sample(struct ctx *c, struct exs_sample *s, uint64_t iteration,
		       enum exs_phase phase, int reconcile, double t0, char *msg, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->iteration = iteration;
	s->phase = phase;
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
			  uint64_t total, double rate, const struct exs_sample *s)
{
	char vsz[32];
	exs_fmt_bytes((double)s->vsz_bytes, vsz, sizeof(vsz));
	if (total)
		fprintf(stderr, "\r%s [%s] iteration %" PRIu64 "/%" PRIu64 "  %.0f it/s  eventfd %" PRId64
			"  io_uring %" PRId64 "  VSZ %s\033[K",
			exs_scenario_name(sc), rex_policy_name(c->o->policy), i, total,
			rate, s->fds[EXS_FD_EVENTFD], s->fds[EXS_FD_IO_URING], vsz);
	else
		fprintf(stderr, "\r%s [%s] iteration %" PRIu64 "  %.0f it/s  eventfd %" PRId64
			"  io_uring %" PRId64 "  VSZ %s\033[K",
			exs_scenario_name(sc), rex_policy_name(c->o->policy), i, rate,
			s->fds[EXS_FD_EVENTFD], s->fds[EXS_FD_IO_URING], vsz);
}

/* Returns EXS_EXIT_PASS/LEAK with *res filled, or EXS_EXIT_USAGE after
 * printing why. */
static int run_scenario(struct ctx *c, enum exs_scenario sc, struct exs_result *res)
{
	struct exs_options *o = c->o;
	const char *scn = exs_scenario_name(sc), *pol = rex_policy_name(o->policy);
	/* No sample is kept: the verdict is folded in as they come (stats.c).
	 * `last` is the newest measured sample, added to the fold only when
	 * the next one arrives, so that the final one can still be
	 * reconciled first. */
	struct exs_sample cur, last;
	struct exs_verdict_acc acc;
	int have_last = 0;
	char msg[512];
	int status = EXS_EXIT_USAGE;

	memset(res, 0, sizeof(*res));
	res->scenario = sc;
	wd_scenario = scn;
	double t0 = mono_s(), last_draw = t0, measure_t0 = 0;
	(void)exs_runner_take_parked(c->runner);
	uint64_t last_i = 0;
	size_t n = 0; /* samples taken, the baseline included */
	if (take_sample(c, &cur, 0, EXS_PHASE_BASELINE, 1, t0, msg, sizeof(msg)))
		goto env_error;
	if (c->csv)
		exs_csv_row(c->csv, scn, pol, &cur);
	n++;
	last = cur;
	if (o->warmup == 0) {
		measure_t0 = t0;
		exs_verdict_begin(&acc, &cur);
	}

	uint64_t total = o->duration_s > 0 ? 0 : o->warmup + o->iterations;
	uint64_t csv_last = 0; /* iteration of the last CSV row written */
	for (uint64_t i = 1;; i++) {
		if (stopping()) {
			res->interrupted = 1;
			break;
		}
		if (total ? i > total
			  : (i > o->warmup && measure_t0 > 0 &&
			     mono_s() - measure_t0 >= o->duration_s))
			break;
		int rc = exs_runner_iteration(c->runner, sc, i, msg, sizeof(msg));
		atomic_fetch_add(&wd_progress, 1);
		if (rc) {
			/* Out of fds because fds leaked: that is the verdict,
			 * not an environment problem. */
			if ((rc == -EMFILE || rc == -ENFILE) && n > o->warmup + 1) {
				if (have_last)
					exs_verdict_add(&acc, &last);
				have_last = 0;
				exs_verdict_end(&acc, &o->limits, &res->v);
				if (res->v.leak) {
					snprintf(res->note, sizeof(res->note),
						 "stopped at iteration %" PRIu64 ": %s", i, msg);
					break;
				}
			}
			if (c->progress)
				fputs("\r\033[K", stderr);
			fprintf(stderr, "exstress: %s [%s], iteration %" PRIu64 ": %s\n",
				scn, pol, i, msg);
			goto out;
		}
#ifdef EXS_TEST_FAULTS
		exs_test_fault_inject(i);
#endif
		enum exs_phase ph = i <= o->warmup ? EXS_PHASE_WARMUP : EXS_PHASE_MEASURE;
		int reconcile = i % RECONCILE_EVERY == 0 || i == o->warmup || i == total;
		if (take_sample(c, &cur, i, ph, reconcile, t0, msg, sizeof(msg)))
			goto env_error;
		if (c->csv && (i % o->sample_every == 0 || i == o->warmup || i == total)) {
			if (exs_csv_row(c->csv, scn, pol, &cur) != 0) {
				snprintf(msg, sizeof(msg), "writing %s: %s", o->csv_path, strerror(errno));
				goto env_error;
			}
			csv_last = i;
		}
		n++;
		if (i == o->warmup) {
			measure_t0 = mono_s();
			exs_verdict_begin(&acc, &cur);
		} else if (i > o->warmup) {
			if (have_last)
				exs_verdict_add(&acc, &last);
			have_last = 1;
		}
		last = cur;
		if (c->progress) {
			double t = mono_s();
			if (t - last_draw >= 0.25) {
				progress_line(c, sc, i, total, (double)(i - last_i) / (t - last_draw),
					      &cur);
				last_draw = t;
				last_i = i;
			}
		}
	}
	if (c->progress)
		fputs("\r\033[K", stderr);
	/* The last sample is always reconciled (--duration, a signal or the
	 * sample bound ended the loop early): still the same boundary, as no
	 * iteration ran since its /proc counts were read. */
	if (c->probe && !res->v.nchecks && !last.bpf.reconciled) {
		int rc = exs_probe_sample(c->probe, &last, 1);
		if (rc) {
			snprintf(msg, sizeof(msg), "reading fdtrack: %s", strerror(-rc));
			goto env_error;
		}
	}
	/* The last sample always has its CSV row. */
	if (c->csv && n > 1 && last.iteration != csv_last &&
	    exs_csv_row(c->csv, scn, pol, &last) != 0) {
		snprintf(msg, sizeof(msg), "writing %s: %s", o->csv_path, strerror(errno));
		goto env_error;
	}
	if (res->interrupted)
		snprintf(res->note, sizeof(res->note), "interrupted by %s after %" PRIu64 " iterations",
			 atomic_load(&stop_signal) == SIGTERM ? "SIGTERM" : "SIGINT",
			 last.iteration);
	if (n <= o->warmup + 1 && res->interrupted) {
		/* Nothing measured yet: no verdict. */
		res->no_verdict = 1;
		res->elapsed_s = mono_s() - t0;
		fprintf(stderr, "exstress: %s [%s]: %s, during the warm-up: no verdict\n", scn, pol,
			res->note);
		status = EXS_EXIT_PASS;
		goto out;
	}
	if (n <= o->warmup) {
		snprintf(msg, sizeof(msg), "no iteration after the warm-up");
		goto env_error;
	}
	if (!res->v.nchecks) {
		if (have_last)
			exs_verdict_add(&acc, &last);
		exs_verdict_end(&acc, &o->limits, &res->v);
	}
	res->elapsed_s = mono_s() - t0;
	res->parked_per_iter = (double)exs_runner_take_parked(c->runner) / (double)(n - 1);
	if (res->v.bpf_lost)
		snprintf(res->note + strlen(res->note), sizeof(res->note) - strlen(res->note),
			 "%sfdtrack lost %" PRIu64 " events", res->note[0] ? "; " : "",
			 res->v.bpf_lost);

	const struct exs_verdict *v = &res->v;
	double rate = (double)(n - 1) / (res->elapsed_s > 0 ? res->elapsed_s : 1);
	if (v->leak) {
		char summary[1024];
		exs_verdict_summary(v, summary, sizeof(summary));
		fprintf(stderr,
			"exstress: %s [%s]: LEAK over %" PRIu64 " iterations after %" PRIu64
			" warm-up (%.0f it/s)%s%s\n",
			scn, pol, v->iterations, o->warmup, rate, res->note[0] ? "; " : "", res->note);
		exs_verdict_print(stderr, v);
		int fd_leak = 0;
		for (int k = 0; k < EXS_FD_NKINDS - 1; k++)
			fd_leak |= v->fd_max_dev[k] != 0;
		if (c->probe && fd_leak) {
			fprintf(stderr, "  where the live eventfd/io_uring fds were opened (fdtrack):\n");
			exs_probe_print_live(c->probe, stderr);
		} else if (fd_leak) {
			fprintf(stderr, "  (no opening stacks: fdtrack is off; run with --probe require as root)\n");
		}
		status = EXS_EXIT_LEAK;
	} else {
		if (!o->quiet) {
			char vs[32], rs[32];
			exs_fmt_bytes(v->vsz_slope, vs, sizeof(vs));
			exs_fmt_bytes(v->rss_slope, rs, sizeof(rs));
			fprintf(stderr,
				"exstress: %s [%s]: pass, %" PRIu64 " iterations (%.0f it/s); fds "
				"eventfd %" PRId64 " io_uring %" PRId64 " other %" PRId64
				" (= reference at every iteration); VSZ slope %s/iter, RSS slope %s/iter%s%s\n",
				scn, pol, v->iterations, rate, last.fds[0], last.fds[1], last.fds[2],
				vs, rs, res->note[0] ? "; " : "", res->note);
		}
		status = EXS_EXIT_PASS;
	}
	goto out;

env_error:
	if (c->progress)
		fputs("\r\033[K", stderr);
	fprintf(stderr, "exstress: %s [%s]: %s\n", scn, pol, msg);
	status = EXS_EXIT_USAGE;
out:
	return status;
}

/* Writes a JSON/JUnit file opened (as a temporary) before the run, and
 * renames it to its name. */
static int write_file(struct exs_outfile *f,
		      int (*fn)(FILE *, const struct exs_run_info *, const struct exs_result *, size_t),
		      const struct exs_run_info *info, const struct exs_result *r, size_t n)
{
	FILE *out = fdopen(f->fd, "w");
	if (!out) {
		fprintf(stderr, "exstress: cannot write %s: %s\n", f->path, strerror(errno));
		exs_outfile_abort(f);
		return -1;
	}
	int rc = fn(out, info, r, n);
	f->fd = -1; /* fclose closes it */
	if (fclose(out) != 0 || rc) {
		fprintf(stderr, "exstress: writing %s failed\n", f->path);
		exs_outfile_abort(f);
		return -1;
	}
	if ((rc = exs_outfile_commit(f))) {
		fprintf(stderr, "exstress: cannot rename the finished %s into place: %s\n", f->path,
			strerror(-rc));
		return -1;
	}
	return 0;
}

/* fds by kind right now, from /proc/self/fd (the census's own are not counted). */
static int fd_census(int64_t fds[EXS_FD_NKINDS])
{
	struct exs_sampler sm;
	struct exs_sample smp;
	int rc = exs_sampler_open(&sm);
	if (rc)
		return rc;
	rc = exs_sampler_read(&sm, &smp);
	exs_sampler_close(&sm);
	if (!rc)
		memcpy(fds, smp.fds, sizeof(smp.fds));
	return rc;
}

static int same_file(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static int open_output(struct exs_outfile *f, const char *opt, const char *path)
{
	int rc = exs_outfile_open(f, path);
	if (rc)
		fprintf(stderr, "exstress: %s %s: cannot write there: %s\n", opt, path, strerror(-rc));
	return rc;
}

int main(int argc, char **argv)
{
	struct exs_options o;
	char err[512];
	int64_t fds_start[EXS_FD_NKINDS] = { 0 };
	int census = fd_census(fds_start) == 0;
	int rc = exs_parse_args(argc, argv, &o, err, sizeof(err));
	if (rc == EXS_ARGS_HELP) {
		exs_usage(stdout);
		return 0;
	}
	if (rc != EXS_ARGS_OK) {
		fprintf(stderr, "exstress: %s\n", err);
		return EXS_EXIT_USAGE;
	}
	if (same_file(o.csv_path, o.json_path) || same_file(o.csv_path, o.junit_path) ||
	    same_file(o.json_path, o.junit_path)) {
		fprintf(stderr, "exstress: --csv, --json and --junit must name different files\n");
		return EXS_EXIT_USAGE;
	}
	if (EXS_SANITIZED && !o.limits_set)
		exs_limits_unsanitized(&o.limits);
#ifdef EXS_TEST_FAULTS
	if (faults_parse())
		return EXS_EXIT_USAGE;
#endif
	if (o.verbose && census)
		fprintf(stderr, "exstress: fds at start: eventfd %" PRId64 " io_uring %" PRId64
			" other %" PRId64 "\n", fds_start[0], fds_start[1], fds_start[2]);

	/* SIGINT/SIGTERM: blocked here, before any thread exists, so every
	 * thread inherits the mask and only signal_thread takes them. */
	static sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_t sigthr;
	if (pthread_create(&sigthr, NULL, signal_thread, &sigs) == 0)
		pthread_detach(sigthr);
	else
		pthread_sigmask(SIG_UNBLOCK, &sigs, NULL); /* then they just kill us */

	/* Leaking policies run out of the soft fd limit long before they
	 * show anything else; the hard limit is ours to use. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	struct ctx c = { .o = &o, .sampler = { -1, -1, 0 } };
	int status = EXS_EXIT_USAGE;
	struct exs_result *results = NULL;
	size_t nres = 0;
	struct exs_outfile json = { .fd = -1 }, junit = { .fd = -1 };

	if (o.executors < 2 && (o.scenario == EXS_SC_ISSUE448 || o.scenario == EXS_SC_ALL)) {
		fprintf(stderr, "exstress: --executors %u: issue448 needs at least 2 (a sender and a receiver)\n",
			o.executors);
		return EXS_EXIT_USAGE;
	}

	/* Output files first: a path that cannot be written fails before
	 * anything runs. They are temporaries until the run is over. */
	if (o.csv_path && !(c.csv = exs_csv_open(o.csv_path))) {
		fprintf(stderr, "exstress: --csv %s: cannot write there: %s\n", o.csv_path, strerror(errno));
		goto out;
	}
	if (o.json_path && open_output(&json, "--json", o.json_path))
		goto out;
	if (o.junit_path && open_output(&junit, "--junit", o.junit_path))
		goto out;

	char why[512];
	if (exs_probe_open(o.probe, &c.probe, why, sizeof(why)) != 0) {
		fprintf(stderr, "exstress: fdtrack is required (--probe require) but cannot start: %s\n", why);
		goto out;
	}
	if (!c.probe && o.probe == EXS_PROBE_AUTO)
		fprintf(stderr, "exstress: fdtrack unavailable, sampling /proc only: %s\n", why);

	if ((rc = exs_sampler_open(&c.sampler))) {
		fprintf(stderr, "exstress: cannot open /proc/self: %s\n", strerror(-rc));
		goto out;
	}
	const char *what = "";
	struct exs_runner_config rcfg = {
		.policy = o.policy, .executors = o.executors, .tasks = o.tasks, .seed = o.seed,
	};
	if ((rc = exs_runner_new(&rcfg, &c.runner, &what))) {
		if (rc == -EMFILE || rc == -ENFILE) {
			getrlimit(RLIMIT_NOFILE, &rl);
			fprintf(stderr, "exstress: %s: %s (RLIMIT_NOFILE=%llu); raise ulimit -n\n", what,
				strerror(-rc), (unsigned long long)rl.rlim_cur);
		} else {
			fprintf(stderr, "exstress: %s: %s\n", what, strerror(-rc));
		}
		goto out;
	}
	c.progress = !o.quiet && isatty(2);

	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL) == 0)
		pthread_detach(wd);

	enum exs_scenario first = o.scenario == EXS_SC_ALL ? 0 : o.scenario;
	enum exs_scenario last = o.scenario == EXS_SC_ALL ? EXS_SC_COUNT - 1 : o.scenario;
	results = calloc((size_t)(last - first + 1), sizeof(*results));
	if (!results) {
		fprintf(stderr, "exstress: out of memory\n");
		goto out;
	}
	double t0 = mono_s();
	status = EXS_EXIT_PASS;
	for (int sc = (int)first; sc <= (int)last && !stopping(); sc++) {
		int st = run_scenario(&c, (enum exs_scenario)sc, &results[nres]);
		if (st == EXS_EXIT_USAGE && status == EXS_EXIT_LEAK) {
			/* An earlier scenario leaked (in this process: its fds
			 * are still open), which is what stopped this one: the
			 * verdict stands, the rest is not run. */
			fprintf(stderr, "exstress: %s and later scenarios not run: "
				"the leak above left this process unable to go on\n",
				exs_scenario_name((enum exs_scenario)sc));
			break;
		}
		if (st == EXS_EXIT_USAGE) {
			status = EXS_EXIT_USAGE;
			goto out;
		}
		nres++;
		if (st == EXS_EXIT_LEAK)
			status = EXS_EXIT_LEAK;
	}
	int sig = atomic_load(&stop_signal);

	struct exs_run_info info = {
		.scenario = exs_scenario_name(o.scenario),
		.policy = rex_policy_name(o.policy),
		.probe = c.probe ? "bpf" : "proc-only",
		.seed = o.seed,
		.executors = o.executors,
		.tasks = o.tasks,
		.warmup = o.warmup,
		.elapsed_s = mono_s() - t0,
		.limits = &o.limits,
		.interrupted = sig,
	};
	if (sig && nres == 0) {
		/* stopped before the first scenario began: nothing to report */
		results[0].scenario = first;
		results[0].no_verdict = results[0].interrupted = 1;
		nres = 1;
	}
	if (sig)
		status = 128 + sig;
	if (o.json_path && write_file(&json, exs_json_write, &info, results, nres))
		status = EXS_EXIT_USAGE;
	if (o.junit_path && write_file(&junit, exs_junit_write, &info, results, nres))
		status = EXS_EXIT_USAGE;
	if (nres > 1 && !o.quiet)
		fprintf(stderr, "exstress: %s: %zu scenarios in %.1f s\n",
			sig ? "interrupted" : status == EXS_EXIT_PASS ? "pass" : status == EXS_EXIT_LEAK ? "LEAK" : "error",
			nres, info.elapsed_s);
out:
	/* The CSV keeps the rows of a run that ended (also by a signal);
	 * after an environment error it is removed, as are unwritten
	 * JSON/JUnit temporaries. */
	if (status == EXS_EXIT_USAGE) {
		exs_csv_abort(c.csv);
	} else if (c.csv && (rc = exs_csv_close(c.csv)) != 0) {
		fprintf(stderr, "exstress: writing %s failed: %s\n", o.csv_path, strerror(-rc));
		status = EXS_EXIT_USAGE;
	}
	exs_outfile_abort(&json);
	exs_outfile_abort(&junit);
	exs_runner_free(c.runner);
	exs_sampler_close(&c.sampler);
	exs_probe_close(c.probe);
	free(results);
	int64_t fds_end[EXS_FD_NKINDS];
	if (census && fd_census(fds_end) == 0) {
		int left = memcmp(fds_start, fds_end, sizeof(fds_end)) != 0;
		if (o.verbose || left)
			fprintf(stderr, "exstress: fds at exit: eventfd %" PRId64 " io_uring %" PRId64
				" other %" PRId64 "%s\n", fds_end[0], fds_end[1], fds_end[2],
				left ? " (not as at start: the harness left fds open)" : " (as at start)");
	}
	return status;
}
