/*
 * fdtrack's inline-frames test target: open_notifier() is inlined into
 * make_pool() (always_inline, -O2), so the eventfd's return address is
 * make_pool's code while its line is open_notifier's. The report must show
 * both, as valgrind and addr2line -i do: open_notifier at the eventfd
 * call, then make_pool at the line that calls open_notifier.
 *
 *   inlined N   leak N eventfds, then exit
 */
#include <stdlib.h>
#include <sys/eventfd.h>

static inline __attribute__((always_inline)) int open_notifier(void)
{
	return eventfd(0, EFD_CLOEXEC); /* INLINED_OPEN_LINE */
}

__attribute__((noinline)) int make_pool(int n)
{
	int fd = -1;

	for (int i = 0; i < n; i++)
		fd = open_notifier(); /* MAKE_POOL_CALL_LINE */
	return fd;
}

int main(int argc, char **argv)
{
	return make_pool(argc > 1 ? atoi(argv[1]) : 1) < 0;
}
