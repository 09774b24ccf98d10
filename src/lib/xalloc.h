/* SPDX-License-Identifier: MIT */
/*
 * xalloc - allocation that never returns NULL.
 *
 * In the daemons an allocation failure is fatal: the process logs and
 * exits and the master restarts it (STYLE.md 4).  Every function here
 * either returns usable memory or does not return.
 */
#ifndef OSTIA_XALLOC_H
#define OSTIA_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "compat.h"

void *xmalloc(size_t size) ATTR_MALLOC;
void *xcalloc(size_t nmemb, size_t size) ATTR_MALLOC;
/* Overflow-checked realloc of nmemb * size bytes. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s) ATTR_MALLOC;
/* Copy of at most n bytes of s, always NUL-terminated. */
char *xstrndup(const char *s, size_t n) ATTR_MALLOC;
/* Newly allocated formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) ATTR_FORMAT(1, 2) ATTR_MALLOC;
char *xvasprintf(const char *fmt, va_list ap) ATTR_FORMAT(1, 0) ATTR_MALLOC;

#endif
