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
 * SIGINT/SIGTERM/SIGHUP: with -- CMD the signal is forwarded to every
 * process of CMD's tree (fdtrack is its subreaper: cli_command.c), which
 * get half a second to exit (then SIGKILL, until none is left); -d ending
 * kills the tree at once. The report says which processes fdtrack stopped
 * and how each ended; it (and --json) is written with "interrupted": true
 * after a signal, and fdtrack exits 128+signal.
 *
 * Every number on the command line is decimal (a leading 0 is no octal).
 *
 * Over 600 lines for a reason: the usage text and every option's checks
 * sit beside the loop they configure.
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
#include "version.h" /* generated: $(BUILD)/gen, scripts/version.sh */

#define DEFAULT_LEAK_EXIT_CODE 23
#define STOP_GRACE_S	       0.5 /* a stop signal's time to act before SIGKILL */
#define STOP_MAX_S	       5.0 /* then give up waiting for the tree to go */

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
	"  -d, --duration SECS    stop after SECS (with -- CMD, CMD and every\n"
	"                         process it started are killed)\n"
	"  -j, --json FILE        write the report as JSON to FILE ('-' = stdout;\n"
	"                         a device or FIFO is written in place, a file\n"
	"                         replaced when the report is complete)\n"
	"      --fail-on-leak     exit with the leak code if a process leaked: an\n"
	"                         fd it opened was still open when it exited by\n"
	"                         itself. Not counted, listed as \"still open\":\n"
	"                         the fds of a process still running when\n"
	"                         fdtrack stops (-p, -d) or killed by fdtrack\n"
	"                         (SIGKILL: -d ended, or a stop signal's 0.5 s\n"
	"                         ran out)\n"
	"      --leak-exit-code N the leak code (default 23; 1..255)\n"
	"      --max-fds N        fds tracked at once, all processes together\n"
	"                         (default /proc/sys/fs/nr_open)\n"
	"      --max-procs N      processes followed at once (default 4096)\n"
	"      --max-stacks N     distinct opening stacks (default 16384)\n"
	"      --no-stacks        do not record opening stacks (cheaper; not\n"
	"                         with --suppress/--suppressions, which match\n"
	"                         frames of those stacks)\n"
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
	"  -V, --version          print fdtrack's version\n"
	"\n"
	"Only the target (and with -f its descendants) is traced: the filter is\n"
	"in the kernel. Fds a process inherited, or had before fdtrack attached,\n"
	"are listed apart and are not leaks; so are those it left at 0-2 (a\n"
	"shell's redirection, a daemon's /dev/null) unless --std-fds.\n"
	"SIGINT/SIGTERM/SIGHUP stop fdtrack: with -- CMD the signal is first\n"
	"forwarded to CMD and every process it started, which have 0.5 s to\n"
	"exit before they are killed; the report says which it stopped, and is\n"
	"written with \"interrupted\": true. Numbers are decimal.\n"
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
	struct outfile json_out;
} env = { .opts = { .want_stacks = 1 },
	  .leak_exit_code = DEFAULT_LEAK_EXIT_CODE,
	  .json_out = OUTFILE_NONE };

static volatile sig_atomic_t got_signal;

/* --suppress / --suppressions patterns, NULL-terminated (env.opts.suppress
 * points here). */
static char **suppress;
static size_t nsuppress;

static int add_suppression(const char *pat, void *unused)
{
	char **more = realloc(suppress, (nsuppress + 2) * sizeof(*more));

	(void)unused;
	if (!more)
		return -ENOMEM;
	suppress = more;
	if (!(suppress[nsuppress] = strdup(pat)))
		return -ENOMEM;
	suppress[++nsuppress] = NULL;
	env.opts.suppress = (const char *const *)suppress;
	return 0;
}

/* --suppressions FILE (cli_suppress.c says what is refused). */
static int read_suppressions(const char *path)
{
	char why[160], *text;
	size_t len;
	int err = cli_suppressions_read(path, &text, &len, why, sizeof(why));

	if (!err)
		err = cli_suppressions_parse(text, len, add_suppression, NULL,
					     why, sizeof(why));
	free(text);
	if (!err)
		return 0;
	fprintf(stderr, "fdtrack: --suppressions ");
	cli_text_str(stderr, path);
	fprintf(stderr, ": %s\n", why);
	return 2;
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

/* One line, the user's value escaped (it may hold anything). */
static int usage_error(const char *fmt, const char *arg)
{
	char *esc = cli_text_dup(arg);
	const char *pct = strstr(fmt, "%s");

	fprintf(stderr, "fdtrack: ");
	if (pct) {
		fprintf(stderr, "%.*s%s%s", (int)(pct - fmt), fmt,
			esc ? esc : "?", pct + 2);
	} else {
		fputs(fmt, stderr);
	}
	fprintf(stderr, " (see fdtrack --help)\n");
	free(esc);
	return 2;
}

/* Seconds: a plain decimal ("1", "0.25", "2e3"): no sign, no blank, no
 * hex, no nan/inf; at least a millisecond. */
static bool parse_secs(const char *s, double *out)
{
	char *end;

	if (!((*s >= '0' && *s <= '9') || *s == '.'))
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && end != s && !*end && isfinite(*out) &&
	       !strpbrk(s, "xXpP") && *out >= 0.001 && *out <= 1e8;
}

/* A decimal integer in [min, max]: digits only (a leading 0 is not octal,
 * as it is not to exstress or to a person). */
static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtol(s, &end, 10);
	return !errno && !*end && *out >= min && *out <= max;
}

static int parse_kinds(const char *list)
{
	char bad[32];

	if (fdkind_parse_list(list, &env.opts.kinds, bad, sizeof(bad)) ||
	    !env.opts.kinds)
		return usage_error("-k/--kind: unknown fd kind '%s'",
				   *list ? bad : "");
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
	OPT_VERSION,
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
	{ "version", no_argument, NULL, 'V' },
	{ 0 }
};

/* One option; 0, or the exit status of a usage error (or -1: --help,
 * -2: --version). */
static int parse_option(int c)
{
	long v;

	switch (c) {
	case 'p':
		if (!parse_long(optarg, 1, 0x3fffffff, &v))
			return usage_error("-p/--pid: invalid pid '%s' (a "
					   "decimal number)",
					   optarg);
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
			       : usage_error("-i/--interval: invalid interval "
					     "'%s' (decimal seconds, 0.001 to "
					     "1e8)",
					     optarg);
	case 'd':
		return parse_secs(optarg, &env.duration)
			       ? 0
			       : usage_error("-d/--duration: invalid duration "
					     "'%s' (decimal seconds, 0.001 to "
					     "1e8)",
					     optarg);
	case 'j':
		if (!*optarg)
			return usage_error("-j/--json: empty file name%s", "");
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
			return usage_error("--leak-exit-code: invalid code "
					   "'%s' (a decimal number, 1..255)",
					   optarg);
		env.leak_exit_code = v;
		return 0;
	case OPT_MAX_FDS:
	case OPT_MAX_STACKS:
	case OPT_MAX_PROCS:
		if (!parse_long(optarg, 1, 1L << 26, &v))
			return usage_error(c == OPT_MAX_FDS
						   ? "--max-fds: invalid "
						     "size '%s' (1..67108864)"
					   : c == OPT_MAX_STACKS
						   ? "--max-stacks: invalid "
						     "size '%s' (1..67108864)"
						   : "--max-procs: invalid size "
						     "'%s' (1..67108864)",
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
			return usage_error("--suppress: empty pattern%s", "");
		if (add_suppression(optarg, NULL)) {
			fprintf(stderr, "fdtrack: out of memory\n");
			return 2;
		}
		return 0;
	case OPT_SUPPRESSIONS:
		return read_suppressions(optarg);
	case OPT_RINGBUF:
		if (!parse_long(optarg, 4096, 1L << 30, &v))
			return usage_error("--ringbuf: invalid size '%s' (a "
					   "decimal number of bytes, 4096.."
					   "1073741824)",
					   optarg);
		env.opts.ringbuf_bytes = v;
		return 0;
	case 'h':
		return -1;
	case 'V':
		return -2;
	default:
		if (optopt > 0x20 && optopt < 0x7f)
			fprintf(stderr,
				"fdtrack: unknown or incomplete option '-%c' "
				"(see fdtrack --help)\n",
				optopt);
		else
			fprintf(stderr, "fdtrack: unknown option (see fdtrack "
					"--help)\n");
		return 2;
	}
}

/* 0: run; 2: usage error (said); -1: --help or --version printed, exit 0.
 * Never exits: the caller decides. */
static int parse_args(int argc, char **argv)
{
	int c, err;

	opterr = 0;
	/* '+': stop at the first non-option, so CMD's own flags stay its own */
	while ((c = getopt_long(argc, argv, "+p:fk:i:d:j:hV", longopts, NULL)) !=
	       -1) {
		if (c == '?' && !(optopt && optopt < 256))
			return usage_error("unknown or incomplete option '%s'",
					   argv[optind - 1]);
		err = parse_option(c);
		if (err < 0) {
			if (err == -1)
				fputs(usage, stdout);
			else
				printf("fdtrack %s\n", PACKAGE_VERSION);
			return -1;
		}
		if (err)
			return err;
	}
	if (optind < argc)
		env.cmd = argv + optind;
	if (nsuppress && !env.opts.want_stacks)
		return usage_error("%s", "--suppress and --suppressions match the "
					 "frames of opening stacks: they cannot "
					 "work with --no-stacks");
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

/* Stop CMD's whole tree: sig to every process of it, STOP_GRACE_S for
 * them to act on it (none for SIGKILL), then SIGKILL to what is left,
 * again until nothing is; ptrace stops are answered and records read
 * meanwhile, so the exits reach the report. */
static void stop_tree(struct fdtrack *t, struct command *cmd, int sig,
		      int sigfd)
{
	double start = mono_s(), kill_at = start;

	if (sig != SIGKILL) {
		command_signal_tree(cmd, sig);
		kill_at = start + STOP_GRACE_S;
	}
	while (mono_s() - start < STOP_MAX_S) {
		if (mono_s() >= kill_at) {
			command_signal_tree(cmd, SIGKILL);
			kill_at = mono_s() + 0.1;
		}
		wait_for_work(t, sigfd, 0.01);
		fdtrack_poll(t, 0);
		command_reap(t, cmd);
		/* gone and reaped (by us, as their subreaper, or by their
		 * parents), so the report has how each ended */
		if (cmd->done && !command_tree_left(true))
			break;
	}
	fdtrack_poll(t, 0); /* the last exits' records */
}

/* Run until CMD (or PID, and with -f what it started) is done, the
 * duration ends, or a stop signal came. 0, or 2 after printing why. */
static int watch(struct fdtrack *t, struct command *cmd, struct run_info *ri,
		 int sigfd)
{
	double start = mono_s(), next_tick = start + env.interval;

	for (;;) {
		double tnow, wait = 0.1;

		if (got_signal) {
			ri->interrupted = got_signal;
			if (env.cmd)
				stop_tree(t, cmd, ri->interrupted, sigfd);
			return 0;
		}
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
		/* the end first: the report prints the last interval line,
		 * so a tick that falls on the end is not printed twice */
		if (finished(t, cmd))
			return 0;
		if (env.duration && tnow - start >= env.duration) {
			/* what is left of CMD's tree is killed now, so the
			 * report says how each process ended */
			ri->duration_ended = true;
			if (env.cmd && command_tree_left(false)) {
				ri->cmd_killed = true;
				stop_tree(t, cmd, SIGKILL, sigfd);
			}
			return 0;
		}
		if (env.interval && tnow >= next_tick && !got_signal) {
			print_interval(t);
			next_tick += env.interval;
			if (next_tick < tnow)
				next_tick = tnow + env.interval;
		}
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
	if (env.json && json_report_write(&env.json_out, procs, np, &tot, ri))
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
	/* CMD's status is its own, unless fdtrack killed it (-d) */
	return env.cmd && !ri->cmd_killed ? ri->cmd_status : 0;
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

/* -p PID: a process fdtrack can watch. 0, or 2 after saying why. */
static int check_pid(pid_t pid)
{
	char path[64], buf[512], num[16], *paren;
	unsigned long flags = 0;
	FILE *f;

	snprintf(num, sizeof(num), "%d", (int)pid);
	if (pid == getpid())
		return usage_error("-p %s: that is fdtrack itself", num);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0; /* fdtrack_open says "no process" */
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	/* pid (comm) state ppid pgrp session tty tpgid flags */
	if ((paren = strrchr(buf, ')')) &&
	    sscanf(paren + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1 &&
	    (flags & 0x00200000)) /* PF_KTHREAD */
		return usage_error("-p %s: a kernel thread has no fds of its "
				   "own to track",
				   num);
	return 0;
}

static int run(int argc, char **argv)
{
	struct command cmd = { 0 };
	struct run_info ri = { 0 };
	struct fdtrack *t = NULL;
	struct run_as run_as;
	sigset_t oldmask, running;
	char why[256];
	int rc, sigfd;

	rc = parse_args(argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (env.pid && !env.cmd && (rc = check_pid(env.pid)))
		return rc;
	/* stdout may be a pipe that closes (| head): a write error, not a
	 * death that loses the JSON report */
	signal(SIGPIPE, SIG_IGN);
	if (env.json &&
	    outfile_open(&env.json_out, env.json, why, sizeof(why))) {
		fprintf(stderr, "fdtrack: cannot write the JSON report to ");
		cli_text_str(stderr, env.json);
		fprintf(stderr, ": %s\n", why);
		return 2;
	}
	if (env.cmd && run_as_setup(env.run_as_root, &run_as)) {
		outfile_abort(&env.json_out);
		return 2;
	}
	sigfd = catch_signals(&oldmask);
	if (env.cmd) {
		int own[] = { sigfd, env.json_out.fd };

		if (command_spawn(&cmd, env.cmd, &run_as, &oldmask, own, 2)) {
			outfile_abort(&env.json_out);
			return 2;
		}
		env.pid = cmd.pid;
	}
	if (fdtrack_open(env.pid, &env.opts, &t)) {
		fprintf(stderr, "%s\n", fdtrack_error());
		rc = 2;
		goto out;
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
		fprintf(stderr, "fdtrack: cannot %s '", cmd.start_what);
		cli_text_str(stderr, env.cmd[0]);
		fprintf(stderr, "': %s\n", strerror(cmd.start_errno));
		rc = 2;
	}
	if (!rc) {
		ri.cmd_status = cmd.status;
		ri.stopped = cmd.stopped;
		ri.nstopped = cmd.nstopped;
		rc = report(t, &ri);
	}
out:
	outfile_abort(&env.json_out); /* a report not written: no file */
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
