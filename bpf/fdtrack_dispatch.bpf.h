/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c: fd tables of followed processes (new ones at fork,
 * exec or unshare), and what each syscall's exit means for its table
 * (on_syscall: which numbers it installed, removed or may have changed).
 */
#ifndef FDTRACK_DISPATCH_BPF_H
#define FDTRACK_DISPATCH_BPF_H

/* ---- tables ------------------------------------------------------------ */

/* A task's struct files_struct *, as a plain number (what the global
 * functions of fdtrack_classify.bpf.h take). */
static __always_inline __u64 files_of(struct task_struct *task)
{
	return (__u64)BPF_CORE_READ(task, files);
}

/* A new table for process tgid (child of ppid) in address space aspace;
 * its id, or 0 when `tables` is full. */
static __always_inline __u32 table_new(__u32 tgid, __u32 ppid, __u32 aspace,
				       struct fdt_table **out)
{
	__u32 zero = 0, id = __sync_add_and_fetch(&next_table, 1);
	struct fdt_table *src = bpf_map_lookup_elem(&zero_table, &zero), *t;

	if (!src || bpf_map_update_elem(&tables, &id, src, BPF_NOEXIST)) {
		__sync_fetch_and_add(&tables_full, 1);
		return 0;
	}
	t = bpf_map_lookup_elem(&tables, &id);
	if (!t)
		return 0;
	t->tgid = tgid;
	t->ppid = ppid;
	t->aspace = aspace;
	t->holders = 1;
	__sync_fetch_and_add(&live_tables, 1);
	*out = t;
	return id;
}

/* The process's status the way wait() reports it (code << 8 | signal). */
static __always_inline int exit_status(struct task_struct *p)
{
	/* SIGNAL_GROUP_EXIT: set by the group's last thread at the latest */
	if (BPF_CORE_READ(p, signal, flags) & 0x00000004)
		return BPF_CORE_READ(p, signal, group_exit_code);
	return BPF_CORE_READ(p, exit_code);
}

static __always_inline void emit_table_event(__u32 type, __u32 table,
					     struct fdt_table *tbl,
					     __u32 from_aspace)
{
	struct fdt_event *r = record_new(type, table, tbl);

	if (!r)
		return;
	r->from_aspace = from_aspace;
	bpf_ringbuf_submit(r, 0);
}

/* The task storage of a followed task (created for the target's threads on
 * first sight), or NULL: not followed. */
static __always_inline struct fdt_task_state *followed(struct task_struct *task,
						       __u32 tgid)
{
	struct fdt_task_state *ts = bpf_task_storage_get(&task_states, task, 0,
							 0);

	if (ts || tgid != targ_tgid || root_gone)
		return ts;
	ts = bpf_task_storage_get(&task_states, task, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ts && !ts->table) {
		ts->table = FDT_ROOT_TABLE;
		ts->files = files_of(task);
	}
	return ts;
}

/* The calling task now has a table of its own (exec or unshare made it
 * copy a shared one): a new table, its id (or 0: the task is no longer
 * followed, `tables` is full). The caller then walks it for what it holds
 * (WALK_INHERIT: at_start), a frame less deep than from here. */
__noinline int fdt_table_switch(__u32 table)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdt_table *old = table_of(table), *t = NULL;
	struct fdt_task_state *ts;
	__u32 id, aspace;
	__u64 files;

	ts = bpf_task_storage_get(&task_states, task, 0, 0);
	if (!old || !ts)
		return 0;
	aspace = old->aspace;
	id = table_new(task->tgid, old->ppid, aspace, &t);
	__sync_fetch_and_add(&old->holders, -1);
	files = files_of(task);
	ts->files = files;
	ts->table = id;
	if (!id || !t)
		return 0;
	emit_table_event(FDT_EV_FORK, id, t, aspace);
	return id;
}

/* ---- syscalls ----------------------------------------------------------- */

/* x86_64 syscall numbers */
enum {
	NR_read = 0,
	NR_write = 1,
	NR_open = 2,
	NR_close = 3,
	NR_poll = 7,
	NR_lseek = 8,
	NR_mmap = 9,
	NR_ioctl = 16,
	NR_pread64 = 17,
	NR_pwrite64 = 18,
	NR_readv = 19,
	NR_writev = 20,
	NR_pipe = 22,
	NR_select = 23,
	NR_dup = 32,
	NR_dup2 = 33,
	NR_getcwd = 79,
	NR_getdents = 78,
	NR_readlink = 89,
	NR_getxattr = 191,
	NR_lgetxattr = 192,
	NR_fgetxattr = 193,
	NR_listxattr = 194,
	NR_llistxattr = 195,
	NR_flistxattr = 196,
	NR_sched_getaffinity = 204,
	NR_readlinkat = 267,
	NR_socket = 41,
	NR_accept = 43,
	NR_sendto = 44,
	NR_recvfrom = 45,
	NR_sendmsg = 46,
	NR_recvmsg = 47,
	NR_socketpair = 53,
	NR_clone = 56,
	NR_execve = 59,
	NR_wait4 = 61,
	NR_fcntl = 72,
	NR_creat = 85,
	NR_gettid = 186,
	NR_futex = 202,
	NR_epoll_create = 213,
	NR_getdents64 = 217,
	NR_epoll_wait = 232,
	NR_inotify_init = 253,
	NR_openat = 257,
	NR_pselect6 = 270,
	NR_ppoll = 271,
	NR_unshare = 272,
	NR_epoll_pwait = 281,
	NR_signalfd = 282,
	NR_timerfd_create = 283,
	NR_eventfd = 284,
	NR_accept4 = 288,
	NR_signalfd4 = 289,
	NR_eventfd2 = 290,
	NR_epoll_create1 = 291,
	NR_dup3 = 292,
	NR_pipe2 = 293,
	NR_inotify_init1 = 294,
	NR_perf_event_open = 298,
	NR_recvmmsg = 299,
	NR_fanotify_init = 300,
	NR_open_by_handle_at = 304,
	NR_sendmmsg = 307,
	NR_getrandom = 318,
	NR_memfd_create = 319,
	NR_bpf = 321,
	NR_execveat = 322,
	NR_userfaultfd = 323,
	NR_io_uring_setup = 425,
	NR_io_uring_enter = 426,
	NR_open_tree = 428,
	NR_fsopen = 430,
	NR_fsmount = 432,
	NR_fspick = 433,
	NR_pidfd_open = 434,
	NR_clone3 = 435,
	NR_close_range = 436,
	NR_openat2 = 437,
	NR_pidfd_getfd = 438,
	NR_epoll_pwait2 = 441,
	NR_memfd_secret = 447,
	NR_mprotect = 10,
	NR_munmap = 11,
	NR_rt_sigaction = 13,
	NR_rt_sigprocmask = 14,
	NR_sched_yield = 24,
	NR_mremap = 25,
	NR_madvise = 28,
	NR_nanosleep = 35,
	NR_getpid = 39,
	NR_kill = 62,
	NR_uname = 63,
	NR_getrusage = 98,
	NR_sysinfo = 99,
	NR_arch_prctl = 158,
	NR_tgkill = 234,
	NR_clock_gettime = 228,
	NR_clock_nanosleep = 230,
	NR_sched_setaffinity = 203,
	NR_set_robust_list = 273,
	NR_prlimit64 = 302,
	NR_rseq = 334,
	NR_membarrier = 324,
	NR_newfstatat = 262,
	NR_fstat = 5,
	NR_stat = 4,
	NR_statx = 332,
	NR_getppid = 110,
	NR_exit = 60,
};

#define F_DUPFD		    0
#define F_DUPFD_CLOEXEC	    1030
#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#define CLONE_FILES	    0x400
#define CLONE_PIDFD	    0x1000

/* bpf(2) commands that return a new fd */
static __always_inline bool bpf_cmd_makes_fd(__u64 cmd)
{
	switch (cmd) {
	case 0:	 /* BPF_MAP_CREATE */
	case 5:	 /* BPF_PROG_LOAD */
	case 7:	 /* BPF_OBJ_GET */
	case 13: /* BPF_PROG_GET_FD_BY_ID */
	case 14: /* BPF_MAP_GET_FD_BY_ID */
	case 17: /* BPF_RAW_TRACEPOINT_OPEN */
	case 18: /* BPF_BTF_LOAD */
	case 19: /* BPF_BTF_GET_FD_BY_ID */
	case 28: /* BPF_LINK_CREATE */
	case 30: /* BPF_LINK_GET_FD_BY_ID */
	case 33: /* BPF_ITER_CREATE */
	case 36: /* BPF_TOKEN_CREATE */
		return true;
	default:
		return false;
	}
}

/* Syscalls that never return an fd: no recheck of their result. */
static __always_inline bool never_returns_fd(long nr)
{
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_poll:
	case NR_lseek:
	case NR_mmap:
	case NR_pread64:
	case NR_pwrite64:
	case NR_readv:
	case NR_writev:
	case NR_select:
	case NR_sendto:
	case NR_recvfrom:
	case NR_sendmsg:
	case NR_sendmmsg:
	case NR_wait4:
	case NR_gettid:
	case NR_futex:
	case NR_getdents64:
	case NR_epoll_wait:
	case NR_pselect6:
	case NR_ppoll:
	case NR_epoll_pwait:
	case NR_epoll_pwait2:
	case NR_getrandom:
	case NR_io_uring_enter:
	case NR_getcwd:
	case NR_getdents:
	case NR_readlink:
	case NR_readlinkat:
	case NR_getxattr:
	case NR_lgetxattr:
	case NR_fgetxattr:
	case NR_listxattr:
	case NR_llistxattr:
	case NR_flistxattr:
	case NR_sched_getaffinity:
		return true; /* lengths, counts, addresses */
	/* 0 on success (a recheck of fd 0 for nothing), or ids */
	case NR_mprotect:
	case NR_munmap:
	case NR_rt_sigaction:
	case NR_rt_sigprocmask:
	case NR_sched_yield:
	case NR_mremap:
	case NR_madvise:
	case NR_nanosleep:
	case NR_getpid:
	case NR_kill:
	case NR_uname:
	case NR_getrusage:
	case NR_sysinfo:
	case NR_arch_prctl:
	case NR_tgkill:
	case NR_clock_gettime:
	case NR_clock_nanosleep:
	case NR_sched_setaffinity:
	case NR_set_robust_list:
	case NR_prlimit64:
	case NR_rseq:
	case NR_membarrier:
	case NR_newfstatat:
	case NR_fstat:
	case NR_stat:
	case NR_statx:
	case NR_getppid:
	case NR_exit:
		return true;
	default:
		return false;
	}
}

/* A syscall that cannot have changed the fd table: a failed one (but
 * close, which removes the fd even when it fails), or one whose result is
 * never an fd and that installs and removes none (on_syscall()'s default
 * case would return at once). Checked before the table is looked up. */
static __always_inline bool no_fd_work(long nr, long ret)
{
	if (nr == NR_close)
		return false;
	return ret < 0 || never_returns_fd(nr);
}

/* The pidfd clone()/clone3() wrote for the parent with CLONE_PIDFD, or
 * -1. */
static __always_inline int clone_pidfd(struct pt_regs *regs, long nr)
{
	__u64 flags = regs->di, where = regs->dx;
	int pidfd = -1;

	if (nr == NR_clone3) {
		__u64 args[2]; /* struct clone_args: flags, pidfd */

		if (bpf_probe_read_user(args, sizeof(args), (void *)regs->di))
			return -1;
		flags = args[0];
		where = args[1];
	}
	if (!(flags & CLONE_PIDFD) ||
	    bpf_probe_read_user(&pidfd, sizeof(pidfd), (void *)where))
		return -1;
	return pidfd;
}

/* pipe, pipe2, socketpair: two new numbers in the caller's int[2] (read at
 * exit: a thread rewriting that array before the syscall returns would
 * misfile them, never change what is live). */
static __always_inline int read_pair(int fd[2], __u64 uptr)
{
	return bpf_probe_read_user(fd, 2 * sizeof(int), (void *)uptr) ? 0 : 2;
}

/* exec succeeded (its close-on-exec fds gone, by on_syscall()): a new
 * address space, told to user space with the command line. */
__noinline int fdt_exec(__u32 table)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdt_exec_event *e;
	struct fdt_table *tbl;
	struct mm_struct *mm;
	__u64 start, len;

	tbl = table_of(table);
	if (!tbl)
		return 0;
	tbl->aspace = __sync_add_and_fetch(&next_aspace, 1);
	__sync_fetch_and_and(&tbl->flags, ~FDT_T_ANNOUNCED);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->h.type = FDT_EV_EXEC;
	e->h.table = table;
	e->h.tgid = task->tgid;
	e->h.aspace = tbl->aspace;
	e->h.ts = bpf_ktime_get_ns();
	mm = task->mm;
	start = BPF_CORE_READ(mm, arg_start);
	len = BPF_CORE_READ(mm, arg_end) - start;
	bpf_probe_read_user(e->argv,
			    len < FDT_ARGV_BYTES ? len : FDT_ARGV_BYTES,
			    (void *)start);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* An unsharing syscall (unshare, close_range with CLOSE_RANGE_UNSHARE):
 * did the task's table change? */
static __always_inline bool unshared(struct task_struct *task,
				     struct fdt_task_state *ts)
{
	return follow && ts && files_of(task) != ts->files;
}

/* The task's table changed (fdt_table_switch()): the new one holds what
 * the task holds, at_start. */
static __always_inline __u32 new_table(struct task_struct *task, __u32 table)
{
	__u32 id = fdt_table_switch(table);

	if (id)
		fdt_walk(id, files_of(task), ALL_FDS, WALK_INHERIT, 0);
	return id;
}

/* What a syscall exit did to its table: the numbers it installed
 * (NEW_FD or REPLACE), removed or may have changed. Each job is a global
 * function; this dispatch only decodes the syscall. */
static __always_inline void on_syscall(__u32 table, __u64 files, __u64 prev,
				       struct pt_regs *regs, long ret,
				       struct task_struct *task,
				       struct fdt_task_state *ts)
{
	long nr = regs->orig_ax;
	int fd[2] = { ret, -1 }, how = NEW_FD, n = 0;

	/* close removes the fd even when it then fails (EINTR, EIO) */
	if (nr == NR_close && ret != -EBADF) {
		fdt_close(table, files, regs->di, prev);
		return;
	}
	if (ret < 0)
		return;
	switch (nr) {
	case NR_open:
	case NR_openat:
	case NR_openat2:
	case NR_creat:
	case NR_socket:
	case NR_accept:
	case NR_accept4:
	case NR_epoll_create:
	case NR_epoll_create1:
	case NR_timerfd_create:
	case NR_eventfd:
	case NR_eventfd2:
	case NR_inotify_init:
	case NR_inotify_init1:
	case NR_fanotify_init:
	case NR_memfd_create:
	case NR_pidfd_open:
	case NR_pidfd_getfd:
	case NR_userfaultfd:
	case NR_perf_event_open:
	case NR_io_uring_setup:
	case NR_dup:
	case NR_open_by_handle_at:
	case NR_open_tree:
	case NR_fsopen:
	case NR_fsmount:
	case NR_fspick:
	case NR_memfd_secret:
		n = 1;
		break;
	case NR_signalfd:
	case NR_signalfd4:
		/* with an fd it changes that signalfd's mask: recheck */
		n = (int)regs->di == -1;
		break;
	case NR_bpf:
		n = bpf_cmd_makes_fd(regs->di);
		if (!n)
			return; /* lookups, updates: 0 or counts, never an fd */
		break;
	case NR_fcntl:
		n = regs->si == F_DUPFD || regs->si == F_DUPFD_CLOEXEC;
		if (!n)
			return;
		break;
	case NR_dup2:
	case NR_dup3:
		n = regs->di != ret; /* dup2(fd, fd) changes nothing */
		how = REPLACE;
		if (!n)
			return;
		break;
	case NR_pipe:
	case NR_pipe2:
		n = read_pair(fd, regs->di);
		break;
	case NR_socketpair:
		n = read_pair(fd, regs->r10);
		break;
	case NR_clone:
	case NR_clone3:
		fd[0] = ret > 0 ? clone_pidfd(regs, nr) : -1;
		n = fd[0] >= 0;
		if (!n)
			return;
		break;
	case NR_recvmsg:
	case NR_recvmmsg:
		n = fdt_scm_gather(regs->si, nr == NR_recvmsg ? 1 : ret);
		if (n) {
			take_exit_stack(table);
			fdt_install_scm(table, files, prev, n);
		}
		return;
	case NR_close_range:
		if ((regs->dx & CLOSE_RANGE_UNSHARE) && unshared(task, ts))
			new_table(task, table);
		/* With CLOSE_RANGE_CLOEXEC nothing closes now; exec will. */
		else if (!(regs->dx & CLOSE_RANGE_CLOEXEC))
			fdt_walk(table, files,
				 (__u64)(__u32)regs->di << 32 | (__u32)regs->si,
				 WALK_CLOSE_RANGE, prev);
		return;
	case NR_unshare:
		if ((regs->di & CLONE_FILES) && unshared(task, ts))
			new_table(task, table);
		return;
	case NR_execve:
	case NR_execveat: {
		__u32 id = 0;

		if (unshared(task, ts)) /* exec unshared a shared table */
			id = new_table(task, table);
		else
			fdt_walk(table, files, ALL_FDS, WALK_EXEC, prev);
		fdt_exec(id ? id : table);
		return;
	}
	default:
		/* any other result may be an fd (ioctl, new syscalls, ...) */
		if (ret >= (1 << 20) || never_returns_fd(nr))
			return;
		break;
	}
	if (!n) {
		fdt_recheck(table, files, ret);
		return;
	}
	take_exit_stack(table);
	if (fd[0] >= 0)
		fdt_install(table, files, fd[0], how, prev);
	if (n == 2 && fd[1] >= 0)
		fdt_install(table, files, fd[1], how, prev);
}

#endif
