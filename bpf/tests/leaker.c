/*
 * Target program for fdtrack's CLI tests.
 *
 *   leaker LEAK [BALANCED] [--wait]
 *
 * Opens and closes BALANCED eventfds, then opens LEAK eventfds (from
 * leak_eventfds(), a name the tests look for in the report) and exits without
 * closing them. With --wait it prints "ready" and waits for stdin to close
 * first, so a test can look at it while it runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

__attribute__((noinline)) static int leak_eventfds(int n)
{
	int opened = 0;

	for (int i = 0; i < n; i++)
		opened += eventfd(0, 0) >= 0;
	return opened;
}

int main(int argc, char **argv)
{
	int leak, balanced;
	char c;

	if (argc < 2) {
		fprintf(stderr, "usage: leaker LEAK [BALANCED] [--wait]\n");
		return 2;
	}
	leak = atoi(argv[1]);
	balanced = argc > 2 ? atoi(argv[2]) : 0;
	for (int i = 0; i < balanced; i++) {
		int fd = eventfd(0, 0);

		if (fd >= 0)
			close(fd);
	}
	if (leak_eventfds(leak) != leak)
		return 1;
	if (argc > 3) {
		printf("ready\n");
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			;
	}
	return 0;
}
