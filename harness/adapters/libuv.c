/*
 * libuv (libuv1-dev) behind exstress's adapter interface (harness/adapter.h).
 *
 * A loop (uv_loop_init: an epoll fd, and the eventfd of its internal
 * wq_async handle, which uv_async_t handles share) with timers (uv_timer_t
 * an hour away), fd readiness (uv_poll_t on a dup of exstress's idle pipe:
 * libuv allows one poll handle per fd) and async handles (uv_async_t,
 * woken with uv_async_send from exstress's main thread).
 *
 * correct: what uv_loop_close's documentation asks for: close every handle
 * (uv_walk + uv_close), run the loop until their close callbacks ran, then
 * uv_loop_close, which returns 0.
 *
 * careless: uv_loop_close with the handles still open, its UV_EBUSY
 * ignored, then the loop's memory freed. libuv says that is the caller's
 * bug ("There's an active (that is, open) handle so uv_loop_close() is
 * right to return UV_EBUSY", libuv/libuv#765); code that does not check
 * leaks the loop's epoll fd and eventfd and the handles
 * (jerryscript-project/iotjs#256, libuv/libuv#863).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "adapter.h"

struct handle {
	union {
		uv_handle_t h;
		uv_timer_t timer;
		uv_poll_t poll;
		uv_async_t async;
	} u;
	int fd; /* a poll handle's dup of the idle fd, else -1 */
	struct handle *next;
};

struct loop {
	uv_loop_t uv;
	int idle_fd;
	struct handle *handles; /* every one we opened */
};

static void *uv_adapter_new(const struct exs_loop_env *env, int *err)
{
	struct loop *l = calloc(1, sizeof(*l));
	int rc;

	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	if ((rc = uv_loop_init(&l->uv))) {
		free(l);
		*err = rc; /* libuv's errors are -errno on Unix */
		return NULL;
	}
	l->idle_fd = env->idle_fd;
	return l;
}

static void on_timer(uv_timer_t *t)
{
	(void)t;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)p, (void)status, (void)events;
}

static void on_async(uv_async_t *a)
{
	(void)a;
}

static int uv_adapter_park(void *loop, enum exs_park kind)
{
	struct loop *l = loop;
	struct handle *h = calloc(1, sizeof(*h));
	int rc = -EINVAL;

	if (!h)
		return -ENOMEM;
	h->fd = -1;
	switch (kind) {
	case EXS_PARK_TIMER:
		if (!(rc = uv_timer_init(&l->uv, &h->u.timer)))
			rc = uv_timer_start(&h->u.timer, on_timer, 3600 * 1000,
					    0);
		break;
	case EXS_PARK_FD:
		if ((h->fd = dup(l->idle_fd)) < 0) {
			rc = -errno;
			break;
		}
		if (!(rc = uv_poll_init(&l->uv, &h->u.poll, h->fd)))
			rc = uv_poll_start(&h->u.poll, UV_READABLE, on_poll);
		break;
	case EXS_PARK_WAKE:
		rc = uv_async_init(&l->uv, &h->u.async, on_async);
		break;
	default:
		break;
	}
	/* an initialised handle is the loop's even if starting it failed:
	 * it is closed with the others */
	if (rc && !h->u.h.loop) {
		if (h->fd >= 0)
			close(h->fd);
		free(h);
		return rc;
	}
	h->next = l->handles;
	l->handles = h;
	return rc;
}

/* exstress's main thread: uv_async_send is libuv's one thread-safe call. */
static void uv_adapter_wake(void *loop)
{
	struct loop *l = loop;

	for (struct handle *h = l->handles; h; h = h->next)
		if (h->u.h.type == UV_ASYNC)
			uv_async_send(&h->u.async);
}

static int uv_adapter_turn(void *loop)
{
	struct loop *l = loop;

	uv_run(&l->uv, UV_RUN_NOWAIT);
	return 0;
}

static void close_one(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void free_handles(struct loop *l)
{
	struct handle *h, *next;

	for (h = l->handles; h; h = next) {
		next = h->next;
		if (h->fd >= 0)
			close(h->fd);
		free(h);
	}
	l->handles = NULL;
}

static void uv_adapter_teardown(void *loop, enum exs_teardown how)
{
	struct loop *l = loop;

	if (how == EXS_TEARDOWN_CARELESS) {
		/* UV_EBUSY, ignored: what libuv opened and allocated for the
		 * loop stays; the caller's own objects go as usual */
		(void)uv_loop_close(&l->uv);
		free_handles(l);
		free(l);
		return;
	}
	uv_walk(&l->uv, close_one, NULL);
	uv_run(&l->uv, UV_RUN_DEFAULT); /* the close callbacks */
	if (uv_loop_close(&l->uv) != 0)
		abort(); /* the adapter's own bug: never a silent pass */
	free_handles(l);
	free(l);
}

const struct exs_adapter exs_adapter = {
	.abi = EXS_ADAPTER_ABI,
	.name = "libuv",
	.correct = "uv_walk + uv_close every handle, uv_run until closed, "
		   "uv_loop_close (returns 0)",
	.careless =
		"uv_loop_close's UV_EBUSY ignored with handles open, the "
		"loop freed (libuv/libuv#765, jerryscript-project/iotjs#256)",
	.kinds = EXS_PARK_MASK(EXS_PARK_TIMER) | EXS_PARK_MASK(EXS_PARK_FD) |
		 EXS_PARK_MASK(EXS_PARK_WAKE),
	.loop_new = uv_adapter_new,
	.park = uv_adapter_park,
	.wake = uv_adapter_wake,
	.turn = uv_adapter_turn,
	.teardown = uv_adapter_teardown,
};
