/*
 * End to end, robustness: interruption (SIGINT/SIGTERM, during the warm-up
 * too), running out of fds, hostile option values, outputs that cannot be
 * written or must never be left partial, --sample-every.
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

/* ---- interruption --------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[512];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' &&
		    (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Every field of a CSV row: text for the first two and the phase, numbers
 * (or empty bpf columns) for the rest. */
static void assert_csv_row(const char *line)
{
	ck_assert_int_eq(fields(line), fields(exs_csv_header()));
	char *copy = strdup(line), *save = NULL;
	int i = 0;
	for (char *f = strtok_r(copy, ",\n", &save); f;
	     f = strtok_r(NULL, ",\n", &save), i++) {
		if (i == 0 || i == 1 || i == 3)
			continue;
		char *end;
		errno = 0;
		double v = strtod(f, &end);
		ck_assert_msg(end != f && *end == '\0' && errno == 0 &&
				      isfinite(v),
			      "field %d '%s' of row '%s' is not a number", i, f,
			      line);
	}
	free(copy);
}

static const int stop_sigs[] = { SIGINT, SIGTERM };

/* SIGINT/SIGTERM in the middle of a long run: stopped within a second,
 * whole CSV rows, JSON with "interrupted": true and the verdict over the
 * samples taken, exit 128 + signal; outputs appear under their names only
 * then (temporaries before). */
START_TEST(interrupt_stops_cleanly)
{
	int sig = stop_sigs[_i];
	char dir[] = "/tmp/exs-e2e-int-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char csv[600], json[600], xml[600], epath[600];
	snprintf(csv, sizeof(csv), "%s/run.csv", dir);
	snprintf(json, sizeof(json), "%s/run.json", dir);
	snprintf(xml, sizeof(xml), "%s/run.xml", dir);
	snprintf(epath, sizeof(epath), "%s/stderr", dir);

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int efd = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(efd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setenv("ASAN_OPTIONS", "quarantine_size_mb=0", 1);
		setenv("TSAN_OPTIONS", "atexit_sleep_ms=0", 1);
		execl(EXS_BIN, EXS_BIN, "--scenario", "mixed", "--duration",
		      "60", "--quiet", "--probe", probe_mode(), "--csv", csv,
		      "--json", json, "--junit", xml, (char *)NULL);
		_exit(127);
	}
	usleep(1000 * 1000);
	/* running: nothing under the final names yet, three temporaries */
	ck_assert_int_eq(access(csv, F_OK), -1);
	ck_assert_int_eq(access(json, F_OK), -1);
	ck_assert_int_eq(access(xml, F_OK), -1);
	ck_assert_int_eq(count_files(dir, ".tmp-"), 3);

	ck_assert_int_eq(kill(pid, sig), 0);
	double t0 = now_s();
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	double dt = now_s() - t0;
	char *err = slurp(epath);
	ck_assert_msg(WIFEXITED(st), "killed by signal %d; stderr:\n%.1500s",
		      WTERMSIG(st), err);
	ck_assert_msg(WEXITSTATUS(st) == 128 + sig,
		      "exit %d, want %d; stderr:\n%s", WEXITSTATUS(st),
		      128 + sig, err);
	ck_assert_msg(dt < 2.0, "took %.2f s to stop after the signal", dt);
	fprintf(stderr, "interrupt (%s): stopped %.0f ms after the signal\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM", dt * 1000);

	char *j = slurp(json);
	ck_assert_msg(j, "no JSON; stderr:\n%.1500s", err);
	ck_assert_ptr_nonnull(strstr(j, "\"interrupted\": true"));
	ck_assert_ptr_nonnull(strstr(j, sig == SIGINT
						? "\"signal\": \"SIGINT\""
						: "\"signal\": \"SIGTERM\""));
	/* the verdict over the samples taken, but never "pass" */
	ck_assert_msg(strstr(j, "\"verdict\": \"interrupted\""), "%.1500s", j);
	ck_assert_msg(!strstr(j, "\"verdict\": \"pass\""), "%.1500s", j);
	double iters = num_after(j, "\"scenarios\"", "\"iterations\": ");
	ck_assert_msg(iters > 10, "only %g measured iterations", iters);
	char *x = slurp(xml);
	ck_assert_ptr_nonnull(strstr(x, "name=\"interrupted\" value=\"true\""));

	char *c = slurp(csv);
	ck_assert_ptr_nonnull(c);
	size_t len = strlen(c);
	ck_assert_msg(len > 0 && c[len - 1] == '\n',
		      "the CSV ends in the middle of a row");
	c[len - 1] = '\0';
	char *last = strrchr(c, '\n');
	ck_assert_ptr_nonnull(last);
	assert_csv_row(last + 1);
	/* the last row is the last sample: its iteration is the JSON's last */
	ck_assert_ptr_nonnull(strstr(last + 1, "mixed,fixed,"));
	ck_assert_ptr_nonnull(strstr(last + 1, ",measure,"));
	ck_assert_int_eq(count_files(dir, ".tmp-"), 0);
	free(c);
	free(x);
	free(j);
	free(err);
	rm_dir(dir);
}
END_TEST

/* Stopped before anything was measured: no verdict, still exit 130. */
START_TEST(interrupt_during_warmup)
{
	char dir[] = "/tmp/exs-e2e-intw-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char json[600];
	snprintf(json, sizeof(json), "%s/run.json", dir);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		execl(EXS_BIN, EXS_BIN, "--scenario", "idle", "--warmup",
		      "1000000000", "--duration", "60", "--quiet", "--probe",
		      "off", "--json", json, (char *)NULL);
		_exit(127);
	}
	usleep(300 * 1000);
	kill(pid, SIGINT);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 130);
	char *j = slurp(json);
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_nonnull(strstr(j, "\"verdict\": \"interrupted\""));
	ck_assert_ptr_null(strstr(j, "\"verdict\": \"pass\""));
	ck_assert_ptr_nonnull(strstr(j, "\"interrupted\": true"));
	free(j);
	rm_dir(dir);
}
END_TEST

/* ---- fd exhaustion -------------------------------------------------------------- */

/* RLIMIT_NOFILE 64 (soft and hard, so exstress cannot raise it): 64
 * executors cannot all exist. Creation fails with a message naming the
 * limit, exit 2, no crash, no output file left, and every fd exstress
 * opened is closed again: its own census at exit (/proc/self/fd) equals the
 * one at start, and fdtrack watching from outside finds no eventfd or
 * io_uring it left open. */
START_TEST(fd_exhaustion)
{
	char dir[] = "/tmp/exs-e2e-emfile-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char csv[600];
	snprintf(csv, sizeof(csv), "%s/run.csv", dir);
	const char *args[] = {
		"--scenario",	"issue448", "--executors", "64",
		"--iterations", "200",	    "--warmup",	   "10",
		"--verbose",	"--quiet",  "--probe",	   "auto",
		"--csv",	csv,	    NULL
	};
	struct run r = run(EXS_BIN, NULL, 64, 0, args);
	ck_assert_msg(r.rc == 2, "exit %d, stderr:\n%.1500s", r.rc, r.err);
	ck_assert_msg(
		strstr(r.err,
		       "executor creation failed: Too many open files (RLIMIT_NOFILE=64); raise ulimit -n"),
		"stderr:\n%.1500s", r.err);
	ck_assert_msg(strstr(r.err, "fds at exit: ") &&
			      strstr(r.err, "(as at start)"),
		      "fds left open:\n%.1500s", r.err);
	ck_assert_ptr_null(r.json);
	ck_assert_int_eq(access(csv, F_OK), -1);
	ck_assert_int_eq(count_files(dir, ".tmp-"), 0);
	run_free(&r);

	/* From outside: fdtrack's CLI runs exstress (same limit) and reports
	 * what it had open when it exited. */
	if (access(EXS_FDTRACK_CLI, X_OK) == 0) {
		char fj[600];
		snprintf(fj, sizeof(fj), "%s/fdtrack.json", dir);
		const char *fargs[] = {
			"--json",	fj,	    "--",	   EXS_BIN,
			"--scenario",	"issue448", "--executors", "64",
			"--iterations", "200",	    "--warmup",	   "10",
			"--quiet",	"--probe",  "off",	   NULL
		};
		r = run(EXS_FDTRACK_CLI, NULL, 64, 0, fargs);
		char *f = slurp(fj);
		if (!f && !(getenv("FDTRACK_REQUIRE_BPF") &&
			    strcmp(getenv("FDTRACK_REQUIRE_BPF"), "1") == 0)) {
			fprintf(stderr,
				"fd_exhaustion: fdtrack unavailable, /proc census only: %.1500s",
				r.err);
		} else {
			ck_assert_msg(
				f, "fdtrack wrote no JSON (exit %d):\n%.1500s",
				r.rc, r.err);
			ck_assert_msg(strstr(f, "\"command_status\": 2"),
				      "%s\n%.1500s", f, r.err);
			ck_assert_msg(
				strstr(f,
				       "\"open_at_exit\": {\"eventfd\": 0, \"io_uring\": 0}"),
				"exstress left fds open:\n%s", f);
			ck_assert_ptr_nonnull(
				strstr(r.err, "RLIMIT_NOFILE=64"));
		}
		free(f);
		run_free(&r);
	}
	rm_dir(dir);
}
END_TEST

/* ---- hostile input ----------------------------------------------------------------- */

/* Every option with a missing, empty, negative, non-numeric, huge and
 * overflowing value: one line naming the option, exit 2, nothing written. */
static const char *const int_opts[] = { "--iterations", "--warmup",
					"--executors",	"--tasks",
					"--seed",	"--sample-every" };
static const char *const dbl_opts[] = {
	"--duration",	      "--vsz-slope-limit",  "--rss-slope-limit",
	"--vsz-growth-limit", "--rss-growth-limit", "--slope-floor"
};
static const char *const int_bad[] = { NULL,
				       "",
				       "-1",
				       "abc",
				       "12abc",
				       "0x10",
				       " 5",
				       "99999999999999999999999999999",
				       "18446744073709551616" };
static const char *const dbl_bad[] = {
	NULL, "", "-1", "abc", "nan", "inf", "0x10", "1e999", "1e-999", "2.5s"
};
#define N_INT_BAD (sizeof(int_bad) / sizeof(int_bad[0]))
#define N_DBL_BAD (sizeof(dbl_bad) / sizeof(dbl_bad[0]))
/* huge, in range of the type but not of the option */
static const char *const int_huge[][2] = {
	{ "--iterations", "1000000001" },
	{ "--warmup", "4000000000" },
	{ "--executors", "65" },
	{ "--executors", "4294967298" },
	{ "--tasks", "4097" },
	{ "--sample-every", "1000000001" },
	{ "--executors", "0" },
	{ "--iterations", "0" },
	{ "--sample-every", "0" },
	{ "--duration", "0" },
	{ "--duration", "10000001" },
	{ "--slope-floor", "1e16" },
	{ "--policy", "legacy" },
	{ "--scenario", "nope" },
	{ "--scenario", "" },
	{ "--probe", "maybe" },
	{ "--csv", NULL },
	{ "--json", "" },
	{ "--junit", NULL },
	{ "--iterationz", "5" },
	{ "stray", NULL },
};

static void assert_usage_error(const char *a1, const char *a2)
{
	const char *args[] = { a1, a2, NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);
	ck_assert_msg(r.rc == 2, "%s '%s': exit %d, stderr:\n%.1500s", a1,
		      a2 ? a2 : "(missing)", r.rc, r.err);
	size_t n = strlen(r.err);
	ck_assert_msg(n > 0 && strchr(r.err, '\n') == r.err + n - 1,
		      "%s '%s': not one line:\n%.1500s", a1,
		      a2 ? a2 : "(missing)", r.err);
	ck_assert_msg(strncmp(r.err, "exstress: ", 10) == 0 &&
			      (strstr(r.err, a1) ||
			       strstr(r.err, "iterations")),
		      "%s: the error does not name the option: %.1500s", a1,
		      r.err);
	ck_assert_ptr_null(r.json);
	run_free(&r);
}

START_TEST(hostile_int_values)
{
	for (size_t v = 0; v < N_INT_BAD; v++)
		assert_usage_error(int_opts[_i], int_bad[v]);
}
END_TEST

START_TEST(hostile_double_values)
{
	for (size_t v = 0; v < N_DBL_BAD; v++)
		assert_usage_error(dbl_opts[_i], dbl_bad[v]);
}
END_TEST

START_TEST(hostile_out_of_range)
{
	assert_usage_error(int_huge[_i][0], int_huge[_i][1]);
}
END_TEST

/* Output paths that cannot be written: fail before running (fast, nothing
 * from the run on stderr), exit 2, one line, no file, no temporary. */
static const char *const out_opts[] = { "--csv", "--json", "--junit" };

START_TEST(unwritable_output_paths)
{
	const char *opt = out_opts[_i];
	const char *paths[] = { "/nonexistent-exs-dir/out", "/etc/hostname/out",
				"/tmp", "/tmp/", "/proc/exs-out" };
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
		const char *args[] = { "--scenario", "mixed",	"--iterations",
				       "100000",     "--quiet", "--probe",
				       "off",	     opt,	paths[p],
				       NULL };
		double t0 = now_s();
		struct run r = run(EXS_BIN, NULL, 0, 0, args);
		double dt = now_s() - t0;
		ck_assert_msg(r.rc == 2, "%s %s: exit %d, stderr:\n%.1500s",
			      opt, paths[p], r.rc, r.err);
		ck_assert_msg(strstr(r.err, "cannot write there") &&
				      strstr(r.err, paths[p]),
			      "%s %s: %.1500s", opt, paths[p], r.err);
		ck_assert_ptr_eq(strchr(r.err, '\n'),
				 r.err + strlen(r.err) - 1);
		ck_assert_msg(dt < 1.0,
			      "%s %s: failed only after %.1f s (after running?)",
			      opt, paths[p], dt);
		run_free(&r);
	}
	/* A directory that is there but not writable (as an unprivileged
	 * user when we are root: root writes anywhere). */
	char dir[] = "/tmp/exs-e2e-ro-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0555), 0);
	char path[600];
	snprintf(path, sizeof(path), "%s/out", dir);
	const char *args[] = { "--scenario", "idle",	"--iterations", "10",
			       "--quiet",    "--probe", "off",		opt,
			       path,	     NULL };
	if (geteuid() == 0)
		run_uid = 65534;
	struct run r = run(EXS_BIN, NULL, 0, 0, args);
	run_uid = 0;
	ck_assert_msg(r.rc == 2, "exit %d, stderr:\n%.1500s", r.rc, r.err);
	ck_assert_msg(strstr(r.err, "Permission denied"), "%.1500s", r.err);
	ck_assert_int_eq(count_files(dir, ""), 2); /* . and .. */
	run_free(&r);
	rmdir(dir);
}
END_TEST

/* One good output and one bad: the good one is not created either. */
START_TEST(no_partial_outputs)
{
	char dir[] = "/tmp/exs-e2e-part-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char csv[600];
	snprintf(csv, sizeof(csv), "%s/run.csv", dir);
	const char *args[] = { "--scenario",
			       "idle",
			       "--iterations",
			       "10",
			       "--quiet",
			       "--probe",
			       "off",
			       "--csv",
			       csv,
			       "--junit",
			       "/nonexistent-exs-dir/x.xml",
			       NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);
	ck_assert_int_eq(r.rc, 2);
	ck_assert_int_eq(count_files(dir, ""), 2);
	run_free(&r);
	/* the same file twice */
	const char *args2[] = { "--scenario", "idle",	 "--iterations",
				"10",	      "--quiet", "--probe",
				"off",	      "--csv",	 csv,
				"--json",     csv,	 NULL };
	r = run(EXS_BIN, NULL, 0, 0, args2);
	ck_assert_int_eq(r.rc, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "must name different files"));
	ck_assert_int_eq(count_files(dir, ""), 2);
	run_free(&r);
	rm_dir(dir);
}
END_TEST

/* --sample-every thins the CSV only; the verdict uses every sample. */
START_TEST(sample_every)
{
	char csv[] = "/tmp/exs-e2e-se-XXXXXX";
	close(mkstemp(csv));
	const char *args[] = { "--scenario", "idle", "--iterations",   "1000",
			       "--warmup",   "10",   "--sample-every", "100",
			       "--probe",    "off",  "--quiet",	       "--csv",
			       csv,	     NULL };
	struct run r = run(EXS_BIN, NULL, 0, 0, args);
	ck_assert_msg(r.rc == 0, "exit %d:\n%.1500s", r.rc, r.err);
	ck_assert_int_eq((int)num_after(r.json, "\"scenarios\"",
					"\"iterations\": "),
			 1000);
	FILE *f = fopen(csv, "r");
	char line[8192];
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	/* baseline 0, reference 10, every 100th, the last (1010) */
	const int want[] = { 0,	  10,  100, 200, 300,  400, 500,
			     600, 700, 800, 900, 1000, 1010 };
	size_t i = 0;
	while (fgets(line, sizeof(line), f)) {
		ck_assert_uint_lt(i, sizeof(want) / sizeof(want[0]));
		assert_csv_row(line);
		ck_assert_int_eq(atoi(strchr(strchr(line, ',') + 1, ',') + 1),
				 want[i]);
		i++;
	}
	ck_assert_uint_eq(i, sizeof(want) / sizeof(want[0]));
	fclose(f);
	unlink(csv);
	run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("harness-exstress-robust");
	TCase *tc;

	tc = tcase_create("robustness");
	tcase_add_loop_test(tc, interrupt_stops_cleanly, 0, 2);
	tcase_add_test(tc, interrupt_during_warmup);
	tcase_add_test(tc, fd_exhaustion);
	tcase_add_loop_test(tc, hostile_int_values, 0,
			    (int)(sizeof(int_opts) / sizeof(int_opts[0])));
	tcase_add_loop_test(tc, hostile_double_values, 0,
			    (int)(sizeof(dbl_opts) / sizeof(dbl_opts[0])));
	tcase_add_loop_test(tc, hostile_out_of_range, 0,
			    (int)(sizeof(int_huge) / sizeof(int_huge[0])));
	tcase_add_loop_test(tc, unwritable_output_paths, 0, 3);
	tcase_add_test(tc, no_partial_outputs);
	tcase_add_test(tc, sample_every);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
