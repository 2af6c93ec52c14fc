/*
 * fdtrack CLI tests against programs nobody wrote for fdtrack (a shell
 * pipeline, Python's asyncio) and small ones that do what such programs do
 * (fork and exec, pass fds with SCM_RIGHTS), under -f; the exit status
 * rules; a process at this machine's fd limit; a table of fdtrack's own
 * that is full.
 *
 * Without BPF the tests skip with the reason; with FDTRACK_REQUIRE_BPF=1
 * (CI) a skip is a failure.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_runner.h"
#include "clock.h"
#include "fdtrack_testlib.h"

/* ---- the exit status ------------------------------------------------- */

/* fdtrack's own failure 2 with one line; CMD's status otherwise, 128+N for
 * a signal; the leak code under --fail-on-leak whatever CMD's status. */
START_TEST(test_exit_status)
{
	char log[64], plain[64];
	char *missing[] = { "fdtrack", "--", "/nonexistent/cmd", NULL };
	char *not_exec[] = { "fdtrack", "--", plain, NULL };
	char *exit3[] = { "fdtrack", "--", "sh", "-c", "exit 3", NULL };
	char *segv[] = { "fdtrack", "--", "sh", "-c", "kill -SEGV $$", NULL };
	char *leak[] = { "fdtrack", "--fail-on-leak",
			 "--",	    FDT_LEAKER_PATH,
			 "1",	    NULL };
	char *leak42[] = { "fdtrack",
			   "--fail-on-leak",
			   "--leak-exit-code",
			   "42",
			   "--",
			   FDT_LEAKER_PATH,
			   "1",
			   NULL };
	char *leak_unchecked[] = { "fdtrack", "--", FDT_LEAKER_PATH, "1",
				   NULL };
	char *child_leak_exit3[] = { "fdtrack",
				     "-f",
				     "--fail-on-leak",
				     "--",
				     "sh",
				     "-c",
				     FDT_LEAKER_PATH " 1; exit 3",
				     NULL };
	char *child_exit3[] = { "fdtrack", "-f", "--",
				"sh",	   "-c", FDT_LEAKER_PATH " 1; exit 3",
				NULL };

	char want[128];
	int fd;

	temp_name(log);
	temp_name(plain);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(run_cli(missing, log, 0), 2);
	ck_assert_str_eq(slurp(log), "fdtrack: cannot run '/nonexistent/cmd': "
				     "No such file or directory\n");
	fd = open(plain, O_WRONLY | O_CREAT, 0644); /* no x bit: EACCES */
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(run_cli(not_exec, log, 0), 2);
	snprintf(want, sizeof(want),
		 "fdtrack: cannot run '%s': Permission "
		 "denied\n",
		 plain);
	ck_assert_str_eq(slurp(log), want);
	unlink(plain);
	ck_assert_int_eq(run_cli(exit3, NULL, 0), 3);
	ck_assert_int_eq(run_cli(segv, NULL, 0), 128 + 11);
	ck_assert_int_eq(run_cli(leak, NULL, 0), 23);
	ck_assert_int_eq(run_cli(leak42, NULL, 0), 42);
	ck_assert_int_eq(run_cli(leak_unchecked, NULL, 0), 0);
	ck_assert_int_eq(run_cli(child_leak_exit3, NULL, 0), 23);
	ck_assert_int_eq(run_cli(child_exit3, NULL, 0), 3);
	unlink(log);
}
END_TEST

/* A table of fdtrack's own too small: the text, the JSON and the exit
 * status say so (2), unless a leak was found first (the leak code). */
START_TEST(test_table_full)
{
	char json[64], log[64];
	char *argv[] = { "fdtrack", "--max-fds",     "50",  "--json", json,
			 "--",	    FDT_LEAKER_PATH, "100", NULL };
	char *failing[] = { "fdtrack", "--max-fds", "50", "--fail-on-leak",
			    "--json",  json,	    "--", FDT_LEAKER_PATH,
			    "100",     NULL };
	const char *j;

	temp_name(json);
	temp_name(log);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(run_cli(argv, log, 0), 2);
	ck_assert_msg(strstr(slurp(log), "NOT EXACT") &&
			      strstr(slurp(log), "--max-fds"),
		      "%s", slurp(log));
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"exact\": false") && strstr(j, "--max-fds"),
		      "%s", j);
	ck_assert_int_eq(run_cli(failing, NULL, 0), 23);
	unlink(json);
	unlink(log);
}
END_TEST

/* An fd io_uring opened (no syscall did) and still open at exit: found by
 * the exit walk, counted as opened outside syscalls, and a leak. */
START_TEST(test_opened_outside_at_exit)
{
	char json[64];
	char *argv[] = { "fdtrack",	  "-k",		  "chr,io_uring",
			 "--json",	  json,		  "--",
			 FDT_LEAKER_PATH, "--uring-open", NULL };
	const char *tot;

	temp_name(json);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(run_cli(argv, NULL, 0), 0);
	tot = strstr(slurp(json), "\"totals\"");
	ck_assert_ptr_nonnull(tot);
	ck_assert_int_eq(json_proc_kind(tot, "chr", "opened_outside_syscalls"),
			 1);
	ck_assert_int_eq(json_proc_kind(tot, "chr", "leaked"), 1);
	ck_assert_int_eq(json_proc_kind(tot, "io_uring", "leaked"), 1);
	unlink(json);
}
END_TEST

/* ---- one process at the machine's fd limit ----------------------------- */

/* As many eventfds as the hard RLIMIT_NOFILE allows (about 19,990 here):
 * every one counted, reported, with its opening stack. */
START_TEST(test_at_fd_limit)
{
	char json[64], log[64];
	char *argv[] = { "fdtrack",	  "--json", json, "--",
			 FDT_LEAKER_PATH, "--many", "0",  NULL };
	struct rlimit rl;
	const char *j, *g;
	long many = 0;
	double t0;

	temp_name(json);
	temp_name(log);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	t0 = mono_s();
	ck_assert_int_eq(run_cli(argv, log, 0), 0);
	ck_assert_int_eq(sscanf(slurp(log), "many %ld", &many), 1);
	printf("at the fd limit (hard %llu): %ld eventfds leaked, fdtrack run "
	       "%.2f s\n",
	       (unsigned long long)rl.rlim_max, many, mono_s() - t0);
	ck_assert_int_gt(many, (long)rl.rlim_max - 64);
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"exact\": true"), "not exact");
	ck_assert_int_eq(json_num(j, "leaked"), many);
	ck_assert_int_eq(json_kind(j, "opens", "eventfd"), many);
	ck_assert_int_eq(json_kind(j, "open_at_exit", "eventfd"), many);
	/* one group: all of them, with the leaking function */
	g = strstr(j, "\"leaks\": [");
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(json_num(g, "count"), many);
	ck_assert_msg(strstr(g, "leak_eventfds (leaker.c:"), "no stack");
	unlink(json);
	unlink(log);
}
END_TEST

/* ---- -f: every process ------------------------------------------------- */

/* A shell pipeline: each process with its own fds, pipes passed between
 * them not leaks; the one stage that leaks is named, with its stack. */
START_TEST(test_shell_pipeline)
{
	char json[64];
	char *argv[] = { "fdtrack",
			 "-f",
			 "--fail-on-leak",
			 "--json",
			 json,
			 "--",
			 "sh",
			 "-c",
			 FDT_LEAKER_PATH
			 " 2 | cat >/dev/null; "
			 "seq 50 | sort -rn | head -1 >/dev/null",
			 NULL };
	const char *j, *p;

	temp_name(json);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(run_cli(argv, NULL, 0), 23);
	j = slurp(json);
	ck_assert_int_eq(json_nprocesses(j), 6); /* sh, leaker, cat, seq, sort,
						    head */
	ck_assert_int_eq(json_num(j, "leaked"), 2);
	ck_assert_int_eq(json_num(j, "leaking_processes"), 1);
	ck_assert_int_eq(json_num(j, "command_status"), 0);
	p = json_process(j, FDT_LEAKER_PATH " 2");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(json_proc_kind(p, "eventfd", "leaked"), 2);
	ck_assert_msg(strstr(p, "leak_eventfds (leaker.c:"), "%s", p);
	/* its stdout was the pipe: inherited, not a leak */
	ck_assert_int_eq(json_proc_kind(p, "pipe", "leaked"), 0);
	ck_assert_int_ge(json_proc_kind(p, "pipe", "open_at_exit"), 1);
	for (const char *cmd = "cat"; cmd;
	     cmd = !strcmp(cmd, "cat") ? "sort -rn" : NULL) {
		p = json_process(j, cmd);
		ck_assert_msg(p, "no process '%s' in\n%s", cmd, j);
		ck_assert_int_eq(json_num(p, "leaked"), 0);
		ck_assert_int_eq(json_num(p, "exit_status"), 0);
	}
	/* sh made the pipes and closed its ends */
	p = json_process(j, "sh -c");
	ck_assert_int_ge(json_proc_kind(p, "pipe", "opens"), 4);
	ck_assert_int_eq(json_num(p, "leaked"), 0);
	unlink(json);
}
END_TEST

/* fork, vfork+exec, threads: each process its own table; a child closing
 * what it inherited does not close the parent's; children that leak leak
 * what they opened; a thread's fds are its process's. */
START_TEST(test_forking_program)
{
	char json[64];
	char *argv[] = { "fdtrack",	  "-f", "-k", "eventfd",
			 "--json",	  json, "--", FDT_FORKER_PATH,
			 FDT_LEAKER_PATH, NULL };
	const char *j, *p;

	temp_name(json);
	if (!bpf_usable())
		return;
	/* forker exits 0 */
	ck_assert_int_eq(cli_rc(run_cli(argv, NULL, 0), json), 0);
	j = slurp(json);
	ck_assert_int_eq(json_nprocesses(j), 4);
	ck_assert_int_eq(json_num(j, "leaked"), 1 + 4 + 2);
	/* the parent: 3 held + 1 from its thread + the leak; the tidy child's
	 * close_range closed its copies, not these */
	p = json_process(j, FDT_FORKER_PATH);
	ck_assert_int_eq(json_proc_kind(p, "eventfd", "opens"), 5);
	ck_assert_int_eq(json_proc_kind(p, "eventfd", "closes"), 5);
	ck_assert_int_eq(json_proc_kind(p, "eventfd", "open_at_exit"), 1);
	ck_assert_int_eq(json_proc_kind(p, "eventfd",
					"closed_outside_syscalls"),
			 0);
	ck_assert_msg(strstr(p, "leak_in_parent (forker.c:"), "%s", p);
	/* the leaky child: 4 of its own, 3 inherited (not leaks) */
	p = strstr(j, "open_in_child (forker.c:");
	ck_assert_msg(p, "no stack of the leaky child:\n%s", j);
	/* the exec'd leaker */
	p = json_process(j, "leaker 2");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(json_proc_kind(p, "eventfd", "leaked"), 2);
	ck_assert_int_eq(json_proc_kind(p, "eventfd", "at_start"), 3);
	ck_assert_msg(strstr(p, "leak_eventfds (leaker.c:"), "%s", p);
	unlink(json);
}
END_TEST

/* fds passed over a unix socket: the receiver's opens (recvmsg and
 * recvmmsg), with the receiving function in the stack of the one it
 * leaks; nothing filed outside syscalls. */
START_TEST(test_scm_rights_program)
{
	char json[64];
	char *argv[] = { "fdtrack", "-f", "--fail-on-leak", "--json",
			 json,	    "--", FDT_SCM_PATH,	    NULL };
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(run_cli(argv, NULL, 0), 23);
	j = slurp(json);
	ck_assert_int_eq(json_nprocesses(j), 2);
	ck_assert_int_eq(json_num(j, "leaked"), 1);
	ck_assert_msg(strstr(j, "recv_with_recvmmsg (scm_rights.c:"), "%s", j);
	/* the parent made 5 eventfds, the child received them (and a pipe
	 * end and /dev/null) */
	ck_assert_int_eq(json_proc_kind(strstr(j, "\"totals\""), "eventfd",
					"opens"),
			 5 + 5);
	ck_assert_int_eq(json_proc_kind(strstr(j, "\"totals\""), "eventfd",
					"opened_outside_syscalls"),
			 0);
	ck_assert_int_eq(json_proc_kind(strstr(j, "\"totals\""), "chr",
					"opened_outside_syscalls"),
			 0);
	unlink(json);
}
END_TEST

/* Many short processes with small tables: a dead process's table and
 * entries are deleted once reported, so neither fills. */
START_TEST(test_many_short_processes)
{
	char json[64];
	char *argv[] = {
		"fdtrack",     "-f",
		"--max-procs", "8",
		"--max-fds",   "256",
		"--json",      json,
		"--",	       "sh",
		"-c",	       "for i in $(seq 150); do cat /dev/null; done",
		NULL
	};
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(cli_rc(run_cli(argv, NULL, 0), json), 0);
	j = slurp(json);
	ck_assert_msg(strstr(j, "\"exact\": true") ||
			      json_num(j, "runs_missed") > 0,
		      "%s", j);
	ck_assert_int_eq(json_nprocesses(j), 1 + 1 + 150); /* sh, seq, cats */
	ck_assert_int_eq(json_num(j, "leaked"), 0);
	unlink(json);
}
END_TEST

/* -p PID -f: the processes it starts after fdtrack attached are followed
 * (without ptrace: best effort for their symbols). */
START_TEST(test_pid_follow)
{
	char json[64], log[64], pidarg[16];
	char *argv[] = { "fdtrack", "-f",   "-p",	pidarg,
			 "--json",  json,   "--bpf-stats", NULL };
	int in[2];
	const char *j, *p;
	pid_t sh, cli;

	temp_name(json);
	temp_name(log);
	if (!bpf_usable())
		return;
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	sh = fork();
	ck_assert_int_ge(sh, 0);
	if (sh == 0) {
		dup2(in[0], 0);
		execl("/bin/sh", "sh", "-c", "read x; " FDT_LEAKER_PATH " 3",
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)sh);
	cli = start_cli(argv, log, -1);
	/* --bpf-stats prints once fdtrack_open() returned: attached, and the
	 * baseline snapshot taken (a sleep here lost under QEMU's TCG) */
	wait_text(log, "fdtrack: bpf load", 10);
	ck_assert_int_eq(write(in[1], "\n", 1), 1);
	close(in[1]);
	ck_assert_int_eq(waitpid(sh, NULL, 0), sh);
	ck_assert_int_eq(cli_rc(wait_exit(cli, 10), json), 0);
	j = slurp(json);
	ck_assert_int_eq(json_nprocesses(j), 2);
	p = json_process(j, FDT_LEAKER_PATH " 3");
	ck_assert_msg(p, "%s", j);
	ck_assert_int_eq(json_proc_kind(p, "eventfd", "leaked"), 3);
	unlink(json);
	unlink(log);
}
END_TEST

/* Python's asyncio, event loops never closed: K epoll fds and 2K sockets,
 * with the interpreter's C functions in their stacks. */
START_TEST(test_python_asyncio)
{
	char json[64];
	char *argv[] = { "fdtrack", "--fail-on-leak", "--json", json, "--",
			 "python3", FDT_ASYNCIO_PATH, "5",	NULL };
	const char *j;

	temp_name(json);
	if (!bpf_usable())
		return;
	if (access("/usr/bin/python3", X_OK) &&
	    system("python3 -c '' 2>/dev/null")) {
		ck_assert_msg(!require_bpf(), "no python3");
		return;
	}
	ck_assert_int_eq(run_cli(argv, NULL, 0), 23);
	j = slurp(json);
	ck_assert_int_eq(json_proc_kind(strstr(j, "\"totals\""), "epoll",
					"leaked"),
			 5);
	ck_assert_int_eq(json_proc_kind(strstr(j, "\"totals\""), "socket:unix",
					"leaked"),
			 10);
	ck_assert_msg(strstr(j, "epoll_create1") && strstr(j, "socketpair"),
		      "%s", j);
	unlink(json);
}
END_TEST

/* Fds a program left at 0-2 itself are not leaks unless --std-fds, as
 * valgrind --track-fds=yes: a shell's command substitution (the child
 * exits with the pipe at 1) and a Python daemon's /dev/null at 0 and 1. */
START_TEST(test_standard_streams)
{
	char json[64];
	const char *script =
		"x=$(echo hi); python3 -c 'import os; "
		"fd = os.open(\"/dev/null\", os.O_RDWR); os.dup2(fd, 0); "
		"os.dup2(fd, 1); os.close(fd)'";
	/* pipe and chr: a bash script (pyenv's python3 shim) keeps its
	 * script file open at 255 until it exits, a file leak */
	char *plain[] = {
		"fdtrack", "-f", "-k", "pipe,chr", "--fail-on-leak", "--json",
		json,	   "--", "sh", "-c",	   (char *)script,   NULL
	};
	char *counted[] = { "fdtrack",	"-f",	     "-k",
			    "pipe,chr", "--std-fds", "--fail-on-leak",
			    "--json",	json,	     "--",
			    "sh",	"-c",	     (char *)script,
			    NULL };
	const char *j, *tot;

	temp_name(json);
	if (!bpf_usable())
		return;
	if (system("python3 -c '' 2>/dev/null")) {
		ck_assert_msg(!require_bpf(), "no python3");
		return;
	}
	ck_assert_int_eq(run_cli(plain, NULL, 0), 0);
	j = slurp(json);
	tot = strstr(j, "\"totals\"");
	ck_assert_int_eq(json_num(tot, "leaked"), 0);
	ck_assert_int_ge(json_proc_kind(tot, "pipe", "open_std"), 1);
	ck_assert_int_ge(json_proc_kind(tot, "chr", "open_std"), 2);
	ck_assert_msg(strstr(j, "\"open_std\": [\n"), "no std group:\n%s", j);
	ck_assert_int_eq(run_cli(counted, NULL, 0), 23);
	j = slurp(json);
	tot = strstr(j, "\"totals\"");
	ck_assert_int_ge(json_num(tot, "leaked"), 3);
	ck_assert_int_eq(json_proc_kind(tot, "chr", "open_std"), 0);
	unlink(json);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_follow");
	TCase *tc = tcase_create("follow");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_exit_status);
	tcase_add_test(tc, test_table_full);
	tcase_add_test(tc, test_opened_outside_at_exit);
	tcase_add_test(tc, test_at_fd_limit);
	tcase_add_test(tc, test_shell_pipeline);
	tcase_add_test(tc, test_forking_program);
	tcase_add_test(tc, test_scm_rights_program);
	tcase_add_test(tc, test_python_asyncio);
	tcase_add_test(tc, test_standard_streams);
	tcase_add_test(tc, test_many_short_processes);
	tcase_add_test(tc, test_pid_follow);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
