/*
 * fdtrack test target: two sibling functions open eventfds through one
 * helper, and to the frame-pointer walk both are the same stack (one key),
 * so only DWARF unwinding tells them apart, as two variants of that key:
 *
 *   variant_siblings HERE THERE MS   HERE eventfds from leak_here() (the
 *                                    first, then MS milliseconds for
 *                                    fdtrack to unwind it, then the rest:
 *                                    this CPU caches the recipe they
 *                                    match), then THERE from leak_there()
 *
 * Why one key: main keeps its frame pointer, the two functions and the
 * helper have none and leave rbp alone, so the walk goes from the helper's
 * syscall straight to main's frame; and the helper's syscall runs with 0
 * at [sp] (not a return address), so no caller is taken from there. The
 * process stays on one CPU, whose cache of matched variants it fills.
 * Left open at exit, all of them.
 */

#include <sched.h>
#include <stdlib.h>
#include <time.h>

int do_eventfd(void);
__asm__(".text\n"
	".globl do_eventfd\n"
	".type do_eventfd, @function\n"
	"do_eventfd:\n"
	"	.cfi_startproc\n"
	"	subq $8, %rsp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	movq $0, (%rsp)\n"
	"	movl $290, %eax\n" /* eventfd2(0, 0) */
	"	xorl %edi, %edi\n"
	"	xorl %esi, %esi\n"
	"	syscall\n"
	"	addq $8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size do_eventfd, .-do_eventfd\n");

volatile int sink;

#define NO_FP __attribute__((noinline, optimize("omit-frame-pointer")))

NO_FP int leak_here(void)
{
	int fd = do_eventfd();

	sink = fd; /* not a tail call */
	return fd;
}

NO_FP int leak_there(void)
{
	int fd = do_eventfd();

	sink = fd;
	return fd;
}

int main(int argc, char **argv)
{
	int here = argc > 1 ? atoi(argv[1]) : 1;
	int there = argc > 2 ? atoi(argv[2]) : 1;
	long ms = argc > 3 ? atol(argv[3]) : 0;
	struct timespec pause = { ms / 1000, ms % 1000 * 1000000 };
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	for (int i = 0; i < here; i++) { /* one call site: one variant */
		struct timespec p = pause;

		if (leak_here() < 0)
			return 1;
		if (i) /* a pause after the first only, without a branch */
			p.tv_sec = p.tv_nsec = 0; /* around the call */
		nanosleep(&p, NULL);
	}
	for (int i = 0; i < there; i++)
		if (leak_there() < 0)
			return 1;
	return 0;
}
