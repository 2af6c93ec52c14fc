/*
 * fdtrack: watch the fds of a process (and, with follow, of every process
 * it starts) with eBPF: every fd kind of common/fdkind.h, or those chosen.
 * The implementation is in fdtrack.c (loading, events, counts), procs.c
 * (the followed processes and their reports), groups.c (fds grouped by
 * opening stack) and symbolize.c; the kernel side is fdtrack.bpf.c.
 *
 * All functions return 0 or a negative errno; on failure fdtrack_error()
 * says in one line what is missing and what to do.
 *
 * Counts come from kernel counters updated in each syscall's exit, and
 * every tracked fd keeps the key of its opening stack in the kernel, so
 * neither depends on the ring buffer (it only brings rare records: a new
 * process, an exec, an exit, a stack seen first).
 *
 * Guarantees per process and kind (docs/design.md §4.3, argument in §4.4):
 *   - always: at_start + opens + opened_outside_syscalls
 *               == closes + closed_outside_syscalls + live;
 *   - after fdtrack_reconcile(): live == the process's tracked fds in
 *     /proc/PID/fd (IORING_OP_CLOSE'd fds are then closed outside syscalls);
 *   - with threads racing on fd numbers, once every syscall of the target
 *     returned and nothing happened outside the syscalls fdtrack models:
 *     both *_outside_syscalls are 0 and at_start + opens == closes + live;
 *   - unless counts.exact_lost says otherwise (a table of fdtrack's own
 *     was full: raise max_fds / max_procs).
 *
 * One struct fdtrack must be used by one thread at a time. x86_64 only.
 */
#ifndef FDTRACK_H
#define FDTRACK_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fdkind.h"

/* Counts per fd kind (enum fdkind; names from fdkind_name()). closes
 * include the closes done by the exit: open_at_exit of them. */
struct fdtrack_counts {
	uint64_t opens[FDKIND_COUNT];
	uint64_t closes[FDKIND_COUNT]; /* closes seen by syscalls + exec/exit */
	uint64_t live[FDKIND_COUNT];   /* open now, after reconciliation */
	uint64_t closed_outside_syscalls[FDKIND_COUNT]; /* e.g. IORING_OP_CLOSE */
	uint64_t lost_events; /* ring buffer overflows, never hidden */
	/* Added after the first contract; always
	 *   at_start + opens + opened_outside_syscalls
	 *     == closes + closed_outside_syscalls + live  */
	uint64_t at_start[FDKIND_COUNT]; /* open when tracking began: at
					       attach, or inherited at fork */
	uint64_t opened_outside_syscalls[FDKIND_COUNT]; /* IORING_OP_OPENAT, ... */
	uint64_t open_at_exit[FDKIND_COUNT]; /* open when the process exited */
	uint64_t exited; /* 1 once the target process exited */
	/* Added with fd kinds and follow: */
	uint64_t open_since_start[FDKIND_COUNT]; /* of open_at_exit (of live while
						    running): open since
						    tracking began, so not
						    leaks */
	uint64_t stacks_dropped; /* opens left without a stack (table full) */
	uint64_t fds_full;	 /* fds not tracked: the fd table was full */
	uint64_t procs_full;	 /* processes not followed: table full */
	uint64_t processes;	 /* processes followed (the target included) */
	uint64_t running;	 /* ... of them still running */
	uint64_t races_lost;	 /* closes whose exit could not read its number
				     fresh (4 times): filed outside syscalls
				     when the snapshot finds them (§4.4) */
	/* Added with DWARF unwinding: */
	uint64_t unwinds_dropped; /* opens left with frame-pointer frames only:
				     FDT_VARIANTS call paths behind one
				     frame-pointer stack, or a table full */
	uint64_t unwound;	  /* stack windows unwound with DWARF CFI */
	/* Added with the standard streams rule: */
	uint64_t open_std[FDKIND_COUNT]; /* of open_at_exit (of live while
					    running): at 0, 1 or 2 (stdin,
					    stdout, stderr), opened since
					    tracking began (a shell's
					    redirection, a daemon's
					    /dev/null): not leaks, as
					    valgrind --track-fds=yes; 0 with
					    std_fds_are_leaks */
	/* Added with suppressions (in fdtrack_processes()' counts, whose
	 * groups are symbolised; 0 in fdtrack_counts()): */
	uint64_t suppressed[FDKIND_COUNT]; /* of the leaks: opened under a
					      function options.suppress
					      names, so not leaked */
	/* Added with the kernel matrix: runs of fdtrack's programs the
	 * kernel skipped (bpf_prog_info.recursion_misses): where a syscall
	 * tracepoint's program can be preempted (Linux 7.x, PREEMPT_LAZY),
	 * a run preempted on a CPU makes the kernel skip the next there, so
	 * counts and stacks may miss syscalls. Not read for a process
	 * watching itself (it would cost a syscall per program per sample):
	 * 0 there. */
	uint64_t runs_missed;
};

/* Call paths unwound per frame-pointer stack and address space (more
 * share frame-pointer frames: unwinds_dropped). */
#define FDT_VARIANTS_PUBLIC 32

/* Leaked fds of kind k: open at exit (or now, while running), opened
 * after tracking began, and not at 0-2 (unless std_fds_are_leaks). */
static inline uint64_t fdtrack_leaked(const struct fdtrack_counts *c, int k)
{
	return (c->exited ? c->open_at_exit[k] : c->live[k]) -
	       c->open_since_start[k] - c->open_std[k] - c->suppressed[k];
}

struct fdtrack_options {
	unsigned ringbuf_bytes; /* 0 = default */
	int want_stacks; /* record user stacks of opens (default on: 1) */
	/* Added with fd kinds and follow (0 = the default each): */
	uint64_t kinds;	     /* FDKIND_MASK() set to track; 0 = all */
	int follow;	     /* also every process the target starts */
	unsigned max_fds;    /* fd entries (default: /proc/sys/fs/nr_open) */
	unsigned max_stacks; /* distinct stacks (default 16384) */
	unsigned max_procs;  /* processes at once (default 4096) */
	/* Added with DWARF unwinding and demangling (0 = the default): */
	int frame_pointers_only; /* 1: no DWARF unwinding of opening stacks */
	int raw_symbols;	 /* 1: C++ and Rust names left mangled */
	/* Added with the standard streams rule: */
	int std_fds_are_leaks; /* 1: fds left at 0-2 count as leaks too (as
				  valgrind --track-fds=all) */
	/* Added with suppressions: */
	const char *const *suppress; /* NULL-terminated fnmatch(3) patterns
					of function names (demangled unless
					raw_symbols; "fun:" prefix optional)
					or, with "obj:", of module base
					names; copied: a leak with a frame
					that matches one is suppressed, as by
					a valgrind suppression; NULL: none */
};

struct fdtrack;

/* The options in use, defaults filled in (table sizes, kinds). */
void fdtrack_get_options(const struct fdtrack *t, struct fdtrack_options *out);

/* Load, set the kernel-side filters, attach. Existing fds of the target
 * are taken from an iterator snapshot at attach time and counted in
 * at_start (not as opens). */
int fdtrack_open(pid_t tgid, const struct fdtrack_options *opts,
		 struct fdtrack **out);
/* Consume pending ring-buffer records and report processes that exited;
 * timeout_ms 0 = don't block. Call it while the target runs, as the CLI
 * does (woken by fdtrack_poll_fd(), at least every 0.1 s): a call path new
 * to fdtrack is unwound here (DWARF), and until it is, every open from it
 * compares its stack with the path's copied window in the kernel (about
 * 1 µs an open on our VMs). */
int fdtrack_poll(struct fdtrack *t, int timeout_ms);
/* An fd that becomes readable when records arrive (to wait on it together
 * with others; then call fdtrack_poll(t, 0)); -1 when the target is the
 * calling process (it holds no such fd: poll with a timeout instead). */
int fdtrack_poll_fd(const struct fdtrack *t);
/* Consume records, then take an exact snapshot of the followed fd tables
 * with the task_file iterator and reconcile: fds the syscall view has open
 * but the kernel does not are moved to closed_outside_syscalls. */
int fdtrack_reconcile(struct fdtrack *t);
/* Totals over every followed process (the target alone without follow). */
void fdtrack_counts(const struct fdtrack *t, struct fdtrack_counts *out);

/* One frame of an opening stack, as data (NULL / 0: not known). */
struct fdtrack_frame {
	uint64_t addr; /* the return address (the first: the syscall's ip) */
	char *symbol;  /* function, demangled unless raw_symbols */
	char *file;    /* source file (base name) */
	int line;
	char *module; /* the mapped file (base name) */
};

/* Live tracked fds of the target, opened since tracking began, grouped by
 * opening stack (largest group first); after the target exited, those it
 * left open. Runs fdtrack_reconcile() first. Symbols are resolved here
 * (lazily, cached), never while records arrive. */
struct fdtrack_group {
	enum fdkind kind;
	unsigned count;
	unsigned nframes;
	char **frames; /* "function (file:line)" or "function+0xoff (module)" */
	/* Added with fd kinds and follow: */
	char name[16]; /* FDKIND_ANON: the inode's own name ("[vfio-device]") */
	pid_t pid;     /* the process holding them */
	int at_start;  /* 1: open since tracking began (inherited, or before
			  fdtrack attached): not a leak, no stack */
	int *fds;      /* the count fd numbers, ascending */
	/* Added with DWARF unwinding: */
	struct fdtrack_frame *frame_info; /* the nframes frames as data */
	int frame_pointers_only; /* 1: DWARF unwinding was on but these frames
				    come from the frame-pointer walk alone
				    (unwinds_dropped, or its stack turned out
				    to be another call path than the window it
				    was compared with) */
	/* Added with the standard streams rule: */
	int std; /* 1: at 0-2 and opened since tracking began: not a leak
		    (counts.open_std), listed with its stack */
	/* Added with suppressions: */
	int suppressed; /* 1: a leak whose stack has a frame in a function
			   options.suppress names (counts.suppressed) */
	/* Added with fd names: */
	char **fd_names; /* count entries, as fds: what /proc/PID/fd/N named
			    each ("/tmp/x", "pipe:[123]", "socket:[45]")
			    where fdtrack could read it (a running process,
			    or under -- CMD one at its exit stop); NULL
			    entries (or array): not known, or an anonymous
			    inode (its kind says it all) */
	/* Added with the report's second pass: */
	int stacks_off; /* 1: opening stacks were off (want_stacks 0), so
			   nframes is 0 by the user's choice */
};
int fdtrack_live_groups(struct fdtrack *t, struct fdtrack_group **groups,
			size_t *ngroups);
void fdtrack_groups_free(struct fdtrack_group *groups, size_t ngroups);

/* Human-readable leak report of the groups. */
void fdtrack_print_groups(FILE *out, const struct fdtrack_group *groups,
			  size_t ngroups);

/* 1 once the whole target process has exited (its fds are then in
 * open_at_exit, and fdtrack_live_groups() lists what was open at exit). */
int fdtrack_exited(const struct fdtrack *t);

/* ---- follow: every process ------------------------------------------- */

/* One followed process: exited ones as they exited, running ones as now. */
struct fdtrack_process {
	pid_t pid, ppid;
	char *cmdline; /* arguments joined by spaces; NULL: unknown */
	int exited;    /* 1: gone; status is valid if has_status */
	int has_status;
	int status; /* as wait() gives it (WIFEXITED, ...) */
	struct fdtrack_counts counts;
	struct fdtrack_group *groups; /* leaks first, then the at_start ones */
	size_t ngroups;
};

/* Every process followed so far, in the order fdtrack saw them start;
 * running ones are reconciled first. */
int fdtrack_processes(struct fdtrack *t, struct fdtrack_process **procs,
		      size_t *nprocs);
void fdtrack_processes_free(struct fdtrack_process *procs, size_t nprocs);

/* 1 once the target and every process it started (with follow) exited. */
int fdtrack_all_exited(const struct fdtrack *t);

/* The caller holds thread tid in a ptrace exit stop (the process is still
 * whole): take what symbolising its stacks later needs. */
void fdtrack_exit_stop(struct fdtrack *t, pid_t tid);

/* Detach and free everything (BPF links, maps, symbol caches). */
void fdtrack_close(struct fdtrack *t);

/* The last error of this thread, one line, never NULL. fdtrack_open()
 * returns -EPERM only when this process may not load BPF programs (no
 * CAP_BPF and CAP_PERFMON, nor CAP_SYS_ADMIN), -EOPNOTSUPP when the
 * kernel lacks a feature (named in the message), -ENOEXEC when the
 * kernel's verifier rejected a program (a bug of fdtrack's: the message
 * has the program, the kernel and the verifier's last lines). */
const char *fdtrack_error(void);

/* Runs of fdtrack's programs the kernel skipped so far (counts.
 * runs_missed, which fdtrack_counts() leaves 0 for a process watching
 * itself: this costs it a few syscalls per call). */
uint64_t fdtrack_runs_missed(struct fdtrack *t);

/* 1 if this process has the capabilities to load fdtrack's programs. */
int fdtrack_bpf_permitted(void);

/* What loading cost, as the kernel counted it: per program the
 * instructions its verifier processed (bpf_prog_info.verified_insns; the
 * kernel gives up at 1,000,000, fdtrack's budget is 150,000), and the
 * time fdtrack_open() took to load (verification included) and in all
 * (load, attach, the first snapshot: until the target is watched). */
#define FDTRACK_MAX_PROGS 8
struct fdtrack_bpf_stats {
	struct {
		char name[32];
		unsigned verified_insns;
	} prog[FDTRACK_MAX_PROGS];
	int nprogs;
	/* 1: kernel memory read with plain loads (bpf_rdonly_cast, Linux
	 * 6.2+); 0: with bpf_probe_read_kernel (any kernel) */
	int kfunc_reads;
	double load_seconds;
	double start_seconds;
	double start; /* (internal: when fdtrack_open() began) */
};
void fdtrack_get_bpf_stats(const struct fdtrack *t,
			   struct fdtrack_bpf_stats *out);

#endif
