/* SPDX-License-Identifier: MIT */
/*
 * smtpd_notice - session transcripts for the postmaster (smtpd_notice.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <openssl/rand.h>

#include "address.h"
#include "buf.h"
#include "child.h"
#include "compat.h"
#include "log.h"
#include "notify_class.h"
#include "queue_client.h"
#include "queue_file.h"
#include "smtpd_notice.h"
#include "smtpd_session.h"
#include "strv.h"
#include "xalloc.h"

struct smtpd_transcript {
	struct buf text;	/* " Out: ...\r\n" lines */
	unsigned lines;		/* lines kept */
	unsigned left_out;	/* lines past the bound */
	unsigned errors;	/* classes seen (all, wanted or not) */
};

/* One notice on its way to the queue. */
struct notice {
	struct queue_client *qc;
	struct buf body;	/* the whole message */
	const char *rcpt;	/* nt.rcpt or nt.bounce_rcpt */
	char who[SMTPD_LABEL_MAX];
};

static struct {
	unsigned mask;		/* wanted smtpd classes */
	char *rcpt;		/* error_notice_recipient */
	char *bounce_rcpt;	/* bounce_notice_recipient: transcripts whose
				 * only wanted class is bounce */
	char *sender;		/* double_bounce_sender@myhostname */
	unsigned threshold;	/* smtpd_history_flush_threshold */
	size_t pending;		/* notices not yet queued or failed */
	time_t minute;		/* start of the current minute */
	/* The greeting of this process's sessions: a session that only
	 * got it keeps no transcript (idle connections cost nothing), and
	 * one made later starts with it. */
	char greeting[SMTPD_NOTICE_LINE_MAX_BYTES + 1];
	size_t greeting_len;
	unsigned sent;		/* notices in it */
	unsigned suppressed;	/* not sent in it */
} nt;

void
smtpd_notice_init(const struct config_view *v)
{
	char **words = config_list(v, P_notify_classes);
	const char *bad = NULL;
	unsigned mask = 0;

	/* The configuration check refused unknown words already. */
	if (notify_classes_parse(words, &mask, &bad) < 0)
		log_warning("notify_classes: \"%s\" is not a class; it is "
		    "ignored", bad);
	strv_free(&words);
	nt.mask = mask & NOTIFY_SMTPD_CLASSES;
	/* A bare name gets @$myorigin, as Postfix's cleanup gives the mail
	 * system's own messages. */
	nt.rcpt = address_qualify(config_str(v, P_error_notice_recipient),
	    config_str(v, P_myorigin));
	nt.bounce_rcpt = address_qualify(config_str(v,
	    P_bounce_notice_recipient), config_str(v, P_myorigin));
	/* As Postfix: double-bounce@$myhostname. */
	nt.sender = address_qualify(config_str(v, P_double_bounce_sender),
	    config_str(v, P_myhostname));
	nt.threshold = (unsigned)config_int(v, P_smtpd_history_flush_threshold);
	if (nt.rcpt[0] == '\0' && (nt.mask & ~NOTIFY_BOUNCE) != 0) {
		log_warning("notify_classes asks for SMTP session transcripts "
		    "but error_notice_recipient is empty; none will be sent");
		nt.mask &= NOTIFY_BOUNCE;
	}
	if (nt.bounce_rcpt[0] == '\0' && (nt.mask & NOTIFY_BOUNCE) != 0) {
		log_warning("notify_classes has bounce but "
		    "bounce_notice_recipient is empty; no transcripts of "
		    "mail refused for its size will be sent");
		nt.mask &= ~(unsigned)NOTIFY_BOUNCE;
	}
}

bool
smtpd_notice_wanted(void)
{
	return nt.mask != 0;
}

static void add(struct smtpd_transcript *t, const char *dir,
    const char *text, size_t len);

static struct smtpd_transcript *
transcript_of(struct session *s)
{
	if (nt.mask == 0)
		return NULL;
	if (s->transcript == NULL) {
		s->transcript = xcalloc(1, sizeof(*s->transcript));
		buf_init(&s->transcript->text, SMTPD_NOTICE_MAX_BYTES);
		if (s->transcript_greeted)
			add(s->transcript, "Out:", nt.greeting,
			    nt.greeting_len);
	}
	return s->transcript;
}

static void
transcript_free(struct session *s)
{
	if (s->transcript == NULL)
		return;
	buf_deinit(&s->transcript->text);
	free(s->transcript);
	s->transcript = NULL;
	s->transcript_greeted = false;
}

/* add - one line; text is already safe (ours, or escaped). */
static void
add(struct smtpd_transcript *t, const char *dir, const char *text,
    size_t len)
{
	if (len > SMTPD_NOTICE_LINE_MAX_BYTES)
		len = SMTPD_NOTICE_LINE_MAX_BYTES;
	if (t->lines >= 4 * nt.threshold || t->text.len + len + 16 >
	    t->text.max) {
		t->left_out++;
		return;
	}
	if (t->left_out > 0) {
		(void)buf_appendf(&t->text, " ... (%u line%s left out: the "
		    "transcript is kept to %u lines)\r\n", t->left_out,
		    t->left_out == 1 ? "" : "s", 4 * nt.threshold);
		t->left_out = 0;
		t->lines++;
	}
	(void)buf_appendf(&t->text, " %s %.*s\r\n", dir, (int)len, text);
	t->lines++;
}

void
smtpd_notice_in(struct session *s, const char *line, size_t len, bool in_auth)
{
	struct smtpd_transcript *t = transcript_of(s);
	char shown[SMTPD_NOTICE_LINE_MAX_BYTES + 8];

	if (t == NULL)
		return;
	if (in_auth) {
		add(t, "In: ", "****", 4);
		return;
	}
	/* AUTH: the mechanism, never an initial response (whatever
	 * separates them: a line that only looks like AUTH is masked too). */
	if (len >= 4 && strncasecmp(line, "AUTH", 4) == 0 && (len == 4 ||
	    !isalnum((unsigned char)line[4]))) {
		size_t m = 4;
		char mech[80];

		/* RFC 4954: a SASL mechanism name is A-Z, 0-9, '-', '_'. */
		if (m < len && line[m] == ' ')
			for (m++; m < len && (isalnum((unsigned char)line[m]) ||
			    line[m] == '-' || line[m] == '_'); m++)
				;
		log_escape(mech, sizeof(mech), line, m, 64);
		snprintf(shown, sizeof(shown), "%s%s", mech, m < len ?
		    " ****" : "");
	} else {
		log_escape(shown, sizeof(shown), line, len,
		    SMTPD_NOTICE_LINE_MAX_BYTES / 4);
	}
	add(t, "In: ", shown, strlen(shown));
}

void
smtpd_notice_out(struct session *s, const char *line, size_t len)
{
	struct smtpd_transcript *t;

	if (nt.mask == 0)
		return;
	/* The usual greeting: remembered once per process, not per
	 * session. */
	if (s->transcript == NULL && !s->transcript_greeted && len >= 4 &&
	    memcmp(line, "220 ", 4) == 0 && len <= SMTPD_NOTICE_LINE_MAX_BYTES &&
	    (nt.greeting_len == 0 || (nt.greeting_len == len &&
	    memcmp(nt.greeting, line, len) == 0))) {
		memcpy(nt.greeting, line, len);
		nt.greeting_len = len;
		s->transcript_greeted = true;
		return;
	}
	t = transcript_of(s);
	t->errors |= notify_class_of_reply(line, len);
	add(t, "Out:", line, len);
}

size_t
smtpd_notice_pending(void)
{
	return nt.pending;
}

static void
notice_free(struct notice *n)
{
	queue_client_free(&n->qc);
	buf_deinit(&n->body);
	free(n);
	nt.pending--;
	/* A draining process may now exit. */
	child_connection_done(smtpd_child);
}

static void
on_done(void *ctx, bool ok, const char *reason)
{
	struct notice *n = ctx;

	if (!ok)
		log_warning("the postmaster notice about errors from %s was "
		    "not queued: %s", n->who, reason);
	notice_free(n);
}

static void
on_file(void *ctx, int fd, const char *id, const char *error)
{
	struct notice *n = ctx;
	struct queue_envelope env;
	struct queue_writer w;
	char arrival[QUEUE_ARRIVAL_BYTES];
	int ret;

	if (fd < 0) {
		log_warning("cannot queue the postmaster notice about errors "
		    "from %s: %s", n->who, error);
		notice_free(n);
		return;
	}
	queue_envelope_init_local(&env, id, arrival, "local", smtpd_cfg.service,
	    nt.sender);
	queue_envelope_add_rcpt(&env, n->rcpt, NULL, NULL);
	queue_writer_init(&w, fd);
	ret = queue_writer_envelope(&w, &env);
	if (ret == 0)
		ret = queue_writer_content(&w, n->body.data, n->body.len);
	if (ret == 0)
		ret = queue_writer_finish(&w);
	if (ret < 0)
		log_warning("%s: cannot write the postmaster notice about "
		    "errors from %s: %s", id, n->who, strerror(errno));
	queue_writer_deinit(&w);
	for (size_t i = 0; i < env.nrcpts; i++)
		free(env.rcpts[i].addr);
	free(env.rcpts);
	close(fd);
	if (ret < 0 || queue_client_commit(n->qc) < 0) {
		if (ret == 0)
			log_warning("%s: cannot commit the postmaster notice "
			    "about errors from %s: %s", id, n->who,
			    queue_client_error(n->qc));
		notice_free(n);	/* ABORT: the queue process removes it */
		return;
	}
	log_info("%s: postmaster notice: errors from %s, to <%s>", id, n->who,
	    n->rcpt);
}

/* allowed - one more notice this minute? */
static bool
allowed(void)
{
	time_t now = time(NULL);

	if (now - nt.minute >= 60) {
		if (nt.suppressed > 0)
			log_warning("%u postmaster notice%s about SMTP session "
			    "errors not sent in the last minute: more than %u "
			    "a minute (notify_classes)", nt.suppressed,
			    nt.suppressed == 1 ? "" : "s",
			    SMTPD_NOTICE_PER_MINUTE);
		nt.minute = now;
		nt.sent = 0;
		nt.suppressed = 0;
	}
	if (nt.sent >= SMTPD_NOTICE_PER_MINUTE) {
		if (nt.suppressed++ == 0)
			log_warning("more than %u postmaster notices about SMTP "
			    "session errors this minute (notify_classes): no "
			    "more are sent until the minute is over",
			    SMTPD_NOTICE_PER_MINUTE);
		return false;
	}
	nt.sent++;
	return true;
}

static void
send_notice(struct session *s, struct smtpd_transcript *t)
{
	struct notice *n;
	char classes[128], date[64], who[SMTPD_LABEL_MAX];
	const char *err = NULL;
	uint64_t u = 0;
	time_t now = time(NULL);
	struct tm tm;

	smtpd_client_label(s, who, sizeof(who));
	if (!allowed())
		return;
	notify_class_names(t->errors & nt.mask, classes, sizeof(classes));
	n = xcalloc(1, sizeof(*n));
	nt.pending++;
	/* Postfix: a transcript about mail refused only for its size or
	 * hop count goes where copies of bounces go. */
	n->rcpt = (t->errors & nt.mask) == NOTIFY_BOUNCE ? nt.bounce_rcpt :
	    nt.rcpt;
	snprintf(n->who, sizeof(n->who), "%s", who);
	buf_init(&n->body, t->text.len + 4096);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	(void)RAND_bytes((unsigned char *)&u, sizeof(u));
	(void)buf_appendf(&n->body,
	    "Date: %s\r\n"
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: Postmaster <%s>\r\n"
	    "Subject: %s SMTP server: errors from %s\r\n"
	    "Message-ID: <%lld.%016llx@%s>\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "The %s SMTP server at %s had errors in a session.\r\n"
	    "\r\n"
	    "Client:   %s\r\n"
	    "Service:  %s\r\n"
	    "Errors:   %s (you get this notice because notify_classes "
	    "has them)\r\n"
	    "\r\n"
	    "Transcript of the session (In: what the client sent, Out: "
	    "the replies;\r\npasswords are never shown, message text is "
	    "left out):\r\n\r\n",
	    date, smtpd_cfg.myhostname, n->rcpt, smtpd_cfg.mail_name, who,
	    (long long)now, (unsigned long long)u, smtpd_cfg.myhostname,
	    smtpd_cfg.mail_name, smtpd_cfg.myhostname, who, smtpd_cfg.service,
	    classes);
	(void)buf_append(&n->body, t->text.data, t->text.len);
	if (t->left_out > 0)
		(void)buf_appendf(&n->body, " ... (%u more line%s left out)\r\n",
		    t->left_out, t->left_out == 1 ? "" : "s");
	(void)buf_appendf(&n->body, "\r\nFor other details, see the mail log "
	    "(the lines that name %s).\r\n", who);
	n->qc = queue_client_new(smtpd_base, smtpd_cfg.queue_socket, on_file,
	    on_done, n, &err);
	if (n->qc == NULL) {
		log_warning("cannot queue the postmaster notice about errors "
		    "from %s: %s", who, err);
		notice_free(n);
	}
}

/* flush - send the transcript if it holds a wanted error; start anew. */
static void
flush(struct session *s)
{
	struct smtpd_transcript *t = s->transcript;

	if (t == NULL)
		return;
	if ((t->errors & nt.mask) != 0)
		send_notice(s, t);
	transcript_free(s);
}

void
smtpd_notice_checkpoint(struct session *s)
{
	if (s->transcript != NULL && s->transcript->lines +
	    s->transcript->left_out > nt.threshold)
		flush(s);
}

void
smtpd_notice_session_end(struct session *s)
{
	flush(s);
}
