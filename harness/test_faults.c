/*
 * Test-only faults: EXS_TEST_FAULT="KIND:N,...,mem:B,hang:H" leaks an fd
 * of that kind every N iterations (KIND: eventfd, io_uring, timerfd, pipe,
 * socket:unix, chr; a pipe or socket pair is two), or B bytes every
 * iteration, so the tests can show the verdict catching each; hang:H
 * never returns from the process's H-th iteration, counted over every
 * scenario (an iteration stuck in the runtime, for the tests of a run
 * stopped outright). Only the test build
 * (build/test/harness/exstress-fault, -DEXS_TEST_FAULTS) has them; in
 * exstress itself both functions do nothing.
 */
#include "exstress.h"

#ifdef EXS_TEST_FAULTS
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t fault_every[FDKIND_COUNT];
static size_t fault_mem;
static uint64_t fault_hang;
static void **fault_keep; /* reachable, so LeakSanitizer stays quiet */
static size_t fault_nkeep, fault_capkeep;

/* The kinds a fault can leak, by fdkind name. */
static const int fault_kinds[] = {
	FDKIND_EVENTFD, FDKIND_IO_URING,    FDKIND_TIMERFD,
	FDKIND_PIPE,	FDKIND_SOCKET_UNIX, FDKIND_CHR,
};

static int fault_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(fault_kinds) / sizeof(fault_kinds[0]);
	     i++)
		if (strcmp(name, fdkind_name(fault_kinds[i])) == 0)
			return fault_kinds[i];
	return -1;
}

/* One fd of kind k (two for a pipe or a socket pair), never closed. */
static void leak_fd(int k)
{
	int two[2];
	struct io_uring_params p;

	switch (k) {
	case FDKIND_EVENTFD:
		(void)eventfd(0, EFD_CLOEXEC);
		break;
	case FDKIND_IO_URING:
		memset(&p, 0, sizeof(p));
		(void)syscall(__NR_io_uring_setup, 4, &p);
		break;
	case FDKIND_TIMERFD:
		(void)timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		break;
	case FDKIND_PIPE:
		(void)!pipe2(two, O_CLOEXEC);
		break;
	case FDKIND_SOCKET_UNIX:
		(void)socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, two);
		break;
	default:
		(void)open("/dev/null", O_RDONLY | O_CLOEXEC);
		break;
	}
}

/* A plain decimal in [1, max]: digits only, no sign, no blank, no
 * overflow (strtoull alone takes "-1" as 2^64-1). */
static int fault_count(const char *s, unsigned long long max,
		       unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || !*out || *out > max ? -1 : 0;
}

int exs_test_fault_init(void)
{
	const char *env = getenv("EXS_TEST_FAULT");
	if (!env || !*env)
		return 0;
	char *copy = strdup(env), *p, *tok;
	if (!copy)
		return -1;
	/* every comma-separated item is KIND:N or mem:BYTES: an empty one
	 * (",,") or a bad count is an error, never a fault that does nothing */
	for (p = copy; (tok = strsep(&p, ","));) {
		char *colon =
			strrchr(tok, ':'); /* kinds may hold one: socket:unix */
		unsigned long long v;
		if (!colon)
			goto bad;
		*colon = '\0';
		int kind = fault_kind(tok);
		if (kind >= 0 && !fault_count(colon + 1, 1000000000ULL, &v))
			fault_every[kind] = v;
		else if (!strcmp(tok, "mem") &&
			 !fault_count(colon + 1, 1ULL << 30, &v))
			fault_mem = v;
		else if (!strcmp(tok, "hang") &&
			 !fault_count(colon + 1, 1000000000ULL, &v))
			fault_hang = v;
		else
			goto bad;
	}
	free(copy);
	fprintf(stderr, "exstress: test faults active: %s\n", env);
	return 0;
bad:
	free(copy);
	fprintf(stderr,
		"exstress: bad EXS_TEST_FAULT '%s' (KIND:N,...,mem:BYTES,"
		"hang:N; N 1..10^9 iterations, BYTES 1..2^30)\n",
		env);
	return -1;
}

/* noinline: it must show as a frame of its own in fdtrack's stacks */
__attribute__((noinline)) void exs_test_fault_inject(uint64_t iteration)
{
	static uint64_t iterations;

	if (fault_hang && ++iterations == fault_hang) {
		fprintf(stderr, "exstress: test fault: iteration %llu hangs\n",
			(unsigned long long)iterations);
		/* the stop signals are blocked here: only exit ends this */
		for (;;)
			pause();
	}
	for (int k = 0; k < FDKIND_COUNT; k++)
		if (fault_every[k] && iteration % fault_every[k] == 0)
			leak_fd(k);
	if (fault_mem) {
		if (fault_nkeep == fault_capkeep) {
			size_t nc = fault_capkeep ? fault_capkeep * 2 : 1024;
			void **nk = realloc(fault_keep, nc * sizeof(*nk));
			if (!nk)
				return;
			fault_keep = nk;
			fault_capkeep = nc;
		}
		void *p = malloc(fault_mem);
		if (p) {
			memset(p, 0x5a,
			       fault_mem); /* resident, not just reserved */
			fault_keep[fault_nkeep++] = p;
		}
	}
}
#else
int exs_test_fault_init(void)
{
	return 0;
}

void exs_test_fault_inject(uint64_t iteration)
{
	(void)iteration;
}
#endif
