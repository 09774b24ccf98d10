/* SPDX-License-Identifier: MIT */
/*
 * dict_regexp - "regexp:/path" tables: Postfix's regexp_table(5) format,
 * matched with POSIX regcomp()/regexec().
 *
 *   /regex/flags result       the result when regex matches the key
 *   !/regex/flags result      the result when it does not ($N not allowed)
 *   if /regex/flags ... endif     (and "if !/regex/flags"), nesting
 *
 * The file layout, if/endif, $N substitution and error reporting are
 * those of dict_pattern.h; delimiters as in dict_pcre.h.  The whole key
 * is the subject; the first rule in file order that applies gives the
 * result.
 *
 * Flags, each toggling one regcomp() flag (defaults as in Postfix):
 *   i  on   REG_ICASE (so "i" makes the pattern case-sensitive)
 *   x  on   REG_EXTENDED ("x" switches to basic regular expressions)
 *   m  off  REG_NEWLINE: ^ and $ also match at newlines in the key (and
 *           "." and "[^...]" no longer match a newline)
 * Any other flag character is an error.
 *
 * Keys that are not valid UTF-8 are not found by any rule (logged as a
 * warning), as in Postfix with smtputf8_enable = yes.
 *
 * Limits.  regexec() has no step limit, and glibc's can take exponential
 * time on back-references and a very long time on nested counted
 * repetitions, whatever the key's length.  So that a hostile key cannot
 * burn CPU, a pattern is refused (with a hint to use a pcre: table,
 * whose matches are bounded) when
 *   - it has a back-reference (\1 .. \9), or
 *   - its repetitions would copy its parts more than
 *     DICT_REGEXP_MAX_COPIES times: each atom counts once, times the
 *     upper bound of every {m,n} around it, times 2 for every "+" around
 *     it (glibc builds "a+" as "aa*"), so "(a{1,30}){1,30}" is 900 and
 *     fine, "(a{1,100}){1,100}" is 10000 and refused, and so is
 *     "a+++++++++++" (2^11; glibc needs memory exponential in the
 *     number of stacked "+" just to compile it).  At the limit one
 *     regexec() on a 4096-byte key takes about a tenth of a second.
 * Postfix accepts both.  The file is at most DICT_REGEXP_FILE_MAX_BYTES
 * with at most DICT_REGEXP_MAX_RULES rules.
 *
 * Errors (the table does not open): "FILE, line N: bad regular
 * expression: <regerror message>", "FILE, line N: unknown flag "s" after
 * the pattern (flags: i m x)", and those of dict_pattern.h.
 */
#ifndef OSTIA_DICT_REGEXP_H
#define OSTIA_DICT_REGEXP_H

#include "dict.h"

#define DICT_REGEXP_MAX_COPIES 1000
#define DICT_REGEXP_FILE_MAX_BYTES (16 * 1024 * 1024)
#define DICT_REGEXP_MAX_RULES 100000

extern const struct dict_type dict_type_regexp;

#endif
