/*
 * fd kinds, named as /proc/PID/fd and lsof users know them. One list for
 * the whole project: fdtrack's kernel side classifies a struct file into
 * these numbers, exstress's /proc sampler a link target, and both print the
 * same names. Plain C enum, no libc: fdtrack.bpf.c includes it too.
 *
 * Append only (numbers are in CSV headers' order and JSON); FDKIND_COUNT
 * must stay <= 64 (kind sets are 64-bit masks).
 */
#ifndef COMMON_FDKIND_H
#define COMMON_FDKIND_H

enum fdkind {
	FDKIND_EVENTFD = 0,
	FDKIND_IO_URING,
	FDKIND_EPOLL,
	FDKIND_TIMERFD,
	FDKIND_SIGNALFD,
	FDKIND_PIDFD,
	FDKIND_INOTIFY,
	FDKIND_FANOTIFY,
	FDKIND_USERFAULTFD,
	FDKIND_BPF, /* maps, programs, links, iterators */
	FDKIND_PERF_EVENT,
	FDKIND_ANON, /* another anonymous inode ("anon"): anon_inode:NAME */
	FDKIND_SOCKET_UNIX,
	FDKIND_SOCKET_INET,
	FDKIND_SOCKET_INET6,
	FDKIND_SOCKET_NETLINK,
	FDKIND_SOCKET_OTHER, /* any other address family */
	FDKIND_PIPE,
	FDKIND_FIFO,
	FDKIND_FILE, /* regular file */
	FDKIND_MEMFD,
	FDKIND_DIR,
	FDKIND_CHR,
	FDKIND_BLK,
	FDKIND_OTHER, /* none of the above (e.g. O_PATH of a symlink) */
	FDKIND_COUNT
};

#define FDKIND_MASK(k) (1ULL << (k))
#define FDKIND_ALL     ((1ULL << FDKIND_COUNT) - 1)

/* The kind of a socket of address family AF_* (Linux's numbers, spelt out
 * so that the BPF side can use this without libc headers). */
static inline enum fdkind fdkind_of_family(int family)
{
	switch (family) {
	case 1:
		return FDKIND_SOCKET_UNIX; /* AF_UNIX */
	case 2:
		return FDKIND_SOCKET_INET; /* AF_INET */
	case 10:
		return FDKIND_SOCKET_INET6; /* AF_INET6 */
	case 16:
		return FDKIND_SOCKET_NETLINK; /* AF_NETLINK */
	default:
		return FDKIND_SOCKET_OTHER;
	}
}

/* The kind of a file reached by a path (not a pseudo file such as an
 * anonymous inode, socket or pipe), by the S_IFMT bits of its mode; 0
 * (unknown) counts as a regular file. memfds are regular files too: the
 * callers tell them apart by name. */
static inline enum fdkind fdkind_of_mode(unsigned mode)
{
	switch (mode & 0170000) {
	case 0010000:
		return FDKIND_FIFO; /* S_IFIFO */
	case 0040000:
		return FDKIND_DIR; /* S_IFDIR */
	case 0020000:
		return FDKIND_CHR; /* S_IFCHR */
	case 0060000:
		return FDKIND_BLK; /* S_IFBLK */
	case 0100000:		   /* S_IFREG */
	case 0:
		return FDKIND_FILE;
	default:
		return FDKIND_OTHER; /* symlink (O_PATH), socket path */
	}
}

#ifndef __bpf__
#include <stdint.h>

/* "eventfd", "io_uring", ..., "socket:unix", ..., "other"; NULL if out of
 * range. */
const char *fdkind_name(enum fdkind kind);

/* The kind of a /proc/PID/fd link target. `mode` is the st_mode of the
 * file (0 if unknown: then a path counts as "file", unless it names a
 * memfd); `family` the socket's address family (-1 if unknown: then a
 * socket counts as "socket:other"). */
enum fdkind fdkind_classify(const char *target, unsigned mode, int family);

/* The kind of an anonymous inode by its name as in "anon_inode:NAME"
 * ("[eventfd]", "inotify", "bpf-map", ...). */
enum fdkind fdkind_of_anon(const char *name);

/* The i-th name of the anonymous-inode table fdkind_of_anon() uses, with
 * its kind in *kind; NULL past the end (fdtrack's kernel side gets the same
 * table through a map). */
const char *fdkind_anon_name(unsigned i, enum fdkind *kind);

/* The kind of this process's own fd: readlink, fstat and getsockopt as
 * needed. Returns -1 if fd is not open. */
int fdkind_of_own_fd(int fd);

/* A comma-separated list of kind names ("eventfd,io_uring"), or group
 * names: "socket" (every socket:*), "anon_inode" (every anonymous-inode
 * kind), "all". 0 with *mask set, or -1 with the bad word copied to
 * bad (bad may be NULL). */
int fdkind_parse_list(const char *list, uint64_t *mask, char *bad,
		      unsigned badlen);
#endif

#endif
