/* SPDX-License-Identifier: MIT */
/*
 * qmgr_notice - delivery status notices made by the queue manager
 * (qmgr_int.h: qmgr_send_notice): which recipients a notice is about,
 * the notice itself (dsn.c), and its queue file, written by the queue
 * process like a committed message (fdatasync, link() into incoming/ so
 * that no message is ever replaced, fsync of the directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "compat.h"
#include "deliver_proto.h"
#include "dsn.h"
#include "file_read.h"
#include "log.h"
#include "notify_class.h"
#include "qmgr.h"
#include "qmgr_int.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "queue_service.h"
#include "xalloc.h"

/* write_notice - queue a new message (sender "") to rcpt. */
static int
write_notice(const char *sender, const char *rcpt, const struct buf *text,
    bool smtputf8, const char *about, const char *what)
{
	struct queue_envelope env;
	struct queue_rcpt qr = { .addr = UNCONST(rcpt) };
	char id[QUEUE_ID_LEN + 1], arrival[QUEUE_ARRIVAL_BYTES];

	queue_service_new_id(id);
	queue_envelope_init_local(&env, id, arrival, "local", "qmgr", sender);
	env.smtputf8 = smtputf8;
	for (size_t i = 0; i < text->len; i++)
		if ((unsigned char)text->data[i] >= 0x80) {
			env.body = UNCONST("8BITMIME");
			break;
		}
	env.rcpts = &qr;
	env.nrcpts = 1;
	if (queue_service_write(&env, text->data, text->len) < 0) {
		log_error("%s: cannot write the notice to <%s>: %s", about,
		    rcpt, strerror(errno));
		return -1;
	}
	log_info("%s: %s: %s", about, what, id);
	qmgr_committed(id, NULL);
	return 0;
}

/* is_double_bounce - sent by the mail system to the postmaster (also
 * the bare name, as queue files of earlier versions have it). */
static bool
is_double_bounce(const char *sender)
{
	const struct qmgr_settings *set = qmgr_settings();

	return strcasecmp(sender, set->double_bounce_addr) == 0 ||
	    strcasecmp(sender, set->double_bounce) == 0;
}

static bool
notify_wants(uint32_t notify, uint32_t bit)
{
	if (notify & DELIVER_NOTIFY_NEVER)
		return false;
	if (notify == 0)	/* not given: failures and delays */
		return bit != DELIVER_NOTIFY_SUCCESS;
	return (notify & bit) != 0;
}

char *
qmgr_read_content(struct qmsg *m, size_t *len_r)
{
	char *path = qmgr_path(m->dir, m->id), *err = NULL, *text;
	struct queue_envelope env;
	struct buf content;
	const char *perr;
	size_t len = 0;
	int e = 0;

	text = file_read_capped(path, qmgr_settings()->max_file_bytes, &len, &e, &err);
	free(path);
	free(err);
	if (text == NULL)
		return NULL;
	buf_init(&content, len);
	memset(&env, 0, sizeof(env));
	if (queue_file_parse(text, len, &env, &content, &perr) < 0) {
		buf_deinit(&content);
		free(text);
		return NULL;
	}
	queue_envelope_deinit(&env);
	free(text);
	*len_r = content.len;
	return buf_steal(&content);
}

/*
 * send_notice - a notice of kind for the recipients of m that are in
 * state st (plus those the status log says), when their NOTIFY asks.
 */
void
qmgr_send_notice(struct qmsg *m, enum dsn_kind kind)
{
	const struct qmgr_settings *set = qmgr_settings();
	enum rstate want = kind == DSN_KIND_SUCCESS ? R_SENT :
	    kind == DSN_KIND_DELAY ? R_DEFERRED : R_BOUNCED;
	enum qstatus_action lwant = kind == DSN_KIND_SUCCESS ? QSTATUS_SENT :
	    QSTATUS_BOUNCED;
	uint32_t bit = kind == DSN_KIND_SUCCESS ? DELIVER_NOTIFY_SUCCESS :
	    kind == DSN_KIND_DELAY ? DELIVER_NOTIFY_DELAY :
	    DELIVER_NOTIFY_FAILURE;
	struct dsn_rcpt *dr = NULL;
	struct dsn_params p;
	struct buf out;
	const char *err = NULL, *to;
	char *content = NULL, *from = NULL, *diag;
	size_t n = 0, clen = 0;
	char **diags = NULL;
	bool from_2bounce = is_double_bounce(m->env.sender);
	bool is_notice = m->env.sender[0] == '\0' || from_2bounce;

	for (size_t i = 0; i < m->nr; i++) {
		struct qrcpt *r = m->r[i];
		const struct qstatus_entry *e = NULL;
		const char *action;

		if (r->st == R_SKIP) {
			if (kind == DSN_KIND_DELAY)
				continue;
			e = qstatus_find(&m->log, r->idx, r->address);
			if (e == NULL || e->action != lwant)
				continue;
		} else if (r->st != want) {
			continue;
		}
		if (!notify_wants(r->notify, bit))
			continue;
		/* The next hop took the DSN request: it notifies (RFC 3461
		 * 5.2.2), not us. */
		if (kind == DSN_KIND_SUCCESS && e == NULL &&
		    (r->rflags & DELIVER_R_DSN_PASSED) != 0)
			continue;
		dr = xreallocarray(dr, n + 1, sizeof(*dr));
		diags = xreallocarray(diags, n + 1, sizeof(*diags));
		if (kind != DSN_KIND_SUCCESS)
			action = kind == DSN_KIND_DELAY ? "delayed" : "failed";
		else if (e == NULL && (r->rflags & DELIVER_R_EXPANDED) != 0)
			action = "expanded";
		else if (e == NULL && (r->rflags & DELIVER_R_RELAYED) != 0)
			action = "relayed";
		else
			action = "delivered";
		diag = NULL;
		if (e != NULL ? e->remote[0] != '\0' : r->remote[0] != '\0')
			diag = xstrdup(e != NULL ? e->remote : r->remote);
		else
			diag = xasprintf("x-ostia; %s", e != NULL ? e->text :
			    r->text);
		diags[n] = diag;
		dr[n] = (struct dsn_rcpt){
			.final_rcpt = r->address,
			.orcpt = r->orcpt,
			.action = action,
			.status = e != NULL ? e->dsn : r->dsn,
			.remote_mta = NULL,
			.diagnostic = diag,
			.text = e != NULL ? e->text : r->text,
			.last_attempt = e != NULL ? e->when : r->when,
		};
		n++;
	}
	if (n == 0)
		goto out;
	if (is_notice && kind != DSN_KIND_FAILURE)
		goto out;
	if (is_notice) {
		/* A notice that cannot be delivered: no notice about it,
		 * except to the postmaster when notify_classes asks. */
		if ((set->notify & NOTIFY_2BOUNCE) == 0 || from_2bounce) {
			log_warning("%s: undeliverable delivery status notice "
			    "discarded (its recipient failed; add 2bounce to "
			    "notify_classes to send these to %s)", m->id,
			    set->bounce2_rcpt);
			goto out;
		}
		to = set->bounce2_rcpt;
	} else {
		to = m->env.sender;
	}
	content = qmgr_read_content(m, &clen);
	from = xasprintf("MAILER-DAEMON@%s", set->myhostname);
	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.queue_id = m->id;
	p.reporting_mta = set->myhostname;
	p.from_addr = from;
	p.mail_name = "Ostia";
	p.sender = to;
	p.envid = m->env.envid;
	p.ret_full = m->env.ret == NULL || strcmp(m->env.ret, "HDRS") != 0;
	p.smtputf8 = m->env.smtputf8;
	p.arrival = m->arrival;
	p.now = time(NULL);
	if (kind == DSN_KIND_DELAY)
		p.retry_until = m->arrival + set->lifetime;
	p.received_from = NULL;
	p.rcpts = dr;
	p.nrcpts = n;
	p.content = content != NULL ? content : "";
	p.content_len = content != NULL ? clen : 0;
	p.size_limit = set->bounce_size_limit;
	p.message_id_domain = set->myhostname;
	{
		uint64_t u = 0;

		(void)RAND_bytes((unsigned char *)&u, sizeof(u));
		p.unique = u ^ (uint64_t)p.now;
	}
	/* Room for the part of the original the notice may carry, the
	 * headers and per-recipient text. */
	buf_init(&out, (set->bounce_size_limit != 0 ? set->bounce_size_limit :
	    clen) + 1024 * 1024 + n * 16 * 1024);
	if (dsn_build(&p, &out, &err) < 0)
		log_error("%s: cannot build the notice to <%s>: %s", m->id, to,
		    err);
	else
		(void)write_notice(is_notice ? set->double_bounce_addr : "", to,
		    &out, dsn_needs_smtputf8(&p), m->id, is_notice ?
		    "undeliverable notice to the postmaster" :
		    "sender notice");
	/* notify_classes bounce / delay: the postmaster's copy, headers
	 * only, from the double-bounce sender (a copy that fails is
	 * dropped, never bounced). */
	if (!is_notice && ((kind == DSN_KIND_FAILURE &&
	    (set->notify & NOTIFY_BOUNCE) != 0) || (kind == DSN_KIND_DELAY &&
	    (set->notify & NOTIFY_DELAY) != 0))) {
		const char *pm = kind == DSN_KIND_FAILURE ? set->bounce_rcpt :
		    set->delay_rcpt;

		p.sender = pm;
		p.copy_of_sender = m->env.sender;
		p.ret_full = false;
		p.unique ^= 0x9e3779b97f4a7c15ull;
		buf_reset(&out);
		if (dsn_build(&p, &out, &err) < 0)
			log_error("%s: cannot build the postmaster copy to "
			    "<%s>: %s", m->id, pm, err);
		else
			(void)write_notice(set->double_bounce_addr, pm, &out,
			    dsn_needs_smtputf8(&p), m->id, "postmaster copy");
	}
	buf_deinit(&out);
out:
	for (size_t i = 0; i < n; i++)
		free(diags[i]);
	free(diags);
	free(dr);
	free(content);
	free(from);
}
