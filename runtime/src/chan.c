/*
 * Local bounded channel: one executor, one sender, one receiver. Items are
 * copied into a ring buffer; a side that cannot proceed parks its waker in
 * the channel. Closing an end wakes the other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum {
	WAIT_NONE = 0,
	WAIT_RECV = 1,
	WAIT_SEND = 2
};

struct rex_chan {
	size_t elem_size, cap;
	size_t head, len;
	bool tx_open, rx_open;
	rex_waker *recv_waiter, *send_waiter;
	alignas(max_align_t) unsigned char buf[];
};

int rex_chan_new(size_t elem_size, size_t capacity, rex_chan **out)
{
	if (!out || !elem_size || !capacity ||
	    capacity > ((size_t)1 << 40) / elem_size)
		return -EINVAL;
	rex_chan *ch = calloc(1, sizeof(*ch) + elem_size * capacity);
	if (!ch)
		return -ENOMEM;
	ch->elem_size = elem_size;
	ch->cap = capacity;
	ch->tx_open = ch->rx_open = true;
	*out = ch;
	return 0;
}

/* Park w in *slot (keeping an already parked clone of the same task). */
static void park(rex_waker **slot, rex_waker *w)
{
	if (*slot == w)
		return;
	rex_waker_drop(*slot);
	*slot = rex_waker_clone(w);
}

static void wake_slot(rex_waker **slot)
{
	rex_waker *w = *slot;
	*slot = NULL;
	if (w)
		rex_waker_wake(w);
}

static void chan_maybe_free(rex_chan *ch)
{
	if (ch->tx_open || ch->rx_open)
		return;
	rex_waker_drop(ch->recv_waiter);
	rex_waker_drop(ch->send_waiter);
	free(ch);
}

void rex_chan_close_tx(rex_chan *ch)
{
	if (!ch)
		return;
	ch->tx_open = false;
	rex_waker_drop(ch->send_waiter);
	ch->send_waiter = NULL;
	wake_slot(&ch->recv_waiter);
	chan_maybe_free(ch);
}

void rex_chan_close_rx(rex_chan *ch)
{
	if (!ch)
		return;
	ch->rx_open = false;
	rex_waker_drop(ch->recv_waiter);
	ch->recv_waiter = NULL;
	wake_slot(&ch->send_waiter);
	chan_maybe_free(ch);
}

void rex_chan_op_init(struct rex_chan_op *op, rex_chan *ch, void *item)
{
	op->ch = ch;
	op->item = item;
	op->waiting = WAIT_NONE;
}

enum rex_poll rex_chan_send_poll(struct rex_chan_op *op, struct rex_context *cx,
				 int *result)
{
	rex_chan *ch = op->ch;
	if (!ch->rx_open) {
		*result = -EPIPE;
		goto ready;
	}
	if (ch->len == ch->cap) {
		park(&ch->send_waiter, rex_context_waker(cx));
		op->waiting = WAIT_SEND;
		return REX_PENDING;
	}
	size_t slot = (ch->head + ch->len) % ch->cap;
	memcpy(ch->buf + slot * ch->elem_size, op->item, ch->elem_size);
	ch->len++;
	wake_slot(&ch->recv_waiter);
	*result = 0;
ready:
	op->waiting = WAIT_NONE;
	return REX_READY;
}

enum rex_poll rex_chan_recv_poll(struct rex_chan_op *op, struct rex_context *cx,
				 int *result)
{
	rex_chan *ch = op->ch;
	if (ch->len == 0) {
		if (!ch->tx_open) {
			*result = -EPIPE;
			op->waiting = WAIT_NONE;
			return REX_READY;
		}
		park(&ch->recv_waiter, rex_context_waker(cx));
		op->waiting = WAIT_RECV;
		return REX_PENDING;
	}
	memcpy(op->item, ch->buf + ch->head * ch->elem_size, ch->elem_size);
	ch->head = (ch->head + 1) % ch->cap;
	ch->len--;
	wake_slot(&ch->send_waiter);
	*result = 0;
	op->waiting = WAIT_NONE;
	return REX_READY;
}

/* A pending op leaves: take its waker out of the channel. */
void rex_chan_op_drop(struct rex_chan_op *op)
{
	rex_chan *ch = op->ch;
	if (!ch || op->waiting == WAIT_NONE)
		return;
	rex_waker **slot = op->waiting == WAIT_RECV ? &ch->recv_waiter
						    : &ch->send_waiter;
	rex_waker_drop(*slot);
	*slot = NULL;
	op->waiting = WAIT_NONE;
}
