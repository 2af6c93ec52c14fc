/*
 * The kinds of parked task a scenario leaves in an executor (enum
 * task_kind in runner.h), each a rex task whose poll parks it and whose
 * drop releases what it holds, and start_plan(), which spawns an
 * executor's share of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "runner.h"

/* ---- helpers --------------------------------------------------------------------- */

void set_err(struct exs_exec *x, int err, const char *what)
{
	if (x->err)
		return;
	x->err = err;
	snprintf(x->what, sizeof(x->what), "%s", what);
}

/* A task reached its parked state (or finished before it could): tell the
 * root, which waits for all of them before it lets the executor go. */
void settle(struct exs_exec *x, int *counted)
{
	if (*counted)
		return;
	*counted = 1;
	x->settled++;
	if (x->settled >= x->expected && x->root_waker)
		rex_waker_wake_by_ref(x->root_waker);
}

/* ---- task kinds -------------------------------------------------------------------- */

static enum rex_poll timer_poll(void *p, struct rex_context *cx)
{
	struct parked_task *t = p;
	if (!t->started) {
		rex_sleep_init(&t->u.sleep, FAR_NS);
		t->started = 1;
	}
	enum rex_poll r = rex_sleep_poll(&t->u.sleep, cx);
	settle(t->x, &t->counted);
	return r;
}

static void timer_drop(void *p)
{
	struct parked_task *t = p;
	if (t->started)
		rex_sleep_drop(&t->u.sleep);
}

static const struct rex_task_vtable timer_vt = { "exs-timer", timer_poll,
						 timer_drop };

/* io kinds: the fd or path comes from the runner. */
static enum rex_poll io_poll(void *p, struct rex_context *cx, int kind)
{
	struct parked_task *t = p;
	struct exs_runner *r = t->x->r;
	if (!t->started) {
		if (kind == K_PIPE_READ)
			rex_io_read_init(&t->u.io, r->pipe_rd, 64, -1);
		else if (kind == K_OPEN_FIFO)
			rex_io_openat_init(&t->u.io, AT_FDCWD, r->fifo,
					   O_RDONLY, 0);
		else
			rex_io_openat_init(&t->u.io, AT_FDCWD, "/dev/null",
					   O_RDONLY, 0);
		t->started = 1;
	}
	int res;
	enum rex_poll rp = rex_io_poll(&t->u.io, cx, &res);
	settle(t->x, &t->counted);
	if (rp == REX_READY) {
		/* An open that completed while we still ran: ours to close. */
		if (kind != K_PIPE_READ && res >= 0)
			close(res);
		cx->output = res < 0 ? res : 0;
	}
	return rp;
}

static enum rex_poll pipe_read_poll(void *p, struct rex_context *cx)
{
	return io_poll(p, cx, K_PIPE_READ);
}

static enum rex_poll open_fifo_poll(void *p, struct rex_context *cx)
{
	return io_poll(p, cx, K_OPEN_FIFO);
}

static enum rex_poll open_late_poll(void *p, struct rex_context *cx)
{
	return io_poll(p, cx, K_OPEN_LATE);
}

static void io_drop(void *p)
{
	struct parked_task *t = p;
	if (t->started)
		rex_io_drop(&t->u.io);
}

static const struct rex_task_vtable pipe_read_vt = { "exs-pipe-read",
						     pipe_read_poll, io_drop };
static const struct rex_task_vtable open_fifo_vt = { "exs-open-fifo",
						     open_fifo_poll, io_drop };
static const struct rex_task_vtable open_late_vt = { "exs-open-late",
						     open_late_poll, io_drop };

/* Joiner: u.join was initialised with the handle before spawn. */
static enum rex_poll join_poll(void *p, struct rex_context *cx)
{
	struct parked_task *t = p;
	int64_t out;
	enum rex_poll r = rex_join_poll(&t->u.join, cx, &out);
	settle(t->x, &t->counted);
	if (r == REX_READY)
		cx->output = out;
	return r;
}

static void join_drop(void *p)
{
	struct parked_task *t = p;
	rex_join_drop(&t->u.join);
}

static const struct rex_task_vtable join_vt = { "exs-join", join_poll,
						join_drop };

static enum rex_poll foreign_poll(void *p, struct rex_context *cx)
{
	struct parked_task *t = p;
	if (!t->started) {
		t->started = 1;
		rex_waker *w = rex_waker_clone(rex_context_waker(cx));
		if (waker_post(t->x->r, w) != 0) {
			rex_waker_drop(w);
			set_err(t->x, -ENOMEM,
				"handing a waker to the waker thread");
		}
	}
	/* Woken by the other thread: stay parked. */
	settle(t->x, &t->counted);
	return REX_PENDING;
}

static const struct rex_task_vtable foreign_vt = { "exs-foreign", foreign_poll,
						   NULL };

static enum rex_poll forever_poll(void *p, struct rex_context *cx)
{
	struct parked_task *t = p;
	(void)cx;
	settle(t->x, &t->counted);
	return REX_PENDING;
}

static const struct rex_task_vtable forever_vt = { "exs-forever", forever_poll,
						   NULL };

/* Waker donor: parks on a timer, leaves a waker clone in its slot. */
static enum rex_poll donor_poll(void *p, struct rex_context *cx)
{
	struct parked_task *t = p;
	if (!t->started) {
		t->started = 1;
		rex_sleep_init(&t->u.donor.sleep, FAR_NS);
		struct exs_exec *x = t->x;
		if (t->u.donor.slot >= 0 && !x->slots[t->u.donor.slot])
			x->slots[t->u.donor.slot] = rex_waker_clone(
				rex_context_waker(cx));
	}
	enum rex_poll r = rex_sleep_poll(&t->u.donor.sleep, cx);
	settle(t->x, &t->counted);
	return r;
}

static void donor_drop(void *p)
{
	struct parked_task *t = p;
	if (t->started)
		rex_sleep_drop(&t->u.donor.sleep);
}

static const struct rex_task_vtable donor_vt = { "exs-donor", donor_poll,
						 donor_drop };

static const struct rex_task_vtable spawn_in_drop_vt;

static enum rex_poll spawn_in_drop_poll(void *p, struct rex_context *cx)
{
	struct parked_task *t = p;
	if (!t->started) {
		t->started = 1;
		rex_sleep_init(&t->u.spawn_in_drop.sleep, FAR_NS);
	}
	enum rex_poll r = rex_sleep_poll(&t->u.spawn_in_drop.sleep, cx);
	settle(t->x, &t->counted);
	return r;
}

/* The destructor that works against teardown: it spawns (a task whose own
 * destructor spawns again), cancels and releases a sibling, and wakes
 * another. During teardown the spawns must be refused (-ECANCELED) with
 * their destructors run, or teardown would never end. */
static void spawn_in_drop_drop(void *p)
{
	struct parked_task *t = p;
	struct exs_exec *x = t->x;
	if (t->started)
		rex_sleep_drop(&t->u.spawn_in_drop.sleep);
	if (t->u.spawn_in_drop.depth < SPAWN_IN_DROP_DEPTH && x->ex) {
		struct parked_task child = { .x = x };
		child.u.spawn_in_drop.slot = -1;
		child.u.spawn_in_drop.depth = t->u.spawn_in_drop.depth + 1;
		/* 0 (normal completion) or -ECANCELED (teardown) are both
		 * fine; the child counts toward nothing. */
		child.counted = 1;
		(void)rex_spawn(x->ex, &spawn_in_drop_vt, &child, sizeof(child),
				NULL);
	}
	if (t->u.spawn_in_drop.victim) {
		(void)rex_task_cancel(t->u.spawn_in_drop.victim);
		rex_task_detach(t->u.spawn_in_drop.victim);
		t->u.spawn_in_drop.victim = NULL;
	}
	if (t->u.spawn_in_drop.slot >= 0) {
		rex_waker *w = x->slots[t->u.spawn_in_drop.slot];
		x->slots[t->u.spawn_in_drop.slot] = NULL;
		if (w)
			rex_waker_wake(w);
	}
}

static const struct rex_task_vtable spawn_in_drop_vt = { "exs-spawn-in-drop",
							 spawn_in_drop_poll,
							 spawn_in_drop_drop };

static int spawn_plain(struct exs_exec *x, const struct rex_task_vtable *vt,
		       struct parked_task *t, rex_task **handle)
{
	t->x = x;
	int rc = rex_spawn(x->ex, vt, t, sizeof(*t), handle);
	if (rc)
		set_err(x, rc, "spawning a task");
	return rc;
}

int start_plan(struct exs_exec *x)
{
	static const struct rex_task_vtable *const simple[K_NKINDS] = {
		[K_TIMER] = &timer_vt,	       [K_PIPE_READ] = &pipe_read_vt,
		[K_OPEN_FIFO] = &open_fifo_vt, [K_FOREIGN] = &foreign_vt,
		[K_FOREVER] = &forever_vt,
	};
	int rc;
	for (int k = 0; k < K_NKINDS; k++) {
		if (!simple[k])
			continue;
		for (unsigned i = 0; i < x->plan[k]; i++) {
			struct parked_task t = { 0 };
			x->expected++;
			if ((rc = spawn_plain(x, simple[k], &t, NULL)))
				return rc;
		}
	}
	for (unsigned i = 0; i < x->plan[K_JOIN]; i++) {
		/* sleeper <- joiner <- joiner */
		struct parked_task t = { 0 };
		rex_task *h;
		x->expected++;
		if ((rc = spawn_plain(x, &timer_vt, &t, &h)))
			return rc;
		for (int depth = 0; depth < 2; depth++) {
			struct parked_task j = { 0 };
			rex_join_init(&j.u.join, h);
			x->expected++;
			/* The joiner consumes h, also when its spawn fails
			 * with -ECANCELED (its drop releases it). */
			rc = spawn_plain(x, &join_vt, &j,
					 depth == 0 ? &h : NULL);
			if (rc) {
				if (rc != -ECANCELED)
					rex_task_detach(j.u.join.task);
				return rc;
			}
		}
	}
	for (unsigned i = 0; i < x->plan[K_SPAWN_DROP]; i++) {
		struct parked_task v = { 0 }, d = { 0 }, s = { 0 };
		rex_task *victim;
		int slot = i < x->nslots ? (int)i : -1;
		x->expected += 3;
		if ((rc = spawn_plain(x, &timer_vt, &v, &victim)))
			return rc;
		d.u.donor.slot = slot;
		if ((rc = spawn_plain(x, &donor_vt, &d, NULL))) {
			rex_task_detach(victim);
			return rc;
		}
		s.u.spawn_in_drop.victim = victim;
		s.u.spawn_in_drop.slot = slot;
		s.u.spawn_in_drop.depth = 0;
		rc = spawn_plain(x, &spawn_in_drop_vt, &s, NULL);
		if (rc) {
			if (rc != -ECANCELED)
				rex_task_detach(victim);
			return rc;
		}
	}
	return 0;
}

int start_late_opens(struct exs_exec *x)
{
	for (unsigned i = 0; i < x->plan[K_OPEN_LATE]; i++) {
		struct parked_task t = { 0 };
		int rc = spawn_plain(x, &open_late_vt, &t, NULL);
		if (rc)
			return rc;
	}
	return 0;
}
