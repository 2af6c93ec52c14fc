/*
 * glommio's shape (docs/design.md §3.9): under glommio-448 each executor
 * leaves what glommio 0.6's left (2 eventfds, its blocking thread and that
 * thread's stack; the rings and the I/O arena go), parked tasks or not;
 * under glommio-fixed nothing stays. Counted from /proc: fds by kind,
 * threads, VSZ.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "testutil.h"

#define MIB (1024.0 * 1024.0)

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static double vsz_mib(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return (double)pages * (double)sysconf(_SC_PAGESIZE) / MIB;
}

/* valgrind maps memory of its own as the program runs: VSZ says nothing */
static int under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "vgpreload");
}

/* TSan starts a thread of its own at the first pthread_create: let it
 * before anything is counted. */
static void *nothing(void *arg)
{
	return arg;
}

static void first_thread(void)
{
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, nothing, NULL), 0);
	pthread_join(t, NULL);
}

/* A task parked for good: pending, and nobody keeps its waker. */
static enum rex_poll parked_poll(void *p, struct rex_context *cx)
{
	(void)p;
	(void)cx;
	return REX_PENDING;
}
static const struct rex_task_vtable parked_task = { "parked", parked_poll,
						    NULL };

/* Root: park `n` tasks, let each be polled once, then finish. */
struct root {
	int n, step;
};
static enum rex_poll root_poll(void *p, struct rex_context *cx)
{
	struct root *r = p;
	if (r->step++)
		return REX_READY;
	for (int i = 0; i < r->n; i++)
		ck_assert_int_eq(rex_spawn(cx->executor, &parked_task, NULL, 0,
					   NULL),
				 0);
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable root_task = { "root", root_poll, NULL };

struct shape {
	struct fd_counts fds;
	int threads;
	double vsz;
};

static struct shape shape_now(void)
{
	struct shape s = { fd_counts_now(), threads_now(), vsz_mib() };
	return s;
}

/* One executor of `policy` with `parked` tasks left parked: what it holds
 * while alive (checked here) and what is left once freed (returned). */
static struct shape cycle(enum rex_drop_policy policy, int parked)
{
	struct rex_config cfg;
	rex_executor *ex;
	struct root r = { parked, 0 };
	struct shape before = shape_now();

	rex_config_init(&cfg);
	cfg.policy = policy;
	ck_assert_int_eq(rex_executor_new(&cfg, &ex), 0);
	struct shape live = shape_now();
	/* glommio's: notifier + blocking thread eventfds, main + poll +
	 * latency rings, the blocking thread, the 10 MiB arena + its stack */
	ck_assert_int_eq(live.fds.eventfd - before.fds.eventfd, 2);
	ck_assert_int_eq(live.fds.io_uring - before.fds.io_uring, 3);
	ck_assert_int_eq(live.threads - before.threads, 1);
	ck_assert_msg(live.vsz - before.vsz >= 12.0,
		      "a live glommio-shaped executor maps %.2f MiB (< 12)",
		      live.vsz - before.vsz);
	ck_assert_int_eq(rex_executor_run(ex, &root_task, &r, sizeof(r), NULL),
			 0);
	rex_executor_free(ex);
	struct shape after = shape_now();
	after.fds.eventfd -= before.fds.eventfd;
	after.fds.io_uring -= before.fds.io_uring;
	after.fds.other -= before.fds.other;
	after.threads -= before.threads;
	after.vsz -= before.vsz;
	return after;
}

#define CYCLES 16

/* glommio-448, with and without parked tasks: per executor 2 eventfds, 1
 * thread and its 2 MiB stack stay; no ring, no arena. */
START_TEST(glommio_448_leaves_what_glommio_left)
{
	expect_leaks();
	first_thread();
	struct rex_teardown_totals t0, t1;
	double vsz0 = vsz_mib();
	rex_teardown_totals(&t0);
	for (int i = 0; i < CYCLES; i++) {
		struct shape left = cycle(REX_DROP_GLOMMIO_448, _i);
		ck_assert_msg(left.fds.eventfd == 2 && left.threads == 1,
			      "parked %d: left %d eventfds, %d threads (want "
			      "2, 1)",
			      _i, left.fds.eventfd, left.threads);
		ck_assert_int_eq(left.fds.io_uring, 0);
		ck_assert_int_eq(left.fds.other, 0);
	}
	double grew = vsz_mib() - vsz0;
	/* 2 MiB + a guard page each; an arena (10 MiB) would be far more */
	ck_assert_msg(grew >= CYCLES * 2.0 && grew < CYCLES * 3.0,
		      "%d executors left %.2f MiB of VSZ (want 2-3 each)",
		      CYCLES, grew);
	rex_teardown_totals(&t1);
	ck_assert_uint_eq(t1.tasks_left - t0.tasks_left,
			  (uint64_t)CYCLES * (uint64_t)_i);
	/* the blocking thread's queues, sized as glommio's */
	ck_assert_uint_ge(t1.bytes_left - t0.bytes_left,
			  (uint64_t)CYCLES * 1024 * (72 + 32));
}
END_TEST

/* glommio-fixed: the same shape, nothing stays. */
START_TEST(glommio_fixed_frees_everything)
{
	first_thread();
	double vsz0 = vsz_mib();
	for (int i = 0; i < CYCLES; i++) {
		struct shape left = cycle(REX_DROP_GLOMMIO_FIXED, _i);
		ck_assert_msg(left.fds.eventfd == 0 && left.fds.io_uring == 0 &&
				      left.fds.other == 0 && left.threads == 0,
			      "parked %d: left %d eventfds, %d io_urings, %d "
			      "other fds, %d threads",
			      _i, left.fds.eventfd, left.fds.io_uring,
			      left.fds.other, left.threads);
	}
	double grew = vsz_mib() - vsz0;
	ck_assert_msg(grew < 1.0 || under_valgrind(),
		      "%d executors left %.2f MiB of VSZ", CYCLES, grew);
}
END_TEST

/* Every acquisition of a glommio-shaped executor fails cleanly: nothing
 * left (fds, threads, heap, mappings). */
START_TEST(glommio_acquisitions_fail_cleanly)
{
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.policy = REX_DROP_GLOMMIO_FIXED;
	first_thread();
	struct shape base = shape_now();
	long allocs0 = live_allocs();
	unsigned sites = 0;
	for (unsigned n = 1;; n++) {
		rex_fault_fail_nth(n);
		rex_executor *ex = NULL;
		int err = rex_executor_new(&cfg, &ex);
		unsigned hits = rex_fault_hits();
		rex_fault_fail_nth(0);
		if (hits < n) {
			ck_assert_int_eq(err, 0);
			rex_executor_free(ex);
			break;
		}
		ck_assert_msg(err < 0, "fault %u: creation returned %d", n,
			      err);
		struct shape now = shape_now();
		ck_assert_fds_eq(now.fds, base.fds);
		ck_assert_int_eq(now.threads, base.threads);
		ck_assert_msg(now.vsz - base.vsz < 1.0,
			      "fault %u: %.2f MiB left mapped", n,
			      now.vsz - base.vsz);
		ck_assert_msg(live_allocs() == allocs0,
			      "fault %u: %ld heap blocks left", n,
			      live_allocs() - allocs0);
		sites++;
	}
	/* rex's 5, then arena, poll ring, latency ring, thread struct, its
	 * two queues, its eventfd, its stack, the thread */
	ck_assert_uint_eq(sites, 5 + 9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("glommio");
	TCase *tc = tcase_create("glommio");
	tcase_set_timeout(tc, 60);
	/* _i: tasks left parked (0: glommio's blocking thread alone) */
	tcase_add_loop_test(tc, glommio_fixed_frees_everything, 0, 3);
	tcase_add_test(tc, glommio_acquisitions_fail_cleanly);
	suite_add_tcase(s, tc);
	/* check-valgrind skips this tag: its fds stay open at exit */
	TCase *leaks = tcase_create("glommio-448");
	tcase_set_tags(leaks, "leaks-on-purpose");
	tcase_set_timeout(leaks, 60);
	tcase_add_loop_test(leaks, glommio_448_leaves_what_glommio_left, 0, 3);
	suite_add_tcase(s, leaks);
	return check_run_suite(s);
}
