/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c: what one syscall exit does to its table's entries
 * (an installer puts its new file at a number, a remover takes one away, a
 * recheck compares); each installed fd gets its opening stack
 * (fdtrack_stacks.bpf.h).
 */
#ifndef FDTRACK_SYSCALLS_BPF_H
#define FDTRACK_SYSCALLS_BPF_H

/* ---- installers, removers, rechecks --------------------------------- */

enum {
	NEW_FD,
	REPLACE
};

/* The opening stack of the syscall exit being handled on this CPU, taken
 * at its first install and reused by the others: pipe2, socketpair and
 * SCM_RIGHTS install several fds from one user stack. `run` is bumped per
 * exit that may install (on_syscall(): a program never runs twice at once
 * on a CPU), `taken` is the run the stack is of. A map value rather than a copy
 * in struct handler: the verifier tracks the bytes of a stack copy, and
 * the two ways to it (taken now, taken before) made it explore on_install
 * twice (5 s per load). */
struct syscall_stack {
	__u64 run;
	__u64 taken;
	struct opening_stack st;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct syscall_stack);
} syscall_stacks SEC(".maps");

/* A syscall exit that may install fds starts: stacks taken before are not
 * its. */
static __always_inline void syscall_stack_reset(void)
{
	__u32 zero = 0;
	struct syscall_stack *s = bpf_map_lookup_elem(&syscall_stacks, &zero);

	if (s)
		s->run++;
}

/* A syscall installed fd (NEW_FD: the number was free at its effect;
 * REPLACE: dup2/dup3 onto it, closing what was there). */
static __noinline void on_install(struct handler *h, __u32 fd, int how)
{
	struct fdt_table *tbl = h->tbl;
	struct fdt_fd_entry *v = entry_get(tbl, h->table, fd, false);
	__u32 seq0 = v ? *(volatile __u32 *)&v->seq : 0, aspace;
	__u64 det = 0;
	struct syscall_stack *ss;
	struct opening_stack *stack;
	__u32 zero = 0;
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
	ss = bpf_map_lookup_elem(&syscall_stacks, &zero);
	if (!ss)
		return;
	stack = &ss->st;
	if (ss->taken != ss->run) {
		stack->key = 0;
		stack->variant = FDT_NO_VARIANT;
		stack->ndiff = FDT_PROVEN;
		if (c.kind >= 0) {
			stack_capture(h, stack);
			ss->taken = ss->run;
		}
	}
	aspace = tbl->aspace;
	TRY_LOCK_FRESH_AFTER(v, seq0,
			     (occupant_read(&c, h->files, fd),
			      det = NOTICED(v)),
			     locked);
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
	note_std(tbl, fd);
	keep_stack(stack->key);
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
	/* det is used only with a claim (a close noticed since prev): the
	 * clock is read for those alone, the fields as fresh as the lock */
	TRY_LOCK_FRESH(v,
		       (occupant_read(&c, h->files, fd),
			det = v->pclaim_ts > h->prev ? NOTICED(v) : 0),
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
	TRY_LOCK_FRESH(v, (occupant_read(&c, h->files, fd), det = tick()),
		       locked);
	if (!locked) {
		race_lost();
		return;
	}
	if (v->live && !is_current(v, &c))
		gone_unclaimed(v, tbl, det);
	/* before the attach-time snapshot ended, it was there already */
	if (!v->live && c.kind >= 0 && baseline_done)
		note_std(tbl, fd);
	if (!v->live && c.kind >= 0)
		entry_set(v, tbl, &c,
			  baseline_done ? FDT_C_OPENED_OUTSIDE : FDT_C_AT_START,
			  FDT_F_UNCLAIMED |
				  (baseline_done
					   ? 0
					   : FDT_F_BASE | FDT_F_INHERITED),
			  det, NULL, tbl->aspace);
	unlock(v);
}

/* ---- fds received with SCM_RIGHTS ----------------------------------- */

#define SOL_SOCKET   1
#define SCM_RIGHTS   1
#define CMSG_MAX     16	 /* control messages looked at per message */
#define CMSG_FDS_MAX 253 /* SCM_MAX_FD */

struct scm_walk {
	struct handler *h;
	__u64 cmsg; /* user address of the current cmsghdr */
	__u64 end;  /* end of the control buffer */
	__u64 data; /* the fds of an SCM_RIGHTS message */
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
	struct {
		__u64 len;
		int level, type;
	} hdr;
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
