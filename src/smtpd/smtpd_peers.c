/* SPDX-License-Identifier: MIT */
/*
 * smtpd_peers - the SMTP server's client lists; see smtpd_peers.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer_tables.h"
#include "smtpd_peers.h"
#include "xalloc.h"

/* Lists remembered at preinit (a handful: one per list parameter). */
#define PEERS_MAX_REMEMBERED 16

struct remembered {
	char *title;
	char *value;
	struct peer_list *pl;	/* NULL: err */
	char *err;
};

static struct remembered kept[PEERS_MAX_REMEMBERED];
static size_t nkept;
static char err_buf[2048];

/* parse_now - parse with the tables opened now; NULL with err_buf. */
static struct peer_list *
parse_now(const struct config_view *v, const char *title, const char *value)
{
	struct peer_tables_ctx ctx;
	struct peer_list *pl;
	const char *err = NULL;

	peer_tables_ctx_init(&ctx, title, true, config_str(v, P_mail_owner));
	pl = peer_list_parse_tables(value, config_list_contains(v,
	    P_parent_domain_matches_subdomains, title), peer_tables_open,
	    &ctx, &err);
	if (pl == NULL)
		snprintf(err_buf, sizeof(err_buf), "%s", err != NULL ? err :
		    "cannot be parsed");
	return pl;
}

void
smtpd_peers_remember(const struct config_view *v, const char *title,
    const char *value)
{
	struct remembered *r;

	if (nkept == PEERS_MAX_REMEMBERED)
		return;		/* parsed when asked for */
	r = &kept[nkept++];
	r->title = xstrdup(title);
	r->value = xstrdup(value);
	r->pl = parse_now(v, title, value);
	r->err = r->pl == NULL ? xstrdup(err_buf) : NULL;
}

struct peer_list *
smtpd_peers_parse(const struct config_view *v, const char *title,
    const char *value, const char **err_r)
{
	struct peer_list *pl;

	for (size_t i = 0; i < nkept; i++) {
		struct remembered *r = &kept[i];

		if (r->title == NULL || strcmp(r->title, title) != 0 ||
		    strcmp(r->value, value) != 0)
			continue;
		pl = r->pl;
		if (pl == NULL)
			snprintf(err_buf, sizeof(err_buf), "%s", r->err);
		free(r->title);
		free(r->value);
		free(r->err);
		memset(r, 0, sizeof(*r));
		if (pl == NULL)
			*err_r = err_buf;
		return pl;
	}
	pl = parse_now(v, title, value);
	if (pl == NULL)
		*err_r = err_buf;
	return pl;
}

void
smtpd_peers_forget(void)
{
	for (size_t i = 0; i < nkept; i++) {
		free(kept[i].title);
		free(kept[i].value);
		free(kept[i].err);
		peer_list_free(&kept[i].pl);
	}
	memset(kept, 0, sizeof(kept));
	nkept = 0;
}
