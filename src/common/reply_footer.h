/* SPDX-License-Identifier: MIT */
/*
 * reply_footer - Postfix's smtpd_reject_footer: text added after an
 * SMTP error reply, e.g. where to ask for help and what to quote.
 *
 * The template is main.cf text, taken unexpanded.  In it:
 *   \n          starts a new footer line;
 *   \c          at the very start: the first footer line continues the
 *               reply's own last line (after its text) instead of
 *               starting a new one;
 *   $name, ${name}, $(name)
 *               the value the lookup function gives (nothing when it
 *               gives NULL); ${name?text} is text when the value is not
 *               empty, ${name:text} when it is (text is literal);
 *   $$          one '$'.
 * Each new footer line carries the reply code and the enhanced status
 * code (when the reply has one) of the reply's last line, as Postfix
 * does; the lines before it become continuation lines ("550-").
 * Expanded values are sanitized: control characters become '?' (a
 * client name cannot break the reply into lines).
 */
#ifndef OSTIA_REPLY_FOOTER_H
#define OSTIA_REPLY_FOOTER_H

#include <stddef.h>

#include "buf.h"

/* The value of a macro (name of name_len bytes), or NULL: no value. */
typedef const char *reply_footer_lookup(void *ctx, const char *name,
    size_t name_len);

/*
 * reply_footer_apply - reply is one reply line ("550 5.1.1 text", len
 * bytes, no CR or LF in it; "NNN " or "NNN-" then the text).  Appends
 * to out the reply with the footer: every line ends in CRLF, every line
 * is cut to at most line_max bytes (CRLF not counted).  Returns 0; -1 (out
 * unchanged) when reply is not a reply line or the template has a
 * syntax error (an unclosed "${", a bad name), with *error_r (static
 * text) saying which.
 */
int reply_footer_apply(const char *reply, size_t len, const char *tmpl,
    reply_footer_lookup *lookup, void *ctx, size_t line_max,
    struct buf *out, const char **error_r);

/* reply_footer_check - the template's syntax only: 0, or -1 with
 * *error_r. */
int reply_footer_check(const char *tmpl, const char **error_r);

#endif
