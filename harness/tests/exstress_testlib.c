/* Running the real exstress from the end-to-end tests (exstress_testlib.h). */
#include <check.h>
#include "check_runner.h"
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exstress.h" /* EXS_SANITIZED */
#include "exstress_testlib.h"

/* TSan's interceptors have no frame pointers: fdtrack's user stacks stop
 * there, so opening stacks are not checked under TSan. */
char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* fdtrack required when CI says BPF must work; else take what there is. */
const char *probe_mode(void)
{
	const char *r = getenv("FDTRACK_REQUIRE_BPF");
	return r && strcmp(r, "1") == 0 ? "require" : "auto";
}

/* Non-zero: run() drops to this uid/gid in the child (root only). */
uid_t run_uid;

/* Run bin with args (NULL-terminated); fault = EXS_TEST_FAULT or NULL;
 * nofile > 0 sets RLIMIT_NOFILE; leaks = the run leaks on purpose (no
 * LeakSanitizer then). Adds --json and --quiet. */
struct run run(const char *bin, const char *fault, long nofile, int leaks,
	       const char *const *args)
{
	struct run r = { 0 };
	char jpath[] = "/tmp/exs-e2e-json-XXXXXX",
	     epath[] = "/tmp/exs-e2e-err-XXXXXX",
	     opath[] = "/tmp/exs-e2e-out-XXXXXX";
	int jfd = mkstemp(jpath), efd = mkstemp(epath), ofd = mkstemp(opath);
	ck_assert(jfd >= 0 && efd >= 0 && ofd >= 0);
	close(jfd);
	unlink(jpath); /* exists afterwards only if exstress wrote it */

	const char *argv[64];
	int n = 0, own_json = 0;
	argv[n++] = bin;
	for (int i = 0; args[i]; i++) {
		own_json |= strcmp(args[i], "--json") == 0;
		argv[n++] = args[i];
	}
	if (!own_json) {
		argv[n++] = "--json";
		argv[n++] = jpath;
	}
	argv[n] = NULL;

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(efd, 2);
		dup2(ofd, 1);
		/* nothing else of ours: fd counts and limits are exact */
		syscall(SYS_close_range, 3, ~0U, 0);
		if (fault)
			setenv("EXS_TEST_FAULT", fault, 1);
		else
			unsetenv("EXS_TEST_FAULT");
		/* ASan builds: leaking on purpose is the point of some runs;
		 * a quarantine would look like memory growth. */
		setenv("ASAN_OPTIONS",
		       leaks ? "detect_leaks=0:quarantine_size_mb=0"
			     : "quarantine_size_mb=0",
		       1);
		/* TSan sleeps 1 s at exit by default; timings are checked */
		setenv("TSAN_OPTIONS", "atexit_sleep_ms=0", 1);
		if (nofile > 0) {
			struct rlimit rl = { (rlim_t)nofile, (rlim_t)nofile };
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (run_uid &&
		    (setgroups(0, NULL) || setgid(run_uid) || setuid(run_uid)))
			_exit(126);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.json = slurp(jpath);
	r.err = slurp(epath);
	r.out = slurp(opath);
	unlink(jpath);
	unlink(epath);
	unlink(opath);
	close(efd);
	close(ofd);
	return r;
}

void run_free(struct run *r)
{
	free(r->json);
	free(r->err);
	free(r->out);
}

/* The number right after `key` (e.g. "\"eventfd\": ") at or after the
 * first occurrence of `section`. */
double num_after(const char *text, const char *section, const char *key)
{
	const char *p = strstr(text, section);
	ck_assert_msg(p, "no %s in:\n%.1500s", section, text);
	p = strstr(p, key);
	ck_assert_msg(p, "no %s after %s", key, section);
	p += strlen(key);
	if (strncmp(p, "null", 4) == 0)
		return -1;
	char *end;
	double v = strtod(p, &end);
	ck_assert_msg(end != p, "no number after %s", key);
	return v;
}

/* Every kind's count in the first "fd_growth" object is 0. */
void assert_no_fd_growth(const char *json)
{
	const char *p = strstr(json, "\"fd_growth\": {");
	ck_assert_msg(p, "no fd_growth in:\n%.1500s", json);
	const char *end = strchr(p, '}');
	ck_assert_ptr_nonnull(end);
	ck_assert_ptr_nonnull(strstr(p, "\"eventfd\": 0"));
	for (const char *q = p + strlen("\"fd_growth\": {");
	     (q = strstr(q, "\": ")) && q < end; q++)
		ck_assert_msg(q[3] == '0' && (q[4] == ',' || q[4] == '}'),
			      "fd growth: %.*s", (int)(end - p + 1), p);
}

/* A check's pass flag from the JSON checks array. */
int check_passed(const char *json, const char *name)
{
	char pat[96];
	snprintf(pat, sizeof(pat), "{\"name\": \"%s\", \"pass\": ", name);
	const char *p = strstr(json, pat);
	ck_assert_msg(p, "no check %s in:\n%.1500s", name, json);
	return strncmp(p + strlen(pat), "true", 4) == 0;
}

int fields(const char *line)
{
	int n = 1;
	for (; *line && *line != '\n'; line++)
		n += *line == ',';
	return n;
}

int count_files(const char *dir, const char *sub)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strstr(e->d_name, sub) != NULL;
	closedir(d);
	return n;
}
