/*
 * The executor: creation, the run loop (run queue, foreign wakes, io_uring
 * completions, timers, sleep), and teardown under each drop policy (one
 * function per policy, side by side, near the end).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "internal.h"

#define DEFAULT_RING_ENTRIES 256
#define RUN_BUDGET	     256 /* tasks polled between looks at io_uring */

_Thread_local rex_executor *rex_tls_ex;

static _Atomic uint64_t next_executor_id = 1;
_Atomic uint64_t rex_ring_generation;

void rex_config_init(struct rex_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->policy = REX_DROP_FIXED;
	cfg->ring_entries = DEFAULT_RING_ENTRIES;
	cfg->cpu = -1;
}

rex_executor *rex_current(void)
{
	return rex_tls_ex;
}

int rex_executor_new(const struct rex_config *cfg, rex_executor **out)
{
	struct rex_config defaults;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		rex_config_init(&defaults);
		cfg = &defaults;
	}
	if (!rex_policy_name(cfg->policy))
		return -EINVAL;
	/* -1 is "no pinning"; any other negative is a mistake, not that */
	if (cfg->cpu < -1)
		return -EINVAL;
	if (cfg->cpu >= 0 && (err = cpu_pin_self(cfg->cpu) ? -EINVAL : 0))
		return err;

	rex_executor *ex = REX_FAULT() ? NULL : calloc(1, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	ex->cfg = *cfg;
	if (!ex->cfg.ring_entries)
		ex->cfg.ring_entries = DEFAULT_RING_ENTRIES;
	if (rex_policy_glommio(ex->cfg.policy))
		ex->cfg.ring_entries = REX_GLOMMIO_RING_DEPTH;
	ex->id = atomic_fetch_add(&next_executor_id, 1);
	ex->inflight.next = ex->inflight.prev = &ex->inflight;

	err = rex_notifier_new(ex->cfg.policy, &ex->notifier);
	if (err)
		goto fail_ex;

	/* The request that reads our eventfd lives as long as the executor. */
	ex->notify_req = REX_FAULT() ? NULL
				     : calloc(1, sizeof(*ex->notify_req) +
							 sizeof(uint64_t));
	if (!ex->notify_req) {
		err = -ENOMEM;
		goto fail_notifier;
	}
	ex->notify_req->kind = REX_IO_NOTIFY;
	ex->notify_req->ex = ex;

	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CLAMP;
	err = REX_FAULT() ? -EMFILE
			  : io_uring_queue_init_params(ex->cfg.ring_entries,
						       &ex->ring, &p);
	if (err < 0)
		goto fail_req;
	atomic_load_explicit(&rex_ring_generation, memory_order_acquire);
	if (rex_policy_glommio(ex->cfg.policy) && (err = rex_glommio_new(ex)))
		goto fail_ring;

	*out = ex;
	return 0;

fail_ring:
	io_uring_queue_exit(&ex->ring);
	rex_glommio_free_arena(ex); /* after the ring that registered it */
fail_req:
	free(ex->notify_req);
fail_notifier:
	rex_notifier_unref(ex->notifier); /* nobody else holds it yet */
fail_ex:
	free(ex);
	return err;
}

void rex_executor_stats(const rex_executor *ex, struct rex_executor_stats *st)
{
	*st = ex->stats;
	st->eventfd = ex->notifier->efd;
	st->ring_fd = ex->ring.ring_fd;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void drain_foreign(rex_executor *ex)
{
	rex_task *t;
	while ((t = rex_notifier_pop(ex->notifier))) {
		ex->stats.foreign_wakes++;
		rex_run_queue_push(ex, t); /* keeps SCHEDULED and its ref */
	}
}

/* Poll up to a budget of runnable tasks; stop as soon as the root is done
 * so that "run until the root completes" means exactly that. */
static void run_ready(rex_executor *ex, rex_task *root)
{
	for (int i = 0; i < RUN_BUDGET; i++) {
		rex_task *t = rex_run_queue_pop(ex);
		if (!t)
			return;
		rex_task_run(ex, t);
		if (t == root && rex_task_is_finished(root))
			return;
	}
}

/* Wait for a completion, a foreign wake or the next timer. */
static void sleep_once(rex_executor *ex)
{
	struct rex_notifier *n = ex->notifier;
	uint64_t next = rex_timers_next(ex);
	struct __kernel_timespec ts, *tsp = NULL;

	if (next != UINT64_MAX) {
		uint64_t now = rex_now_ns();
		if (next <= now)
			return;
		uint64_t d = next - now;
		ts.tv_sec = (long long)(d / 1000000000u);
		ts.tv_nsec = (long long)(d % 1000000000u);
		tsp = &ts;
	}
	rex_io_arm_notify(ex);
	atomic_store_explicit(&n->should_notify, 1, memory_order_seq_cst);
	if (!rex_notifier_empty(n)) {
		atomic_store_explicit(&n->should_notify, 0,
				      memory_order_relaxed);
		return;
	}
	struct io_uring_cqe *cqe;
	ex->stats.sleeps++;
	io_uring_submit_and_wait_timeout(&ex->ring, &cqe, 1, tsp, NULL);
	atomic_store_explicit(&n->should_notify, 0, memory_order_relaxed);
}

static void loop_until(rex_executor *ex, rex_task *root)
{
	while (!rex_task_is_finished(root)) {
		drain_foreign(ex);
		run_ready(ex, root);
		if (rex_task_is_finished(root))
			break;
		rex_io_submit(ex);
		rex_io_reap(ex);
		if (ex->timers.len)
			rex_timers_fire(ex, rex_now_ns());
		if (!ex->run_head && rex_notifier_empty(ex->notifier)) {
			sleep_once(ex);
			rex_io_reap(ex);
			if (ex->timers.len)
				rex_timers_fire(ex, rex_now_ns());
		}
	}
	rex_io_submit(ex);
}

int rex_executor_run(rex_executor *ex, const struct rex_task_vtable *vt,
		     const void *state, size_t size, int64_t *output)
{
	rex_task *root;
	int err;

	if (!ex)
		return -EINVAL;
	if (ex->running || (rex_tls_ex && rex_tls_ex != ex))
		return -EBUSY;
	err = rex_spawn(ex, vt, state, size, &root);
	if (err)
		return err;

	ex->running = true;
	rex_tls_ex = ex;
	loop_until(ex, root);
	rex_tls_ex = NULL;
	ex->running = false;

	if (output) {
		uint64_t s = atomic_load(&root->state);
		*output = (s & TASK_COMPLETED) ? root->output : -ECANCELED;
	}
	rex_task_release(root);
	return 0;
}

/* ---- teardown: one function per drop policy (docs/design.md §3.4-§3.7) ------------- */

static void drain_run_queue(rex_executor *ex)
{
	rex_task *t;
	while ((t = rex_run_queue_pop(ex)))
		rex_task_unqueue(t);
}

/* fixed (the seed's option A), §3.4 steps 1-5: every task is destroyed. */
static void teardown_fixed(rex_executor *ex)
{
	ex->closing = true;		  /* 1: spawns cancel at once */
	rex_notifier_close(ex->notifier); /* 2: fence, close the eventfd */
	drain_foreign(ex);
	rex_task *t; /* 3: destroy every task */
	while ((t = ex->reg_head))
		rex_task_close(t);
	drain_run_queue(ex); /* 4: queue refs, timers */
	rex_timers_drain(ex);
	rex_io_teardown(ex);		  /* 5: cancel, reap, ring exit */
	rex_notifier_unref(ex->notifier); /* the executor's reference */
}

/* glommio before the fix: only what is runnable is dropped. Parked tasks
 * keep their references (to the notifier, so to its eventfd) forever.
 * legacy-448, close-eventfd and weak-notifier all start here. */
static void drop_runnable_only(rex_executor *ex)
{
	rex_task *t;
	while ((t = rex_run_queue_pop(ex))) {
		rex_task_close(t);
		rex_task_unqueue(t);
	}
	rex_io_teardown(ex);
}

/* legacy-448, §3.5: the eventfd closes with the last task reference,
 * which a parked task never gives up. */
static void teardown_legacy_448(rex_executor *ex)
{
	drop_runnable_only(ex);
	rex_notifier_unref(ex->notifier); /* the executor's reference */
}

/* close-eventfd (option B), §3.6: parked tasks are left as under
 * legacy-448, but the eventfd closes now, under the mutex every foreign
 * waker that may write takes. The notifier itself stays while they do. */
static void teardown_close_eventfd(rex_executor *ex)
{
	drop_runnable_only(ex);
	rex_notifier_close_eventfd(ex->notifier);
	rex_notifier_unref(ex->notifier); /* the executor's reference */
}

/* weak-notifier (option C), §3.7: parked tasks are left as under
 * legacy-448 and hold only weak references; dropping the executor's
 * strong one closes the eventfd (or the last upgraded waker still inside a
 * wake does, right after its write), and from then on wakes do nothing. */
static void teardown_weak_notifier(rex_executor *ex)
{
	drop_runnable_only(ex);
	rex_notifier_release_strong(
		ex->notifier); /* the executor's reference */
}

/* glommio-448, §3.9: legacy-448's teardown; glommio's Reactor (arena,
 * rings) is dropped with the executor, its blocking thread never is. */
static void teardown_glommio_448(rex_executor *ex)
{
	drop_runnable_only(ex);
	rex_glommio_free_reactor(ex);
	ex->glommio_bytes_left = rex_glommio_leave_blocking(ex);
	rex_notifier_unref(ex->notifier); /* the executor's reference */
}

/* glommio-fixed, §3.9: fixed's teardown, the blocking thread stopped and
 * joined first (it holds a notifier reference), then the reactor. */
static void teardown_glommio_fixed(rex_executor *ex)
{
	rex_glommio_stop_blocking(ex);
	teardown_fixed(ex);
	rex_glommio_free_reactor(ex);
}

static void (*const teardown_by_policy[REX_DROP_POLICY_COUNT])(
	rex_executor *) = {
	[REX_DROP_FIXED] = teardown_fixed,
	[REX_DROP_LEGACY_448] = teardown_legacy_448,
	[REX_DROP_CLOSE_EVENTFD] = teardown_close_eventfd,
	[REX_DROP_WEAK_NOTIFIER] = teardown_weak_notifier,
	[REX_DROP_GLOMMIO_448] = teardown_glommio_448,
	[REX_DROP_GLOMMIO_FIXED] = teardown_glommio_fixed,
};

/* rex_teardown_totals(): summed over every executor freed in the process. */
static struct {
	_Atomic uint64_t executors_freed, tasks_destroyed, tasks_left,
		bytes_left;
} totals;

/* After teardown, the registry holds exactly the tasks it left behind;
 * every other task registered when it began (or registered during it, by
 * a destructor) was destroyed. */
static void count_teardown(const rex_executor *ex, uint64_t live_before,
			   uint64_t spawned_before)
{
	uint64_t left = 0, bytes = 0;
	for (const rex_task *t = ex->reg_head; t; t = t->reg_next) {
		left++;
		bytes += sizeof(*t) + t->state_size;
	}
	/* they keep the notifier too, whatever the policy; under
	 * glommio-448 the blocking thread keeps it and its queues anyway */
	if (left || ex->glommio_bytes_left)
		bytes += sizeof(struct rex_notifier);
	bytes += ex->glommio_bytes_left;
	uint64_t registered = live_before +
			      (ex->stats.tasks_spawned - spawned_before);
	atomic_fetch_add_explicit(&totals.executors_freed, 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&totals.tasks_destroyed, registered - left,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&totals.tasks_left, left,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&totals.bytes_left, bytes,
				  memory_order_relaxed);
}

void rex_teardown_totals(struct rex_teardown_totals *out)
{
	out->executors_freed = atomic_load(&totals.executors_freed);
	out->tasks_destroyed = atomic_load(&totals.tasks_destroyed);
	out->tasks_left = atomic_load(&totals.tasks_left);
	out->bytes_left = atomic_load(&totals.bytes_left);
}

void rex_executor_free(rex_executor *ex)
{
	if (!ex)
		return;
	rex_executor *prev_ex = rex_tls_ex;
	rex_tls_ex = ex; /* destructors run as if on the executor */
	uint64_t live_before = ex->stats.tasks_live;
	uint64_t spawned_before = ex->stats.tasks_spawned;

	teardown_by_policy[ex->cfg.policy](ex);

	rex_tls_ex = prev_ex;
	count_teardown(ex, live_before, spawned_before);
	rex_timers_free(ex); /* 6: free the executor */
	free(ex->notify_req);
	free(ex);
}

/* ---- an executor on its own thread -------------------------------------------------------- */

struct rex_thread {
	pthread_t thread;
	struct rex_config cfg;
	const struct rex_task_vtable *vt;
	size_t size;
	int err;
	int64_t output;
	alignas(max_align_t) unsigned char state[];
};

static void *thread_main(void *arg)
{
	struct rex_thread *t = arg;
	rex_executor *ex;
	t->err = rex_executor_new(&t->cfg, &ex);
	if (t->err) {
		if (t->vt->drop) /* the root state is ours: destroy it */
			t->vt->drop(t->state);
		return NULL;
	}
	t->err = rex_executor_run(ex, t->vt, t->state, t->size, &t->output);
	/* -ECANCELED: spawn already ran drop(); other errors left it to us */
	if (t->err && t->err != -ECANCELED && t->vt->drop)
		t->vt->drop(t->state);
	rex_executor_free(ex);
	return NULL;
}

int rex_thread_spawn(const struct rex_config *cfg,
		     const struct rex_task_vtable *vt, const void *state,
		     size_t size, rex_thread **out)
{
	if (!out || !vt || (size && !state))
		return -EINVAL;
	*out = NULL;
	struct rex_thread *t = calloc(1, sizeof(*t) + size);
	if (!t)
		return -ENOMEM;
	if (cfg)
		t->cfg = *cfg;
	else
		rex_config_init(&t->cfg);
	t->vt = vt;
	t->size = size;
	if (size)
		memcpy(t->state, state, size);
	int err = pthread_create(&t->thread, NULL, thread_main, t);
	if (err) {
		free(t);
		return -err;
	}
	*out = t;
	return 0;
}

int rex_thread_join(rex_thread *t, int64_t *output)
{
	if (!t)
		return -EINVAL;
	pthread_join(t->thread, NULL);
	int err = t->err;
	if (output)
		*output = t->output;
	free(t);
	return err;
}
