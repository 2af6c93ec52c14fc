#include "fdkind.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const names[FDKIND_COUNT] = {
	[FDKIND_EVENTFD] = "eventfd",
	[FDKIND_IO_URING] = "io_uring",
	[FDKIND_EPOLL] = "epoll",
	[FDKIND_TIMERFD] = "timerfd",
	[FDKIND_SIGNALFD] = "signalfd",
	[FDKIND_PIDFD] = "pidfd",
	[FDKIND_INOTIFY] = "inotify",
	[FDKIND_FANOTIFY] = "fanotify",
	[FDKIND_USERFAULTFD] = "userfaultfd",
	[FDKIND_BPF] = "bpf",
	[FDKIND_PERF_EVENT] = "perf_event",
	[FDKIND_ANON] = "anon",
	[FDKIND_SOCKET_UNIX] = "socket:unix",
	[FDKIND_SOCKET_INET] = "socket:inet",
	[FDKIND_SOCKET_INET6] = "socket:inet6",
	[FDKIND_SOCKET_NETLINK] = "socket:netlink",
	[FDKIND_SOCKET_OTHER] = "socket:other",
	[FDKIND_PIPE] = "pipe",
	[FDKIND_FIFO] = "fifo",
	[FDKIND_FILE] = "file",
	[FDKIND_MEMFD] = "memfd",
	[FDKIND_DIR] = "dir",
	[FDKIND_CHR] = "chr",
	[FDKIND_BLK] = "blk",
	[FDKIND_OTHER] = "other",
};

const char *fdkind_name(enum fdkind kind)
{
	return (unsigned)kind < FDKIND_COUNT ? names[kind] : NULL;
}

/* Anonymous inode names, as the kernel gives them to anon_inode_getfile. */
static const struct {
	const char *name;
	enum fdkind kind;
} anon_names[] = {
	{ "[eventfd]", FDKIND_EVENTFD },
	{ "[io_uring]", FDKIND_IO_URING },
	{ "[eventpoll]", FDKIND_EPOLL },
	{ "[timerfd]", FDKIND_TIMERFD },
	{ "[signalfd]", FDKIND_SIGNALFD },
	{ "[pidfd]", FDKIND_PIDFD },
	{ "inotify", FDKIND_INOTIFY },
	{ "[fanotify]", FDKIND_FANOTIFY },
	{ "[userfaultfd]", FDKIND_USERFAULTFD },
	{ "bpf-map", FDKIND_BPF },
	{ "bpf-prog", FDKIND_BPF },
	{ "bpf_link", FDKIND_BPF },
	{ "bpf_iter", FDKIND_BPF },
	{ "bpf-token", FDKIND_BPF },
	{ "btf", FDKIND_BPF }, /* BTF objects (BPF_BTF_LOAD) */
	{ "[perf_event]", FDKIND_PERF_EVENT },
};

enum fdkind fdkind_of_anon(const char *name)
{
	for (size_t i = 0; i < sizeof(anon_names) / sizeof(anon_names[0]); i++)
		if (strcmp(name, anon_names[i].name) == 0)
			return anon_names[i].kind;
	return FDKIND_ANON;
}

const char *fdkind_anon_name(unsigned i, enum fdkind *kind)
{
	if (i >= sizeof(anon_names) / sizeof(anon_names[0]))
		return NULL;
	*kind = anon_names[i].kind;
	return anon_names[i].name;
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum fdkind fdkind_classify(const char *target, unsigned mode, int family)
{
	if (starts_with(target, "anon_inode:"))
		return fdkind_of_anon(target + strlen("anon_inode:"));
	if (starts_with(target, "socket:["))
		return fdkind_of_family(family);
	if (starts_with(target, "pipe:["))
		return FDKIND_PIPE;
	if (target[0] != '/')
		return FDKIND_OTHER; /* e.g. "net:[...]", "mnt:[...]" */
	if (starts_with(target, "/memfd:"))
		return FDKIND_MEMFD;
	return fdkind_of_mode(mode);
}

int fdkind_of_own_fd(int fd)
{
	char path[32], target[256];
	struct stat st;
	unsigned mode = 0;
	int family = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	if (starts_with(target, "socket:[")) {
		socklen_t len = sizeof(family);

		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len))
			family = -1;
	} else if (target[0] == '/' && fstat(fd, &st) == 0) {
		mode = st.st_mode;
	}
	return fdkind_classify(target, mode, family);
}

static int set_word(const char *w, size_t len, uint64_t *mask)
{
	char word[32];

	if (len == 0 || len >= sizeof(word))
		return -1;
	memcpy(word, w, len);
	word[len] = 0;
	if (!strcmp(word, "all")) {
		*mask |= FDKIND_ALL;
		return 0;
	}
	if (!strcmp(word, "socket")) {
		for (int k = FDKIND_SOCKET_UNIX; k <= FDKIND_SOCKET_OTHER; k++)
			*mask |= FDKIND_MASK(k);
		return 0;
	}
	if (!strcmp(word, "anon_inode")) {
		for (int k = FDKIND_EVENTFD; k <= FDKIND_ANON; k++)
			*mask |= FDKIND_MASK(k);
		return 0;
	}
	for (int k = 0; k < FDKIND_COUNT; k++) {
		if (!strcmp(word, names[k])) {
			*mask |= FDKIND_MASK(k);
			return 0;
		}
	}
	return -1;
}

int fdkind_parse_list(const char *list, uint64_t *mask, char *bad,
		      unsigned badlen)
{
	uint64_t m = 0;
	const char *p = list;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (set_word(p, len, &m)) {
			if (bad && badlen)
				snprintf(bad, badlen, "%.*s", (int)len, p);
			return -1;
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	*mask = m;
	return 0;
}
