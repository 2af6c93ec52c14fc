/*
 * Internal to libfdtrack (fdtrack.c, procs.c, groups.c): struct fdtrack and
 * what its parts call in each other.
 */
#ifndef FDTRACK_INTERNAL_H
#define FDTRACK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "fdtrack.h"
#include "fdtrack_shared.h"
#include "ring.h"
#include "symbolize.h"
#include "unwind.h"

/* A group of fds while it is built: raw stack, not yet symbolised. */
struct raw_group {
	enum fdkind kind;
	char name[FDT_NAME_BYTES];
	int at_start;
	int std; /* at 0-2, opened since tracking began (fdtrack_group.std) */
	uint32_t aspace;
	uint64_t stack_key;
	uint8_t variant;	 /* of the stack (FDT_NO_VARIANT: none) */
	struct fdt_stack *stack; /* copied from the kernel; NULL: none */
	struct unwound *dwarf;	 /* its DWARF frames, copied; NULL: none */
	int *fds;
	unsigned count, cap;
};

/* What /proc/PID/fd/N named an fd ("/tmp/x", "pipe:[123]", a socket by
 * its addresses). */
struct fd_name {
	int fd;
	char *name;
};

/* A process's fd names, by fd; none for anonymous inodes. */
struct fd_names {
	struct fd_name *v;
	size_t n;
};

/* A followed process (one fd table) as user space knows it. */
struct proc {
	uint32_t table;
	pid_t pid, ppid;
	uint32_t aspace; /* its current address space */
	char *cmdline;	 /* NULL: not known yet */
	uint64_t seq;	 /* order of first sight */
	/* once it exited (report taken, kernel entries deleted): */
	bool exited, has_status;
	int status;
	__u64 count[FDT_NCOUNTERS][FDKIND_COUNT];
	struct raw_group *groups;
	size_t ngroups;
	struct fd_names names; /* read at its exit stop (-- CMD) */
};

/* The maps user space reads. */
enum fdt_map {
	FDT_MAP_FDS,
	FDT_MAP_TABLES,
	FDT_MAP_STACKS,
	FDT_MAP_UNWINDS,
	FDT_MAP_RECIPES,
	FDT_MAP_WINDOWS,
	FDT_NMAPS
};

struct fdtrack_bpf__bss;
struct fdtrack_bpf__data;

struct fdtrack {
	struct fdtrack_bpf *skel;     /* until attached (see keep_used()) */
	struct fdtrack_bpf__bss *bss; /* the kernel side's globals, mapped */
	struct fdtrack_bpf__data *data;
	size_t bss_len, data_len;  /* our own mappings, once skel is gone */
	struct bpf_link *links[3]; /* sys_exit, exit, fork */
	struct ring_buffer *rb;	   /* or, watching self, ring (no epoll fd) */
	struct ring ring;
	struct bpf_link *iter;
	pid_t tgid;
	struct fdtrack_options opts; /* as used (defaults filled in; suppress
					points to our copy) */
	char **suppress;	     /* the copy: NULL-terminated, or NULL */
	/* the maps user space reads: skel's fds until attached, then opened
	 * by id when first needed (map_fd()); a process watching itself
	 * closes them when each call ends (maps_release()), so it holds none
	 * between calls (its /proc sampler reads every fd it holds) */
	uint32_t map_id[FDT_NMAPS];
	int map_fds[FDT_NMAPS]; /* opened by id, or -1 */
	bool watching_self;	/* the target is this process */
	struct symbolizer symbolizer;
	struct unwinder unwinder;
	/* every process seen, by table id (open addressing) and in order */
	struct proc **procs;
	size_t nprocs, cap;
	uint64_t next_seq;
	uint64_t lost_seen;	 /* lost_events when tables were scanned */
	uint64_t stacks_deleted; /* by the stack collector */
	bool failed;		 /* an error while handling records */
	struct fdtrack_bpf_stats stats; /* (start: when fdtrack_open began) */
};

/* load.c */
/* An fd of map m (-1 with errno if it cannot be had); after attach opened
 * by id the first time. When the target is this process, the opens and
 * closes of these fds are not the target's: the kernel side skips them
 * (self_tid). */
int map_fd(struct fdtrack *t, enum fdt_map m);
/* The calling thread's next syscalls are fdtrack's own, not the target's
 * (a process watching itself: the kernel side skips them, self_tid). */
void own_syscalls(struct fdtrack *t, bool own);
/* Every public call that may use a map ends with this (and every snapshot
 * starts with it: the walk would see them): a process watching itself
 * closes its map fds; any other keeps them until fdtrack_close(). */
void maps_release(struct fdtrack *t);
/* A ring-buffer record (ctx: the struct fdtrack). */
int on_record(void *ctx, void *data, size_t len);

/* procs.c */
struct proc *proc_find(struct fdtrack *t, uint32_t table);
struct proc *proc_add(struct fdtrack *t, uint32_t table, pid_t pid, pid_t ppid,
		      uint32_t aspace);
void procs_free(struct fdtrack *t);
int procs_on_record(struct fdtrack *t, const void *data, size_t len);
int procs_scan_tables(struct fdtrack *t);
int procs_collect_stacks(struct fdtrack *t);
/* Make sure aspace's maps are copied, if a process still runs in it. */
void procs_read_maps_for(struct fdtrack *t, uint32_t aspace);
/* The same even if known: modules mapped since (dlopen) become known. */
void procs_reread_maps_for(struct fdtrack *t, uint32_t aspace);
/* Add one table's kernel counters to c (live and open_since_start
 * derived). */
void counts_add(struct fdtrack_counts *c,
		const __u64 count[FDT_NCOUNTERS][FDKIND_COUNT]);
int proc_read_table(struct fdtrack *t, uint32_t table, struct fdt_table *out);

/* groups.c */
/* Live (or open-at-exit) entries of a table, grouped; stacks copied. */
int groups_of_table(struct fdtrack *t, uint32_t table, uint32_t fd_limit,
		    bool at_exit, struct raw_group **out, size_t *nout);
void raw_groups_free(struct raw_group *g, size_t n);
/* Add the fds of the suppressed groups to c->suppressed. */
void counts_add_suppressed(struct fdtrack_counts *c,
			   const struct fdtrack_group *g, size_t n);
/* Add the fds of g's std groups to c->open_std. */
void counts_add_std(struct fdtrack_counts *c, const struct raw_group *g,
		    size_t n);
/* Add the fds a running table holds at 0-2, opened since tracking began,
 * to c->open_std (three lookups). */
int table_add_std(struct fdtrack *t, uint32_t table, struct fdtrack_counts *c);
/* Process pid's fd names now, from /proc/PID/fd (replacing *out's). */
void fd_names_read(pid_t pid, struct fd_names *out);
void fd_names_free(struct fd_names *names);
/* Symbolised public groups of process p from raw ones (leaks first,
 * largest first). */
int groups_publish(struct fdtrack *t, const struct proc *p,
		   const struct raw_group *raw, size_t nraw, bool leaks_only,
		   struct fdtrack_group **out, size_t *nout);

/* windows.c: unwind the window of key (a WINDOW record) with t's
 * unwinder, write its recipe, delete it (0, or -ENOMEM); every window still
 * waiting (a record lost, or not yet read): before a report. */
int windows_unwind(struct fdtrack *t, const struct fdt_unwind_key *key);
int windows_pending(struct fdtrack *t);

/* diagnose.c: libbpf's messages kept from diagnose_start() on (and
 * printed under FDTRACK_DEBUG); diagnose_load_error() sets fdtrack_error()
 * to why `step` failed with err: -EPERM only when the capabilities are
 * missing, -EOPNOTSUPP for a missing kernel feature (named), -ENOEXEC for
 * a verifier rejection (fdtrack's bug), else err. */
void diagnose_start(void);
int diagnose_load_error(int err, const char *step);

/* fdtrack.c: the snapshot (task_file iterator) until it completes; the
 * error message emptied at the start of fdtrack_open(). */
int snapshot_run(struct fdtrack *t);
void lib_clear_error(void);
int lib_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
