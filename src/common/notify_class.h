/* SPDX-License-Identifier: MIT */
/*
 * notify_class - Postfix's notify_classes: which problems the
 * postmaster hears about by mail.
 *
 * The words and who acts on them:
 *   bounce    the queue manager sends bounce_notice_recipient a copy of
 *             each bounce (headers of the original only); implies
 *             2bounce.  smtpd: a session transcript when a message is
 *             refused for its size or its hop count.
 *   2bounce   a bounce that cannot be delivered goes whole to
 *             2bounce_notice_recipient (otherwise it is dropped).
 *   delay     the queue manager sends delay_notice_recipient a copy of
 *             each delay warning (headers only).
 *   policy    smtpd: a transcript when a client was refused by the
 *             access policy (restrictions, limits, TLS or AUTH rules).
 *   protocol  smtpd: a transcript when a client broke the protocol
 *             (unknown command, bad syntax, wrong order, long lines).
 *   resource  smtpd: a transcript when mail was turned away for want of
 *             a resource (queue write, disk space, a table that did not
 *             answer).
 *   software  smtpd: a transcript when mail was turned away because of
 *             a configuration or software problem.
 *   data      accepted for Postfix compatibility; Ostia has no error of
 *             this class (Postfix uses it for a missing data file).
 * Transcripts go to error_notice_recipient (to bounce_notice_recipient
 * when bounce is their only wanted class); every notice is sent from
 * double_bounce_sender@$myhostname, so that one that fails is dropped
 * rather than bounced.
 */
#ifndef OSTIA_NOTIFY_CLASS_H
#define OSTIA_NOTIFY_CLASS_H

#include <stddef.h>

enum notify_class {
	NOTIFY_BOUNCE = 1u << 0,
	NOTIFY_2BOUNCE = 1u << 1,
	NOTIFY_DATA = 1u << 2,
	NOTIFY_DELAY = 1u << 3,
	NOTIFY_POLICY = 1u << 4,
	NOTIFY_PROTOCOL = 1u << 5,
	NOTIFY_RESOURCE = 1u << 6,
	NOTIFY_SOFTWARE = 1u << 7,
};

/* The classes smtpd reports with a session transcript. */
#define NOTIFY_SMTPD_CLASSES (NOTIFY_BOUNCE | NOTIFY_POLICY | \
	NOTIFY_PROTOCOL | NOTIFY_RESOURCE | NOTIFY_SOFTWARE)

/*
 * notify_classes_parse - the mask of the words (a NULL-terminated list,
 * as config_list gives; case does not matter).  "bounce" sets 2bounce
 * too.  Returns 0, or -1 with *bad_r pointing at the first word that
 * is not a class (*mask_r then holds the classes among the others).
 */
int notify_classes_parse(char *const *words, unsigned *mask_r,
    const char **bad_r);

/* notify_class_names - "policy, protocol" for mask, into out. */
void notify_class_names(unsigned mask, char *out, size_t outsz);

/*
 * notify_class_of_reply - the class of an SMTP server reply ("550 5.1.1
 * ..."; len bytes, no CRLF needed), or 0 for a reply that is not an
 * error (2xx, 3xx) or that is no fault of anyone here to report (a
 * timeout, 4.4.x other than the hop count).  It goes by the enhanced
 * status code (RFC 3463), which every Ostia reply carries:
 *   X.5.3 (too many recipients)                          policy
 *   X.5.x, X.6.x (bad content: NUL, 8-bit address),
 *   X.1.3 and X.1.7 (bad address syntax)                  protocol
 *   X.3.4 (too big), X.4.6 (too many hops)               bounce
 *   X.3.5 (not configured)                               software
 *   other X.3.x (queue, disk, lookups)                   resource
 *   X.1.x, X.2.x, X.7.x and the rest                     policy
 * A 4xx or 5xx reply without an enhanced code is protocol.
 */
unsigned notify_class_of_reply(const char *reply, size_t len);

#endif
