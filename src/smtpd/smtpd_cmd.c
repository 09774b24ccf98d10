/* SPDX-License-Identifier: MIT */
/*
 * smtpd_cmd - the SMTP server's commands (RFC 5321 4.1.1, RFC 1870,
 * RFC 2920, RFC 3030, RFC 3461, RFC 6531): state checks first, then the
 * action, with Postfix's reply texts and enhanced status codes (RFC
 * 3463).  Runs in smtpd as mail_owner.
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
#include "smtpd_check.h"
#include "smtpd_ehlo.h"
#include "smtpd_milter.h"
#include "smtpd_limit.h"
#include "smtpd_notice.h"
#include "smtpd_screen.h"
#include "smtpd_session.h"
#include "smtpd_xclient.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* ---------------------------------------------------------------- */
/* Commands                                                         */

static bool
helo_is_printable(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
			return false;
	return n > 0;
}

/* starttls_offered - STARTTLS is on, not on a wrapper port, not yet. */
static bool
starttls_offered(const struct session *s)
{
	return smtpd_cfg.tls != NULL && !s->tls_active &&
	    !tls_server_wrapper(smtpd_cfg.tls) &&
	    tls_server_level(smtpd_cfg.tls) != TLS_LEVEL_NONE;
}

/*
 * cmd_starttls - RFC 3207.  Input the client sent after the command,
 * before our 220, would be read as if it came over TLS: an injection
 * (CVE-2011-0411).  It is logged and thrown away.
 */
static void starttls_limited(struct session *s, const char *refusal);
static void starttls_go(struct session *s);

static void
cmd_starttls(struct session *s, const struct smtp_command *c)
{
	if (!starttls_offered(s)) {
		smtpd_reply_error(s, s->tls_active ?
		    "554 5.5.1 Error: TLS already active" :
		    "502 5.5.1 Error: command not implemented");
		return;
	}
	if (c->args_len > 0) {
		smtpd_reply_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (smtpd_limit_wanted(s, LOOKUP_ANVIL_NEWTLS_STAT)) {
		smtpd_limit_check(s, LOOKUP_ANVIL_NEWTLS_STAT, starttls_limited);
		return;
	}
	starttls_go(s);
}

/* starttls_limited - the new TLS session rate limit's verdict. */
static void
starttls_limited(struct session *s, const char *refusal)
{
	if (refusal != NULL) {
		smtpd_reply(s, "%s", refusal);
		s->state = SS_QUIT;
	} else {
		starttls_go(s);
	}
	smtpd_session_process(s);
}

/* starttls_go - the 220, once nothing stands in the way. */
static void
starttls_go(struct session *s)
{
	size_t pending;
	char who[SMTPD_LABEL_MAX];

	pending = evbuffer_get_length(bufferevent_get_input(s->bev)) +
	    smtp_line_reader_pending(&s->lr);
	if (pending > 0) {
		log_warning("%s sent %zu byte%s after STARTTLS before the TLS "
		    "handshake: discarded (a command injection attempt, "
		    "CVE-2011-0411, or a broken client)",
		    smtpd_client_label(s, who, sizeof(who)), pending,
		    pending == 1 ? "" : "s");
		evbuffer_drain(bufferevent_get_input(s->bev), pending);
		smtp_line_reader_deinit(&s->lr);
		smtp_line_reader_init(&s->lr, smtpd_cfg.line_max);
	}
	s->oks[SMTP_VERB_STARTTLS]++;
	smtpd_reply(s, "220 2.0.0 Ready to start TLS");
	/* No more reading; the handshake starts once the 220 is out. */
	smtpd_read_enable(s, false);
	s->state = SS_STARTTLS;
}

static void helo_reply(struct session *s);
static void helo_accepted(struct session *s);
static void helo_checked(struct session *s,
    const struct smtpd_check_result *r);

static void
cmd_helo(struct session *s, const struct smtp_command *c, bool esmtp)
{
	const char *arg = c->args;
	size_t n = c->args_len;

	while (n > 0 && arg[n - 1] == ' ')
		n--;
	if (n == 0 || n > SMTPD_HELO_MAX_BYTES || !helo_is_printable(arg, n)) {
		smtpd_reply_error(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	free(s->helo);
	s->helo = xstrndup(arg, n);
	s->esmtp = esmtp;
	/* RFC 5321 4.1.4: HELO/EHLO ends any transaction. */
	smtpd_transaction_reset(s);
	s->state = SS_READY;
	if (smtpd_check_wanted(s, SMTPD_CHECK_HELO)) {
		smtpd_check_start(s, SMTPD_CHECK_HELO, NULL, helo_checked);
		return;
	}
	helo_accepted(s);
}

/* helo_refuse - the HELO name is not taken. */
static void
helo_refuse(struct session *s, const char *reply)
{
	smtpd_log_reject(s, s->esmtp ? "EHLO" : "HELO", reply, NULL);
	free(s->helo);
	s->helo = NULL;
	s->state = SS_CONNECTED;
	smtpd_reply_error(s, "%s", reply);
}

/* helo_filtered - the filters' answer to HELO (smtpd_milter.h). */
static void
helo_filtered(struct session *s, const char *reply)
{
	if (reply != NULL)
		helo_refuse(s, reply);
	else
		helo_reply(s);
}

/* helo_accepted - the restrictions passed: the filters, then 250. */
static void
helo_accepted(struct session *s)
{
	if (smtpd_milter_helo(s, helo_filtered))
		return;
	helo_reply(s);
}

/* helo_checked - smtpd_helo_restrictions (smtpd_delay_reject = no). */
static void
helo_checked(struct session *s, const struct smtpd_check_result *r)
{
	if (r->reject) {
		helo_refuse(s, r->reply);
		return;
	}
	helo_accepted(s);
}

static void helo_reply_now(struct session *s);

/* ehlo_known - smtpd_discard_ehlo_keyword_address_maps answered. */
static void
ehlo_known(struct session *s, const char *refusal)
{
	if (refusal != NULL)
		helo_refuse(s, refusal);
	else
		helo_reply_now(s);
	smtpd_session_process(s);
}

/* helo_reply - 250 and, for EHLO, the extensions on offer (once the
 * keywords this client is not offered are known). */
static void
helo_reply(struct session *s)
{
	if (s->esmtp && smtpd_ehlo_lookup(s, ehlo_known))
		return;
	helo_reply_now(s);
}

static void
helo_reply_now(struct session *s)
{
	bool esmtp = s->esmtp;
	unsigned discard = smtpd_ehlo_discard(s), exts = smtpd_ehlo_exts(s);

	s->oks[esmtp ? SMTP_VERB_EHLO : SMTP_VERB_HELO]++;
	if (!esmtp) {
		smtpd_reply(s, "250 %s", smtpd_cfg.myhostname);
		return;
	}
	if ((discard & ~(unsigned)EHLO_D_SILENT) != 0 &&
	    !(discard & EHLO_D_SILENT)) {
		char who[SMTPD_LABEL_MAX], words[256];

		log_info("%s: discarding EHLO keywords: %s",
		    smtpd_client_label(s, who, sizeof(who)),
		    smtpd_ehlo_mask_text(discard, words, sizeof(words)));
	}
	smtpd_reply(s, "250-%s", smtpd_cfg.myhostname);
	if (!(discard & EHLO_D_PIPELINING))
		smtpd_reply(s, "250-PIPELINING");
	if (exts & SMTP_EXT_SIZE) {
		if (smtpd_cfg.message_size_limit > 0)
			smtpd_reply(s, "250-SIZE %llu",
			    (unsigned long long)smtpd_cfg.message_size_limit);
		else
			smtpd_reply(s, "250-SIZE");
	}
	if (smtpd_cfg.vrfy_advertised && !(discard & EHLO_D_VRFY))
		smtpd_reply(s, "250-VRFY");
	if (!(discard & EHLO_D_ENHANCED))
		smtpd_reply(s, "250-ENHANCEDSTATUSCODES");
	if (exts & SMTP_EXT_8BITMIME)
		smtpd_reply(s, "250-8BITMIME");
	if (exts & SMTP_EXT_DSN)
		smtpd_reply(s, "250-DSN");
	if (exts & SMTP_EXT_SMTPUTF8)
		smtpd_reply(s, "250-SMTPUTF8");
	if (exts & SMTP_EXT_CHUNKING)
		smtpd_reply(s, "250-CHUNKING");
	if (starttls_offered(s) && !(discard & EHLO_D_STARTTLS))
		smtpd_reply(s, "250-STARTTLS");
	if (!(discard & EHLO_D_AUTH)) {
		char mechs[512];

		/* smtpd_sasl_exceptions_networks: not offered to them (for
		 * clients that break on AUTH); AUTH itself still works, as
		 * in Postfix. */
		if (*smtpd_auth_mechs(s, mechs, sizeof(mechs)) != '\0' &&
		    !smtpd_client_list_match(&smtpd_cfg.sasl_exceptions, s)) {
			smtpd_reply(s, "250-AUTH %s", mechs);
			/* Old Outlook Express / Microsoft clients. */
			if (smtpd_cfg.broken_auth_clients)
				smtpd_reply(s, "250-AUTH=%s", mechs);
		}
	}
	if (smtpd_xclient_offered(s) && !(discard & EHLO_D_XCLIENT))
		smtpd_reply(s, "250-%s", smtp_xattr_keywords(SMTP_XCLIENT));
	if (smtpd_xforward_offered(s) && !(discard & EHLO_D_XFORWARD))
		smtpd_reply(s, "250-%s", smtp_xattr_keywords(SMTP_XFORWARD));
	smtpd_reply(s, "250 HELP");
}

/*
 * queue_has_room - Postfix's rule: free space in the queue file system
 * must be at least queue_minfree (default: 1.5 x message_size_limit)
 * plus the size the client announced.
 */
bool
smtpd_queue_has_room(uint64_t need)
{
	struct statvfs sv;
	uint64_t avail, minfree = smtpd_cfg.queue_minfree;

	if (minfree == 0 && smtpd_cfg.message_size_limit > 0)
		minfree = smtpd_cfg.message_size_limit / 2 > UINT64_MAX -
		    smtpd_cfg.message_size_limit ? UINT64_MAX :
		    smtpd_cfg.message_size_limit + smtpd_cfg.message_size_limit / 2;
	static time_t checked_at;	/* the free space, read at most */
	static uint64_t avail_then;	/* once a second */
	time_t now = time(NULL);

	if (minfree == 0 && need == 0)
		return true;
	if (checked_at != now) {
		if (statvfs(".", &sv) < 0)
			return true;	/* cannot tell: the write will say */
		avail_then = (uint64_t)sv.f_bavail * sv.f_frsize;
		checked_at = now;
	}
	avail = avail_then;
	/* Written so that no sum can wrap around. */
	return avail >= minfree && avail - minfree >= need;
}

static void mail_counted(struct session *s);

/* mail_refuse_parsed - refuse a MAIL FROM whose arguments were parsed
 * into s->mail (forgotten now) with text, logged. */
static void
mail_refuse_parsed(struct session *s, const char *text)
{
	smtp_mail_args_deinit(&s->mail);
	memset(&s->mail, 0, sizeof(s->mail));
	smtpd_log_reject(s, "MAIL", text, NULL);
	smtpd_reply_error(s, "%s", text);
}
static void mail_limited(struct session *s, const char *refusal);

static void
cmd_mail(struct session *s, const struct smtp_command *c)
{
	const char *err = NULL;
	enum smtp_arg_error e;
	unsigned aflags = smtpd_cfg.strict_envelopes ? ADDRESS_STRICT : 0;
	char text[SMTPD_REPLY_MAX_BYTES];

	if (smtpd_cfg.helo_required && s->state == SS_CONNECTED) {
		snprintf(text, sizeof(text), "503 5.5.1 Error: send HELO/EHLO "
		    "first");
		smtpd_log_reject(s, "MAIL", text, NULL);
		smtpd_reply_error(s, "%s", text);
		return;
	}
	if (s->have_mail) {
		smtpd_reply_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (!s->tls_active &&
	    tls_server_level(smtpd_cfg.tls) == TLS_LEVEL_ENCRYPT) {
		snprintf(text, sizeof(text), "530 5.7.0 Must issue a STARTTLS "
		    "command first");
		smtpd_log_reject(s, "MAIL", text, NULL);
		smtpd_reply_error(s, "%s", text);
		return;
	}
	e = smtp_mail_args_parse(c->args, c->args_len, s->esmtp ?
	    smtpd_ehlo_exts(s) : 0,
	    aflags, &s->mail, &err);
	if (e != SMTP_ARG_OK) {
		const char *code = e == SMTP_ARG_UNKNOWN_PARAM ?
		    "555 5.5.4" : e == SMTP_ARG_UTF8 ? "553 5.6.7" :
		    e == SMTP_ARG_BAD_ADDRESS ? "501 5.1.7" : "501 5.5.4";

		smtp_mail_args_deinit(&s->mail);
		memset(&s->mail, 0, sizeof(s->mail));
		snprintf(text, sizeof(text), "%s %s: %s", code,
		    e == SMTP_ARG_BAD_ADDRESS || e == SMTP_ARG_UTF8 ?
		    "Bad sender address syntax" : "Bad MAIL command", err);
		smtpd_log_reject(s, "MAIL", text, NULL);
		smtpd_reply_error(s, "%s", text);
		return;
	}
	/* allow_min_user = no: "-x" would look like an option to a command
	 * that gets the address (a pipe service, sendmail). */
	if (!smtpd_cfg.allow_min_user && s->mail.from.text[0] == '-') {
		mail_refuse_parsed(s, "501 5.1.7 Bad sender address syntax: "
		    "an address must not begin with '-'");
		return;
	}
	if (smtpd_cfg.message_size_limit > 0 && s->mail.has_size &&
	    s->mail.size > smtpd_cfg.message_size_limit) {
		mail_refuse_parsed(s, "552 5.3.4 Message size exceeds fixed "
		    "limit");
		return;
	}
	if (!smtpd_queue_has_room(s->mail.has_size ? s->mail.size : 0)) {
		log_warning("not enough free space in %s (queue_minfree)",
		    smtpd_cfg.queue_directory);
		mail_refuse_parsed(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	/* smtpd_client_message_rate_limit, before the restrictions. */
	if (smtpd_limit_wanted(s, LOOKUP_ANVIL_MESSAGE)) {
		smtpd_limit_check(s, LOOKUP_ANVIL_MESSAGE, mail_limited);
		return;
	}
	mail_counted(s);
}

/* mail_counted - MAIL FROM within the rate limit. */
static void
mail_counted(struct session *s)
{
	/* Sender ownership (smtpd_sender_login_maps) may need a lookup;
	 * it ends in smtpd_mail_accept() or smtpd_mail_refuse(). */
	if (smtpd_sender_check_start(s))
		return;
	smtpd_mail_accept(s);
}

static void
mail_limited(struct session *s, const char *refusal)
{
	if (refusal != NULL)
		smtpd_mail_refuse(s, refusal);
	else
		mail_counted(s);
	smtpd_session_process(s);
}

static void mail_filter(struct session *s);

/* mail_ok - 250, after the sender's canonical mapping and BCC. */
static void
mail_rewritten(struct session *s, bool ok, const char *address,
    const char *bcc, const char *reply)
{
	if (!ok) {
		smtpd_mail_refuse(s, reply);
		return;
	}
	free(s->queue_sender);
	s->queue_sender = xstrdup(address);
	if (bcc != NULL) {
		struct smtpd_check_actions *a = smtpd_check_actions(s);

		a->bcc = strv_append(a->bcc, bcc);
	}
	mail_filter(s);
}

/* mail_filtered - the filters' answer to MAIL (smtpd_milter.h). */
static void
mail_filtered(struct session *s, const char *reply)
{
	if (reply != NULL) {
		smtpd_mail_refuse(s, reply);
		return;
	}
	s->oks[SMTP_VERB_MAIL]++;
	smtpd_reply(s, "250 2.1.0 Ok");
}

/* mail_filter - the filters, then 250. */
static void
mail_filter(struct session *s)
{
	if (smtpd_milter_mail(s, mail_filtered))
		return;
	mail_filtered(s, NULL);
}

static void
mail_ok(struct session *s)
{
	if (s->mail.from.text[0] != '\0' && smtpd_check_rewrite_wanted(true)) {
		smtpd_check_rewrite(s, true, s->mail.from.text, mail_rewritten);
		return;
	}
	mail_filter(s);
}

static void
mail_checked(struct session *s, const struct smtpd_check_result *r)
{
	if (r->reject) {
		smtpd_mail_refuse(s, r->reply);
		return;
	}
	mail_ok(s);
}

void
smtpd_mail_accept(struct session *s)
{
	static unsigned long long instances;
	static unsigned long pid;	/* smtpd does not fork */

	if (pid == 0)
		pid = (unsigned long)getpid();
	s->have_mail = true;
	s->state = SS_MAIL;
	/* The policy protocol's "instance": one per transaction. */
	snprintf(s->instance, sizeof(s->instance), "%lx.%llx", pid,
	    ++instances);
	smtpd_check_reset_actions(s);
	if (smtpd_check_wanted(s, SMTPD_CHECK_MAIL)) {
		smtpd_check_start(s, SMTPD_CHECK_MAIL, NULL, mail_checked);
		return;
	}
	mail_ok(s);
}

void
smtpd_mail_refuse(struct session *s, const char *text)
{
	s->state = s->helo != NULL ? SS_READY : SS_CONNECTED;
	s->have_mail = true;	/* for the log line's from=<> */
	smtpd_log_reject(s, "MAIL", text, NULL);
	s->have_mail = false;
	smtp_mail_args_deinit(&s->mail);
	memset(&s->mail, 0, sizeof(s->mail));
	smtpd_reply_error(s, "%s", text);
}

static void rcpt_checked(struct session *s,
    const struct smtpd_check_result *r);
static void rcpt_limited(struct session *s, const char *refusal);

static void
cmd_rcpt(struct session *s, const struct smtp_command *c)
{
	struct smtp_rcpt_args ra;
	const char *err = NULL;
	enum smtp_arg_error e;
	unsigned aflags = ADDRESS_POSTMASTER_OK |
	    (smtpd_cfg.strict_envelopes ? ADDRESS_STRICT : 0) |
	    (s->mail.smtputf8 ? ADDRESS_SMTPUTF8 : 0);
	char text[SMTPD_REPLY_MAX_BYTES];

	if (!s->have_mail) {
		smtpd_reply_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	memset(&ra, 0, sizeof(ra));
	e = smtp_rcpt_args_parse(c->args, c->args_len, s->esmtp ?
	    smtpd_ehlo_exts(s) : 0,
	    aflags, &ra, &err);
	if (e != SMTP_ARG_OK) {
		const char *code = e == SMTP_ARG_UNKNOWN_PARAM ?
		    "555 5.5.4" : e == SMTP_ARG_UTF8 ? "553 5.6.7" :
		    e == SMTP_ARG_BAD_ADDRESS ? "501 5.1.3" : "501 5.5.4";

		smtp_rcpt_args_deinit(&ra);
		snprintf(text, sizeof(text), "%s %s: %s", code,
		    e == SMTP_ARG_BAD_ADDRESS || e == SMTP_ARG_UTF8 ?
		    "Bad recipient address syntax" : "Bad RCPT command", err);
		smtpd_log_reject(s, "RCPT", text, NULL);
		smtpd_reply_error(s, "%s", text);
		return;
	}
	if (!smtpd_cfg.allow_min_user && ra.to.text[0] == '-') {
		snprintf(text, sizeof(text), "501 5.1.3 Bad recipient address "
		    "syntax: an address must not begin with '-'");
		smtpd_log_reject(s, "RCPT", text, ra.to.text);
		smtp_rcpt_args_deinit(&ra);
		smtpd_reply_error(s, "%s", text);
		return;
	}
	if (s->nrcpts >= (size_t)smtpd_cfg.recipient_limit) {
		snprintf(text, sizeof(text), "452 4.5.3 Error: too many "
		    "recipients");
		smtpd_log_reject(s, "RCPT", text, ra.to.text);
		smtp_rcpt_args_deinit(&ra);
		smtpd_reply(s, "%s", text);	/* RFC 5321 4.5.3.1.10: not an error */
		return;
	}
	/* postscreen's enforce: the client failed a test before the
	 * greeting (smtpd_screen.h). */
	if (s->screen_reply != NULL) {
		smtpd_log_reject(s, "RCPT", s->screen_reply, ra.to.text);
		smtp_rcpt_args_deinit(&ra);
		smtpd_reply_error(s, "%s", s->screen_reply);
		return;
	}
	/* Held while the restrictions run. */
	smtpd_rcpt_pending_clear(s);
	s->pending_rcpt.addr = xstrdup(ra.to.text);
	s->pending_rcpt.notify = ra.notify;
	s->pending_rcpt.orcpt = ra.orcpt != NULL ? xstrdup(ra.orcpt) : NULL;
	smtp_rcpt_args_deinit(&ra);
	/* smtpd_client_recipient_rate_limit, before the restrictions. */
	if (smtpd_limit_wanted(s, LOOKUP_ANVIL_RCPT)) {
		smtpd_limit_check(s, LOOKUP_ANVIL_RCPT, rcpt_limited);
		return;
	}
	smtpd_check_start(s, SMTPD_CHECK_RCPT, s->pending_rcpt.addr,
	    rcpt_checked);
}

static void
rcpt_limited(struct session *s, const char *refusal)
{
	if (refusal != NULL) {
		smtpd_log_reject(s, "RCPT", refusal, s->pending_rcpt.addr);
		smtpd_rcpt_pending_clear(s);
		(void)smtpd_reply_error(s, "%s", refusal);
	} else {
		smtpd_check_start(s, SMTPD_CHECK_RCPT, s->pending_rcpt.addr,
		    rcpt_checked);
	}
	smtpd_session_process(s);
}

void
smtpd_rcpt_pending_clear(struct session *s)
{
	free(s->pending_rcpt.addr);
	free(s->pending_rcpt.orcpt);
	memset(&s->pending_rcpt, 0, sizeof(s->pending_rcpt));
}

static void rcpt_add(struct session *s);

/* rcpt_rewritten - the recipient to queue (canonical maps) and its
 * automatic BCC. */
static void
rcpt_rewritten(struct session *s, bool ok, const char *address,
    const char *bcc, const char *reply)
{
	if (!ok) {
		smtpd_log_reject(s, "RCPT", reply, s->pending_rcpt.addr);
		smtpd_rcpt_pending_clear(s);
		smtpd_reply_error(s, "%s", reply);
		return;
	}
	free(s->pending_rcpt.addr);
	s->pending_rcpt.addr = xstrdup(address);
	if (bcc != NULL) {
		struct smtpd_check_actions *a = smtpd_check_actions(s);

		a->bcc = strv_append(a->bcc, bcc);
	}
	rcpt_add(s);
}

static void
rcpt_checked(struct session *s, const struct smtpd_check_result *r)
{
	if (r->reject) {
		smtpd_log_reject(s, "RCPT", r->reply, s->pending_rcpt.addr);
		smtpd_rcpt_pending_clear(s);
		smtpd_reply_error(s, "%s", r->reply);
		return;
	}
	if (smtpd_check_rewrite_wanted(false)) {
		smtpd_check_rewrite(s, false, s->pending_rcpt.addr,
		    rcpt_rewritten);
		return;
	}
	rcpt_add(s);
}

static void rcpt_join(struct session *s);

/* rcpt_filtered - the filters' answer to RCPT (smtpd_milter.h). */
static void
rcpt_filtered(struct session *s, const char *reply)
{
	if (reply != NULL) {
		smtpd_log_reject(s, "RCPT", reply, s->pending_rcpt.addr);
		smtpd_rcpt_pending_clear(s);
		smtpd_reply_error(s, "%s", reply);
		return;
	}
	rcpt_join(s);
}

/* rcpt_add - the restrictions passed: the filters, then 250. */
static void
rcpt_add(struct session *s)
{
	if (smtpd_milter_rcpt(s, s->pending_rcpt.addr, rcpt_filtered))
		return;
	rcpt_join(s);
}

/* rcpt_join - the pending recipient joins the transaction: 250. */
static void
rcpt_join(struct session *s)
{
	if (s->nrcpts == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap == 0 ? 4 : s->rcpt_cap * 2;
		s->rcpts = xreallocarray(s->rcpts, s->rcpt_cap,
		    sizeof(*s->rcpts));
	}
	s->rcpts[s->nrcpts] = s->pending_rcpt;
	memset(&s->pending_rcpt, 0, sizeof(s->pending_rcpt));
	s->nrcpts++;
	s->state = SS_RCPT;
	s->oks[SMTP_VERB_RCPT]++;
	smtpd_reply(s, "250 2.1.5 Ok");
	/* Have the queue file ready by the time DATA comes. */
	if (s->nrcpts == 1)
		smtpd_prefetch_file(s);
}

static void data_checked(struct session *s,
    const struct smtpd_check_result *r);

static void
cmd_data(struct session *s, const struct smtp_command *c)
{
	if (c->args_len > 0) {
		smtpd_reply_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->have_mail) {
		smtpd_reply_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		smtpd_reply_error(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (s->bdat) {
		smtpd_reply_error(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	if (s->mail.body == SMTP_BODY_BINARYMIME) {
		/* RFC 3030 3: BINARYMIME needs BDAT. */
		smtpd_reply_error(s, "503 5.5.1 Error: BODY=BINARYMIME requires "
		    "BDAT");
		return;
	}
	if (smtpd_check_wanted(s, SMTPD_CHECK_DATA)) {
		smtpd_check_start(s, SMTPD_CHECK_DATA, NULL, data_checked);
		return;
	}
	smtpd_request_file(s, "DATA");
}

static void
data_checked(struct session *s, const struct smtpd_check_result *r)
{
	if (r->reject) {
		smtpd_log_reject(s, "DATA", r->reply, NULL);
		smtpd_reply_error(s, "%s", r->reply);
		return;
	}
	smtpd_request_file(s, "DATA");
}

/*
 * cmd_bdat - "BDAT size [LAST]".  Whatever the outcome, exactly size
 * octets follow the command and are read (and dropped on error), so the
 * next command is found where it is (RFC 3030 2).
 */
static void
cmd_bdat(struct session *s, const struct smtp_command *c)
{
	char arg[64], *sp;
	const char *err = NULL;
	long long n;

	if (c->args_len == 0 || c->args_len >= sizeof(arg)) {
		smtpd_reply_error(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
		s->state = SS_QUIT;	/* cannot know where the data ends */
		return;
	}
	memcpy(arg, c->args, c->args_len);
	arg[c->args_len] = '\0';
	sp = strchr(arg, ' ');
	s->bdat_last = false;
	if (sp != NULL) {
		*sp = '\0';
		if (strcasecmp(sp + 1, "LAST") != 0) {
			smtpd_reply_error(s, "501 5.5.4 Syntax: BDAT chunk-size "
			    "[LAST]");
			s->state = SS_QUIT;
			return;
		}
		s->bdat_last = true;
	}
	if (strnum_parse_ll(arg, 0, (long long)SMTPD_BDAT_CHUNK_MAX, &n,
	    &err) < 0) {
		smtpd_reply_error(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]: %s",
		    err);
		s->state = SS_QUIT;
		return;
	}
	s->bdat_left = (uint64_t)n;
	s->bdat_size = (uint64_t)n;
	s->bdat_drop = false;
	if (!(smtpd_ehlo_exts(s) & SMTP_EXT_CHUNKING) || !s->esmtp ||
	    !s->have_mail ||
	    s->nrcpts == 0) {
		/* Read and drop the chunk, then say why. */
		s->bdat_drop = true;
		s->state = SS_BDAT;
		return;
	}
	if (!s->bdat) {
		s->bdat = true;
		(void)smtpd_request_file(s, "BDAT");
		return;
	}
	s->state = SS_BDAT;
}

/*
 * bdat_chunk_done - the chunk of the current BDAT has been read: reply
 * for it.  A problem found in the message text is reported at LAST,
 * when the whole message has been read (RFC 3030 2).
 */
void
smtpd_bdat_chunk_done(struct session *s)
{
	if (!(smtpd_ehlo_exts(s) & SMTP_EXT_CHUNKING) || !s->esmtp) {
		smtpd_reply_error(s, "502 5.5.1 Error: command not implemented");
		s->state = s->have_mail ? SS_MAIL : SS_READY;
		return;
	}
	if (!s->have_mail || s->nrcpts == 0) {
		smtpd_reply_error(s, "503 5.5.1 Error: need %s command",
		    !s->have_mail ? "MAIL" : "RCPT");
		s->state = s->have_mail ? SS_MAIL : SS_READY;
		return;
	}
	if (s->write_failed) {
		smtpd_log_reject(s, "BDAT", "451 4.3.0 Error: queue file write error",
		    NULL);
		smtpd_reply_error(s, "451 4.3.0 Error: queue file write error");
		smtpd_transaction_reset(s);
		return;
	}
	if (s->bdat_last) {
		smtp_data_chunk_end(&s->dr, smtpd_data_out, s);
		smtpd_finish_message(s);
		return;
	}
	s->oks[SMTP_VERB_BDAT]++;
	smtpd_reply(s, "250 2.0.0 %llu octets received",
	    (unsigned long long)s->bdat_size);
	s->state = SS_RCPT;
}

static void
cmd_rset(struct session *s)
{
	smtpd_transaction_reset(s);
	s->oks[SMTP_VERB_RSET]++;
	smtpd_reply(s, "250 2.0.0 Ok");
}

/* junk_command - NOOP, RSET, VRFY, HELP count against the junk limit. */
static bool
junk_command(struct session *s)
{
	if (++s->junk > (unsigned)smtpd_cfg.junk_limit) {
		char who[SMTPD_LABEL_MAX];

		log_info("too many junk commands after %s from %s",
		    smtp_verb_name(s->last_verb),
		    smtpd_client_label(s, who, sizeof(who)));
		smtpd_reply(s, "421 4.7.0 %s Error: too many junk commands",
		    smtpd_cfg.myhostname);
		s->state = SS_QUIT;
		return false;
	}
	return true;
}

/*
 * must_end_group - RFC 2920 3.1: after these a client must wait for the
 * reply before sending more.
 */
static bool
must_end_group(enum smtp_verb v)
{
	switch (v) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
	case SMTP_VERB_DATA:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_NOOP:
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
	case SMTP_VERB_STARTTLS:
	case SMTP_VERB_AUTH:
	case SMTP_VERB_HELP:
	case SMTP_VERB_XCLIENT:
		return true;
	default:
		return false;
	}
}

static void
dispatch(struct session *s, const struct smtp_command *c)
{
	const char *sticky = smtpd_check_sticky_reject(s);

	/* A filter that refused the connection, or failed with a
	 * default_action of reject or tempfail (smtpd_milter.h). */
	if (sticky == NULL)
		sticky = smtpd_milter_sticky(s);

	/* A client refused at connect (smtpd_delay_reject = no) gets the
	 * refusal for everything but QUIT, RSET and NOOP. */
	if (sticky != NULL && c->verb != SMTP_VERB_QUIT &&
	    c->verb != SMTP_VERB_RSET && c->verb != SMTP_VERB_NOOP) {
		smtpd_log_reject(s, smtp_verb_name(c->verb), sticky, NULL);
		smtpd_reply_error(s, "%s", sticky);
		return;
	}
	switch (c->verb) {
	case SMTP_VERB_HELO:
		cmd_helo(s, c, false);
		break;
	case SMTP_VERB_EHLO:
		cmd_helo(s, c, true);
		break;
	case SMTP_VERB_MAIL:
		cmd_mail(s, c);
		break;
	case SMTP_VERB_RCPT:
		cmd_rcpt(s, c);
		break;
	case SMTP_VERB_DATA:
		cmd_data(s, c);
		break;
	case SMTP_VERB_BDAT:
		cmd_bdat(s, c);
		break;
	case SMTP_VERB_RSET:
		if (junk_command(s))
			cmd_rset(s);
		break;
	case SMTP_VERB_NOOP:
		if (junk_command(s)) {
			s->oks[SMTP_VERB_NOOP]++;
			smtpd_reply(s, "250 2.0.0 Ok");
		}
		break;
	case SMTP_VERB_QUIT:
		s->oks[SMTP_VERB_QUIT]++;
		smtpd_reply(s, "221 2.0.0 Bye");
		s->state = SS_QUIT;
		break;
	case SMTP_VERB_VRFY:
		if (!junk_command(s))
			break;
		if (smtpd_cfg.vrfy_disabled) {
			smtpd_reply_error(s, "502 5.5.1 VRFY command is disabled");
			break;
		}
		if (c->args_len == 0) {
			smtpd_reply_error(s, "501 5.5.4 Syntax: VRFY address");
			break;
		}
		s->oks[SMTP_VERB_VRFY]++;
		smtpd_reply(s, "252 2.0.0 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		break;
	case SMTP_VERB_HELP:
		if (junk_command(s)) {
			s->oks[SMTP_VERB_HELP]++;
			smtpd_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
			    "%sRSET NOOP QUIT %sHELP; see RFC 5321",
			    smtpd_ehlo_exts(s) & SMTP_EXT_CHUNKING ? "BDAT " :
			    "",
			    smtpd_cfg.vrfy_disabled ? "" : "VRFY ");
		}
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s, c);
		break;
	case SMTP_VERB_AUTH:
		smtpd_auth_cmd(s, c);
		break;
	case SMTP_VERB_XCLIENT:
		smtpd_xclient_cmd(s, c);
		break;
	case SMTP_VERB_XFORWARD:
		smtpd_xforward_cmd(s, c);
		break;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_UNKNOWN:
	case SMTP_VERB__COUNT:
		smtpd_reply_error(s, "502 5.5.2 Error: command not recognized");
		break;
	}
}

/*
 * forbidden_command - the line's first word is in
 * smtpd_forbidden_commands (an HTTP request or proxy probe: CONNECT,
 * GET, POST by default).
 */
static bool
forbidden_command(const char *line, size_t len)
{
	size_t n = 0;

	if (smtpd_cfg.forbidden_cmds == NULL)
		return false;
	while (n < len && line[n] != ' ')
		n++;
	for (char **p = smtpd_cfg.forbidden_cmds; *p != NULL; p++)
		if (strlen(*p) == n && strncasecmp(*p, line, n) == 0)
			return true;
	return false;
}

/* handle_line - one complete command line (or a bad one). */
void
smtpd_handle_line(struct session *s, enum smtp_line_status st, const char *line,
    size_t len)
{
	struct smtp_command c;
	char who[SMTPD_LABEL_MAX];

	if (smtpd_cfg.transcripts) {
		/* Postfix's points: a long transcript is sent or dropped
		 * at HELO/EHLO and RSET. */
		if (s->state != SS_AUTH && st == SMTP_LINE_OK && len >= 4 &&
		    (len == 4 || line[4] == ' ') &&
		    (strncasecmp(line, "HELO", 4) == 0 ||
		    strncasecmp(line, "EHLO", 4) == 0 ||
		    strncasecmp(line, "RSET", 4) == 0))
			smtpd_notice_checkpoint(s);
		smtpd_notice_in(s, line, len, s->state == SS_AUTH);
	}
	if (st == SMTP_LINE_TOO_LONG) {
		if (s->state == SS_AUTH) {
			/* The exchange cannot go on after a lost line. */
			smtpd_auth_response(s, "*", 1);
			return;
		}
		smtpd_reply_error(s, "500 5.5.2 Error: line too long");
		return;
	}
	if (s->state == SS_AUTH && st == SMTP_LINE_OK) {
		smtpd_auth_response(s, line, len);
		return;
	}
	/* Only AUTH may pass 512 octets (RFC 4954 4). */
	if (st == SMTP_LINE_OK && len > SMTP_COMMAND_LINE_MAX_BYTES - 2 &&
	    (len < 5 || strncasecmp(line, "AUTH ", 5) != 0)) {
		smtpd_reply_error(s, "500 5.5.2 Error: line too long");
		return;
	}
	if (st == SMTP_LINE_BARE_NEWLINE) {
		if (smtpd_screen_deep(s, SCREEN_BARE_NEWLINE,
		    s->have_last_verb ? smtp_verb_name(s->last_verb) :
		    "CONNECT", NULL) && s->state == SS_QUIT)
			return;
		log_info("bare <CR> or <LF> in a command line from %s; "
		    "refused as one command", smtpd_client_label(s, who,
		    sizeof(who)));
		smtpd_reply_error(s, "500 5.5.2 Error: bare <CR> or <LF> received; "
		    "only <CR><LF> ends a command line");
		return;
	}
	if (st == SMTP_LINE_NUL) {
		smtpd_reply_error(s, "500 5.5.2 Error: NUL byte in command");
		return;
	}
	if (smtp_command_parse(line, len, &c) < 0 ||
	    c.verb == SMTP_VERB_UNKNOWN) {
		char shown[64];
		/* The command before it, for postscreen's log. */
		const char *after = s->have_last_verb ?
		    smtp_verb_name(s->last_verb) : "CONNECT";

		log_escape(shown, sizeof(shown), line, len, 40);
		log_debug(1, "%s: unrecognized command: %s",
		    smtpd_client_label(s, who, sizeof(who)), shown);
		s->counts[SMTP_VERB_UNKNOWN]++;
		s->last_verb = SMTP_VERB_UNKNOWN;
		s->have_last_verb = true;
		if (forbidden_command(line, len) &&
		    smtpd_screen_deep(s, SCREEN_NON_SMTP, after, shown)) {
			if (s->state != SS_QUIT)
				smtpd_reply_error(s, "502 5.5.2 Error: command "
				    "not recognized");
			return;
		}
		if (forbidden_command(line, len)) {
			log_warning("non-SMTP command from %s: %s; closed the "
			    "connection (smtpd_forbidden_commands: a web "
			    "browser, an HTTP proxy probe or a scanner, not a "
			    "mail client)", smtpd_client_label(s, who,
			    sizeof(who)), shown);
			smtpd_reply(s, "221 2.7.0 Error: this is an SMTP "
			    "server; closing the connection");
			s->state = SS_QUIT;
			return;
		}
		smtpd_reply_error(s, "502 5.5.2 Error: command not recognized");
		return;
	}
	log_debug(2, "< %s: %s", smtpd_client_label(s, who, sizeof(who)),
	    smtp_verb_name(c.verb));
	s->counts[c.verb]++;
	s->last_verb = c.verb;
	s->have_last_verb = true;
	/*
	 * RFC 2920 3.1: more input after a command that must end a group,
	 * or any pipelining when PIPELINING was not offered, is a client
	 * sending blind: the SMTP smuggling and spam-bot pattern.
	 */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) +
	    smtp_line_reader_pending(&s->lr) > 0 &&
	    (must_end_group(c.verb) || !s->esmtp ||
	    (smtpd_ehlo_discard(s) & EHLO_D_PIPELINING)) &&
	    c.verb != SMTP_VERB_QUIT && c.verb != SMTP_VERB_BDAT) {
		s->ill_pipelining = true;	/* reject_unauth_pipelining */
		/* postscreen's test decides instead. */
		if (smtpd_screen_deep(s, SCREEN_PIPELINING,
		    smtp_verb_name(c.verb), NULL)) {
			if (s->state == SS_QUIT)
				return;
			dispatch(s, &c);
			return;
		}
	}
	if (smtpd_cfg.forbid_unauth_pipelining &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) +
	    smtp_line_reader_pending(&s->lr) > 0 &&
	    (must_end_group(c.verb) || !s->esmtp ||
	    (smtpd_ehlo_discard(s) & EHLO_D_PIPELINING)) &&
	    c.verb != SMTP_VERB_QUIT && c.verb != SMTP_VERB_BDAT) {
		log_info("improper command pipelining after %s from %s",
		    smtp_verb_name(c.verb), smtpd_client_label(s, who, sizeof(who)));
		smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
		s->state = SS_QUIT;
		return;
	}
	dispatch(s, &c);
}

