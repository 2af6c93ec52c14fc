/*
 * Types shared by fdtrack.bpf.c (kernel) and fdtrack.c (user): the ring
 * buffer records and the per-fd map value. The fdt_ / FDT_ prefix marks
 * exactly these shared types; the library's own API is fdtrack_. Kinds are
 * enum fdkind (common/fdkind.h), counted in arrays of FDKIND_COUNT.
 */
#ifndef FDTRACK_SHARED_H
#define FDTRACK_SHARED_H

#include "fdkind.h"
#define FDT_MAX_FRAMES 64

enum fdt_event_type {
	FDT_EV_OPEN = 1, /* a tracked fd appeared through a syscall */
	FDT_EV_EXEC = 2, /* the target exec'd: a new address space */
	FDT_EV_EXIT = 3, /* the whole target process is exiting */
};

/* Value of the kernel's fd -> file map. The map, not the ring buffer, is the
 * lossless view; (file, ts) tie an entry to its OPEN record. An fd number
 * keeps its entry once it held a tracked file (live says whether it holds
 * one now), so every change to one number happens under its lock. */
enum {
	FDT_F_UNCLAIMED = 1,  /* added by a snapshot or recheck, not by its open */
	FDT_F_BASE = 2,       /* ... and counted in at_start (else in
				 opened_outside_syscalls) */
	FDT_F_CLOSE_SEEN = 4, /* a close of this number returned while it looked
				 current: if it turns out gone, that close did it */
};

struct fdt_fd_entry {
	struct bpf_spin_lock lock;
	__u32 live;    /* 1: the number holds this tracked file now */
	__u64 file;    /* struct file * of the fd, to spot reuse ... */
	__u64 fop;     /* ... with its f_op: freed files get reused */
	__u64 ts;      /* ktime of the OPEN record, 0 if none was sent */
	__u32 kind;
	__u32 gen;     /* last snapshot generation that saw it */
	__u32 at_exit; /* still open when the target exited */
	__u32 flags;   /* FDT_F_* */
	/* Closes of earlier files at this number that were noticed by someone
	 * else than the closing syscall (counted in closed_outside_syscalls
	 * until that syscall's exit claims them), and when the last one was
	 * noticed. */
	__u32 pclaim[FDKIND_COUNT];
	__u32 seq;     /* bumped on every change: was the table read fresh? */
	__u32 pad;
	__u64 pclaim_ts;
	/* FDT_F_UNCLAIMED: when the snapshot or recheck read the table (after
	 * the effect that installed the file, or during its occupancy) */
	__u64 noticed;
};

struct fdt_event {
	__u32 type;
	__u32 kind;
	__s32 fd;
	__u32 tid;
	__u64 ts;
	__u64 file;
	__u32 exec_gen;  /* execs seen so far: which address space the stack is in */
	__u32 nframes;
	__u64 retaddr;   /* [sp] at the syscall if it follows a call insn, else 0 */
	__u64 frames[FDT_MAX_FRAMES];
};

#endif
