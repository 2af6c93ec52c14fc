/*
 * fdtrack-overhead: what fdtrack costs the machine and the traced program,
 * each beside its floor in the same run (repetitions interleaved, the
 * order rotated every repetition; medians reported). Not part of
 * `make check`; run by `make fdtrack-overhead`. The figures issue 11 asks
 * for in `make bench`, measured here until harness/bench takes them over.
 *
 *   syscall: ns per getppid() in a process fdtrack does not watch (fdtrack
 *            watches an idle one, every fd kind): the filter every other
 *            process pays. Floor: the no-op tp_btf/sys_exit program of
 *            harness/bench/noop.bpf.c. Goal: <= 1.10x the floor.
 *   open/close: ns per open()+close() pair of a regular file in the
 *            process fdtrack watches (every fd kind, stacks on). Floor: the
 *            same loop with the no-op program attached. Goal: <= 1.5x.
 *
 * Times are the measured thread's CPU time (user + kernel, BPF included),
 * so other load on a shared machine does not count.
 *
 *   fdtrack-overhead [REPS] [SYSCALLS] [PAIRS]   (default 5 2000000 1000000)
 *
 * FDTRACK_OVERHEAD_NO_STACKS=1 measures fdtrack without opening stacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "fdtrack.h"
#include "noop.skel.h"

#define MAX_REPS 32

enum floor { NOTHING, NOOP, FDTRACK, NFLOORS };
static const char *const floor_names[] = { "nothing", "no-op program",
					   "fdtrack" };

enum loop { SYSCALLS, OPEN_CLOSE };

static struct bench_noop_bpf *noop;
/* fdtrack's defaults; FDTRACK_OVERHEAD_NO_STACKS=1 to see what stacks cost */
static struct fdtrack_options opts = { .want_stacks = 1 };
static unsigned long long syscalls = 2000000, pairs = 1000000;

/* The measured loop, in a child pinned to the last CPU; it waits on *go
 * until whatever is attached is attached, then writes its ns per
 * iteration to *result. */
static void child_loop(enum loop what, int go, int result)
{
	char path[64], c;
	uint64_t t0;
	double ns;
	int fd;

	cpu_pin_self(sysconf(_SC_NPROCESSORS_ONLN) - 1);
	snprintf(path, sizeof(path), "/tmp/fdtrack-overhead-%d", (int)getpid());
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || read(go, &c, 1) != 1)
		_exit(1);
	close(fd);
	for (int i = 0; i < 20000; i++) /* warm up, migrate */
		close(open(path, O_RDONLY));
	t0 = thread_cpu_ns();
	if (what == SYSCALLS) {
		for (unsigned long long i = 0; i < syscalls; i++)
			syscall(SYS_getppid);
		ns = (double)(thread_cpu_ns() - t0) / (double)syscalls;
	} else {
		for (unsigned long long i = 0; i < pairs; i++)
			close(open(path, O_RDONLY));
		ns = (double)(thread_cpu_ns() - t0) / (double)pairs;
	}
	unlink(path);
	_exit(write(result, &ns, sizeof(ns)) == sizeof(ns) ? 0 : 1);
}

/* One repetition: ns per iteration, or -1 (the reason on stderr). */
static double rep(enum loop what, enum floor f, pid_t idle)
{
	struct bpf_link *link = NULL;
	struct fdtrack *t = NULL;
	int go[2], res[2], st;
	double ns = -1;
	pid_t pid;

	if (pipe(go) || pipe(res))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		close(res[0]);
		child_loop(what, go[0], res[1]);
	}
	close(go[0]);
	close(res[1]);
	if (f == NOOP && !(link = bpf_program__attach(noop->progs.bench_noop)))
		fprintf(stderr, "attaching the no-op program: %s\n",
			strerror(errno));
	/* syscalls: fdtrack watches someone else; open/close: the loop */
	if (f == FDTRACK && fdtrack_open(what == SYSCALLS ? idle : pid, &opts, &t))
		fprintf(stderr, "%s\n", fdtrack_error());
	if ((f != NOOP || link) && (f != FDTRACK || t) &&
	    write(go[1], "g", 1) == 1 &&
	    read(res[0], &ns, sizeof(ns)) != sizeof(ns))
		ns = -1;
	close(go[1]);
	close(res[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		ns = -1;
	if (t)
		fdtrack_poll(t, 0);
	fdtrack_close(t);
	bpf_link__destroy(link);
	return ns;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Tracing programs loaded by someone else (another fdtrack on a shared
 * machine makes "nothing" not nothing). */
static int foreign_tracing_programs(void)
{
	__u32 id = 0;
	int n = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    (info.type == BPF_PROG_TYPE_TRACING ||
		     info.type == BPF_PROG_TYPE_RAW_TRACEPOINT ||
		     info.type == BPF_PROG_TYPE_TRACEPOINT))
			n++;
		close(fd);
	}
	return n;
}

static int measure(enum loop what, int reps, pid_t idle, double med[NFLOORS])
{
	double v[NFLOORS][MAX_REPS];

	for (int r = 0; r < reps; r++)
		for (int i = 0; i < NFLOORS; i++) {
			enum floor f = (i + r) % NFLOORS; /* rotate the order */

			v[f][r] = rep(what, f, idle);
			if (v[f][r] < 0)
				return -1;
			fprintf(stderr, ".");
		}
	for (int f = 0; f < NFLOORS; f++)
		med[f] = median(v[f], reps);
	fprintf(stderr, "\n");
	return 0;
}

static void print(const char *name, const char *unit, const double med[NFLOORS],
		  double goal)
{
	double ratio = med[FDTRACK] / med[NOOP];

	printf("%-12s", name);
	for (int f = 0; f < NFLOORS; f++)
		printf("  %s %.1f %s", floor_names[f], med[f], unit);
	printf("\n%-12s  fdtrack / no-op = %.3f (goal <= %.2f: %s); "
	       "added over no-op %.1f %s, no-op over nothing %.1f %s\n", "",
	       ratio, goal, ratio <= goal ? "met" : "MISSED",
	       med[FDTRACK] - med[NOOP], unit, med[NOOP] - med[NOTHING], unit);
}

int main(int argc, char **argv)
{
	double sys[NFLOORS], oc[NFLOORS];
	int reps = argc > 1 ? atoi(argv[1]) : 5, st;
	pid_t idle;

	if (argc > 2)
		syscalls = strtoull(argv[2], NULL, 10);
	if (argc > 3)
		pairs = strtoull(argv[3], NULL, 10);
	if (reps < 1 || reps > MAX_REPS || !syscalls || !pairs) {
		fprintf(stderr, "usage: fdtrack-overhead [REPS 1..32] [SYSCALLS] "
			"[PAIRS]\n");
		return 2;
	}
	if (getenv("FDTRACK_OVERHEAD_NO_STACKS"))
		opts.want_stacks = 0;
	noop = bench_noop_bpf__open_and_load();
	if (!noop) {
		fprintf(stderr, "loading the no-op program: %s (root, BTF?)\n",
			strerror(errno));
		return 1;
	}
	idle = fork();
	if (idle == 0) {
		pause();
		_exit(0);
	}
	printf("foreign tracing programs loaded: %d\n",
	       foreign_tracing_programs());
	if (measure(SYSCALLS, reps, idle, sys) ||
	    measure(OPEN_CLOSE, reps, idle, oc)) {
		kill(idle, SIGKILL);
		return 1;
	}
	kill(idle, SIGKILL);
	waitpid(idle, &st, 0);
	printf("median of %d interleaved repetitions, thread CPU time\n", reps);
	print("syscall", "ns", sys, 1.10);
	print("open/close", "ns", oc, 1.50);
	bench_noop_bpf__destroy(noop);
	return 0;
}
