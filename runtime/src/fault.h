/*
 * Fault injection for the resource acquisitions of executor creation. Only
 * the test build of the library (-DREX_FAULT_INJECTION) has it; in the real
 * library REX_FAULT() is the constant 0.
 *
 * Tests call rex_fault_fail_nth(n): the n-th acquisition from then on fails
 * (1-based); rex_fault_fail_nth(0) turns it off. rex_fault_hits() says how
 * many acquisitions were counted since the last call to fail_nth.
 */
#ifndef REX_FAULT_H
#define REX_FAULT_H

#ifdef REX_FAULT_INJECTION
#include <stddef.h>
int rex_fault_hit(void);
void rex_fault_fail_nth(unsigned n);
unsigned rex_fault_hits(void);
#define REX_FAULT() rex_fault_hit()

/* How often teardown closed an fd returned by an abandoned openat: lets a
 * test prove it exercised that path rather than passing vacuously. */
void rex_fault_note_orphan_fd(void);
unsigned long rex_fault_orphan_fds(void);
#define REX_NOTE_ORPHAN_FD() rex_fault_note_orphan_fd()

/* Called by a foreign waker inside its guard, with the eventfd's number in
 * hand, just before it writes: lets a test hold a waker exactly there while
 * the executor is freed. NULL (the default) does nothing. */
void rex_fault_set_wake_write_hook(void (*hook)(void));
void rex_fault_wake_write_hook(void);
#define REX_WAKE_WRITE_HOOK() rex_fault_wake_write_hook()

/* The test build also counts librex's live heap blocks, exactly (mallinfo
 * cannot: it counts blocks cached in tcache as in use). */
long rex_fault_live_allocs(void);
void *rex_counted_malloc(size_t n);
void *rex_counted_calloc(size_t n, size_t size);
void *rex_counted_realloc(void *p, size_t n);
void *rex_counted_aligned_alloc(size_t align, size_t n);
void rex_counted_free(void *p);
#ifndef REX_FAULT_IMPL
#define malloc	      rex_counted_malloc
#define calloc	      rex_counted_calloc
#define realloc	      rex_counted_realloc
#define aligned_alloc rex_counted_aligned_alloc
#define free	      rex_counted_free
#endif
#else
#define REX_FAULT()	      0
#define REX_NOTE_ORPHAN_FD()  ((void)0)
#define REX_WAKE_WRITE_HOOK() ((void)0)
#endif

#endif
