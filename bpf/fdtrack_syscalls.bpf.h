/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c: what one syscall exit does to its table's entries
 * (an installer puts its new file at a number, a remover takes one away, a
 * recheck compares); each installed fd gets the opening stack of its exit
 * (fdtrack_stacks.bpf.h). Each is a global function with scalar arguments:
 * the verifier checks it once, not once per path that calls it.
 */
#ifndef FDTRACK_SYSCALLS_BPF_H
#define FDTRACK_SYSCALLS_BPF_H

/* ---- installers, removers, rechecks --------------------------------- */

enum {
	NEW_FD,
	REPLACE
};

/* A syscall installed fd (NEW_FD: the number was free at its effect;
 * REPLACE: dup2/dup3 onto it, closing what was there). */
__noinline int fdt_install(__u32 table, __u64 files, __u32 fd, int how,
			   __u64 prev)
{
	struct opening_stack *stack = NULL;
	struct fdt_fd_entry *v;
	struct fdt_table *tbl;
	struct handler h;
	struct occupant c;
	bool opened = false, locked;
	__u32 seq0, aspace;
	__u64 det = 0;

	if (!handler_init(&h, table, files, prev))
		return 0;
	tbl = h.tbl;
	v = entry_get(tbl, table, fd, false);
	seq0 = v ? *(volatile __u32 *)&v->seq : 0;
	/* one read of T, checked fresh when locking */
	occupant_read(&c, files, fd);
	if (v) {
		det = NOTICED(v);
	} else {
		if (c.kind < 0)
			return 0; /* nothing here, and nothing tracked before */
		v = entry_get(tbl, table, fd, true);
		if (!v)
			return 0;
		seq0 = 0; /* a racer that made and changed it bumped seq */
	}
	/* the exit's stack, taken before its installs (on_syscall()) */
	if (want_stacks)
		stack = syscall_stack();
	aspace = tbl->aspace;
	TRY_LOCK_FRESH_AFTER(v, seq0,
			     (occupant_read(&c, files, fd), det = NOTICED(v)),
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
	    (how == NEW_FD || v->noticed > prev)) {
		claim_open(v, tbl, stack, aspace);
		opened = true;
	} else if (v->live) {
		if (how == REPLACE)
			close_entry(v, tbl); /* our victim */
		else
			gone_unclaimed(v, tbl, det);
	} else if (how == REPLACE) {
		claim_close(v, tbl, prev);
	}
	if (!opened && c.kind >= 0)
		entry_set(v, tbl, &c, FDT_C_OPENS, 0, 0, stack, aspace);
	unlock(v);
	note_std(tbl, fd);
	if (stack)
		keep_stack(stack->key);
	return 0;
}

/* close(fd) removed whatever fd held at its effect. If a close at fd was
 * noticed during this syscall, it is ours: claim it (and if M is gone too,
 * M's own close is still on its way: leave that one to be claimed). */
__noinline int fdt_close(__u32 table, __u64 files, __u32 fd, __u64 prev)
{
	struct fdt_fd_entry *v;
	struct fdt_table *tbl;
	struct handler h;
	struct occupant c;
	bool locked;
	__u64 det;

	if (!handler_init(&h, table, files, prev))
		return 0;
	tbl = h.tbl;
	v = entry_get(tbl, table, fd, false);
	if (!v)
		return 0;
	/* det is used only with a claim (a close noticed since prev): the
	 * clock is read for those alone, the fields as fresh as the lock */
	TRY_LOCK_FRESH(v,
		       (occupant_read(&c, files, fd),
			det = v->pclaim_ts > prev ? NOTICED(v) : 0),
		       locked);
	if (!locked) {
		race_lost(); /* the snapshot will find the close: outside */
		return 0;
	}
	if (claim_close(v, tbl, prev)) {
		if (v->live && !is_current(v, &c))
			gone_unclaimed(v, tbl, det);
	} else if (v->live && !is_current(v, &c)) {
		close_entry(v, tbl);
	} else if (v->live) {
		v->flags |= FDT_F_CLOSE_SEEN;
	}
	unlock(v);
	return 0;
}

/* A syscall returned fd, or a number that may be one: if M is gone, count
 * it; a tracked file M lacks came by a syscall fdtrack does not model, or
 * its open has not reached its exit yet (that exit then claims it). */
__noinline int fdt_recheck(__u32 table, __u64 files, __u32 fd)
{
	struct fdt_fd_entry *v;
	struct fdt_table *tbl;
	struct handler h;
	struct occupant c;
	bool locked;
	__u64 det;

	if (!handler_init(&h, table, files, 0))
		return 0;
	tbl = h.tbl;
	occupant_read(&c, files, fd);
	v = entry_get(tbl, table, fd, c.kind >= 0);
	if (!v || is_current(v, &c))
		return 0; /* nothing here, or nothing changed */
	/* det: after the read, so after the effect of any close it sees */
	TRY_LOCK_FRESH(v, (occupant_read(&c, files, fd), det = tick()),
		       locked);
	if (!locked) {
		race_lost();
		return 0;
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
	return 0;
}

/* ---- the numbers one exit installed --------------------------------- */

/* The fds received with SCM_RIGHTS by one recvmsg/recvmmsg, gathered first
 * (fdt_scm_gather()) and installed after (fdt_install_scm()): an install
 * called from inside the message walk would nest the verifier's frames 9
 * deep. */
#define SCM_FDS_MAX 4096

struct scm_fds {
	__u32 n;
	int fd[SCM_FDS_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scm_fds);
} scm_fds SEC(".maps");

struct scm_installs {
	__u32 table;
	__u64 files;
	__u64 prev;
	struct scm_fds *g;
};

static long scm_install_cb(__u32 i, struct scm_installs *in)
{
	int fd = in->g->fd[i & (SCM_FDS_MAX - 1)];

	if (fd >= 0)
		fdt_install(in->table, in->files, fd, NEW_FD, in->prev);
	return 0;
}

/* Install the n fds fdt_scm_gather() left in this CPU's scm_fds. */
__noinline int fdt_install_scm(__u32 table, __u64 files, __u64 prev, __u32 n)
{
	struct scm_installs in = { .table = table, .files = files,
				   .prev = prev };
	__u32 zero = 0;

	in.g = bpf_map_lookup_elem(&scm_fds, &zero);
	if (!in.g)
		return 0;
	bpf_loop(n < SCM_FDS_MAX ? n : SCM_FDS_MAX, scm_install_cb, &in, 0);
	return 0;
}

#define SOL_SOCKET   1
#define SCM_RIGHTS   1
#define CMSG_MAX     16	 /* control messages looked at per message */
#define CMSG_FDS_MAX 253 /* SCM_MAX_FD */

struct scm_walk {
	struct scm_fds *out;
	__u64 vec;  /* the messages: struct mmsghdr[], or one msghdr */
	__u64 cmsg; /* user address of the current cmsghdr */
	__u64 end;  /* end of the control buffer */
	__u64 data; /* the fds of an SCM_RIGHTS message */
};

static long scm_fd_cb(__u32 i, struct scm_walk *w)
{
	__u32 n = w->out->n;
	int fd;

	if (n >= SCM_FDS_MAX ||
	    bpf_probe_read_user(&fd, sizeof(fd), (void *)(w->data + 4 * i)))
		return 1;
	w->out->fd[n & (SCM_FDS_MAX - 1)] = fd;
	w->out->n = n + 1;
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

/* The control messages of message i, whose msg_controllen the kernel set
 * to what it wrote. struct mmsghdr { struct msghdr msg_hdr; unsigned
 * msg_len; } is 64 bytes; recvmsg's one msghdr is message 0. */
static long scm_msg_cb(__u32 i, struct scm_walk *w)
{
	__u64 ctl[2]; /* msg_control, msg_controllen at offsets 32, 40 */

	if (bpf_probe_read_user(ctl, sizeof(ctl),
				(void *)(w->vec + 64 * (__u64)i + 32)) ||
	    !ctl[0] || ctl[1] < 16)
		return 0;
	w->cmsg = ctl[0];
	w->end = ctl[0] + ctl[1];
	bpf_loop(CMSG_MAX, scm_cmsg_cb, w, 0);
	return 0;
}

/* Gather the fds that nmsg messages at vec received into this CPU's
 * scm_fds (at most SCM_FDS_MAX: more in one syscall are found by the next
 * snapshot or the exit walk, without their stack); how many. */
__noinline int fdt_scm_gather(__u64 vec, __u32 nmsg)
{
	struct scm_walk w = { .vec = vec };
	__u32 zero = 0;

	w.out = bpf_map_lookup_elem(&scm_fds, &zero);
	if (!w.out)
		return 0;
	w.out->n = 0;
	bpf_loop(nmsg < 1024 ? nmsg : 1024, scm_msg_cb, &w, 0);
	return w.out->n;
}

#endif
