/*
 * fdtrack's environment errors, as the library and the CLI report them: no
 * kernel BTF, not root (the library's error, the CLI's exit 2, and the way
 * a user would meet it: setpriv to nobody). Their message says what is
 * missing and what to do.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_runner.h"
#include "fdtrack_testlib.h"

START_TEST(test_no_btf)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX";
	char *argv[] = { "fdtrack", "-p", "1", NULL };
	struct fdtrack *t = NULL;
	int fd = mkstemp(log);

	ck_assert_int_ge(fd, 0);
	close(fd);
	setenv("FDTRACK_BTF", "/nonexistent/vmlinux", 1);
	ck_assert_int_eq(fdtrack_open(getpid(), NULL, &t), -ENOENT);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(fdtrack_error(), "BTF"), "%s", fdtrack_error());
	ck_assert_int_eq(run_cli(argv, log, 0), 2);
	ck_assert_msg(strstr(slurp(log), "no kernel BTF"), "%s", slurp(log));
	unsetenv("FDTRACK_BTF");
	unlink(log);
}
END_TEST

START_TEST(test_not_root)
{
	char log[] = "/tmp/fdtrack-test-XXXXXX";
	char *argv[] = { "fdtrack", "-p", "1", NULL };
	int fd = mkstemp(log), st;
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	close(fd);
	chmod(log, 0666);
	if (geteuid() != 0) {
		printf("SKIP: not root, cannot drop privileges to test\n");
		unlink(log);
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct fdtrack *t;
		int err;

		if (setgid(65534) || setuid(65534))
			_exit(97);
		err = fdtrack_open(getpid(), NULL, &t);
		if (err != -EPERM && err != -EACCES)
			_exit(10);
		if (!strstr(fdtrack_error(), "root") ||
		    !strstr(fdtrack_error(), "CAP_BPF"))
			_exit(11);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "unprivileged fdtrack_open: status %d", st);
	ck_assert_int_eq(run_cli(argv, log, 65534), 2);
	ck_assert_msg(strstr(slurp(log), "CAP_BPF"), "%s", slurp(log));
	/* the way a user would: setpriv to nobody, no groups */
	if (access("/usr/bin/setpriv", X_OK) == 0) {
		char *sp[] = { "setpriv",	"--reuid=65534",
			       "--regid=65534", "--clear-groups",
			       FDT_CLI_PATH,	"--",
			       "true",		NULL };

		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			int o = open(log, O_WRONLY | O_TRUNC);

			dup2(o, 1);
			dup2(o, 2);
			execv("/usr/bin/setpriv", sp);
			_exit(98);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2,
			      "setpriv fdtrack: status %d: %s", st, slurp(log));
		ck_assert_msg(strstr(slurp(log), "CAP_BPF") &&
				      strstr(slurp(log), "CAP_PERFMON") &&
				      strstr(slurp(log), "root"),
			      "%s", slurp(log));
	}
	unlink(log);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_env");
	TCase *tc = tcase_create("env");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_no_btf);
	tcase_add_test(tc, test_not_root);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
