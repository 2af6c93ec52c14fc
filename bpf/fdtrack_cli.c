/*
 * fdtrack: trace a process's eventfd and io_uring fds, report what it leaves
 * open, grouped by opening stack.
 *
 *   fdtrack -p PID            watch a running process
 *   fdtrack [options] -- CMD  run CMD and watch it
 *
 * With -- CMD the child waits on a pipe until the BPF programs are attached,
 * then execs. fdtrack also ptrace-seizes it with PTRACE_O_TRACEEXIT only: the
 * exit stop comes at the start of do_exit, while the fd table and memory map
 * are intact, so the leak report is taken (and symbolised) at the exact
 * moment the command exits. Independently, the BPF sched_process_exit hook
 * counts the fds open at exit (exact for -p PID too).
 *
 * Run through sudo, CMD runs as the invoking user (SUDO_UID/SUDO_GID, no
 * supplementary groups) unless --run-as-root.
 *
 * SIGINT/SIGTERM/SIGHUP: with -- CMD the signal is forwarded to CMD, which
 * gets half a second to exit (then SIGKILL); the report (and --json) is
 * written with "interrupted": true, and fdtrack exits 128+signal.
 *
 * The JSON report is written to a temporary file next to FILE and renamed,
 * so FILE is never partial; FILE's directory is checked before attaching.
 *
 * Exit codes: 0 ok, 1 leak (with --fail-on-leak), 2 usage/environment error,
 * 128+N interrupted by signal N.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdkind.h"
#include "fdtrack.h"
#include "fdtrack_cli.h"

static const char usage[] =
	"Usage: fdtrack [OPTIONS] -p PID\n"
	"       fdtrack [OPTIONS] -- CMD [ARGS...]\n"
	"Trace the eventfd and io_uring fds of one process with eBPF and report\n"
	"those left open, grouped by the user stack that opened them.\n"
	"\n"
	"  -p, --pid PID        watch this running process\n"
	"  -i, --interval SECS  print opens/closes/live per kind every SECS\n"
	"  -d, --duration SECS  stop after SECS (with -- CMD, CMD is killed)\n"
	"  -j, --json FILE      write the report as JSON to FILE ('-' = stdout)\n"
	"      --fail-on-leak   exit 1 if a tracked fd is open when the target\n"
	"                       exits or the duration ends\n"
	"      --no-stacks      do not record opening stacks\n"
	"      --ringbuf BYTES  ring buffer size (default 256 KiB; 4 KiB..1 GiB)\n"
	"      --run-as-root    under sudo, run CMD as root too (default: as the\n"
	"                       invoking user, SUDO_UID/SUDO_GID, no extra groups)\n"
	"  -h, --help           show this help\n"
	"\n"
	"Only the target process is traced (filtered in the kernel).\n"
	"SIGINT/SIGTERM/SIGHUP stop fdtrack: with -- CMD the signal is first\n"
	"forwarded to CMD, which has 0.5 s to exit before it is killed; the\n"
	"report is then written with \"interrupted\": true.\n"
	"\n"
	"Needs root (or CAP_BPF + CAP_PERFMON) and kernel BTF.\n"
	"Exit status: 0 ok, 1 leak found (--fail-on-leak), 2 usage or "
	"environment error,\n128+N interrupted by signal N (130 SIGINT, "
	"143 SIGTERM).\n";

static struct {
	pid_t pid;
	double interval, duration;
	const char *json;
	bool fail_on_leak, run_as_root;
	struct fdtrack_options opts;
	char **cmd;
} env = { .opts = { .want_stacks = 1 } };

const enum fdkind cli_tracked_kinds[] = { FDKIND_EVENTFD, FDKIND_IO_URING };
const size_t cli_ntracked =
	sizeof(cli_tracked_kinds) / sizeof(cli_tracked_kinds[0]);

static volatile sig_atomic_t got_signal;

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

static int parse_args(int argc, char **argv)
{
	enum { OPT_FAIL = 256, OPT_NOSTACKS, OPT_RINGBUF, OPT_ROOT };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", required_argument, NULL, 'j' },
		{ "fail-on-leak", no_argument, NULL, OPT_FAIL },
		{ "no-stacks", no_argument, NULL, OPT_NOSTACKS },
		{ "ringbuf", required_argument, NULL, OPT_RINGBUF },
		{ "run-as-root", no_argument, NULL, OPT_ROOT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	opterr = 0;
	/* '+': stop at the first non-option, so CMD's own flags stay its own */
	while ((c = getopt_long(argc, argv, "+p:i:d:j:h", longopts, NULL)) != -1) {
		char *end;
		long v;

		switch (c) {
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v <= 0 ||
			    v > 0x3fffffff)
				return usage_error("invalid pid '%s'", optarg);
			env.pid = v;
			break;
		case 'i':
			if (!parse_secs(optarg, &env.interval))
				return usage_error("invalid interval '%s'", optarg);
			break;
		case 'd':
			if (!parse_secs(optarg, &env.duration))
				return usage_error("invalid duration '%s'", optarg);
			break;
		case 'j':
			if (!*optarg)
				return usage_error("empty JSON file name%s", "");
			env.json = optarg;
			break;
		case OPT_ROOT:
			env.run_as_root = true;
			break;
		case OPT_FAIL:
			env.fail_on_leak = true;
			break;
		case OPT_NOSTACKS:
			env.opts.want_stacks = 0;
			break;
		case OPT_RINGBUF:
			errno = 0;
			v = strtol(optarg, &end, 0);
			if (errno || end == optarg || *end || v < 4096 ||
			    v > (1L << 30))
				return usage_error("invalid ring buffer size '%s'",
						   optarg);
			env.opts.ringbuf_bytes = v;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			if (optopt && optopt < 256)
				fprintf(stderr, "fdtrack: unknown or incomplete option "
					"'-%c' (see fdtrack --help)\n", optopt);
			else
				fprintf(stderr, "fdtrack: unknown or incomplete option "
					"'%s' (see fdtrack --help)\n",
					argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc)
		env.cmd = argv + optind;
	if (!env.pid == !env.cmd)
		return usage_error("%s", env.pid ? "give -p PID or -- CMD, not both"
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

static void print_interval(struct fdtrack *t)
{
	struct fdtrack_counts c;
	char ts[16];
	time_t now_t = time(NULL);

	if (!fdtrack_exited(t))
		fdtrack_reconcile(t);
	fdtrack_counts(t, &c);
	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now_t));
	printf("%s", ts);
	for (size_t i = 0; i < cli_ntracked; i++) {
		enum fdkind k = cli_tracked_kinds[i];

		printf("  %s opens %llu closes %llu live %llu", fdkind_name(k),
		       (unsigned long long)c.opens[k],
		       (unsigned long long)c.closes[k],
		       (unsigned long long)c.live[k]);
	}
	printf("  lost %llu\n", (unsigned long long)c.lost_events);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct command ch = { 0 };
	struct fdtrack *t = NULL;
	struct fdtrack_counts c;
	struct fdtrack_group *groups = NULL;
	size_t ngroups = 0;
	uint64_t left_open[FDKIND_COUNT] = { 0 }, total = 0;
	double start, next_tick;
	int go_fd = -1, err, rc = 0;
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */
	struct run_info ri = { 0 };
	struct rusage ru;
	struct run_as run_as;
	sigset_t stopset, oldmask;
	double grace_end = 0;

	err = parse_args(argc, argv);
	if (err)
		return err;
	if (env.json && json_report_check(env.json))
		return 2;
	if (env.cmd && run_as_setup(env.run_as_root, &run_as))
		return 2;
	/* Handlers now, signals held until attached: a signal during the
	 * attach then stops us right after it, with a report. */
	sigemptyset(&stopset);
	for (size_t i = 0; i < cli_nstop_signals; i++) {
		sigaction(cli_stop_signals[i], &sa, NULL);
		sigaddset(&stopset, cli_stop_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &stopset, &oldmask);
	if (env.cmd) {
		/* a CMD that dies before attach must not kill us via SIGPIPE */
		signal(SIGPIPE, SIG_IGN);
		ch.pid = command_spawn(env.cmd, &run_as, &go_fd, &oldmask);
		if (ch.pid < 0) {
			fprintf(stderr, "fdtrack: fork failed: %s\n", strerror(errno));
			return 2;
		}
		env.pid = ch.pid;
	}
	err = fdtrack_open(env.pid, &env.opts, &t);
	if (err) {
		fprintf(stderr, "%s\n", fdtrack_error());
		if (env.cmd) {
			close(go_fd); /* the child exits without running CMD */
			waitpid(ch.pid, NULL, 0);
		}
		return 2;
	}
	ri.rss_start = rss_kb();
	if (env.cmd) {
		ch.traced = ptrace(PTRACE_SEIZE, ch.pid, 0,
				   PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL) == 0;
		if (!ch.traced)
			fprintf(stderr, "fdtrack: warning: cannot ptrace the command "
				"(%s): stacks may stay unresolved if it exits "
				"quickly\n", strerror(errno));
		if (write(go_fd, "g", 1) != 1) {
			fprintf(stderr, "fdtrack: cannot start the command\n");
			rc = 2;
			goto out;
		}
		close(go_fd);
	}
	sigprocmask(SIG_SETMASK, &oldmask, NULL);

	start = mono_s();
	next_tick = start + env.interval;
	for (;;) {
		double tnow, wait = 0.1;

		if (got_signal && !ri.interrupted) {
			ri.interrupted = got_signal;
			if (env.cmd && !ch.done) {
				/* pass it on; CMD gets a moment to exit */
				kill(ch.pid, ri.interrupted);
				grace_end = mono_s() + 0.5;
			}
		}
		if (ri.interrupted && (!env.cmd || ch.done || mono_s() >= grace_end))
			break;
		if (env.interval && next_tick - mono_s() < wait)
			wait = next_tick - mono_s();
		if (fdtrack_poll(t, wait > 0.001 ? (int)(wait * 1000) : 1)) {
			fprintf(stderr, "%s\n", fdtrack_error());
			rc = 2;
			break;
		}
		if (env.cmd)
			command_reap(t, &ch);
		tnow = mono_s();
		if (env.interval && tnow >= next_tick && !got_signal) {
			print_interval(t);
			next_tick += env.interval;
			if (next_tick < tnow)
				next_tick = tnow + env.interval;
		}
		if (env.cmd ? ch.done : (fdtrack_exited(t) || kill(env.pid, 0)))
			break;
		if (env.duration && tnow - start >= env.duration)
			break;
	}

	ri.rss_traced = rss_kb();
	/* The report: what was open when the target exited, or is open now. */
	fdtrack_poll(t, 0);
	fdtrack_counts(t, &c);
	if (ch.have_groups && c.exited) {
		groups = ch.groups;
		ngroups = ch.ngroups;
		ch.groups = NULL;
	} else if (fdtrack_live_groups(t, &groups, &ngroups)) {
		fprintf(stderr, "%s\n", fdtrack_error());
		rc = 2;
	}
	fdtrack_counts(t, &c);
	for (int k = 0; k < FDKIND_COUNT; k++) {
		left_open[k] = c.exited ? c.open_at_exit[k] : c.live[k];
		total += left_open[k];
	}
	if (env.interval)
		print_interval(t);
	printf("fdtrack: pid %d %s: ", (int)env.pid,
	       c.exited ? "exited" : "still running");
	for (size_t i = 0; i < cli_ntracked; i++) {
		enum fdkind k = cli_tracked_kinds[i];

		printf("%s%s opened %llu, closed %llu, left open %llu",
		       i ? "; " : "", fdkind_name(k),
		       (unsigned long long)c.opens[k],
		       (unsigned long long)c.closes[k],
		       (unsigned long long)left_open[k]);
	}
	printf("; lost events %llu\n", (unsigned long long)c.lost_events);
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (c.closed_outside_syscalls[k])
			printf("fdtrack: %llu %s fds closed outside syscalls "
			       "(e.g. IORING_OP_CLOSE), not leaks\n",
			       (unsigned long long)c.closed_outside_syscalls[k],
			       fdkind_name(k));
	if (ngroups)
		printf("\n");
	fdtrack_print_groups(stdout, groups, ngroups);
	fflush(stdout);
	if (ri.interrupted)
		printf("fdtrack: interrupted by signal %d\n", ri.interrupted);
	fflush(stdout);
	ri.rss_end = rss_kb();
	if (!getrusage(RUSAGE_SELF, &ru))
		ri.rss_max = ru.ru_maxrss;
	if (env.json && json_report_write(env.json, &c, left_open, groups,
					  ngroups, env.pid,
					  env.cmd ? env.cmd[0] : NULL,
					  ch.status, &ri))
		rc = 2;
	if (!rc && env.fail_on_leak && total)
		rc = 1;
	if (!rc || rc == 1)
		rc = ri.interrupted ? 128 + ri.interrupted : rc;
out:
	if (env.cmd && !ch.done) {
		kill(ch.pid, SIGKILL);
		waitpid(ch.pid, NULL, __WALL);
	}
	fdtrack_groups_free(groups, ngroups);
	fdtrack_groups_free(ch.groups, ch.ngroups);
	fdtrack_close(t);
	return rc;
}
