/* SPDX-License-Identifier: MIT */
/*
 * milter_client - the MTA side of the Sendmail 8 mail filter protocol
 * (milter_proto.h), event-driven on a libevent base: one struct
 * milter_sess per SMTP session (smtpd_milter.h) or per message picked
 * up from the maildrop (pickup_milter.h), holding one connection to
 * each filter of a list (smtpd_milters, non_smtpd_milters).
 *
 * Events, each sent to the filters in list order:
 *
 *   connect   macros, CONNECT (the connection and the option
 *             negotiation happen here)
 *   HELO      macros, HELO
 *   MAIL      macros, MAIL (ABORT first when a transaction is open)
 *   RCPT      macros, RCPT
 *   message   DATA, the headers (not the trace header the MTA wrote
 *             first when it names this message's queue ID, as in
 *             Sendmail), end of headers, the body in chunks of at most
 *             64 KiB, end of message, from the copy the caller fed
 *             with milter_content()
 *   ABORT     milter_txn_end() before the message ended
 *   QUIT      milter_sess_free()
 *
 * A filter's reply: continue; accept (no more events from this filter
 * for the session at connect/HELO, for the transaction later); reject
 * (550 5.7.1 Command rejected; at the end of the message 550 5.7.1
 * Message content rejected); tempfail (451 4.7.1 Service unavailable -
 * try again later); a reply code of its own (4xx/5xx, checked); discard
 * (from MAIL on: the message is dropped).  A refusal at connect is
 * kept (milter_sticky) for every later command.
 *
 * At the end of the message a filter may change it: headers added,
 * inserted, changed or deleted, the body replaced (applied to the copy:
 * milter_new_content), recipients added or removed and the sender
 * changed (through the host's callbacks), or quarantined (milter_hold).
 * The next filter sees the message as changed by the ones before it.
 *
 * A filter that cannot be reached, does not answer in time
 * (milter_connect_timeout, milter_command_timeout, and
 * milter_content_timeout for the message), or breaks the protocol is
 * logged with the reason in words and handled as its default_action:
 * accept (as if it were not there), reject or tempfail (milter_sticky:
 * every later command of the session is refused), quarantine (go on,
 * and hold the messages it would have seen).
 *
 * List entries: "inet:host:port" (host a name or address, IPv6 in
 * brackets; a name is looked up at each connection, which blocks),
 * "unix:pathname" (relative to the current directory, which in the
 * daemons is queue_directory), "local:pathname", and Postfix's
 * "{ endpoint, default_action = ..., connect_timeout = ...,
 * command_timeout = ..., content_timeout = ..., protocol = ... }".
 * A malformed entry is logged when the list is read and fails closed:
 * every session gets 451 4.7.1.
 */
#ifndef OSTIA_MILTER_CLIENT_H
#define OSTIA_MILTER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct buf;
struct event_base;
struct milter_list;
struct milter_sess;

/* Filters in one list, at most. */
#define MILTER_LIST_MAX 16
/*
 * Message copies held for the filters by one process, all its sessions
 * together, at most: a message that would pass it is refused with 452
 * 4.3.1 (the client tries again later) instead of being let through
 * unfiltered.
 */
#define MILTER_COPIES_MAX ((size_t)512 * 1024 * 1024)

/*
 * The filters of parameter list_param of view v, with the milter_*
 * settings of v; NULL when the list is empty.  Lives as long as the
 * process.
 */
struct milter_list *milter_list_read(const struct config_view *v,
    enum param_id list_param);

/* One list entry checked (tests, `ostia check`): 0, or -1 with the
 * reason in err. */
int milter_spec_check(const char *text, char *err, size_t errsz);
/* The same, with the entry's endpoint copied into *ep (empty on entry;
 * endpoint_clear it) on success. */
struct endpoint;
int milter_spec_endpoint(const char *text, struct endpoint *ep, char *err,
    size_t errsz);

/* A macro name without its braces ("{auth_type}" -> "auth_type"),
 * into out (cut to outsz - 1 bytes). */
const char *milter_macro_bare(const char *name, char *out, size_t outsz);

/* What the caller supplies. */
struct milter_host {
	/* The value of a macro ("i", "{auth_type}") now, or NULL; tmp
	 * may hold it. */
	const char *(*macro)(void *ctx, const char *name, char *tmp,
	    size_t tmpsz);
	/* "name[addr]" for log lines. */
	const char *(*label)(void *ctx, char *out, size_t outsz);
	/* The queue ID of the message, "" while there is none. */
	const char *(*queue_id)(void *ctx);
	/* End-of-message envelope edits (addresses without <>; valid
	 * during the call). */
	void (*add_rcpt)(void *ctx, const char *addr);
	void (*del_rcpt)(void *ctx, const char *addr);
	void (*chg_from)(void *ctx, const char *addr);
};

/*
 * A session of list l on base; host and ctx are kept.  Nothing is
 * connected before the first event.
 */
struct milter_sess *milter_sess_new(const struct milter_list *l,
    struct event_base *base, const struct milter_host *host, void *ctx);
/* QUIT to every filter, close, free.  NULL is ignored.  Allowed in a
 * done callback (the reply text it got is gone afterwards). */
void milter_sess_free(struct milter_sess *ms);

/*
 * The answer to an event: reply NULL to go on, else the reply for the
 * command (logged here, with the filter's name).  Called from the event
 * loop, never from inside the call that started the event.  The
 * callback may free the session.
 */
typedef void milter_done(void *ctx, const char *reply);

/*
 * The events.  Each returns true when filters take part (done follows
 * later), false when none does (go on at once; done is not called).
 * Strings are copied as needed.
 */
bool milter_connect(struct milter_sess *ms, const char *host,
    const char *addr, unsigned port, milter_done *done);
bool milter_helo(struct milter_sess *ms, const char *helo, milter_done *done);
/* args: "<sender>" then ESMTP parameters ("SIZE=10"), n of them. */
bool milter_mail(struct milter_sess *ms, const char *const *args, size_t n,
    milter_done *done);
bool milter_rcpt(struct milter_sess *ms, const char *rcpt, milter_done *done);
/* The end of the message, with the copy fed through milter_content(). */
bool milter_message(struct milter_sess *ms, milter_done *done);

/* A refusal for every later command, or NULL. */
const char *milter_sticky(const struct milter_sess *ms);
/* A filter will see the message: its text is wanted. */
bool milter_wants_content(const struct milter_sess *ms);
/* The message text, from the trace header on, in pieces. */
void milter_content(struct milter_sess *ms, const char *data, size_t len);
/* After milter_message (or a discard at MAIL or RCPT). */
bool milter_discarded(const struct milter_sess *ms);
/* Why the message is to be held (quarantine), or NULL. */
const char *milter_hold(const struct milter_sess *ms);
/* The text to write when something changed (the changed text, or the
 * copy when only the envelope changed), else NULL. */
const struct buf *milter_new_content(const struct milter_sess *ms);
bool milter_envelope_changed(const struct milter_sess *ms);
/* The transaction ends (ABORT unless its message has ended); an event
 * still running is cut short, without its done callback. */
void milter_txn_end(struct milter_sess *ms);

#endif
