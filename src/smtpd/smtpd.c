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
 * This file: the process (settings, accept), replies and logging, and
 * the session's I/O loop; smtpd_cmd.c has the commands, smtpd_txn.c the
 * message transaction and the queue file; smtpd_session.h what they
 * share.
 *
 * TLS (STARTTLS, RFC 3207, and implicit TLS, RFC 8314) is in
 * smtpd_tls.c.
 *
 * The client's name is looked up at connect (smtpd_dns.h: PTR, then a
 * forward check) before the "connect from" line and the greeting.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ifaddrs.h>
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

#include "address.h"
#include "buf.h"
#include "config.h"
#include "dict.h"
#include "log.h"
#include "peer_match.h"
#include "queue_client.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "smtp_command.h"
#include "smtp_data.h"
#include "smtpd.h"
#include "smtpd_check.h"
#include "smtpd_dns.h"
#include "smtpd_ehlo.h"
#include "smtpd_hbc.h"
#include "smtpd_hdrw.h"
#include "smtpd_limit.h"
#include "smtpd_milter.h"
#include "smtpd_notice.h"
#include "smtpd_peers.h"
#include "smtpd_proxy.h"
#include "smtpd_xclient.h"
#include "smtpd_screen.h"
#include "reply_footer.h"
#include "smtpd_session.h"
#include "soft_bounce.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

struct smtpd_settings smtpd_cfg;
size_t smtpd_nsessions;
struct event_base *smtpd_base;
struct child *smtpd_child;

/* ---------------------------------------------------------------- */
/* Replies and logging                                              */

const char *
smtpd_client_label(struct session *s, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s[%s]", s->name, s->addr);
	return out;
}

/*
 * Replies on a plain socket leave by a direct write, not through the
 * bufferevent's write event: that would cost two epoll_ctl calls and a
 * trip round the loop for every reply.  A reply is appended to the
 * bufferevent's output buffer (so order is kept whatever path it takes)
 * and the session joins the flush list; once the callbacks of this
 * loop iteration are done, one write sends all of a session's replies
 * (pipelined replies stay one write).  What the socket does not take
 * is left to the bufferevent, with its write event enabled until the
 * buffer drains (on_write).  TLS sessions always go through their
 * bufferevent.
 */
static TAILQ_HEAD(, session) flush_list = TAILQ_HEAD_INITIALIZER(flush_list);
static struct event *flush_ev;

static bool
plain_socket(const struct session *s)
{
	return s->bev != NULL && !s->bev_owns_fd;
}

/* reply_out - queue bytes of replies for the client. */
static void
reply_out(struct session *s, const void *data, size_t len)
{
	if (s->bev == NULL)
		return;
	bufferevent_write(s->bev, data, len);
	if (!plain_socket(s) || s->flush_queued)
		return;
	s->flush_queued = true;
	TAILQ_INSERT_TAIL(&flush_list, s, flush_link);
	event_active(flush_ev, EV_WRITE, 1);
}

/*
 * output_drained - everything written has left: a session that said
 * QUIT ends, one that said STARTTLS starts the handshake.  May free s.
 */
static void
output_drained(struct session *s)
{
	if (s->state == SS_QUIT)
		smtpd_session_free(s);
	else if (s->state == SS_STARTTLS)
		smtpd_tls_begin(s);
}

/* flush_session - write a session's queued replies now.  May free s. */
static void
flush_session(struct session *s)
{
	struct evbuffer *out;
	int n, e;

	if (!plain_socket(s))
		return;
	out = bufferevent_get_output(s->bev);
	if (evbuffer_get_length(out) == 0 ||
	    (bufferevent_get_enabled(s->bev) & EV_WRITE) != 0)
		return;		/* nothing, or the bufferevent is on it */
	/* A socket bufferevent keeps the front of its output frozen: only
	 * its own writer drains it.  Do as that writer does. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, s->fd);
	e = errno;
	evbuffer_freeze(out, 1);
	if (n < 0 && e != EAGAIN && e != EINTR) {
		/* Let the bufferevent meet the error and report it. */
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	if (evbuffer_get_length(out) != 0) {
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	output_drained(s);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&flush_list)) != NULL) {
		TAILQ_REMOVE(&flush_list, s, flush_link);
		s->flush_queued = false;
		flush_session(s);
	}
}

/*
 * Reading a plain socket is ours too: the bufferevent's reader asks the
 * kernel how much is waiting (an ioctl) before every read and takes at
 * most 4 KiB a time, so a message of 100 KiB cost 25 trips round the
 * loop.  read_update() keeps s->rev armed while reading is wanted
 * (s->read_on) and the input holds less than SMTPD_INPUT_MAX_BYTES; its
 * timeout, smtpd_timeout, restarts with every read, as the
 * bufferevent's did.  TLS sessions read through their bufferevent.
 */
#define SMTPD_READ_CHUNK_BYTES (64 * 1024)

static void session_event(struct session *s, short what);

static void
read_update(struct session *s)
{
	struct timeval tv = { (time_t)smtpd_cfg.timeout, 0 };
	bool want, armed;

	if (!plain_socket(s) || s->rev == NULL)
		return;
	want = s->read_on && evbuffer_get_length(bufferevent_get_input(
	    s->bev)) < SMTPD_INPUT_MAX_BYTES;
	armed = event_pending(s->rev, EV_READ, NULL) != 0;
	if (want && !armed)
		event_add(s->rev, &tv);
	else if (!want && armed)
		event_del(s->rev);
}

void
smtpd_read_enable(struct session *s, bool on)
{
	if (s->bev == NULL)
		return;
	if (!plain_socket(s)) {
		if (on)
			bufferevent_enable(s->bev, EV_READ);
		else
			bufferevent_disable(s->bev, EV_READ);
		return;
	}
	s->read_on = on;
	read_update(s);
}

/*
 * read_some - one read into the input buffer, at most what keeps it
 * under SMTPD_INPUT_MAX_BYTES.  Returns what read() returned.  The read
 * goes through one buffer of the process and is then copied, so that
 * the session's input holds only what came (a reservation of the full
 * chunk in every session that waits with input pending would cost
 * 64 KiB each).
 */
static ssize_t
read_some(struct session *s)
{
	static char chunk[SMTPD_READ_CHUNK_BYTES];
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t have = evbuffer_get_length(in), want;
	ssize_t n;
	int e;

	if (have >= SMTPD_INPUT_MAX_BYTES) {
		errno = EAGAIN;		/* full: read_update() stops us */
		return -1;
	}
	want = SMTPD_INPUT_MAX_BYTES - have;
	if (want > sizeof(chunk))
		want = sizeof(chunk);
	n = read(s->fd, chunk, want);
	if (n <= 0)
		return n;
	e = 0;
	/* The bufferevent keeps the end of its input frozen. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_add(in, chunk, (size_t)n) < 0)
		e = ENOMEM;
	evbuffer_freeze(in, 0);
	if (e != 0) {
		errno = e;
		return -1;
	}
	return n;
}

static void
on_sock_read(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		session_event(s, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
		return;
	}
	n = read_some(s);
	read_update(s);
	if (n == 0) {
		session_event(s, BEV_EVENT_READING | BEV_EVENT_EOF);
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		session_event(s, BEV_EVENT_READING | BEV_EVENT_ERROR);
		return;
	}
	smtpd_session_process(s);
}

/* bev_enable - reading, and writing where the bufferevent writes. */
static void
bev_enable(struct session *s)
{
	if (plain_socket(s))
		smtpd_read_enable(s, true);
	else
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* footer_macro - the values smtpd_reject_footer may name
 * (reply_footer.h); other names are main.cf parameters. */
static const char *
footer_macro(void *ctx, const char *name, size_t len)
{
	static char buf[SMTPD_REPLY_MAX_BYTES];
	struct session *s = ctx;
	char key[64];

	if (len >= sizeof(key))
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	if (strcmp(key, "client_address") == 0)
		return s->addr;
	if (strcmp(key, "client_name") == 0)
		return s->name;
	if (strcmp(key, "reverse_client_name") == 0)
		return s->reverse_name;
	if (strcmp(key, "client_port") == 0) {
		snprintf(buf, sizeof(buf), "%u", s->client_port);
		return buf;
	}
	if (strcmp(key, "helo_name") == 0)
		return s->helo;
	if (strcmp(key, "sasl_username") == 0)
		return s->authenticated ? s->auth_user : NULL;
	if (strcmp(key, "sasl_method") == 0)
		return s->authenticated ? s->auth_mech : NULL;
	if (strcmp(key, "sender") == 0)
		return s->have_mail ? s->mail.from.text : NULL;
	if (strcmp(key, "server_name") == 0)
		return smtpd_cfg.myhostname;
	if (strcmp(key, "service_name") == 0)
		return smtpd_cfg.service;
	if (strcmp(key, "localtime") == 0) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%b %e %H:%M:%S", &tm);
		return buf;
	}
	{
		char *v = config_expand_name(child_view(smtpd_child), key);

		if (v == NULL)
			return NULL;
		snprintf(buf, sizeof(buf), "%s", v);
		free(v);
		return buf;
	}
}

/* reply_line - one line as sent (n bytes, then CRLF at line[n]):
 * logged, in the transcript, queued. */
static void
reply_line(struct session *s, const char *line, size_t n)
{
	log_debug(1, "> %s[%s]: %.*s", s->name, s->addr, (int)n, line);
	if (smtpd_cfg.transcripts)
		smtpd_notice_out(s, line, n);
	if (s->error_sleep) {
		(void)buf_append(&s->pending_reply, line, n + 2);
		return;
	}
	reply_out(s, line, n + 2);
}

/*
 * reply - queue one reply line ("250 2.1.0 Ok").  text is ours (never
 * raw client input).  The last line of a 4xx or 5xx reply gets
 * smtpd_reject_footer.  An error reply counts towards the error limits
 * (smtpd_reply_error).
 */
void
smtpd_reply(struct session *s, const char *fmt, ...)
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
	if (smtpd_cfg.soft_bounce)
		(void)soft_bounce_reply(line, (size_t)n);
	if (smtpd_cfg.reject_footer != NULL && n >= 4 && line[3] == ' ' &&
	    (line[0] == '4' || line[0] == '5')) {
		struct buf out;
		const char *err = NULL;

		buf_init(&out, 64 * 1024);
		if (reply_footer_apply(line, (size_t)n, smtpd_cfg.reject_footer,
		    footer_macro, s, SMTPD_REPLY_MAX_BYTES - 3, &out,
		    &err) == 0) {
			/* Every line ends in CRLF (reply_footer.h). */
			for (size_t at = 0; at < out.len;) {
				const char *e = memchr(out.data + at, '\r',
				    out.len - at);
				size_t ln;

				if (e == NULL || e + 1 >= out.data + out.len)
					break;
				ln = (size_t)(e - out.data) - at;
				reply_line(s, out.data + at, ln);
				at += ln + 2;
			}
			buf_deinit(&out);
			return;
		}
		log_debug(1, "smtpd_reject_footer not added: %s", err);
		buf_deinit(&out);
	}
	line[n] = '\r';
	line[n + 1] = '\n';
	reply_line(s, line, (size_t)n);
}

/*
 * reply_error - an error reply: counts the error, sleeps
 * smtpd_error_sleep_time once past the soft limit, and ends the
 * session at the hard limit.  Returns false when the session ends.
 */
static void
on_error_sleep(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	s->paused = false;
	s->error_sleep = false;
	reply_out(s, s->pending_reply.data, s->pending_reply.len);
	buf_reset(&s->pending_reply);
	smtpd_session_process(s);
}

bool
smtpd_reply_error(struct session *s, const char *fmt, ...)
{
	char line[SMTPD_REPLY_MAX_BYTES];
	char who[SMTPD_LABEL_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return true;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	if (smtpd_cfg.soft_bounce)	/* the delayed reply, too */
		(void)soft_bounce_reply(line, (size_t)n);
	s->errors++;
	/* Postfix: past smtpd_soft_error_limit errors, replies slow down;
	 * at smtpd_hard_error_limit the session ends. */
	if (s->errors >= (unsigned)smtpd_cfg.hard_error_limit) {
		log_info("too many errors after %s from %s",
		    s->have_last_verb ? smtp_verb_name(s->last_verb) :
		    "CONNECT", smtpd_client_label(s, who, sizeof(who)));
		smtpd_reply(s, "%.*s", n, line);
		smtpd_reply(s, "421 4.7.0 %s Error: too many errors",
		    smtpd_cfg.myhostname);
		s->state = SS_QUIT;
		return false;
	}
	if (s->errors > (unsigned)smtpd_cfg.soft_error_limit &&
	    smtpd_cfg.error_sleep > 0) {
		struct timeval tv = { (time_t)smtpd_cfg.error_sleep, 0 };

		log_debug(1, "%s: error limit reached: replying after %llds",
		    smtpd_client_label(s, who, sizeof(who)), smtpd_cfg.error_sleep);
		/* Held back (with its footer) until the timer. */
		s->paused = true;
		s->error_sleep = true;
		smtpd_reply(s, "%.*s", n, line);
		evtimer_add(s->timer, &tv);
		return true;
	}
	smtpd_reply(s, "%.*s", n, line);
	return true;
}

/* log_reject - "NOQUEUE: reject: CMD from client: reply; from=<> ..." */
void
smtpd_log_reject(struct session *s, const char *cmd, const char *replytext,
    const char *rcpt)
{
	char who[SMTPD_LABEL_MAX], helo[SMTPD_HELO_MAX_BYTES * 4 + 8];
	char from[ADDRESS_PATH_MAX_BYTES * 4 + 8];
	char to[ADDRESS_PATH_MAX_BYTES * 4 + 8];
	char sent[SMTPD_REPLY_MAX_BYTES];

	/* The reply as the client gets it (smtpd_reply). */
	if (smtpd_cfg.soft_bounce) {
		snprintf(sent, sizeof(sent), "%s", replytext);
		if (soft_bounce_reply(sent, strlen(sent)))
			replytext = sent;
	}

	log_escape(helo, sizeof(helo), s->helo ? s->helo : "",
	    s->helo ? strlen(s->helo) : 0, SMTPD_HELO_MAX_BYTES);
	log_escape(from, sizeof(from), s->have_mail ? s->mail.from.text : "",
	    s->have_mail ? strlen(s->mail.from.text) : 0,
	    ADDRESS_PATH_MAX_BYTES);
	log_escape(to, sizeof(to), rcpt ? rcpt : "", rcpt ? strlen(rcpt) : 0,
	    ADDRESS_PATH_MAX_BYTES);
	log_info("%s: reject: %s from %s: %s;%s%s%s%s%s%s proto=%s helo=<%s>",
	    s->id[0] ? s->id : "NOQUEUE", cmd,
	    smtpd_client_label(s, who, sizeof(who)), replytext,
	    s->have_mail ? " from=<" : "", s->have_mail ? from : "",
	    s->have_mail ? ">" : "", rcpt ? " to=<" : "", rcpt ? to : "",
	    rcpt ? ">" : "", s->esmtp ? "ESMTP" : "SMTP", helo);
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
	allowed = (double)smtpd_cfg.timeout + (double)s->data_bytes /
	    (double)smtpd_cfg.min_data_rate;
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
	/* paused: the header address rewriting waits for the lookup
	 * process (smtpd_hdrw.h); the rest is read when it has answered. */
	while ((s->state == SS_DATA || s->state == SS_BDAT) && !s->paused) {
		struct evbuffer_iovec v;
		size_t take, used = 0;

		/* "BDAT 0" has no data to wait for. */
		if (s->state == SS_BDAT && s->bdat_left == 0) {
			smtpd_bdat_chunk_done(s);
			continue;
		}
		if (evbuffer_get_length(in) == 0)
			break;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		take = v.iov_len;
		if (s->state == SS_DATA) {
			enum smtp_data_status st = smtp_data_read(&s->dr,
			    v.iov_base, take, &used, smtpd_data_out, s);

			s->data_bytes += used;
			evbuffer_drain(in, used);
			if (st == SMTP_DATA_END) {
				smtpd_finish_message(s);
				return s->state != SS_QUIT;
			}
		} else {
			if (take > s->bdat_left)
				take = (size_t)s->bdat_left;
			if (!s->bdat_drop)
				smtp_data_read_chunk(&s->dr, v.iov_base, take,
				    smtpd_data_out, s);
			s->bdat_left -= take;
			s->data_bytes += take;
			evbuffer_drain(in, take);
			if (s->bdat_left == 0)
				smtpd_bdat_chunk_done(s);
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
		char who[SMTPD_LABEL_MAX];

		log_info("%s: timeout: data arrives slower than "
		    "smtpd_min_data_rate (%lld bytes/s) after %llu bytes from "
		    "%s", s->id[0] ? s->id : "NOQUEUE", smtpd_cfg.min_data_rate,
		    (unsigned long long)s->data_bytes,
		    smtpd_client_label(s, who, sizeof(who)));
		smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", smtpd_cfg.myhostname);
		s->state = SS_QUIT;
		return false;
	}
	return true;
}

/*
 * session_process - work through buffered input until it runs out or
 * the session must wait (queue, error sleep) or ends.
 */
void
smtpd_session_process(struct session *s)
{
	struct evbuffer *in;

	if (s->bev == NULL)
		return;		/* waiting for the TLS hello */
	in = bufferevent_get_input(s->bev);
	while (!s->paused && s->state != SS_QUIT) {
		if (s->state == SS_DATA || s->state == SS_BDAT) {
			if (!feed_data(s, in))
				break;
			if (s->state == SS_DATA || s->state == SS_BDAT)
				break;	/* need more input */
			continue;
		}
		if (s->state == SS_WAIT_FILE || s->state == SS_WAIT_COMMIT ||
		    s->state == SS_STARTTLS || s->state == SS_TLS_HANDSHAKE)
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
			smtpd_handle_line(s, st, line, llen);
		}
	}
	if (s->state == SS_QUIT) {
		/* Close once the last reply has left. */
		smtpd_read_enable(s, false);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			smtpd_session_free(s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
	    SMTPD_OUTPUT_MAX_BYTES) {
		char who[SMTPD_LABEL_MAX];

		log_info("client %s does not read its replies; closing",
		    smtpd_client_label(s, who, sizeof(who)));
		smtpd_session_free(s);
		return;
	}
	read_update(s);		/* input drained below the limit */
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	smtpd_session_process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	/* Back to direct writes (reply_out). */
	if (plain_socket(s))
		bufferevent_disable(bev, EV_WRITE);
	output_drained(s);
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
	case SS_STARTTLS:
	case SS_TLS_HANDSHAKE:
		return "STARTTLS";
	default:
		return s->have_last_verb ? smtp_verb_name(s->last_verb) :
		    "CONNECT";
	}
}

/*
 * session_event - timeout, end of input or an error on the connection
 * (BEV_EVENT_* flags, from the bufferevent or from on_sock_read).
 */
static void
session_event(struct session *s, short what)
{
	char who[SMTPD_LABEL_MAX];

	if ((what & BEV_EVENT_TIMEOUT) && s->state == SS_QUIT) {
		/* The last reply (421 or 221) did not leave in time: a
		 * client that does not read is not waited for again. */
		log_info("timeout sending the last reply to %s; closing",
		    smtpd_client_label(s, who, sizeof(who)));
		smtpd_session_free(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		log_info("timeout after %s from %s", state_command(s),
		    smtpd_client_label(s, who, sizeof(who)));
		smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", smtpd_cfg.myhostname);
		s->state = SS_QUIT;
		smtpd_read_enable(s, false);
		if (!plain_socket(s))
			bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	if (s->state != SS_QUIT)
		log_info("lost connection after %s from %s", state_command(s),
		    smtpd_client_label(s, who, sizeof(who)));
	smtpd_session_free(s);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_TLS_HANDSHAKE) {
		smtpd_tls_event(s, what);
		return;
	}
	if (what & BEV_EVENT_CONNECTED)
		return;
	session_event(s, what);
}

/* log_disconnect - Postfix's "disconnect from ... ehlo=1 mail=1 ...". */
static void
log_disconnect(struct session *s)
{
	static const enum smtp_verb order[] = {
		SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_XCLIENT,
		SMTP_VERB_XFORWARD, SMTP_VERB_MAIL,
		SMTP_VERB_RCPT, SMTP_VERB_DATA, SMTP_VERB_BDAT,
		SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_VRFY,
		SMTP_VERB_HELP, SMTP_VERB_EXPN, SMTP_VERB_STARTTLS,
		SMTP_VERB_AUTH, SMTP_VERB_QUIT, SMTP_VERB_UNKNOWN,
	};
	char who[SMTPD_LABEL_MAX];
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
	log_info("disconnect from %s%s", smtpd_client_label(s, who, sizeof(who)),
	    buf_cstr(&b));
	buf_deinit(&b);
}

void
smtpd_session_free(struct session *s)
{
	if (s->id[0] != '\0' && s->state != SS_QUIT)
		log_info("%s: message not queued: the client went away",
		    s->id);
	log_disconnect(s);
	smtpd_notice_session_end(s);
	if (s->flush_queued)
		TAILQ_REMOVE(&flush_list, s, flush_link);
	smtpd_peer_lookup_cancel(s);
	smtpd_ehlo_session_end(s);
	smtpd_screen_session_end(s);
	free(s->screen_reply);
	smtpd_proxy_session_end(s);
	smtpd_limit_session_end(s);
	free(s->name_reason);
	smtpd_transaction_reset(s);
	smtpd_milter_session_end(s);
	smtpd_check_session_end(s);
	smtpd_auth_session_end(s);
	free(s->rcpts);
	free(s->helo);
	free(s->ccert);
	smtp_line_reader_deinit(&s->lr);
	buf_deinit(&s->pending_reply);
	event_free(s->timer);
	if (s->rev != NULL)
		event_free(s->rev);
	if (s->tls_wait != NULL)
		event_free(s->tls_wait);
	/* A session that ended with QUIT, or with the client's
	 * close_notify, ended well: its TLS session stays resumable
	 * (OpenSSL drops a cached session whose connection is freed
	 * without a shutdown; nothing is sent here). */
	if (s->ssl != NULL && (s->oks[SMTP_VERB_QUIT] > 0 ||
	    (SSL_get_shutdown(s->ssl) & SSL_RECEIVED_SHUTDOWN) != 0))
		SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN |
		    SSL_RECEIVED_SHUTDOWN);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	else if (s->ssl != NULL)
		SSL_free(s->ssl);
	if (!s->bev_owns_fd)
		close(s->fd);
	log_set_verbose(s->saved_verbose);
	free(s);
	smtpd_nsessions--;
	/* A draining child exits with its last session. */
	child_connection_done(smtpd_child);
}

/*
 * bev_setup - timeouts, input bound and callbacks of a session's
 * bufferevent (a plain socket, or TLS after the handshake).
 */
void
smtpd_bev_setup(struct session *s, long long timeout)
{
	struct timeval tv;

	tv.tv_sec = (time_t)timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	/* Stop reading while this much input waits (queue, error sleep). */
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_INPUT_MAX_BYTES);
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
}

/* greet - the 220 greeting (after the handshake on a wrapper port). */
/* connect_filtered - a filter's refusal is kept by smtpd_milter and
 * given to later commands. */
static void
connect_filtered(struct session *s, const char *reply)
{
	(void)s;
	(void)reply;
}

/* connect_checked - a refusal is kept and given to later commands;
 * else the filters see the connection. */
static void
connect_checked(struct session *s, const struct smtpd_check_result *r)
{
	if (r->reject)
		smtpd_log_reject(s, "CONNECT", r->reply, NULL);
	else
		(void)smtpd_milter_connect(s, connect_filtered);
}

/* connect_stage - after the greeting: the client restrictions when
 * smtpd_delay_reject = no, then the filters' connect event. */
static void
connect_stage(struct session *s)
{
	if (smtpd_check_wanted(s, SMTPD_CHECK_CONNECT)) {
		smtpd_check_start(s, SMTPD_CHECK_CONNECT, NULL,
		    connect_checked);
		return;
	}
	(void)smtpd_milter_connect(s, connect_filtered);
}

void
smtpd_greet(struct session *s)
{
	/* Over a per-client limit: the refusal instead (smtpd_limit.h). */
	if (s->limit_refusal != NULL) {
		smtpd_reply(s, "%s", s->limit_refusal);
		s->state = SS_QUIT;
		return;
	}
	smtpd_reply(s, "220 %s", smtpd_cfg.banner);
	s->state = SS_CONNECTED;
	bev_enable(s);
	connect_stage(s);
}

/* ---------------------------------------------------------------- */
/* Process                                                          */

/* The value of mynetworks (mynetworks_of), from preinit on. */
static char *mynetworks_value;

/*
 * mynetworks_derive - Postfix's mynetworks when it is not set: "host"
 * the addresses of this machine's interfaces, "subnet" (and "class",
 * which Ostia narrows to subnet) their networks.  Caller frees.
 */
static char *
mynetworks_derive(const char *style)
{
	struct ifaddrs *ifa, *p;
	struct buf b;
	bool subnet = strcasecmp(style, "host") != 0;

	buf_init(&b, 64 * 1024);
	(void)buf_append_str(&b, "127.0.0.0/8 [::1]/128");
	if (strcasecmp(style, "class") == 0)
		log_warning("mynetworks_style = class is treated as subnet: "
		    "whole address classes are too wide to trust");
	if (getifaddrs(&ifa) == 0) {
		for (p = ifa; p != NULL; p = p->ifa_next) {
			char a[INET6_ADDRSTRLEN], el[INET6_ADDRSTRLEN + 64];
			int bits = 0;

			if (p->ifa_addr == NULL)
				continue;
			if (p->ifa_addr->sa_family == AF_INET) {
				struct sockaddr_in sin, mask;
				struct in_addr in;

				/* Copies: the getifaddrs() pointers are only
				 * as aligned as a struct sockaddr. */
				memcpy(&sin, p->ifa_addr, sizeof(sin));
				in = sin.sin_addr;
				if (subnet && p->ifa_netmask != NULL) {
					uint32_t m;

					memcpy(&mask, p->ifa_netmask, sizeof(mask));
					m = ntohl(mask.sin_addr.s_addr);
					bits = __builtin_popcount(m);
					in.s_addr &= htonl(m);
				} else {
					bits = 32;
				}
				inet_ntop(AF_INET, &in, a, sizeof(a));
				snprintf(el, sizeof(el), " %s/%d", a, bits);
				(void)buf_append_str(&b, el);
			} else if (p->ifa_addr->sa_family == AF_INET6) {
				struct sockaddr_in6 sin6, mask6;
				struct in6_addr in6;

				memcpy(&sin6, p->ifa_addr, sizeof(sin6));
				in6 = sin6.sin6_addr;
				if (IN6_IS_ADDR_LINKLOCAL(&in6))
					continue;
				bits = 128;
				if (subnet && p->ifa_netmask != NULL) {
					const unsigned char *m;

					memcpy(&mask6, p->ifa_netmask,
					    sizeof(mask6));
					m = mask6.sin6_addr.s6_addr;
					bits = 0;
					for (int i = 0; i < 16; i++) {
						bits += __builtin_popcount(m[i]);
						in6.s6_addr[i] &= m[i];
					}
				}
				inet_ntop(AF_INET6, &in6, a, sizeof(a));
				snprintf(el, sizeof(el), " [%s]/%d", a, bits);
				(void)buf_append_str(&b, el);
			}
		}
		freeifaddrs(ifa);
	}
	{
		char *out = xstrdup(b.data);

		buf_deinit(&b);
		return out;
	}
}

/* mynetworks_of - the value of mynetworks: as set, or (unset) derived
 * from mynetworks_style.  Caller frees. */
static char *
mynetworks_of(const struct config_view *v)
{
	const char *mn = config_str(v, P_mynetworks);

	return *mn != '\0' ? xstrdup(mn) :
	    mynetworks_derive(config_str(v, P_mynetworks_style));
}

/* read_auth_settings - SMTP AUTH (smtpd_auth.c). */
static void
read_auth_settings(const struct config_view *v)
{
	const char *type = config_str(v, P_smtpd_sasl_type);
	char **maps, **opts;

	smtpd_cfg.sasl_enable = config_bool(v, P_smtpd_sasl_auth_enable);
	smtpd_cfg.sasl_type = strcasecmp(type, "dovecot") == 0 ?
	    SMTPD_SASL_DOVECOT : SMTPD_SASL_OSTIA;
	if (smtpd_cfg.sasl_enable && strcasecmp(type, "cyrus") == 0)
		log_fatal("smtpd_sasl_type = cyrus is not supported: use "
		    "dovecot (Dovecot's auth socket) or ostia (the account "
		    "tables, smtpd_sasl_password_maps)");
	smtpd_cfg.sasl_path = config_str(v, P_smtpd_sasl_path);
	smtpd_cfg.sasl_local_domain = config_str(v, P_smtpd_sasl_local_domain);
	if (smtpd_cfg.sasl_enable &&
	    smtpd_cfg.sasl_type == SMTPD_SASL_DOVECOT &&
	    smtpd_cfg.sasl_local_domain[0] != '\0')
		log_warning("smtpd_sasl_local_domain = %s has no effect with "
		    "smtpd_sasl_type = dovecot (as in Postfix): Dovecot's "
		    "auth_default_realm completes login names there",
		    smtpd_cfg.sasl_local_domain);
	maps = config_list(v, P_smtpd_sasl_password_maps);
	if (maps[0] != NULL) {
		smtpd_cfg.sasl_password_table = xstrdup(maps[0]);
		if (maps[1] != NULL)
			log_warning("smtpd_sasl_password_maps: only the first "
			    "table (%s) is used", maps[0]);
	}
	strv_free(&maps);
	for (int pass = 0; pass < 2; pass++) {
		unsigned bits = 0;

		opts = config_list(v, pass == 0 ? P_smtpd_sasl_security_options :
		    P_smtpd_sasl_tls_security_options);
		for (size_t i = 0; opts[i] != NULL; i++) {
			if (strcasecmp(opts[i], "noplaintext") == 0)
				bits |= SASL_SEC_NOPLAINTEXT;
			else if (strcasecmp(opts[i], "noanonymous") == 0)
				bits |= SASL_SEC_NOANONYMOUS;
		}
		strv_free(&opts);
		if (pass == 0)
			smtpd_cfg.sasl_opts = bits;
		else
			smtpd_cfg.sasl_tls_opts = bits;
	}
	smtpd_cfg.sasl_response_limit = (size_t)config_size(v,
	    P_smtpd_sasl_response_limit);
	smtpd_cfg.tls_auth_only = config_bool(v, P_smtpd_tls_auth_only);
	smtpd_cfg.broken_auth_clients = config_bool(v,
	    P_broken_sasl_auth_clients);
	smtpd_cfg.auth_header = config_bool(v,
	    P_smtpd_sasl_authenticated_header);
	smtpd_cfg.auth_failure_limit = config_int(v, P_smtpd_auth_failure_limit);
	smtpd_cfg.auth_failure_window = config_time(v,
	    P_smtpd_auth_failure_window);
	/* Sender ownership: where Postfix would evaluate these. */
	{
		static const enum param_id lists[] = {
			P_smtpd_sender_restrictions,
			P_smtpd_recipient_restrictions,
			P_smtpd_relay_restrictions,
		};

		/* In smtpd_sender_restrictions, a permit before the
		 * check ends the list first (Postfix's order). */
		char **rl = config_list(v, P_smtpd_sender_restrictions);

		for (size_t i = 0; rl[i] != NULL; i++) {
			if (strstr(rl[i], "sender_login_mismatch") != NULL)
				break;
			if (strcasecmp(rl[i], "permit_mynetworks") == 0)
				smtpd_cfg.sender_permit_mynetworks = true;
			if (strcasecmp(rl[i], "permit_sasl_authenticated") == 0)
				smtpd_cfg.sender_permit_sasl = true;
		}
		strv_free(&rl);
		{
			const char *merr = NULL;

			if (mynetworks_value == NULL)
				mynetworks_value = mynetworks_of(v);
			smtpd_cfg.mynetworks = smtpd_peers_parse(v,
			    "mynetworks", mynetworks_value, &merr);
			if (smtpd_cfg.mynetworks == NULL)
				log_fatal("mynetworks: %s", merr);
			log_debug(1, "mynetworks: %s", mynetworks_value);
		}
		for (size_t k = 0; k < N_ELEMENTS(lists); k++) {
			if (config_list_contains(v, lists[k],
			    "reject_sender_login_mismatch")) {
				smtpd_cfg.sender_check_auth = true;
				smtpd_cfg.sender_check_unauth = true;
			}
			if (config_list_contains(v, lists[k],
			    "reject_authenticated_sender_login_mismatch") ||
			    config_list_contains(v, lists[k],
			    "reject_known_sender_login_mismatch"))
				smtpd_cfg.sender_check_auth = true;
			if (config_list_contains(v, lists[k],
			    "reject_unauthenticated_sender_login_mismatch"))
				smtpd_cfg.sender_check_unauth = true;
		}
		maps = config_list(v, P_smtpd_sender_login_maps);
		if (maps[0] != NULL)
			smtpd_cfg.sender_login_table = xstrdup(maps[0]);
		else if (smtpd_cfg.sender_check_auth ||
		    smtpd_cfg.sender_check_unauth)
			log_warning("reject_*_sender_login_mismatch without "
			    "smtpd_sender_login_maps: every authenticated "
			    "sender is refused");
		strv_free(&maps);
	}
	/* RFC 4954 4: AUTH lines may be longer than 512 octets. */
	smtpd_cfg.line_max = SMTP_COMMAND_LINE_MAX_BYTES;
	if (smtpd_cfg.sasl_enable)
		smtpd_cfg.line_max = smtpd_cfg.sasl_response_limit + 64;
}

/* Made before privileges are dropped (keys), kept for smtpd_init. */
static struct tls_server *preinit_tls;

/* preinit_peers - parse the client lists while their files and tables
 * are reachable (smtpd_peers.h). */
static void
preinit_peers(const struct config_view *v)
{
	static const enum param_id ids[] = {
		P_debug_peer_list, P_permit_mx_backup_networks,
		P_smtpd_client_event_limit_exceptions,
		P_smtpd_authorized_xclient_hosts,
		P_smtpd_authorized_xforward_hosts,
		P_smtpd_forbid_bare_newline_exclusions,
		P_smtpd_sasl_exceptions_networks,
	};

	mynetworks_value = mynetworks_of(v);
	smtpd_peers_remember(v, "mynetworks", mynetworks_value);
	for (size_t i = 0; i < N_ELEMENTS(ids); i++)
		smtpd_peers_remember(v, config_params[ids[i]].name,
		    config_str(v, ids[i]));
}

static void
smtpd_preinit(struct child *c)
{
	char err[1024];

	/* Header and body check tables, while their files are reachable
	 * (before the privilege drop and any chroot). */
	smtpd_hbc_init(child_view(c));
	smtpd_hdrw_init(child_view(c));
	smtpd_screen_preinit(child_screen_view(c));
	preinit_peers(child_view(c));
	preinit_tls = tls_server_create(child_view(c), err, sizeof(err));
	if (preinit_tls == NULL && err[0] != '\0')
		log_fatal("service %s: TLS cannot start: %s",
		    child_service(c) != NULL ? child_service(c)->name :
		    "smtpd", err);
}

static void
smtpd_ctl_msg(struct child *c, const char *tag, const unsigned char *data,
    size_t len)
{
	if (memcmp(tag, "TKEY", 4) == 0 && len == TLS_TICKET_KEY_BYTES &&
	    smtpd_cfg.tls != NULL && tls_server_tickets(smtpd_cfg.tls))
		tls_server_add_ticket_key(smtpd_cfg.tls, data);
}

/*
 * forbidden_commands - smtpd_forbidden_commands as command words.  A
 * table (TYPE:NAME, as Postfix 3.9's default has) is not supported here:
 * said once, and left out.
 */
static void
forbidden_commands(const struct config_view *v)
{
	char **l = config_list(v, P_smtpd_forbidden_commands);
	size_t n = 0;

	for (size_t i = 0; l[i] != NULL; i++) {
		if (strchr(l[i], ':') != NULL) {
			log_warning("smtpd_forbidden_commands: %s is a table, "
			    "which is not supported here; list command names "
			    "(such as CONNECT GET POST)", l[i]);
			free(l[i]);
			continue;
		}
		l[n++] = l[i];
	}
	l[n] = NULL;
	strv_free(&smtpd_cfg.forbidden_cmds);
	smtpd_cfg.forbidden_cmds = l;
}

static void
smtpd_init(struct child *c)
{
	const struct config_view *v = child_view(c);
	const struct master_service *svc = child_service(c);
	const char *bare = config_str(v, P_smtpd_forbid_bare_newline);
	const char *err = NULL;
	char note[200];

	smtpd_child = c;
	smtpd_base = child_event_base(c);
	flush_ev = event_new(smtpd_base, -1, 0, on_flush, NULL);
	if (flush_ev == NULL)
		log_fatal("cannot create an event: out of memory");
	memset(&smtpd_cfg, 0, sizeof(smtpd_cfg));
	smtpd_cfg.myhostname = config_str(v, P_myhostname);
	smtpd_cfg.banner = config_str(v, P_smtpd_banner);
	smtpd_cfg.mail_name = config_str(v, P_mail_name);
	/* Behind postscreen: the settings are the pass service's, the
	 * listener is postscreen's (child.h). */
	smtpd_cfg.service = child_screen_service(c) != NULL ?
	    child_screen_service(c)->name : svc != NULL ? svc->name : "smtpd";
	/* How the lookup process finds this service's view: "NAME/TYPE"
	 * ("" = main.cf alone, for a child without a service). */
	smtpd_cfg.route_service = svc != NULL ? xasprintf("%s/%s", svc->name,
	    master_type_name(svc->type)) : xstrdup("");
	smtpd_cfg.queue_directory = config_str(v, P_queue_directory);
	/* The child works from queue_directory (or is chrooted to it). */
	smtpd_cfg.queue_socket = QUEUE_SOCKET_PATH;
	smtpd_cfg.message_size_limit = config_size(v, P_message_size_limit);
	smtpd_cfg.queue_minfree = config_size(v, P_queue_minfree);
	smtpd_cfg.recipient_limit = config_int(v, P_smtpd_recipient_limit);
	smtpd_cfg.timeout = config_time(v, P_smtpd_timeout);
	smtpd_cfg.min_data_rate = config_int(v, P_smtpd_min_data_rate);
	smtpd_cfg.soft_error_limit = config_int(v, P_smtpd_soft_error_limit);
	smtpd_cfg.hard_error_limit = config_int(v, P_smtpd_hard_error_limit);
	smtpd_cfg.error_sleep = config_time(v, P_smtpd_error_sleep_time);
	smtpd_cfg.junk_limit = config_int(v, P_smtpd_junk_command_limit);
	smtpd_cfg.helo_required = config_bool(v, P_smtpd_helo_required);
	smtpd_cfg.vrfy_disabled = config_bool(v, P_disable_vrfy_command);
	smtpd_cfg.soft_bounce = config_bool(v, P_soft_bounce);
	forbidden_commands(v);
	smtpd_cfg.drop_headers = config_list(v, P_message_drop_headers);
	if (msg_chars_parse(config_str(v, P_message_reject_characters),
	    &smtpd_cfg.reject_chars, note, sizeof(note)) != 0)
		log_warning("message_reject_characters: %s", note);
	if (msg_chars_parse(config_str(v, P_message_strip_characters),
	    &smtpd_cfg.strip_chars, note, sizeof(note)) != 0)
		log_warning("message_strip_characters: %s", note);
	smtpd_cfg.strict_envelopes = config_bool(v, P_strict_rfc821_envelopes);
	smtpd_cfg.forbid_unauth_pipelining = config_bool(v,
	    P_smtpd_forbid_unauth_pipelining);
	/* Postfix: yes is an alias of normalize; no is legacy and still
	 * never lets anything but CRLF.CRLF end a message here. */
	smtpd_cfg.bare_lf = strcasecmp(bare, "reject") == 0 ? SMTP_BARE_LF_REJECT :
	    SMTP_BARE_LF_NORMALIZE;
	smtpd_cfg.exts = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN |
	    SMTP_EXT_CHUNKING;
	if (config_bool(v, P_smtputf8_enable))
		smtpd_cfg.exts |= SMTP_EXT_SMTPUTF8;
	/* AUTH= on MAIL FROM (RFC 4954 5) once AUTH is offered. */
	if (config_bool(v, P_smtpd_sasl_auth_enable))
		smtpd_cfg.exts |= SMTP_EXT_AUTH;
	smtpd_cfg.vrfy_advertised = !smtpd_cfg.vrfy_disabled;
	/* smtpd_discard_ehlo_keywords and the per-client tables apply
	 * per session (smtpd_ehlo.h). */
	smtpd_ehlo_init(v);
	smtpd_cfg.tls = preinit_tls;
	read_auth_settings(v);
	smtpd_cfg.starttls_timeout = config_time(v, P_smtpd_starttls_timeout);
	smtpd_cfg.tls_received_header = config_bool(v,
	    P_smtpd_tls_received_header);
	smtpd_cfg.debug_level = (int)config_int(v, P_debug_peer_level);
	smtpd_cfg.debug_peers = smtpd_peers_parse(v, "debug_peer_list",
	    config_str(v, P_debug_peer_list), &err);
	if (smtpd_cfg.debug_peers == NULL)
		log_fatal("debug_peer_list: %s", err);
	if (strncmp(smtpd_cfg.banner, smtpd_cfg.myhostname,
	    strlen(smtpd_cfg.myhostname)) != 0)
		log_warning("smtpd_banner does not start with $myhostname "
		    "(%s), as RFC 5321 4.3.1 asks", smtpd_cfg.myhostname);
	smtpd_auth_init();
	smtpd_check_init(v);
	smtpd_dns_init(v);
	smtpd_limit_init(v);
	smtpd_xclient_init(v);
	smtpd_notice_init(v);
	(void)smtpd_milter_init(v);
	smtpd_cfg.proxy_protocol = smtpd_proxy_init(v,
	    child_screen_view(c));
	smtpd_screen_init(child_screen_view(c));
	if (smtpd_screen_on() && tls_server_wrapper(smtpd_cfg.tls))
		log_warning("service %s runs postscreen on an implicit-TLS "
		    "port (smtpd_tls_wrappermode = yes): its tests need "
		    "plaintext before the greeting, so they are not made here",
		    smtpd_cfg.service);
	smtpd_cfg.transcripts = smtpd_notice_wanted();
	smtpd_cfg.allow_min_user = config_bool(v, P_allow_min_user);
	smtpd_client_list_init(&smtpd_cfg.bare_lf_exclusions, v,
	    P_smtpd_forbid_bare_newline_exclusions,
	    "smtpd_forbid_bare_newline_exclusions");
	smtpd_cfg.bare_lf_code = (int)config_int(v,
	    P_smtpd_forbid_bare_newline_reject_code);
	smtpd_cfg.hopcount_limit = config_int(v, P_hopcount_limit);
	if (*config_str(v, P_always_bcc) != '\0' &&
	    !config_list_contains(v, P_receive_override_options,
	    "no_address_mappings")) {
		const char *why = NULL;

		smtpd_cfg.always_bcc = address_setting(config_str(v,
		    P_always_bcc), config_str(v, P_myorigin), &why);
		if (smtpd_cfg.always_bcc == NULL) {
			smtpd_cfg.always_bcc_err = xasprintf("always_bcc = "
			    "%s: %s", config_str(v, P_always_bcc), why);
			log_error("%s: every message is refused (451) until "
			    "this is fixed", smtpd_cfg.always_bcc_err);
		}
	}
	smtpd_client_list_init(&smtpd_cfg.sasl_exceptions, v,
	    P_smtpd_sasl_exceptions_networks, "smtpd_sasl_exceptions_networks");
	/* The footer's $names are the session's, at reply time: the text
	 * is taken as written. */
	{
		const char *footer = config_raw(v, "smtpd_reject_footer", NULL);

		if (footer != NULL && footer[0] != '\0') {
			if (reply_footer_check(footer, &err) < 0)
				log_warning("smtpd_reject_footer: %s; replies "
				    "are sent without the footer until it is "
				    "fixed", err);
			else
				smtpd_cfg.reject_footer = footer;
		}
	}
	smtpd_peers_forget();	/* lists remembered and not asked for */
}

void
smtpd_client_list_init(struct smtpd_client_list *cl,
    const struct config_view *v, enum param_id id, const char *name)
{
	const char *raw = config_raw(v, name, NULL);
	const char *err = NULL;

	cl->name = name;
	cl->with_mynetworks = raw != NULL && strstr(raw, "mynetworks") != NULL;
	cl->list = smtpd_peers_parse(v, name, config_str(v, id), &err);
	if (cl->list == NULL)
		log_fatal("%s: %s", name, err);
}

int
smtpd_mynetworks_match(const struct session *s, char *err, size_t errsz)
{
	return smtpd_cfg.mynetworks == NULL ? 0 :
	    peer_list_match_err(smtpd_cfg.mynetworks, s->name, s->addr, err,
	    errsz);
}

bool
smtpd_client_list_match(const struct smtpd_client_list *cl,
    const struct session *s)
{
	char err[DICT_ERR_MAX_BYTES + 256];
	const char *which = cl->name;
	int r = peer_list_match_err(cl->list, s->name, s->addr, err,
	    sizeof(err));

	if (r == 0 && cl->with_mynetworks) {
		which = "mynetworks";
		r = smtpd_mynetworks_match(s, err, sizeof(err));
	}
	if (r < 0)
		log_warning("%s[%s]: %s: %s; the client is taken as not "
		    "listed in %s", s->name, s->addr, which, err, cl->name);
	return r == 1;
}

static void accept_named(struct session *s);
static void accept_proxied(struct session *s);
static void accept_screened(struct session *s);

static void
smtpd_accept(struct child *c, int fd, const char *client,
    unsigned client_port, const char *listen_addr)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->child = c;
	s->qfd = -1;
	s->fd = fd;
	s->bad_char = -1;	/* start_message sets it for each message */
	/* The local end, for Dovecot's lip/lport: "HOST:PORT", "[V6]:PORT". */
	{
		const char *colon = strrchr(listen_addr, ':');
		const char *h = listen_addr;
		size_t hl = colon != NULL ? (size_t)(colon - listen_addr) : 0;

		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
			h++;
			hl -= 2;
		}
		if (hl < sizeof(s->local_addr)) {
			memcpy(s->local_addr, h, hl);
			s->local_addr[hl] = '\0';
		}
		s->local_port = colon != NULL ? (unsigned)strtoul(colon + 1,
		    NULL, 10) : 0;
	}
	/* "service 465 (127.0.0.1:465)", or the address alone when the
	 * service is named by it. */
	if (strcmp(smtpd_cfg.service, listen_addr) == 0)
		snprintf(s->listener, sizeof(s->listener), "%s", listen_addr);
	else
		snprintf(s->listener, sizeof(s->listener), "service %s (%s)",
		    smtpd_cfg.service, listen_addr);
	snprintf(s->addr, sizeof(s->addr), "%s", client);
	s->client_port = client_port;
	/* IPv4-mapped IPv6 clients are shown as IPv4, as Postfix does. */
	if (strncmp(s->addr, "::ffff:", 7) == 0 && strchr(s->addr + 7, '.'))
		memmove(s->addr, s->addr + 7, strlen(s->addr + 7) + 1);
	snprintf(s->name, sizeof(s->name), "unknown");
	snprintf(s->reverse_name, sizeof(s->reverse_name), "unknown");
	s->name_status = s->reverse_status = SMTPD_NAME_TEMP;
	s->limit_exempt = -1;
	s->saved_verbose = log_get_verbose();
	smtp_line_reader_init(&s->lr, smtpd_cfg.line_max);
	buf_init(&s->pending_reply, 16 * 1024);
	s->timer = evtimer_new(smtpd_base, on_error_sleep, s);
	/*
	 * Replies leave at once: without TCP_NODELAY a reply written right
	 * after another small write (the TLS session ticket, then the
	 * greeting) waits for the client's delayed ACK, about 40 ms.
	 * Pipelined replies are still one write (the output buffer).
	 */
	{
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	/* Not BEV_OPT_CLOSE_ON_FREE: STARTTLS swaps the bufferevent. */
	s->bev = bufferevent_socket_new(smtpd_base, fd, 0);
	if (s->bev == NULL) {
		close(fd);
		event_free(s->timer);
		free(s);
		return;
	}
	/* A new bufferevent writes by itself; ours waits for a flush
	 * (reply_out) and reads through s->rev (on_sock_read). */
	bufferevent_disable(s->bev, EV_WRITE);
	s->rev = event_new(smtpd_base, fd, EV_READ | EV_PERSIST, on_sock_read,
	    s);
	if (s->rev == NULL) {
		bufferevent_free(s->bev);
		close(fd);
		event_free(s->timer);
		free(s);
		return;
	}
	smtpd_nsessions++;
	smtpd_bev_setup(s, smtpd_cfg.timeout);
	/* Behind a load balancer: its PROXY header names the client. */
	if (smtpd_cfg.proxy_protocol) {
		smtpd_proxy_read(s, accept_proxied);
		return;
	}
	accept_proxied(s);
}

/* accept_proxied - the client's address is known: its name next
 * (bounded: SMTPD_PEER_LOOKUP_MS); nothing is read from the client
 * meanwhile. */
static void
accept_proxied(struct session *s)
{
	if (smtpd_screen_on() && !tls_server_wrapper(smtpd_cfg.tls)) {
		s->screened = true;
		smtpd_screen_start(s, accept_screened);
		return;
	}
	accept_screened(s);
}

/* accept_screened - postscreen's tests passed (or none are made). */
static void
accept_screened(struct session *s)
{
	if (smtpd_peer_lookup_start(s, accept_named))
		return;
	accept_named(s);
}

static void accept_counted(struct session *s);

/* connect_limited - the per-client connection limits' verdict (a
 * refusal is sent where the greeting would be; the session ends once
 * it has left, as after any last reply). */
static void
connect_limited(struct session *s, const char *refusal)
{
	if (refusal != NULL)
		s->limit_refusal = xstrdup(refusal);
	accept_counted(s);
}

/*
 * accept_named - the rest of a new session once its client name is
 * known: the "connect from" log line, debug_peer_list, the per-client
 * connection limits (smtpd_limit.h), then the TLS hello (wrapper mode)
 * or the greeting.
 */
static void
accept_named(struct session *s)
{
	char who[SMTPD_LABEL_MAX];

	if (peer_list_match(smtpd_cfg.debug_peers, s->name, s->addr) == 1)
		log_set_verbose(s->saved_verbose + smtpd_cfg.debug_level);
	log_info("connect from %s", smtpd_client_label(s, who, sizeof(who)));
	if (smtpd_limit_wanted(s, LOOKUP_ANVIL_CONNECT)) {
		smtpd_limit_check(s, LOOKUP_ANVIL_CONNECT, connect_limited);
		return;
	}
	accept_counted(s);
}

/* wrapper_limited - the new TLS session rate limit's verdict on an
 * implicit-TLS port: a refusal closes the connection before the
 * handshake (the warning says why; a TLS client could not read a
 * plaintext 421). */
static void
wrapper_limited(struct session *s, const char *refusal)
{
	if (refusal != NULL) {
		char who[SMTPD_LABEL_MAX];

		log_info("%s: connection closed before the TLS handshake "
		    "(smtpd_client_new_tls_session_rate_limit)",
		    smtpd_client_label(s, who, sizeof(who)));
		s->state = SS_QUIT;
		smtpd_session_free(s);
		return;
	}
	smtpd_tls_begin(s);
}

static void
accept_counted(struct session *s)
{
	char who[SMTPD_LABEL_MAX], peek;
	int fd = s->fd;

	if (tls_server_wrapper(smtpd_cfg.tls)) {
		/* Implicit TLS: the client speaks first, with its hello.  A
		 * client over its new TLS session rate gets no handshake. */
		if (s->limit_refusal == NULL &&
		    smtpd_limit_wanted(s, LOOKUP_ANVIL_NEWTLS_STAT)) {
			smtpd_limit_check(s, LOOKUP_ANVIL_NEWTLS_STAT,
			    wrapper_limited);
			return;
		}
		smtpd_tls_begin(s);
		return;
	}
	if (s->limit_refusal != NULL) {
		smtpd_greet(s);
		return;
	}
	/*
	 * A client that talks before the greeting does not wait for
	 * replies: a spam bot or a smuggling attempt.  (Behind postscreen
	 * its test was made, and postscreen_greet_action decided.)
	 */
	if (!s->screened &&
	    recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		log_info("%s talked before the greeting (pregreet)",
		    smtpd_client_label(s, who, sizeof(who)));
		s->ill_pipelining = true;
		if (smtpd_cfg.forbid_unauth_pipelining) {
			smtpd_reply(s, "554 5.5.0 Error: SMTP protocol "
			    "synchronization");
			s->state = SS_QUIT;
			return;
		}
	}
	smtpd_reply(s, "220 %s", smtpd_cfg.banner);
	s->state = SS_CONNECTED;
	bev_enable(s);
	connect_stage(s);
}

static size_t
smtpd_active(struct child *c)
{
	/* A draining process waits for its postmaster notices too. */
	return smtpd_nsessions + smtpd_notice_pending();
}

const struct child_program smtpd_program = {
	.name = "smtpd",
	.preinit = smtpd_preinit,
	.init = smtpd_init,
	.ctl_msg = smtpd_ctl_msg,
	.accept_fn = smtpd_accept,
	.active = smtpd_active,
	.internal_chroot = false,
};

