/*
 * The sleep notifier: how other threads wake an executor.
 *
 * A foreign wake marks the task SCHEDULED, pushes it on an intrusive MPSC
 * queue (Vyukov's) and writes the eventfd if the owner is about to sleep.
 * The eventfd's number may be handed to someone else once it is closed, so
 * a waker must never write to it after the close. What guarantees that is
 * the one thing the drop policies do differently here (docs/design.md §3):
 *
 *   fixed, legacy-448  the close fence: a waker enters (+2) and backs off if
 *                      closed; rex_notifier_close() sets the closed bit and
 *                      waits for the fence to empty (libuv's uv_async_send
 *                      does the same dance). legacy-448 never closes it.
 *   close-eventfd (B)  a mutex around the optional fd, taken by a wake that
 *                      may write and by rex_notifier_close_eventfd().
 *   weak-notifier (C)  the task's reference is weak: the wake upgrades it
 *                      (strong count from >0 to +1) or does nothing; the
 *                      eventfd closes when the strong count reaches 0.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define FENCE_CLOSED 1u
#define FENCE_WAKER  2u

int rex_notifier_new(enum rex_drop_policy policy, struct rex_notifier **out)
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
	n->policy = policy;
	atomic_init(&n->refs, 1);
	atomic_init(&n->strong, 1); /* used by weak-notifier only */
	atomic_init(&n->fence, 0);
	atomic_init(&n->should_notify, 0);
	atomic_init(&n->stub.next, NULL);
	atomic_init(&n->head, &n->stub);
	n->tail = &n->stub;
	/* default attributes: cannot fail on Linux */
	pthread_mutex_init(&n->efd_lock, NULL);
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
	/* Last reference. Under fixed, close-eventfd and weak-notifier the
	 * eventfd is already closed; under legacy-448 this is the only place
	 * it ever closes. */
	if (n->efd >= 0)
		close(n->efd);
	pthread_mutex_destroy(&n->efd_lock);
	free(n);
}

static void mpsc_push(struct rex_notifier *n, struct rex_mpsc_node *node)
{
	atomic_store_explicit(&node->next, NULL, memory_order_relaxed);
	struct rex_mpsc_node *prev =
		atomic_exchange_explicit(&n->head, node, memory_order_seq_cst);
	atomic_store_explicit(&prev->next, node, memory_order_release);
}

/* The wake itself, the same under every policy: mark t SCHEDULED (+ the
 * queue's reference) unless it is finished or already queued, push it, and
 * say whether the owner asked for the eventfd (Dekker with the owner: it
 * stores should_notify then checks the queue; we push (seq_cst), then
 * check the flag). The caller writes the eventfd under its guard. */
static inline bool schedule_foreign(struct rex_notifier *n, rex_task *t)
{
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	do {
		if (s & (TASK_FINISHED | TASK_SCHEDULED))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &s, (s | TASK_SCHEDULED) + TASK_REF_ONE,
		memory_order_acq_rel, memory_order_acquire));

	mpsc_push(n, &t->foreign);
	return atomic_exchange_explicit(&n->should_notify, 0,
					memory_order_seq_cst);
}

/* ---- fixed, legacy-448: the close fence --------------------------------------- */

static void wake_fenced(struct rex_notifier *n, rex_task *t)
{
	uint64_t fence = atomic_fetch_add_explicit(&n->fence, FENCE_WAKER,
						   memory_order_acquire);
	if (!(fence & FENCE_CLOSED) && schedule_foreign(n, t)) {
		int efd = n->efd;
		REX_WAKE_WRITE_HOOK();
		eventfd_write(efd, 1);
	}
	atomic_fetch_sub_explicit(&n->fence, FENCE_WAKER, memory_order_release);
}

void rex_notifier_close(struct rex_notifier *n)
{
	atomic_fetch_or_explicit(&n->fence, FENCE_CLOSED, memory_order_acq_rel);
	/* Wait for wakers already inside: each holds it for a few
	 * instructions and at most one eventfd write. */
	while (atomic_load_explicit(&n->fence, memory_order_acquire) !=
	       FENCE_CLOSED)
		sched_yield();
	if (n->efd >= 0) {
		close(n->efd);
		n->efd = -1;
	}
}

/* ---- close-eventfd (option B): a mutex around an optional fd ------------------
 * No fence: after the drop, wakes still push onto a queue nobody drains
 * (the tasks are parked forever anyway), and a wake that finds
 * should_notify set takes the mutex and writes only if the fd is still
 * there. rex_notifier_close_eventfd() closes it under the same mutex. */

static void wake_close_eventfd(struct rex_notifier *n, rex_task *t)
{
	if (!schedule_foreign(n, t))
		return;
	pthread_mutex_lock(&n->efd_lock); /* B's guard */
	if (n->efd >= 0) {
		int efd = n->efd;
		REX_WAKE_WRITE_HOOK();
		eventfd_write(efd, 1);
	}
	pthread_mutex_unlock(&n->efd_lock);
}

void rex_notifier_close_eventfd(struct rex_notifier *n)
{
	pthread_mutex_lock(&n->efd_lock);
	int efd = n->efd;
	n->efd = -1;
	pthread_mutex_unlock(&n->efd_lock);
	if (efd >= 0)
		close(efd);
}

/* ---- weak-notifier (option C): upgrade the task's weak reference ----------------
 * Rust's Weak::upgrade: take a strong reference unless the strong count is
 * already 0 (the executor is gone), in which case the wake does nothing.
 * While a waker holds its strong reference the eventfd cannot close, so
 * its write always lands in this executor's eventfd. */

static bool upgrade(struct rex_notifier *n)
{
	uint64_t s = atomic_load_explicit(&n->strong, memory_order_relaxed);
	do {
		if (s == 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&n->strong, &s, s + 1,
							memory_order_acquire,
							memory_order_relaxed));
	return true;
}

static void wake_weak_notifier(struct rex_notifier *n, rex_task *t)
{
	if (!upgrade(n)) /* C's upgrade */
		return;
	if (schedule_foreign(n, t)) {
		int efd = n->efd;
		REX_WAKE_WRITE_HOOK();
		eventfd_write(efd, 1);
	}
	rex_notifier_release_strong(n);
}

/* The executor's drop, or the last upgraded waker after it: the value
 * Arc<SleepNotifier> held (the eventfd) goes, then the weak reference all
 * strong ones shared; the memory goes with the last task header's. */
void rex_notifier_release_strong(struct rex_notifier *n)
{
	if (atomic_fetch_sub_explicit(&n->strong, 1, memory_order_acq_rel) != 1)
		return;
	close(n->efd);
	n->efd = -1;
	rex_notifier_unref(n);
}

/* ---- dispatch: one predictable branch per foreign wake --------------------------- */

void rex_notifier_wake(struct rex_notifier *n, rex_task *t)
{
	switch (n->policy) {
	case REX_DROP_CLOSE_EVENTFD:
		wake_close_eventfd(n, t);
		break;
	case REX_DROP_WEAK_NOTIFIER:
		wake_weak_notifier(n, t);
		break;
	case REX_DROP_FIXED:
	case REX_DROP_LEGACY_448:
	default:
		wake_fenced(n, t);
		break;
	}
}

/* ---- owner side ---------------------------------------------------------------------- */

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
	struct rex_mpsc_node *next = atomic_load_explicit(&tail->next,
							  memory_order_acquire);

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
