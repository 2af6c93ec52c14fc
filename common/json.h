/*
 * JSON writing shared by fdtrack, exstress and bench: one escaping, one
 * number format, so every JSON file the project writes reads the same way.
 */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stddef.h>
#include <stdio.h>

/* A JSON string: quotes, backslash and control characters escaped (\n, \t,
 * \r by name, the rest as \u00XX); bytes >= 0x80 are copied as they are.
 * NULL is written as null. */
void json_str(FILE *out, const char *s);

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
