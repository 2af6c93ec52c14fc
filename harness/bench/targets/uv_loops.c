/*
 * bench target (fdtrack_libuv, fdtrack_startup): create, run once and
 * close N libuv event loops (each opens an epoll fd, an eventfd and, the
 * first, a signal pipe), then write the seconds the loops took (wall) to
 * FILE. N 0: exit at once (fdtrack's start-up).
 *
 *   uv_loops N FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "clock.h"

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[1]) : -1;
	uint64_t t0 = mono_ns();
	FILE *f;

	if (n < 0) {
		fprintf(stderr, "usage: uv_loops N FILE\n");
		return 2;
	}
	for (long i = 0; i < n; i++) {
		uv_loop_t loop;

		if (uv_loop_init(&loop))
			return 1;
		uv_run(&loop, UV_RUN_NOWAIT);
		if (uv_loop_close(&loop))
			return 1;
	}
	f = fopen(argv[2], "w");
	if (!f || fprintf(f, "%.9f\n", (double)(mono_ns() - t0) / 1e9) < 0 ||
	    fclose(f))
		return 1;
	return 0;
}
