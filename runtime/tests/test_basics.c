/* The runtime does what it says: spawn, join, cancel, detach, timers, yield,
 * local channel, io_uring ops. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- a child that yields n times then returns n*10 ------------------------- */
struct child {
	int n, polls;
	int *dropped;
};
static enum rex_poll child_poll(void *p, struct rex_context *cx)
{
	struct child *c = p;
	if (c->polls++ < c->n) {
		rex_waker_wake_by_ref(rex_context_waker(cx));
		return REX_PENDING;
	}
	cx->output = c->n * 10;
	return REX_READY;
}
static void child_drop(void *p)
{
	struct child *c = p;
	(*c->dropped)++;
}
static const struct rex_task_vtable child_vt = { "child", child_poll,
						 child_drop };

/* ---- root: spawn three children, join all, cancel one ---------------------- */
struct join_root {
	int step;
	int dropped;
	struct rex_join j[3];
	int64_t out[3];
	rex_task *victim;
};
static enum rex_poll join_root_poll(void *p, struct rex_context *cx)
{
	struct join_root *r = p;
	if (r->step == 0) {
		for (int i = 0; i < 3; i++) {
			struct child c = { .n = i + 1, .dropped = &r->dropped };
			rex_task *h;
			ck_assert_int_eq(rex_spawn(cx->executor, &child_vt, &c,
						   sizeof(c), &h),
					 0);
			rex_join_init(&r->j[i], h);
		}
		/* the victim never finishes by itself */
		struct child v = { .n = 1 << 30, .dropped = &r->dropped };
		ck_assert_int_eq(rex_spawn(cx->executor, &child_vt, &v,
					   sizeof(v), &r->victim),
				 0);
		r->step = 1;
	}
	for (int i = 0; i < 3; i++)
		if (r->j[i].task &&
		    rex_join_poll(&r->j[i], cx, &r->out[i]) == REX_PENDING)
			return REX_PENDING;
	ck_assert_int_eq(rex_task_cancel(r->victim), 0);
	ck_assert(rex_task_is_finished(r->victim));
	struct rex_join jv;
	rex_join_init(&jv, r->victim);
	int64_t vout = 0;
	ck_assert_int_eq(rex_join_poll(&jv, cx, &vout), REX_READY);
	ck_assert_int_eq(vout, -ECANCELED);
	rex_join_drop(&jv);
	for (int i = 0; i < 3; i++) {
		rex_join_drop(&r->j[i]);
		ck_assert_int_eq(r->out[i], (i + 1) * 10);
	}
	cx->output = r->dropped;
	return REX_READY;
}
static const struct rex_task_vtable join_root_vt = { "join_root",
						     join_root_poll, NULL };

START_TEST(spawn_join_cancel)
{
	rex_executor *ex;
	ck_assert_int_eq(rex_executor_new(NULL, &ex), 0);
	struct join_root r = { 0 };
	int64_t out = -1;
	ck_assert_int_eq(rex_executor_run(ex, &join_root_vt, &r, sizeof(r),
					  &out),
			 0);
	ck_assert_int_eq(out,
			 4); /* 3 completed + 1 cancelled, each dropped once */
	rex_executor_free(ex);
}
END_TEST

/* ---- timers fire in deadline order, not earlier ----------------------------- */
struct sleeper {
	struct rex_sleep s;
	int id;
	int *order, *n;
};
static enum rex_poll sleeper_poll(void *p, struct rex_context *cx)
{
	struct sleeper *s = p;
	if (rex_sleep_poll(&s->s, cx) == REX_PENDING)
		return REX_PENDING;
	ck_assert(rex_now_ns() >= s->s.deadline_ns);
	s->order[(*s->n)++] = s->id;
	return REX_READY;
}
static void sleeper_drop(void *p)
{
	rex_sleep_drop(&((struct sleeper *)p)->s);
}
static const struct rex_task_vtable sleeper_vt = { "sleeper", sleeper_poll,
						   sleeper_drop };

/* root state is copied into the task; record results in statics */
static int g_order[5], g_norder;
struct order_root {
	struct rex_join j[5];
	int started;
};
static enum rex_poll order_root_poll(void *p, struct rex_context *cx)
{
	struct order_root *r = p;
	static const int ms[5] = { 30, 10, 50, 20, 40 };
	if (!r->started) {
		for (int i = 0; i < 5; i++) {
			struct sleeper s = { .id = ms[i],
					     .order = g_order,
					     .n = &g_norder };
			rex_sleep_init(&s.s, (uint64_t)ms[i] * 1000000);
			rex_task *h;
			ck_assert_int_eq(rex_spawn(cx->executor, &sleeper_vt,
						   &s, sizeof(s), &h),
					 0);
			rex_join_init(&r->j[i], h);
		}
		r->started = 1;
	}
	for (int i = 0; i < 5; i++)
		if (rex_join_poll(&r->j[i], cx, NULL) == REX_PENDING)
			return REX_PENDING;
	for (int i = 0; i < 5; i++)
		rex_join_drop(&r->j[i]);
	return REX_READY;
}
static const struct rex_task_vtable order_root_vt = { "order_root",
						      order_root_poll, NULL };

START_TEST(timer_order)
{
	g_norder = 0;
	struct order_root r = { 0 };
	uint64_t t0 = rex_now_ns();
	ck_assert_int_eq(run_once(REX_DROP_FIXED, &order_root_vt, &r,
				  sizeof(r)),
			 0);
	uint64_t elapsed = rex_now_ns() - t0;
	ck_assert(elapsed >= 50 * 1000000ull); /* not earlier than the last */
	ck_assert(elapsed < 2000 * 1000000ull);
	ck_assert_int_eq(g_norder, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(g_order[i], (i + 1) * 10);
}
END_TEST

/* ---- local channel: producer/consumer with capacity 2 ------------------------ */
static int g_received[100], g_nreceived, g_recv_result;
struct producer {
	rex_chan *ch;
	int next;
	struct rex_chan_op op;
	int item;
	int pending;
};
static enum rex_poll producer_poll(void *p, struct rex_context *cx)
{
	struct producer *pr = p;
	for (;;) {
		if (pr->next == 100) {
			rex_chan_close_tx(pr->ch);
			pr->ch = NULL;
			return REX_READY;
		}
		if (!pr->pending) {
			pr->item = pr->next;
			rex_chan_op_init(&pr->op, pr->ch, &pr->item);
			pr->pending = 1;
		}
		int res;
		if (rex_chan_send_poll(&pr->op, cx, &res) == REX_PENDING)
			return REX_PENDING;
		ck_assert_int_eq(res, 0);
		pr->pending = 0;
		pr->next++;
	}
}
static const struct rex_task_vtable producer_vt = { "producer", producer_poll,
						    NULL };

struct consumer {
	rex_chan *ch;
	struct rex_chan_op op;
	int item;
	int pending;
};
static enum rex_poll consumer_poll(void *p, struct rex_context *cx)
{
	struct consumer *c = p;
	for (;;) {
		if (!c->pending) {
			rex_chan_op_init(&c->op, c->ch, &c->item);
			c->pending = 1;
		}
		int res;
		if (rex_chan_recv_poll(&c->op, cx, &res) == REX_PENDING)
			return REX_PENDING;
		c->pending = 0;
		if (res) {
			g_recv_result = res;
			rex_chan_close_rx(c->ch);
			return REX_READY;
		}
		g_received[g_nreceived++] = c->item;
	}
}
static const struct rex_task_vtable consumer_vt = { "consumer", consumer_poll,
						    NULL };

struct chan_root {
	int started;
	struct rex_join j;
};
static enum rex_poll chan_root_poll(void *p, struct rex_context *cx)
{
	struct chan_root *r = p;
	if (!r->started) {
		rex_chan *ch;
		ck_assert_int_eq(rex_chan_new(sizeof(int), 2, &ch), 0);
		struct consumer c = { .ch = ch };
		struct producer pr = { .ch = ch };
		rex_task *h;
		ck_assert_int_eq(rex_spawn(cx->executor, &consumer_vt, &c,
					   sizeof(c), &h),
				 0);
		ck_assert_int_eq(rex_spawn(cx->executor, &producer_vt, &pr,
					   sizeof(pr), NULL),
				 0);
		rex_join_init(&r->j, h);
		r->started = 1;
	}
	if (rex_join_poll(&r->j, cx, NULL) == REX_PENDING)
		return REX_PENDING;
	rex_join_drop(&r->j);
	return REX_READY;
}
static const struct rex_task_vtable chan_root_vt = { "chan_root",
						     chan_root_poll, NULL };

START_TEST(local_channel_in_order_then_closed)
{
	struct chan_root r = { 0 };
	g_nreceived = 0;
	g_recv_result = 0;
	long live0 = live_allocs();
	ck_assert_int_eq(run_once(REX_DROP_FIXED, &chan_root_vt, &r, sizeof(r)),
			 0);
	ck_assert_int_eq(g_nreceived, 100);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(g_received[i], i);
	ck_assert_int_eq(g_recv_result, -EPIPE);
	ck_assert_int_eq(live_allocs(), live0);
}
END_TEST

/* ---- io: write then read a pipe, openat + close a file ------------------------- */
struct io_root {
	int step;
	int pipe_r, pipe_w;
	struct rex_io io;
	char got[16];
	int opened_fd;
};
static enum rex_poll io_root_poll(void *p, struct rex_context *cx)
{
	struct io_root *r = p;
	int res;
	for (;;) {
		switch (r->step) {
		case 0:
			rex_io_write_init(&r->io, r->pipe_w, "hello", 5, -1);
			r->step = 1;
			/* fallthrough */
		case 1:
			if (rex_io_poll(&r->io, cx, &res) == REX_PENDING)
				return REX_PENDING;
			ck_assert_int_eq(res, 5);
			rex_io_drop(&r->io);
			rex_io_read_init(&r->io, r->pipe_r, sizeof(r->got), -1);
			r->step = 2;
			/* fallthrough */
		case 2:
			if (rex_io_poll(&r->io, cx, &res) == REX_PENDING)
				return REX_PENDING;
			ck_assert_int_eq(res, 5);
			ck_assert(memcmp(rex_io_read_data(&r->io), "hello",
					 5) == 0);
			rex_io_drop(&r->io);
			rex_io_openat_init(&r->io, AT_FDCWD,
					   "/proc/self/status", O_RDONLY, 0);
			r->step = 3;
			/* fallthrough */
		case 3:
			if (rex_io_poll(&r->io, cx, &res) == REX_PENDING)
				return REX_PENDING;
			ck_assert_int_ge(res, 0);
			r->opened_fd = res;
			rex_io_drop(&r->io);
			rex_io_close_init(&r->io, r->opened_fd);
			r->step = 4;
			/* fallthrough */
		case 4:
			if (rex_io_poll(&r->io, cx, &res) == REX_PENDING)
				return REX_PENDING;
			ck_assert_int_eq(res, 0);
			rex_io_drop(&r->io);
			return REX_READY;
		}
	}
}
static const struct rex_task_vtable io_root_vt = { "io_root", io_root_poll,
						   NULL };

START_TEST(io_ops_work)
{
	int fds[2];
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	struct fd_counts before = fd_counts_now();
	struct io_root r = { .pipe_r = fds[0], .pipe_w = fds[1] };
	ck_assert_int_eq(run_once(REX_DROP_FIXED, &io_root_vt, &r, sizeof(r)),
			 0);
	ck_assert_fds_eq(fd_counts_now(), before);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* ---- a task woken from another thread while the executor sleeps --------------- */
#include <pthread.h>
static _Atomic(rex_waker *) g_remote_waker;
struct remote_wait {
	int parked;
};
static enum rex_poll remote_wait_poll(void *p, struct rex_context *cx)
{
	struct remote_wait *w = p;
	if (w->parked)
		return REX_READY;
	w->parked = 1;
	atomic_store(&g_remote_waker, rex_waker_clone(rex_context_waker(cx)));
	return REX_PENDING;
}
static const struct rex_task_vtable remote_wait_vt = { "remote_wait",
						       remote_wait_poll, NULL };
static void *remote_waker_thread(void *arg)
{
	(void)arg;
	rex_waker *w;
	while (!(w = atomic_load(&g_remote_waker)))
		usleep(100);
	usleep(20000); /* let the executor fall asleep */
	rex_waker_wake(w);
	return NULL;
}

/* under every policy: each guards the eventfd write its own way */
START_TEST(foreign_wake_interrupts_sleep)
{
	atomic_store(&g_remote_waker, NULL);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, remote_waker_thread, NULL),
			 0);
	rex_executor *ex;
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.policy = (enum rex_drop_policy)_i;
	ck_assert_int_eq(rex_executor_new(&cfg, &ex), 0);
	struct remote_wait w = { 0 };
	ck_assert_int_eq(rex_executor_run(ex, &remote_wait_vt, &w, sizeof(w),
					  NULL),
			 0);
	struct rex_executor_stats st;
	rex_executor_stats(ex, &st);
	ck_assert_uint_ge(st.sleeps, 1);
	ck_assert_uint_eq(st.foreign_wakes, 1);
	rex_executor_free(ex);
	pthread_join(th, NULL);
}
END_TEST

START_TEST(policy_names)
{
	enum rex_drop_policy p;
	ck_assert_int_eq(rex_policy_parse("fixed", &p), 0);
	ck_assert_int_eq(p, REX_DROP_FIXED);
	ck_assert_int_eq(rex_policy_parse("legacy-448", &p), 0);
	ck_assert_int_eq(p, REX_DROP_LEGACY_448);
	ck_assert_int_eq(rex_policy_parse("close-eventfd", &p), 0);
	ck_assert_int_eq(p, REX_DROP_CLOSE_EVENTFD);
	ck_assert_int_eq(rex_policy_parse("weak-notifier", &p), 0);
	ck_assert_int_eq(p, REX_DROP_WEAK_NOTIFIER);
	ck_assert_int_eq(rex_policy_parse("legacy", &p), -EINVAL);
	ck_assert_str_eq(rex_policy_name(REX_DROP_LEGACY_448), "legacy-448");
	ck_assert_str_eq(rex_policy_name(REX_DROP_CLOSE_EVENTFD),
			 "close-eventfd");
	ck_assert_str_eq(rex_policy_name(REX_DROP_WEAK_NOTIFIER),
			 "weak-notifier");
	ck_assert_ptr_null(rex_policy_name(REX_DROP_POLICY_COUNT));
	/* every name parses back to its policy, and an executor takes it */
	for (int i = 0; i < REX_DROP_POLICY_COUNT; i++) {
		ck_assert_int_eq(rex_policy_parse(rex_policy_name(i), &p), 0);
		ck_assert_int_eq(p, i);
		/* glommio-448 leaks even with nothing parked: test_glommio */
		if (p != REX_DROP_GLOMMIO_448)
			ck_assert_int_eq(run_once(p, &noop_task, NULL, 0), 0);
	}
}
END_TEST

/* cfg.cpu: -1 is no pinning, a CPU the machine has pins, anything else
 * (another negative, a CPU it lacks) is -EINVAL and no executor. */
START_TEST(config_cpu_checked)
{
	struct rex_config cfg;
	rex_executor *ex = (rex_executor *)&cfg;
	const int bad[] = { -2, -5, -2147483647 - 1, CPU_SETSIZE };

	rex_config_init(&cfg);
	ck_assert_int_eq(cfg.cpu, -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.cpu = bad[i];
		ck_assert_msg(rex_executor_new(&cfg, &ex) == -EINVAL,
			      "cpu %d accepted", bad[i]);
		ck_assert_ptr_null(ex);
	}
	cfg.cpu = -1;
	ck_assert_int_eq(rex_executor_new(&cfg, &ex), 0);
	rex_executor_free(ex);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("basics");
	TCase *tc = tcase_create("basics");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, spawn_join_cancel);
	tcase_add_test(tc, timer_order);
	tcase_add_test(tc, local_channel_in_order_then_closed);
	tcase_add_test(tc, io_ops_work);
	tcase_add_test(tc, policy_names);
	tcase_add_test(tc, config_cpu_checked);
	suite_add_tcase(s, tc);
	/* valgrind holds its lock across io_uring_enter: a wake from another
	 * thread can never arrive there, so valgrind runs skip this tag */
	TCase *cross = tcase_create("cross-thread-sleep");
	tcase_set_tags(cross, "blocks-in-io-uring-enter");
	tcase_set_timeout(cross, 30);
	tcase_add_loop_test(cross, foreign_wake_interrupts_sleep, 0,
			    REX_DROP_POLICY_COUNT);
	suite_add_tcase(s, cross);
	return check_run_suite(s);
}
