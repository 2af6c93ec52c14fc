/* The investigation's options B and C as drop policies, close-eventfd and
 * weak-notifier (docs/design.md §3.6, §3.7): the eventfd is closed at drop
 * though parked tasks and outside wakers live on; no late wake writes a byte
 * to a closed or reused fd number, even one caught inside its guard when the
 * executor is freed; a weak upgrade after the drop does nothing and frees
 * nothing; what the teardown totals count. (Wakes racing with the drop:
 * test_policy_races.c.)
 *
 * B and C leave parked tasks behind by design (like legacy-448): those
 * tests call expect_leaks() and carry the "leaks-on-purpose" tag. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fault.h"
#include "internal.h"
#include "testutil.h"

/* _i of the loop tests below indexes these */
static const enum rex_drop_policy options[] = { REX_DROP_CLOSE_EVENTFD,
						REX_DROP_WEAK_NOTIFIER };
#define OPTIONS 2

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Put a fresh eventfd at number `fd`, which must be free: the fd number a
 * closed eventfd had, handed to someone else. */
static int reuse_number(int fd)
{
	ck_assert_msg(!fd_is_open(fd), "fd %d is still open", fd);
	int probe = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(probe, 0);
	if (probe != fd) {
		ck_assert_int_eq(dup2(probe, fd), fd);
		close(probe);
	}
	return fd;
}

/* 0 when nothing was ever written to the eventfd at `fd`. */
static uint64_t eventfd_count(int fd)
{
	eventfd_t v = 0;
	if (eventfd_read(fd, &v) != 0) {
		ck_assert_int_eq(errno, EAGAIN);
		return 0;
	}
	return v;
}

/* ---- parked tasks that hand their wakers to the outside ------------------------ */

#define MAX_PARKED 64
static rex_waker *g_wakers[MAX_PARKED];
static _Atomic int g_parked_drops;

struct hand_off {
	int index, started;
};
static enum rex_poll hand_off_poll(void *p, struct rex_context *cx)
{
	struct hand_off *h = p;
	if (!h->started) {
		h->started = 1;
		g_wakers[h->index] = rex_waker_clone(rex_context_waker(cx));
	}
	return REX_PENDING;
}
static void hand_off_drop(void *p)
{
	(void)p;
	g_parked_drops++;
}
static const struct rex_task_vtable hand_off_vt = { "hand_off", hand_off_poll,
						    hand_off_drop };

/* Spawns `parked` hand-off tasks, lets each be polled once, returns. */
struct park_root {
	int parked, step;
};
static enum rex_poll park_root_poll(void *p, struct rex_context *cx)
{
	struct park_root *r = p;
	if (r->step++ == 0) {
		for (int i = 0; i < r->parked; i++) {
			struct hand_off h = { .index = i };
			ck_assert_int_eq(rex_spawn(cx->executor, &hand_off_vt,
						   &h, sizeof(h), NULL),
					 0);
		}
		rex_waker_wake_by_ref(rex_context_waker(cx));
		return REX_PENDING;
	}
	return REX_READY;
}
static const struct rex_task_vtable park_root_vt = { "park_root",
						     park_root_poll, NULL };

/* A new executor with `parked` tasks parked, their wakers in g_wakers;
 * returns it still alive, its eventfd in *efd. */
static rex_executor *executor_with_parked(enum rex_drop_policy policy,
					  int parked, int *efd)
{
	g_parked_drops = 0;
	for (int i = 0; i < MAX_PARKED; i++)
		g_wakers[i] = NULL;
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.policy = policy;
	rex_executor *ex;
	ck_assert_int_eq(rex_executor_new(&cfg, &ex), 0);
	struct park_root r = { .parked = parked };
	ck_assert_int_eq(rex_executor_run(ex, &park_root_vt, &r, sizeof(r),
					  NULL),
			 0);
	for (int i = 0; i < parked; i++)
		ck_assert_ptr_nonnull(g_wakers[i]);
	struct rex_executor_stats st;
	rex_executor_stats(ex, &st);
	*efd = st.eventfd;
	ck_assert_int_ge(*efd, 0);
	return ex;
}

/* ---- the eventfd is closed at drop while foreign wakers live ----------------------- */

#define HELD 8
static _Atomic int g_release_holder;
static _Atomic int g_holder_has_wakers;

/* Holds the parked tasks' wakers on another thread until released, then
 * wakes each (late) and drops it. */
static void *waker_holder(void *arg)
{
	rex_waker **held = arg;
	g_holder_has_wakers = 1;
	while (!g_release_holder)
		usleep(100);
	for (int i = 0; i < HELD; i++) {
		rex_waker_wake_by_ref(held[i]);
		rex_waker_wake(held[i]);
	}
	return NULL;
}

START_TEST(eventfd_closed_at_drop_while_wakers_live)
{
	expect_leaks();
	enum rex_drop_policy policy = options[_i];
	struct fd_counts base = fd_counts_now();
	int efd;
	rex_executor *ex = executor_with_parked(policy, HELD, &efd);
	static rex_waker *held[HELD];
	for (int i = 0; i < HELD; i++)
		held[i] = g_wakers[i];
	g_release_holder = 0;
	g_holder_has_wakers = 0;
	pthread_t holder;
	ck_assert_int_eq(pthread_create(&holder, NULL, waker_holder, held), 0);
	while (!g_holder_has_wakers)
		usleep(100);
	ck_assert_int_eq(fd_counts_now().eventfd, base.eventfd + 1);

	rex_executor_free(ex);
	/* before the wakers are released: already closed, ring too */
	struct fd_counts now = fd_counts_now();
	ck_assert_msg(now.eventfd == base.eventfd,
		      "%s: eventfds %d after drop, expected %d",
		      rex_policy_name(policy), now.eventfd, base.eventfd);
	ck_assert_int_eq(now.io_uring, base.io_uring);
	ck_assert(!fd_is_open(efd));
	ck_assert_int_eq(g_parked_drops, 0); /* left parked, by design */

	g_release_holder = 1;
	pthread_join(holder, NULL);
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(g_parked_drops, 0);
}
END_TEST

/* ---- late wakes never reach a reused fd number --------------------------------------
 * A waker that found should_notify set holds the eventfd's number inside its
 * guard (fence, mutex, strong reference) when the executor is freed; the
 * write hook holds it exactly there. The eventfd must stay open until it
 * has written, and once it is closed and its number reused, no late wake
 * may write to it. After a normal run should_notify is 0, so a late wake
 * would not even try; the test sets it before each one so that every wake
 * goes down the write path, the worst case. */

static _Atomic int g_hold_next, g_inside, g_release_inside;
static _Atomic long g_guarded_writes;

static void hold_first_writer(void)
{
	g_guarded_writes++;
	if (!atomic_exchange(&g_hold_next, 0))
		return;
	g_inside = 1;
	while (!g_release_inside)
		usleep(100);
}

static void *wake_first(void *arg)
{
	rex_waker *w = arg;
	atomic_store(&w->notifier->should_notify, 1); /* the owner was asleep */
	rex_waker_wake_by_ref(w);
	return NULL;
}

static _Atomic int g_freed;
static void *free_executor(void *arg)
{
	rex_executor_free(arg);
	g_freed = 1;
	return NULL;
}

#define LATE_ROUNDS 100
static _Atomic long g_late_wakes;
static void *wake_late(void *arg)
{
	int parked = *(int *)arg;
	for (int round = 0; round < LATE_ROUNDS; round++) {
		for (int i = 0; i < parked; i++) {
			atomic_store(&g_wakers[i]->notifier->should_notify, 1);
			rex_waker_wake_by_ref(g_wakers[i]);
			g_late_wakes++;
		}
	}
	return NULL;
}

static void check_no_write_to_reused_number(enum rex_drop_policy policy)
{
	const int parked = MAX_PARKED;
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	int efd;
	rex_executor *ex = executor_with_parked(policy, parked, &efd);

	g_inside = g_release_inside = g_freed = 0;
	g_guarded_writes = g_late_wakes = 0;
	g_hold_next = 1;
	rex_fault_set_wake_write_hook(hold_first_writer);
	pthread_t waker, freer;
	ck_assert_int_eq(pthread_create(&waker, NULL, wake_first, g_wakers[0]),
			 0);
	while (!g_inside)
		usleep(100);

	/* the executor is freed while that waker is inside its guard */
	ck_assert_int_eq(pthread_create(&freer, NULL, free_executor, ex), 0);
	for (int ms = 0; ms < 50 && !g_freed; ms++)
		usleep(1000);
	ck_assert_msg(fd_is_open(efd),
		      "%s: eventfd closed while a waker was inside its guard",
		      rex_policy_name(policy));
	if (policy == REX_DROP_WEAK_NOTIFIER) /* the drop does not wait */
		ck_assert_msg(g_freed,
			      "weak-notifier: the drop waited for a waker");
	g_release_inside = 1;
	pthread_join(waker, NULL);
	pthread_join(freer, NULL);
	ck_assert_int_eq(g_guarded_writes, 1);
	/* the waker's write went to this executor's eventfd; now it is closed
	 * (under weak-notifier by that waker, the last strong reference) */
	ck_assert_msg(!fd_is_open(efd),
		      "%s: eventfd %d still open after the drop",
		      rex_policy_name(policy), efd);

	int probe = reuse_number(efd);
	long allocs_before_late = live_allocs();
	pthread_t late;
	int count = parked;
	ck_assert_int_eq(pthread_create(&late, NULL, wake_late, &count), 0);
	pthread_join(late, NULL);
	ck_assert_int_eq(g_late_wakes, (long)LATE_ROUNDS * parked);
	ck_assert_msg(
		eventfd_count(probe) == 0,
		"%s: a late wake wrote to the eventfd now at the old number",
		rex_policy_name(policy));
	ck_assert_int_eq(live_allocs(), allocs_before_late); /* freed nothing */
	ck_assert_int_eq(g_guarded_writes, 1); /* only the one held inside */
	/* How far the late wakes went: under close-eventfd each queued its task
	 * (on a queue nobody drains), took should_notify, then the mutex, and
	 * found no fd; under weak-notifier the upgrade failed before the task
	 * was touched; under fixed the tasks were closed at the drop. */
	for (int i = 1; i < parked; i++) {
		uint64_t s = atomic_load(&g_wakers[i]->state);
		if (policy == REX_DROP_CLOSE_EVENTFD)
			ck_assert(s & TASK_SCHEDULED);
		else if (policy == REX_DROP_WEAK_NOTIFIER)
			ck_assert(!(s & (TASK_SCHEDULED | TASK_FINISHED)));
		else
			ck_assert(s & TASK_CLOSED);
	}
	close(probe);
	rex_fault_set_wake_write_hook(NULL);

	for (int i = 0; i < parked; i++)
		rex_waker_drop(g_wakers[i]);
	ck_assert_fds_eq(fd_counts_now(), base);
	if (policy == REX_DROP_FIXED) {
		ck_assert_int_eq(g_parked_drops, parked);
		ck_assert_int_eq(live_allocs(), allocs0);
	} else {
		ck_assert_int_eq(g_parked_drops, 0);
	}
}

START_TEST(no_write_to_reused_number)
{
	expect_leaks();
	check_no_write_to_reused_number(options[_i]);
}
END_TEST

/* The same protocol holds under fixed (its fence), which leaks nothing. */
START_TEST(no_write_to_reused_number_fixed)
{
	check_no_write_to_reused_number(REX_DROP_FIXED);
}
END_TEST

/* ---- weak-notifier: a failed upgrade does nothing ------------------------------------
 * A task that hands its waker out and completes is a zombie the waker keeps;
 * its header holds the notifier's only weak reference after the drop. */

static enum rex_poll zombie_poll(void *p, struct rex_context *cx)
{
	(void)p;
	g_wakers[0] = rex_waker_clone(rex_context_waker(cx));
	return REX_READY;
}
static const struct rex_task_vtable zombie_vt = { "zombie", zombie_poll, NULL };

struct zombie_root {
	int step;
};
static enum rex_poll zombie_root_poll(void *p, struct rex_context *cx)
{
	struct zombie_root *r = p;
	if (r->step++ == 0) {
		ck_assert_int_eq(rex_spawn(cx->executor, &zombie_vt, NULL, 0,
					   NULL),
				 0);
		rex_waker_wake_by_ref(rex_context_waker(cx));
		return REX_PENDING;
	}
	return REX_READY;
}
static const struct rex_task_vtable zombie_root_vt = { "zombie_root",
						       zombie_root_poll, NULL };

static void *wake_zombie(void *arg)
{
	rex_waker *w = arg;
	for (int i = 0; i < 1000; i++) {
		atomic_store(&w->notifier->should_notify, 1);
		rex_waker_wake_by_ref(w);
	}
	return NULL;
}

START_TEST(weak_upgrade_fails_after_drop)
{
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	g_wakers[0] = NULL;
	struct zombie_root r = { 0 };
	ck_assert_int_eq(run_once(REX_DROP_WEAK_NOTIFIER, &zombie_root_vt, &r,
				  sizeof(r)),
			 0);
	rex_waker *w = g_wakers[0];
	ck_assert_ptr_nonnull(w);
	struct rex_notifier *n = w->notifier;
	ck_assert_fds_eq(fd_counts_now(),
			 base); /* eventfd closed at the drop */
	ck_assert_uint_eq(atomic_load(&n->strong), 0);
	ck_assert_uint_eq(atomic_load(&n->refs), 1); /* the zombie's weak one */
	ck_assert_int_eq(n->efd, -1);
	uint64_t state = atomic_load(&w->state);
	long allocs = live_allocs();
	ck_assert_int_eq(allocs - allocs0,
			 2); /* the zombie header, the notifier */

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, wake_zombie, w), 0);
	pthread_join(th, NULL);
	/* nothing moved: no strong count, no weak one, no task reference */
	ck_assert_uint_eq(atomic_load(&n->strong), 0);
	ck_assert_uint_eq(atomic_load(&n->refs), 1);
	ck_assert_uint_eq(atomic_load(&w->state), state);
	ck_assert_int_eq(live_allocs(), allocs);

	/* the last weak reference frees the notifier's memory */
	rex_waker_drop(w);
	ck_assert_int_eq(live_allocs(), allocs0);
	ck_assert_fds_eq(fd_counts_now(), base);
}
END_TEST

/* A parked task's wake after the drop: the upgrade fails before the task is
 * touched, so it is not queued (under close-eventfd it would be, on a queue
 * nobody drains). */
START_TEST(weak_upgrade_fails_for_parked_task)
{
	expect_leaks();
	int efd;
	rex_executor *ex = executor_with_parked(REX_DROP_WEAK_NOTIFIER, 4,
						&efd);
	struct rex_notifier *n = g_wakers[0]->notifier;
	ck_assert_uint_eq(atomic_load(&n->refs),
			  5); /* tasks + the strong side's */
	rex_executor_free(ex);
	ck_assert_uint_eq(atomic_load(&n->strong), 0);
	ck_assert_uint_eq(atomic_load(&n->refs),
			  4); /* 4 parked headers, weak */
	uint64_t state = atomic_load(&g_wakers[1]->state);
	long allocs = live_allocs();
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, wake_zombie, g_wakers[1]),
			 0);
	pthread_join(th, NULL);
	ck_assert_uint_eq(atomic_load(&g_wakers[1]->state), state);
	ck_assert(!(state & TASK_SCHEDULED));
	ck_assert_uint_eq(atomic_load(&n->strong), 0);
	ck_assert_uint_eq(atomic_load(&n->refs), 4);
	ck_assert_int_eq(live_allocs(), allocs);
	for (int i = 0; i < 4; i++)
		rex_waker_drop(g_wakers[i]);
	ck_assert_uint_eq(atomic_load(&n->refs),
			  4); /* memory left, by design */
}
END_TEST

/* ---- what the teardown totals count, per policy --------------------------------------- */

#define TOTALS_PARKED 5
struct big_state {
	char bytes[40];
};
static _Atomic int g_pending_drops;
static enum rex_poll pending_poll(void *p, struct rex_context *cx)
{
	(void)p;
	(void)cx;
	return REX_PENDING;
}
static void pending_drop(void *p)
{
	(void)p;
	g_pending_drops++;
}
static const struct rex_task_vtable pending_vt = { "pending", pending_poll,
						   pending_drop };

/* Parks TOTALS_PARKED tasks (24-byte states), then spawns one more (40
 * bytes) and returns: that one is still queued to run at the drop. */
struct totals_root {
	int step;
};
static enum rex_poll totals_root_poll(void *p, struct rex_context *cx)
{
	struct totals_root *r = p;
	if (r->step++ == 0) {
		char small[24] = { 0 };
		for (int i = 0; i < TOTALS_PARKED; i++)
			ck_assert_int_eq(rex_spawn(cx->executor, &pending_vt,
						   small, sizeof(small), NULL),
					 0);
		rex_waker_wake_by_ref(rex_context_waker(cx));
		return REX_PENDING;
	}
	struct big_state big = { { 0 } };
	ck_assert_int_eq(rex_spawn(cx->executor, &pending_vt, &big, sizeof(big),
				   NULL),
			 0);
	return REX_READY;
}
static const struct rex_task_vtable totals_root_vt = { "totals_root",
						       totals_root_poll, NULL };

static void check_totals(enum rex_drop_policy policy)
{
	struct rex_teardown_totals t0, t1;
	g_pending_drops = 0;
	rex_teardown_totals(&t0);
	struct totals_root r = { 0 };
	ck_assert_int_eq(run_once(policy, &totals_root_vt, &r, sizeof(r)), 0);
	rex_teardown_totals(&t1);
	uint64_t destroyed = t1.tasks_destroyed - t0.tasks_destroyed;
	uint64_t left = t1.tasks_left - t0.tasks_left;
	uint64_t bytes = t1.bytes_left - t0.bytes_left;
	ck_assert_uint_eq(t1.executors_freed - t0.executors_freed, 1);
	ck_assert_uint_eq(destroyed, (uint64_t)g_pending_drops);
	if (policy == REX_DROP_FIXED) {
		ck_assert_uint_eq(destroyed, TOTALS_PARKED + 1);
		ck_assert_uint_eq(left, 0);
		ck_assert_uint_eq(bytes, 0);
	} else { /* the queued one is dropped, the parked ones are left */
		ck_assert_uint_eq(destroyed, 1);
		ck_assert_uint_eq(left, TOTALS_PARKED);
		ck_assert_uint_eq(bytes,
				  TOTALS_PARKED * (sizeof(struct rex_task) +
						   24) +
					  sizeof(struct rex_notifier));
	}
}

START_TEST(teardown_totals_fixed)
{
	check_totals(REX_DROP_FIXED);
}
END_TEST

START_TEST(teardown_totals_leaky)
{
	expect_leaks();
	static const enum rex_drop_policy leaky[] = { REX_DROP_LEGACY_448,
						      REX_DROP_CLOSE_EVENTFD,
						      REX_DROP_WEAK_NOTIFIER };
	check_totals(leaky[_i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policies");
	TCase *tc = tcase_create("policies");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, no_write_to_reused_number_fixed);
	tcase_add_test(tc, weak_upgrade_fails_after_drop);
	tcase_add_test(tc, teardown_totals_fixed);
	suite_add_tcase(s, tc);
	/* B and C leave parked tasks by design; valgrind runs skip this tag */
	TCase *leaky = tcase_create("policies-b-c");
	tcase_set_tags(leaky, "leaks-on-purpose");
	tcase_set_timeout(leaky, 60);
	tcase_add_loop_test(leaky, eventfd_closed_at_drop_while_wakers_live, 0,
			    OPTIONS);
	tcase_add_loop_test(leaky, no_write_to_reused_number, 0, OPTIONS);
	tcase_add_test(leaky, weak_upgrade_fails_for_parked_task);
	tcase_add_loop_test(leaky, teardown_totals_leaky, 0, 3);
	suite_add_tcase(s, leaky);
	return check_run_suite(s);
}
