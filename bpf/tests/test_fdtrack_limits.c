/*
 * fdtrack library tests at the edges of what it sees: an fd io_uring opens
 * (no syscall: found by the snapshot, filed as opened outside syscalls),
 * and its own tables full (fds, stacks): counted, never silent; unused
 * stacks collected so that rounds of more stacks than fit lose none.
 *
 * Without BPF the tests skip with the reason; with FDTRACK_REQUIRE_BPF=1
 * (CI) a skip is a failure.
 */
#include <check.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check_runner.h"
#include "fdtrack_testlib.h"

/* An fd io_uring opens (IORING_OP_OPENAT) passes no syscall exit: the
 * snapshot finds it and files it under opened outside syscalls. */
START_TEST(test_opened_by_io_uring)
{
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct fdtrack *t;
	int fd;

	OPEN_OR_SKIP(t, getpid(), NULL);
	new_ring(&ring);
	io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, "/dev/null",
			     O_RDONLY, 0);
	ck_assert_int_eq(io_uring_submit_and_wait(&ring, 1), 1);
	ck_assert_int_eq(io_uring_wait_cqe(&ring, &cqe), 0);
	fd = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fdtrack_reconcile(t), 0);
	ck_assert_int_eq(counts(t).opened_outside_syscalls[FDKIND_CHR], 1);
	agree(t, getpid());
	close(fd);
	io_uring_queue_exit(&ring);
	agree(t, getpid());
	ck_assert_int_eq(counts(t).opened_outside_syscalls[FDKIND_CHR], 1);
	ck_assert_int_eq(counts(t).closed_outside_syscalls[FDKIND_CHR], 0);
	fdtrack_close(t);
}
END_TEST

/* A full fd table is counted, never silent. */
START_TEST(test_fd_table_full)
{
	struct fdtrack_options o = { .want_stacks = 1, .max_fds = 64 };
	struct fdtrack *t;
	int fds[100];

	OPEN_OR_SKIP(t, getpid(), &o);
	for (int i = 0; i < 100; i++)
		fds[i] = efd();
	ck_assert_uint_gt(counts(t).fds_full, 0);
	for (int i = 0; i < 100; i++)
		close(fds[i]);
	fdtrack_close(t);
}
END_TEST

/* Distinct stacks: an eventfd opened at recursion depth d. */
static volatile int sink;

__attribute__((noinline)) static int open_at_depth(int d)
{
	int fd = d ? open_at_depth(d - 1) : eventfd(0, 0);

	sink = fd; /* no tail call */
	return fd;
}

/* A full stack table is counted; unused stacks are collected, so rounds of
 * more distinct stacks than it holds lose none. */
START_TEST(test_stack_table)
{
	struct fdtrack_options small = { .want_stacks = 1, .max_stacks = 32 };
	struct fdtrack *t;
	int fds[40];

#ifdef __SANITIZE_THREAD__
	printf("SKIP: stack test under ThreadSanitizer\n");
	return;
#endif
	OPEN_OR_SKIP(t, getpid(), &small);
	/* 48 stacks in all, 6 between polls (which collect past 3/4 full) */
	for (int round = 0; round < 8; round++) {
		for (int d = 0; d < 6; d++)
			fds[d] = open_at_depth(d + 6 * round);
		for (int d = 0; d < 6; d++)
			close(fds[d]);
		ck_assert_int_eq(fdtrack_poll(t, 0), 0);
	}
	ck_assert_int_eq(counts(t).stacks_dropped, 0);
	for (int d = 0; d < 40; d++) /* more than fit, all held */
		fds[d] = open_at_depth(d);
	ck_assert_uint_gt(counts(t).stacks_dropped, 0);
	for (int d = 0; d < 40; d++)
		close(fds[d]);
	fdtrack_close(t);
}
END_TEST

/* A process watching itself reads the ring buffer without libbpf's epoll
 * (bpf/ring.c): with a one-page ring, 120 new stacks (a record each) in
 * batches of 6, read between batches, lose no record; and it holds no
 * epoll fd of fdtrack's. */
START_TEST(test_own_ring_reader)
{
	struct fdtrack_options o = { .want_stacks = 1, .ringbuf_bytes = 1 };
	struct fdtrack *t;
	int fds[6];

	OPEN_OR_SKIP(t, getpid(), &o);
	ck_assert_int_eq(fdtrack_poll_fd(t), -1);
	for (int round = 0; round < 20; round++) {
		for (int d = 0; d < 6; d++)
			fds[d] = open_at_depth(d + 6 * round);
		for (int d = 0; d < 6; d++)
			close(fds[d]);
		ck_assert_int_eq(fdtrack_poll(t, 0), 0);
	}
	ck_assert_uint_eq(counts(t).lost_events, 0);
	ck_assert_uint_eq(counts(t).stacks_dropped, 0);
	fdtrack_close(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_limits");
	TCase *tc = tcase_create("limits");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_opened_by_io_uring);
	tcase_add_test(tc, test_fd_table_full);
	tcase_add_test(tc, test_stack_table);
	tcase_add_test(tc, test_own_ring_reader);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
