/* Executor lifecycle: many create/free cycles return every fd and heap
 * block; creation fails cleanly at the fd limit and at every injected
 * fault. */
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fault.h"
#include "testutil.h"

START_TEST(thousand_cycles_on_this_thread)
{
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	for (int i = 0; i < 1000; i++) {
		rex_executor *ex;
		ck_assert_int_eq(rex_executor_new(NULL, &ex), 0);
		ck_assert_int_eq(rex_executor_run(ex, &noop_task, NULL, 0,
						  NULL),
				 0);
		rex_executor_free(ex);
	}
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(live_allocs(), allocs0);
}
END_TEST

START_TEST(thousand_cycles_on_threads)
{
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	for (int i = 0; i < 1000; i++) {
		rex_thread *t;
		int64_t out = -1;
		ck_assert_int_eq(rex_thread_spawn(NULL, &noop_task, NULL, 0,
						  &t),
				 0);
		ck_assert_int_eq(rex_thread_join(t, &out), 0);
		ck_assert_int_eq(out, 0);
	}
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(live_allocs(), allocs0);
}
END_TEST

/* Lower RLIMIT_NOFILE step by step from "nothing free" until creation
 * succeeds: every failure is -EMFILE and leaves nothing behind. */
START_TEST(fd_limit_gives_emfile)
{
	struct rlimit old;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	int lowest_free = dup(0); /* numbers below are all taken */
	ck_assert_int_ge(lowest_free, 0);
	close(lowest_free);
	int failures = 0, created = 0;
	for (rlim_t lim = (rlim_t)lowest_free; lim < (rlim_t)lowest_free + 64;
	     lim++) {
		struct rlimit rl = { lim, old.rlim_max };
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
		rex_executor *ex = NULL;
		int err = rex_executor_new(NULL, &ex);
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
		if (err == 0) {
			rex_executor_free(ex);
			created = 1;
			break;
		}
		ck_assert_int_eq(err, -EMFILE);
		ck_assert_ptr_null(ex);
		ck_assert_fds_eq(fd_counts_now(), base);
		ck_assert_int_eq(live_allocs(), allocs0);
		failures++;
	}
	ck_assert(created);
	/* at least "no fd free" and "one fd free" (eventfd ok, ring not) */
	ck_assert_int_ge(failures, 2);
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(live_allocs(), allocs0);
}
END_TEST

/* Fail the 1st, 2nd, ... acquisition inside rex_executor_new in turn. */
START_TEST(every_acquisition_fails_cleanly)
{
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	unsigned sites = 0;
	for (unsigned n = 1;; n++) {
		rex_fault_fail_nth(n);
		rex_executor *ex = NULL;
		int err = rex_executor_new(NULL, &ex);
		unsigned hits = rex_fault_hits();
		rex_fault_fail_nth(0);
		if (hits < n) { /* no n-th acquisition: it all succeeded */
			ck_assert_int_eq(err, 0);
			rex_executor_free(ex);
			break;
		}
		ck_assert_msg(err < 0, "fault %u: creation returned %d", n,
			      err);
		ck_assert_ptr_null(ex);
		ck_assert_fds_eq(fd_counts_now(), base);
		ck_assert_msg(live_allocs() == allocs0,
			      "fault %u: %ld heap blocks left", n,
			      live_allocs() - allocs0);
		sites++;
	}
	/* executor, notifier, eventfd, notifier read request, ring */
	ck_assert_uint_eq(sites, 5);
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(live_allocs(), allocs0);
}
END_TEST

START_TEST(bad_arguments)
{
	rex_executor *ex;
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.policy = (enum rex_drop_policy)7;
	ck_assert_int_eq(rex_executor_new(&cfg, &ex), -EINVAL);
	ck_assert_int_eq(rex_executor_new(NULL, NULL), -EINVAL);
	ck_assert_int_eq(rex_executor_new(NULL, &ex), 0);
	ck_assert_int_eq(rex_spawn(ex, NULL, NULL, 0, NULL), -EINVAL);
	ck_assert_int_eq(rex_spawn(ex, &noop_task, NULL, 8, NULL), -EINVAL);
	rex_executor_free(ex);
	rex_executor_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("lifecycle");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, thousand_cycles_on_this_thread);
	tcase_add_test(tc, thousand_cycles_on_threads);
	tcase_add_test(tc, fd_limit_gives_emfile);
	tcase_add_test(tc, every_acquisition_fails_cleanly);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
