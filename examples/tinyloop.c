/*
 * An example exstress adapter (README, "Gate your own runtime"): a tiny
 * epoll event loop, as a runtime author would wire theirs up.
 *
 *   cc -shared -fPIC -I harness -o tinyloop.so examples/tinyloop.c
 *   exstress --runtime ./tinyloop.so --teardown correct    # exit 0
 *   exstress --runtime ./tinyloop.so --teardown careless   # exit 1
 *
 * The loop: an epoll fd, an eventfd other threads wake it through, a
 * timerfd per timer. careless: close(epfd) and free, believing the epoll
 * fd owned what was registered in it; the eventfd and timerfds stay open.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "adapter.h"

#ifndef TINYLOOP_ABI /* the tests build one with another ABI */
#define TINYLOOP_ABI EXS_ADAPTER_ABI
#endif

struct tinyloop {
	int epfd, wakefd;
	int fds[64]; /* timerfds and dups of the idle fd we own */
	unsigned nfds;
	int idle_fd;
};

static void *tl_new(const struct exs_loop_env *env, int *err)
{
	struct tinyloop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	l->idle_fd = env->idle_fd;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev.data.fd = l->wakefd;
	if (l->epfd < 0 || l->wakefd < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
		*err = -errno;
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		free(l);
		return NULL;
	}
	return l;
}

static int tl_park(void *loop, enum exs_park kind)
{
	struct tinyloop *l = loop;
	struct itimerspec hour = { .it_value = { .tv_sec = 3600 } };
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = -1;

	if (l->nfds == 64)
		return -ENOSPC;
	if (kind == EXS_PARK_TIMER) {
		fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		if (fd >= 0 && timerfd_settime(fd, 0, &hour, NULL) < 0) {
			close(fd);
			return -errno;
		}
	} else if (kind == EXS_PARK_FD) {
		fd = dup(l->idle_fd);
	} else if (kind == EXS_PARK_WAKE) {
		return 0; /* every wake goes through the loop's eventfd */
	} else {
		return -EINVAL;
	}
	if (fd < 0)
		return -errno;
	l->fds[l->nfds++] = fd;
	ev.data.fd = fd;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* From another thread. */
static void tl_wake(void *loop)
{
	struct tinyloop *l = loop;
	uint64_t one = 1;

	if (write(l->wakefd, &one, sizeof(one)) < 0)
		return;
}

static int tl_turn(void *loop)
{
	struct tinyloop *l = loop;
	struct epoll_event evs[8];
	uint64_t n;
	int ready = epoll_wait(l->epfd, evs, 8, 0);

	for (int i = 0; i < ready; i++)
		if (evs[i].data.fd == l->wakefd &&
		    read(l->wakefd, &n, sizeof(n)) < 0)
			return -errno;
	return ready < 0 ? -errno : 0;
}

static void tl_teardown(void *loop, enum exs_teardown how)
{
	struct tinyloop *l = loop;

	close(l->epfd);
	if (how == EXS_TEARDOWN_CORRECT) {
		close(l->wakefd);
		for (unsigned i = 0; i < l->nfds; i++)
			close(l->fds[i]);
	}
	free(l);
}

const struct exs_adapter exs_adapter = {
	.abi = TINYLOOP_ABI,
	.name = "tinyloop",
	.correct = "close the epoll fd, the eventfd and every timerfd",
	.careless = "close(epfd) alone: registered fds are not the epoll's",
	.kinds = EXS_PARK_MASK(EXS_PARK_TIMER) | EXS_PARK_MASK(EXS_PARK_FD) |
		 EXS_PARK_MASK(EXS_PARK_WAKE),
	.loop_new = tl_new,
	.park = tl_park,
	.wake = tl_wake,
	.turn = tl_turn,
	.teardown = tl_teardown,
};
