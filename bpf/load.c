/*
 * fdtrack_open() and fdtrack_close(): the options as used, loading and
 * configuring the BPF object, filling its maps, attaching (the iterator and
 * the ring buffer first, sys_exit last) and keeping only the fds used from
 * then on; undoing all of it.
 */
#include "fdtrack.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "fdtrack_internal.h"
#include "fdtrack.skel.h" /* after: its .bss holds fdtrack_shared.h types */
#include "fdtrack_core.skel.h" /* (only its bytes: fdtrack_core_bpf__elf_bytes) */

#define DEFAULT_RINGBUF	   (256u * 1024)
#define DEFAULT_MAX_STACKS 16384u
#define DEFAULT_MAX_PROCS  4096u
#define BTF_PATH	   "/sys/kernel/btf/vmlinux"

/* ---- options ---------------------------------------------------------- */

/* The largest RLIMIT_NOFILE a process may have: the default --max-fds. */
static unsigned nr_open(void)
{
	unsigned long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v && v <= (1u << 30) ? (unsigned)v : 1u << 20;
}

static unsigned ringbuf_size(unsigned want)
{
	unsigned page = sysconf(_SC_PAGESIZE), n = page;

	if (!want)
		want = DEFAULT_RINGBUF;
	while (n < want && n < (1u << 30))
		n <<= 1; /* a power of two, at least one page */
	return n;
}

static struct fdtrack_options effective_options(const struct fdtrack_options *in)
{
	struct fdtrack_options o = { .want_stacks = 1 };

	if (in)
		o = *in;
	o.ringbuf_bytes = ringbuf_size(o.ringbuf_bytes);
	o.kinds = o.kinds ? o.kinds & FDKIND_ALL : FDKIND_ALL;
	o.max_fds = o.max_fds ? o.max_fds : nr_open();
	o.max_stacks = o.max_stacks ? o.max_stacks : DEFAULT_MAX_STACKS;
	o.max_procs = o.max_procs ? o.max_procs
		      : o.follow  ? DEFAULT_MAX_PROCS
				  : 4;
	return o;
}

/* Our own copy of the caller's suppression patterns (t->opts.suppress
 * points to it): the caller's may not outlive fdtrack_open(). */
static int copy_suppress(struct fdtrack *t)
{
	const char *const *in = t->opts.suppress;
	size_t n = 0;

	t->opts.suppress = NULL;
	while (in && in[n])
		n++;
	if (!n)
		return 0;
	t->suppress = calloc(n + 1, sizeof(*t->suppress));
	if (!t->suppress)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(t->suppress[i] = strdup(in[i])))
			return -ENOMEM;
	t->opts.suppress = (const char *const *)t->suppress;
	return 0;
}

static void free_suppress(struct fdtrack *t)
{
	for (size_t i = 0; t->suppress && t->suppress[i]; i++)
		free(t->suppress[i]);
	free(t->suppress);
}

void fdtrack_get_options(const struct fdtrack *t, struct fdtrack_options *out)
{
	*out = t->opts;
}

/* ---- open / close -------------------------------------------------- */

/* Does the kernel have the kfunc bpf_rdonly_cast() (Linux 6.2+)? Its BTF
 * says: the name is in the string section of /sys/kernel/btf/vmlinux (a
 * probe of the feature, not a guess from the version). Read in chunks
 * rather than parsed with libbpf: btf__parse() allocates and frees
 * megabytes, which in a process watching itself (exstress) leaves pages
 * resident that its RSS measurements then reuse. FDTRACK_CORE_READS=1
 * says no: the tests load both objects here. */
static bool kernel_has_rdonly_cast(const char *btf_path)
{
	static const char want[] = "\0bpf_rdonly_cast"; /* + its NUL */
	const size_t wlen = sizeof(want), keep = sizeof(want) - 1;
	const char *force = getenv("FDTRACK_CORE_READS");
	struct {
		uint16_t magic;
		uint8_t version, flags;
		uint32_t hdr_len, type_off, type_len, str_off, str_len;
	} h;
	char buf[16384];
	size_t have = 0, left;
	bool found = false;
	ssize_t n;
	int fd;

	if (force && *force && strcmp(force, "0"))
		return false;
	fd = open(btf_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    h.magic != 0xeB9F ||
	    lseek(fd, (off_t)h.hdr_len + h.str_off, SEEK_SET) < 0) {
		close(fd);
		return false;
	}
	/* chunks overlap by the name's length: a match across two is seen */
	for (left = h.str_len; left && !found; left -= (size_t)n) {
		n = read(fd, buf + have,
			 left < sizeof(buf) - have ? left : sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		found = memmem(buf, have, want, wlen) != NULL;
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	close(fd);
	return found;
}

/* The skeleton with the object that fits the kernel: plain loads through
 * bpf_rdonly_cast() where it has it, else the same programs reading with
 * bpf_probe_read_kernel() (bpf/build.mk builds both from one source, with
 * the same maps, programs and globals, so one skeleton serves both). */
static struct fdtrack_bpf *open_skeleton(bool kfunc_reads)
{
	struct fdtrack_bpf *obj;
	int err;

	if (kfunc_reads)
		return fdtrack_bpf__open();
	obj = calloc(1, sizeof(*obj));
	if (!obj) {
		errno = ENOMEM;
		return NULL;
	}
	err = fdtrack_bpf__create_skeleton(obj);
	if (!err) {
		obj->skeleton->data = (void *)fdtrack_core_bpf__elf_bytes(
			&obj->skeleton->data_sz);
		err = bpf_object__open_skeleton(obj->skeleton, NULL);
	}
	if (err) {
		fdtrack_bpf__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/* The kernel's count of the instructions it processed to verify each
 * loaded program (bpf_prog_info.verified_insns, Linux 5.16). */
static void read_prog_stats(struct fdtrack *t)
{
	struct fdtrack_bpf_stats *st = &t->stats;
	struct bpf_program *p;

	st->nprogs = 0;
	bpf_object__for_each_program(p, t->skel->obj)
	{
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		if (fd < 0 || st->nprogs >= FDTRACK_MAX_PROGS)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		snprintf(st->prog[st->nprogs].name, sizeof(st->prog[0].name),
			 "%s", bpf_program__name(p));
		st->prog[st->nprogs].verified_insns = info.verified_insns;
		st->nprogs++;
	}
}

void fdtrack_get_bpf_stats(const struct fdtrack *t,
			   struct fdtrack_bpf_stats *out)
{
	*out = t->stats;
}

int on_record(void *ctx, void *data, size_t len)
{
	return procs_on_record(ctx, data, len);
}

/* Before load: filters and table sizes. */
static int configure(struct fdtrack *t, pid_t tgid)
{
	struct fdtrack_bpf *s = t->skel;
	int err;

	s->rodata->targ_tgid = tgid;
	s->rodata->follow = t->opts.follow;
	s->rodata->want_stacks = t->opts.want_stacks;
	s->rodata->want_dwarf = t->opts.want_stacks &&
				!t->opts.frame_pointers_only;
	s->rodata->kind_mask = t->opts.kinds;
	err = bpf_map__set_max_entries(s->maps.events, t->opts.ringbuf_bytes);
	if (!err)
		err = bpf_map__set_max_entries(s->maps.fds, t->opts.max_fds);
	if (!err)
		err = bpf_map__set_max_entries(s->maps.stacks,
					       t->opts.max_stacks);
	/* without DWARF unwinding its maps stay empty: one entry each */
	if (!err)
		err = bpf_map__set_max_entries(s->maps.unwinds,
					       s->rodata->want_dwarf
						       ? t->opts.max_stacks
						       : 1);
	if (!err)
		err = bpf_map__set_max_entries(s->maps.recipes,
					       s->rodata->want_dwarf
						       ? t->opts.max_stacks
						       : 1);
	if (!err && !s->rodata->want_dwarf)
		err = bpf_map__set_max_entries(s->maps.windows, 1);
	if (!err)
		err = bpf_map__set_max_entries(s->maps.tables,
					       t->opts.max_procs);
	/* The iterator and sys_exit are attached below; fork only matters
	 * with follow. */
	bpf_program__set_autoattach(s->progs.fdtrack_snapshot, false);
	bpf_program__set_autoattach(s->progs.fdtrack_sys_exit, false);
	if (!t->opts.follow)
		bpf_program__set_autoload(s->progs.fdtrack_fork, false);
	return err;
}

/* After load, before attach: the anonymous-inode names (the one list in
 * common/fdkind.c) and the target's table. */
static int fill_maps(struct fdtrack *t, pid_t tgid, pid_t ppid)
{
	struct fdt_table root = {
		.tgid = tgid, .ppid = ppid, .aspace = 1, .holders = 1
	};
	uint32_t id = FDT_ROOT_TABLE;
	struct fdt_anon_slot slots[FDT_ANON_SLOTS] = { 0 };
	enum fdkind kind;
	const char *name;
	int fd = bpf_map__fd(t->skel->maps.anon_slots);

	for (unsigned i = 0; (name = fdkind_anon_name(i, &kind)); i++) {
		char key[FDT_NAME_BYTES] = { 0 };
		uint64_t w[2];
		uint32_t at, p = 0;

		strncpy(key, name, sizeof(key) - 1);
		memcpy(w, key, sizeof(w));
		at = fdt_anon_slot_of(w[0], w[1]);
		while (p < FDT_ANON_PROBES &&
		       slots[(at + p) % FDT_ANON_SLOTS].used)
			p++;
		if (p == FDT_ANON_PROBES)
			return -ENOSPC; /* FDT_ANON_SLOTS too small */
		at = (at + p) % FDT_ANON_SLOTS;
		memcpy(slots[at].name, key, sizeof(key));
		slots[at].kind = kind;
		slots[at].used = 1;
	}
	for (uint32_t k = 0; k < FDT_ANON_SLOTS; k++)
		if (bpf_map_update_elem(fd, &k, &slots[k], BPF_ANY))
			return -errno;
	if (!t->opts.follow) { /* its one table lives in .bss */
		t->skel->bss->root_table = root;
		return 0;
	}
	return bpf_map_update_elem(map_fd(t, FDT_MAP_TABLES), &id, &root,
				   BPF_NOEXIST)
		       ? -errno
		       : 0;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int ppid = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command may hold spaces and parens */
	if (p && sscanf(p + 1, " %*c %d", &ppid) != 1)
		ppid = 0;
	return ppid;
}

static int attach_iterator(struct fdtrack *t, pid_t tgid)
{
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_iter_attach_opts, iopts);

	memset(&linfo, 0, sizeof(linfo));
	if (!t->opts.follow) {
		linfo.task.pid = tgid; /* all threads of the process */
		iopts.link_info = &linfo;
		iopts.link_info_len = sizeof(linfo);
	}
	t->iter = bpf_program__attach_iter(t->skel->progs.fdtrack_snapshot,
					   &iopts);
	if (t->iter)
		return 0;
	if (errno == ESRCH || errno == ENOENT)
		return lib_fail(-ESRCH, "fdtrack: process %d is gone",
				(int)tgid);
	return diagnose_load_error(-errno, "attaching the snapshot iterator");
}

/* The target as a process: its command line and maps as of now. */
static int add_root(struct fdtrack *t, pid_t tgid, pid_t ppid)
{
	struct proc *root = proc_add(t, FDT_ROOT_TABLE, tgid, ppid, 1);
	char path[64], buf[4096];
	size_t n, len;
	char *text;
	FILE *f;

	if (!root)
		return lib_fail(-ENOMEM, "fdtrack: out of memory");
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)tgid);
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		while (n && !buf[n - 1])
			n--;
		for (size_t i = 0; i < n; i++)
			buf[i] = buf[i] ? buf[i] : ' ';
		buf[n] = 0;
		root->cmdline = n ? strdup(buf) : NULL;
	}
	text = proc_maps_read(tgid, &len);
	if (text)
		symbolizer_store(&t->symbolizer, 1, text, len);
	return 0;
}

/* A mapping of our own of a BPF_F_MMAPABLE map (.bss, .data). */
static void *map_globals(const struct bpf_map *m, size_t *len)
{
	size_t page = sysconf(_SC_PAGESIZE);
	void *p;

	*len = (bpf_map__value_size(m) + page - 1) / page * page;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m),
		 0);
	if (p == MAP_FAILED) {
		*len = 0;
		return NULL;
	}
	return p;
}

/* The skeleton's map of each enum fdt_map. */
static struct bpf_map *skel_map(struct fdtrack_bpf *s, enum fdt_map m)
{
	struct bpf_map *maps[FDT_NMAPS] = {
		[FDT_MAP_FDS] = s->maps.fds,
		[FDT_MAP_TABLES] = s->maps.tables,
		[FDT_MAP_STACKS] = s->maps.stacks,
		[FDT_MAP_UNWINDS] = s->maps.unwinds,
		[FDT_MAP_RECIPES] = s->maps.recipes,
		[FDT_MAP_WINDOWS] = s->maps.windows,
	};

	return maps[m];
}

/* The calling thread's next syscalls are fdtrack's own (watching self). */
void own_syscalls(struct fdtrack *t, bool own)
{
	if (t->watching_self && t->bss)
		__atomic_store_n(&t->bss->self_tid,
				 own ? (uint32_t)gettid() : 0,
				 __ATOMIC_SEQ_CST);
}

int map_fd(struct fdtrack *t, enum fdt_map m)
{
	if (t->skel)
		return bpf_map__fd(skel_map(t->skel, m));
	if (t->map_fds[m] < 0) {
		own_syscalls(t, true);
		t->map_fds[m] = bpf_map_get_fd_by_id(t->map_id[m]);
		own_syscalls(t, false);
	}
	return t->map_fds[m];
}

static void maps_close(struct fdtrack *t)
{
	for (int m = 0; m < FDT_NMAPS; m++) {
		if (t->map_fds[m] < 0)
			continue;
		own_syscalls(t, true);
		close(t->map_fds[m]);
		own_syscalls(t, false);
		t->map_fds[m] = -1;
	}
}

void maps_release(struct fdtrack *t)
{
	if (t->watching_self)
		maps_close(t);
}

/* Attached: keep only what is used from now on (the links, the ring
 * buffer, our own mappings of .bss and .data, the maps' ids) and close the
 * BPF object (its programs, BTF and maps: the kernel keeps what the links
 * use). A process watching itself (exstress) then holds 3 fds of
 * fdtrack's (its links; it reads the ring buffer without an epoll fd,
 * ring.c) instead of 30, and its /proc sampler reads each fd it holds
 * every iteration. */
static int keep_used(struct fdtrack *t)
{
	struct fdtrack_bpf *s = t->skel;
	struct bpf_map_info info;
	__u32 len;
	void *bss, *data;

	for (int m = 0; m < FDT_NMAPS; m++) {
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_map__fd(skel_map(s, m)), &info,
					   &len))
			return lib_fail(-errno,
					"fdtrack: cannot read a map's "
					"id: %s",
					strerror(errno));
		t->map_id[m] = info.id;
	}
	bss = map_globals(s->maps.bss, &t->bss_len);
	data = map_globals(s->maps.data, &t->data_len);
	t->links[0] = s->links.fdtrack_sys_exit;
	t->links[1] = s->links.fdtrack_exit;
	t->links[2] = s->links.fdtrack_fork;
	s->links.fdtrack_sys_exit = s->links.fdtrack_exit = NULL;
	s->links.fdtrack_fork = NULL;
	t->skel = NULL;
	if (bss)
		t->bss = bss;
	if (data)
		t->data = data;
	fdtrack_bpf__destroy(s);
	if (!bss || !data)
		return lib_fail(-ENOMEM,
				"fdtrack: cannot map the BPF "
				"globals: %s",
				strerror(errno));
	return 0;
}

int fdtrack_open(pid_t tgid, const struct fdtrack_options *opts,
		 struct fdtrack **out)
{
	const char *btf = getenv("FDTRACK_BTF") ? getenv("FDTRACK_BTF")
						: BTF_PATH;
	struct fdtrack *t;
	pid_t ppid;
	int err;

	*out = NULL;
	lib_clear_error();
	if (tgid <= 0)
		return lib_fail(-EINVAL, "fdtrack: invalid pid %d", (int)tgid);
	if (access(btf, R_OK))
		return lib_fail(-ENOENT,
				"fdtrack: no kernel BTF at %s (%s): "
				"boot a kernel built with "
				"CONFIG_DEBUG_INFO_BTF=y",
				btf, strerror(errno));
	if (kill(tgid, 0) && errno == ESRCH)
		return lib_fail(-ESRCH, "fdtrack: no process with pid %d",
				(int)tgid);
	diagnose_start();
	ppid = parent_of(tgid);

	t = calloc(1, sizeof(*t));
	if (!t)
		return lib_fail(-ENOMEM, "fdtrack: out of memory");
	t->tgid = tgid;
	for (int m = 0; m < FDT_NMAPS; m++)
		t->map_fds[m] = -1;
	t->watching_self = tgid == getpid();
	t->opts = effective_options(opts);
	if (copy_suppress(t)) {
		err = lib_fail(-ENOMEM, "fdtrack: out of memory");
		goto fail;
	}
	t->symbolizer.raw_symbols = t->opts.raw_symbols;
	t->stats.start = mono_s();
	t->stats.kfunc_reads = kernel_has_rdonly_cast(btf);
	t->skel = open_skeleton(t->stats.kfunc_reads);
	err = t->skel ? configure(t, tgid) : -errno;
	if (!err)
		err = fdtrack_bpf__load(t->skel);
	if (err) {
		err = diagnose_load_error(err, "loading the BPF programs");
		goto fail;
	}
	t->stats.load_seconds = mono_s() - t->stats.start;
	read_prog_stats(t);
	t->bss = t->skel->bss;
	t->data = t->skel->data;
	err = fill_maps(t, tgid, ppid);
	if (err) {
		err = diagnose_load_error(err, "filling the BPF maps");
		goto fail;
	}
	/* Everything that makes an fd first and sys_exit last: a process
	 * that watches itself (exstress) then finds one fd of fdtrack's own
	 * among its opens, the sys_exit link, not all of them. */
	err = attach_iterator(t, tgid);
	if (err)
		goto fail;
	if (t->watching_self)
		err = ring_open(&t->ring, bpf_map__fd(t->skel->maps.events),
				bpf_map__max_entries(t->skel->maps.events));
	else if (!(t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events),
					    on_record, t, NULL)))
		err = -errno;
	if (!err)
		err = fdtrack_bpf__attach(t->skel);
	if (!err) {
		t->skel->links.fdtrack_sys_exit = bpf_program__attach(
			t->skel->progs.fdtrack_sys_exit);
		if (!t->skel->links.fdtrack_sys_exit)
			err = -errno;
	}
	if (err) {
		err = diagnose_load_error(err, "attaching the BPF programs");
		goto fail;
	}
	err = add_root(t, tgid, ppid);
	if (err)
		goto fail;
	/* Attached first, snapshot second: an fd opened in between is seen
	 * by both, and the entry keeps it once. */
	t->bss->snap_baseline = 1;
	err = snapshot_run(t);
	t->bss->snap_baseline = 0;
	__atomic_store_n(&t->bss->baseline_done, 1, __ATOMIC_SEQ_CST);
	if (!err)
		err = keep_used(t);
	if (err)
		goto fail;
	t->stats.start_seconds = mono_s() - t->stats.start;
	*out = t;
	return 0;
fail:
	fdtrack_close(t);
	return err;
}

static void drop_own(struct fdtrack *t)
{
	maps_close(t);
	if (t->bss_len)
		munmap(t->bss, t->bss_len);
	if (t->data_len)
		munmap(t->data, t->data_len);
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(t->links[i]);
}

void fdtrack_close(struct fdtrack *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	ring_close(&t->ring);
	bpf_link__destroy(t->iter);
	if (t->skel)
		fdtrack_bpf__destroy(t->skel);
	else
		drop_own(t);
	procs_free(t);
	symbolizer_free(&t->symbolizer);
	unwinder_free(&t->unwinder);
	free_suppress(t);
	free(t);
}
