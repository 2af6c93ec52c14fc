/* Statistics and verdicts on known series. */
#include <check.h>
#include "check_runner.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exstress.h"

START_TEST(slope_of_a_line)
{
	double x[50], y[50];
	for (int i = 0; i < 50; i++) {
		x[i] = 1000000000.0 + i; /* large x: centring keeps precision */
		y[i] = 3.0 * i + 5;
	}
	ck_assert_double_eq_tol(exs_slope(x, y, 50), 3.0, 1e-9);
	for (int i = 0; i < 50; i++)
		y[i] = 7;
	ck_assert_double_eq_tol(exs_slope(x, y, 50), 0.0, 1e-12);
	ck_assert_double_eq(exs_slope(x, y, 1), 0.0);
	ck_assert_double_eq(exs_slope(x, y, 0), 0.0);
	for (int i = 0; i < 50; i++)
		x[i] = 4; /* constant x: no slope rather than a division by 0 */
	ck_assert_double_eq(exs_slope(x, y, 50), 0.0);
}
END_TEST

START_TEST(slope_with_noise)
{
	/* y = -2x + alternating +-100: slope stays -2 */
	double x[200], y[200];
	for (int i = 0; i < 200; i++) {
		x[i] = i;
		y[i] = -2.0 * i + (i % 2 ? 100 : -100);
	}
	ck_assert_double_eq_tol(exs_slope(x, y, 200), -2.0, 0.02);
}
END_TEST

/* n samples starting at iteration `first`, flat fds and memory. */
static struct exs_sample *flat(size_t n, uint64_t first)
{
	struct exs_sample *s = calloc(n, sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		s[i].iteration = first + i;
		s[i].phase = EXS_PHASE_MEASURE;
		s[i].fds[FDKIND_EVENTFD] = 2;
		s[i].fds[FDKIND_IO_URING] = 0;
		s[i].fds[FDKIND_OTHER] = 5;
		s[i].vsz_bytes = 100u << 20;
		s[i].rss_bytes = 10u << 20;
	}
	return s;
}

static const struct exs_check *check(const struct exs_verdict *v,
				     const char *name)
{
	for (size_t i = 0; i < v->nchecks; i++)
		if (strcmp(v->checks[i].name, name) == 0)
			return &v->checks[i];
	ck_abort_msg("no check %s", name);
	return NULL;
}

START_TEST(flat_series_passes)
{
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat(101, 50);
	ck_assert_int_eq(exs_verdict_compute(s, 101, &l, &v), 0);
	ck_assert_int_eq(v.leak, 0);
	ck_assert_uint_eq(v.iterations, 100);
	ck_assert_uint_eq(v.ref_iteration, 50);
	for (size_t i = 0; i < v.nchecks; i++)
		ck_assert_msg(v.checks[i].pass, "%s failed", v.checks[i].name);
	check(&v, "fd_eventfd");
	check(&v, "vsz_slope");
	check(&v, "rss_growth");
	char buf[256];
	exs_verdict_summary(&v, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(exs_verdict_compute(s, 0, &l, &v), -EINVAL);
	free(s);
}
END_TEST

START_TEST(eventfd_growth_found_with_first_iteration)
{
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	/* reference = iteration 50; +2 eventfds per iteration from 61 */
	struct exs_sample *s = flat(101, 50);
	for (size_t i = 0; i < 101; i++)
		if (s[i].iteration >= 61)
			s[i].fds[FDKIND_EVENTFD] += 2 *
						    (int64_t)(s[i].iteration -
							      60);
	exs_verdict_compute(s, 101, &l, &v);
	ck_assert_int_eq(v.leak, 1);
	ck_assert_int_eq(check(&v, "fd_eventfd")->pass, 0);
	ck_assert_int_eq(check(&v, "fd_io_uring")->pass, 1);
	ck_assert_int_eq(check(&v, "fd_other")->pass, 1);
	ck_assert_uint_eq(v.fd_first[FDKIND_EVENTFD], 61);
	ck_assert_uint_eq(v.fd_first[FDKIND_IO_URING], 0);
	ck_assert_int_eq(v.fd_growth[FDKIND_EVENTFD], 180);
	ck_assert_double_eq_tol(v.fd_per_iter[FDKIND_EVENTFD], 1.8, 1e-9);
	char buf[256];
	exs_verdict_summary(&v, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "eventfd +180"));
	ck_assert_ptr_nonnull(strstr(buf, "from iteration 61"));
	free(s);
}
END_TEST

START_TEST(transient_difference_is_a_leak)
{
	/* One fd too many at a single boundary, gone at the end: the equality
	 * is per boundary, so this fails though the final growth is 0. */
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat(20, 10);
	s[7].fds[FDKIND_IO_URING] = 1;
	exs_verdict_compute(s, 20, &l, &v);
	ck_assert_int_eq(v.leak, 1);
	ck_assert_int_eq(check(&v, "fd_io_uring")->pass, 0);
	ck_assert_int_eq(v.fd_growth[FDKIND_IO_URING], 0);
	ck_assert_int_eq(v.fd_max_dev[FDKIND_IO_URING], 1);
	ck_assert_uint_eq(v.fd_first[FDKIND_IO_URING], 17);
	/* a double close (fewer fds) is caught as well */
	s[7].fds[FDKIND_IO_URING] = 0;
	s[9].fds[FDKIND_OTHER] = 4;
	exs_verdict_compute(s, 20, &l, &v);
	ck_assert_int_eq(check(&v, "fd_other")->pass, 0);
	free(s);
}
END_TEST

START_TEST(memory_slope_over_limit)
{
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat(301, 50);
	for (size_t i = 0; i < 301; i++) {
		s[i].vsz_bytes += 4096 * i;
		s[i].rss_bytes += 4096 * i;
	}
	exs_verdict_compute(s, 301, &l, &v);
	ck_assert_int_eq(v.leak, 1);
	ck_assert_double_eq_tol(v.vsz_slope, 4096, 1e-6);
	ck_assert_double_eq_tol(v.rss_slope, 4096, 1e-6);
	ck_assert_int_eq(check(&v, "vsz_slope")->pass, 0);
	ck_assert_int_eq(check(&v, "rss_slope")->pass, 0);
	ck_assert_int_eq(check(&v, "fd_eventfd")->pass, 1);
	ck_assert_double_eq(v.vsz_growth, 4096.0 * 300);
	char buf[256];
	exs_verdict_summary(&v, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "vsz_slope 4.0 KiB/iter"));

	/* just under the limit passes, just over fails */
	for (size_t i = 0; i < 301; i++) {
		s[i].vsz_bytes = (100u << 20) + (uint64_t)(l.vsz_slope - 1) * i;
		s[i].rss_bytes = 10u << 20;
	}
	exs_verdict_compute(s, 301, &l, &v);
	ck_assert_int_eq(check(&v, "vsz_slope")->pass, 1);
	for (size_t i = 0; i < 301; i++)
		s[i].vsz_bytes = (100u << 20) + (uint64_t)(l.vsz_slope + 1) * i;
	exs_verdict_compute(s, 301, &l, &v);
	ck_assert_int_eq(check(&v, "vsz_slope")->pass, 0);
	free(s);
}
END_TEST

START_TEST(one_heap_step_is_not_a_trend)
{
	/* A single 132 KiB heap extension in the middle of 1000 iterations
	 * (glibc's top pad) stays under the slope limit. */
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat(1001, 50);
	for (size_t i = 500; i < 1001; i++) {
		s[i].vsz_bytes += 132 * 1024;
		s[i].rss_bytes += 132 * 1024;
	}
	exs_verdict_compute(s, 1001, &l, &v);
	ck_assert_int_eq(v.leak, 0);
	ck_assert_double_gt(v.vsz_slope, 0);
	free(s);
}
END_TEST

START_TEST(steep_but_small_is_not_a_trend)
{
	/* 20 iterations, 64 KiB paged in at the 10th: a slope of several
	 * KiB per iteration, but only 64 KiB in total (under the floor). */
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat(21, 5);
	for (size_t i = 10; i < 21; i++)
		s[i].rss_bytes += 64 * 1024;
	exs_verdict_compute(s, 21, &l, &v);
	ck_assert_double_gt(v.rss_slope, l.rss_slope);
	ck_assert_int_eq(check(&v, "rss_slope")->pass, 1);
	ck_assert_int_eq(v.leak, 0);
	/* the same slope sustained past the floor fails */
	l.slope_floor = 32 * 1024;
	exs_verdict_compute(s, 21, &l, &v);
	ck_assert_int_eq(check(&v, "rss_slope")->pass, 0);
	free(s);
}
END_TEST

START_TEST(total_growth_bound)
{
	/* A big jump near the end: small slope-wise over 5000 samples, but
	 * more than the total bound. */
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat(5001, 50);
	s[5000].rss_bytes += (uint64_t)l.rss_growth + 1;
	exs_verdict_compute(s, 5001, &l, &v);
	ck_assert_int_eq(check(&v, "rss_growth")->pass, 0);
	ck_assert_int_eq(check(&v, "vsz_growth")->pass, 1);
	ck_assert_int_eq(v.leak, 1);
	free(s);
}
END_TEST

/* flat(n, 5) with fdtrack's counts: 4 eventfds and 2 io_urings opened
 * and closed per iteration, live as /proc sees them */
static struct exs_sample *flat_with_bpf(size_t n)
{
	struct exs_sample *s = flat(n, 5);
	for (size_t i = 0; i < n; i++) {
		s[i].has_bpf = 1;
		s[i].bpf.opens[0] = 100 + 4 * i;
		s[i].bpf.closes[0] = 100 + 4 * i;
		s[i].bpf.opens[1] = 10 + 2 * i;
		s[i].bpf.closes[1] = 10 + 2 * i;
		s[i].bpf.live[FDKIND_EVENTFD] = 2;
		s[i].bpf.live[FDKIND_OTHER] = 5;
	}
	return s;
}

START_TEST(bpf_balance)
{
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat_with_bpf(11);
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.leak, 0);
	ck_assert_int_eq(v.has_bpf, 1);
	ck_assert_int_eq(check(&v, "bpf_eventfd_balance")->pass, 1);
	ck_assert_int_eq(check(&v, "bpf_io_uring_balance")->pass, 1);
	ck_assert_int_eq(check(&v, "bpf_eventfd_outside")->pass, 1);
	ck_assert_int_eq(check(&v, "bpf_io_uring_live")->pass, 1);
	ck_assert_int_eq(v.bpf_opens[0], 40);
	/* now an eventfd open without its close in iteration 8 */
	for (size_t i = 8; i < 11; i++)
		s[i].bpf.opens[0]++;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.leak, 1);
	ck_assert_int_eq(check(&v, "bpf_eventfd_balance")->pass, 0);
	ck_assert_int_eq(v.bpf_unbalanced[0], 1);
	/* more closes than opens: counts are exact at a boundary, so this
	 * fails too */
	for (size_t i = 8; i < 11; i++)
		s[i].bpf.opens[0] -= 3;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.bpf_unbalanced[0], -2);
	ck_assert_int_eq(check(&v, "bpf_eventfd_balance")->pass, 0);
	ck_assert_int_eq(v.leak, 1);
	for (size_t i = 8; i < 11; i++)
		s[i].bpf.opens[0] += 2;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.leak, 0);
	/* a close filed outside syscalls balances but is an fdtrack bug */
	for (size_t i = 6; i < 11; i++) {
		s[i].bpf.closes[1]--;
		s[i].bpf.closed_outside_syscalls[1] = 1;
	}
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.bpf_unbalanced[1], 0);
	ck_assert_int_eq(check(&v, "bpf_io_uring_balance")->pass, 1);
	ck_assert_int_eq(check(&v, "bpf_io_uring_outside")->pass, 0);
	ck_assert_int_eq(v.bpf_outside_syscalls_max[1], 1);
	ck_assert_int_eq(v.leak, 1);
	for (size_t i = 6; i < 11; i++) {
		s[i].bpf.closes[1]++;
		s[i].bpf.closed_outside_syscalls[1] = 0;
	}
	/* an fd found open by the snapshot that no event announced */
	for (size_t i = 8; i < 11; i++)
		s[i].bpf.opened_outside_syscalls[0] = 1;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.bpf_unbalanced[0], 1);
	ck_assert_int_eq(check(&v, "bpf_eventfd_balance")->pass, 0);
	ck_assert_int_eq(check(&v, "bpf_eventfd_outside")->pass, 0);
	for (size_t i = 8; i < 11; i++)
		s[i].bpf.opened_outside_syscalls[0] = 0;
	/* live vs /proc: compared only where fdtrack reconciled */
	s[4].bpf.live[0] = (uint64_t)s[4].fds[0] + 1;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.leak, 0);
	ck_assert_int_eq(v.bpf_reconciled, 0);
	s[4].bpf.reconciled = 1;
	s[10].bpf.reconciled = 1;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.leak, 1);
	ck_assert_int_eq(v.bpf_reconciled, 2);
	ck_assert_int_eq(check(&v, "bpf_eventfd_live")->pass, 0);
	ck_assert_int_eq(check(&v, "bpf_io_uring_live")->pass, 1);
	ck_assert_int_eq(v.bpf_live_max_dev[0], 1);
	ck_assert_int_eq(v.bpf_live_first[0], s[4].iteration);
	s[4].bpf.live[0] = (uint64_t)s[4].fds[0];
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.leak, 0);
	/* without the probe there is no bpf check at all */
	s[0].has_bpf = 0;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.has_bpf, 0);
	ck_assert_int_eq(v.leak, 0);
	for (size_t i = 0; i < v.nchecks; i++)
		ck_assert(strncmp(v.checks[i].name, "bpf_", 4) != 0);
	free(s);
}
END_TEST

/* exs_verdict_print's report of v (free it) */
static char *report_of(const struct exs_verdict *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	exs_verdict_print(f, v);
	fclose(f);
	return buf;
}

/* Where the kernel skipped runs of fdtrack's programs (Linux 7.x, design
 * 4.1b), each may hide one open or close: the bpf checks allow as many as
 * were skipped (their limit), never more, and the report says so. */
START_TEST(bpf_within_skipped_runs)
{
	struct exs_limits l;
	struct exs_verdict v;
	exs_limits_default(&l);
	struct exs_sample *s = flat_with_bpf(11);
	/* a skipped enter run: one eventfd filed outside syscalls */
	for (size_t i = 6; i < 11; i++) {
		s[i].bpf.opens[0]--;
		s[i].bpf.opened_outside_syscalls[0] = 1;
	}
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(check(&v, "bpf_eventfd_outside")->pass, 0);
	ck_assert_int_eq(v.leak, 1);
	/* the probe read one skipped run at a reconciled sample */
	s[7].bpf.runs_missed = 1;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(v.bpf_runs_missed, 1);
	ck_assert_int_eq(check(&v, "bpf_eventfd_outside")->pass, 1);
	ck_assert(check(&v, "bpf_eventfd_outside")->limit == 1);
	ck_assert_int_eq(v.leak, 0);
	char *buf = report_of(&v);
	ck_assert_msg(strstr(buf, "within the runs the kernel skipped") &&
			      strstr(buf, "the kernel skipped 1 runs"),
		      "%s", buf);
	ck_assert_ptr_null(strstr(buf, "fdtrack bug"));
	free(buf);
	/* more than were skipped is still a failure, and named a bug */
	for (size_t i = 8; i < 11; i++)
		s[i].bpf.opened_outside_syscalls[0] = 2;
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(check(&v, "bpf_eventfd_outside")->pass, 0);
	ck_assert_int_eq(check(&v, "bpf_eventfd_balance")->pass, 1);
	ck_assert_int_eq(v.leak, 1);
	buf = report_of(&v);
	ck_assert_msg(strstr(buf, "(fdtrack bug)"), "%s", buf);
	free(buf);
	/* an unbalanced count beyond the skipped runs fails too */
	for (size_t i = 8; i < 11; i++) {
		s[i].bpf.opened_outside_syscalls[0] = 1;
		s[i].bpf.opens[0] += 2;
	}
	exs_verdict_compute(s, 11, &l, &v);
	ck_assert_int_eq(check(&v, "bpf_eventfd_outside")->pass, 1);
	ck_assert_int_eq(check(&v, "bpf_eventfd_balance")->pass, 0);
	buf = report_of(&v);
	ck_assert_msg(strstr(buf, "+2 never closed\n"), "%s", buf);
	free(buf);
	free(s);
}
END_TEST

/* The heap is exact: one 24-byte allocation per iteration fails both heap
 * checks with its first iteration and rate; a transient dip fails too (a
 * free of something the reference held); without heap samples there are
 * no heap checks at all. */
START_TEST(heap_exact)
{
	struct exs_limits lim;
	struct exs_verdict v;
	struct exs_sample *s = flat(101, 50);

	exs_limits_default(&lim);
	for (int i = 0; i < 101; i++) {
		s[i].has_heap = 1;
		s[i].heap_bytes = 1 << 20;
		s[i].heap_allocs = 1000;
	}
	ck_assert_int_eq(exs_verdict_compute(s, 101, &lim, &v), 0);
	ck_assert_int_eq(v.leak, 0);
	ck_assert_int_eq(check(&v, "heap_bytes")->pass, 1);
	for (int i = 11; i < 101; i++) {
		s[i].heap_bytes += 24 * (i - 10);
		s[i].heap_allocs += i - 10;
	}
	ck_assert_int_eq(exs_verdict_compute(s, 101, &lim, &v), 0);
	ck_assert_int_eq(v.leak, 1);
	ck_assert_int_eq(check(&v, "heap_bytes")->pass, 0);
	ck_assert_int_eq(check(&v, "heap_allocs")->pass, 0);
	ck_assert_uint_eq(v.heap_first, 61);
	ck_assert_int_eq(v.heap_growth_allocs, 90);
	ck_assert_double_eq_tol(v.heap_allocs_per_iter, 0.9, 1e-12);
	ck_assert_double_eq_tol(v.heap_bytes_per_iter, 21.6, 1e-9);
	/* well under the memory limits: only the heap check sees it */
	ck_assert_int_eq(check(&v, "rss_slope")->pass, 1);

	for (int i = 11; i < 101; i++) {
		s[i].heap_bytes = 1 << 20;
		s[i].heap_allocs = 1000;
	}
	s[40].heap_allocs = 999;
	ck_assert_int_eq(exs_verdict_compute(s, 101, &lim, &v), 0);
	ck_assert_int_eq(check(&v, "heap_allocs")->pass, 0);
	ck_assert_int_eq(check(&v, "heap_bytes")->pass, 1);
	ck_assert_uint_eq(v.heap_first, 90);

	for (int i = 0; i < 101; i++)
		s[i].has_heap = 0;
	ck_assert_int_eq(exs_verdict_compute(s, 101, &lim, &v), 0);
	ck_assert_int_eq(v.leak, 0);
	for (size_t i = 0; i < v.nchecks; i++)
		ck_assert_msg(strncmp(v.checks[i].name, "heap_", 5) != 0,
			      "%s without heap samples", v.checks[i].name);
	free(s);
}
END_TEST

START_TEST(fmt_bytes)
{
	char b[32];
	exs_fmt_bytes(12, b, sizeof(b));
	ck_assert_str_eq(b, "12 B");
	exs_fmt_bytes(1536, b, sizeof(b));
	ck_assert_str_eq(b, "1.5 KiB");
	exs_fmt_bytes(-3.0 * 1024 * 1024, b, sizeof(b));
	ck_assert_str_eq(b, "-3.0 MiB");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("harness-stats");
	TCase *tc = tcase_create("stats");
	tcase_add_test(tc, slope_of_a_line);
	tcase_add_test(tc, slope_with_noise);
	tcase_add_test(tc, flat_series_passes);
	tcase_add_test(tc, eventfd_growth_found_with_first_iteration);
	tcase_add_test(tc, transient_difference_is_a_leak);
	tcase_add_test(tc, memory_slope_over_limit);
	tcase_add_test(tc, one_heap_step_is_not_a_trend);
	tcase_add_test(tc, steep_but_small_is_not_a_trend);
	tcase_add_test(tc, total_growth_bound);
	tcase_add_test(tc, bpf_balance);
	tcase_add_test(tc, bpf_within_skipped_runs);
	tcase_add_test(tc, heap_exact);
	tcase_add_test(tc, fmt_bytes);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
