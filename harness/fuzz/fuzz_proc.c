/*
 * libFuzzer target: exstress's /proc parsers. The first byte picks one:
 *   0  /proc/self/statm text (next 2 bytes: page size shift), exs_statm_parse
 *   1  a /proc/self/fd entry name, exs_fd_name_parse
 *   2  a /proc/self/fd link target, fdkind_classify
 * Each must not crash or read past the input, and must agree with a plain
 * reference reading of the same bytes.
 */
#include "exstress.h"

#include <stdlib.h>
#include <string.h>

static void require(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 3;
	data++;
	size--;
	if (mode == 0) {
		uint64_t page = 4096;
		if (size >= 1) {
			page = (uint64_t)1 << (data[0] % 64);
			data++;
			size--;
		}
		/* exact-size buffer: ASan sees any read past the end */
		char *buf = malloc(size ? size : 1);
		if (!buf)
			return 0;
		memcpy(buf, data, size);
		uint64_t vsz = 1, rss = 1;
		if (exs_statm_parse(buf, size, page, &vsz, &rss) == 0) {
			require(vsz % page == 0 && rss % page == 0);
			/* reference: the first two numbers, via strtoull */
			char *z = malloc(size + 1);
			memcpy(z, buf, size);
			z[size] = '\0';
			char *end;
			unsigned long long a = strtoull(z, &end, 10);
			unsigned long long b = strtoull(end, NULL, 10);
			require(a * page == vsz && b * page == rss);
			free(z);
		}
		free(buf);
		return 0;
	}
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mode == 1) {
		int fd = exs_fd_name_parse(s);
		if (fd >= 0) {
			require(all_digits(s));
			require(fd == atoi(s));
		} else {
			require(fd == -1);
		}
	} else {
		enum fdkind k = fdkind_classify(s, 0, -1);
		require(k < FDKIND_COUNT);
		require((k == FDKIND_EVENTFD) ==
			(strcmp(s, "anon_inode:[eventfd]") == 0));
		require((k == FDKIND_IO_URING) ==
			(strcmp(s, "anon_inode:[io_uring]") == 0));
	}
	free(s);
	return 0;
}
