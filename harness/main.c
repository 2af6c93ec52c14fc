/*
 * exstress: the process. Options, the stop signals and the watchdog, the
 * output files, every scenario in turn (run.c), exit codes.
 *
 * Over 600 lines for a reason: a run stopped outright writes its outputs
 * from the signal thread with the very code the end of a run uses.
 */
#include "clock.h"
#include "run.h"
#include "version.h" /* generated: $(BUILD)/gen, scripts/version.sh */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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

/* ---- SIGINT/SIGTERM/SIGHUP: stop cleanly ------------------------------------------ */

/* They are blocked in every thread (the runtime's threads inherit the mask
 * from main, so no syscall of theirs sees EINTR); this thread takes them
 * with sigwait and sets stop_signal, which the run loop checks between
 * iterations. The run then writes its outputs over the samples taken and
 * exits 128 + signal. A second signal, or a run that has not finished
 * GRACE_S after the first, stops it outright: this thread writes every
 * output itself, from the state the run keeps under state_lock (the
 * scenarios done, the one in progress up to its last sample), and exits
 * 128 + the first signal. */
#define GRACE_S 5
#define LOCK_WAIT_S \
	3 /* the main thread holds the lock no longer than this,
			 unless it is writing the outputs itself */
static atomic_int stop_signal;
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

void exs_state_lock(void)
{
	pthread_mutex_lock(&state_lock);
}

void exs_state_unlock(void)
{
	pthread_mutex_unlock(&state_lock);
}

struct outputs {
	struct outfile json, junit;
};

/* What stop_outright needs, set once the outputs are open (state lock);
 * NULL again once the main thread writes them itself. */
static struct {
	struct ctx *c;
	struct outputs *out;
	double t0;
} live;

static int write_outputs(struct ctx *c, struct outputs *out,
			 struct exs_result *results, size_t nres, int status,
			 double elapsed_s, int outright);
static int close_csv(struct ctx *c, int status, int keep);
static void add_not_run(struct ctx *c, size_t *nres, int from, const char *why);

static void say(const char *msg)
{
	if (write(2, msg, strlen(msg)) < 0)
		return;
}

/* One line on stderr, control characters of what the user gave (a path)
 * shown as '?', as cli.c shows its arguments. */
static void say_line(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void say_line(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f)
			*p = '?';
	fputs(buf, stderr);
}

static _Noreturn void stop_outright(int sig, int second)
{
	struct timespec until;
	char buf[200];

	snprintf(buf, sizeof(buf),
		 second ? "\nexstress: second signal: writing the outputs over "
			  "the samples taken, exiting now\n"
			: "\nexstress: still not stopped %d s after the signal: "
			  "writing the outputs over the samples taken, exiting "
			  "now\n",
		 GRACE_S);
	say(buf);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += LOCK_WAIT_S;
	if (pthread_mutex_timedlock(&state_lock, &until) != 0) {
		/* the main thread is writing them (to a FIFO nobody reads?) */
		say("exstress: the outputs are still being written; exiting "
		    "without them (their temporaries stay until the next run "
		    "writes the same files)\n");
		_exit(128 + sig);
	}
	if (!live.c) /* not open yet, or written already */
		_exit(128 + sig);
	struct ctx *c = live.c;
	const struct exs_options *o = c->o;
	size_t n = c->nres;
	int next = n ? (int)c->results[n - 1].scenario + 1
		     : (o->scenario == EXS_SC_ALL ? 0 : (int)o->scenario);
	if (exs_run_snapshot(c, &c->results[n]))
		next = (int)c->results[n++].scenario + 1;
	if (o->scenario == EXS_SC_ALL)
		add_not_run(c, &n, next, "not run: the run was interrupted");
	int status = write_outputs(c, live.out, c->results, n, EXS_EXIT_PASS,
				   mono_s() - live.t0, 1);
	status = close_csv(c, status, 1);
	outfile_abort(&live.out->json);
	outfile_abort(&live.out->junit);
	_exit(status);
}

static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	if (sigwait(set, &sig) != 0)
		return NULL;
	atomic_store(&stop_signal, sig);
	struct timespec grace = { GRACE_S, 0 };
	int again = sigtimedwait(set, NULL, &grace);
	stop_outright(sig, again > 0);
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

/* Usage errors that need more than one option to see. */
static int check_options(const struct exs_options *o)
{
	if (o->executors < 2 && exs_runtime_is_rex(o) &&
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

/* SIGINT/SIGTERM/SIGHUP (a closed terminal is a stop too, as for fdtrack):
 * blocked here, before any thread exists, so every thread inherits the
 * mask and only signal_thread takes them. */
static void take_stop_signals(void)
{
	static sigset_t sigs;
	pthread_t thread;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
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

static int open_output(struct outfile *f, const char *opt, const char *path)
{
	char why[256];
	int rc = outfile_open(f, path, why, sizeof(why));
	if (rc)
		say_line("exstress: %s %s: cannot write there: %s\n", opt, path,
			 why);
	return rc;
}

/* Output files first: a path that cannot be written fails before anything
 * runs (a file is a temporary until the run is over). */
static int open_outputs(struct ctx *c, struct outputs *out)
{
	const struct exs_options *o = c->o;
	char why[256];

	if (o->csv_path &&
	    !(c->csv = exs_csv_open(o->csv_path, why, sizeof(why)))) {
		say_line("exstress: --csv %s: cannot write there: %s\n",
			 o->csv_path, why);
		return -1;
	}
	if (o->json_path && open_output(&out->json, "--json", o->json_path))
		return -1;
	if (o->junit_path && open_output(&out->junit, "--junit", o->junit_path))
		return -1;
	/* the same file twice, also by two names (a link, /dev/stdout) */
	if ((c->csv && o->json_path &&
	     outfile_same(&c->csv->out, &out->json)) ||
	    (c->csv && o->junit_path &&
	     outfile_same(&c->csv->out, &out->junit)) ||
	    (o->json_path && o->junit_path &&
	     outfile_same(&out->json, &out->junit))) {
		fprintf(stderr,
			"exstress: --csv, --json and --junit must name different files\n");
		return -1;
	}
	return 0;
}

/* The probe, the sampler and the runner. 0, or -1 after saying why. */
static int start(struct ctx *c)
{
	const struct exs_options *o = c->o;
	char why[512];
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
	if ((rc = exs_target_open(o, &c->target, why, sizeof(why)))) {
		say_line("exstress: %s%s\n", why,
			 rc == -EMFILE || rc == -ENFILE ? "; raise ulimit -n"
							: "");
		return -1;
	}
	c->progress = !o->quiet && isatty(2);
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL) == 0)
		pthread_detach(wd);
	return 0;
}

/* Results "not run" (why) for the scenarios of `all` from `from` on. */
static void add_not_run(struct ctx *c, size_t *nres, int from, const char *why)
{
	for (int sc = from; sc < EXS_SC_IN_ALL; sc++) {
		if (!exs_target_supports(c->target, (enum exs_scenario)sc))
			continue;
		struct exs_result *r = &c->results[(*nres)++];
		memset(r, 0, sizeof(*r));
		r->scenario = (enum exs_scenario)sc;
		r->not_run = r->no_verdict = 1;
		snprintf(r->note, sizeof(r->note), "%s", why);
	}
}

/* Every scenario asked for, in order, into c->results. Returns the exit
 * status so far. */
static int run_scenarios(struct ctx *c)
{
	const struct exs_options *o = c->o;
	enum exs_scenario first = o->scenario == EXS_SC_ALL ? 0 : o->scenario;
	enum exs_scenario last = o->scenario == EXS_SC_ALL ? EXS_SC_IN_ALL - 1
							   : o->scenario;
	int status = EXS_EXIT_PASS;

	const char *not_run = NULL;
	int sc;

	for (sc = (int)first; sc <= (int)last; sc++) {
		if (!exs_target_supports(c->target, (enum exs_scenario)sc))
			continue; /* `all` of a loop runtime: what it parks */
		if (exs_stopping()) {
			not_run = "not run: the run was interrupted";
			break;
		}
		c->scenarios_left = (unsigned)(last - sc + 1);
		int st = exs_run_scenario(c, (enum exs_scenario)sc);
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
		if (st == EXS_EXIT_LEAK)
			status = EXS_EXIT_LEAK;
		c->leaked_before = status == EXS_EXIT_LEAK;
	}
	/* Every scenario asked for has its result, also those not run. */
	if (not_run && c->nres > 0 && o->scenario == EXS_SC_ALL) {
		exs_state_lock();
		add_not_run(c, &c->nres, sc, not_run);
		exs_state_unlock();
	}
	return status;
}

/* Writes a JSON/JUnit file opened before the run and puts it in place. */
static int write_file(struct outfile *f, const char *opt,
		      int (*fn)(FILE *, const struct exs_run_info *,
				const struct exs_result *, size_t),
		      const struct exs_run_info *info,
		      const struct exs_result *r, size_t n)
{
	FILE *out = outfile_stream(f);
	char why[256];
	int rc = out ? fn(out, info, r, n) : -errno;

	if (!rc && !(rc = outfile_commit(f, why, sizeof(why))))
		return 0;
	if (!out || f->fd >= 0) /* not committed: errno is the write's */
		snprintf(why, sizeof(why), "%s", strerror(errno ? errno : EIO));
	say_line("exstress: %s %s: writing it failed: %s%s%s\n", opt, f->path,
		 why, f->kept ? "; the finished file is " : "",
		 f->kept ? f->kept : "");
	outfile_abort(f);
	return -1;
}

/* How many of the results are of scenarios that ran. */
static size_t ran(const struct exs_result *r, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += !r[i].not_run;
	return k;
}

/* The summary files, after the run (also one stopped by a signal; from the
 * signal thread for one stopped outright). Returns the final exit status. */
static int write_outputs(struct ctx *c, struct outputs *out,
			 struct exs_result *results, size_t nres, int status,
			 double elapsed_s, int outright)
{
	const struct exs_options *o = c->o;
	int sig = atomic_load(&stop_signal);
	struct exs_run_info info = {
		.scenario = exs_scenario_name(o->scenario),
		.policy = exs_target_label(c->target),
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
		.stopped_outright = outright,
	};

	if (sig && nres == 0) {
		/* stopped before the first scenario began: nothing to report */
		memset(&results[0], 0, sizeof(results[0]));
		results[0].scenario = o->scenario == EXS_SC_ALL ? 0
								: o->scenario;
		results[0].no_verdict = results[0].interrupted = 1;
		nres = 1;
	}
	for (size_t i = 0; i < nres; i++)
		status = results[i].v.leak ? EXS_EXIT_LEAK : status;
	if (sig)
		status = 128 + sig;
	if (o->json_path && write_file(&out->json, "--json", exs_json_write,
				       &info, results, nres))
		status = EXS_EXIT_USAGE;
	if (o->junit_path && write_file(&out->junit, "--junit", exs_junit_write,
					&info, results, nres))
		status = EXS_EXIT_USAGE;
	/* --quiet keeps this line when the verdict is not a pass */
	if ((nres > 1 || outright) && (!o->quiet || status != EXS_EXIT_PASS))
		fprintf(stderr, "exstress: %s: %zu scenario%s in %.1f s%s%s\n",
			sig			  ? "interrupted"
			: status == EXS_EXIT_PASS ? "pass"
			: status == EXS_EXIT_LEAK ? "LEAK"
						  : "error",
			ran(results, nres), ran(results, nres) == 1 ? "" : "s",
			info.elapsed_s,
			ran(results, nres) < nres ? " (the others not run)"
						  : "",
			/* a verdict without the probe says so at its end too */
			c->probe ? "" : ", WITHOUT the eBPF probe (/proc only)");
	return status;
}

/* The CSV keeps the rows of a run that ended (also by a signal, and also
 * when another output could not be written: each keeps what it measured);
 * after an environment error of the run (!keep) it is removed. Returns the
 * final status. */
static int close_csv(struct ctx *c, int status, int keep)
{
	char why[512];
	int rc;

	if (!keep) {
		exs_csv_abort(c->csv);
	} else if (c->csv && (rc = exs_csv_close(c->csv, why, sizeof(why)))) {
		say_line("exstress: --csv %s: writing it failed: %s\n",
			 c->o->csv_path, why);
		status = EXS_EXIT_USAGE;
	}
	c->csv = NULL;
	return status;
}

/* Close everything; unwritten JSON/JUnit temporaries are removed. Returns
 * the final status. */
static int finish(struct ctx *c, struct outputs *out, int status, int ran)
{
	status = close_csv(c, status, ran);
	outfile_abort(&out->json);
	outfile_abort(&out->junit);
	exs_target_free(c->target);
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
	if (rc == EXS_ARGS_VERSION) {
		printf("exstress %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (rc != EXS_ARGS_OK) {
		fprintf(stderr, "exstress: %s\n", err);
		return EXS_EXIT_USAGE;
	}
	/* another runtime runs every scenario it has unless told */
	if (!exs_runtime_is_rex(&o) && !o.scenario_set)
		o.scenario = EXS_SC_ALL;
	if (check_options(&o) || exs_test_fault_init())
		return EXS_EXIT_USAGE;
	if ((EXS_SANITIZED || under_valgrind()) && !o.limits_set)
		exs_limits_unsanitized(&o.limits);
	if (o.verbose && census)
		print_census("start", fds_start, "");
	take_stop_signals();
	raise_fd_limit();
	/* an output that is a pipe or FIFO whose reader went away is a write
	 * error (exit 2, said), not a death that loses the others */
	signal(SIGPIPE, SIG_IGN);

	struct ctx c = { .o = &o, .sampler = { -1, -1, 0 } };
	struct outputs out = { .json = OUTFILE_NONE, .junit = OUTFILE_NONE };
	size_t count = o.scenario == EXS_SC_ALL ? EXS_SC_IN_ALL : 1;
	int status = EXS_EXIT_USAGE, ran = 0;

	c.results = calloc(count, sizeof(*c.results));
	if (!c.results)
		fprintf(stderr, "exstress: out of memory\n");
	else if (open_outputs(&c, &out) == 0 && start(&c) == 0) {
		double t0 = mono_s();
		exs_state_lock();
		live.c = &c;
		live.out = &out;
		live.t0 = t0;
		exs_state_unlock();
		status = run_scenarios(&c);
		/* from here the outputs are ours: a second signal waits for
		 * them (the lock is never given back) */
		exs_state_lock();
		live.c = NULL;
		ran = status != EXS_EXIT_USAGE;
		if (ran)
			status = write_outputs(&c, &out, c.results, c.nres,
					       status, mono_s() - t0, 0);
	}
	status = finish(&c, &out, status, ran);
	free(c.results);
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
