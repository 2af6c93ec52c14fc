/*
 * exstress: the process. Options, the stop signals and the watchdog, the
 * output files, every scenario in turn (run.c), exit codes.
 */
#include "clock.h"
#include "run.h"

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

#define WATCHDOG_S 120 /* an iteration that takes this long is a hang */

/* ---- watchdog: a hung iteration must not hang CI ---------------------------- */

static atomic_uint_fast64_t wd_progress;
static _Atomic(const char *) wd_scenario = "";

void exs_watchdog_progress(const char *scenario)
{
	atomic_store_explicit(&wd_scenario, scenario, memory_order_relaxed);
	atomic_fetch_add(&wd_progress, 1);
}

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
			int n = snprintf(
				buf, sizeof(buf),
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
	int n = snprintf(
		buf, sizeof(buf),
		again > 0
			? "\nexstress: second signal, exiting now\n"
			: "\nexstress: still not stopped %d s after the signal, exiting now\n",
		GRACE_S);
	if (n > 0 && write(2, buf, (size_t)n) < 0)
		_exit(128 + sig);
	_exit(128 + sig);
}

int exs_stopping(void)
{
	return atomic_load_explicit(&stop_signal, memory_order_relaxed) != 0;
}

int exs_stop_signal(void)
{
	return atomic_load(&stop_signal);
}

/* fds by kind right now, from /proc/self/fd (the census's own sampler's
 * two fds included, at start and at exit alike). */
static int fd_census(int64_t fds[FDKIND_COUNT])
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

/* "eventfd 0 io_uring 0 pipe 2 chr 3": eventfd and io_uring, and every
 * other kind held. */
static void print_census(const char *when, const int64_t fds[FDKIND_COUNT],
			 const char *note)
{
	fprintf(stderr, "exstress: fds at %s:", when);
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (fds[k] || k == FDKIND_EVENTFD || k == FDKIND_IO_URING)
			fprintf(stderr, " %s %" PRId64, fdkind_name(k), fds[k]);
	fprintf(stderr, "%s\n", note);
}

/* valgrind's own memory grows with the client's history, as sanitizers'
 * does: then the VSZ/RSS limits are off (the heap stays exact: our malloc
 * passes on to valgrind's). valgrind preloads its vgpreload libraries. */
static int under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");
	return preload && strstr(preload, "vgpreload") != NULL;
}

static int same_file(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Usage errors that need more than one option to see. */
static int check_options(const struct exs_options *o)
{
	if (same_file(o->csv_path, o->json_path) ||
	    same_file(o->csv_path, o->junit_path) ||
	    same_file(o->json_path, o->junit_path)) {
		fprintf(stderr,
			"exstress: --csv, --json and --junit must name different files\n");
		return -1;
	}
	if (o->executors < 2 &&
	    (o->scenario == EXS_SC_ISSUE448 || o->scenario == EXS_SC_ALL ||
	     o->scenario == EXS_SC_LONG_LIVED ||
	     o->scenario == EXS_SC_THREAD_LOCAL)) {
		fprintf(stderr,
			"exstress: --executors %u: issue448 needs at least 2 (a sender and a "
			"receiver)\n",
			o->executors);
		return -1;
	}
	return 0;
}

/* SIGINT/SIGTERM: blocked here, before any thread exists, so every thread
 * inherits the mask and only signal_thread takes them. */
static void take_stop_signals(void)
{
	static sigset_t sigs;
	pthread_t thread;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (pthread_create(&thread, NULL, signal_thread, &sigs) == 0)
		pthread_detach(thread);
	else
		pthread_sigmask(SIG_UNBLOCK, &sigs,
				NULL); /* then they just kill us */
}

/* Leaking policies run out of the soft fd limit long before they show
 * anything else; the hard limit is ours to use. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int open_output(struct exs_outfile *f, const char *opt, const char *path)
{
	int rc = exs_outfile_open(f, path);
	if (rc)
		fprintf(stderr, "exstress: %s %s: cannot write there: %s\n",
			opt, path, strerror(-rc));
	return rc;
}

struct outputs {
	struct exs_outfile json, junit;
};

/* Output files first: a path that cannot be written fails before anything
 * runs. They are temporaries until the run is over. */
static int open_outputs(struct ctx *c, struct outputs *out)
{
	const struct exs_options *o = c->o;

	if (o->csv_path && !(c->csv = exs_csv_open(o->csv_path))) {
		fprintf(stderr, "exstress: --csv %s: cannot write there: %s\n",
			o->csv_path, strerror(errno));
		return -1;
	}
	if (o->json_path && open_output(&out->json, "--json", o->json_path))
		return -1;
	if (o->junit_path && open_output(&out->junit, "--junit", o->junit_path))
		return -1;
	return 0;
}

/* The probe, the sampler and the runner. 0, or -1 after saying why. */
static int start(struct ctx *c)
{
	const struct exs_options *o = c->o;
	char why[512];
	const char *what = "";
	int rc;

	if (exs_probe_open(o->probe, &c->probe, why, sizeof(why)) != 0) {
		if (o->probe == EXS_PROBE_REQUIRE)
			fprintf(stderr,
				"exstress: fdtrack is required (--probe require) but cannot start: %s\n",
				why);
		else
			fprintf(stderr,
				"exstress: fdtrack's probe cannot start, although BPF is permitted (--probe auto goes on with /proc alone only where it is not): %s\n",
				why);
		return -1;
	}
	if (!c->probe && o->probe == EXS_PROBE_AUTO)
		fprintf(stderr,
			"exstress: the eBPF probe is not permitted here, sampling /proc only: %s\n",
			why);
	/* Before the baseline: the first stack walk loads libgcc's unwinder. */
	rc = exs_heap_init(o->heap, o->heap_stacks != EXS_HEAP_STACKS_OFF);
	c->heap = o->heap && rc == 0;
	if (o->heap && rc) {
		c->heap_why =
			EXS_SANITIZED
				? "not available: the sanitizer owns malloc"
			: under_valgrind()
				? "not available: valgrind owns malloc"
				: "not available: malloc is not exstress's";
		fprintf(stderr, "exstress: heap %s\n", c->heap_why);
	}
	if ((rc = exs_sampler_open(&c->sampler))) {
		fprintf(stderr, "exstress: cannot open /proc/self: %s\n",
			strerror(-rc));
		return -1;
	}
	struct exs_runner_config rcfg = {
		.policy = o->policy,
		.executors = o->executors,
		.tasks = o->tasks,
		.seed = o->seed,
	};
	if ((rc = exs_runner_new(&rcfg, &c->runner, &what))) {
		if (rc == -EMFILE || rc == -ENFILE) {
			struct rlimit rl;
			getrlimit(RLIMIT_NOFILE, &rl);
			fprintf(stderr,
				"exstress: %s: %s (RLIMIT_NOFILE=%llu); raise ulimit -n\n",
				what, strerror(-rc),
				(unsigned long long)rl.rlim_cur);
		} else {
			fprintf(stderr, "exstress: %s: %s\n", what,
				strerror(-rc));
		}
		return -1;
	}
	c->progress = !o->quiet && isatty(2);
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL) == 0)
		pthread_detach(wd);
	return 0;
}

/* Every scenario asked for, in order. Returns the exit status so far and
 * the number of results filled. */
static int run_scenarios(struct ctx *c, struct exs_result *results,
			 size_t *nres)
{
	const struct exs_options *o = c->o;
	enum exs_scenario first = o->scenario == EXS_SC_ALL ? 0 : o->scenario;
	enum exs_scenario last = o->scenario == EXS_SC_ALL ? EXS_SC_IN_ALL - 1
							   : o->scenario;
	int status = EXS_EXIT_PASS;

	const char *not_run = NULL;
	int sc;

	*nres = 0;
	for (sc = (int)first; sc <= (int)last; sc++) {
		if (exs_stopping()) {
			not_run = "not run: the run was interrupted";
			break;
		}
		c->scenarios_left = (unsigned)(last - sc + 1);
		int st = exs_run_scenario(c, (enum exs_scenario)sc,
					  &results[*nres]);
		if (st == EXS_EXIT_USAGE && status == EXS_EXIT_LEAK) {
			/* An earlier scenario leaked (in this process: its fds
			 * are still open), which is what stopped this one: the
			 * verdict stands, the rest is not run. */
			fprintf(stderr,
				"exstress: %s and later scenarios not run: "
				"the leak above left this process unable to go on\n",
				exs_scenario_name((enum exs_scenario)sc));
			not_run =
				"not run: the fds leaked by an earlier scenario left none for it";
			break;
		}
		if (st == EXS_EXIT_USAGE)
			return EXS_EXIT_USAGE;
		(*nres)++;
		if (st == EXS_EXIT_LEAK)
			status = EXS_EXIT_LEAK;
		c->leaked_before = status == EXS_EXIT_LEAK;
	}
	/* Every scenario asked for has its result, also those not run. */
	for (; not_run && sc <= (int)last && *nres > 0; sc++) {
		struct exs_result *r = &results[(*nres)++];
		memset(r, 0, sizeof(*r));
		r->scenario = (enum exs_scenario)sc;
		r->not_run = r->no_verdict = 1;
		snprintf(r->note, sizeof(r->note), "%s", not_run);
	}
	return status;
}

/* Writes a JSON/JUnit file opened (as a temporary) before the run, and
 * renames it to its name. */
static int write_file(struct exs_outfile *f,
		      int (*fn)(FILE *, const struct exs_run_info *,
				const struct exs_result *, size_t),
		      const struct exs_run_info *info,
		      const struct exs_result *r, size_t n)
{
	FILE *out = fdopen(f->fd, "w");
	if (!out) {
		fprintf(stderr, "exstress: cannot write %s: %s\n", f->path,
			strerror(errno));
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
		fprintf(stderr,
			"exstress: cannot rename the finished %s into place: %s\n",
			f->path, strerror(-rc));
		return -1;
	}
	return 0;
}

/* The summary files, after the run (also one stopped by a signal).
 * Returns the final exit status. */
static int write_outputs(struct ctx *c, struct outputs *out,
			 struct exs_result *results, size_t nres, int status,
			 double elapsed_s)
{
	const struct exs_options *o = c->o;
	int sig = atomic_load(&stop_signal);
	struct exs_run_info info = {
		.scenario = exs_scenario_name(o->scenario),
		.policy = rex_policy_name(o->policy),
		.probe = c->probe ? "bpf" : "proc-only",
		.heap = c->heap	   ? "exact"
			: !o->heap ? "off"
				   : c->heap_why,
		.seed = o->seed,
		.executors = o->executors,
		.tasks = o->tasks,
		.warmup = o->warmup,
		.elapsed_s = elapsed_s,
		.limits = &o->limits,
		.interrupted = sig,
	};

	if (sig && nres == 0) {
		/* stopped before the first scenario began: nothing to report */
		results[0].scenario = o->scenario == EXS_SC_ALL ? 0
								: o->scenario;
		results[0].no_verdict = results[0].interrupted = 1;
		nres = 1;
	}
	if (sig)
		status = 128 + sig;
	if (o->json_path &&
	    write_file(&out->json, exs_json_write, &info, results, nres))
		status = EXS_EXIT_USAGE;
	if (o->junit_path &&
	    write_file(&out->junit, exs_junit_write, &info, results, nres))
		status = EXS_EXIT_USAGE;
	if (nres > 1 && !o->quiet)
		fprintf(stderr, "exstress: %s: %zu scenarios in %.1f s\n",
			sig			  ? "interrupted"
			: status == EXS_EXIT_PASS ? "pass"
			: status == EXS_EXIT_LEAK ? "LEAK"
						  : "error",
			nres, info.elapsed_s);
	return status;
}

/* Close everything. The CSV keeps the rows of a run that ended (also by a
 * signal); after an environment error it is removed, as are unwritten
 * JSON/JUnit temporaries. Returns the final status. */
static int finish(struct ctx *c, struct outputs *out, int status)
{
	int rc;

	if (status == EXS_EXIT_USAGE) {
		exs_csv_abort(c->csv);
	} else if (c->csv && (rc = exs_csv_close(c->csv)) != 0) {
		fprintf(stderr, "exstress: writing %s failed: %s\n",
			c->o->csv_path, strerror(-rc));
		status = EXS_EXIT_USAGE;
	}
	exs_outfile_abort(&out->json);
	exs_outfile_abort(&out->junit);
	exs_runner_free(c->runner);
	exs_sampler_close(&c->sampler);
	exs_probe_close(c->probe);
	return status;
}

int main(int argc, char **argv)
{
	struct exs_options o;
	char err[512];
	int64_t fds_start[FDKIND_COUNT] = { 0 }, fds_end[FDKIND_COUNT];
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
	if (check_options(&o) || exs_test_fault_init())
		return EXS_EXIT_USAGE;
	if ((EXS_SANITIZED || under_valgrind()) && !o.limits_set)
		exs_limits_unsanitized(&o.limits);
	if (o.verbose && census)
		print_census("start", fds_start, "");
	take_stop_signals();
	raise_fd_limit();

	struct ctx c = { .o = &o, .sampler = { -1, -1, 0 } };
	struct outputs out = { .json = { .fd = -1 }, .junit = { .fd = -1 } };
	size_t count = o.scenario == EXS_SC_ALL ? EXS_SC_IN_ALL : 1, nres = 0;
	struct exs_result *results = calloc(count, sizeof(*results));
	int status = EXS_EXIT_USAGE;

	if (!results)
		fprintf(stderr, "exstress: out of memory\n");
	else if (open_outputs(&c, &out) == 0 && start(&c) == 0) {
		double t0 = mono_s();
		status = run_scenarios(&c, results, &nres);
		if (status != EXS_EXIT_USAGE)
			status = write_outputs(&c, &out, results, nres, status,
					       mono_s() - t0);
	}
	status = finish(&c, &out, status);
	free(results);
	if (census && fd_census(fds_end) == 0) {
		int left = memcmp(fds_start, fds_end, sizeof(fds_end)) != 0;
		/* The runtime's leaked fds stay open to the end: that is the
		 * leak reported above, not the harness's doing. */
		if (o.verbose || (left && status != EXS_EXIT_LEAK))
			print_census(
				"exit", fds_end,
				!left ? " (as at start)"
				: status == EXS_EXIT_LEAK
					? " (the leaked fds reported above)"
					: " (not as at start: the harness left fds open)");
	}
	return status;
}
