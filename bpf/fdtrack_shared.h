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

#define FDT_MAX_FRAMES 64 /* user stack frames kept per open */
#define FDT_MAX_DIFFS  8  /* words a provisional variant may differ in */
#define FDT_PROVEN     0xff
#define FDT_ROOT_TABLE 1   /* table id of the target (-p PID / CMD) */
#define FDT_ARGV_BYTES 256 /* command line bytes an EXEC record carries */
#define FDT_NAME_BYTES 16  /* an anonymous inode's name, as the dentry's */

/* Anonymous-inode names -> kinds: an open-addressed table that user space
 * fills and the kernel side probes the same way (an array lookup is
 * inlined; a hash lookup of the name cost more per open). */
#define FDT_ANON_SLOTS	64
#define FDT_ANON_PROBES 4

struct fdt_anon_slot {
	__u64 name[2]; /* FDT_NAME_BYTES, zero-padded */
	__u32 kind;
	__u32 used;
};

static inline __u32 fdt_anon_slot_of(__u64 w0, __u64 w1)
{
	return (__u32)(((w0 ^ (w1 * 0x9E3779B97F4A7C15ULL)) *
			0xC2B2AE3D27D4EB4FULL) >>
		       58); /* FDT_ANON_SLOTS */
}

/* Counters kept per fd table and kind. Always, per kind:
 *   at_start + opens + opened_outside_syscalls
 *     == closes + closed_outside_syscalls + live
 * where closes include the closes done by the exit (open_at_exit of them).
 * inherited_live of the open ones (live, or open at exit) are not the
 * program's own: open when tracking began, inherited at fork, or kept
 * across its exec (as valgrind counts inherited fds); the rest are leaks. */
enum fdt_counter {
	FDT_C_OPENS,	      /* by a syscall fdtrack models */
	FDT_C_CLOSES,	      /* close, close_range, dup2/3 onto, exec,
					 exit */
	FDT_C_CLOSED_OUTSIDE, /* gone without a syscall
					 (IORING_OP_CLOSE) */
	FDT_C_OPENED_OUTSIDE, /* found, no syscall seen (IORING_OP_*) */
	FDT_C_AT_START,	      /* open when tracking began: at attach
					 (the target), inherited at fork */
	FDT_C_OPEN_AT_EXIT,   /* open when the table died */
	FDT_C_INHERITED_LIVE, /* open ones with FDT_F_INHERITED */
	FDT_NCOUNTERS
};

/* One followed fd table: the target's, or a followed child process's.
 * Threads sharing a table share this record. */
enum {
	FDT_T_EXITED = 1, /* the last process holding it exited: reportable */
	FDT_T_STATUS = 2, /* exit_code is valid */
	FDT_T_ANNOUNCED = 4, /* a STACK record named its current address space */
};

struct fdt_table {
	__u32 tgid;	 /* the process it belongs to */
	__u32 ppid;	 /* its parent when it was created */
	__u32 aspace;	 /* its current address space (new one at exec) */
	__u32 flags;	 /* FDT_T_* */
	__s32 exit_code; /* status as the kernel keeps it (code<<8 | sig) */
	__u32 holders;	 /* processes using it (CLONE_FILES shares it) */
	__u32 fd_limit;	 /* 1 + the highest number with an entry */
	__u32 snap_gen;	 /* the snapshot generation snap_seen counts in */
	__u64 snap_seen; /* tracked fds that snapshot walked */
	__u64 std_opens; /* files put at 0-2 since tracking began: only then
			    does user space look there (fdtrack_group.std) */
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
	FDT_F_BASE = 2,	      /* ... and counted in at_start (else in
				 opened_outside_syscalls) */
	FDT_F_CLOSE_SEEN = 4, /* a close of this number returned while it looked
				 current: if it turns out gone, that close did it */
	FDT_F_INHERITED = 8,  /* not the program's own: open when tracking
				 began, inherited at fork, kept across exec */
};

struct fdt_fd_entry {
	struct bpf_spin_lock lock;
	__u32 seq;	 /* bumped on every change: was the table read fresh? */
	__u64 file;	 /* struct file * of the fd, to spot reuse ... */
	__u64 dentry;	 /* ... with its dentry: freed files get reused */
	__u64 pclaim_ts; /* when the last pending claim was noticed */
	__u64 noticed;	 /* UNCLAIMED: when the table read that put it ran */
	__u64 stack;	 /* key into the stacks map, 0: none */
	__u32 snap_gen;	 /* last snapshot generation that saw it */
	__u32 aspace;	 /* address space the stack was taken in */
	__u8 live;	 /* 1: the number holds this tracked file now */
	__u8 kind;	 /* enum fdkind */
	__u8 flags;	 /* FDT_F_* */
	__u8 at_exit;	 /* still open when the table died */
	__u8 variant;	 /* of its stack (FDT_NO_VARIANT: frame pointers) */
	__u8 ndiff;	 /* FDT_PROVEN: variant proven; else a provisional
			    variant, its stack different from the variant's
			    window in the ndiff words at diff[] (in words
			    from sp) */
	__u16 diff[FDT_MAX_DIFFS];
	/* Closes of earlier files at this number that were noticed by someone
	 * else than the closing syscall (counted in closed_outside_syscalls
	 * until that syscall's exit claims them); saturate at 65535. */
	__u16 pclaim[FDKIND_COUNT];
	char name[FDT_NAME_BYTES]; /* anon: the anonymous inode's name */
};

/* A distinct opening stack, keyed by a 64-bit hash of its content. */
struct fdt_stack {
	__u32 nframes;
	__u32 gc_gen;  /* the user-space collection round that last saw use */
	__u64 retaddr; /* [sp] at the syscall if it follows a call insn, else
			    0 (the caller of a frame-pointer-less libc wrapper) */
	__u64 frames[FDT_MAX_FRAMES];
};

/* DWARF unwinding (docs/design.md §4.6). A stack's key comes from the
 * frame-pointer walk, which code without frame pointers cuts short or fills
 * with junk, so one key may stand for several call paths: its "variants".
 * The first open of a variant copies a window of the user stack and the
 * registers (struct fdt_window); user space unwinds it with the DWARF CFI
 * of the mapped files and writes back a recipe: where the return addresses
 * it found sit, relative to sp, and their values. A later open with the
 * same key is that variant if its stack holds the same return addresses at
 * the same places; else it copies a window as a new variant (so does an
 * open that meets only variants not unwound yet cannot tell: it compares
 * its stack with the newest such variant's window and keeps the words
 * that differ, at most FDT_MAX_DIFFS; it is that variant if none of them is
 * a return address the recipe lists, which user space decides later; else
 * it copies a window of its own. A variant that unwinds to the frames of an
 * earlier one gets no recipe in the kernel (user space keeps it). */
#define FDT_WINDOW_BYTES \
	8192 /* user stack copied per variant (as perf's
				 --call-graph dwarf default) */
#define FDT_VARIANTS \
	32		      /* (= FDT_VARIANTS_PUBLIC) windows per key
				 and address space: call
				 paths, and opens that met only variants
				 still waiting to be unwound */
#define FDT_RECIPE_SLOTS 32   /* return addresses checked per variant */
#define FDT_NO_VARIANT	 0xff /* frame-pointer frames only */
#define FDT_DWARF_REGS	 17   /* x86_64 DWARF registers 0-16 (16: rip) */

struct fdt_unwind_key {
	__u64 stack;   /* the key in `stacks` */
	__u32 aspace;  /* the address space it was taken in */
	__u32 variant; /* FDT_NO_VARIANT: the key's state (struct
			  fdt_unwind_state) */
};

struct fdt_unwind_state {
	__u32 nvariants; /* variants started (a window each) */
	__u32 gc_gen;	 /* the collection round that last saw it used */
};

/* A variant's stack as the open saw it; user space deletes it once
 * unwound. */
struct fdt_window {
	__u64 regs[FDT_DWARF_REGS]; /* DWARF order: rax rdx rcx rbx rsi rdi rbp
				       rsp r8-r15 rip */
	__u32 len;		    /* bytes of data copied from regs[7] on */
	__u32 pad;
	__u8 data[FDT_WINDOW_BYTES];
};

/* Written by user space: the stack of an open is this variant if, for
 * every slot, the 8 bytes at sp + off[i] are val[i]. nslots 0: the window
 * could not be unwound; it then stands for every stack of its key. */
struct fdt_recipe {
	__u32 nslots;
	__u32 span; /* max(off) + 8: bytes to read from sp */
	__u16 off[FDT_RECIPE_SLOTS];
	__u64 val[FDT_RECIPE_SLOTS];
};

/* Per followed task (task local storage). */
struct fdt_task_state {
	__u64 last_exit; /* the notice clock at its last syscall exit */
	__u64 files;	 /* the struct files_struct * its table id belongs to */
	__u32 table;	 /* its fd table's id */
	__u32 pad;
};

/* Ring buffer records: rare ones only (a process, an exec, an exit, a
 * stack seen first); counts and stacks never depend on them. */
enum fdt_event_type {
	FDT_EV_FORK = 1,   /* a followed process got a table of its own */
	FDT_EV_EXEC = 2,   /* a new address space (struct fdt_exec_event) */
	FDT_EV_EXIT = 3,   /* a table died: its counts and entries are final */
	FDT_EV_STACK = 4,  /* a stack new to the map, or the first of an address
			     space: read /proc/PID/maps while it lives */
	FDT_EV_WINDOW = 5, /* a window to unwind (stack, aspace, variant) */
};

struct fdt_event {
	__u32 type;
	__u32 table;
	__u32 tgid;
	__u32 ppid; /* FORK */
	__u32 aspace;
	__u32 from_aspace; /* FORK: the parent's address space (same layout
			      until the child execs or maps something) */
	__u32 variant;	   /* WINDOW */
	__u32 pad;
	__u64 stack; /* STACK, WINDOW */
	__u64 ts;
};

struct fdt_exec_event {
	struct fdt_event h;
	char argv[FDT_ARGV_BYTES]; /* NUL-separated, as in /proc/PID/cmdline */
};

#endif
