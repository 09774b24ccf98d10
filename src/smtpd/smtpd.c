/* SPDX-License-Identifier: MIT */
/*
 * smtpd - Ostia's SMTP server: many sessions on one event loop.
 *
 * Runs in the smtpd children of the master as mail_owner, never root.
 * It reads no file and opens no spool file itself: each message goes
 * into a queue file descriptor that the queue process hands over
 * (queue_client.h), and "250 ... queued as ID" is sent only after the
 * queue process says the file and its directory were synced.
 *
 * RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2920 (PIPELINING), RFC 2034 and
 * RFC 3463 (enhanced status codes, on every reply), RFC 6152
 * (8BITMIME), RFC 6531 (SMTPUTF8), RFC 3030 (CHUNKING/BDAT), RFC 3461
 * (DSN parameters, kept with the message).
 *
 * Input is capped before it is parsed (smtp_command.h, smtp_data.h): a
 * command line of 512 octets, a text line of 1000, message_size_limit,
 * smtpd_recipient_limit; errors are counted (smtpd_soft_error_limit,
 * smtpd_hard_error_limit, smtpd_junk_command_limit); a session has an
 * idle timeout (smtpd_timeout) and, during DATA/BDAT, a deadline that
 * grows only with smtpd_min_data_rate.
 *
 * Known limits (later issues): no DNS (clients are "unknown[addr]"), no
 * TLS, no AUTH, no restrictions or recipient validation: every
 * recipient is accepted, and nothing delivers the queue yet.
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
#include "smtpd.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* Longest reply line we build. */
#define SMTPD_REPLY_MAX_BYTES 1024
/* Output not yet sent to a client that does not read: close. */
#define SMTPD_OUTPUT_MAX_BYTES (256 * 1024)
/* Input held before libevent stops reading from the client. */
#define SMTPD_INPUT_MAX_BYTES (256 * 1024)
/* Longest HELO/EHLO argument kept. */
#define SMTPD_HELO_MAX_BYTES 255
/* Largest BDAT chunk size accepted in the command (the data is
 * streamed, this only bounds the number). */
#define SMTPD_BDAT_CHUNK_MAX ((uint64_t)1 << 40)

/* Process-wide settings, read once from the service's view. */
struct smtpd_settings {
	const char *myhostname;
	const char *banner;
	const char *mail_name;
	const char *service;
	const char *queue_socket;
	const char *queue_directory;
	uint64_t message_size_limit;
	uint64_t queue_minfree;
	long long recipient_limit;
	long long timeout;
	long long min_data_rate;
	long long soft_error_limit;
	long long hard_error_limit;
	long long error_sleep;
	long long junk_limit;
	bool helo_required;
	bool vrfy_disabled;
	bool strict_envelopes;
	bool forbid_unauth_pipelining;
	enum smtp_bare_lf bare_lf;
	unsigned exts;		/* enum smtp_ext offered */
	bool pipelining;
	bool enhanced;		/* ENHANCEDSTATUSCODES advertised */
	bool vrfy_advertised;
	int debug_level;
	struct peer_list *debug_peers;
};

enum session_state {
	SS_CONNECTED,		/* greeting sent, no HELO/EHLO yet */
	SS_READY,		/* HELO/EHLO done, no transaction */
	SS_MAIL,		/* MAIL accepted */
	SS_RCPT,		/* at least one RCPT accepted */
	SS_WAIT_FILE,		/* waiting for the queue file (DATA/BDAT) */
	SS_DATA,		/* reading message text after 354 */
	SS_BDAT,		/* reading a BDAT chunk */
	SS_WAIT_COMMIT,		/* waiting for the queue process */
	SS_QUIT,		/* closing after the last reply */
};

struct rcpt {
	char *addr;
	unsigned notify;
	char *orcpt;
};

struct session {
	struct child *child;
	struct bufferevent *bev;
	struct event *timer;		/* error sleep */
	enum session_state state;
	char addr[INET6_ADDRSTRLEN];
	char name[16];			/* "unknown" until DNS exists */
	char *helo;
	bool esmtp;
	int saved_verbose;
	struct smtp_line_reader lr;
	unsigned counts[SMTP_VERB__COUNT];
	unsigned oks[SMTP_VERB__COUNT];
	unsigned errors;
	unsigned junk;
	enum smtp_verb last_verb;
	bool have_last_verb;
	bool paused;			/* waiting for the queue or a timer */
	/* transaction */
	struct smtp_mail_args mail;
	bool have_mail;
	struct rcpt *rcpts;
	size_t nrcpts;
	size_t rcpt_cap;
	struct queue_client *qc;
	int qfd;
	char id[QUEUE_ID_LEN + 1];
	struct queue_writer qw;
	bool qw_open;
	struct smtp_data_reader dr;
	struct timespec data_start;
	uint64_t data_bytes;		/* wire bytes of DATA/BDAT */
	bool bdat;			/* transaction uses BDAT */
	bool write_failed;		/* the queue file could not be made
					 * or written: 451 at the end */
	bool bdat_drop;			/* read this chunk and drop it */
	uint64_t bdat_left;		/* bytes of the current chunk */
	bool bdat_last;
	uint64_t bdat_size;		/* of the current chunk, for the reply */
	struct buf pending_reply;	/* reply delayed by error sleep */
};

static struct smtpd_settings S;
static size_t nsessions;
static struct event_base *base;
static struct child *the_child;

static void session_process(struct session *s);
static void session_free(struct session *s);

/* ---------------------------------------------------------------- */
/* Replies and logging                                              */

static const char *
client_label(struct session *s, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s[%s]", s->name, s->addr);
	return out;
}

/*
 * reply - queue one reply line ("250 2.1.0 Ok").  text is ours (never
 * raw client input).  An error reply counts towards the error limits.
 */
static void reply(struct session *s, const char *fmt, ...)
    ATTR_FORMAT(2, 3);

static void
reply(struct session *s, const char *fmt, ...)
{
	char line[SMTPD_REPLY_MAX_BYTES];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	log_debug(1, "> %s[%s]: %.*s", s->name, s->addr, n, line);
	line[n] = '\r';
	line[n + 1] = '\n';
	if (s->paused && s->pending_reply.len > 0) {
		(void)buf_append(&s->pending_reply, line, (size_t)n + 2);
		return;
	}
	bufferevent_write(s->bev, line, (size_t)n + 2);
}

/*
 * reply_error - an error reply: counts the error, sleeps
 * smtpd_error_sleep_time once past the soft limit, and ends the
 * session at the hard limit.  Returns false when the session ends.
 */
static bool reply_error(struct session *s, const char *fmt, ...)
    ATTR_FORMAT(2, 3);

static void
on_error_sleep(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	s->paused = false;
	bufferevent_write(s->bev, s->pending_reply.data, s->pending_reply.len);
	buf_reset(&s->pending_reply);
	session_process(s);
}

static bool
reply_error(struct session *s, const char *fmt, ...)
{
	char line[SMTPD_REPLY_MAX_BYTES];
	char who[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return true;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	s->errors++;
	/* Postfix: past smtpd_soft_error_limit errors, replies slow down;
	 * at smtpd_hard_error_limit the session ends. */
	if (s->errors >= (unsigned)S.hard_error_limit) {
		log_info("too many errors after %s from %s",
		    s->have_last_verb ? smtp_verb_name(s->last_verb) :
		    "CONNECT", client_label(s, who, sizeof(who)));
		reply(s, "%.*s", n, line);
		reply(s, "421 4.7.0 %s Error: too many errors",
		    S.myhostname);
		s->state = SS_QUIT;
		return false;
	}
	if (s->errors > (unsigned)S.soft_error_limit && S.error_sleep > 0) {
		struct timeval tv = { (time_t)S.error_sleep, 0 };

		log_debug(1, "%s: error limit reached: replying after %llds",
		    client_label(s, who, sizeof(who)), S.error_sleep);
		(void)buf_append(&s->pending_reply, line, (size_t)n);
		(void)buf_append(&s->pending_reply, "\r\n", 2);
		s->paused = true;
		evtimer_add(s->timer, &tv);
		return true;
	}
	reply(s, "%.*s", n, line);
	return true;
}

/* log_reject - "NOQUEUE: reject: CMD from client: reply; from=<> ..." */
static void
log_reject(struct session *s, const char *cmd, const char *replytext,
    const char *rcpt)
{
	char who[128], helo[SMTPD_HELO_MAX_BYTES * 4 + 8];
	char from[ADDRESS_PATH_MAX_BYTES * 4 + 8];
	char to[ADDRESS_PATH_MAX_BYTES * 4 + 8];

	log_escape(helo, sizeof(helo), s->helo ? s->helo : "",
	    s->helo ? strlen(s->helo) : 0, SMTPD_HELO_MAX_BYTES);
	log_escape(from, sizeof(from), s->have_mail ? s->mail.from.text : "",
	    s->have_mail ? strlen(s->mail.from.text) : 0,
	    ADDRESS_PATH_MAX_BYTES);
	log_escape(to, sizeof(to), rcpt ? rcpt : "", rcpt ? strlen(rcpt) : 0,
	    ADDRESS_PATH_MAX_BYTES);
	log_info("%s: reject: %s from %s: %s;%s%s%s%s%s%s proto=%s helo=<%s>",
	    s->id[0] ? s->id : "NOQUEUE", cmd,
	    client_label(s, who, sizeof(who)), replytext,
	    s->have_mail ? " from=<" : "", s->have_mail ? from : "",
	    s->have_mail ? ">" : "", rcpt ? " to=<" : "", rcpt ? to : "",
	    rcpt ? ">" : "", s->esmtp ? "ESMTP" : "SMTP", helo);
}

/* ---------------------------------------------------------------- */
/* Transactions                                                     */

static void
transaction_reset(struct session *s)
{
	smtp_mail_args_deinit(&s->mail);
	memset(&s->mail, 0, sizeof(s->mail));
	s->have_mail = false;
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
	}
	s->nrcpts = 0;
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

static const char *
notify_text(unsigned n, char *out, size_t outsz)
{
	out[0] = '\0';
	if (n & SMTP_NOTIFY_NEVER)
		snprintf(out, outsz, "NEVER");
	else
		snprintf(out, outsz, "%s%s%s%s%s",
		    n & SMTP_NOTIFY_SUCCESS ? "SUCCESS" : "",
		    (n & SMTP_NOTIFY_SUCCESS) && (n & (SMTP_NOTIFY_FAILURE |
		    SMTP_NOTIFY_DELAY)) ? "," : "",
		    n & SMTP_NOTIFY_FAILURE ? "FAILURE" : "",
		    (n & SMTP_NOTIFY_FAILURE) && (n & SMTP_NOTIFY_DELAY) ?
		    "," : "", n & SMTP_NOTIFY_DELAY ? "DELAY" : "");
	return out;
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

/* write_envelope - envelope records and the Received: header. */
static int
write_envelope(struct session *s)
{
	struct queue_envelope env;
	struct timespec ts;
	char arrival[48], date[64], sizebuf[32], helo[SMTPD_HELO_MAX_BYTES + 1];
	const char *proto;
	struct buf rcv;
	int ret;

	memset(&env, 0, sizeof(env));
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(arrival, sizeof(arrival), "%lld.%06ld", (long long)ts.tv_sec,
	    ts.tv_nsec / 1000);
	proto = s->esmtp ? (s->mail.smtputf8 ? "UTF8SMTP" : "ESMTP") :
	    "SMTP";
	/* The HELO name was checked to be printable when it was taken. */
	snprintf(helo, sizeof(helo), "%s", s->helo ? s->helo : "");
	env.id = s->id;
	env.arrival = arrival;
	env.client_name = s->name;
	env.client_addr = s->addr;
	env.helo = helo;
	env.protocol = UNCONST(proto);
	env.service = UNCONST(S.service);
	env.sender = s->mail.from.text;
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
		    s->rcpts[i].notify ? notify_text(s->rcpts[i].notify, nt,
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
	if (ret < 0)
		return -1;

	/* RFC 5321 4.4: the trace header, first line of the message. */
	rfc5322_date(date, sizeof(date));
	buf_init(&rcv, 4096);
	(void)buf_appendf(&rcv, "Received: from %s (%s [%s])\r\n"
	    "\tby %s (%s) with %s id %s", helo[0] ? helo : s->addr, s->name,
	    s->addr, S.myhostname, S.mail_name, proto, s->id);
	if (s->nrcpts == 1)
		(void)buf_appendf(&rcv, "\r\n\tfor <%s>", s->rcpts[0].addr);
	(void)buf_appendf(&rcv, "; %s\r\n", date);
	ret = queue_writer_content(&s->qw, rcv.data, rcv.len);
	buf_deinit(&rcv);
	return ret;
}

static void
data_out(void *ctx, const char *data, size_t len)
{
	struct session *s = ctx;

	if (s->qw_open)
		(void)queue_writer_content(&s->qw, data, len);
}

static void on_file(void *ctx, int fd, const char *id, const char *error);
static void on_committed(void *ctx, bool ok, const char *reason);

/*
 * request_file - ask the queue process for a file and pause until it
 * answers.  For DATA a failure is answered at once; for BDAT the chunk
 * that follows must be read first, so the failure is only noted.
 */
static bool
request_file(struct session *s, const char *cmd)
{
	const char *err = NULL;
	char who[128];

	s->qc = queue_client_new(base, S.queue_socket, on_file, on_committed,
	    s, &err);
	if (s->qc == NULL) {
		log_error("%s: %s (%s): %s; is the queue process running?",
		    client_label(s, who, sizeof(who)), err, S.queue_socket,
		    strerror(errno));
		if (s->bdat) {
			s->write_failed = true;
			s->bdat_drop = true;
			s->state = SS_BDAT;
			return false;
		}
		log_reject(s, cmd, "451 4.3.0 Error: queue file write error",
		    NULL);
		reply_error(s, "451 4.3.0 Error: queue file write error");
		return false;
	}
	s->state = SS_WAIT_FILE;
	s->paused = true;
	return true;
}

static void
on_file(void *ctx, int fd, const char *id, const char *error)
{
	struct session *s = ctx;
	char who[128];

	s->paused = false;
	if (fd < 0) {
		log_error("%s: no queue file: %s", client_label(s, who,
		    sizeof(who)), error);
		queue_client_free(&s->qc);
		if (s->bdat) {
			/* The chunk is still to be read and dropped. */
			s->write_failed = true;
			s->bdat_drop = true;
			s->state = SS_BDAT;
		} else {
			reply_error(s, "451 4.3.0 Error: queue file write "
			    "error");
			transaction_reset(s);
		}
		session_process(s);
		return;
	}
	s->qfd = fd;
	memcpy(s->id, id, QUEUE_ID_LEN + 1);
	log_info("%s: client=%s", s->id, client_label(s, who, sizeof(who)));
	clock_gettime(CLOCK_MONOTONIC, &s->data_start);
	smtp_data_reader_init(&s->dr, S.message_size_limit, S.bare_lf);
	s->dr.binary = s->mail.body == SMTP_BODY_BINARYMIME;
	if (write_envelope(s) < 0) {
		log_error("%s: cannot write the queue file: %s", s->id,
		    strerror(errno));
		if (s->bdat) {
			s->write_failed = true;
			s->bdat_drop = true;
			s->state = SS_BDAT;
		} else {
			reply_error(s, "451 4.3.0 Error: queue file write "
			    "error");
			transaction_reset(s);
		}
		session_process(s);
		return;
	}
	if (s->bdat) {
		s->state = SS_BDAT;
	} else {
		reply(s, "354 End data with <CR><LF>.<CR><LF>");
		s->state = SS_DATA;
	}
	session_process(s);
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
		reply(s, "250 2.0.0 Ok: queued as %s", s->id);
	} else {
		log_error("%s: not queued: %s", s->id, reason);
		reply_error(s, "451 4.3.0 Error: queue file write error");
	}
	transaction_reset(s);
	session_process(s);
}

/*
 * finish_message - the end of DATA or of the LAST chunk: refuse what the
 * reader found wrong, else complete the file and ask for the commit.
 */
static void
finish_message(struct session *s)
{
	const char *cmd = s->bdat ? "BDAT" : "DATA";
	unsigned p = s->dr.problems;
	const char *why = NULL;

	if (p & SMTP_DATA_TOO_BIG)
		why = "552 5.3.4 Error: message file too big";
	else if (p & SMTP_DATA_LINE_TOO_LONG)
		why = "500 5.5.2 Error: message has a line longer than 1000 "
		    "octets (RFC 5321 4.5.3.1.6)";
	else if (p & SMTP_DATA_BARE_LF)
		why = "550 5.5.2 Error: bare <LF> received (only <CR><LF> "
		    "ends a line; RFC 5321 2.3.8)";
	else if (p & SMTP_DATA_NUL)
		why = "550 5.6.0 Error: message contains a NUL byte";
	else if (s->write_failed)
		why = "451 4.3.0 Error: queue file write error";
	if (why != NULL) {
		log_reject(s, cmd, why, NULL);
		reply_error(s, "%s", why);
		transaction_reset(s);
		return;
	}
	if (queue_writer_finish(&s->qw) < 0) {
		log_error("%s: cannot complete the queue file: %s", s->id,
		    strerror(errno));
		reply_error(s, "451 4.3.0 Error: queue file write error");
		transaction_reset(s);
		return;
	}
	if (queue_client_commit(s->qc) < 0) {
		log_error("%s: cannot commit the message: %s", s->id,
		    queue_client_error(s->qc));
		reply_error(s, "451 4.3.0 Error: queue file write error");
		transaction_reset(s);
		return;
	}
	s->state = SS_WAIT_COMMIT;
	s->paused = true;
}

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

static void
cmd_helo(struct session *s, const struct smtp_command *c, bool esmtp)
{
	const char *arg = c->args;
	size_t n = c->args_len;

	while (n > 0 && arg[n - 1] == ' ')
		n--;
	if (n == 0 || n > SMTPD_HELO_MAX_BYTES || !helo_is_printable(arg, n)) {
		reply_error(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	free(s->helo);
	s->helo = xstrndup(arg, n);
	s->esmtp = esmtp;
	/* RFC 5321 4.1.4: HELO/EHLO ends any transaction. */
	transaction_reset(s);
	s->state = SS_READY;
	s->oks[c->verb]++;
	if (!esmtp) {
		reply(s, "250 %s", S.myhostname);
		return;
	}
	reply(s, "250-%s", S.myhostname);
	if (S.pipelining)
		reply(s, "250-PIPELINING");
	if (S.exts & SMTP_EXT_SIZE) {
		if (S.message_size_limit > 0)
			reply(s, "250-SIZE %llu",
			    (unsigned long long)S.message_size_limit);
		else
			reply(s, "250-SIZE");
	}
	if (S.vrfy_advertised)
		reply(s, "250-VRFY");
	if (S.enhanced)
		reply(s, "250-ENHANCEDSTATUSCODES");
	if (S.exts & SMTP_EXT_8BITMIME)
		reply(s, "250-8BITMIME");
	if (S.exts & SMTP_EXT_DSN)
		reply(s, "250-DSN");
	if (S.exts & SMTP_EXT_SMTPUTF8)
		reply(s, "250-SMTPUTF8");
	if (S.exts & SMTP_EXT_CHUNKING)
		reply(s, "250-CHUNKING");
	reply(s, "250 HELP");
}

/*
 * queue_has_room - Postfix's rule: free space in the queue file system
 * must be at least queue_minfree (default: 1.5 x message_size_limit)
 * plus the size the client announced.
 */
static bool
queue_has_room(uint64_t need)
{
	struct statvfs sv;
	uint64_t avail, minfree = S.queue_minfree;

	if (minfree == 0 && S.message_size_limit > 0)
		minfree = S.message_size_limit / 2 > UINT64_MAX -
		    S.message_size_limit ? UINT64_MAX :
		    S.message_size_limit + S.message_size_limit / 2;
	if (minfree == 0 && need == 0)
		return true;
	if (statvfs(".", &sv) < 0)
		return true;	/* cannot tell: the write will say */
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	/* Written so that no sum can wrap around. */
	return avail >= minfree && avail - minfree >= need;
}

static void
cmd_mail(struct session *s, const struct smtp_command *c)
{
	const char *err = NULL;
	enum smtp_arg_error e;
	unsigned aflags = S.strict_envelopes ? ADDRESS_STRICT : 0;
	char text[SMTPD_REPLY_MAX_BYTES];

	if (S.helo_required && s->state == SS_CONNECTED) {
		snprintf(text, sizeof(text), "503 5.5.1 Error: send HELO/EHLO "
		    "first");
		log_reject(s, "MAIL", text, NULL);
		reply_error(s, "%s", text);
		return;
	}
	if (s->have_mail) {
		reply_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	e = smtp_mail_args_parse(c->args, c->args_len, s->esmtp ? S.exts : 0,
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
		log_reject(s, "MAIL", text, NULL);
		reply_error(s, "%s", text);
		return;
	}
	if (S.message_size_limit > 0 && s->mail.has_size &&
	    s->mail.size > S.message_size_limit) {
		smtp_mail_args_deinit(&s->mail);
		memset(&s->mail, 0, sizeof(s->mail));
		snprintf(text, sizeof(text), "552 5.3.4 Message size exceeds "
		    "fixed limit");
		log_reject(s, "MAIL", text, NULL);
		reply_error(s, "%s", text);
		return;
	}
	if (!queue_has_room(s->mail.has_size ? s->mail.size : 0)) {
		smtp_mail_args_deinit(&s->mail);
		memset(&s->mail, 0, sizeof(s->mail));
		snprintf(text, sizeof(text), "452 4.3.1 Insufficient system "
		    "storage");
		log_warning("not enough free space in %s (queue_minfree)",
		    S.queue_directory);
		log_reject(s, "MAIL", text, NULL);
		reply_error(s, "%s", text);
		return;
	}
	s->have_mail = true;
	s->state = SS_MAIL;
	s->oks[SMTP_VERB_MAIL]++;
	reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, const struct smtp_command *c)
{
	struct smtp_rcpt_args ra;
	const char *err = NULL;
	enum smtp_arg_error e;
	unsigned aflags = ADDRESS_POSTMASTER_OK |
	    (S.strict_envelopes ? ADDRESS_STRICT : 0) |
	    (s->mail.smtputf8 ? ADDRESS_SMTPUTF8 : 0);
	char text[SMTPD_REPLY_MAX_BYTES];

	if (!s->have_mail) {
		reply_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	memset(&ra, 0, sizeof(ra));
	e = smtp_rcpt_args_parse(c->args, c->args_len, s->esmtp ? S.exts : 0,
	    aflags, &ra, &err);
	if (e != SMTP_ARG_OK) {
		const char *code = e == SMTP_ARG_UNKNOWN_PARAM ?
		    "555 5.5.4" : e == SMTP_ARG_UTF8 ? "553 5.6.7" :
		    e == SMTP_ARG_BAD_ADDRESS ? "501 5.1.3" : "501 5.5.4";

		smtp_rcpt_args_deinit(&ra);
		snprintf(text, sizeof(text), "%s %s: %s", code,
		    e == SMTP_ARG_BAD_ADDRESS || e == SMTP_ARG_UTF8 ?
		    "Bad recipient address syntax" : "Bad RCPT command", err);
		log_reject(s, "RCPT", text, NULL);
		reply_error(s, "%s", text);
		return;
	}
	if (s->nrcpts >= (size_t)S.recipient_limit) {
		snprintf(text, sizeof(text), "452 4.5.3 Error: too many "
		    "recipients");
		log_reject(s, "RCPT", text, ra.to.text);
		smtp_rcpt_args_deinit(&ra);
		reply(s, "%s", text);	/* RFC 5321 4.5.3.1.10: not an error */
		return;
	}
	if (s->nrcpts == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap == 0 ? 4 : s->rcpt_cap * 2;
		s->rcpts = xreallocarray(s->rcpts, s->rcpt_cap,
		    sizeof(*s->rcpts));
	}
	s->rcpts[s->nrcpts].addr = xstrdup(ra.to.text);
	s->rcpts[s->nrcpts].notify = ra.notify;
	s->rcpts[s->nrcpts].orcpt = ra.orcpt != NULL ? xstrdup(ra.orcpt) :
	    NULL;
	s->nrcpts++;
	smtp_rcpt_args_deinit(&ra);
	s->state = SS_RCPT;
	s->oks[SMTP_VERB_RCPT]++;
	reply(s, "250 2.1.5 Ok");
}

static void
cmd_data(struct session *s, const struct smtp_command *c)
{
	if (c->args_len > 0) {
		reply_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->have_mail) {
		reply_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		reply_error(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (s->bdat) {
		reply_error(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	if (s->mail.body == SMTP_BODY_BINARYMIME) {
		/* RFC 3030 3: BINARYMIME needs BDAT. */
		reply_error(s, "503 5.5.1 Error: BODY=BINARYMIME requires "
		    "BDAT");
		return;
	}
	request_file(s, "DATA");
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
		reply_error(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
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
			reply_error(s, "501 5.5.4 Syntax: BDAT chunk-size "
			    "[LAST]");
			s->state = SS_QUIT;
			return;
		}
		s->bdat_last = true;
	}
	if (strnum_parse_ll(arg, 0, (long long)SMTPD_BDAT_CHUNK_MAX, &n,
	    &err) < 0) {
		reply_error(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]: %s",
		    err);
		s->state = SS_QUIT;
		return;
	}
	s->bdat_left = (uint64_t)n;
	s->bdat_size = (uint64_t)n;
	s->bdat_drop = false;
	if (!(S.exts & SMTP_EXT_CHUNKING) || !s->esmtp || !s->have_mail ||
	    s->nrcpts == 0) {
		/* Read and drop the chunk, then say why. */
		s->bdat_drop = true;
		s->state = SS_BDAT;
		return;
	}
	if (!s->bdat) {
		s->bdat = true;
		(void)request_file(s, "BDAT");
		return;
	}
	s->state = SS_BDAT;
}

/*
 * bdat_chunk_done - the chunk of the current BDAT has been read: reply
 * for it.  A problem found in the message text is reported at LAST,
 * when the whole message has been read (RFC 3030 2).
 */
static void
bdat_chunk_done(struct session *s)
{
	if (!(S.exts & SMTP_EXT_CHUNKING) || !s->esmtp) {
		reply_error(s, "502 5.5.1 Error: command not implemented");
		s->state = s->have_mail ? SS_MAIL : SS_READY;
		return;
	}
	if (!s->have_mail || s->nrcpts == 0) {
		reply_error(s, "503 5.5.1 Error: need %s command",
		    !s->have_mail ? "MAIL" : "RCPT");
		s->state = s->have_mail ? SS_MAIL : SS_READY;
		return;
	}
	if (s->write_failed) {
		log_reject(s, "BDAT", "451 4.3.0 Error: queue file write error",
		    NULL);
		reply_error(s, "451 4.3.0 Error: queue file write error");
		transaction_reset(s);
		return;
	}
	if (s->bdat_last) {
		smtp_data_chunk_end(&s->dr, data_out, s);
		finish_message(s);
		return;
	}
	s->oks[SMTP_VERB_BDAT]++;
	reply(s, "250 2.0.0 %llu octets received",
	    (unsigned long long)s->bdat_size);
	s->state = SS_RCPT;
}

static void
cmd_rset(struct session *s)
{
	transaction_reset(s);
	s->oks[SMTP_VERB_RSET]++;
	reply(s, "250 2.0.0 Ok");
}

/* junk_command - NOOP, RSET, VRFY, HELP count against the junk limit. */
static bool
junk_command(struct session *s)
{
	if (++s->junk > (unsigned)S.junk_limit) {
		char who[128];

		log_info("too many junk commands after %s from %s",
		    smtp_verb_name(s->last_verb),
		    client_label(s, who, sizeof(who)));
		reply(s, "421 4.7.0 %s Error: too many junk commands",
		    S.myhostname);
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
		return true;
	default:
		return false;
	}
}

static void
dispatch(struct session *s, const struct smtp_command *c)
{
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
			reply(s, "250 2.0.0 Ok");
		}
		break;
	case SMTP_VERB_QUIT:
		s->oks[SMTP_VERB_QUIT]++;
		reply(s, "221 2.0.0 Bye");
		s->state = SS_QUIT;
		break;
	case SMTP_VERB_VRFY:
		if (!junk_command(s))
			break;
		if (S.vrfy_disabled) {
			reply_error(s, "502 5.5.1 VRFY command is disabled");
			break;
		}
		if (c->args_len == 0) {
			reply_error(s, "501 5.5.4 Syntax: VRFY address");
			break;
		}
		s->oks[SMTP_VERB_VRFY]++;
		reply(s, "252 2.0.0 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		break;
	case SMTP_VERB_HELP:
		if (junk_command(s)) {
			s->oks[SMTP_VERB_HELP]++;
			reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
			    "%sRSET NOOP QUIT %sHELP; see RFC 5321",
			    S.exts & SMTP_EXT_CHUNKING ? "BDAT " : "",
			    S.vrfy_disabled ? "" : "VRFY ");
		}
		break;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_STARTTLS:
	case SMTP_VERB_AUTH:
	case SMTP_VERB_UNKNOWN:
	case SMTP_VERB__COUNT:
		reply_error(s, "502 5.5.2 Error: command not recognized");
		break;
	}
}

/* handle_line - one complete command line (or a bad one). */
static void
handle_line(struct session *s, enum smtp_line_status st, const char *line,
    size_t len)
{
	struct smtp_command c;
	char who[128];

	if (st == SMTP_LINE_TOO_LONG) {
		reply_error(s, "500 5.5.2 Error: line too long");
		return;
	}
	if (st == SMTP_LINE_BARE_NEWLINE) {
		log_info("bare <CR> or <LF> in a command line from %s; "
		    "refused as one command", client_label(s, who,
		    sizeof(who)));
		reply_error(s, "500 5.5.2 Error: bare <CR> or <LF> received; "
		    "only <CR><LF> ends a command line");
		return;
	}
	if (st == SMTP_LINE_NUL) {
		reply_error(s, "500 5.5.2 Error: NUL byte in command");
		return;
	}
	if (smtp_command_parse(line, len, &c) < 0 ||
	    c.verb == SMTP_VERB_UNKNOWN) {
		char shown[64];

		log_escape(shown, sizeof(shown), line, len, 40);
		log_debug(1, "%s: unrecognized command: %s",
		    client_label(s, who, sizeof(who)), shown);
		s->counts[SMTP_VERB_UNKNOWN]++;
		s->last_verb = SMTP_VERB_UNKNOWN;
		s->have_last_verb = true;
		reply_error(s, "502 5.5.2 Error: command not recognized");
		return;
	}
	log_debug(2, "< %s: %s", client_label(s, who, sizeof(who)),
	    smtp_verb_name(c.verb));
	s->counts[c.verb]++;
	s->last_verb = c.verb;
	s->have_last_verb = true;
	/*
	 * RFC 2920 3.1: more input after a command that must end a group,
	 * or any pipelining when PIPELINING was not offered, is a client
	 * sending blind: the SMTP smuggling and spam-bot pattern.
	 */
	if (S.forbid_unauth_pipelining &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) +
	    smtp_line_reader_pending(&s->lr) > 0 &&
	    (must_end_group(c.verb) || !s->esmtp || !S.pipelining) &&
	    c.verb != SMTP_VERB_QUIT && c.verb != SMTP_VERB_BDAT) {
		log_info("improper command pipelining after %s from %s",
		    smtp_verb_name(c.verb), client_label(s, who, sizeof(who)));
		reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
		s->state = SS_QUIT;
		return;
	}
	dispatch(s, &c);
}

/* ---------------------------------------------------------------- */
/* I/O                                                              */

/* data_deadline_passed - the DATA/BDAT transfer is too slow. */
static bool
data_deadline_passed(struct session *s)
{
	struct timespec now;
	double elapsed, allowed;

	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - s->data_start.tv_sec) +
	    (double)(now.tv_nsec - s->data_start.tv_nsec) / 1e9;
	allowed = (double)S.timeout + (double)s->data_bytes /
	    (double)S.min_data_rate;
	return elapsed > allowed;
}

/*
 * feed_data - message text from the input buffer: DATA mode up to the
 * terminator, BDAT mode exactly the chunk.  Returns true when the
 * session may go on reading commands.
 */
static bool
feed_data(struct session *s, struct evbuffer *in)
{
	while (s->state == SS_DATA || s->state == SS_BDAT) {
		struct evbuffer_iovec v;
		size_t take, used = 0;

		/* "BDAT 0" has no data to wait for. */
		if (s->state == SS_BDAT && s->bdat_left == 0) {
			bdat_chunk_done(s);
			continue;
		}
		if (evbuffer_get_length(in) == 0)
			break;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		take = v.iov_len;
		if (s->state == SS_DATA) {
			enum smtp_data_status st = smtp_data_read(&s->dr,
			    v.iov_base, take, &used, data_out, s);

			s->data_bytes += used;
			evbuffer_drain(in, used);
			if (st == SMTP_DATA_END) {
				finish_message(s);
				return s->state != SS_QUIT;
			}
		} else {
			if (take > s->bdat_left)
				take = (size_t)s->bdat_left;
			if (!s->bdat_drop)
				smtp_data_read_chunk(&s->dr, v.iov_base, take,
				    data_out, s);
			s->bdat_left -= take;
			s->data_bytes += take;
			evbuffer_drain(in, take);
			if (s->bdat_left == 0)
				bdat_chunk_done(s);
		}
		if (s->qw_open && s->qw.error != 0 && !s->write_failed) {
			/* Keep reading to the end, then refuse. */
			log_error("%s: cannot write the queue file: %s", s->id,
			    strerror(s->qw.error));
			s->write_failed = true;
		}
	}
	if ((s->state == SS_DATA || s->state == SS_BDAT) &&
	    data_deadline_passed(s)) {
		char who[128];

		log_info("%s: timeout: data arrives slower than "
		    "smtpd_min_data_rate (%lld bytes/s) after %llu bytes from "
		    "%s", s->id[0] ? s->id : "NOQUEUE", S.min_data_rate,
		    (unsigned long long)s->data_bytes,
		    client_label(s, who, sizeof(who)));
		reply(s, "421 4.4.2 %s Error: timeout exceeded", S.myhostname);
		s->state = SS_QUIT;
		return false;
	}
	return true;
}

/*
 * session_process - work through buffered input until it runs out or
 * the session must wait (queue, error sleep) or ends.
 */
static void
session_process(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (!s->paused && s->state != SS_QUIT) {
		if (s->state == SS_DATA || s->state == SS_BDAT) {
			if (!feed_data(s, in))
				break;
			if (s->state == SS_DATA || s->state == SS_BDAT)
				break;	/* need more input */
			continue;
		}
		if (s->state == SS_WAIT_FILE || s->state == SS_WAIT_COMMIT)
			break;
		{
			struct evbuffer_iovec v;
			enum smtp_line_status st;
			const char *line = NULL;
			size_t used = 0, llen = 0;

			if (evbuffer_get_length(in) == 0)
				break;
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			st = smtp_line_read(&s->lr, v.iov_base, v.iov_len, &used,
			    &line, &llen);
			evbuffer_drain(in, used);
			if (st == SMTP_LINE_NEED_MORE)
				continue;
			handle_line(s, st, line, llen);
		}
	}
	if (s->state == SS_QUIT) {
		/* Close once the last reply has left. */
		bufferevent_disable(s->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			session_free(s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
	    SMTPD_OUTPUT_MAX_BYTES) {
		char who[128];

		log_info("client %s does not read its replies; closing",
		    client_label(s, who, sizeof(who)));
		session_free(s);
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_QUIT &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		session_free(s);
}

static const char *
state_command(struct session *s)
{
	switch (s->state) {
	case SS_DATA:
	case SS_WAIT_FILE:
	case SS_WAIT_COMMIT:
		return s->bdat ? "BDAT" : "DATA";
	case SS_BDAT:
		return "BDAT";
	default:
		return s->have_last_verb ? smtp_verb_name(s->last_verb) :
		    "CONNECT";
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char who[128];

	if (what & BEV_EVENT_TIMEOUT) {
		log_info("timeout after %s from %s", state_command(s),
		    client_label(s, who, sizeof(who)));
		reply(s, "421 4.4.2 %s Error: timeout exceeded", S.myhostname);
		s->state = SS_QUIT;
		bufferevent_disable(bev, EV_READ);
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	if (s->state != SS_QUIT)
		log_info("lost connection after %s from %s", state_command(s),
		    client_label(s, who, sizeof(who)));
	session_free(s);
}

/* log_disconnect - Postfix's "disconnect from ... ehlo=1 mail=1 ...". */
static void
log_disconnect(struct session *s)
{
	static const enum smtp_verb order[] = {
		SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL,
		SMTP_VERB_RCPT, SMTP_VERB_DATA, SMTP_VERB_BDAT,
		SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_VRFY,
		SMTP_VERB_HELP, SMTP_VERB_EXPN, SMTP_VERB_STARTTLS,
		SMTP_VERB_AUTH, SMTP_VERB_QUIT, SMTP_VERB_UNKNOWN,
	};
	char who[128];
	struct buf b;
	unsigned total = 0, total_ok = 0;

	buf_init(&b, 1024);
	for (size_t i = 0; i < N_ELEMENTS(order); i++) {
		enum smtp_verb v = order[i];

		if (s->counts[v] == 0)
			continue;
		total += s->counts[v];
		total_ok += s->oks[v];
		if (s->oks[v] == s->counts[v])
			(void)buf_appendf(&b, " %s=%u",
			    smtp_verb_counter_name(v), s->counts[v]);
		else
			(void)buf_appendf(&b, " %s=%u/%u",
			    smtp_verb_counter_name(v), s->oks[v],
			    s->counts[v]);
	}
	if (total_ok == total)
		(void)buf_appendf(&b, " commands=%u", total);
	else
		(void)buf_appendf(&b, " commands=%u/%u", total_ok, total);
	log_info("disconnect from %s%s", client_label(s, who, sizeof(who)),
	    buf_cstr(&b));
	buf_deinit(&b);
}

static void
session_free(struct session *s)
{
	if (s->id[0] != '\0' && s->state != SS_QUIT)
		log_info("%s: message not queued: the client went away",
		    s->id);
	log_disconnect(s);
	transaction_reset(s);
	free(s->rcpts);
	free(s->helo);
	smtp_line_reader_deinit(&s->lr);
	buf_deinit(&s->pending_reply);
	event_free(s->timer);
	bufferevent_free(s->bev);
	log_set_verbose(s->saved_verbose);
	free(s);
	nsessions--;
	/* A draining child exits with its last session. */
	child_connection_done(the_child);
}

/* ---------------------------------------------------------------- */
/* Process                                                          */

static void
smtpd_init(struct child *c)
{
	const struct config_view *v = child_view(c);
	const struct master_service *svc = child_service(c);
	const char *bare = config_str(v, P_smtpd_forbid_bare_newline);
	const char *err = NULL;
	char **discard;

	the_child = c;
	base = child_event_base(c);
	memset(&S, 0, sizeof(S));
	S.myhostname = config_str(v, P_myhostname);
	S.banner = config_str(v, P_smtpd_banner);
	S.mail_name = config_str(v, P_mail_name);
	S.service = svc != NULL ? svc->name : "smtpd";
	S.queue_directory = config_str(v, P_queue_directory);
	/* The child works from queue_directory (or is chrooted to it). */
	S.queue_socket = QUEUE_SOCKET_PATH;
	S.message_size_limit = config_size(v, P_message_size_limit);
	S.queue_minfree = config_size(v, P_queue_minfree);
	S.recipient_limit = config_int(v, P_smtpd_recipient_limit);
	S.timeout = config_time(v, P_smtpd_timeout);
	S.min_data_rate = config_int(v, P_smtpd_min_data_rate);
	S.soft_error_limit = config_int(v, P_smtpd_soft_error_limit);
	S.hard_error_limit = config_int(v, P_smtpd_hard_error_limit);
	S.error_sleep = config_time(v, P_smtpd_error_sleep_time);
	S.junk_limit = config_int(v, P_smtpd_junk_command_limit);
	S.helo_required = config_bool(v, P_smtpd_helo_required);
	S.vrfy_disabled = config_bool(v, P_disable_vrfy_command);
	S.strict_envelopes = config_bool(v, P_strict_rfc821_envelopes);
	S.forbid_unauth_pipelining = config_bool(v,
	    P_smtpd_forbid_unauth_pipelining);
	/* Postfix: yes is an alias of normalize; no is legacy and still
	 * never lets anything but CRLF.CRLF end a message here. */
	S.bare_lf = strcasecmp(bare, "reject") == 0 ? SMTP_BARE_LF_REJECT :
	    SMTP_BARE_LF_NORMALIZE;
	S.exts = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN |
	    SMTP_EXT_CHUNKING;
	if (config_bool(v, P_smtputf8_enable))
		S.exts |= SMTP_EXT_SMTPUTF8;
	S.pipelining = true;
	S.enhanced = true;
	S.vrfy_advertised = !S.vrfy_disabled;
	discard = config_list(v, P_smtpd_discard_ehlo_keywords);
	for (size_t i = 0; discard[i] != NULL; i++) {
		const char *k = discard[i];

		if (strcasecmp(k, "pipelining") == 0)
			S.pipelining = false;
		else if (strcasecmp(k, "size") == 0)
			S.exts &= ~(unsigned)SMTP_EXT_SIZE;
		else if (strcasecmp(k, "8bitmime") == 0)
			S.exts &= ~(unsigned)SMTP_EXT_8BITMIME;
		else if (strcasecmp(k, "dsn") == 0)
			S.exts &= ~(unsigned)SMTP_EXT_DSN;
		else if (strcasecmp(k, "smtputf8") == 0)
			S.exts &= ~(unsigned)SMTP_EXT_SMTPUTF8;
		else if (strcasecmp(k, "chunking") == 0)
			S.exts &= ~(unsigned)SMTP_EXT_CHUNKING;
		else if (strcasecmp(k, "vrfy") == 0)
			S.vrfy_advertised = false;
		else if (strcasecmp(k, "enhancedstatuscodes") == 0)
			S.enhanced = false;
	}
	strv_free(&discard);
	S.debug_level = (int)config_int(v, P_debug_peer_level);
	S.debug_peers = peer_list_parse(config_str(v, P_debug_peer_list),
	    config_list_contains(v, P_parent_domain_matches_subdomains,
	    "debug_peer_list"), &err);
	if (S.debug_peers == NULL)
		log_fatal("debug_peer_list: %s", err);
	if (strncmp(S.banner, S.myhostname, strlen(S.myhostname)) != 0)
		log_warning("smtpd_banner does not start with $myhostname "
		    "(%s), as RFC 5321 4.3.1 asks", S.myhostname);
}

static void
smtpd_accept(struct child *c, int fd, const char *client,
    const char *listen_addr)
{
	struct session *s = xcalloc(1, sizeof(*s));
	struct timeval tv;
	char who[128], peek;

	s->child = c;
	s->qfd = -1;
	snprintf(s->addr, sizeof(s->addr), "%s", client);
	/* IPv4-mapped IPv6 clients are shown as IPv4, as Postfix does. */
	if (strncmp(s->addr, "::ffff:", 7) == 0 && strchr(s->addr + 7, '.'))
		memmove(s->addr, s->addr + 7, strlen(s->addr + 7) + 1);
	snprintf(s->name, sizeof(s->name), "unknown");
	s->saved_verbose = log_get_verbose();
	if (peer_list_match(S.debug_peers, s->name, s->addr) == 1)
		log_set_verbose(s->saved_verbose + S.debug_level);
	smtp_line_reader_init(&s->lr, SMTP_COMMAND_LINE_MAX_BYTES);
	buf_init(&s->pending_reply, 16 * 1024);
	s->timer = evtimer_new(base, on_error_sleep, s);
	s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		close(fd);
		event_free(s->timer);
		free(s);
		return;
	}
	nsessions++;
	tv.tv_sec = (time_t)S.timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	/* Stop reading while this much input waits (queue, error sleep). */
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_INPUT_MAX_BYTES);
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	log_info("connect from %s", client_label(s, who, sizeof(who)));
	/*
	 * A client that talks before the greeting does not wait for
	 * replies: a spam bot or a smuggling attempt.
	 */
	if (recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		log_info("%s talked before the greeting (pregreet)",
		    client_label(s, who, sizeof(who)));
		if (S.forbid_unauth_pipelining) {
			reply(s, "554 5.5.0 Error: SMTP protocol "
			    "synchronization");
			s->state = SS_QUIT;
			bufferevent_enable(s->bev, EV_WRITE);
			return;
		}
	}
	reply(s, "220 %s", S.banner);
	s->state = SS_CONNECTED;
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static size_t
smtpd_active(struct child *c)
{
	return nsessions;
}

const struct child_program smtpd_program = {
	.name = "smtpd",
	.init = smtpd_init,
	.accept_fn = smtpd_accept,
	.active = smtpd_active,
	.internal_chroot = false,
};
