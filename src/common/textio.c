/*
 * textio.c -- exact float8 output and strict number parsing for text forms.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "common/shortest_dec.h"

#include "common/textio.h"

void
segment_append_float8(StringInfo buf, float8 value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(value + 0.0, digits);	/* -0 prints as 0 */
	appendStringInfoString(buf, digits);
}

bool
segment_parse_int64(const char **p, int64 *result)
{
	char	   *end;

	if (!isdigit((unsigned char) **p) && **p != '-')
		return false;
	errno = 0;
	*result = strtoll(*p, &end, 10);
	if (end == *p || errno != 0)
		return false;
	*p = end;
	return true;
}

bool
segment_parse_float8(const char **p, float8 *result)
{
	char	   *end;

	if (!(isdigit((unsigned char) **p) || **p == '-' || **p == '.'))
		return false;
	errno = 0;
	*result = strtod(*p, &end);
	if (end == *p || errno == ERANGE || isnan(*result) || isinf(*result))
		return false;
	*p = end;
	return true;
}

void
text_append_float8_list(StringInfo buf, const float8 *values, int32 n)
{
	for (int32 i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		segment_append_float8(buf, values[i]);
	}
}

void
text_parser_init(TextParser *ps, const char *input, const char *typname, const char *hint)
{
	ps->input = input;
	ps->p = input;
	ps->typname = typname;
	ps->hint = hint;
}

void
text_parser_error(TextParser *ps, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s at position %d",
					ps->typname, (int) (ps->p - ps->input) + 1),
			 errdetail("%s", detail),
			 errhint("%s", ps->hint)));
	pg_unreachable();
}

void
text_expect_key(TextParser *ps, const char *key, bool first)
{
	size_t		len = strlen(key);

	if (!first)
		text_expect_char(ps, ';', psprintf("\";\" before \"%s=\"", key));
	if (strncmp(ps->p, key, len) != 0 || ps->p[len] != '=')
		text_parser_error(ps, psprintf("Expected the field \"%s=\".", key));
	ps->p += len + 1;
}

void
text_expect_char(TextParser *ps, char c, const char *what)
{
	if (*ps->p != c)
		text_parser_error(ps, psprintf("Expected %s.", what));
	ps->p++;
}

int64
text_parse_int(TextParser *ps, int64 min, int64 max, const char *what)
{
	int64		value;

	if (!segment_parse_int64(&ps->p, &value) || value < min || value > max)
		text_parser_error(ps, psprintf("%s must be an integer from " INT64_FORMAT " to " INT64_FORMAT ".",
									   what, min, max));
	return value;
}

float8
text_parse_float(TextParser *ps, bool nonnegative, const char *what)
{
	float8		value;

	if (!segment_parse_float8(&ps->p, &value) || (nonnegative && value < 0.0))
		text_parser_error(ps, psprintf("%s must be a finite%s number.", what,
									   nonnegative ? ", non-negative" : ""));
	return value + 0.0;			/* -0 reads as 0 */
}

bool
text_parse_bool(TextParser *ps, const char *what)
{
	if (strncmp(ps->p, "true", 4) == 0)
	{
		ps->p += 4;
		return true;
	}
	if (strncmp(ps->p, "false", 5) == 0)
	{
		ps->p += 5;
		return false;
	}
	text_parser_error(ps, psprintf("%s must be true or false.", what));
}

void
text_parse_float_list(TextParser *ps, float8 *out, int32 n, const char *what)
{
	for (int32 i = 0; i < n; i++)
	{
		if (i > 0)
			text_expect_char(ps, ',', psprintf("\",\": %s has %d numbers", what, n));
		if (!segment_parse_float8(&ps->p, &out[i]))
			text_parser_error(ps, psprintf("Each number of %s must be a finite float8.", what));
		out[i] += 0.0;			/* -0 reads as 0 */
	}
}

void
text_expect_end(TextParser *ps)
{
	if (*ps->p != '\0')
		text_parser_error(ps, "Unexpected text after the last field.");
}
