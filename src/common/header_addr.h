/* SPDX-License-Identifier: MIT */
/*
 * header_addr - find the addresses in the address headers of a message
 * (RFC 5322 3.4, 3.6.2, 3.6.3, 3.6.6) so that they can be rewritten in
 * place: canonical mapping of header addresses, and completing an
 * address without a domain (append_at_myorigin,
 * remote_header_rewrite_domain).  Pure: no I/O, no allocation except in
 * header_addr_replace(); fuzzed by tests/fuzz/fuzz_header_addr.c.
 *
 * Header classes (as Postfix's cleanup sorts them; any letter case):
 *   sender:    From, Sender, Resent-From, Resent-Sender, Return-Path,
 *              Errors-To, Return-Receipt-To, Disposition-Notification-To
 *   recipient: To, Cc, Bcc, Apparently-To, Reply-To, Resent-To,
 *              Resent-Cc, Resent-Bcc, Resent-Reply-To
 *   none:      every other header (Delivered-To, Received, Subject...)
 *
 * The value (everything after the header's colon up to the end of the
 * logical header, folding line ends "\r\n" + space/tab included) is
 * read as an address list: elements separated by ',' outside quoted
 * strings, comments and angle brackets.  Each element is one of
 *   - a name-addr: [display-name] "<" [obs-route ":"] addr-spec ">":
 *     the span is the addr-spec between the brackets, after an
 *     obs-route ("@a,@b:"); "<>" has no span;
 *   - a bare mailbox: one word sequence without white space or
 *     comments inside it, e.g. user@example.com, "a b"@example.com,
 *     root, with optional comments and white space around it
 *     ("user@example.com (Joe)"): the span is that word sequence;
 *   - a group: display-name ":" [mailbox-list] ";": each mailbox in it
 *     is scanned like an element; "undisclosed-recipients:;" has none;
 *   - anything else (a phrase without brackets such as "John Doe", an
 *     addr-spec with white space or a comment inside it, an empty
 *     element, a control byte or a fold inside the would-be span, a
 *     group not closed by ';' before the end of the value): no span,
 *     the element (or the whole group) is left as it is.
 * Quoted strings (with backslash escapes), nested comments (with
 * backslash escapes) and bytes >= 0x80 (SMTPUTF8) are handled.  A span
 * never contains CR, LF, white space outside a quoted string, '<', '>',
 * ',', ';', '(' or ')' outside a quoted string, and is never empty.
 *
 * The whole value is refused (-1, nothing is rewritten) when a quoted
 * string, comment or angle bracket is not closed, a '>' has no '<', a
 * byte is NUL, CR or LF other than in a fold "\r\n" followed by a space
 * or tab, or there are more than max spans.
 */
#ifndef OSTIA_HEADER_ADDR_H
#define OSTIA_HEADER_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum header_addr_class {
	HEADER_ADDR_NONE = 0,	/* not an address header */
	HEADER_ADDR_SENDER,
	HEADER_ADDR_RECIPIENT,
};

/* Longest address a span may hold: a longer one gets no span. */
#define HEADER_ADDR_MAX_BYTES 512

/* One address in a header value: value[start .. start + len). */
struct header_addr_span {
	size_t start;
	size_t len;
};

/* The class of the header called name (len bytes, without the colon
 * and without white space; any case). */
enum header_addr_class header_addr_class_of(const char *name, size_t len);

/*
 * Find the addresses of the address-list value (len bytes, not NUL-
 * terminated).  Fills spans[0 .. n) in order of appearance and returns
 * n (0 .. max); -1 when the value is refused (see above).
 */
int header_addr_scan(const char *value, size_t len,
    struct header_addr_span *spans, size_t max);

/*
 * Append to out the value with spans[i] replaced by repl[i] (repl[i]
 * NULL or equal to the span's text: kept as it was).  The spans are
 * those header_addr_scan() returned for this value (in order, not
 * overlapping, not empty).  Returns true when some span was replaced.
 * When out cannot take the whole result (its max), nothing is appended
 * and false is returned: out->len unchanged tells the caller (for a
 * value of at least one byte).
 */
bool header_addr_replace(const char *value, size_t len,
    const struct header_addr_span *spans, size_t n,
    const char *const *repl, struct buf *out);

#endif
