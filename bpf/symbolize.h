/*
 * fdtrack's symbolisation (internal to the library; the role of
 * libbpf-tools' trace_helpers.c): copies of /proc/PID/maps, one per address
 * space of the target, kept so that stacks still resolve after the target
 * exec'd or exited; DWARF lookups with elfutils' libdwfl, cached per address.
 */
#ifndef FDTRACK_SYMBOLIZE_H
#define FDTRACK_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One copy of /proc/PID/maps and the symbols resolved in it. */
struct proc_maps;

/* Every copy taken for one target, by address-space generation. */
struct symbolizer {
	struct proc_maps *maps;
};

/* The copy for address-space generation gen, or NULL. */
struct proc_maps *symbolizer_maps(struct symbolizer *s, uint32_t gen);

/* Is addr in an executable mapping of m (false for m == NULL)? */
bool proc_maps_covers(const struct proc_maps *m, uint64_t addr);

/* Read /proc/PID/maps; the text (malloc'd) and its length, or NULL. */
char *proc_maps_read(pid_t pid, size_t *len);

/* Keep text (from proc_maps_read, ownership passes) as generation gen's
 * copy, replacing an older copy of the same generation. */
void symbolizer_store(struct symbolizer *s, uint32_t gen, char *text,
		      size_t len);

/* The frames of one stack as strings, "function (file:line)" or
 * "function+0xoff (module)" or "0xaddr": the n addresses pcs[] resolved in
 * generation gen's copy. NULL if out of memory; free each and the array. */
char **symbolizer_frames(struct symbolizer *s, uint32_t gen,
			 const uint64_t *pcs, unsigned n);

/* Free every copy and its caches. */
void symbolizer_free(struct symbolizer *s);

#endif
