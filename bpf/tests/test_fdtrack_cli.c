/*
 * fdtrack CLI tests: the tool run as a user runs it (build/bin/fdtrack),
 * against the leaker (tests/leaker.c) and processes of the test itself.
 *
 * Without BPF the tests skip with the reason; with FDTRACK_REQUIRE_BPF=1
 * (CI) a skip is a failure.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_runner.h"
#include "clock.h"
#include "fdtrack_testlib.h"

START_TEST(test_cli_leaker)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX";
	int fd = mkstemp(json);
	char *leak[] = { "fdtrack", "--json",	     json, "--fail-on-leak",
			 "--",	    FDT_LEAKER_PATH, "4",  "3",
			 NULL };
	char *clean[] = { "fdtrack", "--json",	      json, "--fail-on-leak",
			  "--",	     FDT_LEAKER_PATH, "0",  "5",
			  NULL };
	const char *j;

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (!bpf_usable())
		goto out;
	/* 23: the default leak code (it was 1 before the leak code was told
	 * apart from CMD's own statuses) */
	ck_assert_int_eq(run_cli(leak, NULL, 0), 23);
	j = slurp(json);
	ck_assert_int_eq(json_num(j, "leaked"), 4);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 4);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), 7);
	ck_assert_int_eq(json_kind(j, "closes", "eventfd"), 7);
	ck_assert_msg(strstr(j, "leak_eventfds (leaker.c:"),
		      "no leaking "
		      "function in the report:\n%s",
		      j);
	ck_assert_msg(strstr(j, "\"lost_events\": 0"), "lost events:\n%s", j);
	ck_assert_int_eq(run_cli(clean, NULL, 0), 0);
	j = slurp(json);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), 5);
out:
	unlink(json);
}
END_TEST

/* -p PID for a duration: the fds it had before fdtrack attached are not
 * leaks (they were, before fds it had at attach were told apart); one it
 * opens while watched and still holds at the end is "still open": the
 * process never exited, so it leaked nothing yet (it was "leaked", and
 * --fail-on-leak exited 23, before issue 25). */
START_TEST(test_cli_pid_duration)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX",
	     log[] = "/tmp/fdtrack-test-XXXXXX";
	char pidarg[16];
	char *argv[] = { "fdtrack", "-p",  pidarg,   "-d", "0.6",
			 "-i",	    "0.1", "--json", json, "--fail-on-leak",
			 NULL };
	int jfd = mkstemp(json), lfd = mkstemp(log), in, out;
	const char *j;
	pid_t pid, cli;

	ck_assert_int_ge(jfd, 0);
	ck_assert_int_ge(lfd, 0);
	close(jfd);
	close(lfd);
	if (!bpf_usable())
		goto out;
	pid = waiting_leaker_io(&in, &out);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	cli = start_cli(argv, log, -1);
	wait_text(log, " open now;", 5); /* attached */
	leaker_leak_one(in, out);
	ck_assert_int_eq(wait_exit(cli, 5), 0); /* 1 still open, 0 leaked */
	j = slurp(json);
	ck_assert_int_eq(json_num(j, "leaked"), 0);
	ck_assert_int_eq(json_num(j, "still_open"), 1);
	ck_assert_msg(strstr(j, "\"leaks\": []"), "%s", j);
	j = slurp(log);
	ck_assert_msg(strstr(j, "= 3 open now (1 still open)\n"), "%s", j);
	ck_assert_msg(!strstr(j, "leaked)"), "%s", j);
	ck_assert_msg(strstr(j, "fdtrack: no fd leaked, 1 fd still open in 1 "
				"process"),
		      "%s", j);
	j = slurp(json);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 3);
	ck_assert_int_eq(json_kind(j, "at_start", "eventfd"), 2);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), 1);
	ck_assert_msg(strstr(j, "\"target_exited\": false"), "%s", j);
	ck_assert_msg(strstr(j, "leak_eventfds (leaker.c:"), "%s", j);
	close(in);
	close(out);
	waitpid(pid, NULL, 0);
out:
	unlink(json);
	unlink(log);
}
END_TEST

START_TEST(test_cli_usage)
{
	char *bad[] = { "fdtrack", "--bogus", NULL };
	char *both[] = { "fdtrack", "-p", "1", "--", "true", NULL };
	char *none[] = { "fdtrack", NULL };
	char *badi[] = { "fdtrack", "-i", "x", "-p", "1", NULL };
	char *help[] = { "fdtrack", "--help", NULL };

	ck_assert_int_eq(run_cli(bad, NULL, 0), 2);
	ck_assert_int_eq(run_cli(both, NULL, 0), 2);
	ck_assert_int_eq(run_cli(none, NULL, 0), 2);
	ck_assert_int_eq(run_cli(badi, NULL, 0), 2);
	ck_assert_int_eq(run_cli(help, NULL, 0), 0);
}
END_TEST

/* SIGINT/SIGTERM: stop within a second, complete JSON with "interrupted",
 * 128+signal, programs detached, nothing pinned; -- CMD gets the signal. */
START_TEST(test_cli_signals)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX",
	     log[] = "/tmp/fdtrack-test-XXXXXX";
	int sigs[2] = { SIGINT, SIGTERM }, pins = bpffs_entries();
	int jfd = mkstemp(json), lfd = mkstemp(log);

	ck_assert_int_ge(jfd, 0);
	ck_assert_int_ge(lfd, 0);
	close(jfd);
	close(lfd);
	if (!bpf_usable())
		goto out;
	for (int i = 0; i < 2; i++) {
		int in[2], leaker_in;
		char pidarg[16];
		char *cmd[] = { "fdtrack", "--json",	    json,
				"--",	   FDT_LEAKER_PATH, "2",
				"0",	   "--wait",	    NULL };
		char *byp[] = { "fdtrack", "--json", json,   "-i",
				"0.05",	   "-p",     pidarg, NULL };
		const char *j;
		double t0;
		pid_t cli, target;

		/* -- CMD: the leaker prints "ready" once attached and running */
		unlink(json);
		ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
		cli = start_cli(cmd, log, in[0]);
		close(in[0]);
		wait_text(log, "ready", 5);
		target = 0;
		ck_assert_int_eq(kill(cli, sigs[i]), 0);
		t0 = mono_s();
		ck_assert_int_eq(wait_exit(cli, 3), 128 + sigs[i]);
		ck_assert_msg(mono_s() - t0 < 1.0, "took %.2f s",
			      mono_s() - t0);
		close(in[1]);
		j = slurp(json);
		ck_assert_msg(strstr(j, "\"interrupted\": true") &&
				      strstr(j, "\"leaks\": [") &&
				      strstr(j, "\n}\n"),
			      "%s", j);
		/* the leaker got the signal and exited with its 2 fds open */
		ck_assert_msg(strstr(j, sigs[i] == SIGINT
						? "\"command_status\": 130"
						: "\"command_status\": 143"),
			      "%s", j);
		ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 2);
		sscanf(strstr(j, "\"pid\": ") + 7, "%d", &target);
		no_progs_left(target);

		/* -p PID: the target keeps running */
		unlink(json);
		target = waiting_leaker(&leaker_in);
		snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
		cli = start_cli(byp, log, -1);
		wait_text(log, " open now;",
			  5); /* first interval line: attached */
		ck_assert_int_eq(kill(cli, sigs[i]), 0);
		t0 = mono_s();
		ck_assert_int_eq(wait_exit(cli, 3), 128 + sigs[i]);
		ck_assert_msg(mono_s() - t0 < 1.0, "took %.2f s",
			      mono_s() - t0);
		j = slurp(json);
		ck_assert_msg(strstr(j, "\"interrupted\": true") &&
				      strstr(j, "\"target_exited\": false"),
			      "%s", j);
		ck_assert_int_eq(json_kind(j, "at_start", "eventfd"), 2);
		no_progs_left(target);
		ck_assert_int_eq(kill(target, 0), 0); /* not touched */
		close(leaker_in);
		waitpid(target, NULL, 0);
	}
	ck_assert_int_eq(bpffs_entries(), pins);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* A target opening and closing eventfds as fast as it can: counts stay
 * exact (lost events only cost stacks) and fdtrack's memory stays flat. */
START_TEST(test_cli_flood)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX";
	char *argv[] = { "fdtrack", "--json",	     json,	"-i",  "0.5",
			 "--",	    FDT_LEAKER_PATH, "--flood", "2.5", NULL };
	char *small[] = { "fdtrack",	   "--json", json, "--",
			  FDT_LEAKER_PATH, "1",	     NULL };
	int fd = mkstemp(json);
	long opens, lost, rss0, rss1, base;
	const char *j;

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (!bpf_usable())
		goto out;
	/* baseline: the same report (symbolising loads debug info) for a
	 * target with a single eventfd */
	ck_assert_int_eq(run_cli(small, NULL, 0), 0);
	base = json_num(slurp(json), "traced");
	ck_assert_int_eq(cli_rc(run_cli(argv, NULL, 0), json), 0);
	j = slurp(json);
	opens = json_kind(j, "opens", "eventfd");
	lost = json_num(j, "lost_events");
	rss0 = json_num(j, "start");
	rss1 = json_num(j, "traced");
	printf("flood: %ld eventfds in 2.5 s (%.0f/s), %ld lost events, "
	       "fdtrack RSS %ld -> %ld KiB (1-fd run: %ld KiB)\n",
	       opens, opens / 2.5, lost, rss0, rss1, base);
	ck_assert_int_gt(opens, 20000);
	/* closes include the one left open at exit */
	ck_assert_int_eq(json_kind(j, "closes", "eventfd"), opens);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 1);
	ck_assert_int_eq(json_kind(j, "closed_outside_syscalls", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "opened_outside_syscalls", "eventfd"), 0);
	/* the leaked one has its stack even if others lost theirs */
	ck_assert_msg(strstr(j, "leak_eventfds (leaker.c:"), "%s", j);
	ck_assert_msg(rss1 - base < 4 * 1024,
		      "fdtrack used %ld KiB after the "
		      "flood, %ld KiB after one fd",
		      rss1, base);
out:
	unlink(json);
}
END_TEST

/* Every bad value of every option: one line on stderr, exit 2, no crash,
 * nothing attached, no JSON file, CMD not run. */
START_TEST(test_cli_hostile_input)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX",
	     mark[] = "/tmp/fdtrack-test-XXXXXX";
	char dead[16], json_new[64];
	pid_t gone = fork();
	int fd = mkstemp(log), mfd = mkstemp(mark);
	char *const cases[][12] = {
		{ "fdtrack", "-p", NULL },
		{ "fdtrack", "-p", "", NULL },
		{ "fdtrack", "-p", "-1", NULL },
		{ "fdtrack", "-p", "0", NULL },
		{ "fdtrack", "-p", "abc", NULL },
		{ "fdtrack", "-p", "12abc", NULL },
		{ "fdtrack", "-p", "99999999999999999999999", NULL },
		{ "fdtrack", "-p", "2147483648", NULL },
		{ "fdtrack", "-p", "-9223372036854775809", NULL },
		{ "fdtrack", "--pid", NULL },
		{ "fdtrack", "-p", dead, NULL },
		{ "fdtrack", "-i", NULL },
		{ "fdtrack", "-i", "-1", "-p", "1", NULL },
		{ "fdtrack", "-i", "0", "-p", "1", NULL },
		{ "fdtrack", "-i", "abc", "-p", "1", NULL },
		{ "fdtrack", "-i", "nan", "-p", "1", NULL },
		{ "fdtrack", "-i", "inf", "-p", "1", NULL },
		{ "fdtrack", "-i", "1e400", "-p", "1", NULL },
		{ "fdtrack", "-i", "1e-9", "-p", "1", NULL },
		{ "fdtrack", "-i", "0x10", "-p", "1", NULL },
		{ "fdtrack", "-d", NULL },
		{ "fdtrack", "-d", "-5", "-p", "1", NULL },
		{ "fdtrack", "-d", "", "-p", "1", NULL },
		{ "fdtrack", "-d", "1s", "-p", "1", NULL },
		{ "fdtrack", "-d", "1e999", "-p", "1", NULL },
		{ "fdtrack", "--duration=", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", NULL },
		{ "fdtrack", "--ringbuf", "-1", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "0", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "abc", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "100", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "4294967296", "-p", "1", NULL },
		{ "fdtrack", "--ringbuf", "99999999999999999999999", "-p", "1",
		  NULL },
		{ "fdtrack", "--json", NULL },
		{ "fdtrack", "--json", "", "-p", "1", NULL },
		{ "fdtrack", "--fail-on-leak=yes", "-p", "1", NULL },
		{ "fdtrack", "-x", NULL },
		{ "fdtrack", "--", NULL },
		{ "fdtrack", "-p", "1", "--", "true", NULL },
		{ "fdtrack", "--json", "/nonexistent-dir/x.json", "--", "touch",
		  mark, NULL },
		{ "fdtrack", "--json", "/proc/fdtrack.json", "--", "touch",
		  mark, NULL },
		{ "fdtrack", "--json", "/tmp", "--", "touch", mark, NULL },
		{ "fdtrack", "--json", json_new, "-p", dead, NULL },
	};

	ck_assert_int_ge(gone, 0);
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0); /* a pid that does not exist (for now) */
	snprintf(dead, sizeof(dead), "%d", (int)gone);
	snprintf(json_new, sizeof(json_new), "%s.json", log);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(mfd, 0);
	close(fd);
	close(mfd);
	unlink(mark);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *out;
		int nl = 0;

		ck_assert_msg(wait_exit(start_cli(cases[i], log, -1), 5) == 2,
			      "case %zu (%s %s %s): exit status not 2:\n%s", i,
			      cases[i][1], cases[i][2] ? cases[i][2] : "",
			      cases[i][2] && cases[i][3] ? cases[i][3] : "",
			      slurp(log));
		out = slurp(log);
		for (const char *p = out; *p; p++)
			nl += *p == '\n';
		ck_assert_msg(nl == 1 && !strncmp(out, "fdtrack: ", 9),
			      "case %zu (%s): not one 'fdtrack: ' line:\n%s", i,
			      cases[i][1], out);
	}
	ck_assert_msg(access(mark, F_OK) != 0, "CMD ran despite a bad --json");
	ck_assert_msg(access(json_new, F_OK) != 0, "partial JSON left behind");
	ck_assert_msg(strstr(slurp(log), "no process"), "%s", slurp(log));
	unlink(log);
}
END_TEST

/* The last interval line of a CLI log (lines starting "HH:MM:SS") shows
 * kind with exactly this balance, and so does the summary's line. */
static void last_interval_agrees(const char *text, const char *kind,
				 const char *balance)
{
	const char *line, *last = NULL, *summary;
	char want[128], seg[256];
	size_t n;

	for (line = text; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (line[0] >= '0' && line[0] <= '9' && line[2] == ':')
			last = line;
	ck_assert_msg(last != NULL, "no interval line in:\n%s", text);
	n = strcspn(last, "\n");
	snprintf(seg, sizeof(seg), "%.*s", (int)(n < 255 ? n : 255), last);
	snprintf(want, sizeof(want), "  %s %s;", kind, balance);
	ck_assert_msg(strstr(seg, want), "last interval line '%s' lacks '%s'",
		      seg, want);
	snprintf(want, sizeof(want), "%s", balance);
	summary = strstr(text, "fdtrack: pid ");
	ck_assert_msg(summary && strstr(summary, want),
		      "summary lacks '%s':"
		      "\n%s",
		      want, text);
}

/* -p PID whose process exits while watched: report what was seen, exit by
 * the leak rule. */
START_TEST(test_cli_pid_exits)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX",
	     log[] = "/tmp/fdtrack-test-XXXXXX";
	char pidarg[16];
	char *argv[] = { "fdtrack", "-p", pidarg,	    "-i", "0.05",
			 "--json",  json, "--fail-on-leak", NULL };
	int jfd = mkstemp(json), lfd = mkstemp(log), in, out;
	const char *j;
	pid_t target, cli;

	ck_assert_int_ge(jfd, 0);
	ck_assert_int_ge(lfd, 0);
	close(jfd);
	close(lfd);
	if (!bpf_usable())
		goto out;
	target = waiting_leaker_io(&in, &out);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
	cli = start_cli(argv, log, -1);
	wait_text(log, " open now;", 5);
	leaker_leak_one(in, out);
	close(in); /* the target exits ... */
	ck_assert_int_eq(waitpid(target, NULL, 0), target);
	ck_assert_int_eq(wait_exit(cli, 3), 23); /* ... leaking 1, 2 more open
						    since before attach */
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"target_exited\": true") &&
			      strstr(j, "\"interrupted\": false"),
		      "%s", j);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 3);
	ck_assert_int_eq(json_num(j, "leaked"), 1);
	/* The last -i line counts what the summary counts (it said "live 0"
	 * after the exit while the summary said 3 left open: issue 16). */
	last_interval_agrees(slurp(log), "eventfd",
			     "2 at start + 1 opened - 0 closed = 3 left open");
	no_progs_left(target);
	close(out);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* The kernel-side filter: another process's eventfds never show up. */
START_TEST(test_cli_only_target)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX",
	     log[] = "/tmp/fdtrack-test-XXXXXX";
	char pidarg[16];
	char *argv[] = { "fdtrack", "-p",  pidarg,   "-i", "0.05",
			 "-d",	    "0.6", "--json", json, NULL };
	int jfd = mkstemp(json), lfd = mkstemp(log), in, fds[20];
	const char *j;
	pid_t target, cli;

	ck_assert_int_ge(jfd, 0);
	ck_assert_int_ge(lfd, 0);
	close(jfd);
	close(lfd);
	if (!bpf_usable())
		goto out;
	target = waiting_leaker(&in);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
	cli = start_cli(argv, log, -1);
	wait_text(log, " open now;", 5);
	for (int i = 0; i < 20; i++) /* this process: a bystander */
		fds[i] = efd();
	for (int i = 0; i < 10; i++)
		close(fds[i]);
	ck_assert_int_eq(wait_exit(cli, 3), 0);
	j = slurp(json);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "closes", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "opened_outside_syscalls", "eventfd"), 0);
	ck_assert_int_eq(json_kind(j, "at_start", "eventfd"), 2);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), 2);
	for (int i = 10; i < 20; i++)
		close(fds[i]);
	close(in);
	waitpid(target, NULL, 0);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* Every way out releases the BPF objects: nothing pinned, no program of
 * ours still loaded (signals: test_cli_signals). */
START_TEST(test_cli_no_leftovers)
{
	char json[] = "/tmp/fdtrack-test-XXXXXX";
	char pidarg[16];
	char *ok[] = { "fdtrack",	"--json", json, "--",
		       FDT_LEAKER_PATH, "0",	  "3",	NULL };
	char *leak[] = { "fdtrack", "--json",	     json, "--fail-on-leak",
			 "--",	    FDT_LEAKER_PATH, "1",  NULL };
	char *fail[] = { "fdtrack", "--json",		json,
			 "--",	    "/nonexistent/cmd", NULL };
	char *bypid[] = { "fdtrack", "-p", pidarg, "-d", "0.2", NULL };
	char *const *runs[] = { ok, leak };
	int want[] = { 0, 23 }, pins = bpffs_entries(), fd = mkstemp(json), in;
	pid_t target;

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (!bpf_usable())
		goto out;
	for (int i = 0; i < 2; i++) {
		int rc = run_cli(runs[i], NULL, 0);

		ck_assert_msg(rc == want[i], "run %d: exit %d", i, rc);
		target = json_num(slurp(json), "pid");
		no_progs_left(target);
		ck_assert_int_eq(bpffs_entries(), pins);
	}
	/* a command that cannot start is fdtrack's error: no report */
	unlink(json);
	unsigned int since = newest_prog_id();
	ck_assert_int_eq(run_cli(fail, NULL, 0), 2);
	ck_assert_int_ne(access(json, F_OK), 0);
	no_progs_left_since(since);
	ck_assert_int_eq(bpffs_entries(), pins);
	target = waiting_leaker(&in);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
	ck_assert_int_eq(run_cli(bypid, NULL, 0), 0);
	no_progs_left(target);
	ck_assert_int_eq(bpffs_entries(), pins);
	close(in);
	waitpid(target, NULL, 0);
out:
	unlink(json);
}
END_TEST

/* Under sudo, CMD runs as the invoking user without extra groups. */
START_TEST(test_cli_sudo_user)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX";
	char *as_user[] = { "fdtrack", "--", FDT_LEAKER_PATH, "--ids", NULL };
	char *as_root[] = { "fdtrack",	     "--run-as-root", "--",
			    FDT_LEAKER_PATH, "--ids",	      NULL };
	char *bad[] = { "fdtrack", "--", FDT_LEAKER_PATH, "--ids", NULL };
	int fd = mkstemp(log);

	ck_assert_int_ge(fd, 0);
	close(fd);
	if (geteuid() != 0 || !bpf_usable()) {
		printf("SKIP: needs root and BPF\n");
		goto out;
	}
	setenv("SUDO_UID", "65534", 1);
	setenv("SUDO_GID", "65534", 1);
	/* fdtrack itself has supplementary groups (as sudo leaves root's) */
	for (int i = 0; i < 2; i++) {
		gid_t groups[2] = { 4, 24 };
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgroups(2, groups))
				_exit(97);
			_exit(wait_exit(start_cli(i ? as_root : as_user, log,
						  -1),
					10));
		}
		ck_assert_int_eq(wait_exit(pid, 15), 0);
		ck_assert_msg(strstr(slurp(log),
				     i ? "uid 0 gid 0 groups 2\n"
				       : "uid 65534 gid 65534 groups 0\n"),
			      "%s: %s", i ? "--run-as-root" : "as SUDO_UID",
			      slurp(log));
	}
	setenv("SUDO_UID", "-1", 1);
	ck_assert_int_eq(run_cli(bad, log, 0), 2);
	ck_assert_msg(strstr(slurp(log), "SUDO_UID"), "%s", slurp(log));
	unsetenv("SUDO_UID");
	unsetenv("SUDO_GID");
out:
	unlink(log);
}
END_TEST

/* Suppressions, as valgrind's: a leak opened under a function a pattern
 * names (glob, demangled names; obj: a module) is listed as suppressed
 * and not counted; --suppressions reads patterns from a file; an
 * unreadable file is fdtrack's failure (2); a pattern matching nothing
 * changes nothing. */
START_TEST(test_cli_suppressions)
{
	char json[32], file[32];
	char *named[] = { "fdtrack",
			  "--suppress",
			  "leak_eventfds",
			  "--fail-on-leak",
			  "--json",
			  json,
			  "--",
			  FDT_LEAKER_PATH,
			  "4",
			  "3",
			  NULL };
	char *from_file[] = { "fdtrack", "--suppressions",
			      file,	 "--fail-on-leak",
			      "--json",	 json,
			      "--",	 FDT_LEAKER_PATH,
			      "4",	 NULL };
	char *no_match[] = { "fdtrack",	    "--suppress",
			     "no_such_fn*", "--fail-on-leak",
			     "--",	    FDT_LEAKER_PATH,
			     "4",	    NULL };
	char *missing[] = { "fdtrack", "--suppressions", "/nonexistent/supp",
			    "--",      FDT_LEAKER_PATH,	 "1",
			    NULL };
	char *by_module[] = { "fdtrack",    "--suppress",
			      "obj:leak?r", "--fail-on-leak",
			      "--",	    FDT_LEAKER_PATH,
			      "2",	    NULL };
	char *cxx[] = { "fdtrack",
			"--suppress",
			"executor::SleepNotifier::*",
			"--fail-on-leak",
			"--json",
			json,
			"--",
			FDT_CXX_PATH,
			NULL };
	const char *j;
	FILE *f;

	temp_name(json);
	temp_name(file);
	if (!bpf_usable())
		goto out;
	ck_assert_int_eq(run_cli(named, file, 0), 0);
	ck_assert_msg(strstr(slurp(file), "no fd leaked (4 suppressed)"),
		      "%.3000s", slurp(file));
	ck_assert_ptr_nonnull(f = fopen(file, "w"));
	fputs("# the leaker's own\n\n   leak_*  \n", f);
	fclose(f);
	j = slurp(json);
	ck_assert_int_eq(json_num(strstr(j, "\"totals\""), "leaked"), 0);
	ck_assert_int_eq(json_proc_kind(strstr(j, "\"totals\""), "eventfd",
					"suppressed"),
			 4);
	ck_assert_msg(strstr(j, "\"suppressions\": [\"leak_eventfds\"]"), "%s",
		      j);
	ck_assert_int_eq(run_cli(from_file, NULL, 0), 0);
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"suppressions\": [\"leak_*\"]"), "%s", j);
	ck_assert_int_eq(json_proc_kind(strstr(j, "\"totals\""), "eventfd",
					"suppressed"),
			 4);
	ck_assert_int_eq(run_cli(no_match, NULL, 0), 23);
	ck_assert_int_eq(run_cli(missing, NULL, 0), 2);
	ck_assert_int_eq(run_cli(by_module, NULL, 0), 0);
	ck_assert_int_eq(run_cli(cxx, NULL, 0), 0);
	j = slurp(json);
	ck_assert_int_eq(json_num(strstr(j, "\"totals\""), "leaked"), 0);
	ck_assert_int_ge(json_proc_kind(strstr(j, "\"totals\""), "eventfd",
					"suppressed"),
			 1);
out:
	unlink(json);
	unlink(file);
}
END_TEST

/* Each leaked fd is named, as valgrind names it: what /proc/PID/fd/N
 * said at the exit stop (-- CMD), or while the process runs (-d); an
 * eventfd's anonymous inode is not a name; a socket is told by its
 * addresses (/proc/PID/net). */
START_TEST(test_cli_fd_names)
{
	char json[32];
	char *at_exit[] = { "fdtrack",
			    "--json",
			    json,
			    "--",
			    "sh",
			    "-c",
			    "exec 7</etc/hostname 9</dev/null",
			    NULL };
	char *running[] = { "fdtrack", "-d", "1",
			    "--json",  json, "--",
			    "sh",      "-c", "exec 7</etc/hostname; sleep 10",
			    NULL };
	char *anon[] = { "fdtrack",	  "--json", json, "--",
			 FDT_LEAKER_PATH, "1",	    NULL };
	char *sockets[] = { "fdtrack",
			    "--json",
			    json,
			    "--",
			    "python3",
			    "-c",
			    "import os, socket\n"
			    "s = socket.socket()\n"
			    "s.bind(('127.0.0.1', 0)); s.listen()\n"
			    "c = socket.create_connection(s.getsockname())\n"
			    "p = socket.socketpair()\n"
			    "os._exit(0)",
			    NULL };
	/* exit_group with a thread still running: no thread stops alone */
	char *threaded[] = { "fdtrack",
			     "--json",
			     json,
			     "--",
			     "python3",
			     "-c",
			     "import os, threading, time\n"
			     "threading.Thread(target=time.sleep, args=(30,),"
			     " daemon=True).start()\n"
			     "f = open('/etc/hostname')\n"
			     "os._exit(0)",
			     NULL };
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		goto out;
	ck_assert_int_eq(run_cli(at_exit, NULL, 0), 0);
	j = slurp(json);
	ck_assert_msg(strstr(j,
			     "\"fds\": [7], \"fd_names\": [\"/etc/hostname\"]"),
		      "%.3000s", j);
	ck_assert_msg(strstr(j, "\"fds\": [9], \"fd_names\": [\"/dev/null\"]"),
		      "%.3000s", j);
	run_cli(running, NULL, 0);
	j = slurp(json);
	ck_assert_msg(strstr(j,
			     "\"fds\": [7], \"fd_names\": [\"/etc/hostname\"]"),
		      "%.3000s", j);
	/* killed by fdtrack when -d ended: still open, not leaked */
	ck_assert_int_eq(json_num(strstr(j, "\"totals\""), "leaked"), 0);
	ck_assert_int_eq(json_num(strstr(j, "\"totals\""), "still_open"), 1);
	ck_assert_msg(strstr(j, "\"still_open\": [\n"), "%.3000s", j);
	ck_assert_int_eq(run_cli(anon, NULL, 0), 0);
	j = slurp(json);
	ck_assert_msg(strstr(j,
			     "\"kind\": \"eventfd\", \"count\": 1, \"fds\": ["),
		      "%.3000s", j);
	ck_assert_msg(!strstr(j, "anon_inode"), "%.3000s", j);
	/* sockets by their addresses, as valgrind names them */
	if (system("python3 -c '' 2>/dev/null")) {
		ck_assert_msg(!require_bpf(), "no python3");
		goto out;
	}
	run_cli(sockets, NULL, 0);
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"TCP listening on 127.0.0.1:"), "%.3000s", j);
	ck_assert_msg(strstr(j, "\"TCP 127.0.0.1:"), "%.3000s", j);
	ck_assert_msg(strstr(j, "\"UNIX (unnamed)\", \"UNIX (unnamed)\""),
		      "%.3000s", j);
	run_cli(threaded, NULL, 0);
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"fd_names\": [\"/etc/hostname\"]"), "%.3000s",
		      j);
out:
	unlink(json);
}
END_TEST

/* --no-stacks: said once, not per group; no "opened at:" without a
 * stack; the JSON says why "stack" is empty; every group names its fds,
 * eventfds (anonymous inodes) and the "open since the start" ones too. */
START_TEST(test_cli_no_stacks)
{
	char json[32], log[32];
	char *argv[] = { "fdtrack",	  "--no-stacks", "--json", json, "--",
			 FDT_LEAKER_PATH, "2",		 "3",	   NULL };
	char *stacks[] = { "fdtrack",	    "--json", json, "--",
			   FDT_LEAKER_PATH, "1",      NULL };
	char *sup[] = { "fdtrack", "--no-stacks", "--suppress", "x",
			"--",	   "true",	  NULL };
	char *follow[] = { "fdtrack", "-f", "--", "sh", "-c", "true; true",
			   NULL };
	const char *t, *j, *first;

	temp_name(json);
	temp_name(log);
	/* suppressions match frames: refused with --no-stacks (usage) */
	ck_assert_int_eq(run_cli(sup, log, 0), 2);
	t = slurp(log);
	ck_assert_msg(strstr(t, "cannot work with --no-stacks"), "%s", t);
	if (!bpf_usable())
		goto out;
	ck_assert_int_eq(run_cli(argv, log, 0), 0);
	t = slurp(log);
	first = strstr(t, "opening stacks are off (--no-stacks)");
	ck_assert_msg(first && !strstr(first + 1, "opening stacks are off"),
		      "%s", t);
	ck_assert_msg(!strstr(t, "no stack"), "%s", t);
	ck_assert_msg(!strstr(t, "opened at:"), "%s", t);
	first = strstr(t, "2 eventfd fds open:\n   fd ");
	ck_assert_msg(first && (first = strstr(first, ": anon_inode:[eventfd]\n"
							  "   fd ")) &&
			      strstr(first + 1, ": anon_inode:[eventfd]\n"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fdtrack: 2 fds leaked in 1 process;"), "%s",
		      t);
	/* the "open since the start" groups name their fds too */
	first = strstr(t, "open since the start");
	ck_assert_msg(first && strstr(first, ")\n   fd "), "%s", t);
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"stack_absent\": \"stacks_off\""), "%s", j);
	/* with stacks: no note, and a stack where there was none */
	ck_assert_int_eq(run_cli(stacks, log, 0), 0);
	t = slurp(log);
	ck_assert_msg(!strstr(t, "stacks are off"), "%s", t);
	ck_assert_msg(strstr(t, "fdtrack: 1 fd leaked in 1 process;"), "%s",
		      t);
	j = slurp(json);
	ck_assert_msg(!strstr(j, "stacks_off"), "%s", j);
	/* -f's last line: the count of processes, then the leaks */
	ck_assert_int_eq(run_cli(follow, log, 0), 0);
	t = slurp(log);
	ck_assert_msg(strstr(t, " followed (0 still running); no fd leaked;"),
		      "%s", t);
out:
	unlink(json);
	unlink(log);
}
END_TEST

/* -i with -d: the tick that falls on the end is printed once (by the
 * report), not twice (issue 25: -i 2 -d 6 printed its last line twice). */
START_TEST(test_cli_interval_end)
{
	char log[32];
	char *argv[] = { "fdtrack", "-i", "0.5", "-d", "1.5", "--",
			 "sleep",   "30", NULL };
	const char *t, *line;
	int n = 0;

	temp_name(log);
	if (!bpf_usable())
		goto out;
	run_cli(argv, log, 0);
	t = slurp(log);
	for (line = t; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (line[0] >= '0' && line[0] <= '9' && line[2] == ':')
			n++;
	/* ticks at 0.5 and 1.0, then the end's line at 1.5 */
	ck_assert_msg(n >= 2 && n <= 3, "%d interval lines:\n%s", n, t);
out:
	unlink(log);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_cli");
	TCase *tc = tcase_create("cli");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_cli_leaker);
	tcase_add_test(tc, test_cli_pid_duration);
	tcase_add_test(tc, test_cli_usage);
	tcase_add_test(tc, test_cli_signals);
	tcase_add_test(tc, test_cli_flood);
	tcase_add_test(tc, test_cli_hostile_input);
	tcase_add_test(tc, test_cli_pid_exits);
	tcase_add_test(tc, test_cli_only_target);
	tcase_add_test(tc, test_cli_no_leftovers);
	tcase_add_test(tc, test_cli_sudo_user);
	tcase_add_test(tc, test_cli_suppressions);
	tcase_add_test(tc, test_cli_fd_names);
	tcase_add_test(tc, test_cli_no_stacks);
	tcase_add_test(tc, test_cli_interval_end);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
