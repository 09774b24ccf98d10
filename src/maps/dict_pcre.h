/* SPDX-License-Identifier: MIT */
/*
 * dict_pcre - "pcre:/path" tables: Postfix's pcre_table(5) format,
 * matched with PCRE2 (8-bit library).
 *
 *   /regex/flags result       the result when regex matches the key
 *   !/regex/flags result      the result when it does not ($N not allowed)
 *   if /regex/flags ... endif     (and "if !/regex/flags"), nesting
 *
 * The file layout, if/endif, $N substitution and error reporting are
 * those of dict_pattern.h.  The delimiter is any ASCII punctuation
 * character but '\\' ("/" traditionally); inside the regex a backslash
 * protects the next character and is kept ("\/" is a "/" for PCRE2).
 * The whole key is the subject; the first rule in file order that
 * applies gives the result.
 *
 * Flags, each toggling one PCRE2 option (defaults as in Postfix):
 *   i  on   PCRE2_CASELESS (so "i" makes the pattern case-sensitive)
 *   s  on   PCRE2_DOTALL
 *   m  off  PCRE2_MULTILINE
 *   x  off  PCRE2_EXTENDED
 *   A  off  PCRE2_ANCHORED
 *   E  off  PCRE2_DOLLAR_ENDONLY
 *   U  off  PCRE2_UNGREEDY
 *   X       accepted, no effect: it asked PCRE1 to refuse unknown
 *           escapes such as "\q", which PCRE2 always does (Postfix built
 *           with PCRE2 ignores it too, with a warning)
 * Any other flag character is an error.
 *
 * UTF-8, as Postfix 3.7 with smtputf8_enable = yes (checked against
 * Postfix 3.7.11 with PCRE2): patterns are compiled in byte mode, not
 * PCRE2_UTF ("." is one byte, "i" folds ASCII letters only, "\xe9" is
 * the byte 0xe9), so tables written for Postfix mean the same here; a
 * pattern may opt in with "(*UTF)" at its start.  A key that is not
 * valid UTF-8 is not found by any rule, negated ones included (logged
 * as a warning), so such a key never matches by accident and never
 * reaches PCRE2 in UTF mode.  Results must be valid UTF-8 (see
 * dict_pattern.h).
 *
 * Limits: a hostile key must not burn CPU.  Every match runs with a
 * PCRE2 match limit of DICT_PCRE_MATCH_LIMIT steps, a depth limit of
 * DICT_PCRE_DEPTH_LIMIT and a heap limit of DICT_PCRE_HEAP_LIMIT_KIB
 * KiB (a pattern may lower them with (*LIMIT_MATCH=n) etc., not raise
 * them); hitting one is DICT_TEMPFAIL ("...: matching gave up: match
 * limit exceeded"), never "not found".  The file is at most
 * DICT_PCRE_FILE_MAX_BYTES with at most DICT_PCRE_MAX_RULES rules.
 *
 * Errors (the table does not open): "FILE, line N: bad regular
 * expression: <PCRE2 message> at offset K", "FILE, line N: unknown flag
 * "q" after the pattern (flags: i s m x A E U X)", and those of
 * dict_pattern.h.
 */
#ifndef OSTIA_DICT_PCRE_H
#define OSTIA_DICT_PCRE_H

#include "dict.h"

#define DICT_PCRE_MATCH_LIMIT 1000000
#define DICT_PCRE_DEPTH_LIMIT 50000
#define DICT_PCRE_HEAP_LIMIT_KIB (32 * 1024)
#define DICT_PCRE_FILE_MAX_BYTES (16 * 1024 * 1024)
#define DICT_PCRE_MAX_RULES 100000

extern const struct dict_type dict_type_pcre;

#endif
