/* SPDX-License-Identifier: MIT */
/*
 * diag - configuration diagnostics; see diag.h.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "log.h"
#include "xalloc.h"

void
diag_list_init(struct diag_list *dl)
{
	memset(dl, 0, sizeof(*dl));
}

void
diag_list_deinit(struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		free(dl->items[i].file);
		free(dl->items[i].text);
	}
	free(dl->items);
	memset(dl, 0, sizeof(*dl));
}

void
diag_add(struct diag_list *dl, enum diag_level level, const char *file,
    unsigned line, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

	if (dl->n == dl->cap) {
		dl->cap = dl->cap == 0 ? 8 : dl->cap * 2;
		dl->items = xreallocarray(dl->items, dl->cap, sizeof(*d));
	}
	d = &dl->items[dl->n++];
	d->level = level;
	d->file = file != NULL ? xstrdup(file) : NULL;
	d->line = line;
	va_start(ap, fmt);
	d->text = xvasprintf(fmt, ap);
	va_end(ap);
	if (level == DIAG_ERROR)
		dl->errors++;
}

bool
diag_has_errors(const struct diag_list *dl)
{
	return dl->errors > 0;
}

char *
diag_format(const struct diag *d)
{
	if (d->file != NULL && d->line > 0)
		return xasprintf("%s:%u: %s", d->file, d->line, d->text);
	if (d->file != NULL)
		return xasprintf("%s: %s", d->file, d->text);
	return xstrdup(d->text);
}

void
diag_list_log(const struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		char *s = diag_format(&dl->items[i]);

		if (dl->items[i].level == DIAG_ERROR)
			log_error("%s", s);
		else
			log_warning("%s", s);
		free(s);
	}
}

bool
diag_list_contains(const struct diag_list *dl, enum diag_level level,
    const char *needle)
{
	for (size_t i = 0; i < dl->n; i++)
		if (dl->items[i].level == level &&
		    strstr(dl->items[i].text, needle) != NULL)
			return true;
	return false;
}
