/* SPDX-License-Identifier: MIT */
/*
 * file_read - read a whole (configuration) file with a size cap.
 */
#ifndef OSTIA_FILE_READ_H
#define OSTIA_FILE_READ_H

#include <stddef.h>

/*
 * Read path into a new NUL-terminated buffer (caller frees), *len_r
 * bytes, refusing files larger than max.  NULL on failure with *errno_r
 * the errno (EFBIG when the file is too large) and *error_r a new
 * string ("cannot open: ...", "cannot read: ...", "file is larger than
 * N bytes") for the caller to prefix with the path.
 */
char *file_read_capped(const char *path, size_t max, size_t *len_r,
    int *errno_r, char **error_r);

#endif
