/* SPDX-License-Identifier: MIT */
/*
 * env_list - environment lists as Postfix names them in
 * import_environment (what the master passes to its children) and
 * export_environment (what a delivery agent passes to the commands it
 * runs): each entry either NAME, the variable's value in this
 * process's own environment when it has one (else nothing), or
 * NAME=VALUE, that value.  A NAME is a letter or '_' followed by
 * letters, digits and '_'; any other entry is skipped (env_list_bad
 * names the first, for a warning).
 */
#ifndef OSTIA_ENV_LIST_H
#define OSTIA_ENV_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "strv.h"

/*
 * env_list_add - the entries of list (NULL-terminated; NULL: none)
 * appended to env, a vector of "NAME=VALUE" strings.  A name env holds
 * already keeps the value it has there (the caller's own variables win),
 * and a name listed twice counts once, the first time.
 */
void env_list_add(struct strv *env, char *const *list);

/* The first entry of list that is not NAME or NAME=VALUE, or NULL. */
const char *env_list_bad(char *const *list);

#endif
