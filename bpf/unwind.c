/*
 * fdtrack's DWARF unwinder (unwind.h): a window of user stack and the
 * registers at the syscall, unwound with libdwfl over the address space's
 * copy of /proc/PID/maps (a symbolizer's), reading memory only from the
 * window. It knows nothing of the tracker: the window comes in, the frames
 * and a recipe go out (windows.c moves them between it and the kernel).
 */
#include "unwind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <elfutils/libdwfl.h>

#include "clock.h"
#include "symbolize.h"

#define DWARF_SP 7 /* x86_64 DWARF register number of rsp */

/* The window being unwound: libdwfl's callbacks get it as their argument
 * (one per session, pointed at each window in turn). */
struct unwind_session {
	const struct fdt_window *w;
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_arg)
{
	(void)dwfl;
	(void)arg;
	(void)thread_arg;
	return 0; /* threads are asked for by number only */
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_arg)
{
	(void)dwfl;
	(void)tid;
	*thread_arg = arg;
	return true;
}

/* Stack memory comes from the window alone: nothing else was copied. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result,
			void *arg)
{
	const struct unwind_session *s = arg;
	uint64_t sp = s->w->regs[DWARF_SP];

	(void)dwfl;
	if (addr < sp || addr - sp > s->w->len - sizeof(*result))
		return false;
	memcpy(result, s->w->data + (addr - sp), sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	const struct unwind_session *s = arg;
	Dwarf_Word regs[FDT_DWARF_REGS];

	for (int i = 0; i < FDT_DWARF_REGS; i++)
		regs[i] = s->w->regs[i];
	return dwfl_thread_state_registers(thread, 0, FDT_DWARF_REGS, regs);
}

static const Dwfl_Thread_Callbacks callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

/* What one unwind gathers: the frames, and where their return addresses
 * were read (the recipe). */
struct walk {
	const struct fdt_window *w;
	struct unwound *out;
	struct fdt_recipe *recipe;
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct walk *k = arg;
	uint64_t sp0 = k->w->regs[DWARF_SP];
	Dwarf_Addr pc;
	Dwarf_Word sp;
	bool activation;
	struct fdt_recipe *r = k->recipe;

	if (k->out->n >= FDT_MAX_FRAMES ||
	    !dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	if (k->out->n > 0) {
		/* x86_64: a return address sits just below the caller's CFA,
		 * which is this frame's rsp */
		if (dwfl_frame_reg(state, DWARF_SP, &sp) || sp < sp0 + 8 ||
		    sp - 8 - sp0 > k->w->len - 8)
			return DWARF_CB_ABORT;
		if (r->nslots < FDT_RECIPE_SLOTS) {
			r->off[r->nslots] = sp - 8 - sp0;
			r->val[r->nslots] = pc;
			r->nslots++;
			if (sp - sp0 > r->span)
				r->span = sp - sp0;
		}
	}
	k->out->pcs[k->out->n++] = pc;
	return DWARF_CB_OK;
}

/* Unwind window w of aspace into out and recipe (nslots 0: could not). */
static void unwind_one(struct symbolizer *sym, uint32_t aspace,
		       const struct fdt_window *w, struct unwound *out,
		       struct fdt_recipe *recipe)
{
	void **data;
	Dwfl *dwfl = symbolizer_session(sym, aspace, &data);
	struct unwind_session *s;
	struct walk k = { .w = w, .out = out, .recipe = recipe };

	if (!dwfl || w->len < 8 || w->len > FDT_WINDOW_BYTES)
		return;
	if (!*data) { /* a session is attached once, then reused */
		s = calloc(1, sizeof(*s));
		if (!s || !dwfl_attach_state(dwfl, NULL, 1, &callbacks, s)) {
			free(s);
			return;
		}
		*data = s;
	}
	s = *data;
	s->w = w;
	dwfl_getthread_frames(dwfl, 1, frame_cb, &k); /* ends at the window */
	s->w = NULL;
	if (out->n < 2) { /* no CFI for the rip (JIT code, ...) */
		out->n = 0;
		memset(recipe, 0, sizeof(*recipe));
	}
}

static struct unwound *result_slot(struct unwinder *u)
{
	if (u->n == u->cap) {
		size_t ncap = u->cap ? 2 * u->cap : 64;
		struct unwound *bigger = realloc(u->v, ncap * sizeof(*bigger));

		if (!bigger)
			return NULL;
		u->v = bigger;
		u->cap = ncap;
	}
	return memset(&u->v[u->n++], 0, sizeof(*u->v));
}

static bool same_frames_as_earlier(const struct unwinder *u,
				   const struct unwound *r)
{
	for (size_t i = 0; i < u->n; i++)
		if (&u->v[i] != r && u->v[i].key.stack == r->key.stack &&
		    u->v[i].key.aspace == r->key.aspace && u->v[i].n == r->n &&
		    !memcmp(u->v[i].pcs, r->pcs, r->n * sizeof(r->pcs[0])))
			return true;
	return false;
}

/* Did the unwind end where unwinding should: every pc in a module the maps
 * know (the last one may be the outermost frame or the window's end)? */
static bool unwound_whole(struct symbolizer *sym, uint32_t aspace,
			  const struct fdt_window *w, const struct unwound *out)
{
	if (!symbolizer_covers(sym, aspace, w->regs[16]))
		return false;
	for (size_t i = 0; i < out->n; i++)
		if (!symbolizer_covers(sym, aspace, out->pcs[i]))
			return false;
	return true;
}

int unwinder_add(struct unwinder *u, struct symbolizer *sym,
		 const struct maps_source *maps,
		 const struct fdt_unwind_key *key, const struct fdt_window *w,
		 struct fdt_recipe *recipe)
{
	struct unwound *out;

	memset(recipe, 0, sizeof(*recipe));
	recipe->nslots = recipe->span = FDT_WINDOW_BYTES * 2; /* none */
	if (unwind_find(u, key))
		return 0; /* unwound already (a record and a scan both) */
	out = result_slot(u);
	if (!out)
		return -ENOMEM;
	memset(recipe, 0, sizeof(*recipe));
	out->key = *key;
	/* maps first: a window record may be the first of its process */
	maps->read(maps->ctx, key->aspace, false);
	unwind_one(sym, key->aspace, w, out, recipe);
	if (!unwound_whole(sym, key->aspace, w, out)) {
		/* a module mapped since the maps were read (dlopen): read
		 * them again, unwind again */
		maps->read(maps->ctx, key->aspace, true);
		out->n = 0;
		memset(recipe, 0, sizeof(*recipe));
		unwind_one(sym, key->aspace, w, out, recipe);
	}
	u->last_ns = mono_ns();
	/* the call path of an earlier variant: later opens find that one; no
	 * recipe makes this one cost them a failed lookup */
	out->recipe = *recipe;
	if (same_frames_as_earlier(u, out))
		recipe->nslots = recipe->span = FDT_WINDOW_BYTES * 2;
	u->unwound++;
	return 0;
}

/* A second after the last unwind, close the ELF files it opened: a watched
 * process should not hold them (they reopen at the next unwind). */
void unwinder_idle(struct unwinder *u, struct symbolizer *sym)
{
	if (u->last_ns && mono_ns() - u->last_ns > 1000000000) {
		symbolizer_close_files(sym);
		u->last_ns = 0;
	}
}

const struct unwound *unwind_find(const struct unwinder *u,
				  const struct fdt_unwind_key *key)
{
	for (size_t i = u->n; i-- > 0;)
		if (u->v[i].key.stack == key->stack &&
		    u->v[i].key.aspace == key->aspace &&
		    u->v[i].key.variant == key->variant)
			return &u->v[i];
	return NULL;
}

uint8_t unwind_resolve(const struct unwinder *u, const struct fdt_fd_entry *v)
{
	struct fdt_unwind_key key = { .stack = v->stack,
				      .aspace = v->aspace,
				      .variant = v->variant };
	const struct unwound *r;

	if (v->ndiff == FDT_PROVEN || v->variant == FDT_NO_VARIANT)
		return v->variant;
	r = unwind_find(u, &key);
	if (!r || v->ndiff > FDT_MAX_DIFFS)
		return FDT_NO_VARIANT;
	for (unsigned i = 0; i < r->recipe.nslots && i < FDT_RECIPE_SLOTS; i++)
		for (unsigned j = 0; j < v->ndiff; j++)
			if (r->recipe.off[i] / 8 == v->diff[j])
				return FDT_NO_VARIANT; /* another call path */
	return v->variant;
}

void unwind_forget(struct unwinder *u, uint64_t stack)
{
	size_t kept = 0;

	for (size_t i = 0; i < u->n; i++)
		if (u->v[i].key.stack != stack)
			u->v[kept++] = u->v[i];
	u->n = kept;
}

void unwinder_free(struct unwinder *u)
{
	free(u->v);
	*u = (struct unwinder){ 0 };
}
