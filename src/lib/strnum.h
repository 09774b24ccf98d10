/* SPDX-License-Identifier: MIT */
/*
 * strnum - whole-string number parsing with a range (never atoi).
 *
 * The whole string must be a decimal number: no leading or trailing
 * space, no sign on unsigned values, no empty string.  On failure the
 * error text (static, never NULL) says what was wrong in plain words.
 */
#ifndef OSTIA_STRNUM_H
#define OSTIA_STRNUM_H

#include <stdint.h>

/* 0 and *val_r set, or -1 with *error_r set. */
int strnum_parse_ll(const char *s, long long min, long long max,
    long long *val_r, const char **error_r);
int strnum_parse_u64(const char *s, uint64_t max, uint64_t *val_r,
    const char **error_r);

#endif
