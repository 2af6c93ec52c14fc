/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c: the opening stack of the syscall exit being
 * handled, taken once per exit by one global function (fdt_exit_stack(),
 * verified once whatever calls it) into a per-CPU record; the installs of
 * that exit carry only its key. The frame-pointer walk gives the key of the
 * stack in `stacks` (one copy per distinct stack, however many fds use
 * it); with DWARF unwinding on, the variant of that key the stack is
 * (struct fdt_recipe in fdtrack_shared.h, docs/design.md §4.6), a window
 * of the stack copied for user space the first time a variant is met.
 *
 * What the kernel does here is copying and comparing words at places user
 * space named: every loop has a constant bound, and every comparison is
 * straight-line code, so the verifier walks each function once.
 */
#ifndef FDTRACK_STACKS_BPF_H
#define FDTRACK_STACKS_BPF_H

#define USER_SPACE_END 0x800000000000ULL

/* The opening stack of the syscall exit being handled on this CPU, taken
 * once per exit that installs (on_syscall()) before its installs, which
 * carry only its key: pipe2, socketpair and SCM_RIGHTS install several
 * fds from one user stack. (A program never runs twice at once on a
 * CPU.) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct opening_stack);
} syscall_stacks SEC(".maps");

static __always_inline struct opening_stack *syscall_stack(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&syscall_stacks, &zero);
}

/* glibc has no frame pointers, so the frame-pointer walk skips the caller of
 * a leaf syscall wrapper. Its return address is then at [sp]; pass it on if
 * the bytes before it look like a call instruction. */
static __always_inline __u64 wrapper_retaddr(__u64 ra, bool have_ra, __u64 sp)
{
	__u8 b[8];

	/* ra: [sp] if fp_walk() read it already. Nothing is mapped below
	 * mmap_min_addr (64 KiB): do not fault on a small number. */
	if (!have_ra && bpf_probe_read_user(&ra, sizeof(ra), (void *)sp))
		return 0;
	if (ra < 65536 || ra >= USER_SPACE_END)
		return 0;
	if (bpf_probe_read_user(b, sizeof(b), (void *)(ra - 8)))
		return 0;
	if (b[3] == 0xe8 ||			       /* call rel32 */
	    (b[2] == 0xff && b[3] == 0x15) ||	       /* call *rip+x */
	    (b[2] == 0xff && (b[3] & 0xf8) == 0x90) || /* call *d32(r) */
	    (b[5] == 0xff && (b[6] & 0xf8) == 0x50) || /* call *d8(r) */
	    (b[6] == 0xff && (b[7] & 0xf8) == 0xd0))   /* call *%r */
		return ra;
	return 0;
}

/* A zeroed record of `type` for the given table, or NULL (counted). */
static __always_inline struct fdt_event *record_new(__u32 type, __u32 table,
						    const struct fdt_table *tbl)
{
	struct fdt_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&lost_events, 1);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = type;
	r->table = table;
	r->tgid = tbl->tgid;
	r->ppid = tbl->ppid;
	r->aspace = tbl->aspace;
	r->ts = bpf_ktime_get_ns();
	return r;
}

/* Tell user space to read the maps of the table's process while it lives:
 * for a stack new to the map, and for the first stack of an address
 * space. */
static __always_inline void announce_stack(__u32 table, struct fdt_table *tbl,
					   __u64 key, bool new_stack)
{
	struct fdt_event *r;
	__u32 old = tbl->flags;

	if (!new_stack) {
		if (old & FDT_T_ANNOUNCED)
			return;
		old = __sync_fetch_and_or(&tbl->flags, FDT_T_ANNOUNCED);
		if (old & FDT_T_ANNOUNCED)
			return;
	}
	r = record_new(FDT_EV_STACK, table, tbl);
	if (!r)
		return;
	r->stack = key;
	bpf_ringbuf_submit(r, 0);
}

/* The frame-pointer walk, done here rather than by bpf_get_stack(): the
 * kernel's walk reads wherever rbp points, so every stack ended in a
 * faulting read (rbp 0 at the outermost frame, or a data value in code
 * without frame pointers), and on this VM an exception per open cost more
 * than the rest of the capture. A frame is read only if it lies on the
 * stack above the previous one: [sp, sp + FP_STACK_SPAN), 8-aligned,
 * increasing. */
#define FP_STACK_SPAN (64ULL << 20)

/* The walk reads up to FP_CHUNK bytes of the stack at once, from a frame
 * to the end of its page at most (so a read faults only where the 16 bytes
 * of the frame would), and takes the frames above it from that copy: a
 * read per frame was most of the walk's cost. */
#define FP_CHUNK 512

/* The first read takes FP_FIRST bytes at sp at once: the top frames, the
 * wrapper's return address and the words the DWARF recipes check are
 * mostly there, so one read serves the walk and the variant check
 * (window_scratch's len says how much of its data is the stack at sp).
 * Near the top of a stack, where that read faults, the first read is as
 * a chunk's. Chunks go after it, at buf + FP_FIRST. */
#define FP_FIRST 2048

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

struct fp_walk {
	struct fdt_stack *s;
	__u64 fp, sp;
	__u64 base; /* user address buf[0] stands for (a chunk read at
		       address a is at buf + FP_FIRST: base = a - FP_FIRST) */
	__u64 have; /* bytes of buf that hold the stack from there */
	__u64 *buf; /* 2 * FP_FIRST bytes (window_scratch's data) */
	__u64 hash; /* of the frames so far (FNV-1a over words) */
};

static long fp_walk_cb(__u32 i, struct fp_walk *w)
{
	__u64 off = w->fp - w->base, len, next, ra;
	__u32 n = w->s->nframes;

	if (w->fp < w->sp || w->fp - w->sp >= FP_STACK_SPAN || (w->fp & 7) ||
	    n >= FDT_MAX_FRAMES)
		return 1;
	if (w->fp < w->base || off + 16 > w->have) {
		len = 4096 - (w->fp & 4095);
		if (len < 16)
			len = 16; /* the frame crosses a page */
		if (len > FP_CHUNK)
			len = FP_CHUNK;
		if (bpf_probe_read_user(w->buf + FP_FIRST / 8, len,
					(void *)w->fp))
			return 1;
		/* (the walk only goes up: never below the chunk again) */
		w->base = w->fp - FP_FIRST;
		w->have = FP_FIRST + len;
		off = FP_FIRST;
	}
	off /= 8;
	next = w->buf[off & (2 * FP_FIRST / 8 - 1)];
	ra = w->buf[(off + 1) & (2 * FP_FIRST / 8 - 1)];
	if (ra < 4096)
		return 1;
	w->s->frames[n & (FDT_MAX_FRAMES - 1)] = ra;
	w->s->nframes = n + 1;
	w->hash = (w->hash ^ ra) * FNV_PRIME;
	if (next <= w->fp)
		return 1;
	w->fp = next;
	return 0;
}

/* The stack of the current syscall into s, its key returned (the hash of
 * its frames and wrapper return address, never 0). The first read takes
 * FP_FIRST bytes at sp into win (win->len: how many of them are the stack
 * at sp). */
static __always_inline __u64 fp_walk(struct fdt_stack *s, struct pt_regs *regs,
				     struct fdt_window *win)
{
	__u64 *buf = (__u64 *)win->data;
	__u64 sp = regs->sp, ip = regs->ip, len = FP_FIRST, ra0 = 0, hash;
	struct fp_walk w = { .s = s, .fp = regs->bp, .sp = sp, .buf = buf };
	bool aligned = !(sp & 7);

	win->len = 0;
	if (aligned && bpf_probe_read_user(buf, len, (void *)sp)) {
		len = 4096 - (sp & 4095);
		if (len > FP_CHUNK)
			len = FP_CHUNK;
		if (bpf_probe_read_user(buf, len, (void *)sp))
			len = 0;
	}
	if (aligned && len) {
		w.base = sp;
		w.have = len;
		win->len = len;
		ra0 = buf[0];
	}
	s->frames[0] = ip;
	s->nframes = 1;
	w.hash = (FNV_OFFSET ^ ip) * FNV_PRIME;
	bpf_loop(FDT_MAX_FRAMES - 1, fp_walk_cb, &w, 0);
	/* [sp] was read if the first read worked (0 there: unmapped) */
	s->retaddr = wrapper_retaddr(ra0, aligned, sp);
	hash = (w.hash ^ s->retaddr) * FNV_PRIME;
	return hash ? hash : 1; /* 0 means "no stack" */
}

/* ---- DWARF variants ------------------------------------------------- */

/* Does the stack now at sp hold the recipe's return addresses? One read of
 * the span, then its nslots slots compared, differences or'ed together (no
 * early exit per slot): a loop of constant bound, 32, that stops at
 * nslots. A global function: verified once for its two callers. */
__noinline int fdt_recipe_matches(__u64 sp, const struct fdt_recipe *r)
{
	struct fdt_window *scratch;
	__u32 span, n, zero = 0;
	const __u64 *words;
	__u64 x = 0;

	scratch = bpf_map_lookup_elem(&window_scratch, &zero);
	if (!r || !scratch)
		return 0;
	words = (const __u64 *)scratch->data;
	span = r->span;
	n = r->nslots;
	if (!n)
		return 1; /* not unwindable: one variant for the key */
	if (span < 8 || span > FDT_WINDOW_BYTES || n > FDT_RECIPE_SLOTS)
		return 0;
	if (span > scratch->len) { /* more than the walk read at sp */
		scratch->len = 0;
		if (bpf_probe_read_user(scratch->data, span, (void *)sp))
			return 0;
		scratch->len = span;
	}
#pragma nounroll
	for (__u32 i = 0; i < FDT_RECIPE_SLOTS; i++) {
		if (i >= n)
			break; /* (most recipes have a few slots) */
		x |= words[(r->off[i] / 8) & (FDT_WINDOW_BYTES / 8 - 1)] ^
		     r->val[i];
	}
	return x == 0;
}

/* Copy the window of a new variant (as much of FDT_WINDOW_BYTES as is
 * mapped above sp) and tell user space. */
static __always_inline bool window_copy(__u32 table, struct fdt_table *tbl,
					struct pt_regs *r,
					struct fdt_unwind_key *wkey,
					struct fdt_window *w)
{
	struct fdt_event *e;
	__u64 sp = r->sp;
	__u32 len = FDT_WINDOW_BYTES;

	/* a stack near the top of its mapping: smaller windows */
	w->len = 0;
	while (len >= 512 && bpf_probe_read_user(w->data, len, (void *)sp))
		len /= 2;
	if (len < 512)
		return false;
	w->len = len;
	w->regs[0] = r->ax;
	w->regs[1] = r->dx;
	w->regs[2] = r->cx;
	w->regs[3] = r->bx;
	w->regs[4] = r->si;
	w->regs[5] = r->di;
	w->regs[6] = r->bp;
	w->regs[7] = sp;
	w->regs[8] = r->r8;
	w->regs[9] = r->r9;
	w->regs[10] = r->r10;
	w->regs[11] = r->r11;
	w->regs[12] = r->r12;
	w->regs[13] = r->r13;
	w->regs[14] = r->r14;
	w->regs[15] = r->r15;
	w->regs[16] = r->ip;
	if (bpf_map_update_elem(&windows, wkey, w, BPF_NOEXIST))
		return false;
	e = record_new(FDT_EV_WINDOW, table, tbl);
	if (e) { /* lost: user space looks for windows at every report */
		e->stack = wkey->stack;
		e->aspace = wkey->aspace;
		e->variant = wkey->variant;
		bpf_ringbuf_submit(e, 0);
	}
	return true;
}

struct variant_search {
	__u64 sp;
	struct fdt_window *scratch;
	struct fdt_unwind_key key;
	__u32 found;
};

static long variant_cb(__u32 i, struct variant_search *vs)
{
	struct fdt_recipe *r;

	vs->key.variant = i;
	r = bpf_map_lookup_elem(&recipes, &vs->key);
	if (!r || !fdt_recipe_matches(vs->sp, r))
		return 0;
	vs->found = i;
	return 1;
}

struct diff_scan {
	const __u64 *now;  /* the stack from sp, as read now */
	const __u64 *then; /* a variant's window */
	struct opening_stack *out;
	__u32 n;
	__u32 w0; /* the chunk being looked at word by word */
};

/* Words compared per callback: a callback per word (1,024 for a full
 * window) cost microseconds per open while a variant waits to be unwound.
 * Windows are multiples of 512 bytes. */
#define DIFF_CHUNK 16

static long diff_word_cb(__u32 k, struct diff_scan *d)
{
	__u32 w = (d->w0 + k) & (FDT_WINDOW_BYTES / 8 - 1);

	if (d->now[w] == d->then[w])
		return 0;
	if (d->n >= FDT_MAX_DIFFS) {
		d->n = FDT_MAX_DIFFS + 1;
		return 1;
	}
	d->out->diff[d->n & (FDT_MAX_DIFFS - 1)] = w;
	d->n++;
	return 0;
}

static long diff_cb(__u32 i, struct diff_scan *d)
{
	__u32 w0 = (i * DIFF_CHUNK) & (FDT_WINDOW_BYTES / 8 - DIFF_CHUNK);
	__u64 x = 0;

#pragma unroll
	for (__u32 k = 0; k < DIFF_CHUNK; k++)
		x |= d->now[w0 + k] ^ d->then[w0 + k];
	if (!x)
		return 0;
	/* word by word only where they differ */
	d->w0 = w0;
	bpf_loop(DIFF_CHUNK, diff_word_cb, d, 0);
	return d->n > FDT_MAX_DIFFS;
}

/* Variant v is not unwound yet (its window waits in `windows`): is this
 * stack the same as its window but in a few words? Then it is variant v
 * provisionally, the differing words kept (user space decides later, once
 * it knows where the return addresses are). */
static __always_inline bool provisional(__u64 sp, struct fdt_unwind_key *wkey,
					struct fdt_window *scratch,
					struct opening_stack *out)
{
	struct fdt_window *w = bpf_map_lookup_elem(&windows, wkey);
	struct diff_scan d = { .now = (__u64 *)scratch->data, .out = out };
	__u32 len;

	if (!w)
		return false;
	len = w->len;
	if (len < 8 || len > FDT_WINDOW_BYTES || len % (8 * DIFF_CHUNK))
		return false;
	if (len > scratch->len) {
		scratch->len = 0;
		if (bpf_probe_read_user(scratch->data, len, (void *)sp))
			return false;
		scratch->len = len;
	}
	d.then = (__u64 *)w->data;
	bpf_loop(len / (8 * DIFF_CHUNK), diff_cb, &d, 0);
	if (d.n > FDT_MAX_DIFFS)
		return false;
	out->variant = wkey->variant;
	out->ndiff = d.n;
	return true;
}

/* The variants found last on this CPU, by stack key: a hit (same key,
 * address space, recipes_gen and collection round, and the stack matches
 * the copied recipe) skips the lookups of the unwind state and the
 * recipes. User space bumps recipes_gen when it writes or deletes a recipe;
 * a new collection round (gc_gen) makes the next open take the long way,
 * which marks the state as used. */
#define VARIANT_CACHE 8

struct variant_cache_entry {
	__u64 key;
	__u32 aspace;
	__u32 gen;
	__u32 gc_gen;
	__u32 variant;
	struct fdt_recipe recipe;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VARIANT_CACHE);
	__type(key, __u32);
	__type(value, struct variant_cache_entry);
} variant_cache SEC(".maps");

/* The variant of the exit's stack (its key in this CPU's syscall_stacks
 * record, set by fdt_exit_stack()), into that record: one whose recipe its
 * stack matches, or
 * provisionally the newest one not unwound yet, or a new one (a window
 * copied), or FDT_NO_VARIANT (all FDT_VARIANTS taken, or a table full:
 * counted in unwinds_dropped). A global function: verified once. */
__noinline int fdt_dwarf_variant(__u32 table)
{
	struct variant_search vs = {
		.key = { .variant = FDT_NO_VARIANT },
		.found = FDT_NO_VARIANT,
	};
	struct fdt_unwind_state zero_state = {}, *st;
	struct opening_stack *out = syscall_stack();
	struct fdt_table *tbl = table_of(table);
	struct variant_cache_entry *c;
	__u32 zero = 0, n, v, ci, gen;
	struct fdt_recipe *r;
	struct pt_regs *regs;
	__u64 key;

	if (!out || !tbl || !out->key)
		return 0;
	key = out->key;
	vs.key.stack = key;
	ci = (__u32)key & (VARIANT_CACHE - 1);
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	vs.sp = regs->sp;
	vs.key.aspace = tbl->aspace;
	vs.scratch = bpf_map_lookup_elem(&window_scratch, &zero);
	if (!vs.scratch)
		return 0;
	gen = *(volatile __u32 *)&recipes_gen;
	c = bpf_map_lookup_elem(&variant_cache, &ci);
	if (c && c->key == key && c->aspace == vs.key.aspace && c->gen == gen &&
	    c->gc_gen == gc_gen && fdt_recipe_matches(vs.sp, &c->recipe)) {
		out->variant = c->variant;
		return 0;
	}
	st = bpf_map_lookup_elem(&unwinds, &vs.key);
	if (!st) {
		bpf_map_update_elem(&unwinds, &vs.key, &zero_state,
				    BPF_NOEXIST);
		st = bpf_map_lookup_elem(&unwinds, &vs.key);
		if (!st)
			goto dropped;
	}
	if (st->gc_gen != gc_gen)
		st->gc_gen = gc_gen;
	n = *(volatile __u32 *)&st->nvariants;
	bpf_loop(n < FDT_VARIANTS ? n : FDT_VARIANTS, variant_cb, &vs, 0);
	if (vs.found != FDT_NO_VARIANT) {
		out->variant = vs.found;
		vs.key.variant = vs.found;
		r = bpf_map_lookup_elem(&recipes, &vs.key);
		if (c && r) {
			c->key = key;
			c->aspace = vs.key.aspace;
			c->gen = gen;
			c->gc_gen = gc_gen;
			c->variant = vs.found;
			__builtin_memcpy(&c->recipe, r, sizeof(*r));
		}
		return 0;
	}
	vs.key.variant = n - 1;
	if (n && n <= FDT_VARIANTS && provisional(vs.sp, &vs.key, vs.scratch, out))
		return 0;
	if (n >= FDT_VARIANTS)
		goto dropped;
	v = __sync_fetch_and_add(&st->nvariants, 1);
	if (v >= FDT_VARIANTS)
		goto dropped;
	vs.key.variant = v;
	if (window_copy(table, tbl, regs, &vs.key, vs.scratch)) {
		out->variant = v;
		return 0;
	}
dropped:
	__sync_fetch_and_add(&unwinds_dropped, 1);
	return 0;
}

/* ---- the stack of a syscall exit ------------------------------------ */

/* The calling thread's user stack, into this CPU's syscall_stacks
 * record: its key in the stacks map (added if new); fdt_dwarf_variant()
 * then finds its variant. Key 0: the map full, or two stacks with one
 * hash (stacks_dropped). A global function: verified once. */
__noinline int fdt_exit_stack(__u32 table)
{
	struct opening_stack *out = syscall_stack();
	struct fdt_table *tbl = table_of(table);
	struct fdt_stack *s, *known;
	struct fdt_window *buf;
	struct pt_regs *regs;
	__u32 zero = 0;
	__u64 key;
	int err;

	if (!out || !tbl)
		return 0;
	out->key = 0;
	out->variant = FDT_NO_VARIANT;
	out->ndiff = FDT_PROVEN;
	s = bpf_map_lookup_elem(&stack_scratch, &zero);
	buf = bpf_map_lookup_elem(&window_scratch, &zero);
	if (!s || !buf)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	key = fp_walk(s, regs, buf);
	s->gc_gen = gc_gen;
	known = bpf_map_lookup_elem(&stacks, &key);
	if (known) {
		if (known->nframes != s->nframes ||
		    known->retaddr != s->retaddr ||
		    known->frames[0] != s->frames[0]) {
			/* two stacks, one 64-bit hash: never show a wrong one */
			__sync_fetch_and_add(&stacks_dropped, 1);
			return 0;
		}
		if (known->gc_gen != gc_gen)
			known->gc_gen = gc_gen;
		announce_stack(table, tbl, key, false);
	} else {
		err = bpf_map_update_elem(&stacks, &key, s, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			__sync_fetch_and_add(&stacks_dropped, 1);
			return 0;
		}
		if (!err)
			__sync_fetch_and_add(&stacks_added, 1);
		announce_stack(table, tbl, key, !err);
	}
	out->key = key;
	return 0;
}

/* The opening stack of the exit being handled: taken once, before its
 * installs. */
static __always_inline void take_exit_stack(__u32 table)
{
	if (!want_stacks)
		return;
	fdt_exit_stack(table);
	if (want_dwarf)
		fdt_dwarf_variant(table);
}

/* After an entry took stack key `key` (taken by fdt_exit_stack() in this
 * run of the program, so the scratch still holds it): if the collector in
 * user space deleted it meanwhile (it scanned the entries before ours was
 * set), put it back. Together with the collector's second scan this keeps
 * every live entry's stack (procs_collect_stacks()). */
static __always_inline void keep_stack(__u64 key)
{
	struct fdt_stack *s;
	__u32 zero = 0;

	if (!key || bpf_map_lookup_elem(&stacks, &key))
		return;
	s = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (s && bpf_map_update_elem(&stacks, &key, s, BPF_NOEXIST) == -E2BIG)
		__sync_fetch_and_add(&stacks_dropped, 1);
}

#endif
