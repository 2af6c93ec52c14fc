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
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "fdtrack_events.h"

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

const volatile __u32 targ_tgid = 0;
const volatile bool want_stacks = true;

/* Counters, read by user space through the mmap'ed .bss. */
__u64 opens[FDT_NKINDS];
__u64 closes[FDT_NKINDS];          /* close, close_range, dup2/3 onto, exec, exit */
__u64 outside_closed[FDT_NKINDS];  /* gone without a syscall (IORING_OP_CLOSE) */
__u64 outside_opened[FDT_NKINDS];  /* found by a snapshot, no syscall seen */
__u64 at_start[FDT_NKINDS];        /* found by the attach-time snapshot */
__u64 open_at_exit[FDT_NKINDS];
__u64 lost_events;                 /* ring buffer full */
__u64 map_full;                    /* fds map full: the view is no longer exact */
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
	__type(value, struct fdt_fdinfo);
} fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by user space before load */
} events SEC(".maps");

static __always_inline void count(__u64 *arr, __u32 kind)
{
	__sync_fetch_and_add(&arr[kind & 1], 1);
}

/* Threads of the target (and the snapshot) race on map entries: count only
 * the delete or insert that took effect, so the counters match the map. */
static __always_inline void drop(__u32 fd, __u64 *counter, __u32 kind)
{
	if (!bpf_map_delete_elem(&fds, &fd))
		count(counter, kind);
}

static __always_inline void add(__u32 fd, struct fdt_fdinfo *v, __u64 *counter)
{
	if (!bpf_map_update_elem(&fds, &fd, v, BPF_NOEXIST)) {
		count(counter, v->kind);
		return;
	}
	/* Someone added it meanwhile and counted it; keep our details. */
	if (bpf_map_update_elem(&fds, &fd, v, BPF_EXIST))
		__sync_fetch_and_add(&map_full, 1);
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
		return 0;
	if (n.w[0] == 0x6e6972755f6f695bULL && (n.w[1] & 0xffffff) == 0x5d67)
		return 1;
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

/* Is the map entry still the file in the table? A freed struct file is
 * often reused at once, so compare the file type (f_op) as well. */
static __always_inline bool same_file(const struct fdt_fdinfo *v,
				      struct file *f)
{
	return f && v->file == (__u64)f &&
	       v->fop == (__u64)BPF_CORE_READ(f, f_op);
}

enum {
	NEW_FD,   /* the syscall made fd: the number was free before */
	REPLACE,  /* dup2/dup3: whatever was at fd was closed */
	RECHECK,  /* fd is some syscall's result: still the file we know? */
};

/* A syscall produced fd: track it if it is ours, and settle what the map had
 * at that number. */
static __always_inline void new_fd(void *ctx, struct pt_regs *regs,
				   struct task_struct *task, __u32 fd, int how)
{
	struct file *f = fd_file(task, fd);
	struct fdt_fdinfo *old, v = {};
	struct fdt_event *e;
	int kind;

	old = bpf_map_lookup_elem(&fds, &fd);
	if (how == RECHECK && (!old || same_file(old, f)))
		return;
	if (old) {
		/* Otherwise the number was free, so the old file went away
		 * without a syscall we saw (e.g. IORING_OP_CLOSE).
		 * Known race: another thread's close(fd) that has not yet
		 * reached its sys_exit looks the same; the snapshot repairs
		 * what that leaves wrong (see fdtrack.h). */
		drop(fd, how == REPLACE ? closes : outside_closed, old->kind);
	}
	kind = file_kind(f);
	if (kind < 0)
		return;

	v.file = (__u64)f;
	v.fop = (__u64)BPF_CORE_READ(f, f_op);
	v.kind = kind;
	v.gen = snap_gen;
	if (how == RECHECK) {
		/* arrived by a syscall we do not model (pidfd_getfd, ...) */
		add(fd, &v, outside_opened);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		v.ts = bpf_ktime_get_ns();
		e->type = FDT_EV_OPEN;
		e->kind = kind;
		e->fd = fd;
		e->tid = (__u32)bpf_get_current_pid_tgid();
		e->ts = v.ts;
		e->file = v.file;
		e->exec_gen = exec_gen;
		e->nframes = 0;
		e->retaddr = 0;
		if (want_stacks) {
			long n = bpf_get_stack(ctx, e->frames, sizeof(e->frames),
					       BPF_F_USER_STACK);
			e->nframes = n > 0 ? n / sizeof(__u64) : 0;
			e->retaddr = wrapper_retaddr(regs);
		}
	} else {
		__sync_fetch_and_add(&lost_events, 1);
	}
	add(fd, &v, opens);
	if (e)
		bpf_ringbuf_submit(e, 0);
}

struct sweep_ctx {
	__u64 fdarr;     /* the task's fdt->fd array */
	__u32 max_fds;
	__u32 first, last;
	__u32 why;       /* what a vanished fd counts as */
};

enum { WHY_CLOSE, WHY_EXIT, WHY_SNAPSHOT };

static __always_inline void sweep_ctx_init(struct sweep_ctx *c,
					   struct task_struct *task)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);

	c->fdarr = (__u64)BPF_CORE_READ(fdt, fd);
	c->max_fds = fdt ? BPF_CORE_READ(fdt, max_fds) : 0;
}

/* For exec, close_range and exit: is each fd in range still the same file? */
static long sweep_cb(struct bpf_map *map, __u32 *key, struct fdt_fdinfo *v,
		     struct sweep_ctx *c)
{
	__u32 fd = *key;
	struct file *f = NULL;

	if (fd < c->first || fd > c->last || v->at_exit)
		return 0;
	if (fd < c->max_fds)
		bpf_probe_read_kernel(&f, sizeof(f),
				      (void *)(c->fdarr + fd * sizeof(f)));
	if (f && (__u64)f == v->file &&
	    v->fop == (__u64)BPF_CORE_READ(f, f_op)) {
		if (c->why == WHY_EXIT) {
			/* Keep it: user space reports what was open at exit. */
			v->at_exit = 1;
			count(open_at_exit, v->kind);
			count(closes, v->kind);
		}
		return 0;
	}
	if (!bpf_map_delete_elem(map, key))
		count(c->why == WHY_CLOSE ? closes : outside_closed, v->kind);
	return 0;
}

static __always_inline void sweep(struct task_struct *task, __u32 first,
				  __u32 last, __u32 why)
{
	struct sweep_ctx c = { .first = first, .last = last, .why = why };

	sweep_ctx_init(&c, task);
	bpf_for_each_map_elem(&fds, sweep_cb, &c, 0);
}

/* A syscall handed out fd numbers the map still has: if the table now holds
 * another file there, ours was closed behind our back (IORING_OP_CLOSE) and
 * the number reused. Catching it here keeps a later close() of the new file
 * from being counted as a close of ours. */
static __always_inline void recheck(void *ctx, struct pt_regs *regs,
				    struct task_struct *task, __u32 fd)
{
	if (bpf_map_lookup_elem(&fds, &fd))
		new_fd(ctx, regs, task, fd, RECHECK);
}

static __always_inline void recheck_pair(void *ctx, struct pt_regs *regs,
					 struct task_struct *task, __u64 uptr)
{
	int p[2];

	if (bpf_probe_read_user(p, sizeof(p), (void *)uptr))
		return;
	recheck(ctx, regs, task, p[0]);
	recheck(ctx, regs, task, p[1]);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fdt_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct fdt_fdinfo *v;
	__u32 fd;
	long nr;

	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != targ_tgid || ret < 0)
		return 0;
	if (exited)
		return 0;
	task = bpf_get_current_task_btf();
	nr = regs->orig_ax;
	switch (nr) {
	case NR_eventfd:
	case NR_eventfd2:
	case NR_io_uring_setup:
	case NR_dup:
		new_fd(ctx, regs, task, ret, NEW_FD);
		break;
	case NR_fcntl:
		if (regs->si == F_DUPFD || regs->si == F_DUPFD_CLOEXEC)
			new_fd(ctx, regs, task, ret, NEW_FD);
		else
			recheck(ctx, regs, task, ret);
		break;
	case NR_dup2:
	case NR_dup3:
		if (regs->di != ret) /* dup2(fd, fd) changes nothing */
			new_fd(ctx, regs, task, ret, REPLACE);
		break;
	case NR_close:
		fd = regs->di;
		v = bpf_map_lookup_elem(&fds, &fd);
		if (v)
			drop(fd, closes, v->kind);
		break;
	case NR_close_range:
		/* With CLOSE_RANGE_CLOEXEC nothing closes now; exec will. */
		if (!(regs->dx & CLOSE_RANGE_CLOEXEC))
			sweep(task, regs->di, regs->si, WHY_CLOSE);
		break;
	case NR_execve:
	case NR_execveat:
		/* Close-on-exec fds are gone from the (possibly new) table. */
		__sync_fetch_and_add(&exec_gen, 1);
		sweep(task, 0, ~0U, WHY_CLOSE);
		emit_simple(FDT_EV_EXEC);
		break;
	case NR_pipe:
	case NR_pipe2:
		recheck_pair(ctx, regs, task, regs->di);
		break;
	case NR_socketpair:
		recheck_pair(ctx, regs, task, regs->r10);
		break;
	default:
		/* open, socket, accept, bpf, ...: any result may be an fd */
		if (ret < (1 << 20))
			recheck(ctx, regs, task, ret);
		break;
	}
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
	sweep(p, 0, ~0U, WHY_EXIT);
	emit_simple(FDT_EV_EXIT);
	return 0;
}

static long snap_sweep_cb(struct bpf_map *map, __u32 *key,
			  struct fdt_fdinfo *v, void *c)
{
	if (v->gen != snap_gen && !v->at_exit && !bpf_map_delete_elem(map, key))
		count(outside_closed, v->kind);
	return 0;
}

/* Exact snapshot of the target's fd table. Tracked files the map lacks are
 * added; at the end (file == NULL) map entries the walk did not see were
 * closed without a syscall, e.g. by IORING_OP_CLOSE. */
SEC("iter/task_file")
int fdt_snapshot(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct fdt_fdinfo *old, v = {};
	__u32 fd = ctx->fd;
	int kind;

	if (!file) {
		/* The sweep walks every hash bucket (~200 us for 16k); skip it
		 * when the walk saw as many fds as the map holds. */
		__u64 live = 0;

		for (int k = 0; k < FDT_NKINDS; k++)
			live += at_start[k] + opens[k] + outside_opened[k] -
				closes[k] - outside_closed[k];
		if (snap_saw_target && !exited && live != snap_seen)
			bpf_for_each_map_elem(&fds, snap_sweep_cb, NULL, 0);
		return 0;
	}
	if (!task || task->tgid != targ_tgid)
		return 0;
	snap_saw_target = 1;
	kind = file_kind(file);
	if (kind < 0)
		return 0;
	old = bpf_map_lookup_elem(&fds, &fd);
	if (old && same_file(old, file)) {
		if (old->gen != snap_gen)
			snap_seen++; /* a thread sharing the table may repeat it */
		old->gen = snap_gen;
		return 0;
	}
	if (old)
		drop(fd, outside_closed, old->kind);
	v.file = (__u64)file;
	v.fop = (__u64)BPF_CORE_READ(file, f_op);
	v.kind = kind;
	v.gen = snap_gen;
	add(fd, &v, snap_baseline ? at_start : outside_opened);
	snap_seen++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
