/* SPDX-License-Identifier: MIT */
/*
 * strv - NULL-terminated vectors of heap strings.
 */
#ifndef OSTIA_STRV_H
#define OSTIA_STRV_H

#include <stddef.h>

struct strv {
	char **v;	/* NULL-terminated, never NULL after strv_init */
	size_t n;
	size_t cap;
};

void strv_init(struct strv *sv);
/* Append a copy of s. */
void strv_add(struct strv *sv, const char *s);
/* Append a copy of the first len bytes of s. */
void strv_addn(struct strv *sv, const char *s, size_t len);
/* Append s itself; the vector takes ownership. */
void strv_add_take(struct strv *sv, char *s);
void strv_deinit(struct strv *sv);
/* Free a bare NULL-terminated vector (as returned by strv_steal); NULL ok. */
void strv_free(char ***vp);
/* Append a copy of s to a bare vector (NULL: an empty one); returns
 * the vector, which may have moved. */
char **strv_append(char **v, const char *s);
/* Hand over the vector (caller frees with strv_free); sv is left empty. */
char **strv_steal(struct strv *sv);

#endif
