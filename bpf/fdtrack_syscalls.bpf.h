/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c: what one syscall exit does to its table's entries
 * (an installer puts its new file at a number, a remover takes one away, a
 * recheck compares), and the opening stack of each installed fd.
 */
#ifndef FDTRACK_SYSCALLS_BPF_H
#define FDTRACK_SYSCALLS_BPF_H

/* ---- opening stacks ------------------------------------------------- */

/* glibc has no frame pointers, so the frame-pointer walk skips the caller of
 * a leaf syscall wrapper. Its return address is then at [sp]; pass it on if
 * the bytes before it look like a call instruction. */
static __always_inline __u64 wrapper_retaddr(struct pt_regs *regs)
{
	__u64 ra = 0;
	__u8 b[8];

	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)regs->sp) || ra < 8)
		return 0;
	if (bpf_probe_read_user(b, sizeof(b), (void *)(ra - 8)))
		return 0;
	if (b[3] == 0xe8 ||                                   /* call rel32 */
	    (b[2] == 0xff && b[3] == 0x15) ||                 /* call *rip+x */
	    (b[2] == 0xff && (b[3] & 0xf8) == 0x90) ||        /* call *d32(r) */
	    (b[5] == 0xff && (b[6] & 0xf8) == 0x50) ||        /* call *d8(r) */
	    (b[6] == 0xff && (b[7] & 0xf8) == 0xd0))          /* call *%r */
		return ra;
	return 0;
}

/* A zeroed record of `type` for the given table, or NULL (counted). */
static __always_inline struct fdt_event *
record_new(__u32 type, __u32 table, const struct fdt_table *tbl)
{
	struct fdt_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&lost_events, 1);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = type;
	r->table = table;
	r->tgid = tbl->tgid;
	r->ppid = tbl->ppid;
	r->aspace = tbl->aspace;
	r->ts = bpf_ktime_get_ns();
	return r;
}

/* Tell user space to read the maps of the table's process while it lives:
 * for a stack new to the map, and for the first stack of an address
 * space. */
static __always_inline void announce_stack(struct handler *h, __u64 key,
					   bool new_stack)
{
	struct fdt_table *tbl = h->tbl;
	struct fdt_event *r;
	__u32 old = tbl->flags;

	if (!new_stack) {
		if (old & FDT_T_ANNOUNCED)
			return;
		old = __sync_fetch_and_or(&tbl->flags, FDT_T_ANNOUNCED);
		if (old & FDT_T_ANNOUNCED)
			return;
	}
	r = record_new(FDT_EV_STACK, h->table, tbl);
	if (!r)
		return;
	r->stack = key;
	bpf_ringbuf_submit(r, 0);
}

/* The frame-pointer walk, done here rather than by bpf_get_stack(): the
 * kernel's walk reads wherever rbp points, so every stack ended in a
 * faulting read (rbp 0 at the outermost frame, or a data value in code
 * without frame pointers), and on this VM an exception per open cost more
 * than the rest of the capture. A frame is read only if it lies on the
 * stack above the previous one: [sp, sp + FP_STACK_SPAN), 8-aligned,
 * increasing. */
#define FP_STACK_SPAN (64ULL << 20)

struct fp_walk {
	struct fdt_stack *s;
	__u64 fp, sp;
};

static long fp_walk_cb(__u32 i, struct fp_walk *w)
{
	__u64 frame[2]; /* saved rbp, return address */
	__u32 n = w->s->nframes;

	if (w->fp < w->sp || w->fp - w->sp >= FP_STACK_SPAN || (w->fp & 7) ||
	    n >= FDT_MAX_FRAMES ||
	    bpf_probe_read_user(frame, sizeof(frame), (void *)w->fp) ||
	    frame[1] < 4096)
		return 1;
	w->s->frames[n & (FDT_MAX_FRAMES - 1)] = frame[1];
	w->s->nframes = n + 1;
	if (frame[0] <= w->fp)
		return 1;
	w->fp = frame[0];
	return 0;
}

static __always_inline void fp_walk(struct fdt_stack *s, struct pt_regs *regs)
{
	struct fp_walk w = { .s = s, .fp = regs->bp, .sp = regs->sp };

	s->frames[0] = regs->ip;
	s->nframes = 1;
	bpf_loop(FDT_MAX_FRAMES - 1, fp_walk_cb, &w, 0);
}

static __always_inline __u64 stack_hash(const struct fdt_stack *s)
{
	__u64 hash = 0xcbf29ce484222325ULL;

	for (__u32 i = 0; i < FDT_MAX_FRAMES && i < s->nframes; i++)
		hash = (hash ^ s->frames[i]) * 0x100000001b3ULL;
	hash = (hash ^ s->retaddr) * 0x100000001b3ULL;
	return hash ? hash : 1; /* 0 means "no stack" */
}

/* The key of the calling thread's user stack in the stacks map (added if
 * new), or 0: stacks off, no frames, or the map full (stacks_dropped). */
static __noinline __u64 stack_capture(struct handler *h)
{
	struct fdt_stack *s, *known;
	__u32 zero = 0;
	__u64 key;
	int err;

	if (!want_stacks)
		return 0;
	s = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (!s)
		return 0;
	fp_walk(s, h->regs);
	s->retaddr = wrapper_retaddr(h->regs);
	s->gc_gen = gc_gen;
	key = stack_hash(s);
	known = bpf_map_lookup_elem(&stacks, &key);
	if (known) {
		if (known->nframes != s->nframes || known->retaddr != s->retaddr ||
		    known->frames[0] != s->frames[0]) {
			/* two stacks, one 64-bit hash: never show a wrong one */
			__sync_fetch_and_add(&stacks_dropped, 1);
			return 0;
		}
		if (known->gc_gen != gc_gen)
			known->gc_gen = gc_gen;
		announce_stack(h, key, false);
		return key;
	}
	err = bpf_map_update_elem(&stacks, &key, s, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		__sync_fetch_and_add(&stacks_dropped, 1);
		return 0;
	}
	if (!err)
		__sync_fetch_and_add(&stacks_added, 1);
	announce_stack(h, key, !err);
	return key;
}

/* After an entry took stack key `key` (taken by stack_capture() in this
 * run of the program, so the scratch still holds it): if the collector in
 * user space deleted it meanwhile (it scanned the entries before ours was
 * set), put it back. Together with the collector's second scan this keeps
 * every live entry's stack (procs_collect_stacks()). */
static __always_inline void keep_stack(__u64 key)
{
	struct fdt_stack *s;
	__u32 zero = 0;

	if (!key || bpf_map_lookup_elem(&stacks, &key))
		return;
	s = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (s && bpf_map_update_elem(&stacks, &key, s, BPF_NOEXIST) == -E2BIG)
		__sync_fetch_and_add(&stacks_dropped, 1);
}

/* ---- installers, removers, rechecks --------------------------------- */

enum { NEW_FD, REPLACE };

/* A syscall installed fd (NEW_FD: the number was free at its effect;
 * REPLACE: dup2/dup3 onto it, closing what was there). */
static __noinline void on_install(struct handler *h, __u32 fd, int how)
{
	struct fdt_table *tbl = h->tbl;
	struct fdt_fd_entry *v = entry_get(tbl, h->table, fd, false);
	__u32 seq0 = v ? *(volatile __u32 *)&v->seq : 0, aspace;
	__u64 stack = 0, det = 0;
	struct occupant c;
	bool opened = false, locked;

	/* one read of T, checked fresh when locking */
	occupant_read(&c, h->files, fd);
	if (v) {
		det = NOTICED(v);
	} else {
		if (c.kind < 0)
			return; /* nothing here, and nothing tracked before */
		v = entry_get(tbl, h->table, fd, true);
		if (!v)
			return;
		seq0 = 0; /* a racer that made and changed it bumped seq */
	}
	if (c.kind >= 0)
		stack = stack_capture(h);
	aspace = tbl->aspace;
	TRY_LOCK_FRESH_AFTER(v, seq0, (occupant_read(&c, h->files, fd),
				       det = NOTICED(v)), locked);
	/* Still sound without a fresh read: an installer's own number keeps
	 * its file until its exit (assumption C), so T is right; M is read
	 * under the lock. */
	if (!locked)
		bpf_spin_lock(&v->lock);
	/* An UNCLAIMED M that is our file was noticed after our effect: the
	 * number was free at the effect (NEW_FD), or held the victim V from
	 * our previous exit (prev) to the effect (REPLACE, so noticed > prev
	 * unless V is our very struct file, §4.4). */
	if (is_current(v, &c) && (v->flags & FDT_F_UNCLAIMED) &&
	    (how == NEW_FD || v->noticed > h->prev)) {
		claim_open(v, tbl, stack, aspace);
		opened = true;
	} else if (v->live) {
		if (how == REPLACE)
			close_entry(v, tbl); /* our victim */
		else
			gone_unclaimed(v, tbl, det);
	} else if (how == REPLACE) {
		claim_close(v, tbl, h->prev);
	}
	if (!opened && c.kind >= 0)
		entry_set(v, tbl, &c, FDT_C_OPENS, 0, 0, stack, aspace);
	unlock(v);
	keep_stack(stack);
}

/* close(fd) removed whatever fd held at its effect. If a close at fd was
 * noticed during this syscall, it is ours: claim it (and if M is gone too,
 * M's own close is still on its way: leave that one to be claimed). */
static __noinline void on_close(struct handler *h, __u32 fd)
{
	struct fdt_table *tbl = h->tbl;
	struct fdt_fd_entry *v = entry_get(tbl, h->table, fd, false);
	struct occupant c;
	bool locked;
	__u64 det;

	if (!v)
		return;
	TRY_LOCK_FRESH(v, (occupant_read(&c, h->files, fd), det = NOTICED(v)),
		       locked);
	if (!locked) {
		race_lost(); /* the snapshot will find the close: outside */
		return;
	}
	if (claim_close(v, tbl, h->prev)) {
		if (v->live && !is_current(v, &c))
			gone_unclaimed(v, tbl, det);
	} else if (v->live && !is_current(v, &c)) {
		close_entry(v, tbl);
	} else if (v->live) {
		v->flags |= FDT_F_CLOSE_SEEN;
	}
	unlock(v);
}

/* A syscall returned fd, or a number that may be one: if M is gone, count
 * it; a tracked file M lacks came by a syscall fdtrack does not model, or
 * its open has not reached its exit yet (that exit then claims it). */
static __noinline void on_recheck(struct handler *h, __u32 fd)
{
	struct fdt_table *tbl = h->tbl;
	struct fdt_fd_entry *v;
	struct occupant c;
	bool locked;
	__u64 det;

	occupant_read(&c, h->files, fd);
	v = entry_get(tbl, h->table, fd, c.kind >= 0);
	if (!v || is_current(v, &c))
		return; /* nothing here, or nothing changed */
	/* det: after the read, so after the effect of any close it sees */
	TRY_LOCK_FRESH(v, (occupant_read(&c, h->files, fd),
			   det = bpf_ktime_get_ns()), locked);
	if (!locked) {
		race_lost();
		return;
	}
	if (v->live && !is_current(v, &c))
		gone_unclaimed(v, tbl, det);
	/* before the attach-time snapshot ended, it was there already */
	if (!v->live && c.kind >= 0)
		entry_set(v, tbl, &c,
			  baseline_done ? FDT_C_OPENED_OUTSIDE : FDT_C_AT_START,
			  FDT_F_UNCLAIMED | (baseline_done ? 0 :
					     FDT_F_BASE | FDT_F_INHERITED),
			  det, 0, tbl->aspace);
	unlock(v);
}

/* ---- fds received with SCM_RIGHTS ----------------------------------- */

#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define CMSG_MAX 16          /* control messages looked at per message */
#define CMSG_FDS_MAX 253     /* SCM_MAX_FD */

struct scm_walk {
	struct handler *h;
	__u64 cmsg;       /* user address of the current cmsghdr */
	__u64 end;        /* end of the control buffer */
	__u64 data;       /* the fds of an SCM_RIGHTS message */
};

static long scm_fd_cb(__u32 i, struct scm_walk *w)
{
	int fd;

	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(w->data + 4 * i)))
		return 1;
	if (fd >= 0)
		on_install(w->h, fd, NEW_FD);
	return 0;
}

/* One control message: struct cmsghdr { size_t len; int level, type; }. */
static long scm_cmsg_cb(__u32 i, struct scm_walk *w)
{
	struct { __u64 len; int level, type; } hdr;
	__u64 n;

	if (w->cmsg + sizeof(hdr) > w->end ||
	    bpf_probe_read_user(&hdr, sizeof(hdr), (void *)w->cmsg) ||
	    hdr.len < sizeof(hdr) || w->cmsg + hdr.len > w->end)
		return 1;
	if (hdr.level == SOL_SOCKET && hdr.type == SCM_RIGHTS) {
		n = (hdr.len - sizeof(hdr)) / sizeof(int);
		w->data = w->cmsg + sizeof(hdr);
		bpf_loop(n < CMSG_FDS_MAX ? n : CMSG_FDS_MAX, scm_fd_cb, w, 0);
	}
	w->cmsg += (hdr.len + 7) & ~7ULL; /* CMSG_ALIGN */
	return 0;
}

/* The fds a recvmsg installed, from its struct msghdr (whose
 * msg_controllen the kernel set to what it wrote). */
static __always_inline void scm_rights_of(struct handler *h, __u64 msghdr)
{
	struct scm_walk w = { .h = h };
	__u64 ctl[2]; /* msg_control, msg_controllen at offsets 32, 40 */

	if (bpf_probe_read_user(ctl, sizeof(ctl), (void *)(msghdr + 32)) ||
	    !ctl[0] || ctl[1] < 16)
		return;
	w.cmsg = ctl[0];
	w.end = ctl[0] + ctl[1];
	bpf_loop(CMSG_MAX, scm_cmsg_cb, &w, 0);
}

struct mmsg_walk {
	struct handler *h;
	__u64 vec;
};

static long mmsg_cb(__u32 i, struct mmsg_walk *w)
{
	/* struct mmsghdr { struct msghdr msg_hdr; unsigned msg_len; }: 64 B */
	scm_rights_of(w->h, w->vec + 64 * (__u64)i);
	return 0;
}

#endif
