/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c: walks over the numbers of one table, each costing
 * that table's numbers only (bpf_loop over [first, last]): close_range,
 * exec's close-on-exec, a table's death (what is open at exit), the end of
 * a snapshot (what it did not see), and a new table's inherited fds.
 */
#ifndef FDTRACK_WALKS_BPF_H
#define FDTRACK_WALKS_BPF_H

enum walk_why {
	WALK_CLOSE_RANGE, /* close_range: the remover of every number in range */
	WALK_EXEC,	  /* exec closed the close-on-exec ones */
	WALK_EXIT,	  /* the table dies: mark what is open, find the rest */
	WALK_SNAPSHOT,	  /* end of a snapshot: what the walk did not see */
	WALK_INHERIT,	  /* a new table: what it starts with (at_start) */
};

struct walk {
	struct handler h; /* (in here: one frame of the BPF stack less) */
	__u32 first;
	__u32 why;
	__u64 open_fds; /* WALK_EXIT: the table's open_fds bitmap */
	__u32 max_fds;	/* ... and its size */
	__u32 pad;
};

/* Is fd's bit set in the table's open_fds bitmap? */
static __always_inline bool fd_is_open(const struct walk *w, __u32 fd)
{
	__u64 word = 0;

	if (fd >= w->max_fds ||
	    bpf_probe_read_kernel(&word, sizeof(word),
				  (void *)(w->open_fds + 8 * (__u64)(fd / 64))))
		return false;
	return (word >> (fd % 64)) & 1;
}

/* Under the lock: a live M is what the table holds as it dies. */
static __always_inline void mark_open_at_exit(struct fdt_fd_entry *v,
					      struct fdt_table *tbl)
{
	v->at_exit = 1;
	count(tbl, FDT_C_OPEN_AT_EXIT, v->kind, 1);
	count(tbl, FDT_C_CLOSES, v->kind, 1); /* the exit closes it */
}

/* The table dies (no thread of it can run a syscall again): every live M
 * is either what the number holds (open at exit) or gone without a
 * remover we will see; a tracked file without an M came outside syscalls. */
static __always_inline void walk_exit_one(struct walk *w, __u32 fd)
{
	struct handler *h = &w->h;
	struct fdt_table *tbl = h->tbl;
	struct fdt_fd_entry *v;
	struct occupant c;

	if (fd >= tbl->fd_limit && !fd_is_open(w, fd))
		return;
	occupant_read(&c, h->files, fd);
	v = entry_get(tbl, h->table, fd, c.kind >= 0);
	if (!v)
		return;
	bpf_spin_lock(&v->lock);
	if (v->live && !v->at_exit) {
		if (is_current(v, &c)) {
			mark_open_at_exit(v, tbl);
		} else {
			/* nobody can claim it any more */
			v->live = 0;
			if (v->flags & FDT_F_INHERITED)
				count(tbl, FDT_C_INHERITED_LIVE, v->kind, -1);
			count(tbl,
			      v->flags & FDT_F_CLOSE_SEEN
				      ? FDT_C_CLOSES
				      : FDT_C_CLOSED_OUTSIDE,
			      v->kind, 1);
			v->flags = 0;
		}
	}
	if (!v->live && c.kind >= 0) {
		entry_set(v, tbl, &c, FDT_C_OPENED_OUTSIDE, FDT_F_UNCLAIMED,
			  h->now, NULL, tbl->aspace);
		mark_open_at_exit(v, tbl);
	}
	unlock(v);
}

/* A new table starts with what its process inherited (or kept across an
 * unsharing exec): at_start, not leaks. Nobody runs in it yet. */
static __always_inline void walk_inherit_one(struct walk *w, __u32 fd)
{
	struct handler *h = &w->h;
	struct fdt_table *tbl = h->tbl;
	struct fdt_fd_entry *v;
	struct occupant c;

	if (!fd_is_open(w, fd))
		return;
	occupant_read(&c, h->files, fd);
	if (c.kind < 0)
		return;
	v = entry_get(tbl, h->table, fd, true);
	if (!v)
		return;
	bpf_spin_lock(&v->lock);
	if (!v->live)
		entry_set(v, tbl, &c, FDT_C_AT_START,
			  FDT_F_BASE | FDT_F_INHERITED, 0, NULL, tbl->aspace);
	unlock(v);
}

/* close_range, exec, snapshot end: entries only. */
static __always_inline void walk_entry_one(struct walk *w, __u32 fd)
{
	struct handler *h = &w->h;
	struct fdt_table *tbl = h->tbl;
	struct fdt_fd_entry *v = entry_get(tbl, h->table, fd, false);
	struct occupant c = {};
	__u64 det = h->now;
	bool locked;

	if (!v)
		return;
	if (w->why == WALK_SNAPSHOT) {
		/* the walk did not find it: gone, unless this snapshot saw it
		 * (or put it) after all */
		bpf_spin_lock(&v->lock);
		if (v->live && !v->at_exit && v->snap_gen != snap_gen)
			gone_unclaimed(v, tbl, det);
		unlock(v);
		return;
	}
	TRY_LOCK_FRESH(v, (occupant_read(&c, h->files, fd), det = NOTICED(v)),
		       locked);
	if (!locked) {
		race_lost();
		return;
	}
	if (claim_close(v, tbl, h->prev)) {
		/* as in on_close(); close_range and exec are removers */
		if (v->live && !is_current(v, &c))
			gone_unclaimed(v, tbl, det);
	} else if (v->live && !is_current(v, &c)) {
		close_entry(v, tbl);
	} else if (v->live && w->why == WALK_EXEC &&
		   !(v->flags & FDT_F_INHERITED)) {
		/* kept across exec: the new program inherited it */
		v->flags |= FDT_F_INHERITED;
		count(tbl, FDT_C_INHERITED_LIVE, v->kind, 1);
	}
	unlock(v);
}

static long walk_cb(__u32 i, struct walk *w)
{
	__u32 fd = w->first + i;

	switch (w->why) {
	case WALK_EXIT:
		walk_exit_one(w, fd);
		break;
	case WALK_INHERIT:
		walk_inherit_one(w, fd);
		break;
	default:
		walk_entry_one(w, fd);
		break;
	}
	return 0;
}

/* Walk numbers [first, last] (range: first << 32 | last) of a table,
 * clamped to what can hold something. prev: the calling thread's previous
 * exit, for the removers (close_range, exec). A global function: verified
 * once for every program and path that walks. */
__noinline int fdt_walk(__u32 table, __u64 files, __u64 range, __u32 why,
			__u64 prev)
{
	struct walk w = { .first = range >> 32, .why = why };
	__u32 last = (__u32)range, end;

	if (!handler_init(&w.h, table, files, prev))
		return 0;
	/* the exit's and the snapshot's verdicts are noticed now */
	if (why == WALK_EXIT || why == WALK_SNAPSHOT)
		w.h.now = tick();
	end = w.h.tbl->fd_limit; /* entries live below it */
	if (why == WALK_EXIT || why == WALK_INHERIT) {
		struct files_struct *fs = (void *)files;
		struct fdtable *fdt = BPF_CORE_READ(fs, fdt);

		w.open_fds = (__u64)BPF_CORE_READ(fdt, open_fds);
		w.max_fds = BPF_CORE_READ(fdt, max_fds);
		if (why == WALK_INHERIT || w.max_fds > end)
			end = w.max_fds;
	}
	if (last >= end)
		last = end - 1;
	if (end == 0 || w.first > last)
		return 0;
	bpf_loop(last - w.first + 1, walk_cb, &w, 0);
	return 0;
}

/* The whole table. */
#define ALL_FDS 0xffffffffULL

#endif
