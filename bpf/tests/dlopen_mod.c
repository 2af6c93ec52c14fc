/*
 * A module the dlopen test's target loads after fdtrack has read its maps
 * (bpf/tests/dlopen_leak.c): it leaks an eventfd, built -O2
 * -fomit-frame-pointer as most shared libraries are.
 */
#include <sys/eventfd.h>

volatile int dlopen_mod_sink; /* no tail call: this frame stays */

__attribute__((noinline)) int leak_from_module(void)
{
	int fd = eventfd(0, 0);

	dlopen_mod_sink = fd;
	return fd;
}
