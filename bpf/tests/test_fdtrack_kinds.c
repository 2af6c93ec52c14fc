/*
 * fdtrack library tests of what is tracked: every fd kind classified the
 * way /proc and lsof name it, every fd-creating syscall counted as an open
 * of the right kind (SCM_RIGHTS included), -k's filter. Fds that appear
 * outside syscalls and fdtrack's own limits are in test_fdtrack_limits.c.
 *
 * Without BPF the tests skip with the reason; with FDTRACK_REQUIRE_BPF=1
 * (CI) a skip is a failure.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <liburing.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "check_runner.h"
#include "fdtrack_testlib.h"

/* ---- one fd of each kind ------------------------------------------- */

static int fsopen_tmpfs(void)
{
	return syscall(SYS_fsopen, "tmpfs", 0); /* anon_inode:[fscontext] */
}

static int a_fifo(void)
{
	char path[] = "/tmp/fdtrack-fifo-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	fd = open(path, O_RDWR | O_NONBLOCK);
	unlink(path);
	return fd;
}

static int a_pipe_end(void)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	close(p[1]);
	return p[0];
}

static int a_signalfd(void)
{
	sigset_t m;

	sigemptyset(&m);
	return signalfd(-1, &m, 0);
}

static int a_perf_event(void)
{
	struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE,
				     .size = sizeof(a),
				     .config = PERF_COUNT_SW_DUMMY,
				     .disabled = 1 };

	return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static int an_io_uring(void)
{
	struct io_uring_params p = { 0 };

	return syscall(SYS_io_uring_setup, 4, &p);
}

static int a_bpf_map(void)
{
	return bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
}

static int a_socket(int family, int type)
{
	return socket(family, type, 0);
}

static int unix_socket(void)
{
	return a_socket(AF_UNIX, SOCK_STREAM);
}
static int inet_socket(void)
{
	return a_socket(AF_INET, SOCK_DGRAM);
}
static int inet6_socket(void)
{
	return a_socket(AF_INET6, SOCK_DGRAM);
}
static int netlink_socket(void)
{
	return a_socket(AF_NETLINK, SOCK_RAW);
}
static int packet_socket(void)
{
	return a_socket(AF_PACKET, SOCK_DGRAM);
}
static int an_eventfd(void)
{
	return eventfd(0, 0);
}
static int an_epoll(void)
{
	return epoll_create1(0);
}
static int a_timerfd(void)
{
	return timerfd_create(CLOCK_MONOTONIC, 0);
}
static int a_pidfd(void)
{
	return syscall(SYS_pidfd_open, getpid(), 0);
}
static int an_inotify(void)
{
	return inotify_init1(0);
}
static int a_fanotify(void)
{
	return fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
}
static int a_userfaultfd(void)
{
	return syscall(SYS_userfaultfd, O_CLOEXEC);
}
static int a_file(void)
{
	return open("/proc/self/exe", O_RDONLY);
}
static int a_memfd(void)
{
	return memfd_create("fdtrack-test", 0);
}
static int a_dir(void)
{
	return open("/tmp", O_RDONLY | O_DIRECTORY);
}
static int a_chr(void)
{
	return open("/dev/null", O_RDONLY);
}
static int a_blk(void)
{
	return open("/dev/loop0", O_RDONLY | O_NONBLOCK);
}
static int an_nsfs(void)
{
	return open("/proc/self/ns/net", O_RDONLY);
}

static const struct {
	enum fdkind kind;
	int (*make)(void);
} makers[] = {
	{ FDKIND_EVENTFD, an_eventfd },
	{ FDKIND_IO_URING, an_io_uring },
	{ FDKIND_EPOLL, an_epoll },
	{ FDKIND_TIMERFD, a_timerfd },
	{ FDKIND_SIGNALFD, a_signalfd },
	{ FDKIND_PIDFD, a_pidfd },
	{ FDKIND_INOTIFY, an_inotify },
	{ FDKIND_FANOTIFY, a_fanotify },
	{ FDKIND_USERFAULTFD, a_userfaultfd },
	{ FDKIND_BPF, a_bpf_map },
	{ FDKIND_PERF_EVENT, a_perf_event },
	{ FDKIND_ANON, fsopen_tmpfs },
	{ FDKIND_SOCKET_UNIX, unix_socket },
	{ FDKIND_SOCKET_INET, inet_socket },
	{ FDKIND_SOCKET_INET6, inet6_socket },
	{ FDKIND_SOCKET_NETLINK, netlink_socket },
	{ FDKIND_SOCKET_OTHER, packet_socket },
	{ FDKIND_PIPE, a_pipe_end },
	{ FDKIND_FIFO, a_fifo },
	{ FDKIND_FILE, a_file },
	{ FDKIND_MEMFD, a_memfd },
	{ FDKIND_DIR, a_dir },
	{ FDKIND_CHR, a_chr },
	{ FDKIND_BLK, a_blk },
	{ FDKIND_OTHER, an_nsfs },
};

/* Every kind, made in this process: fdtrack names each as /proc does, and
 * counts it as an open of that kind; the anon one keeps its own name. */
START_TEST(test_every_kind)
{
	const size_t n = sizeof(makers) / sizeof(makers[0]);
	struct fdtrack_counts before, after;
	struct fdtrack_group *g;
	struct fdtrack *t;
	int fds[FDKIND_COUNT];
	bool named = false;
	size_t ng;

	ck_assert_int_eq(n, FDKIND_COUNT);
	OPEN_OR_SKIP(t, getpid(), NULL);
	before = counts(t);
	for (size_t i = 0; i < n; i++) {
		fds[i] = makers[i].make();
		ck_assert_msg(fds[i] >= 0, "making a %s fd: %s",
			      fdkind_name(makers[i].kind), strerror(errno));
		ck_assert_msg(kind_of_fd(getpid(), fds[i]) ==
				      (int)makers[i].kind,
			      "/proc calls the %s fd a %s",
			      fdkind_name(makers[i].kind),
			      fdkind_name(kind_of_fd(getpid(), fds[i])));
	}
	after = counts(t);
	for (size_t i = 0; i < n; i++) {
		enum fdkind k = makers[i].kind;

		ck_assert_msg(after.opens[k] > before.opens[k],
			      "no open of kind %s counted", fdkind_name(k));
	}
	agree(t, getpid());
	no_outside(t);
	ck_assert_int_eq(fdtrack_live_groups(t, &g, &ng), 0);
	for (size_t i = 0; i < ng; i++)
		if (g[i].kind == FDKIND_ANON &&
		    !strcmp(g[i].name, "[fscontext]"))
			named = true;
	ck_assert_msg(named, "no anon group named [fscontext]");
	fdtrack_groups_free(g, ng);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	agree(t, getpid());
	no_outside(t);
	fdtrack_close(t);
}
END_TEST

/* -k eventfd,io_uring: the other kinds are not tracked at all. */
START_TEST(test_kind_filter)
{
	struct fdtrack_options o = {
		.want_stacks = 1,
		.kinds = FDKIND_MASK(FDKIND_EVENTFD) |
			 FDKIND_MASK(FDKIND_IO_URING),
	};
	const size_t n = sizeof(makers) / sizeof(makers[0]);
	struct fdtrack_counts c;
	struct fdtrack *t;
	int fds[FDKIND_COUNT];

	OPEN_OR_SKIP(t, getpid(), &o);
	for (size_t i = 0; i < n; i++)
		fds[i] = makers[i].make();
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	fds[0] = efd();
	ck_assert_int_eq(fdtrack_reconcile(t), 0);
	c = counts(t);
	for (int k = 0; k < FDKIND_COUNT; k++) {
		bool tracked = o.kinds & FDKIND_MASK(k);

		if (tracked)
			continue;
		ck_assert_msg(!c.opens[k] && !c.closes[k] && !c.at_start[k] &&
				      !c.live[k] &&
				      !c.opened_outside_syscalls[k],
			      "%s tracked although not selected",
			      fdkind_name(k));
	}
	ck_assert_int_eq(c.opens[EFD], 2);
	ck_assert_int_eq(c.opens[URING], 1);
	ck_assert_int_eq(c.live[EFD], 1);
	close(fds[0]);
	fdtrack_close(t);
}
END_TEST

/* ---- every syscall that makes an fd ---------------------------------- */

static int send_fds(int sock, const int *fds, int n)
{
	char byte = 'x', ctl[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl,
			    .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	memset(ctl, 0, sizeof(ctl));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(sock, &m, 0);
}

/* Track one step: `delta` new fds of kind `k` counted as opens, nothing
 * outside syscalls, /proc agrees. */
struct step {
	struct fdtrack *t;
	struct fdtrack_counts before;
};

static void step_begin(struct step *s)
{
	s->before = counts(s->t);
}

static void step_end_at(struct step *s, const char *what, enum fdkind k,
			unsigned delta, int line)
{
	struct fdtrack_counts c = counts(s->t);

	ck_assert_msg(c.opens[k] - s->before.opens[k] == delta,
		      "line %d: %s: %llu %s opens counted, want %u", line, what,
		      (unsigned long long)(c.opens[k] - s->before.opens[k]),
		      fdkind_name(k), delta);
	agree_at(s->t, getpid(), line);
	no_outside(s->t);
}
#define step_end(s, what, k, d) step_end_at(s, what, k, d, __LINE__)

START_TEST(test_every_syscall)
{
	struct open_how how = { .flags = O_RDONLY };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sv[2], p[2], fd, fd2, lis, cli, pidfd, recv[4];
	char ctl[2][CMSG_SPACE(4 * sizeof(int))], bytes[2];
	struct iovec iov[2] = { { &bytes[0], 1 }, { &bytes[1], 1 } };
	struct mmsghdr mm[2];
	struct msghdr m;
	struct step s;
	sigset_t mask;
	pid_t kid;

	OPEN_OR_SKIP(s.t, getpid(), NULL);
	step_begin(&s);
	close(syscall(SYS_open, "/proc/self/exe", O_RDONLY));
	close(openat(AT_FDCWD, "/proc/self/exe", O_RDONLY));
	close(syscall(SYS_openat2, AT_FDCWD, "/proc/self/exe", &how,
		      sizeof(how)));
	step_end(&s, "open, openat, openat2", FDKIND_FILE, 3);

	step_begin(&s);
	fd = creat("/tmp/fdtrack-creat-test", 0600);
	unlink("/tmp/fdtrack-creat-test");
	close(fd);
	step_end(&s, "creat", FDKIND_FILE, 1);

	step_begin(&s);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	lis = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "fdtrack-%d",
		 (int)getpid()); /* abstract */
	ck_assert_int_eq(bind(lis, (void *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(lis, 4), 0);
	cli = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(cli, (void *)&addr, sizeof(addr)), 0);
	fd = accept(lis, NULL, NULL);
	close(cli);
	cli = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(cli, (void *)&addr, sizeof(addr)), 0);
	fd2 = accept4(lis, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(fd2, 0);
	close(fd);
	close(fd2);
	close(cli);
	close(lis);
	step_end(&s, "socketpair, socket, accept, accept4", FDKIND_SOCKET_UNIX,
		 2 + 1 + 2 + 2);

	step_begin(&s);
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	close(p[1]);
	step_end(&s, "pipe, pipe2", FDKIND_PIPE, 4);

	step_begin(&s);
	close(syscall(SYS_epoll_create, 4));
	close(epoll_create1(0));
	step_end(&s, "epoll_create, epoll_create1", FDKIND_EPOLL, 2);

	step_begin(&s);
	close(timerfd_create(CLOCK_MONOTONIC, 0));
	step_end(&s, "timerfd_create", FDKIND_TIMERFD, 1);

	step_begin(&s);
	sigemptyset(&mask);
	fd = syscall(SYS_signalfd, -1, &mask, 8);
	fd2 = syscall(SYS_signalfd4, -1, &mask, 8, 0);
	/* with an fd it changes that signalfd: no new fd */
	sigaddset(&mask, SIGUSR2);
	ck_assert_int_eq(syscall(SYS_signalfd4, fd, &mask, 8, 0), fd);
	close(fd);
	close(fd2);
	step_end(&s, "signalfd, signalfd4", FDKIND_SIGNALFD, 2);

	step_begin(&s);
	close(syscall(SYS_eventfd, 0));
	close(syscall(SYS_eventfd2, 0, 0));
	step_end(&s, "eventfd, eventfd2", FDKIND_EVENTFD, 2);

	step_begin(&s);
	close(syscall(SYS_inotify_init));
	close(inotify_init1(0));
	step_end(&s, "inotify_init, inotify_init1", FDKIND_INOTIFY, 2);

	step_begin(&s);
	close(a_fanotify());
	step_end(&s, "fanotify_init", FDKIND_FANOTIFY, 1);

	step_begin(&s);
	close(a_memfd());
	step_end(&s, "memfd_create", FDKIND_MEMFD, 1);

	step_begin(&s);
	pidfd = a_pidfd();
	fd = syscall(SYS_pidfd_getfd, pidfd, pidfd, 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(pidfd);
	step_end(&s, "pidfd_open, pidfd_getfd", FDKIND_PIDFD, 2);

	step_begin(&s);
	close(a_userfaultfd());
	step_end(&s, "userfaultfd", FDKIND_USERFAULTFD, 1);

	step_begin(&s);
	close(a_perf_event());
	step_end(&s, "perf_event_open", FDKIND_PERF_EVENT, 1);

	step_begin(&s);
	close(a_bpf_map());
	step_end(&s, "bpf(BPF_MAP_CREATE)", FDKIND_BPF, 1);

	step_begin(&s);
	close(an_io_uring());
	step_end(&s, "io_uring_setup", FDKIND_IO_URING, 1);

	step_begin(&s);
	fd = efd();
	fd2 = dup(fd);
	close(fd2);
	ck_assert_int_eq(dup2(fd, 400), 400);
	ck_assert_int_eq(dup3(fd, 401, O_CLOEXEC), 401);
	fd2 = fcntl(fd, F_DUPFD, 402);
	close(fd2);
	fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 403);
	close(fd2);
	close(400);
	close(401);
	close(fd);
	step_end(&s, "eventfd + dup, dup2, dup3, F_DUPFD, F_DUPFD_CLOEXEC",
		 FDKIND_EVENTFD, 1 + 5);

	/* SCM_RIGHTS: what recvmsg and recvmmsg installed */
	step_begin(&s);
	fd = a_memfd();
	fd2 = a_memfd();
	ck_assert_int_eq(send_fds(sv[0], (int[]){ fd, fd2 }, 2), 1);
	ck_assert_int_eq(send_fds(sv[0], &fd, 1), 1);
	ck_assert_int_eq(send_fds(sv[0], &fd2, 1), 1);
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl[0];
	m.msg_controllen = sizeof(ctl[0]);
	ck_assert_int_eq(recvmsg(sv[1], &m, 0), 1);
	memcpy(recv, CMSG_DATA(CMSG_FIRSTHDR(&m)), 2 * sizeof(int));
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < 2; i++) {
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = ctl[i];
		mm[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
	}
	ck_assert_int_eq(recvmmsg(sv[1], mm, 2, 0, NULL), 2);
	memcpy(&recv[2], CMSG_DATA(CMSG_FIRSTHDR(&mm[0].msg_hdr)), sizeof(int));
	memcpy(&recv[3], CMSG_DATA(CMSG_FIRSTHDR(&mm[1].msg_hdr)), sizeof(int));
	for (int i = 0; i < 4; i++)
		close(recv[i]);
	close(fd);
	close(fd2);
	step_end(&s, "2 memfds + recvmsg (2), recvmmsg (2)", FDKIND_MEMFD,
		 2 + 4);
	close(sv[0]);
	close(sv[1]);

	/* clone with CLONE_PIDFD: the parent gets a pidfd */
	step_begin(&s);
	pidfd = -1;
	kid = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
	if (kid == 0)
		_exit(0);
	ck_assert_int_gt(kid, 0);
	ck_assert_int_ge(pidfd, 0);
	ck_assert_int_eq(waitpid(kid, NULL, 0), kid);
	close(pidfd);
	step_end(&s, "clone(CLONE_PIDFD)", FDKIND_PIDFD, 1);
	fdtrack_close(s.t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_kinds");
	TCase *tc = tcase_create("kinds");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_every_kind);
	tcase_add_test(tc, test_kind_filter);
	tcase_add_test(tc, test_every_syscall);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
