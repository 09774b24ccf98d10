/* SPDX-License-Identifier: MIT */
/*
 * screen_cache - postscreen's memory of clients; see screen_cache.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lmdb.h>

#include "compat.h"
#include "log.h"
#include "screen_cache.h"
#include "xalloc.h"

static MDB_env *env;
static MDB_dbi dbi;
static char *path;

/* ---- memory ---------------------------------------------------------- */

#define BUCKETS 16384
#define ADDR_MAX 64

struct centry {
	struct centry *next;
	time_t expires;
	char addr[ADDR_MAX];
};

static struct centry *mem[BUCKETS];
static size_t mem_n;

static unsigned
hash(const char *addr)
{
	unsigned h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % BUCKETS;
}

static size_t
mem_clean(time_t before, bool all)
{
	size_t gone = 0;

	for (size_t b = 0; b < BUCKETS; b++) {
		struct centry **pp = &mem[b];

		while (*pp != NULL) {
			struct centry *e = *pp;

			if (all || e->expires < before) {
				*pp = e->next;
				free(e);
				mem_n--;
				gone++;
			} else {
				pp = &e->next;
			}
		}
	}
	return gone;
}

static struct centry *
mem_find(const char *addr)
{
	for (struct centry *e = mem[hash(addr)]; e != NULL; e = e->next)
		if (strcmp(e->addr, addr) == 0)
			return e;
	return NULL;
}

static void
mem_put(const char *addr, time_t expires)
{
	struct centry *e = mem_find(addr);
	unsigned h;

	if (e != NULL) {
		e->expires = expires;
		return;
	}
	if (mem_n >= SCREEN_CACHE_MAX) {
		mem_clean(time(NULL), false);
		if (mem_n >= SCREEN_CACHE_MAX) {
			log_warning("postscreen: %d clients are remembered, "
			    "the most this process keeps in memory; forgetting "
			    "them all (they pass the tests again)",
			    SCREEN_CACHE_MAX);
			mem_clean(0, true);
		}
	}
	e = xcalloc(1, sizeof(*e));
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	e->expires = expires;
	h = hash(addr);
	e->next = mem[h];
	mem[h] = e;
	mem_n++;
}

/* ---- the file ---------------------------------------------------------- */

int
screen_cache_open(const char *spec, char *err, size_t errsz)
{
	const char *colon;
	char type[16];
	size_t tl;
	int rc;
	MDB_txn *txn;

	screen_cache_close();
	if (strncmp(spec, "proxy:", 6) == 0)
		spec += 6;
	if (*spec == '\0')
		return 0;
	colon = strchr(spec, ':');
	tl = colon != NULL ? (size_t)(colon - spec) : 0;
	if (colon == NULL || tl >= sizeof(type) || colon[1] != '/') {
		snprintf(err, errsz, "\"%s\" is not TYPE:/ABSOLUTE/PATH (such "
		    "as lmdb:/var/lib/ostia/postscreen_cache)", spec);
		return -1;
	}
	memcpy(type, spec, tl);
	type[tl] = '\0';
	if (strcasecmp(type, "lmdb") != 0 && strcasecmp(type, "btree") != 0 &&
	    strcasecmp(type, "hash") != 0) {
		snprintf(err, errsz, "%s: a %s table cannot hold the cache "
		    "here (use lmdb:, btree: or hash:, which Ostia keeps as "
		    "an LMDB file)", spec, type);
		return -1;
	}
	path = xasprintf("%s.lmdb", colon + 1);
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, SCREEN_CACHE_FILE_MAX_BYTES)) != 0 ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOSYNC |
	    MDB_NOMETASYNC | MDB_NOTLS | MDB_NORDAHEAD, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		snprintf(err, errsz, "%s: %s", path, rc == MDB_INVALID ?
		    "not an LMDB file (remove it: it is only a cache)" :
		    mdb_strerror(rc));
		screen_cache_close();
		return -1;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn);
	if (rc != 0) {
		snprintf(err, errsz, "%s: %s", path, mdb_strerror(rc));
		screen_cache_close();
		return -1;
	}
	return 0;
}

const char *
screen_cache_where(void)
{
	return env != NULL ? path : "memory";
}

void
screen_cache_close(void)
{
	if (env != NULL)
		mdb_env_close(env);
	env = NULL;
	free(path);
	path = NULL;
	mem_clean(0, true);
}

static time_t
parse_value(const MDB_val *v)
{
	char text[32];
	char *end;
	long long t;

	if (v->mv_size == 0 || v->mv_size >= sizeof(text))
		return 0;
	memcpy(text, v->mv_data, v->mv_size);
	text[v->mv_size] = '\0';
	errno = 0;
	t = strtoll(text, &end, 10);
	/* Anything after the number (Postfix's "a;b;c" form): its first
	 * field counts. */
	if (errno != 0 || end == text || t < 0 || (*end != '\0' &&
	    *end != ';'))
		return 0;
	return (time_t)t;
}

time_t
screen_cache_get(const char *addr)
{
	MDB_txn *txn;
	MDB_val k, v;
	time_t t = 0;
	int rc;

	if (env == NULL) {
		struct centry *e = mem_find(addr);

		return e != NULL ? e->expires : 0;
	}
	k.mv_data = UNCONST(addr);
	k.mv_size = strlen(addr);
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		log_warning("postscreen: cache %s: %s; the client is tested "
		    "as if new", path, mdb_strerror(rc));
		return 0;
	}
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0)
		t = parse_value(&v);
	else if (rc != MDB_NOTFOUND)
		log_warning("postscreen: cache %s: %s; the client is tested "
		    "as if new", path, mdb_strerror(rc));
	mdb_txn_abort(txn);
	return t;
}

static int
file_put(const char *addr, time_t expires)
{
	MDB_txn *txn;
	MDB_val k, v;
	char text[32];
	int rc;

	k.mv_data = UNCONST(addr);
	k.mv_size = strlen(addr);
	v.mv_size = (size_t)snprintf(text, sizeof(text), "%lld",
	    (long long)expires);
	v.mv_data = text;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

void
screen_cache_put(const char *addr, time_t expires)
{
	int rc;

	if (strlen(addr) >= ADDR_MAX)
		return;
	if (env == NULL) {
		mem_put(addr, expires);
		return;
	}
	rc = file_put(addr, expires);
	if (rc == MDB_MAP_FULL) {
		log_warning("postscreen: cache %s is full (%u MiB); removing "
		    "the entries that expired", path,
		    SCREEN_CACHE_FILE_MAX_BYTES >> 20);
		(void)screen_cache_clean(time(NULL), 0);
		rc = file_put(addr, expires);
	}
	if (rc != 0)
		log_warning("postscreen: cache %s: cannot remember %s: %s",
		    path, addr, mdb_strerror(rc));
}

size_t
screen_cache_clean(time_t now, time_t keep)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t gone = 0;
	int rc;

	if (env == NULL)
		return mem_clean(now - keep, false);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		log_warning("postscreen: cache %s: cannot clean it: %s", path,
		    mdb_strerror(rc));
		return 0;
	}
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		log_warning("postscreen: cache %s: cannot clean it: %s", path,
		    mdb_strerror(rc));
		return 0;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (parse_value(&v) >= now - keep)
			continue;
		if (mdb_cursor_del(cur, 0) != 0)
			break;
		gone++;
	}
	mdb_cursor_close(cur);
	if ((rc = mdb_txn_commit(txn)) != 0) {
		log_warning("postscreen: cache %s: cannot clean it: %s", path,
		    mdb_strerror(rc));
		return 0;
	}
	return gone;
}
