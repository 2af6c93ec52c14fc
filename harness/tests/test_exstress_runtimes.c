/*
 * exstress --runtime (issue 27): real libuv, libevent and GLib loops and
 * the example plugin (examples/tinyloop.c) through the adapter interface
 * (harness/adapter.h). The documented teardown passes every scenario the
 * runtime has, the careless one fails with the fd kinds it leaks and,
 * with fdtrack, the runtime's function that opened them; a plugin of
 * another ABI, an unknown runtime and options of the other kind of
 * runtime are usage errors (exit 2).
 */
#include <check.h>
#include "check_runner.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exstress.h"
#include "exstress_testlib.h"

#ifndef EXS_EXAMPLE_SO
#error "EXS_EXAMPLE_SO: path of the example adapter"
#endif

struct rt {
	const char *name;
	int epoll;	    /* its careless teardown leaks an epoll fd a loop */
	const char *opener; /* fdtrack's frame for the leaked eventfd */
};

static const struct rt rts[] = {
	{ "libuv", 1, "uv_async_init" },
	{ "libevent", 1, "evutil_eventfd_" },
	/* g_wakeup_new is not exported and Debian strips GLib's symtab:
	 * fdtrack names the library */
	{ "glib", 0, "libglib-2.0.so" },
	/* its driver: mio's Selector (two epoll fds) and Waker */
	{ "tokio", 1, "mio::sys::unix::waker::eventfd::Waker::new" },
	{ EXS_EXAMPLE_SO, 0, "tl_new" }, /* it does close its epoll fd */
};

START_TEST(correct_passes)
{
	const char *args[] = { "--runtime", rts[_i].name,   "--teardown",
			       "correct",   "--iterations", "300",
			       "--quiet",   "--probe",	    probe_mode(),
			       NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);

	ck_assert_msg(r.rc == 0, "%s: exit %d:\n%.2000s", rts[_i].name, r.rc,
		      r.err);
	ck_assert_ptr_nonnull(r.json);
	ck_assert_ptr_nonnull(strstr(r.json, "\"verdict\": \"pass\""));
	ck_assert_ptr_nonnull(strstr(r.json, ":correct\""));
	/* `all` of a loop runtime: the five scenarios it can park */
	for (const char *const *sc =
		     (const char *const[]){ "idle", "timers", "io",
					    "foreign-wakers", "mixed", NULL };
	     *sc; sc++) {
		char key[64];
		snprintf(key, sizeof(key), "\"scenario\": \"%s\"", *sc);
		ck_assert_msg(strstr(r.json, key), "%s: no %s", rts[_i].name,
			      *sc);
	}
	ck_assert_ptr_null(strstr(r.json, "\"scenario\": \"joins\""));
	/* every task parked is still parked at teardown */
	ck_assert_double_eq_tol(num_after(r.json, "\"scenario\": \"timers\"",
					  "\"parked_per_iteration\": "),
				8, 1e-9);
	assert_no_fd_growth(r.json);
	run_free(&r);
}
END_TEST

START_TEST(careless_leaks)
{
	const char *args[] = {
		"--runtime",  rts[_i].name, "--teardown",   "careless",
		"--scenario", "timers",	    "--iterations", "60",
		"--warmup",   "10",	    "--probe",	    probe_mode(),
		NULL
	};
	struct run r = run(EXS_BIN, NULL, 0, 1, args);

	ck_assert_msg(r.rc == 1, "%s: exit %d:\n%.2000s", rts[_i].name, r.rc,
		      r.err);
	ck_assert_ptr_nonnull(strstr(r.json, "\"verdict\": \"leak\""));
	ck_assert_ptr_nonnull(strstr(r.json, ":careless\""));
	/* two loops an iteration, one eventfd each */
	ck_assert_double_eq_tol(num_after(r.json, "\"fd_growth_per_iter\"",
					  "\"eventfd\": "),
				2, 1e-9);
	ck_assert_int_eq(check_passed(r.json, "fd_eventfd"), 0);
	if (rts[_i].epoll)
		ck_assert_int_eq(check_passed(r.json, "fd_epoll"), 0);
	ck_assert_ptr_nonnull(strstr(r.err, "eventfd"));
	if (STACKS && strstr(r.json, "\"probe\": \"bpf\""))
		ck_assert_msg(strstr(r.err, rts[_i].opener),
			      "%s: the report does not name %s:\n%.3000s",
			      rts[_i].name, rts[_i].opener, r.err);
	run_free(&r);
}
END_TEST

/* Usage errors: exit 2, one line, no JSON. */
static const char *const bad[][8] = {
	{ "--runtime", EXS_EXAMPLE_BAD_SO, NULL },
	{ "--runtime", "nosuchloop", NULL },
	{ "--runtime", "/nonexistent/loop.so", NULL },
	{ "--runtime", "libuv", "--policy", "fixed", NULL },
	{ "--runtime", "glib", "--scenario", "joins", NULL },
	{ "--teardown", "careless", NULL },
	{ "--runtime", "libevent", "--teardown", "sloppy", NULL },
};
static const char *const bad_msg[] = {
	"adapter ABI 999, this exstress speaks ABI 1",
	"unknown runtime 'nosuchloop'",
	"cannot load it",
	"--policy is rex's",
	"has no scenario 'joins'",
	"--teardown is for event-loop runtimes",
	"unknown value 'sloppy'",
};

START_TEST(usage_errors)
{
	struct run r = run(EXS_BIN, NULL, 0, 0, bad[_i]);

	ck_assert_msg(r.rc == 2, "case %d: exit %d:\n%s", _i, r.rc, r.err);
	ck_assert_ptr_null(r.json);
	ck_assert_msg(strstr(r.err, bad_msg[_i]), "case %d:\n%s", _i, r.err);
	/* one line (sanitizer builds say first that the heap is not counted) */
	const char *e = r.err;
	if (EXS_SANITIZED &&
	    strncmp(e, "exstress: heap not available", 28) == 0)
		e = strchr(e, '\n') + 1;
	ck_assert_msg(strchr(e, '\n') == e + strlen(e) - 1,
		      "case %d: not one line:\n%s", _i, r.err);
	run_free(&r);
}
END_TEST

/* A built-in runtime whose module is not beside exstress (its package
 * was missing when exstress was built): exit 2 naming the package. */
START_TEST(missing_module_names_its_package)
{
	char dir[] = "/tmp/exs-rt-XXXXXX", bin[96], cmd[256];
	const char *args[] = { "--runtime", "glib", NULL };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/exstress", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", EXS_BIN, bin);
	ck_assert_int_eq(system(cmd), 0);
	struct run r = run(bin, NULL, 0, 0, args);
	unlink(bin);
	rmdir(dir);
	ck_assert_msg(r.rc == 2, "exit %d:\n%s", r.rc, r.err);
	ck_assert_msg(strstr(r.err, "glib.so is missing") &&
			      strstr(r.err, "libglib2.0-dev"),
		      "%s", r.err);
	run_free(&r);
}
END_TEST

/* rex is the default runtime, its label its policy, as before. */
START_TEST(rex_unchanged)
{
	const char *args[] = { "--runtime",    "rex", "--scenario", "timers",
			       "--iterations", "100", "--quiet",    "--probe",
			       "off",	       NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);

	ck_assert_msg(r.rc == 0, "exit %d:\n%s", r.rc, r.err);
	ck_assert_ptr_nonnull(strstr(r.json, "\"policy\": \"fixed\""));
	run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("harness-exstress-runtimes");
	TCase *tc = tcase_create("runtimes");
	int n = (int)(sizeof(rts) / sizeof(rts[0]));

	tcase_add_loop_test(tc, correct_passes, 0, n);
	tcase_add_loop_test(tc, careless_leaks, 0, n);
	tcase_add_loop_test(tc, usage_errors, 0,
			    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, rex_unchanged);
	tcase_add_test(tc, missing_module_names_its_package);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
