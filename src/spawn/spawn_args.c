/* SPDX-License-Identifier: MIT */
/*
 * spawn_args - master.cf arguments of spawn (spawn_args.h).
 */
#include <stdlib.h>
#include <string.h>

#include "spawn_args.h"
#include "strv.h"
#include "xalloc.h"

void
spawn_args_deinit(struct spawn_args *sa)
{
	free(sa->user);
	free(sa->group);
	strv_free(&sa->argv);
	memset(sa, 0, sizeof(*sa));
}

static int
fail(const char *name, struct spawn_args *sa, struct strv *argv,
    char **error_r, char *why)
{
	*error_r = xasprintf("spawn service %s in master.cf: %s (expected "
	    "user=NAME[:GROUP] argv=/path [args...], argv= last)", name, why);
	free(why);
	strv_deinit(argv);
	spawn_args_deinit(sa);
	return -1;
}

int
spawn_args_parse(const char *name, char *const *args, struct spawn_args *sa,
    char **error_r)
{
	struct strv argv;
	size_t i;

	memset(sa, 0, sizeof(*sa));
	strv_init(&argv);
	for (i = 0; args != NULL && args[i] != NULL; i++) {
		const char *a = args[i];

		if (strncmp(a, "argv=", 5) == 0)
			break;
		if (strncmp(a, "user=", 5) != 0)
			return fail(name, sa, &argv, error_r, xasprintf("\"%s\" "
			    "is not an argument of spawn", a));
		if (sa->user != NULL)
			return fail(name, sa, &argv, error_r,
			    xstrdup("user= is given twice"));
		{
			const char *colon = strchr(a + 5, ':');

			sa->user = colon != NULL ? xstrndup(a + 5,
			    (size_t)(colon - a - 5)) : xstrdup(a + 5);
			if (colon != NULL)
				sa->group = xstrdup(colon + 1);
		}
		if (sa->user[0] == '\0' || (sa->group != NULL &&
		    sa->group[0] == '\0'))
			return fail(name, sa, &argv, error_r,
			    xasprintf("\"%s\": an empty user or group name", a));
	}
	if (sa->user == NULL)
		return fail(name, sa, &argv, error_r, xstrdup("user= is "
		    "missing (the unprivileged user its command runs as)"));
	if (args == NULL || args[i] == NULL)
		return fail(name, sa, &argv, error_r,
		    xstrdup("argv= is missing"));
	strv_add(&argv, args[i] + 5);
	for (i++; args[i] != NULL; i++) {
		if (argv.n >= SPAWN_ARGV_MAX)
			return fail(name, sa, &argv, error_r, xasprintf("more "
			    "than %d words after argv=", SPAWN_ARGV_MAX));
		strv_add(&argv, args[i]);
	}
	if (argv.v[0][0] != '/')
		return fail(name, sa, &argv, error_r, xasprintf("argv=%s: the "
		    "command must be named by its absolute path", argv.v[0]));
	sa->argc = argv.n;
	sa->argv = strv_steal(&argv);
	return 0;
}
