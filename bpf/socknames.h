/*
 * fdtrack's socket names (socknames.c): a "socket:[inode]" link of
 * /proc/PID/fd told as valgrind tells it, from the process's
 * /proc/PID/net tables.
 */
#ifndef FDTRACK_SOCKNAMES_H
#define FDTRACK_SOCKNAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct socket_name {
	unsigned long ino;
	char *name;
};

/* The TCP, UDP (v4 and v6) and UNIX sockets of a network namespace. */
struct socket_names {
	struct socket_name *v; /* by inode */
	size_t n, cap;
	bool read;
};

/* Read pid's namespace's tables into s (empty: nothing read). */
void socket_names_read(struct socket_names *s, pid_t pid);
/* "TCP 127.0.0.1:44832 -> 127.0.0.1:8080", "TCP listening on
 * 0.0.0.0:8080", "UDP 0.0.0.0:5353", "UNIX /run/x.sock" or "UNIX
 * (unnamed)" for a "socket:[inode]" link; malloc'd; NULL: not a socket
 * link, another family, or not in s. */
char *socket_name(const struct socket_names *s, const char *link);
void socket_names_free(struct socket_names *s);

#endif
