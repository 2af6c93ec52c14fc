/*
 * Types shared by fdtrack.bpf.c (kernel) and fdtrack.c (user): the ring
 * buffer records and the per-fd map value. Kind numbers match enum
 * fdtrack_kind.
 */
#ifndef FDTRACK_EVENTS_H
#define FDTRACK_EVENTS_H

#define FDT_NKINDS 2
#define FDT_MAX_FRAMES 64

enum fdt_event_type {
	FDT_EV_OPEN = 1, /* a tracked fd appeared through a syscall */
	FDT_EV_EXEC = 2, /* the target exec'd: a new address space */
	FDT_EV_EXIT = 3, /* the whole target process is exiting */
};

/* Value of the kernel's fd -> file map. The map, not the ring buffer, is the
 * lossless view; (file, ts) tie an entry to its OPEN record. */
struct fdt_fdinfo {
	__u64 file;    /* struct file * of the fd, to spot reuse ... */
	__u64 fop;     /* ... with its f_op: freed files get reused */
	__u64 ts;      /* ktime of the OPEN record, 0 if none was sent */
	__u32 kind;
	__u32 gen;     /* last snapshot generation that saw it */
	__u32 at_exit; /* still open when the target exited */
	__u32 pad;
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
