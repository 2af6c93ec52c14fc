/*
 * fdtrack's opening stacks as a reader gets them (build/bin/fdtrack and its
 * JSON): frames through code without frame pointers (DWARF unwinding), C++
 * and Rust names demangled, frames as data in the JSON.
 *
 * Without BPF the tests skip with the reason; with FDTRACK_REQUIRE_BPF=1
 * (CI) a skip is a failure.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_runner.h"
#include "fdtrack_testlib.h"

/* Run the CLI (argv writes its JSON report to json): the report. */
static const char *report(char *const argv[], const char *json)
{
	ck_assert_int_eq(run_cli(argv, NULL, 0), 0);
	return slurp(json);
}

/* The top-level "leaks" list of a JSON report. */
static const char *leaks_of(const char *json)
{
	const char *p = strstr(json, "\n  \"leaks\": [");

	ck_assert_msg(p != NULL, "no leaks list in:\n%s", json);
	return p;
}

/* The "count" of the leak group whose stack has a frame containing text,
 * 0 if none; fails if two groups have it. */
static long group_count(const char *json, const char *text)
{
	const char *leaks = leaks_of(json), *hit = strstr(leaks, text), *c;
	long count;

	if (!hit)
		return 0;
	ck_assert_msg(!strstr(hit + 1, text), "two groups with '%s':\n%s", text,
		      leaks);
	for (c = hit; c > leaks && strncmp(c, "\"count\": ", 9); c--)
		;
	ck_assert_msg(c > leaks, "no count before '%s'", text);
	count = strtol(c + 9, NULL, 10);
	return count;
}

/* A leak through io_uring_queue_init (liburing, no frame pointers) from a
 * program built -O2 -fomit-frame-pointer names the leaking function: 2
 * rings from leak_rings_here, 3 from leak_rings_there. Those two are
 * siblings, one stack to the frame-pointer walk: only DWARF unwinding
 * tells them apart (with --frame-pointers, one group of 5 that names
 * neither). The second opens after a pause, when the first's recipe is
 * written: its stack must not match it. */
START_TEST(test_dwarf_without_frame_pointers)
{
	char json[32];
	char *argv[] = { "fdtrack", "--json", json,  "--", FDT_NOFP_PATH,
			 "2",	    "3",      "500", NULL };
	char *fp_only[] = { "fdtrack", "--frame-pointers", "--json", json,
			    "--",      FDT_NOFP_PATH,	   "2",	     "3",
			    NULL };
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		goto out;
	j = report(argv, json);
	ck_assert_int_eq(group_count(j, "leak_rings_here (nofp_uring.c:"), 2);
	ck_assert_int_eq(group_count(j, "leak_rings_there (nofp_uring.c:"), 3);
	ck_assert_msg(strstr(leaks_of(j), "io_uring_queue_init"), "%s", j);
	ck_assert_msg(strstr(leaks_of(j), "main (nofp_uring.c:"), "%s", j);
	ck_assert_msg(!strstr(j, "\"0x0\"") && !strstr(j, "by 0x0"), "%s", j);
	ck_assert_int_eq(json_num(j, "unwinds_dropped"), 0);

	/* No pause: the second function's first ring meets only the first's
	 * window, not unwound yet; its stack differs from it in a return
	 * address, so it is not taken for that variant. */
	argv[7] = "0";
	j = report(argv, json);
	ck_assert_int_eq(group_count(j, "leak_rings_here (nofp_uring.c:"), 2);

	j = report(fp_only, json);
	ck_assert_int_eq(group_count(j, "leak_rings_here"), 0);
	ck_assert_int_eq(group_count(j, "io_uring_queue_init_params+0x"), 5);
out:
	unlink(json);
}
END_TEST

/* A stack whose mapping ends just above sp (where fdtrack's first 2 KiB
 * read faults): the leak still names its function. */
START_TEST(test_stack_near_its_top)
{
	char json[32];
	char *argv[] = { "fdtrack",	  "--json",	 json, "--",
			 FDT_LEAKER_PATH, "--stack-top", NULL };
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		goto out;
	j = report(argv, json);
	ck_assert_int_eq(group_count(j, "leak_at_stack_top (leaker.c:"), 1);
	ck_assert_int_eq(group_count(j, "leak_eventfds (leaker.c:"), 1);
out:
	unlink(json);
}
END_TEST

/* Run CMD under the CLI (leaks one eventfd); its text report in log, its
 * JSON in json. raw: --raw-symbols. */
static void run_target(const char *cmd, bool raw, char *json, char *log)
{
	char *argv[] = { "fdtrack", "--json",
			 json,	    raw ? "--raw-symbols" : "-f",
			 "--",	    (char *)cmd,
			 NULL };

	ck_assert_int_eq(run_cli(argv, log, 0), 0);
}

/* The frame string frame is in the text report's leak ("by frame") and in
 * the JSON's stack strings, and sym is a "symbol" of the JSON's frames. */
static void names(const char *json, const char *log, const char *frame,
		  const char *sym)
{
	char want[256];
	const char *j = slurp(json);

	snprintf(want, sizeof(want), "\"%s", frame);
	ck_assert_msg(strstr(leaks_of(j), want), "no '%s' in:\n%.3000s", want,
		      leaks_of(j));
	snprintf(want, sizeof(want), "\"symbol\": \"%s\"", sym);
	ck_assert_msg(strstr(leaks_of(j), want), "no %s in:\n%.3000s", want,
		      leaks_of(j));
	snprintf(want, sizeof(want), "   by %s", frame);
	ck_assert_msg(strstr(slurp(log), want), "no '%s' in:\n%.3000s", want,
		      slurp(log));
}

/* Each CPU caches the recipe of the variant it matched last, by key. Two
 * sibling call paths with one frame-pointer key (variant_siblings): after
 * leak_here()'s recipe is written and cached, leak_there()'s stack meets
 * the cache entry of its key and must not match it. (Broken, a cache hit
 * that skips the recipe check puts all 7 under leak_here.) */
START_TEST(test_variant_cache_sibling)
{
	char json[32];
	char *argv[] = { "fdtrack", "--json", json,  "--", FDT_VARIANTS_PATH,
			 "3",	    "4",      "300", NULL };
	char *fp_only[] = { "fdtrack", "--frame-pointers",
			    "--json",  json,
			    "--",      FDT_VARIANTS_PATH,
			    "3",       "4",
			    "0",       NULL };
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		goto out;
	/* the premise: one key, which the walk alone cannot tell apart */
	j = report(fp_only, json);
	ck_assert_int_eq(group_count(j, "leak_here"), 0);
	ck_assert_int_eq(group_count(j, "do_eventfd+0x"), 7);

	j = report(argv, json);
	ck_assert_int_eq(group_count(j, "leak_here (variant_siblings.c:"), 3);
	ck_assert_int_eq(group_count(j, "leak_there (variant_siblings.c:"), 4);
	ck_assert_int_eq(json_num(j, "unwinds_dropped"), 0);
out:
	unlink(json);
}
END_TEST

/* A module loaded with dlopen after fdtrack read the process's maps (for
 * an earlier open's stack) leaks: its stack names the module's function
 * (built without frame pointers) and the caller in main. Unwound with the
 * old maps, it stopped at the module's first address. */
START_TEST(test_dlopen_after_maps_read)
{
	char json[32];
	char *argv[] = {
		"fdtrack",	     "--json", json, "--", FDT_DLOPEN_PATH,
		FDT_DLOPEN_MOD_PATH, "500",    NULL
	};
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		goto out;
	j = report(argv, json);
	ck_assert_int_eq(group_count(j, "leak_from_module (dlopen_mod.c:"), 1);
	ck_assert_msg(strstr(leaks_of(j), "main (dlopen_leak.c:"), "%s", j);
out:
	unlink(json);
}
END_TEST

/* C++ (Itanium) and Rust (legacy, its ::h<hash> dropped, and v0) names
 * demangled in the text and the JSON; --raw-symbols keeps them mangled. */
START_TEST(test_demangled_names)
{
	char json[32], log[32];
	const char *j;

	temp_name(json);
	temp_name(log);
	if (!bpf_usable())
		goto out;
	run_target(FDT_CXX_PATH, false, json, log);
	names(json, log,
	      "executor::SleepNotifier::open_eventfd(unsigned int) "
	      "(cxx_notifier.cpp:",
	      "executor::SleepNotifier::open_eventfd("
	      "unsigned int)");
	run_target(FDT_CXX_PATH, true, json, log);
	names(json, log, "_ZN8executor13SleepNotifier12open_eventfdEj (",
	      "_ZN8executor13SleepNotifier12open_eventfdEj");

	run_target(FDT_RUST_LEGACY_PATH, false, json, log);
	names(json, log, "rust_notifier::SleepNotifier::new (rust_notifier.rs:",
	      "rust_notifier::SleepNotifier::new");
	j = slurp(json);
	ck_assert_msg(!strstr(j, "SleepNotifier::new::h"),
		      "hash kept:\n%.3000s", leaks_of(j));
	run_target(FDT_RUST_LEGACY_PATH, true, json, log);
	j = slurp(json);
	ck_assert_msg(strstr(j,
			     "\"symbol\": \"_ZN13rust_notifier13SleepNotifier"
			     "3new17h"),
		      "not raw:\n%.3000s", leaks_of(j));

	run_target(FDT_RUST_V0_PATH, false, json, log);
	names(json, log,
	      "<rust_notifier::SleepNotifier>::new (rust_notifier.rs:",
	      "<rust_notifier::SleepNotifier>::new");
	run_target(FDT_RUST_V0_PATH, true, json, log);
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"symbol\": \"_R") &&
			      strstr(j, "13rust_notifier") &&
			      strstr(j, "13SleepNotifier3new"),
		      "not raw:\n%.3000s", leaks_of(j));
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* Each leak group's frames as data beside its strings, one per string. */
START_TEST(test_json_frames)
{
	char json[32], log[32];
	const char *j, *frames;

	temp_name(json);
	temp_name(log);
	if (!bpf_usable())
		goto out;
	run_target(FDT_CXX_PATH, false, json, log);
	j = slurp(json);
	frames = strstr(leaks_of(j), "\"frames\": [");
	ck_assert_msg(frames != NULL, "no frames in:\n%s", j);
	ck_assert_msg(strstr(frames, "{\"addr\": \"0x") &&
			      strstr(frames,
				     "\"symbol\": \"executor::SleepNotifier::"
				     "open_eventfd(unsigned int)\", \"file\": "
				     "\"cxx_notifier.cpp\", \"line\": ") &&
			      strstr(frames, "\"module\": \"cxx_notifier\"}") &&
			      strstr(frames, "\"module\": \"libc.so.6\"}"),
		      "%s", j);
	ck_assert_msg(strstr(frames, "\"frame_pointers_only\": false"), "%s",
		      j);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* A function the compiler inlined is a frame of its own, at its line, and
 * its caller's frame is at the line that calls it (as valgrind and
 * addr2line -i): inlined.c's open_notifier() inside make_pool(). Without
 * the expansion the one frame was "make_pool (inlined.c:15)", a line of
 * open_notifier's. */
START_TEST(test_inlined_frames)
{
	char json[32];
	char *argv[] = { "fdtrack",	   "--json", json, "--",
			 FDT_INLINED_PATH, "3",	     NULL };
	const char *j, *open, *pool;

	temp_name(json);
	if (!bpf_usable())
		goto out;
	j = leaks_of(report(argv, json));
	ck_assert_int_eq(group_count(j, "\"open_notifier (inlined.c:15)\""), 3);
	open = strstr(j, "\"open_notifier (inlined.c:15)\"");
	pool = strstr(j, "\"make_pool (inlined.c:23)\"");
	ck_assert_msg(open && pool && open < pool, "%s", j);
	/* as data too: both frames at the one return address */
	ck_assert_msg(strstr(j, "\"symbol\": \"open_notifier\", \"file\": "
				"\"inlined.c\", \"line\": 15"),
		      "%s", j);
	ck_assert_msg(strstr(j, "\"symbol\": \"make_pool\", \"file\": "
				"\"inlined.c\", \"line\": 23"),
		      "%s", j);
out:
	unlink(json);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_stacks");
	TCase *tc = tcase_create("stacks");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dwarf_without_frame_pointers);
	tcase_add_test(tc, test_variant_cache_sibling);
	tcase_add_test(tc, test_dlopen_after_maps_read);
	tcase_add_test(tc, test_stack_near_its_top);
	tcase_add_test(tc, test_demangled_names);
	tcase_add_test(tc, test_json_frames);
	tcase_add_test(tc, test_inlined_frames);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
