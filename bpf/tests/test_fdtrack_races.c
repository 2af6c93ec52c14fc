/*
 * fdtrack library tests of threads racing on fd numbers (docs/design.md
 * §4.4): counts stay exact from the syscall view alone, with snapshots
 * running meanwhile, and every fd keeps its opening stack under bursts.
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

/* Threads racing on the same fd numbers: a close's number is reused by
 * another thread's open before the close reaches sys_exit, and the other
 * way round. Every path that frees or takes a number: close, dup, dup3 onto
 * a private number, close_range, fcntl F_DUPFD. */
#define RACE_THREADS 4
#define RACE_ITERS   1500

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

/* Runs of fdtrack's programs the kernel skipped. Linux 7.x runs the
 * programs of its syscall tracepoints preemptibly (PREEMPT_LAZY, Debian's
 * default there): while one thread is preempted inside fdtrack_sys_exit,
 * the kernel skips that program for every other thread leaving a syscall
 * on the CPU, and counts the skip (recursion_misses). No program on a
 * syscall tracepoint can avoid it (docs/design.md §4.1b). Where it
 * happened, the syscall view cannot be exact, and what must hold instead
 * is what fdtrack promises then: it knows (fdtrack_runs_missed()), every
 * loss is within the skipped runs, the totals balance with the losses
 * under *_outside_syscalls, and live agrees with /proc after a
 * reconcile. With no skip (every 6.x kernel), everything exact. */
static uint64_t skipped(struct fdtrack *t)
{
	uint64_t n = fdtrack_runs_missed(t);
	static uint64_t said;

	if (n && n != said) {
		printf("NOTE: the kernel skipped %llu run%s of fdtrack's "
		       "programs (preemptible syscall tracepoints): checking "
		       "the losses are within them, not exact counts\n",
		       (unsigned long long)n, n == 1 ? "" : "s");
		said = n;
	}
	return n;
}

/* A close that lost its race for an fd number (races_lost, the one race
 * design.md §4.3 leaves out) is filed outside syscalls: seen under QEMU's
 * TCG (10-30 times slower), never natively, so allowed only on a machine
 * the caller says is slow (CK_TIMEOUT_MULTIPLIER, as make check-kernels
 * sets). */
static uint64_t races_lost_ok(struct fdtrack *t)
{
	return slow_factor() > 1 ? counts(t).races_lost : 0;
}

/* opens or closes of a kind: `want` exactly, or with skipped runs (and,
 * for closes, lost races: `lost`) at most that many fewer */
#define assert_seen_lost(t, got, want, lost)                                \
	do {                                                                \
		uint64_t got_ = (got), want_ = (want),                      \
			 miss_ = skipped(t) + (lost);                       \
		if (!miss_)                                                 \
			ck_assert_uint_eq(got_, want_);                     \
		else                                                        \
			ck_assert_msg(got_ <= want_ && want_ - got_ <= miss_, \
				      "%s: %llu of %llu seen, %llu runs "   \
				      "skipped or races lost",              \
				      #got, (unsigned long long)got_,       \
				      (unsigned long long)want_,            \
				      (unsigned long long)miss_);           \
	} while (0)
#define assert_seen(t, got, want) assert_seen_lost(t, got, want, 0)

/* The syscall view alone is exact: opens == closes + live with nothing
 * under *_outside_syscalls, and every live fd has its opening stack. */
static void assert_exact(struct fdtrack *t, pid_t pid, unsigned want_efd,
			 unsigned want_uring)
{
	struct fdtrack_counts c;
	unsigned p[FDKIND_COUNT];
	uint64_t miss = skipped(t);
	/* the one race §4.3 leaves out: a close whose exit could not read
	 * its number fresh 4 times (races_lost_ok) */
	uint64_t lost_ok = races_lost_ok(t);

	/* the syscall view alone is not exact: fix it up */
	if (miss || lost_ok)
		ck_assert_int_eq(fdtrack_reconcile(t), 0);
	c = counts(t);
	proc_counts(pid, p);
	if (lost_ok)
		printf("NOTE: %llu race%s for an fd number lost "
		       "(races_lost): as many closes may be filed outside "
		       "syscalls\n",
		       (unsigned long long)c.races_lost,
		       c.races_lost == 1 ? "" : "s");
	for (int k = 0; k < FDKIND_COUNT; k++) {
		ck_assert_msg(c.opened_outside_syscalls[k] <= miss &&
				      c.closed_outside_syscalls[k] <=
					      miss + lost_ok,
			      "%s: closed/opened outside syscalls %llu/%llu, "
			      "%llu runs skipped, %llu races lost",
			      fdkind_name(k),
			      (unsigned long long)c.closed_outside_syscalls[k],
			      (unsigned long long)c.opened_outside_syscalls[k],
			      (unsigned long long)miss,
			      (unsigned long long)c.races_lost);
		ck_assert_msg(
			c.at_start[k] + c.opens[k] +
					c.opened_outside_syscalls[k] ==
				c.closes[k] + c.closed_outside_syscalls[k] +
					c.live[k] &&
				c.live[k] == p[k],
			"%s: at start %llu opens %llu (+%llu outside) closes "
			"%llu (+%llu outside) live %llu /proc %u",
			fdkind_name(k), (unsigned long long)c.at_start[k],
			(unsigned long long)c.opens[k],
			(unsigned long long)c.opened_outside_syscalls[k],
			(unsigned long long)c.closes[k],
			(unsigned long long)c.closed_outside_syscalls[k],
			(unsigned long long)c.live[k], p[k]);
	}
	ck_assert_int_eq(p[EFD], want_efd);
	ck_assert_int_eq(p[URING], want_uring);
}

START_TEST(test_other_threads_counted)
{
	/* big enough that the poller (sharing 2 CPUs with 4 threads) keeps up */
	struct fdtrack_options o = { .ringbuf_bytes = 8 << 20,
				     .want_stacks = 1 };
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
						&args[i]),
				 0);
	}
	/* snapshot back to back while the threads run: a snapshot races with
	 * closes and opens on their way to sys_exit (no sleeping in the
	 * poll: opens send no records now, nothing would wake it) */
	while (__atomic_load_n(&race_done, __ATOMIC_ACQUIRE) < RACE_THREADS) {
		ck_assert_int_eq(fdtrack_poll(t, 0), 0);
		ck_assert_int_eq(fdtrack_reconcile(t), 0);
	}
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(fdtrack_poll(t, 0), 0);
	ck_assert_int_eq(counts(t).lost_events, 0);
	/* before any snapshot: the syscall view alone */
	assert_exact(t, me, RACE_THREADS, RACE_THREADS);
	assert_seen(t, counts(t).opens[EFD], RACE_THREADS * (want + 1));
	assert_seen(t, counts(t).opens[URING], RACE_THREADS);
	ck_assert_int_eq(fdtrack_reconcile(t), 0);
	assert_exact(t, me, RACE_THREADS, RACE_THREADS);
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (g[i].kind != EFD && g[i].kind != URING)
			continue; /* e.g. fdtrack's own epoll fd */
		sum += g[i].count;
#ifndef __SANITIZE_THREAD__ /* TSan's interceptors stop the stack walk */
		/* an fd whose open the kernel skipped has none */
		ck_assert_msg(g[i].nframes > 0 || g[i].count <= skipped(t),
			      "%u %s fds without a stack", g[i].count,
			      fdkind_name(g[i].kind));
#endif
	}
	ck_assert_int_eq(sum, 2 * RACE_THREADS);
	fdtrack_groups_free(g, n);
	for (int i = 0; i < RACE_THREADS; i++) {
		close(args[i].kept);
		io_uring_queue_exit(&args[i].ring);
	}
	assert_exact(t, me, 0, 0);
	assert_seen_lost(t, counts(t).closes[EFD], RACE_THREADS * (want + 1),
			 races_lost_ok(t));
	fdtrack_close(t);
}
END_TEST

/* dup3 onto a number while snapshots run back to back: a snapshot that
 * finds the new file before dup3's exit puts it UNCLAIMED; dup3's exit
 * must take it as its own open even when the next snapshot has begun
 * (the race the design.md §4.4 note on UNCLAIMED entries is about). */
#define DUP3_ITERS 20000

static void *thread_dup3s(void *p)
{
	struct race_arg *arg = p;
	int a = eventfd(0, 0), priv = 950 + arg->id;

	for (int i = 0; i < DUP3_ITERS; i++) {
		dup3(a, priv, 0);
		close(priv);
	}
	close(a);
	__atomic_fetch_add(&race_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(test_dup3_during_snapshots)
{
	struct race_arg args[2];
	pthread_t th[2];
	struct fdtrack *t;

	OPEN_OR_SKIP(t, getpid(), NULL);
	for (int i = 0; i < 2; i++) {
		args[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_dup3s,
						&args[i]),
				 0);
	}
	while (__atomic_load_n(&race_done, __ATOMIC_ACQUIRE) < 2)
		ck_assert_int_eq(fdtrack_reconcile(t), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_exact(t, getpid(), 0, 0);
	assert_seen(t, counts(t).opens[EFD], 2 * (DUP3_ITERS + 1));
	fdtrack_close(t);
}
END_TEST

/* A burst of opens and closes from several threads, never polled, with
 * the smallest ring buffer: every fd left open still has its stack (stacks
 * live in the kernel's per-fd entries, not in ring buffer records). */
#define BURST_THREADS 4
#define BURST_PAIRS   5000
#define BURST_KEPT    50

static void *burst(void *arg)
{
	int *kept = arg;

	for (int i = 0; i < BURST_PAIRS; i++)
		close(efd());
	for (int i = 0; i < BURST_KEPT; i++)
		kept[i] = efd();
	return NULL;
}

START_TEST(test_burst_keeps_stacks)
{
	struct fdtrack_options o = { .ringbuf_bytes = 4096, .want_stacks = 1 };
	int kept[BURST_THREADS][BURST_KEPT];
	pthread_t th[BURST_THREADS];
	struct fdtrack_group *g;
	struct fdtrack *t;
	unsigned sum = 0, nostack = 0;
	size_t n;

	OPEN_OR_SKIP(t, getpid(), &o);
	for (int i = 0; i < BURST_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, burst, kept[i]),
				 0);
	for (int i = 0; i < BURST_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_seen(t, counts(t).opens[EFD],
		    BURST_THREADS * (BURST_PAIRS + BURST_KEPT));
	if (skipped(t)) /* fds whose open was skipped: found, stackless */
		ck_assert_int_eq(fdtrack_reconcile(t), 0);
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (g[i].kind != EFD)
			continue;
		sum += g[i].count;
		if (!g[i].nframes)
			nostack += g[i].count;
	}
	ck_assert_uint_eq(sum, BURST_THREADS * BURST_KEPT);
#ifndef __SANITIZE_THREAD__ /* TSan's interceptors stop the stack walk */
	ck_assert_msg(nostack <= skipped(t),
		      "%u of %u eventfds without a stack", nostack, sum);
#endif
	ck_assert_int_eq(counts(t).stacks_dropped, 0);
	fdtrack_groups_free(g, n);
	for (int i = 0; i < BURST_THREADS; i++)
		for (int j = 0; j < BURST_KEPT; j++)
			close(kept[i][j]);
	/* a close of the burst's pairs may lose its race under TCG (seen
	 * on 6.12 in the matrix): judged as the other tests judge it */
	if (!skipped(t) && !races_lost_ok(t)) {
		agree(t, getpid());
		no_outside(t);
	} else {
		assert_exact(t, getpid(), 0, 0);
	}
	fdtrack_close(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_races");
	TCase *tc = tcase_create("races");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_other_threads_counted);
	tcase_add_test(tc, test_dup3_during_snapshots);
	tcase_add_test(tc, test_burst_keeps_stacks);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
