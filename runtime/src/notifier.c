/*
 * The sleep notifier: how other threads wake an executor.
 *
 * A foreign wake enters the fence (+2), backs off if the notifier is closed,
 * else marks the task SCHEDULED, pushes it on an intrusive MPSC queue
 * (Vyukov's), writes the eventfd if the owner is about to sleep, and leaves
 * the fence (-2). rex_notifier_close() sets the closed bit and waits for the
 * fence to empty before closing the eventfd, so no thread can write to a
 * recycled fd number (libuv's uv_async_send does the same dance).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define FENCE_CLOSED 1u
#define FENCE_WAKER  2u

int rex_notifier_new(struct rex_notifier **out)
{
	struct rex_notifier *n = REX_FAULT() ? NULL : calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->efd = REX_FAULT() ? (errno = EMFILE, -1)
			     : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->efd < 0) {
		int err = -errno;
		free(n);
		return err;
	}
	atomic_init(&n->refs, 1);
	atomic_init(&n->fence, 0);
	atomic_init(&n->should_notify, 0);
	atomic_init(&n->stub.next, NULL);
	atomic_init(&n->head, &n->stub);
	n->tail = &n->stub;
	*out = n;
	return 0;
}

void rex_notifier_ref(struct rex_notifier *n)
{
	atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

void rex_notifier_unref(struct rex_notifier *n)
{
	if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* Last reference. Under the fixed policy the eventfd is already
	 * closed; under legacy-448 this is the only place it ever closes. */
	if (n->efd >= 0)
		close(n->efd);
	free(n);
}

static void mpsc_push(struct rex_notifier *n, struct rex_mpsc_node *node)
{
	atomic_store_explicit(&node->next, NULL, memory_order_relaxed);
	struct rex_mpsc_node *prev =
		atomic_exchange_explicit(&n->head, node, memory_order_seq_cst);
	atomic_store_explicit(&prev->next, node, memory_order_release);
}

void rex_notifier_wake(struct rex_notifier *n, rex_task *t)
{
	uint64_t fence = atomic_fetch_add_explicit(&n->fence, FENCE_WAKER,
						   memory_order_acquire);
	if (fence & FENCE_CLOSED)
		goto out;

	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	do {
		if (s & (TASK_FINISHED | TASK_SCHEDULED))
			goto out;
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &s, (s | TASK_SCHEDULED) + TASK_REF_ONE,
		memory_order_acq_rel, memory_order_acquire));

	mpsc_push(n, &t->foreign);
	/* Dekker with the owner: it stores should_notify then checks the
	 * queue; we pushed (seq_cst) and now check the flag. */
	if (atomic_exchange_explicit(&n->should_notify, 0, memory_order_seq_cst))
		eventfd_write(n->efd, 1);
out:
	atomic_fetch_sub_explicit(&n->fence, FENCE_WAKER, memory_order_release);
}

bool rex_notifier_empty(struct rex_notifier *n)
{
	return n->tail == &n->stub &&
	       atomic_load_explicit(&n->head, memory_order_seq_cst) == &n->stub;
}

/* Pops one task, or NULL when empty or when a producer is half-way through
 * a push (then the queue is not empty and the caller will come back). */
rex_task *rex_notifier_pop(struct rex_notifier *n)
{
	struct rex_mpsc_node *tail = n->tail;
	struct rex_mpsc_node *next =
		atomic_load_explicit(&tail->next, memory_order_acquire);

	if (tail == &n->stub) {
		if (!next)
			return NULL;
		n->tail = next;
		tail = next;
		next = atomic_load_explicit(&tail->next, memory_order_acquire);
	}
	if (next) {
		n->tail = next;
		return container_of(tail, rex_task, foreign);
	}
	if (tail != atomic_load_explicit(&n->head, memory_order_acquire))
		return NULL;
	mpsc_push(n, &n->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		n->tail = next;
		return container_of(tail, rex_task, foreign);
	}
	return NULL;
}

void rex_notifier_close(struct rex_notifier *n)
{
	atomic_fetch_or_explicit(&n->fence, FENCE_CLOSED, memory_order_acq_rel);
	/* Wait for wakers already inside: each holds it for a few
	 * instructions and at most one eventfd write. */
	while (atomic_load_explicit(&n->fence, memory_order_acquire) != FENCE_CLOSED)
		sched_yield();
	if (n->efd >= 0) {
		close(n->efd);
		n->efd = -1;
	}
}
