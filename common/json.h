/*
 * JSON writing shared by fdtrack, exstress and bench: one escaping, one
 * number format, so every JSON file the project writes reads the same way.
 */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stddef.h>
#include <stdio.h>

/* A JSON string, always valid UTF-8: quotes, backslash and control
 * characters escaped (\n, \t, \r by name, the rest as \u00XX); valid UTF-8
 * copied as it is; each byte that is not part of valid UTF-8 (file names
 * and arguments are bytes) written as \udcXX, XX the byte (80..ff), as
 * Python's "surrogateescape" decodes it, so the raw bytes come back with
 * s.encode("utf-8", "surrogateescape"); valid UTF-8 never holds those
 * code points, so nothing else reads the same. NULL is written as null. */
void json_str(FILE *out, const char *s);

/* The length of the valid UTF-8 sequence s starts with (1..4; 1 for any
 * ASCII byte), or 0 when s[0] starts none (overlong forms, surrogates and
 * code points above U+10FFFF are not valid). s is NUL-terminated. */
int json_utf8_len(const char *s);

/* A JSON number: integers without a fraction, others with 6 significant
 * digits; NaN and infinities (which JSON lacks) as null. */
void json_num(FILE *out, double v);

/* prefix as it is (a separator and a key: ", \"name\": "), then the
 * value: one call per field. */
void json_put_str(FILE *out, const char *prefix, const char *s);
void json_put_num(FILE *out, const char *prefix, double v);

/* [v0, v1, ...] with json_num. */
void json_num_array(FILE *out, const double *v, size_t n);

#endif
