/*
 * fdtrack: trace the fds a process (and with -f every process it starts)
 * opens and closes, report those left open, grouped by opening stack.
 *
 *   fdtrack [OPTIONS] -p PID     watch a running process
 *   fdtrack [OPTIONS] -- CMD     run CMD and watch it
 *
 * CMD is started once the BPF programs are attached, and ptrace-seized for
 * its exit stops (cli_command.c says why). Independently, the BPF
 * sched_process_exit hook counts the fds open at each exit (exact for -p
 * PID too). The reports are cli_report.c's.
 *
 * Run through sudo, CMD runs as the invoking user (SUDO_UID/SUDO_GID, no
 * supplementary groups) unless --run-as-root.
 *
 * SIGINT/SIGTERM/SIGHUP: with -- CMD the signal is forwarded to CMD, which
 * gets half a second to exit (then SIGKILL); the report (and --json) is
 * written with "interrupted": true, and fdtrack exits 128+signal.
 *
 * Exit status, first that applies: 2 fdtrack failed (usage, environment,
 * CMD could not be started); 128+N interrupted by signal N; the leak code
 * (--leak-exit-code, 23) when --fail-on-leak and a process leaked; 2 when a
 * table of fdtrack's own was full (counts not exact); with -- CMD, CMD's
 * own status (128+N if a signal killed it); else 0.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdkind.h"
#include "fdtrack.h"
#include "fdtrack_cli.h"

#define DEFAULT_LEAK_EXIT_CODE 23

static const char usage[] =
	"Usage: fdtrack [OPTIONS] -p PID\n"
	"       fdtrack [OPTIONS] -- CMD [ARGS...]\n"
	"Trace the fds of a process with eBPF (every kind: files, sockets,\n"
	"pipes, eventfds, epoll, ...) and report those left open when it exits,\n"
	"grouped by the user stack that opened them.\n"
	"\n"
	"  -p, --pid PID          watch this running process\n"
	"  -f, --follow           also every process it starts (fork, vfork,\n"
	"                         clone, exec), each with its own fds\n"
	"  -k, --kind LIST        track only these kinds (comma-separated; default\n"
	"                         all): eventfd io_uring epoll timerfd signalfd\n"
	"                         pidfd inotify fanotify userfaultfd bpf perf_event\n"
	"                         anon socket:unix socket:inet socket:inet6\n"
	"                         socket:netlink socket:other pipe fifo file memfd\n"
	"                         dir chr blk other; groups: socket, anon_inode, all\n"
	"  -i, --interval SECS    every SECS, print per kind what the summary\n"
	"                         says: at start + opened - closed = open now\n"
	"  -d, --duration SECS    stop after SECS (with -- CMD, CMD is killed)\n"
	"  -j, --json FILE        write the report as JSON to FILE ('-' = stdout)\n"
	"      --fail-on-leak     exit with the leak code if a process leaked: an\n"
	"                         fd it opened was open when it exited (or when\n"
	"                         the duration ended)\n"
	"      --leak-exit-code N the leak code (default 23; 1..255)\n"
	"      --max-fds N        fds tracked at once, all processes together\n"
	"                         (default /proc/sys/fs/nr_open)\n"
	"      --max-procs N      processes followed at once (default 4096)\n"
	"      --max-stacks N     distinct opening stacks (default 16384)\n"
	"      --no-stacks        do not record opening stacks\n"
	"      --frame-pointers   opening stacks from the frame-pointer walk only\n"
	"                         (default: also unwound with the DWARF CFI of\n"
	"                         the mapped files, as perf --call-graph dwarf,\n"
	"                         so code without frame pointers shows its frames)\n"
	"      --raw-symbols      keep C++ and Rust function names mangled\n"
	"      --std-fds          count fds left at 0-2 (stdin, stdout, stderr)\n"
	"                         as leaks too, as valgrind --track-fds=all\n"
	"      --suppress PATTERN a leak opened under a function matching the\n"
	"                         glob PATTERN (fnmatch, demangled names, e.g.\n"
	"                         'move_to_high_fd' or 'ns::Pool::*'; 'obj:GLOB'\n"
	"                         for a module, 'obj:dash') is listed as\n"
	"                         suppressed, not counted; repeatable\n"
	"      --suppressions FILE  the same, a PATTERN per line (# comments)\n"
	"      --bpf-stats        print to stderr what loading cost: per BPF\n"
	"                         program the instructions the kernel's verifier\n"
	"                         processed (budget 150000), and the load and\n"
	"                         start-up times\n"
	"      --ringbuf BYTES    ring buffer size (default 256 KiB; 4 KiB..1 GiB)\n"
	"      --run-as-root      under sudo, run CMD as root too (default: as the\n"
	"                         invoking user, SUDO_UID/SUDO_GID, no extra groups)\n"
	"  -h, --help             show this help\n"
	"\n"
	"Only the target (and with -f its descendants) is traced: the filter is\n"
	"in the kernel. Fds a process inherited, or had before fdtrack attached,\n"
	"are listed apart and are not leaks; so are those it left at 0-2 (a\n"
	"shell's redirection, a daemon's /dev/null) unless --std-fds.\n"
	"SIGINT/SIGTERM/SIGHUP stop fdtrack: with -- CMD the signal is first\n"
	"forwarded to CMD, which has 0.5 s to exit before it is killed; the\n"
	"report is then written with \"interrupted\": true.\n"
	"\n"
	"Needs root (or CAP_BPF + CAP_PERFMON) and kernel BTF.\n"
	"Exit status, the first that applies:\n"
	"  2      fdtrack failed: usage, environment, CMD could not be started\n"
	"  128+N  fdtrack was interrupted by signal N (130 SIGINT, 143 SIGTERM)\n"
	"  23     (or --leak-exit-code) --fail-on-leak and a process leaked\n"
	"  2      a table of fdtrack's own was full: counts not exact (the\n"
	"         report says which and how to raise it)\n"
	"  with -- CMD: CMD's own exit status (128+N if signal N killed it);\n"
	"  with -p PID: 0\n";

static struct {
	pid_t pid;
	double interval, duration;
	const char *json;
	bool fail_on_leak, run_as_root, bpf_stats;
	int leak_exit_code;
	struct fdtrack_options opts;
	char **cmd;
} env = { .opts = { .want_stacks = 1 },
	  .leak_exit_code = DEFAULT_LEAK_EXIT_CODE };

static volatile sig_atomic_t got_signal;

/* --suppress / --suppressions patterns, NULL-terminated (env.opts.suppress
 * points here). */
static char **suppress;
static size_t nsuppress;

static int add_suppression(const char *pat)
{
	char **more = realloc(suppress, (nsuppress + 2) * sizeof(*more));

	if (!more)
		return -ENOMEM;
	suppress = more;
	if (!(suppress[nsuppress] = strdup(pat)))
		return -ENOMEM;
	suppress[++nsuppress] = NULL;
	env.opts.suppress = (const char *const *)suppress;
	return 0;
}

/* A pattern per line; blank lines and '#' comments skipped. */
static int read_suppressions(const char *path)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int err = 0;

	if (!f) {
		fprintf(stderr, "fdtrack: cannot read suppressions %s: %s\n",
			path, strerror(errno));
		return 2;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p && strchr(" \t\r\n", end[-1]))
			*--end = 0;
		if (*p && *p != '#')
			err = add_suppression(p);
	}
	fclose(f);
	if (err) {
		fprintf(stderr, "fdtrack: out of memory\n");
		return 2;
	}
	return 0;
}

static void free_suppressions(void)
{
	for (size_t i = 0; i < nsuppress; i++)
		free(suppress[i]);
	free(suppress);
}

static void on_signal(int sig)
{
	if (!got_signal)
		got_signal = sig;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "fdtrack: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see fdtrack --help)\n");
	return 2;
}

static bool parse_secs(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	/* no nan/inf, no hex floats; at least a millisecond */
	return !errno && end != s && !*end && isfinite(*out) &&
	       !strpbrk(s, "xX") && *out >= 0.001 && *out <= 1e8;
}

/* A decimal (or 0x) integer in [min, max]. */
static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 0);
	return !errno && end != s && !*end && *out >= min && *out <= max;
}

static int parse_kinds(const char *list)
{
	char bad[32];

	if (fdkind_parse_list(list, &env.opts.kinds, bad, sizeof(bad)) ||
	    !env.opts.kinds)
		return usage_error("unknown fd kind '%s'", *list ? bad : "");
	return 0;
}

enum {
	OPT_FAIL = 256,
	OPT_NOSTACKS,
	OPT_RINGBUF,
	OPT_ROOT,
	OPT_LEAK_CODE,
	OPT_MAX_FDS,
	OPT_MAX_STACKS,
	OPT_MAX_PROCS,
	OPT_FP_ONLY,
	OPT_RAW,
	OPT_STD,
	OPT_SUPPRESS,
	OPT_SUPPRESSIONS,
	OPT_BPF_STATS,
};

static const struct option longopts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "follow", no_argument, NULL, 'f' },
	{ "kind", required_argument, NULL, 'k' },
	{ "interval", required_argument, NULL, 'i' },
	{ "duration", required_argument, NULL, 'd' },
	{ "json", required_argument, NULL, 'j' },
	{ "fail-on-leak", no_argument, NULL, OPT_FAIL },
	{ "leak-exit-code", required_argument, NULL, OPT_LEAK_CODE },
	{ "max-fds", required_argument, NULL, OPT_MAX_FDS },
	{ "max-stacks", required_argument, NULL, OPT_MAX_STACKS },
	{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
	{ "no-stacks", no_argument, NULL, OPT_NOSTACKS },
	{ "frame-pointers", no_argument, NULL, OPT_FP_ONLY },
	{ "raw-symbols", no_argument, NULL, OPT_RAW },
	{ "std-fds", no_argument, NULL, OPT_STD },
	{ "suppress", required_argument, NULL, OPT_SUPPRESS },
	{ "suppressions", required_argument, NULL, OPT_SUPPRESSIONS },
	{ "bpf-stats", no_argument, NULL, OPT_BPF_STATS },
	{ "ringbuf", required_argument, NULL, OPT_RINGBUF },
	{ "run-as-root", no_argument, NULL, OPT_ROOT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* One option; 0, or the exit status of a usage error (or -1: --help). */
static int parse_option(int c)
{
	long v;

	switch (c) {
	case 'p':
		if (!parse_long(optarg, 1, 0x3fffffff, &v) ||
		    strpbrk(optarg, "xX"))
			return usage_error("invalid pid '%s'", optarg);
		env.pid = v;
		return 0;
	case 'f':
		env.opts.follow = 1;
		return 0;
	case 'k':
		return parse_kinds(optarg);
	case 'i':
		return parse_secs(optarg, &env.interval)
			       ? 0
			       : usage_error("invalid interval '%s'", optarg);
	case 'd':
		return parse_secs(optarg, &env.duration)
			       ? 0
			       : usage_error("invalid duration '%s'", optarg);
	case 'j':
		if (!*optarg)
			return usage_error("empty JSON file name%s", "");
		env.json = optarg;
		return 0;
	case OPT_ROOT:
		env.run_as_root = true;
		return 0;
	case OPT_FAIL:
		env.fail_on_leak = true;
		return 0;
	case OPT_LEAK_CODE:
		if (!parse_long(optarg, 1, 255, &v))
			return usage_error(
				"invalid leak exit code '%s' (1..255)", optarg);
		env.leak_exit_code = v;
		return 0;
	case OPT_MAX_FDS:
	case OPT_MAX_STACKS:
	case OPT_MAX_PROCS:
		if (!parse_long(optarg, 1, 1L << 26, &v))
			return usage_error("invalid table size '%s' "
					   "(1..67108864)",
					   optarg);
		*(c == OPT_MAX_FDS	? &env.opts.max_fds
		  : c == OPT_MAX_STACKS ? &env.opts.max_stacks
					: &env.opts.max_procs) = v;
		return 0;
	case OPT_NOSTACKS:
		env.opts.want_stacks = 0;
		return 0;
	case OPT_FP_ONLY:
		env.opts.frame_pointers_only = 1;
		return 0;
	case OPT_RAW:
		env.opts.raw_symbols = 1;
		return 0;
	case OPT_BPF_STATS:
		env.bpf_stats = true;
		return 0;
	case OPT_STD:
		env.opts.std_fds_are_leaks = 1;
		return 0;
	case OPT_SUPPRESS:
		if (!*optarg)
			return usage_error("empty suppression pattern%s", "");
		if (add_suppression(optarg)) {
			fprintf(stderr, "fdtrack: out of memory\n");
			return 2;
		}
		return 0;
	case OPT_SUPPRESSIONS:
		return read_suppressions(optarg);
	case OPT_RINGBUF:
		if (!parse_long(optarg, 4096, 1L << 30, &v))
			return usage_error("invalid ring buffer size '%s'",
					   optarg);
		env.opts.ringbuf_bytes = v;
		return 0;
	case 'h':
		return -1;
	default:
		fprintf(stderr,
			"fdtrack: unknown or incomplete option '-%c' "
			"(see fdtrack --help)\n",
			optopt);
		return 2;
	}
}

/* 0: run; 2: usage error (said); -1: --help printed, exit 0. Never exits:
 * the caller decides. */
static int parse_args(int argc, char **argv)
{
	int c, err;

	opterr = 0;
	/* '+': stop at the first non-option, so CMD's own flags stay its own */
	while ((c = getopt_long(argc, argv, "+p:fk:i:d:j:h", longopts, NULL)) !=
	       -1) {
		if (c == '?' && !(optopt && optopt < 256)) {
			fprintf(stderr,
				"fdtrack: unknown or incomplete option "
				"'%s' (see fdtrack --help)\n",
				argv[optind - 1]);
			return 2;
		}
		err = parse_option(c);
		if (err < 0) {
			fputs(usage, stdout);
			return -1;
		}
		if (err)
			return err;
	}
	if (optind < argc)
		env.cmd = argv + optind;
	if (!env.pid == !env.cmd)
		return usage_error("%s",
				   env.pid ? "give -p PID or -- CMD, not both"
					   : "give -p PID or -- CMD");
	return 0;
}

/* fdtrack's own resident memory, in KiB. */
static long rss_kb(void)
{
	long pages = 0, size;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &pages) != 2)
			pages = 0;
		fclose(f);
	}
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One -i line: per kind, the same balance as the summary's (an exited
 * process's fds count as left open, not as closed by its exit). */
static void print_interval(struct fdtrack *t)
{
	struct fdtrack_counts c;
	bool all_exited;
	char ts[16];
	time_t now_t = time(NULL);

	if (!fdtrack_all_exited(t))
		fdtrack_reconcile(t);
	fdtrack_counts(t, &c);
	all_exited = fdtrack_all_exited(t);
	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now_t));
	printf("%s", ts);
	if (env.opts.follow)
		printf("  processes %llu (running %llu)",
		       (unsigned long long)c.processes,
		       (unsigned long long)c.running);
	for (int k = 0; k < FDKIND_COUNT; k++) {
		if (!cli_kind_active(&c, k))
			continue;
		printf("  %s ", fdkind_name(k));
		cli_print_balance(stdout, &c, k, all_exited);
		printf(";");
	}
	printf("  lost %llu\n", (unsigned long long)c.lost_events);
	fflush(stdout);
}

/* Is the watched work over? */
static bool finished(struct fdtrack *t, const struct command *cmd)
{
	bool all = fdtrack_all_exited(t);

	if (env.cmd)
		return cmd->done && (all || !env.opts.follow);
	if (env.opts.follow)
		return all;
	return fdtrack_exited(t) || kill(env.pid, 0);
}

/* Sleep until records arrive, a traced process stops or ends (SIGCHLD, on
 * sigfd), a stop signal comes, or secs pass: ptrace stops must be answered
 * at once, or every fork and exit of the command waits for us. */
static void wait_for_work(struct fdtrack *t, int sigfd, double secs)
{
	struct pollfd pfd[2] = { { .fd = fdtrack_poll_fd(t), .events = POLLIN },
				 { .fd = sigfd, .events = POLLIN } };
	struct signalfd_siginfo si;

	if (poll(pfd, sigfd >= 0 ? 2 : 1,
		 secs > 0.001 ? (int)(secs * 1000) : 1) > 0 &&
	    (pfd[1].revents & POLLIN))
		while (read(sigfd, &si, sizeof(si)) == sizeof(si))
			; /* drained; command_reap() finds what changed */
}

/* Run until CMD (or PID, and with -f what it started) is done, the
 * duration ends, or a stop signal came. 0, or 2 after printing why. */
static int watch(struct fdtrack *t, struct command *cmd, struct run_info *ri,
		 int sigfd)
{
	double start = mono_s(), next_tick = start + env.interval;
	double grace_end = 0;

	for (;;) {
		double tnow, wait = 0.1;

		if (got_signal && !ri->interrupted) {
			ri->interrupted = got_signal;
			if (env.cmd && !cmd->done) {
				/* pass it on; CMD gets a moment to exit */
				kill(cmd->pid, ri->interrupted);
				grace_end = mono_s() + 0.5;
			}
		}
		if (ri->interrupted &&
		    (!env.cmd || cmd->done || mono_s() >= grace_end))
			return 0;
		if (env.interval && next_tick - mono_s() < wait)
			wait = next_tick - mono_s();
		wait_for_work(t, sigfd, wait);
		if (fdtrack_poll(t, 0)) {
			fprintf(stderr, "%s\n", fdtrack_error());
			return 2;
		}
		if (env.cmd)
			command_reap(t, cmd);
		tnow = mono_s();
		if (env.interval && tnow >= next_tick && !got_signal) {
			print_interval(t);
			next_tick += env.interval;
			if (next_tick < tnow)
				next_tick = tnow + env.interval;
		}
		if (finished(t, cmd))
			return 0;
		if (env.duration && tnow - start >= env.duration)
			return 0;
	}
}

/* The report, text and JSON; the exit status by the rules at the top. */
static int report(struct fdtrack *t, struct run_info *ri)
{
	struct fdtrack_process *procs = NULL;
	struct fdtrack_counts all;
	struct run_totals tot;
	struct rusage ru;
	size_t np = 0;
	int rc = 0;

	ri->rss_traced = rss_kb();
	if (fdtrack_poll(t, 0) || fdtrack_processes(t, &procs, &np)) {
		fprintf(stderr, "%s\n", fdtrack_error());
		return 2;
	}
	fdtrack_counts(t, &all);
	run_totals_of(&all, procs, np, ri, &tot);
	if (env.interval)
		print_interval(t);
	text_report(stdout, procs, np, &tot, ri);
	fflush(stdout);
	ri->rss_end = rss_kb();
	if (!getrusage(RUSAGE_SELF, &ru))
		ri->rss_max = ru.ru_maxrss;
	if (env.json && json_report_write(env.json, procs, np, &tot, ri))
		rc = 2;
	fdtrack_processes_free(procs, np);
	if (rc)
		return rc;
	if (ri->interrupted)
		return 128 + ri->interrupted;
	if (env.fail_on_leak && tot.leaked)
		return env.leak_exit_code;
	if (!tot.exact)
		return 2;
	return env.cmd ? ri->cmd_status : 0;
}

/* Handlers now, stop signals held until attached: a signal during the
 * attach then stops us right after it, with a report. SIGCHLD stays
 * blocked for good: it is read from the returned signalfd. */
static int catch_signals(sigset_t *oldmask)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */
	sigset_t stopset, chld;

	sigemptyset(&stopset);
	for (size_t i = 0; i < cli_nstop_signals; i++) {
		sigaction(cli_stop_signals[i], &sa, NULL);
		sigaddset(&stopset, cli_stop_signals[i]);
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaddset(&stopset, SIGCHLD);
	sigprocmask(SIG_BLOCK, &stopset, oldmask);
	return signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* One line per program, then the times: what the kernel counted. */
static void print_bpf_stats(const struct fdtrack *t)
{
	struct fdtrack_bpf_stats st;

	fdtrack_get_bpf_stats(t, &st);
	for (int i = 0; i < st.nprogs; i++)
		fprintf(stderr, "fdtrack: bpf program %s: %u verified insns\n",
			st.prog[i].name, st.prog[i].verified_insns);
	fprintf(stderr, "fdtrack: bpf load %.3f s, start-up %.3f s\n",
		st.load_seconds, st.start_seconds);
	fprintf(stderr, "fdtrack: bpf kernel reads: %s\n",
		st.kfunc_reads ? "plain loads (bpf_rdonly_cast)"
			       : "bpf_probe_read_kernel (CO-RE)");
}

static int run(int argc, char **argv)
{
	struct command cmd = { .go_fd = -1, .err_fd = -1 };
	struct run_info ri = { 0 };
	struct fdtrack *t = NULL;
	struct run_as run_as;
	sigset_t oldmask, running;
	int rc, sigfd;

	rc = parse_args(argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (env.json && json_report_check(env.json))
		return 2;
	if (env.cmd && run_as_setup(env.run_as_root, &run_as))
		return 2;
	sigfd = catch_signals(&oldmask);
	if (env.cmd) {
		/* a CMD that dies before attach must not kill us via SIGPIPE */
		signal(SIGPIPE, SIG_IGN);
		if (command_spawn(&cmd, env.cmd, &run_as, &oldmask))
			return 2;
		env.pid = cmd.pid;
	}
	if (fdtrack_open(env.pid, &env.opts, &t)) {
		fprintf(stderr, "%s\n", fdtrack_error());
		command_kill(&cmd);
		return 2;
	}
	if (env.bpf_stats)
		print_bpf_stats(t);
	ri = (struct run_info){ .pid = env.pid,
				.cmd = env.cmd,
				.follow = env.opts.follow,
				.rss_start = rss_kb() };
	fdtrack_get_options(t, &ri.opts);
	ri.kinds = ri.opts.kinds;
	if (env.cmd && command_start(&cmd, env.opts.follow)) {
		rc = 2;
		goto out;
	}
	running = oldmask;
	sigaddset(&running, SIGCHLD);
	sigprocmask(SIG_SETMASK, &running, NULL);
	rc = watch(t, &cmd, &ri, sigfd);
	if (!rc && cmd.start_errno) {
		fprintf(stderr, "fdtrack: cannot %s '%s': %s\n", cmd.start_what,
			env.cmd[0], strerror(cmd.start_errno));
		rc = 2;
	}
	if (!rc) {
		ri.cmd_status = cmd.status;
		rc = report(t, &ri);
	}
out:
	command_kill(&cmd);
	fdtrack_close(t);
	if (sigfd >= 0)
		close(sigfd);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = run(argc, argv);

	free_suppressions();
	return rc;
}
