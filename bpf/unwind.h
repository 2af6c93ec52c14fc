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

struct fdtrack;

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

/* Unwind the window of key (a WINDOW record), write its recipe, delete
 * it. 0, or -ENOMEM. */
int unwind_window(struct fdtrack *t, const struct fdt_unwind_key *key);
/* A second after the last window was unwound, close the files libdwfl
 * opened for it: a process that watches itself (exstress) would otherwise
 * hold them, and its /proc sampler reads every fd it holds. */
void unwind_idle(struct fdtrack *t);
/* Every window still waiting (a record lost, or not yet read): before a
 * report. */
int unwind_pending(struct fdtrack *t);
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
