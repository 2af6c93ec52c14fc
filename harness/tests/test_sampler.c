/* The /proc sampler against real fds: open known ones, count them exactly. */
#include <check.h>
#include "check_runner.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "exstress.h"

static int ring_fd(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	return (int)syscall(__NR_io_uring_setup, 4, &p);
}

/* The kind of a /proc/self/fd link target (common/fdkind.c), as the
 * sampler uses it: the target alone, or with the file's mode or the
 * socket's family where the target does not say. */
START_TEST(classify)
{
	ck_assert_int_eq(fdkind_classify("anon_inode:[eventfd]", 0, -1),
			 FDKIND_EVENTFD);
	ck_assert_int_eq(fdkind_classify("anon_inode:[io_uring]", 0, -1),
			 FDKIND_IO_URING);
	ck_assert_int_eq(fdkind_classify("anon_inode:[eventpoll]", 0, -1),
			 FDKIND_EPOLL);
	ck_assert_int_eq(fdkind_classify("anon_inode:[timerfd]", 0, -1),
			 FDKIND_TIMERFD);
	ck_assert_int_eq(fdkind_classify("anon_inode:inotify", 0, -1),
			 FDKIND_INOTIFY);
	ck_assert_int_eq(fdkind_classify("anon_inode:bpf-map", 0, -1),
			 FDKIND_BPF);
	ck_assert_int_eq(fdkind_classify("anon_inode:[vfio-device]", 0, -1),
			 FDKIND_ANON);
	ck_assert_int_eq(fdkind_classify("pipe:[1234]", 0, -1), FDKIND_PIPE);
	ck_assert_int_eq(fdkind_classify("socket:[99]", 0, AF_UNIX),
			 FDKIND_SOCKET_UNIX);
	ck_assert_int_eq(fdkind_classify("socket:[99]", 0, AF_INET6),
			 FDKIND_SOCKET_INET6);
	ck_assert_int_eq(fdkind_classify("socket:[99]", 0, -1),
			 FDKIND_SOCKET_OTHER);
	ck_assert_int_eq(fdkind_classify("/dev/null", S_IFCHR | 0666, -1),
			 FDKIND_CHR);
	ck_assert_int_eq(fdkind_classify("/tmp", S_IFDIR | 0777, -1),
			 FDKIND_DIR);
	ck_assert_int_eq(fdkind_classify("/tmp/f (deleted)", S_IFREG | 0600,
					 -1),
			 FDKIND_FILE);
	ck_assert_int_eq(fdkind_classify("/tmp/fifo", S_IFIFO | 0600, -1),
			 FDKIND_FIFO);
	ck_assert_int_eq(fdkind_classify("/memfd:x (deleted)", S_IFREG | 0777,
					 -1),
			 FDKIND_MEMFD);
	ck_assert_int_eq(fdkind_classify("net:[4026531840]", 0, -1),
			 FDKIND_OTHER);
	/* not fooled by a file named like an anon inode */
	ck_assert_int_eq(fdkind_classify("/tmp/anon_inode:[eventfd]", S_IFREG,
					 -1),
			 FDKIND_FILE);
	ck_assert_str_eq(fdkind_name(FDKIND_EVENTFD), "eventfd");
	ck_assert_str_eq(fdkind_name(FDKIND_IO_URING), "io_uring");
	ck_assert_str_eq(fdkind_name(FDKIND_SOCKET_UNIX), "socket:unix");
	ck_assert_ptr_null(fdkind_name(FDKIND_COUNT));
	uint64_t mask;
	char bad[32];
	ck_assert_int_eq(fdkind_parse_list("eventfd,io_uring", &mask, bad,
					   sizeof(bad)),
			 0);
	ck_assert_uint_eq(mask, FDKIND_MASK(FDKIND_EVENTFD) |
					FDKIND_MASK(FDKIND_IO_URING));
	ck_assert_int_eq(fdkind_parse_list("socket", &mask, bad, sizeof(bad)),
			 0);
	ck_assert(mask & FDKIND_MASK(FDKIND_SOCKET_NETLINK));
	ck_assert_int_eq(fdkind_parse_list("eventfd,sockets", &mask, bad,
					   sizeof(bad)),
			 -1);
	ck_assert_str_eq(bad, "sockets");
}
END_TEST

START_TEST(counts_known_fds_exactly)
{
	struct exs_sampler s;
	struct exs_sample a, b, c;
	ck_assert_int_eq(exs_sampler_open(&s), 0);
	ck_assert_int_eq(exs_sampler_read(&s, &a), 0);

	int efd[3], rfd[2], p1[2], p2[2];
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(efd[i] = eventfd(0, EFD_CLOEXEC), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_ge(rfd[i] = ring_fd(), 0);
	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p2), 0);
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0),
	    devnull = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(tfd, 0);
	ck_assert_int_ge(devnull, 0);
	int dupe = dup(efd[0]); /* a dup of an eventfd is an eventfd fd too */
	ck_assert_int_ge(dupe, 0);

	ck_assert_int_eq(exs_sampler_read(&s, &b), 0);
	ck_assert_int_eq(b.fds[FDKIND_EVENTFD] - a.fds[FDKIND_EVENTFD], 4);
	ck_assert_int_eq(b.fds[FDKIND_IO_URING] - a.fds[FDKIND_IO_URING], 2);
	ck_assert_int_eq(b.fds[FDKIND_PIPE] - a.fds[FDKIND_PIPE], 2);
	ck_assert_int_eq(b.fds[FDKIND_SOCKET_UNIX] - a.fds[FDKIND_SOCKET_UNIX],
			 2);
	ck_assert_int_eq(b.fds[FDKIND_TIMERFD] - a.fds[FDKIND_TIMERFD], 1);
	ck_assert_int_eq(b.fds[FDKIND_CHR] - a.fds[FDKIND_CHR], 1);
	close(tfd);
	close(devnull);

	for (int i = 0; i < 3; i++)
		close(efd[i]);
	close(dupe);
	close(rfd[0]);
	close(rfd[1]);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	ck_assert_int_eq(exs_sampler_read(&s, &c), 0);
	for (int k = 0; k < FDKIND_COUNT; k++)
		ck_assert_int_eq(c.fds[k], a.fds[k]);
	exs_sampler_close(&s);
}
END_TEST

/* Every fd is counted, the sampler's own two included (fdtrack sees them). */
START_TEST(total_matches_readdir)
{
	struct exs_sampler s;
	struct exs_sample a;
	ck_assert_int_eq(exs_sampler_open(&s), 0);
	ck_assert_int_eq(exs_sampler_read(&s, &a), 0);
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		n++;
	}
	closedir(d);
	int total = 0;
	for (int k = 0; k < FDKIND_COUNT; k++)
		total += (int)a.fds[k];
	ck_assert_int_eq(total, n);
	exs_sampler_close(&s);
}
END_TEST

START_TEST(many_fds)
{
	/* More fds than one getdents64 buffer holds (~40 bytes each). */
	struct exs_sampler s;
	struct exs_sample a, b;
	enum {
		N = 600
	};
	static int fds[N];
	ck_assert_int_eq(exs_sampler_open(&s), 0);
	ck_assert_int_eq(exs_sampler_read(&s, &a), 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_ge(fds[i] = eventfd(0, EFD_CLOEXEC), 0);
	ck_assert_int_eq(exs_sampler_read(&s, &b), 0);
	ck_assert_int_eq(b.fds[FDKIND_EVENTFD] - a.fds[FDKIND_EVENTFD], N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	exs_sampler_close(&s);
}
END_TEST

START_TEST(memory_from_statm)
{
	struct exs_sampler s;
	struct exs_sample a, b, c;
	ck_assert_int_eq(exs_sampler_open(&s), 0);
	ck_assert_int_eq(exs_sampler_read(&s, &a), 0);
	ck_assert_uint_gt(a.vsz_bytes, 0);
	ck_assert_uint_gt(a.rss_bytes, 0);
	ck_assert_uint_ge(a.vsz_bytes, a.rss_bytes);

	size_t len = 64u << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(exs_sampler_read(&s, &b), 0);
	ck_assert_uint_ge(b.vsz_bytes - a.vsz_bytes, len);
	ck_assert_uint_lt(b.vsz_bytes - a.vsz_bytes, len + (4u << 20));
	memset(p, 1, 16u << 20); /* touch 16 MiB: RSS follows */
	ck_assert_int_eq(exs_sampler_read(&s, &c), 0);
	ck_assert_uint_ge(c.rss_bytes - b.rss_bytes, 15u << 20);
	munmap(p, len);
	exs_sampler_close(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("harness-sampler");
	TCase *tc = tcase_create("sampler");
	tcase_add_test(tc, classify);
	tcase_add_test(tc, counts_known_fds_exactly);
	tcase_add_test(tc, total_matches_readdir);
	tcase_add_test(tc, many_fds);
	tcase_add_test(tc, memory_from_statm);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
