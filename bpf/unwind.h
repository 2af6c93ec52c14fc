/*
 * fdtrack's DWARF unwinder (internal to the library): the windows of user
 * stack the kernel side copied (struct fdt_window, one per variant of a
 * frame-pointer stack, docs/design.md §4.6) unwound with the CFI of the
 * mapped files, as perf's --call-graph dwarf does, through libdwfl with our
 * own memory and register callbacks (perf's util/unwind-libdw.c does the
 * same). Each result is kept here, and a recipe is written back to the
 * kernel so that later opens of the same call path find their variant.
 */
#ifndef FDTRACK_UNWIND_H
#define FDTRACK_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/bpf.h> /* struct bpf_spin_lock of the shared types */
#include <linux/types.h>

#include "fdtrack_shared.h"

struct symbolizer;

/* One unwound variant: the frames' addresses (the first the rip at the
 * syscall, the others return addresses). n 0: it could not be unwound. */
struct unwound {
	struct fdt_unwind_key key;
	unsigned n;
	uint64_t pcs[FDT_MAX_FRAMES];
	struct fdt_recipe recipe; /* where its return addresses are */
};

struct unwinder {
	struct unwound *v;
	size_t n, cap;
	uint64_t unwound; /* windows unwound so far */
	uint64_t last_ns; /* when the last one was (0: files closed) */
};

/* Where the unwinder gets an address space's maps into the symbolizer:
 * read(ctx, aspace, again) reads them if not yet (again: anew, a module
 * was mapped since, dlopen). */
struct maps_source {
	void (*read)(void *ctx, uint32_t aspace, bool again);
	void *ctx;
};

/* Unwind window w of key into u (unwind_find() finds it then), with the
 * address space's maps (from maps) through sym; *recipe gets what the
 * kernel side needs to tell the variant (nslots 0: not unwindable; more
 * than FDT_RECIPE_SLOTS: none to write, unwound already or the frames of
 * an earlier variant). 0, or -ENOMEM. */
int unwinder_add(struct unwinder *u, struct symbolizer *sym,
		 const struct maps_source *maps,
		 const struct fdt_unwind_key *key, const struct fdt_window *w,
		 struct fdt_recipe *recipe);
/* A second after the last window was unwound, close the files libdwfl
 * opened for it: a process that watches itself (exstress) would otherwise
 * hold them, and its /proc sampler reads every fd it holds. */
void unwinder_idle(struct unwinder *u, struct symbolizer *sym);
/* The result for key, or NULL (not unwound: frame pointers only). */
const struct unwound *unwind_find(const struct unwinder *u,
				  const struct fdt_unwind_key *key);
/* The variant an entry's stack is once the windows are unwound: a
 * provisional one (fdt_fd_entry.ndiff) is that variant if none of the words
 * its stack differed in is a return address of the variant's recipe, else
 * FDT_NO_VARIANT (frame pointers only). */
uint8_t unwind_resolve(const struct unwinder *u, const struct fdt_fd_entry *v);
/* Forget the results of stack keys the collector deleted. */
void unwind_forget(struct unwinder *u, uint64_t stack);
void unwinder_free(struct unwinder *u);

#endif
