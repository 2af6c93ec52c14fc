/*
 * End to end, the command line: usage errors, --help, fd limits (an
 * environment error, or a leak when the leak took the fds), --scenario all
 * under legacy-448, the CSV and JUnit files. Robustness is in
 * test_exstress_robust.c.
 */
#include <check.h>
#include "check_runner.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exstress.h"
#include "exstress_testlib.h"

static const struct {
	const char *a1, *a2, *want;
} usage_bad[] = {
	{ "--iterations", "abc", "--iterations: 'abc' is not a number" },
	{ "--iterations", "-3", "must not be negative" },
	{ "--iterations", "123456789012345678901234567890", "too large" },
	{ "--scenario", "nope", "unknown scenario 'nope'" },
	{ "--executors", "x", "--executors: 'x' is not a number" },
	{ "--warmup", NULL, "--warmup needs a value" },
	{ "--policy", "old", "unknown policy 'old'" },
};

START_TEST(usage_errors)
{
	const char *args[] = { usage_bad[_i].a1, usage_bad[_i].a2, NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);
	ck_assert_int_eq(r.rc, 2);
	ck_assert_msg(strstr(r.err, usage_bad[_i].want), "stderr: %.1500s",
		      r.err);
	/* one line */
	ck_assert_ptr_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
	ck_assert_ptr_null(r.json);
	run_free(&r);
}
END_TEST

START_TEST(help)
{
	const char *args[] = { "--help", NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "usage: exstress"));
	ck_assert_ptr_nonnull(strstr(r.out, "legacy-448"));
	/* the CSV's columns are documented there, not in the top README */
	ck_assert_ptr_nonnull(strstr(r.out, "(columns: harness/README.md)"));
	run_free(&r);
}
END_TEST

START_TEST(emfile_is_an_environment_error)
{
	/* Enough fds for exstress itself, not for two executors. */
	const char *args[] = { "--scenario", "idle", "--iterations", "10",
			       "--probe",    "off",  "--quiet",	     NULL };
	struct run r = run(EXS_BIN, NULL, 8, 0, args);
	ck_assert_msg(r.rc == 2, "exit %d, stderr:\n%.1500s", r.rc, r.err);
	ck_assert_msg(
		strstr(r.err,
		       "executor creation failed: Too many open files (RLIMIT_NOFILE=8); raise ulimit -n"),
		"stderr: %.1500s", r.err);
	run_free(&r);
}
END_TEST

/* Running out of fds because they leaked is the verdict, not an error. */
START_TEST(emfile_after_a_leak_is_a_leak)
{
	const char *args[] = { "--policy", "legacy-448",   "--scenario",
			       "issue448", "--iterations", "1000",
			       "--warmup", "10",	   "--probe",
			       "off",	   "--quiet",	   NULL };
	struct run r = run(EXS_BIN, NULL, 200, 1, args);
	ck_assert_msg(r.rc == 1, "exit %d, stderr:\n%.1500s", r.rc, r.err);
	ck_assert_ptr_nonnull(strstr(r.json, "\"verdict\": \"leak\""));
	ck_assert_ptr_nonnull(strstr(r.json, "stopped at iteration"));
	ck_assert_ptr_nonnull(strstr(r.json, "Too many open files"));
	ck_assert_int_eq(check_passed(r.json, "fd_eventfd"), 0);
	run_free(&r);
}
END_TEST

/* --scenario all under legacy-448 (make gate GATE_POLICY=legacy-448): each
 * leaking scenario stops once its leak is established and it took its
 * share of fds, so every scenario runs and reports, none starved. */
START_TEST(all_legacy_runs_every_scenario)
{
	const char *args[] = {
		"--policy",	"legacy-448", "--scenario",    "all",
		"--iterations", "1000",	      "--warmup",      "10",
		"--probe",	"off",	      "--heap-stacks", "off",
		"--quiet",	NULL
	};
	struct run r = run(EXS_BIN, NULL, 0, 1, args);
	ck_assert_msg(r.rc == 1, "exit %d, stderr:\n%.1500s", r.rc, r.err);
	ck_assert_ptr_null(strstr(r.json, "not run"));
	const char *p = r.json;
	int stopped = 0;
	while ((p = strstr(p, "stopped at iteration"))) {
		/* the fds since the start = warm-up's + the measured ones'
		 * (which the per-kind lines count), each said */
		long it, all, warm, nwarm, measured, nmeasured;
		ck_assert_msg(sscanf(p, "stopped at iteration %ld: the leak is "
					"established, %ld fds open more than at "
					"the scenario's start, %ld of them from "
					"its %ld warm-up iterations and %ld from "
					"the %ld measured ones (",
				     &it, &all, &warm, &nwarm, &measured,
				     &nmeasured) == 6,
			      "%.300s", p);
		ck_assert_msg(all == warm + measured && nwarm == 10 &&
				      it == nwarm + nmeasured && warm > 0,
			      "%.300s", p);
		ck_assert_msg(strstr(p, "measured ones (the most one scenario"),
			      "%.300s", p);
		stopped++;
		p++;
	}
	ck_assert_int_eq(stopped, 7); /* every scenario but idle leaks */
	/* --quiet: no pass summaries, but a leak's final line stays */
	ck_assert_msg(strstr(r.err, "exstress: LEAK: 8 scenarios in "),
		      "stderr:\n%.3000s", r.err);
	/* and, run with --probe off, its verdict says so at its end */
	ck_assert_msg(strstr(r.err, " s, WITHOUT the eBPF probe (/proc only)\n"),
		      "stderr:\n%.3000s", r.err);
	run_free(&r);
}
END_TEST

/* --scenario all: the fds leaked by earlier scenarios stay open in this
 * process, so a later one cannot even start. That is still the leak's
 * verdict (exit 1), not an environment error (exit 2). */
START_TEST(later_scenario_starved_by_a_leak_is_a_leak)
{
	char xml[] = "/tmp/exs-e2e-starved-XXXXXX";
	close(mkstemp(xml));
	const char *args[] = { "--policy",
			       "legacy-448",
			       "--scenario",
			       "all",
			       "--iterations",
			       "20",
			       "--warmup",
			       "50",
			       "--probe",
			       "off",
			       "--quiet",
			       "--junit",
			       xml,
			       NULL };
	struct run r = run(EXS_BIN, NULL, 256, 1, args);
	ck_assert_msg(r.rc == 1, "exit %d, stderr:\n%.1500s", r.rc, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "not run"));
	ck_assert_ptr_nonnull(strstr(r.json, "\"verdict\": \"leak\""));
	/* the cause is the leak, not the limit: no advice to raise it */
	ck_assert_msg(!strstr(r.err, "raise ulimit"), "%.1500s", r.err);
	ck_assert_ptr_nonnull(
		strstr(r.err, "the fds leaked by the scenarios before it"));
	/* every scenario is in the JSON and the JUnit, those not run as such */
	for (int sc = 0; sc < EXS_SC_IN_ALL; sc++) {
		char want[96];
		snprintf(want, sizeof(want), "\"scenario\": \"%s\"",
			 exs_scenario_name(sc));
		ck_assert_msg(strstr(r.json, want), "no %s in:\n%.1500s", want,
			      r.json);
	}
	ck_assert_ptr_nonnull(strstr(r.json, "\"verdict\": \"not run\""));
	char *x = slurp(xml);
	ck_assert_ptr_nonnull(x);
	ck_assert_msg(
		strstr(x, "tests=\"8\"") &&
			strstr(x, "<skipped message=\"not run: the fds leaked"),
		"%s", x);
	free(x);
	unlink(xml);
	run_free(&r);
}
END_TEST

START_TEST(csv_and_junit_files)
{
	char csv[] = "/tmp/exs-e2e-csv-XXXXXX",
	     xml[] = "/tmp/exs-e2e-xml-XXXXXX";
	close(mkstemp(csv));
	close(mkstemp(xml));
	const char *args[] = { "--scenario", "all",	 "--iterations",
			       "20",	     "--warmup", "5",
			       "--probe",    "off",	 "--quiet",
			       "--csv",	     csv,	 "--junit",
			       xml,	     NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);
	ck_assert_msg(r.rc == 0, "exit %d, stderr:\n%.1500s", r.rc, r.err);
	ck_assert_ptr_nonnull(strstr(r.json, "\"scenario\": \"all\""));
	ck_assert_ptr_nonnull(strstr(r.json, "\"probe\": \"proc-only\""));
	ck_assert_ptr_nonnull(
		strstr(r.json, "\"scenario\": \"spawn-in-drop\""));

	FILE *f = fopen(csv, "r");
	ck_assert_ptr_nonnull(f);
	char line[8192];
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_str_eq(line, exs_csv_header());
	int rows = 0, base = 0, warm = 0, meas = 0;
	while (fgets(line, sizeof(line), f)) {
		ck_assert_int_eq(fields(line), fields(exs_csv_header()));
		ck_assert_ptr_nonnull(strstr(line, ",fixed,"));
		ck_assert_ptr_nonnull(
			strstr(line,
			       ",,,,,,,")); /* probe off: no bpf columns */
		base += strstr(line, ",baseline,") != NULL;
		warm += strstr(line, ",warmup,") != NULL;
		meas += strstr(line, ",measure,") != NULL;
		rows++;
	}
	fclose(f);
	ck_assert_int_eq(rows, 8 * 26);
	ck_assert_int_eq(base, 8);
	ck_assert_int_eq(warm, 8 * 5);
	ck_assert_int_eq(meas, 8 * 20);

	char *x = slurp(xml);
	ck_assert_ptr_nonnull(strstr(x, "tests=\"8\" failures=\"0\""));
	ck_assert_ptr_nonnull(strstr(x, "name=\"foreign-wakers\""));
	ck_assert_ptr_null(strstr(x, "<failure"));
	free(x);
	unlink(csv);
	unlink(xml);
	run_free(&r);
}
END_TEST

START_TEST(junit_failure_names_the_leak)
{
	char xml[] = "/tmp/exs-e2e-xml-XXXXXX";
	close(mkstemp(xml));
	const char *args[] = { "--policy",
			       "legacy-448",
			       "--scenario",
			       "issue448",
			       "--iterations",
			       "50",
			       "--warmup",
			       "10",
			       "--probe",
			       "off",
			       "--quiet",
			       "--junit",
			       xml,
			       NULL };
	struct run r = run(EXS_BIN, NULL, 0, 1, args);
	ck_assert_int_eq(r.rc, 1);
	char *x = slurp(xml);
	ck_assert_ptr_nonnull(strstr(x, "tests=\"1\" failures=\"1\""));
	ck_assert_ptr_nonnull(strstr(
		x,
		"<failure type=\"leak\" message=\"eventfd +100 (+2.000/iter) from iteration 11"));
	free(x);
	unlink(xml);
	run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("harness-exstress-cli");
	TCase *tc;

	tc = tcase_create("cli");
	tcase_add_loop_test(tc, usage_errors, 0,
			    (int)(sizeof(usage_bad) / sizeof(usage_bad[0])));
	tcase_add_test(tc, help);
	tcase_add_test(tc, emfile_is_an_environment_error);
	tcase_add_test(tc, emfile_after_a_leak_is_a_leak);
	tcase_add_test(tc, all_legacy_runs_every_scenario);
	tcase_add_test(tc, later_scenario_starved_by_a_leak_is_a_leak);
	tcase_add_test(tc, csv_and_junit_files);
	tcase_add_test(tc, junit_failure_names_the_leak);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
