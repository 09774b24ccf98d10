/* SPDX-License-Identifier: MIT */
/*
 * smtpd_txn - the SMTP server's message transaction: envelope, the
 * Received: header, the queue file from the queue process, and the
 * commit before "250" (queue_client.h).  Runs in smtpd as mail_owner.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "peer_match.h"
#include "queue_client.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "smtp_command.h"
#include "smtp_data.h"
#include "smtpd_hbc.h"
#include "smtpd_hdrw.h"
#include "smtpd_milter.h"
#include "smtpd_check.h"
#include "smtpd_policy.h"
#include "smtpd_notice.h"
#include "smtpd_session.h"
#include "strnum.h"
#include "strv.h"
#include "smtpd_xclient.h"
#include "tls_server.h"
#include "xalloc.h"

/* ---------------------------------------------------------------- */
/* Transactions                                                     */

void
smtpd_transaction_reset(struct session *s)
{
	smtpd_check_cancel(s);
	smtpd_rcpt_pending_clear(s);
	smtpd_check_reset_actions(s);
	if (s->instance[0] != '\0')
		policy_instance_end(s->instance);
	s->instance[0] = '\0';
	free(s->queue_sender);
	s->queue_sender = NULL;
	smtp_mail_args_deinit(&s->mail);
	memset(&s->mail, 0, sizeof(s->mail));
	s->have_mail = false;
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
	}
	s->nrcpts = 0;
	smtpd_hbc_release(s);	/* hbc: the message's header/body checks */
	smtpd_hdrw_free(&s->hdrw);
	smtpd_milter_txn_end(s);
	s->milter_copy = false;
	s->milter_done = false;
	s->arrival[0] = '\0';
	smtpd_xforward_reset(s);
	queue_client_free(&s->qc);
	if (s->qw_open) {
		queue_writer_deinit(&s->qw);
		s->qw_open = false;
	}
	if (s->qfd >= 0) {
		close(s->qfd);
		s->qfd = -1;
	}
	s->id[0] = '\0';
	s->bdat = false;
	s->write_failed = false;
	s->bdat_drop = false;
	s->bdat_left = 0;
	s->bdat_last = false;
	s->data_bytes = 0;
	if (s->state != SS_CONNECTED && s->state != SS_QUIT)
		s->state = SS_READY;
}

/* rfc5322_date - "Sat, 28 Nov 2026 08:39:04 +0000". */
static void
rfc5322_date(char *out, size_t outsz)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* session_proto - Postfix's protocol names: ESMTPS/UTF8SMTPS once TLS
 * is on. */
static const char *
session_proto(const struct session *s)
{
	if (s->tls_active)
		return s->esmtp ? (s->mail.smtputf8 ? "UTF8SMTPS" :
		    "ESMTPS") : "SMTPS";
	return s->esmtp ? (s->mail.smtputf8 ? "UTF8SMTP" : "ESMTP") : "SMTP";
}

/*
 * write_envelope_records - a new writer on s->qfd (from offset 0) and
 * the envelope records of the transaction as the session holds it now
 * (the arrival time is taken once, at the first call).
 */
static int
write_envelope_records(struct session *s)
{
	struct queue_envelope env;
	struct smtpd_origin o;
	char sizebuf[32], helo[SMTPD_HELO_MAX_BYTES + 1];
	int ret;

	memset(&env, 0, sizeof(env));
	if (s->arrival[0] == '\0') {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(s->arrival, sizeof(s->arrival), "%lld.%06ld",
		    (long long)ts.tv_sec, ts.tv_nsec / 1000);
	}
	/* The client facts: XFORWARD's where a content filter passed them
	 * (smtpd_xclient.h).  The HELO name was checked to be printable
	 * when it was taken. */
	smtpd_xforward_origin(s, session_proto(s), &o);
	snprintf(helo, sizeof(helo), "%s", o.helo);
	env.id = s->id;
	env.arrival = s->arrival;
	env.client_name = UNCONST(o.name);
	env.client_addr = UNCONST(o.addr);
	env.helo = helo;
	env.protocol = UNCONST(o.proto);
	env.service = UNCONST(smtpd_cfg.service);
	env.sender = s->queue_sender != NULL ? s->queue_sender :
	    s->mail.from.text;
	if (s->mail.has_size) {
		snprintf(sizebuf, sizeof(sizebuf), "%llu",
		    (unsigned long long)s->mail.size);
		env.size = sizebuf;
	}
	env.body = s->mail.body == SMTP_BODY_7BIT ? UNCONST("7BIT") :
	    s->mail.body == SMTP_BODY_8BITMIME ? UNCONST("8BITMIME") :
	    s->mail.body == SMTP_BODY_BINARYMIME ? UNCONST("BINARYMIME") :
	    NULL;
	env.smtputf8 = s->mail.smtputf8;
	env.ret = s->mail.ret == SMTP_RET_FULL ? UNCONST("FULL") :
	    s->mail.ret == SMTP_RET_HDRS ? UNCONST("HDRS") : NULL;
	env.envid = s->mail.envid;
	for (size_t i = 0; i < s->nrcpts; i++) {
		char nt[40];

		queue_envelope_add_rcpt(&env, s->rcpts[i].addr,
		    s->rcpts[i].notify ? smtp_notify_text(s->rcpts[i].notify, nt,
		    sizeof(nt)) : NULL, s->rcpts[i].orcpt);
	}
	queue_writer_init(&s->qw, s->qfd);
	s->qw_open = true;
	ret = queue_writer_envelope(&s->qw, &env);
	/* Only the recipients were allocated by add_rcpt. */
	for (size_t i = 0; i < env.nrcpts; i++) {
		free(env.rcpts[i].addr);
		free(env.rcpts[i].notify);
		free(env.rcpts[i].orcpt);
	}
	free(env.rcpts);
	return ret;
}

/* write_envelope - envelope records and the Received: header. */
static int
write_envelope(struct session *s)
{
	char date[64], helo[SMTPD_HELO_MAX_BYTES + 1];
	const char *proto = session_proto(s);
	struct buf rcv;
	int ret;

	if (write_envelope_records(s) < 0)
		return -1;
	snprintf(helo, sizeof(helo), "%s", s->helo ? s->helo : "");
	/* RFC 5321 4.4: the trace header, first line of the message. */
	rfc5322_date(date, sizeof(date));
	buf_init(&rcv, 256 * 1024);
	(void)buf_appendf(&rcv, "Received: from %s (%s [%s])\r\n",
	    helo[0] ? helo : s->addr, s->name, s->addr);
	if (s->tls_active && smtpd_cfg.tls_received_header) {
		(void)buf_appendf(&rcv, "\t(using %s with cipher %s (%d/%d "
		    "bits))\r\n", s->tls_proto, s->tls_cipher, s->tls_bits,
		    s->tls_alg_bits);
		/* The names are printable ASCII without '"' (tls_ccert.c). */
		if (s->ccert != NULL)
			(void)buf_appendf(&rcv, "\t(Client CN \"%s\", Issuer "
			    "\"%s\" (%s))\r\n", s->ccert->subject,
			    s->ccert->issuer, s->ccert->trusted ? "verified OK" :
			    "not verified");
		else if (tls_server_ask_ccert(smtpd_cfg.tls))
			(void)buf_appendf(&rcv, "\t(Client did not present a "
			    "certificate)\r\n");
		else
			(void)buf_appendf(&rcv, "\t(No client certificate "
			    "requested)\r\n");
	}
	if (s->authenticated && smtpd_cfg.auth_header)
		(void)buf_appendf(&rcv, "\t(Authenticated sender: %s)\r\n",
		    s->auth_user);
	(void)buf_appendf(&rcv, "\tby %s (%s) with %s id %s",
	    smtpd_cfg.myhostname, smtpd_cfg.mail_name, proto, s->id);
	if (s->nrcpts == 1)
		(void)buf_appendf(&rcv, "\r\n\tfor <%s>", s->rcpts[0].addr);
	(void)buf_appendf(&rcv, "; %s\r\n", date);
	/* PREPEND results of access tables and policy services, after our
	 * trace header (which stays first). */
	if (s->chk != NULL) {
		char **pp = smtpd_check_actions(s)->prepend;

		for (size_t i = 0; pp != NULL && pp[i] != NULL; i++)
			(void)buf_appendf(&rcv, "%s\r\n", pp[i]);
	}
	/* hbc: through the header checks like the client's text (Postfix's
	 * smtpd sends its Received: to cleanup, whose header_checks see it);
	 * a write error shows in qw.error. */
	smtpd_data_out(s, rcv.data, rcv.len);
	ret = s->qw.error != 0 ? -1 : 0;
	if (ret < 0)
		errno = s->qw.error;
	buf_deinit(&rcv);
	return ret;
}

/* store_raw - message text as it goes into the queue file. */
static void
store_raw(void *ctx, const char *data, size_t len)
{
	struct session *s = ctx;
	char kept[4096];

	/* message_strip_characters: gone before the file and the milters
	 * see the text. */
	while (smtpd_cfg.strip_chars.any && len > sizeof(kept)) {
		store_raw(ctx, data, sizeof(kept));
		data += sizeof(kept);
		len -= sizeof(kept);
	}
	if (smtpd_cfg.strip_chars.any) {
		len = msg_chars_strip(&smtpd_cfg.strip_chars, data, len, kept);
		data = kept;
	}
	if (s->qw_open)
		(void)queue_writer_content(&s->qw, data, len);
	if (s->milter_copy)
		smtpd_milter_content(s, data, len);
}

/* store_out - the text after every other step, without the headers
 * message_drop_headers names (header_drop.h), into the file. */
static void
store_out(void *ctx, const char *data, size_t len)
{
	struct session *s = ctx;

	header_drop_feed(&s->hdrop, data, len, store_raw, s);
}

/* rewrite_out - text after the header and body checks, into the
 * header address rewriting (then the file). */
static void
rewrite_out(void *ctx, const char *data, size_t len)
{
	struct session *s = ctx;

	if (s->hdrw != NULL)
		smtpd_hdrw_feed(s->hdrw, data, len);
	else
		store_out(s, data, len);
}

void
smtpd_data_out(void *ctx, const char *data, size_t len)
{
	struct session *s = ctx;
	struct smtpd_hbc *hbc = smtpd_hbc_of(s);

	if (s->text_first && len > 0) {
		s->text_first = false;
		/* A first line that starts with white space would continue
		 * our Received: header: an empty line before it makes it the
		 * body's first, as Postfix's smtpd does. */
		if (data[0] == ' ' || data[0] == '\t')
			smtpd_data_out(s, "\r\n", 2);
	}
	if (!s->hops.done)
		hop_count_feed(&s->hops, data, len);
	if (s->bad_char < 0)
		s->bad_char = msg_chars_find(&smtpd_cfg.reject_chars, data, len);
	/* hbc: header and body checks between the reader and the file,
	 * then the header address rewriting (smtpd_hdrw.h). */
	if (hbc != NULL)
		smtpd_hbc_feed(hbc, data, len);
	else
		rewrite_out(s, data, len);
}

static void on_file(void *ctx, int fd, const char *id, const char *error);
static void on_committed(void *ctx, bool ok, const char *reason);

/*
 * bdat_fail_chunk - BDAT without a usable queue file: the chunk that
 * follows must still be read (and dropped) before the 451, so that the
 * next command is found where it is (RFC 3030 2).
 */
static void
bdat_fail_chunk(struct session *s)
{
	s->write_failed = true;
	s->bdat_drop = true;
	s->state = SS_BDAT;
}

/*
 * file_failed - no usable queue file: DATA is answered 451 now; a BDAT
 * chunk must still be read (and dropped) before its 451.  Called from
 * the queue client's callback only (then the session goes on here).
 */
static void
file_failed(struct session *s)
{
	if (s->bdat) {
		bdat_fail_chunk(s);
	} else {
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write "
		    "error");
		smtpd_transaction_reset(s);
	}
	smtpd_session_process(s);
}

/*
 * start_message - the file is here and DATA/BDAT was given: write the
 * envelope and the Received: header, then 354 (DATA) or read the chunk
 * (BDAT).  Returns false when the file could not be written (the caller
 * answers).
 */
static bool
start_message(struct session *s)
{
	clock_gettime(CLOCK_MONOTONIC, &s->data_start);
	/* smtpd_forbid_bare_newline_exclusions: normalize for them (never
	 * an end of message other than CRLF.CRLF). */
	smtp_data_reader_init(&s->dr, smtpd_cfg.message_size_limit,
	    smtpd_cfg.bare_lf == SMTP_BARE_LF_REJECT &&
	    smtpd_client_list_match(&smtpd_cfg.bare_lf_exclusions, s) ?
	    SMTP_BARE_LF_NORMALIZE : smtpd_cfg.bare_lf);
	s->dr.binary = s->mail.body == SMTP_BODY_BINARYMIME;
	hop_count_init(&s->hops);
	s->bad_char = -1;
	/* hbc: the checks see the text from the Received: header on,
	 * then the header addresses are rewritten (smtpd_hdrw.h). */
	header_drop_init(&s->hdrop, smtpd_cfg.drop_headers);
	/* The filters get the text at its end (smtpd_milter.h). */
	s->milter_copy = smtpd_milter_wants_content(s);
	smtpd_hdrw_free(&s->hdrw);
	s->hdrw = smtpd_hdrw_start(s, store_out, s);
	if (smtpd_hbc_active())
		smtpd_hbc_attach(s, smtpd_hbc_start(s, rewrite_out, s));
	if (write_envelope(s) < 0) {
		log_error("%s: cannot write the queue file: %s", s->id,
		    strerror(errno));
		return false;
	}
	s->text_first = true;	/* the client's text comes next */
	if (s->bdat) {
		s->state = SS_BDAT;
	} else {
		smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
		s->state = SS_DATA;
	}
	return true;
}

/*
 * on_file - the queue process answered NEW.  The request is made at
 * the first accepted RCPT, so the file is usually here before DATA; if
 * DATA is already waiting for it, the message starts now.
 */
static void
on_file(void *ctx, int fd, const char *id, const char *error)
{
	struct session *s = ctx;
	bool waiting = s->state == SS_WAIT_FILE;
	char who[SMTPD_LABEL_MAX], orig[SMTP_XATTR_VALUE_MAX * 3 + 64];

	if (fd < 0) {
		log_error("%s: no queue file: %s", smtpd_client_label(s, who,
		    sizeof(who)), error);
		queue_client_free(&s->qc);
		if (waiting) {
			s->paused = false;
			file_failed(s);
		}
		/* Otherwise DATA asks again. */
		return;
	}
	s->qfd = fd;
	memcpy(s->id, id, QUEUE_ID_LEN + 1);
	if (s->authenticated) {
		char user[SMTPD_AUTH_USER_MAX * 4 + 1];

		log_escape(user, sizeof(user), s->auth_user,
		    strlen(s->auth_user), SMTPD_AUTH_USER_MAX);
		log_info("%s: client=%s%s, sasl_method=%s, "
		    "sasl_username=%s", s->id, smtpd_client_label(s, who,
		    sizeof(who)), smtpd_xforward_log(s, orig, sizeof(orig)),
		    s->auth_mech, user);
	} else {
		log_info("%s: client=%s%s", s->id,
		    smtpd_client_label(s, who, sizeof(who)),
		    smtpd_xforward_log(s, orig, sizeof(orig)));
	}
	if (!waiting)
		return;
	s->paused = false;
	if (!start_message(s)) {
		file_failed(s);
		return;
	}
	smtpd_session_process(s);
}

void
smtpd_prefetch_file(struct session *s)
{
	const char *err = NULL;

	if (s->qc != NULL || s->qfd >= 0)
		return;
	s->qc = queue_client_new(smtpd_base, smtpd_cfg.queue_socket, on_file,
	    on_committed, s, &err);
	if (s->qc == NULL)
		log_debug(1, "queue file not requested yet: %s: %s", err,
		    strerror(errno));
}

/*
 * smtpd_request_file - DATA or the first BDAT: go on at once when the
 * file is here, else wait for it (pausing the session).  For DATA a
 * failure is answered at once; for BDAT the chunk that follows must be
 * read first, so the failure is only noted.
 */
bool
smtpd_request_file(struct session *s, const char *cmd)
{
	const char *err = NULL;
	char who[SMTPD_LABEL_MAX];

	if (s->qfd >= 0) {
		if (start_message(s))
			return true;
		if (s->bdat) {
			bdat_fail_chunk(s);
			return false;
		}
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write error");
		smtpd_transaction_reset(s);
		return false;
	}
	if (s->qc == NULL)
		s->qc = queue_client_new(smtpd_base, smtpd_cfg.queue_socket,
		    on_file, on_committed, s, &err);
	if (s->qc == NULL) {
		log_error("%s: %s (%s): %s; is the queue process running?",
		    smtpd_client_label(s, who, sizeof(who)), err,
		    smtpd_cfg.queue_socket, strerror(errno));
		if (s->bdat) {
			bdat_fail_chunk(s);
			return false;
		}
		smtpd_log_reject(s, cmd, "451 4.3.0 Error: queue file write "
		    "error", NULL);
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write error");
		return false;
	}
	s->state = SS_WAIT_FILE;
	s->paused = true;
	return true;
}

static void
on_committed(void *ctx, bool ok, const char *reason)
{
	struct session *s = ctx;
	char from[ADDRESS_PATH_MAX_BYTES * 4 + 8];

	s->paused = false;
	if (ok) {
		log_escape(from, sizeof(from), s->mail.from.text,
		    strlen(s->mail.from.text), ADDRESS_PATH_MAX_BYTES);
		log_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queued)", s->id,
		    from, (unsigned long long)s->qw.content_size, s->nrcpts);
		s->oks[s->bdat ? SMTP_VERB_BDAT : SMTP_VERB_DATA]++;
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->id);
		smtpd_notice_checkpoint(s);
	} else {
		log_error("%s: not queued: %s", s->id, reason);
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write error");
	}
	smtpd_transaction_reset(s);
	smtpd_session_process(s);
}

/*
 * finish_message - the end of DATA or of the LAST chunk: refuse what the
 * reader found wrong, else complete the file and ask for the commit.
 */
static void eod_checked(struct session *s,
    const struct smtpd_check_result *r);
static void complete_message(struct session *s);
static bool milter_verdict(struct session *s);
static void milter_eom_done(struct session *s, const char *reply);
static void rewrite_done(struct session *s, bool ok);
static void after_rewrite(struct session *s);

void
smtpd_finish_message(struct session *s)
{
	const char *cmd = s->bdat ? "BDAT" : "DATA";
	unsigned p = s->dr.problems;
	const char *why = NULL;
	char bare[SMTPD_REPLY_MAX_BYTES];

	if (p & SMTP_DATA_TOO_BIG)
		why = "552 5.3.4 Error: message file too big";
	else if (p & SMTP_DATA_LINE_TOO_LONG)
		why = "500 5.5.2 Error: message has a line longer than 1000 "
		    "octets (RFC 5321 4.5.3.1.6)";
	else if (p & SMTP_DATA_BARE_LF) {
		/* smtpd_forbid_bare_newline_reject_code (400-599). */
		snprintf(bare, sizeof(bare), "%d %c.5.2 Error: bare <LF> "
		    "received (only <CR><LF> ends a line; RFC 5321 2.3.8)",
		    smtpd_cfg.bare_lf_code,
		    smtpd_cfg.bare_lf_code < 500 ? '4' : '5');
		why = bare;
	}
	else if (p & SMTP_DATA_NUL)
		why = "550 5.6.0 Error: message contains a NUL byte";
	else if (s->bad_char >= 0) {
		log_info("%s: the message contains the byte \\%03o, one of "
		    "message_reject_characters", s->id, (unsigned)s->bad_char);
		why = "550 5.7.1 Error: message content rejected";
	}
	else if ((long long)s->hops.received > smtpd_cfg.hopcount_limit) {
		/* Ours, first in the text, counts too (Postfix counts what
		 * reaches its cleanup). */
		log_warning("%s: %u Received: headers (ours included) are "
		    "more than hopcount_limit (%lld): the message is probably "
		    "in a mail loop; look at its Received: headers for the "
		    "servers that pass it back and forth", s->id,
		    s->hops.received, smtpd_cfg.hopcount_limit);
		why = "554 5.4.0 Error: too many hops";
	}
	else if (s->write_failed)
		why = "451 4.3.0 Error: queue file write error";
	else if (smtpd_cfg.always_bcc_err != NULL) {
		log_error("%s: %s", s->id, smtpd_cfg.always_bcc_err);
		why = "451 4.3.5 Error: server configuration problem";
	}
	if (why != NULL) {
		smtpd_log_reject(s, cmd, why, NULL);
		smtpd_reply_error(s, "%s", why);
		smtpd_transaction_reset(s);
		return;
	}
	/* ---- hbc: header/body checks decide (smtpd_hbc.h) ---- */
	if (smtpd_hbc_of(s) != NULL) {
		char reply[SMTPD_REPLY_MAX_BYTES];

		switch (smtpd_hbc_finish(smtpd_hbc_of(s), reply,
		    sizeof(reply))) {
		case SMTPD_HBC_REFUSE:
			smtpd_reply_error(s, "%s", reply);
			smtpd_transaction_reset(s);
			return;
		case SMTPD_HBC_DISCARD:
			/* Claim delivery; the uncommitted file is dropped
			 * by the queue process with the connection. */
			s->oks[s->bdat ? SMTP_VERB_BDAT : SMTP_VERB_DATA]++;
			smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->id);
			smtpd_notice_checkpoint(s);
			smtpd_transaction_reset(s);
			return;
		case SMTPD_HBC_QUEUE:
			break;	/* its HOLD/FILTER/... go in the trailer */
		}
		if (s->qw.error != 0) {
			/* The flush at the end could not be written. */
			log_error("%s: cannot write the queue file: %s", s->id,
			    strerror(s->qw.error));
			smtpd_reply_error(s, "451 4.3.0 Error: queue file "
			    "write error");
			smtpd_transaction_reset(s);
			return;
		}
	}
	/* ---- end hbc ---- */
	if (s->hdrw != NULL) {
		switch (smtpd_hdrw_finish(s->hdrw, rewrite_done)) {
		case -1:
			/* Answers awaited: rewrite_done goes on. */
			s->state = SS_WAIT_COMMIT;
			return;
		case 0:
			rewrite_done(s, false);
			return;
		default:
			break;
		}
	}
	after_rewrite(s);
}

/*
 * rewrite_done - the header addresses are rewritten (ok), or a lookup
 * failed: 451, nothing queued.  From smtpd_finish_message or, after a
 * wait, from the event loop (then the session goes on here).
 */
static void
rewrite_done(struct session *s, bool ok)
{
	bool waited = s->state == SS_WAIT_COMMIT;

	if (!ok) {
		const char *why = "451 4.3.0 Error: temporary lookup failure";

		smtpd_log_reject(s, s->bdat ? "BDAT" : "DATA", why, NULL);
		smtpd_reply_error(s, "%s", why);
		smtpd_transaction_reset(s);
	} else if (s->qw.error != 0) {
		log_error("%s: cannot write the queue file: %s", s->id,
		    strerror(s->qw.error));
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write "
		    "error");
		smtpd_transaction_reset(s);
	} else {
		after_rewrite(s);
	}
	if (waited && s->state != SS_WAIT_COMMIT)
		smtpd_session_process(s);
}

/* after_rewrite - smtpd_end_of_data_restrictions, then the commit. */
static void
after_rewrite(struct session *s)
{
	if (smtpd_check_wanted(s, SMTPD_CHECK_EOD)) {
		/* smtpd_end_of_data_restrictions, then the commit. */
		s->state = SS_WAIT_COMMIT;
		smtpd_check_start(s, SMTPD_CHECK_EOD, NULL, eod_checked);
		return;
	}
	complete_message(s);
}

static void
eod_checked(struct session *s, const struct smtpd_check_result *r)
{
	if (r->reject) {
		smtpd_log_reject(s, s->bdat ? "BDAT" : "DATA", r->reply, NULL);
		smtpd_reply_error(s, "%s", r->reply);
		smtpd_transaction_reset(s);
		return;
	}
	complete_message(s);
}

/*
 * milter_rewrite - the queue file again from its start: the envelope as
 * the filters left it, then content.  0, or -1 (logged).
 */
static int
milter_rewrite(struct session *s, const struct buf *content)
{
	queue_writer_deinit(&s->qw);
	s->qw_open = false;
	if (lseek(s->qfd, 0, SEEK_SET) < 0 ||
	    write_envelope_records(s) < 0 ||
	    (content->len > 0 && queue_writer_content(&s->qw, content->data,
	    content->len) < 0)) {
		log_error("%s: cannot rewrite the queue file with the filters' "
		    "changes: %s", s->id, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * milter_verdict - after the filters: a discarded message is answered
 * 250 and dropped; a changed one is written again.  False when the
 * transaction is over (answered here).
 */
static bool
milter_verdict(struct session *s)
{
	const struct buf *nc;

	if (smtpd_milter_discarded(s) || (s->nrcpts == 0 &&
	    smtpd_milter_envelope_changed(s))) {
		if (s->nrcpts == 0 && !smtpd_milter_discarded(s))
			log_info("%s: discard: the filters removed every "
			    "recipient (not queued)", s->id);
		else
			log_info("%s: discard: by a filter (not queued)", s->id);
		s->oks[s->bdat ? SMTP_VERB_BDAT : SMTP_VERB_DATA]++;
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->id);
		smtpd_notice_checkpoint(s);
		smtpd_transaction_reset(s);
		return false;
	}
	nc = smtpd_milter_new_content(s);
	if (nc != NULL && milter_rewrite(s, nc) < 0) {
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write error");
		smtpd_transaction_reset(s);
		return false;
	}
	return true;
}

/* milter_eom_done - the filters' answer to the message. */
static void
milter_eom_done(struct session *s, const char *reply)
{
	if (reply != NULL) {
		smtpd_log_reject(s, s->bdat ? "BDAT" : "DATA", reply, NULL);
		smtpd_reply_error(s, "%s", reply);
		smtpd_transaction_reset(s);
		return;
	}
	if (!milter_verdict(s))
		return;
	complete_message(s);
}

/*
 * complete_message - what the access policy decided (DISCARD, or the
 * trailer: content filter, HOLD, REDIRECT, BCC; the header and body
 * checks' own win where both set one), then the end record and the
 * commit.
 */
static void
complete_message(struct session *s)
{
	struct smtpd_check_actions *a = s->chk != NULL ?
	    smtpd_check_actions(s) : NULL;
	struct queue_envelope env;

	if (a != NULL && a->discard) {
		char from[ADDRESS_PATH_MAX_BYTES * 4 + 8];

		log_escape(from, sizeof(from), s->mail.from.text,
		    strlen(s->mail.from.text), ADDRESS_PATH_MAX_BYTES);
		log_info("%s: discard: %s; from=<%s>, nrcpt=%zu (not queued)",
		    s->id, a->discard_reason != NULL ? a->discard_reason :
		    "DISCARD", from, s->nrcpts);
		s->oks[s->bdat ? SMTP_VERB_BDAT : SMTP_VERB_DATA]++;
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->id);
		smtpd_notice_checkpoint(s);
		smtpd_transaction_reset(s);
		return;
	}
	if (!s->milter_done) {
		/* What message_drop_headers still held (a last line that
		 * ended in a header name). */
		header_drop_finish(&s->hdrop, store_raw, s);
		if (s->hdrop.dropped > 0)
			log_debug(1, "%s: removed %u header%s named in "
			    "message_drop_headers", s->id, s->hdrop.dropped,
			    s->hdrop.dropped == 1 ? "" : "s");
		/* The filters (smtpd_milter.h), then this again. */
		s->milter_done = true;
		if (smtpd_milter_eom(s, milter_eom_done)) {
			s->state = SS_WAIT_COMMIT;
			return;
		}
		if (!milter_verdict(s))
			return;
	}
	memset(&env, 0, sizeof(env));
	if (a != NULL) {
		env.filter = a->filter != NULL ? xstrdup(a->filter) : NULL;
		env.hold = a->hold != NULL ? xstrdup(a->hold) : NULL;
		env.redirect = a->redirect != NULL ? xstrdup(a->redirect) :
		    NULL;
		for (size_t i = 0; a->bcc != NULL && a->bcc[i] != NULL; i++)
			queue_envelope_add_bcc(&env, a->bcc[i]);
	}
	if (smtpd_cfg.always_bcc != NULL)
		queue_envelope_add_bcc(&env, smtpd_cfg.always_bcc);
	if (smtpd_hbc_of(s) != NULL)
		smtpd_hbc_trailer(smtpd_hbc_of(s), &env);
	if (env.hold == NULL && smtpd_milter_hold(s) != NULL)
		env.hold = xstrdup(smtpd_milter_hold(s));
	if (env.filter != NULL || env.hold != NULL || env.redirect != NULL ||
	    env.nbccs > 0) {
		if (env.hold != NULL)
			log_info("%s: hold: %s", s->id, env.hold);
		if (env.filter != NULL)
			log_info("%s: filter: %s", s->id, env.filter);
		if (env.redirect != NULL)
			log_info("%s: redirect: %s", s->id, env.redirect);
		if (queue_writer_trailer(&s->qw, &env) < 0) {
			log_error("%s: cannot write the queue file trailer: %s",
			    s->id, strerror(errno));
			queue_envelope_deinit(&env);
			smtpd_reply_error(s, "451 4.3.0 Error: queue file "
			    "write error");
			smtpd_transaction_reset(s);
			return;
		}
	}
	queue_envelope_deinit(&env);
	if (queue_writer_finish(&s->qw) < 0) {
		log_error("%s: cannot complete the queue file: %s", s->id,
		    strerror(errno));
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write error");
		smtpd_transaction_reset(s);
		return;
	}
	/* Written: smtpd keeps no descriptor of a file it no longer
	 * writes (the queue process reuses files: queue_spare.h). */
	close(s->qfd);
	s->qfd = -1;
	if (queue_client_commit(s->qc) < 0) {
		log_error("%s: cannot commit the message: %s", s->id,
		    queue_client_error(s->qc));
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write error");
		smtpd_transaction_reset(s);
		return;
	}
	s->state = SS_WAIT_COMMIT;
	s->paused = true;
}

