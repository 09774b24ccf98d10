/* SPDX-License-Identifier: MIT */
/*
 * qmgr_forward - a copy of a message for the addresses one of its
 * recipients is forwarded to (qmgr_int.h: qmgr_forward).  The local
 * agent expands aliases; the non-local addresses it finds come back with
 * its result (FORWARD frames, deliver_proto.h) and the queue manager
 * queues them as a new message, written like a notice (fdatasync,
 * link() into incoming/, fsync of the directory), before the recipient
 * is recorded as done.  A crash in between forwards twice, never zero
 * times.
 *
 * The copy keeps the envelope sender, RET, ENVID, SMTPUTF8 and BODY of
 * the original; each address gets the recipient's NOTIFY (passed on
 * for an alias with one destination, RFC 3461 6.2.7.2; when the
 * recipient had several, DELIVER_R_EXPANDED, less SUCCESS: its own
 * success notice says "expanded", 6.2.7.3, and SUCCESS alone becomes
 * NEVER) and, as ORCPT, the recipient's own ORCPT or "rfc822;" its
 * address as queued.  The message gets a trace field first, "Received:
 * by $myhostname ($mail_name) id NEWID; date" (a hop: hopcount_limit
 * ends a forwarding loop between hosts), then, when
 * prepend_delivered_header has "forward" (the default), "Delivered-To:
 * <recipient>", so that an alias loop through other hops comes back to
 * the local agent, which bounces it (5.4.6, as it does for a
 * Delivered-To: of the address it delivers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "compat.h"
#include "deliver_proto.h"
#include "log.h"
#include "qmgr.h"
#include "qmgr_int.h"
#include "queue_file.h"
#include "queue_service.h"
#include "sendmail.h"
#include "xalloc.h"

/* forward_notify - the NOTIFY of a forwarded copy for recipient r
 * (0: not given, kept). */
static uint32_t
forward_notify(const struct qrcpt *r)
{
	uint32_t notify = r->notify;

	if ((r->rflags & DELIVER_R_EXPANDED) == 0 ||
	    (notify & DELIVER_NOTIFY_SUCCESS) == 0)
		return notify;
	notify &= ~DELIVER_NOTIFY_SUCCESS;
	return notify == 0 ? DELIVER_NOTIFY_NEVER : notify;
}

int
qmgr_forward(struct qmsg *m, const struct qrcpt *r, char **addrs,
    size_t n, char id[QUEUE_ID_LEN + 1], char *why, size_t whysz)
{
	const struct qmgr_settings *set = qmgr_settings();
	const struct queue_envelope *o = &m->env;
	char date[SENDMAIL_DATE_BYTES];
	struct queue_envelope env;
	char arrival[QUEUE_ARRIVAL_BYTES], nt[DELIVER_NOTIFY_TEXT_MAX];
	char *content, *orcpt;
	const char *notify = deliver_notify_text(forward_notify(r), nt);
	struct buf text;
	size_t clen = 0;
	int ret;

	content = qmgr_read_content(m, &clen);
	if (content == NULL) {
		snprintf(why, whysz, "cannot read the message to forward it "
		    "to %s", addrs[0]);
		return -1;
	}
	queue_service_new_id(id);
	sendmail_date(date, time(NULL), true);
	buf_init(&text, clen + DELIVER_FIELD_MAX + 256);
	(void)buf_appendf(&text, "Received: by %s (%s)\r\n\tid %s; %s\r\n",
	    set->myhostname, set->mail_name, id, date);
	if (set->forward_delivered_to)
		(void)buf_appendf(&text, "Delivered-To: %s\r\n", r->address);
	(void)buf_append(&text, content, clen);
	free(content);
	orcpt = r->orcpt != NULL && r->orcpt[0] != '\0' ? xstrdup(r->orcpt) :
	    xasprintf("rfc822;%s", r->orig != NULL ? r->orig : r->address);
	queue_envelope_init_local(&env, id, arrival, "local", "local",
	    o->sender);
	env.body = o->body;
	env.smtputf8 = o->smtputf8;
	env.ret = o->ret;
	env.envid = o->envid;
	for (size_t i = 0; i < n; i++)
		queue_envelope_add_rcpt(&env, addrs[i], notify, orcpt);
	ret = queue_service_write(&env, text.data, text.len);
	if (ret < 0)
		snprintf(why, whysz, "cannot queue the copy forwarded to %s%s: "
		    "%s", addrs[0], n > 1 ? " and others" : "",
		    strerror(errno));
	for (size_t i = 0; i < env.nrcpts; i++) {
		free(env.rcpts[i].addr);
		free(env.rcpts[i].notify);
		free(env.rcpts[i].orcpt);
	}
	free(env.rcpts);
	free(orcpt);
	buf_deinit(&text);
	if (ret < 0)
		return -1;
	log_info("%s: forwarded <%s> to %zu address%s (%s%s): %s", m->id,
	    r->address, n, n == 1 ? "" : "es", addrs[0], n > 1 ? ", ..." : "",
	    id);
	qmgr_committed(id, NULL);
	return 0;
}
