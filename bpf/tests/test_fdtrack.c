/*
 * fdtrack library tests. Each one drives a close/open path and checks
 * fdtrack's live count against /proc/PID/fd, and that the syscall path
 * itself (not the reconciliation safety net) accounted for it.
 *
 * Without BPF (not root, no BTF, old kernel) the tests skip with the reason;
 * with FDTRACK_REQUIRE_BPF=1 (CI) a skip is a failure.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_runner.h"
#include "clock.h"
#include "fdtrack_testlib.h"

/* ---- opens and closes by syscall ------------------------------------ */

START_TEST(test_create_close)
{
	struct fdtrack *t;
	struct io_uring ring;
	pid_t me = getpid();
	int a, b;

	OPEN_OR_SKIP(t, me, NULL);
	agree(t, me);
	a = efd();		     /* eventfd2 */
	b = syscall(SYS_eventfd, 0); /* legacy eventfd */
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
	d[5] = dup(p[0]); /* not tracked */
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
	ck_assert_int_eq(dup2(p[0], b), b); /* eventfd b is closed */
	agree(t, me);
	ck_assert_int_eq(counts(t).closes[EFD], 1);
	ck_assert_int_eq(dup3(a, b, 0), b); /* b is an eventfd again */
	agree(t, me);
	ck_assert_int_eq(counts(t).opens[EFD], 3);
	ck_assert_int_eq(dup2(a, a), a); /* no-op */
	ck_assert_int_eq(dup2(a, b), b); /* closes b, opens b */
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
				 CLOSE_RANGE_CLOEXEC),
			 0);
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
struct kid {
	pid_t pid;
	int go;
};

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

struct exec_arg {
	int in, out;
};

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
	close(in[1]); /* let it exit */
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

/* fdtrack on child k (fork_waiting), which then runs to its exit; the
 * records of that read. NULL (the child killed) if BPF is unusable. */
static struct fdtrack *watch_to_exit(struct kid *k,
				     const struct fdtrack_options *o)
{
	struct fdtrack *t = open_or_skip(k->pid, o);

	if (!t) {
		kill(k->pid, SIGKILL);
		waitpid(k->pid, NULL, 0);
		return NULL;
	}
	go(k);
	ck_assert_int_eq(waitpid(k->pid, NULL, 0), k->pid);
	ck_assert_int_eq(fdtrack_poll(t, 0), 0);
	return t;
}

START_TEST(test_process_exit)
{
	struct fdtrack_group *g;
	struct fdtrack *t;
	size_t n;
	unsigned sum[FDKIND_COUNT] = { 0 };
	struct kid k = fork_waiting(exit_child, NULL);

	t = watch_to_exit(&k, NULL);
	if (!t)
		return;
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

/* An eventfd from a stack `depth` calls deep: each depth a stack new to
 * fdtrack, so a record in its ring buffer. */
static __attribute__((noinline)) void open_at_depth(int depth)
{
	if (depth > 0) {
		open_at_depth(depth - 1);
		__asm__ volatile("" ::: "memory"); /* not a tail call */
		return;
	}
	/* the syscall itself: TSan's eventfd interceptor has no frame
	 * pointer, so through it every depth would walk to one stack */
	close((int)syscall(SYS_eventfd2, 0, 0));
}

static void flood_then_exit(void *arg)
{
	(void)arg;
	for (int d = 0; d < 200; d++)
		open_at_depth(d);
	exit_child(NULL);
}

/* The target's exit record is lost (a one-page ring, filled by 200 new
 * stacks nobody reads): the scan after lost records still finds that it
 * exited, and reports what it left open. */
START_TEST(test_process_exit_record_lost)
{
	struct fdtrack_options o = { .want_stacks = 1, .ringbuf_bytes = 4096 };
	struct kid k = fork_waiting(flood_then_exit, NULL);
	struct fdtrack_process *p;
	size_t n;
	struct fdtrack *t = watch_to_exit(&k, &o);

	if (!t)
		return;
	ck_assert_uint_gt(counts(t).lost_events, 0);
	ck_assert_int_eq(counts(t).exited, 1);
	ck_assert_int_eq(counts(t).open_at_exit[EFD], 2);
	ck_assert_int_eq(counts(t).open_at_exit[URING], 1);
	ck_assert_int_eq(counts(t).live[EFD], 0);
	/* reported as exited, with its status, as if the record had come */
	ck_assert_int_eq(fdtrack_processes(t, &p, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(p[0].exited, 1);
	ck_assert_int_eq(p[0].has_status, 1);
	ck_assert(WIFEXITED(p[0].status) && WEXITSTATUS(p[0].status) == 0);
	fdtrack_processes_free(p, n);
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

/* ---- the standard streams ------------------------------------------- */

/* An eventfd the program put at 0 itself: in open_std, not leaked, not in
 * the leak groups, while it runs (three lookups, only once something was
 * put at 0-2) and after it exited (from the exit's groups); a leak when
 * std_fds_are_leaks. */
static void std_then_exit(void *arg)
{
	int e = eventfd(0, 0);

	(void)arg;
	dup2(e, 0);
	close(e);
	_exit(0);
}

START_TEST(test_standard_streams)
{
	struct fdtrack_options counted = { .want_stacks = 1,
					   .std_fds_are_leaks = 1 };
	struct fdtrack_counts c;
	struct fdtrack_group *g;
	struct fdtrack_process *p;
	struct fdtrack *t;
	struct kid k;
	size_t n;
	unsigned efds;
	int saved = dup(0), e;

	ck_assert_int_ge(saved, 0);
	for (int pass = 0; pass < 2; pass++) {
		OPEN_OR_SKIP(t, getpid(), pass ? &counted : NULL);
		e = efd();
		ck_assert_int_eq(dup2(e, 0), 0);
		close(e);
		ck_assert_int_eq(fdtrack_reconcile(t), 0);
		c = counts(t);
		ck_assert_int_eq(c.open_std[EFD], (pass ? 0 : 1));
		ck_assert_int_eq(fdtrack_leaked(&c, EFD), (pass ? 1 : 0));
		ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
		efds = 0;
		for (size_t i = 0; i < n; i++)
			efds += g[i].kind == EFD ? g[i].count : 0;
		ck_assert_uint_eq(efds, (pass ? 1 : 0));
		fdtrack_groups_free(g, n);
		ck_assert_int_eq(dup2(saved, 0), 0);
		fdtrack_close(t);
	}
	close(saved);
	k = fork_waiting(std_then_exit, NULL);

	t = watch_to_exit(&k, NULL);
	if (!t)
		return;
	ck_assert_int_eq(counts(t).open_at_exit[EFD], 1);
	ck_assert_int_eq(counts(t).open_std[EFD], 1);
	ck_assert_int_eq(fdtrack_processes(t, &p, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(fdtrack_leaked(&p[0].counts, EFD), 0);
	g = NULL;
	for (size_t i = 0; i < p[0].ngroups; i++)
		if (p[0].groups[i].std) {
			ck_assert_ptr_null(g);
			g = &p[0].groups[i];
		}
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(g->kind, EFD);
	ck_assert_int_eq(g->fds[0], 0);
	ck_assert_uint_gt(g->nframes, 0); /* with its stack */
	fdtrack_processes_free(p, n);
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
	unsigned p[FDKIND_COUNT];
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
	c = efd(); /* takes a's free number */
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
		case 0:
			fd = eventfd(0, EFD_NONBLOCK);
			break;
		case 1:
			fd = new_ring(&r2);
			break;
		case 2:
			if (nfds)
				fd = dup(fds[i]);
			break;
		case 3:
			if (nfds)
				fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
			break;
		case 4:
			if (nfds)
				fd = dup3(fds[i], 700 + step % 20, 0);
			break;
		case 5:
			if (nfds) {
				close(fds[i]);
				closed = 1;
			}
			break;
		case 6:
			if (!nfds)
				break;
			closed = 1;
			if (try_uring_close(&ring, fds[i]) == 0)
				ring_closes++;
			else
				close(fds[i]); /* a ring fd */
			break;
		case 7:
			if (nfds) {
				syscall(SYS_close_range, fds[i], fds[i], 0);
				closed = 1;
			}
			break;
		case 8:
			if (nfds) {
				dup2(p[0], fds[i]);
				closed = 1;
			}
			break;
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
				 counts(t).closed_outside_syscalls[URING],
			 ring_closes);
	ck_assert_int_eq(counts(t).opened_outside_syscalls[EFD] +
				 counts(t).opened_outside_syscalls[URING],
			 0);
	fdtrack_close(t);
}
END_TEST

/* ---- cost ------------------------------------------------------------ */

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
	tcase_add_test(tc, test_process_exit_record_lost);
	tcase_add_test(tc, test_forked_child_not_counted);
	tcase_add_test(tc, test_standard_streams);
	tcase_add_test(tc, test_ioring_op_close);
	tcase_add_test(tc, test_mixed);
	tcase_add_test(tc, test_reconcile_cost);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
