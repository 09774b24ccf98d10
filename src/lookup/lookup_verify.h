/* SPDX-License-Identifier: MIT */
/*
 * lookup_verify - password checks of the lookup process, off its event
 * loop.
 *
 * A stored hash can be expensive on purpose (ARGON2ID takes 0.2-0.6 s
 * with Dovecot's defaults, bcrypt at cost 14 about a second): checked
 * on the loop, it would stall every other lookup of every smtpd.  So
 * the loop only looks the hash up (the table and the cache are not
 * thread-safe and stay on the loop) and hands (hash, password) to one
 * worker thread; the verdict comes back through an eventfd and the
 * done callback runs on the loop.  Requests are answered in the order
 * they finish; the protocol allows replies in any order.
 *
 * At most LOOKUP_VERIFY_QUEUE_MAX checks wait; past that a check is
 * answered at once with a temporary failure (a flood of AUTH attempts
 * must not grow memory or delay every login by minutes).
 */
#ifndef OSTIA_LOOKUP_VERIFY_H
#define OSTIA_LOOKUP_VERIFY_H

#include <stdint.h>

#include "dict.h"

#define LOOKUP_VERIFY_QUEUE_MAX 256

struct event_base;

/*
 * The verdict: DICT_FOUND (the password matches), DICT_NOTFOUND (it
 * does not), DICT_TEMPFAIL with reason (the stored hash is unusable, or
 * too many checks wait).  conn and id are what was submitted.
 */
typedef void lookup_verify_done_fn(uint64_t conn, uint32_t id,
    enum dict_status st, const char *reason);

/* Start the worker; 0, or -1 (errno) when it cannot be started. */
int lookup_verify_start(struct event_base *base, lookup_verify_done_fn *done);
/*
 * Check password against hash for login (for the log) in table.  The
 * copies made here are wiped when the check ends.  done runs later, on
 * the loop, exactly once.
 */
void lookup_verify_submit(uint64_t conn, uint32_t id, const char *table,
    const char *login, const char *password, const char *hash);
/* Checks submitted whose done has not run yet. */
size_t lookup_verify_pending(void);

#endif
