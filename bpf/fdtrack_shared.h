/*
 * Types shared by fdtrack's kernel side (fdtrack.bpf.c) and its library:
 * map keys and values, ring buffer records. The fdt_ / FDT_ prefix marks
 * exactly these shared types; the library's own API is fdtrack_. Kinds are
 * enum fdkind (common/fdkind.h), counted in arrays of FDKIND_COUNT.
 * docs/design.md §4 describes how they are used.
 */
#ifndef FDTRACK_SHARED_H
#define FDTRACK_SHARED_H

#include "fdkind.h"

#define FDT_MAX_FRAMES 64     /* user stack frames kept per open */
#define FDT_ROOT_TABLE 1      /* table id of the target (-p PID / CMD) */
#define FDT_ARGV_BYTES 256    /* command line bytes an EXEC record carries */
#define FDT_NAME_BYTES 16     /* an anonymous inode's name, as the dentry's */

/* Counters kept per fd table and kind. Always, per kind:
 *   at_start + opens + opened_outside_syscalls
 *     == closes + closed_outside_syscalls + live
 * where closes include the closes done by the exit (open_at_exit of them).
 * inherited_live of the open ones (live, or open at exit) are not the
 * program's own: open when tracking began, inherited at fork, or kept
 * across its exec (as valgrind counts inherited fds); the rest are leaks. */
enum fdt_counter {
	FDT_C_OPENS,                  /* by a syscall fdtrack models */
	FDT_C_CLOSES,                 /* close, close_range, dup2/3 onto, exec,
					 exit */
	FDT_C_CLOSED_OUTSIDE,         /* gone without a syscall
					 (IORING_OP_CLOSE) */
	FDT_C_OPENED_OUTSIDE,         /* found, no syscall seen (IORING_OP_*) */
	FDT_C_AT_START,               /* open when tracking began: at attach
					 (the target), inherited at fork */
	FDT_C_OPEN_AT_EXIT,           /* open when the table died */
	FDT_C_INHERITED_LIVE,         /* open ones with FDT_F_INHERITED */
	FDT_NCOUNTERS
};

/* One followed fd table: the target's, or a followed child process's.
 * Threads sharing a table share this record. */
enum {
	FDT_T_EXITED = 1,    /* the last process holding it exited: reportable */
	FDT_T_STATUS = 2,    /* exit_code is valid */
	FDT_T_ANNOUNCED = 4, /* a STACK record named its current address space */
};

struct fdt_table {
	__u32 tgid;          /* the process it belongs to */
	__u32 ppid;          /* its parent when it was created */
	__u32 aspace;        /* its current address space (new one at exec) */
	__u32 flags;         /* FDT_T_* */
	__s32 exit_code;     /* status as the kernel keeps it (code<<8 | sig) */
	__u32 holders;       /* processes using it (CLONE_FILES shares it) */
	__u32 fd_limit;      /* 1 + the highest number with an entry */
	__u32 snap_gen;      /* the snapshot generation snap_seen counts in */
	__u64 snap_seen;     /* tracked fds that snapshot walked */
	__u64 count[FDT_NCOUNTERS][FDKIND_COUNT];
};

/* Key of the per-fd map: one entry per (table, number) that ever held a
 * tracked file. An entry keeps its number's lock for the table's lifetime
 * (live says whether it holds a file now), so every change to one number
 * happens under one lock. */
struct fdt_fd_key {
	__u32 table;
	__u32 fd;
};

enum {
	FDT_F_UNCLAIMED = 1,  /* put by a snapshot, recheck or exit walk, not by
				 its open */
	FDT_F_BASE = 2,       /* ... and counted in at_start (else in
				 opened_outside_syscalls) */
	FDT_F_CLOSE_SEEN = 4, /* a close of this number returned while it looked
				 current: if it turns out gone, that close did it */
	FDT_F_INHERITED = 8,  /* not the program's own: open when tracking
				 began, inherited at fork, kept across exec */
};

struct fdt_fd_entry {
	struct bpf_spin_lock lock;
	__u32 seq;       /* bumped on every change: was the table read fresh? */
	__u64 file;      /* struct file * of the fd, to spot reuse ... */
	__u64 dentry;    /* ... with its dentry: freed files get reused */
	__u64 pclaim_ts; /* when the last pending claim was noticed */
	__u64 noticed;   /* UNCLAIMED: when the table read that put it ran */
	__u64 stack;     /* key into the stacks map, 0: none */
	__u32 snap_gen;  /* last snapshot generation that saw it */
	__u32 aspace;    /* address space the stack was taken in */
	__u8 live;       /* 1: the number holds this tracked file now */
	__u8 kind;       /* enum fdkind */
	__u8 flags;      /* FDT_F_* */
	__u8 at_exit;    /* still open when the table died */
	/* Closes of earlier files at this number that were noticed by someone
	 * else than the closing syscall (counted in closed_outside_syscalls
	 * until that syscall's exit claims them); saturate at 65535. */
	__u16 pclaim[FDKIND_COUNT];
	char name[FDT_NAME_BYTES]; /* anon: the anonymous inode's name */
};

/* A distinct opening stack, keyed by a 64-bit hash of its content. */
struct fdt_stack {
	__u32 nframes;
	__u32 gc_gen;    /* the user-space collection round that last saw use */
	__u64 retaddr;   /* [sp] at the syscall if it follows a call insn, else
			    0 (the caller of a frame-pointer-less libc wrapper) */
	__u64 frames[FDT_MAX_FRAMES];
};

/* Per followed task (task local storage). */
struct fdt_task_state {
	__u64 last_exit; /* ktime of its last syscall exit */
	__u64 files;     /* the struct files_struct * its table id belongs to */
	__u32 table;     /* its fd table's id */
	__u32 pad;
};

/* Ring buffer records: rare ones only (a process, an exec, an exit, a
 * stack seen first); counts and stacks never depend on them. */
enum fdt_event_type {
	FDT_EV_FORK = 1,  /* a followed process got a table of its own */
	FDT_EV_EXEC = 2,  /* a new address space (struct fdt_exec_event) */
	FDT_EV_EXIT = 3,  /* a table died: its counts and entries are final */
	FDT_EV_STACK = 4, /* a stack new to the map, or the first of an address
			     space: read /proc/PID/maps while it lives */
};

struct fdt_event {
	__u32 type;
	__u32 table;
	__u32 tgid;
	__u32 ppid;        /* FORK */
	__u32 aspace;
	__u32 from_aspace; /* FORK: the parent's address space (same layout
			      until the child execs or maps something) */
	__u64 stack;       /* STACK */
	__u64 ts;
};

struct fdt_exec_event {
	struct fdt_event h;
	char argv[FDT_ARGV_BYTES]; /* NUL-separated, as in /proc/PID/cmdline */
};

#endif
