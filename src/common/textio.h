/*
 * textio.h -- pieces shared by the text forms of segment's types: exact
 * float8 output and strict number parsing.
 */
#ifndef SEGMENT_TEXTIO_H
#define SEGMENT_TEXTIO_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* Shortest decimal that reads back as the same float8, whatever extra_float_digits is. */
extern void segment_append_float8(StringInfo buf, float8 value);

/* Parse a number at *p and advance *p; false if there is none (or not finite). */
extern bool segment_parse_int64(const char **p, int64 *result);
extern bool segment_parse_float8(const char **p, float8 *result);


/*
 * A strict parser for "key=value;key=value" text forms with the keys in a
 * fixed order.  Every failure raises invalid_text_representation naming the
 * type and the position, with "hint" (an example of a valid text).
 */
typedef struct TextParser
{
	const char *input;
	const char *p;
	const char *typname;
	const char *hint;
} TextParser;

extern void text_parser_init(TextParser *ps, const char *input, const char *typname,
							 const char *hint);
extern void text_parser_error(TextParser *ps, const char *detail) pg_attribute_noreturn();
extern void text_expect_key(TextParser *ps, const char *key, bool first);
extern void text_expect_char(TextParser *ps, char c, const char *what);
extern int64 text_parse_int(TextParser *ps, int64 min, int64 max, const char *what);
extern float8 text_parse_float(TextParser *ps, bool nonnegative, const char *what);
extern bool text_parse_bool(TextParser *ps, const char *what);
extern void text_parse_float_list(TextParser *ps, float8 *out, int32 n, const char *what);
extern void text_append_float8_list(StringInfo buf, const float8 *values, int32 n);
extern void text_expect_end(TextParser *ps);

#endif							/* SEGMENT_TEXTIO_H */
