/* SPDX-License-Identifier: MIT */
/*
 * smtpd_ehlo - the EHLO keywords a session is not offered:
 * smtpd_discard_ehlo_keywords for every client, or, for a client whose
 * address smtpd_discard_ehlo_keyword_address_maps finds, the keywords
 * of that answer instead (Postfix: the table's value replaces the list,
 * it does not add to it).  Keywords, case-insensitive, separated by
 * commas or white space: pipelining, size, vrfy, etrn, starttls, auth,
 * xclient, xforward, enhancedstatuscodes, 8bitmime, dsn, smtputf8,
 * chunking, and silent-discard (do not log the discarding); other words
 * are ignored, as in Postfix.
 *
 * A keyword not offered is also not honoured where it is a parameter or
 * a command: SIZE=, BODY=, RET=/ENVID=/NOTIFY=/ORCPT= and SMTPUTF8 are
 * refused as unknown parameters (555 5.5.4), BDAT as a command not
 * implemented; without PIPELINING every pipelined command counts as
 * improper pipelining.  STARTTLS, AUTH, VRFY, XCLIENT and XFORWARD are
 * only not advertised: the commands still work (some clients break on
 * the keyword, not on the command).  Without ENHANCEDSTATUSCODES the
 * keyword is not offered; replies keep their codes.
 *
 * The table is asked at the first EHLO of a session (the lookup
 * process, LOOKUP_FIND_EXACT with the client's address: cidr: tables
 * match networks), and again after XCLIENT changes the address.  A
 * lookup that fails refuses that EHLO with 451 4.3.0 (logged with the
 * reason); HELO never asks.
 */
#ifndef OSTIA_SMTPD_EHLO_H
#define OSTIA_SMTPD_EHLO_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct session;

enum {
	EHLO_D_PIPELINING = 1u << 0,
	EHLO_D_SIZE = 1u << 1,
	EHLO_D_VRFY = 1u << 2,
	EHLO_D_ETRN = 1u << 3,
	EHLO_D_STARTTLS = 1u << 4,
	EHLO_D_AUTH = 1u << 5,
	EHLO_D_XCLIENT = 1u << 6,
	EHLO_D_XFORWARD = 1u << 7,
	EHLO_D_ENHANCED = 1u << 8,
	EHLO_D_8BITMIME = 1u << 9,
	EHLO_D_DSN = 1u << 10,
	EHLO_D_SMTPUTF8 = 1u << 11,
	EHLO_D_CHUNKING = 1u << 12,
	EHLO_D_SILENT = 1u << 13,	/* silent-discard */
};

/* The mask of a keyword list (len bytes). */
unsigned smtpd_ehlo_mask(const char *words, size_t len);
/* "PIPELINING STARTTLS" for mask (without silent-discard), into out. */
const char *smtpd_ehlo_mask_text(unsigned mask, char *out, size_t outsz);

/* Read the two settings (smtpd_init). */
void smtpd_ehlo_init(const struct config_view *v);

/* The keywords s is not offered now (the default until its lookup). */
unsigned smtpd_ehlo_discard(const struct session *s);
/* smtpd_cfg.exts less what s is not offered (SMTP_EXT_* bits). */
unsigned smtpd_ehlo_exts(const struct session *s);

/*
 * For EHLO: when the table must be asked for s's address, pause s, ask,
 * and return true; done(s, NULL) or done(s, refusal) runs with the
 * answer (s no longer paused; the caller of done resumes the session).
 * false: nothing to ask (no table, or already known for this address).
 */
bool smtpd_ehlo_lookup(struct session *s,
    void (*done)(struct session *, const char *refusal));
/* The session ends: a lookup under way is cancelled. */
void smtpd_ehlo_session_end(struct session *s);

#endif
