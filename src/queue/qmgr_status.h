/* SPDX-License-Identifier: MIT */
/*
 * qmgr_status - the per-message delivery log, status/ID.
 *
 * The queue manager records what happened to each recipient of a
 * message that is not finished in one go, so that a restart (or the
 * next attempt) never delivers again to a recipient already done, and
 * so that the final bounce can list every failed recipient.  One line
 * per event, appended and fdatasync()ed before the queue manager acts
 * on it:
 *
 *   IDX TAB ACTION TAB TIME TAB DSN TAB ADDRESS TAB REMOTE TAB TEXT LF
 *
 *   IDX      the recipient's number in the queue file: 0.. for its R
 *            records, then one more per b (BCC) record; "-" for a line
 *            about the whole message
 *   ACTION   sent | bounced | deferred (recipients), hold (the message's
 *            Q record was applied once: a released message is not held
 *            again), warned (the delay notice was sent)
 *   TIME     seconds since the epoch
 *   DSN      "X.Y.Z" (may be empty for hold)
 *   ADDRESS  the final recipient (after alias expansion)
 *   REMOTE   the remote reply for a DSN Diagnostic-Code, or empty
 *   TEXT     plain words
 *
 * Tabs, CR and LF inside fields are written as spaces.  A line that does
 * not parse (a torn last line after a crash) is skipped; sent and bounced
 * are final, a later line for the same (IDX, ADDRESS) replaces an
 * earlier one.
 */
#ifndef OSTIA_QMGR_STATUS_H
#define OSTIA_QMGR_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest line read back. */
#define QSTATUS_LINE_MAX 4096

enum qstatus_action {
	QSTATUS_SENT,
	QSTATUS_BOUNCED,
	QSTATUS_DEFERRED,
	QSTATUS_HOLD,
	QSTATUS_WARNED,
};

struct qstatus_entry {
	long idx;			/* -1 for "-" */
	enum qstatus_action action;
	time_t when;
	char *dsn;
	char *address;
	char *remote;
	char *text;
};

struct qstatus {
	struct qstatus_entry *e;
	size_t n;
};

/* Parse a whole log (len bytes); bad lines are skipped (counted in
 * *bad_r when not NULL). */
void qstatus_parse(const char *text, size_t len, struct qstatus *st,
    size_t *bad_r);
/* Read the file (status/ID relative to the current directory).  1 when
 * it exists, 0 when it does not (an empty log), -1 with errno. */
int qstatus_load(const char *path, struct qstatus *st);
void qstatus_free(struct qstatus *st);
/* The last entry for (idx, address), or NULL.  address NULL: any. */
const struct qstatus_entry *qstatus_find(const struct qstatus *st, long idx,
    const char *address);
/* True if a "hold" line is there. */
bool qstatus_has_hold(const struct qstatus *st);
/* True if a "warned" line is there. */
bool qstatus_has_warned(const struct qstatus *st);

/* Format one line into out (at most outsz, always terminated, cut to
 * fit with the LF kept).  Returns its length. */
size_t qstatus_format(char *out, size_t outsz,
    const struct qstatus_entry *e);
/* Append lines (already formatted, n bytes) to path, creating it (0600),
 * and fdatasync.  0, or -1 with errno. */
int qstatus_append(const char *path, const char *lines, size_t n);

const char *qstatus_action_name(enum qstatus_action a);

#endif
