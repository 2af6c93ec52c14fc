/* Helpers shared by the runtime's Check suites. */
#ifndef REX_TESTUTIL_H
#define REX_TESTUTIL_H

#include <check.h>
#include <stdatomic.h>
#include <stddef.h>

#include "check_runner.h"
#include "rex.h"

/* Open fds of this process by kind, read from /proc/self/fd. */
struct fd_counts {
	int eventfd, io_uring, other;
};
struct fd_counts fd_counts_now(void);

#define ck_assert_fds_eq(a, b)                                               \
	do {                                                                 \
		struct fd_counts a_ = (a), b_ = (b);                         \
		ck_assert_msg(                                               \
			a_.eventfd == b_.eventfd &&                          \
				a_.io_uring == b_.io_uring &&                \
				a_.other == b_.other,                        \
			"fds (eventfd/io_uring/other) %d/%d/%d != %d/%d/%d", \
			a_.eventfd, a_.io_uring, a_.other, b_.eventfd,       \
			b_.io_uring, b_.other);                              \
	} while (0)

/* Heap blocks librex allocated and has not freed (its test build counts
 * them, fault.h). Exact, unlike mallinfo. */
long live_allocs(void);

/* A legacy-448 test leaks on purpose: tell LeakSanitizer (ASan builds) not
 * to fail this test process at exit. Leak checking stays on elsewhere. */
void expect_leaks(void);

/* Run a root task on a fresh executor with `policy`, then free it. */
int run_once(enum rex_drop_policy policy, const struct rex_task_vtable *vt,
	     const void *state, size_t size);

/* A task that completes at once. */
extern const struct rex_task_vtable noop_task;

#endif
