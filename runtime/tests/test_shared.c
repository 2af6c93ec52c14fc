/* Shared channel between executors on two threads: every message arrives,
 * in order, once; closing either end wakes the other. */
#include <errno.h>
#include <unistd.h>

#include "testutil.h"

#define MESSAGES 1000000ull

struct sender {
	rex_shared_tx *tx;
	uint64_t next, item;
	int connected, sending;
	struct rex_shared_send op;
};
static enum rex_poll sender_poll(void *p, struct rex_context *cx)
{
	struct sender *s = p;
	if (!s->connected) {
		ck_assert_int_eq(rex_shared_tx_connect(s->tx), 0);
		s->connected = 1;
	}
	while (s->next < MESSAGES) {
		if (!s->sending) {
			s->item = s->next;
			rex_shared_send_init(&s->op, s->tx, &s->item);
			s->sending = 1;
		}
		int res;
		if (rex_shared_send_poll(&s->op, cx, &res) == REX_PENDING)
			return REX_PENDING;
		s->sending = 0;
		if (res == -EPIPE) /* the receiver is gone */
			break;
		ck_assert_int_eq(res, 0);
		s->next++;
	}
	rex_shared_tx_close(s->tx);
	s->tx = NULL;
	cx->output = (int64_t)s->next;
	return REX_READY;
}
static void sender_drop(void *p)
{
	struct sender *s = p;
	if (s->sending)
		rex_shared_send_drop(&s->op);
	rex_shared_tx_close(s->tx);
}
static const struct rex_task_vtable sender_vt = { "sender", sender_poll,
						  sender_drop };

/* Output: the number of messages received in order, or -(index+1) of the
 * first one out of order; then it checks the close arrives as -EPIPE. */
struct receiver {
	rex_shared_rx *rx;
	uint64_t expect, item;
	int connected, receiving;
	struct rex_shared_recv op;
};
static enum rex_poll receiver_poll(void *p, struct rex_context *cx)
{
	struct receiver *r = p;
	if (!r->connected) {
		ck_assert_int_eq(rex_shared_rx_connect(r->rx), 0);
		r->connected = 1;
	}
	for (;;) {
		if (!r->receiving) {
			rex_shared_recv_init(&r->op, r->rx, &r->item);
			r->receiving = 1;
		}
		int res;
		if (rex_shared_recv_poll(&r->op, cx, &res) == REX_PENDING)
			return REX_PENDING;
		r->receiving = 0;
		if (res == -EPIPE)
			break;
		ck_assert_int_eq(res, 0);
		if (r->item != r->expect) {
			cx->output = -(int64_t)r->expect - 1;
			return REX_READY;
		}
		r->expect++;
	}
	rex_shared_rx_close(r->rx);
	r->rx = NULL;
	cx->output = (int64_t)r->expect;
	return REX_READY;
}
static void receiver_drop(void *p)
{
	struct receiver *r = p;
	if (r->receiving)
		rex_shared_recv_drop(&r->op);
	rex_shared_rx_close(r->rx);
}
static const struct rex_task_vtable receiver_vt = { "receiver", receiver_poll,
						    receiver_drop };

START_TEST(million_messages_in_order)
{
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	rex_shared_tx *tx;
	rex_shared_rx *rx;
	ck_assert_int_eq(rex_shared_chan_new(sizeof(uint64_t), 1024, &tx, &rx),
			 0);
	struct sender s = { .tx = tx };
	struct receiver r = { .rx = rx };
	rex_thread *ts, *tr;
	ck_assert_int_eq(rex_thread_spawn(NULL, &receiver_vt, &r, sizeof(r),
					  &tr),
			 0);
	ck_assert_int_eq(rex_thread_spawn(NULL, &sender_vt, &s, sizeof(s), &ts),
			 0);
	int64_t sent = 0, received = 0;
	ck_assert_int_eq(rex_thread_join(ts, &sent), 0);
	ck_assert_int_eq(rex_thread_join(tr, &received), 0);
	ck_assert_int_eq(sent, (int64_t)MESSAGES);
	ck_assert_msg(
		received == (int64_t)MESSAGES,
		"received %lld in order (negative: first out of order at %lld)",
		(long long)received, (long long)(-received - 1));
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(live_allocs(), allocs0);
}
END_TEST

/* The receiver closes early: the sender, blocked on a full channel, is
 * woken and sees -EPIPE. */
struct early {
	rex_shared_rx *rx;
	uint64_t item;
	int step;
	struct rex_shared_recv op;
};
static enum rex_poll early_poll(void *p, struct rex_context *cx)
{
	struct early *e = p;
	if (e->step == 0) {
		ck_assert_int_eq(rex_shared_rx_connect(e->rx), 0);
		rex_shared_recv_init(&e->op, e->rx, &e->item);
		e->step = 1;
	}
	int res;
	if (rex_shared_recv_poll(&e->op, cx, &res) == REX_PENDING)
		return REX_PENDING;
	ck_assert_int_eq(res, 0);
	usleep(20000); /* let the sender fill the channel and park */
	rex_shared_rx_close(e->rx);
	e->rx = NULL;
	return REX_READY;
}
static void early_drop(void *p)
{
	rex_shared_rx_close(((struct early *)p)->rx);
}
static const struct rex_task_vtable early_vt = { "early", early_poll,
						 early_drop };

START_TEST(receiver_close_wakes_blocked_sender)
{
	rex_shared_tx *tx;
	rex_shared_rx *rx;
	ck_assert_int_eq(rex_shared_chan_new(sizeof(uint64_t), 4, &tx, &rx), 0);
	struct sender s = { .tx = tx };
	struct early e = { .rx = rx };
	rex_thread *ts, *tr;
	ck_assert_int_eq(rex_thread_spawn(NULL, &early_vt, &e, sizeof(e), &tr),
			 0);
	ck_assert_int_eq(rex_thread_spawn(NULL, &sender_vt, &s, sizeof(s), &ts),
			 0);
	int64_t out;
	ck_assert_int_eq(rex_thread_join(tr, &out), 0);
	ck_assert_int_eq(rex_thread_join(ts, &out), 0);
	ck_assert_int_lt(out, (int64_t)MESSAGES);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shared");
	TCase *tc = tcase_create("shared");
	/* executors wait in io_uring_enter for each other: not under valgrind */
	tcase_set_tags(tc, "blocks-in-io-uring-enter");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, million_messages_in_order);
	tcase_add_test(tc, receiver_close_wakes_blocked_sender);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
