/* SPDX-License-Identifier: MIT */
/*
 * strv - NULL-terminated string vectors; see strv.h.
 */
#include <stdlib.h>

#include "strv.h"
#include "xalloc.h"

void
strv_init(struct strv *sv)
{
	sv->cap = 4;
	sv->n = 0;
	sv->v = xcalloc(sv->cap, sizeof(char *));
}

void
strv_add_take(struct strv *sv, char *s)
{
	if (sv->n + 1 >= sv->cap) {
		/* cap is 0 after strv_steal or strv_deinit. */
		sv->cap = sv->cap < 4 ? 4 : sv->cap * 2;
		sv->v = xreallocarray(sv->v, sv->cap, sizeof(char *));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void
strv_add(struct strv *sv, const char *s)
{
	strv_add_take(sv, xstrdup(s));
}

void
strv_addn(struct strv *sv, const char *s, size_t len)
{
	strv_add_take(sv, xstrndup(s, len));
}

void
strv_deinit(struct strv *sv)
{
	strv_free(&sv->v);
	sv->n = 0;
	sv->cap = 0;
}

void
strv_free(char ***vp)
{
	char **v = *vp;

	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
	*vp = NULL;
}

char **
strv_steal(struct strv *sv)
{
	char **v = sv->v;

	sv->v = NULL;
	sv->n = 0;
	sv->cap = 0;
	return v;
}

char **
strv_append(char **v, const char *s)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	v = xreallocarray(v, n + 2, sizeof(*v));
	v[n] = xstrdup(s);
	v[n + 1] = NULL;
	return v;
}
