/*
 * Internal to the fdtrack CLI: running CMD (cli_command.c) and writing the
 * JSON report (cli_report.c); fdtrack_cli.c has the options and the loop.
 */
#ifndef FDTRACK_CLI_H
#define FDTRACK_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdkind.h"
#include "fdtrack.h"

/* The kinds the kernel side tracks, in report order. */
extern const enum fdkind cli_tracked_kinds[];
extern const size_t cli_ntracked;

/* SIGINT, SIGTERM, SIGHUP: they stop fdtrack (and are forwarded to CMD). */
extern const int cli_stop_signals[];
extern const size_t cli_nstop_signals;

/* Who CMD runs as: under sudo, the invoking user (unless --run-as-root). */
struct run_as {
	bool drop;
	uid_t uid;
	gid_t gid;
};

/* Fill *ra from SUDO_UID/SUDO_GID (nothing to drop when run_as_root, not
 * root, or not under sudo). -1 after printing why on a bad value. */
int run_as_setup(bool run_as_root, struct run_as *ra);

/* Fork CMD waiting on a pipe, as ra says, with signal mask *mask; returns
 * its pid (or -1), and *go_fd, which releases it when written to. */
pid_t command_spawn(char **cmd, const struct run_as *ra, int *go_fd,
		    const sigset_t *mask);

/* The command fdtrack runs, and its end. */
struct command {
	pid_t pid;
	bool traced, done;
	int status; /* exit code, or 128+N when killed by signal N */
	/* report taken at the exit stop, while the process was whole */
	struct fdtrack_group *groups;
	size_t ngroups;
	bool have_groups;
};

/* Handle ptrace stops and the end of the command (never blocks). */
void command_reap(struct fdtrack *t, struct command *cmd);

/* Before attaching: can the JSON report be written at path? -1 after
 * printing why. */
int json_report_check(const char *path);

struct run_info {
	int interrupted;       /* the signal, or 0 */
	long rss_start, rss_traced, rss_end, rss_max; /* KiB */
};

/* Write the report to path ("-" = stdout) through a temporary file and a
 * rename. cmd_name is NULL with -p PID. -1 after printing why. */
int json_report_write(const char *path, const struct fdtrack_counts *c,
		      const uint64_t *left_open, const struct fdtrack_group *g,
		      size_t ng, pid_t pid, const char *cmd_name,
		      int cmd_status, const struct run_info *ri);

#endif
