/* SPDX-License-Identifier: MIT */
/*
 * pickup - local submissions, in the queue process.
 *
 * The sendmail command (src/cli/cmd_sendmail.c) leaves each message as
 * a file in $queue_directory/maildrop (maildrop.h: a maildrop header
 * naming the submitter's uid and login, then a queue file).  pickup
 * takes every complete file (mode 0444), treats it as untrusted input
 * and turns it into a normal queue file in incoming/:
 *
 *   - the submitter is the file's owner (fstat), which must be the uid
 *     of the maildrop header; root and mail_owner are trusted;
 *   - the whole file is parsed (queue_file_parse) and checked: protocol
 *     "maildrop", only the records sendmail writes (no content filter,
 *     hold, redirect, BCC, ORCPT, SASL or TLS records), at most
 *     SENDMAIL_RCPTS_MAX recipients, each a valid address (@$myorigin
 *     added to a bare name), the message within message_size_limit;
 *   - the envelope is rebuilt: protocol "local", client "localhost"
 *     [127.0.0.1], service "pickup", the sender of the file only for a
 *     trusted submitter, else LOGIN@$myorigin; a Received: header
 *     "by $myhostname ($mail_name, from userid UID)" goes first; line
 *     ends become CRLF; the addresses in the address headers (From:,
 *     To:, ...) are completed in the local context (append_at_myorigin,
 *     append_dot_mydomain; header_rewrite.h), then masqueraded
 *     (masquerade_domains, as are the envelope sender and, when
 *     masquerade_classes says so, the recipients) -- canonical maps are
 *     not applied to local submissions yet;
 *   - always_bcc becomes a BCC trailer record ('b');
 *   - header and body checks (header_checks, mime_header_checks,
 *     nested_header_checks, body_checks; hbc.h) see the message with
 *     its Received: header, before the header addresses are completed,
 *     as in Postfix's cleanup; their HOLD, FILTER, REDIRECT and BCC go
 *     into the trailer records, their text edits into the message;
 *   - a message refused after its submission (REJECT of those checks,
 *     a byte of message_reject_characters, a milter's 5xx) is not
 *     dropped: it is queued with an 'E' record, and the queue manager
 *     returns it to its sender with the reason (Postfix's cleanup
 *     bounces it too: the sendmail command has long returned);
 *   - with non_smtpd_milters, the filters see it before it is written
 *     (pickup.c, "The filters"), one file at a time;
 *   - the queue file is written, fdatasync'ed, linked into incoming/
 *     and the directory fsync'ed (as the queue manager's notices are),
 *     then the maildrop file is removed and the queue manager told.
 *
 * A file that fails a check goes to corrupt/maildrop.NAME with a log
 * line naming its uid and the reason; one still being written (no read
 * permission) is left alone, unless it was abandoned more than
 * PICKUP_ABANDONED_SECONDS ago.  Runs only where the queue manager
 * runs, on the queue process's event loop: inotify on maildrop/, and a
 * rescan every PICKUP_RESCAN_SECONDS (every second without inotify).
 */
#ifndef OSTIA_PICKUP_H
#define OSTIA_PICKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "hbc.h"
#include "maildrop.h"
#include "masquerade.h"
#include "msg_chars.h"
#include "queue_file.h"

#define PICKUP_RESCAN_SECONDS 10
#define PICKUP_ABANDONED_SECONDS 3600
/* Envelope bytes a maildrop file may have beside the message. */
#define PICKUP_ENVELOPE_MAX_BYTES (4 * 1024 * 1024)

struct child;

/* Open the header and body check tables (the queue process, as root,
 * before the chroot). */
void pickup_preinit(struct child *c);
/* Start watching maildrop/ (the queue process, once the queue manager
 * runs). */
void pickup_init(struct child *c);

/* What pickup_convert() needs from the configuration. */
struct pickup_params {
	const char *myhostname;
	const char *myorigin;
	const char *mydomain;		/* NULL: "" */
	const char *mail_name;
	/* Header addresses are completed as Postfix's cleanup does for
	 * local mail (header_rewrite.h): "user" -> user@myorigin,
	 * "user@host" -> user@host.mydomain. */
	bool append_at_myorigin;
	bool append_dot_mydomain;
	uint64_t message_size_limit;	/* 0: none */
	/* message_drop_headers (header_drop.h): removed from the header
	 * block, after the addresses were completed.  NULL: none. */
	char *const *drop_headers;
	uid_t mail_owner_uid;		/* trusted, like root */
	/* authorized_submit_users (login_list.h); NULL: anyone. */
	char *const *submit_users;
	/* Address masquerading (masquerade.h) after the completion, per
	 * its classes; NULL: none. */
	const struct masq *masq;
	/* always_bcc, checked (address_setting): a BCC trailer record
	 * added to every message; NULL: none. */
	const char *always_bcc;
	/* content_filter of the pickup service (main.cf, or its -o in
	 * master.cf): the 'F' record of every message, as smtpd writes
	 * it; NULL or "": none. */
	const char *content_filter;
	/* message_reject_characters: a message with one of them is
	 * refused ('E' record: returned to its sender; the sendmail
	 * command refuses it already, so only a file written without it
	 * gets here); message_strip_characters: removed.  NULL: none. */
	const struct msg_chars *reject_chars, *strip_chars;
	/* Header and body checks: hbc_lookup with hbc_ctx, settings
	 * hbc_cfg; hbc_lookup NULL: none. */
	hbc_lookup_fn *hbc_lookup;
	void *hbc_ctx;
	const struct hbc_config *hbc_cfg;
	time_t now;
};

struct pickup_msg {
	uid_t uid;
	char login[MAILDROP_LOGIN_MAX_BYTES + 1];
	bool trusted;
	struct queue_envelope env;	/* the new envelope, strings owned */
	struct buf content;		/* Received: + the message, CRLF */
	char *ignored_sender;		/* the file's sender when it was not
					 * honoured (untrusted), else NULL */
};

/*
 * Check the maildrop file data (len bytes) owned by owner_uid and build
 * the queue file of queue ID id from it.  Returns 0 with m filled (free
 * with pickup_msg_deinit; m->env.refused set when the message is to be
 * returned to its sender), or -1 with why (plain words for the log) and
 * m empty; with why too and m empty: PICKUP_REFUSED when the file is
 * sound but its submitter may not submit mail (authorized_submit_users:
 * the sendmail command refused it already); PICKUP_LATER when the
 * header or body checks failed or refused it for now (4xx); and
 * PICKUP_DISCARD when they discarded it (logged).
 */
#define PICKUP_REFUSED (-2)
#define PICKUP_LATER (-3)
#define PICKUP_DISCARD (-4)
int pickup_convert(const char *data, size_t len, uid_t owner_uid,
    const char *id, const struct pickup_params *p, struct pickup_msg *m,
    char *why, size_t whysz);
void pickup_msg_deinit(struct pickup_msg *m);

/* Largest maildrop file read for a message_size_limit (0: none). */
size_t pickup_max_file_bytes(uint64_t message_size_limit);

#endif
