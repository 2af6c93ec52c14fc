// SPDX-License-Identifier: GPL-2.0
/*
 * fdtrack kernel side: follow one process's eventfd and io_uring fds.
 *
 * The hash map `fds` (fd -> struct file *) is the lossless view, kept in step
 * with every syscall that creates, duplicates or closes an fd; the counters
 * below are updated in the same place, so they are exact even when the ring
 * buffer overflows. The ring buffer only carries what the map cannot hold:
 * the tid, time and user stack of each open.
 *
 * One tp_btf/sys_exit program does all syscall work: at exit pt_regs still
 * hold the syscall number (orig_ax) and arguments, and the return value says
 * whether it succeeded. A second syscall tracepoint would slow down every
 * syscall on the machine again.
 *
 * Exact when threads race on fd numbers (docs/design.md §4.3 has the
 * proof): each handler reads the table slot of its number, then takes that
 * number's entry lock only if the entry did not change since (seq), so it
 * acts as of its read. An installer that finds a live entry counts the old
 * file closed "outside" with a pending claim (pclaim) that the late close's
 * own exit then claims; a snapshot or recheck that finds a file the map
 * lacks adds it UNCLAIMED for its installer to take over. Every count goes
 * with a change of an entry's live state under its lock, so
 *   at_start + opens + opened_outside_syscalls
 *     - closes - closed_outside_syscalls == live.
 *
 * One file of ~680 lines on purpose: a BPF object is one compilation unit,
 * and the handlers that §4.3's proof reasons about read best side by side.
 *
 * Names: M is a number's map entry (struct fdt_fd_entry), T the file the
 * task's table holds at that number now (struct occupant).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "fdkind.h"
#include "fdtrack_shared.h"

/* x86_64 syscall numbers */
#define NR_close 3
#define NR_pipe 22
#define NR_socketpair 53
#define NR_pipe2 293
#define NR_dup 32
#define NR_dup2 33
#define NR_execve 59
#define NR_fcntl 72
#define NR_eventfd 284
#define NR_eventfd2 290
#define NR_dup3 292
#define NR_execveat 322
#define NR_io_uring_setup 425
#define NR_close_range 436

#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#define EBADF 9

const volatile __u32 targ_tgid = 0;
const volatile bool want_stacks = true;

/* Counters, read by user space through the mmap'ed .bss. */
__u64 opens[FDKIND_COUNT];
__u64 closes[FDKIND_COUNT];       /* close, close_range, dup2/3 onto, exec,
				     exit */
__u64 closed_outside_syscalls[FDKIND_COUNT]; /* gone without a syscall
						(IORING_OP_CLOSE) */
__u64 opened_outside_syscalls[FDKIND_COUNT]; /* found by a snapshot, no
						syscall seen */
__u64 at_start[FDKIND_COUNT];     /* found by the attach-time snapshot */
__u64 open_at_exit[FDKIND_COUNT];
__u64 lost_events;                /* ring buffer full */
__u64 map_full;                   /* fds map full: no longer exact */
__u32 exec_gen;
__u32 exited;
/* Set by user space around each snapshot run. */
__u32 snap_gen;
__u32 snap_baseline;
__u32 snap_saw_target;
__u64 snap_seen;   /* tracked fds the current snapshot walked */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct fdt_fd_entry);
} fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by user space before load */
} events SEC(".maps");

/* Per thread of the target: ktime of its last syscall exit. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} last_exit SEC(".maps");

/* Counters are per kind; kinds are < FDKIND_COUNT (file_kind() returns no
 * other), the check keeps the verifier sure of it. */
static __always_inline void count(__u64 *arr, __u32 kind)
{
	if (kind < FDKIND_COUNT)
		__sync_fetch_and_add(&arr[kind], 1);
}

static __always_inline void uncount(__u64 *arr, __u32 kind)
{
	if (kind < FDKIND_COUNT)
		__sync_fetch_and_add(&arr[kind], -1);
}

/* The struct file at fd in a task's table, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, __u32 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **arr;
	struct file *f = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	arr = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
	return f;
}

/* eventfd_fops is not a ksym, so go by the anon inode's dentry name. */
static __always_inline int file_kind(struct file *f)
{
	union { char c[16]; __u64 w[2]; } n = {};
	const unsigned char *name;

	if (!f)
		return -1;
	name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(n.c, sizeof(n.c), name) < 0)
		return -1;
	/* "[eventfd]\0" and "[io_uring]\0", compared as little-endian words */
	if (n.w[0] == 0x6466746e6576655bULL && (n.w[1] & 0xffff) == 0x5d)
		return FDKIND_EVENTFD;
	if (n.w[0] == 0x6e6972755f6f695bULL && (n.w[1] & 0xffffff) == 0x5d67)
		return FDKIND_IO_URING;
	return -1;
}

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

static __always_inline void emit_simple(__u32 type)
{
	struct fdt_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return;
	}
	e->type = type;
	e->exec_gen = exec_gen;
	e->ts = bpf_ktime_get_ns();
	e->nframes = 0;
	bpf_ringbuf_submit(e, 0);
}

/* The present occupant T of a number, read before taking the entry's lock
 * (no helper calls under a spin lock). */
struct occupant {
	__u64 file, fop;
	int kind;
};

static __always_inline void occupant_of(struct occupant *c, struct file *f)
{
	c->file = (__u64)f;
	c->fop = f ? (__u64)BPF_CORE_READ(f, f_op) : 0;
	c->kind = file_kind(f);
}

static __always_inline void occupant_read(struct occupant *c,
					  struct task_struct *task, __u32 fd)
{
	occupant_of(c, fd_file(task, fd));
}

/* Is the entry the file the table holds now? A freed struct file is often
 * reused at once, so compare the file type (f_op) as well. */
static __always_inline bool is_current(const struct fdt_fd_entry *v,
				       const struct occupant *c)
{
	return v->live && c->file && v->file == c->file && v->fop == c->fop;
}

/* The entry of a number; created (empty) if `create`. */
static __always_inline struct fdt_fd_entry *fd_entry(__u32 fd, bool create)
{
	struct fdt_fd_entry *v = bpf_map_lookup_elem(&fds, &fd), z = {};

	if (v || !create)
		return v;
	bpf_map_update_elem(&fds, &fd, &z, BPF_NOEXIST); /* or a racer did */
	v = bpf_map_lookup_elem(&fds, &fd);
	if (!v)
		__sync_fetch_and_add(&map_full, 1);
	return v;
}

/* Read the present occupant of fd and take the entry's lock, such that the
 * entry did not change in between: then the handler acts as if it ran at
 * the moment of the read. (Otherwise another CPU's handler could change M
 * after we read an older T: e.g. a close's exit that read "empty" deleting
 * the next open's entry.) Give up after a few tries; the unlock bumps seq. */
#define LOCK_FRESH(v, READ)                                       \
	do {                                                             \
		for (int _i = 0; _i < 4; _i++) {                         \
			__u32 _seq = *(volatile __u32 *)&(v)->seq;       \
			READ;                                            \
			bpf_spin_lock(&(v)->lock);                       \
			if ((v)->seq == _seq)                            \
				goto _locked;                            \
			bpf_spin_unlock(&(v)->lock);                     \
		}                                                        \
		READ;                                                    \
		bpf_spin_lock(&(v)->lock);                               \
	_locked:                                                         \
		;                                                        \
	} while (0)

static __always_inline void unlock(struct fdt_fd_entry *v)
{
	v->seq++;
	bpf_spin_unlock(&v->lock);
}

/* Under the lock: M's file is gone and no remover exit counted it. */
static __always_inline void gone_unclaimed(struct fdt_fd_entry *v, __u64 now)
{
	__u32 k = v->kind;

	v->live = 0;
	if (v->flags & FDT_F_CLOSE_SEEN) {
		count(closes, k);
	} else {
		count(closed_outside_syscalls, k);
		if (k < FDKIND_COUNT)
			v->pclaim[k]++;
		if (now > v->pclaim_ts)
			v->pclaim_ts = now;
	}
	v->flags = 0;
}

/* Under the lock: a close noticed by someone else, during this syscall,
 * was this syscall's: move it to closes. */
static __always_inline bool claim_close(struct fdt_fd_entry *v, __u64 prev)
{
	if (v->pclaim_ts <= prev)
		return false;
	for (__u32 k = 0; k < FDKIND_COUNT; k++) {
		if (!v->pclaim[k])
			continue;
		v->pclaim[k]--;
		uncount(closed_outside_syscalls, k);
		count(closes, k);
		return true;
	}
	return false;
}

/* Under the lock: M becomes the present file c, counted in *counter.
 * noticed: when a snapshot or recheck read c (they set FDT_F_UNCLAIMED),
 * else 0. */
static __always_inline void entry_set(struct fdt_fd_entry *v,
				      const struct occupant *c, __u64 *counter,
				      __u32 flags, __u64 ts, __u64 noticed)
{
	v->live = 1;
	v->noticed = noticed;
	v->file = c->file;
	v->fop = c->fop;
	v->kind = c->kind;
	v->gen = snap_gen;
	v->ts = ts;
	v->at_exit = 0;
	v->flags = flags;
	count(counter, c->kind);
}

/* Under the lock: the open of c finds M = c put there by a snapshot or a
 * recheck between its effect and its exit: the open is that one. */
static __always_inline void claim_open(struct fdt_fd_entry *v, __u64 ts)
{
	uncount(v->flags & FDT_F_BASE ? at_start : opened_outside_syscalls,
		v->kind);
	count(opens, v->kind);
	v->flags = 0;
	v->ts = ts;
	v->noticed = 0;
}

enum { NEW_FD, REPLACE };

/* A syscall installed fd (NEW_FD: the number was free; REPLACE: dup2/dup3
 * onto it, closing what was there). */
static __always_inline void new_fd(void *ctx, struct pt_regs *regs,
				   struct task_struct *task, __u32 fd, int how,
				   __u64 now, __u64 prev)
{
	struct fdt_event *e = NULL;
	struct fdt_fd_entry *v;
	struct occupant c;
	bool opened = false;
	__u64 det = now;

	occupant_read(&c, task, fd);
	v = fd_entry(fd, c.kind >= 0);
	if (!v)
		return;
	if (c.kind >= 0) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->type = FDT_EV_OPEN;
			e->kind = c.kind;
			e->fd = fd;
			e->tid = (__u32)bpf_get_current_pid_tgid();
			e->ts = now;
			e->file = c.file;
			e->exec_gen = exec_gen;
			e->nframes = 0;
			e->retaddr = 0;
			if (want_stacks) {
				long n = bpf_get_stack(ctx, e->frames,
						       sizeof(e->frames),
						       BPF_F_USER_STACK);
				e->nframes = n > 0 ? n / sizeof(__u64) : 0;
				e->retaddr = wrapper_retaddr(regs);
			}
		} else {
			__sync_fetch_and_add(&lost_events, 1);
		}
	}
	LOCK_FRESH(v, (occupant_read(&c, task, fd), det = bpf_ktime_get_ns()));
	/* An UNCLAIMED M that is our file was noticed after our effect: the
	 * number was free at the effect (NEW_FD), or held the victim V from
	 * our previous exit (prev) to the effect (REPLACE, so noticed > prev
	 * unless V is our very struct file, §4.3). */
	if (is_current(v, &c) && (v->flags & FDT_F_UNCLAIMED) &&
	    (how == NEW_FD || v->noticed > prev)) {
		claim_open(v, e ? now : 0);
		opened = true;
	} else if (v->live) {
		if (how == REPLACE) {
			v->live = 0;    /* our victim */
			v->flags = 0;
			count(closes, v->kind);
		} else {
			gone_unclaimed(v, det);
		}
	} else if (how == REPLACE) {
		claim_close(v, prev);
	}
	if (!opened && c.kind >= 0) {
		entry_set(v, &c, opens, 0, e ? now : 0, 0);
		opened = true;
	}
	unlock(v);
	if (e)
		bpf_ringbuf_submit(e, 0);
}

/* close(fd) removed whatever fd held at its effect. If a close at fd was
 * noticed during this syscall, it is ours: claim it (and if M is gone too,
 * M's own close is still on its way: leave that one to be claimed). */
static __always_inline void closed_fd(struct task_struct *task, __u32 fd,
				      __u64 prev)
{
	struct fdt_fd_entry *v = fd_entry(fd, false);
	struct occupant c;
	__u64 det;

	if (!v)
		return;
	LOCK_FRESH(v, (occupant_read(&c, task, fd), det = bpf_ktime_get_ns()));
	if (claim_close(v, prev)) {
		if (v->live && !is_current(v, &c))
			gone_unclaimed(v, det);
	} else if (v->live && !is_current(v, &c)) {
		v->live = 0;
		v->flags = 0;
		count(closes, v->kind);
	} else if (v->live) {
		v->flags |= FDT_F_CLOSE_SEEN;
	}
	unlock(v);
}

/* A syscall returned fd (or a number that may be one): if M is gone, count
 * it; a tracked file M lacks came by a syscall we do not model (pidfd_getfd,
 * ...) or its open has not reached its exit yet (it will claim it). */
static __always_inline void recheck(struct task_struct *task, __u32 fd)
{
	struct fdt_fd_entry *v = fd_entry(fd, false);
	struct occupant c;
	__u64 det;

	if (!v)
		return;
	/* det: after the read, so after the effect of any close it sees */
	LOCK_FRESH(v, (occupant_read(&c, task, fd), det = bpf_ktime_get_ns()));
	if (v->live && !is_current(v, &c))
		gone_unclaimed(v, det);
	if (!v->live && c.kind >= 0)
		entry_set(v, &c, opened_outside_syscalls, FDT_F_UNCLAIMED,
			  0, det);
	unlock(v);
}

static __always_inline void recheck_pair(struct task_struct *task, __u64 uptr)
{
	int p[2];

	if (bpf_probe_read_user(p, sizeof(p), (void *)uptr))
		return;
	recheck(task, p[0]);
	recheck(task, p[1]);
}

struct sweep_ctx {
	__u64 fdarr;     /* the task's fdt->fd array */
	__u32 max_fds;
	__u32 first, last;
	__u32 why;
	__u64 now, prev;
};

enum {
	WHY_CLOSE_RANGE, /* close_range: a remover of every number in range */
	WHY_EXEC,        /* exec closed the close-on-exec ones */
	WHY_EXIT,        /* the process exits: mark what is open */
	WHY_SNAPSHOT,    /* end of a snapshot: what the walk did not see */
};

static __always_inline void sweep_ctx_init(struct sweep_ctx *c,
					   struct task_struct *task)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);

	c->fdarr = (__u64)BPF_CORE_READ(fdt, fd);
	c->max_fds = fdt ? BPF_CORE_READ(fdt, max_fds) : 0;
}

static __always_inline void sweep_read(struct sweep_ctx *c, __u32 fd,
				       struct occupant *now)
{
	struct file *f = NULL;

	if (fd < c->max_fds)
		bpf_probe_read_kernel(&f, sizeof(f),
				      (void *)(c->fdarr + fd * sizeof(f)));
	now->file = (__u64)f;
	now->fop = f ? (__u64)BPF_CORE_READ(f, f_op) : 0;
}

static long sweep_cb(struct bpf_map *map, __u32 *key, struct fdt_fd_entry *v,
		     struct sweep_ctx *c)
{
	__u32 fd = *key;
	__u64 det = c->now;
	struct occupant occ;

	if (fd < c->first || fd > c->last)
		return 0;
	if (c->why != WHY_CLOSE_RANGE && !v->live)
		return 0;
	occ.file = 0; /* snapshot: the walk did not find it, gone */
	occ.fop = 0;
	if (c->why == WHY_SNAPSHOT)
		bpf_spin_lock(&v->lock);
	else
		LOCK_FRESH(v, (sweep_read(c, fd, &occ),
			       det = bpf_ktime_get_ns()));
	if (c->why == WHY_CLOSE_RANGE && claim_close(v, c->prev)) {
		/* as in closed_fd() */
		if (v->live && !v->at_exit && !is_current(v, &occ))
			gone_unclaimed(v, det);
	} else if (!v->live || v->at_exit) {
		/* nothing tracked here now */
	} else if (is_current(v, &occ)) {
		if (c->why == WHY_EXIT) {
			/* Keep it: user space reports what was open at exit. */
			v->at_exit = 1;
			count(open_at_exit, v->kind);
			count(closes, v->kind);
		}
	} else if (c->why == WHY_SNAPSHOT) {
		if (v->gen != snap_gen)
			gone_unclaimed(v, c->now);
	} else {
		/* close_range, exec: the remover itself; exit: all threads
		 * are gone, so nobody else can still claim it */
		v->live = 0;
		v->flags = 0;
		count(c->why == WHY_EXIT ? closed_outside_syscalls : closes,
		      v->kind);
	}
	unlock(v);
	return 0;
}

static __always_inline void sweep(struct task_struct *task, __u32 first,
				  __u32 last, __u32 why, __u64 now, __u64 prev)
{
	struct sweep_ctx c = { .first = first, .last = last, .why = why,
			       .now = now, .prev = prev };

	if (why != WHY_SNAPSHOT)
		sweep_ctx_init(&c, task);
	bpf_for_each_map_elem(&fds, sweep_cb, &c, 0);
}

static __always_inline void on_sys_exit(void *ctx, struct pt_regs *regs,
					long ret, struct task_struct *task,
					__u64 now, __u64 prev)
{
	long nr = regs->orig_ax;

	/* close removes the fd even when it then fails (EINTR, EIO) */
	if (nr == NR_close && ret != -EBADF) {
		closed_fd(task, regs->di, prev);
		return;
	}
	if (ret < 0)
		return;
	switch (nr) {
	case NR_eventfd:
	case NR_eventfd2:
	case NR_io_uring_setup:
	case NR_dup:
		new_fd(ctx, regs, task, ret, NEW_FD, now, prev);
		break;
	case NR_fcntl:
		if (regs->si == F_DUPFD || regs->si == F_DUPFD_CLOEXEC)
			new_fd(ctx, regs, task, ret, NEW_FD, now, prev);
		else
			recheck(task, ret);
		break;
	case NR_dup2:
	case NR_dup3:
		if (regs->di != ret) /* dup2(fd, fd) changes nothing */
			new_fd(ctx, regs, task, ret, REPLACE, now, prev);
		break;
	case NR_close_range:
		/* With CLOSE_RANGE_CLOEXEC nothing closes now; exec will. */
		if (!(regs->dx & CLOSE_RANGE_CLOEXEC))
			sweep(task, regs->di, regs->si, WHY_CLOSE_RANGE, now,
			      prev);
		break;
	case NR_execve:
	case NR_execveat:
		/* Close-on-exec fds are gone from the (possibly new) table. */
		__sync_fetch_and_add(&exec_gen, 1);
		sweep(task, 0, ~0U, WHY_EXEC, now, prev);
		emit_simple(FDT_EV_EXEC);
		break;
	case NR_pipe:
	case NR_pipe2:
		recheck_pair(task, regs->di);
		break;
	case NR_socketpair:
		recheck_pair(task, regs->r10);
		break;
	default:
		/* open, socket, accept, bpf, ...: any result may be an fd */
		if (ret < (1 << 20))
			recheck(task, ret);
		break;
	}
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fdt_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	__u64 prev = 0, *last;

	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != targ_tgid || exited)
		return 0;
	task = bpf_get_current_task_btf();
	last = bpf_task_storage_get(&last_exit, task, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (last)
		prev = *last;
	on_sys_exit(ctx, regs, ret, task, bpf_ktime_get_ns(), prev);
	/* Before the thread's next syscall, after all this one noticed: a
	 * close noticed later than this can only be a later syscall's. */
	if (last)
		*last = bpf_ktime_get_ns();
	return 0;
}

/* Runs in do_exit before exit_files(): the table is still intact, so what is
 * open now is exactly what the process left open. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fdt_exit, struct task_struct *p)
{
	if (p->tgid != targ_tgid || exited)
		return 0;
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* another thread still runs */
	exited = 1;
	sweep(p, 0, ~0U, WHY_EXIT, bpf_ktime_get_ns(), 0);
	emit_simple(FDT_EV_EXIT);
	return 0;
}

/* Exact snapshot of the target's fd table. Tracked files the map lacks are
 * added (UNCLAIMED: an open still on its way to sys_exit takes them over);
 * at the end (file == NULL) live entries the walk did not see are gone
 * (closed by IORING_OP_CLOSE, or by a close still on its way to sys_exit,
 * which then claims it). */
SEC("iter/task_file")
int fdt_snapshot(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct fdt_fd_entry *v;
	__u32 fd = ctx->fd;
	struct occupant c;
	__u64 now;

	if (!file) {
		/* The sweep walks every hash bucket (~200 us for 16k); skip it
		 * when the walk saw as many fds as the map holds. */
		__u64 live = 0;

		for (int k = 0; k < FDKIND_COUNT; k++)
			live += at_start[k] + opens[k] +
				opened_outside_syscalls[k] - closes[k] -
				closed_outside_syscalls[k];
		if (snap_saw_target && !exited && live != snap_seen)
			sweep(NULL, 0, ~0U, WHY_SNAPSHOT, bpf_ktime_get_ns(), 0);
		return 0;
	}
	if (!task || task->tgid != targ_tgid)
		return 0;
	snap_saw_target = 1;
	occupant_of(&c, file);
	if (c.kind < 0)
		return 0;
	v = fd_entry(fd, true);
	if (!v)
		return 0;
	/* the walk's file may be stale by now: act on the table as it is */
	LOCK_FRESH(v, (occupant_read(&c, task, fd), now = bpf_ktime_get_ns()));
	if (c.kind < 0) {
		unlock(v); /* gone meanwhile: the sweep at the end decides */
		return 0;
	}
	if (is_current(v, &c)) {
		if (v->gen != snap_gen)
			__sync_fetch_and_add(&snap_seen, 1); /* threads repeat it */
		v->gen = snap_gen;
	} else {
		if (v->live)
			gone_unclaimed(v, now);
		entry_set(v, &c,
			  snap_baseline ? at_start : opened_outside_syscalls,
			  FDT_F_UNCLAIMED | (snap_baseline ? FDT_F_BASE : 0),
			  0, now);
		__sync_fetch_and_add(&snap_seen, 1);
	}
	unlock(v);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
