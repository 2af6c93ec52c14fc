/*
 * fdtrack user side: load the BPF programs, keep the opening stack of every
 * tracked fd, reconcile with an exact iterator snapshot, symbolise lazily.
 *
 * Division of labour: the kernel's `fds` map and .bss counters are exact
 * (updated synchronously in each syscall's exit); the ring buffer only brings
 * the stacks. So counts never depend on the ring buffer, and a lost OPEN
 * record only costs that fd its stack.
 */
#include "fdtrack.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fdtrack.skel.h"
#include "fdtrack_shared.h"
#include "symbolize.h"

#define DEFAULT_RINGBUF (256u * 1024)
#define BTF_PATH "/sys/kernel/btf/vmlinux"

/* One distinct opening stack; shared by every fd opened from it. */
struct stack {
	uint64_t hash;
	uint32_t exec_gen;
	uint32_t nframes;
	uint64_t retaddr;
	uint64_t frames[];
};

/* What the ring buffer told us about the fd's current open. */
struct open_record {
	uint64_t file, ts;
	struct stack *stack;
};

struct fdtrack {
	struct fdtrack_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *iter;
	pid_t tgid;
	int want_stacks;
	struct open_record *open_by_fd; /* the last OPEN record of each fd */
	size_t fdcap;
	struct stack **stacks; /* open-addressing set keyed by hash */
	size_t scap, nstacks;
	struct symbolizer symbolizer;
};

static _Thread_local char errbuf[512];

static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return err;
}

const char *fdtrack_error(void)
{
	return errbuf[0] ? errbuf : "no error";
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* Quiet by default: failures are summarised in fdtrack_error(). */
	static int debug = -1;

	if (debug < 0)
		debug = getenv("FDTRACK_DEBUG") != NULL;
	if (!debug && level != LIBBPF_WARN)
		return 0;
	if (!debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void set_print_once(void)
{
	libbpf_set_print(libbpf_print);
}

/* ---- stacks ---------------------------------------------------------- */

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static bool stack_eq(const struct stack *s, const struct fdt_event *e,
		     uint32_t n)
{
	return s->nframes == n && s->exec_gen == e->exec_gen &&
	       s->retaddr == e->retaddr &&
	       !memcmp(s->frames, e->frames, n * sizeof(uint64_t));
}

static int stacks_grow(struct fdtrack *t)
{
	size_t ncap = t->scap ? t->scap * 2 : 64;
	struct stack **n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < t->scap; i++) {
		struct stack *s = t->stacks[i];
		size_t j;

		if (!s)
			continue;
		for (j = s->hash & (ncap - 1); n[j]; j = (j + 1) & (ncap - 1))
			;
		n[j] = s;
	}
	free(t->stacks);
	t->stacks = n;
	t->scap = ncap;
	return 0;
}

static void maps_note_stack(struct fdtrack *t, const struct stack *s);

/* The deduplicated stack of an OPEN record (allocates only for new ones). */
static struct stack *intern_stack(struct fdtrack *t, const struct fdt_event *e)
{
	uint32_t n = e->nframes < FDT_MAX_FRAMES ? e->nframes : FDT_MAX_FRAMES;
	uint64_t h = 0xcbf29ce484222325ULL;
	struct stack *s;
	size_t j;

	if (!n)
		return NULL;
	h = fnv(fnv(h, e->exec_gen), e->retaddr);
	for (uint32_t i = 0; i < n; i++)
		h = fnv(h, e->frames[i]);
	if (t->nstacks * 2 >= t->scap && stacks_grow(t))
		return NULL;
	for (j = h & (t->scap - 1); t->stacks[j]; j = (j + 1) & (t->scap - 1))
		if (t->stacks[j]->hash == h && stack_eq(t->stacks[j], e, n))
			return t->stacks[j];
	s = malloc(sizeof(*s) + n * sizeof(uint64_t));
	if (!s)
		return NULL;
	s->hash = h;
	s->exec_gen = e->exec_gen;
	s->nframes = n;
	s->retaddr = e->retaddr;
	memcpy(s->frames, e->frames, n * sizeof(uint64_t));
	t->stacks[j] = s;
	t->nstacks++;
	maps_note_stack(t, s);
	return s;
}

/* ---- address spaces: read /proc/PID/maps while the target lives ---- */

/* Reread /proc/PID/maps for the target's current exec generation. */
static void maps_refresh(struct fdtrack *t, uint32_t gen)
{
	size_t len;
	char *text;

	if (gen != t->skel->bss->exec_gen || t->skel->bss->exited)
		return; /* that address space is gone */
	text = proc_maps_read(t->tgid, &len);
	if (!text || !len || gen != t->skel->bss->exec_gen) {
		free(text);
		return;
	}
	symbolizer_store(&t->symbolizer, gen, text, len);
}

/* A new stack in a mapping we have not seen (first stack, dlopen): reread
 * the maps now, while the process is alive. Only the first two frames are
 * trusted; deeper ones may be garbage from code without frame pointers. */
static void maps_note_stack(struct fdtrack *t, const struct stack *s)
{
	struct proc_maps *m = symbolizer_maps(&t->symbolizer, s->exec_gen);

	for (uint32_t i = 0; i < s->nframes && i < 2; i++) {
		if (!proc_maps_covers(m, s->frames[i])) {
			maps_refresh(t, s->exec_gen);
			return;
		}
	}
}

/* ---- events -------------------------------------------------------- */

static int on_event(void *ctx, void *data, size_t len)
{
	struct fdtrack *t = ctx;
	const struct fdt_event *e = data;

	if (len < sizeof(*e) || e->type != FDT_EV_OPEN || e->fd < 0)
		return 0;
	if ((size_t)e->fd >= t->fdcap) {
		size_t ncap = t->fdcap ? t->fdcap : 64;
		struct open_record *n;

		while (ncap <= (size_t)e->fd)
			ncap *= 2;
		n = realloc(t->open_by_fd, ncap * sizeof(*n));
		if (!n)
			return 0; /* the fd just has no stack then */
		memset(n + t->fdcap, 0, (ncap - t->fdcap) * sizeof(*n));
		t->open_by_fd = n;
		t->fdcap = ncap;
	}
	t->open_by_fd[e->fd] =
		(struct open_record){ e->file, e->ts, intern_stack(t, e) };
	return 0;
}

int fdtrack_poll(struct fdtrack *t, int timeout_ms)
{
	int n = timeout_ms ? ring_buffer__poll(t->rb, timeout_ms)
			   : ring_buffer__consume(t->rb);

	if (n < 0 && n != -EINTR)
		return fail(n, "fdtrack: reading the ring buffer failed: %s",
			    strerror(-n));
	return 0;
}

/* ---- snapshot and reconcile ----------------------------------------- */

static int run_snapshot(struct fdtrack *t)
{
	char buf[64];
	int fd, n;

	t->skel->bss->snap_gen++;
	t->skel->bss->snap_saw_target = 0;
	t->skel->bss->snap_seen = 0;
	fd = bpf_iter_create(bpf_link__fd(t->iter));
	if (fd < 0)
		return fail(-errno, "fdtrack: cannot start the fd snapshot "
			    "iterator: %s", strerror(errno));
	/* The program writes nothing; one read walks the whole table. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return fail(n, "fdtrack: fd snapshot failed: %s", strerror(-n));
	return 0;
}

int fdtrack_reconcile(struct fdtrack *t)
{
	int err = fdtrack_poll(t, 0);

	if (err)
		return err;
	if (t->skel->bss->exited)
		return 0; /* nothing left to look at; the exit hook was exact */
	return run_snapshot(t);
}

int fdtrack_exited(const struct fdtrack *t)
{
	return __atomic_load_n(&t->skel->bss->exited, __ATOMIC_RELAXED) != 0;
}

void fdtrack_counts(const struct fdtrack *t, struct fdtrack_counts *out)
{
	const struct fdtrack_bpf__bss *b = t->skel->bss;

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
	memset(out, 0, sizeof(*out));
	for (int k = 0; k < FDKIND_COUNT; k++) {
		out->opens[k] = LD(b->opens[k]);
		out->closes[k] = LD(b->closes[k]);
		out->closed_outside_syscalls[k] =
			LD(b->closed_outside_syscalls[k]);
		out->opened_outside_syscalls[k] =
			LD(b->opened_outside_syscalls[k]);
		out->at_start[k] = LD(b->at_start[k]);
		out->open_at_exit[k] = LD(b->open_at_exit[k]);
		out->live[k] = out->at_start[k] + out->opens[k] +
			       out->opened_outside_syscalls[k] -
			       out->closes[k] - out->closed_outside_syscalls[k];
	}
	out->lost_events = LD(b->lost_events);
	out->exited = LD(b->exited) != 0;
#undef LD
}

/* ---- groups -------------------------------------------------------- */

static int group_cmp(const void *a, const void *b)
{
	const struct fdtrack_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return (int)x->kind - (int)y->kind;
}

/* What a leak group is made of while the map is walked. */
struct group_acc {
	enum fdkind kind;
	struct stack *stack;
	unsigned count;
};

/* The frames of a stack as strings (fdtrack_group.frames). */
static char **stack_strings(struct fdtrack *t, const struct stack *s,
			    unsigned *nout)
{
	struct proc_maps *m = symbolizer_maps(&t->symbolizer, s->exec_gen);
	uint64_t pcs[FDT_MAX_FRAMES + 1];
	unsigned n = 0;
	char **v;

	for (uint32_t i = 0; i < s->nframes; i++) {
		pcs[n++] = s->frames[i];
		/* The caller of a frame-pointer-less libc wrapper (see
		 * wrapper_retaddr() in fdtrack.bpf.c), if the walk missed it. */
		if (i == 0 && s->retaddr && proc_maps_covers(m, s->retaddr) &&
		    (s->nframes < 2 || s->frames[1] != s->retaddr))
			pcs[n++] = s->retaddr;
	}
	v = symbolizer_frames(&t->symbolizer, s->exec_gen, pcs, n);
	if (v)
		*nout = n;
	return v;
}

int fdtrack_live_groups(struct fdtrack *t, struct fdtrack_group **groups,
			size_t *ngroups)
{
	struct group_acc *acc = NULL;
	size_t nacc = 0, cap = 0;
	struct fdtrack_group *g;
	int mapfd = bpf_map__fd(t->skel->maps.fds);
	bool exited;
	__u32 key, *prev = NULL;
	int err;

	*groups = NULL;
	*ngroups = 0;
	err = fdtrack_reconcile(t);
	if (err)
		return err;
	exited = t->skel->bss->exited;
	while (bpf_map_get_next_key(mapfd, prev, &key) == 0) {
		struct fdt_fd_entry v;
		struct stack *s = NULL;
		size_t i;

		prev = &key;
		if (bpf_map_lookup_elem(mapfd, &key, &v) || !v.live ||
		    v.kind >= FDKIND_COUNT || (exited && !v.at_exit))
			continue;
		if (key < t->fdcap && v.ts &&
		    t->open_by_fd[key].ts == v.ts &&
		    t->open_by_fd[key].file == v.file)
			s = t->open_by_fd[key].stack;
		for (i = 0; i < nacc; i++)
			if (acc[i].stack == s && acc[i].kind == v.kind)
				break;
		if (i == nacc) {
			if (nacc == cap) {
				struct group_acc *n = realloc(acc, (cap = cap ? 2 * cap : 16) *
							 sizeof(*n));
				if (!n) {
					free(acc);
					return fail(-ENOMEM, "fdtrack: out of memory");
				}
				acc = n;
			}
			acc[nacc++] = (struct group_acc){ v.kind, s, 0 };
		}
		acc[i].count++;
	}
	g = calloc(nacc ? nacc : 1, sizeof(*g));
	if (!g) {
		free(acc);
		return fail(-ENOMEM, "fdtrack: out of memory");
	}
	for (size_t i = 0; i < nacc; i++) {
		g[i].kind = acc[i].kind;
		g[i].count = acc[i].count;
		if (acc[i].stack) {
			g[i].frames = stack_strings(t, acc[i].stack, &g[i].nframes);
			if (!g[i].frames) {
				fdtrack_groups_free(g, nacc);
				free(acc);
				return fail(-ENOMEM, "fdtrack: out of memory");
			}
		}
	}
	free(acc);
	qsort(g, nacc, sizeof(*g), group_cmp);
	*groups = g;
	*ngroups = nacc;
	return 0;
}

void fdtrack_groups_free(struct fdtrack_group *groups, size_t ngroups)
{
	for (size_t i = 0; groups && i < ngroups; i++) {
		for (unsigned j = 0; j < groups[i].nframes; j++)
			free(groups[i].frames[j]);
		free(groups[i].frames);
	}
	free(groups);
}

void fdtrack_print_groups(FILE *out, const struct fdtrack_group *groups,
			  size_t ngroups)
{
	for (size_t i = 0; i < ngroups; i++) {
		const struct fdtrack_group *g = &groups[i];

		fprintf(out, "%u %s fd%s open, opened at:\n", g->count,
			fdkind_name(g->kind), g->count == 1 ? "" : "s");
		if (!g->nframes)
			fprintf(out, "   (no stack: opened before fdtrack attached, "
				"outside a syscall, or its event was lost)\n");
		for (unsigned j = 0; j < g->nframes; j++)
			fprintf(out, "   %s %s\n", j ? "by" : "at", g->frames[j]);
		fputc('\n', out);
	}
}

/* ---- open / close -------------------------------------------------- */

static unsigned ringbuf_size(unsigned want)
{
	unsigned page = sysconf(_SC_PAGESIZE), n = page;

	if (!want)
		want = DEFAULT_RINGBUF;
	while (n < want && n < (1u << 30))
		n <<= 1; /* a power of two, at least one page */
	return n;
}

static int load_error(int err)
{
	if (err == -EPERM || err == -EACCES)
		return fail(err, "fdtrack: permission denied loading BPF programs "
			    "(libbpf: %s): run as root, or grant CAP_BPF and "
			    "CAP_PERFMON", strerror(-err));
	return fail(err, "fdtrack: the kernel refused the BPF programs (libbpf: "
		    "%s, errno %d): fdtrack needs Linux >= 5.17 with tp_btf "
		    "tracepoints, ring buffers and task_file iterators; set "
		    "FDTRACK_DEBUG=1 for libbpf's log", strerror(-err), -err);
}

int fdtrack_open(pid_t tgid, const struct fdtrack_options *opts,
		 struct fdtrack **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const char *btf = getenv("FDTRACK_BTF") ? getenv("FDTRACK_BTF") : BTF_PATH;
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_iter_attach_opts, iopts);
	struct fdtrack *t;
	int err;

	*out = NULL;
	errbuf[0] = 0;
	if (tgid <= 0)
		return fail(-EINVAL, "fdtrack: invalid pid %d", (int)tgid);
	if (access(btf, R_OK))
		return fail(-ENOENT, "fdtrack: no kernel BTF at %s (%s): boot a "
			    "kernel built with CONFIG_DEBUG_INFO_BTF=y", btf,
			    strerror(errno));
	if (kill(tgid, 0) && errno == ESRCH)
		return fail(-ESRCH, "fdtrack: no process with pid %d", (int)tgid);
	pthread_once(&once, set_print_once);

	t = calloc(1, sizeof(*t));
	if (!t)
		return fail(-ENOMEM, "fdtrack: out of memory");
	t->tgid = tgid;
	t->want_stacks = opts ? opts->want_stacks : 1;

	t->skel = fdtrack_bpf__open();
	if (!t->skel) {
		err = -errno;
		goto load_fail;
	}
	t->skel->rodata->targ_tgid = tgid;
	t->skel->rodata->want_stacks = t->want_stacks;
	err = bpf_map__set_max_entries(t->skel->maps.events,
				       ringbuf_size(opts ? opts->ringbuf_bytes : 0));
	if (err)
		goto load_fail;
	/* The iterator is attached below, to this process only. */
	bpf_program__set_autoattach(t->skel->progs.fdt_snapshot, false);
	err = fdtrack_bpf__load(t->skel);
	if (err)
		goto load_fail;
	err = fdtrack_bpf__attach(t->skel);
	if (err)
		goto load_fail;

	memset(&linfo, 0, sizeof(linfo));
	linfo.task.pid = tgid; /* all threads of the process (TGID walk) */
	iopts.link_info = &linfo;
	iopts.link_info_len = sizeof(linfo);
	t->iter = bpf_program__attach_iter(t->skel->progs.fdt_snapshot, &iopts);
	if (!t->iter) {
		err = -errno;
		if (err == -ESRCH || err == -ENOENT) {
			err = fail(-ESRCH, "fdtrack: process %d is gone", (int)tgid);
			goto out_err;
		}
		goto load_fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_event, t,
				 NULL);
	if (!t->rb) {
		err = -errno;
		goto load_fail;
	}
	/* Attached first, snapshot second: an fd opened in between is seen
	 * by both, and the map keeps it once. */
	t->skel->bss->snap_baseline = 1;
	err = run_snapshot(t);
	t->skel->bss->snap_baseline = 0;
	if (err)
		goto out_err;
	*out = t;
	return 0;

load_fail:
	err = load_error(err ? err : -EINVAL);
out_err:
	fdtrack_close(t);
	return err;
}

void fdtrack_close(struct fdtrack *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	bpf_link__destroy(t->iter);
	fdtrack_bpf__destroy(t->skel);
	for (size_t i = 0; i < t->scap; i++)
		free(t->stacks[i]);
	free(t->stacks);
	free(t->open_by_fd);
	symbolizer_free(&t->symbolizer);
	free(t);
}
