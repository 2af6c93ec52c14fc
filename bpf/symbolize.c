/*
 * fdtrack's symbolisation: copies of /proc/PID/maps and libdwfl lookups
 * (symbolize.h). Symbols are resolved only when a report asks for them,
 * never while events arrive, and cached per address.
 */
#include "symbolize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>

#include "fdtrack.h"

struct exec_range {
	uint64_t start, end;
};

/* What one code address resolves to (a cache slot). */
struct symbol_slot {
	uint64_t addr;
	char *str;    /* the frame as printed; NULL: free slot */
	char *symbol; /* function (demangled unless raw), NULL: unknown */
	char *file;   /* source file's base name, NULL: unknown */
	int line;
	char *module; /* mapped file's base name, NULL: unknown */
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
	if (slot->symbol && slot->file)
		(void)!asprintf(&out, "%s (%s:%d)", slot->symbol, slot->file,
				slot->line);
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

/* addr resolved (cached in m when there is one): its string (malloc'd)
 * and its parts in *f; NULL if out of memory. */
static char *symbol_of(struct proc_maps *m, uint64_t addr, bool raw,
		       struct fdtrack_frame *f)
{
	struct symbol_slot *slot, tmp;
	char *str;
	size_t j;

	if (!m) {
		describe(NULL, addr, raw, &tmp);
		str = tmp.str && frame_from_slot(&tmp, f) ? strdup(tmp.str)
							  : NULL;
		slot_free(&tmp);
		return str;
	}
	if (m->nsym * 2 >= m->symcap && symbol_cache_grow(m))
		return NULL;
	for (j = addr_hash(addr); m->sym[j & (m->symcap - 1)].str; j++)
		if (m->sym[j & (m->symcap - 1)].addr == addr)
			break;
	slot = &m->sym[j & (m->symcap - 1)];
	if (!slot->str) {
		describe(m, addr, raw, slot);
		if (!slot->str) {
			slot_free(slot);
			memset(slot, 0, sizeof(*slot));
			return NULL;
		}
		m->nsym++;
	}
	return frame_from_slot(slot, f) ? strdup(slot->str) : NULL;
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
			 const uint64_t *pcs, unsigned n,
			 struct fdtrack_frame **info)
{
	struct proc_maps *m = maps_of(s, aspace);
	char **v = calloc(n ? n : 1, sizeof(*v));
	struct fdtrack_frame *f = calloc(n ? n : 1, sizeof(*f));

	if (!v || !f) {
		free(v);
		free(f);
		return NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		v[i] = symbol_of(m, pcs[i], s->raw_symbols, &f[i]);
		if (!v[i]) {
			for (unsigned k = 0; k <= i; k++) {
				free(v[k]);
				symbolizer_frame_free(&f[k]);
			}
			free(v);
			free(f);
			return NULL;
		}
	}
	*info = f;
	return v;
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
