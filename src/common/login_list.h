/* SPDX-License-Identifier: MIT */
/*
 * login_list - Postfix's authorized_submit_users: whether a local login
 * name (the submitter's, from the password database; "unknown" when it
 * has none) is on a list.
 *
 * The list is the parameter's elements in order; the first that matches
 * decides.  An element is a login name (compared without regard to
 * case, as Postfix's string lists do), "!name" (matches name and
 * refuses), or a static: table ("static:anyone", "static:all": matches
 * every name; "!static:anyone" refuses everyone left).  No match, and
 * an empty list, refuse.  Other tables (hash:, pcre:...) are not
 * supported: reaching one refuses, with a reason that names it, so a
 * list Ostia cannot evaluate never lets anyone through.
 */
#ifndef OSTIA_LOGIN_LIST_H
#define OSTIA_LOGIN_LIST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * login_list_allows - whether login may go by elems (NULL-ended); when
 * not, why (the element that refused, or "not listed") in words, for
 * the log and for the user.
 */
bool login_list_allows(const char *const *elems, const char *login, char *why,
    size_t whysz);

/* The first element Ostia cannot evaluate (a table other than static:),
 * or NULL: for a warning at start-up. */
const char *login_list_unsupported(const char *const *elems);

#endif
