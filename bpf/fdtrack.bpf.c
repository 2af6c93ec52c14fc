// SPDX-License-Identifier: GPL-2.0
/*
 * fdtrack kernel side: follow the fds of one process (and, with follow, of
 * every process it starts), every kind of common/fdkind.h or those of
 * kind_mask. docs/design.md §4 has the design; in short:
 *
 * - One tp_btf/sys_exit program does all syscall work: at exit pt_regs
 *   still hold the syscall number (orig_ax) and arguments, and the return
 *   value says whether it succeeded. Processes not followed pay a compare
 *   with a constant tgid (and, with follow, one task-storage lookup).
 * - The hash map `fds` ((table, fd) -> entry) is the lossless view, kept in
 *   step with every syscall that creates, duplicates or closes an fd; the
 *   per-table counters in `tables` change in the same place, under the
 *   entry's lock, so they are exact whatever happens elsewhere. Each entry
 *   holds the key of its opening stack in `stacks`, so stacks are kept as
 *   losslessly as counts.
 * - sched_process_fork gives a followed child a table of its own, with what
 *   it inherited; sched_process_exit, when a table's last process dies,
 *   marks what it still holds (before exit_files()).
 * - An iter/task_file walk (a "snapshot") reconciles on demand.
 * - The ring buffer carries rare records only (fdtrack_shared.h).
 *
 * The parts: fdtrack_classify.bpf.h (what a number holds, its kind),
 * fdtrack_entries.bpf.h (entries and the race rules), fdtrack_syscalls.bpf.h
 * (installers, removers, rechecks, stacks, SCM_RIGHTS), fdtrack_walks.bpf.h
 * (walks over one table), fdtrack_dispatch.bpf.h (tables, and what each
 * syscall does to one); this file: the maps and the programs. x86_64 only
 * (syscall numbers, pt_regs).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "fdkind.h"
#include "fdtrack_shared.h"

#define EEXIST 17
#define E2BIG  7
#define EBADF  9

/* Set by user space before load. */
const volatile __u32 targ_tgid = 0;
const volatile bool follow = false; /* also the processes it starts */
const volatile bool want_stacks = true;
const volatile bool want_dwarf = true; /* DWARF variants (§4.6) */
const volatile __u64 kind_mask = FDKIND_ALL;

/* Read (and some set) by user space through the mmap'ed .bss/.data. */
__u64 lost_events;    /* ring buffer full: records lost (never counts) */
__u64 fds_full;	      /* `fds` full: entries not made, counts not exact */
__u64 stacks_dropped; /* `stacks` full: opens without their stack */
__u64 tables_full;    /* `tables` full: processes not followed */
__u64 stacks_added;
__u64 unwinds_dropped; /* opens left with frame-pointer frames only */
__u64 races_lost;      /* handlers that could not read fresh: did nothing */
__s64 live_tables = 1; /* followed tables not yet dead (the root's too) */
__u32 next_table = FDT_ROOT_TABLE;
__u32 next_aspace = 1; /* the root starts in address space 1 */
__u32 root_gone;       /* the target process exited */
__u32 snap_gen;	       /* bumped by user space before each snapshot */
__u32 snap_baseline;   /* the attach-time snapshot: files are at_start */
__u32 baseline_done;   /* ... and it ended: what a recheck finds is new */
__u32 snap_gave_up;    /* this snapshot skipped a number: run it again */
__u32 gc_gen;	       /* user space's stack collection round */
__u32 recipes_gen;     /* bumped by user space at each recipe change */
/* A process watching itself: the thread opening or closing one of
 * fdtrack's map fds by id (set by user space around exactly those
 * syscalls), which are fdtrack's, not the target's. */
__u32 self_tid;
/* Without follow the target's table is the only one: it lives here
 * rather than in `tables` (table_of()). The hash lookup it saves was paid
 * on every fd syscall of the target, and user space reads the counts
 * through its mapping of .bss, without a syscall. */
struct fdt_table root_table;
__u64 notice_clock; /* the logical clock of noticing (tick()) */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20); /* set by user space (--max-fds) */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fdt_fd_key);
	__type(value, struct fdt_fd_entry);
} fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* set by user space (--max-procs) */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct fdt_table);
} tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* set by user space (--max-stacks) */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct fdt_stack);
} stacks SEC(".maps");

/* A stack being taken (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fdt_stack);
} stack_scratch SEC(".maps");

/* DWARF variants: per (stack, aspace) its state, per variant its window
 * (until user space unwound it) and its recipe (written by user space). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* set by user space (--max-stacks) */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fdt_unwind_key);
	__type(value, struct fdt_unwind_state);
} unwinds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* set by user space (--max-stacks) */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fdt_unwind_key);
	__type(value, struct fdt_recipe);
} recipes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* waiting to be unwound: 8 MiB at most */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fdt_unwind_key);
	__type(value, struct fdt_window);
} windows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fdt_window);
} window_scratch SEC(".maps");

/* A zeroed entry to create new ones from (too big for the BPF stack; typed
 * without the lock, which a helper may not read from a map value). */
struct zero_fd_entry {
	__u64 words[sizeof(struct fdt_fd_entry) / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zero_fd_entry);
} zero_entry SEC(".maps");

/* A zeroed table record to create new ones from. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fdt_table);
} zero_table SEC(".maps");

/* Anonymous inode name -> kind (fdt_anon_slot_of()), filled by user
 * space from fdkind.c's table (the one list of names). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FDT_ANON_SLOTS);
	__type(key, __u32);
	__type(value, struct fdt_anon_slot);
} anon_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fdt_task_state);
} task_states SEC(".maps");

/* Without follow: per thread of the target, the notice clock at its last
 * syscall exit, in the slot tid % THREAD_SLOTS that the thread claimed on
 * first sight and gives back when it exits (fdtrack_exit). An array lookup
 * is inlined by the verifier; task storage cost about 90 ns a syscall on
 * our VM, which every syscall of the target paid. A thread whose slot
 * another holds keeps its time in task_states. */
#define THREAD_SLOTS 4096

struct thread_slot {
	__u32 tid; /* 0: free */
	__u32 pad;
	__u64 last_exit;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, THREAD_SLOTS);
	__type(key, __u32);
	__type(value, struct thread_slot);
} thread_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by user space before load */
} events SEC(".maps");

/* The record of table `id`. `follow` is known at load time, so the
 * verifier walks only one of the branches: a pointer never mixes the two
 * maps (which doubles the states it explores). */
static __always_inline struct fdt_table *table_of(__u32 id)
{
	if (!follow)
		return id == FDT_ROOT_TABLE ? &root_table : NULL;
	return bpf_map_lookup_elem(&tables, &id);
}

#include "fdtrack_classify.bpf.h"
#include "fdtrack_entries.bpf.h"
#include "fdtrack_stacks.bpf.h"
#include "fdtrack_syscalls.bpf.h"
#include "fdtrack_walks.bpf.h"

#include "fdtrack_dispatch.bpf.h"

static __always_inline struct thread_slot *slot_of(__u32 tid)
{
	__u32 i = tid & (THREAD_SLOTS - 1);

	return bpf_map_lookup_elem(&thread_slots, &i);
}

/* Without follow: the thread's last exit (its slot claimed if free). */
static __always_inline __u64 thread_prev(struct task_struct *task, __u32 tid)
{
	struct thread_slot *s = slot_of(tid);
	struct fdt_task_state *ts;

	if (s && s->tid == tid)
		return s->last_exit;
	if (s && !s->tid && __sync_val_compare_and_swap(&s->tid, 0, tid) == 0) {
		/* first sight, or its slot was taken before */
		ts = bpf_task_storage_get(&task_states, task, 0, 0);
		s->last_exit = ts ? ts->last_exit : 0;
		return s->last_exit;
	}
	ts = bpf_task_storage_get(&task_states, task, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	return ts ? ts->last_exit : 0;
}

/* Its slot stays its own until it exits: the slot, or task storage. */
static __always_inline void thread_set_exit(struct task_struct *task, __u32 tid,
					    __u64 t)
{
	struct thread_slot *s = slot_of(tid);
	struct fdt_task_state *ts;

	if (s && s->tid == tid) {
		s->last_exit = t;
		return;
	}
	ts = bpf_task_storage_get(&task_states, task, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ts)
		ts->last_exit = t;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fdtrack_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid(), prev, now;
	__u32 tgid = id >> 32, tid = (__u32)id, table;
	struct fdt_task_state *ts = NULL;
	struct task_struct *task;
	struct fdt_table *tbl;

	/* the fast path of every other process: one compare */
	if (!follow && (tgid != targ_tgid || root_gone))
		return 0;
	task = bpf_get_current_task_btf();
	if (follow) {
		ts = followed(task, tgid);
		if (!ts)
			return 0;
		table = ts->table;
		prev = ts->last_exit;
	} else {
		table = FDT_ROOT_TABLE;
		prev = thread_prev(task, tid);
	}
	/* most syscalls: nothing but the time below; fdtrack's own calls
	 * into the kernel side (self_tid): not the target's */
	if (!no_fd_work(regs->orig_ax, ret) && tid != self_tid) {
		tbl = table_of(table);
		if (!tbl || (tbl->flags & FDT_T_EXITED))
			return 0;
		on_syscall(table, files_of(task), prev, regs, ret, task, ts);
	}
	/* Before the thread's next syscall, after all this one noticed: a
	 * close noticed later than this can only be a later syscall's. (The
	 * clock moves only when something is noticed: mostly no write.) */
	now = clock_read();
	if (now == prev)
		return 0;
	if (ts)
		ts->last_exit = now;
	else
		thread_set_exit(task, tid, now);
	return 0;
}

/* ---- processes ---------------------------------------------------------- */

/* A followed task forked: a thread or a CLONE_FILES child shares its table;
 * any other child gets a table of its own, holding what it inherited. The
 * child has not run yet, so its table is still the copy fork made. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(fdtrack_fork, struct task_struct *parent,
	     struct task_struct *child)
{
	struct fdt_task_state *ps, *cs;
	struct fdt_table *ptbl, *t = NULL;
	__u32 id, aspace;

	ps = followed(parent, parent->tgid);
	if (!ps)
		return 0;
	ptbl = table_of(ps->table);
	if (!ptbl)
		return 0;
	cs = bpf_task_storage_get(&task_states, child, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!cs)
		return 0;
	cs->files = files_of(child);
	if (child->files == parent->files || child->tgid == parent->tgid) {
		/* threads (a thread with a table of its own is counted with
		 * its process's: not covered, docs/design.md §4.3) */
		cs->table = ps->table;
		if (child->tgid != parent->tgid)
			__sync_fetch_and_add(&ptbl->holders, 1);
		return 0;
	}
	aspace = ptbl->aspace;
	if (child->mm != parent->mm) /* fork: a copy; vfork: the same */
		aspace = __sync_add_and_fetch(&next_aspace, 1);
	id = table_new(child->tgid, parent->tgid, aspace, &t);
	if (!id || !t) {
		bpf_task_storage_delete(&task_states, child);
		return 0;
	}
	cs->table = id;
	fdt_walk(id, files_of(child), ALL_FDS, WALK_INHERIT, 0);
	emit_table_event(FDT_EV_FORK, id, t, ptbl->aspace);
	return 0;
}

/* Runs in do_exit before exit_files(): the table is still intact. When the
 * last process holding a table exits, what it holds now is exactly what it
 * left open. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fdtrack_exit, struct task_struct *p)
{
	struct fdt_task_state *ts = bpf_task_storage_get(&task_states, p, 0, 0);
	__u32 table = ts ? ts->table : 0;
	struct thread_slot *slot;
	struct fdt_table *tbl;

	if (!follow && p->tgid == targ_tgid) { /* give its slot back */
		slot = slot_of(p->pid);
		if (slot && slot->tid == p->pid)
			__sync_lock_test_and_set(&slot->tid, 0);
	}
	if (!table) {
		if (p->tgid != targ_tgid || root_gone)
			return 0;
		table = FDT_ROOT_TABLE;
	}
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* another thread of the process still runs */
	if (p->tgid == targ_tgid)
		root_gone = 1;
	tbl = table_of(table);
	if (!tbl || (tbl->flags & FDT_T_EXITED))
		return 0;
	if (tbl->tgid == p->tgid) {
		tbl->exit_code = exit_status(p);
		__sync_fetch_and_or(&tbl->flags, FDT_T_STATUS);
	}
	if (__sync_sub_and_fetch(&tbl->holders, 1) != 0)
		return 0; /* CLONE_FILES: another process holds it */
	fdt_walk(table, files_of(p), ALL_FDS, WALK_EXIT, 0);
	__sync_fetch_and_or(&tbl->flags, FDT_T_EXITED);
	__sync_fetch_and_add(&live_tables, -1);
	emit_table_event(FDT_EV_EXIT, table, tbl, 0);
	return 0;
}

/* ---- snapshots ---------------------------------------------------------- */

/* The live fds table `table` holds, by its counts. Unrolled: as a loop,
 * clang walked a pointer from 200 bytes before the counts up to them,
 * which Linux 7.x's verifier rejects as an unbounded access (the snapshot
 * program failed to load there); a global function, so the unrolled
 * loop's registers spill in a frame of its own, off the snapshot's deepest
 * call chain. */
__noinline long fdt_table_live(__u32 table)
{
	const struct fdt_table *t = table_of(table);
	__s64 live = 0;

	if (!t)
		return 0;
#pragma unroll
	for (int k = 0; k < FDKIND_COUNT; k++)
		live += t->count[FDT_C_AT_START][k] + t->count[FDT_C_OPENS][k] +
			t->count[FDT_C_OPENED_OUTSIDE][k] -
			t->count[FDT_C_CLOSES][k] -
			t->count[FDT_C_CLOSED_OUTSIDE][k];
	return live;
}

/* End of a snapshot: in each table it walked, live entries it did not see
 * are gone (closed by IORING_OP_CLOSE, or by a close still on its way to
 * sys_exit, which then claims it). The walk over the table's numbers is
 * skipped when the snapshot saw as many fds as the table has live. */
static long snapshot_end_cb(struct bpf_map *map, __u32 *key,
			    struct fdt_table *tbl, void *unused)
{

	if (snap_gave_up)
		return 1; /* it did not see everything: no verdicts */
	if (tbl->snap_gen != snap_gen || (tbl->flags & FDT_T_EXITED) ||
	    fdt_table_live(*key) == (__s64)tbl->snap_seen)
		return 0;
	fdt_walk(*key, 0, ALL_FDS, WALK_SNAPSHOT, 0);
	return 0;
}

/* One fd the snapshot's walk found in table `table`: a tracked file its
 * entry lacks is added (UNCLAIMED: an open still on its way to sys_exit
 * takes it over). A global function, so the iterator's own frame stays
 * small. */
__noinline int fdt_snapshot_fd(__u32 table, __u64 files, __u32 fd)
{
	struct fdt_table *tbl = table_of(table);
	struct fdt_fd_entry *v;
	struct occupant c;
	bool locked;
	__u64 now;

	if (!tbl || (tbl->flags & FDT_T_EXITED))
		return 0;
	if (tbl->snap_gen != snap_gen) {
		tbl->snap_gen = snap_gen;
		tbl->snap_seen = 0;
	}
	occupant_read(&c, files, fd);
	if (c.kind < 0)
		return 0;
	v = entry_get(tbl, table, fd, true);
	if (!v)
		return 0;
	/* the walk's file may be stale by now: act on the table as it is */
	TRY_LOCK_FRESH(v, (occupant_read(&c, files, fd), now = tick()), locked);
	if (!locked) {
		snap_gave_up = 1;
		return 0;
	}
	if (c.kind < 0) {
		unlock(v); /* gone meanwhile: the end of the walk decides */
		return 0;
	}
	if (is_current(v, &c)) {
		if (v->snap_gen != snap_gen) /* threads repeat it */
			__sync_fetch_and_add(&tbl->snap_seen, 1);
		v->snap_gen = snap_gen;
		/* no seq bump: only snap_gen changed, which no handler reads,
		 * and busy snapshots would make them read again and again */
		bpf_spin_unlock(&v->lock);
		return 0;
	}
	if (v->live)
		gone_unclaimed(v, tbl, now);
	if (!snap_baseline)
		note_std(tbl, fd);
	entry_set(v, tbl, &c,
		  snap_baseline ? FDT_C_AT_START : FDT_C_OPENED_OUTSIDE,
		  FDT_F_UNCLAIMED |
			  (snap_baseline ? FDT_F_BASE | FDT_F_INHERITED : 0),
		  now, NULL, tbl->aspace);
	__sync_fetch_and_add(&tbl->snap_seen, 1);
	unlock(v);
	return 0;
}

/* Exact snapshot of the followed fd tables (fdt_snapshot_fd() per fd); at
 * the end, see snapshot_end_cb(). */
SEC("iter/task_file")
int fdtrack_snapshot(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct fdt_task_state *ts;
	__u32 table;

	if (!ctx->file || !task) {
		table = FDT_ROOT_TABLE;
		if (follow)
			bpf_for_each_map_elem(&tables, snapshot_end_cb, NULL,
					      0);
		else
			snapshot_end_cb(NULL, &table, &root_table, NULL);
		return 0;
	}
	ts = bpf_task_storage_get(&task_states, task, 0, 0);
	table = ts ? ts->table : 0;
	if (!table) {
		if (task->tgid != targ_tgid || root_gone)
			return 0;
		table = FDT_ROOT_TABLE;
	}
	fdt_snapshot_fd(table, files_of(task), ctx->fd);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
