/* SPDX-License-Identifier: MIT */
/*
 * env_list - import_environment / export_environment lists; see
 * env_list.h.
 */
#include <stdlib.h>
#include <string.h>

#include "env_list.h"
#include "xalloc.h"

/* name_len - length of the NAME that starts entry (up to '=' or the
 * end), or 0 when it is not a valid name. */
static size_t
name_len(const char *entry)
{
	size_t n = 0;

	for (; entry[n] != '\0' && entry[n] != '='; n++) {
		char c = entry[n];
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    c == '_';

		if (!alpha && !(n > 0 && c >= '0' && c <= '9'))
			return 0;
	}
	return n;
}

/* has_name - env holds NAME (n bytes of name) already. */
static bool
has_name(const struct strv *env, const char *name, size_t n)
{
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
			return true;
	return false;
}

void
env_list_add(struct strv *env, char *const *list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
		const char *e = list[i], *val;
		size_t n = name_len(e);
		char *name;

		if (n == 0 || has_name(env, e, n))
			continue;
		if (e[n] == '=') {
			strv_add(env, e);
			continue;
		}
		name = xstrndup(e, n);
		val = getenv(name);
		if (val != NULL)
			strv_add_take(env, xasprintf("%s=%s", name, val));
		free(name);
	}
}

const char *
env_list_bad(char *const *list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (name_len(list[i]) == 0)
			return list[i];
	return NULL;
}
