/* Option parsing: values, defaults, and one clear line per bad value. */
#include <check.h>
#include "check_runner.h"
#include <stdlib.h>
#include <string.h>

#include "exstress.h"

static char err[512];

static int parse(struct exs_options *o, const char *a1, const char *a2,
		 const char *a3)
{
	char *argv[] = { "exstress", (char *)a1, (char *)a2, (char *)a3, NULL };
	int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
	return exs_parse_args(argc, argv, o, err, sizeof(err));
}

START_TEST(defaults)
{
	struct exs_options o;
	ck_assert_int_eq(parse(&o, NULL, NULL, NULL), EXS_ARGS_OK);
	ck_assert_int_eq(o.policy, REX_DROP_FIXED);
	ck_assert_int_eq(o.scenario, EXS_SC_ISSUE448);
	ck_assert_uint_eq(o.executors, 2);
	ck_assert_uint_eq(o.iterations, 1000);
	ck_assert_int_eq(o.probe, EXS_PROBE_AUTO);
	ck_assert_ptr_null(o.csv_path);
	ck_assert_int_eq(o.quiet, 0);
	ck_assert_double_eq(o.duration_s, 0);
	ck_assert_uint_eq(o.sample_every, 1);
	ck_assert_int_eq(o.verbose, 0);
	struct exs_limits l;
	exs_limits_default(&l);
	ck_assert_double_eq(o.limits.vsz_slope, l.vsz_slope);
}
END_TEST

START_TEST(values)
{
	struct exs_options o;
	char *argv[] = { "exstress",
			 "--policy",
			 "legacy-448",
			 "--scenario=all",
			 "--iterations",
			 "5000",
			 "--executors",
			 "4",
			 "--tasks=7",
			 "--warmup",
			 "0",
			 "--probe",
			 "require",
			 "--csv",
			 "a.csv",
			 "--json=b.json",
			 "--junit",
			 "c.xml",
			 "--seed",
			 "18446744073709551615",
			 "--quiet",
			 "--vsz-slope-limit",
			 "100",
			 "--slope-floor=5",
			 "--sample-every",
			 "250",
			 "--verbose",
			 NULL };
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	ck_assert_int_eq(exs_parse_args(argc, argv, &o, err, sizeof(err)),
			 EXS_ARGS_OK);
	ck_assert_int_eq(o.policy, REX_DROP_LEGACY_448);
	ck_assert_int_eq(o.scenario, EXS_SC_ALL);
	ck_assert_uint_eq(o.iterations, 5000);
	ck_assert_uint_eq(o.executors, 4);
	ck_assert_uint_eq(o.tasks, 7);
	ck_assert_uint_eq(o.warmup, 0);
	ck_assert_int_eq(o.probe, EXS_PROBE_REQUIRE);
	ck_assert_str_eq(o.csv_path, "a.csv");
	ck_assert_str_eq(o.json_path, "b.json");
	ck_assert_str_eq(o.junit_path, "c.xml");
	ck_assert_uint_eq(o.seed, UINT64_MAX);
	ck_assert_int_eq(o.quiet, 1);
	ck_assert_double_eq(o.limits.vsz_slope, 100);
	ck_assert_double_eq(o.limits.slope_floor, 5);
	ck_assert_uint_eq(o.sample_every, 250);
	ck_assert_int_eq(o.verbose, 1);
}
END_TEST

/* --duration replaces the iteration count; both at once is a usage error
 * (one must not silently win over the other). */
START_TEST(duration_or_iterations)
{
	struct exs_options o;
	ck_assert_int_eq(parse(&o, "--duration", "2.5", NULL), EXS_ARGS_OK);
	ck_assert_double_eq(o.duration_s, 2.5);
	ck_assert_int_eq(parse(&o, "--iterations=10", "--duration", "1"),
			 EXS_ARGS_ERROR);
	ck_assert_msg(strstr(err,
			     "--iterations and --duration exclude each other"),
		      "got '%s'", err);
}
END_TEST

START_TEST(scenarios_by_name)
{
	struct exs_options o;
	for (int sc = 0; sc <= EXS_SC_ALL; sc++) {
		const char *name = exs_scenario_name(sc);
		ck_assert_int_eq(parse(&o, "--scenario", name, NULL),
				 EXS_ARGS_OK);
		ck_assert_int_eq(o.scenario, sc);
	}
	ck_assert_str_eq(exs_scenario_name(EXS_SC_FOREIGN_WAKERS),
			 "foreign-wakers");
	ck_assert_str_eq(exs_scenario_name(EXS_SC_SPAWN_IN_DROP),
			 "spawn-in-drop");
}
END_TEST

START_TEST(help)
{
	struct exs_options o;
	ck_assert_int_eq(parse(&o, "--help", NULL, NULL), EXS_ARGS_HELP);
	ck_assert_int_eq(parse(&o, "--iterations", "3", "-h"), EXS_ARGS_HELP);
}
END_TEST

/* --version: main prints it; --help wins over it; it takes no value. */
START_TEST(version)
{
	struct exs_options o;
	ck_assert_int_eq(parse(&o, "--version", NULL, NULL), EXS_ARGS_VERSION);
	ck_assert_int_eq(parse(&o, "--version", "--help", NULL), EXS_ARGS_HELP);
	ck_assert_int_eq(parse(&o, "--version=1", NULL, NULL), EXS_ARGS_ERROR);
}
END_TEST

/* Each bad input: an error, one line, naming the option and the value. */
static const struct {
	const char *a1, *a2, *want;
} bad[] = {
	{ "--iterations", NULL, "--iterations needs a value" },
	{ "--iterations", "abc", "--iterations: 'abc' is not a number" },
	{ "--iterations", "-5", "--iterations: '-5' must not be negative" },
	{ "--iterations", "12x", "--iterations: '12x' is not a number" },
	{ "--iterations", "99999999999999999999999", "is too large" },
	{ "--iterations", "0", "--iterations: '0' is too small" },
	{ "--iterations", "", "--iterations: empty value" },
	{ "--executors", "0", "--executors: '0' is too small" },
	{ "--executors", "1000", "--executors: '1000' is too large" },
	{ "--tasks", "-1", "must not be negative" },
	{ "--warmup", "1e3", "is not a number" },
	{ "--seed", "18446744073709551616",
	  "--seed: '18446744073709551616' is too large" },
	{ "--duration", "0", "--duration: '0' must be greater than 0" },
	{ "--duration", "soon", "--duration: 'soon' is not a number" },
	{ "--duration", "-1", "must not be negative" },
	{ "--scenario", "bogus", "--scenario: unknown scenario 'bogus'" },
	{ "--policy", "broken", "--policy: unknown policy 'broken'" },
	{ "--probe", "maybe", "--probe: unknown mode 'maybe'" },
	{ "--frobnicate", "1", "unknown option '--frobnicate'" },
	{ "stray", NULL, "unexpected argument 'stray'" },
	{ "--csv", "--json", "--csv needs a value" },
	{ "-x", NULL, "unknown option '-x'" },
	{ "--quiet=1", NULL, "--quiet takes no value" },
	{ "--vsz-slope-limit", "x", "--vsz-slope-limit: 'x' is not a number" },
};

START_TEST(bad_values)
{
	struct exs_options o;
	int rc = parse(&o, bad[_i].a1, bad[_i].a2, NULL);
	ck_assert_int_eq(rc, EXS_ARGS_ERROR);
	ck_assert_msg(strstr(err, bad[_i].want) != NULL, "got '%s', want '%s'",
		      err, bad[_i].want);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(usage_text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	exs_usage(f);
	fclose(f);
	const char *must[] = { "--policy",
			       "--scenario",
			       "--iterations",
			       "--executors",
			       "--tasks",
			       "--warmup",
			       "--probe",
			       "--csv",
			       "--json",
			       "--junit",
			       "--seed",
			       "--quiet",
			       "--help",
			       "--duration",
			       "--sample-every",
			       "--verbose",
			       "SIGINT/SIGTERM/SIGHUP",
			       "130/143/129",
			       "issue448",
			       "foreign-wakers",
			       "spawn-in-drop",
			       "legacy-448",
			       "Exit 0 pass, 1 leak, 2 usage" };
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		ck_assert_msg(strstr(buf, must[i]), "usage lacks %s", must[i]);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("harness-cli");
	TCase *tc = tcase_create("cli");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, values);
	tcase_add_test(tc, duration_or_iterations);
	tcase_add_test(tc, scenarios_by_name);
	tcase_add_test(tc, help);
	tcase_add_test(tc, version);
	tcase_add_loop_test(tc, bad_values, 0,
			    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, usage_text);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
