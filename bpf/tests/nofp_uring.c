/*
 * Target for fdtrack's DWARF unwinding test, built with -O2
 * -fomit-frame-pointer (bpf/build.mk): rings set up through
 * io_uring_queue_init (liburing.so, no frame pointers either) from two
 * named functions of this program, left open at exit:
 *
 *   nofp_uring A B [MS]   A rings from leak_rings_here(), then (after MS
 *                         milliseconds: fdtrack has unwound their stack
 *                         by then) B from leak_rings_there()
 *
 * The two functions are siblings called from main at the same stack depth,
 * so the frame-pointer walk sees the same stack for both: only the DWARF
 * unwinding tells them apart.
 */
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static struct io_uring rings[64];
static int nrings;
volatile int sink; /* no tail calls: the named frames stay on the stack */

__attribute__((noinline)) int leak_rings_here(int n)
{
	int err = 0;

	for (int i = 0; i < n && !err && nrings < 64; i++)
		err = io_uring_queue_init(4, &rings[nrings++], 0);
	sink = err;
	return err;
}

__attribute__((noinline)) int leak_rings_there(int n)
{
	int err = 0;

	for (int i = 0; i < n && !err && nrings < 64; i++)
		err = io_uring_queue_init(4, &rings[nrings++], 0);
	sink = err;
	return err;
}

int main(int argc, char **argv)
{
	int here = argc > 1 ? atoi(argv[1]) : 1;
	int there = argc > 2 ? atoi(argv[2]) : 1;
	long ms = argc > 3 ? atol(argv[3]) : 0;
	struct timespec pause = { ms / 1000, ms % 1000 * 1000000 };

	if (leak_rings_here(here))
		return 1;
	nanosleep(&pause, NULL);
	if (leak_rings_there(there))
		return 1;
	printf("rings %d\n", nrings);
	return 0;
}
