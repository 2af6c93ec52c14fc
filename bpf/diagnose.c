/*
 * Why a load failed, told truly: libbpf's messages of the load under way
 * are kept (the verifier's last lines and the program it rejected), the
 * capabilities are read from /proc/self/status rather than guessed from an
 * errno, and a missing kernel feature is probed by name. A verifier
 * rejection where loading is permitted is fdtrack's bug, and says so.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fdtrack_internal.h"

#define LOG_LINES 3

/* What libbpf said during the last load: the program it failed on, the
 * verifier log's last lines, and its last warning. */
static struct {
	pthread_mutex_t lock;
	char prog[64];
	char tail[LOG_LINES][200];
	char last[300];
} said = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Keep the last LOG_LINES non-empty lines of text[0, len). */
static void keep_tail(const char *text, size_t len)
{
	const char *end = text + len, *p;
	int n = 0;

	memset(said.tail, 0, sizeof(said.tail));
	while (end > text && n < LOG_LINES) {
		while (end > text && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		for (p = end; p > text && p[-1] != '\n'; p--)
			;
		if (end > p) {
			snprintf(said.tail[LOG_LINES - 1 - n],
				 sizeof(said.tail[0]), "%.*s", (int)(end - p),
				 p);
			n++;
		}
		end = p;
	}
}

static void note(const char *msg)
{
	static const char begin[] = "-- BEGIN PROG LOAD LOG --";
	static const char stop[] = "-- END PROG LOAD LOG --";
	const char *b = strstr(msg, begin), *e, *q;

	pthread_mutex_lock(&said.lock);
	if (b && !strncmp(msg, "prog '", 6) && (q = strchr(msg + 6, '\''))) {
		snprintf(said.prog, sizeof(said.prog), "%.*s",
			 (int)(q - msg - 6), msg + 6);
		b += sizeof(begin) - 1;
		e = strstr(b, stop);
		keep_tail(b, e ? (size_t)(e - b) : strlen(b));
	} else {
		size_t n = strcspn(msg, "\n");

		if (n >= sizeof(said.last))
			n = sizeof(said.last) - 1;
		memcpy(said.last, msg, n);
		said.last[n] = 0;
	}
	pthread_mutex_unlock(&said.lock);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	static int debug = -1;
	char small[512], *msg = small;
	va_list copy;
	int n;

	if (debug < 0)
		debug = getenv("FDTRACK_DEBUG") != NULL;
	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n >= (int)sizeof(small) && (msg = malloc(n + 1)))
		vsnprintf(msg, n + 1, fmt, ap);
	if (!msg)
		msg = small;
	if (level == LIBBPF_WARN)
		note(msg);
	if (debug)
		fputs(msg, stderr);
	if (msg != small)
		free(msg);
	return 0;
}

static void set_print(void)
{
	libbpf_set_print(libbpf_print);
}

void diagnose_start(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, set_print);
	pthread_mutex_lock(&said.lock);
	said.prog[0] = said.last[0] = 0;
	memset(said.tail, 0, sizeof(said.tail));
	pthread_mutex_unlock(&said.lock);
}

/* Effective capability bit `cap` of this process. */
static bool has_cap(int cap)
{
	char line[256];
	unsigned long long eff = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &eff) == 1;
	fclose(f);
	return found && (eff >> cap) & 1;
}

#define CAP_SYS_ADMIN 21
#define CAP_PERFMON   38
#define CAP_BPF	      39

int fdtrack_bpf_permitted(void)
{
	return has_cap(CAP_SYS_ADMIN) ||
	       (has_cap(CAP_BPF) && has_cap(CAP_PERFMON));
}

/* A kernel feature fdtrack needs, probed by name, or NULL if all are
 * there. */
static const char *missing_feature(void)
{
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 0)
		return "BPF ring buffers (BPF_MAP_TYPE_RINGBUF, Linux 5.8)";
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 0)
		return "task local storage (BPF_MAP_TYPE_TASK_STORAGE, "
		       "Linux 5.11)";
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop,
				    NULL) == 0)
		return "the bpf_loop() helper (Linux 5.17)";
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_task_pt_regs,
				    NULL) == 0)
		return "the bpf_task_pt_regs() helper (Linux 5.15)";
	return NULL;
}

int diagnose_load_error(int err, const char *step)
{
	struct utsname u;
	const char *feature;
	char prog[64], tail[LOG_LINES][200], last[300];

	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	pthread_mutex_lock(&said.lock);
	memcpy(prog, said.prog, sizeof(prog));
	memcpy(tail, said.tail, sizeof(tail));
	memcpy(last, said.last, sizeof(last));
	pthread_mutex_unlock(&said.lock);
	if (!fdtrack_bpf_permitted())
		return lib_fail(-EPERM,
				"fdtrack: not permitted to load BPF "
				"programs (%s failed: %s): this process "
				"lacks CAP_BPF and CAP_PERFMON (or "
				"CAP_SYS_ADMIN); run as root, or grant "
				"them (setcap cap_bpf,cap_perfmon+ep)",
				step, strerror(-err));
	feature = missing_feature();
	if (feature)
		return lib_fail(-EOPNOTSUPP,
				"fdtrack: this kernel (Linux %s) lacks %s, "
				"which every mode of fdtrack needs (%s failed: "
				"%s); exstress --probe off still measures fds "
				"and memory from /proc",
				u.release, feature, step, strerror(-err));
	if (prog[0])
		return lib_fail(
			-ENOEXEC,
			"fdtrack: the kernel's verifier (Linux %s) rejected "
			"BPF program '%s' (%s): %s / %s / %s. This is a bug "
			"in fdtrack, not in your set-up: please report it with "
			"this message (FDTRACK_DEBUG=1 prints the whole log)",
			u.release, prog, strerror(-err), tail[0], tail[1],
			tail[2]);
	return lib_fail(err,
			"fdtrack: %s failed on Linux %s: %s (libbpf: %s); "
			"FDTRACK_DEBUG=1 prints libbpf's log",
			step, u.release, strerror(-err),
			last[0] ? last : "no message");
}
