/*
 * fdtrack's symbolisation (internal to the library; the role of
 * libbpf-tools' trace_helpers.c): copies of /proc/PID/maps, one per address
 * space of a followed process, kept so that stacks still resolve after the
 * process exec'd or exited; DWARF lookups with elfutils' libdwfl, cached
 * per address.
 *
 * Address spaces are the kernel side's ids (a new one at every exec and
 * fork). A forked child shares its parent's copy until it gets its own. A
 * slot lives while someone holds it: a running process in it, or a report
 * whose stacks were taken in it.
 */
#ifndef FDTRACK_SYMBOLIZE_H
#define FDTRACK_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_maps;

struct aspace_slot {
	uint32_t aspace;
	uint32_t from; /* forked from (same layout), 0: none */
	unsigned holders;
	struct proc_maps *maps; /* NULL: none read yet */
};

struct symbolizer {
	struct aspace_slot *slots;
	size_t nslots, cap;
	bool raw_symbols; /* C++ and Rust names left mangled */
};

struct fdtrack_frame;

/* Read /proc/PID/maps; the text (malloc'd) and its length, or NULL. */
char *proc_maps_read(pid_t pid, size_t *len);

/* Hold / release address space aspace (its slot goes with the last
 * holder). */
void symbolizer_hold(struct symbolizer *s, uint32_t aspace);
void symbolizer_release(struct symbolizer *s, uint32_t aspace);

/* Keep text (from proc_maps_read, ownership passes) as aspace's copy. */
void symbolizer_store(struct symbolizer *s, uint32_t aspace, char *text,
		      size_t len);

/* aspace (a forked child's) uses from's copy until it gets its own (from
 * is held as long as aspace is). */
void symbolizer_alias(struct symbolizer *s, uint32_t aspace, uint32_t from);

/* Is there a copy for aspace, and is addr in one of its executable
 * mappings? */
bool symbolizer_has(struct symbolizer *s, uint32_t aspace);
bool symbolizer_covers(struct symbolizer *s, uint32_t aspace, uint64_t addr);

/* The frames of one stack as strings, "function (file:line)" or
 * "function+0xoff (module)" or "0xaddr", and as parts (*info): the n
 * addresses pcs[] resolved in aspace's copy, each preceded by the calls
 * the compiler inlined there (innermost first), *nout in all. NULL if out
 * of memory; free each string and the array, symbolizer_frame_free() each
 * part and free the array. */
char **symbolizer_frames(struct symbolizer *s, uint32_t aspace,
			 const uint64_t *pcs, unsigned n, unsigned *nout,
			 struct fdtrack_frame **info);
void symbolizer_frame_free(struct fdtrack_frame *f);

/* The libdwfl session of aspace's copy (built on first use; NULL: no copy)
 * and, in *data, a slot for the caller's own data for that session (freed
 * with free() when the session goes). */
struct Dwfl;
struct Dwfl *symbolizer_session(struct symbolizer *s, uint32_t aspace,
				void ***data);

/* Close the files libdwfl holds open (the mapped ELF files); the symbols
 * already resolved stay cached, and the files are opened again when a new
 * address needs them. */
void symbolizer_close_files(struct symbolizer *s);

/* Free every copy and its caches. */
void symbolizer_free(struct symbolizer *s);

#endif
