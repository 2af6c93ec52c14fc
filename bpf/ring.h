/* SPDX-License-Identifier: GPL-2.0 */
/* A BPF ring buffer read without an epoll fd (ring.c). Internal to fdtrack. */
#ifndef FDTRACK_RING_H
#define FDTRACK_RING_H

#include <stdbool.h>
#include <stddef.h>

typedef int (*ring_cb)(void *ctx, void *data, size_t len);

struct ring {
	unsigned long *consumer; /* our position (the page we write) */
	unsigned long *producer; /* the kernel's, then the data area */
	unsigned char *data;
	size_t page, size, mask; /* size: the map's max_entries */
};

/* Map the ring buffer map's pages (the fd may be closed after). */
int ring_open(struct ring *r, int map_fd, size_t size);
/* Hand every complete record to cb: how many, or cb's error (< 0). */
int ring_consume(struct ring *r, ring_cb cb, void *ctx);
void ring_close(struct ring *r);

#endif
