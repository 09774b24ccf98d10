/* SPDX-License-Identifier: MIT */
/*
 * smtpd_xclient - the XCLIENT and XFORWARD commands of the SMTP server,
 * for the clients smtpd_authorized_xclient_hosts and
 * smtpd_authorized_xforward_hosts name (judged on the real connection,
 * before any XCLIENT changed it).  Attribute syntax: smtp_xattr.h.
 *
 * XCLIENT (a proxy in front of Ostia, a test tool): the session goes on
 * as if the named client had connected.  Its name, address, port, HELO
 * name, protocol, SASL login and the server address take the given
 * values (REVERSE_NAME follows NAME when only NAME is given; absent
 * attributes keep their value; without LOGIN the session is not
 * authenticated any more); the transaction, the restriction state and
 * the filters' session are dropped; the reply is a new 220 greeting,
 * after which the client restrictions (smtpd_delay_reject = no) and the
 * filters' connect event run for the new client.  Not in a transaction.
 *
 * XFORWARD (a content filter re-injecting mail): the facts apply to the
 * next message only and are forgotten when its transaction ends.  They
 * go into the queue file as the client facts (so the next hop gets them
 * in turn) and into the log ("orig_client=", "orig_queue_id="); access
 * control, the Received: header and the filters still see the real
 * connection.  SOURCE=LOCAL / REMOTE decides local header rewriting.
 *
 * Replies: 220 (XCLIENT), 250 (XFORWARD), 501 5.5.4 bad syntax (with the
 * attribute), 503 5.5.1 in a transaction, 550 5.7.0 not authorized.
 */
#ifndef OSTIA_SMTPD_XCLIENT_H
#define OSTIA_SMTPD_XCLIENT_H

#include <stdbool.h>

#include "config.h"
#include "smtp_command.h"
#include "smtp_xattr.h"

struct session;
struct buf;

/* Read the two host lists (a bad value is fatal, as for any client
 * list parameter). */
void smtpd_xclient_init(const struct config_view *v);

/* Are XCLIENT / XFORWARD offered to s (its real client authorized)? */
bool smtpd_xclient_offered(struct session *s);
bool smtpd_xforward_offered(struct session *s);

void smtpd_xclient_cmd(struct session *s, const struct smtp_command *c);
void smtpd_xforward_cmd(struct session *s, const struct smtp_command *c);

/* Forget the XFORWARD facts (the end of a transaction). */
void smtpd_xforward_reset(struct session *s);

/*
 * The client facts the queue file records for the current transaction:
 * the XFORWARD values where given ("unknown" / "" where forwarded as
 * unavailable or left out), else the session's own.  Pointers into s,
 * valid until the transaction ends.
 */
struct smtpd_origin {
	const char *name, *addr, *helo, *proto;
};
void smtpd_xforward_origin(const struct session *s, const char *own_proto,
    struct smtpd_origin *o);
/*
 * ", orig_queue_id=ID, orig_client=name[addr]" for the "client=" log
 * line when XFORWARD facts are in force; "" otherwise.
 */
const char *smtpd_xforward_log(const struct session *s, char *out,
    size_t outsz);
/* The SOURCE the XFORWARD facts give: 1 LOCAL, 0 REMOTE, -1 none. */
int smtpd_xforward_source_local(const struct session *s);

#endif
