/*
 * fdtrack's opening stacks as a reader gets them (build/bin/fdtrack and its
 * JSON): frames through code without frame pointers (DWARF unwinding), C++
 * and Rust names demangled, frames as data in the JSON.
 *
 * Without BPF the tests skip with the reason; with FDTRACK_REQUIRE_BPF=1
 * (CI) a skip is a failure.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_runner.h"
#include "fdtrack_testlib.h"

static void temp_name(char *buf)
{
	int fd;

	strcpy(buf, "/tmp/fdtrack-test-XXXXXX");
	fd = mkstemp(buf);
	ck_assert_int_ge(fd, 0);
	close(fd);
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
	ck_assert_msg(!strstr(hit + 1, text), "two groups with '%s':\n%s",
		      text, leaks);
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
	char *argv[] = { "fdtrack", "--json", json, "--", FDT_NOFP_PATH, "2", "3",
			 "500", NULL };
	char *fp_only[] = { "fdtrack", "--frame-pointers", "--json", json, "--",
			    FDT_NOFP_PATH, "2", "3", NULL };
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		goto out;
	ck_assert_int_eq(run_cli(argv, NULL, 0), 0);
	j = slurp(json);
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
	ck_assert_int_eq(run_cli(argv, NULL, 0), 0);
	j = slurp(json);
	ck_assert_int_eq(group_count(j, "leak_rings_here (nofp_uring.c:"), 2);

	ck_assert_int_eq(run_cli(fp_only, NULL, 0), 0);
	j = slurp(json);
	ck_assert_int_eq(group_count(j, "leak_rings_here"), 0);
	ck_assert_int_eq(group_count(j, "io_uring_queue_init_params"), 5);
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
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
