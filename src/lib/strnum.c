/* SPDX-License-Identifier: MIT */
/*
 * strnum - whole-string number parsing; see strnum.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "strnum.h"

int
strnum_parse_ll(const char *s, long long min, long long max,
    long long *val_r, const char **error_r)
{
	char *end = NULL;
	long long v;

	if (*s == '\0') {
		*error_r = "empty value where a number is expected";
		return -1;
	}
	if (!isdigit((unsigned char)*s) &&
	    !((*s == '-' || *s == '+') && isdigit((unsigned char)s[1]))) {
		*error_r = "not a number";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*error_r = "not a number (unexpected characters after digits)";
		return -1;
	}
	if (errno == ERANGE || v < min) {
		*error_r = v < 0 || errno == ERANGE ? "number out of range" :
		    "number too small";
		if (errno != ERANGE && v < min)
			*error_r = "number too small";
		return -1;
	}
	if (v > max) {
		*error_r = "number too large";
		return -1;
	}
	*val_r = v;
	return 0;
}

int
strnum_parse_u64(const char *s, uint64_t max, uint64_t *val_r,
    const char **error_r)
{
	char *end = NULL;
	unsigned long long v;

	if (*s == '\0') {
		*error_r = "empty value where a number is expected";
		return -1;
	}
	if (!isdigit((unsigned char)*s)) {
		*error_r = *s == '-' ? "negative number not allowed" :
		    "not a number";
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0') {
		*error_r = "not a number (unexpected characters after digits)";
		return -1;
	}
	if (errno == ERANGE || v > max) {
		*error_r = "number too large";
		return -1;
	}
	*val_r = v;
	return 0;
}
