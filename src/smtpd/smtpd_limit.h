/* SPDX-License-Identifier: MIT */
/*
 * smtpd_limit - per-client connection and rate limits, counted for
 * every smtpd process together by the lookup process (ANVIL requests,
 * lookup_anvil.h), as Postfix's anvil service does:
 *
 *   smtpd_client_connection_count_limit  connections open at once
 *                                        (default 50); "421 4.7.0"
 *   smtpd_client_connection_rate_limit   connections per
 *                                        anvil_rate_time_unit; "421 4.7.0"
 *   smtpd_client_message_rate_limit      MAIL FROM per unit; "450 4.7.1"
 *   smtpd_client_recipient_rate_limit    RCPT TO per unit; "450 4.7.1"
 *   smtpd_client_auth_rate_limit         AUTH per unit; "450 4.7.1"
 *   smtpd_client_new_tls_session_rate_limit
 *                                        new (not resumed) TLS sessions
 *                                        per unit: STARTTLS gets "421
 *                                        4.7.0", an implicit-TLS
 *                                        connection is closed before
 *                                        its handshake
 *
 * A limit of 0 is off.  Clients that match
 * smtpd_client_event_limit_exceptions (default $mynetworks, derived as
 * for permit_mynetworks when mynetworks is not set) are not counted.
 * The client is its address; each master.cf service counts apart.
 *
 * Every refusal is logged as a warning that names the client, the
 * service, the count and the parameter.  Fail closed: when the counter
 * cannot answer (no lookup process, its table full) the connection
 * gets "421 4.3.0" and the command "451 4.3.0", logged with the
 * reason; never an accept without the count.
 *
 * The connection is counted once its name is known, before the
 * greeting (on an implicit-TLS port the refusal is sent after the
 * handshake, as the greeting would be).  The session gives its count
 * back when it ends; the lookup process takes back everything an
 * smtpd process held when that process goes away.
 */
#ifndef OSTIA_SMTPD_LIMIT_H
#define OSTIA_SMTPD_LIMIT_H

#include <stdbool.h>

#include "config.h"
#include "lookup_proto.h"

struct session;

/* What the count decided: refusal is the whole reply line to send
 * instead of going on, or NULL to go on.  Runs from the event loop. */
typedef void smtpd_limit_done(struct session *s, const char *refusal);

/* Read the limits and the exceptions of the service's view (after
 * smtpd_cfg.mynetworks is set). */
void smtpd_limit_init(const struct config_view *v);
/* True when op has a limit and s is not an exception. */
bool smtpd_limit_wanted(struct session *s, enum lookup_anvil_op op);
/*
 * Count op for s (LOOKUP_ANVIL_CONNECT, _MESSAGE, _RCPT or _AUTH), or
 * ask for the new TLS session rate (_NEWTLS_STAT); only
 * after smtpd_limit_wanted said yes) and run done with the verdict,
 * always later from the event loop.  The session reads no input
 * meanwhile (s->paused).
 */
void smtpd_limit_check(struct session *s, enum lookup_anvil_op op,
    smtpd_limit_done *done);
/* A new (not resumed) TLS session was made: count it, when its limit
 * is on and s is not an exception (no answer waited for). */
void smtpd_limit_newtls(struct session *s);
/* The session ends: cancel a count under way, give the connection
 * back. */
void smtpd_limit_session_end(struct session *s);

#endif
