/*
 * Shared channel: a bounded single-producer single-consumer ring between two
 * executors on different threads (glommio's shared_channel). Each side parks
 * its waker in a slot the other side takes and wakes, which goes through the
 * parked executor's sleep notifier. Closing either end wakes the other.
 *
 * Lost wake-ups are avoided Dekker-style: the parker stores its waker, then
 * (seq_cst fence) re-checks the ring; the other side publishes its index,
 * then (seq_cst fence) checks the slot.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CACHELINE 64

struct waker_slot {
	atomic_flag lock;
	_Atomic bool armed; /* cheap "anyone parked?" for the fast path */
	rex_waker *waker;
};

struct rex_shared_tx {
	struct rex_shared_chan *ch;
	uint64_t ex_id;
};
struct rex_shared_rx {
	struct rex_shared_chan *ch;
	uint64_t ex_id;
};

struct rex_shared_chan {
	_Atomic int refs;
	size_t elem_size, mask;
	struct rex_shared_tx tx;
	struct rex_shared_rx rx;
	_Atomic bool tx_closed, rx_closed;
	alignas(CACHELINE) _Atomic size_t head;		/* consumer's */
	alignas(CACHELINE) _Atomic size_t tail;		/* producer's */
	alignas(CACHELINE) struct waker_slot recv_slot; /* receiver parks */
	alignas(CACHELINE) struct waker_slot send_slot; /* sender parks */
	alignas(CACHELINE) unsigned char buf[];
};

static void slot_lock(struct waker_slot *s)
{
	while (atomic_flag_test_and_set_explicit(&s->lock,
						 memory_order_acquire))
		sched_yield();
}

static void slot_unlock(struct waker_slot *s)
{
	atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static void slot_park(struct waker_slot *s, rex_waker *w)
{
	rex_waker *old = NULL;
	slot_lock(s);
	if (s->waker != w) {
		old = s->waker;
		s->waker = rex_waker_clone(w);
	}
	atomic_store_explicit(&s->armed, true, memory_order_relaxed);
	slot_unlock(s);
	rex_waker_drop(old);
	atomic_thread_fence(memory_order_seq_cst);
}

static rex_waker *slot_take(struct waker_slot *s)
{
	slot_lock(s);
	rex_waker *w = s->waker;
	s->waker = NULL;
	atomic_store_explicit(&s->armed, false, memory_order_relaxed);
	slot_unlock(s);
	return w;
}

/* Called after publishing progress (index or closed flag). */
static void slot_wake(struct waker_slot *s)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&s->armed, memory_order_relaxed))
		return;
	rex_waker *w = slot_take(s);
	if (w)
		rex_waker_wake(w);
}

static void slot_clear(struct waker_slot *s)
{
	rex_waker_drop(slot_take(s));
}

int rex_shared_chan_new(size_t elem_size, size_t capacity, rex_shared_tx **tx,
			rex_shared_rx **rx)
{
	if (!tx || !rx || !elem_size || !capacity ||
	    capacity > ((size_t)1 << 30))
		return -EINVAL;
	size_t cap = 1;
	while (cap < capacity)
		cap <<= 1;
	if (cap > ((size_t)1 << 40) / elem_size)
		return -EINVAL;
	struct rex_shared_chan *ch = aligned_alloc(
		CACHELINE, (sizeof(*ch) + cap * elem_size + CACHELINE - 1) &
				   ~(size_t)(CACHELINE - 1));
	if (!ch)
		return -ENOMEM;
	memset(ch, 0, sizeof(*ch));
	atomic_init(&ch->refs, 2);
	ch->elem_size = elem_size;
	ch->mask = cap - 1;
	ch->tx.ch = ch;
	ch->rx.ch = ch;
	atomic_flag_clear(&ch->recv_slot.lock);
	atomic_flag_clear(&ch->send_slot.lock);
	*tx = &ch->tx;
	*rx = &ch->rx;
	return 0;
}

static int connect_end(uint64_t *ex_id)
{
	if (!rex_tls_ex)
		return -EINVAL;
	if (*ex_id)
		return -EALREADY;
	*ex_id = rex_tls_ex->id;
	return 0;
}

int rex_shared_tx_connect(rex_shared_tx *tx)
{
	return tx ? connect_end(&tx->ex_id) : -EINVAL;
}

int rex_shared_rx_connect(rex_shared_rx *rx)
{
	return rx ? connect_end(&rx->ex_id) : -EINVAL;
}

static void chan_unref(struct rex_shared_chan *ch)
{
	if (atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) != 1)
		return;
	slot_clear(&ch->recv_slot);
	slot_clear(&ch->send_slot);
	free(ch);
}

void rex_shared_tx_close(rex_shared_tx *tx)
{
	if (!tx)
		return;
	struct rex_shared_chan *ch = tx->ch;
	slot_clear(&ch->send_slot); /* our own parked waker, if any */
	atomic_store_explicit(&ch->tx_closed, true, memory_order_release);
	slot_wake(&ch->recv_slot);
	chan_unref(ch);
}

void rex_shared_rx_close(rex_shared_rx *rx)
{
	if (!rx)
		return;
	struct rex_shared_chan *ch = rx->ch;
	slot_clear(&ch->recv_slot);
	atomic_store_explicit(&ch->rx_closed, true, memory_order_release);
	slot_wake(&ch->send_slot);
	chan_unref(ch);
}

/* 0 when the calling thread runs the executor the end was connected to. */
static int check_end(uint64_t ex_id, struct rex_context *cx)
{
	if (!ex_id)
		return -ENOTCONN;
	return ex_id == cx->executor->id ? 0 : -EXDEV;
}

void rex_shared_send_init(struct rex_shared_send *op, rex_shared_tx *tx,
			  const void *item)
{
	op->tx = tx;
	op->item = item;
	op->waiting = 0;
}

static bool try_send(struct rex_shared_chan *ch, const void *item)
{
	size_t t = atomic_load_explicit(&ch->tail, memory_order_relaxed);
	size_t h = atomic_load_explicit(&ch->head, memory_order_acquire);
	if (t - h > ch->mask)
		return false;
	memcpy(ch->buf + (t & ch->mask) * ch->elem_size, item, ch->elem_size);
	atomic_store_explicit(&ch->tail, t + 1, memory_order_release);
	slot_wake(&ch->recv_slot);
	return true;
}

enum rex_poll rex_shared_send_poll(struct rex_shared_send *op,
				   struct rex_context *cx, int *result)
{
	struct rex_shared_chan *ch = op->tx->ch;
	int err = check_end(op->tx->ex_id, cx);
	if (err)
		goto ready;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (atomic_load_explicit(&ch->rx_closed,
					 memory_order_acquire)) {
			err = -EPIPE;
			goto ready;
		}
		if (try_send(ch, op->item))
			goto ready;
		if (attempt == 0) {
			slot_park(&ch->send_slot, rex_context_waker(cx));
			op->waiting = 1;
		}
	}
	return REX_PENDING;
ready:
	if (op->waiting) /* parked, then found room: don't leave our waker */
		slot_clear(&ch->send_slot);
	op->waiting = 0;
	*result = err;
	return REX_READY;
}

void rex_shared_send_drop(struct rex_shared_send *op)
{
	if (op->tx && op->waiting)
		slot_clear(&op->tx->ch->send_slot);
	op->waiting = 0;
}

void rex_shared_recv_init(struct rex_shared_recv *op, rex_shared_rx *rx,
			  void *item)
{
	op->rx = rx;
	op->item = item;
	op->waiting = 0;
}

static bool try_recv(struct rex_shared_chan *ch, void *item)
{
	size_t h = atomic_load_explicit(&ch->head, memory_order_relaxed);
	size_t t = atomic_load_explicit(&ch->tail, memory_order_acquire);
	if (h == t)
		return false;
	memcpy(item, ch->buf + (h & ch->mask) * ch->elem_size, ch->elem_size);
	atomic_store_explicit(&ch->head, h + 1, memory_order_release);
	slot_wake(&ch->send_slot);
	return true;
}

enum rex_poll rex_shared_recv_poll(struct rex_shared_recv *op,
				   struct rex_context *cx, int *result)
{
	struct rex_shared_chan *ch = op->rx->ch;
	int err = check_end(op->rx->ex_id, cx);
	if (err)
		goto ready;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* closed is read before the ring: items sent before the
		 * close are still delivered */
		bool closed = atomic_load_explicit(&ch->tx_closed,
						   memory_order_acquire);
		if (try_recv(ch, op->item))
			goto ready;
		if (closed) {
			err = -EPIPE;
			goto ready;
		}
		if (attempt == 0) {
			slot_park(&ch->recv_slot, rex_context_waker(cx));
			op->waiting = 1;
		}
	}
	return REX_PENDING;
ready:
	if (op->waiting)
		slot_clear(&ch->recv_slot);
	op->waiting = 0;
	*result = err;
	return REX_READY;
}

void rex_shared_recv_drop(struct rex_shared_recv *op)
{
	if (op->rx && op->waiting)
		slot_clear(&op->rx->ch->recv_slot);
	op->waiting = 0;
}
