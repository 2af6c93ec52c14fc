/*
 * Timers: a binary min-heap of sleep futures keyed by deadline. Each future
 * remembers its slot, so dropping one early is O(log n). The run loop sleeps
 * in io_uring_enter until the earliest deadline.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "internal.h"

uint64_t rex_now_ns(void)
{
	return mono_ns();
}

static void heap_set(struct rex_timer_heap *h, size_t i, struct rex_sleep *s)
{
	h->items[i] = s;
	s->heap_index = i;
}

static void sift_up(struct rex_timer_heap *h, size_t i)
{
	struct rex_sleep *s = h->items[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->items[parent]->deadline_ns <= s->deadline_ns)
			break;
		heap_set(h, i, h->items[parent]);
		i = parent;
	}
	heap_set(h, i, s);
}

static void sift_down(struct rex_timer_heap *h, size_t i)
{
	struct rex_sleep *s = h->items[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->len)
			break;
		if (child + 1 < h->len && h->items[child + 1]->deadline_ns <
						  h->items[child]->deadline_ns)
			child++;
		if (s->deadline_ns <= h->items[child]->deadline_ns)
			break;
		heap_set(h, i, h->items[child]);
		i = child;
	}
	heap_set(h, i, s);
}

static int heap_insert(struct rex_timer_heap *h, struct rex_sleep *s)
{
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct rex_sleep **items = realloc(h->items,
						   cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		h->items = items;
		h->cap = cap;
	}
	heap_set(h, h->len++, s);
	sift_up(h, h->len - 1);
	return 0;
}

static void heap_remove(struct rex_timer_heap *h, size_t i)
{
	struct rex_sleep *last = h->items[--h->len];
	if (i == h->len)
		return;
	heap_set(h, i, last);
	if (i > 0 && h->items[(i - 1) / 2]->deadline_ns > last->deadline_ns)
		sift_up(h, i);
	else
		sift_down(h, i);
}

/* Unregister s; returns its waker (the caller wakes or drops it). */
static rex_waker *timer_detach(struct rex_sleep *s)
{
	heap_remove(&s->ex->timers, s->heap_index);
	s->ex = NULL;
	rex_waker *w = s->waker;
	s->waker = NULL;
	return w;
}

void rex_timers_fire(rex_executor *ex, uint64_t now)
{
	struct rex_timer_heap *h = &ex->timers;
	while (h->len && h->items[0]->deadline_ns <= now)
		rex_waker_wake(timer_detach(h->items[0]));
}

uint64_t rex_timers_next(const rex_executor *ex)
{
	return ex->timers.len ? ex->timers.items[0]->deadline_ns : UINT64_MAX;
}

/* Teardown: futures still registered lose their waker and registration. */
void rex_timers_drain(rex_executor *ex)
{
	while (ex->timers.len)
		rex_waker_drop(
			timer_detach(ex->timers.items[ex->timers.len - 1]));
}

void rex_timers_free(rex_executor *ex)
{
	free(ex->timers.items);
	ex->timers.items = NULL;
	ex->timers.len = ex->timers.cap = 0;
}

/* ---- sleep future ------------------------------------------------------------- */

void rex_sleep_init(struct rex_sleep *s, uint64_t duration_ns)
{
	rex_sleep_init_deadline(s, rex_now_ns() + duration_ns);
}

void rex_sleep_init_deadline(struct rex_sleep *s, uint64_t deadline_ns)
{
	s->deadline_ns = deadline_ns;
	s->heap_index = 0;
	s->ex = NULL;
	s->waker = NULL;
}

enum rex_poll rex_sleep_poll(struct rex_sleep *s, struct rex_context *cx)
{
	if (rex_now_ns() >= s->deadline_ns) {
		if (s->ex)
			rex_waker_drop(timer_detach(s));
		return REX_READY;
	}
	if (!s->ex) {
		if (heap_insert(&cx->executor->timers, s) < 0) {
			/* No memory for the heap: poll again soon rather
			 * than sleep forever. */
			rex_waker_wake_by_ref(rex_context_waker(cx));
			return REX_PENDING;
		}
		s->ex = cx->executor;
		s->waker = rex_waker_clone(rex_context_waker(cx));
	}
	return REX_PENDING;
}

void rex_sleep_drop(struct rex_sleep *s)
{
	if (s->ex)
		rex_waker_drop(timer_detach(s));
}

enum rex_poll rex_yield_poll(struct rex_yield *y, struct rex_context *cx)
{
	if (y->yielded)
		return REX_READY;
	y->yielded = 1;
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
