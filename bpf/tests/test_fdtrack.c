/*
 * fdtrack tests. Each one drives a close/open path and checks fdtrack's live
 * count against /proc/PID/fd, and that the syscall path itself (not the
 * reconciliation safety net) accounted for it.
 *
 * Without BPF (not root, no BTF, old kernel) the tests skip with the reason;
 * with FDTRACK_REQUIRE_BPF=1 (CI) a skip is a failure.
 */
#include <check.h>
#include "check_runner.h"
#include "clock.h"
#include "fdkind.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/close_range.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "fdtrack.h"

#define EFD FDTRACK_EVENTFD
#define URING FDTRACK_IO_URING

/* ---- helpers ------------------------------------------------------- */

static int require_bpf(void)
{
	const char *s = getenv("FDTRACK_REQUIRE_BPF");

	return s && *s && strcmp(s, "0");
}

/* Open fdtrack on pid, or skip the test (fail under FDTRACK_REQUIRE_BPF). */
static struct fdtrack *open_or_skip(pid_t pid, const struct fdtrack_options *o)
{
	struct fdtrack *t = NULL;
	int err = fdtrack_open(pid, o, &t);

	if (err) {
		ck_assert_msg(!require_bpf(), "FDTRACK_REQUIRE_BPF=1 but: %s",
			      fdtrack_error());
		printf("SKIP: %s\n", fdtrack_error());
		return NULL;
	}
	return t;
}

#define OPEN_OR_SKIP(t, pid, o)            \
	do {                               \
		t = open_or_skip(pid, o);  \
		if (!t)                    \
			return;            \
	} while (0)

/* Tracked fds of pid by kind, as the kernel shows them in /proc. */
static void proc_counts(pid_t pid, unsigned out[FDTRACK_NKINDS])
{
	char dir[64], path[320], link[128];
	struct dirent *de;
	DIR *d;

	out[EFD] = out[URING] = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		switch (fdkind_classify(link, 0, -1)) {
		case FDKIND_EVENTFD: out[EFD]++; break;
		case FDKIND_IO_URING: out[URING]++; break;
		default: break;
		}
	}
	closedir(d);
}

/* fdtrack agrees with /proc: straight from the syscall view (before any
 * snapshot), and again after reconciling. */
static void agree_at(struct fdtrack *t, pid_t pid, int line)
{
	struct fdtrack_counts c;
	unsigned p[FDTRACK_NKINDS];

	proc_counts(pid, p);
	fdtrack_counts(t, &c);
	for (int k = 0; k < FDTRACK_NKINDS; k++)
		ck_assert_msg(c.live[k] == p[k],
			      "line %d: %s live %llu (syscall view) but /proc has %u",
			      line, fdtrack_kind_name(k),
			      (unsigned long long)c.live[k], p[k]);
	ck_assert_int_eq(fdtrack_reconcile(t), 0);
	fdtrack_counts(t, &c);
	for (int k = 0; k < FDTRACK_NKINDS; k++)
		ck_assert_msg(c.live[k] == p[k],
			      "line %d: %s live %llu (reconciled) but /proc has %u",
			      line, fdtrack_kind_name(k),
			      (unsigned long long)c.live[k], p[k]);
}
#define agree(t, pid) agree_at(t, pid, __LINE__)

static struct fdtrack_counts counts(struct fdtrack *t)
{
	struct fdtrack_counts c;

	fdtrack_counts(t, &c);
	return c;
}

/* Nothing was fixed up by the snapshot: syscalls accounted for everything. */
static void no_outside(struct fdtrack *t)
{
	struct fdtrack_counts c = counts(t);

	for (int k = 0; k < FDTRACK_NKINDS; k++) {
		ck_assert_msg(c.closed_outside_syscalls[k] == 0,
			      "%s: %llu closes missed by the syscall view",
			      fdtrack_kind_name(k),
			      (unsigned long long)c.closed_outside_syscalls[k]);
		ck_assert_msg(c.opened_outside_syscalls[k] == 0,
			      "%s: %llu opens missed by the syscall view",
			      fdtrack_kind_name(k),
			      (unsigned long long)c.opened_outside_syscalls[k]);
	}
}

static int new_ring(struct io_uring *ring)
{
	ck_assert_int_eq(io_uring_queue_init(8, ring, 0), 0);
	return ring->ring_fd;
}

static int efd(void)
{
	int fd = eventfd(0, 0);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* ---- opens and closes by syscall ------------------------------------ */

START_TEST(test_create_close)
{
	struct fdtrack *t;
	struct io_uring ring;
	pid_t me = getpid();
	int a, b;

	OPEN_OR_SKIP(t, me, NULL);
	agree(t, me);
	a = efd();                                  /* eventfd2 */
	b = syscall(SYS_eventfd, 0);                /* legacy eventfd */
	ck_assert_int_ge(b, 0);
	new_ring(&ring);
	agree(t, me);
	ck_assert_int_eq(counts(t).opens[EFD], 2);
	ck_assert_int_eq(counts(t).opens[URING], 1);
	close(a);
	close(b);
	io_uring_queue_exit(&ring);
	agree(t, me);
	ck_assert_int_eq(counts(t).closes[EFD], 2);
	ck_assert_int_eq(counts(t).closes[URING], 1);
	no_outside(t);
	fdtrack_close(t);
}
END_TEST

START_TEST(test_dup_family)
{
	struct fdtrack *t;
	struct io_uring ring;
	pid_t me = getpid();
	int a, r, d[6], p[2];

	OPEN_OR_SKIP(t, me, NULL);
	a = efd();
	r = new_ring(&ring);
	ck_assert_int_eq(pipe(p), 0);
	d[0] = dup(a);
	d[1] = dup2(r, 300);
	d[2] = dup3(a, 301, O_CLOEXEC);
	d[3] = fcntl(a, F_DUPFD, 302);
	d[4] = fcntl(r, F_DUPFD_CLOEXEC, 310);
	d[5] = dup(p[0]);                           /* not tracked */
	for (int i = 0; i < 6; i++)
		ck_assert_int_ge(d[i], 0);
	agree(t, me);
	ck_assert_int_eq(counts(t).opens[EFD], 1 + 3);
	ck_assert_int_eq(counts(t).opens[URING], 1 + 2);
	for (int i = 0; i < 6; i++)
		close(d[i]);
	agree(t, me);
	ck_assert_int_eq(counts(t).closes[EFD], 3);
	ck_assert_int_eq(counts(t).closes[URING], 2);
	close(a);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
	agree(t, me);
	no_outside(t);
	fdtrack_close(t);
}
END_TEST

/* dup2/dup3 onto a tracked fd closes what was there. */
START_TEST(test_dup2_onto_tracked)
{
	struct fdtrack *t;
	pid_t me = getpid();
	int a, b, p[2];

	OPEN_OR_SKIP(t, me, NULL);
	a = efd();
	b = efd();
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[0], b), b);         /* eventfd b is closed */
	agree(t, me);
	ck_assert_int_eq(counts(t).closes[EFD], 1);
	ck_assert_int_eq(dup3(a, b, 0), b);         /* b is an eventfd again */
	agree(t, me);
	ck_assert_int_eq(counts(t).opens[EFD], 3);
	ck_assert_int_eq(dup2(a, a), a);            /* no-op */
	ck_assert_int_eq(dup2(a, b), b);            /* closes b, opens b */
	agree(t, me);
	ck_assert_int_eq(counts(t).opens[EFD], 4);
	ck_assert_int_eq(counts(t).closes[EFD], 2);
	close(a);
	close(b);
	close(p[0]);
	close(p[1]);
	agree(t, me);
	no_outside(t);
	fdtrack_close(t);
}
END_TEST

START_TEST(test_close_range)
{
	struct fdtrack *t;
	pid_t me = getpid();

	OPEN_OR_SKIP(t, me, NULL);
	for (int i = 0; i < 6; i++) {
		int fd = efd();

		ck_assert_int_eq(dup2(fd, 500 + i), 500 + i);
		close(fd);
	}
	agree(t, me);
	ck_assert_int_eq(syscall(SYS_close_range, 500, 501, 0), 0);
	agree(t, me);
	ck_assert_int_eq(counts(t).closes[EFD], 6 + 2);
	/* CLOEXEC marks, it does not close */
	ck_assert_int_eq(syscall(SYS_close_range, 502, 503,
				 CLOSE_RANGE_CLOEXEC), 0);
	agree(t, me);
	ck_assert_int_eq(counts(t).closes[EFD], 6 + 2);
	ck_assert_int_eq(syscall(SYS_close_range, 502, 505, 0), 0);
	agree(t, me);
	ck_assert_int_eq(counts(t).closes[EFD], 6 + 6);
	no_outside(t);
	fdtrack_close(t);
}
END_TEST

/* ---- exec, exit, children, threads --------------------------------- */

/* A child that waits for "go" on a pipe before doing fn, like the CLI. */
struct kid { pid_t pid; int go; };

static struct kid fork_waiting(void (*fn)(void *), void *arg)
{
	int p[2];
	struct kid k;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	k.pid = fork();
	ck_assert_int_ge(k.pid, 0);
	if (k.pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(99);
		close(p[0]);
		fn(arg);
		_exit(0);
	}
	close(p[0]);
	k.go = p[1];
	return k;
}

static void go(struct kid *k)
{
	ck_assert_int_eq(write(k->go, "g", 1), 1);
	close(k->go);
}

struct exec_arg { int in, out; };

static void exec_child(void *arg)
{
	struct exec_arg *a = arg;
	int keep;

	eventfd(0, EFD_CLOEXEC);
	eventfd(0, EFD_CLOEXEC);
	keep = eventfd(0, 0);
	/* set close-on-exec through close_range */
	dup2(keep, 600);
	syscall(SYS_close_range, 600, 600, CLOSE_RANGE_CLOEXEC);
	dup2(a->in, 0);
	dup2(a->out, 1);
	execl(FDT_LEAKER_PATH, "leaker", "1", "0", "--wait", (char *)NULL);
	_exit(98);
}

START_TEST(test_exec_cloexec)
{
	struct exec_arg a;
	struct fdtrack *t;
	struct kid k;
	int in[2], out[2], st;
	char buf[16];

	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	a.in = in[0];
	a.out = out[1];
	k = fork_waiting(exec_child, &a);
	close(in[0]);
	close(out[1]);
	t = open_or_skip(k.pid, NULL);
	if (!t) {
		kill(k.pid, SIGKILL);
		waitpid(k.pid, NULL, 0);
		return;
	}
	go(&k);
	ck_assert_int_gt(read(out[0], buf, sizeof(buf)), 0); /* "ready" */
	/* left: `keep`, plus the one the leaker opened */
	agree(t, k.pid);
	ck_assert_int_eq(counts(t).opens[EFD], 4 + 1);
	ck_assert_int_eq(counts(t).closes[EFD], 3);
	ck_assert_int_eq(counts(t).live[EFD], 2);
	no_outside(t);
	close(in[1]);                               /* let it exit */
	ck_assert_int_eq(waitpid(k.pid, &st, 0), k.pid);
	ck_assert_int_eq(fdtrack_poll(t, 0), 0);
	ck_assert_int_eq(counts(t).exited, 1);
	ck_assert_int_eq(counts(t).open_at_exit[EFD], 2);
	ck_assert_int_eq(counts(t).live[EFD], 0);
	close(out[0]);
	fdtrack_close(t);
}
END_TEST

static void exit_child(void *arg)
{
	struct io_uring ring;

	(void)arg;
	eventfd(0, 0);
	eventfd(0, 0);
	close(eventfd(0, 0));
	io_uring_queue_init(4, &ring, 0);
	_exit(0); /* leaves 2 eventfds and the ring open */
}

START_TEST(test_process_exit)
{
	struct fdtrack_group *g;
	struct fdtrack *t;
	size_t n;
	unsigned sum[FDTRACK_NKINDS] = { 0 };
	struct kid k = fork_waiting(exit_child, NULL);

	t = open_or_skip(k.pid, NULL);
	if (!t) {
		kill(k.pid, SIGKILL);
		waitpid(k.pid, NULL, 0);
		return;
	}
	go(&k);
	ck_assert_int_eq(waitpid(k.pid, NULL, 0), k.pid);
	ck_assert_int_eq(fdtrack_poll(t, 0), 0);
	ck_assert_int_eq(counts(t).exited, 1);
	ck_assert_int_eq(counts(t).open_at_exit[EFD], 2);
	ck_assert_int_eq(counts(t).open_at_exit[URING], 1);
	ck_assert_int_eq(counts(t).closes[EFD], 1 + 2);
	ck_assert_int_eq(counts(t).live[EFD], 0);
	ck_assert_int_eq(counts(t).live[URING], 0);
	/* the groups are what was open at exit */
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	for (size_t i = 0; i < n; i++)
		sum[g[i].kind] += g[i].count;
	ck_assert_int_eq(sum[EFD], 2);
	ck_assert_int_eq(sum[URING], 1);
	fdtrack_groups_free(g, n);
	fdtrack_close(t);
}
END_TEST

START_TEST(test_forked_child_not_counted)
{
	struct fdtrack *t;
	pid_t me = getpid(), pid;
	int a, st;

	OPEN_OR_SKIP(t, me, NULL);
	a = efd();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int b = eventfd(0, 0);

		dup(b);
		eventfd(0, 0);
		close(a);
		close(b);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	agree(t, me);
	ck_assert_int_eq(counts(t).opens[EFD], 1);
	ck_assert_int_eq(counts(t).closes[EFD], 0);
	ck_assert_int_eq(counts(t).exited, 0);
	close(a);
	agree(t, me);
	no_outside(t);
	fdtrack_close(t);
}
END_TEST

/* Threads racing on the same fd numbers: a close's number is reused by
 * another thread's open before the close reaches sys_exit, and the other
 * way round. Every path that frees or takes a number: close, dup, dup3 onto
 * a private number, close_range, fcntl F_DUPFD. */
#define RACE_THREADS 4
#define RACE_ITERS 1500

static int race_done; /* threads finished (the test runs in a fork) */

struct race_arg {
	struct io_uring ring;
	int id, kept;
};

static void *thread_opens(void *p)
{
	struct race_arg *arg = p;
	int priv = 900 + arg->id;

	for (int i = 0; i < RACE_ITERS; i++) {
		int a = eventfd(0, 0), b;

		switch (i % 4) {
		case 0:
			close(a);
			break;
		case 1:
			b = dup(a);
			close(a);
			close(b);
			break;
		case 2:
			dup3(a, priv, O_CLOEXEC);
			close(a);
			syscall(SYS_close_range, priv, priv, 0);
			break;
		case 3:
			b = fcntl(a, F_DUPFD, 0);
			close(b);
			close(a);
			break;
		}
	}
	arg->kept = eventfd(0, 0);
	io_uring_queue_init(4, &arg->ring, 0);
	__atomic_fetch_add(&race_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The syscall view alone is exact: opens == closes + live with nothing
 * under *_outside_syscalls, and every live fd has its opening stack. */
static void assert_exact(struct fdtrack *t, pid_t pid, unsigned want_efd,
			 unsigned want_uring)
{
	struct fdtrack_counts c = counts(t);
	unsigned p[FDTRACK_NKINDS];

	proc_counts(pid, p);
	for (int k = 0; k < FDTRACK_NKINDS; k++) {
		ck_assert_msg(c.closed_outside_syscalls[k] == 0 &&
			      c.opened_outside_syscalls[k] == 0,
			      "%s: closed/opened outside syscalls %llu/%llu",
			      fdtrack_kind_name(k),
			      (unsigned long long)c.closed_outside_syscalls[k],
			      (unsigned long long)c.opened_outside_syscalls[k]);
		ck_assert_msg(c.opens[k] == c.closes[k] + c.live[k] &&
			      c.live[k] == p[k],
			      "%s: opens %llu closes %llu live %llu /proc %u",
			      fdtrack_kind_name(k), (unsigned long long)c.opens[k],
			      (unsigned long long)c.closes[k],
			      (unsigned long long)c.live[k], p[k]);
	}
	ck_assert_int_eq(p[EFD], want_efd);
	ck_assert_int_eq(p[URING], want_uring);
}

START_TEST(test_other_threads_counted)
{
	/* big enough that the poller (sharing 2 CPUs with 4 threads) keeps up */
	struct fdtrack_options o = { .ringbuf_bytes = 8 << 20, .want_stacks = 1 };
	struct race_arg args[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	struct fdtrack_group *g;
	struct fdtrack *t;
	pid_t me = getpid();
	unsigned efds_per_iter[4] = { 1, 2, 2, 2 }, want = 0, sum = 0;
	size_t n;

	OPEN_OR_SKIP(t, me, &o);
	for (int i = 0; i < RACE_ITERS; i++)
		want += efds_per_iter[i % 4];
	for (int i = 0; i < RACE_THREADS; i++) {
		args[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_opens,
						&args[i]), 0);
	}
	/* keep the ring buffer drained, and snapshot while the threads run
	 * (a snapshot also races with closes and opens on their way to
	 * sys_exit) */
	while (__atomic_load_n(&race_done, __ATOMIC_ACQUIRE) < RACE_THREADS) {
		ck_assert_int_eq(fdtrack_poll(t, 5), 0);
		ck_assert_int_eq(fdtrack_reconcile(t), 0);
	}
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(fdtrack_poll(t, 0), 0);
	ck_assert_int_eq(counts(t).lost_events, 0);
	/* before any snapshot: the syscall view alone */
	assert_exact(t, me, RACE_THREADS, RACE_THREADS);
	ck_assert_int_eq(counts(t).opens[EFD], RACE_THREADS * (want + 1));
	ck_assert_int_eq(counts(t).opens[URING], RACE_THREADS);
	ck_assert_int_eq(fdtrack_reconcile(t), 0);
	assert_exact(t, me, RACE_THREADS, RACE_THREADS);
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	for (size_t i = 0; i < n; i++) {
		sum += g[i].count;
#ifndef __SANITIZE_THREAD__ /* TSan's interceptors stop the stack walk */
		ck_assert_msg(g[i].nframes > 0, "%u %s fds without a stack",
			      g[i].count, fdtrack_kind_name(g[i].kind));
#endif
	}
	ck_assert_int_eq(sum, 2 * RACE_THREADS);
	fdtrack_groups_free(g, n);
	for (int i = 0; i < RACE_THREADS; i++) {
		close(args[i].kept);
		io_uring_queue_exit(&args[i].ring);
	}
	assert_exact(t, me, 0, 0);
	ck_assert_int_eq(counts(t).closes[EFD], RACE_THREADS * (want + 1));
	fdtrack_close(t);
}
END_TEST

/* ---- closes outside syscalls ---------------------------------------- */

/* Close fd with IORING_OP_CLOSE; the result (rings refuse to close rings). */
static int try_uring_close(struct io_uring *ring, int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	io_uring_prep_close(sqe, fd);
	ck_assert_int_eq(io_uring_submit_and_wait(ring, 1), 1);
	ck_assert_int_eq(io_uring_wait_cqe(ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void uring_close(struct io_uring *ring, int fd)
{
	ck_assert_int_eq(try_uring_close(ring, fd), 0);
}

START_TEST(test_ioring_op_close)
{
	struct fdtrack *t;
	struct io_uring ring;
	pid_t me = getpid();
	unsigned p[FDTRACK_NKINDS];
	int a, b, c;

	OPEN_OR_SKIP(t, me, NULL);
	new_ring(&ring);
	a = efd();
	b = efd();
	uring_close(&ring, a);
	/* invisible to the syscall view ... */
	ck_assert_int_eq(counts(t).live[EFD], 2);
	/* ... until the snapshot: closed outside syscalls, not a leak */
	ck_assert_int_eq(fdtrack_reconcile(t), 0);
	proc_counts(me, p);
	ck_assert_int_eq(p[EFD], 1);
	ck_assert_int_eq(counts(t).live[EFD], 1);
	ck_assert_int_eq(counts(t).closed_outside_syscalls[EFD], 1);
	ck_assert_int_eq(counts(t).closes[EFD], 0);
	/* reuse of a number freed behind our back is noticed at once */
	c = efd();                 /* takes a's free number */
	uring_close(&ring, b);
	ck_assert_int_eq(counts(t).live[EFD], 2);
	ck_assert_int_eq(efd(), b);
	ck_assert_int_eq(counts(t).closed_outside_syscalls[EFD], 2);
	agree(t, me);
	ck_assert_int_eq(counts(t).closed_outside_syscalls[EFD], 2);
	close(b);
	close(c);
	io_uring_queue_exit(&ring);
	agree(t, me);
	ck_assert_int_eq(counts(t).opened_outside_syscalls[EFD], 0);
	fdtrack_close(t);
}
END_TEST

/* Every path above, interleaved at random, checked after every step. */
START_TEST(test_mixed)
{
	struct fdtrack *t;
	struct io_uring ring;
	pid_t me = getpid();
	int fds[32], nfds = 0, ring_closes = 0, p[2];
	unsigned seed = 12345;

	OPEN_OR_SKIP(t, me, NULL);
	new_ring(&ring);
	ck_assert_int_eq(pipe(p), 0);
	for (int step = 0; step < 400; step++) {
		int op = rand_r(&seed) % 9, i = nfds ? rand_r(&seed) % nfds : 0;
		int fd = -1, closed = 0;
		struct io_uring r2;

		if (nfds >= 28)
			op = 5;
		switch (op) {
		case 0: fd = eventfd(0, EFD_NONBLOCK); break;
		case 1: fd = new_ring(&r2); break;
		case 2: if (nfds) fd = dup(fds[i]); break;
		case 3: if (nfds) fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 100); break;
		case 4: if (nfds) fd = dup3(fds[i], 700 + step % 20, 0); break;
		case 5: if (nfds) { close(fds[i]); closed = 1; } break;
		case 6:
			if (!nfds)
				break;
			closed = 1;
			if (try_uring_close(&ring, fds[i]) == 0)
				ring_closes++;
			else
				close(fds[i]); /* a ring fd */
			break;
		case 7: if (nfds) { syscall(SYS_close_range, fds[i], fds[i], 0);
				    closed = 1; } break;
		case 8: if (nfds) { dup2(p[0], fds[i]); closed = 1; } break;
		}
		if (closed) {
			/* a dup3 target may appear twice in fds[]: drop all */
			int gone = fds[i];

			for (int j = 0; j < nfds;)
				if (fds[j] == gone)
					fds[j] = fds[--nfds];
				else
					j++;
			if (op == 8)
				close(gone);
		}
		if (fd >= 0) {
			int j;

			for (j = 0; j < nfds && fds[j] != fd; j++)
				;
			if (j == nfds)
				fds[nfds++] = fd;
		}
		if (op != 6) {
			agree(t, me);
		} else {
			ck_assert_int_eq(fdtrack_reconcile(t), 0);
			agree(t, me);
		}
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
	agree(t, me);
	ck_assert_int_eq(counts(t).closed_outside_syscalls[EFD] +
			 counts(t).closed_outside_syscalls[URING], ring_closes);
	ck_assert_int_eq(counts(t).opened_outside_syscalls[EFD] +
			 counts(t).opened_outside_syscalls[URING], 0);
	fdtrack_close(t);
}
END_TEST

/* ---- stacks, overflow, cost ---------------------------------------- */

static volatile int sink;

__attribute__((noinline)) static int open_from_known_function(void)
{
	int fd = eventfd(0, 0);

	sink = fd; /* no tail call: keep this frame on the stack */
	return fd;
}

static int find_frame(const struct fdtrack_group *g, size_t n, const char *fn,
		      const char *file)
{
	for (size_t i = 0; i < n; i++)
		for (unsigned j = 0; j < g[i].nframes; j++)
			if (strstr(g[i].frames[j], fn) &&
			    (!file || strstr(g[i].frames[j], file)))
				return 1;
	return 0;
}

START_TEST(test_stack_names_function)
{
	struct fdtrack_group *g;
	struct fdtrack *t;
	size_t n;
	int fd;

#ifdef __SANITIZE_THREAD__
	/* TSan's eventfd interceptor has no frame pointer: the walk stops. */
	printf("SKIP: stack test under ThreadSanitizer\n");
	return;
#endif
	OPEN_OR_SKIP(t, getpid(), NULL);
	fd = open_from_known_function();
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	if (!find_frame(g, n, "open_from_known_function", "test_fdtrack.c:"))
		fdtrack_print_groups(stderr, g, n);
	ck_assert_msg(find_frame(g, n, "open_from_known_function",
				 "test_fdtrack.c:"),
		      "no frame 'open_from_known_function (test_fdtrack.c:N)'");
	fdtrack_groups_free(g, n);
	close(fd);
	fdtrack_close(t);
}
END_TEST

START_TEST(test_ringbuf_overflow)
{
	struct fdtrack_options o = { .ringbuf_bytes = 4096, .want_stacks = 1 };
	struct fdtrack_group *g;
	struct fdtrack *t;
	pid_t me = getpid();
	unsigned p[FDTRACK_NKINDS], sum = 0, nostack = 0;
	int fds[200];
	size_t n;

	OPEN_OR_SKIP(t, me, &o);
	for (int i = 0; i < 200; i++)
		fds[i] = efd(); /* no polling: the ring overflows */
	ck_assert_uint_gt(counts(t).lost_events, 0);
	agree(t, me);
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	for (size_t i = 0; i < n; i++) {
		sum += g[i].count;
		if (!g[i].nframes)
			nostack += g[i].count;
	}
	proc_counts(me, p);
	ck_assert_uint_eq(sum, p[EFD] + p[URING]);
	ck_assert_uint_gt(nostack, 0);               /* the lost ones */
	ck_assert_uint_lt(nostack, 200);             /* the rest have stacks */
	fdtrack_groups_free(g, n);
	for (int i = 0; i < 200; i++)
		close(fds[i]);
	agree(t, me);
	no_outside(t);
	fdtrack_close(t);
}
END_TEST

START_TEST(test_reconcile_cost)
{
	struct fdtrack *t;
	struct io_uring ring[5];
	uint64_t t0;
	pid_t me = getpid();
	int fds[15];
	double us;

	OPEN_OR_SKIP(t, me, NULL);
	for (int i = 0; i < 15; i++)
		fds[i] = efd();
	for (int i = 0; i < 5; i++)
		new_ring(&ring[i]);
	t0 = mono_ns();
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(fdtrack_reconcile(t), 0);
	us = (double)(mono_ns() - t0) / 1e3 / 200;
	printf("fdtrack_reconcile with 20 tracked fds: %.1f us\n", us);
	ck_assert_msg(us < 1000, "reconcile takes %.1f us", us);
	for (int i = 0; i < 15; i++)
		close(fds[i]);
	for (int i = 0; i < 5; i++)
		io_uring_queue_exit(&ring[i]);
	agree(t, me);
	fdtrack_close(t);
}
END_TEST

/* ---- the CLI ------------------------------------------------------- */

/* Run the CLI with args; exit status, stdout+stderr into out (if given). */
static int run_cli(char *const argv[], const char *out, uid_t as)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null",
			      O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (as && (setgid(as) || setuid(as)))
			_exit(97);
		execv(FDT_CLI_PATH, argv);
		_exit(98);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return buf;
}

/* The number at "key": { ... "kind": N in the report. */
static long json_kind(const char *json, const char *key, const char *kind)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": {", key);
	p = strstr(json, pat);
	ck_assert_msg(p != NULL, "no %s in JSON:\n%s", key, json);
	snprintf(pat, sizeof(pat), "\"%s\": ", kind);
	p = strstr(p, pat);
	ck_assert_msg(p != NULL, "no %s.%s in JSON", key, kind);
	return strtol(p + strlen(pat), NULL, 10);
}

static int bpf_usable(void)
{
	struct fdtrack *t = open_or_skip(getpid(), NULL);

	fdtrack_close(t);
	return t != NULL;
}

START_TEST(test_cli_leaker)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX";
	int fd = mkstemp(json);
	char *leak[] = { "fdtrack", "--json", json, "--fail-on-leak", "--",
			 FDT_LEAKER_PATH, "4", "3", NULL };
	char *clean[] = { "fdtrack", "--json", json, "--fail-on-leak", "--",
			  FDT_LEAKER_PATH, "0", "5", NULL };
	const char *j;

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (!bpf_usable())
		goto out;
	ck_assert_int_eq(run_cli(leak, NULL, 0), 1);
	j = slurp(json);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 4);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), 7);
	ck_assert_int_eq(json_kind(j, "closes", "eventfd"), 7);
	ck_assert_msg(strstr(j, "leak_eventfds (leaker.c:"), "no leaking "
		      "function in the report:\n%s", j);
	ck_assert_msg(strstr(j, "\"lost_events\": 0"), "lost events:\n%s", j);
	ck_assert_int_eq(run_cli(clean, NULL, 0), 0);
	j = slurp(json);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), 5);
out:
	unlink(json);
}
END_TEST

START_TEST(test_cli_pid_duration)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX";
	int fd = mkstemp(json), in[2], out[2];
	char pidarg[16], buf[16];
	char *argv[] = { "fdtrack", "-p", pidarg, "-d", "0.3", "-i", "0.1",
			 "--json", json, "--fail-on-leak", NULL };
	const char *j;
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (!bpf_usable())
		goto out;
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		execl(FDT_LEAKER_PATH, "leaker", "2", "0", "--wait", (char *)NULL);
		_exit(98);
	}
	close(in[0]);
	close(out[1]);
	ck_assert_int_gt(read(out[0], buf, sizeof(buf)), 0);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	ck_assert_int_eq(run_cli(argv, NULL, 0), 1); /* 2 open at the end */
	j = slurp(json);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 2);
	ck_assert_int_eq(json_kind(j, "at_start", "eventfd"), 2);
	ck_assert_msg(strstr(j, "\"target_exited\": false"), "%s", j);
	close(in[1]);
	close(out[0]);
	waitpid(pid, NULL, 0);
out:
	unlink(json);
}
END_TEST

START_TEST(test_cli_usage)
{
	char *bad[] = { "fdtrack", "--bogus", NULL };
	char *both[] = { "fdtrack", "-p", "1", "--", "true", NULL };
	char *none[] = { "fdtrack", NULL };
	char *badi[] = { "fdtrack", "-i", "x", "-p", "1", NULL };
	char *help[] = { "fdtrack", "--help", NULL };

	ck_assert_int_eq(run_cli(bad, NULL, 0), 2);
	ck_assert_int_eq(run_cli(both, NULL, 0), 2);
	ck_assert_int_eq(run_cli(none, NULL, 0), 2);
	ck_assert_int_eq(run_cli(badi, NULL, 0), 2);
	ck_assert_int_eq(run_cli(help, NULL, 0), 0);
}
END_TEST

/* ---- CLI hardening ------------------------------------------------- */

/* Start the CLI (stdout+stderr to out, stdin from in_fd or /dev/null). */
static pid_t start_cli(char *const argv[], const char *out, int in_fd)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (in_fd >= 0)
			dup2(in_fd, 0);
		execv(FDT_CLI_PATH, argv);
		_exit(98);
	}
	return pid;
}

/* Exit status of pid (128+N if killed by signal N); fails after timeout. */
static int wait_exit(pid_t pid, double timeout)
{
	double end = mono_s() + timeout;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (mono_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("pid %d still running after %.1f s", (int)pid,
				     timeout);
		}
		usleep(5000);
	}
	ck_assert_msg(!WIFSIGNALED(st), "killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

static void wait_text(const char *file, const char *text, double timeout)
{
	double end = mono_s() + timeout;

	while (!strstr(slurp(file), text)) {
		ck_assert_msg(mono_s() < end, "no '%s' in %s:\n%s", text, file,
			      slurp(file));
		usleep(5000);
	}
}

/* Loaded fdtrack programs whose kernel-side filter is tgid (their .rodata
 * map holds targ_tgid first), so concurrent fdtrack users do not count. */
static int fdtrack_progs_for(pid_t tgid)
{
	__u32 id = 0;
	int n = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info), maps[8], nmaps;
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
		    strncmp(info.name, "fdt_", 4)) {
			close(fd);
			continue;
		}
		nmaps = info.nr_map_ids < 8 ? info.nr_map_ids : 8;
		memset(&info, 0, sizeof(info));
		info.nr_map_ids = nmaps;
		info.map_ids = (__u64)(unsigned long)maps;
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			nmaps = 0;
		close(fd);
		for (__u32 i = 0; i < nmaps; i++) {
			struct bpf_map_info mi = { 0 };
			__u32 mlen = sizeof(mi), key = 0;
			char val[4096];
			int mfd = bpf_map_get_fd_by_id(maps[i]);

			if (mfd < 0)
				continue;
			if (!bpf_obj_get_info_by_fd(mfd, &mi, &mlen) &&
			    strstr(mi.name, ".rodata") && mi.value_size <= sizeof(val) &&
			    !bpf_map_lookup_elem(mfd, &key, val) &&
			    *(__u32 *)val == (__u32)tgid)
				n++;
			close(mfd);
		}
	}
	return n;
}

/* BPF programs are freed asynchronously after their last fd closes. */
static void no_progs_left(pid_t tgid)
{
	double end = mono_s() + 2;

	while (fdtrack_progs_for(tgid)) {
		ck_assert_msg(mono_s() < end, "fdtrack programs for pid %d still "
			      "loaded", (int)tgid);
		usleep(10000);
	}
}

static int bpffs_n;
static int bpffs_count(const char *p, const struct stat *sb, int flag,
		       struct FTW *ftw)
{
	(void)p; (void)sb; (void)flag; (void)ftw;
	bpffs_n++;
	return 0;
}

static int bpffs_entries(void)
{
	bpffs_n = 0;
	nftw("/sys/fs/bpf", bpffs_count, 16, FTW_PHYS);
	return bpffs_n;
}

/* A leaker (2 open eventfds) waiting on a pipe; *in closes to let it go. */
static pid_t waiting_leaker(int *in)
{
	int i[2], o[2];
	char buf[16];
	pid_t pid;

	/* close-on-exec: the CLI started later must not hold them */
	ck_assert_int_eq(pipe2(i, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(i[0], 0);
		dup2(o[1], 1);
		close(i[1]);
		close(o[0]);
		execl(FDT_LEAKER_PATH, "leaker", "2", "0", "--wait", (char *)NULL);
		_exit(98);
	}
	close(i[0]);
	close(o[1]);
	ck_assert_int_gt(read(o[0], buf, sizeof(buf)), 0); /* "ready" */
	close(o[0]);
	*in = i[1];
	return pid;
}

/* SIGINT/SIGTERM: stop within a second, complete JSON with "interrupted",
 * 128+signal, programs detached, nothing pinned; -- CMD gets the signal. */
START_TEST(test_cli_signals)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX", log[] = "/tmp/fdtrack-test-XXXXXX";
	int sigs[2] = { SIGINT, SIGTERM }, pins = bpffs_entries();
	int jfd = mkstemp(json), lfd = mkstemp(log);

	ck_assert_int_ge(jfd, 0);
	ck_assert_int_ge(lfd, 0);
	close(jfd);
	close(lfd);
	if (!bpf_usable())
		goto out;
	for (int i = 0; i < 2; i++) {
		int in[2], leaker_in;
		char pidarg[16];
		char *cmd[] = { "fdtrack", "--json", json, "--", FDT_LEAKER_PATH,
				"2", "0", "--wait", NULL };
		char *byp[] = { "fdtrack", "--json", json, "-i", "0.05", "-p",
				pidarg, NULL };
		const char *j;
		double t0;
		pid_t cli, target;

		/* -- CMD: the leaker prints "ready" once attached and running */
		unlink(json);
		ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
		cli = start_cli(cmd, log, in[0]);
		close(in[0]);
		wait_text(log, "ready", 5);
		target = 0;
		ck_assert_int_eq(kill(cli, sigs[i]), 0);
		t0 = mono_s();
		ck_assert_int_eq(wait_exit(cli, 3), 128 + sigs[i]);
		ck_assert_msg(mono_s() - t0 < 1.0, "took %.2f s", mono_s() - t0);
		close(in[1]);
		j = slurp(json);
		ck_assert_msg(strstr(j, "\"interrupted\": true") &&
			      strstr(j, "\"leaks\": [") && strstr(j, "\n}\n"),
			      "%s", j);
		/* the leaker got the signal and exited with its 2 fds open */
		ck_assert_msg(strstr(j, sigs[i] == SIGINT ? "\"command_status\": 130"
					: "\"command_status\": 143"), "%s", j);
		ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 2);
		sscanf(strstr(j, "\"pid\": ") + 7, "%d", &target);
		no_progs_left(target);

		/* -p PID: the target keeps running */
		unlink(json);
		target = waiting_leaker(&leaker_in);
		snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
		cli = start_cli(byp, log, -1);
		wait_text(log, "opens", 5); /* first interval line: attached */
		ck_assert_int_eq(kill(cli, sigs[i]), 0);
		t0 = mono_s();
		ck_assert_int_eq(wait_exit(cli, 3), 128 + sigs[i]);
		ck_assert_msg(mono_s() - t0 < 1.0, "took %.2f s", mono_s() - t0);
		j = slurp(json);
		ck_assert_msg(strstr(j, "\"interrupted\": true") &&
			      strstr(j, "\"target_exited\": false"), "%s", j);
		ck_assert_int_eq(json_kind(j, "at_start", "eventfd"), 2);
		no_progs_left(target);
		ck_assert_int_eq(kill(target, 0), 0); /* not touched */
		close(leaker_in);
		waitpid(target, NULL, 0);
	}
	ck_assert_int_eq(bpffs_entries(), pins);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* The number after "key": in a JSON text. */
static long json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	ck_assert_msg(p != NULL, "no %s in JSON:\n%s", key, json);
	return strtol(p + strlen(pat), NULL, 10);
}

/* A target opening and closing eventfds as fast as it can: counts stay
 * exact (lost events only cost stacks) and fdtrack's memory stays flat. */
START_TEST(test_cli_flood)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX";
	char *argv[] = { "fdtrack", "--json", json, "-i", "0.5", "--", FDT_LEAKER_PATH,
			 "--flood", "2.5", NULL };
	char *small[] = { "fdtrack", "--json", json, "--", FDT_LEAKER_PATH, "1",
			  NULL };
	int fd = mkstemp(json);
	long opens, lost, rss0, rss1, base;
	const char *j;

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (!bpf_usable())
		goto out;
	/* baseline: the same report (symbolising loads debug info) for a
	 * target with a single eventfd */
	ck_assert_int_eq(run_cli(small, NULL, 0), 0);
	base = json_num(slurp(json), "traced");
	ck_assert_int_eq(run_cli(argv, NULL, 0), 0);
	j = slurp(json);
	opens = json_kind(j, "opens", "eventfd");
	lost = json_num(j, "lost_events");
	rss0 = json_num(j, "start");
	rss1 = json_num(j, "traced");
	printf("flood: %ld eventfds in 2.5 s (%.0f/s), %ld lost events, "
	       "fdtrack RSS %ld -> %ld KiB (1-fd run: %ld KiB)\n", opens,
	       opens / 2.5, lost, rss0, rss1, base);
	ck_assert_int_gt(opens, 20000);
	/* closes include the one left open at exit */
	ck_assert_int_eq(json_kind(j, "closes", "eventfd"), opens);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 1);
	ck_assert_int_eq(json_kind(j, "closed_outside_syscalls", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "opened_outside_syscalls", "eventfd"), 0);
	/* the leaked one has its stack even if others lost theirs */
	ck_assert_msg(strstr(j, "leak_eventfds (leaker.c:"), "%s", j);
	ck_assert_msg(rss1 - base < 4 * 1024, "fdtrack used %ld KiB after the "
		      "flood, %ld KiB after one fd", rss1, base);
out:
	unlink(json);
}
END_TEST

/* Every bad value of every option: one line on stderr, exit 2, no crash,
 * nothing attached, no JSON file, CMD not run. */
START_TEST(test_cli_hostile_input)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX", mark[] = "/tmp/fdtrack-test-XXXXXX";
	char dead[16], json_new[64];
	pid_t gone = fork();
	int fd = mkstemp(log), mfd = mkstemp(mark);
	char *const cases[][12] = {
		{ "fdtrack", "-p", NULL },
		{ "fdtrack", "-p", "", NULL },
		{ "fdtrack", "-p", "-1", NULL },
		{ "fdtrack", "-p", "0", NULL },
		{ "fdtrack", "-p", "abc", NULL },
		{ "fdtrack", "-p", "12abc", NULL },
		{ "fdtrack", "-p", "99999999999999999999999", NULL },
		{ "fdtrack", "-p", "2147483648", NULL },
		{ "fdtrack", "-p", "-9223372036854775809", NULL },
		{ "fdtrack", "--pid", NULL },
		{ "fdtrack", "-p", dead, NULL },
		{ "fdtrack", "-i", NULL },
		{ "fdtrack", "-i", "-1", "-p", "1", NULL },
		{ "fdtrack", "-i", "0", "-p", "1", NULL },
		{ "fdtrack", "-i", "abc", "-p", "1", NULL },
		{ "fdtrack", "-i", "nan", "-p", "1", NULL },
		{ "fdtrack", "-i", "inf", "-p", "1", NULL },
		{ "fdtrack", "-i", "1e400", "-p", "1", NULL },
		{ "fdtrack", "-i", "1e-9", "-p", "1", NULL },
		{ "fdtrack", "-i", "0x10", "-p", "1", NULL },
		{ "fdtrack", "-d", NULL },
		{ "fdtrack", "-d", "-5", "-p", "1", NULL },
		{ "fdtrack", "-d", "", "-p", "1", NULL },
		{ "fdtrack", "-d", "1s", "-p", "1", NULL },
		{ "fdtrack", "-d", "1e999", "-p", "1", NULL },
		{ "fdtrack", "--duration=", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", NULL },
		{ "fdtrack", "--ringbuf", "-1", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "0", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "abc", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "100", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "4294967296", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "99999999999999999999999", "-p", "1", NULL },
		{ "fdtrack", "--json", NULL },
		{ "fdtrack", "--json", "", "-p", "1", NULL },
		{ "fdtrack", "--fail-on-leak=yes", "-p", "1", NULL },
		{ "fdtrack", "-x", NULL },
		{ "fdtrack", "--", NULL },
		{ "fdtrack", "-p", "1", "--", "true", NULL },
		{ "fdtrack", "--json", "/nonexistent-dir/x.json", "--", "touch", mark, NULL },
		{ "fdtrack", "--json", "/proc/fdtrack.json", "--", "touch", mark, NULL },
		{ "fdtrack", "--json", "/tmp", "--", "touch", mark, NULL },
		{ "fdtrack", "--json", json_new, "-p", dead, NULL },
	};

	ck_assert_int_ge(gone, 0);
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0); /* a pid that does not exist (for now) */
	snprintf(dead, sizeof(dead), "%d", (int)gone);
	snprintf(json_new, sizeof(json_new), "%s.json", log);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(mfd, 0);
	close(fd);
	close(mfd);
	unlink(mark);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *out;
		int nl = 0;

		ck_assert_msg(wait_exit(start_cli(cases[i], log, -1), 5) == 2,
			      "case %zu (%s %s %s): exit status not 2:\n%s", i,
			      cases[i][1], cases[i][2] ? cases[i][2] : "",
			      cases[i][2] && cases[i][3] ? cases[i][3] : "",
			      slurp(log));
		out = slurp(log);
		for (const char *p = out; *p; p++)
			nl += *p == '\n';
		ck_assert_msg(nl == 1 && !strncmp(out, "fdtrack: ", 9),
			      "case %zu (%s): not one 'fdtrack: ' line:\n%s", i,
			      cases[i][1], out);
	}
	ck_assert_msg(access(mark, F_OK) != 0, "CMD ran despite a bad --json");
	ck_assert_msg(access(json_new, F_OK) != 0, "partial JSON left behind");
	ck_assert_msg(strstr(slurp(log), "no process"), "%s", slurp(log));
	unlink(log);
}
END_TEST

/* -p PID whose process exits while watched: report what was seen, exit by
 * the leak rule. */
START_TEST(test_cli_pid_exits)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX", log[] = "/tmp/fdtrack-test-XXXXXX";
	char pidarg[16];
	char *argv[] = { "fdtrack", "-p", pidarg, "-i", "0.05", "--json", json,
			 "--fail-on-leak", NULL };
	int jfd = mkstemp(json), lfd = mkstemp(log), in;
	const char *j;
	pid_t target, cli;

	ck_assert_int_ge(jfd, 0);
	ck_assert_int_ge(lfd, 0);
	close(jfd);
	close(lfd);
	if (!bpf_usable())
		goto out;
	target = waiting_leaker(&in);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
	cli = start_cli(argv, log, -1);
	wait_text(log, "opens", 5);
	close(in);                          /* the target exits ... */
	ck_assert_int_eq(waitpid(target, NULL, 0), target);
	ck_assert_int_eq(wait_exit(cli, 3), 1); /* ... leaving 2 open */
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"target_exited\": true") &&
		      strstr(j, "\"interrupted\": false"), "%s", j);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 2);
	no_progs_left(target);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* The kernel-side filter: another process's eventfds never show up. */
START_TEST(test_cli_only_target)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX", log[] = "/tmp/fdtrack-test-XXXXXX";
	char pidarg[16];
	char *argv[] = { "fdtrack", "-p", pidarg, "-i", "0.05", "-d", "0.6",
			 "--json", json, NULL };
	int jfd = mkstemp(json), lfd = mkstemp(log), in, fds[20];
	const char *j;
	pid_t target, cli;

	ck_assert_int_ge(jfd, 0);
	ck_assert_int_ge(lfd, 0);
	close(jfd);
	close(lfd);
	if (!bpf_usable())
		goto out;
	target = waiting_leaker(&in);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
	cli = start_cli(argv, log, -1);
	wait_text(log, "opens", 5);
	for (int i = 0; i < 20; i++)            /* this process: a bystander */
		fds[i] = efd();
	for (int i = 0; i < 10; i++)
		close(fds[i]);
	ck_assert_int_eq(wait_exit(cli, 3), 0);
	j = slurp(json);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "closes", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "opened_outside_syscalls", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "at_start", "eventfd"), 2);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 2);
	for (int i = 10; i < 20; i++)
		close(fds[i]);
	close(in);
	waitpid(target, NULL, 0);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* Every way out releases the BPF objects: nothing pinned, no program of
 * ours still loaded (signals: test_cli_signals). */
START_TEST(test_cli_no_leftovers)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX";
	char pidarg[16];
	char *ok[] = { "fdtrack", "--json", json, "--", FDT_LEAKER_PATH, "0", "3",
		       NULL };
	char *leak[] = { "fdtrack", "--json", json, "--fail-on-leak", "--",
			 FDT_LEAKER_PATH, "1", NULL };
	char *fail[] = { "fdtrack", "--json", json, "--", "/nonexistent/cmd",
			 NULL };
	char *bypid[] = { "fdtrack", "-p", pidarg, "-d", "0.2", NULL };
	char *const *runs[] = { ok, leak, fail };
	int want[] = { 0, 1, 0 }, pins = bpffs_entries(), fd = mkstemp(json), in;
	pid_t target;

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (!bpf_usable())
		goto out;
	for (int i = 0; i < 3; i++) {
		int rc = run_cli(runs[i], NULL, 0);

		ck_assert_msg(rc == want[i], "run %d: exit %d", i, rc);
		target = json_num(slurp(json), "pid");
		no_progs_left(target);
		ck_assert_int_eq(bpffs_entries(), pins);
	}
	target = waiting_leaker(&in);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
	ck_assert_int_eq(run_cli(bypid, NULL, 0), 0);
	no_progs_left(target);
	ck_assert_int_eq(bpffs_entries(), pins);
	close(in);
	waitpid(target, NULL, 0);
out:
	unlink(json);
}
END_TEST

/* Under sudo, CMD runs as the invoking user without extra groups. */
START_TEST(test_cli_sudo_user)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX";
	char *as_user[] = { "fdtrack", "--", FDT_LEAKER_PATH, "--ids", NULL };
	char *as_root[] = { "fdtrack", "--run-as-root", "--", FDT_LEAKER_PATH,
			    "--ids", NULL };
	char *bad[] = { "fdtrack", "--", FDT_LEAKER_PATH, "--ids", NULL };
	int fd = mkstemp(log);

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (geteuid() != 0 || !bpf_usable()) {
		printf("SKIP: needs root and BPF\n");
		goto out;
	}
	setenv("SUDO_UID", "65534", 1);
	setenv("SUDO_GID", "65534", 1);
	/* fdtrack itself has supplementary groups (as sudo leaves root's) */
	for (int i = 0; i < 2; i++) {
		gid_t groups[2] = { 4, 24 };
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgroups(2, groups))
				_exit(97);
			_exit(wait_exit(start_cli(i ? as_root : as_user, log, -1), 10));
		}
		ck_assert_int_eq(wait_exit(pid, 15), 0);
		ck_assert_msg(strstr(slurp(log), i ? "uid 0 gid 0 groups 2\n"
						   : "uid 65534 gid 65534 groups 0\n"),
			      "%s: %s", i ? "--run-as-root" : "as SUDO_UID",
			      slurp(log));
	}
	setenv("SUDO_UID", "-1", 1);
	ck_assert_int_eq(run_cli(bad, log, 0), 2);
	ck_assert_msg(strstr(slurp(log), "SUDO_UID"), "%s", slurp(log));
	unsetenv("SUDO_UID");
	unsetenv("SUDO_GID");
out:
	unlink(log);
}
END_TEST

/* ---- environment errors -------------------------------------------- */

START_TEST(test_no_btf)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX";
	char *argv[] = { "fdtrack", "-p", "1", NULL };
	struct fdtrack *t = NULL;
	int fd = mkstemp(log);

	ck_assert_int_ge(fd, 0);
	close(fd);
	setenv("FDTRACK_BTF", "/nonexistent/vmlinux", 1);
	ck_assert_int_eq(fdtrack_open(getpid(), NULL, &t), -ENOENT);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(fdtrack_error(), "BTF"), "%s", fdtrack_error());
	ck_assert_int_eq(run_cli(argv, log, 0), 2);
	ck_assert_msg(strstr(slurp(log), "no kernel BTF"), "%s", slurp(log));
	unsetenv("FDTRACK_BTF");
	unlink(log);
}
END_TEST

START_TEST(test_not_root)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX";
	char *argv[] = { "fdtrack", "-p", "1", NULL };
	int fd = mkstemp(log), st;
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	close(fd);
	chmod(log, 0666);
	if (geteuid() != 0) {
		printf("SKIP: not root, cannot drop privileges to test\n");
		unlink(log);
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct fdtrack *t;
		int err;

		if (setgid(65534) || setuid(65534))
			_exit(97);
		err = fdtrack_open(getpid(), NULL, &t);
		if (err != -EPERM && err != -EACCES)
			_exit(10);
		if (!strstr(fdtrack_error(), "root") ||
		    !strstr(fdtrack_error(), "CAP_BPF"))
			_exit(11);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "unprivileged fdtrack_open: status %d", st);
	ck_assert_int_eq(run_cli(argv, log, 65534), 2);
	ck_assert_msg(strstr(slurp(log), "CAP_BPF"), "%s", slurp(log));
	/* the way a user would: setpriv to nobody, no groups */
	if (access("/usr/bin/setpriv", X_OK) == 0) {
		char *sp[] = { "setpriv", "--reuid=65534", "--regid=65534",
			       "--clear-groups", FDT_CLI_PATH, "--", "true", NULL };

		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			int o = open(log, O_WRONLY | O_TRUNC);

			dup2(o, 1);
			dup2(o, 2);
			execv("/usr/bin/setpriv", sp);
			_exit(98);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2,
			      "setpriv fdtrack: status %d: %s", st, slurp(log));
		ck_assert_msg(strstr(slurp(log), "CAP_BPF") &&
			      strstr(slurp(log), "CAP_PERFMON") &&
			      strstr(slurp(log), "root"), "%s", slurp(log));
	}
	unlink(log);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_create_close);
	tcase_add_test(tc, test_dup_family);
	tcase_add_test(tc, test_dup2_onto_tracked);
	tcase_add_test(tc, test_close_range);
	tcase_add_test(tc, test_exec_cloexec);
	tcase_add_test(tc, test_process_exit);
	tcase_add_test(tc, test_forked_child_not_counted);
	tcase_add_test(tc, test_other_threads_counted);
	tcase_add_test(tc, test_ioring_op_close);
	tcase_add_test(tc, test_mixed);
	tcase_add_test(tc, test_stack_names_function);
	tcase_add_test(tc, test_ringbuf_overflow);
	tcase_add_test(tc, test_reconcile_cost);
	tcase_add_test(tc, test_cli_leaker);
	tcase_add_test(tc, test_cli_pid_duration);
	tcase_add_test(tc, test_cli_usage);
	tcase_add_test(tc, test_cli_signals);
	tcase_add_test(tc, test_cli_flood);
	tcase_add_test(tc, test_cli_hostile_input);
	tcase_add_test(tc, test_cli_pid_exits);
	tcase_add_test(tc, test_cli_only_target);
	tcase_add_test(tc, test_cli_no_leftovers);
	tcase_add_test(tc, test_cli_sudo_user);
	tcase_add_test(tc, test_no_btf);
	tcase_add_test(tc, test_not_root);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
