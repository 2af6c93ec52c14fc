/*
 * fdtrack's symbolisation: copies of /proc/PID/maps and libdwfl lookups
 * (symbolize.h). Symbols are resolved only when a report asks for them,
 * never while events arrive, and cached per address.
 */
#include "symbolize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>

#include "fdtrack.h"

struct exec_range {
	uint64_t start, end;
};

/* What one code address resolves to (a cache slot): the function it is
 * in and, when the compiler inlined calls there, the inlined functions,
 * innermost first, each printed as a frame of its own before it (as
 * valgrind and eu-addr2line -i do). */
struct symbol_slot {
	uint64_t addr;
	char *str;    /* the frame as printed; NULL: free slot */
	char *symbol; /* function (demangled unless raw), NULL: unknown */
	char *file;   /* source file's base name, NULL: unknown */
	int line;     /* (with inlined calls: the outermost one's call) */
	char *module; /* mapped file's base name, NULL: unknown */
	struct symbol_slot *inlined; /* ninlined frames (no own inlined) */
	unsigned ninlined;
};

struct proc_maps {
	unsigned refs; /* address spaces using it */
	char *text;    /* /proc/PID/maps as read */
	size_t len;
	struct exec_range *exec; /* executable ranges, sorted by address */
	size_t nexec;
	Dwfl *dwfl;		 /* built on first lookup */
	void *session_data;	 /* the unwinder's (symbolizer_session) */
	struct symbol_slot *sym; /* open addressing, by address */
	size_t symcap, nsym;
};

static struct aspace_slot *slot_of(struct symbolizer *s, uint32_t aspace)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].aspace == aspace)
			return &s->slots[i];
	return NULL;
}

static struct aspace_slot *slot_get(struct symbolizer *s, uint32_t aspace)
{
	struct aspace_slot *slot = slot_of(s, aspace);

	if (slot)
		return slot;
	if (s->nslots == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 16;
		struct aspace_slot *n = realloc(s->slots, ncap * sizeof(*n));

		if (!n)
			return NULL;
		s->slots = n;
		s->cap = ncap;
	}
	slot = &s->slots[s->nslots++];
	*slot = (struct aspace_slot){ .aspace = aspace };
	return slot;
}

/* aspace's copy, or the copy of what it was forked from. */
static struct proc_maps *maps_of(struct symbolizer *s, uint32_t aspace)
{
	for (int depth = 0; aspace && depth < 16; depth++) {
		struct aspace_slot *slot = slot_of(s, aspace);

		if (!slot)
			return NULL;
		if (slot->maps)
			return slot->maps;
		aspace = slot->from;
	}
	return NULL;
}

static bool proc_maps_covers(const struct proc_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m ? m->nexec : 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < m->exec[mid].start)
			hi = mid;
		else if (addr >= m->exec[mid].end)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

char *proc_maps_read(pid_t pid, size_t *len)
{
	size_t cap = 16384, n = 0;
	char path[64], *buf;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	buf = malloc(cap);
	f = fopen(path, "r");
	if (!buf || !f) {
		free(buf);
		if (f)
			fclose(f);
		return NULL;
	}
	for (;;) {
		char *bigger;

		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		bigger = realloc(buf, cap * 2);
		if (!bigger) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = bigger;
		cap *= 2;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* The executable ranges of a maps text (sorted, as /proc lists them). */
static struct exec_range *exec_ranges(const char *text, size_t len,
				      size_t *nout)
{
	size_t n = 0, cap = 64;
	struct exec_range *r = malloc(cap * sizeof(*r));
	const char *line = text;

	if (!r)
		return NULL;
	while (line < text + len) {
		const char *nl = memchr(line, '\n', text + len - line);
		unsigned long long a, b;
		char perm[8];

		if (sscanf(line, "%llx-%llx %7s", &a, &b, perm) == 3 &&
		    strchr(perm, 'x')) {
			if (n == cap) {
				struct exec_range *bigger =
					realloc(r, 2 * cap * sizeof(*r));

				if (!bigger)
					break;
				r = bigger;
				cap *= 2;
			}
			r[n++] = (struct exec_range){ a, b };
		}
		line = nl ? nl + 1 : text + len;
	}
	*nout = n;
	return r;
}

static void slot_free(struct symbol_slot *slot)
{
	for (unsigned i = 0; i < slot->ninlined; i++)
		slot_free(&slot->inlined[i]);
	free(slot->inlined);
	free(slot->str);
	free(slot->symbol);
	free(slot->file);
	free(slot->module);
}

static void proc_maps_drop_symbols(struct proc_maps *m)
{
	for (size_t i = 0; i < m->symcap; i++)
		slot_free(&m->sym[i]);
	free(m->sym);
	m->sym = NULL;
	m->symcap = m->nsym = 0;
	if (m->dwfl)
		dwfl_end(m->dwfl);
	m->dwfl = NULL;
	free(m->session_data);
	m->session_data = NULL;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

static Dwfl *proc_maps_dwfl(struct proc_maps *m)
{
	FILE *f;

	if (m->dwfl)
		return m->dwfl;
	m->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!m->dwfl)
		return NULL;
	f = fmemopen(m->text, m->len, "r");
	dwfl_report_begin(m->dwfl);
	if (f) {
		dwfl_linux_proc_maps_report(m->dwfl, f);
		fclose(f);
	}
	dwfl_report_end(m->dwfl, NULL, NULL);
	return m->dwfl;
}

static const char *base_name(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;

	return s ? s + 1 : p;
}

/* A function name as people read it: without its symbol version
 * ("__libc_start_main@@GLIBC_2.34"), C++ (Itanium) and Rust (legacy, its
 * ::h<hash> dropped as rustc's demangler does, and v0) demangled by
 * libiberty, unless raw. malloc'd. */
static char *readable_name(const char *fn, bool raw)
{
	size_t len = strcspn(fn, "@");
	char *plain, *d;

	if (raw)
		return strdup(fn);
	plain = strndup(fn, len);
	if (!plain)
		return NULL;
	d = cplus_demangle(plain, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	if (!d)
		return plain;
	free(plain);
	return d;
}

/* A DIE's function name: its (abstract origin's) linkage name, demangled
 * unless raw, else its name. malloc'd; NULL: none. */
static char *die_function(Dwarf_Die *die, bool raw)
{
	Dwarf_Attribute a;
	const char *nm = NULL;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
		nm = dwarf_formstring(&a);
	if (!nm && dwarf_attr_integrate(die, DW_AT_name, &a))
		nm = dwarf_formstring(&a);
	return nm ? readable_name(nm, raw) : NULL;
}

/* Where an inlined subroutine was called from (in its caller). */
static void call_site(Dwarf_Die *inl, Dwarf_Files *files, const char **file,
		      int *line)
{
	Dwarf_Attribute a;
	Dwarf_Word idx, ln;

	*file = NULL;
	*line = 0;
	if (files && dwarf_attr(inl, DW_AT_call_file, &a) &&
	    !dwarf_formudata(&a, &idx))
		*file = base_name(dwarf_filesrc(files, idx, NULL, NULL));
	if (dwarf_attr(inl, DW_AT_call_line, &a) && !dwarf_formudata(&a, &ln))
		*line = (int)ln;
}

static char *frame_text(const char *fn, const char *file, int line)
{
	char *out = NULL;

	if (file && line > 0)
		(void)!asprintf(&out, "%s (%s:%d)", fn ? fn : "??", file, line);
	else
		(void)!asprintf(&out, "%s", fn ? fn : "??");
	return out;
}

/* The calls inlined at pc into slot->inlined, innermost first: each takes
 * the source position below it (the line table's for the innermost, the
 * call site of the one inside for the others); the function itself then
 * takes the outermost call site. false: out of memory. */
static bool expand_inlined(Dwfl_Module *mod, Dwarf_Addr pc, bool raw,
			   struct symbol_slot *slot)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias), *scopes = NULL;
	Dwarf_Files *files = NULL;
	const char *file = slot->file;
	int n, line = slot->line;
	bool ok = true;

	n = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
	if (n > 0) {
		/* past an inlined subroutine, dwarf_getscopes() goes on into
		 * the scopes of its abstract definition; the concrete chain
		 * (its callers, inlined or not) is the DIE tree around the
		 * innermost scope, as eu-addr2line -i reads it */
		Dwarf_Die inner = scopes[0];

		free(scopes);
		scopes = NULL;
		n = dwarf_getscopes_die(&inner, &scopes);
	}
	/* the inlined ones before the function (at most n; lexical blocks
	 * between them are not frames) */
	if (n <= 0 || dwarf_tag(&scopes[0]) == DW_TAG_subprogram ||
	    !(slot->inlined = calloc(n, sizeof(*slot->inlined)))) {
		free(scopes);
		return n <= 0 || dwarf_tag(&scopes[0]) == DW_TAG_subprogram;
	}
	if (dwarf_getsrcfiles(cu, &files, NULL))
		files = NULL;
	for (int i = 0; i < n && ok; i++) {
		struct symbol_slot *f;

		if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram)
			break;
		if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
			continue;
		f = &slot->inlined[slot->ninlined++];
		f->addr = slot->addr;
		f->symbol = die_function(&scopes[i], raw);
		f->module = slot->module ? strdup(slot->module) : NULL;
		if (file && line > 0) {
			f->file = strdup(file);
			f->line = line;
		}
		f->str = frame_text(f->symbol, f->file, f->line);
		ok = f->str && (!slot->module || f->module);
		call_site(&scopes[i], files, &file, &line);
	}
	if (slot->ninlined) { /* the function is at the outermost call */
		char *outer = file && line > 0 ? strdup(file) : NULL;

		free(slot->file);
		slot->file = outer;
		slot->line = outer ? line : 0;
	}
	free(scopes);
	return ok;
}

/* Resolve addr into slot: "function (file:line)", "function+0xoff
 * (module)", "0xaddr (module)" or "0xaddr", and the parts. slot->str NULL:
 * out of memory. */
static void describe(struct proc_maps *m, uint64_t addr, bool raw,
		     struct symbol_slot *slot)
{
	Dwfl *dwfl = m ? proc_maps_dwfl(m) : NULL;
	/* Return addresses point after the call: look up the call itself. */
	Dwarf_Addr pc = addr - 1;
	Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, pc) : NULL;
	const char *fn = NULL, *modname = NULL, *src = NULL;
	GElf_Off off = 0;
	GElf_Sym sym;
	int lineno = 0;
	char *out = NULL;

	memset(slot, 0, sizeof(*slot));
	slot->addr = addr;
	if (mod) {
		Dwfl_Line *line;

		modname = base_name(dwfl_module_info(mod, NULL, NULL, NULL,
						     NULL, NULL, NULL, NULL));
		fn = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL,
					  NULL);
		line = dwfl_module_getsrc(mod, pc);
		if (line)
			src = base_name(dwfl_lineinfo(line, NULL, &lineno, NULL,
						      NULL, NULL));
	}
	slot->symbol = fn ? readable_name(fn, raw) : NULL;
	slot->module = modname ? strdup(modname) : NULL;
	if (src && lineno > 0) {
		slot->file = strdup(src);
		slot->line = lineno;
	}
	if (mod && slot->symbol && !expand_inlined(mod, pc, raw, slot))
		return; /* out of memory: slot->str stays NULL */
	if (slot->symbol && slot->file)
		out = frame_text(slot->symbol, slot->file, slot->line);
	else if (slot->symbol)
		(void)!asprintf(&out, "%s+0x%llx (%s)", slot->symbol,
				(unsigned long long)off + 1, modname);
	else if (modname)
		(void)!asprintf(&out, "0x%llx (%s)", (unsigned long long)addr,
				modname);
	else
		(void)!asprintf(&out, "0x%llx", (unsigned long long)addr);
	slot->str = out;
}

static size_t addr_hash(uint64_t addr)
{
	return (size_t)((addr * 0x9e3779b97f4a7c15ULL) >> 40);
}

static int symbol_cache_grow(struct proc_maps *m)
{
	size_t ncap = m->symcap ? m->symcap * 2 : 256;
	struct symbol_slot *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -1;
	for (size_t i = 0; i < m->symcap; i++) {
		size_t j;

		if (!m->sym[i].str)
			continue;
		for (j = addr_hash(m->sym[i].addr); n[j & (ncap - 1)].str; j++)
			;
		n[j & (ncap - 1)] = m->sym[i];
	}
	free(m->sym);
	m->sym = n;
	m->symcap = ncap;
	return 0;
}

/* Copy a slot's parts into a public frame; false: out of memory. */
static bool frame_from_slot(const struct symbol_slot *slot,
			    struct fdtrack_frame *f)
{
	f->addr = slot->addr;
	f->line = slot->line;
	f->symbol = slot->symbol ? strdup(slot->symbol) : NULL;
	f->file = slot->file ? strdup(slot->file) : NULL;
	f->module = slot->module ? strdup(slot->module) : NULL;
	return (!slot->symbol || f->symbol) && (!slot->file || f->file) &&
	       (!slot->module || f->module);
}

/* The frames printed so far for one stack. */
struct frames_out {
	char **v;
	struct fdtrack_frame *f;
	unsigned n, cap;
};

/* Append one frame (a copy of slot's); false: out of memory. */
static bool frames_put(struct frames_out *o, const struct symbol_slot *slot)
{
	if (o->n == o->cap) {
		unsigned ncap = o->cap ? 2 * o->cap : 16;
		char **v = realloc(o->v, ncap * sizeof(*v));
		struct fdtrack_frame *f;

		if (v)
			o->v = v;
		f = v ? realloc(o->f, ncap * sizeof(*f)) : NULL;
		if (!f)
			return false;
		o->f = f;
		o->cap = ncap;
	}
	memset(&o->f[o->n], 0, sizeof(o->f[o->n]));
	o->v[o->n] = strdup(slot->str);
	if (!o->v[o->n] || !frame_from_slot(slot, &o->f[o->n])) {
		free(o->v[o->n]);
		symbolizer_frame_free(&o->f[o->n]);
		return false;
	}
	o->n++;
	return true;
}

/* Append addr's frames (the calls inlined there, then its function),
 * resolved and cached in m when there is one; false: out of memory. */
static bool symbol_of(struct proc_maps *m, uint64_t addr, bool raw,
		      struct frames_out *o)
{
	struct symbol_slot *slot, tmp;
	bool ok = true;
	size_t j;

	if (!m) {
		describe(NULL, addr, raw, &tmp);
		ok = tmp.str && frames_put(o, &tmp);
		slot_free(&tmp);
		return ok;
	}
	if (m->nsym * 2 >= m->symcap && symbol_cache_grow(m))
		return false;
	for (j = addr_hash(addr); m->sym[j & (m->symcap - 1)].str; j++)
		if (m->sym[j & (m->symcap - 1)].addr == addr)
			break;
	slot = &m->sym[j & (m->symcap - 1)];
	if (!slot->str) {
		describe(m, addr, raw, slot);
		if (!slot->str) {
			slot_free(slot);
			memset(slot, 0, sizeof(*slot));
			return false;
		}
		m->nsym++;
	}
	for (unsigned i = 0; ok && i < slot->ninlined; i++)
		ok = frames_put(o, &slot->inlined[i]);
	return ok && frames_put(o, slot);
}

static void proc_maps_put(struct proc_maps *m)
{
	if (!m || --m->refs)
		return;
	proc_maps_drop_symbols(m);
	free(m->text);
	free(m->exec);
	free(m);
}

static void slot_set_maps(struct aspace_slot *slot, struct proc_maps *m)
{
	if (m)
		m->refs++;
	proc_maps_put(slot->maps);
	slot->maps = m;
}

void symbolizer_store(struct symbolizer *s, uint32_t aspace, char *text,
		      size_t len)
{
	struct aspace_slot *slot = slot_get(s, aspace);
	struct proc_maps *m = calloc(1, sizeof(*m));

	if (!slot || !m || !(m->exec = exec_ranges(text, len, &m->nexec))) {
		free(m);
		free(text);
		return;
	}
	m->text = text;
	m->len = len;
	slot_set_maps(slot, m);
}

void symbolizer_alias(struct symbolizer *s, uint32_t aspace, uint32_t from)
{
	struct aspace_slot *slot;

	if (!from || aspace == from)
		return;
	slot = slot_get(s, aspace);
	if (!slot || slot->from)
		return;
	slot->from = from;
	symbolizer_hold(s, from);
}

void symbolizer_hold(struct symbolizer *s, uint32_t aspace)
{
	struct aspace_slot *slot = slot_get(s, aspace);

	if (slot)
		slot->holders++;
}

void symbolizer_release(struct symbolizer *s, uint32_t aspace)
{
	struct aspace_slot *slot = slot_of(s, aspace);
	uint32_t from;

	if (!slot || (slot->holders && --slot->holders))
		return;
	from = slot->from;
	proc_maps_put(slot->maps);
	*slot = s->slots[--s->nslots];
	if (from)
		symbolizer_release(s, from);
}

bool symbolizer_has(struct symbolizer *s, uint32_t aspace)
{
	return maps_of(s, aspace) != NULL;
}

bool symbolizer_covers(struct symbolizer *s, uint32_t aspace, uint64_t addr)
{
	return proc_maps_covers(maps_of(s, aspace), addr);
}

void symbolizer_frame_free(struct fdtrack_frame *f)
{
	free(f->symbol);
	free(f->file);
	free(f->module);
}

char **symbolizer_frames(struct symbolizer *s, uint32_t aspace,
			 const uint64_t *pcs, unsigned n, unsigned *nout,
			 struct fdtrack_frame **info)
{
	struct proc_maps *m = maps_of(s, aspace);
	struct frames_out o = { 0 };
	bool ok = true;

	for (unsigned i = 0; ok && i < n; i++)
		ok = symbol_of(m, pcs[i], s->raw_symbols, &o);
	if (ok && !o.n)
		ok = (o.v = calloc(1, sizeof(*o.v))) &&
		     (o.f = calloc(1, sizeof(*o.f)));
	if (!ok) {
		for (unsigned k = 0; k < o.n; k++) {
			free(o.v[k]);
			symbolizer_frame_free(&o.f[k]);
		}
		free(o.v);
		free(o.f);
		return NULL;
	}
	*nout = o.n;
	*info = o.f;
	return o.v;
}

void symbolizer_close_files(struct symbolizer *s)
{
	for (size_t i = 0; i < s->nslots; i++) {
		struct proc_maps *m = s->slots[i].maps;

		if (!m || !m->dwfl)
			continue;
		dwfl_end(m->dwfl);
		m->dwfl = NULL;
		free(m->session_data);
		m->session_data = NULL;
	}
}

Dwfl *symbolizer_session(struct symbolizer *s, uint32_t aspace, void ***data)
{
	struct proc_maps *m = maps_of(s, aspace);
	Dwfl *dwfl = m ? proc_maps_dwfl(m) : NULL;

	*data = dwfl ? &m->session_data : NULL;
	return dwfl;
}

void symbolizer_free(struct symbolizer *s)
{
	for (size_t i = 0; i < s->nslots; i++)
		proc_maps_put(s->slots[i].maps);
	free(s->slots);
	*s = (struct symbolizer){ 0 };
}
