/* SPDX-License-Identifier: MIT */
/*
 * dict_unix - unix:passwd.byname and unix:group.byname, the system's
 * user and group databases as tables (Postfix DATABASE_README "unix").
 *
 * Postfix's default local_recipient_maps is "proxy:unix:passwd.byname
 * $alias_maps": a local recipient is known when it is a system account.
 *
 *   unix:passwd.byname  key: a user name (getpwnam_r); value: the
 *                       passwd(5) line "name:x:uid:gid:gecos:dir:shell"
 *   unix:group.byname   key: a group name (getgrnam_r); value: the
 *                       group(5) line "name:x:gid:member,member"
 *
 * The password field is always "x": a table value may travel through
 * the lookup protocol and into logs, and a system that keeps hashes in
 * /etc/passwd must not leak them that way (Postfix copies the field).
 * Keys are folded to lower case, as Postfix's maps fold them.
 *
 * Not found (getpw*_r gives no entry, or ENOENT/ESRCH, which glibc
 * documents as "not found") is DICT_NOTFOUND; any other error (an NSS
 * backend that cannot answer, EIO, EMFILE, ENOMEM ...) is DICT_TEMPFAIL
 * with the reason: an LDAP outage must defer mail, not bounce it.
 * The answer comes from NSS as the calling process sees it (files read
 * with its privileges; in a chroot, the chroot's files).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dict.h"
#include "xalloc.h"

/* Largest getpw*_r buffer tried before giving up (a huge group). */
#define UNIX_BUF_MAX_BYTES (4u * 1024 * 1024)

enum unix_map {
	UNIX_PASSWD_BYNAME,
	UNIX_GROUP_BYNAME,
};

struct unix_priv {
	enum unix_map map;
};

static int
unix_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct unix_priv *p;
	enum unix_map map;

	(void)opts;
	if (strcmp(name, "passwd.byname") == 0) {
		map = UNIX_PASSWD_BYNAME;
	} else if (strcmp(name, "group.byname") == 0) {
		map = UNIX_GROUP_BYNAME;
	} else {
		snprintf(err, errsz, "unix:%.200s: unknown table (unix: knows "
		    "passwd.byname and group.byname)", name);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->map = map;
	d->priv = p;
	return 0;
}

/* start_size - the first buffer size for getpw*_r / getgr*_r. */
static size_t
start_size(int sc)
{
	long n = sysconf(sc);

	if (n <= 0 || n > 65536)
		return 1024;
	return (size_t)n;
}

/* not_found_errno - errors glibc documents as "the name was not found" */
static bool
not_found_errno(int e)
{
	return e == ENOENT || e == ESRCH;
}

/* One entry of either database, with the storage getpw*_r and
 * getgr*_r fill in. */
union unix_ent {
	struct passwd pw;
	struct group gr;
};

/* get_entry - getpwnam_r or getgrnam_r: its result code, *found_r
 * whether it gave an entry. */
static int
get_entry(enum unix_map map, const char *key, union unix_ent *ent,
    char *mem, size_t size, bool *found_r)
{
	int rc;

	if (map == UNIX_PASSWD_BYNAME) {
		struct passwd *res = NULL;

		rc = getpwnam_r(key, &ent->pw, mem, size, &res);
		*found_r = res != NULL;
	} else {
		struct group *res = NULL;

		rc = getgrnam_r(key, &ent->gr, mem, size, &res);
		*found_r = res != NULL;
	}
	return rc;
}

/* format_entry - the value of a found entry (password field "x");
 * -1 when it does not fit value. */
static int
format_entry(enum unix_map map, const union unix_ent *ent,
    struct buf *value)
{
	const struct passwd *pw = &ent->pw;
	const struct group *gr = &ent->gr;

	if (map == UNIX_PASSWD_BYNAME)
		return buf_appendf(value, "%s:x:%lu:%lu:%s:%s:%s",
		    pw->pw_name, (unsigned long)pw->pw_uid,
		    (unsigned long)pw->pw_gid,
		    pw->pw_gecos != NULL ? pw->pw_gecos : "",
		    pw->pw_dir != NULL ? pw->pw_dir : "",
		    pw->pw_shell != NULL ? pw->pw_shell : "");
	if (buf_appendf(value, "%s:x:%lu:", gr->gr_name,
	    (unsigned long)gr->gr_gid) < 0)
		return -1;
	for (size_t i = 0; gr->gr_mem != NULL && gr->gr_mem[i] != NULL; i++)
		if (buf_appendf(value, "%s%s", i > 0 ? "," : "",
		    gr->gr_mem[i]) < 0)
			return -1;
	return 0;
}

static enum dict_status
unix_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct unix_priv *p = d->priv;
	size_t size = start_size(p->map == UNIX_PASSWD_BYNAME ?
	    _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
	union unix_ent ent;
	enum dict_status st = DICT_FOUND;
	bool found;
	char *mem;
	int rc;

	/* No account has an empty name; a NUL inside never reaches here. */
	if (keylen == 0)
		return DICT_NOTFOUND;
	for (;;) {
		mem = xmalloc(size);
		rc = get_entry(p->map, key, &ent, mem, size, &found);
		if (rc != ERANGE || size >= UNIX_BUF_MAX_BYTES)
			break;
		free(mem);
		size *= 2;
	}
	if (rc != 0 && !not_found_errno(rc)) {
		snprintf(err, errsz, "%s: cannot read the %s database: %s",
		    d->spec, p->map == UNIX_PASSWD_BYNAME ? "user" : "group",
		    strerror(rc));
		st = DICT_TEMPFAIL;
	} else if (!found)
		st = DICT_NOTFOUND;
	else if (format_entry(p->map, &ent, value) < 0) {
		snprintf(err, errsz, "%s: the entry does not fit a table "
		    "value", d->spec);
		st = DICT_TEMPFAIL;
	}
	free(mem);
	return st;
}

static void
unix_close(struct dict *d)
{
	free(d->priv);
	d->priv = NULL;
}

const struct dict_type dict_type_unix = {
	.name = "unix",
	.flags = 0,
	.open = unix_open,
	.lookup = unix_lookup,
	.changed = NULL,
	.close = unix_close,
};
