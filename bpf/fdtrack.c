/*
 * fdtrack user side: drain the ring buffer's rare records, read the
 * kernel's exact counters, reconcile with an iterator snapshot, publish
 * counts and processes. Loading and attaching (and closing) are in load.c,
 * the followed processes and their reports in procs.c, leak groups in
 * groups.c, symbols in symbolize.c, DWARF unwinding in unwind.c.
 */
#include "fdtrack.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "fdtrack_internal.h"
#include "fdtrack.skel.h" /* after: its .bss holds fdtrack_shared.h types */

static _Thread_local char errbuf[1024];

int lib_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return err;
}

void lib_clear_error(void)
{
	errbuf[0] = 0;
}

const char *fdtrack_error(void)
{
	return errbuf[0] ? errbuf : "no error";
}

/* ---- snapshot and reconcile ----------------------------------------- */

/* One walk of the followed fd tables with the task_file iterator. */
static int snapshot_once(struct fdtrack *t)
{
	char buf[64];
	int fd, n;

	t->bss->snap_gave_up = 0;
	__atomic_add_fetch(&t->bss->snap_gen, 1, __ATOMIC_SEQ_CST);
	fd = bpf_iter_create(bpf_link__fd(t->iter));
	if (fd < 0)
		return lib_fail(-errno,
				"fdtrack: cannot start the fd "
				"snapshot iterator: %s",
				strerror(errno));
	/* The program writes nothing; one read walks every table. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return lib_fail(n, "fdtrack: fd snapshot failed: %s",
				strerror(-n));
	return 0;
}

/* A snapshot that lost a race on some number (its read went stale four
 * times) concluded nothing: walk again. A process that watches itself closes
 * its map fds first: the walk sees all its fds, and those are not counted
 * as its opens. (The iterator's own fd is: its open and close are
 * seen like any other.) */
static int snapshots(struct fdtrack *t)
{
	for (int i = 0; i < 16; i++) {
		int err = snapshot_once(t);

		if (err ||
		    !__atomic_load_n(&t->bss->snap_gave_up, __ATOMIC_SEQ_CST))
			return err;
	}
	return lib_fail(-EAGAIN, "fdtrack: the fd snapshot kept losing "
				 "races with the target (16 walks); try again");
}

int snapshot_run(struct fdtrack *t)
{
	maps_release(t);
	return snapshots(t);
}

/* What a public call returns, its map fds given back first (watching
 * self: maps_release()). */
static int released(struct fdtrack *t, int err)
{
	maps_release(t);
	return err;
}

static int poll_records(struct fdtrack *t, int timeout_ms)
{
	uint64_t lost, in_map;
	int n = 0;

	if (!t->rb) { /* watching self: our own reader, no epoll to wait on */
		uint64_t until = mono_ns() + (uint64_t)timeout_ms * 1000000;

		while ((n = ring_consume(&t->ring, on_record, t)) == 0 &&
		       mono_ns() < until)
			usleep(1000);
	} else {
		if (timeout_ms)
			n = ring_buffer__poll(t->rb, timeout_ms);
		if (n >= 0 || n == -EINTR) /* records may not wake us */
			n = ring_buffer__consume(t->rb);
	}
	if (n < 0 && n != -EINTR)
		return lib_fail(n,
				"fdtrack: reading the ring buffer "
				"failed: %s",
				strerror(-n));
	if (t->failed)
		return -ENOMEM; /* fdtrack_error() says what */
	lost = __atomic_load_n(&t->bss->lost_events, __ATOMIC_RELAXED);
	if (lost != t->lost_seen) {
		t->lost_seen = lost;
		n = procs_scan_tables(t);
		if (n)
			return n;
	}
	unwinder_idle(&t->unwinder, &t->symbolizer);
	in_map = t->bss->stacks_added - t->stacks_deleted;
	if (in_map > t->opts.max_stacks / 4 * 3)
		return procs_collect_stacks(t);
	return 0;
}

int fdtrack_poll(struct fdtrack *t, int timeout_ms)
{
	return released(t, poll_records(t, timeout_ms));
}

int fdtrack_poll_fd(const struct fdtrack *t)
{
	return t->rb ? ring_buffer__epoll_fd(t->rb) : -1;
}

static int reconcile(struct fdtrack *t)
{
	int err = poll_records(t, 0);

	if (err)
		return err;
	if (fdtrack_all_exited(t))
		return 0; /* nothing left to look at; the exit walks were exact */
	return snapshot_run(t);
}

int fdtrack_reconcile(struct fdtrack *t)
{
	return released(t, reconcile(t));
}

int fdtrack_exited(const struct fdtrack *t)
{
	return __atomic_load_n(&t->bss->root_gone, __ATOMIC_RELAXED) != 0;
}

int fdtrack_all_exited(const struct fdtrack *t)
{
	return __atomic_load_n(&t->data->live_tables, __ATOMIC_RELAXED) <= 0;
}

/* ---- counts ----------------------------------------------------------- */

/* Runs of the attached programs the kernel skipped (recursion_misses of
 * each link's program, Linux 5.12+). The program fds it opens are
 * fdtrack's own syscalls, not the target's. */
uint64_t fdtrack_runs_missed(struct fdtrack *t)
{
	uint64_t missed = 0;

	for (int i = 0; i < 3; i++) {
		struct bpf_link_info link;
		struct bpf_prog_info prog;
		__u32 len = sizeof(link);
		int fd;

		if (!t->links[i])
			continue;
		memset(&link, 0, sizeof(link));
		if (bpf_obj_get_info_by_fd(bpf_link__fd(t->links[i]), &link,
					   &len))
			continue;
		own_syscalls(t, true);
		fd = bpf_prog_get_fd_by_id(link.prog_id);
		if (fd >= 0) {
			memset(&prog, 0, sizeof(prog));
			len = sizeof(prog);
			if (!bpf_obj_get_info_by_fd(fd, &prog, &len))
				missed += prog.recursion_misses;
			close(fd);
		}
		own_syscalls(t, false);
	}
	return missed;
}

void fdtrack_counts(const struct fdtrack *t, struct fdtrack_counts *out)
{
	struct fdtrack *mt = (struct fdtrack *)t; /* lookups only */
	const struct fdtrack_bpf__bss *b = t->bss;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < t->nprocs; i++) {
		const struct proc *p = t->procs[i];
		struct fdt_table rec;

		out->processes++;
		if (p->exited) {
			counts_add(out, p->count);
			counts_add_std(out, p->groups, p->ngroups);
		} else if (!proc_read_table(mt, p->table, &rec)) {
			/* (without follow from .bss: no syscall per sample) */
			counts_add(out, rec.count);
			out->running += !(rec.flags & FDT_T_EXITED);
			/* (a process that never put a file at 0-2, such as
			 * exstress, makes no syscall for it per sample) */
			if (rec.std_opens)
				table_add_std(mt, p->table, out);
		}
	}
	out->lost_events = __atomic_load_n(&b->lost_events, __ATOMIC_RELAXED);
	out->stacks_dropped = __atomic_load_n(&b->stacks_dropped,
					      __ATOMIC_RELAXED);
	out->fds_full = __atomic_load_n(&b->fds_full, __ATOMIC_RELAXED);
	out->procs_full = __atomic_load_n(&b->tables_full, __ATOMIC_RELAXED);
	out->races_lost = __atomic_load_n(&b->races_lost, __ATOMIC_RELAXED);
	out->unwinds_dropped = __atomic_load_n(&b->unwinds_dropped,
					       __ATOMIC_RELAXED);
	out->unwound = t->unwinder.unwound;
	out->exited = fdtrack_exited(t);
	if (!t->watching_self)
		out->runs_missed = fdtrack_runs_missed(mt);
	maps_release(mt);
}

/* ---- groups and processes ------------------------------------------- */

static int live_groups(struct fdtrack *t, struct fdtrack_group **groups,
		       size_t *ngroups)
{
	struct proc *root = proc_find(t, FDT_ROOT_TABLE);
	struct raw_group *raw = NULL;
	struct fdt_table rec;
	size_t nraw = 0;
	int err;

	*groups = NULL;
	*ngroups = 0;
	err = reconcile(t);
	if (err || !root)
		return err;
	if (root->exited)
		return groups_publish(t, root, root->groups, root->ngroups,
				      true, groups, ngroups);
	if (proc_read_table(t, FDT_ROOT_TABLE, &rec))
		return 0;
	err = groups_of_table(t, FDT_ROOT_TABLE, rec.fd_limit, false, &raw,
			      &nraw);
	if (!err)
		err = groups_publish(t, root, raw, nraw, true, groups, ngroups);
	raw_groups_free(raw, nraw);
	return err;
}

int fdtrack_live_groups(struct fdtrack *t, struct fdtrack_group **groups,
			size_t *ngroups)
{
	return released(t, live_groups(t, groups, ngroups));
}

/* The public form of one process (running ones read now). */
static int process_publish(struct fdtrack *t, struct proc *p,
			   struct fdtrack_process *out)
{
	struct raw_group *raw = p->groups;
	size_t nraw = p->ngroups;
	struct fdt_table rec;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->pid = p->pid;
	out->ppid = p->ppid;
	out->exited = p->exited;
	out->has_status = p->has_status;
	out->status = p->status;
	if (p->cmdline && !(out->cmdline = strdup(p->cmdline)))
		return lib_fail(-ENOMEM, "fdtrack: out of memory");
	if (p->exited) {
		counts_add(&out->counts, p->count);
		out->counts.exited = 1;
	} else {
		if (proc_read_table(t, p->table, &rec))
			return 0; /* gone meanwhile: its report comes next poll */
		counts_add(&out->counts, rec.count);
		err = groups_of_table(t, p->table, rec.fd_limit, false, &raw,
				      &nraw);
	}
	if (!err)
		counts_add_std(&out->counts, raw, nraw);
	out->counts.processes = 1;
	out->counts.running = !p->exited;
	if (!err)
		err = groups_publish(t, p, raw, nraw, false, &out->groups,
				     &out->ngroups);
	if (!err)
		counts_add_suppressed(&out->counts, out->groups, out->ngroups);
	if (!p->exited)
		raw_groups_free(raw, nraw);
	return err;
}

static int processes(struct fdtrack *t, struct fdtrack_process **procs,
		     size_t *nprocs)
{
	struct fdtrack_process *v;
	size_t n = 0;
	int err;

	*procs = NULL;
	*nprocs = 0;
	err = reconcile(t);
	if (err)
		return err;
	v = calloc(t->nprocs ? t->nprocs : 1, sizeof(*v));
	if (!v)
		return lib_fail(-ENOMEM, "fdtrack: out of memory");
	for (size_t i = 0; i < t->nprocs; i++) {
		err = process_publish(t, t->procs[i], &v[n]);
		if (err) {
			fdtrack_processes_free(v, n + 1);
			return err;
		}
		if (v[n].counts.processes)
			n++;
	}
	*procs = v;
	*nprocs = n;
	return 0;
}

int fdtrack_processes(struct fdtrack *t, struct fdtrack_process **procs,
		      size_t *nprocs)
{
	return released(t, processes(t, procs, nprocs));
}

void fdtrack_processes_free(struct fdtrack_process *procs, size_t nprocs)
{
	for (size_t i = 0; procs && i < nprocs; i++) {
		free(procs[i].cmdline);
		fdtrack_groups_free(procs[i].groups, procs[i].ngroups);
	}
	free(procs);
}
