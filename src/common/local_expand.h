/* SPDX-License-Identifier: MIT */
/*
 * local_expand - the $name expansion of local delivery settings that
 * name an address per recipient (luser_relay), done at delivery time,
 * not when main.cf is read.  Pure: no lookups, no I/O.
 *
 * Names (Postfix's local(8)): $user (the local part without its
 * extension), $extension (the extension, without the delimiter), $local
 * (the whole local part), $domain, $recipient (the whole address),
 * $recipient_delimiter; each also as ${name}.  "$$" is one "$".  Any
 * other name, an unclosed "${", or a "$" at the end is an error with
 * its reason.  The result is at most LOCAL_EXPAND_MAX bytes, without
 * control characters or spaces (an address for the queue).
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
};

/*
 * Expand tmpl with v.  0 with a new string in *out (caller frees), or
 * -1 with a static reason in *error_r and *out NULL.
 */
int local_expand(const char *tmpl, const struct local_expand_vars *v,
    char **out, const char **error_r);

#endif
