/*
 * fdtrack: watch one process's eventfd and io_uring fds with eBPF.
 * (Contract fixed first so exstress can code against it; the implementation
 * is in fdtrack.c, the kernel side in fdtrack.bpf.c.)
 *
 * All functions return 0 or a negative errno; on failure fdtrack_error()
 * says in one line what is missing and what to do.
 *
 * Counts come from kernel counters updated in each syscall's exit, so they
 * never depend on the ring buffer (a lost event only costs that fd its
 * stack; lost_events says how many).
 *
 * Guarantees (docs/design.md §4.2, proof in §4.3):
 *   - always: at_start + opens + opened_outside_syscalls
 *               == closes + closed_outside_syscalls + live;
 *   - after fdtrack_reconcile(): live == the target's tracked fds in
 *     /proc/PID/fd (IORING_OP_CLOSE'd fds are then closed outside syscalls);
 *   - with threads racing on fd numbers, once every syscall of the target
 *     returned and nothing happened outside the syscalls fdtrack models:
 *     both *_outside_syscalls are 0 and at_start + opens == closes + live.
 *
 * One struct fdtrack must be used by one thread at a time. x86_64 only.
 */
#ifndef FDTRACK_H
#define FDTRACK_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fdkind.h"

/* Counts are per fd kind (enum fdkind, common/fdkind.h; names from
 * fdkind_name()). Today the kernel side tracks eventfd and io_uring. */
struct fdtrack_counts {
	uint64_t opens[FDKIND_COUNT];
	uint64_t closes[FDKIND_COUNT];      /* closes seen by syscalls + exec/exit */
	uint64_t live[FDKIND_COUNT];        /* open now, after reconciliation */
	uint64_t closed_outside_syscalls[FDKIND_COUNT]; /* e.g. IORING_OP_CLOSE */
	uint64_t lost_events;               /* ring buffer overflows, never hidden */
	/* Added after the first contract; always
	 *   at_start + opens + opened_outside_syscalls
	 *     == closes + closed_outside_syscalls + live  */
	uint64_t at_start[FDKIND_COUNT];    /* open when fdtrack attached */
	uint64_t opened_outside_syscalls[FDKIND_COUNT]; /* SCM_RIGHTS, ... */
	uint64_t open_at_exit[FDKIND_COUNT]; /* open when the target exited */
	uint64_t exited;                    /* 1 once the target process exited */
};

struct fdtrack_options {
	unsigned ringbuf_bytes;   /* 0 = default */
	int want_stacks;          /* record user stacks of opens (default on: 1) */
};

struct fdtrack;

/* Load, set the kernel-side tgid filter, attach. Existing fds of the target
 * are taken from an iterator snapshot at attach time and counted as live
 * (not as opens). */
int fdtrack_open(pid_t tgid, const struct fdtrack_options *opts,
		 struct fdtrack **out);
/* Consume pending ring-buffer events; timeout_ms 0 = don't block. */
int fdtrack_poll(struct fdtrack *t, int timeout_ms);
/* Consume events, then take an exact snapshot of the target's fd table with
 * the task_file iterator and reconcile: fds the event view has open but the
 * kernel does not are moved to closed_outside_syscalls. */
int fdtrack_reconcile(struct fdtrack *t);
void fdtrack_counts(const struct fdtrack *t, struct fdtrack_counts *out);

/* Live tracked fds grouped by opening stack (largest group first); after the
 * target exited, the fds it left open. Runs fdtrack_reconcile() first.
 * Symbols are resolved here (lazily, cached), never while events arrive. */
struct fdtrack_group {
	enum fdkind kind;
	unsigned count;
	unsigned nframes;
	char **frames; /* "function (file:line)" or "function+0xoff (module)" */
};
int fdtrack_live_groups(struct fdtrack *t, struct fdtrack_group **groups,
			size_t *ngroups);
void fdtrack_groups_free(struct fdtrack_group *groups, size_t ngroups);

/* Human-readable leak report of the live groups. */
void fdtrack_print_groups(FILE *out, const struct fdtrack_group *groups,
			  size_t ngroups);

/* 1 once the whole target process has exited (its fds are then in
 * open_at_exit, and fdtrack_live_groups() lists what was open at exit). */
int fdtrack_exited(const struct fdtrack *t);

/* Detach and free everything (BPF links, maps, symbol caches). */
void fdtrack_close(struct fdtrack *t);

/* The last error of this thread, one line, never NULL. */
const char *fdtrack_error(void);

#endif
