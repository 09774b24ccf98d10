/* SPDX-License-Identifier: MIT */
/*
 * peer_match - Postfix-style match lists of client peers.
 *
 * Used for debug_peer_list now, and later for mynetworks and the
 * smtpd_client_* lists.  A list is parsed once (in the master while it
 * checks the configuration, or in a child at startup) and then matched
 * against each client's verified host name and address.  No DNS lookups:
 * matching only compares the strings and addresses it is given.
 *
 * Syntax of the (already $name-expanded) value: elements separated by
 * commas and/or white space; an empty value, or one made only of
 * separators such as ",", is an empty list that matches nothing.
 * Elements:
 *
 *   1.2.3.4  [1.2.3.4]            one IPv4 address
 *   2001:db8::1  [2001:db8::1]    one IPv6 address
 *   10.0.0.0/8                    IPv4 network; the host bits must be zero
 *   [2001:db8::]/32  2001:db8::/32  IPv6 network; host bits must be zero
 *   example.com                   the host example.com and, when
 *                                 parent_domain_matches_subdomains is true,
 *                                 every host below it
 *   .example.com                  only hosts below example.com
 *   /path/to/file                 patterns read from a file (below)
 *   !element                      negation
 *
 * Elements are tried in order and the first one that matches decides: a
 * plain element means "in the list", a negated one "not in the list".
 * Host names compare case-insensitively.  A client whose name is
 * "unknown" (no verified name) or NULL matches by address only.  A client
 * address of the IPv4-mapped form ::ffff:a.b.c.d is matched as the IPv4
 * address a.b.c.d; likewise an IPv6 pattern inside ::ffff:0:0/96 is
 * turned into the IPv4 pattern it stands for.
 *
 * A file element is read when the list is parsed: one or more elements
 * per line (same separators), lines whose first non-blank character is
 * '#' are comments.  A file may not name further files, and "!/file" is
 * refused (negate the patterns inside the file instead).  Bounds: at most
 * PEER_LIST_FILE_MAX_BYTES per file and PEER_LIST_MAX_PATTERNS patterns in
 * the whole list.  The file is read with the caller's privileges.
 *
 * A "type:table" element (or "!type:table") is a lookup table, opened
 * when the list is parsed by the caller's opener (peer_list_parse_tables;
 * peer_list_parse refuses tables).  It matches when the table finds the
 * client's name, for tables that are neither cidr: nor pattern tables
 * also a parent domain of it ("example.com" when
 * parent_domain_matches_subdomains is true, else ".example.com"), or the
 * client's address in inet_ntop form (IPv4 for a mapped address); the
 * value found is ignored, as in Postfix.  "inline:{ a, b }" is one
 * element: separators inside braces do not split.
 *
 * Not implemented: IPv6 zone ids in patterns.
 */
#ifndef OSTIA_PEER_MATCH_H
#define OSTIA_PEER_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#define PEER_LIST_MAX_PATTERNS 10000
#define PEER_LIST_FILE_MAX_BYTES (1024 * 1024)
/* Longest element accepted (a host name is at most 253 bytes). */
#define PEER_LIST_ELEMENT_MAX_BYTES 1024

struct peer_list;
struct dict;

/*
 * Opens the table of a "type:name" element (spec, without a leading
 * '!') for peer_list_parse_tables.  0 with *dict_r set: the list owns
 * the table and closes it.  0 with *dict_r NULL: the element is accepted
 * unopened (a syntax check); it then fails every match (-1).  -1 with
 * the reason in err (errsz bytes; the parser adds the element).
 */
typedef int peer_table_opener(void *ctx, const char *spec,
    struct dict **dict_r, char *err, size_t errsz);

/*
 * Parse value into a new list.  Returns the list (never NULL on success;
 * free it with peer_list_free), or NULL with *error_r set to a message
 * that names the offending element (escaped and shortened), and the file
 * and line for elements read from a file.  *error_r points into
 * thread-local storage: it stays valid until the next peer_list_parse()
 * call in the same thread, so copy it (diag_add) before parsing again.
 * Nothing is logged.  value itself is not kept.
 */
struct peer_list *peer_list_parse(const char *value,
    bool parent_domain_matches_subdomains, const char **error_r);
/* The same, with table elements opened by open(open_ctx, ...); a NULL
 * open refuses them, as peer_list_parse does. */
struct peer_list *peer_list_parse_tables(const char *value,
    bool parent_domain_matches_subdomains, peer_table_opener *open,
    void *open_ctx, const char **error_r);

/*
 * Match a client.  hostname is its verified name, or "unknown"/NULL when
 * it has none; addr is its address in text form (IPv4, IPv6, an IPv6
 * zone "%..." is ignored); NULL or unparsable text matches no address
 * pattern.  Returns 1 if the list matches, 0 if it does not (also for a
 * NULL or empty list), -1 when a table lookup failed before any element
 * decided: the caller must not take it for either answer (a temporary
 * failure where it decides about mail; "not listed" where being listed
 * would grant something).
 */
int peer_list_match(const struct peer_list *pl, const char *hostname,
    const char *addr);
/* The same; on -1, err (errsz bytes, may be NULL) gets the table and
 * the reason of the failure, else "". */
int peer_list_match_err(const struct peer_list *pl, const char *hostname,
    const char *addr, char *err, size_t errsz);

/* Free the list and set *plp to NULL; NULL and *plp == NULL are fine. */
void peer_list_free(struct peer_list **plp);

#endif
