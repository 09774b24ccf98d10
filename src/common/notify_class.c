/* SPDX-License-Identifier: MIT */
/*
 * notify_class - notify_classes words and the class of an SMTP server
 * reply (notify_class.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "notify_class.h"

static const struct {
	const char *name;
	unsigned bit;
} names[] = {
	{ "bounce", NOTIFY_BOUNCE },
	{ "2bounce", NOTIFY_2BOUNCE },
	{ "data", NOTIFY_DATA },
	{ "delay", NOTIFY_DELAY },
	{ "policy", NOTIFY_POLICY },
	{ "protocol", NOTIFY_PROTOCOL },
	{ "resource", NOTIFY_RESOURCE },
	{ "software", NOTIFY_SOFTWARE },
};

int
notify_classes_parse(char *const *words, unsigned *mask_r, const char **bad_r)
{
	unsigned mask = 0;

	*bad_r = NULL;
	for (size_t i = 0; words != NULL && words[i] != NULL; i++) {
		size_t j;

		for (j = 0; j < N_ELEMENTS(names); j++)
			if (strcasecmp(words[i], names[j].name) == 0)
				break;
		if (j == N_ELEMENTS(names)) {
			if (*bad_r == NULL)
				*bad_r = words[i];
			continue;
		}
		mask |= names[j].bit;
	}
	if (mask & NOTIFY_BOUNCE)
		mask |= NOTIFY_2BOUNCE;
	*mask_r = mask;
	return *bad_r != NULL ? -1 : 0;
}

void
notify_class_names(unsigned mask, char *out, size_t outsz)
{
	size_t len = 0;

	if (outsz == 0)
		return;
	out[0] = '\0';
	for (size_t j = 0; j < N_ELEMENTS(names); j++) {
		int n;

		if ((mask & names[j].bit) == 0)
			continue;
		n = snprintf(out + len, outsz - len, "%s%s", len > 0 ? ", " :
		    "", names[j].name);
		if (n < 0 || (size_t)n >= outsz - len)
			return;
		len += (size_t)n;
	}
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

unsigned
notify_class_of_reply(const char *reply, size_t len)
{
	size_t i, sub_at, sub_len, det_at, det_len;
	unsigned sub, det;

	if (len < 3 || (reply[0] != '4' && reply[0] != '5') ||
	    !is_digit(reply[1]) || !is_digit(reply[2]))
		return 0;
	/* "NNN X.Y.Z": X is the reply's own first digit. */
	if (len < 9 || (reply[3] != ' ' && reply[3] != '-') ||
	    reply[4] != reply[0] || reply[5] != '.')
		return NOTIFY_PROTOCOL;
	sub_at = i = 6;
	while (i < len && is_digit(reply[i]) && i - sub_at < 3)
		i++;
	sub_len = i - sub_at;
	if (sub_len == 0 || i >= len || reply[i] != '.')
		return NOTIFY_PROTOCOL;
	det_at = ++i;
	while (i < len && is_digit(reply[i]) && i - det_at < 3)
		i++;
	det_len = i - det_at;
	if (det_len == 0 || (i < len && reply[i] != ' '))
		return NOTIFY_PROTOCOL;
	sub = 0;
	for (i = 0; i < sub_len; i++)
		sub = sub * 10 + (unsigned)(reply[sub_at + i] - '0');
	det = 0;
	for (i = 0; i < det_len; i++)
		det = det * 10 + (unsigned)(reply[det_at + i] - '0');

	switch (sub) {
	case 5:
		return det == 3 ? NOTIFY_POLICY : NOTIFY_PROTOCOL;
	case 6:
		return NOTIFY_PROTOCOL;
	case 1:
		return det == 3 || det == 7 ? NOTIFY_PROTOCOL : NOTIFY_POLICY;
	case 3:
		return det == 4 ? NOTIFY_BOUNCE : det == 5 ? NOTIFY_SOFTWARE :
		    NOTIFY_RESOURCE;
	case 4:
		return det == 6 ? NOTIFY_BOUNCE : 0;
	default:
		return NOTIFY_POLICY;
	}
}
