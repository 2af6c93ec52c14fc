/*
 * The output files of fdtrack and exstress (JSON, CSV, JUnit), as users of
 * valgrind, strace and coreutils expect them:
 *
 *   - a regular file (or a new name) is written to FILE.tmp-XXXXXX beside
 *     it and renamed over it when complete, so a partial file never sits
 *     under its name; a symlink is followed to the file it names;
 *   - anything else (a device such as /dev/null, a FIFO, a terminal, "-",
 *     /dev/stdout, /dev/fd/N, a file under /proc) is written in place and
 *     never renamed over: the name keeps what it was;
 *   - what cannot be written (a directory, a missing directory, no
 *     permission, a file of another user in a sticky directory, which
 *     rename cannot replace) is refused when opened, before any work;
 *   - the temporary holds an flock while its writer lives: a writer killed
 *     outright (SIGKILL) leaves it, and the next writer of the same name
 *     removes every such temporary whose lock is free;
 *   - if the final rename still fails, the finished file is kept beside
 *     FILE as FILE.new-XXXXXX and the caller says where.
 *
 * Linked by both tools from build/obj/common/outfile.o.
 */
#ifndef COMMON_OUTFILE_H
#define COMMON_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct outfile {
	const char *path; /* as given, for messages */
	char *target; /* the regular file replaced at commit; NULL: in place */
	char *tmp;    /* the temporary until commit or abort */
	char *kept;   /* after a failed rename: where the file is */
	int fd;	      /* -1 once closed */
	FILE *stream; /* outfile_stream()'s, closed at commit */
	dev_t dev;    /* what is written in place, for outfile_same() */
	ino_t ino;
	bool chr; /* in place on a character device (/dev/null, a tty) */
};

/* An outfile nothing is open on (fd -1), safe to abort. */
#define OUTFILE_NONE ((struct outfile){ .fd = -1 })

/* Open path for writing as above. 0, or -errno with why holding the
 * reason as one phrase ("it is a directory", "No such file or
 * directory"). A FIFO blocks here until it has a reader, as a shell's
 * redirection does. */
int outfile_open(struct outfile *f, const char *path, char *why, size_t whylen);

/* fd as a stdio stream (commit closes it); NULL with errno. */
FILE *outfile_stream(struct outfile *f);

/* Flush, sync and close, then rename the temporary over the target. 0, or
 * -errno (why says what failed; f->kept names the finished file when it
 * could not be renamed into place, until outfile_abort()). */
int outfile_commit(struct outfile *f, char *why, size_t whylen);

/* Close and remove the temporary (nothing happens to an in-place file);
 * frees what open and commit kept. Safe after commit and twice. */
void outfile_abort(struct outfile *f);

/* Do two open outfiles write the same file? (Character devices such as
 * /dev/null or a terminal may take two outputs.) */
bool outfile_same(const struct outfile *a, const struct outfile *b);

#endif
