/*
 * fdtrack's leak groups: the live (or open-at-exit) entries of one fd
 * table, grouped by kind and opening stack, and their symbolised form.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "fdtrack_internal.h"

/* Leaks group by kind and opening stack, and so do the fds at 0-2 (std)
 * apart from them; fds the program inherited by kind alone (their stack,
 * if any, is not the program's). */
static bool same_group(const struct raw_group *g, const struct fdt_fd_entry *v,
		       bool std)
{
	bool inherited = v->flags & FDT_F_INHERITED;

	return g->kind == v->kind && g->at_start == inherited &&
	       g->std == std &&
	       (inherited ||
		(g->stack_key == v->stack && g->variant == v->variant &&
		 g->aspace == v->aspace)) &&
	       !memcmp(g->name, v->name, FDT_NAME_BYTES);
}

static int group_add_fd(struct raw_group *g, int fd)
{
	if (g->count == g->cap) {
		unsigned ncap = g->cap ? 2 * g->cap : 4;
		int *n = realloc(g->fds, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->fds = n;
		g->cap = ncap;
	}
	g->fds[g->count++] = fd;
	return 0;
}

/* The group of entry v in *groups (added if new). */
static struct raw_group *group_for(struct raw_group **groups, size_t *n,
				   size_t *cap, const struct fdt_fd_entry *v,
				   bool std)
{
	struct raw_group *g;

	for (size_t i = 0; i < *n; i++)
		if (same_group(&(*groups)[i], v, std))
			return &(*groups)[i];
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 8;
		struct raw_group *bigger = realloc(*groups, ncap * sizeof(*g));

		if (!bigger)
			return NULL;
		*groups = bigger;
		*cap = ncap;
	}
	g = &(*groups)[(*n)++];
	memset(g, 0, sizeof(*g));
	g->kind = v->kind;
	memcpy(g->name, v->name, FDT_NAME_BYTES);
	g->at_start = !!(v->flags & FDT_F_INHERITED);
	g->std = std;
	g->variant = FDT_NO_VARIANT;
	if (!g->at_start) {
		g->aspace = v->aspace;
		g->stack_key = v->stack;
		g->variant = v->variant;
	}
	return g;
}

/* Copy each group's stack out of the kernel's table (it may be collected
 * once the entries are gone). */
static int groups_copy_stacks(struct fdtrack *t, struct raw_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fdt_unwind_key ukey = { .stack = g[i].stack_key,
					       .aspace = g[i].aspace,
					       .variant = g[i].variant };
		const struct unwound *u = unwind_find(&t->unwinder, &ukey);

		if (!g[i].stack_key)
			continue;
		if (u && u->n) {
			g[i].dwarf = malloc(sizeof(*g[i].dwarf));
			if (!g[i].dwarf)
				return -ENOMEM;
			*g[i].dwarf = *u;
		}
		g[i].stack = malloc(sizeof(*g[i].stack));
		if (!g[i].stack)
			return -ENOMEM;
		if (bpf_map_lookup_elem(map_fd(t, FDT_MAP_STACKS),
					&g[i].stack_key, g[i].stack)) {
			free(g[i].stack); /* collected: should not happen */
			g[i].stack = NULL;
		}
	}
	return 0;
}

/* Left at 0, 1 or 2 (stdin, stdout, stderr) by the program itself, e.g. a
 * shell's redirection in a child that did not exec, or a daemon's
 * /dev/null: not a leak, as valgrind --track-fds=yes does not report
 * them (unless std_fds_are_leaks, --track-fds=all). */
static bool is_std(const struct fdtrack *t, uint32_t fd,
		   const struct fdt_fd_entry *v)
{
	return fd < 3 && !(v->flags & FDT_F_INHERITED) &&
	       !t->opts.std_fds_are_leaks;
}

int table_add_std(struct fdtrack *t, uint32_t table, struct fdtrack_counts *c)
{
	int mfd = map_fd(t, FDT_MAP_FDS);

	if (mfd < 0)
		return mfd;
	for (uint32_t fd = 0; fd < 3; fd++) {
		struct fdt_fd_key key = { .table = table, .fd = fd };
		struct fdt_fd_entry v;

		if (bpf_map_lookup_elem(mfd, &key, &v) || !v.live ||
		    v.at_exit || v.kind >= FDKIND_COUNT || !is_std(t, fd, &v))
			continue;
		c->open_std[v.kind]++;
	}
	return 0;
}

void counts_add_std(struct fdtrack_counts *c, const struct raw_group *g,
		    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].std)
			c->open_std[g[i].kind] += g[i].count;
}

int groups_of_table(struct fdtrack *t, uint32_t table, uint32_t fd_limit,
		    bool at_exit, struct raw_group **out, size_t *nout)
{
	struct raw_group *groups = NULL, *g;
	size_t n = 0, cap = 0;
	int err = windows_pending(t); /* windows not unwound yet */

	for (uint32_t fd = 0; fd < fd_limit && !err; fd++) {
		struct fdt_fd_key key = { .table = table, .fd = fd };
		struct fdt_fd_entry v;

		if (bpf_map_lookup_elem(map_fd(t, FDT_MAP_FDS), &key, &v) ||
		    !v.live || v.kind >= FDKIND_COUNT || !!v.at_exit != at_exit)
			continue;
		v.variant = unwind_resolve(&t->unwinder, &v);
		g = group_for(&groups, &n, &cap, &v, is_std(t, fd, &v));
		err = g ? group_add_fd(g, fd) : -ENOMEM;
	}
	if (!err)
		err = groups_copy_stacks(t, groups, n);
	if (err) {
		raw_groups_free(groups, n);
		return lib_fail(err, "fdtrack: out of memory");
	}
	*out = groups;
	*nout = n;
	return 0;
}

void raw_groups_free(struct raw_group *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++) {
		free(g[i].fds);
		free(g[i].stack);
		free(g[i].dwarf);
	}
	free(g);
}

/* Code addresses of a raw group's stack, outermost last; a stack ends at
 * its first address that is no code (frame-pointer walks through code
 * without frame pointers end in junk; a 0x0 is never a frame). */
static unsigned stack_pcs(struct fdtrack *t, const struct raw_group *g,
			  uint64_t pcs[2 * FDT_MAX_FRAMES + 1])
{
	const struct fdt_stack *s = g->stack;
	uint32_t nframes = s->nframes < FDT_MAX_FRAMES ? s->nframes
						       : FDT_MAX_FRAMES;
	bool known = symbolizer_has(&t->symbolizer, g->aspace);
	unsigned n = 0, fp_from = 0;

#define IS_CODE(a) \
	((a) && (!known || symbolizer_covers(&t->symbolizer, g->aspace, (a))))
	if (g->dwarf) {
		/* DWARF frames; if the window ended before the stack did and
		 * the frame-pointer walk passed its last frame, the walk's
		 * frames after it */
		for (unsigned i = 0;
		     i < g->dwarf->n && IS_CODE(g->dwarf->pcs[i]); i++)
			pcs[n++] = g->dwarf->pcs[i];
		for (uint32_t i = 1; n && i < nframes; i++)
			if (s->frames[i] == pcs[n - 1])
				fp_from = i + 1;
		if (!fp_from)
			return n;
	}
	for (uint32_t i = fp_from; i < nframes && IS_CODE(s->frames[i]); i++) {
		pcs[n++] = s->frames[i];
		/* The caller of a frame-pointer-less libc wrapper (see
		 * wrapper_retaddr() in fdtrack_stacks.bpf.h), if the walk
		 * missed it. */
		if (i == 0 && s->retaddr && IS_CODE(s->retaddr) &&
		    (nframes < 2 || s->frames[1] != s->retaddr))
			pcs[n++] = s->retaddr;
	}
#undef IS_CODE
	return n;
}

/* The frames of a stack as strings (fdtrack_group.frames). */
static char **stack_strings(struct fdtrack *t, const struct raw_group *g,
			    unsigned *nout, struct fdtrack_frame **info)
{
	uint64_t pcs[2 * FDT_MAX_FRAMES + 1];
	unsigned n = stack_pcs(t, g, pcs);

	if (n > FDT_MAX_FRAMES)
		n = FDT_MAX_FRAMES;
	return symbolizer_frames(&t->symbolizer, g->aspace, pcs, n, nout, info);
}

/* Leaks first, then the suppressed ones, the fds at 0-2, and those open
 * since the start. */
static int group_rank(const struct fdtrack_group *g)
{
	return g->at_start ? 3 : g->std ? 2 : g->suppressed;
}

static int group_cmp(const void *a, const void *b)
{
	const struct fdtrack_group *x = a, *y = b;

	if (group_rank(x) != group_rank(y))
		return group_rank(x) - group_rank(y);
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return (x->fds ? x->fds[0] : 0) - (y->fds ? y->fds[0] : 0);
}

/* Fds named per group in the text report (all of them in the JSON). */
#define FD_NAMES_SHOWN 8

static int fd_name_cmp(const void *key, const void *elem)
{
	return *(const int *)key - ((const struct fd_name *)elem)->fd;
}

/* The names of g's fds found in names (NULL array: none). */
static int group_fd_names(const struct fd_names *names, struct fdtrack_group *g)
{
	bool any = false;

	if (!names->n)
		return 0;
	g->fd_names = calloc(g->count ? g->count : 1, sizeof(char *));
	if (!g->fd_names)
		return -ENOMEM;
	for (unsigned i = 0; i < g->count; i++) {
		const struct fd_name *n = bsearch(&g->fds[i], names->v,
						  names->n, sizeof(*n),
						  fd_name_cmp);

		if (n && !(g->fd_names[i] = strdup(n->name)))
			return -ENOMEM;
		any |= n != NULL;
	}
	if (!any) {
		free(g->fd_names);
		g->fd_names = NULL;
	}
	return 0;
}

static int group_publish(struct fdtrack *t, const struct proc *p,
			 const struct raw_group *r, struct fdtrack_group *g)
{
	memset(g, 0, sizeof(*g));
	g->kind = r->kind;
	g->count = r->count;
	g->pid = p->pid;
	g->at_start = r->at_start;
	g->std = r->std;
	g->stacks_off = !t->opts.want_stacks;
	memcpy(g->name, r->name, sizeof(g->name));
	g->name[sizeof(g->name) - 1] = 0;
	g->fds = malloc((r->count ? r->count : 1) * sizeof(int));
	if (!g->fds)
		return -ENOMEM;
	memcpy(g->fds, r->fds, r->count * sizeof(int));
	if (r->stack && r->stack->nframes) {
		g->frames = stack_strings(t, r, &g->nframes, &g->frame_info);
		if (!g->frames)
			return -ENOMEM;
		g->frame_pointers_only = !r->dwarf && t->opts.want_stacks &&
					 !t->opts.frame_pointers_only;
	}
	return 0;
}

static void group_free_contents(struct fdtrack_group *g)
{
	for (unsigned j = 0; j < g->nframes; j++) {
		free(g->frames[j]);
		if (g->frame_info)
			symbolizer_frame_free(&g->frame_info[j]);
	}
	free(g->frame_info);
	free(g->frames);
	for (unsigned i = 0; g->fd_names && i < g->count; i++)
		free(g->fd_names[i]);
	free(g->fd_names);
	free(g->fds);
}

static bool same_text(const struct fdtrack_group *a,
		      const struct fdtrack_group *b)
{
	if (a->kind != b->kind || a->at_start != b->at_start ||
	    a->std != b->std || a->suppressed != b->suppressed ||
	    a->nframes != b->nframes || strcmp(a->name, b->name) ||
	    a->frame_pointers_only != b->frame_pointers_only)
		return false;
	for (unsigned j = 0; j < a->nframes; j++)
		if (strcmp(a->frames[j], b->frames[j]))
			return false;
	return true;
}

static int int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Groups a reader could not tell apart are one group: two stacks whose
 * frames print the same (they differed only past the frames shown, or in
 * addresses of one source line). g[i] takes g[j]'s fds (out of memory:
 * they stay apart). */
static void merge_same_text(struct fdtrack_group *g, size_t *n)
{
	size_t kept = 0;

	for (size_t j = 0; j < *n; j++) {
		size_t i;
		int *fds = NULL;

		for (i = 0; i < kept && !same_text(&g[i], &g[j]); i++)
			;
		if (i < kept)
			fds = realloc(g[i].fds,
				      (g[i].count + g[j].count) * sizeof(int));
		if (!fds) {
			g[kept++] = g[j];
			continue;
		}
		memcpy(fds + g[i].count, g[j].fds, g[j].count * sizeof(int));
		g[i].fds = fds;
		g[i].count += g[j].count;
		qsort(g[i].fds, g[i].count, sizeof(int), int_cmp);
		group_free_contents(&g[j]);
	}
	*n = kept;
}

/* Does frame f match pattern pat: "obj:GLOB" its module's base name,
 * "fun:GLOB" or a bare GLOB its function (as valgrind's frame lines)? */
static bool frame_matches(const struct fdtrack_frame *f, const char *pat)
{
	const char *what = f->symbol;

	if (!strncmp(pat, "obj:", 4)) {
		what = f->module;
		pat += 4;
	} else if (!strncmp(pat, "fun:", 4)) {
		pat += 4;
	}
	return what && !fnmatch(pat, what, 0);
}

/* A leak with a frame a suppression pattern names. */
static bool suppressed(const struct fdtrack *t, const struct fdtrack_group *g)
{
	const char *const *pat = t->opts.suppress;

	if (!pat || g->at_start || g->std || !g->frame_info)
		return false;
	for (unsigned j = 0; j < g->nframes; j++)
		for (size_t i = 0; pat[i]; i++)
			if (frame_matches(&g->frame_info[j], pat[i]))
				return true;
	return false;
}

void counts_add_suppressed(struct fdtrack_counts *c,
			   const struct fdtrack_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].suppressed)
			c->suppressed[g[i].kind] += g[i].count;
}

int groups_publish(struct fdtrack *t, const struct proc *p,
		   const struct raw_group *raw, size_t nraw, bool leaks_only,
		   struct fdtrack_group **out, size_t *nout)
{
	struct fdtrack_group *g = calloc(nraw ? nraw : 1, sizeof(*g));
	struct fd_names now = { 0 };
	size_t n = 0;

	*out = NULL;
	*nout = 0;
	if (!g)
		return lib_fail(-ENOMEM, "fdtrack: out of memory");
	for (size_t i = 0; i < nraw; i++) {
		if (leaks_only && (raw[i].at_start || raw[i].std))
			continue;
		if (group_publish(t, p, &raw[i], &g[n++])) {
			fdtrack_groups_free(g, n);
			return lib_fail(-ENOMEM, "fdtrack: out of memory");
		}
		g[n - 1].suppressed = suppressed(t, &g[n - 1]);
		if (leaks_only && g[n - 1].suppressed)
			group_free_contents(&g[--n]);
	}
	merge_same_text(g, &n);
	/* the fds' names: read at its exit stop, or now while it runs (an
	 * exited process's pid may be another's by now) */
	if (!p->exited)
		fd_names_read(p->pid, &now);
	for (size_t i = 0; i < n; i++)
		if (group_fd_names(p->exited ? &p->names : &now, &g[i])) {
			fd_names_free(&now);
			fdtrack_groups_free(g, n);
			return lib_fail(-ENOMEM, "fdtrack: out of memory");
		}
	fd_names_free(&now);
	qsort(g, n, sizeof(*g), group_cmp);
	*out = g;
	*nout = n;
	return 0;
}

void fdtrack_groups_free(struct fdtrack_group *groups, size_t ngroups)
{
	for (size_t i = 0; groups && i < ngroups; i++)
		group_free_contents(&groups[i]);
	free(groups);
}

/* What /proc/PID/fd/N reads for an anonymous inode of g's kind
 * ("anon_inode:[eventfd]"), NULL when the kind is not one name. */
static const char *anon_link_name(const struct fdtrack_group *g, char *buf,
				  size_t len)
{
	const char *name;
	enum fdkind k;

	if (g->kind == FDKIND_ANON && g->name[0]) {
		snprintf(buf, len, "anon_inode:%s", g->name);
		return buf;
	}
	if (g->kind == FDKIND_BPF) /* a map, a program, a link, ... */
		return NULL;
	for (unsigned i = 0; (name = fdkind_anon_name(i, &k)); i++)
		if (k == g->kind) {
			snprintf(buf, len, "anon_inode:%s", name);
			return buf;
		}
	return NULL;
}

/* "fd 255: /tmp/s.sh" for the first fds, as valgrind names each fd it
 * reports: by what /proc/PID/fd/N said, an anonymous inode by its kind's
 * name, else the number alone. */
static void print_fd_names(FILE *out, const struct fdtrack_group *g)
{
	char buf[48];
	const char *anon = anon_link_name(g, buf, sizeof(buf));
	unsigned i;

	for (i = 0; i < g->count && i < FD_NAMES_SHOWN; i++) {
		const char *name = g->fd_names && g->fd_names[i]
					   ? g->fd_names[i]
					   : anon;

		if (name)
			fprintf(out, "   fd %d: %s\n", g->fds[i], name);
		else
			fprintf(out, "   fd %d\n", g->fds[i]);
	}
	if (g->count > i)
		fprintf(out, "   ... and %u more (fds", g->count - i);
	for (unsigned j = i; j < g->count && j < i + 16; j++)
		fprintf(out, " %d", g->fds[j]);
	if (g->count > i)
		fprintf(out, "%s)\n", g->count > i + 16 ? " ..." : "");
}

void fdtrack_print_groups(FILE *out, const struct fdtrack_group *groups,
			  size_t ngroups)
{
	for (size_t i = 0; i < ngroups; i++) {
		const struct fdtrack_group *g = &groups[i];
		const char *kind = fdkind_name(g->kind);

		/* with stacks off (--no-stacks) no "opened at:" */
		const char *what =
			g->at_start ? "open since the start"
			: g->std && g->stacks_off
				? "open at 0-2 (stdin, stdout, stderr: "
				  "not a leak, --std-fds counts it):"
			: g->std ? "open at 0-2 (stdin, stdout, stderr: "
				   "not a leak, --std-fds counts it), "
				   "opened at:"
			: g->suppressed
				? "open, suppressed (a frame's function "
				  "matches a suppression), opened at:"
			: g->stacks_off ? "open:"
					: "open, opened at:";

		if (g->kind == FDKIND_ANON && g->name[0])
			fprintf(out, "%u %s fd%s (anon_inode:%s) %s", g->count,
				kind, g->count == 1 ? "" : "s", g->name, what);
		else
			fprintf(out, "%u %s fd%s %s", g->count, kind,
				g->count == 1 ? "" : "s", what);
		if (g->at_start) {
			fprintf(out,
				" (inherited, kept across exec, or open "
				"before fdtrack attached; not a leak)\n");
			print_fd_names(out, g);
			fputc('\n', out);
			continue;
		}
		fputc('\n', out);
		/* stacks off (--no-stacks): the caller says so once */
		if (!g->nframes && !g->stacks_off)
			fprintf(out, "   (no stack: opened outside a syscall, "
				     "or the stack table was full)\n");
		for (unsigned j = 0; j < g->nframes; j++)
			fprintf(out, "   %s %s\n", j ? "by" : "at",
				g->frames[j]);
		print_fd_names(out, g);
		if (g->frame_pointers_only)
			fprintf(out,
				"   (frame-pointer walk only: frames of code "
				"without frame pointers may be missing)\n");
		fputc('\n', out);
	}
}
