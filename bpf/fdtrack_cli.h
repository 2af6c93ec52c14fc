/*
 * Internal to the fdtrack CLI: running CMD (cli_command.c) and writing the
 * reports (cli_report.c); fdtrack_cli.c has the options and the loop.
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

/* The command fdtrack runs, and its end. */
struct command {
	char **argv;
	pid_t pid;
	int go_fd;	 /* written to: the child execs */
	int err_fd;	 /* the child's reason if it could not exec */
	bool traced;	 /* ptrace-seized: exit stops (and, with follow,
			       every process it starts) */
	bool done;	 /* reaped */
	int status;	 /* exit code, or 128+N when killed by signal N */
	int start_errno; /* != 0: CMD could not be started */
	const char *start_what; /* what failed then ("run", "switch user") */
};

/* Fork CMD waiting for fdtrack, as ra says, with signal mask *mask. -1
 * after printing why. */
int command_spawn(struct command *c, char **argv, const struct run_as *ra,
		  const sigset_t *mask);

/* Seize it with ptrace (exit stops; with follow, its children too), then
 * let it exec. -1 after printing why. */
int command_start(struct command *c, bool follow);

/* Handle every ptrace stop and exit that is pending (never blocks); exit
 * stops let t read what symbolising needs while the process is whole. */
void command_reap(struct fdtrack *t, struct command *c);

/* Kill CMD (if it still runs) and reap it. */
void command_kill(struct command *c);

/* ---- reports (cli_report.c) ---- */

/* Before attaching: can the JSON report be written at path? -1 after
 * printing why. */
int json_report_check(const char *path);

struct run_info {
	pid_t pid;	/* the target */
	char **cmd;	/* -- CMD, or NULL with -p PID */
	int cmd_status; /* CMD's exit code or 128+N */
	bool follow;
	uint64_t kinds;				      /* the -k selection */
	int interrupted;			      /* the signal, or 0 */
	long rss_start, rss_traced, rss_end, rss_max; /* KiB */
	struct fdtrack_options opts; /* table sizes, for "raise it" hints */
};

/* What the run found, summed over its processes. */
struct run_totals {
	struct fdtrack_counts counts; /* over every process */
	uint64_t leaked;	      /* fds leaked, all kinds */
	size_t leaking;		      /* processes that leaked */
	bool exact;
	char why_not_exact[3][160];
	size_t nwhy;
};

void run_totals_of(const struct fdtrack_counts *all,
		   const struct fdtrack_process *p, size_t np,
		   const struct run_info *ri, struct run_totals *out);

/* "A at start + O opened - C closed = N open now" (or "left open" once
 * all_exited) for kind k of c: the summary's words, also in -i lines. */
void cli_print_balance(FILE *out, const struct fdtrack_counts *c, int k,
		       bool all_exited);
/* Has kind k of c seen anything (an fd at start, an open, a close)? */
bool cli_kind_active(const struct fdtrack_counts *c, int k);

/* The report for a person, on out. */
void text_report(FILE *out, const struct fdtrack_process *p, size_t np,
		 const struct run_totals *tot, const struct run_info *ri);

/* Write the report to path ("-" = stdout) through a temporary file and a
 * rename. -1 after printing why. */
int json_report_write(const char *path, const struct fdtrack_process *p,
		      size_t np, const struct run_totals *tot,
		      const struct run_info *ri);

#endif
