/* SPDX-License-Identifier: MIT */
/*
 * config_edit - change main.cf in place (`ostia conf -e`, `-X`).
 *
 * Keeps every comment, blank line and the order of settings.  For each
 * edited name, the first "name = ..." entry (with its continuation
 * lines) is replaced by "name = value" where it stands and later entries
 * for the same name are removed, so the file says one thing; a name that
 * is not there yet is appended at the end.  Removal (-X) drops every
 * entry of the name.  The file is replaced atomically: a temporary file
 * in the same directory with the old file's mode and owner, fsync,
 * rename, fsync of the directory.
 */
#ifndef OSTIA_CONFIG_EDIT_H
#define OSTIA_CONFIG_EDIT_H

#include <stddef.h>

struct config_edit {
	const char *name;
	const char *value;	/* NULL: remove the parameter */
};

/* Apply edits to main.cf text; returns new text (caller frees). */
char *config_edit_text(const char *text, size_t len,
    const struct config_edit *edits, size_t nedits);
/*
 * Apply edits to the file at path.  0, or -1 with *error_r (a new
 * string, caller frees) saying what failed; the old file is then
 * untouched.
 */
int config_edit_file(const char *path, const struct config_edit *edits,
    size_t nedits, char **error_r);

#endif
