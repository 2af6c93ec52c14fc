/* CSV, JSON and JUnit writers. */
#include <check.h>
#include "check_runner.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exstress.h"

static int count_fields(const char *line)
{
	int n = 1;
	for (; *line && *line != '\n'; line++)
		n += *line == ',';
	return n;
}

/* The header: fixed columns around one column per fd kind (fd_KIND) and
 * three per kind for fdtrack (bpf_KIND_opens/closes/live), in fdkind order,
 * ':' written as '_'. */
START_TEST(csv_header_is_fixed)
{
	const char *h = exs_csv_header();
	ck_assert_int_eq(
		strncmp(h,
			"scenario,policy,iteration,phase,elapsed_ms,fd_eventfd,"
			"fd_io_uring,fd_epoll,",
			62),
		0);
	ck_assert_ptr_nonnull(strstr(h, ",fd_socket_unix,fd_socket_inet,"));
	ck_assert_ptr_nonnull(strstr(
		h, ",fd_other,vsz_bytes,rss_bytes,heap_bytes,heap_allocs,"
		   "bpf_eventfd_opens,bpf_eventfd_closes,bpf_eventfd_live,"));
	ck_assert_ptr_nonnull(strstr(h, ",bpf_other_live,bpf_lost_events\n"));
	ck_assert_int_eq(count_fields(h),
			 5 + FDKIND_COUNT + 4 + 3 * FDKIND_COUNT + 1);
	ck_assert_ptr_eq(exs_csv_header(), h); /* built once */
}
END_TEST

START_TEST(csv_rows)
{
	struct exs_sample s = { .iteration = 7,
				.phase = EXS_PHASE_WARMUP,
				.elapsed_ms = 12.5,
				.vsz_bytes = 4096,
				.rss_bytes = 1024 };
	char row[4096], want[4096];
	s.fds[FDKIND_EVENTFD] = 2;
	s.fds[FDKIND_IO_URING] = 1;
	s.fds[FDKIND_PIPE] = 9;
	int n = exs_csv_format(row, sizeof(row), "issue448", "fixed", &s);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(count_fields(row), count_fields(exs_csv_header()));
	/* fds by kind, then memory, then empty heap and bpf columns */
	size_t w = (size_t)snprintf(want, sizeof(want),
				    "issue448,fixed,7,warmup,12.500");
	for (int k = 0; k < FDKIND_COUNT; k++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, ",%d",
				      k == FDKIND_EVENTFD    ? 2
				      : k == FDKIND_IO_URING ? 1
				      : k == FDKIND_PIPE     ? 9
							     : 0);
	w += (size_t)snprintf(want + w, sizeof(want) - w, ",4096,1024,,");
	for (int k = 0; k < FDKIND_COUNT; k++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, ",,,");
	snprintf(want + w, sizeof(want) - w, ",\n");
	ck_assert_str_eq(row, want);
	s.has_bpf = 1;
	s.has_heap = 1;
	s.heap_bytes = 123456;
	s.heap_allocs = 789;
	s.phase = EXS_PHASE_MEASURE;
	s.bpf.opens[FDKIND_EVENTFD] = 10;
	s.bpf.closes[FDKIND_EVENTFD] = 8;
	s.bpf.live[FDKIND_EVENTFD] = 2;
	s.bpf.opens[FDKIND_IO_URING] = 5;
	s.bpf.closes[FDKIND_IO_URING] = 4;
	s.bpf.live[FDKIND_IO_URING] = 1;
	s.bpf.lost = 3;
	n = exs_csv_format(row, sizeof(row), "io", "legacy-448", &s);
	ck_assert_int_eq(count_fields(row), count_fields(exs_csv_header()));
	ck_assert_ptr_nonnull(
		strstr(row, ",4096,1024,123456,789,10,8,2,5,4,1,0,0,0,"));
	ck_assert_ptr_nonnull(strstr(row, ",0,0,0,3\n"));
	ck_assert_int_eq(exs_csv_format(row, 10, "io", "fixed", &s), -1);
}
END_TEST

START_TEST(csv_file_whole_rows)
{
	char path[] = "/tmp/exs-test-csv-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char why[256];
	struct exs_csv *c = exs_csv_open(path, why, sizeof(why));
	ck_assert_ptr_nonnull(c);
	struct exs_sample s = { .vsz_bytes = 123456789, .rss_bytes = 1234567 };
	enum {
		ROWS = 5000
	}; /* several buffer flushes */
	for (int i = 0; i < ROWS; i++) {
		s.iteration = (uint64_t)i;
		s.phase = i == 0 ? EXS_PHASE_BASELINE : EXS_PHASE_MEASURE;
		ck_assert_int_eq(exs_csv_row(c, "timers", "fixed", &s), 0);
	}
	ck_assert_int_eq(exs_csv_close(c, why, sizeof(why)), 0);
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		ck_assert_msg(len && line[len - 1] == '\n', "half line %d", n);
		ck_assert_int_eq(count_fields(line),
				 count_fields(exs_csv_header()));
		if (n == 1)
			ck_assert_ptr_nonnull(strstr(line, ",baseline,"));
		n++;
	}
	fclose(f);
	ck_assert_int_eq(n, ROWS + 1);
	unlink(path);
	ck_assert_ptr_null(
		exs_csv_open("/nonexistent-dir/x.csv", why, sizeof(why)));
	ck_assert_str_eq(why, "No such file or directory");
}
END_TEST

static void leak_result(struct exs_result *r)
{
	struct exs_limits l;
	exs_limits_default(&l);
	struct exs_sample s[11];
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 11; i++) {
		s[i].iteration = 50 + (uint64_t)i;
		s[i].fds[FDKIND_EVENTFD] = 2 * i;
		s[i].vsz_bytes = 1000000 + 10000 * (uint64_t)i;
		s[i].rss_bytes = 1000000;
	}
	memset(r, 0, sizeof(*r));
	r->scenario = EXS_SC_ISSUE448;
	r->elapsed_s = 1.5;
	exs_verdict_compute(s, 11, &l, &r->v);
	snprintf(r->note, sizeof(r->note), "a \"quoted\" <note> & more");
}

static void pass_result(struct exs_result *r, enum exs_scenario sc)
{
	struct exs_limits l;
	exs_limits_default(&l);
	struct exs_sample s[3];
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 3; i++)
		s[i].iteration = (uint64_t)i;
	memset(r, 0, sizeof(*r));
	r->scenario = sc;
	exs_verdict_compute(s, 3, &l, &r->v);
}

static char *render(int (*fn)(FILE *, const struct exs_run_info *,
			      const struct exs_result *, size_t),
		    const struct exs_result *r, size_t n, const char *scenario)
{
	struct exs_limits l;
	exs_limits_default(&l);
	struct exs_run_info info = { .scenario = scenario,
				     .policy = "legacy-448",
				     .probe = "proc-only",
				     .elapsed_s = 2.0,
				     .limits = &l };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(fn(f, &info, r, n), 0);
	fclose(f);
	return buf;
}

/* Valid JSON, checked by python3 when there is one. */
static void json_valid(const char *text)
{
	if (access("/usr/bin/python3", X_OK) != 0)
		return;
	char path[] = "/tmp/exs-test-json-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -m json.tool %s >/dev/null", path);
	int rc = system(cmd);
	unlink(path);
	ck_assert_msg(rc == 0, "invalid JSON:\n%s", text);
}

START_TEST(json_single)
{
	struct exs_result r;
	leak_result(&r);
	char *j = render(exs_json_write, &r, 1, "issue448");
	json_valid(j);
	const char *must[] = {
		"\"verdict\": \"leak\"",
		"\"iterations\": 10",
		"\"probe\": \"proc-only\"",
		"\"scenario\": \"issue448\"",
		"\"policy\": \"legacy-448\"",
		"\"elapsed_s\": 2",
		"\"fd_growth\": {\"eventfd\": 20, \"io_uring\": 0, \"epoll\": 0,",
		"\"vsz_slope_bytes_per_iter\": 10000",
		"\"rss_slope_bytes_per_iter\": 0",
		"\"name\": \"fd_eventfd\", \"pass\": false, \"value\": 20, \"limit\": 0",
		"\"fd_first_leak_iteration\": {\"eventfd\": 51",
		"\"checks\": [",
		"\\\"quoted\\\""
	};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		ck_assert_msg(strstr(j, must[i]), "JSON lacks %s:\n%.1500s",
			      must[i], j);
	free(j);
}
END_TEST

START_TEST(json_all)
{
	struct exs_result r[3];
	pass_result(&r[0], EXS_SC_IDLE);
	leak_result(&r[1]);
	pass_result(&r[2], EXS_SC_TIMERS);
	char *j = render(exs_json_write, r, 3, "all");
	json_valid(j);
	ck_assert_ptr_nonnull(strstr(j, "\"scenario\": \"all\""));
	ck_assert_ptr_nonnull(strstr(j, "\"verdict\": \"leak\""));
	ck_assert_ptr_nonnull(strstr(j, "\"scenarios\": ["));
	ck_assert_ptr_nonnull(strstr(j, "{\"name\": \"idle\", \"pass\": true"));
	ck_assert_ptr_nonnull(
		strstr(j, "{\"name\": \"issue448\", \"pass\": false"));
	ck_assert_ptr_nonnull(strstr(j, "\"scenario\": \"timers\""));
	free(j);
	pass_result(&r[1], EXS_SC_IO);
	j = render(exs_json_write, r, 3, "all");
	ck_assert_ptr_nonnull(strstr(j, "\"verdict\": \"pass\""));
	ck_assert_ptr_null(strstr(j, "\"verdict\": \"leak\""));
	free(j);
}
END_TEST

START_TEST(junit)
{
	struct exs_result r[2];
	pass_result(&r[0], EXS_SC_IDLE);
	leak_result(&r[1]);
	char *x = render(exs_junit_write, r, 2, "all");
	ck_assert_ptr_nonnull(strstr(
		x, "<testsuites name=\"exstress\" tests=\"2\" failures=\"1\""));
	ck_assert_ptr_nonnull(strstr(
		x,
		"<testcase classname=\"exstress.legacy-448\" name=\"idle\""));
	ck_assert_ptr_nonnull(strstr(
		x,
		"<testcase classname=\"exstress.legacy-448\" name=\"issue448\""));
	ck_assert_ptr_nonnull(
		strstr(x, "<failure type=\"leak\" message=\"eventfd +20"));
	ck_assert_ptr_nonnull(strstr(x, "&lt;note&gt; &amp; more"));
	ck_assert_ptr_null(strstr(x, "<note>"));
	/* exactly one failure element */
	const char *f = strstr(x, "<failure");
	ck_assert_ptr_null(strstr(f + 1, "<failure"));
	free(x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("harness-output");
	TCase *tc = tcase_create("output");
	tcase_add_test(tc, csv_header_is_fixed);
	tcase_add_test(tc, csv_rows);
	tcase_add_test(tc, csv_file_whole_rows);
	tcase_add_test(tc, json_single);
	tcase_add_test(tc, json_all);
	tcase_add_test(tc, junit);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
