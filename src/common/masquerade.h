/* SPDX-License-Identifier: MIT */
/*
 * masquerade - address masquerading (Postfix's masquerade_domains):
 * hide the host part of addresses behind their domain, so that mail
 * from user@host3.sub.example.com leaves as user@example.com.
 *
 * masquerade_domains is a list of domains, tried in order; the first
 * one that is the address's domain or a parent of it decides:
 *   "example.com"   a subdomain (host.example.com, a.b.example.com)
 *                   becomes example.com; example.com itself stays;
 *   "!sub.example.com"  the domain (or a subdomain of it) is left
 *                   alone; write it before its parent to take a
 *                   subdomain out of masquerading.
 * Comparison ignores case.  Addresses without a domain, address
 * literals ("[192.0.2.1]") and the null sender are never changed.
 *
 * masquerade_exceptions lists local parts (as "root", compared without
 * case, whole or without the recipient_delimiter extension) whose
 * addresses keep their domain.  Only plain names: a "type:table" or
 * "/file" element is refused by masq_setup (Ostia does not look them up
 * here yet).
 *
 * masquerade_classes says which addresses are rewritten: envelope_sender,
 * envelope_recipient, header_sender, header_recipient (Postfix's
 * default: all but envelope_recipient, which would change where mail
 * goes).
 *
 * Where it runs: after canonical mapping, in the route part of the
 * lookup process (route_rewrite and route_rewrite_header, for mail
 * received by smtpd) and in pickup (local submissions).  As in Postfix,
 * receive_override_options = no_address_mappings turns it off.
 *
 * No I/O; fuzzed by tests/fuzz/fuzz_masquerade.c.
 */
#ifndef OSTIA_MASQUERADE_H
#define OSTIA_MASQUERADE_H

#include <stdbool.h>
#include <stddef.h>

struct masq {
	char **domains;		/* as written, "!" kept; NULL: off */
	char **exceptions;	/* local parts */
	char delims[16];	/* recipient_delimiter characters */
	bool env_sender, env_rcpt, hdr_sender, hdr_rcpt;
};

/* The address classes of masquerade_classes. */
enum masq_class {
	MASQ_ENV_SENDER,
	MASQ_ENV_RCPT,
	MASQ_HDR_SENDER,
	MASQ_HDR_RCPT,
};

/*
 * Fill m from the three lists (NULL-terminated; copied) and the
 * recipient_delimiter value.  No domains: 0, off, and the other lists
 * are not looked at.  Returns 0, or -1 with the reason in err
 * (an unknown class, an empty "!" entry, a table in the exceptions);
 * m is then off (masq_on false) and may still be passed to masq_deinit.
 * err must hold at least one byte.
 */
int masq_setup(struct masq *m, const char *const *domains,
    const char *const *exceptions, const char *const *classes,
    const char *delimiters, char *err, size_t errsz);
void masq_deinit(struct masq *m);

/* Does masquerading rewrite addresses of class c? */
bool masq_on(const struct masq *m, enum masq_class c);

struct config_view;

/* masq_setup with view v's masquerade_domains, masquerade_exceptions,
 * masquerade_classes and recipient_delimiter. */
int masq_setup_view(struct masq *m, const struct config_view *v, char *err,
    size_t errsz);

/*
 * For a process that hands the rewriting to another (smtpd asks the
 * lookup process): must it ask for addresses of class c?  True when
 * masquerading with view v's settings touches class c, and when they
 * are unusable (then the other process answers with the error).
 */
bool masq_wanted(const struct config_view *v, enum masq_class c);

/*
 * Masquerade address (class c) into out (outsz bytes).  Returns 1 when
 * out holds a different address, 0 when the address stays (out then
 * holds a copy of it), -1 when it does not fit out.  The result is never
 * longer than address: outsz > strlen(address) always fits.
 */
int masquerade(const struct masq *m, enum masq_class c, const char *address,
    char *out, size_t outsz);

#endif
