/* SPDX-License-Identifier: MIT */
/*
 * diag - a list of configuration diagnostics with file:line.
 *
 * Parsers and checkers add warnings and errors here instead of logging,
 * so that the caller decides where they go (stderr for `ostia conf`, the
 * log for the master) and tests can assert them.  A configuration with
 * any error is refused; warnings never stop startup.
 */
#ifndef OSTIA_DIAG_H
#define OSTIA_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"

enum diag_level {
	DIAG_WARNING,
	DIAG_ERROR,
};

struct diag {
	enum diag_level level;
	char *file;	/* NULL when not tied to a file */
	unsigned line;	/* 0 when not tied to a line */
	char *text;	/* without "file:line: " */
};

struct diag_list {
	struct diag *items;
	size_t n;
	size_t cap;
	size_t errors;
};

void diag_list_init(struct diag_list *dl);
void diag_list_deinit(struct diag_list *dl);
void diag_add(struct diag_list *dl, enum diag_level level, const char *file,
    unsigned line, const char *fmt, ...) ATTR_FORMAT(5, 6);
bool diag_has_errors(const struct diag_list *dl);
/* "file:line: text" (or "file: text", or "text"); caller frees. */
char *diag_format(const struct diag *d);
/* Log every item (warnings with log_warning, errors with log_error). */
void diag_list_log(const struct diag_list *dl);
/* Tests: true if some item of that level contains needle. */
bool diag_list_contains(const struct diag_list *dl, enum diag_level level,
    const char *needle);

#endif
