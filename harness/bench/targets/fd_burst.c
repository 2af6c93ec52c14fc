/*
 * bench target (fdtrack_burst): THREADS threads open and close PAIRS
 * eventfds between them as fast as they can, then open KEPT more (from
 * keep_eventfds(), a frame the report must show) and exit with those open;
 * the seconds the burst took (wall) go to FILE.
 *
 *   fd_burst THREADS PAIRS KEPT FILE
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"

static long pairs_each, kept_each;
static int sink; /* written by every thread: atomically */

__attribute__((noinline)) static void keep_eventfds(long n)
{
	for (long i = 0; i < n; i++)
		__atomic_store_n(&sink, eventfd(0, 0), /* left open: the leak */
				 __ATOMIC_RELAXED);
}

static void *burst(void *arg)
{
	(void)arg;
	for (long i = 0; i < pairs_each; i++) {
		int fd = eventfd(0, 0);

		if (fd >= 0)
			close(fd);
	}
	keep_eventfds(kept_each);
	return NULL;
}

int main(int argc, char **argv)
{
	int nth = argc > 4 ? atoi(argv[1]) : 0;
	pthread_t th[64];
	uint64_t t0;
	FILE *f;

	if (nth < 1 || nth > 64) {
		fprintf(stderr, "usage: fd_burst THREADS PAIRS KEPT FILE\n");
		return 2;
	}
	pairs_each = atol(argv[2]) / nth;
	kept_each = atol(argv[3]) / nth;
	t0 = mono_ns();
	for (int i = 0; i < nth; i++)
		if (pthread_create(&th[i], NULL, burst, NULL))
			return 1;
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	f = fopen(argv[4], "w");
	if (!f || fprintf(f, "%.9f\n", (double)(mono_ns() - t0) / 1e9) < 0 ||
	    fclose(f))
		return 1;
	return 0;
}
