/* SPDX-License-Identifier: MIT */
/*
 * smtpd_screen - postscreen: the tests a new client on port 25 passes
 * before it gets the SMTP greeting.
 *
 * Postfix runs postscreen as a process of its own in front of smtpd,
 * because its smtpd is one process per client.  Ostia's smtpd serves
 * thousands of clients on one event loop, so the tests run in the smtpd
 * process itself, on the session, before the greeting.  A master.cf
 * written for Postfix works as it is:
 *
 *   smtp      inet  n  -  y  -  1  postscreen
 *   smtpd     pass  -  -  y  -  -  smtpd
 *
 * The "postscreen" service's listener runs an smtpd whose settings are
 * those of the pass service named smtpd_service_name (its -o options
 * included), and whose postscreen_* settings are those of the postscreen
 * service.  dnsblog and tlsproxy services are not needed.
 *
 * The tests, in Postfix's order:
 *   1. postscreen_access_list: permit_mynetworks and tables of client
 *      addresses whose values are "permit", "reject" or "dunno" (cidr:
 *      is the usual type).  permit: ALLOWLISTED, no more tests.
 *      reject: DENYLISTED, then postscreen_denylist_action.
 *   2. The cache: a client that passed within postscreen_greet_ttl (and
 *      postscreen_dnsbl_max_ttl when DNSBLs are used) passes at once
 *      (PASS OLD).
 *   3. For postscreen_greet_wait: the teaser "220-postscreen_greet_
 *      banner" is sent; anything the client sends before the greeting
 *      is a PREGREET (postscreen_greet_action); meanwhile every zone of
 *      postscreen_dnsbl_sites is asked, and the weights of the sites
 *      that list the client are summed: a score at or over
 *      postscreen_dnsbl_threshold applies postscreen_dnsbl_action.  A
 *      score at or below a (negative) postscreen_dnsbl_allowlist_
 *      threshold ends the wait at once.
 *   4. A client that passed every test is remembered (PASS NEW) and
 *      gets the usual greeting, "220 smtpd_banner", which ends the
 *      teaser's multi-line reply.
 *
 * Actions: ignore (log only; the client is not remembered), enforce
 * (the session goes on, and every RCPT is refused with 550, so that the
 * log shows who sent what to whom), drop (521, and the connection is
 * closed).
 *
 * Failing closed: a table of the access list that fails, or a broken
 * setting, gives 421 4.3.0 before any greeting.  A DNSBL zone that does
 * not answer within postscreen_dnsbl_timeout cannot be ignored when its
 * weight could reach the threshold: with enforce, RCPT gets 450 4.7.1;
 * with drop, 421 4.7.1; the client is not remembered either way.
 *
 * The clients that passed are remembered in postscreen_cache_map's
 * LMDB file (screen_cache.h), shared by the service's processes and kept
 * across restarts; expired entries are removed every postscreen_cache_
 * cleanup_interval once they are postscreen_cache_retention_time old.
 */
#ifndef OSTIA_SMTPD_SCREEN_H
#define OSTIA_SMTPD_SCREEN_H

#include <stdbool.h>

#include "config.h"

struct session;

/* Open the cache (postscreen_cache_map of v, the postscreen service's
 * view; NULL: nothing to do), while still root and before any chroot. */
void smtpd_screen_preinit(const struct config_view *v);
/*
 * Read the postscreen_* settings of view v (the postscreen service's),
 * or turn screening off when v is NULL (an smtpd not behind postscreen).
 * Logs every setting it cannot use.
 */
void smtpd_screen_init(const struct config_view *v);
/* Does this process screen its clients? */
bool smtpd_screen_on(void);
/*
 * Screen the new session s (its client address known, nothing read or
 * sent yet).  done(s) runs later from the event loop when the client
 * may have the greeting (s->screen_reply may then be set: the refusal
 * for its recipients); when the client is dropped, or goes away, the
 * session is ended here instead and done never runs.
 */
void smtpd_screen_start(struct session *s, void (*done)(struct session *));
/* The session ends: stop its tests (done will not run). */
void smtpd_screen_session_end(struct session *s);

/*
 * The tests after the greeting (postscreen_pipelining_enable,
 * postscreen_non_smtp_command_enable, postscreen_bare_newline_enable).
 * Postfix's postscreen makes them with an SMTP engine of its own and
 * makes a client that passed connect again; here the real session is
 * watched, with no second connection: smtpd calls smtpd_screen_deep()
 * where it finds the fault (improper pipelining; a command from
 * smtpd_forbidden_commands; a bare <LF> in a command line).  When the
 * session was screened and that test is on, it logs the fault with
 * Postfix's words and applies the test's action: true when it did (drop:
 * the 521 is sent and the session ends; enforce: every later RCPT gets
 * 550, and smtpd answers the command as it would have), false when
 * smtpd's own handling applies (the test is off, or its action is
 * ignore).
 */
enum screen_deep {
	SCREEN_PIPELINING,
	SCREEN_NON_SMTP,
	SCREEN_BARE_NEWLINE,
};
bool smtpd_screen_deep(struct session *s, enum screen_deep test,
    const char *after, const char *detail);

#endif
