/*
 * fdtrack's followed processes in user space: what the ring buffer's rare
 * records say (a process got a table, exec'd, announced a stack, died), a
 * dead table's report (counts and leak groups with their stacks copied out)
 * taken and its kernel entries deleted at once, so memory stays bounded
 * however many short processes a command starts; the stack collector.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fdtrack_internal.h"
#include "socknames.h"
#include "fdtrack.skel.h" /* after: its .bss holds fdtrack_shared.h types */

/* ---- the process index ------------------------------------------------ */

/* t->procs is in order of first sight; lookups by table id scan from the
 * end, where the live ones are (a command rarely has many at once). */
struct proc *proc_find(struct fdtrack *t, uint32_t table)
{
	for (size_t i = t->nprocs; i-- > 0;)
		if (t->procs[i]->table == table)
			return t->procs[i];
	return NULL;
}

static struct proc *proc_find_pid(struct fdtrack *t, pid_t pid)
{
	for (size_t i = t->nprocs; i-- > 0;)
		if (t->procs[i]->pid == pid && !t->procs[i]->exited)
			return t->procs[i];
	return NULL;
}

struct proc *proc_add(struct fdtrack *t, uint32_t table, pid_t pid, pid_t ppid,
		      uint32_t aspace)
{
	struct proc *p;

	if (t->nprocs == t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 16;
		struct proc **n = realloc(t->procs, ncap * sizeof(*n));

		if (!n)
			return NULL;
		t->procs = n;
		t->cap = ncap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->table = table;
	p->pid = pid;
	p->ppid = ppid;
	p->aspace = aspace;
	p->seq = t->next_seq++;
	symbolizer_hold(&t->symbolizer, aspace);
	t->procs[t->nprocs++] = p;
	return p;
}

void fd_names_free(struct fd_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i].name);
	free(names->v);
	names->v = NULL;
	names->n = 0;
}

static int fd_name_order(const void *a, const void *b)
{
	return ((const struct fd_name *)a)->fd -
	       ((const struct fd_name *)b)->fd;
}

void fd_names_read(pid_t pid, struct fd_names *out)
{
	char path[64], buf[PATH_MAX];
	struct fd_name *names = NULL, *more;
	struct socket_names socks = { 0 };
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		ssize_t len;

		if (d->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(dir), d->d_name, buf, sizeof(buf) - 1);
		if (len <= 0)
			continue;
		buf[len] = 0;
		if (!strncmp(buf, "anon_inode:", 11))
			continue; /* its kind says it all */
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			more = realloc(names, cap * sizeof(*names));
			if (!more)
				break;
			names = more;
		}
		if (!strncmp(buf, "socket:[", 8) && !socks.read)
			socket_names_read(&socks, pid);
		names[n].fd = atoi(d->d_name);
		names[n].name = socket_name(&socks, buf);
		if (!names[n].name && !(names[n].name = strdup(buf)))
			break;
		n++;
	}
	closedir(dir);
	socket_names_free(&socks);
	qsort(names, n, sizeof(*names), fd_name_order);
	fd_names_free(out);
	out->v = names;
	out->n = n;
}

void procs_free(struct fdtrack *t)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		fd_names_free(&t->procs[i]->names);
		raw_groups_free(t->procs[i]->groups, t->procs[i]->ngroups);
		free(t->procs[i]->cmdline);
		free(t->procs[i]);
	}
	free(t->procs);
	t->procs = NULL;
	t->nprocs = t->cap = 0;
}

int proc_read_table(struct fdtrack *t, uint32_t table, struct fdt_table *out)
{
	if (!t->opts.follow) { /* the one table, in .bss (table_of()) */
		if (table != FDT_ROOT_TABLE)
			return -ENOENT;
		memcpy(out, (const void *)&t->bss->root_table, sizeof(*out));
		return 0;
	}
	return bpf_map_lookup_elem(map_fd(t, FDT_MAP_TABLES), &table, out)
		       ? -errno
		       : 0;
}

/* "arg0 arg1 ..." from NUL-separated arguments. */
static char *join_args(const char *argv, size_t len)
{
	char *s;

	while (len && !argv[len - 1])
		len--;
	if (!len)
		return NULL;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++)
		s[i] = argv[i] ? argv[i] : ' ';
	s[len] = 0;
	return s;
}

static void proc_read_cmdline(struct proc *p)
{
	char path[64], buf[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)p->pid);
	f = fopen(path, "r");
	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	free(p->cmdline);
	p->cmdline = join_args(buf, n);
}

/* ---- address spaces --------------------------------------------------- */

/* Read p's maps for its address space aspace, if it is still in it. */
static void proc_read_maps(struct fdtrack *t, struct proc *p, uint32_t aspace)
{
	struct fdt_table rec;
	size_t len;
	char *text;

	if (proc_read_table(t, p->table, &rec) || rec.aspace != aspace ||
	    (rec.flags & FDT_T_EXITED))
		return;
	text = proc_maps_read(p->pid, &len);
	if (!text || !len || proc_read_table(t, p->table, &rec) ||
	    rec.aspace != aspace) {
		free(text);
		return;
	}
	symbolizer_store(&t->symbolizer, aspace, text, len);
}

/* A stack new to the kernel's map, or the first of an address space: make
 * sure its top frames resolve (first stack, dlopen), while the process is
 * alive. Deeper frames may be garbage from code without frame pointers. */
static void on_stack_record(struct fdtrack *t, const struct fdt_event *e)
{
	struct proc *p = proc_find(t, e->table);
	struct fdt_stack s;

	if (!p)
		return;
	if (symbolizer_has(&t->symbolizer, e->aspace) &&
	    !bpf_map_lookup_elem(map_fd(t, FDT_MAP_STACKS), &e->stack, &s)) {
		bool covered = true;

		for (uint32_t i = 0; i < s.nframes && i < 2; i++)
			covered &= symbolizer_covers(&t->symbolizer, e->aspace,
						     s.frames[i]);
		if (covered)
			return;
	}
	proc_read_maps(t, p, e->aspace);
}

void procs_read_maps_for(struct fdtrack *t, uint32_t aspace)
{
	if (!symbolizer_has(&t->symbolizer, aspace))
		procs_reread_maps_for(t, aspace);
}

void procs_reread_maps_for(struct fdtrack *t, uint32_t aspace)
{
	for (size_t i = t->nprocs; i-- > 0;)
		if (t->procs[i]->aspace == aspace && !t->procs[i]->exited) {
			proc_read_maps(t, t->procs[i], aspace);
			return;
		}
}

void fdtrack_exit_stop(struct fdtrack *t, pid_t tid)
{
	char path[64], line[256];
	pid_t tgid = 0;
	int threads = 0;
	struct proc *p;
	FILE *f;

	fdtrack_poll(t, 0);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) != 1)
			sscanf(line, "Threads: %d", &threads);
	fclose(f);
	p = proc_find_pid(t, tgid);
	if (!p)
		return;
	if (!p->cmdline)
		proc_read_cmdline(p);
	if (!symbolizer_has(&t->symbolizer, p->aspace))
		proc_read_maps(t, p, p->aspace);
	/* Its fds as the exit will find them: at its last thread's stop,
	 * or at the leader's (exit_group stops every thread at once, none of
	 * them alone; killed, no thread runs user code again); a leader
	 * gone before its threads is read again at the last one's stop. */
	if (threads == 1 || tid == tgid)
		fd_names_read(p->pid, &p->names);
}

/* ---- records ------------------------------------------------------------ */

static void on_fork_record(struct fdtrack *t, const struct fdt_event *e)
{
	struct proc *parent = proc_find_pid(t, e->ppid);
	struct proc *p = proc_find(t, e->table);

	if (!p)
		p = proc_add(t, e->table, e->tgid, e->ppid, e->aspace);
	if (!p)
		return;
	/* until it execs, a child runs its parent's command line and maps */
	if (!p->cmdline && parent && parent->cmdline)
		p->cmdline = strdup(parent->cmdline);
	symbolizer_alias(&t->symbolizer, e->aspace, e->from_aspace);
}

static void on_exec_record(struct fdtrack *t, const struct fdt_exec_event *e)
{
	struct proc *p = proc_find(t, e->h.table);

	if (!p)
		return;
	free(p->cmdline);
	p->cmdline = join_args(e->argv, sizeof(e->argv));
	symbolizer_hold(&t->symbolizer, e->h.aspace);
	symbolizer_release(&t->symbolizer, p->aspace);
	p->aspace = e->h.aspace;
}

/* Table `table` died: take its report (counts, what it left open, with
 * stacks) and delete its kernel entries and record. */
static int report_table(struct fdtrack *t, uint32_t table)
{
	struct fdt_table rec;
	struct proc *p;
	int err;

	if (proc_read_table(t, table, &rec) || !(rec.flags & FDT_T_EXITED))
		return 0;
	p = proc_find(t, table);
	if (!p)
		p = proc_add(t, table, rec.tgid, rec.ppid, rec.aspace);
	if (!p)
		return lib_fail(-ENOMEM, "fdtrack: out of memory");
	if (p->exited)
		return 0;
	err = groups_of_table(t, table, rec.fd_limit, true, &p->groups,
			      &p->ngroups);
	if (err)
		return err;
	for (size_t i = 0; i < p->ngroups; i++)
		if (p->groups[i].stack)
			symbolizer_hold(&t->symbolizer, p->groups[i].aspace);
	memcpy(p->count, rec.count, sizeof(p->count));
	p->has_status = !!(rec.flags & FDT_T_STATUS);
	p->status = rec.exit_code;
	p->exited = true;
	for (uint32_t fd = 0; fd < rec.fd_limit; fd++) {
		struct fdt_fd_key key = { .table = table, .fd = fd };

		bpf_map_delete_elem(map_fd(t, FDT_MAP_FDS), &key);
	}
	if (t->opts.follow) /* else the record is .bss's root_table */
		bpf_map_delete_elem(map_fd(t, FDT_MAP_TABLES), &table);
	symbolizer_release(&t->symbolizer, p->aspace);
	return 0;
}

int procs_on_record(struct fdtrack *t, const void *data, size_t len)
{
	const struct fdt_event *e = data;

	if (len < sizeof(*e))
		return 0;
	switch (e->type) {
	case FDT_EV_FORK:
		on_fork_record(t, e);
		break;
	case FDT_EV_EXEC:
		if (len >= sizeof(struct fdt_exec_event))
			on_exec_record(t, data);
		break;
	case FDT_EV_STACK:
		on_stack_record(t, e);
		break;
	case FDT_EV_WINDOW: {
		struct fdt_unwind_key key = { .stack = e->stack,
					      .aspace = e->aspace,
					      .variant = e->variant };

		if (windows_unwind(t, &key))
			t->failed = true;
		break;
	}
	case FDT_EV_EXIT:
		if (report_table(t, e->table))
			t->failed = true;
		break;
	}
	return 0;
}

/* After lost records: find tables fdtrack has not heard of, and dead ones
 * not yet reported. */
int procs_scan_tables(struct fdtrack *t)
{
	uint32_t key, *prev = NULL, dead[64];
	size_t ndead = 0;
	int err = 0;

	if (!t->opts.follow) /* no `tables`: the root's record is in .bss */
		return report_table(t, FDT_ROOT_TABLE);
	while (!bpf_map_get_next_key(map_fd(t, FDT_MAP_TABLES), prev, &key)) {
		struct fdt_table rec;

		prev = &key;
		if (proc_read_table(t, key, &rec))
			continue;
		if (!proc_find(t, key)) {
			struct proc *p = proc_add(t, key, rec.tgid, rec.ppid,
						  rec.aspace);

			if (p)
				proc_read_cmdline(p);
		}
		if ((rec.flags & FDT_T_EXITED) && ndead < 64)
			dead[ndead++] = key; /* not while iterating */
	}
	for (size_t i = 0; i < ndead && !err; i++)
		err = report_table(t, dead[i]);
	return err;
}

/* ---- the stack collector -------------------------------------------------- */

struct key_set {
	uint64_t *keys;
	size_t n, cap;
};

static int key_set_add(struct key_set *s, uint64_t key)
{
	size_t j;

	if (s->n * 2 >= s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 1024;
		uint64_t *n = calloc(ncap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->keys[i])
				continue;
			for (j = s->keys[i] & (ncap - 1); n[j];
			     j = (j + 1) & (ncap - 1))
				;
			n[j] = s->keys[i];
		}
		free(s->keys);
		s->keys = n;
		s->cap = ncap;
	}
	for (j = key & (s->cap - 1); s->keys[j]; j = (j + 1) & (s->cap - 1))
		if (s->keys[j] == key)
			return 0;
	s->keys[j] = key;
	s->n++;
	return 0;
}

static bool key_set_has(const struct key_set *s, uint64_t key)
{
	if (!s->cap)
		return false;
	for (size_t j = key & (s->cap - 1); s->keys[j];
	     j = (j + 1) & (s->cap - 1))
		if (s->keys[j] == key)
			return true;
	return false;
}

/* The stacks live entries use. */
static int used_stacks(struct fdtrack *t, struct key_set *used)
{
	struct fdt_fd_key fkey, *fprev = NULL;
	int err = 0;

	while (!err &&
	       !bpf_map_get_next_key(map_fd(t, FDT_MAP_FDS), fprev, &fkey)) {
		struct fdt_fd_entry v;

		fprev = &fkey;
		if (!bpf_map_lookup_elem(map_fd(t, FDT_MAP_FDS), &fkey, &v) &&
		    v.live && v.stack)
			err = key_set_add(used, v.stack);
	}
	return err;
}

/* Delete the stacks no entry uses. A stack used since the round began
 * carries the round's gc_gen (set by the kernel side on every use), so a
 * stack an open is taking right now is never deleted. An open that took
 * its stack before the round began and sets its entry only after the scan
 * of the entries is caught twice over: the entries are scanned again after
 * the deletes and what they use is put back from the copies taken while
 * deleting; an entry set after that second scan finds its stack gone and
 * the kernel side puts it back (keep_stack()). Reports hold their own
 * copies. */
/* The DWARF variants of stacks that are gone, and not used this round
 * (an open of a stack the collector just deleted and put back may be
 * using them). */
static int collect_unwinds(struct fdtrack *t, uint32_t gen)
{
	struct fdt_unwind_key k, *prev = NULL, dead[256];
	size_t n = 0;

	while (n < 256 &&
	       !bpf_map_get_next_key(map_fd(t, FDT_MAP_UNWINDS), prev, &k)) {
		struct fdt_unwind_state st;
		struct fdt_stack s;

		prev = &k;
		if (!bpf_map_lookup_elem(map_fd(t, FDT_MAP_UNWINDS), &k, &st) &&
		    st.gc_gen != gen &&
		    bpf_map_lookup_elem(map_fd(t, FDT_MAP_STACKS), &k.stack,
					&s))
			dead[n++] = k;
	}
	if (n) /* the kernel side's cached variants are stale now */
		__atomic_add_fetch(&t->bss->recipes_gen, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < n; i++) {
		struct fdt_unwind_key v = dead[i];

		bpf_map_delete_elem(map_fd(t, FDT_MAP_UNWINDS), &v);
		for (v.variant = 0; v.variant < FDT_VARIANTS; v.variant++) {
			bpf_map_delete_elem(map_fd(t, FDT_MAP_RECIPES), &v);
			bpf_map_delete_elem(map_fd(t, FDT_MAP_WINDOWS), &v);
		}
		unwind_forget(&t->unwinder, v.stack);
	}
	return 0;
}

struct deleted_stack {
	uint64_t key;
	struct fdt_stack s;
};

int procs_collect_stacks(struct fdtrack *t)
{
	struct key_set used = { 0 }, gone = { 0 }, again = { 0 };
	uint32_t gen = __atomic_add_fetch(&t->bss->gc_gen, 1, __ATOMIC_SEQ_CST);
	struct deleted_stack *copies = NULL;
	uint64_t skey, *sprev = NULL;
	size_t ncopies = 0;
	int err = used_stacks(t, &used);

	while (!err &&
	       !bpf_map_get_next_key(map_fd(t, FDT_MAP_STACKS), sprev, &skey)) {
		struct fdt_stack s;

		sprev = &skey;
		if (!bpf_map_lookup_elem(map_fd(t, FDT_MAP_STACKS), &skey,
					 &s) &&
		    s.gc_gen != gen && !key_set_has(&used, skey))
			err = key_set_add(&gone, skey);
	}
	if (!err && gone.n && !(copies = calloc(gone.n, sizeof(*copies))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < gone.cap; i++) {
		struct deleted_stack *d = &copies[ncopies];

		if (!gone.keys[i])
			continue;
		d->key = gone.keys[i];
		if (!bpf_map_lookup_and_delete_elem(map_fd(t, FDT_MAP_STACKS),
						    &d->key, &d->s)) {
			ncopies++;
			t->stacks_deleted++;
		}
	}
	if (!err)
		err = used_stacks(t, &again);
	for (size_t i = 0; !err && i < ncopies; i++)
		if (key_set_has(&again, copies[i].key) &&
		    !bpf_map_update_elem(map_fd(t, FDT_MAP_STACKS),
					 &copies[i].key, &copies[i].s,
					 BPF_NOEXIST))
			t->stacks_deleted--;
	if (!err)
		err = collect_unwinds(t, gen);
	free(used.keys);
	free(gone.keys);
	free(again.keys);
	free(copies);
	return err ? lib_fail(err, "fdtrack: out of memory") : 0;
}

/* ---- counts --------------------------------------------------------------- */

void counts_add(struct fdtrack_counts *c,
		const __u64 count[FDT_NCOUNTERS][FDKIND_COUNT])
{
	for (int k = 0; k < FDKIND_COUNT; k++) {
		__u64 at_start = count[FDT_C_AT_START][k];

		c->opens[k] += count[FDT_C_OPENS][k];
		c->closes[k] += count[FDT_C_CLOSES][k];
		c->closed_outside_syscalls[k] += count[FDT_C_CLOSED_OUTSIDE][k];
		c->opened_outside_syscalls[k] += count[FDT_C_OPENED_OUTSIDE][k];
		c->at_start[k] += at_start;
		c->open_at_exit[k] += count[FDT_C_OPEN_AT_EXIT][k];
		c->live[k] += at_start + count[FDT_C_OPENS][k] +
			      count[FDT_C_OPENED_OUTSIDE][k] -
			      count[FDT_C_CLOSES][k] -
			      count[FDT_C_CLOSED_OUTSIDE][k];
		c->open_since_start[k] += count[FDT_C_INHERITED_LIVE][k];
	}
}
