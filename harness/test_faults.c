/*
 * Test-only faults: EXS_TEST_FAULT="eventfd:N,io_uring:N,other:N,mem:B"
 * leaks an fd of that kind every N iterations, or B bytes every iteration,
 * so the tests can show the verdict catching each. Only the test build
 * (build/test/harness/exstress-fault, -DEXS_TEST_FAULTS) has them; in
 * exstress itself both functions do nothing.
 */
#include "exstress.h"

#ifdef EXS_TEST_FAULTS
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t fault_every[EXS_FD_NKINDS];
static size_t fault_mem;
static void **fault_keep; /* reachable, so LeakSanitizer stays quiet */
static size_t fault_nkeep, fault_capkeep;

int exs_test_fault_init(void)
{
	const char *env = getenv("EXS_TEST_FAULT");
	if (!env || !*env)
		return 0;
	char *copy = strdup(env), *save = NULL;
	if (!copy)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		char *end;
		if (!colon)
			goto bad;
		*colon = '\0';
		unsigned long long v = strtoull(colon + 1, &end, 10);
		if (*end || !v)
			goto bad;
		if (strcmp(tok, "eventfd") == 0)
			fault_every[EXS_FD_EVENTFD] = v;
		else if (strcmp(tok, "io_uring") == 0)
			fault_every[EXS_FD_IO_URING] = v;
		else if (strcmp(tok, "other") == 0)
			fault_every[EXS_FD_OTHER] = v;
		else if (strcmp(tok, "mem") == 0)
			fault_mem = v;
		else
			goto bad;
	}
	free(copy);
	fprintf(stderr, "exstress: test faults active: %s\n", env);
	return 0;
bad:
	free(copy);
	fprintf(stderr, "exstress: bad EXS_TEST_FAULT '%s'\n", env);
	return -1;
}

/* noinline: it must show as a frame of its own in fdtrack's stacks */
__attribute__((noinline)) void exs_test_fault_inject(uint64_t iteration)
{
	if (fault_every[EXS_FD_EVENTFD] && iteration % fault_every[EXS_FD_EVENTFD] == 0)
		(void)eventfd(0, EFD_CLOEXEC);
	if (fault_every[EXS_FD_IO_URING] && iteration % fault_every[EXS_FD_IO_URING] == 0) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		(void)syscall(__NR_io_uring_setup, 4, &p);
	}
	if (fault_every[EXS_FD_OTHER] && iteration % fault_every[EXS_FD_OTHER] == 0)
		(void)open("/dev/null", O_RDONLY | O_CLOEXEC);
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
			memset(p, 0x5a, fault_mem); /* resident, not just reserved */
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
