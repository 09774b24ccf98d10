/* SPDX-License-Identifier: MIT */
/*
 * dict_proxy - proxy:TYPE:NAME through the lookup process; see
 * dict_proxy.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "dict_proxy.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "xalloc.h"

struct proxy_priv {
	struct dict_type type;	/* dict_type_proxy with TYPE's flags */
	char *inner;		/* "TYPE:NAME" */
	char *socket_path;
	struct lookup_sync *sync;	/* connected at the first lookup */
};

static char *proxy_socket;
static unsigned proxy_timeout_ms = LOOKUP_CLIENT_TIMEOUT_MS;

void
dict_proxy_set_socket(const char *path)
{
	free(proxy_socket);
	proxy_socket = path != NULL ? xstrdup(path) : NULL;
}

void
dict_proxy_set_timeout(unsigned ms)
{
	proxy_timeout_ms = ms > 0 ? ms : 1;
}

static int
proxy_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	const char *colon = strchr(name, ':');
	const struct dict_type *inner;
	struct proxy_priv *p;
	char tname[32];
	size_t n;

	(void)opts;
	if (colon == NULL || colon == name || colon[1] == '\0') {
		snprintf(err, errsz, "proxy:%.200s: write proxy:TYPE:NAME, "
		    "e.g. proxy:mysql:/etc/ostia/virtual.cf", name);
		return -1;
	}
	n = (size_t)(colon - name);
	if (n >= sizeof(tname)) {
		snprintf(err, errsz, "proxy:%.200s: unknown table type",
		    name);
		return -1;
	}
	memcpy(tname, name, n);
	tname[n] = '\0';
	inner = dict_type_find(tname);
	if (inner == NULL) {
		snprintf(err, errsz, "proxy:%.200s: unknown table type \"%s\" "
		    "(types: %s)", name, tname, dict_type_names());
		return -1;
	}
	if (inner == d->type) {
		snprintf(err, errsz, "proxy:%.200s: proxy:proxy: makes no "
		    "sense: write proxy:TYPE:NAME once", name);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->type = *d->type;
	p->type.flags = DICT_TYPE_KEEP_CASE |
	    (inner->flags & (DICT_TYPE_PATTERN | DICT_TYPE_CIDR));
	p->inner = xstrdup(name);
	p->socket_path = xstrdup(proxy_socket != NULL ? proxy_socket :
	    LOOKUP_SOCKET_PATH);
	d->priv = p;
	d->type = &p->type;
	return 0;
}

static enum dict_status
proxy_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct proxy_priv *p = d->priv;
	enum dict_status st;
	char why[DICT_ERR_MAX_BYTES];

	(void)keylen;
	if (p->sync == NULL)
		p->sync = lookup_sync_new(p->socket_path, proxy_timeout_ms);
	st = lookup_sync_get(p->sync, p->inner, key, 0, value, why,
	    sizeof(why));
	if (st == DICT_TEMPFAIL) {
		/* The lookup process's reasons already name the table. */
		if (strncmp(why, p->inner, strlen(p->inner)) == 0)
			snprintf(err, errsz, "%s", why);
		else
			snprintf(err, errsz, "%s: %s", d->spec, why);
	}
	return st;
}

static void
proxy_close(struct dict *d)
{
	struct proxy_priv *p = d->priv;

	if (p == NULL)
		return;
	lookup_sync_free(&p->sync);
	free(p->inner);
	free(p->socket_path);
	/* d->type points into p: nothing reads it after close. */
	free(p);
	d->priv = NULL;
}

const struct dict_type dict_type_proxy = {
	.name = "proxy",
	.flags = DICT_TYPE_KEEP_CASE,
	.open = proxy_open,
	.lookup = proxy_lookup,
	.changed = NULL,
	.close = proxy_close,
};
