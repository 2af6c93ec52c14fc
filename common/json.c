#include "json.h"

#include <math.h>

int json_utf8_len(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0];

	/* each test stops at the first byte that is not a continuation, so
	 * the terminating NUL is never passed */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || /* overlong */
		    (c == 0xed && s[1] >= 0xa0))  /* a UTF-16 surrogate */
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || /* overlong */
		    (c == 0xf4 && s[1] >= 0x90))  /* above U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

void json_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (*s) {
		unsigned char ch = (unsigned char)*s;
		int n = json_utf8_len(s);

		switch (ch) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		default:
			if (!n) /* not UTF-8: the byte as Python's surrogateescape */
				fprintf(out, "\\udc%02x", ch);
			else if (ch < 0x20 || ch == 0x7f)
				fprintf(out, "\\u%04x", ch);
			else
				fwrite(s, 1, (size_t)n, out);
		}
		s += n ? n : 1;
	}
	fputc('"', out);
}

void json_num(FILE *out, double v)
{
	if (!isfinite(v))
		fputs("null", out);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(out, "%.0f", v);
	else
		fprintf(out, "%.6g", v);
}

void json_num_array(FILE *out, const double *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		json_num(out, v[i]);
	}
	fputc(']', out);
}

void json_put_str(FILE *out, const char *prefix, const char *s)
{
	fputs(prefix, out);
	json_str(out, s);
}

void json_put_num(FILE *out, const char *prefix, double v)
{
	fputs(prefix, out);
	json_num(out, v);
}
