/*
 * Target program for fdtrack's CLI tests.
 *
 *   leaker LEAK [BALANCED] [--wait]
 *   leaker --flood SECS [THREADS]
 *   leaker --many N
 *   leaker --uring-open
 *   leaker --ids
 *   leaker --stack-top
 *
 * Opens and closes BALANCED eventfds, then opens LEAK eventfds (from
 * leak_eventfds(), a name the tests look for in the report) and exits without
 * closing them. With --wait it prints "ready" and waits for stdin to close
 * first, so a test can look at it while it runs; each 'l' it reads
 * meanwhile leaks one more eventfd (it prints "leaked N" after).
 *
 * --flood: open and close eventfds as fast as it can for SECS seconds (in
 * THREADS threads, default 1), print "flood N" (the number of eventfds
 * opened and closed), then leak one eventfd and exit.
 * --many: raise its soft RLIMIT_NOFILE to the hard limit, leak N eventfds
 * (N = 0: as many as the limit allows), print "many N" and exit.
 * --uring-open: open /dev/null with io_uring's IORING_OP_OPENAT (no
 * syscall opens it) and exit with it and the ring open.
 * --ids: print "uid U gid G groups N" (its real ids and number of
 * supplementary groups) and exit.
 * --stack-top: leak one eventfd from leak_at_stack_top(), run on a stack
 * whose mapping ends a few hundred bytes above it (nothing mapped above):
 * fdtrack's first 2 KiB read at sp faults there.
 */
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

__attribute__((noinline)) static int leak_eventfds(int n)
{
	int opened = 0;

	for (int i = 0; i < n && eventfd(0, 0) >= 0; i++)
		opened++;
	return opened;
}

__attribute__((noinline)) static void leak_at_stack_top(void)
{
	leak_eventfds(1);
}

/* Two pages of stack with nothing mapped above them. */
static int run_at_stack_top(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ucontext_t here, there;

	if (m == MAP_FAILED || munmap(m + 2 * page, page) || getcontext(&there))
		return 1;
	there.uc_stack.ss_sp = m;
	there.uc_stack.ss_size = 2 * page;
	there.uc_link = &here;
	makecontext(&there, leak_at_stack_top, 0);
	return swapcontext(&here, &there) ? 1 : 0;
}

static double flood_secs;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *flood(void *arg)
{
	unsigned long n = 0;
	double end = now() + flood_secs;

	(void)arg;
	while (now() < end) {
		for (int i = 0; i < 256; i++) {
			int fd = eventfd(0, 0);

			if (fd >= 0) {
				close(fd);
				n++;
			}
		}
	}
	return (void *)n;
}

int main(int argc, char **argv)
{
	int leak, balanced;
	char c;

	if (argc > 1 && !strcmp(argv[1], "--ids")) {
		printf("uid %d gid %d groups %d\n", (int)getuid(),
		       (int)getgid(), getgroups(0, NULL));
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--stack-top"))
		return run_at_stack_top();
	if (argc > 1 && !strcmp(argv[1], "--uring-open")) {
		struct io_uring ring;
		struct io_uring_cqe *cqe;

		if (io_uring_queue_init(4, &ring, 0))
			return 1;
		io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD,
				     "/dev/null", O_RDONLY, 0);
		if (io_uring_submit_and_wait(&ring, 1) != 1 ||
		    io_uring_wait_cqe(&ring, &cqe) || cqe->res < 0)
			return 1;
		printf("opened %d\n", cqe->res);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--many")) {
		struct rlimit rl;
		int want = atoi(argv[2]);

		if (getrlimit(RLIMIT_NOFILE, &rl))
			return 1;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return 1;
		if (!want) /* up to the limit; 0, 1, 2 and a few are taken */
			want = 1 << 30;
		printf("many %d\n", leak_eventfds(want));
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--flood")) {
		int nth = argc > 3 ? atoi(argv[3]) : 1;
		pthread_t th[16];
		unsigned long total = 0;

		flood_secs = atof(argv[2]);
		if (nth < 1 || nth > 16)
			return 2;
		for (int i = 0; i < nth; i++)
			if (pthread_create(&th[i], NULL, flood, NULL))
				return 1;
		for (int i = 0; i < nth; i++) {
			void *r;

			pthread_join(th[i], &r);
			total += (unsigned long)r;
		}
		printf("flood %lu\n", total);
		return leak_eventfds(1) == 1 ? 0 : 1;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: leaker LEAK [BALANCED] [--wait]\n");
		return 2;
	}
	leak = atoi(argv[1]);
	balanced = argc > 2 ? atoi(argv[2]) : 0;
	for (int i = 0; i < balanced; i++) {
		int fd = eventfd(0, 0);

		if (fd >= 0)
			close(fd);
	}
	if (leak_eventfds(leak) != leak)
		return 1;
	if (argc > 3) {
		int more = 0;

		printf("ready\n");
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			if (c == 'l' && leak_eventfds(1) == 1) {
				printf("leaked %d\n", ++more);
				fflush(stdout);
			}
	}
	return 0;
}
