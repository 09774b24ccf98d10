/* SPDX-License-Identifier: MIT */
/*
 * route_dlist - Postfix domain lists (mydestination, relay_domains,
 * virtual_alias_domains, virtual_mailbox_domains) for the resolver.
 *
 * Elements of the (already $name-expanded) value, separated by commas
 * and/or white space, tried in order; the first that matches decides:
 *
 *   example.com     that domain (any case); in a host-name list whose
 *                   parameter is named in parent_domain_matches_
 *                   subdomains (relay_domains by default) also every
 *                   domain below it
 *   .example.com    host-name lists only: every domain below example.com
 *   type:table      the domain is looked up as a key ("example.com"
 *                   found means listed, whatever the value); host-name
 *                   lists also look up the parent domains in the style
 *                   maps_find_domain() describes
 *   /file/name      the elements in the file (one or more per line, '#'
 *                   comment lines), read once when the list is made; a
 *                   file may not name further files
 *   !element        negation: a match means "not in the list"
 *
 * Postfix treats mydestination and the virtual domain lists as string
 * lists (exact names and table keys, no parent matching) and
 * relay_domains as a host-name list; the caller says which.
 *
 * Fail closed: a table element that did not open, or a /file that could
 * not be read, is kept; when the search reaches it the answer is -1
 * (temporary failure) with the reason, never "not listed".
 */
#ifndef OSTIA_ROUTE_DLIST_H
#define OSTIA_ROUTE_DLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "route.h"

/* Most elements in one list (files included). */
#define ROUTE_DLIST_MAX_ELEMENTS 10000
/* Largest /file element read. */
#define ROUTE_DLIST_FILE_MAX_BYTES (1024 * 1024)

struct route_dlist;

/*
 * Parse value for the parameter param.  hostname_style: a host-name
 * list (see above); parent_style: param is named in
 * parent_domain_matches_subdomains (host-name lists only).  Tables are
 * opened with open(ctx, param, "type:name", ...).  NULL with err only
 * for a value that cannot be parsed (a lone "!", "!/file", too many
 * elements); a table or file that cannot be read is kept as a failing
 * element.
 */
struct route_dlist *route_dlist_new(const char *param, const char *value,
    bool hostname_style, bool parent_style, route_maps_open_fn *open,
    void *ctx, char *err, size_t errsz);
void route_dlist_free(struct route_dlist **dlp);

/* True when the list has no element (matches nothing). */
bool route_dlist_empty(const struct route_dlist *dl);
const char *route_dlist_param(const struct route_dlist *dl);

/*
 * Is domain (lower case, no trailing dot) in the list?  1 yes, 0 no,
 * -1 a table could not answer (err says which and why).  why (may be
 * NULL) gets the element that decided, for the resolver's steps:
 * "\"example.com\"", "table hash:/etc/x (key .example.com)", "\"!a.com\"".
 */
int route_dlist_match(struct route_dlist *dl, const char *domain, char *why,
    size_t whysz, char *err, size_t errsz);

#endif
