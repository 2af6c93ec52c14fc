// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel side's ring buffer read through mappings of our own, for a
 * process that watches itself: libbpf's ring_buffer always makes an epoll
 * fd, which such a process has no use for (it only polls with timeout 0)
 * and which its /proc sampler would read at every iteration like any other
 * fd. The layout is the kernel's (kernel/bpf/ringbuf.c): a consumer page we
 * write, then the producer page and the data area, mapped twice in a row
 * so a record never wraps; each record has an 8-byte header whose length
 * word carries a busy bit (still being written) and a discard bit.
 */
#include "ring.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/bpf.h>

int ring_open(struct ring *r, int map_fd, size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	r->consumer = NULL;
	r->producer = NULL;
	r->page = (size_t)page;
	r->size = size;
	r->mask = size - 1;
	p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->consumer = p;
	p = mmap(NULL, r->page + 2 * size, PROT_READ, MAP_SHARED, map_fd,
		 (off_t)r->page);
	if (p == MAP_FAILED) {
		int err = -errno;

		ring_close(r);
		return err;
	}
	r->producer = p;
	r->data = (unsigned char *)p + r->page;
	return 0;
}

int ring_consume(struct ring *r, ring_cb cb, void *ctx)
{
	unsigned long cons, prod;
	int n = 0;
	bool more;

	cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	do {
		more = false;
		prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
		while (cons < prod) {
			__u32 *hdr = (__u32 *)(r->data + (cons & r->mask));
			__u32 len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
			__u32 bytes = len & ~(BPF_RINGBUF_BUSY_BIT |
					      BPF_RINGBUF_DISCARD_BIT);

			if (len & BPF_RINGBUF_BUSY_BIT)
				return n; /* the producer is still writing it */
			more = true;
			cons += (bytes + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
			if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
				int err = cb(ctx,
					     (unsigned char *)hdr +
						     BPF_RINGBUF_HDR_SZ,
					     bytes);

				if (err < 0) {
					__atomic_store_n(r->consumer, cons,
							 __ATOMIC_RELEASE);
					return err;
				}
				n++;
			}
			__atomic_store_n(r->consumer, cons, __ATOMIC_RELEASE);
		}
	} while (more);
	return n;
}

void ring_close(struct ring *r)
{
	if (r->consumer)
		munmap(r->consumer, r->page);
	if (r->producer)
		munmap(r->producer, r->page + 2 * r->size);
	r->consumer = r->producer = NULL;
}
