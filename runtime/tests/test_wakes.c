/* Late wakes: wakers that outlive their executor are harmless, including a
 * thread that keeps waking while the executor is being freed. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sched.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

static _Atomic int g_drops;
static _Atomic(rex_waker *) g_waker;

/* Parks, handing a clone of its waker to the outside world. */
static enum rex_poll hand_off_poll(void *s, struct rex_context *cx)
{
	int *started = s;
	if (!*started) {
		*started = 1;
		atomic_store(&g_waker, rex_waker_clone(rex_context_waker(cx)));
	}
	return REX_PENDING;
}
static void hand_off_drop(void *s)
{
	(void)s;
	g_drops++;
}
static const struct rex_task_vtable hand_off_vt = { "hand_off", hand_off_poll,
						    hand_off_drop };

struct root {
	int step;
};
static enum rex_poll root_poll(void *p, struct rex_context *cx)
{
	struct root *r = p;
	if (r->step++ == 0) {
		int started = 0;
		ck_assert_int_eq(rex_spawn(cx->executor, &hand_off_vt, &started,
					   sizeof(started), NULL),
				 0);
		rex_waker_wake_by_ref(rex_context_waker(cx));
		return REX_PENDING;
	}
	return REX_READY; /* the hand-off task was polled once: it is parked */
}
static const struct rex_task_vtable root_vt = { "root", root_poll, NULL };

static void *wake_later(void *arg)
{
	(void)arg;
	rex_waker *w = atomic_load(&g_waker);
	rex_waker_wake_by_ref(w);
	rex_waker *c = rex_waker_clone(w);
	rex_waker_wake(w);
	rex_waker_drop(c);
	return NULL;
}

static void woken_after_executor_gone(enum rex_drop_policy policy)
{
	g_drops = 0;
	atomic_store(&g_waker, NULL);
	struct fd_counts base = fd_counts_now();
	struct root r = { 0 };
	ck_assert_int_eq(run_once(policy, &root_vt, &r, sizeof(r)), 0);
	ck_assert_ptr_nonnull(atomic_load(&g_waker));
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, wake_later, NULL), 0);
	pthread_join(th, NULL);
	if (policy == REX_DROP_FIXED) {
		ck_assert_int_eq(g_drops, 1);
		ck_assert_fds_eq(fd_counts_now(), base);
	} else {
		ck_assert_int_eq(g_drops, 0); /* leaked, by design */
		ck_assert_int_eq(fd_counts_now().eventfd, base.eventfd + 1);
	}
}

START_TEST(late_wake_fixed)
{
	long allocs0 = live_allocs();
	woken_after_executor_gone(REX_DROP_FIXED);
	ck_assert_int_eq(live_allocs(), allocs0); /* the zombie header too */
}
END_TEST

START_TEST(late_wake_legacy)
{
	expect_leaks();
	woken_after_executor_gone(REX_DROP_LEGACY_448);
}
END_TEST

/* ---- a thread waking continuously while the executor is freed ---------------- */

#define RACE_ROUNDS 10000

static _Atomic int g_round;	 /* main publishes round n, the waker acks */
static _Atomic int g_waking;	 /* the waker is inside round n */
static _Atomic int g_stop_round; /* main: stop waking round n */
static _Atomic long g_wakes_during_free;

static void *hammer(void *arg)
{
	(void)arg;
	for (int n = 1; n <= RACE_ROUNDS; n++) {
		while (atomic_load(&g_round) != n)
			sched_yield();
		rex_waker *w = atomic_load(&g_waker);
		atomic_store(&g_waking, n);
		while (atomic_load(&g_stop_round) != n) {
			rex_waker_wake_by_ref(w);
			atomic_fetch_add(&g_wakes_during_free, 1);
		}
		rex_waker_drop(w);
		atomic_store(&g_waking, -n); /* done with round n */
	}
	return NULL;
}

START_TEST(wakes_race_with_free)
{
	struct fd_counts base = fd_counts_now();
	long allocs0 = live_allocs();
	g_drops = 0;
	g_round = g_waking = g_stop_round = 0;
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, hammer, NULL), 0);
	for (int n = 1; n <= RACE_ROUNDS; n++) {
		atomic_store(&g_waker, NULL);
		rex_executor *ex;
		ck_assert_int_eq(rex_executor_new(NULL, &ex), 0);
		struct root r = { 0 };
		ck_assert_int_eq(rex_executor_run(ex, &root_vt, &r, sizeof(r),
						  NULL),
				 0);
		atomic_store(&g_round, n);
		while (atomic_load(&g_waking) != n)
			sched_yield();
		rex_executor_free(ex); /* while the other thread wakes */
		atomic_store(&g_stop_round, n);
		while (atomic_load(&g_waking) != -n)
			sched_yield();
	}
	pthread_join(th, NULL);
	ck_assert_int_eq(g_drops, RACE_ROUNDS);
	ck_assert_fds_eq(fd_counts_now(), base);
	ck_assert_int_eq(live_allocs(), allocs0);
	ck_assert_int_gt(g_wakes_during_free, RACE_ROUNDS);
}
END_TEST

/* ---- the close fence, white-box -----------------------------------------------
 * A foreign waker between "should I notify?" and its eventfd write is inside
 * the fence; close must not close (and so free the number of) the eventfd
 * until it has left. */
static void *close_notifier(void *arg)
{
	rex_notifier_close(arg);
	return NULL;
}

START_TEST(close_waits_for_wakers_inside_the_fence)
{
	struct rex_notifier *n;
	ck_assert_int_eq(rex_notifier_new(REX_DROP_FIXED, &n), 0);
	int efd = n->efd;
	atomic_fetch_add(&n->fence, 2); /* a waker is inside */
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, close_notifier, n), 0);
	usleep(50000);
	ck_assert_msg(fcntl(efd, F_GETFD) != -1,
		      "eventfd closed while a waker was still inside the fence");
	ck_assert_int_eq(eventfd_write(efd, 1),
			 0);		/* the waker's write lands */
	atomic_fetch_sub(&n->fence, 2); /* and it leaves */
	pthread_join(th, NULL);
	ck_assert_int_eq(n->efd, -1);
	ck_assert_int_eq(fcntl(efd, F_GETFD), -1);
	/* a waker arriving now backs off without touching the eventfd */
	ck_assert_uint_eq(atomic_load(&n->fence), 1);
	rex_notifier_unref(n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wakes");
	TCase *tc = tcase_create("wakes");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, late_wake_fixed);
	tcase_add_test(tc, close_waits_for_wakers_inside_the_fence);
	suite_add_tcase(s, tc);
	/* two threads hand over by spinning: hours under valgrind's one-thread-
	 * at-a-time scheduler; ASan and TSan run it */
	TCase *race = tcase_create("wakes-race");
	tcase_set_tags(race, "spin-handshake");
	tcase_set_timeout(race, 300);
	tcase_add_test(race, wakes_race_with_free);
	suite_add_tcase(s, race);
	TCase *legacy = tcase_create("wakes-legacy-448");
	tcase_set_tags(legacy, "leaks-on-purpose");
	tcase_add_test(legacy, late_wake_legacy);
	suite_add_tcase(s, legacy);
	return check_run_suite(s);
}
