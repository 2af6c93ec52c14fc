/*
 * libFuzzer target: fdtrack's --suppressions parser (bpf/cli_suppress.c).
 * The input is the file's text, any bytes. The parser must not crash or
 * read past it, and either refuse with one non-empty line, or give
 * patterns that are text: non-empty, trimmed, no comment, no control
 * character, valid UTF-8 (checked here by a reading of its own), at most
 * SUPPRESSION_LINE_MAX bytes, no more than the input has lines.
 *
 *   make fuzz                       a longer run (FUZZ_TIME per target)
 *   build/fuzz/harness/fuzz_suppressions DIR harness/fuzz/corpus/suppressions
 */
#include <stdlib.h>
#include <string.h>

#include "fdtrack_cli.h"

static void require(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* Valid UTF-8, by the definition (no overlongs, surrogates, > U+10FFFF). */
static int utf8_ok(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s, n, cp;
		if (c < 0x80) {
			s++;
			continue;
		}
		n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
		if (!n || c > 0xf4)
			return 0;
		cp = c & (0x3f >> n);
		for (unsigned k = 1; k <= n; k++) {
			if ((s[k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp < 0xe000))
			return 0;
		s += n + 1;
	}
	return 1;
}

struct seen {
	size_t n;
};

static int check_pattern(const char *pat, void *arg)
{
	struct seen *seen = arg;
	size_t len = strlen(pat);

	seen->n++;
	require(len > 0 && len <= SUPPRESSION_LINE_MAX);
	require(pat[0] != '#' && pat[0] != ' ' && pat[0] != '\t');
	require(pat[len - 1] != ' ' && pat[len - 1] != '\t' &&
		pat[len - 1] != '\r');
	for (const unsigned char *p = (const unsigned char *)pat; *p; p++)
		require(*p >= 0x20 && *p != 0x7f);
	require(utf8_ok((const unsigned char *)pat));
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct seen seen = { 0 };
	char why[160];
	size_t lines = 1;

	/* a copy exactly size long: reading past it is ASan's to catch */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	why[0] = 0;
	if (cli_suppressions_parse(text, size, check_pattern, &seen, why,
				   sizeof(why))) {
		size_t n = strlen(why);
		require(n > 0 && n < sizeof(why) - 1);
		require(!strchr(why, '\n'));
	} else {
		require(seen.n <= lines);
	}
	free(text);
	return 0;
}
