/*
 * libevent 2.1 (libevent-dev) behind exstress's adapter interface
 * (harness/adapter.h).
 *
 * An event_base (event_base_new with evthread_use_pthreads on: an epoll fd
 * and the eventfd other threads notify it through) with timer events an
 * hour away, read events on exstress's idle pipe, and user events (fd -1)
 * that exstress's main thread activates with event_active (thread-safe
 * with evthread: it writes the base's notify eventfd). Every callback's
 * argument is the base, as in most libevent code.
 *
 * correct: event_free every event, then event_base_free: the base closes
 * its epoll fd and notify eventfd.
 *
 * careless: the base is never freed because callbacks still point at it:
 * the code stops the loop (event_base_loopbreak) and leaves base and
 * events, unsure what event_base_free does to events still pending
 * ("event_base_free ... will not close any fds or free any memory passed
 * to event_new as the argument to callback"; owntone/owntone-server#797,
 * Qihoo360/evpp#316: a base never freed). The epoll fd and eventfd leak
 * with each base.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>

#include "adapter.h"

struct loop {
	struct event_base *base;
	int idle_fd;
	unsigned n, cap;
	struct event **events;
	unsigned char *user; /* events[i] is a user event (EXS_PARK_WAKE) */
};

static int ev_init(char *msg, size_t len)
{
	if (evthread_use_pthreads() != 0) {
		snprintf(msg, len, "libevent: evthread_use_pthreads failed");
		return -ENOTSUP;
	}
	return 0;
}

/* exstress unloads the module at exit: libevent's process-wide allocations
 * (evthread's locks) go with it, not as LeakSanitizer's "direct leaks" of
 * a library no longer mapped. */
__attribute__((destructor)) static void ev_fini(void)
{
	libevent_global_shutdown();
}

static void *ev_new(const struct exs_loop_env *env, int *err)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	if (!(l->base = event_base_new())) {
		free(l);
		*err = errno ? -errno : -ENOMEM;
		return NULL;
	}
	l->idle_fd = env->idle_fd;
	return l;
}

static void on_event(evutil_socket_t fd, short what, void *base)
{
	(void)fd, (void)what, (void)base;
}

static int ev_park(void *loop, enum exs_park kind)
{
	struct loop *l = loop;
	struct timeval hour = { 3600, 0 };
	struct event *ev = NULL;
	int rc = 0;

	if (l->n == l->cap) {
		unsigned cap = l->cap ? 2 * l->cap : 8;
		struct event **e = realloc(l->events, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->events = e;
		unsigned char *u = realloc(l->user, cap);
		if (!u)
			return -ENOMEM;
		l->user = u;
		l->cap = cap;
	}
	switch (kind) {
	case EXS_PARK_TIMER:
		if ((ev = evtimer_new(l->base, on_event, l->base)))
			rc = evtimer_add(ev, &hour);
		break;
	case EXS_PARK_FD:
		if ((ev = event_new(l->base, l->idle_fd, EV_READ | EV_PERSIST,
				    on_event, l->base)))
			rc = event_add(ev, NULL);
		break;
	case EXS_PARK_WAKE:
		ev = event_new(l->base, -1, EV_PERSIST, on_event, l->base);
		break;
	default:
		return -EINVAL;
	}
	if (!ev)
		return -ENOMEM;
	l->user[l->n] = kind == EXS_PARK_WAKE;
	l->events[l->n++] = ev;
	return rc ? -EIO : 0;
}

static void ev_wake(void *loop)
{
	struct loop *l = loop;

	for (unsigned i = 0; i < l->n; i++)
		if (l->user[i])
			event_active(l->events[i], EV_READ, 0);
}

static int ev_turn(void *loop)
{
	struct loop *l = loop;

	return event_base_loop(l->base, EVLOOP_NONBLOCK) < 0 ? -EIO : 0;
}

static void ev_teardown(void *loop, enum exs_teardown how)
{
	struct loop *l = loop;

	if (how == EXS_TEARDOWN_CARELESS) {
		event_base_loopbreak(l->base);
		free(l->events); /* our own list; base and events stay */
		free(l->user);
		free(l);
		return;
	}
	for (unsigned i = 0; i < l->n; i++)
		event_free(l->events[i]);
	event_base_free(l->base);
	free(l->events);
	free(l->user);
	free(l);
}

const struct exs_adapter exs_adapter = {
	.abi = EXS_ADAPTER_ABI,
	.name = "libevent",
	.correct = "event_free every event, event_base_free",
	.careless = "event_base never freed because callbacks still point at "
		    "it (owntone/owntone-server#797, Qihoo360/evpp#316)",
	.kinds = EXS_PARK_MASK(EXS_PARK_TIMER) | EXS_PARK_MASK(EXS_PARK_FD) |
		 EXS_PARK_MASK(EXS_PARK_WAKE),
	.init = ev_init,
	.loop_new = ev_new,
	.park = ev_park,
	.wake = ev_wake,
	.turn = ev_turn,
	.teardown = ev_teardown,
};
