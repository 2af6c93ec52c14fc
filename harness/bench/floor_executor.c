/*
 * The floor executor: the least any executor of heap-allocated tasks that
 * other threads may wake has to do per spawn and per wake. The floor of
 * spawn_complete and local_wake (harness/bench/README.md, "The task
 * floors", says what it includes and leaves out, and why).
 *
 * Per task: one allocation and one free (header and state together); one
 * atomic word holding the flags and the reference count, changed only by
 * atomic read-modify-writes because a waker on another thread may change
 * it at any moment; an intrusive FIFO run queue; poll and drop called
 * through the task's vtable. Per wake: one compare-and-swap to mark the
 * task NOTIFIED (taking a reference for the queue entry), a push, a pop,
 * one RMW to start the poll and one to end it.
 *
 * What it leaves out, which rex pays for: a registry of live tasks (what
 * lets rex destroy parked tasks at teardown: without it this executor has
 * glommio issue 448's leak), a counted reference from each task to the
 * notifier (what keeps a late waker safe after its executor is gone: here
 * the executor must outlive every waker), join handles, cancel, stats,
 * io_uring, timers and sleeping (floor_run returns when no task is
 * runnable).
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define NOTIFIED \
	((uint64_t)1) /* in a run queue, or to be queued when its poll ends */
#define RUNNING	   ((uint64_t)2) /* poll() is on the stack */
#define COMPLETED  ((uint64_t)4) /* poll() returned READY */
#define REF_ONE	   ((uint64_t)8) /* the count above the flags */
#define RUN_BUDGET 256		 /* polls between looks at the remote queue */

struct floor_task {
	_Atomic uint64_t state;
	const struct floor_task_vtable *vt;
	struct floor_executor *ex;
	struct floor_task *next; /* link in one queue (NOTIFIED: at most one) */
	alignas(max_align_t) unsigned char data[];
};

struct floor_executor {
	struct floor_task *head, *tail;	     /* run queue, owner thread */
	_Atomic(struct floor_task *) remote; /* pushed by other threads */
};

static _Thread_local struct floor_executor *current;

int floor_executor_new(struct floor_executor **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -1;
}

void floor_executor_free(struct floor_executor *ex)
{
	free(ex);
}

static void push_local(struct floor_executor *ex, struct floor_task *t)
{
	t->next = NULL;
	if (ex->tail)
		ex->tail->next = t;
	else
		ex->head = t;
	ex->tail = t;
}

static struct floor_task *pop_local(struct floor_executor *ex)
{
	struct floor_task *t = ex->head;
	if (t) {
		ex->head = t->next;
		if (!ex->head)
			ex->tail = NULL;
	}
	return t;
}

/* Another thread's wake: a lock-free stack (one CAS), reversed into the
 * run queue by the owner. */
static void push_remote(struct floor_executor *ex, struct floor_task *t)
{
	struct floor_task *head = atomic_load_explicit(&ex->remote,
						       memory_order_relaxed);
	do
		t->next = head;
	while (!atomic_compare_exchange_weak_explicit(&ex->remote, &head, t,
						      memory_order_release,
						      memory_order_relaxed));
}

static void drain_remote(struct floor_executor *ex)
{
	struct floor_task *t = atomic_exchange_explicit(&ex->remote, NULL,
							memory_order_acquire);
	struct floor_task *fifo = NULL;
	while (t) { /* reverse: wake order */
		struct floor_task *next = t->next;
		t->next = fifo;
		fifo = t;
		t = next;
	}
	while (fifo) {
		struct floor_task *next = fifo->next;
		push_local(ex, fifo);
		fifo = next;
	}
}

int floor_spawn(struct floor_executor *ex, const struct floor_task_vtable *vt,
		const void *state, size_t size)
{
	struct floor_task *t = malloc(sizeof(*t) + size);
	if (!t)
		return -1;
	memcpy(t->data, state, size);
	atomic_init(&t->state,
		    NOTIFIED | REF_ONE); /* the queue entry's reference */
	t->vt = vt;
	t->ex = ex;
	push_local(ex, t);
	return 0;
}

void floor_wake_by_ref(struct floor_task *t)
{
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire),
		 next;
	do {
		if (s & (NOTIFIED | COMPLETED))
			return;
		/* While it runs, run_task queues it when the poll ends. */
		next = s & RUNNING ? s | NOTIFIED : (s | NOTIFIED) + REF_ONE;
	} while (!atomic_compare_exchange_weak_explicit(&t->state, &s, next,
							memory_order_acq_rel,
							memory_order_acquire));
	if (s & RUNNING)
		return;
	if (t->ex == current)
		push_local(t->ex, t);
	else
		push_remote(t->ex, t);
}

static void destroy(struct floor_task *t)
{
	if (t->vt->drop)
		t->vt->drop(t->data);
	free(t);
}

/* The queue entry's reference comes with t. */
static void run_task(struct floor_executor *ex, struct floor_task *t)
{
	/* Queued means NOTIFIED and not RUNNING: one RMW flips both. */
	atomic_fetch_xor_explicit(&t->state, NOTIFIED | RUNNING,
				  memory_order_acquire);
	struct floor_context cx = { ex, t };
	if (t->vt->poll(t->data, &cx) == REX_READY) {
		if (t->vt->drop)
			t->vt->drop(t->data);
		/* COMPLETED, not RUNNING, and the queue's reference gone. */
		uint64_t old = atomic_fetch_add_explicit(&t->state,
							 COMPLETED - RUNNING -
								 REF_ONE,
							 memory_order_acq_rel);
		if (old / REF_ONE == 1)
			free(t);
		return;
	}
	uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed),
		 next;
	do { /* woken during the poll: keep the reference for the queue */
		next = s & NOTIFIED ? s & ~RUNNING : (s & ~RUNNING) - REF_ONE;
	} while (!atomic_compare_exchange_weak_explicit(&t->state, &s, next,
							memory_order_acq_rel,
							memory_order_relaxed));
	if (next & NOTIFIED)
		push_local(ex, t);
	else if (next / REF_ONE == 0)
		destroy(t); /* parked with no waker anywhere: unreachable */
}

void floor_run(struct floor_executor *ex)
{
	current = ex;
	for (;;) {
		if (atomic_load_explicit(&ex->remote, memory_order_relaxed))
			drain_remote(ex);
		if (!ex->head)
			break;
		for (int i = 0; i < RUN_BUDGET; i++) {
			struct floor_task *t = pop_local(ex);
			if (!t)
				break;
			run_task(ex, t);
		}
	}
	current = NULL;
}
