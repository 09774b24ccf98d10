/* SPDX-License-Identifier: MIT */
/*
 * smtpd_hdrw - header address rewriting in the SMTP server; see
 * smtpd_hdrw.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "header_addr.h"
#include "header_missing.h"
#include "header_rewrite.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "masquerade.h"
#include "log.h"
#include "own_addrs.h"
#include "peer_match.h"
#include "route.h"
#include "sendmail.h"
#include "smtpd_check.h"
#include "smtpd_hdrw.h"
#include "smtpd_session.h"
#include "smtpd_xclient.h"
#include "strv.h"
#include "tls_ccert.h"
#include "xalloc.h"

#define HDRW_WHY_MAX 512

/* ---------------------------------------------------------------- */
/* Settings                                                         */

static struct {
	bool on;		/* anything to do for some client */
	bool all;		/* static:all */
	bool ifaces_on;		/* permit_inet_interfaces */
	bool mynetworks_on;	/* permit_mynetworks */
	bool sasl_on;		/* permit_sasl_authenticated */
	bool tls_all_on;	/* permit_tls_all_clientcerts */
	struct peer_list *ifaces;	/* this host's addresses */
	const char *remote_domain;	/* remote_header_rewrite_domain */
	const char *myorigin;
	const char *mydomain;
	bool append_at_myorigin;
	bool append_dot_mydomain;
	bool map_sender, map_rcpt;	/* canonical lookups wanted */
	bool always_add;	/* always_add_missing_headers */
} hw;

/* ifaces_value - inet_interfaces as a peer list: "all" is every
 * address of this machine, "loopback-only" 127.0.0.1 and ::1; listed
 * addresses as they are (names are not resolved here). */
static void
ifaces_value(const struct config_view *v, struct buf *out)
{
	struct own_addrs oa;

	memset(&oa, 0, sizeof(oa));
	own_addrs_load(&oa, v, false);
	if (oa.err != NULL)
		log_warning("local_header_rewrite_clients: "
		    "permit_inet_interfaces: %s", oa.err);
	for (size_t i = 0; i < oa.n; i++) {
		char a[INET6_ADDRSTRLEN];

		if (inet_ntop(oa.v[i].family, oa.v[i].a, a, sizeof(a)) !=
		    NULL)
			(void)buf_appendf(out, "%s ", a);
	}
	own_addrs_free(&oa);
}

void
smtpd_hdrw_init(const struct config_view *v)
{
	char **l;
	bool no_maps;

	smtpd_hdrw_deinit();
	memset(&hw, 0, sizeof(hw));
	l = config_list(v, P_local_header_rewrite_clients);
	for (size_t i = 0; l[i] != NULL; i++) {
		if (strcasecmp(l[i], "permit_inet_interfaces") == 0) {
			hw.ifaces_on = true;
		} else if (strcasecmp(l[i], "permit_mynetworks") == 0) {
			hw.mynetworks_on = true;
		} else if (strcasecmp(l[i], "permit_sasl_authenticated") ==
		    0) {
			hw.sasl_on = true;
		} else if (strcasecmp(l[i], "permit_tls_all_clientcerts") ==
		    0) {
			hw.tls_all_on = true;
		} else if (strncasecmp(l[i], "static:", 7) == 0) {
			hw.all = true;
		} else {
			log_warning("local_header_rewrite_clients: \"%.100s\" "
			    "is not supported (use permit_inet_interfaces, "
			    "permit_mynetworks, permit_sasl_authenticated, "
			    "permit_tls_all_clientcerts or static:all); it "
			    "matches no client", l[i]);
			if (strcasecmp(l[i], "check_address_map") == 0 &&
			    l[i + 1] != NULL)
				i++;	/* its table */
		}
	}
	strv_free(&l);
	if (hw.ifaces_on) {
		struct buf b;
		const char *err = NULL;

		buf_init(&b, 64 * 1024);
		ifaces_value(v, &b);
		hw.ifaces = peer_list_parse(buf_cstr(&b), false, &err);
		if (hw.ifaces == NULL)
			log_warning("local_header_rewrite_clients: this "
			    "machine's addresses: %s", err);
		buf_deinit(&b);
	}
	hw.remote_domain = config_str(v, P_remote_header_rewrite_domain);
	hw.myorigin = config_str(v, P_myorigin);
	hw.mydomain = config_str(v, P_mydomain);
	hw.append_at_myorigin = config_bool(v, P_append_at_myorigin);
	hw.append_dot_mydomain = config_bool(v, P_append_dot_mydomain);
	no_maps = config_list_contains(v, P_receive_override_options,
	    "no_address_mappings");
	if (!no_maps) {
		bool canon = *config_str(v, P_canonical_maps) != '\0';

		hw.map_sender = (*config_str(v, P_sender_canonical_maps) !=
		    '\0' && config_list_contains(v, P_sender_canonical_classes,
		    "header_sender")) || (canon && config_list_contains(v,
		    P_canonical_classes, "header_sender"));
		hw.map_rcpt = (*config_str(v, P_recipient_canonical_maps) !=
		    '\0' && config_list_contains(v,
		    P_recipient_canonical_classes, "header_recipient")) ||
		    (canon && config_list_contains(v, P_canonical_classes,
		    "header_recipient"));
		hw.map_sender |= masq_wanted(v, MASQ_HDR_SENDER);
		hw.map_rcpt |= masq_wanted(v, MASQ_HDR_RCPT);
	}
	hw.on = hw.map_sender || hw.map_rcpt || hw.append_at_myorigin ||
	    hw.append_dot_mydomain;
	hw.always_add = config_bool(v, P_always_add_missing_headers);
}

void
smtpd_hdrw_deinit(void)
{
	peer_list_free(&hw.ifaces);
}

/* client_is_local - does local_header_rewrite_clients name s? */
static bool
client_is_local(const struct session *s)
{
	/* A content filter's XFORWARD SOURCE speaks for the client it
	 * received the message from (the filter itself is local). */
	int fwd = smtpd_xforward_source_local(s);

	if (fwd >= 0)
		return fwd == 1;
	if (hw.all)
		return true;
	if (hw.sasl_on && s->authenticated)
		return true;
	if (hw.tls_all_on && s->ccert != NULL && s->ccert->trusted)
		return true;
	if (hw.ifaces_on && hw.ifaces != NULL &&
	    peer_list_match(hw.ifaces, NULL, s->addr) == 1)
		return true;
	return hw.mynetworks_on && smtpd_cfg.mynetworks != NULL &&
	    peer_list_match(smtpd_cfg.mynetworks, s->name, s->addr) == 1;
}

/* ---------------------------------------------------------------- */
/* One message                                                      */

enum hw_phase {
	HW_COLLECT,		/* reading the header block */
	HW_WAIT,		/* lookups in flight */
	HW_PASS,		/* headers done: text passes through */
	HW_FAILED,		/* a lookup failed: text is dropped */
};

struct hw_addr {
	struct smtpd_hdrw *w;
	char *key;		/* the completed address */
	bool sender;
	char *mapped;		/* the answer (NULL until then) */
	struct lookup_request *req;
};

struct smtpd_hdrw {
	struct session *s;
	smtp_data_out_fn *out;
	void *out_ctx;
	enum hw_phase phase;
	struct header_rewrite_ctx ctx;
	struct buf blk;		/* the header block so far */
	struct header_block_scan bs;
	struct buf held;	/* text after the block, while waiting */
	struct hw_addr *addrs;
	size_t naddrs, inflight;
	bool over_limit;	/* SMTPD_HDRW_LOOKUPS_MAX reached */
	bool rewrite;		/* addresses are rewritten */
	bool add_missing;	/* From:, Date:, Message-ID: when missing */
	struct header_edit *edits;
	size_t nedits;
	size_t *edit_addr;	/* per edit: its addrs index, or SIZE_MAX */
	bool finishing;
	smtpd_hdrw_done_fn *done;
	char why[HDRW_WHY_MAX];	/* the first failure */
};

struct smtpd_hdrw *
smtpd_hdrw_start(struct session *s, smtp_data_out_fn *out, void *out_ctx)
{
	struct smtpd_hdrw *w;
	bool local = client_is_local(s), rewrite, add;

	/* Missing headers are added for the local clients, as Postfix's
	 * cleanup does (for every client with always_add_missing_headers:
	 * a remote client's DKIM signature may cover their absence). */
	rewrite = hw.on && (local || hw.remote_domain[0] != '\0');
	add = local || hw.always_add;
	if (!rewrite && !add)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->rewrite = rewrite;
	w->add_missing = add;
	w->s = s;
	w->out = out;
	w->out_ctx = out_ctx;
	w->ctx.local = local;
	w->ctx.append_at_myorigin = hw.append_at_myorigin;
	w->ctx.append_dot_mydomain = hw.append_dot_mydomain;
	w->ctx.myorigin = hw.myorigin;
	w->ctx.mydomain = hw.mydomain;
	w->ctx.remote_domain = hw.remote_domain;
	w->phase = HW_COLLECT;
	buf_init(&w->blk, SMTPD_HDRW_BLOCK_MAX_BYTES);
	buf_init(&w->held, (size_t)-1 / 2);
	return w;
}

/* add_addr - the lookup slot for key (one per distinct address and
 * class), or SIZE_MAX when the limit is reached. */
static size_t
add_addr(struct smtpd_hdrw *w, const char *key, bool sender)
{
	for (size_t i = 0; i < w->naddrs; i++)
		if (w->addrs[i].sender == sender &&
		    strcmp(w->addrs[i].key, key) == 0)
			return i;
	if (w->naddrs >= SMTPD_HDRW_LOOKUPS_MAX) {
		if (!w->over_limit)
			log_warning("%s: more than %d distinct header "
			    "addresses: the rest are not mapped",
			    w->s->id, SMTPD_HDRW_LOOKUPS_MAX);
		w->over_limit = true;
		return SIZE_MAX;
	}
	w->addrs = xreallocarray(w->addrs, w->naddrs + 1, sizeof(*w->addrs));
	memset(&w->addrs[w->naddrs], 0, sizeof(*w->addrs));
	w->addrs[w->naddrs].w = w;
	w->addrs[w->naddrs].key = xstrdup(key);
	w->addrs[w->naddrs].sender = sender;
	return w->naddrs++;
}

/* skipped - an address header that is not an address list. */
static void
skipped(void *ctx, const char *name, size_t name_len)
{
	const struct smtpd_hdrw *w = ctx;

	log_info("%s: header %.*s: not an address list (or more than %d "
	    "addresses): its addresses are left as they are", w->s->id,
	    (int)name_len, name, HEADER_REWRITE_SPANS_MAX);
}

/*
 * add_missing - From:, Date: and Message-ID: after the block in out
 * when it lacks them (header_missing.h).  A block that ends without a
 * line end (a message of headers only, cut) gets one first.
 */
static void
add_missing(struct smtpd_hdrw *w, struct buf *out)
{
	const struct session *s = w->s;
	struct header_missing_vals v;
	char date[SENDMAIL_DATE_BYTES];
	unsigned have = header_missing_scan(out->data, out->len), added = 0;
	size_t mark = out->len;

	if ((have & HEADER_HAS_ALL) == HEADER_HAS_ALL)
		return;
	v.now = time(NULL);
	sendmail_date(date, v.now, true);
	v.date = date;
	v.sender = s->queue_sender != NULL ? s->queue_sender :
	    s->mail.from.text != NULL ? s->mail.from.text : "";
	v.queue_id = s->id;
	v.myhostname = smtpd_cfg.myhostname;
	if (out->len > 0 && out->data[out->len - 1] != '\n' &&
	    buf_append(out, "\r\n", 2) < 0)
		return;
	if (header_missing_append(out, have, &v, &added) < 0) {
		out->len = mark;
		log_warning("%s: no room to add the missing headers", s->id);
		return;
	}
	log_debug(1, "%s: added missing headers%s:%s%s%s", s->id,
	    (have & HEADER_RESENT) != 0 ? " (Resent-)" : "",
	    (added & HEADER_HAS_FROM) != 0 ? " From:" : "",
	    (added & HEADER_HAS_DATE) != 0 ? " Date:" : "",
	    (added & HEADER_HAS_MSGID) != 0 ? " Message-ID:" : "");
}

/* emit - the rewritten block to the output. */
static void
emit(struct smtpd_hdrw *w)
{
	const char **repl = xcalloc(w->nedits + 1, sizeof(*repl));
	struct buf out;

	for (size_t i = 0; i < w->nedits; i++)
		if (w->edit_addr[i] != SIZE_MAX)
			repl[i] = w->addrs[w->edit_addr[i]].mapped;
	buf_init(&out, w->blk.len + (w->nedits + 1) *
	    (HEADER_ADDR_MAX_BYTES + ROUTE_ADDRESS_MAX_BYTES) + 1024);
	if (header_rewrite_apply(w->blk.data, w->blk.len, w->edits,
	    w->nedits, repl, &out) < 0) {
		/* Cannot happen: the bound covers every replacement. */
		log_error("%s: the rewritten header block does not fit; it "
		    "is stored as received", w->s->id);
		buf_reset(&out);
		(void)buf_append(&out, w->blk.data, w->blk.len);
	}
	if (w->add_missing)
		add_missing(w, &out);
	w->out(w->out_ctx, out.data, out.len);
	buf_deinit(&out);
	free(repl);
}

/* settle - the answers are in (or none were needed): the block and what
 * was held go out, or the message is marked as failed. */
static void
settle(struct smtpd_hdrw *w)
{
	if (w->why[0] != '\0') {
		log_warning("%s: header address mapping failed: %s; the "
		    "message gets a temporary failure", w->s->id, w->why);
		w->phase = HW_FAILED;
	} else {
		emit(w);
		if (w->held.len > 0)
			w->out(w->out_ctx, w->held.data, w->held.len);
		w->phase = HW_PASS;
	}
	buf_reset(&w->held);
}

static void
on_answer(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct hw_addr *a = ctx;
	struct smtpd_hdrw *w = a->w;
	struct session *s = w->s;

	a->req = NULL;
	w->inflight--;
	a->mapped = lookup_route_mapped(st, text, len, HEADER_ADDR_MAX_BYTES);
	if (a->mapped == NULL && w->why[0] == '\0') {
		snprintf(w->why, sizeof(w->why), "%s header address <%.300s>: "
		    "%.*s", a->sender ? "sender" : "recipient", a->key,
		    st == DICT_TEMPFAIL ? (int)(len > 150 ? 150 : len) : 30,
		    st == DICT_TEMPFAIL ? text : "a malformed lookup answer");
	}
	if (w->inflight > 0)
		return;
	settle(w);
	s->paused = false;
	if (w->finishing) {
		w->done(s, w->phase == HW_PASS);
		return;		/* done() goes on with the session */
	}
	smtpd_session_process(s);
}

/* end_block - the header block is blk[0 .. end); the rest of blk is
 * text after it.  Rewrites at once or starts the lookups. */
static void
end_block(struct smtpd_hdrw *w, size_t end)
{
	/* What follows the block waits with it. */
	(void)buf_append(&w->held, w->blk.data + end, w->blk.len - end);
	w->blk.len = end;
	w->nedits = !w->rewrite ? 0 : header_rewrite_edits(w->blk.data, end,
	    &w->ctx, &w->edits, skipped, w);
	w->edit_addr = xcalloc(w->nedits + 1, sizeof(*w->edit_addr));
	for (size_t i = 0; i < w->nedits; i++) {
		const struct header_edit *e = &w->edits[i];

		w->edit_addr[i] = SIZE_MAX;
		if (e->sender ? hw.map_sender : hw.map_rcpt)
			w->edit_addr[i] = add_addr(w, e->completed, e->sender);
	}
	if (w->naddrs == 0) {
		settle(w);
		return;
	}
	w->phase = HW_WAIT;
	w->s->paused = true;
	for (size_t i = 0; i < w->naddrs; i++) {
		struct hw_addr *a = &w->addrs[i];

		a->req = lookup_client_route(smtpd_check_lookup_client(),
		    smtpd_cfg.route_service, a->sender ?
		    LOOKUP_ROUTE_HEADER_SENDER : LOOKUP_ROUTE_HEADER_RCPT,
		    a->key, on_answer, a);
		w->inflight++;
	}
}

void
smtpd_hdrw_feed(struct smtpd_hdrw *w, const char *data, size_t len)
{
	switch (w->phase) {
	case HW_PASS:
		w->out(w->out_ctx, data, len);
		return;
	case HW_FAILED:
		return;
	case HW_WAIT:
		(void)buf_append(&w->held, data, len);
		return;
	case HW_COLLECT:
		break;
	}
	if (buf_append(&w->blk, data, len) < 0) {
		log_warning("%s: the header block is longer than %d bytes: "
		    "its addresses are not rewritten", w->s->id,
		    SMTPD_HDRW_BLOCK_MAX_BYTES);
		w->out(w->out_ctx, w->blk.data, w->blk.len);
		w->out(w->out_ctx, data, len);
		w->phase = HW_PASS;
		return;
	}
	if (header_block_end(&w->bs, w->blk.data, w->blk.len, false))
		end_block(w, w->bs.scanned);
}

int
smtpd_hdrw_finish(struct smtpd_hdrw *w, smtpd_hdrw_done_fn *done)
{
	if (w->phase == HW_COLLECT) {
		(void)header_block_end(&w->bs, w->blk.data, w->blk.len, true);
		end_block(w, w->bs.scanned);
	}
	switch (w->phase) {
	case HW_PASS:
		return 1;
	case HW_FAILED:
		return 0;
	case HW_WAIT:
	case HW_COLLECT:
	default:
		break;
	}
	w->finishing = true;
	w->done = done;
	w->s->paused = true;
	return -1;
}

void
smtpd_hdrw_free(struct smtpd_hdrw **wp)
{
	struct smtpd_hdrw *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	if (w->phase == HW_WAIT)
		w->s->paused = false;	/* the pause was ours */
	for (size_t i = 0; i < w->naddrs; i++) {
		if (w->addrs[i].req != NULL)
			lookup_client_cancel(w->addrs[i].req);
		free(w->addrs[i].key);
		free(w->addrs[i].mapped);
	}
	free(w->addrs);
	header_edits_free(w->edits, w->nedits);
	free(w->edit_addr);
	buf_deinit(&w->blk);
	buf_deinit(&w->held);
	free(w);
}
