/* SPDX-License-Identifier: MIT */
/*
 * login_list - authorized_submit_users lists; see login_list.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "login_list.h"

/* What one element is, without its '!'. */
enum kind { K_NAME, K_ALL, K_TABLE };

static enum kind
kind_of(const char *e)
{
	if (strncasecmp(e, "static:", 7) == 0)
		return K_ALL;
	return strchr(e, ':') != NULL ? K_TABLE : K_NAME;
}

bool
login_list_allows(const char *const *elems, const char *login, char *why,
    size_t whysz)
{
	for (size_t i = 0; elems != NULL && elems[i] != NULL; i++) {
		const char *e = elems[i];
		bool neg = *e == '!';

		if (neg)
			e++;
		switch (kind_of(e)) {
		case K_TABLE:
			snprintf(why, whysz, "the element \"%.100s\" cannot be "
			    "evaluated (Ostia supports login names, !name and "
			    "static:anyone here)", elems[i]);
			return false;
		case K_ALL:
			break;
		case K_NAME:
			if (strcasecmp(e, login) != 0)
				continue;
			break;
		}
		if (neg) {
			snprintf(why, whysz, "refused by \"%.100s\"", elems[i]);
			return false;
		}
		return true;
	}
	snprintf(why, whysz, "not listed");
	return false;
}

const char *
login_list_unsupported(const char *const *elems)
{
	for (size_t i = 0; elems != NULL && elems[i] != NULL; i++) {
		const char *e = elems[i] + (elems[i][0] == '!');

		if (kind_of(e) == K_TABLE)
			return elems[i];
	}
	return NULL;
}
