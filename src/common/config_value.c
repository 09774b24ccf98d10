/* SPDX-License-Identifier: MIT */
/*
 * config_value - check and parse one parameter value against its type.
 *
 * Pure functions, no I/O: used by config.c at load time, by
 * `ostia conf -e` before it writes main.cf, and by the unit tests.
 *
 * Time values (Postfix time units): a decimal number followed by an
 * optional unit s, m, h, d or w; without a unit the parameter's default
 * unit applies.  Sizes are a plain number of bytes, as in Postfix.
 * Booleans are "yes" or "no" (any case).
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "env_list.h"
#include "log.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* time_unit_seconds - seconds per unit letter, 0 if not a unit. */
static long long
time_unit_seconds(char u)
{
	switch (tolower((unsigned char)u)) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	case 'w':
		return 7 * 86400;
	default:
		return 0;
	}
}

/* format_seconds - a range bound in the most readable unit. */
static char *
format_seconds(long long s)
{
	if (s != 0 && s % (7 * 86400) == 0)
		return xasprintf("%lldw", s / (7 * 86400));
	if (s != 0 && s % 86400 == 0)
		return xasprintf("%lldd", s / 86400);
	if (s != 0 && s % 3600 == 0)
		return xasprintf("%lldh", s / 3600);
	if (s != 0 && s % 60 == 0 && s < 3600)
		return xasprintf("%lldm", s / 60);
	return xasprintf("%llds", s);
}

static int
check_time(const char *value, const char *unit, long long min,
    long long max, long long *num_r, char **error_r)
{
	char numpart[32];
	size_t len = strlen(value), digits;
	const char *err = NULL;
	long long n, mult;
	char u = unit != NULL && unit[0] != '\0' ? unit[0] : 's';

	for (digits = 0; digits < len && isdigit((unsigned char)value[digits]);
	    digits++)
		;
	if (digits == 0 || len - digits > 1 || digits >= sizeof(numpart))
		goto bad;
	if (len - digits == 1)
		u = value[digits];
	mult = time_unit_seconds(u);
	if (mult == 0)
		goto bad;
	memcpy(numpart, value, digits);
	numpart[digits] = '\0';
	if (strnum_parse_ll(numpart, 0, LLONG_MAX / mult, &n, &err) < 0)
		goto range;
	n *= mult;
	if (n < min || n > max)
		goto range;
	if (num_r != NULL)
		*num_r = n;
	return 0;
bad:
	*error_r = xasprintf("expected a time: a number with an optional unit "
	    "s (seconds), m (minutes), h (hours), d (days) or w (weeks); "
	    "without a unit it counts in %c", tolower((unsigned char)
	    (unit != NULL && unit[0] != '\0' ? unit[0] : 's')));
	return -1;
range: {
		char *lo = format_seconds(min), *hi = format_seconds(max);

		*error_r = xasprintf("time out of range: allowed from %s to %s",
		    lo, hi);
		free(lo);
		free(hi);
		return -1;
	}
}

static int
check_enum(const char *value, const char *allowed, char **error_r)
{
	const char *p = allowed;
	size_t vlen = strlen(value);

	while (p != NULL && *p != '\0') {
		const char *bar = strchr(p, '|');
		size_t wl = bar != NULL ? (size_t)(bar - p) : strlen(p);

		if (wl == vlen && strncasecmp(p, value, vlen) == 0)
			return 0;
		p = bar != NULL ? bar + 1 : NULL;
	}
	{
		struct buf b;
		char *words;

		buf_init(&b, 4096);
		for (p = allowed; *p != '\0'; p++) {
			int r = *p == '|' ? buf_append_str(&b, ", ") :
			    buf_append_c(&b, *p);

			if (r < 0)
				break;
		}
		words = buf_steal(&b);
		*error_r = xasprintf("expected one of: %s", words);
		free(words);
	}
	return -1;
}

/* is_map_type_char - characters of the "type" in "type:name". */
static bool
is_map_type_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static int
check_maps(const char *value, char **error_r)
{
	char **elems = config_split_list(value);
	int ret = 0;

	for (size_t i = 0; elems[i] != NULL; i++) {
		const char *e = elems[i];
		size_t tl = 0;

		while (is_map_type_char(e[tl]))
			tl++;
		if (tl == 0 || e[tl] != ':' || e[tl + 1] == '\0') {
			*error_r = xasprintf("\"%s\" is not a lookup table: "
			    "expected type:name, such as hash:/etc/ostia/access "
			    "or proxy:mysql:/etc/ostia/mysql/x.cf", e);
			ret = -1;
			break;
		}
	}
	strv_free(&elems);
	return ret;
}

static int
check_number(enum param_type type, const char *value, long long min,
    long long max, long long *num_r, char **error_r)
{
	const char *err = NULL;
	long long n;

	if (type == PT_SIZE && value[0] == '-') {
		*error_r = xasprintf("expected a size in bytes (a whole number "
		    "from %lld to %lld); negative sizes are not allowed",
		    min, max);
		return -1;
	}
	if (strnum_parse_ll(value, LLONG_MIN, LLONG_MAX, &n, &err) < 0 ||
	    n < min || n > max) {
		*error_r = xasprintf("expected %s from %lld to %lld",
		    type == PT_SIZE ? "a size in bytes" : "a whole number",
		    min, max);
		return -1;
	}
	if (num_r != NULL)
		*num_r = n;
	return 0;
}

/* check_words - every element of the list value is one of allowed. */
static int
check_words(const char *value, const char *allowed, char **error_r)
{
	char **words = config_split_list(value);
	int ret = 0;

	for (size_t i = 0; words[i] != NULL; i++) {
		char *why = NULL;

		if (check_enum(words[i], allowed, &why) == 0)
			continue;
		{
			char shown[80];

			log_escape(shown, sizeof(shown), words[i],
			    strlen(words[i]), 40);
			*error_r = xasprintf("\"%s\" is not a valid element: "
			    "%s", shown, why);
		}
		free(why);
		ret = -1;
		break;
	}
	strv_free(&words);
	return ret;
}

/* check_env_list - import_environment, export_environment (env_list.h):
 * every element NAME or NAME=VALUE. */
static int
check_env_list(const char *value, char **error_r)
{
	char **words = config_split_list(value);
	const char *bad = env_list_bad(words);
	int ret = 0;

	if (bad != NULL) {
		char shown[80];

		log_escape(shown, sizeof(shown), bad, strlen(bad), 40);
		*error_r = xasprintf("\"%s\" is not an environment variable: "
		    "expected NAME or NAME=VALUE (NAME: letters, digits and _, "
		    "not starting with a digit)", shown);
		ret = -1;
	}
	strv_free(&words);
	return ret;
}

int
config_check_value(const struct param_def *def, const char *value,
    long long *num_r, bool *bool_r, char **error_r)
{
	switch (def->type) {
	case PT_STRING:
		return 0;
	case PT_LIST:
		if (def->extra != NULL && strcmp(def->extra,
		    CONFIG_EXTRA_ENV_LIST) == 0)
			return check_env_list(value, error_r);
		return def->extra != NULL ? check_words(value, def->extra,
		    error_r) : 0;
	case PT_INT:
	case PT_SIZE:
		return check_number(def->type, value, def->min, def->max,
		    num_r, error_r);
	case PT_TIME:
		return check_time(value, def->extra, def->min, def->max, num_r,
		    error_r);
	case PT_BOOL:
		if (strcasecmp(value, "yes") == 0) {
			if (bool_r != NULL)
				*bool_r = true;
			return 0;
		}
		if (strcasecmp(value, "no") == 0) {
			if (bool_r != NULL)
				*bool_r = false;
			return 0;
		}
		*error_r = xstrdup("expected yes or no");
		return -1;
	case PT_ENUM:
		return check_enum(value, def->extra != NULL ? def->extra : "",
		    error_r);
	case PT_MAPS:
		return check_maps(value, error_r);
	}
	*error_r = xstrdup("unknown parameter type");
	return -1;
}

int
config_check_suffix_value(const struct param_suffix_def *def,
    const char *value, long long *num_r, char **error_r)
{
	struct param_def d = {
		.name = def->suffix, .type = def->type, .def = "",
		.min = def->min, .max = def->max, .extra = def->extra,
		.status = def->status, .doc = def->doc,
	};

	return config_check_value(&d, value, num_r, NULL, error_r);
}

char **
config_split_list(const char *text)
{
	struct strv sv;
	const char *p = text;

	strv_init(&sv);
	for (;;) {
		const char *start;
		int depth = 0;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0') {
			if (*p == '{')
				depth++;
			else if (*p == '}' && depth > 0)
				depth--;
			else if (depth == 0 &&
			    (*p == ',' || isspace((unsigned char)*p)))
				break;
			p++;
		}
		/* A bare "{ ... }" element stands for its trimmed content. */
		if (*start == '{' && p > start + 1 && p[-1] == '}') {
			const char *s = start + 1, *e = p - 1;

			while (s < e && isspace((unsigned char)*s))
				s++;
			while (e > s && isspace((unsigned char)e[-1]))
				e--;
			strv_addn(&sv, s, (size_t)(e - s));
		} else {
			strv_addn(&sv, start, (size_t)(p - start));
		}
	}
	return strv_steal(&sv);
}
