/*
 * glommio's shape (policies glommio-448 and glommio-fixed): what one
 * glommio 0.6 LocalExecutor held besides what every rex executor has (the
 * sleep notifier's eventfd and the main ring), made of the same real
 * things at glommio's default sizes (docs/design.md §3.9):
 *
 *   - the I/O buffer arena, 10 MiB, registered in the main and poll rings;
 *   - the poll ring and the latency ring, 128 entries each (the main ring
 *     is 128 too: rex_executor_new);
 *   - the blocking thread: an eventfd, a thread with Rust's default 2 MiB
 *     stack (+ a guard page) blocked reading it, its request and response queues (1024
 *     slots each) and a reference to the executor's sleep notifier.
 *
 * At teardown the reactor part (arena, rings) goes under either policy, as
 * glommio's Reactor did. The blocking thread is stopped and joined only
 * under glommio-fixed: glommio's never exits, so under glommio-448 it keeps
 * its eventfd, its stack, its queues and the notifier (whose eventfd then
 * stays open even when no task is parked).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

struct rex_blocking_thread {
	pthread_t thread;
	void *stack; /* REX_GLOMMIO_THREAD_STACK + a guard page below */
	int efd;
	_Atomic bool stop;
	struct rex_notifier *notifier; /* counted, as glommio's Arc clone */
	void *requests, *responses;
};

static void *blocking_main(void *arg)
{
	struct rex_blocking_thread *b = arg;
	uint64_t v;

	/* glommio's loop: read the eventfd, run queued syscalls (none
	 * here), notify the reactor. Only glommio-fixed ever sets stop. */
	while (!atomic_load_explicit(&b->stop, memory_order_acquire)) {
		if (read(b->efd, &v, sizeof(v)) < 0 && errno != EINTR)
			break;
	}
	return NULL;
}

static int blocking_new(struct rex_notifier *n,
			struct rex_blocking_thread **out)
{
	struct rex_blocking_thread *b = REX_FAULT() ? NULL
						    : calloc(1, sizeof(*b));
	int err = -ENOMEM;
	if (!b)
		return -ENOMEM;
	b->requests = REX_FAULT() ? NULL
				  : calloc(REX_GLOMMIO_QUEUE_SLOTS,
					   REX_GLOMMIO_REQUEST_SLOT);
	b->responses = REX_FAULT() ? NULL
				   : calloc(REX_GLOMMIO_QUEUE_SLOTS,
					    REX_GLOMMIO_RESPONSE_SLOT);
	if (!b->requests || !b->responses)
		goto fail;
	/* blocking reads, as glommio's (EFD_CLOEXEC only) */
	b->efd = REX_FAULT() ? (errno = EMFILE, -1) : eventfd(0, EFD_CLOEXEC);
	if (b->efd < 0) {
		err = -errno;
		goto fail;
	}
	/* The stack is mapped here, the size glibc maps for Rust's default
	 * (2 MiB + a guard page), so that running out of address space says
	 * ENOMEM (glibc says EAGAIN) and a freed one is unmapped at once. */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	b->stack = REX_FAULT() ? MAP_FAILED
			       : mmap(NULL, REX_GLOMMIO_THREAD_STACK + page,
				      PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
				      -1, 0);
	if (b->stack == MAP_FAILED) {
		err = -ENOMEM;
		goto fail_efd;
	}
	mprotect(b->stack, page, PROT_NONE);
	pthread_attr_t attr;
	if ((err = pthread_attr_init(&attr))) {
		err = -err;
		goto fail_stack;
	}
	pthread_attr_setstack(&attr, (char *)b->stack + page,
			      REX_GLOMMIO_THREAD_STACK);
	rex_notifier_ref(n);
	b->notifier = n;
	err = REX_FAULT() ? EAGAIN
			  : pthread_create(&b->thread, &attr, blocking_main, b);
	pthread_attr_destroy(&attr);
	if (err) {
		err = -err;
		rex_notifier_unref(n);
		goto fail_stack;
	}
	*out = b;
	return 0;

fail_stack:
	munmap(b->stack, REX_GLOMMIO_THREAD_STACK + page);
fail_efd:
	close(b->efd);
fail:
	free(b->requests);
	free(b->responses);
	free(b);
	return err;
}

/* glommio-fixed: wake it with stop set, join, release all it held. */
static void blocking_stop(struct rex_blocking_thread *b)
{
	uint64_t one = 1;
	atomic_store_explicit(&b->stop, true, memory_order_release);
	while (write(b->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(b->thread, NULL);
	munmap(b->stack,
	       REX_GLOMMIO_THREAD_STACK + (size_t)sysconf(_SC_PAGESIZE));
	close(b->efd);
	rex_notifier_unref(b->notifier);
	free(b->requests);
	free(b->responses);
	free(b);
}

int rex_glommio_new(rex_executor *ex)
{
	struct rex_glommio *g = &ex->glommio;
	struct io_uring_params p;
	int err;

	g->arena = REX_FAULT() ? MAP_FAILED
			       : mmap(NULL, REX_GLOMMIO_IO_MEMORY,
				      PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->arena == MAP_FAILED) {
		g->arena = NULL;
		return -ENOMEM;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_IOPOLL; /* glommio's poll ring */
	err = REX_FAULT() ? -ENOMEM
			  : io_uring_queue_init_params(REX_GLOMMIO_RING_DEPTH,
						       &g->poll_ring, &p);
	if (err < 0)
		goto fail_arena;
	/* glommio registers the arena in the main and poll rings, and only
	 * warns when it cannot (RLIMIT_MEMLOCK): so do we, and count it. */
	struct iovec iov = { g->arena, REX_GLOMMIO_IO_MEMORY };
	if (io_uring_register_buffers(&ex->ring, &iov, 1) == 0) {
		if (io_uring_register_buffers(&g->poll_ring, &iov, 1) == 0)
			g->buffers_registered = true;
		else
			io_uring_unregister_buffers(&ex->ring);
	}
	memset(&p, 0, sizeof(p));
	err = REX_FAULT() ? -ENOMEM
			  : io_uring_queue_init_params(REX_GLOMMIO_RING_DEPTH,
						       &g->latency_ring, &p);
	if (err < 0)
		goto fail_poll;
	err = blocking_new(ex->notifier, &g->blocking);
	if (err)
		goto fail_latency;
	return 0;

fail_latency:
	io_uring_queue_exit(&g->latency_ring);
fail_poll:
	/* the main ring may hold the arena too: the caller exits it next,
	 * then frees the arena (rex_glommio_free_arena) */
	io_uring_queue_exit(&g->poll_ring);
	return err;
fail_arena:
	munmap(g->arena, REX_GLOMMIO_IO_MEMORY);
	g->arena = NULL;
	return err;
}

void rex_glommio_free_arena(rex_executor *ex)
{
	if (ex->glommio.arena)
		munmap(ex->glommio.arena, REX_GLOMMIO_IO_MEMORY);
	ex->glommio.arena = NULL;
}

/* glommio's Reactor drop: the poll and latency rings, then the arena (the
 * main ring, which also held it, is already gone: rex_io_teardown). */
void rex_glommio_free_reactor(rex_executor *ex)
{
	struct rex_glommio *g = &ex->glommio;
	atomic_fetch_add_explicit(&rex_ring_generation, 1,
				  memory_order_acq_rel);
	io_uring_queue_exit(&g->poll_ring);
	io_uring_queue_exit(&g->latency_ring);
	rex_glommio_free_arena(ex);
}

void rex_glommio_stop_blocking(rex_executor *ex)
{
	blocking_stop(ex->glommio.blocking);
	ex->glommio.blocking = NULL;
}

/* glommio-448: nobody stops the thread; what it holds is left behind. */
size_t rex_glommio_leave_blocking(rex_executor *ex)
{
	ex->glommio.blocking = NULL;
	return sizeof(struct rex_blocking_thread) +
	       REX_GLOMMIO_QUEUE_SLOTS *
		       (REX_GLOMMIO_REQUEST_SLOT + REX_GLOMMIO_RESPONSE_SLOT);
}
