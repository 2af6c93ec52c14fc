/* Helpers of fdtrack's test programs (fdtrack_testlib.h). */
#include "fdtrack_testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "clock.h"

int require_bpf(void)
{
	const char *s = getenv("FDTRACK_REQUIRE_BPF");

	return s && *s && strcmp(s, "0");
}

/* Open fdtrack on pid, or skip the test where this process may not load
 * BPF programs (a fail under FDTRACK_REQUIRE_BPF). Where it may, a load
 * failure (a verifier rejection, a missing kernel feature) fails. */
struct fdtrack *open_or_skip(pid_t pid, const struct fdtrack_options *o)
{
	struct fdtrack *t = NULL;
	int err = fdtrack_open(pid, o, &t);

	if (err) {
		ck_assert_msg(!require_bpf(), "FDTRACK_REQUIRE_BPF=1 but: %s",
			      fdtrack_error());
		ck_assert_msg(!fdtrack_bpf_permitted(),
			      "BPF is permitted here, yet: %s",
			      fdtrack_error());
		printf("SKIP: not permitted to load BPF: %s\n",
		       fdtrack_error());
		return NULL;
	}
	return t;
}

/* The kind of another process's fd the way lsof finds it: the link target,
 * the mode of what it names, and a socket's family through a copy of the
 * fd (pidfd_getfd). -1 if it is gone. */
int kind_of_fd(pid_t pid, int fd)
{
	char path[64], target[256];
	struct stat st;
	unsigned mode = 0;
	int family = -1;
	ssize_t n;

	if (pid == getpid())
		return fdkind_of_own_fd(fd);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	if (!strncmp(target, "socket:[", 8)) {
		int pidfd = syscall(SYS_pidfd_open, pid, 0), copy = -1;
		socklen_t len = sizeof(family);

		if (pidfd >= 0)
			copy = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (copy < 0 ||
		    getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &family, &len))
			family = -1;
		if (copy >= 0)
			close(copy);
		if (pidfd >= 0)
			close(pidfd);
	} else if (target[0] == '/' && stat(path, &st) == 0) {
		mode = st.st_mode;
	}
	return fdkind_classify(target, mode, family);
}

/* Tracked fds of pid by kind, as the kernel shows them in /proc (the
 * directory's own fd not counted when pid is this process). */
void proc_counts(pid_t pid, unsigned out[FDKIND_COUNT])
{
	char dir[64];
	struct dirent *de;
	DIR *d;

	memset(out, 0, FDKIND_COUNT * sizeof(out[0]));
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		int fd, kind;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (pid == getpid() && fd == dirfd(d))
			continue;
		kind = kind_of_fd(pid, fd);
		if (kind >= 0 && kind < FDKIND_COUNT)
			out[kind]++;
	}
	closedir(d);
}

/* Says, in a failure message, whether the kernel skipped runs of
 * fdtrack's programs (design §4.1b): a count that is off by a skipped run
 * is the kernel's doing, not fdtrack's, and a CI log should tell which. */
static const char *skips_said(struct fdtrack *t)
{
	static char buf[96];
	unsigned long long n = fdtrack_runs_missed(t);

	if (!n)
		return "";
	snprintf(buf, sizeof(buf),
		 " (the kernel skipped %llu runs of fdtrack's programs)", n);
	return buf;
}

/* fdtrack agrees with /proc: straight from the syscall view (before any
 * snapshot), and again after reconciling. */
void agree_at(struct fdtrack *t, pid_t pid, int line)
{
	struct fdtrack_counts c;
	unsigned p[FDKIND_COUNT];

	proc_counts(pid, p);
	fdtrack_counts(t, &c);
	for (int k = 0; k < FDKIND_COUNT; k++)
		ck_assert_msg(
			c.live[k] == p[k],
			"line %d: %s live %llu (syscall view) but /proc has %u%s",
			line, fdkind_name(k), (unsigned long long)c.live[k],
			p[k], skips_said(t));
	/* the reconcile may run fdtrack's own work (records can make it
	 * reread maps and close what libdw held): read /proc after it */
	ck_assert_int_eq(fdtrack_reconcile(t), 0);
	proc_counts(pid, p);
	fdtrack_counts(t, &c);
	for (int k = 0; k < FDKIND_COUNT; k++)
		ck_assert_msg(
			c.live[k] == p[k],
			"line %d: %s live %llu (reconciled) but /proc has %u%s",
			line, fdkind_name(k), (unsigned long long)c.live[k],
			p[k], skips_said(t));
}

struct fdtrack_counts counts(struct fdtrack *t)
{
	struct fdtrack_counts c;

	fdtrack_counts(t, &c);
	return c;
}

/* Nothing was fixed up by the snapshot: syscalls accounted for everything. */
void no_outside(struct fdtrack *t)
{
	struct fdtrack_counts c = counts(t);

	for (int k = 0; k < FDKIND_COUNT; k++) {
		ck_assert_msg(c.closed_outside_syscalls[k] == 0,
			      "%s: %llu closes missed by the syscall view%s",
			      fdkind_name(k),
			      (unsigned long long)c.closed_outside_syscalls[k],
			      skips_said(t));
		ck_assert_msg(c.opened_outside_syscalls[k] == 0,
			      "%s: %llu opens missed by the syscall view%s",
			      fdkind_name(k),
			      (unsigned long long)c.opened_outside_syscalls[k],
			      skips_said(t));
	}
}

int new_ring(struct io_uring *ring)
{
	ck_assert_int_eq(io_uring_queue_init(8, ring, 0), 0);
	return ring->ring_fd;
}

int efd(void)
{
	int fd = eventfd(0, 0);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* 1 if a line of the file at path contains needle (slurp's buffer is the
 * callers'). */
static int file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	while (f && !found && getline(&line, &cap, f) > 0)
		found = strstr(line, needle) != NULL;
	free(line);
	if (f)
		fclose(f);
	return found;
}

static int run_cli_once(char *const argv[], const char *out, uid_t as)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (as && (setgid(as) || setuid(as)))
			_exit(97);
		execv(FDT_CLI_PATH, argv);
		_exit(98);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run the CLI with args; exit status, stdout+stderr into out (if given).
 * A run where the kernel skipped runs of fdtrack's programs (Linux 7.x,
 * design 4.1b) says "NOT EXACT" (and exits 2 unless it found a leak):
 * the truth, but its counts, processes and stacks may miss what the test
 * asks about. Such a run is made again (up to CLI_ATTEMPTS in all), with a
 * NOTE, so the test checks a run the kernel left whole; if none was, the
 * test's own checks decide. */
#define CLI_ATTEMPTS 8
int run_cli(char *const argv[], const char *out, uid_t as)
{
	char tmp[32];
	int rc = 0;

	if (!out) {
		temp_name(tmp);
		out = tmp;
	}
	for (int attempt = 1; attempt <= CLI_ATTEMPTS; attempt++) {
		rc = run_cli_once(argv, out, as);
		if (!file_has(out, "NOT EXACT: the kernel skipped"))
			break;
		printf("NOTE: the kernel skipped runs of fdtrack's programs "
		       "(exit %d, not exact)%s\n",
		       rc, attempt < CLI_ATTEMPTS ? ": running it again"
						  : ", every attempt");
	}
	if (out == tmp)
		unlink(tmp);
	return rc;
}

void temp_name(char *buf)
{
	int fd;

	strcpy(buf, "/tmp/fdtrack-test-XXXXXX");
	fd = mkstemp(buf);
	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(buf);
}

char *slurp(const char *path)
{
	static char buf[8 << 20]; /* a report may list 20,000 fd numbers */
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return buf;
}

/* The number at "key": { ... "kind": N in the report. */
long json_kind(const char *json, const char *key, const char *kind)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": {", key);
	p = strstr(json, pat);
	ck_assert_msg(p != NULL, "no %s in JSON:\n%s", key, json);
	snprintf(pat, sizeof(pat), "\"%s\": ", kind);
	p = strstr(p, pat);
	ck_assert_msg(p != NULL, "no %s.%s in JSON", key, kind);
	return strtol(p + strlen(pat), NULL, 10);
}

int bpf_usable(void)
{
	struct fdtrack *t = open_or_skip(getpid(), NULL);

	fdtrack_close(t);
	return t != NULL;
}

/* Start the CLI (stdout+stderr to out, stdin from in_fd or /dev/null). */
pid_t start_cli(char *const argv[], const char *out, int in_fd)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (in_fd >= 0)
			dup2(in_fd, 0);
		execv(FDT_CLI_PATH, argv);
		_exit(98);
	}
	return pid;
}

/* The CLI's exit status, where the kernel skipped runs of fdtrack's
 * programs (Linux 7.x's preemptible syscall tracepoints, docs/design.md
 * §4.1b) taken as the status of an exact run: fdtrack exits 2 there
 * because its report is not exact, which is the truth; the caller's
 * other checks still hold it to what fdtrack saw. */
int cli_rc(int rc, const char *json_path)
{
	long missed;

	if (rc != 2)
		return rc;
	missed = json_num(slurp(json_path), "runs_missed");
	if (missed <= 0)
		return rc;
	printf("NOTE: the kernel skipped %ld run%s of fdtrack's programs; "
	       "fdtrack said its report is not exact (exit 2)\n",
	       missed, missed == 1 ? "" : "s");
	return 0;
}

/* Check's CK_TIMEOUT_MULTIPLIER scales a test's own waits as it scales
 * the test's timeout: a slow machine (QEMU without kvm: make
 * check-kernels sets 10) gets longer, never shorter. */
double slow_factor(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	double f = m ? atof(m) : 1;

	return f > 1 ? f : 1;
}

/* How much longer a wait for the CLI may take than its timeout says: a
 * slow machine's factor, times 3 in a sanitizer build, where the CLI
 * under test is built with the sanitizer too (ASan's LeakSanitizer walks
 * the heap at every exit; TSan runs 5-15 times slower). Only waits: a
 * test's verdicts never depend on it (races_lost_ok() reads
 * slow_factor()). */
static double wait_factor(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return 3 * slow_factor();
#else
	return slow_factor();
#endif
}

/* Exit status of pid (128+N if killed by signal N); fails after timeout
 * (times wait_factor()). */
int wait_exit(pid_t pid, double timeout)
{
	double end = mono_s() + (timeout *= wait_factor());
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (mono_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("pid %d still running after %.1f s",
				     (int)pid, timeout);
		}
		usleep(5000);
	}
	ck_assert_msg(!WIFSIGNALED(st), "killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

void wait_text(const char *file, const char *text, double timeout)
{
	double end = mono_s() + timeout * wait_factor();

	while (!strstr(slurp(file), text)) {
		ck_assert_msg(mono_s() < end, "no '%s' in %s:\n%s", text, file,
			      slurp(file));
		usleep(5000);
	}
}

/* An fdtrack program's target may still be alive; 0 (not yet set) is
 * not a process. */
static int target_dead(__u32 tgid)
{
	return tgid == 0 || (kill((pid_t)tgid, 0) && errno == ESRCH);
}

/* Loaded fdtrack programs whose kernel-side filter is tgid (their .rodata
 * map holds targ_tgid first), so concurrent fdtrack users do not count.
 * tgid 0: any loaded after program id `since` whose target is dead, the
 * leftovers of a run whose target we do not know (a concurrent fdtrack
 * watches a live one, and unloads within moments of its end). */
static int progs_matching(pid_t tgid, __u32 since)
{
	__u32 id = since;
	int n = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info), maps[8], nmaps;
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
		    strncmp(info.name, "fdtrack_", 8)) {
			close(fd);
			continue;
		}
		nmaps = info.nr_map_ids < 8 ? info.nr_map_ids : 8;
		memset(&info, 0, sizeof(info));
		info.nr_map_ids = nmaps;
		info.map_ids = (__u64)(unsigned long)maps;
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			nmaps = 0;
		close(fd);
		for (__u32 i = 0; i < nmaps; i++) {
			struct bpf_map_info mi = { 0 };
			__u32 mlen = sizeof(mi), key = 0;
			char val[4096];
			int mfd = bpf_map_get_fd_by_id(maps[i]);

			if (mfd < 0)
				continue;
			if (!bpf_obj_get_info_by_fd(mfd, &mi, &mlen) &&
			    strstr(mi.name, ".rodata") &&
			    mi.value_size <= sizeof(val) &&
			    !bpf_map_lookup_elem(mfd, &key, val) &&
			    (tgid ? *(__u32 *)val == (__u32)tgid
				  : target_dead(*(__u32 *)val)))
				n++;
			close(mfd);
		}
	}
	return n;
}

unsigned int newest_prog_id(void)
{
	__u32 id = 0, next;

	while (!bpf_prog_get_next_id(id, &next))
		id = next;
	return id;
}

/* BPF programs are freed asynchronously after their last fd closes. */
static void wait_none(pid_t tgid, __u32 since)
{
	double end = mono_s() + 2 * wait_factor();

	while (progs_matching(tgid, since)) {
		ck_assert_msg(mono_s() < end,
			      "fdtrack programs still loaded (target pid %d, "
			      "0: any gone; loaded after program id %u)",
			      (int)tgid, (unsigned)since);
		usleep(10000);
	}
}

void no_progs_left(pid_t tgid)
{
	wait_none(tgid, 0);
}

void no_progs_left_since(unsigned int since)
{
	wait_none(0, since);
}

static int bpffs_n;
static int bpffs_count(const char *p, const struct stat *sb, int flag,
		       struct FTW *ftw)
{
	(void)p;
	(void)sb;
	(void)flag;
	(void)ftw;
	bpffs_n++;
	return 0;
}

int bpffs_entries(void)
{
	bpffs_n = 0;
	nftw("/sys/fs/bpf", bpffs_count, 16, FTW_PHYS);
	return bpffs_n;
}

/* A leaker (2 open eventfds) waiting on a pipe; *in closes to let it go. */
pid_t waiting_leaker(int *in)
{
	int out;
	pid_t pid = waiting_leaker_io(in, &out);

	close(out);
	return pid;
}

void leaker_leak_one(int in, int out)
{
	char buf[32];

	ck_assert_int_eq(write(in, "l", 1), 1);
	ck_assert_int_gt(read(out, buf, sizeof(buf)), 0); /* "leaked N" */
}

pid_t waiting_leaker_io(int *in, int *out)
{
	int i[2], o[2];
	char buf[16];
	pid_t pid;

	/* close-on-exec: the CLI started later must not hold them */
	ck_assert_int_eq(pipe2(i, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(i[0], 0);
		dup2(o[1], 1);
		close(i[1]);
		close(o[0]);
		execl(FDT_LEAKER_PATH, "leaker", "2", "0", "--wait",
		      (char *)NULL);
		_exit(98);
	}
	close(i[0]);
	close(o[1]);
	ck_assert_int_gt(read(o[0], buf, sizeof(buf)), 0); /* "ready" */
	*out = o[0];
	*in = i[1];
	return pid;
}

/* The number after "key": in a JSON text. */
long json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	ck_assert_msg(p != NULL, "no %s in JSON:\n%s", key, json);
	return strtol(p + strlen(pat), NULL, 10);
}

#define PROC_START "\n    { \"pid\": "

const char *json_process(const char *json, const char *cmd)
{
	static char obj[65536];
	const char *p = strstr(json, "\"processes\": [");

	for (p = p ? strstr(p, PROC_START) : NULL; p;
	     p = strstr(p + 1, PROC_START)) {
		const char *end = strstr(p + 1, PROC_START);
		const char *c = strstr(p, "\"command\": \"");
		size_t n;

		if (!end)
			end = strstr(p, "\n  ],");
		if (!end || !c || c > end)
			continue;
		n = (size_t)(end - p) < sizeof(obj) - 1 ? (size_t)(end - p)
							: sizeof(obj) - 1;
		memcpy(obj, p, n);
		obj[n] = 0;
		c = strstr(obj, "\"command\": \"") + strlen("\"command\": \"");
		if (!strncmp(c, cmd, strlen(cmd)))
			return obj;
	}
	return NULL;
}

long json_proc_kind(const char *proc, const char *kind, const char *field)
{
	char pat[64];
	const char *p = strstr(proc, "\"by_kind\": {");

	snprintf(pat, sizeof(pat), "\"%s\": {", kind);
	p = p ? strstr(p, pat) : NULL;
	if (!p)
		return 0;
	snprintf(pat, sizeof(pat), "\"%s\": ", field);
	p = strstr(p, pat);
	ck_assert_msg(p != NULL, "no %s.%s in %s", kind, field, proc);
	return strtol(p + strlen(pat), NULL, 10);
}

int json_nprocesses(const char *json)
{
	const char *p = strstr(json, "\"processes\": [");
	const char *end = p ? strstr(p, "\n  ],") : NULL;
	int n = 0;

	for (p = p ? strstr(p, PROC_START) : NULL; p && p < end;
	     p = strstr(p + 1, PROC_START))
		n++;
	return n;
}
