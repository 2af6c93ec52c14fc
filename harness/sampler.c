/* The /proc sampler: fds by kind and VSZ/RSS, cheap enough to run after
 * every iteration (one getdents64 pass, a readlinkat per fd, an fstat for
 * a path and a getsockopt for a socket, one pread). The kinds are
 * common/fdkind.h's, fdtrack's own. */
#include "exstress.h"
#include "fdkind.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *exs_phase_name(enum exs_phase phase)
{
	switch (phase) {
	case EXS_PHASE_BASELINE:
		return "baseline";
	case EXS_PHASE_WARMUP:
		return "warmup";
	default:
		return "measure";
	}
}

int exs_fd_name_parse(const char *name)
{
	int fd = 0;
	if (!*name)
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || fd > (INT32_MAX - 9) / 10)
			return -1;
		fd = fd * 10 + (*name - '0');
	}
	return fd;
}

/* One unsigned decimal field followed by a blank or the end. */
static int statm_field(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;
	while (q < end && *q == ' ')
		q++;
	if (q == end || *q < '0' || *q > '9')
		return -1;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if (q < end && *q != ' ' && *q != '\n')
		return -1;
	*p = q;
	*out = v;
	return 0;
}

int exs_statm_parse(const char *buf, size_t len, uint64_t page_size,
		    uint64_t *vsz, uint64_t *rss)
{
	const char *p = buf, *end = buf + len;
	uint64_t size, resident;
	if (statm_field(&p, end, &size) || statm_field(&p, end, &resident))
		return -EPROTO;
	if (page_size && (size > UINT64_MAX / page_size ||
			  resident > UINT64_MAX / page_size))
		return -EPROTO;
	*vsz = size * page_size;
	*rss = resident * page_size;
	return 0;
}

int exs_sampler_open(struct exs_sampler *s)
{
	s->dir_fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return -errno;
	s->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (s->statm_fd < 0) {
		int err = -errno;
		close(s->dir_fd);
		s->dir_fd = -1;
		return err;
	}
	long ps = sysconf(_SC_PAGESIZE);
	s->page_size = ps > 0 ? (uint64_t)ps : 4096;
	return 0;
}

void exs_sampler_close(struct exs_sampler *s)
{
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	if (s->statm_fd >= 0)
		close(s->statm_fd);
	s->dir_fd = s->statm_fd = -1;
}

/* glibc's getdents64 wrapper is 2.30+; the raw syscall keeps it simple. */
struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* The kind of our own fd, from its link target and, where the target does
 * not say, fstat (files) or SO_DOMAIN (sockets). Closed meanwhile: the
 * link's kind is as good as any. */
static enum fdkind classify(int fd, const char *link)
{
	struct stat st;
	unsigned mode = 0;
	int family = -1;

	if (link[0] == '/' && strncmp(link, "/memfd:", 7) != 0) {
		if (fstat(fd, &st) == 0)
			mode = st.st_mode;
	} else if (strncmp(link, "socket:", 7) == 0) {
		socklen_t len = sizeof(family);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0)
			family = -1;
	}
	return fdkind_classify(link, mode, family);
}

static int count_fds(struct exs_sampler *s, int64_t fds[FDKIND_COUNT])
{
	/* 8-byte aligned: the kernel writes uint64_t fields in place. */
	uint64_t dbuf[1024];
	char link[128];

	for (int k = 0; k < FDKIND_COUNT; k++)
		fds[k] = 0;
	if (lseek(s->dir_fd, 0, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, s->dir_fd, dbuf, sizeof(dbuf));
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d =
				(struct linux_dirent64 *)((char *)dbuf + off);
			off += d->d_reclen;
			const char *name = d->d_name;
			int fd = exs_fd_name_parse(name);
			if (fd < 0)
				continue; /* "." and ".." */
			ssize_t len = readlinkat(s->dir_fd, name, link,
						 sizeof(link) - 1);
			if (len < 0) {
				/* Closed by another thread between getdents
				 * and readlink: it is not open now. */
				if (errno == ENOENT)
					continue;
				return -errno;
			}
			link[len] = '\0';
			fds[classify(fd, link)]++;
		}
	}
	return 0;
}

static int read_statm(struct exs_sampler *s, uint64_t *vsz, uint64_t *rss)
{
	char buf[256];
	ssize_t n = pread(s->statm_fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	return exs_statm_parse(buf, (size_t)n, s->page_size, vsz, rss);
}

int exs_sampler_read(struct exs_sampler *s, struct exs_sample *out)
{
	int rc = count_fds(s, out->fds);
	if (rc)
		return rc;
	return read_statm(s, &out->vsz_bytes, &out->rss_bytes);
}
