/*
 * Target program for fdtrack's follow tests: a parent that forks children
 * which leak, children which close everything they inherited, and a child
 * that execs the leaker; a thread of the parent opens an fd its main thread
 * closes (threads share one fd table: one process in the report).
 *
 *   forker LEAKER_PATH
 *
 * Leaves open at exit: the parent 1 eventfd (leak_in_parent), the leaky
 * child 4 (open_in_child), the exec'd leaker 2 (its leak_eventfds); the
 * tidy child none. Exits 0 once every child was waited for.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int sink;

__attribute__((noinline)) static void open_in_child(int n)
{
	for (int i = 0; i < n; i++)
		sink = eventfd(0, 0);
}

__attribute__((noinline)) static int leak_in_parent(void)
{
	int fd = eventfd(0, 0);

	sink = fd;
	return fd;
}

static void *thread_opens(void *arg)
{
	*(int *)arg = eventfd(0, 0);
	return NULL;
}

/* Close every inherited fd, then open and close two of its own. */
static void tidy_child(void)
{
	syscall(SYS_close_range, 3, ~0U, 0);
	for (int i = 0; i < 2; i++)
		close(eventfd(0, 0));
}

static pid_t spawn(void (*fn)(void))
{
	pid_t pid = fork();

	if (pid == 0) {
		fn();
		_exit(0);
	}
	return pid;
}

static void leaky_child(void)
{
	open_in_child(4);
}

/* vfork and exec the leaker (the child never returns from here). */
static pid_t vfork_leaker(const char *path)
{
	pid_t pid = vfork();

	if (pid == 0) {
		execl(path, "leaker", "2", (char *)NULL);
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	int held[3], from_thread = -1, p[2], status, bad = 0;
	pthread_t th;
	pid_t kids[3];

	if (argc < 2) {
		fprintf(stderr, "usage: forker LEAKER_PATH\n");
		return 2;
	}
	for (int i = 0; i < 3; i++)
		held[i] = eventfd(0, 0);
	if (pipe(p) || pthread_create(&th, NULL, thread_opens, &from_thread) ||
	    pthread_join(th, NULL))
		return 1;
	close(from_thread);
	kids[0] = spawn(leaky_child);
	kids[1] = spawn(tidy_child);
	kids[2] = vfork_leaker(argv[1]);
	for (int i = 0; i < 3; i++)
		if (kids[i] < 0 || waitpid(kids[i], &status, 0) != kids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	/* the children's closes were of their copies: ours are still open */
	for (int i = 0; i < 3; i++)
		if (close(held[i]))
			bad = 1;
	close(p[0]);
	close(p[1]);
	leak_in_parent();
	return bad;
}
