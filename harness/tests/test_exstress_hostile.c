/*
 * Hostile input against both tools, exstress and fdtrack, as an adversarial
 * user tries them (issue 24): output paths that are no regular files,
 * names that are not UTF-8 or carry escape sequences, signals that must
 * stop a whole process tree or come twice, fds running out in the
 * warm-up, numbers with a leading zero, files that are no suppressions.
 * Each test fails without the fix it covers.
 *
 * fdtrack needs BPF: its parts skip without it, and fail instead under
 * FDTRACK_REQUIRE_BPF=1 (CI). Nothing here touches a real device: the
 * null and full devices are private nodes made with mknod in a temporary
 * directory, so a regression replaces those, never /dev/null.
 *
 * Long for a reason: one group, so CI runs all of it against both tools.
 */
#include <check.h>
#include "check_runner.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exstress_testlib.h"

#ifndef EXS_FDTRACK_CLI
#error "EXS_FDTRACK_CLI: path of build/bin/fdtrack"
#endif

/* ---- running the tools ---------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum {
	STDOUT_CLOSED = 1, /* the tool starts with fd 1 closed */
};

struct res {
	int rc;
	char *out, *err;
	double secs;
};

struct spawn_opts {
	int flags;
	uid_t uid;	   /* 0: as we are */
	long nofile;	   /* > 0: RLIMIT_NOFILE */
	const char *fault; /* EXS_TEST_FAULT */
	int leaks;	   /* leaks on purpose: no LeakSanitizer */
};

static char scratch[64]; /* this test's directory */

/* Start argv with stdin /dev/null, stdout and stderr into scratch files
 * (stdout closed with STDOUT_CLOSED), no other fd of ours; killed after
 * 60 s whatever happens. */
static pid_t start(const char *const *argv, const struct spawn_opts *so,
		   const char *tag)
{
	char out[128], err[128];
	snprintf(out, sizeof(out), "%s/.%s.out", scratch, tag);
	snprintf(err, sizeof(err), "%s/.%s.err", scratch, tag);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid)
		return pid;
	int in = open("/dev/null", O_RDONLY);
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(in, 0);
	dup2(o, 1);
	dup2(e, 2);
	syscall(SYS_close_range, 3, ~0U, 0);
	if (so && (so->flags & STDOUT_CLOSED))
		close(1);
	if (so && so->fault)
		setenv("EXS_TEST_FAULT", so->fault, 1);
	else
		unsetenv("EXS_TEST_FAULT");
	setenv("ASAN_OPTIONS",
	       so && so->leaks ? "detect_leaks=0:quarantine_size_mb=0"
			       : "quarantine_size_mb=0",
	       1);
	setenv("TSAN_OPTIONS", "atexit_sleep_ms=0", 1);
	unsetenv("SUDO_UID");
	unsetenv("SUDO_GID");
	if (so && so->nofile > 0) {
		struct rlimit rl = { (rlim_t)so->nofile, (rlim_t)so->nofile };
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (so && so->uid &&
	    (setgroups(0, NULL) || setgid(so->uid) || setuid(so->uid)))
		_exit(126);
	alarm(60);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

static struct res finish(pid_t pid, const char *tag, double t0)
{
	struct res r = { 0 };
	char out[128], err[128];
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r.secs = now_s() - t0;
	r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	snprintf(out, sizeof(out), "%s/.%s.out", scratch, tag);
	snprintf(err, sizeof(err), "%s/.%s.err", scratch, tag);
	r.out = slurp(out);
	r.err = slurp(err);
	unlink(out);
	unlink(err);
	if (!r.out)
		r.out = strdup("");
	if (!r.err)
		r.err = strdup("");
	return r;
}

static struct res xrun(const char *const *argv, const struct spawn_opts *so)
{
	double t0 = now_s();
	return finish(start(argv, so, "run"), "run", t0);
}

static void res_free(struct res *r)
{
	free(r->out);
	free(r->err);
}

/* Exactly one line on stderr, starting with the tool's name. */
static void one_line(const struct res *r, const char *tool)
{
	size_t n = strlen(r->err);
	ck_assert_msg(n > 0 && strchr(r->err, '\n') == r->err + n - 1 &&
			      !strncmp(r->err, tool, strlen(tool)),
		      "not one '%s' line:\n%s", tool, r->err);
}

static const char *p(const char *name) /* scratch/name, 4 at a time */
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", scratch, name);
	return buf[i];
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void scratch_new(void)
{
	snprintf(scratch, sizeof(scratch), "/tmp/exs-hostile-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
}

static void scratch_rm(void)
{
	nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static mode_t kind_of(const char *path) /* lstat's file type */
{
	struct stat st;
	return lstat(path, &st) ? 0 : st.st_mode & S_IFMT;
}

static int require_bpf(void)
{
	const char *r = getenv("FDTRACK_REQUIRE_BPF");
	return r && !strcmp(r, "1");
}

/* Can fdtrack trace here? Skips (prints why), or fails under CI. */
static int fdtrack_ok(void)
{
	static int ok = -1;
	if (ok < 0) {
		const char *argv[] = { EXS_FDTRACK_CLI, "--no-stacks", "--",
				       "true", NULL };
		struct res r = xrun(argv, NULL);
		ok = r.rc == 0;
		if (!ok)
			fprintf(stderr, "SKIP fdtrack parts: %s", r.err);
		res_free(&r);
	}
	ck_assert_msg(ok || !require_bpf(), "fdtrack cannot run here");
	return ok;
}

/* A private null (1,3) or full (1,7) device in scratch, or NULL. */
static const char *device(const char *name, unsigned minor)
{
	const char *path = p(name);
	if (mknod(path, S_IFCHR | 0666, makedev(1, minor)))
		return NULL;
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return NULL; /* a nodev mount */
	close(fd);
	return path;
}

/* A child reading the FIFO at path into path.read. */
static pid_t fifo_reader(const char *path)
{
	char out[600];
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	snprintf(out, sizeof(out), "%s.read", path);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[4096];
		ssize_t n;
		int in = open(path, O_RDONLY), o = creat(out, 0644);
		alarm(60);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(o, buf, (size_t)n) != n)
				_exit(1);
		_exit(0);
	}
	return pid;
}

static char *fifo_read(const char *path, pid_t reader)
{
	char out[600];
	int st;
	ck_assert_int_eq(waitpid(reader, &st, 0), reader);
	snprintf(out, sizeof(out), "%s.read", path);
	char *text = slurp(out);
	ck_assert_ptr_nonnull(text);
	return text;
}

/* ---- 1. outputs that are not regular files: written in place -------------------- */

/* The tool and the arguments that write its JSON to `path` (a short run). */
static void json_args(int fdtrack, const char *path, const char **argv)
{
	int n = 0;
	if (fdtrack) {
		argv[n++] = EXS_FDTRACK_CLI;
		argv[n++] = "--no-stacks";
		argv[n++] = "--json";
		argv[n++] = path;
		argv[n++] = "--";
		argv[n++] = "true";
	} else {
		argv[n++] = EXS_BIN;
		argv[n++] = "--scenario";
		argv[n++] = "idle";
		argv[n++] = "--iterations";
		argv[n++] = "20";
		argv[n++] = "--warmup";
		argv[n++] = "5";
		argv[n++] = "--quiet";
		argv[n++] = "--probe";
		argv[n++] = "off";
		argv[n++] = "--json";
		argv[n++] = path;
	}
	argv[n] = NULL;
}

#define JSON_MARK(fdtrack) \
	((fdtrack) ? "\"version\": 2" : "\"tool\": \"exstress\"")

START_TEST(out_not_regular)
{
	int fdtrack = _i; /* 0 exstress, 1 fdtrack */
	const char *tool = fdtrack ? "fdtrack: " : "exstress: ";
	const char *argv[24];
	struct res r;

	scratch_new();
	if (fdtrack && !fdtrack_ok())
		goto out;
	/* a device: written in place, still the device afterwards */
	const char *null = device("null", 3), *full = device("full", 7);
	if (null) {
		json_args(fdtrack, null, argv);
		r = xrun(argv, NULL);
		ck_assert_msg(r.rc == 0, "%s: exit %d\n%s", null, r.rc, r.err);
		ck_assert_int_eq(kind_of(null), S_IFCHR);
		res_free(&r);
	}
	if (full) { /* ENOSPC: an error that says so; still the device */
		json_args(fdtrack, full, argv);
		r = xrun(argv, NULL);
		ck_assert_msg(r.rc == 2 && strstr(r.err, "No space left"),
			      "exit %d\n%s", r.rc, r.err);
		ck_assert_int_eq(kind_of(full), S_IFCHR);
		res_free(&r);
	}
	/* a FIFO: its reader gets the report; still a FIFO */
	pid_t reader = fifo_reader(p("fifo"));
	json_args(fdtrack, p("fifo"), argv);
	r = xrun(argv, NULL);
	ck_assert_msg(r.rc == 0, "fifo: exit %d\n%s", r.rc, r.err);
	char *got = fifo_read(p("fifo"), reader);
	ck_assert_msg(strstr(got, JSON_MARK(fdtrack)), "the reader got:\n%s",
		      got);
	ck_assert_int_eq(kind_of(p("fifo")), S_IFIFO);
	free(got);
	res_free(&r);
	/* /dev/stdout, "-" and a link to /proc/self/fd/1: the tool's own
	 * stdout, the link still a link */
	ck_assert_int_eq(symlink("/proc/self/fd/1", p("self")), 0);
	const char *outs[] = { "/dev/stdout", "-", p("self") };
	for (int i = 0; i < 3; i++) {
		json_args(fdtrack, outs[i], argv);
		r = xrun(argv, NULL);
		ck_assert_msg(r.rc == 0 && strstr(r.out, JSON_MARK(fdtrack)),
			      "%s: exit %d, stdout:\n%.500s\nstderr:\n%s",
			      outs[i], r.rc, r.out, r.err);
		res_free(&r);
	}
	ck_assert_int_eq(kind_of("/dev/stdout"), S_IFLNK);
	ck_assert_int_eq(kind_of(p("self")), S_IFLNK);
	/* stdout closed: refused before anything runs, with a word */
	for (int i = 0; i < 2; i++) {
		struct spawn_opts so = { .flags = STDOUT_CLOSED };
		json_args(fdtrack, outs[i], argv);
		r = xrun(argv, &so);
		ck_assert_msg(r.rc == 2 &&
				      strstr(r.err,
					     "standard output is not open"),
			      "%s, stdout closed: exit %d\n%s", outs[i], r.rc,
			      r.err);
		one_line(&r, tool);
		res_free(&r);
	}
	/* a symlink to a file: the file is replaced, the link stays */
	FILE *f = fopen(p("target"), "w");
	fputs("old\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(p("target"), 0640), 0);
	ck_assert_int_eq(symlink("target", p("link")), 0);
	json_args(fdtrack, p("link"), argv);
	r = xrun(argv, NULL);
	ck_assert_msg(r.rc == 0, "link: exit %d\n%s", r.rc, r.err);
	ck_assert_int_eq(kind_of(p("link")), S_IFLNK);
	got = slurp(p("target"));
	ck_assert_msg(got && strstr(got, JSON_MARK(fdtrack)) &&
			      !strstr(got, "old"),
		      "target:\n%s", got);
	free(got);
	struct stat st;
	ck_assert_int_eq(stat(p("target"), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640); /* kept its mode */
	res_free(&r);
	ck_assert_int_eq(count_files(scratch, ".tmp-"), 0);
	/* a file of /proc: refused up front, for the true reason */
	json_args(fdtrack, "/proc/version", argv);
	r = xrun(argv, NULL);
	ck_assert_msg(r.rc == 2 && strstr(r.err, "/proc") &&
			      !strstr(r.err, "No such file"),
		      "exit %d\n%s", r.rc, r.err);
	one_line(&r, tool);
	res_free(&r);
out:
	scratch_rm();
}
END_TEST

/* ---- 8. the final rename: refused up front, else kept beside ---------------------- */

START_TEST(out_cannot_be_replaced)
{
	int fdtrack = _i;
	const char *tool = fdtrack ? "fdtrack: " : "exstress: ";
	const char *argv[24];

	scratch_new();
	/* Another user's file in a sticky directory: rename cannot replace
	 * it (writing it in place could), so the run is refused before it
	 * starts, and the file is left as it was. As nobody, when root. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(scratch, 01777), 0);
		FILE *f = fopen(p("theirs.json"), "w");
		fputs("theirs\n", f);
		fclose(f);
		ck_assert_int_eq(chmod(p("theirs.json"), 0666), 0);
		struct spawn_opts so = { .uid = 65534 };
		json_args(fdtrack, p("theirs.json"), argv);
		struct res r = xrun(argv, &so);
		ck_assert_msg(r.rc == 2 && strstr(r.err, "cannot be replaced"),
			      "exit %d\n%s", r.rc, r.err);
		one_line(&r, tool);
		ck_assert_msg(r.secs < 2, "refused only after %.1f s", r.secs);
		char *text = slurp(p("theirs.json"));
		ck_assert_str_eq(text, "theirs\n");
		free(text);
		res_free(&r);
		ck_assert_int_eq(chmod(scratch, 0700), 0);
	}
	if (fdtrack && !fdtrack_ok())
		goto out;
	/* The name turns into a directory during the run: the finished
	 * report is kept beside it and the message says where; the CSV,
	 * whose name is fine, keeps its rows. */
	const char *ex[] = { EXS_BIN,	"--scenario", "idle",	"--duration",
			     "1",	"--warmup",   "5",	"--quiet",
			     "--probe", "off",	      "--json", p("o.json"),
			     "--csv",	p("o.csv"),   NULL };
	const char *fd[] = {
		EXS_FDTRACK_CLI, "--no-stacks", "--json", p("o.json"), "--",
		"sleep",	 "1",		NULL
	};
	double t0 = now_s();
	pid_t pid = start(fdtrack ? fd : ex, NULL, "run");
	while (count_files(scratch, "o.json.tmp-") == 0 && now_s() - t0 < 10)
		usleep(10000);
	ck_assert_int_eq(mkdir(p("o.json"), 0755), 0);
	FILE *f = fopen(p("o.json/x"), "w");
	fclose(f);
	struct res r = finish(pid, "run", t0);
	ck_assert_msg(r.rc == 2, "exit %d\n%s", r.rc, r.err);
	const char *kept = strstr(r.err, "o.json.new-");
	ck_assert_msg(kept, "where is the report? %s", r.err);
	char name[600];
	snprintf(name, sizeof(name), "%s/%.*s", scratch,
		 (int)strcspn(kept, "\n; "), kept);
	char *text = slurp(name);
	ck_assert_msg(text && strstr(text, JSON_MARK(fdtrack)) &&
			      strstr(text, "\n}\n"),
		      "kept %s:\n%.300s", name, text);
	free(text);
	if (!fdtrack) {
		text = slurp(p("o.csv"));
		ck_assert_msg(text && strstr(text, "idle,fixed,"), "no CSV");
		free(text);
	}
	ck_assert_int_eq(count_files(scratch, ".tmp-"), 0);
	res_free(&r);
out:
	scratch_rm();
}
END_TEST

/* ---- 2, 3. names that are not UTF-8 or carry escapes ------------------------------- */

/* Is text valid UTF-8 (no overlongs, surrogates or code points above
 * U+10FFFF)? Written apart from common/json.c on purpose. */
static int valid_utf8(const unsigned char *s, size_t *bad_at)
{
	for (size_t i = 0; s[i];) {
		unsigned c = s[i], n = c < 0x80	  ? 0
				       : c < 0xc2 ? 9
				       : c < 0xe0 ? 1
				       : c < 0xf0 ? 2
				       : c < 0xf5 ? 3
						  : 9;
		unsigned cp = n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
		if (n == 9)
			goto bad;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			goto bad;
		i += n + 1;
		continue;
bad:
		*bad_at = i;
		return 0;
	}
	return 1;
}

START_TEST(hostile_names)
{
	scratch_new();
	if (!fdtrack_ok())
		goto out;
	char bad[600], evil[600];
	ck_assert_int_eq(mkdir(p("hostile"), 0755), 0);
	snprintf(bad, sizeof(bad), "%s", p("hostile/bad\xff\xfe\xc3(utf8"));
	snprintf(evil, sizeof(evil), "%s", p("hostile/evil\n\x1b[2Jname\xff"));
	/* (stacks on: suppressions match stacks, and fdtrack refuses them
	 * with --no-stacks) */
	const char *argv[] = { EXS_FDTRACK_CLI,
			       "--json",
			       p("u.json"),
			       "--suppress",
			       "no_such\xff",
			       "--",
			       "sh",
			       "-c",
			       "exec 7>\"$1\" 8>\"$2\"",
			       "sh",
			       bad,
			       evil,
			       NULL };
	struct res r = xrun(argv, NULL);
	ck_assert_msg(r.rc == 0, "exit %d\n%s", r.rc, r.err);
	/* JSON: valid UTF-8, each stray byte as \udcXX (surrogateescape),
	 * control characters as \u00XX */
	char *j = slurp(p("u.json"));
	size_t at = 0;
	ck_assert_ptr_nonnull(j);
	ck_assert_msg(valid_utf8((unsigned char *)j, &at),
		      "not UTF-8 at byte %zu: %.80s", at, j + at);
	ck_assert_msg(strstr(j, "bad\\udcff\\udcfe\\udcc3(utf8\""), "%.3000s",
		      j);
	ck_assert_msg(strstr(j, "evil\\n\\u001b[2Jname\\udcff\""), "%.3000s",
		      j);
	ck_assert_msg(strstr(j, "\"suppressions\": [\"no_such\\udcff\"]"),
		      "%.3000s", j);
	/* and a JSON reader gets the raw bytes back */
	if (system("python3 -c '' 2>/dev/null") == 0) {
		char cmd[1200];
		snprintf(cmd, sizeof(cmd),
			 "python3 -c 'import json, sys\n"
			 "d = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
			 "names = [n.encode(\"utf-8\", \"surrogateescape\")"
			 " for g in d[\"leaks\"] for n in g[\"fd_names\"]]\n"
			 "sys.exit(0 if sys.argv[2].encode(\"utf-8\", "
			 "\"surrogateescape\") in names else 1)' %s '%s'",
			 p("u.json"), bad);
		ck_assert_msg(system(cmd) == 0,
			      "python3 could not read %s back", bad);
	} else {
		ck_assert_msg(!require_bpf(), "no python3");
	}
	/* text: escaped as ls -b does; no name splits a line or reaches
	 * the terminal as an escape sequence */
	ck_assert_msg(!strchr(r.out, '\x1b') && !strchr(r.out, '\xff'),
		      "raw bytes in:\n%s", r.out);
	ck_assert_msg(strstr(r.out, "evil\\n\\033[2Jname\\377") &&
			      strstr(r.out, "bad\\377\\376\\303(utf8"),
		      "%s", r.out);
	ck_assert_msg(!strstr(r.out, "\n\\033[2J") && !strstr(r.out, "\n[2J"),
		      "a name began a line:\n%s", r.out);
	free(j);
	res_free(&r);
out:
	scratch_rm();
}
END_TEST

/* ---- 4, 5. stopping fdtrack stops CMD's tree, and says so ---------------------------- */

static int gone(pid_t pid) /* no such process, or a zombie */
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	int z = fgets(buf, sizeof(buf), f) && strstr(buf, ") Z ");
	fclose(f);
	return z;
}

START_TEST(stop_tree)
{
	int by_duration = _i; /* 0: SIGINT to fdtrack; 1: -d ends */
	scratch_new();
	if (!fdtrack_ok())
		goto out;
	char script[1024];
	/* two background sleepers: a non-interactive shell ignores SIGINT
	 * in them, and they outlive the shell */
	snprintf(script, sizeof(script),
		 "sleep 30 & echo $! > %s; sleep 31 & echo $! >> %s; "
		 "echo go > %s; wait",
		 p("pids"), p("pids"), p("ready"));
	const char *argv[12] = { EXS_FDTRACK_CLI, "--no-stacks", "--json",
				 p("j.json") };
	int n = 4;
	if (by_duration) {
		argv[n++] = "-d";
		argv[n++] = "1";
	}
	argv[n++] = "--";
	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n] = NULL;
	double t0 = now_s();
	pid_t cli = start(argv, NULL, "run");
	while (access(p("ready"), F_OK) && now_s() - t0 < 10)
		usleep(10000);
	int pids[2] = { 0, 0 };
	char *text = slurp(p("pids"));
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(sscanf(text, "%d %d", &pids[0], &pids[1]), 2);
	free(text);
	if (!by_duration)
		ck_assert_int_eq(kill(cli, SIGINT), 0);
	struct res r = finish(cli, "run", t0);
	for (double end = now_s() + 3; now_s() < end;) {
		if (gone(pids[0]) && gone(pids[1]))
			break;
		usleep(20000);
	}
	int left[2] = { !gone(pids[0]), !gone(pids[1]) };
	kill(pids[0], SIGKILL); /* whatever the verdict, not left behind */
	kill(pids[1], SIGKILL);
	ck_assert_msg(!left[0] && !left[1],
		      "the command's children survive fdtrack (%d %d)",
		      left[0] ? pids[0] : 0, left[1] ? pids[1] : 0);
	ck_assert_msg(r.rc == (by_duration ? 0 : 130), "exit %d\n%s", r.rc,
		      r.err);
	/* the report says which processes it stopped and how each ended */
	char *j = slurp(p("j.json"));
	ck_assert_ptr_nonnull(j);
	for (int i = 0; i < 2; i++) {
		char want[64];
		snprintf(want, sizeof(want),
			 "{\"pid\": %d, \"command\": \"sleep 3%d\"", pids[i],
			 i);
		ck_assert_msg(strstr(j, want), "no %s in:\n%s", want, j);
		snprintf(want, sizeof(want), "  pid %d: sent SIG", pids[i]);
		ck_assert_msg(strstr(r.out, want), "no '%s' in:\n%s", want,
			      r.out);
	}
	ck_assert_msg(strstr(j, "\"target_exited\": true"), "%s", j);
	if (by_duration) {
		/* it killed CMD: CMD's status is that, not "still running" */
		ck_assert_msg(strstr(j, "\"command_status\": 137") &&
				      strstr(j, "\"duration_ended\": true"),
			      "%s", j);
		ck_assert_msg(!strstr(r.out, "still running"), "%s", r.out);
	} else {
		ck_assert_msg(strstr(j, "\"interrupted\": true"), "%s", j);
	}
	free(j);
	res_free(&r);
out:
	scratch_rm();
}
END_TEST

/* ---- 6. a second signal, the grace time, SIGKILL: nothing measured is lost ---------- */

START_TEST(stopped_outright)
{
	int second_signal = _i == 0; /* else: the 5 s grace runs out */
	scratch_new();
	const char *argv[] = {
		EXS_FAULT_BIN, "--scenario", "all",	 "--iterations",
		"200",	       "--warmup",   "10",	 "--probe",
		"off",	       "--csv",	     p("o.csv"), "--json",
		p("o.json"),   "--junit",    p("o.xml"), NULL
	};
	/* idle's 210 iterations, then issue448's 90th hangs */
	struct spawn_opts so = { .fault = "hang:300" };
	char errpath[600];
	double t0 = now_s();
	pid_t pid = start(argv, &so, "run");
	snprintf(errpath, sizeof(errpath), "%s/.run.err", scratch);
	for (char *e = NULL; now_s() - t0 < 30; usleep(20000)) {
		free(e);
		e = slurp(errpath);
		if (e && strstr(e, "hangs")) {
			free(e);
			break;
		}
	}
	ck_assert_int_eq(kill(pid, SIGINT), 0);
	if (second_signal) {
		usleep(200 * 1000);
		ck_assert_int_eq(kill(pid, SIGTERM), 0);
	}
	double t1 = now_s();
	struct res r = finish(pid, "run", t0);
	ck_assert_msg(r.rc == 130, "exit %d\n%s", r.rc, r.err);
	ck_assert_msg(now_s() - t1 < (second_signal ? 4 : 9),
		      "took %.1f s to stop", now_s() - t1);
	/* every output, under its name, no temporary left */
	ck_assert_int_eq(count_files(scratch, ".tmp-"), 0);
	char *j = slurp(p("o.json")), *x = slurp(p("o.xml")),
	     *c = slurp(p("o.csv"));
	ck_assert_msg(j && x && c, "missing outputs; stderr:\n%s", r.err);
	ck_assert_msg(strstr(j, "\"verdict\": \"interrupted\"") &&
			      strstr(j, "\"stopped_outright\": true") &&
			      strstr(j, "\"signal\": \"SIGINT\""),
		      "%.1500s", j);
	/* idle done, issue448 over what it measured, the rest not run */
	const char *issue = strstr(j, "\"scenario\": \"issue448\"");
	ck_assert_msg(issue && strstr(issue, "\"verdict\": \"interrupted\""),
		      "%s", j);
	ck_assert_msg(strstr(j, "\"verdict\": \"not run\""), "%s", j);
	ck_assert_double_ge(num_after(issue, "\"iterations\"", ": "), 50);
	ck_assert_ptr_nonnull(strstr(x, "errors=\"1\""));
	size_t len = strlen(c);
	ck_assert_msg(len && c[len - 1] == '\n', "a half row at the end");
	c[len - 1] = 0;
	ck_assert_msg(strstr(strrchr(c, '\n'), "\nissue448,fixed,"),
		      "last row: %s", strrchr(c, '\n'));
	free(j);
	free(x);
	free(c);
	res_free(&r);
	scratch_rm();
}
END_TEST

/* Killed outright: the temporaries stay (nothing can remove them), and
 * the next run of the same outputs removes them; fdtrack the same. */
START_TEST(sigkill_leftovers)
{
	scratch_new();
	const char *argv[] = { EXS_BIN,	  "--scenario", "idle",	   "--duration",
			       "30",	  "--quiet",	"--probe", "off",
			       "--csv",	  p("o.csv"),	"--json",  p("o.json"),
			       "--junit", p("o.xml"),	NULL };
	double t0 = now_s();
	pid_t pid = start(argv, NULL, "run");
	while (count_files(scratch, ".tmp-") < 3 && now_s() - t0 < 10)
		usleep(10000);
	usleep(200 * 1000);
	kill(pid, SIGKILL);
	struct res r = finish(pid, "run", t0);
	res_free(&r);
	ck_assert_int_eq(count_files(scratch, ".tmp-"), 3);
	argv[4] = "0.2";
	r = xrun(argv, NULL);
	ck_assert_msg(r.rc == 0, "exit %d\n%s", r.rc, r.err);
	ck_assert_int_eq(count_files(scratch, ".tmp-"), 0);
	ck_assert_int_eq(count_files(scratch, "o."), 3);
	res_free(&r);
	if (fdtrack_ok()) {
		const char *f[] = { EXS_FDTRACK_CLI,
				    "--no-stacks",
				    "--json",
				    p("f.json"),
				    "--",
				    "sleep",
				    "30",
				    NULL };
		t0 = now_s();
		pid = start(f, NULL, "run");
		while (count_files(scratch, "f.json.tmp-") < 1 && now_s() - t0 < 10)
			usleep(10000);
		usleep(200 * 1000);
		kill(pid, SIGKILL);
		r = finish(pid, "run", t0);
		res_free(&r);
		ck_assert_int_eq(count_files(scratch, "f.json.tmp-"), 1);
		f[6] = "0";
		r = xrun(f, NULL);
		ck_assert_msg(r.rc == 0, "exit %d\n%s", r.rc, r.err);
		ck_assert_int_eq(count_files(scratch, "f.json.tmp-"), 0);
		ck_assert_int_eq(kind_of(p("f.json")), S_IFREG);
		res_free(&r);
	}
	scratch_rm();
}
END_TEST

/* ---- 7. fds running out in the warm-up, leaked by the policy: a LEAK ----------------- */

START_TEST(warmup_exhaustion)
{
	scratch_new();
	const char *argv[] = { EXS_BIN,	     "--policy", "legacy-448",
			       "--scenario", "all",	 "--iterations",
			       "300",	     "--probe",	 "off",
			       "--quiet",    "--json",	 p("u.json"),
			       "--csv",	     p("u.csv"), "--junit",
			       p("u.xml"),   NULL };
	struct spawn_opts so = { .nofile = 32, .leaks = 1 };
	struct res r = xrun(argv, &so);
	ck_assert_msg(r.rc == 1, "exit %d\n%s", r.rc, r.err);
	ck_assert_msg(!strstr(r.err, "raise ulimit -n"), "%s", r.err);
	char *j = slurp(p("u.json"));
	ck_assert_msg(j && strstr(j, "\"verdict\": \"leak\""), "%.1500s", j);
	const char *issue = strstr(j, "\"scenario\": \"issue448\"");
	ck_assert_msg(issue && strstr(issue, "\"verdict\": \"leak\"") &&
			      strstr(issue, "in the warm-up"),
		      "%s", j);
	ck_assert_int_eq(kind_of(p("u.csv")), S_IFREG);
	ck_assert_int_eq(kind_of(p("u.xml")), S_IFREG);
	free(j);
	res_free(&r);
	/* the same limit under fixed leaks nothing: not a LEAK */
	argv[2] = "fixed";
	argv[5] = "idle";
	r = xrun(argv, &so);
	ck_assert_msg(r.rc != 1, "fixed: exit 1\n%s", r.err);
	res_free(&r);
	scratch_rm();
}
END_TEST

/* ---- 9. numbers are decimal, errors name the option ----------------------------------- */

START_TEST(decimal_numbers)
{
	scratch_new();
	/* errors name the option, whatever the value */
	const char *bad[][3] = {
		{ "-p", "08x", "-p/--pid" },
		{ "-p", " 5", "-p/--pid" },
		{ "-p", "+5", "-p/--pid" },
		{ "--leak-exit-code", "0x10", "--leak-exit-code" },
		{ "--leak-exit-code", "-1", "--leak-exit-code" },
		{ "-i", "+1", "-i/--interval" },
		{ "-d", " 1", "-d/--duration" },
		{ "--max-fds", "1e3", "--max-fds" },
		{ "--ringbuf", "010000x", "--ringbuf" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = { EXS_FDTRACK_CLI, bad[i][0],
				       bad[i][1],	"--",
				       "true",		NULL };
		struct res r = xrun(argv, NULL);
		ck_assert_msg(r.rc == 2 && strstr(r.err, bad[i][2]),
			      "%s '%s': exit %d\n%s", bad[i][0], bad[i][1],
			      r.rc, r.err);
		one_line(&r, "fdtrack: ");
		res_free(&r);
	}
	/* exstress: 010 is ten */
	const char *ex[] = { EXS_BIN,	"--scenario", "idle",	"--iterations",
			     "010",	"--warmup",   "010",	"--quiet",
			     "--probe", "off",	      "--json", p("e.json"),
			     NULL };
	struct res r = xrun(ex, NULL);
	char *j = slurp(p("e.json"));
	ck_assert_msg(r.rc == 0 && j && strstr(j, "\"iterations\": 10,") &&
			      strstr(j, "\"warmup\": 10,"),
		      "exit %d\n%s", r.rc, r.err);
	free(j);
	res_free(&r);
	if (!fdtrack_ok())
		goto out;
	/* -p 0PID is PID (in octal it is another pid, or none) */
	pid_t target = fork();
	ck_assert_int_ge(target, 0);
	if (target == 0) {
		alarm(30);
		pause();
		_exit(0);
	}
	char pidarg[32];
	snprintf(pidarg, sizeof(pidarg), "0%d", (int)target);
	const char *byp[] = { EXS_FDTRACK_CLI, "-p",	 pidarg,      "-d",
			      "0.2",	       "--json", p("p.json"), NULL };
	r = xrun(byp, NULL);
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	j = slurp(p("p.json"));
	char want[32];
	snprintf(want, sizeof(want), "\"pid\": %d,", (int)target);
	ck_assert_msg(r.rc == 0 && j && strstr(j, want), "-p %s: exit %d\n%s",
		      pidarg, r.rc, r.err);
	free(j);
	res_free(&r);
	/* --leak-exit-code 010 is ten */
	const char *code[] = { EXS_FDTRACK_CLI,
			       "--no-stacks",
			       "--fail-on-leak",
			       "--leak-exit-code",
			       "010",
			       "--json",
			       p("c.json"),
			       "--",
			       "sh",
			       "-c",
			       "exec 7</dev/null",
			       NULL };
	r = xrun(code, NULL);
	ck_assert_msg(r.rc == 10, "exit %d\n%s", r.rc, r.err);
	res_free(&r);
out:
	scratch_rm();
}
END_TEST

/* ---- 10. the smaller ones ------------------------------------------------------------ */

/* Suppressions that are no text file: an error naming the option, at
 * once (a directory is not an empty list; /dev/zero never ends). */
START_TEST(bad_suppressions)
{
	scratch_new();
	FILE *f = fopen(p("garbage"), "w");
	for (int i = 0; i < 4096; i++)
		fputc((i * 131 + 7) & 0xff, f);
	fclose(f);
	f = fopen(p("escape"), "w");
	fputs("ok_*\nbad\x1b[2J\n", f);
	fclose(f);
	f = fopen(p("long"), "w");
	for (int i = 0; i < 5000; i++)
		fputc('a', f);
	fclose(f);
	const char *files[] = { scratch,     "/dev/zero", p("garbage"),
				p("escape"), p("long"),	  p("missing") };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *argv[] = { EXS_FDTRACK_CLI, "--suppressions",
				       files[i],	"--",
				       "true",		NULL };
		struct res r = xrun(argv, NULL);
		ck_assert_msg(r.rc == 2 && strstr(r.err, "--suppressions"),
			      "%s: exit %d\n%s", files[i], r.rc, r.err);
		one_line(&r, "fdtrack: ");
		ck_assert_msg(!strchr(r.err, '\x1b'), "%s", r.err);
		ck_assert_msg(r.secs < 3, "%s: %.1f s", files[i], r.secs);
		res_free(&r);
	}
	if (!fdtrack_ok())
		goto out;
	/* a pipe is a file too: --suppressions <(...) */
	ck_assert_int_eq(mkfifo(p("pipe"), 0644), 0);
	pid_t writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0) {
		alarm(30);
		int fd = open(p("pipe"), O_WRONLY);
		dprintf(fd, "# from a pipe\nno_such_fn\n");
		_exit(0);
	}
	const char *argv[] = { EXS_FDTRACK_CLI,
			       "--suppressions",
			       p("pipe"),
			       "--json",
			       p("s.json"),
			       "--",
			       "true",
			       NULL };
	struct res r = xrun(argv, NULL);
	waitpid(writer, NULL, 0);
	char *j = slurp(p("s.json"));
	ck_assert_msg(r.rc == 0 && j &&
			      strstr(j, "\"suppressions\": [\"no_such_fn\"]"),
		      "exit %d\n%s", r.rc, r.err);
	free(j);
	res_free(&r);
out:
	scratch_rm();
}
END_TEST

/* -p of a kernel thread or of fdtrack itself: refused, saying why. */
START_TEST(bad_pids)
{
	scratch_new();
	const char *argv[] = { EXS_FDTRACK_CLI, "-p", "2", "-d", "0.2", NULL };
	struct res r = xrun(argv, NULL);
	ck_assert_msg(r.rc == 2 && strstr(r.err, "kernel thread"),
		      "exit %d\n%s", r.rc, r.err);
	one_line(&r, "fdtrack: ");
	res_free(&r);
	/* a child that execs fdtrack keeps its pid: -p of itself */
	char self[32], out[600];
	snprintf(out, sizeof(out), "%s/self.err", scratch);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int e = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(e, 2);
		snprintf(self, sizeof(self), "%d", (int)getpid());
		alarm(30);
		execl(EXS_FDTRACK_CLI, EXS_FDTRACK_CLI, "-p", self, "-d", "0.2",
		      (char *)NULL);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	char *err = slurp(out);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2 && err &&
			      strstr(err, "fdtrack itself"),
		      "status %d\n%s", st, err);
	free(err);
	scratch_rm();
}
END_TEST

/* The command's fds at start are its own: none of fdtrack's (its
 * signalfd, its start pipes) shows up there. */
START_TEST(cmd_fds_at_start)
{
	scratch_new();
	if (!fdtrack_ok())
		goto out;
	const char *argv[] = {
		EXS_FDTRACK_CLI, "--no-stacks", "--json", p("a.json"), "--",
		"true",		 NULL
	};
	struct res r = xrun(argv, NULL); /* 0 /dev/null, 1 and 2 files */
	char *j = slurp(p("a.json"));
	ck_assert_msg(r.rc == 0 && j, "exit %d\n%s", r.rc, r.err);
	const char *proc = strstr(j, "\"processes\": [");
	ck_assert_ptr_nonnull(proc);
	ck_assert_msg(!strstr(proc, "\"signalfd\": {") &&
			      !strstr(proc, "\"pipe\": {"),
		      "fdtrack's own fds in the command's:\n%s", proc);
	free(j);
	res_free(&r);
out:
	scratch_rm();
}
END_TEST

/* An interrupted run says how many scenarios ran, and never "pass"; a
 * closed terminal (SIGHUP) stops it as SIGINT does. */
START_TEST(interrupted_summary)
{
	int sig = _i ? SIGHUP : SIGINT;
	scratch_new();
	const char *argv[] = { EXS_BIN,	    "--scenario", "all", "--duration",
			       "30",	    "--probe",	  "off", "--json",
			       p("i.json"), NULL };
	double t0 = now_s();
	pid_t pid = start(argv, NULL, "run");
	usleep(700 * 1000);
	kill(pid, sig);
	struct res r = finish(pid, "run", t0);
	ck_assert_msg(r.rc == 128 + sig, "exit %d\n%s", r.rc, r.err);
	ck_assert_msg(strstr(r.err, "interrupted: 1 scenario in"), "%s", r.err);
	char *j = slurp(p("i.json"));
	ck_assert_msg(j && strstr(j, "\"verdict\": \"interrupted\"") &&
			      !strstr(j, "\"verdict\": \"pass\"") &&
			      strstr(j, sig == SIGHUP
						? "\"signal\": \"SIGHUP\""
						: "\"signal\": \"SIGINT\""),
		      "%.1500s", j);
	free(j);
	res_free(&r);
	scratch_rm();
}
END_TEST

/* EXS_TEST_FAULT values that would be active and inject nothing. */
START_TEST(bad_test_faults)
{
	scratch_new();
	const char *faults[] = { "eventfd:-1", "eventfd:99999999999999999999",
				 ",,,",	       "eventfd:1,,",
				 "eventfd:0",  "eventfd: 1",
				 "mem:-5",     "hang:x" };
	const char *argv[] = { EXS_FAULT_BIN,  "--scenario", "idle",
			       "--iterations", "10",	     "--probe",
			       "off",	       "--quiet",    NULL };
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		struct spawn_opts so = { .fault = faults[i] };
		struct res r = xrun(argv, &so);
		ck_assert_msg(r.rc == 2 && strstr(r.err, "bad EXS_TEST_FAULT"),
			      "'%s': exit %d\n%s", faults[i], r.rc, r.err);
		res_free(&r);
	}
	scratch_rm();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("hostile");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, out_not_regular, 0, 2);
	tcase_add_loop_test(tc, out_cannot_be_replaced, 0, 2);
	tcase_add_test(tc, hostile_names);
	tcase_add_loop_test(tc, stop_tree, 0, 2);
	tcase_add_loop_test(tc, stopped_outright, 0, 2);
	tcase_add_test(tc, sigkill_leftovers);
	tcase_add_test(tc, warmup_exhaustion);
	tcase_add_test(tc, decimal_numbers);
	tcase_add_test(tc, bad_suppressions);
	tcase_add_test(tc, bad_pids);
	tcase_add_test(tc, cmd_fds_at_start);
	tcase_add_loop_test(tc, interrupted_summary, 0, 2);
	tcase_add_test(tc, bad_test_faults);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
