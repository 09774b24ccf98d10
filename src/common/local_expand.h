/* SPDX-License-Identifier: MIT */
/*
 * local_expand - the $name expansion of local delivery settings that
 * are per recipient (luser_relay, forward_path), done at delivery time,
 * not when main.cf is read.  Pure: no lookups, no I/O.
 *
 * Names (Postfix's local(8)): $user (the local part without its
 * extension), $extension (the extension, without the delimiter), $local
 * (the whole local part), $domain, $recipient (the whole address),
 * $recipient_delimiter, and where the caller gives them $home and
 * $shell (the recipient's passwd entry); each also as ${name} or
 * $(name).  Conditionals: ${name?text} is text when $name is not empty,
 * ${name:text} is text when it is; text may be in braces
 * (${name?{text}}), may hold $names itself, and ${name?{a}:{b}} picks
 * one of two.  "$$" is one "$".  Any other name, one the caller did not
 * give, an unclosed "${", or a "$" at the end is an error with its
 * reason.
 *
 * With a filter, every byte a $name puts in the result that is not in
 * the filter becomes '_' (forward_expansion_filter: a user's name or
 * extension cannot add "../" or spaces to a path); the template's own
 * text is kept as written.
 *
 * The result is at most LOCAL_EXPAND_MAX bytes, not empty, without
 * control characters or spaces.
 */
#ifndef OSTIA_LOCAL_EXPAND_H
#define OSTIA_LOCAL_EXPAND_H

#define LOCAL_EXPAND_MAX 1024

struct local_expand_vars {
	const char *user;
	const char *extension;	/* "" when none */
	const char *local;
	const char *domain;
	const char *recipient;
	const char *delimiter;	/* recipient_delimiter, "" when none */
	const char *home;	/* NULL: $home is unknown here */
	const char *shell;	/* NULL: $shell is unknown here */
	const char *filter;	/* NULL: values are not filtered */
};

/*
 * Expand tmpl with v.  0 with a new string in *out (caller frees), or
 * -1 with a static reason in *error_r and *out NULL.
 */
int local_expand(const char *tmpl, const struct local_expand_vars *v,
    char **out, const char **error_r);

#endif
