/* SPDX-License-Identifier: MIT */
/*
 * pickup - local submissions from maildrop/; see pickup.h.
 *
 * Runs in the queue process (mail_owner, current directory or chroot at
 * queue_directory, so paths are relative).  mail_owner owns maildrop/
 * and may therefore read every complete file (mode 0444) and remove or
 * move any entry despite the sticky bit.  Everything in a file is
 * untrusted: the submitter is the owner the kernel recorded, and only
 * root and mail_owner may choose the sender.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "address.h"
#include "child.h"
#include "config.h"
#include "header_drop.h"
#include "header_rewrite.h"
#include "hbc_tables.h"
#include "log.h"
#include "login_list.h"
#include "maildrop.h"
#include "master_cf.h"
#include "milter_client.h"
#include "pickup.h"
#include "qmgr.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "queue_service.h"
#include "sendmail.h"
#include "strv.h"
#include "xalloc.h"

/* Files converted in one turn of the event loop; more wait for the
 * next turn, so that deliveries and smtpd commits go on meanwhile. */
#define PICKUP_BATCH 100
/* Files the filters refused for now that are remembered one by one. */
#define PICKUP_LATER_MAX 64
/* Names read from maildrop/ in one scan. */
#define PICKUP_SCAN_MAX 10000

/* ------------------------------------------------------------------ */
/* Checking and converting one file (no I/O)                          */

void
pickup_msg_deinit(struct pickup_msg *m)
{
	queue_envelope_deinit(&m->env);
	buf_deinit(&m->content);
	free(m->ignored_sender);
	m->ignored_sender = NULL;
}

size_t
pickup_max_file_bytes(uint64_t limit)
{
	uint64_t max;

	if (limit == 0 || limit > ((uint64_t)1 << 31))
		limit = (uint64_t)1 << 31;
	/* The message, its 'D' record headers, the envelope. */
	max = limit + (limit / QUEUE_DATA_RECORD_MAX_BYTES + 1) * 5 +
	    PICKUP_ENVELOPE_MAX_BYTES + MAILDROP_HEADER_MAX_BYTES + 5;
	return (size_t)max;
}

/* refused_record - the first record a maildrop file may not have. */
static const char *
refused_record(const struct queue_envelope *e)
{
	if (e->sasl_user != NULL)
		return "'W' (SASL user)";
	if (e->tls != NULL)
		return "'K' (TLS)";
	if (e->size != NULL)
		return "'z' (SIZE)";
	if (e->body != NULL)
		return "'B' (BODY)";
	if (e->smtputf8)
		return "'U' (SMTPUTF8)";
	if (e->refused != NULL)
		return "'E' (refused)";
	if (e->filter != NULL)
		return "'F' (content filter)";
	if (e->hold != NULL)
		return "'Q' (hold)";
	if (e->redirect != NULL)
		return "'J' (redirect)";
	if (e->nbccs > 0)
		return "'b' (BCC)";
	return NULL;
}

static bool
has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/*
 * orcpt_ok - RFC 3461 4.2: "addr-type;address", the type an atom, at
 * most 500 characters in all, no control characters (it goes into the
 * notices the sender gets).
 */
static bool
orcpt_ok(const char *s)
{
	size_t n = strlen(s), t = strcspn(s, ";");

	if (n > SENDMAIL_ORCPT_MAX_BYTES || t == 0 || t == n || t + 1 == n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 32 || c == 127)
			return false;
		if (i < t && !(c == '-' || (c >= '0' && c <= '9') ||
		    ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')))
			return false;
	}
	return true;
}

/* envid_ok - RFC 3461 4.4: 1 to 100 printable US-ASCII characters. */
static bool
envid_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SENDMAIL_ENVID_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return false;
	return true;
}

static int
bad(char *why, size_t whysz, const char *fmt, ...) ATTR_FORMAT(3, 4);

static int
bad(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	return -1;
}

struct rcpt_ref {
	const char *addr;
	size_t i;
};

static int
cmp_rcpt(const void *a, const void *b)
{
	const struct rcpt_ref *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* mark_duplicates - dup[i] for every address that an earlier one
 * repeats (the first occurrence is kept). */
static void
mark_duplicates(char *const *rcpts, size_t n, bool *dup)
{
	struct rcpt_ref *r;

	if (n < 2)
		return;
	r = xcalloc(n, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		r[i].addr = rcpts[i];
		r[i].i = i;
	}
	qsort(r, n, sizeof(*r), cmp_rcpt);
	for (size_t k = 1; k < n; k++)
		if (strcmp(r[k].addr, r[k - 1].addr) == 0)
			dup[r[k].i] = true;
	free(r);
}

static void
drop_out(void *ctx, const char *data, size_t len)
{
	/* Never fails: what stays is no longer than the content. */
	if (buf_append(ctx, data, len) < 0)
		log_panic("pickup: header removal overflow");
}

/* drop_headers - content without the headers message_drop_headers
 * names (header_drop.h), as smtpd stores its mail. */
static void
drop_headers(struct buf *content, const struct pickup_params *p)
{
	struct header_drop hd;
	struct buf out;

	if (p->drop_headers == NULL || p->drop_headers[0] == NULL)
		return;
	buf_init(&out, content->max);
	header_drop_init(&hd, p->drop_headers);
	header_drop_feed(&hd, content->data, content->len, drop_out, &out);
	header_drop_finish(&hd, drop_out, &out);
	if (hd.dropped == 0) {
		buf_deinit(&out);
		return;
	}
	buf_deinit(content);
	*content = out;
}

/* masq_dup - a copy of address, masqueraded per class c when p says
 * so (never longer than address). */
static char *
masq_dup(const struct pickup_params *p, enum masq_class c,
    const char *address)
{
	size_t len = strlen(address) + 1;
	char *out = xmalloc(len);

	if (masquerade(p->masq, c, address, out, len) < 0)
		abort();		/* cannot be: see masquerade.h */
	return out;
}

/* complete_headers - the header addresses of content completed in the
 * local context, then masqueraded.  0, or -1 when the result is too
 * large. */
static int
complete_headers(struct buf *content, const struct pickup_params *p)
{
	struct header_rewrite_ctx c = {
		.local = true,
		.append_at_myorigin = p->append_at_myorigin,
		.append_dot_mydomain = p->append_dot_mydomain,
		.myorigin = p->myorigin,
		.mydomain = p->mydomain != NULL ? p->mydomain : "",
		.remote_domain = "",
	};
	struct header_block_scan sc = { 0, false };
	struct header_edit *e = NULL;
	struct buf out;
	char **repl = NULL;
	size_t n;
	int ret = 0;

	if (!p->append_at_myorigin && !p->append_dot_mydomain &&
	    !masq_on(p->masq, MASQ_HDR_SENDER) &&
	    !masq_on(p->masq, MASQ_HDR_RCPT))
		return 0;
	(void)header_block_end(&sc, content->data, content->len, true);
	n = header_rewrite_edits(content->data, sc.scanned, &c, &e, NULL,
	    NULL);
	if (n > 0) {
		repl = xcalloc(n, sizeof(*repl));
		for (size_t i = 0; i < n; i++)
			repl[i] = masq_dup(p, e[i].sender ? MASQ_HDR_SENDER :
			    MASQ_HDR_RCPT, e[i].completed);
		buf_init(&out, content->max);
		if (header_rewrite_apply(content->data, sc.scanned, e, n,
		    (const char *const *)repl, &out) < 0 ||
		    buf_append(&out, content->data + sc.scanned,
		    content->len - sc.scanned) < 0) {
			buf_deinit(&out);
			ret = -1;
		} else {
			buf_deinit(content);
			*content = out;
		}
		for (size_t i = 0; i < n; i++)
			free(repl[i]);
		free(repl);
	}
	header_edits_free(e, n);
	return ret;
}

/* run_checks' "the result does not fit" (never returned by
 * pickup_convert). */
#define PICKUP_TOOLARGE (-5)

/* A message going through the header and body checks. */
struct checks_ctx {
	const struct pickup_params *p;
	const struct pickup_msg *m;
	struct buf out;		/* the text as it will be queued */
	bool overflow;
};

static int
checks_lookup(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct checks_ctx *c = ctx;

	return c->p->hbc_lookup(c->p->hbc_ctx, cls, key, keylen, value, err,
	    errsz);
}

static void
checks_out(void *ctx, const char *data, size_t len)
{
	struct checks_ctx *c = ctx;

	if (!c->overflow && buf_append(&c->out, data, len) < 0)
		c->overflow = true;
}

/* checks_log - an action, as Postfix's cleanup logs it for local mail
 * ("ID: reject: header Subject: ... from local; from=<> to=<>: text"). */
static void
checks_log(void *ctx, const struct hbc_event *ev)
{
	struct checks_ctx *c = ctx;
	const struct queue_envelope *e = &c->m->env;
	const char *to = e->nrcpts > 0 ? e->rcpts[0].addr : "";
	char content[200 * 4 + 8], text[HBC_TEXT_MAX_BYTES * 4 + 8];
	char from[1024 * 4 + 8], rcpt[1024 * 4 + 8];

	log_escape(content, sizeof(content), ev->content, ev->content_len,
	    200);
	log_escape(text, sizeof(text), ev->text, strlen(ev->text),
	    HBC_TEXT_MAX_BYTES);
	log_escape(from, sizeof(from), e->sender, strlen(e->sender), 1024);
	log_escape(rcpt, sizeof(rcpt), to, strlen(to), 1024);
	log_info("%s: %s: %s %s from local; from=<%s> to=<%s>%s%s", e->id,
	    ev->action, ev->cls == HBC_BODY ? "body" : "header", content,
	    from, rcpt, text[0] ? ": " : "", text);
}

static void
checks_warn(void *ctx, enum hbc_class cls, const char *msg)
{
	struct checks_ctx *c = ctx;
	char shown[HBC_TEXT_MAX_BYTES * 4 + 1024];

	(void)cls;
	log_escape(shown, sizeof(shown), msg, strlen(msg), sizeof(shown) / 4);
	log_warning("%s: %s", c->m->env.id, shown);
}

/*
 * run_checks - m's content through the header and body checks: 0 with
 * the content as they left it and their trailer actions in m->env (or
 * m->env.refused after a REJECT); PICKUP_LATER or PICKUP_DISCARD with
 * why; PICKUP_TOOLARGE when what they added does not fit.
 */
static int
run_checks(struct pickup_msg *m, const struct pickup_params *p, char *why,
    size_t whysz)
{
	struct checks_ctx c = { .p = p, .m = m };
	struct hbc_callbacks cb = {
		.lookup = checks_lookup, .out = checks_out, .log = checks_log,
		.warn = checks_warn, .ctx = &c,
	};
	struct hbc *h;
	const struct hbc_result *r;
	int ret = 0;

	buf_init(&c.out, m->content.max);
	h = hbc_new(p->hbc_cfg, &cb);
	hbc_feed(h, m->content.data, m->content.len);
	hbc_finish(h);
	r = hbc_result(h);
	switch (r->verdict) {
	case HBC_REJECT:
		if (r->code / 100 == 4) {
			bad(why, whysz, "the header or body checks refused "
			    "it for now: %s", r->text);
			ret = PICKUP_LATER;
		} else {
			m->env.refused = xstrdup(r->text);
		}
		break;
	case HBC_DISCARD:
		bad(why, whysz, "discarded by the header or body checks%s%s",
		    r->text[0] ? ": " : "", r->text);
		ret = PICKUP_DISCARD;
		break;
	case HBC_FAILED:
		bad(why, whysz, "a header or body check table failed: %s",
		    r->text);
		ret = PICKUP_LATER;
		break;
	case HBC_ACCEPT:
		if (c.overflow) {
			ret = PICKUP_TOOLARGE;
			break;
		}
		hbc_result_to_envelope(r, &m->env);
		buf_deinit(&m->content);
		m->content = c.out;
		buf_init(&c.out, 0);
		break;
	}
	hbc_free(&h);
	buf_deinit(&c.out);
	return ret;
}

int
pickup_convert(const char *data, size_t len, uid_t owner_uid,
    const char *id, const struct pickup_params *p, struct pickup_msg *m,
    char *why, size_t whysz)
{
	struct queue_envelope fe;
	struct buf body;
	const char *err = NULL;
	char arrival[48], date[SENDMAIL_DATE_BYTES];
	bool utf8 = false;
	char **rcpts = NULL;
	bool *dup = NULL;
	long hl;
	int ret = -1;

	memset(m, 0, sizeof(*m));
	memset(&fe, 0, sizeof(fe));
	buf_init(&m->content, pickup_max_file_bytes(p->message_size_limit));
	buf_init(&body, pickup_max_file_bytes(p->message_size_limit));
	hl = maildrop_header_parse((const unsigned char *)data, len, &m->uid,
	    m->login, &err);
	if (hl < 0) {
		bad(why, whysz, "%s", err);
		goto out;
	}
	if (m->uid != owner_uid) {
		bad(why, whysz, "the maildrop header names uid %lu, but the "
		    "file belongs to uid %lu", (unsigned long)m->uid,
		    (unsigned long)owner_uid);
		goto out;
	}
	m->trusted = owner_uid == 0 || owner_uid == p->mail_owner_uid;
	if (p->submit_users != NULL) {
		char no[256];

		if (!login_list_allows((const char *const *)p->submit_users,
		    m->login, no, sizeof(no))) {
			bad(why, whysz, "%s (uid %lu) may not submit mail: %s "
			    "(authorized_submit_users)", m->login,
			    (unsigned long)m->uid, no);
			ret = PICKUP_REFUSED;
			goto out;
		}
	}
	if (queue_file_parse(data + hl, len - (size_t)hl, &fe, &body,
	    &err) < 0) {
		bad(why, whysz, "not a valid queue file: %s", err);
		goto out;
	}
	if (strcmp(fe.protocol, "maildrop") != 0) {
		bad(why, whysz, "protocol record 'P' is not \"maildrop\"");
		goto out;
	}
	if ((err = refused_record(&fe)) != NULL) {
		bad(why, whysz, "record %s is not allowed in a maildrop file",
		    err);
		goto out;
	}
	if (fe.envid != NULL && !envid_ok(fe.envid)) {
		bad(why, whysz, "the envelope ID is not 1 to %d printable "
		    "characters", SENDMAIL_ENVID_MAX_BYTES);
		goto out;
	}
	for (size_t i = 0; i < fe.nrcpts; i++)
		if (fe.rcpts[i].orcpt != NULL && !orcpt_ok(fe.rcpts[i].orcpt)) {
			bad(why, whysz, "recipient %zu: the original recipient "
			    "(ORCPT) is not \"type;address\" of printable "
			    "characters, at most %d", i + 1,
			    SENDMAIL_ORCPT_MAX_BYTES);
			goto out;
		}
	if (fe.nrcpts > SENDMAIL_RCPTS_MAX) {
		bad(why, whysz, "%zu recipients, more than %d", fe.nrcpts,
		    SENDMAIL_RCPTS_MAX);
		goto out;
	}
	if (p->message_size_limit != 0 &&
	    fe.content_size > p->message_size_limit) {
		bad(why, whysz, "the message has %llu bytes, more than "
		    "message_size_limit (%llu)",
		    (unsigned long long)fe.content_size,
		    (unsigned long long)p->message_size_limit);
		goto out;
	}

	/* The sender: the file's only from a trusted submitter. */
	if (m->trusted) {
		m->env.sender = sendmail_canon_address(fe.sender, p->myorigin,
		    true, &err);
		if (m->env.sender == NULL) {
			bad(why, whysz, "sender: %s", err);
			goto out;
		}
	} else {
		m->env.sender = xasprintf("%s@%s", m->login, p->myorigin);
		if (strcmp(fe.sender, m->env.sender) != 0)
			m->ignored_sender = xstrdup(fe.sender);
	}
	if (masq_on(p->masq, MASQ_ENV_SENDER)) {
		char *ms = masq_dup(p, MASQ_ENV_SENDER, m->env.sender);

		free(m->env.sender);
		m->env.sender = ms;
	}
	utf8 |= has_8bit(m->env.sender, strlen(m->env.sender));
	rcpts = xcalloc(fe.nrcpts + 1, sizeof(*rcpts));
	for (size_t i = 0; i < fe.nrcpts; i++) {
		rcpts[i] = sendmail_canon_address(fe.rcpts[i].addr,
		    p->myorigin, false, &err);
		if (rcpts[i] == NULL) {
			bad(why, whysz, "recipient %zu: %s", i + 1, err);
			goto out;
		}
		if (masq_on(p->masq, MASQ_ENV_RCPT)) {
			char *mr = masq_dup(p, MASQ_ENV_RCPT, rcpts[i]);

			free(rcpts[i]);
			rcpts[i] = mr;
		}
		utf8 |= has_8bit(rcpts[i], strlen(rcpts[i]));
	}
	/* The same address twice (To: and Cc:, -t and the command line)
	 * is delivered once, with the first one's NOTIFY. */
	dup = xcalloc(fe.nrcpts + 1, sizeof(*dup));
	mark_duplicates(rcpts, fe.nrcpts, dup);
	for (size_t i = 0; i < fe.nrcpts; i++)
		if (!dup[i])
			queue_envelope_add_rcpt(&m->env, rcpts[i],
			    fe.rcpts[i].notify, fe.rcpts[i].orcpt);
	if (p->always_bcc != NULL)
		queue_envelope_add_bcc(&m->env, p->always_bcc);
	if (p->content_filter != NULL && p->content_filter[0] != '\0')
		m->env.filter = xstrdup(p->content_filter);

	snprintf(arrival, sizeof(arrival), "%lld.000000", (long long)p->now);
	m->env.id = xstrdup(id);
	m->env.arrival = xstrdup(arrival);
	m->env.client_name = xstrdup("localhost");
	m->env.client_addr = xstrdup("127.0.0.1");
	m->env.helo = xstrdup("");
	m->env.protocol = xstrdup("local");
	m->env.service = xstrdup("pickup");
	m->env.smtputf8 = utf8;
	if (has_8bit(body.data, body.len))
		m->env.body = xstrdup("8BITMIME");
	m->env.ret = fe.ret != NULL ? xstrdup(fe.ret) : NULL;
	m->env.envid = fe.envid != NULL ? xstrdup(fe.envid) : NULL;

	/* RFC 5321 4.4 trace field first, then the message with CRLF
	 * line ends (a bare LF becomes CRLF; the last line gets one). */
	sendmail_date(date, p->now, true);
	if (buf_appendf(&m->content, "Received: by %s (%s, from userid %lu)"
	    "\r\n\tid %s; %s\r\n", p->myhostname, p->mail_name,
	    (unsigned long)owner_uid, id, date) < 0)
		goto toolarge;
	/* A first line that starts with white space would continue the
	 * Received: header: an empty line makes it the body's first. */
	if (body.len > 0 && (body.data[0] == ' ' || body.data[0] == '\t') &&
	    buf_append(&m->content, "\r\n", 2) < 0)
		goto toolarge;
	for (size_t i = 0, start = 0; i <= body.len; i++) {
		if (i < body.len && body.data[i] != '\n')
			continue;
		if (i == body.len) {
			if (start < i && (buf_append(&m->content, body.data +
			    start, i - start) < 0 ||
			    buf_append(&m->content, "\r\n", 2) < 0))
				goto toolarge;
			break;
		}
		if (buf_append(&m->content, body.data + start, i - start) < 0 ||
		    ((i == 0 || body.data[i - 1] != '\r') &&
		    buf_append_c(&m->content, '\r') < 0) ||
		    buf_append_c(&m->content, '\n') < 0)
			goto toolarge;
		start = i + 1;
	}
	if (p->hbc_lookup != NULL) {
		ret = run_checks(m, p, why, whysz);
		if (ret == PICKUP_TOOLARGE)
			goto toolarge;
		if (ret < 0)
			goto out;
		if (m->env.refused != NULL)
			goto out;	/* returned as it came */
	}
	if (complete_headers(&m->content, p) < 0)
		goto toolarge;
	drop_headers(&m->content, p);
	if (p->reject_chars != NULL) {
		int c = msg_chars_find(p->reject_chars, m->content.data,
		    m->content.len);

		if (c >= 0) {
			m->env.refused = xasprintf("5.7.1 message content "
			    "rejected: it holds the byte \\%03o, one of "
			    "message_reject_characters", (unsigned)c);
			ret = 0;
			goto out;
		}
	}
	if (p->strip_chars != NULL && p->strip_chars->any &&
	    m->content.len > 0) {
		m->content.len = msg_chars_strip(p->strip_chars,
		    m->content.data, m->content.len, m->content.data);
		m->content.data[m->content.len] = '\0';
	}
	ret = 0;
	goto out;
toolarge:
	bad(why, whysz, "the message is too large");
out:
	for (size_t i = 0; rcpts != NULL && i < fe.nrcpts; i++)
		free(rcpts[i]);
	free(rcpts);
	free(dup);
	queue_envelope_deinit(&fe);
	buf_deinit(&body);
	if (ret < 0)
		pickup_msg_deinit(m);
	return ret;
}

/* ------------------------------------------------------------------ */
/* The maildrop directory                                             */

static struct {
	struct child *c;
	struct event_base *base;
	int dirfd;		/* maildrop/, -1 until it opens */
	int ino_fd;
	struct event *ino_ev;
	struct event *tick_ev;
	struct event *run_ev;
	struct pickup_params p;
	char **drop;		/* p.drop_headers */
	char **submit_users;	/* p.submit_users */
	struct masq masq;	/* p.masq */
	char *always_bcc;	/* p.always_bcc */
	struct msg_chars reject_chars;	/* p.reject_chars */
	struct msg_chars strip_chars;	/* p.strip_chars */
	/* header_checks and the others (pickup_preinit), p.hbc_ctx */
	struct hbc_tables hbc;
	/* masquerade_* or always_bcc are unusable: files wait */
	char *config_err;
	size_t max_file;
	bool warned_dir;
	/* non_smtpd_milters: one message at a time goes through them */
	struct milter_list *milters;
	char *daemon_name;
	struct pickup_job *job;	/* the message with the filters */
	/* Files the filters refused for now, not tried again before their
	 * time; when the list is full, pickup pauses instead. */
	struct {
		char name[MAILDROP_NAME_LEN + 1];
		time_t until;
	} later[PICKUP_LATER_MAX];
	time_t pause_until;
} pk = { .dirfd = -1, .ino_fd = -1 };

/* A maildrop file with the filters (non_smtpd_milters). */
struct pickup_job {
	char name[MAILDROP_NAME_LEN + 1];
	char id[QUEUE_ID_LEN + 1];
	uid_t uid;
	struct pickup_msg m;
	struct milter_sess *ms;
	size_t next_rcpt;	/* the RCPT event under way */
};

/* open_dir - maildrop/, and its inotify watch.  0 or -1 (logged once). */
static int
open_dir(void)
{
	if (pk.dirfd >= 0)
		return 0;
	pk.dirfd = open(MAILDROP_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (pk.dirfd < 0) {
		if (!pk.warned_dir)
			log_warning("cannot open %s: %s: local submissions "
			    "(sendmail) are not picked up until it exists",
			    MAILDROP_DIR, strerror(errno));
		pk.warned_dir = true;
		return -1;
	}
	if (pk.ino_fd >= 0 && inotify_add_watch(pk.ino_fd, MAILDROP_DIR,
	    IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0)
		log_warning("inotify on %s: %s (scanning it every %d s)",
		    MAILDROP_DIR, strerror(errno), PICKUP_RESCAN_SECONDS);
	return 0;
}

/* id_bits - the value of characters [from, to) of a valid queue ID. */
static uint64_t
id_bits(const char *id, size_t from, size_t to)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t v = 0;

	for (size_t i = from; i < to; i++)
		v = v << 5 | (uint64_t)(strchr(alphabet, id[i]) - alphabet);
	return v;
}

/*
 * choose_id - the maildrop name when it can be the queue ID (so that
 * `sendmail -v` printed the ID the logs show).  The submitter chose the
 * name, so it must be unable to collide with an ID this or a later
 * queue process makes: not made with this process's pid bits (its own
 * IDs carry them), not from the future (IDs are made from the clock),
 * and not in use in any queue directory.  Else a new ID.
 */
static void
choose_id(const char *name, char id[QUEUE_ID_LEN + 1])
{
	static const char *const dirs[] = {
		QUEUE_INCOMING_DIR, QUEUE_DEFERRED_DIR, QUEUE_HOLD_DIR,
		QUEUE_CORRUPT_DIR, QUEUE_STATUS_DIR,
	};
	struct timespec ts;
	uint64_t now_id;
	bool ok;

	/* The ID's time field: microseconds since 2024-01-01 UTC. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_id = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
	now_id = now_id > UINT64_C(1704067200000000) ?
	    now_id - UINT64_C(1704067200000000) : 0;
	ok = queue_id_is_valid(name) &&
	    (id_bits(name, QUEUE_ID_LEN - 3, QUEUE_ID_LEN) & 0xfff) !=
	    ((uint64_t)getpid() & 0xfff) && id_bits(name, 0, 10) <= now_id;

	for (size_t i = 0; ok && i < N_ELEMENTS(dirs); i++) {
		char path[64];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (lstat(path, &st) == 0 || errno != ENOENT)
			ok = false;
	}
	if (ok)
		memcpy(id, name, QUEUE_ID_LEN + 1);
	else
		queue_service_new_id(id);
}

/*
 * aside - move maildrop/name to corrupt/maildrop.NAME and say why; a
 * file that cannot be moved is removed (it would be tried forever).
 */
static void
aside(const char *name, uid_t uid, const char *why)
{
	char shown[64], dst[96], id[QUEUE_ID_LEN + 1];
	int r;

	log_escape(shown, sizeof(shown), name, strlen(name), 40);
	if (maildrop_name_valid(name))
		snprintf(id, sizeof(id), "%s", name);
	else
		queue_service_new_id(id);
	snprintf(dst, sizeof(dst), "%s/maildrop.%s", QUEUE_CORRUPT_DIR, id);
	r = renameat2(pk.dirfd, name, AT_FDCWD, dst, RENAME_NOREPLACE);
	if (r < 0 && errno == EEXIST) {
		queue_service_new_id(id);
		snprintf(dst, sizeof(dst), "%s/maildrop.%s", QUEUE_CORRUPT_DIR,
		    id);
		r = renameat2(pk.dirfd, name, AT_FDCWD, dst, RENAME_NOREPLACE);
	}
	if (r < 0) {
		int e = errno;

		if (e == ENOENT)
			return;		/* gone meanwhile */
		log_error("maildrop file %s from uid %lu: %s; cannot move it "
		    "to %s (%s), removed it", shown, (unsigned long)uid, why,
		    dst, strerror(e));
		if (unlinkat(pk.dirfd, name, 0) < 0)
			(void)unlinkat(pk.dirfd, name, AT_REMOVEDIR);
		return;
	}
	log_warning("maildrop file %s from uid %lu moved to %s: %s", shown,
	    (unsigned long)uid, dst, why);
}

/* commit - m as incoming/ID (queue_service_write). */
static int
commit(const struct pickup_msg *m, const char *id)
{
	(void)id;	/* m->env.id */
	return queue_service_write(&m->env, m->content.data, m->content.len);
}

/* read_file - the whole file fd of size bytes (it must not change). */
static char *
read_file(int fd, size_t size, const char **why_r)
{
	char *data = xmalloc(size + 1);
	size_t got = 0;

	for (;;) {
		ssize_t r = read(fd, data + got, size + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why_r = strerror(errno);
			free(data);
			return NULL;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > size) {
			*why_r = "the file grew while it was read";
			free(data);
			return NULL;
		}
	}
	if (got != size) {
		*why_r = "the file shrank while it was read";
		free(data);
		return NULL;
	}
	return data;
}

static bool queue_it(const char *name, const char *id,
    struct pickup_msg *mp);

/* ------------------------------------------------------------------ */
/* The filters: non_smtpd_milters                                     */

/*
 * A message from the maildrop goes through the filters as if it came
 * from a client "localhost" [127.0.0.1] over SMTP: connect, HELO
 * localhost, MAIL, RCPT for each recipient, the message (its Received:
 * line, which names its queue ID, is not shown).  One message at a time;
 * the scan waits for it.  Verdicts: a 5xx refusal drops the file with a
 * warning (the sendmail command has long returned; as for
 * authorized_submit_users); a 4xx refusal (a filter that failed with
 * default_action tempfail included) leaves it in maildrop/, not tried
 * again for PICKUP_RESCAN_SECONDS while the other files go on
 * (try_later); discard drops it with a log line; edits and quarantine
 * are applied to the message before it is queued.
 */

static const char *
job_macro(void *ctx, const char *name, char *out, size_t outsz)
{
	struct pickup_job *j = ctx;
	char n[64];

	(void)out;
	(void)outsz;
	(void)milter_macro_bare(name, n, sizeof(n));
	if (strcmp(n, "j") == 0)
		return pk.p.myhostname;
	if (strcmp(n, "daemon_name") == 0)
		return pk.daemon_name;
	if (strcmp(n, "v") == 0)
		return pk.p.mail_name;
	if (strcmp(n, "_") == 0)
		return "localhost [127.0.0.1]";
	if (strcmp(n, "client_addr") == 0)
		return "127.0.0.1";
	if (strcmp(n, "client_name") == 0 || strcmp(n, "client_ptr") == 0)
		return "localhost";
	if (strcmp(n, "i") == 0)
		return j->id;
	if (strcmp(n, "mail_addr") == 0)
		return j->m.env.sender;
	if (strcmp(n, "mail_mailer") == 0 || strcmp(n, "rcpt_mailer") == 0)
		return "local";
	return NULL;
}

static const char *
job_label(void *ctx, char *out, size_t outsz)
{
	const struct pickup_job *j = ctx;

	snprintf(out, outsz, "maildrop file %s of uid %lu", j->name,
	    (unsigned long)j->uid);
	return out;
}

static const char *
job_queue_id(void *ctx)
{
	const struct pickup_job *j = ctx;

	return j->id;
}

static void
job_add_rcpt(void *ctx, const char *addr)
{
	struct pickup_job *j = ctx;

	queue_envelope_add_rcpt(&j->m.env, addr, NULL, NULL);
}

static void
job_del_rcpt(void *ctx, const char *addr)
{
	struct queue_envelope *e = &((struct pickup_job *)ctx)->m.env;

	for (size_t i = 0; i < e->nrcpts;) {
		if (strcasecmp(e->rcpts[i].addr, addr) != 0) {
			i++;
			continue;
		}
		free(e->rcpts[i].addr);
		free(e->rcpts[i].notify);
		free(e->rcpts[i].orcpt);
		memmove(&e->rcpts[i], &e->rcpts[i + 1],
		    (e->nrcpts - i - 1) * sizeof(e->rcpts[0]));
		e->nrcpts--;
	}
}

static void
job_chg_from(void *ctx, const char *addr)
{
	struct pickup_job *j = ctx;

	free(j->m.env.sender);
	j->m.env.sender = xstrdup(addr);
}

static const struct milter_host job_host = {
	.macro = job_macro,
	.label = job_label,
	.queue_id = job_queue_id,
	.add_rcpt = job_add_rcpt,
	.del_rcpt = job_del_rcpt,
	.chg_from = job_chg_from,
};

/* job_end - the job is over; the scan goes on. */
static void
job_end(struct pickup_job *j)
{
	milter_sess_free(j->ms);
	pickup_msg_deinit(&j->m);
	free(j);
	pk.job = NULL;
	event_active(pk.run_ev, 0, 0);
}

/*
 * try_later - maildrop file name is not tried again for
 * PICKUP_RESCAN_SECONDS (the others are); when too many wait, pickup
 * pauses as a whole.
 */
static void
try_later(const char *name)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < PICKUP_LATER_MAX; i++)
		if (pk.later[i].until <= now ||
		    strcmp(pk.later[i].name, name) == 0) {
			snprintf(pk.later[i].name, sizeof(pk.later[i].name),
			    "%s", name);
			pk.later[i].until = now + PICKUP_RESCAN_SECONDS;
			return;
		}
	pk.pause_until = now + PICKUP_RESCAN_SECONDS;
}

/* not_yet - name waits after a temporary refusal. */
static bool
not_yet(const char *name)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < PICKUP_LATER_MAX; i++)
		if (pk.later[i].until > now &&
		    strcmp(pk.later[i].name, name) == 0)
			return true;
	return false;
}

/*
 * refusal_text - an 'E' record (queue_file.h) from a 5xx reply such as
 * "550 5.7.1 text": its enhanced status code when it has a permanent
 * one, else 5.7.1; the text as one line of printable ASCII.
 */
static char *
refusal_text(const char *reply)
{
	const char *p = reply;
	char *out;

	if (strlen(p) >= 4 && p[0] == '5' && (p[3] == ' ' || p[3] == '-'))
		p += 4;
	if (*p == '\0')
		p = "rejected by a mail filter (non_smtpd_milters)";
	out = xasprintf("%.*s", HBC_TEXT_MAX_BYTES, p);
	for (char *c = out; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = ' ';
	if (!queue_refusal_valid(out)) {
		char *o = xasprintf("5.7.1 %s", out);

		free(out);
		out = o;
	}
	return out;
}

/* job_refused - a filter refused the message with reply. */
static void
job_refused(struct pickup_job *j, const char *reply)
{
	if (reply[0] == '4') {
		log_warning("maildrop file %s from uid %lu: the filters "
		    "answered \"%s\"; trying again in %d seconds", j->name,
		    (unsigned long)j->uid, reply, PICKUP_RESCAN_SECONDS);
		try_later(j->name);
	} else {
		/* Returned to the sender, as Postfix's cleanup does: the
		 * sendmail command has long returned. */
		j->m.env.refused = refusal_text(reply);
		log_info("%s: milter-reject: END-OF-MESSAGE from local; "
		    "from=<%s>: %s; returned to the sender", j->id,
		    j->m.env.sender, j->m.env.refused);
		(void)queue_it(j->name, j->id, &j->m);
	}
	job_end(j);
}

static void job_step(void *ctx, const char *reply);

/* job_message_done - the filters' verdict on the message. */
static void
job_message_done(void *ctx, const char *reply)
{
	struct pickup_job *j = ctx;
	const struct buf *nc;

	if (reply != NULL) {
		job_refused(j, reply);
		return;
	}
	if (milter_discarded(j->ms) || j->m.env.nrcpts == 0) {
		if (unlinkat(pk.dirfd, j->name, 0) < 0 && errno != ENOENT)
			log_error("maildrop file %s: cannot remove it: %s",
			    j->name, strerror(errno));
		log_info("%s: discard: %s (uid=%lu from=<%s>, not queued)",
		    j->id, j->m.env.nrcpts == 0 ? "the filters removed every "
		    "recipient" : "by a filter", (unsigned long)j->uid,
		    j->m.env.sender);
		job_end(j);
		return;
	}
	nc = milter_new_content(j->ms);
	if (nc != NULL && nc != &j->m.content) {
		buf_reset(&j->m.content);
		j->m.content.max = (size_t)-1 / 2;
		(void)buf_append(&j->m.content, nc->data, nc->len);
	}
	if (milter_hold(j->ms) != NULL && j->m.env.hold == NULL) {
		j->m.env.hold = xstrdup(milter_hold(j->ms));
		log_info("%s: hold: %s", j->id, j->m.env.hold);
	}
	/* Not written (the queue file system): not again at once. */
	if (!queue_it(j->name, j->id, &j->m))
		try_later(j->name);
	job_end(j);
}

/*
 * job_step - the next event, after the answer to the last one (reply
 * NULL: go on).  Events that no filter takes are skipped.
 */
static void
job_step(void *ctx, const char *reply)
{
	struct pickup_job *j = ctx;

	if (reply != NULL) {
		job_refused(j, reply);
		return;
	}
	if (milter_sticky(j->ms) != NULL) {
		job_refused(j, milter_sticky(j->ms));
		return;
	}
	/* next_rcpt: 0 connect done, 1 HELO done, 2 MAIL done, then the
	 * recipients, then the message. */
	for (;;) {
		size_t step = j->next_rcpt++;
		bool started;

		if (step == 0) {
			started = milter_helo(j->ms, "localhost", job_step);
		} else if (step == 1) {
			char from[ADDRESS_PATH_MAX_BYTES * 4 + 3];
			const char *v[1] = { from };

			snprintf(from, sizeof(from), "<%s>", j->m.env.sender);
			started = milter_mail(j->ms, v, 1, job_step);
		} else if (step - 2 < j->m.env.nrcpts) {
			started = milter_rcpt(j->ms, j->m.env.rcpts[step - 2].addr,
			    job_step);
		} else {
			milter_content(j->ms, j->m.content.data != NULL ?
			    j->m.content.data : "", j->m.content.len);
			if (!milter_message(j->ms, job_message_done))
				job_message_done(j, NULL);
			return;
		}
		if (started)
			return;
		if (milter_sticky(j->ms) != NULL) {
			job_refused(j, milter_sticky(j->ms));
			return;
		}
	}
}

/* filter_start - take m (converted from maildrop file name) through
 * the filters, then queue it as id. */
static void
filter_start(const char *name, const char *id, uid_t uid,
    struct pickup_msg *m)
{
	struct pickup_job *j = xcalloc(1, sizeof(*j));

	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->uid = uid;
	j->m = *m;
	memset(m, 0, sizeof(*m));
	j->ms = milter_sess_new(pk.milters, pk.base, &job_host, j);
	pk.job = j;
	if (!milter_connect(j->ms, "localhost", "127.0.0.1", 0, job_step))
		job_step(j, NULL);
}

/*
 * pickup_one - one entry of maildrop/.  Returns true when it was dealt
 * with (queued or moved aside), false when it was left (still being
 * written, gone, or a temporary failure: tried again later).
 */
static bool
pickup_one(const char *name)
{
	struct pickup_msg m;
	struct stat lst, st;
	char why[512], id[QUEUE_ID_LEN + 1];
	const char *err = NULL;
	char *data;
	int fd, r;

	if (fstatat(pk.dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (!maildrop_name_valid(name)) {
		aside(name, lst.st_uid, "its name is not one the sendmail "
		    "command gives");
		return true;
	}
	if (!S_ISREG(lst.st_mode)) {
		aside(name, lst.st_uid, "not a regular file");
		return true;
	}
	if (pk.config_err != NULL) {
		/* Fail closed: the addresses cannot be rewritten as the
		 * configuration asks. */
		log_warning("maildrop file %s from uid %lu waits in maildrop: "
		    "%s; fix it and run \"ostia reload\"", name,
		    (unsigned long)lst.st_uid, pk.config_err);
		return false;
	}
	if ((lst.st_mode & 0444) == 0) {
		/* Being written (MAILDROP_MODE_WRITING). */
		if (time(NULL) - lst.st_mtime <= PICKUP_ABANDONED_SECONDS)
			return false;
		aside(name, lst.st_uid, "left unfinished for more than an "
		    "hour (its writer stopped)");
		return true;
	}
	if ((lst.st_mode & 07777) != MAILDROP_MODE_READY) {
		snprintf(why, sizeof(why), "mode %04o, not %04o",
		    (unsigned)(lst.st_mode & 07777), MAILDROP_MODE_READY);
		aside(name, lst.st_uid, why);
		return true;
	}
	fd = openat(pk.dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return false;
		snprintf(why, sizeof(why), "cannot open it: %s",
		    strerror(errno));
		aside(name, lst.st_uid, why);
		return true;
	}
	if (fstat(fd, &st) < 0 || st.st_dev != lst.st_dev ||
	    st.st_ino != lst.st_ino) {
		close(fd);
		return false;	/* replaced meanwhile: the next scan */
	}
	if (st.st_nlink != 1) {
		close(fd);
		snprintf(why, sizeof(why), "it has %lu hard links",
		    (unsigned long)st.st_nlink);
		aside(name, st.st_uid, why);
		return true;
	}
	if ((uint64_t)st.st_size > pk.max_file) {
		close(fd);
		snprintf(why, sizeof(why), "%lld bytes, more than "
		    "message_size_limit allows", (long long)st.st_size);
		aside(name, st.st_uid, why);
		return true;
	}
	data = read_file(fd, (size_t)st.st_size, &err);
	close(fd);
	if (data == NULL) {
		snprintf(why, sizeof(why), "cannot read it: %s", err);
		aside(name, st.st_uid, why);
		return true;
	}
	choose_id(name, id);
	pk.p.now = time(NULL);
	r = pickup_convert(data, (size_t)st.st_size, st.st_uid, id, &pk.p,
	    &m, why, sizeof(why));
	free(data);
	if (r == PICKUP_REFUSED || r == PICKUP_DISCARD) {
		/* Not damaged: not wanted.  Nothing to keep (the sendmail
		 * command refused it already; a discard was logged). */
		if (unlinkat(pk.dirfd, name, 0) < 0 && errno != ENOENT)
			log_error("maildrop file %s: cannot remove it: %s", name,
			    strerror(errno));
		if (r == PICKUP_DISCARD)
			log_info("%s: discard: %s (uid=%lu, not queued)", id,
			    why, (unsigned long)st.st_uid);
		else
			log_warning("maildrop file %s from uid %lu dropped: %s",
			    name, (unsigned long)st.st_uid, why);
		return true;
	}
	if (r == PICKUP_LATER) {
		log_warning("maildrop file %s from uid %lu: %s; trying again "
		    "in %d seconds", name, (unsigned long)st.st_uid, why,
		    PICKUP_RESCAN_SECONDS);
		try_later(name);
		return true;
	}
	if (r < 0) {
		aside(name, st.st_uid, why);
		return true;
	}
	if (m.env.refused != NULL) {
		log_info("%s: uid=%lu from=<%s> refused: %s; returned to the "
		    "sender", id, (unsigned long)st.st_uid, m.env.sender,
		    m.env.refused);
		return queue_it(name, id, &m);
	}
	if (pk.milters != NULL) {
		filter_start(name, id, st.st_uid, &m);
		return true;
	}
	return queue_it(name, id, &m);
}

/*
 * queue_it - m (converted from maildrop file name) as the queue file
 * id; the maildrop file goes.  m is freed.  False when it could not be
 * written (the file stays for the next scan).
 */
static bool
queue_it(const char *name, const char *id, struct pickup_msg *mp)
{
	struct pickup_msg m = *mp;

	memset(mp, 0, sizeof(*mp));
	if (commit(&m, id) < 0) {
		log_warning("maildrop file %s from uid %lu: cannot queue it "
		    "now: %s; trying again later", name,
		    (unsigned long)m.uid, strerror(errno));
		pickup_msg_deinit(&m);
		return false;
	}
	if (unlinkat(pk.dirfd, name, 0) < 0)
		log_error("%s: queued, but cannot remove %s/%s: %s (it will be "
		    "queued again)", id, MAILDROP_DIR, name, strerror(errno));
	if (m.ignored_sender != NULL) {
		char shown[300];

		log_escape(shown, sizeof(shown), m.ignored_sender,
		    strlen(m.ignored_sender), 256);
		log_info("%s: uid=%lu from=<%s> (sender <%s> not honoured: "
		    "only root and mail_owner may choose the sender)", id,
		    (unsigned long)m.uid, m.env.sender, shown);
	} else {
		log_info("%s: uid=%lu from=<%s>", id, (unsigned long)m.uid,
		    m.env.sender);
	}
	if (strcmp(id, name) != 0)
		log_info("%s: picked up from %s/%s", id, MAILDROP_DIR, name);
	pickup_msg_deinit(&m);
	qmgr_committed(id, NULL);
	return true;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* on_run - scan maildrop/ and pick up what is complete. */
static void
on_run(evutil_socket_t fd, short what, void *arg)
{
	char **names = NULL;
	size_t n = 0, done = 0, i;
	struct dirent *de;
	DIR *d;
	int dfd;

	if (child_draining(pk.c) || open_dir() < 0)
		return;
	/* One message with the filters at a time; a pause after many
	 * temporary refusals (the filters are likely down). */
	if (pk.job != NULL || (pk.pause_until != 0 &&
	    time(NULL) < pk.pause_until))
		return;
	pk.pause_until = 0;
	dfd = dup(pk.dirfd);
	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		log_error("cannot read %s: %s", MAILDROP_DIR, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return;
	}
	rewinddir(d);
	while (n < PICKUP_SCAN_MAX && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && done < PICKUP_BATCH && pk.job == NULL; i++)
		if (!not_yet(names[i]) && pickup_one(names[i]))
			done++;
	/* A full batch: go on after the loop had its turn (files still
	 * being written do not count, so this never spins on them). */
	if (done == PICKUP_BATCH)
		event_active(pk.run_ev, 0, 0);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* on_inotify - something changed in maildrop/: drain, then scan. */
static void
on_inotify(evutil_socket_t fd, short what, void *arg)
{
	char evbuf[4096] __attribute__((aligned(__alignof__(
	    struct inotify_event))));

	while (read(pk.ino_fd, evbuf, sizeof(evbuf)) > 0)
		;
	event_active(pk.run_ev, 0, 0);
}

/* setup_masq - pk.masq from view v, or pk.config_err. */
static void
setup_masq(const struct config_view *v)
{
	char err[512];

	masq_deinit(&pk.masq);
	if (masq_setup_view(&pk.masq, v, err, sizeof(err)) < 0) {
		pk.config_err = xstrdup(err);
		log_error("pickup: %s: local submissions wait in maildrop "
		    "until this is fixed", err);
	}
	pk.p.masq = &pk.masq;
}

/*
 * pickup_view - the settings of master.cf's pickup service: the pickup
 * runs in the queue process, whose own view is qmgr's, but the pickup
 * line's -o (content_filter=, receive_override_options=) apply to it.
 */
static const struct config_view *
pickup_view(struct child *c)
{
	const struct master_cf *mcf = config_master(child_config(c));
	long pi = master_cf_find_program(mcf, "pickup", MASTER_TYPE_UNIX);

	if (pi < 0)	/* the older "pickup fifo" line */
		pi = master_cf_find_program(mcf, "pickup", MASTER_TYPE_FIFO);
	return pi >= 0 ? config_service(child_config(c), (size_t)pi) :
	    child_view(c);
}

static const enum param_id hbc_params[HBC__NCLASS] = {
	P_header_checks, P_mime_header_checks, P_nested_header_checks,
	P_body_checks,
};

void
pickup_preinit(struct child *c)
{
	const struct config_view *pv = pickup_view(c);

	hbc_tables_close(&pk.hbc);
	if (config_list_contains(pv, P_receive_override_options,
	    "no_header_body_checks"))
		return;
	/* Before the chroot, like smtpd's: the files are out of reach
	 * after it. */
	hbc_tables_open(&pk.hbc, pv, hbc_params, "the pickup");
}

void
pickup_init(struct child *c)
{
	const struct config_view *v = child_view(c), *pv = pickup_view(c);
	struct timeval tv = { PICKUP_RESCAN_SECONDS, 0 };

	pk.c = c;
	pk.base = child_event_base(c);
	pk.p.myhostname = config_str(v, P_myhostname);
	pk.p.myorigin = config_str(v, P_myorigin);
	pk.p.mydomain = config_str(v, P_mydomain);
	pk.p.append_at_myorigin = config_bool(v, P_append_at_myorigin);
	pk.p.append_dot_mydomain = config_bool(v, P_append_dot_mydomain);
	pk.p.mail_name = config_str(v, P_mail_name);
	pk.p.message_size_limit = config_size(v, P_message_size_limit);
	strv_free(&pk.drop);
	pk.drop = config_list(v, P_message_drop_headers);
	pk.p.drop_headers = pk.drop;
	pk.p.mail_owner_uid = geteuid();
	strv_free(&pk.submit_users);
	pk.submit_users = config_list(v, P_authorized_submit_users);
	free(pk.config_err);
	pk.config_err = NULL;
	setup_masq(v);
	free(pk.always_bcc);
	pk.always_bcc = NULL;
	if (*config_str(v, P_always_bcc) != '\0' && pk.config_err == NULL) {
		const char *why = NULL;

		pk.always_bcc = address_setting(config_str(v, P_always_bcc),
		    pk.p.myorigin, &why);
		if (pk.always_bcc == NULL) {
			pk.config_err = xasprintf("always_bcc = %s: %s",
			    config_str(v, P_always_bcc), why);
			log_error("pickup: %s: local submissions wait in "
			    "maildrop until this is fixed", pk.config_err);
		}
	}
	pk.p.always_bcc = pk.always_bcc;
	pk.p.content_filter = config_str(pv, P_content_filter);
	pk.p.hbc_lookup = NULL;
	if (pk.hbc.broken && pk.config_err == NULL) {
		pk.config_err = xstrdup(pk.hbc.broken_why);
		log_error("pickup: %s: local submissions wait in maildrop "
		    "until this is fixed", pk.config_err);
	} else if (pk.hbc.active) {
		pk.p.hbc_lookup = hbc_tables_lookup;
		pk.p.hbc_ctx = &pk.hbc;
		pk.p.hbc_cfg = &pk.hbc.cfg;
	}
	(void)msg_chars_parse(config_str(v, P_message_reject_characters),
	    &pk.reject_chars, NULL, 0);
	(void)msg_chars_parse(config_str(v, P_message_strip_characters),
	    &pk.strip_chars, NULL, 0);
	pk.p.reject_chars = &pk.reject_chars;
	pk.p.strip_chars = &pk.strip_chars;
	pk.p.submit_users = pk.submit_users;
	if (login_list_unsupported((const char *const *)pk.submit_users) !=
	    NULL)
		log_warning("authorized_submit_users: \"%.100s\" cannot be "
		    "evaluated (Ostia supports login names, !name and "
		    "static:anyone there): submissions that reach it are "
		    "refused", login_list_unsupported(
		    (const char *const *)pk.submit_users));
	pk.max_file = pickup_max_file_bytes(pk.p.message_size_limit);
	pk.milters = milter_list_read(v, P_non_smtpd_milters);
	free(pk.daemon_name);
	pk.daemon_name = xstrdup(config_str(v, P_milter_macro_daemon_name));
	pk.run_ev = event_new(pk.base, -1, 0, on_run, NULL);
	pk.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pk.ino_fd < 0) {
		log_warning("inotify: %s (scanning %s every second)",
		    strerror(errno), MAILDROP_DIR);
		tv.tv_sec = 1;
	} else {
		pk.ino_ev = event_new(pk.base, pk.ino_fd, EV_READ | EV_PERSIST,
		    on_inotify, NULL);
		event_add(pk.ino_ev, NULL);
	}
	pk.tick_ev = event_new(pk.base, -1, EV_PERSIST, on_run, NULL);
	event_add(pk.tick_ev, &tv);
	(void)open_dir();
	event_active(pk.run_ev, 0, 0);
}
