/*
 * Helpers shared by fdtrack's test programs (test_fdtrack.c: the library,
 * test_fdtrack_cli.c: the CLI). They assert with Check, so they run inside a
 * test.
 */
#ifndef FDTRACK_TESTLIB_H
#define FDTRACK_TESTLIB_H

#include <check.h>
#include <liburing.h>
#include <sys/types.h>

#include "fdkind.h"
#include "fdtrack.h"

#define EFD   FDKIND_EVENTFD
#define URING FDKIND_IO_URING

/* FDTRACK_REQUIRE_BPF=1 (CI): a skipped BPF test is a failure. */
int require_bpf(void);

/* Open fdtrack on pid, or skip the test (fail under FDTRACK_REQUIRE_BPF). */
struct fdtrack *open_or_skip(pid_t pid, const struct fdtrack_options *o);

#define OPEN_OR_SKIP(t, pid, o)           \
	do {                              \
		t = open_or_skip(pid, o); \
		if (!t)                   \
			return;           \
	} while (0)

/* Can this test use BPF at all? (skips, or fails when required) */
int bpf_usable(void);

/* The kind of pid's fd as /proc and lsof show it (-1: not open). */
int kind_of_fd(pid_t pid, int fd);

/* Tracked fds of pid by kind, as the kernel shows them in /proc. */
void proc_counts(pid_t pid, unsigned out[FDKIND_COUNT]);

/* fdtrack agrees with /proc: straight from the syscall view (before any
 * snapshot), and again after reconciling. */
void agree_at(struct fdtrack *t, pid_t pid, int line);
#define agree(t, pid) agree_at(t, pid, __LINE__)

struct fdtrack_counts counts(struct fdtrack *t);

/* Nothing was fixed up by the snapshot: syscalls accounted for everything. */
void no_outside(struct fdtrack *t);

int new_ring(struct io_uring *ring); /* io_uring_queue_init(8), its fd */
int efd(void);			     /* eventfd(0, 0), checked */

/* ---- running the CLI ---- */

/* Run the CLI with args; exit status, stdout+stderr into out (if given). */
int run_cli(char *const argv[], const char *out, uid_t as);
/* Start the CLI (stdout+stderr to out, stdin from in_fd or /dev/null). */
pid_t start_cli(char *const argv[], const char *out, int in_fd);
/* Exit status of pid (128+N if killed by signal N); fails after timeout. */
double slow_factor(void);
int cli_rc(int rc, const char *json_path);
int wait_exit(pid_t pid, double timeout);
/* Wait until file contains text; fails after timeout. */
void wait_text(const char *file, const char *text, double timeout);

/* A unique temporary file name for a test's JSON, log or input (buf: 32
 * bytes or more; the file removed: the writer creates it). */
void temp_name(char *buf);
/* A file's text (static buffer, valid until the next call). */
char *slurp(const char *path);
/* The number at "key": { ... "kind": N in a JSON report. */
long json_kind(const char *json, const char *key, const char *kind);
/* The number after "key": in a JSON text. */
long json_num(const char *json, const char *key);

/* The object of the first process in a JSON report whose command starts
 * with cmd (NULL if none), copied into a static buffer. */
const char *json_process(const char *json, const char *cmd);
/* In a process object: its by_kind[kind][field], 0 if the kind is absent. */
long json_proc_kind(const char *proc, const char *kind, const char *field);
/* How many process objects a JSON report has. */
int json_nprocesses(const char *json);

/* Wait until no fdtrack program for tgid is loaded (fails after a
 * while). */
void no_progs_left(pid_t tgid);
/* the newest BPF program id now; then: no fdtrack program loaded after
 * it whose target process is gone (a run whose target is unknown) */
unsigned int newest_prog_id(void);
void no_progs_left_since(unsigned int since);
/* Entries under /sys/fs/bpf (nothing may stay pinned). */
int bpffs_entries(void);
/* A leaker (2 open eventfds) waiting on a pipe; *in closes to let it go. */
pid_t waiting_leaker(int *in);
/* The same, with its stdout in *out; leaker_leak_one() makes it open (and
 * leak) one more eventfd and waits until it did. */
pid_t waiting_leaker_io(int *in, int *out);
void leaker_leak_one(int in, int out);

#endif
