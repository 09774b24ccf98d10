/* SPDX-License-Identifier: MIT */
/*
 * dict_pattern - what the pattern tables (pcre, regexp, cidr) share: the
 * file layout of Postfix's pcre_table(5), regexp_table(5) and
 * cidr_table(5), the if/endif structure, the "first match in file order
 * wins" lookup and the $n substitution in results.  Each type supplies
 * only its pattern syntax (struct dict_pattern_syntax) and its key
 * preparation.
 *
 * File layout (all three types), read with cf_lines.h like main.cf:
 *   - Lines are separated by LF; white space (and a CR) at the end of
 *     each line is dropped.
 *   - Empty and white-space-only lines, and lines whose first
 *     non-white-space character is '#', are ignored wherever they are.
 *   - A line that starts with white space (space, tab) continues the
 *     logical line before it (the newline is dropped, the white space
 *     kept); a first logical line that starts with white space is an
 *     error, and so is a NUL byte.
 *   - A logical line is one of:
 *         PATTERN RESULT      the rule applies when PATTERN matches
 *         !PATTERN RESULT     the rule applies when PATTERN does not
 *         if PATTERN          the rules up to the matching endif are
 *         if !PATTERN         tried only when PATTERN matches (or, with
 *         endif               '!', does not); if..endif nest
 *     "if" and "endif" are case-insensitive.  White space is allowed
 *     after '!'.  Nothing may follow the pattern of an if, nor endif.
 *   - RESULT is the rest of the line.  For types with substitution
 *     (pcre, regexp) "$N", "${N}" and "$(N)" insert the text that
 *     capture group N (1 or more) matched ("" when the group took no
 *     part), "$$" is a '$'; a '$' followed by anything else, a group
 *     the pattern does not have, or any $N after a negated pattern is an
 *     error.  "$1x" is an error too (the name after '$' runs over
 *     letters, digits and '_'; write "${1}x"), as in Postfix.  cidr
 *     results are taken literally.
 *
 * Differences from Postfix, all in the direction of refusing: Postfix
 * logs a warning and skips a bad rule (or a stray endif, or an if
 * without endif) and carries on; here the table does not open and the
 * error names the file and line ("FILE, line N: what is wrong", the
 * first line of the logical line).  A rule without a result is refused
 * too (Postfix uses an empty result, which its lookups then report as a
 * table error).  A result that is empty after substitution is a
 * temporary failure, as in Postfix.
 *
 * UTF-8 (Postfix with smtputf8_enable = yes, the default): a result in
 * the file must be valid UTF-8 (checked at open); a result that is not
 * valid UTF-8 after substitution is a temporary failure.  Keys of the
 * regex types that are not valid UTF-8 are not found
 * (dict_pattern_lookup_text).
 *
 * Bounds: the file at most syn->max_file_bytes, a physical line at most
 * CF_PHYS_LINE_MAX_BYTES, a logical line at most
 * DICT_PATTERN_LINE_MAX_BYTES, at most syn->max_rules rules (if, endif
 * and plain rules count alike), a result at most DICT_VALUE_MAX_BYTES
 * before and after substitution.
 *
 * Lookups walk the rules in file order without recursion: an if whose
 * condition fails jumps past its endif.
 */
#ifndef OSTIA_DICT_PATTERN_H
#define OSTIA_DICT_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "dict.h"

#define DICT_PATTERN_LINE_MAX_BYTES (128 * 1024)
/* Room for a reason in a parse error (without "FILE, line N: "). */
#define DICT_PATTERN_WHY_MAX_BYTES 512

/* What a syntax's match() returns besides -1 (error). */
enum dict_pattern_match {
	DICT_PATTERN_NOMATCH = 0,
	DICT_PATTERN_MATCH = 1,
	/* The key cannot be compared with this pattern (cidr: the other
	 * address family): neither the rule nor its negation applies. */
	DICT_PATTERN_NA = 2,
};

/* One table type's pattern syntax. */
struct dict_pattern_syntax {
	const char *name;		/* "pcre", for messages */
	bool substitute;		/* results may use $N */
	size_t max_file_bytes;
	size_t max_rules;
	/*
	 * Per-table state, created before parsing (NULL is fine when the
	 * type needs none) and freed with the table.  Optional.
	 */
	void *(*ctx_new)(void);
	void (*ctx_free)(void *ctx);
	/*
	 * Parse the pattern at the start of s (NUL-terminated, not at white
	 * space).  Return the compiled pattern (never NULL), set *end just
	 * after its text and *ngroups to its number of capture groups; or
	 * return NULL with why (DICT_PATTERN_WHY_MAX_BYTES) saying what is
	 * wrong, without file and line.  The text after *end must be empty or
	 * start with white space (checked by the caller).
	 */
	void *(*parse)(void *ctx, const char *s, const char **end,
	    unsigned *ngroups, char *why, size_t whysz);
	void (*free)(void *pattern);
	/*
	 * Match the prepared key mkey (the one the type passed to
	 * dict_pattern_lookup; key/keylen is the key text).  When
	 * ngroups_want > 0 and it matches, set off[2*i] and off[2*i+1] to
	 * the start and end of group i (i = 1..ngroups_want; off[0..1] for
	 * the whole match), SIZE_MAX for a group that took no part.
	 * Returns an enum dict_pattern_match, or -1 with why set (the lookup
	 * then fails with DICT_TEMPFAIL).
	 */
	int (*match)(void *ctx, const void *pattern, const void *mkey,
	    const char *key, size_t keylen, size_t *off,
	    unsigned ngroups_want, char *why, size_t whysz);
};

/*
 * For a type's open(): check path (dict_check_file), read it (at most
 * syn->max_file_bytes) and parse it into d->priv.  0, or -1 with err
 * ("PATH: ..." or "PATH, line N: ...").
 */
int dict_pattern_open(struct dict *d, const char *path,
    const struct dict_open_opts *opts, const struct dict_pattern_syntax *syn,
    char *err, size_t errsz);

/*
 * Open a table of the given type from text in memory instead of a file
 * (tests, fuzz targets): file is the name used in messages.  type's
 * open() must call dict_pattern_open(), which then parses text rather
 * than reading a file.  NULL with err set on a parse error; close with
 * dict_close().  The table never reports itself changed.
 */
struct dict *dict_pattern_open_text(const struct dict_type *type,
    const char *file, const char *text, size_t len, char *err,
    size_t errsz);

/*
 * For a type's lookup(): the first rule in file order that applies to
 * the key gives the result (appended to value after substitution);
 * DICT_NOTFOUND when none does; DICT_TEMPFAIL with err ("TYPE:PATH,
 * line N: why") when a match fails, the result would pass value's
 * maximum or DICT_VALUE_MAX_BYTES, is empty, or is not valid UTF-8.
 * mkey is handed to the syntax's match(); key (NUL-terminated) is the
 * text $N takes its groups from.
 */
enum dict_status dict_pattern_lookup(struct dict *d, const void *mkey,
    const char *key, size_t keylen, struct buf *value, char *err,
    size_t errsz);

/*
 * A lookup() for the regex types: the key text is the subject (mkey is
 * NULL).  A key that is not valid UTF-8 is DICT_NOTFOUND before any
 * rule is tried (negated ones included) and logged as a warning, as in
 * Postfix with smtputf8_enable = yes.
 */
enum dict_status dict_pattern_lookup_text(struct dict *d, const char *key,
    size_t keylen, struct buf *value, char *err, size_t errsz);

/* The type's state made by syn->ctx_new (NULL if none). */
void *dict_pattern_ctx(struct dict *d);

/* For struct dict_type: the file's identity, size or mtime changed. */
bool dict_pattern_changed(struct dict *d);
/* For struct dict_type: free d->priv. */
void dict_pattern_close(struct dict *d);

/*
 * Is s (n bytes) well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF, no truncated sequence)?  NUL bytes
 * count as ASCII.
 */
bool dict_pattern_utf8_valid(const char *s, size_t n);

/*
 * Split a delimited pattern "/regex/flags" (pcre, regexp) at s: the
 * delimiter is s[0], any ASCII punctuation character but '\\'; inside,
 * a backslash protects the next character (both are kept in the
 * regex); the flags run up to white space or the end.  Returns 0 with
 * the regex (*re, *relen, not NUL-terminated), the flags (*flags,
 * *flagslen) and *end after the flags, or -1 with why.
 */
int dict_pattern_split(const char *s, const char **re, size_t *relen,
    const char **flags, size_t *flagslen, const char **end, char *why,
    size_t whysz);

#endif
