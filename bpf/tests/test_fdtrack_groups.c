/*
 * fdtrack's leak groups through the library (fdtrack_live_groups): a
 * stack names the function that opened the fd, and stacks that print the
 * same are one group.
 *
 * Without BPF the tests skip with the reason; with FDTRACK_REQUIRE_BPF=1
 * (CI) a skip is a failure.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_runner.h"
#include "fdtrack_testlib.h"

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
	if (!find_frame(g, n, "open_from_known_function",
			"test_fdtrack_groups.c:"))
		fdtrack_print_groups(stderr, g, n);
	ck_assert_msg(
		find_frame(g, n, "open_from_known_function",
			   "test_fdtrack_groups.c:"),
		"no frame 'open_from_known_function (test_fdtrack_groups.c:N)'");
	fdtrack_groups_free(g, n);
	close(fd);
	fdtrack_close(t);
}
END_TEST

/* Two calls on one source line: two stacks (different return addresses)
 * that print the same. */
/* the two calls must stay on one line */
/* clang-format off */
__attribute__((noinline)) static void open_two_on_one_line(int fd[2])
{
	fd[0] = eventfd(0, 0); fd[1] = eventfd(0, 0); /* one line */
	sink = fd[1];
}
/* clang-format on */

/* Stacks that print the same are one group (a report showed "41 timerfd
 * fds" and "9 timerfd fds" with identical frames). */
START_TEST(test_same_text_one_group)
{
	struct fdtrack_group *g;
	struct fdtrack *t;
	unsigned groups = 0, fds = 0;
	size_t n;
	int fd[2];

#ifdef __SANITIZE_THREAD__
	printf("SKIP: stack test under ThreadSanitizer\n");
	return;
#endif
	OPEN_OR_SKIP(t, getpid(), NULL);
	open_two_on_one_line(fd);
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (find_frame(&g[i], 1, "open_two_on_one_line", NULL)) {
			groups++;
			fds += g[i].count;
		}
	if (groups != 1)
		fdtrack_print_groups(stderr, g, n);
	ck_assert_uint_eq(fds, 2);
	ck_assert_msg(groups == 1, "%u groups print the same stack", groups);
	fdtrack_groups_free(g, n);
	close(fd[0]);
	close(fd[1]);
	fdtrack_close(t);
}
END_TEST

__attribute__((noinline)) static int pipe_and_socketpair(int p[2], int sv[2])
{
	int rc = pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv);

	sink = rc; /* no tail call */
	return rc;
}

/* A syscall that installs two fds (pipe, socketpair) gives both its
 * stack: the kernel side takes it once per syscall and reuses it for the
 * second fd; a later syscall's fds never get an earlier one's. */
START_TEST(test_both_ends_have_the_stack)
{
	struct fdtrack_group *g;
	struct fdtrack *t;
	unsigned pipes = 0, sockets = 0, fd_here;
	size_t n;
	int p[2], sv[2], efd;

#ifdef __SANITIZE_THREAD__
	printf("SKIP: stack test under ThreadSanitizer\n");
	return;
#endif
	OPEN_OR_SKIP(t, getpid(), NULL);
	ck_assert_int_eq(pipe_and_socketpair(p, sv), 0);
	efd = open_from_known_function();
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (!find_frame(&g[i], 1, "pipe_and_socketpair", NULL))
			continue;
		if (g[i].kind == FDKIND_PIPE)
			pipes += g[i].count;
		else if (g[i].kind == FDKIND_SOCKET_UNIX)
			sockets += g[i].count;
		else
			ck_abort_msg("a %s fd under pipe_and_socketpair",
				     fdkind_name(g[i].kind));
	}
	fd_here = 0;
	for (size_t i = 0; i < n; i++)
		if (find_frame(&g[i], 1, "open_from_known_function", NULL))
			fd_here += g[i].count;
	if (pipes != 2 || sockets != 2 || fd_here != 1)
		fdtrack_print_groups(stderr, g, n);
	ck_assert_uint_eq(pipes, 2);
	ck_assert_uint_eq(sockets, 2);
	ck_assert_uint_eq(fd_here, 1);
	fdtrack_groups_free(g, n);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(efd);
	fdtrack_close(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_groups");
	TCase *tc = tcase_create("groups");

	tcase_add_test(tc, test_stack_names_function);
	tcase_add_test(tc, test_same_text_one_group);
	tcase_add_test(tc, test_both_ends_have_the_stack);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
