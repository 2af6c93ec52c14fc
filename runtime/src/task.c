/*
 * Tasks: header + state in one allocation, the reference count and flags in
 * one atomic word (internal.h), the registry of live tasks, wakers, join,
 * cancel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- run queue (owner thread only) ------------------------------------------ */

void rex_run_queue_push(rex_executor *ex, rex_task *t)
{
	t->run_next = NULL;
	if (ex->run_tail)
		ex->run_tail->run_next = t;
	else
		ex->run_head = t;
	ex->run_tail = t;
}

rex_task *rex_run_queue_pop(rex_executor *ex)
{
	rex_task *t = ex->run_head;
	if (t) {
		ex->run_head = t->run_next;
		if (!ex->run_head)
			ex->run_tail = NULL;
	}
	return t;
}

/* ---- registry (owner thread only) --------------------------------------------- */

static void registry_insert(rex_executor *ex, rex_task *t)
{
	t->reg_prev = NULL;
	t->reg_next = ex->reg_head;
	if (ex->reg_head)
		ex->reg_head->reg_prev = t;
	ex->reg_head = t;
	ex->stats.tasks_live++;
}

static void registry_remove(rex_executor *ex, rex_task *t)
{
	if (t->reg_prev)
		t->reg_prev->reg_next = t->reg_next;
	else
		ex->reg_head = t->reg_next;
	if (t->reg_next)
		t->reg_next->reg_prev = t->reg_prev;
	t->reg_prev = t->reg_next = NULL;
	ex->stats.tasks_live--;
}

/* ---- references -------------------------------------------------------------------- */

static void task_free(rex_task *t)
{
	struct rex_notifier *n = t->notifier;
	free(t);
	rex_notifier_unref(n);
}

void rex_task_release(rex_task *t)
{
	uint64_t old = atomic_fetch_sub_explicit(&t->state, TASK_REF_ONE,
						 memory_order_acq_rel);
	if ((old >> TASK_REF_SHIFT) == 1)
		task_free(t);
}

void rex_task_unqueue(rex_task *t)
{
	atomic_fetch_and_explicit(&t->state, ~(uint64_t)TASK_SCHEDULED,
				  memory_order_acq_rel);
	rex_task_release(t);
}

/* ---- finishing ------------------------------------------------------------------------ */

/* The task has just become COMPLETED or CLOSED on its owner thread: run its
 * destructor, leave the registry, wake whoever joins it. */
static void task_finish(rex_task *t)
{
	rex_executor *ex = t->ex;
	if (t->vt->drop)
		t->vt->drop(t->data);
	registry_remove(ex, t);
	rex_waker *joiner = t->join_waker;
	t->join_waker = NULL;
	if (joiner)
		rex_waker_wake(joiner);
	rex_task_release(t); /* the registry's reference */
}

void rex_task_close(rex_task *t)
{
	uint64_t s = atomic_fetch_or_explicit(&t->state, TASK_CLOSED,
					      memory_order_acq_rel);
	if (s & TASK_FINISHED)
		return;
	if (s & TASK_RUNNING)
		return; /* rex_task_run finishes it when poll() returns */
	task_finish(t);
}

/* ---- spawn ---------------------------------------------------------------------------- */

int rex_spawn(rex_executor *ex, const struct rex_task_vtable *vt,
	      const void *state, size_t size, rex_task **handle)
{
	if (handle)
		*handle = NULL;
	if (!ex || !vt || !vt->poll || (size && !state))
		return -EINVAL;

	rex_task *t = malloc(sizeof(*t) + size);
	if (!t)
		return -ENOMEM;
	if (size)
		memcpy(t->data, state, size);

	if (ex->closing) {
		/* Teardown must terminate: a task spawned from a destructor
		 * is destroyed at once instead of joining the registry. */
		if (vt->drop)
			vt->drop(t->data);
		free(t);
		return -ECANCELED;
	}

	/* refs: registry + run queue entry (+ handle) */
	uint64_t refs = handle ? 3 : 2;
	atomic_init(&t->state, TASK_SCHEDULED | refs << TASK_REF_SHIFT);
	t->vt = vt;
	t->ex = ex;
	t->ex_id = ex->id;
	t->notifier = ex->notifier;
	rex_notifier_ref(ex->notifier); /* a weak one under weak-notifier */
	atomic_init(&t->foreign.next, NULL);
	t->join_waker = NULL;
	t->output = 0;
	t->state_size = size;
	registry_insert(ex, t);
	rex_run_queue_push(ex, t);
	ex->stats.tasks_spawned++;
	if (handle)
		*handle = t;
	return 0;
}

/* ---- polling ---------------------------------------------------------------------------- */

/* Pops from the run queue hand over their queue reference to this call. */
void rex_task_run(rex_executor *ex, rex_task *t)
{
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	for (;;) {
		if (s & TASK_FINISHED) {
			rex_task_unqueue(t);
			return;
		}
		uint64_t next = (s & ~(uint64_t)TASK_SCHEDULED) | TASK_RUNNING;
		if (atomic_compare_exchange_weak_explicit(&t->state, &s, next,
							  memory_order_acq_rel,
							  memory_order_acquire))
			break;
	}

	struct rex_context cx = { .executor = ex, .task = t, .output = 0 };
	ex->stats.polls++;
	enum rex_poll r = t->vt->poll(t->data, &cx);

	uint64_t done = r == REX_READY ? TASK_COMPLETED : 0;
	if (done)
		t->output = cx.output;
	bool finishing;
	s = atomic_load_explicit(&t->state, memory_order_acquire);
	for (;;) {
		uint64_t next = s & ~(uint64_t)TASK_RUNNING;
		finishing = done || (s & TASK_CLOSED);
		if (!(s & TASK_CLOSED))
			next |= done;
		/* Still parked or rescheduled: the registry keeps it alive, so
		 * our queue reference goes in the same step (one atomic op
		 * fewer per poll). */
		if (!finishing)
			next -= TASK_REF_ONE;
		if (atomic_compare_exchange_weak_explicit(&t->state, &s, next,
							  memory_order_acq_rel,
							  memory_order_acquire))
			break;
	}
	if (finishing) { /* completed, or cancelled during its own poll */
		task_finish(t);
		rex_task_release(t);
	}
}

/* ---- handles ------------------------------------------------------------------------------ */

void rex_task_detach(rex_task *t)
{
	if (t)
		rex_task_release(t);
}

int rex_task_is_finished(const rex_task *t)
{
	return (atomic_load_explicit(&((rex_task *)t)->state,
				     memory_order_acquire) &
		TASK_FINISHED) != 0;
}

int rex_task_cancel(rex_task *t)
{
	if (!t)
		return -EINVAL;
	if (rex_task_is_finished(t))
		return 0;
	if (!rex_on_owner(t))
		return -EXDEV;
	rex_task_close(t);
	return 0;
}

/* ---- wakers ---------------------------------------------------------------------------------- */

rex_waker *rex_context_waker(struct rex_context *cx)
{
	return cx->task;
}

rex_waker *rex_waker_clone(rex_waker *w)
{
	atomic_fetch_add_explicit(&w->state, TASK_REF_ONE,
				  memory_order_relaxed);
	return w;
}

void rex_waker_wake_by_ref(rex_waker *t)
{
	if (!rex_on_owner(t)) {
		rex_notifier_wake(t->notifier, t);
		return;
	}
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	do {
		if (s & (TASK_FINISHED | TASK_SCHEDULED))
			return;
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &s, (s | TASK_SCHEDULED) + TASK_REF_ONE,
		memory_order_acq_rel, memory_order_acquire));
	rex_run_queue_push(t->ex, t);
}

void rex_waker_wake(rex_waker *w)
{
	rex_waker_wake_by_ref(w);
	rex_task_release(w);
}

void rex_waker_drop(rex_waker *w)
{
	if (w)
		rex_task_release(w);
}

/* ---- join -------------------------------------------------------------------------------------- */

void rex_join_init(struct rex_join *j, rex_task *handle)
{
	j->task = handle;
}

enum rex_poll rex_join_poll(struct rex_join *j, struct rex_context *cx,
			    int64_t *output)
{
	rex_task *t = j->task;
	int64_t out;
	if (!t) {
		out = -EINVAL;
		goto ready;
	}
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	if (s & TASK_COMPLETED) {
		out = t->output;
		goto ready;
	}
	if (s & TASK_CLOSED) {
		out = -ECANCELED;
		goto ready;
	}
	if (t->ex_id != cx->executor->id) {
		out = -EXDEV; /* join is same-executor only */
		goto ready;
	}
	if (t->join_waker != cx->task) {
		if (t->join_waker)
			rex_waker_drop(t->join_waker);
		t->join_waker = rex_waker_clone(cx->task);
	}
	return REX_PENDING;
ready:
	if (output)
		*output = out;
	return REX_READY;
}

void rex_join_drop(struct rex_join *j)
{
	rex_task *t = j->task;
	if (!t)
		return;
	/* Our waker is parked in the awaited task only while it runs, and
	 * only the owner thread touches it. */
	if (!rex_task_is_finished(t) && rex_on_owner(t) && t->join_waker) {
		rex_waker_drop(t->join_waker);
		t->join_waker = NULL;
	}
	j->task = NULL;
	rex_task_release(t);
}
