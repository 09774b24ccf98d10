/* SPDX-License-Identifier: MIT */
/*
 * peer_tables - the tables named in client lists; see peer_tables.h.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "peer_tables.h"

void
peer_tables_ctx_init(struct peer_tables_ctx *ctx, const char *title,
    bool open, const char *mail_owner)
{
	struct passwd *pw = NULL;

	memset(ctx, 0, sizeof(*ctx));
	ctx->title = title;
	ctx->open = open;
	dict_open_opts_init(&ctx->opts);
	if (open && mail_owner != NULL && *mail_owner != '\0')
		pw = getpwnam(mail_owner);
	ctx->opts.trusted_uid = pw != NULL ? pw->pw_uid : 0;
}

int
peer_tables_open(void *vctx, const char *spec, struct dict **dict_r,
    char *err, size_t errsz)
{
	const struct peer_tables_ctx *ctx = vctx;
	const char *colon = strchr(spec, ':');
	const struct dict_type *t = NULL;
	char tname[32], derr[DICT_ERR_MAX_BYTES];

	*dict_r = NULL;
	if (colon != NULL && (size_t)(colon - spec) < sizeof(tname)) {
		memcpy(tname, spec, (size_t)(colon - spec));
		tname[colon - spec] = '\0';
		t = dict_type_find(tname);
	}
	if (t == NULL) {
		snprintf(err, errsz, "unknown table type (known: %s)",
		    dict_type_names());
		return -1;
	}
	if ((t->flags & DICT_TYPE_NETWORK) || strcmp(t->name, "proxy") == 0) {
		snprintf(err, errsz, "a %s: table cannot be used in %s: it is "
		    "looked up in the SMTP server itself, at every "
		    "connection, and a network lookup would stall every "
		    "session (use cidr:, texthash:, lmdb: or another local "
		    "table)", t->name, ctx->title);
		return -1;
	}
	if (!ctx->open)
		return 0;
	derr[0] = '\0';
	*dict_r = dict_open(spec, &ctx->opts, derr, sizeof(derr));
	if (*dict_r == NULL) {
		snprintf(err, errsz, "%s", derr[0] != '\0' ? derr :
		    "the table cannot be opened");
		return -1;
	}
	return 0;
}
