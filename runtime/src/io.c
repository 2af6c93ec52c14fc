/*
 * io_uring operations. The kernel-facing request (and its buffer or path)
 * belongs to the executor's in-flight list, not to the future: a future
 * dropped mid-flight orphans its request and asks the kernel to cancel it;
 * the memory is freed only when the completion is reaped, and an fd that an
 * orphaned openat returns is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* The kernel writes read data behind memcheck's back: tell it the bytes are
 * defined (a no-op unless running under valgrind). */
#if defined(__has_include) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)0)
#endif

#define TEARDOWN_WAIT_NS (5ull * 1000000000u) /* then give up, keep memory */

static void inflight_add(rex_executor *ex, struct rex_io_request *r)
{
	r->next = &ex->inflight;
	r->prev = ex->inflight.prev;
	r->prev->next = r;
	ex->inflight.prev = r;
	ex->inflight_count++;
}

static void inflight_del(rex_executor *ex, struct rex_io_request *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
	r->next = r->prev = NULL;
	ex->inflight_count--;
}

int rex_io_submit(rex_executor *ex)
{
	if (!io_uring_sq_ready(&ex->ring))
		return 0;
	return io_uring_submit(&ex->ring);
}

/* An SQE, flushing the queue to the kernel once if it is full. */
struct io_uring_sqe *rex_io_get_sqe(rex_executor *ex)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ex->ring);
	if (!sqe && io_uring_submit(&ex->ring) >= 0)
		sqe = io_uring_get_sqe(&ex->ring);
	return sqe;
}

static void request_cancel(rex_executor *ex, struct rex_io_request *r)
{
	if (r->cancel_sent)
		return;
	struct io_uring_sqe *sqe = rex_io_get_sqe(ex);
	if (!sqe)
		return; /* retried by teardown; otherwise it completes on its own */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)r, 0);
	io_uring_sqe_set_data64(sqe, REX_UD_IGNORE);
	r->cancel_sent = true;
}

static void complete(rex_executor *ex, struct rex_io_request *r, int res)
{
	inflight_del(ex, r);
	if (r->kind == REX_IO_NOTIFY) {
		ex->notify_armed = false;
		return;
	}
	if (!r->owner) {
		/* Nobody wants the result: don't leak what it created. */
		if (r->kind == REX_IO_OPENAT && res >= 0) {
			close(res);
			REX_NOTE_ORPHAN_FD();
		}
		rex_waker_drop(r->waker);
		free(r);
		return;
	}
	if (r->kind == REX_IO_READ && res > 0)
		MARK_DEFINED(r->buf, (size_t)res);
	r->res = res;
	r->done = true;
	rex_waker *w = r->waker;
	r->waker = NULL;
	rex_waker_wake(w);
}

int rex_io_reap(rex_executor *ex)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&ex->ring, head, cqe)
	{
		n++;
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		if (ud != REX_UD_IGNORE)
			complete(ex, (struct rex_io_request *)(uintptr_t)ud,
				 cqe->res);
	}
	io_uring_cq_advance(&ex->ring, n);
	return (int)n;
}

/* Keep one read of the eventfd in flight while there is a chance to sleep;
 * a foreign wake completes it. Re-armed only after it fired. */
void rex_io_arm_notify(rex_executor *ex)
{
	if (ex->notify_armed || ex->notifier->efd < 0)
		return;
	struct io_uring_sqe *sqe = rex_io_get_sqe(ex);
	if (!sqe)
		return;
	struct rex_io_request *r = ex->notify_req;
	io_uring_prep_read(sqe, ex->notifier->efd, r->buf, sizeof(uint64_t), 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)r);
	r->cancel_sent = false;
	inflight_add(ex, r);
	ex->notify_armed = true;
}

/* docs/design.md §3.4 step 5: cancel everything in flight, reap every completion,
 * then exit the ring. Buffers stay valid until their completion. */
void rex_io_teardown(rex_executor *ex)
{
	struct rex_io_request *r;
	for (r = ex->inflight.next; r != &ex->inflight; r = r->next) {
		if (r->owner) { /* legacy-448: futures leaked, not dropped */
			r->owner->req = NULL;
			r->owner = NULL;
		}
		request_cancel(ex, r);
	}
	uint64_t deadline = rex_now_ns() + TEARDOWN_WAIT_NS;
	while (ex->inflight_count && rex_now_ns() < deadline) {
		for (r = ex->inflight.next; r != &ex->inflight; r = r->next)
			request_cancel(ex, r); /* those that found no SQE */
		struct __kernel_timespec ts = { .tv_sec = 0,
						.tv_nsec = 100000000 };
		struct io_uring_cqe *cqe;
		io_uring_submit_and_wait_timeout(&ex->ring, &cqe, 1, &ts, NULL);
		rex_io_reap(ex);
	}
	/* An op that ignores cancellation for 5 s: its memory must outlive
	 * the kernel's use of it, so it is deliberately not freed. */
	ex->inflight.next = ex->inflight.prev = &ex->inflight;
	/* before the unmap: a new ring may reuse these addresses right after */
	atomic_fetch_add_explicit(&rex_ring_generation, 1,
				  memory_order_acq_rel);
	io_uring_queue_exit(&ex->ring);
}

/* ---- futures ------------------------------------------------------------------ */

static void io_init(struct rex_io *io, int kind)
{
	memset(io, 0, sizeof(*io));
	io->kind = kind;
	io->fd = -1;
}

void rex_io_read_init(struct rex_io *io, int fd, size_t len, int64_t offset)
{
	io_init(io, REX_IO_READ);
	io->fd = fd;
	io->len = len;
	io->offset = offset;
}

void rex_io_write_init(struct rex_io *io, int fd, const void *buf, size_t len,
		       int64_t offset)
{
	io_init(io, REX_IO_WRITE);
	io->fd = fd;
	io->src = buf;
	io->len = len;
	io->offset = offset;
}

void rex_io_openat_init(struct rex_io *io, int dirfd, const char *path,
			int flags, mode_t mode)
{
	io_init(io, REX_IO_OPENAT);
	io->fd = dirfd;
	io->path = path;
	io->flags = flags;
	io->mode = mode;
}

void rex_io_close_init(struct rex_io *io, int fd)
{
	io_init(io, REX_IO_CLOSE);
	io->fd = fd;
}

static int io_start(struct rex_io *io, struct rex_context *cx)
{
	rex_executor *ex = cx->executor;
	size_t extra = 0;
	if (io->kind == REX_IO_READ || io->kind == REX_IO_WRITE)
		extra = io->len;
	else if (io->kind == REX_IO_OPENAT)
		extra = io->path ? strlen(io->path) + 1 : 0;
	if (io->kind == REX_IO_OPENAT && !io->path)
		return -EFAULT;
	if ((io->kind == REX_IO_READ || io->kind == REX_IO_WRITE) &&
	    io->len > (1u << 30))
		return -EINVAL;

	struct rex_io_request *r = malloc(sizeof(*r) + extra);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->ex = ex;
	r->kind = io->kind;
	r->len = extra;

	struct io_uring_sqe *sqe = rex_io_get_sqe(ex);
	if (!sqe) {
		free(r);
		return -EBUSY;
	}
	switch (io->kind) {
	case REX_IO_READ:
		io_uring_prep_read(sqe, io->fd, r->buf, (unsigned)io->len,
				   (uint64_t)io->offset);
		break;
	case REX_IO_WRITE:
		memcpy(r->buf, io->src, io->len);
		io_uring_prep_write(sqe, io->fd, r->buf, (unsigned)io->len,
				    (uint64_t)io->offset);
		break;
	case REX_IO_OPENAT:
		memcpy(r->buf, io->path, extra);
		io_uring_prep_openat(sqe, io->fd, (const char *)r->buf,
				     io->flags | O_CLOEXEC, io->mode);
		break;
	case REX_IO_CLOSE:
		io_uring_prep_close(sqe, io->fd);
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)r);
	r->owner = io;
	r->waker = rex_waker_clone(rex_context_waker(cx));
	inflight_add(ex, r);
	io->req = r;
	return 0;
}

enum rex_poll rex_io_poll(struct rex_io *io, struct rex_context *cx,
			  int *result)
{
	if (io->kind == REX_IO_NONE) {
		*result = -EINVAL;
		return REX_READY;
	}
	if (!io->req) {
		int err = io_start(io, cx);
		if (err) {
			*result = err;
			return REX_READY;
		}
		return REX_PENDING;
	}
	if (!io->req->done)
		return REX_PENDING;
	*result = io->req->res;
	return REX_READY;
}

const void *rex_io_read_data(const struct rex_io *io)
{
	return io->req && io->req->done ? io->req->buf : NULL;
}

void rex_io_drop(struct rex_io *io)
{
	struct rex_io_request *r = io->req;
	if (!r)
		return;
	io->req = NULL;
	if (r->done) {
		free(r);
		return;
	}
	/* In flight: the executor owns it from now on. The waker goes too:
	 * the task is being destroyed. */
	r->owner = NULL;
	rex_waker_drop(r->waker);
	r->waker = NULL;
	request_cancel(r->ex, r);
}
