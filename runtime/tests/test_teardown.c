/* Teardown: a task parked in any way is destroyed exactly once under the
 * fixed policy and leaves no fd behind; under legacy-448 its eventfd stays
 * open (the reproduction); under close-eventfd and weak-notifier the task
 * is left but the eventfd closes at once. Destructors that wake, cancel or
 * spawn during teardown; an openat in flight at teardown. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "fault.h"
#include "testutil.h"

enum park_kind {
	PARK_TIMER,
	PARK_LOCAL_CHAN,
	PARK_SHARED_CHAN,
	PARK_IO_READ,
	PARK_JOIN,
	PARK_NEVER_POLLED,
	PARK_FOREIGN_WAKER,
	PARK_KINDS
};
static const char *const park_names[PARK_KINDS] = {
	"far timer",
	"local channel",
	"shared channel",
	"io_uring read",
	"join",
	"never polled",
	"waker held by another thread",
};

static _Atomic int g_drops, g_child_drops, g_parked;
static rex_chan *g_chan;    /* local channel; the test holds tx */
static rex_shared_rx *g_rx; /* shared channel; a peer thread holds tx */
static int g_pipe[2];
static _Atomic(rex_waker *) g_held_waker; /* handed to another thread */

/* A child that stays pending forever without keeping its waker. */
static enum rex_poll pending_poll(void *s, struct rex_context *cx)
{
	(void)s;
	(void)cx;
	return REX_PENDING;
}
static _Atomic int g_child_parked;
static enum rex_poll child_poll(void *s, struct rex_context *cx)
{
	g_child_parked = 1;
	return pending_poll(s, cx);
}
static void child_drop(void *s)
{
	(void)s;
	g_child_drops++;
}
static const struct rex_task_vtable pending_child_vt = { "pending", child_poll,
							 child_drop };

struct parker {
	enum park_kind kind;
	int started;
	int item;
	struct rex_sleep sleep;
	struct rex_chan_op chan_op;
	struct rex_shared_recv srecv;
	struct rex_io io;
	struct rex_join join;
};

static enum rex_poll parker_poll(void *p, struct rex_context *cx)
{
	struct parker *k = p;
	enum rex_poll r = REX_PENDING;
	int res;
	int64_t out;
	switch (k->kind) {
	case PARK_TIMER:
		if (!k->started)
			rex_sleep_init(&k->sleep, 3600ull * 1000000000u);
		r = rex_sleep_poll(&k->sleep, cx);
		break;
	case PARK_LOCAL_CHAN:
		if (!k->started)
			rex_chan_op_init(&k->chan_op, g_chan, &k->item);
		r = rex_chan_recv_poll(&k->chan_op, cx, &res);
		break;
	case PARK_SHARED_CHAN:
		if (!k->started) {
			ck_assert_int_eq(rex_shared_rx_connect(g_rx), 0);
			rex_shared_recv_init(&k->srecv, g_rx, &k->item);
		}
		r = rex_shared_recv_poll(&k->srecv, cx, &res);
		break;
	case PARK_IO_READ:
		if (!k->started)
			rex_io_read_init(&k->io, g_pipe[0], 64, -1);
		r = rex_io_poll(&k->io, cx, &res);
		break;
	case PARK_JOIN:
		if (!k->started) {
			rex_task *h;
			ck_assert_int_eq(rex_spawn(cx->executor,
						   &pending_child_vt, NULL, 0,
						   &h),
					 0);
			rex_join_init(&k->join, h);
		}
		r = rex_join_poll(&k->join, cx, &out);
		break;
	case PARK_NEVER_POLLED:
		ck_abort_msg("a never-polled task was polled");
		break;
	case PARK_FOREIGN_WAKER:
		if (!k->started)
			atomic_store(&g_held_waker,
				     rex_waker_clone(rex_context_waker(cx)));
		break;
	case PARK_KINDS:
		break;
	}
	k->started = 1;
	ck_assert_msg(r == REX_PENDING, "%s: not parked", park_names[k->kind]);
	g_parked = 1;
	return r;
}

static void parker_drop(void *p)
{
	struct parker *k = p;
	g_drops++;
	if (!k->started)
		return;
	switch (k->kind) {
	case PARK_TIMER:
		rex_sleep_drop(&k->sleep);
		break;
	case PARK_LOCAL_CHAN:
		rex_chan_op_drop(&k->chan_op);
		rex_chan_close_rx(g_chan);
		break;
	case PARK_SHARED_CHAN:
		rex_shared_recv_drop(&k->srecv);
		rex_shared_rx_close(g_rx);
		break;
	case PARK_IO_READ:
		rex_io_drop(&k->io);
		break;
	case PARK_JOIN:
		rex_join_drop(&k->join);
		break;
	default:
		break;
	}
}
static const struct rex_task_vtable parker_vt = { "parker", parker_poll,
						  parker_drop };

/* Root: spawn the parker, wait until it parked (unless it must never be
 * polled), return: the executor is freed with the parker parked. */
struct root {
	enum park_kind kind;
	int spawned;
};
static enum rex_poll root_poll(void *p, struct rex_context *cx)
{
	struct root *r = p;
	if (!r->spawned) {
		struct parker k = { .kind = r->kind };
		ck_assert_int_eq(rex_spawn(cx->executor, &parker_vt, &k,
					   sizeof(k), NULL),
				 0);
		r->spawned = 1;
	}
	if (r->kind == PARK_NEVER_POLLED ||
	    (g_parked && (r->kind != PARK_JOIN || g_child_parked)))
		return REX_READY;
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable root_vt = { "root", root_poll, NULL };

/* The shared channel's sending side: an executor on another thread that
 * holds tx open until the test releases it (checking every 10 ms: no fixed
 * delay, which a slow run such as valgrind's would outlast), then closes
 * it. */
static _Atomic int g_release_peer;
struct peer {
	rex_shared_tx *tx;
	struct rex_sleep sleep;
	int started;
};
static enum rex_poll peer_poll(void *p, struct rex_context *cx)
{
	struct peer *pr = p;
	if (!pr->started) {
		ck_assert_int_eq(rex_shared_tx_connect(pr->tx), 0);
		rex_sleep_init(&pr->sleep, 10 * 1000000ull);
		pr->started = 1;
	}
	while (rex_sleep_poll(&pr->sleep, cx) == REX_READY) {
		if (atomic_load(&g_release_peer)) {
			rex_shared_tx_close(pr->tx);
			pr->tx = NULL;
			return REX_READY;
		}
		rex_sleep_init(&pr->sleep, 10 * 1000000ull);
	}
	return REX_PENDING;
}
static void peer_drop(void *p)
{
	struct peer *pr = p;
	rex_sleep_drop(&pr->sleep);
	rex_shared_tx_close(pr->tx);
}
static const struct rex_task_vtable peer_vt = { "peer", peer_poll, peer_drop };

static _Atomic int g_release_waker;
static void *waker_holder(void *arg)
{
	(void)arg;
	rex_waker *w;
	while (!(w = atomic_load(&g_held_waker)))
		usleep(100);
	while (!atomic_load(&g_release_waker))
		usleep(100);
	rex_waker_wake_by_ref(w); /* the executor is gone by now */
	rex_waker_wake(w);
	return NULL;
}

/* legacy-448, close-eventfd and weak-notifier leave what is parked; a task
 * still in the run queue is runnable, and glommio dropped those. */
static int parked_is_left(enum park_kind kind, enum rex_drop_policy policy)
{
	return policy != REX_DROP_FIXED && kind != PARK_NEVER_POLLED;
}

static void check_parked(enum park_kind kind, enum rex_drop_policy policy)
{
	g_drops = g_child_drops = g_parked = g_child_parked = 0;
	g_release_waker = 0;
	g_release_peer = 0;
	atomic_store(&g_held_waker, NULL);
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();

	rex_chan *tx_chan = NULL;
	rex_thread *peer = NULL;
	pthread_t holder;
	switch (kind) {
	case PARK_LOCAL_CHAN:
		ck_assert_int_eq(rex_chan_new(sizeof(int), 4, &g_chan), 0);
		tx_chan = g_chan;
		break;
	case PARK_SHARED_CHAN: {
		rex_shared_tx *tx;
		ck_assert_int_eq(rex_shared_chan_new(sizeof(int), 4, &tx,
						     &g_rx),
				 0);
		struct peer pr = { .tx = tx };
		ck_assert_int_eq(rex_thread_spawn(NULL, &peer_vt, &pr,
						  sizeof(pr), &peer),
				 0);
		break;
	}
	case PARK_IO_READ:
		ck_assert_int_eq(pipe2(g_pipe, O_CLOEXEC), 0);
		break;
	case PARK_FOREIGN_WAKER:
		ck_assert_int_eq(pthread_create(&holder, NULL, waker_holder,
						NULL),
				 0);
		break;
	default:
		break;
	}

	struct root r = { .kind = kind };
	ck_assert_int_eq(run_once(policy, &root_vt, &r, sizeof(r)), 0);

	/* The executor is gone. What it owned must be too (fixed), or its
	 * eventfd must still be open (legacy-448), or its parked task left
	 * with the eventfd closed (close-eventfd, weak-notifier). */
	int leaked = parked_is_left(kind, policy);
	ck_assert_msg(g_drops == (leaked ? 0 : 1), "%s/%s: drop ran %d times",
		      park_names[kind], rex_policy_name(policy), g_drops);
	if (kind == PARK_JOIN)
		ck_assert_int_eq(g_child_drops, leaked ? 0 : 1);
	/* Closed at once but under legacy-448, though a held waker may still
	 * keep the task header alive (the peer's own executor is still
	 * running). */
	if (policy != REX_DROP_LEGACY_448 && kind != PARK_SHARED_CHAN)
		ck_assert_int_eq(fd_counts_now().eventfd, base.eventfd);

	/* let the outside world finish: peers, held wakers, channel ends */
	if (peer) {
		g_release_peer = 1;
		int64_t out;
		ck_assert_int_eq(rex_thread_join(peer, &out), 0);
	}
	if (kind == PARK_FOREIGN_WAKER) {
		g_release_waker = 1;
		pthread_join(holder, NULL);
	}
	if (tx_chan)
		rex_chan_close_tx(tx_chan);
	if (kind == PARK_IO_READ) {
		close(g_pipe[0]);
		close(g_pipe[1]);
	}

	struct fd_counts now = fd_counts_now();
	if (leaked && policy == REX_DROP_LEGACY_448) {
		ck_assert_msg(
			now.eventfd == base.eventfd + 1,
			"%s/legacy-448: eventfds %d, expected the leaked one (%d)",
			park_names[kind], now.eventfd, base.eventfd + 1);
		ck_assert_int_eq(now.io_uring, base.io_uring);
	} else if (leaked) { /* memory left, no fd */
		ck_assert_fds_eq(now, base);
	} else {
		ck_assert_fds_eq(now, base);
		ck_assert_msg(live_allocs() == allocs0,
			      "%s/%s: %ld heap blocks left", park_names[kind],
			      rex_policy_name(policy), live_allocs() - allocs0);
	}
}

START_TEST(parked_fixed)
{
	check_parked((enum park_kind)_i, REX_DROP_FIXED);
}
END_TEST

START_TEST(parked_legacy)
{
	expect_leaks();
	check_parked((enum park_kind)_i, REX_DROP_LEGACY_448);
}
END_TEST

START_TEST(parked_close_eventfd)
{
	expect_leaks();
	check_parked((enum park_kind)_i, REX_DROP_CLOSE_EVENTFD);
}
END_TEST

START_TEST(parked_weak_notifier)
{
	expect_leaks();
	check_parked((enum park_kind)_i, REX_DROP_WEAK_NOTIFIER);
}
END_TEST

/* ---- destructors that wake, cancel and spawn during teardown ------------------ */
static _Atomic int g_victim_drops, g_woken_drops, g_destroyer_drops,
	g_spawned_drops;
static rex_task *g_victim;
static rex_waker *g_woken_waker;
static int g_spawn_result;

static void victim_drop(void *s)
{
	(void)s;
	g_victim_drops++;
}
static const struct rex_task_vtable victim_vt = { "victim", pending_poll,
						  victim_drop };

static enum rex_poll woken_poll(void *s, struct rex_context *cx)
{
	(void)s;
	if (!g_woken_waker)
		g_woken_waker = rex_waker_clone(rex_context_waker(cx));
	return REX_PENDING;
}
static void woken_drop(void *s)
{
	(void)s;
	g_woken_drops++;
}
static const struct rex_task_vtable woken_vt = { "woken", woken_poll,
						 woken_drop };

static void spawned_drop(void *s)
{
	(void)s;
	g_spawned_drops++;
}
static const struct rex_task_vtable spawned_vt = { "spawned", pending_poll,
						   spawned_drop };

static void destroyer_drop(void *s)
{
	(void)s;
	g_destroyer_drops++;
	if (g_woken_waker) {
		rex_waker_wake(g_woken_waker);
		g_woken_waker = NULL;
	}
	ck_assert_int_eq(rex_task_cancel(g_victim), 0);
	rex_task_detach(g_victim);
	g_victim = NULL;
	g_spawn_result = rex_spawn(rex_current(), &spawned_vt, NULL, 0, NULL);
}
static const struct rex_task_vtable destroyer_vt = { "destroyer", pending_poll,
						     destroyer_drop };

struct d_root {
	int destroyer_first;
	int step;
};
static enum rex_poll d_root_poll(void *p, struct rex_context *cx)
{
	struct d_root *r = p;
	if (r->step++ == 0) {
		if (r->destroyer_first)
			ck_assert_int_eq(rex_spawn(cx->executor, &destroyer_vt,
						   NULL, 0, NULL),
					 0);
		ck_assert_int_eq(rex_spawn(cx->executor, &victim_vt, NULL, 0,
					   &g_victim),
				 0);
		ck_assert_int_eq(rex_spawn(cx->executor, &woken_vt, NULL, 0,
					   NULL),
				 0);
		if (!r->destroyer_first)
			ck_assert_int_eq(rex_spawn(cx->executor, &destroyer_vt,
						   NULL, 0, NULL),
					 0);
		rex_waker_wake_by_ref(rex_context_waker(cx));
		return REX_PENDING; /* let them all be polled once */
	}
	return REX_READY;
}
static const struct rex_task_vtable d_root_vt = { "d_root", d_root_poll, NULL };

START_TEST(destructors_wake_cancel_spawn)
{
	g_victim_drops = g_woken_drops = g_destroyer_drops = g_spawned_drops = 0;
	g_woken_waker = NULL;
	g_spawn_result = 1;
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	/* the registry is LIFO: _i picks whether the destroyer goes first or last */
	struct d_root r = { .destroyer_first = _i };
	ck_assert_int_eq(run_once(REX_DROP_FIXED, &d_root_vt, &r, sizeof(r)),
			 0);
	ck_assert_int_eq(g_victim_drops, 1);
	ck_assert_int_eq(g_woken_drops, 1);
	ck_assert_int_eq(g_destroyer_drops, 1);
	ck_assert_int_eq(g_spawn_result, -ECANCELED);
	ck_assert_int_eq(g_spawned_drops, 1);
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(live_allocs(), allocs0);
}
END_TEST

/* ---- an openat in flight at teardown: the fd it returns is closed ------------- */
struct opener {
	struct rex_io io;
	int started;
};
static enum rex_poll opener_poll(void *p, struct rex_context *cx)
{
	struct opener *o = p;
	if (!o->started) {
		rex_io_openat_init(&o->io, AT_FDCWD, "/dev/null", O_RDONLY, 0);
		o->started = 1;
	}
	int res;
	if (rex_io_poll(&o->io, cx, &res) == REX_READY)
		close(res); /* completed before teardown after all */
	return REX_PENDING;
}
static void opener_drop(void *p)
{
	rex_io_drop(&((struct opener *)p)->io);
}
static const struct rex_task_vtable opener_vt = { "opener", opener_poll,
						  opener_drop };

struct o_root {
	int step;
};
static enum rex_poll o_root_poll(void *p, struct rex_context *cx)
{
	struct o_root *r = p;
	if (r->step++ == 0) {
		struct opener o = { 0 };
		ck_assert_int_eq(rex_spawn(cx->executor, &opener_vt, &o,
					   sizeof(o), NULL),
				 0);
		rex_waker_wake_by_ref(rex_context_waker(cx));
		return REX_PENDING;
	}
	/* The opener prepared its SQE; returning now leaves it to be
	 * submitted as the run ends, its completion unreaped. */
	return REX_READY;
}
static const struct rex_task_vtable o_root_vt = { "o_root", o_root_poll, NULL };

START_TEST(openat_in_flight_is_closed)
{
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	unsigned long orphans0 = rex_fault_orphan_fds();
	for (int i = 0; i < 50; i++) {
		struct o_root r = { 0 };
		ck_assert_int_eq(run_once(REX_DROP_FIXED, &o_root_vt, &r,
					  sizeof(r)),
				 0);
		ck_assert_fds_eq(fd_counts_now(), base);
	}
	ck_assert_int_eq(live_allocs(), allocs0);
	/* not vacuous: some opens did complete after their future was gone */
	ck_assert_uint_gt(rex_fault_orphan_fds() - orphans0, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("teardown");
	TCase *tc = tcase_create("teardown");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, parked_fixed, 0, PARK_SHARED_CHAN);
	tcase_add_loop_test(tc, parked_fixed, PARK_SHARED_CHAN + 1, PARK_KINDS);
	tcase_add_loop_test(tc, destructors_wake_cancel_spawn, 0, 2);
	tcase_add_test(tc, openat_in_flight_is_closed);
	suite_add_tcase(s, tc);
	/* The shared channel's peer executor sleeps in io_uring_enter (10 ms
	 * timers); valgrind holds its big lock across that syscall and the
	 * test thread starves: it timed out at 60 s in about one valgrind run
	 * in three, before the new policies as after. ASan and TSan run it. */
	TCase *shared = tcase_create("teardown-shared-chan");
	tcase_set_tags(shared, "blocks-in-io-uring-enter");
	tcase_set_timeout(shared, 60);
	tcase_add_loop_test(shared, parked_fixed, PARK_SHARED_CHAN,
			    PARK_SHARED_CHAN + 1);
	suite_add_tcase(s, shared);
	/* the reproduction leaks by design; valgrind runs skip this tag */
	TCase *legacy = tcase_create("teardown-legacy-448");
	tcase_set_tags(legacy, "leaks-on-purpose");
	tcase_set_timeout(legacy, 60);
	tcase_add_loop_test(legacy, parked_legacy, 0, PARK_KINDS);
	suite_add_tcase(s, legacy);
	/* the seed's options B and C leave parked tasks too */
	TCase *options = tcase_create("teardown-options-b-c");
	tcase_set_tags(options, "leaks-on-purpose");
	tcase_set_timeout(options, 60);
	tcase_add_loop_test(options, parked_close_eventfd, 0, PARK_KINDS);
	tcase_add_loop_test(options, parked_weak_notifier, 0, PARK_KINDS);
	suite_add_tcase(s, options);
	return check_run_suite(s);
}
