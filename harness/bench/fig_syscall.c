/*
 * fdtrack_syscall_overhead: ns per getppid in a child while fdtrack watches
 * another (idle) process, beside the same loop with one no-op
 * tp_btf/sys_exit program attached (noop.bpf.c: the floor of any syscall
 * tracepoint tracker) and with nothing attached.
 */
#include <errno.h>
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

struct sys_arg {
	unsigned long long n;
	int cpu;
	char *err;
	size_t errlen;
};

/* ns per getppid in a fresh child pinned to one CPU (parent blocks). */
static double syscall_loop(const struct sys_arg *a)
{
	int pfd[2];
	if (pipe(pfd))
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		cpu_pin_self(a->cpu);
		for (int i = 0; i < 20000; i++) /* warm up, migrate */
			syscall(SYS_getppid);
		uint64_t t0 = thread_cpu_ns();
		for (unsigned long long i = 0; i < a->n; i++)
			syscall(SYS_getppid);
		double ns = (double)(thread_cpu_ns() - t0) / (double)a->n;
		ssize_t w = write(pfd[1], &ns, sizeof(ns));
		_exit(w == sizeof(ns) ? 0 : 1);
	}
	close(pfd[1]);
	double ns = -1;
	ssize_t r;
	while ((r = read(pfd[0], &ns, sizeof(ns))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return r == sizeof(ns) && WIFEXITED(st) && !WEXITSTATUS(st) ? ns : -1;
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

static struct bench_noop_bpf *noop_skel;
static pid_t watched_pid; /* the idle process fdtrack watches */

static double rep_sys_none(void *arg)
{
	return syscall_loop(arg);
}

static double rep_sys_noop(void *arg)
{
	struct sys_arg *a = arg;
	struct bpf_link *link = bpf_program__attach(noop_skel->progs.bench_noop);
	if (!link) {
		snprintf(a->err, a->errlen, "attaching the no-op tp_btf/sys_exit program: %s",
			 strerror(errno));
		return -1;
	}
	double ns = syscall_loop(a);
	bpf_link__destroy(link);
	return ns;
}

static double rep_sys_fdtrack(void *arg)
{
	struct sys_arg *a = arg;
#ifdef BENCH_NO_FDTRACK
	snprintf(a->err, a->errlen, "built without fdtrack (no bpf/)");
	return -1;
#else
	struct fdtrack *t;
	if (fdtrack_open(watched_pid, NULL, &t)) {
		snprintf(a->err, a->errlen, "%s", fdtrack_error());
		return -1;
	}
	double ns = syscall_loop(a);
	fdtrack_close(t);
	return ns;
#endif
}

/* Three configurations, rotated every repetition (A B C, B C A, C A B). */
static void measure_rotated(struct bench_result *r, int reps, struct sys_arg *a)
{
	bench_rep_fn fns[3] = { rep_sys_fdtrack, rep_sys_noop, rep_sys_none };
	double *slot[3] = { r->fig, r->floor, r->extra };
	for (int i = 0; i < reps; i++) {
		for (int k = 0; k < 3; k++) {
			int which = (i + k) % 3;
			double v = fns[which](a);
			if (v < 0) {
				if (!r->error[0])
					snprintf(r->error, sizeof(r->error), "getppid loop failed");
				return;
			}
			slot[which][i] = v;
		}
		r->nrep = r->nextra = i + 1;
		bench_progress(".");
	}
}

static void run_fdtrack_syscall_overhead(struct bench_run *run)
{
	struct bench_result *r = bench_result_add(run, "fdtrack_syscall_overhead");
	if (!r)
		return;
	r->unit = "ns/syscall";
	r->clock = "thread-cpu";
	snprintf(r->what, sizeof(r->what), "getppid loop in a child pinned to one CPU while "
		 "fdtrack watches another (idle) pid");
	snprintf(r->floor_what, sizeof(r->floor_what), "the same loop while one no-op "
		 "tp_btf/sys_exit program is attached");
	r->extra_name = "nothing_loaded";
	r->goal_max_ratio = 1.10;
	r->count = run->opt->smoke ? 20000 : 500000;
	struct sys_arg a = { .n = r->count, .cpu = bench_ncpus() - 1, .err = r->error,
			     .errlen = sizeof(r->error) };

	noop_skel = bench_noop_bpf__open_and_load();
	if (!noop_skel) {
		snprintf(r->error, sizeof(r->error),
			 "loading the no-op BPF program failed (%s): run as root "
			 "on a kernel with BTF and tp_btf support", strerror(errno));
		return;
	}
	run->other_tracing_bpf_programs = other_tracing_programs();
	watched_pid = fork();
	if (watched_pid == 0) {
		for (;;)
			pause();
	}
	if (watched_pid > 0) {
		measure_rotated(r, bench_reps(run->opt, 5), &a);
		kill(watched_pid, SIGKILL);
		waitpid(watched_pid, NULL, 0);
	} else {
		snprintf(r->error, sizeof(r->error), "fork: %s", strerror(errno));
	}
	bench_noop_bpf__destroy(noop_skel);
	noop_skel = NULL;
}

/* The child pins itself to the last CPU; the parent only waits. */
const struct bench_figure bench_fig_fdtrack_syscall_overhead = {
	.name = "fdtrack_syscall_overhead", .run = run_fdtrack_syscall_overhead,
};
