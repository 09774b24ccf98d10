/* SPDX-License-Identifier: MIT */
/*
 * test_support - helpers shared by the cmocka unit tests (linked into
 * every tests/unit/test_*.c by cmake/OstiaTests.cmake).  They fail the
 * running test (cmocka asserts) instead of returning errors.
 */
#ifndef OSTIA_TEST_SUPPORT_H
#define OSTIA_TEST_SUPPORT_H

#include <stddef.h>

struct diag_list;

/* A path under the source tree ($OSTIA_SOURCE_DIR, set by ctest, or the
 * tree this file was compiled from); caller frees. */
char *test_source_path(const char *rel);
/* The whole file (at most 16 MiB), NUL-terminated; caller frees.
 * len_r may be NULL. */
char *test_read_file(const char *path, size_t *len_r);
/* Print diagnostics (shown by cmocka when a test fails). */
void test_print_diags(const struct diag_list *dl);

#endif
