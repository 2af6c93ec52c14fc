/*
 * GLib (libglib2.0-dev) behind exstress's adapter interface
 * (harness/adapter.h).
 *
 * A GMainContext (g_main_context_new: its GWakeup, an eventfd) with
 * timeout sources an hour away, unix fd sources on exstress's idle pipe,
 * and wake sources: a source with no ready time that exstress's main
 * thread makes ready with g_source_set_ready_time(source, 0) (thread-safe:
 * it wakes the context through its GWakeup), dispatched by the turn
 * (g_main_context_iteration, not blocking). As callbacks that reschedule
 * themselves on their own context do, each source's user data is a
 * g_main_context_ref() of its context, released by the GDestroyNotify.
 *
 * correct: g_source_destroy every source (which drops its callback data,
 * and with it the context reference), g_source_unref, g_main_context_unref:
 * the context is finalised and its eventfd closed.
 *
 * careless: attach, g_source_unref, and at the end g_main_context_unref
 * alone, trusting the context to destroy its sources when it goes. It
 * never goes: the sources' data hold references to it, so the GWakeup
 * eventfd, the context and its sources leak with each one. Reported as
 * eventfds leaked by g_wakeup_new through a GTask holding its context
 * (storaged-project/udisks#324), and flatpak/flatpak#3304.
 *
 * GLib 2.74's GSlice keeps per-thread magazines that outlive the loop's
 * thread and hand blocks back to malloc when they please: exstress sets
 * G_SLICE=always-malloc (unless set) before it loads this module, as GLib
 * reads it in its constructor, so its exact heap count sees every block
 * GLib holds (GLib 2.76 made that the only mode).
 */
#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "adapter.h"

struct loop {
	GMainContext *ctx;
	int idle_fd;
	GPtrArray *sources; /* a reference to each */
};

static void *glib_new(const struct exs_loop_env *env, int *err)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	/* GLib aborts when it cannot create the eventfd: nothing to check */
	l->ctx = g_main_context_new();
	l->sources = g_ptr_array_new();
	l->idle_fd = env->idle_fd;
	return l;
}

static gboolean on_timeout(gpointer data)
{
	(void)data;
	return G_SOURCE_CONTINUE;
}

static gboolean on_fd(gint fd, GIOCondition cond, gpointer data)
{
	(void)fd, (void)cond, (void)data;
	return G_SOURCE_CONTINUE;
}

/* The wake source: ready only when its ready time is set, then back to
 * waiting. */
static gboolean wake_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
	(void)cb, (void)data;
	g_source_set_ready_time(s, -1);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs wake_funcs = { .dispatch = wake_dispatch };

static int glib_park(void *loop, enum exs_park kind)
{
	struct loop *l = loop;
	GSource *s;

	switch (kind) {
	case EXS_PARK_TIMER:
		s = g_timeout_source_new_seconds(3600);
		g_source_set_callback(s, on_timeout, g_main_context_ref(l->ctx),
				      (GDestroyNotify)g_main_context_unref);
		break;
	case EXS_PARK_FD:
		s = g_unix_fd_source_new(l->idle_fd, G_IO_IN);
		g_source_set_callback(s, G_SOURCE_FUNC(on_fd),
				      g_main_context_ref(l->ctx),
				      (GDestroyNotify)g_main_context_unref);
		break;
	case EXS_PARK_WAKE:
		s = g_source_new(&wake_funcs, sizeof(GSource));
		g_source_set_callback(s, on_timeout, g_main_context_ref(l->ctx),
				      (GDestroyNotify)g_main_context_unref);
		break;
	default:
		return -EINVAL;
	}
	g_source_attach(s, l->ctx);
	g_ptr_array_add(l->sources, s);
	return 0;
}

static void glib_wake(void *loop)
{
	struct loop *l = loop;

	for (guint i = 0; i < l->sources->len; i++) {
		GSource *s = g_ptr_array_index(l->sources, i);
		if (s->source_funcs == &wake_funcs)
			g_source_set_ready_time(s, 0);
	}
}

static int glib_turn(void *loop)
{
	struct loop *l = loop;

	g_main_context_iteration(l->ctx, FALSE);
	return 0;
}

static void glib_teardown(void *loop, enum exs_teardown how)
{
	struct loop *l = loop;

	for (guint i = 0; i < l->sources->len; i++) {
		GSource *s = g_ptr_array_index(l->sources, i);
		if (how == EXS_TEARDOWN_CORRECT)
			g_source_destroy(s);
		g_source_unref(s);
	}
	g_ptr_array_free(l->sources, TRUE);
	g_main_context_unref(l->ctx);
	free(l);
}

const struct exs_adapter exs_adapter = {
	.abi = EXS_ADAPTER_ABI,
	.name = "glib",
	.correct = "g_source_destroy + g_source_unref every source, "
		   "g_main_context_unref",
	.careless = "g_main_context_unref alone while sources' user data hold "
		    "g_main_context_ref of it (storaged-project/udisks#324)",
	.kinds = EXS_PARK_MASK(EXS_PARK_TIMER) | EXS_PARK_MASK(EXS_PARK_FD) |
		 EXS_PARK_MASK(EXS_PARK_WAKE),
	.loop_new = glib_new,
	.park = glib_park,
	.wake = glib_wake,
	.turn = glib_turn,
	.teardown = glib_teardown,
};
