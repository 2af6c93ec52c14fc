/*
 * fdtrack's cost per syscall (issue 11), each beside the same loop with one
 * no-op tp_btf/sys_exit program attached (noop.bpf.c: the floor of any
 * syscall tracepoint tracker) and with nothing attached, the three rotated
 * every repetition; thread CPU time of a child pinned to the last CPU.
 *
 * fdtrack_syscall_overhead: ns per getppid in a child fdtrack does not
 *   watch (it watches an idle process, every fd kind): what every other
 *   process pays.
 * fdtrack_open_close: ns per open+close pair of a regular file in the child
 *   fdtrack watches (every fd kind, opening stacks with DWARF unwinding:
 *   its defaults): what the traced program pays. (This loop replaces
 *   bpf/bench/overhead.c and `make fdtrack-overhead`.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.h"
#include "clock.h"
#ifndef BENCH_NO_FDTRACK
#include "fdtrack.h"
#endif
#include "noop.skel.h"

enum loop {
	GETPPID,
	OPEN_CLOSE
};

struct sys_arg {
	enum loop loop;
	unsigned long long n;
	int cpu;
	char *err;
	size_t errlen;
};

static struct bench_noop_bpf *noop_skel;
static pid_t idle_pid; /* the idle process fdtrack watches for GETPPID */

/* In the child: wait for go, warm up, time n iterations, write ns per
 * iteration to result. */
static _Noreturn void child_loop(const struct sys_arg *a, int go, int result)
{
	char path[64], c;
	uint64_t t0;
	double ns;
	int fd;

	cpu_pin_self(a->cpu);
	snprintf(path, sizeof(path), "/tmp/bench-open-close-%d", (int)getpid());
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || read(go, &c, 1) != 1)
		_exit(1);
	close(fd);
	for (int i = 0; i < 20000; i++) /* warm up, migrate */
		if (a->loop == GETPPID)
			syscall(SYS_getppid);
		else
			close(open(path, O_RDONLY));
	t0 = thread_cpu_ns();
	if (a->loop == GETPPID)
		for (unsigned long long i = 0; i < a->n; i++)
			syscall(SYS_getppid);
	else
		for (unsigned long long i = 0; i < a->n; i++)
			close(open(path, O_RDONLY));
	ns = (double)(thread_cpu_ns() - t0) / (double)a->n;
	unlink(path);
	_exit(write(result, &ns, sizeof(ns)) == sizeof(ns) ? 0 : 1);
}

enum floor {
	NOTHING,
	NOOP,
	FDTRACK
};

#ifndef BENCH_NO_FDTRACK
/* Wait until fd is readable, serving fdtrack's ring meanwhile (no-op
 * without t): 0 when fd is readable, 1 to call again. */
static int poll_while_waiting(struct fdtrack *t, int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = t ? fdtrack_poll_fd(t) : -1,
				 .events = POLLIN } };

	if (poll(p, 2, 100) < 0 && errno != EINTR)
		return 0; /* the read says what went wrong */
	if (p[0].revents)
		return 0;
	if (t)
		fdtrack_poll(t, 0);
	return 1;
}
#else
static int poll_while_waiting(void *t, int fd)
{
	(void)t;
	(void)fd;
	return 0;
}
#endif

/* One repetition with f attached: ns per iteration, or -1 (a->err). */
static double rep(struct sys_arg *a, enum floor f)
{
	struct bpf_link *link = NULL;
	int go[2], res[2], st, ok = 1;
	double ns = -1;
	pid_t pid;
#ifndef BENCH_NO_FDTRACK
	/* fdtrack's defaults, every kind spelled out (0 = all) */
	struct fdtrack_options o = { .want_stacks = 1, .kinds = 0 };
	struct fdtrack *t = NULL;
#else
	void *t = NULL;
#endif

	if (pipe(go))
		return -1;
	if (pipe(res)) {
		close(go[0]);
		close(go[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		close(res[0]);
		child_loop(a, go[0], res[1]);
	}
	close(go[0]);
	close(res[1]);
	if (f == NOOP &&
	    !(link = bpf_program__attach(noop_skel->progs.bench_noop))) {
		snprintf(a->err, a->errlen,
			 "attaching the no-op tp_btf/sys_exit "
			 "program: %s",
			 strerror(errno));
		ok = 0;
	}
	if (f == FDTRACK) {
#ifdef BENCH_NO_FDTRACK
		snprintf(a->err, a->errlen, "built without fdtrack (no bpf/)");
		ok = 0;
#else
		/* getppid: fdtrack watches someone else; open/close: the loop */
		if (fdtrack_open(a->loop == GETPPID ? idle_pid : pid, &o, &t)) {
			snprintf(a->err, a->errlen, "%s", fdtrack_error());
			ok = 0;
		}
#endif
	}
	if (ok && write(go[1], "g", 1) == 1) {
		ssize_t r;

		/* Consume fdtrack's records while the loop runs, as the CLI
		 * does (it waits on the same fd, at most 0.1 s): a new call
		 * path is unwound then, and until it is every open from it
		 * compares its stack with the path's whole copied window
		 * (1.35-1.39 instead of 1.16-1.21 here, bench README). */
		while (poll_while_waiting(t, res[0]) > 0)
			;
		while ((r = read(res[0], &ns, sizeof(ns))) < 0 &&
		       errno == EINTR)
			;
		if (r != sizeof(ns))
			ns = -1;
	}
	close(go[1]);
	close(res[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		ns = -1;
#ifndef BENCH_NO_FDTRACK
	if (t)
		fdtrack_poll(t, 0);
	fdtrack_close(t);
#endif
	bpf_link__destroy(link);
	return ns;
}

/* Tracing programs (tp_btf, raw tracepoints) loaded by someone else: on a
 * shared machine another fdtrack may be attached, and then "nothing loaded"
 * is not nothing. Counted before the measurement and reported. */
static int other_tracing_programs(void)
{
	__u32 id = 0;
	int n = 0;
	while (bpf_prog_get_next_id(id, &id) == 0) {
		int fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			continue;
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    (info.type == BPF_PROG_TYPE_TRACING ||
		     info.type == BPF_PROG_TYPE_RAW_TRACEPOINT ||
		     info.type == BPF_PROG_TYPE_TRACEPOINT))
			n++;
		close(fd);
	}
	return n;
}

/* fdtrack, the no-op floor and (nconf 3) nothing, rotated every repetition
 * (A B C, B C A, C A B). */
static void measure_rotated(struct bench_result *r, int reps, int nconf,
			    struct sys_arg *a)
{
	const enum floor order[3] = { FDTRACK, NOOP, NOTHING };
	double *slot[3] = { r->fig, r->floor, r->extra };
	for (int i = 0; i < reps; i++) {
		for (int k = 0; k < nconf; k++) {
			int which = (i + k) % nconf;
			double v = rep(a, order[which]);
			if (v < 0) {
				if (!r->error[0])
					snprintf(r->error, sizeof(r->error),
						 "%s loop failed",
						 a->loop == GETPPID
							 ? "getppid"
							 : "open/close");
				return;
			}
			slot[which][i] = v;
		}
		r->nrep = i + 1;
		r->nextra = nconf == 3 ? i + 1 : 0;
		bench_progress(".");
	}
}

/* The no-op program loaded; the idle process started. 0 or -1 (r->error). */
static int setup(struct bench_result *r)
{
	noop_skel = bench_noop_bpf__open_and_load();
	if (!noop_skel) {
		snprintf(r->error, sizeof(r->error),
			 "loading the no-op BPF program failed (%s): run as root "
			 "on a kernel with BTF and tp_btf support",
			 strerror(errno));
		return -1;
	}
	idle_pid = fork();
	if (idle_pid == 0) {
		for (;;)
			pause();
	}
	if (idle_pid < 0) {
		snprintf(r->error, sizeof(r->error), "fork: %s",
			 strerror(errno));
		bench_noop_bpf__destroy(noop_skel);
		noop_skel = NULL;
		return -1;
	}
	return 0;
}

static void teardown(void)
{
	kill(idle_pid, SIGKILL);
	waitpid(idle_pid, NULL, 0);
	bench_noop_bpf__destroy(noop_skel);
	noop_skel = NULL;
}

static void run_fdtrack_syscall_overhead(struct bench_run *run)
{
	struct bench_result *r = bench_result_add(run,
						  "fdtrack_syscall_overhead");
	if (!r)
		return;
	r->unit = "ns/syscall";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what),
		 "getppid loop in a child pinned to one CPU while "
		 "fdtrack watches another (idle) pid, every fd kind");
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "the same loop while one no-op "
		 "tp_btf/sys_exit program is attached");
	r->extra_name = "nothing_loaded";
	r->goal_max_ratio = 1.10;
	r->count = run->opt->smoke ? 20000 : 500000;
	struct sys_arg a = { .loop = GETPPID,
			     .n = r->count,
			     .cpu = bench_ncpus() - 1,
			     .err = r->error,
			     .errlen = sizeof(r->error) };

	run->other_tracing_bpf_programs = other_tracing_programs();
	if (setup(r))
		return;
	measure_rotated(r, bench_reps(run->opt, 5), 3, &a);
	teardown();
}

/* The child pins itself to the last CPU; the parent only waits. */
const struct bench_figure bench_fig_fdtrack_syscall_overhead = {
	.name = "fdtrack_syscall_overhead",
	.run = run_fdtrack_syscall_overhead,
};

static void run_fdtrack_open_close(struct bench_run *run)
{
	struct bench_result *r = bench_result_add(run, "fdtrack_open_close");
	if (!r)
		return;
	r->unit = "ns/pair";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what),
		 "open+close of a regular file in a child "
		 "pinned to one CPU that fdtrack watches (every fd kind, opening stacks "
		 "unwound with DWARF: its defaults)");
	snprintf(r->floor_what, sizeof(r->floor_what),
		 "the same loop while one no-op "
		 "tp_btf/sys_exit program is attached");
	/* (what the floor itself costs: fdtrack_syscall_overhead's
	 * nothing_loaded; 1M pairs three ways did not fit make bench's 2
	 * minutes) */
	r->goal_max_ratio = 1.5;
	r->count = run->opt->smoke ? 20000 : 1000000;
	struct sys_arg a = { .loop = OPEN_CLOSE,
			     .n = r->count,
			     .cpu = bench_ncpus() - 1,
			     .err = r->error,
			     .errlen = sizeof(r->error) };

	if (setup(r))
		return;
	measure_rotated(r, bench_reps(run->opt, 3), 2, &a);
	teardown();
}

const struct bench_figure bench_fig_fdtrack_open_close = {
	.name = "fdtrack_open_close",
	.run = run_fdtrack_open_close,
};
