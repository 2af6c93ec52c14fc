/*
 * Target for fdtrack's dlopen test: an fd opened and closed first (fdtrack
 * reads the maps to unwind its stack), a pause, then a module loaded with
 * dlopen (mapped after those maps were read) leaks an eventfd:
 *
 *   dlopen_leak MODULE.so [MS]
 *
 * The leak's stack must name the module's function and this main: a stack
 * unwound with the old maps stops at the module's first address.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long ms = argc > 2 ? atol(argv[2]) : 500;
	struct timespec pause = { ms / 1000, ms % 1000 * 1000000 };
	int (*leak)(void);
	void *mod;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: dlopen_leak MODULE.so [MS]\n");
		return 2;
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		close(fd);
	nanosleep(&pause, NULL);
	mod = dlopen(argv[1], RTLD_NOW);
	if (!mod || !(leak = (int (*)(void))dlsym(mod, "leak_from_module"))) {
		fprintf(stderr, "dlopen_leak: %s\n", dlerror());
		return 1;
	}
	return leak() < 0; /* the module stays loaded: its frames resolve */
}
