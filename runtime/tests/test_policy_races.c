/* 10,000 late-wake-vs-drop races under each of the investigation's options
 * B and C (close-eventfd, weak-notifier; docs/design.md §3.6, §3.7): no
 * late wake writes to the freed eventfd's number, reused at once. Both
 * leave parked tasks by design: expect_leaks(), "leaks-on-purpose". */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fault.h"
#include "testutil.h"

/* _i of the loop test indexes these */
static const enum rex_drop_policy options[] = { REX_DROP_CLOSE_EVENTFD,
						REX_DROP_WEAK_NOTIFIER };
#define OPTIONS 2

/* ---- 10,000 late-wake-vs-drop races -------------------------------------------------
 * Each round the owner thread creates an executor that parks a task and
 * sleeps on a short timer while another thread wakes that task without
 * pause (so wakes find the owner asleep and write its eventfd); the timer
 * ends the run and the owner frees the executor while the wakes go on,
 * then at once opens a canary eventfd (usually at the freed number: a
 * waker caught unguarded between reading the number and writing would hit
 * it). The waking thread goes on for a few wakes after it sees the canary,
 * then checks that it received nothing. Semaphores hand the rounds over. */

#define RACE_ROUNDS	   10000
#define WAKES_AFTER_CANARY 8

static struct {
	enum rex_drop_policy policy;
	sem_t start, waker_ready, round_done;
	rex_waker *waker;   /* published before waker_ready */
	int efd;	    /* the round's eventfd, published with it */
	_Atomic int freed;  /* the last round whose executor is freed */
	int canary, reused; /* published with freed */
	long wakes;	    /* waking thread's; read after the join */
	int bad_round;	    /* first round whose canary received bytes */
	_Atomic int drops;
} race;

static enum rex_poll race_parked_poll(void *p, struct rex_context *cx)
{
	int *started = p;
	if (!*started) {
		*started = 1;
		struct rex_executor_stats st;
		rex_executor_stats(cx->executor, &st);
		race.efd = st.eventfd;
		race.waker = rex_waker_clone(rex_context_waker(cx));
		sem_post(&race.waker_ready);
	}
	return REX_PENDING;
}
static void race_parked_drop(void *p)
{
	(void)p;
	race.drops++;
}
static const struct rex_task_vtable race_parked_vt = { "race_parked",
						       race_parked_poll,
						       race_parked_drop };

struct race_root {
	int step;
	uint64_t sleep_ns;
	struct rex_sleep sleep;
};
static enum rex_poll race_root_poll(void *p, struct rex_context *cx)
{
	struct race_root *r = p;
	if (r->step == 0) {
		int started = 0;
		ck_assert_int_eq(rex_spawn(cx->executor, &race_parked_vt,
					   &started, sizeof(started), NULL),
				 0);
		r->step = 1;
		rex_waker_wake_by_ref(rex_context_waker(cx)); /* after it ran */
		return REX_PENDING;
	}
	if (r->step == 1) {
		rex_sleep_init(&r->sleep, r->sleep_ns);
		r->step = 2;
	}
	return rex_sleep_poll(&r->sleep, cx);
}
static void race_root_drop(void *p)
{
	struct race_root *r = p;
	if (r->step == 2)
		rex_sleep_drop(&r->sleep);
}
static const struct rex_task_vtable race_root_vt = { "race_root",
						     race_root_poll,
						     race_root_drop };

static void *race_owner(void *arg)
{
	(void)arg;
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.policy = race.policy;
	for (int n = 1; n <= RACE_ROUNDS; n++) {
		sem_wait(&race.start);
		rex_executor *ex;
		if (rex_executor_new(&cfg, &ex) != 0)
			abort(); /* the test then fails as an error */
		struct race_root r = { .sleep_ns = (uint64_t)(n % 4) * 20000 };
		rex_executor_run(ex, &race_root_vt, &r, sizeof(r), NULL);
		rex_executor_free(ex); /* while the other thread wakes */
		race.canary = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (race.canary < 0)
			abort();
		race.reused += race.canary == race.efd;
		race.freed = n;
	}
	return NULL;
}

static void *race_hammer(void *arg)
{
	(void)arg;
	for (int n = 1; n <= RACE_ROUNDS; n++) {
		sem_wait(&race.waker_ready);
		rex_waker *w = race.waker;
		int after = 0;
		while (after < WAKES_AFTER_CANARY) {
			rex_waker_wake_by_ref(w);
			race.wakes++;
			if (after || atomic_load(&race.freed) == n)
				after++;
		}
		eventfd_t v;
		if (eventfd_read(race.canary, &v) == 0 && !race.bad_round)
			race.bad_round = n;
		close(race.canary);
		rex_waker_drop(w);
		sem_post(&race.round_done);
	}
	return NULL;
}

static _Atomic long g_guarded_writes;
static void count_write(void)
{
	g_guarded_writes++;
}

START_TEST(late_wakes_race_with_drop)
{
	expect_leaks();
	race.policy = options[_i];
	struct fd_counts base = fd_counts_now();
	struct rex_teardown_totals t0, t1;
	rex_teardown_totals(&t0);
	race.freed = 0;
	race.drops = 0;
	race.wakes = race.reused = race.bad_round = 0;
	g_guarded_writes = 0;
	ck_assert_int_eq(sem_init(&race.start, 0, 0), 0);
	ck_assert_int_eq(sem_init(&race.waker_ready, 0, 0), 0);
	ck_assert_int_eq(sem_init(&race.round_done, 0, 0), 0);
	rex_fault_set_wake_write_hook(count_write);
	pthread_t owner, hammer;
	ck_assert_int_eq(pthread_create(&owner, NULL, race_owner, NULL), 0);
	ck_assert_int_eq(pthread_create(&hammer, NULL, race_hammer, NULL), 0);
	for (int n = 1; n <= RACE_ROUNDS; n++) {
		sem_post(&race.start);
		sem_wait(&race.round_done);
	}
	pthread_join(owner, NULL);
	pthread_join(hammer, NULL);
	rex_fault_set_wake_write_hook(NULL);
	ck_assert_msg(
		race.bad_round == 0,
		"%s round %d: a late wake wrote to the canary at a reused number",
		rex_policy_name(race.policy), race.bad_round);
	ck_assert_fds_eq(fd_counts_now(), base);
	rex_teardown_totals(&t1);
	ck_assert_uint_eq(t1.executors_freed - t0.executors_freed, RACE_ROUNDS);
	ck_assert_uint_eq(t1.tasks_destroyed - t0.tasks_destroyed +
				  (t1.tasks_left - t0.tasks_left),
			  RACE_ROUNDS);
	/* left parked, or destroyed because it was queued to run at the drop */
	ck_assert_uint_eq(t1.tasks_destroyed - t0.tasks_destroyed, race.drops);
	/* not vacuous: wakes wrote eventfds, canaries got freed numbers */
	ck_assert_int_gt(g_guarded_writes, 0);
	ck_assert_int_gt(race.reused, 0);
	ck_assert_int_ge(race.wakes, (long)RACE_ROUNDS * WAKES_AFTER_CANARY);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy-races");
	/* executors sleep in io_uring_enter for the waking thread, and the
	 * rounds hand over by spinning: not under valgrind; ASan and TSan */
	TCase *race = tcase_create("policies-race");
	tcase_set_tags(
		race,
		"leaks-on-purpose spin-handshake blocks-in-io-uring-enter");
	tcase_set_timeout(race, 600);
	tcase_add_loop_test(race, late_wakes_race_with_drop, 0, OPTIONS);
	suite_add_tcase(s, race);
	return check_run_suite(s);
}
