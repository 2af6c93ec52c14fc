/*
 * --suppressions FILE: a pattern per line, blank lines and '#' comments
 * skipped, surrounding blanks trimmed. The file is text or it is refused,
 * with the line that is not: a directory, a device (/dev/zero would never
 * end), binary data (a NUL byte, a control character, bytes that are not
 * UTF-8) or a line longer than a pattern can be are errors, never a
 * silently empty or garbled list. Pure functions, so the fuzzer
 * (harness/fuzz/fuzz_suppressions.c) runs them as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdtrack_cli.h"
#include "json.h"

static int bad(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

int cli_suppressions_parse(const char *text, size_t len,
			   int (*add)(const char *pattern, void *arg),
			   void *arg, char *why, size_t whylen)
{
	char line[SUPPRESSION_LINE_MAX + 1];
	size_t lineno = 0;

	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - text) - at : len - at;
		char *p = line, *end;

		lineno++;
		if (n > SUPPRESSION_LINE_MAX)
			return bad(why, whylen,
				   "line %zu is longer than %d bytes", lineno,
				   SUPPRESSION_LINE_MAX);
		memcpy(line, text + at, n);
		line[n] = 0;
		at += n + 1;
		if (strlen(line) != n)
			return bad(why, whylen,
				   "line %zu is not text (a NUL byte)", lineno);
		while (n && strchr(" \t\r", line[n - 1]))
			line[--n] = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		for (end = p; *end;) {
			int u = json_utf8_len(end);

			if (!u || (unsigned char)*end < 0x20 ||
			    (unsigned char)*end == 0x7f)
				return bad(why, whylen,
					   "line %zu is not text (byte 0x%02x)",
					   lineno, (unsigned char)*end);
			end += u;
		}
		if (*p && *p != '#' && add(p, arg))
			return bad(why, whylen, "out of memory");
	}
	return 0;
}

int cli_suppressions_read(const char *path, char **text, size_t *len, char *why,
			  size_t whylen)
{
	struct stat st;
	size_t cap = 4096, n = 0;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	*text = NULL;
	*len = 0;
	if (fd < 0)
		return bad(why, whylen, "%s", strerror(errno));
	/* a file or a pipe (--suppressions <(...)); a directory reads as
	 * nothing, a device may never end */
	if (fstat(fd, &st) || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		return bad(why, whylen, "%s",
			   S_ISDIR(st.st_mode)
				   ? "it is a directory"
				   : "not a regular file or a pipe");
	}
	for (;;) {
		ssize_t r;

		if (n == cap || !buf) {
			char *more = n < SUPPRESSIONS_MAX
					     ? realloc(buf,
						       buf ? cap *= 2 : cap)
					     : NULL;

			if (!more) {
				free(buf);
				close(fd);
				if (n >= SUPPRESSIONS_MAX)
					return bad(why, whylen,
						   "larger than %d bytes",
						   SUPPRESSIONS_MAX);
				return bad(why, whylen, "out of memory");
			}
			buf = more;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;

			free(buf);
			close(fd);
			return bad(why, whylen, "%s", strerror(err));
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	*text = buf;
	*len = n;
	return 0;
}
