#include "testutil.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdkind.h"

#define REX_FAULT_IMPL /* count librex only, not the tests */
#include "fault.h"

struct fd_counts fd_counts_now(void)
{
	struct fd_counts c = { 0, 0, 0 };
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == self)
			continue;
		char link[64];
		ssize_t n = readlinkat(self, e->d_name, link, sizeof(link) - 1);
		if (n < 0)
			continue; /* closed meanwhile */
		link[n] = 0;
		switch (fdkind_classify(link, 0, -1)) {
		case FDKIND_EVENTFD:
			c.eventfd++;
			break;
		case FDKIND_IO_URING:
			c.io_uring++;
			break;
		default:
			c.other++;
			break;
		}
	}
	closedir(d);
	return c;
}

static int g_expect_leaks;

void expect_leaks(void)
{
	g_expect_leaks = 1;
}

/* LeakSanitizer asks this at exit (weak hook in its runtime). */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return g_expect_leaks;
}

long live_allocs(void)
{
	return rex_fault_live_allocs();
}

int run_once(enum rex_drop_policy policy, const struct rex_task_vtable *vt,
	     const void *state, size_t size)
{
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.policy = policy;
	rex_executor *ex;
	int err = rex_executor_new(&cfg, &ex);
	if (err)
		return err;
	err = rex_executor_run(ex, vt, state, size, NULL);
	rex_executor_free(ex);
	return err;
}

static enum rex_poll noop_poll(void *state, struct rex_context *cx)
{
	(void)state;
	(void)cx;
	return REX_READY;
}
const struct rex_task_vtable noop_task = { "noop", noop_poll, NULL };
