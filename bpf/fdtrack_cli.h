/*
 * Internal to the fdtrack CLI: running CMD (cli_command.c), writing the
 * reports (cli_report.c) and reading suppressions (cli_suppress.c);
 * fdtrack_cli.c has the options and the loop.
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
#include "outfile.h"

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

/* A process of CMD's tree that fdtrack signalled to stop it, and how it
 * ended. */
struct stopped_proc {
	pid_t pid;
	int first_sig, last_sig; /* what fdtrack sent it */
	bool reaped;		 /* by fdtrack: status is how it ended */
	int status;		 /* as wait() gives it */
	char cmdline[160];	 /* read when first signalled */
};

/* The command fdtrack runs, and its end. */
struct command {
	char **argv;
	pid_t pid;
	struct spawn_page *page; /* shared with the child until it execs */
	bool started;		 /* told to exec */
	bool traced;		 /* ptrace-seized: exit stops (and, with follow,
				    every process it starts) */
	bool done;		 /* reaped */
	int status;	 /* exit code, or 128+N when killed by signal N */
	int start_errno; /* != 0: CMD could not be started */
	const char *start_what; /* what failed then ("run", "switch user") */
	struct stopped_proc *stopped; /* the processes fdtrack signalled */
	size_t nstopped;
};

/* Fork CMD waiting for fdtrack, as ra says, with signal mask *mask; the
 * child closes own[0..nown) (fdtrack's fds) at once, so CMD's fds at
 * start are its own. fdtrack becomes the subreaper of CMD's tree. -1
 * after printing why. */
int command_spawn(struct command *c, char **argv, const struct run_as *ra,
		  const sigset_t *mask, const int *own, size_t nown);

/* Seize it with ptrace (exit stops; with follow, its children too), then
 * let it exec. -1 after printing why. */
int command_start(struct command *c, bool follow);

/* Handle every ptrace stop and exit that is pending (never blocks); exit
 * stops let t read what symbolising needs while the process is whole. */
void command_reap(struct fdtrack *t, struct command *c);

/* Send sig to every live process of CMD's tree (CMD and, fdtrack being
 * their subreaper, every descendant, those whose parents exited too),
 * noting each in c->stopped. How many were signalled. */
size_t command_signal_tree(struct command *c, int sig);

/* Processes in CMD's tree: live ones, or also the zombies nobody has
 * reaped yet. */
size_t command_tree_left(bool zombies);

/* Kill what is left of CMD's tree, reap CMD, free what spawn kept. */
void command_kill(struct command *c);

/* ---- suppressions (cli_suppress.c) ---- */

#define SUPPRESSION_LINE_MAX 4096
#define SUPPRESSIONS_MAX     (1 << 20) /* bytes of a --suppressions file */

/* Every pattern of a suppressions text (len bytes) to add(); 0, or -1 with
 * why saying which line is wrong (or add's out of memory). */
int cli_suppressions_parse(const char *text, size_t len,
			   int (*add)(const char *pattern, void *arg),
			   void *arg, char *why, size_t whylen);
/* The text of a suppressions file (a regular file or a pipe, at most
 * SUPPRESSIONS_MAX bytes; malloc'ed). 0, or -1 with why. */
int cli_suppressions_read(const char *path, char **text, size_t *len, char *why,
			  size_t whylen);

/* ---- reports (cli_report.c) ---- */

/* s for a terminal, as ls -b writes names: \\, \n, \t, \r by name; any
 * other control character (C0, DEL, C1) and every byte that is not valid
 * UTF-8 as \ooo (octal), so a name can neither forge a report line nor
 * send the terminal an escape sequence. cli_text_dup: the same, malloc'ed
 * (NULL: out of memory). */
void cli_text_str(FILE *out, const char *s);
char *cli_text_dup(const char *s);

struct run_info {
	pid_t pid;	/* the target */
	char **cmd;	/* -- CMD, or NULL with -p PID */
	int cmd_status; /* CMD's exit code or 128+N */
	bool follow;
	uint64_t kinds;	     /* the -k selection */
	int interrupted;     /* the signal, or 0 */
	bool duration_ended; /* -d ended the run */
	bool cmd_killed;     /* and fdtrack killed what was left of CMD's */
	const struct stopped_proc *stopped; /* the processes fdtrack stopped */
	size_t nstopped;
	long rss_start, rss_traced, rss_end, rss_max; /* KiB */
	struct fdtrack_options opts; /* table sizes, for "raise it" hints */
};

/* What the run found, summed over its processes. */
struct run_totals {
	struct fdtrack_counts counts; /* over every process */
	uint64_t leaked;	      /* fds leaked, all kinds */
	size_t leaking;		      /* processes that leaked */
	/* fds opened during the run, open in a process cut short
	 * (cli_cut_short): not leaks */
	uint64_t still_open;
	size_t holding; /* processes with fds still open */
	uint64_t leaked_by_kind[FDKIND_COUNT], still_open_by_kind[FDKIND_COUNT];
	bool exact;
	char why_not_exact[3][160];
	size_t nwhy;
};

void run_totals_of(const struct fdtrack_counts *all,
		   const struct fdtrack_process *p, size_t np,
		   const struct run_info *ri, struct run_totals *out);

/* Was p still running when fdtrack stopped watching, or killed by
 * fdtrack's SIGKILL? Its fds opened during the run are then "still open",
 * not leaked. */
bool cli_cut_short(const struct fdtrack_process *p, const struct run_info *ri);

/* "A at start + O opened - C closed = N open now" (or "left open" once
 * all_exited) for kind k of c: the summary's words, also in -i lines. */
void cli_print_balance(FILE *out, const struct fdtrack_counts *c, int k,
		       bool all_exited);
/* Has kind k of c seen anything (an fd at start, an open, a close)? */
bool cli_kind_active(const struct fdtrack_counts *c, int k);

/* The report for a person, on out. */
void text_report(FILE *out, const struct fdtrack_process *p, size_t np,
		 const struct run_totals *tot, const struct run_info *ri);

/* Write the report to out (opened before attaching, outfile.h) and put it
 * in place. -1 after printing why (and where the finished report is kept
 * if it could not take its name). */
int json_report_write(struct outfile *out, const struct fdtrack_process *p,
		      size_t np, const struct run_totals *tot,
		      const struct run_info *ri);

#endif
