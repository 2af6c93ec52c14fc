/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c: the per-number entries M and the rules that keep
 * the counts exact when threads race on fd numbers (docs/design.md §4.4
 * has the argument; the names here are its names). Every count goes with a
 * change of an entry's live state under its lock, so per table and kind
 *   at_start + opens + opened_outside_syscalls
 *     - closes - closed_outside_syscalls == live entries.
 */
#ifndef FDTRACK_ENTRIES_BPF_H
#define FDTRACK_ENTRIES_BPF_H

/* One handler's view: the table the current task uses, and when. */
struct handler {
	__u64 files; /* the task's struct files_struct * */
	struct fdt_table *tbl;
	__u32 table;
	__u32 pad;
	__u64 now;  /* tick() at the handler's start */
	__u64 prev; /* clock_read() at the thread's previous syscall exit */
};

/* A global function's handler, from its scalar arguments (a global
 * function takes no pointers to the caller's state: that is what lets the
 * verifier check it once). False: the table is gone. */
static __always_inline bool handler_init(struct handler *h, __u32 table,
					 __u64 files, __u64 prev)
{
	h->table = table;
	h->tbl = table_of(table);
	h->files = files;
	h->prev = prev;
	h->now = 0;
	return h->tbl != NULL;
}

/* What an installed fd keeps of its opening stack (fdtrack_stacks.bpf.h). */
struct opening_stack {
	__u64 key;    /* in `stacks`, 0: none */
	__u8 variant; /* FDT_NO_VARIANT: frame-pointer frames only */
	__u8 ndiff;   /* FDT_PROVEN, or the words at diff[] differ from the
			  variant's window (a provisional variant) */
	__u16 diff[FDT_MAX_DIFFS];
};

/* Under the lock: the entry takes st (NULL: no stack). */
static __always_inline void entry_take_stack(struct fdt_fd_entry *v,
					     const struct opening_stack *st)
{
	v->stack = st ? st->key : 0;
	v->variant = st ? st->variant : FDT_NO_VARIANT;
	v->ndiff = st ? st->ndiff : FDT_PROVEN;
	if (st)
		__builtin_memcpy(v->diff, st->diff, sizeof(v->diff));
}

/* kind as an array index the verifier can bound: clang may check one copy
 * of a value and index with another, so clamp in the register used. Kinds
 * are < FDKIND_COUNT anyway (classify() returns no other). */
static __always_inline __u64 kind_index(__u64 kind)
{
	asm volatile("if %0 < %1 goto +1; %0 = 0"
		     : "+r"(kind)
		     : "i"(FDKIND_COUNT));
	return kind;
}

static __always_inline void count(struct fdt_table *t, __u32 counter,
				  __u32 kind, __s64 delta)
{
	if (counter < FDT_NCOUNTERS)
		__sync_fetch_and_add(&t->count[counter][kind_index(kind)],
				     delta);
}

/* Raise *limit to at least v (user space walks [0, fd_limit) of a table). */
static __always_inline void raise_limit(__u32 *limit, __u32 v)
{
	for (int i = 0; i < 64; i++) {
		__u32 old = *(volatile __u32 *)limit;

		if (old >= v ||
		    __sync_val_compare_and_swap(limit, old, v) == old)
			return;
	}
}

/* The entry of (table, fd); created (empty) if `create`. */
static __always_inline struct fdt_fd_entry *entry_get(struct fdt_table *tbl,
						      __u32 table, __u32 fd,
						      bool create)
{
	struct fdt_fd_key key = { .table = table, .fd = fd };
	struct fdt_fd_entry *v = bpf_map_lookup_elem(&fds, &key), *empty;
	__u32 zero = 0;

	if (v || !create)
		return v;
	empty = bpf_map_lookup_elem(&zero_entry, &zero); /* too big to build */
	if (empty) /* or a racer made it */
		bpf_map_update_elem(&fds, &key, empty, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&fds, &key);
	if (!v) {
		__sync_fetch_and_add(&fds_full, 1);
		return NULL;
	}
	raise_limit(&tbl->fd_limit, fd + 1);
	return v;
}

/* Is the entry the file the table holds now? A freed struct file is often
 * reused at once, so compare its dentry as well. */
static __always_inline bool is_current(const struct fdt_fd_entry *v,
				       const struct occupant *c)
{
	return v->live && c->file && v->file == c->file &&
	       v->dentry == c->dentry;
}

/* Read the present occupant of fd and take the entry's lock, such that the
 * entry did not change in between: then the handler acts as if it ran at
 * the moment of the read. (Otherwise another CPU's handler could change M
 * after we read an older T: e.g. a close's exit that read "empty" deleting
 * the next open's entry.) Every change of an entry bumps seq when it
 * unlocks. `locked` says whether it worked within 4 reads; if not (four
 * changes, each between a read and the lock: a preempted handler on a busy
 * machine), the handler must not act on its last read: §4.4.
 * TRY_LOCK_FRESH_AFTER: the first READ was done already, after seq0. */
#define TRY_LOCK_FRESH_AFTER(v, seq0, READ, locked)          \
	do {                                                 \
		__u32 _seq = (seq0);                         \
		(locked) = false;                            \
		for (int _i = 0; _i < 4; _i++) {             \
			bpf_spin_lock(&(v)->lock);           \
			if ((v)->seq == _seq) {              \
				(locked) = true;             \
				break;                       \
			}                                    \
			bpf_spin_unlock(&(v)->lock);         \
			_seq = *(volatile __u32 *)&(v)->seq; \
			READ;                                \
		}                                            \
	} while (0)

#define TRY_LOCK_FRESH(v, READ, locked)                       \
	do {                                                  \
		__u32 _seq0 = *(volatile __u32 *)&(v)->seq;   \
		READ;                                         \
		TRY_LOCK_FRESH_AFTER(v, _seq0, READ, locked); \
	} while (0)

/* A handler that could not read its number fresh did nothing: counted. */
static __always_inline void race_lost(void)
{
	__sync_fetch_and_add(&races_lost, 1);
}

/* The times of noticing are a logical clock, not ktime: only their order
 * matters (docs/design.md §4.4), and on a VM with a paravirtual clock
 * reading ktime at every syscall exit was a sixth of fdtrack's cost. A
 * notice ticks the clock with an atomic add, a full barrier on x86, so its
 * value follows the table read before it in the global order; a syscall
 * exit only reads it (a plain load: x86 does not move the stores of the
 * thread's next syscall before it), so a notice of any effect of that next
 * syscall gets a greater value than the exit's. */
static __always_inline __u64 tick(void)
{
	return __sync_add_and_fetch(&notice_clock, 1);
}

static __always_inline __u64 clock_read(void)
{
	return *(volatile __u64 *)&notice_clock;
}

/* When a handler noticed something (tick(), after its read of T). Only a
 * live M can turn out gone, so only then is it needed: the lock's seq
 * check makes sure live did not change since. */
#define NOTICED(v) ((v)->live ? tick() : 0)

static __always_inline void unlock(struct fdt_fd_entry *v)
{
	v->seq++;
	bpf_spin_unlock(&v->lock);
}

/* Under the lock: M's file is gone and no remover exit counted it. */
static __always_inline void gone_unclaimed(struct fdt_fd_entry *v,
					   struct fdt_table *tbl, __u64 now)
{
	__u32 k = v->kind;

	v->live = 0;
	if (v->flags & FDT_F_INHERITED)
		count(tbl, FDT_C_INHERITED_LIVE, k, -1);
	if (v->flags & FDT_F_CLOSE_SEEN) {
		count(tbl, FDT_C_CLOSES, k, 1);
	} else {
		count(tbl, FDT_C_CLOSED_OUTSIDE, k, 1);
		if (v->pclaim[kind_index(k)] < 0xffff)
			v->pclaim[kind_index(k)]++;
		if (now > v->pclaim_ts)
			v->pclaim_ts = now;
	}
	v->flags = 0;
}

/* Under the lock: a close noticed by someone else, during this syscall,
 * was this syscall's: move it to closes. */
static __always_inline bool claim_close(struct fdt_fd_entry *v,
					struct fdt_table *tbl, __u64 prev)
{
	if (v->pclaim_ts <= prev)
		return false;
	for (__u32 k = 0; k < FDKIND_COUNT; k++) {
		if (!v->pclaim[k])
			continue;
		v->pclaim[k]--;
		count(tbl, FDT_C_CLOSED_OUTSIDE, k, -1);
		count(tbl, FDT_C_CLOSES, k, 1);
		return true;
	}
	return false;
}

/* Under the lock: the live M is gone and the caller is its remover. */
static __always_inline void close_entry(struct fdt_fd_entry *v,
					struct fdt_table *tbl)
{
	v->live = 0;
	if (v->flags & FDT_F_INHERITED)
		count(tbl, FDT_C_INHERITED_LIVE, v->kind, -1);
	v->flags = 0;
	count(tbl, FDT_C_CLOSES, v->kind, 1);
}

/* Under the lock: M becomes the present file c, counted in `counter`.
 * noticed: when a snapshot, recheck or walk read c (they set
 * FDT_F_UNCLAIMED), else 0. */
static __always_inline void entry_set(struct fdt_fd_entry *v,
				      struct fdt_table *tbl,
				      const struct occupant *c, __u32 counter,
				      __u8 flags, __u64 noticed,
				      const struct opening_stack *st,
				      __u32 aspace)
{
	v->live = 1;
	v->file = c->file;
	v->dentry = c->dentry;
	v->kind = c->kind;
	v->snap_gen = snap_gen;
	v->noticed = noticed;
	entry_take_stack(v, st);
	v->aspace = aspace;
	v->at_exit = 0;
	v->flags = flags;
	__builtin_memcpy(v->name, c->name.s, FDT_NAME_BYTES);
	count(tbl, counter, c->kind, 1);
	if (flags & FDT_F_INHERITED)
		count(tbl, FDT_C_INHERITED_LIVE, c->kind, 1);
}

/* A file was put at fd: at 0-2, user space will look there for the
 * standard streams the program set up itself. */
static __always_inline void note_std(struct fdt_table *tbl, __u32 fd)
{
	if (fd < 3)
		__sync_fetch_and_add(&tbl->std_opens, 1);
}

/* Under the lock: the open of c finds M = c put there by a snapshot or a
 * recheck between its effect and its exit: the open is that one. */
static __always_inline void claim_open(struct fdt_fd_entry *v,
				       struct fdt_table *tbl,
				       const struct opening_stack *st,
				       __u32 aspace)
{
	count(tbl,
	      v->flags & FDT_F_BASE ? FDT_C_AT_START : FDT_C_OPENED_OUTSIDE,
	      v->kind, -1);
	count(tbl, FDT_C_OPENS, v->kind, 1);
	if (v->flags & FDT_F_INHERITED)
		count(tbl, FDT_C_INHERITED_LIVE, v->kind, -1);
	v->flags = 0;
	v->noticed = 0;
	entry_take_stack(v, st);
	v->aspace = aspace;
}

#endif
