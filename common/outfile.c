/* Output files: in place or through a locked temporary (outfile.h). */
#include "outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_TAG	 ".tmp-"
#define KEPT_TAG ".new-"
#define RAND_LEN 6  /* mkstemp's XXXXXX */
#define MAX_HOPS 40 /* symlinks followed, as the kernel's ELOOP limit */

static int fail(int err, char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(int err, char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -err;
}

/* The fd a name stands for without naming a file: "-", /dev/stdout,
 * /dev/stderr, /dev/fd/N, /proc/self/fd/N. Reopening those would start a
 * new file description at offset 0 (or truncate a redirected stdout); the
 * shell's own meaning is the fd itself. -1 for any other name. */
static int std_fd(const char *p)
{
	const char *num = NULL;
	char *end;
	long n;

	if (!strcmp(p, "-") || !strcmp(p, "/dev/stdout"))
		return 1;
	if (!strcmp(p, "/dev/stderr"))
		return 2;
	if (!strncmp(p, "/dev/fd/", 8))
		num = p + 8;
	else if (!strncmp(p, "/proc/self/fd/", 14))
		num = p + 14;
	if (!num || *num < '0' || *num > '9')
		return -1;
	errno = 0;
	n = strtol(num, &end, 10);
	return errno || *end || n > INT_MAX ? -1 : (int)n;
}

/* /proc/PID/fd/N (or task/TID/fd/N): rdir is that fd directory. */
static bool proc_fd_link(const char *rdir, const char *base)
{
	size_t n = strlen(rdir);

	return n > 3 && !strcmp(rdir + n - 3, "/fd") &&
	       base[strspn(base, "0123456789")] == 0 && base[0];
}

static void note_inode(struct outfile *f)
{
	struct stat st;

	if (!fstat(f->fd, &st)) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->chr = S_ISCHR(st.st_mode);
	}
}

static int open_dup(struct outfile *f, int n, char *why, size_t len)
{
	int fl = fcntl(n, F_GETFL);

	if (fl < 0)
		return fail(EBADF, why, len, "%s is not open",
			    n == 1   ? "standard output"
			    : n == 2 ? "standard error"
				     : "that fd");
	if ((fl & O_ACCMODE) == O_RDONLY)
		return fail(EBADF, why, len, "it is open for reading only");
	f->fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
	if (f->fd < 0)
		return fail(errno, why, len, "%s", strerror(errno));
	note_inode(f);
	return 0;
}

static int open_in_place(struct outfile *f, const char *p, char *why,
			 size_t len)
{
	/* O_APPEND: what is there already (another process's file reached
	 * through /proc) is never overwritten from its start */
	f->fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0)
		return fail(errno, why, len, "%s", strerror(errno));
	note_inode(f);
	return 0;
}

/* CAP_FOWNER in the effective set: rename may replace another user's file
 * in a sticky directory. */
static bool has_fowner(void)
{
	char line[256];
	unsigned long long caps = 0;
	FILE *s = fopen("/proc/self/status", "re");

	if (!s)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), s))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(s);
	return caps & (1ULL << 3);
}

static int split(const char *target, char *dir, char *base)
{
	const char *slash = strrchr(target, '/');

	if (!slash || (size_t)(slash - target) >= PATH_MAX ||
	    strlen(slash + 1) >= NAME_MAX + 1)
		return -1;
	memcpy(dir, target, (size_t)(slash - target));
	dir[slash - target] = 0;
	if (!dir[0])
		strcpy(dir, "/");
	strcpy(base, slash + 1);
	return 0;
}

/* Remove base.tmp-XXXXXX files in dir whose writer is gone: theirs held an
 * flock for as long as it lived. Only our own regular files. */
static void sweep(const char *target)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], prefix[NAME_MAX + 8];
	struct dirent *e;
	size_t plen;
	DIR *d;

	if (split(target, dir, base))
		return;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s" TMP_TAG, base);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		struct stat st, now;
		int fd;

		if (strncmp(e->d_name, prefix, plen) ||
		    strlen(e->d_name) != plen + RAND_LEN)
			continue;
		fd = openat(dirfd(d), e->d_name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
		    st.st_uid == geteuid() && !flock(fd, LOCK_EX | LOCK_NB) &&
		    !fstatat(dirfd(d), e->d_name, &now, AT_SYMLINK_NOFOLLOW) &&
		    now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			unlinkat(dirfd(d), e->d_name, 0);
		close(fd);
	}
	closedir(d);
}

/* The temporary beside target, locked; mode as the target's if it exists
 * (the replacement keeps it), else what open(0666) would give. */
static int open_temp(struct outfile *f, const struct stat *old, char *why,
		     size_t len)
{
	size_t n = strlen(f->target);
	struct stat st;

	sweep(f->target);
	if (!(f->tmp = malloc(n + sizeof(TMP_TAG) + RAND_LEN)))
		return fail(ENOMEM, why, len, "out of memory");
	for (int tries = 0; tries < 8; tries++) {
		sprintf(f->tmp, "%s" TMP_TAG "XXXXXX", f->target);
		f->fd = mkostemp(f->tmp, O_CLOEXEC);
		if (f->fd < 0)
			break;
		/* another writer's sweep may have taken it between mkostemp
		 * and the lock: then it is gone, and we make another */
		if (!flock(f->fd, LOCK_EX) && !fstat(f->fd, &st) &&
		    st.st_nlink > 0) {
			mode_t um = umask(0);

			umask(um);
			fchmod(f->fd, old ? old->st_mode & 0777 : 0666 & ~um);
			return 0;
		}
		close(f->fd);
		f->fd = -1;
	}
	int err = f->fd < 0 ? errno : EAGAIN;

	free(f->tmp);
	f->tmp = NULL;
	return fail(err, why, len, "%s", strerror(err));
}

/* A regular file (or nothing) at dir/base: can rename replace it? In a
 * sticky directory only its owner, the directory's or CAP_FOWNER can. */
static int replaceable(const char *dir, const struct stat *old, char *why,
		       size_t len)
{
	struct stat d;

	if (!old || stat(dir, &d) || !(d.st_mode & S_ISVTX) ||
	    old->st_uid == geteuid() || d.st_uid == geteuid() || has_fowner())
		return 0;
	return fail(EPERM, why, len,
		    "it belongs to uid %u in the sticky directory %s, so it "
		    "cannot be replaced: remove it or choose another name",
		    (unsigned)old->st_uid, dir);
}

static int open_path(struct outfile *f, const char *path, char *why, size_t len)
{
	char cur[PATH_MAX], dir[PATH_MAX], rdir[PATH_MAX], full[PATH_MAX + 1];
	const char *slash, *base;
	struct stat st;
	int n, rc;

	*f = OUTFILE_NONE;
	f->path = path;
	if (!*path)
		return fail(ENOENT, why, len, "the file name is empty");
	if (strlen(path) >= sizeof(cur))
		return fail(ENAMETOOLONG, why, len, "%s",
			    strerror(ENAMETOOLONG));
	strcpy(cur, path);
	for (int hop = 0; hop < MAX_HOPS; hop++) {
		if ((n = std_fd(cur)) >= 0)
			return open_dup(f, n, why, len);
		if (cur[strlen(cur) - 1] == '/')
			return fail(EISDIR, why, len, "it is a directory");
		slash = strrchr(cur, '/');
		base = slash ? slash + 1 : cur;
		if (!slash)
			strcpy(dir, ".");
		else if (slash == cur)
			strcpy(dir, "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - cur),
				 cur);
		if (!realpath(dir, rdir))
			return fail(errno, why, len, "%s", strerror(errno));
		/* /proc: another process's fd (its links are no paths, so it
		 * is written as it is); its other files are the kernel's */
		if (!strcmp(rdir, "/proc") || !strncmp(rdir, "/proc/", 6)) {
			if (proc_fd_link(rdir, base))
				return open_in_place(f, cur, why, len);
			return fail(EACCES, why, len,
				    "it is in /proc, whose files are the "
				    "kernel's");
		}
		if (snprintf(full, sizeof(full), "%s/%s",
			     strcmp(rdir, "/") ? rdir : "",
			     base) >= (int)sizeof(cur))
			return fail(ENAMETOOLONG, why, len, "%s",
				    strerror(ENAMETOOLONG));
		if (lstat(full, &st)) {
			if (errno != ENOENT)
				return fail(errno, why, len, "%s",
					    strerror(errno));
			if (!(f->target = strdup(full)))
				return fail(ENOMEM, why, len, "out of memory");
			return open_temp(f, NULL, why, len);
		}
		if (S_ISLNK(st.st_mode)) {
			char link[PATH_MAX];
			ssize_t m = readlink(full, link, sizeof(link) - 1);

			if (m < 0)
				return fail(errno, why, len, "%s",
					    strerror(errno));
			link[m] = 0;
			if (link[0] == '/')
				snprintf(cur, sizeof(cur), "%s", link);
			else if (snprintf(cur, sizeof(cur), "%s/%s", rdir,
					  link) >= (int)sizeof(cur))
				return fail(ENAMETOOLONG, why, len, "%s",
					    strerror(ENAMETOOLONG));
			continue;
		}
		if (S_ISDIR(st.st_mode))
			return fail(EISDIR, why, len, "it is a directory");
		if (!S_ISREG(st.st_mode)) /* device, FIFO, socket */
			return open_in_place(f, full, why, len);
		if ((rc = replaceable(rdir, &st, why, len)))
			return rc;
		if (!(f->target = strdup(full)))
			return fail(ENOMEM, why, len, "out of memory");
		return open_temp(f, &st, why, len);
	}
	return fail(ELOOP, why, len, "%s", strerror(ELOOP));
}

int outfile_open(struct outfile *f, const char *path, char *why, size_t len)
{
	int rc = open_path(f, path, why, len);

	if (rc)
		outfile_abort(f); /* what it had allocated */
	return rc;
}

FILE *outfile_stream(struct outfile *f)
{
	if (!f->stream && f->fd >= 0)
		f->stream = fdopen(f->fd, "w");
	return f->stream;
}

/* Flush and close whatever is open; 0 or -errno. */
static int close_out(struct outfile *f)
{
	int err = 0;

	if (f->stream) {
		if (fflush(f->stream) || ferror(f->stream))
			err = errno ? errno : EIO;
		/* a temporary must be on disk before it takes the name */
		if (!err && f->tmp && fsync(f->fd))
			err = errno;
		if (fclose(f->stream) && !err)
			err = errno;
	} else if (f->fd >= 0) {
		if (f->tmp && fsync(f->fd))
			err = errno;
		if (close(f->fd) && !err)
			err = errno;
	}
	f->stream = NULL;
	f->fd = -1;
	return -err;
}

int outfile_commit(struct outfile *f, char *why, size_t len)
{
	int rc = close_out(f);

	if (rc) {
		outfile_abort(f);
		return fail(-rc, why, len, "%s", strerror(-rc));
	}
	if (!f->tmp)
		return 0;
	if (!rename(f->tmp, f->target)) {
		free(f->tmp);
		free(f->target);
		f->tmp = f->target = NULL;
		return 0;
	}
	rc = errno;
	/* finished but not in place: keep it under a name no sweep takes */
	size_t n = strlen(f->tmp);
	if ((f->kept = malloc(n + 1))) {
		snprintf(f->kept, n + 1, "%s" KEPT_TAG "%s", f->target,
			 f->tmp + n - RAND_LEN);
		if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->kept,
			      RENAME_NOREPLACE)) {
			free(f->kept);
			f->kept = NULL;
		}
	}
	if (!f->kept) {
		f->kept = f->tmp;
	} else {
		free(f->tmp);
	}
	f->tmp = NULL;
	return fail(rc, why, len, "%s", strerror(rc));
}

void outfile_abort(struct outfile *f)
{
	close_out(f);
	if (f->tmp) {
		unlink(f->tmp);
		free(f->tmp);
		f->tmp = NULL;
	}
	free(f->target);
	free(f->kept);
	f->target = f->kept = NULL;
}

bool outfile_same(const struct outfile *a, const struct outfile *b)
{
	if (a->target && b->target)
		return !strcmp(a->target, b->target);
	if (a->target || b->target || a->fd < 0 || b->fd < 0)
		return false;
	return a->dev == b->dev && a->ino == b->ino && !a->chr;
}
