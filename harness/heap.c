/*
 * Exact heap accounting for exstress's own process: malloc, free and the
 * rest are defined here, in the executable, so every allocation of the
 * process (librex, libbpf, glibc's own) passes through them and on to
 * glibc's __libc_* functions. Two atomic counters give the live bytes
 * (malloc_usable_size: what the allocator handed out, not what was asked)
 * and the live allocations, exactly, at any moment every thread is quiet,
 * which is the case at each iteration boundary. glibc's per-thread caches
 * (tcache, fastbins) sit below this layer, so they cannot blur the count
 * as they blur mallinfo2().
 *
 * Where the growth was allocated: during the tracked iterations (see
 * exs_heap_track) each allocation also records its call stack (glibc's
 * backtrace(), which unwinds with DWARF CFI, so frames through glibc are
 * kept) in a table keyed by address; frees remove their entries, so what
 * is left at the end is exactly the tracked allocations still live.
 *
 * Blind spots (harness/README.md): memory not from malloc (mmap'd io_uring
 * rings and thread stacks: the VSZ/RSS checks see those), and sanitizer
 * builds, whose runtimes replace malloc themselves (then the heap check is
 * reported as not available, never as a pass).
 */
#include "exstress.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if EXS_SANITIZED

int exs_heap_init(int on, int track_sites)
{
	(void)track_sites;
	return on ? -ENOTSUP : 0;
}

void exs_heap_read(struct exs_heap_counts *c)
{
	memset(c, 0, sizeof(*c));
}

void exs_heap_track(int on)
{
	(void)on;
}

void exs_heap_track_reset(void)
{
}

int exs_heap_sites(struct exs_heap_site **sites, size_t *n,
		   struct exs_heap_counts *left)
{
	*sites = NULL;
	*n = 0;
	memset(left, 0, sizeof(*left));
	return -ENOTSUP;
}

void exs_heap_sites_free(struct exs_heap_site *sites, size_t n)
{
	(void)sites;
	(void)n;
}

#else

#include <dlfcn.h>
#include <execinfo.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

/* glibc's own entry points (exported since 2.2.5). */
void *__libc_malloc(size_t size);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);

/* On from the first allocation, so that every block freed later was
 * counted when it was made; exs_heap_init(off) turns it off. */
static atomic_int counting = 1;
static _Atomic int64_t live_bytes, live_allocs;

/* ---- call sites of tracked allocations ------------------------------- */

/* Tracked live allocations at most (3/4 of it): mapped and touched up
 * front, so tracking never shows up as RSS growth. */
#define SITE_TABLE (1u << 14)

struct tracked {
	void *ptr; /* NULL: empty; TOMBSTONE: removed */
	size_t size;
	unsigned nframes;
	void *frames[EXS_HEAP_FRAMES];
};

#define TOMBSTONE ((void *)1)

static atomic_int tracking;	/* record new allocations now */
static atomic_int tracked_live; /* entries in the table */
static size_t used_slots;	/* entries + tombstones */
static atomic_flag table_lock = ATOMIC_FLAG_INIT;
static struct tracked *table;	  /* mmap'd: not itself counted */
static uint64_t untracked;	  /* table full: allocations not recorded */
static _Thread_local int in_hook; /* backtrace() may allocate */

static void lock_table(void)
{
	while (atomic_flag_test_and_set_explicit(&table_lock,
						 memory_order_acquire))
		;
}

static void unlock_table(void)
{
	atomic_flag_clear_explicit(&table_lock, memory_order_release);
}

static size_t slot_of(const void *p)
{
	return ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull >> 48 &
	       (SITE_TABLE - 1);
}

/* Under the lock. */
static struct tracked *find(const void *p)
{
	for (size_t i = slot_of(p), n = 0; n < SITE_TABLE;
	     i = (i + 1) & (SITE_TABLE - 1), n++) {
		if (table[i].ptr == p)
			return &table[i];
		if (!table[i].ptr)
			return NULL;
	}
	return NULL;
}

/* Under the lock: a free slot for p (reusing tombstones), or NULL. */
static struct tracked *slot_for(const void *p)
{
	for (size_t i = slot_of(p), k = 0; k < SITE_TABLE;
	     i = (i + 1) & (SITE_TABLE - 1), k++)
		if (!table[i].ptr || table[i].ptr == TOMBSTONE)
			return &table[i];
	return NULL;
}

/* Under the lock: drop the tombstones once they take a quarter of the
 * table, so probes stay short however many tracked blocks were freed. */
static void compact(void)
{
	size_t live = 0;

	for (size_t i = 0; i < SITE_TABLE; i++) {
		if (table[i].ptr == TOMBSTONE)
			table[i].ptr = NULL;
	}
	/* re-place the live entries (their probe runs may have had holes) */
	for (size_t i = 0; i < SITE_TABLE; i++) {
		struct tracked t = table[i];

		if (!t.ptr)
			continue;
		table[i].ptr = NULL;
		*slot_for(t.ptr) = t;
	}
	for (size_t i = 0; i < SITE_TABLE; i++)
		live += table[i].ptr != NULL;
	used_slots = live;
}

static void insert(const struct tracked *t)
{
	if (used_slots - (size_t)atomic_load_explicit(&tracked_live,
						      memory_order_relaxed) >
	    SITE_TABLE / 4)
		compact();
	if (used_slots >= SITE_TABLE - SITE_TABLE / 4) {
		untracked++; /* 3/4 full of live entries: keep probes short */
		return;
	}
	struct tracked *slot = slot_for(t->ptr);
	if (!slot->ptr)
		used_slots++;
	*slot = *t;
	atomic_fetch_add_explicit(&tracked_live, 1, memory_order_relaxed);
}

static void record(void *p, size_t size)
{
	struct tracked t = { .ptr = p, .size = size };
	void *frames[EXS_HEAP_FRAMES + 2];

	in_hook = 1;
	int n = backtrace(frames, EXS_HEAP_FRAMES + 2);
	in_hook = 0;
	/* frames[0] is record(), frames[1] the allocation function */
	for (int i = 2; i < n; i++)
		t.frames[t.nframes++] = frames[i];
	lock_table();
	insert(&t);
	unlock_table();
}

/* p is being freed, or moved by realloc to q (then its entry follows). */
static void forget(void *p, void *q, size_t qsize)
{
	lock_table();
	struct tracked *t = find(p);
	if (t) {
		struct tracked moved = *t;

		t->ptr = TOMBSTONE;
		atomic_fetch_sub_explicit(&tracked_live, 1,
					  memory_order_relaxed);
		if (q) {
			moved.ptr = q;
			moved.size = qsize;
			insert(&moved);
		}
	}
	unlock_table();
}

/* ---- the counting ---------------------------------------------------- */

static void *allocated(void *p)
{
	if (p && atomic_load_explicit(&counting, memory_order_relaxed)) {
		size_t size = malloc_usable_size(p);

		atomic_fetch_add_explicit(&live_bytes, (int64_t)size,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&live_allocs, 1,
					  memory_order_relaxed);
		if (atomic_load_explicit(&tracking, memory_order_relaxed) &&
		    !in_hook)
			record(p, size);
	}
	return p;
}

static void released(void *p)
{
	if (!p || !atomic_load_explicit(&counting, memory_order_relaxed))
		return;
	atomic_fetch_sub_explicit(&live_bytes, (int64_t)malloc_usable_size(p),
				  memory_order_relaxed);
	atomic_fetch_sub_explicit(&live_allocs, 1, memory_order_relaxed);
	if (atomic_load_explicit(&tracked_live, memory_order_relaxed) &&
	    !in_hook)
		forget(p, NULL, 0);
}

void *malloc(size_t size)
{
	return allocated(__libc_malloc(size));
}

void *calloc(size_t n, size_t size)
{
	return allocated(__libc_calloc(n, size));
}

void free(void *p)
{
	released(p);
	__libc_free(p);
}

void *realloc(void *p, size_t size)
{
	if (!p)
		return malloc(size);
	if (!atomic_load_explicit(&counting, memory_order_relaxed))
		return __libc_realloc(p, size);
	size_t old = malloc_usable_size(p);
	if (size == 0) { /* glibc frees and returns NULL */
		free(p);
		return NULL;
	}
	void *q = __libc_realloc(p, size);
	if (!q)
		return NULL; /* p is untouched */
	size_t now = malloc_usable_size(q);
	atomic_fetch_add_explicit(&live_bytes, (int64_t)now - (int64_t)old,
				  memory_order_relaxed);
	if (atomic_load_explicit(&tracked_live, memory_order_relaxed) &&
	    !in_hook)
		forget(p, q, now);
	return q;
}

void *memalign(size_t align, size_t size)
{
	return allocated(__libc_memalign(align, size));
}

void *aligned_alloc(size_t align, size_t size)
{
	return allocated(__libc_memalign(align, size));
}

int posix_memalign(void **out, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = allocated(p);
	return 0;
}

void *valloc(size_t size)
{
	return allocated(__libc_valloc(size));
}

void *pvalloc(size_t size)
{
	return allocated(__libc_pvalloc(size));
}

/* ---- the API ---------------------------------------------------------- */

int exs_heap_init(int on, int track_sites)
{
	void *probe[4];
	struct exs_heap_counts before, after;

	if (!on) {
		atomic_store(&counting, 0);
		return 0;
	}
	if (track_sites && !table) {
		table = mmap(NULL, SITE_TABLE * sizeof(*table),
			     PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (table == MAP_FAILED) {
			table = NULL;
			return -ENOMEM;
		}
		/* The first backtrace() loads libgcc's unwinder (dlopen,
		 * allocations that stay): do it now, before the baseline. */
		in_hook = 1;
		backtrace(probe, 4);
		in_hook = 0;
	}
	/* Are these functions the process's malloc? Ask the dynamic linker
	 * which malloc every other object calls: valgrind, for one, redirects
	 * the executable's malloc to its own (a direct call from this file
	 * would still reach ours and prove nothing). */
	void *(*process_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT,
								   "malloc");
	void (*process_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT,
							       "free");
	if (!process_malloc || !process_free) {
		atomic_store(&counting, 0);
		return -ENOTSUP;
	}
	exs_heap_read(&before);
	void *volatile p = process_malloc(40);
	exs_heap_read(&after);
	process_free(p);
	if (after.allocs != before.allocs + 1) {
		atomic_store(&counting, 0);
		return -ENOTSUP;
	}
	return 0;
}

void exs_heap_read(struct exs_heap_counts *c)
{
	c->bytes = atomic_load(&live_bytes);
	c->allocs = atomic_load(&live_allocs);
}

void exs_heap_track(int on)
{
	if (table)
		atomic_store(&tracking, on);
}

void exs_heap_track_reset(void)
{
	if (!table)
		return;
	lock_table();
	for (size_t i = 0; i < SITE_TABLE; i++)
		table[i].ptr = NULL;
	atomic_store(&tracked_live, 0);
	used_slots = 0;
	untracked = 0;
	unlock_table();
}

static int site_cmp(const void *a, const void *b)
{
	const struct exs_heap_site *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static int same_stack(const struct exs_heap_site *s, const struct tracked *t)
{
	return s->nframes == t->nframes &&
	       memcmp(s->frames, t->frames, t->nframes * sizeof(void *)) == 0;
}

int exs_heap_sites(struct exs_heap_site **sites, size_t *n,
		   struct exs_heap_counts *left)
{
	struct exs_heap_site *out = NULL;
	size_t used = 0, cap = 0;

	*sites = NULL;
	*n = 0;
	memset(left, 0, sizeof(*left));
	if (!table)
		return -ENOTSUP;
	atomic_store(&tracking, 0);
	in_hook = 1; /* our own allocations below are not tracked */
	lock_table();
	for (size_t i = 0; i < SITE_TABLE; i++) {
		const struct tracked *t = &table[i];
		size_t j;

		if (!t->ptr || t->ptr == TOMBSTONE)
			continue;
		left->bytes += t->size;
		left->allocs++;
		for (j = 0; j < used && !same_stack(&out[j], t); j++)
			;
		if (j == used) {
			if (used == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				struct exs_heap_site *grown = __libc_realloc(
					out, ncap * sizeof(*out));
				if (!grown)
					break;
				out = grown;
				cap = ncap;
			}
			memset(&out[used], 0, sizeof(out[used]));
			out[used].nframes = t->nframes;
			memcpy(out[used].frames, t->frames,
			       t->nframes * sizeof(void *));
			used++;
		}
		out[j].bytes += t->size;
		out[j].count++;
	}
	left->untracked = untracked;
	unlock_table();
	in_hook = 0;
	if (used)
		qsort(out, used, sizeof(*out), site_cmp);
	*sites = out;
	*n = used;
	return 0;
}

void exs_heap_sites_free(struct exs_heap_site *sites, size_t n)
{
	(void)n;
	__libc_free(sites);
}

#endif
