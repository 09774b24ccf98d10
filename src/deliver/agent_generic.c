/* SPDX-License-Identifier: MIT */
/*
 * agent_generic - smtp_generic_maps in the smtp agent; see
 * agent_generic.h.
 */
#include "agent_generic.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "header_addr.h"
#include "header_rewrite.h"
#include "log.h"
#include "route.h"
#include "xalloc.h"

/* One distinct address and its answer. */
struct ag_addr {
	struct agent_generic *g;
	char *key;
	char *mapped;			/* NULL until answered */
	struct lookup_request *req;
};

struct agent_generic {
	struct agent_txn *t;
	const char *queue_id;
	agent_generic_done_fn *done;
	void *ctx;
	struct ag_addr *addrs;
	size_t naddrs, inflight;
	bool skipped_warned;
	/* What is looked up for the envelope and each header edit:
	 * indexes into addrs, SIZE_MAX for none. */
	size_t sender_ix;
	size_t *rcpt_ix;		/* t->n */
	struct header_edit *edits;
	size_t nedits, block_len;
	size_t *edit_ix;
	/* The mapped message (header block + the rest), when a header
	 * address changed. */
	struct buf content;
	bool have_content;
	char why[600];
};

/* add_addr - the index of address in g->addrs (added when new), or
 * SIZE_MAX when the limit is reached. */
static size_t
add_addr(struct agent_generic *g, const char *address)
{
	for (size_t i = 0; i < g->naddrs; i++)
		if (strcmp(g->addrs[i].key, address) == 0)
			return i;
	if (g->naddrs >= AGENT_GENERIC_LOOKUPS_MAX)
		return SIZE_MAX;
	g->addrs[g->naddrs].g = g;
	g->addrs[g->naddrs].key = xstrdup(address);
	return g->naddrs++;
}

/* apply - every answer is in and none failed: point t at the mapped
 * addresses and content. */
static void
apply(struct agent_generic *g)
{
	struct agent_txn *t = g->t;
	bool changed = false;
	const char **repl;

	if (g->sender_ix != SIZE_MAX)
		t->mail.sender = g->addrs[g->sender_ix].mapped;
	for (size_t k = 0; k < t->n; k++)
		if (g->rcpt_ix[k] != SIZE_MAX)
			t->rc[k].address = g->addrs[g->rcpt_ix[k]].mapped;
	if (g->nedits == 0)
		return;
	repl = xcalloc(g->nedits, sizeof(*repl));
	for (size_t i = 0; i < g->nedits; i++) {
		const struct header_edit *e = &g->edits[i];
		size_t ix = g->edit_ix[i];

		if (ix == SIZE_MAX)
			continue;
		repl[i] = g->addrs[ix].mapped;
		if (strlen(repl[i]) != e->len ||
		    memcmp(repl[i], t->mail.content + e->start, e->len) != 0)
			changed = true;
	}
	if (changed) {
		buf_init(&g->content, t->mail.len + (size_t)g->nedits *
		    HEADER_ADDR_MAX_BYTES + 1);
		g->have_content = true;
		if (header_rewrite_apply(t->mail.content, g->block_len,
		    g->edits, g->nedits, repl, &g->content) < 0 ||
		    buf_append(&g->content, t->mail.content + g->block_len,
		    t->mail.len - g->block_len) < 0) {
			snprintf(g->why, sizeof(g->why), "smtp_generic_maps: "
			    "the rewritten message is too large");
		} else {
			t->mail.content = g->content.data;
			t->mail.len = g->content.len;
		}
	}
	free(repl);
}

static void
on_answer(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct ag_addr *a = ctx;
	struct agent_generic *g = a->g;

	a->req = NULL;
	g->inflight--;
	a->mapped = lookup_route_mapped(st, text, len, HEADER_ADDR_MAX_BYTES);
	if (a->mapped == NULL && g->why[0] == '\0') {
		snprintf(g->why, sizeof(g->why), "smtp_generic_maps lookup "
		    "of <%.300s> failed: %.*s", a->key,
		    st == DICT_TEMPFAIL ? (int)(len > 200 ? 200 : len) : 30,
		    st == DICT_TEMPFAIL ? text : "a malformed lookup answer");
	}
	if (g->inflight > 0)
		return;
	if (g->why[0] == '\0')
		apply(g);
	if (g->why[0] != '\0')
		log_warning("%s: %s", g->queue_id, g->why);
	g->done(g->ctx, g->why[0] != '\0' ? g->why : NULL);
}

static void
skipped(void *ctx, const char *name, size_t name_len)
{
	struct agent_generic *g = ctx;

	log_warning("%s: smtp_generic_maps: the %.*s: header is not an "
	    "address list this agent can read: sent as it is", g->queue_id,
	    (int)(name_len > 100 ? 100 : name_len), name);
}

struct agent_generic *
agent_generic_start(struct lookup_client *lc, const char *service,
    const char *queue_id, struct agent_txn *t, agent_generic_done_fn *done,
    void *ctx)
{
	struct agent_generic *g = xcalloc(1, sizeof(*g));
	/* No completion: only the addresses as written are looked up. */
	struct header_rewrite_ctx hc = { .local = true, .myorigin = "",
	    .mydomain = "", .remote_domain = "" };
	struct header_block_scan sc = { 0, false };

	g->t = t;
	g->queue_id = queue_id;
	g->done = done;
	g->ctx = ctx;
	g->addrs = xcalloc(AGENT_GENERIC_LOOKUPS_MAX, sizeof(*g->addrs));
	g->sender_ix = SIZE_MAX;
	if (t->mail.sender[0] != '\0')
		g->sender_ix = add_addr(g, t->mail.sender);
	g->rcpt_ix = xcalloc(t->n + 1, sizeof(*g->rcpt_ix));
	for (size_t k = 0; k < t->n; k++)
		g->rcpt_ix[k] = add_addr(g, t->rc[k].address);
	(void)header_block_end(&sc, t->mail.content, t->mail.len, true);
	g->block_len = sc.scanned;
	g->nedits = header_rewrite_edits(t->mail.content, g->block_len, &hc,
	    &g->edits, skipped, g);
	g->edit_ix = xcalloc(g->nedits + 1, sizeof(*g->edit_ix));
	for (size_t i = 0; i < g->nedits; i++) {
		char *a = xstrndup(t->mail.content + g->edits[i].start,
		    g->edits[i].len);

		g->edit_ix[i] = add_addr(g, a);
		if (g->edit_ix[i] == SIZE_MAX && !g->skipped_warned) {
			log_warning("%s: smtp_generic_maps: more than %d "
			    "addresses; the rest of the headers are sent as "
			    "they are", queue_id, AGENT_GENERIC_LOOKUPS_MAX);
			g->skipped_warned = true;
		}
		free(a);
	}
	/* An envelope address over the limit: the transaction waits
	 * rather than going out unmapped. */
	if (t->mail.sender[0] != '\0' && g->sender_ix == SIZE_MAX)
		snprintf(g->why, sizeof(g->why), "smtp_generic_maps: too many "
		    "addresses");
	for (size_t k = 0; k < t->n; k++)
		if (g->rcpt_ix[k] == SIZE_MAX)
			snprintf(g->why, sizeof(g->why), "smtp_generic_maps: "
			    "too many addresses");
	g->inflight = g->naddrs;
	for (size_t i = 0; i < g->naddrs; i++)
		g->addrs[i].req = lookup_client_route(lc, service,
		    LOOKUP_ROUTE_GENERIC, g->addrs[i].key, on_answer,
		    &g->addrs[i]);
	return g;
}

void
agent_generic_free(struct agent_generic **gp)
{
	struct agent_generic *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	for (size_t i = 0; i < g->naddrs; i++) {
		if (g->addrs[i].req != NULL)
			lookup_client_cancel(g->addrs[i].req);
		free(g->addrs[i].key);
		free(g->addrs[i].mapped);
	}
	free(g->addrs);
	free(g->rcpt_ix);
	header_edits_free(g->edits, g->nedits);
	free(g->edit_ix);
	if (g->have_content)
		buf_deinit(&g->content);
	free(g);
}
