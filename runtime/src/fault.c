/* Fault injection points, compiled only into the test build (fault.h). */
#define REX_FAULT_IMPL
#include "fault.h"

#ifdef REX_FAULT_INJECTION
#include <stdatomic.h>
#include <stdlib.h>

static _Thread_local unsigned fail_at;
static _Thread_local unsigned hits;

void rex_fault_fail_nth(unsigned n)
{
	fail_at = n;
	hits = 0;
}

unsigned rex_fault_hits(void)
{
	return hits;
}

int rex_fault_hit(void)
{
	hits++;
	return fail_at != 0 && hits == fail_at;
}

static _Atomic unsigned long orphan_fds;

void rex_fault_note_orphan_fd(void)
{
	atomic_fetch_add(&orphan_fds, 1);
}

unsigned long rex_fault_orphan_fds(void)
{
	return atomic_load(&orphan_fds);
}

static void (*_Atomic wake_write_hook)(void);

void rex_fault_set_wake_write_hook(void (*hook)(void))
{
	atomic_store(&wake_write_hook, hook);
}

void rex_fault_wake_write_hook(void)
{
	void (*hook)(void) = atomic_load(&wake_write_hook);
	if (hook)
		hook();
}

static _Atomic long live_allocs;

long rex_fault_live_allocs(void)
{
	return atomic_load(&live_allocs);
}

static void *counted(void *p)
{
	if (p)
		atomic_fetch_add(&live_allocs, 1);
	return p;
}

void *rex_counted_malloc(size_t n)
{
	return counted(malloc(n));
}

void *rex_counted_calloc(size_t n, size_t size)
{
	return counted(calloc(n, size));
}

void *rex_counted_aligned_alloc(size_t align, size_t n)
{
	return counted(aligned_alloc(align, n));
}

void *rex_counted_realloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!p && q)
		atomic_fetch_add(&live_allocs, 1);
	return q;
}

void rex_counted_free(void *p)
{
	if (p)
		atomic_fetch_sub(&live_allocs, 1);
	free(p);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int rex_fault_unused;
#endif
