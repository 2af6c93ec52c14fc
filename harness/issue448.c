/*
 * issue448: the original reproduction. Executors in pairs on two threads,
 * joined by a bounded shared channel: the consumer takes CONSUME messages
 * and parks still holding its end, so the sender ends blocked on the full
 * channel; each side also parks M cross receivers on channels whose
 * sending ends the other side holds.
 */
#include <errno.h>
#include <stdio.h>

#include "runner.h"

struct sender {
	struct exs_exec *x;
	rex_shared_tx *tx;
	struct rex_shared_send op;
	uint64_t item;
	int sending;
};

static enum rex_poll sender_poll(void *p, struct rex_context *cx)
{
	struct sender *s = p;
	struct exs_exec *x = s->x;
	for (;;) {
		if (!s->sending) {
			rex_shared_send_init(&s->op, s->tx, &s->item);
			s->sending = 1;
		}
		int res;
		if (rex_shared_send_poll(&s->op, cx, &res) == REX_PENDING) {
			if (!x->sender_blocked) {
				x->sender_blocked = 1;
				if (x->root_waker)
					rex_waker_wake_by_ref(x->root_waker);
			}
			return REX_PENDING;
		}
		s->sending = 0;
		x->sender_blocked = 0;
		if (res < 0) { /* receiver gone (-EPIPE) */
			x->sender_done = 1;
			if (x->root_waker)
				rex_waker_wake_by_ref(x->root_waker);
			cx->output = res;
			return REX_READY;
		}
		s->item++;
	}
}

static void sender_drop(void *p)
{
	struct sender *s = p;
	if (s->sending)
		rex_shared_send_drop(&s->op);
	rex_shared_tx_close(s->tx);
}

static const struct rex_task_vtable sender_vt = { "exs-448-sender", sender_poll,
						  sender_drop };

/* Receives CONSUME messages, then parks on a far timer still holding the
 * receiving end, so the sender fills the channel and blocks. */
struct consumer {
	struct exs_exec *x;
	rex_shared_rx *rx;
	struct rex_shared_recv op;
	uint64_t item;
	int receiving;
	int sleeping;
	struct rex_sleep sleep;
};

static void consumer_finished(struct exs_exec *x)
{
	x->consumer_done = 1;
	struct exs_pair *pr = x->pair;
	atomic_store_explicit(&pr->recv_done, 1, memory_order_seq_cst);
	rex_waker *w = atomic_exchange(&pr->sender_root_waker, NULL);
	if (w)
		rex_waker_wake(w); /* the sender's root, on the other thread */
	if (x->root_waker)
		rex_waker_wake_by_ref(x->root_waker);
}

static enum rex_poll consumer_poll(void *p, struct rex_context *cx)
{
	struct consumer *c = p;
	struct exs_exec *x = c->x;
	while (!c->sleeping) {
		if (!c->receiving) {
			rex_shared_recv_init(&c->op, c->rx, &c->item);
			c->receiving = 1;
		}
		int res;
		if (rex_shared_recv_poll(&c->op, cx, &res) == REX_PENDING)
			return REX_PENDING;
		c->receiving = 0;
		if (res < 0) { /* sender gone: stop waiting for it */
			consumer_finished(x);
			cx->output = res;
			return REX_READY;
		}
		if (++x->consumed >= CONSUME) {
			rex_sleep_init(&c->sleep, FAR_NS);
			c->sleeping = 1;
			consumer_finished(x);
		}
	}
	return rex_sleep_poll(&c->sleep, cx);
}

static void consumer_drop(void *p)
{
	struct consumer *c = p;
	if (c->receiving)
		rex_shared_recv_drop(&c->op);
	if (c->sleeping)
		rex_sleep_drop(&c->sleep);
	rex_shared_rx_close(c->rx);
}

static const struct rex_task_vtable consumer_vt = { "exs-448-consumer",
						    consumer_poll,
						    consumer_drop };

/* Holds one end of a cross channel (so its peer stays parked) and parks
 * on receiving from another that nobody sends on. */
struct cross_receiver {
	struct exs_exec *x;
	int counted;
	rex_shared_tx *hold;
	rex_shared_rx *rx;
	struct rex_shared_recv op;
	uint64_t item;
	int receiving;
};

static enum rex_poll cross_receiver_poll(void *p, struct rex_context *cx)
{
	struct cross_receiver *t = p;
	if (!t->receiving) {
		rex_shared_recv_init(&t->op, t->rx, &t->item);
		t->receiving = 1;
	}
	int res;
	enum rex_poll r = rex_shared_recv_poll(&t->op, cx, &res);
	if (r == REX_READY) {
		t->receiving = 0;
		cx->output = res; /* -EPIPE once the peer executor dropped it */
	}
	settle(t->x, &t->counted);
	return r;
}

static void cross_receiver_drop(void *p)
{
	struct cross_receiver *t = p;
	if (t->receiving)
		rex_shared_recv_drop(&t->op);
	rex_shared_rx_close(t->rx);
	rex_shared_tx_close(t->hold);
}

static const struct rex_task_vtable cross_receiver_vt = {
	"exs-448-cross-receiver", cross_receiver_poll, cross_receiver_drop
};

/* Spawn with the end handed over: on success, or -ECANCELED (drop already
 * ran and closed it), the pair no longer owns it. */
static int spawn_owned(struct exs_exec *x, const struct rex_task_vtable *vt,
		       const void *st, size_t size, void **ends[], int nends)
{
	rex_task *handle = NULL;
	int keep = x->job_mode && x->njob_tasks < x->job_cap;
	int rc = rex_spawn(x->ex, vt, st, size, keep ? &handle : NULL);
	if (rc == 0 || rc == -ECANCELED)
		for (int i = 0; i < nends; i++)
			*ends[i] = NULL;
	if (rc == 0 && keep)
		x->job_tasks[x->njob_tasks++] = handle;
	return rc;
}

/* The two roots of a pair meet twice. Once all of a side is parked, its
 * root waits for the other's, so that neither executor is dropped (closing
 * its channel ends, which wakes the other side's parked tasks) before the
 * other side is all parked too: each executor goes with every task of the
 * scenario parked. In job mode, after cancelling, so that no wake from the
 * peer is still on its way. A root that ends early arrives all the same, so
 * its peer is never left waiting. The waiting root is parked, woken by the
 * last to arrive: no spinning on a 2-CPU machine. */
enum rex_poll pair_meet(struct exs_exec *x, struct meeting *m,
			struct rex_context *cx, int *arrived)
{
	int me = x->role == ROLE_RECEIVER, peer = !me;

	if (!x->pair)
		return REX_READY;
	if (!*arrived) {
		*arrived = 1;
		if (atomic_fetch_add(&m->arrived, 1) + 1 >= 2) {
			rex_waker *w = atomic_exchange(&m->waiting[peer], NULL);
			if (w)
				rex_waker_wake(w);
		}
	}
	if (!cx || atomic_load(&m->arrived) >= 2)
		return REX_READY;
	/* Park, then look again: the peer may have arrived in between and
	 * found no waker to wake (then take ours back). */
	rex_waker_drop(atomic_exchange(&m->waiting[me],
				       rex_waker_clone(rex_context_waker(cx))));
	if (atomic_load(&m->arrived) >= 2) {
		rex_waker_drop(atomic_exchange(&m->waiting[me], NULL));
		return REX_READY;
	}
	return REX_PENDING;
}

/* Job mode: cancel and release every task this side parked (their drops
 * close their channel ends), then meet the peer, done the same. */
enum rex_poll pair_end_job(struct exs_exec *x, struct rex_context *cx,
			   int *cancelled)
{
	if (!*cancelled) {
		for (unsigned i = 0; i < x->njob_tasks; i++) {
			(void)rex_task_cancel(x->job_tasks[i]);
			rex_task_detach(x->job_tasks[i]);
		}
		x->njob_tasks = 0;
	}
	return pair_meet(x, &x->pair->cancelled, cx, cancelled);
}

int start_pair(struct exs_exec *x)
{
	struct exs_pair *pr = x->pair;
	int rc;
	if (x->role == ROLE_SENDER) {
		if ((rc = rex_shared_tx_connect(pr->data_tx)))
			return set_err(x, rc, "connecting the sender end"), rc;
		struct sender s = { .x = x, .tx = pr->data_tx };
		void **e[] = { (void **)&pr->data_tx };
		if ((rc = spawn_owned(x, &sender_vt, &s, sizeof(s), e, 1)))
			return set_err(x, rc, "spawning the sender"), rc;
	} else {
		if ((rc = rex_shared_rx_connect(pr->data_rx)))
			return set_err(x, rc, "connecting the receiver end"),
			       rc;
		struct consumer c = { .x = x, .rx = pr->data_rx };
		void **e[] = { (void **)&pr->data_rx };
		if ((rc = spawn_owned(x, &consumer_vt, &c, sizeof(c), e, 1)))
			return set_err(x, rc, "spawning the receiver"), rc;
	}
	for (unsigned j = 0; j < pr->m; j++) {
		struct cross_receiver t = { .x = x };
		void **e[2];
		if (x->role == ROLE_SENDER) {
			t.hold = pr->to_recv_tx[j];
			t.rx = pr->to_send_rx[j];
			e[0] = (void **)&pr->to_recv_tx[j];
			e[1] = (void **)&pr->to_send_rx[j];
			rc = rex_shared_tx_connect(t.hold);
			if (!rc)
				rc = rex_shared_rx_connect(t.rx);
		} else {
			t.hold = pr->to_send_tx[j];
			t.rx = pr->to_recv_rx[j];
			e[0] = (void **)&pr->to_send_tx[j];
			e[1] = (void **)&pr->to_recv_rx[j];
			rc = rex_shared_tx_connect(t.hold);
			if (!rc)
				rc = rex_shared_rx_connect(t.rx);
		}
		if (rc)
			return set_err(x, rc, "connecting a cross channel"), rc;
		x->expected++;
		if ((rc = spawn_owned(x, &cross_receiver_vt, &t, sizeof(t), e,
				      2)))
			return set_err(x, rc, "spawning a parked receiver"), rc;
	}
	return 0;
}

static void meeting_reset(struct meeting *m)
{
	atomic_store(&m->arrived, 0);
	for (int i = 0; i < 2; i++)
		rex_waker_drop(atomic_exchange(&m->waiting[i], NULL));
}

void pair_release(struct exs_pair *pr)
{
	rex_shared_tx_close(pr->data_tx);
	rex_shared_rx_close(pr->data_rx);
	pr->data_tx = NULL;
	pr->data_rx = NULL;
	for (unsigned j = 0; j < pr->m; j++) {
		rex_shared_tx_close(pr->to_recv_tx[j]);
		rex_shared_rx_close(pr->to_recv_rx[j]);
		rex_shared_tx_close(pr->to_send_tx[j]);
		rex_shared_rx_close(pr->to_send_rx[j]);
		pr->to_recv_tx[j] = NULL;
		pr->to_recv_rx[j] = NULL;
		pr->to_send_tx[j] = NULL;
		pr->to_send_rx[j] = NULL;
	}
	rex_waker_drop(atomic_exchange(&pr->sender_root_waker, NULL));
	meeting_reset(&pr->parked);
	meeting_reset(&pr->cancelled);
}

int pair_setup(struct exs_pair *pr)
{
	int rc;
	atomic_store(&pr->recv_done, 0);
	meeting_reset(&pr->parked);
	meeting_reset(&pr->cancelled);
	if ((rc = rex_shared_chan_new(sizeof(uint64_t), CHAN_CAP, &pr->data_tx,
				      &pr->data_rx)))
		return rc;
	for (unsigned j = 0; j < pr->m; j++) {
		if ((rc = rex_shared_chan_new(sizeof(uint64_t), 1,
					      &pr->to_recv_tx[j],
					      &pr->to_recv_rx[j])))
			return rc;
		if ((rc = rex_shared_chan_new(sizeof(uint64_t), 1,
					      &pr->to_send_tx[j],
					      &pr->to_send_rx[j])))
			return rc;
	}
	return 0;
}

/* A side's root is gone (or never ran): close the ends this side still
 * owns, so the peer sees -EPIPE and finishes instead of waiting for us. */
void pair_close_side(struct exs_exec *x)
{
	struct exs_pair *pr = x->pair;
	if (!pr)
		return;
	if (x->role == ROLE_SENDER) {
		rex_shared_tx_close(pr->data_tx);
		pr->data_tx = NULL;
		for (unsigned j = 0; j < pr->m; j++) {
			rex_shared_tx_close(pr->to_recv_tx[j]);
			rex_shared_rx_close(pr->to_send_rx[j]);
			pr->to_recv_tx[j] = NULL;
			pr->to_send_rx[j] = NULL;
		}
	} else if (x->role == ROLE_RECEIVER) {
		rex_shared_rx_close(pr->data_rx);
		pr->data_rx = NULL;
		for (unsigned j = 0; j < pr->m; j++) {
			rex_shared_rx_close(pr->to_recv_rx[j]);
			rex_shared_tx_close(pr->to_send_tx[j]);
			pr->to_recv_rx[j] = NULL;
			pr->to_send_tx[j] = NULL;
		}
		if (!atomic_exchange(&pr->recv_done, 1)) {
			rex_waker *w = atomic_exchange(&pr->sender_root_waker,
						       NULL);
			if (w)
				rex_waker_wake(w);
		}
	}
}
