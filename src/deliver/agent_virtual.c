/* SPDX-License-Identifier: MIT */
/*
 * agent_virtual - the virtual delivery agent (Postfix virtual(8)):
 * Maildir delivery for virtual_mailbox_domains recipients.
 *
 * For each recipient: the mailbox is the value virtual_mailbox_maps
 * gives for the address (asked of the lookup process, Postfix's address
 * order with recipient_delimiter), under virtual_mailbox_base.  A value
 * ending in "/" is a Maildir (maildir.h); anything else would be an mbox
 * file, which this version does not write (deferred, logged).
 *
 * Privileges: setup() reads virtual_uid_maps and virtual_gid_maps, which
 * must be "static:N" in this version, refuses uid or gid 0 and a uid
 * below virtual_minimum_uid, and the process becomes that user for good
 * (every mailbox belongs to one user).  The lookup process's socket
 * (private/, mail_owner only) cannot be reached by that user: setup,
 * still privileged, connects to it and the connection is kept.
 *
 * Every message written starts with "Return-Path: <SENDER>" and
 * "Delivered-To: RECIPIENT"; a message that already has a Delivered-To:
 * header equal to the recipient bounces (5.4.6, a mail loop), one
 * larger than virtual_mailbox_limit bounces (5.2.2).
 */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "dict.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "maildir.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* Longest Delivered-To: value compared (longer ones are no address). */
#define VIRTUAL_DTO_MAX (DELIVER_FIELD_MAX + 16)

struct virtual_state {
	char *base;		/* virtual_mailbox_base, no trailing '/' */
	char *maps;		/* virtual_mailbox_maps */
	char *delimiters;	/* recipient_delimiter */
	uint64_t limit;		/* virtual_mailbox_limit, 0 = none */
	unsigned long uid;
	unsigned long gid;
	struct lookup_sync *ls;
};

static void
virtual_state_free(struct virtual_state *vs)
{
	if (vs == NULL)
		return;
	free(vs->base);
	free(vs->maps);
	free(vs->delimiters);
	lookup_sync_free(&vs->ls);
	free(vs);
}

/*
 * static_id - the N of a "static:N" (or "static:{N}") virtual_uid_maps /
 * virtual_gid_maps value.  0, or -1 with *error_r saying what to write.
 */
static int
static_id(const struct config_view *v, enum param_id id, const char *param,
    const char *what, long long *n_r, char **error_r)
{
	char **list = config_list(v, id);
	const char *val, *err;
	char *num = NULL;
	int ret = -1;

	if (list[0] == NULL) {
		*error_r = xasprintf("%s is empty: set it to static:N, the %s "
		    "that owns the mailboxes under virtual_mailbox_base",
		    param, what);
		goto out;
	}
	if (list[1] != NULL) {
		*error_r = xasprintf("%s lists several tables; this version "
		    "supports one static:N %s only", param, what);
		goto out;
	}
	val = list[0];
	if (strncmp(val, "static:", 7) != 0) {
		*error_r = xasprintf("%s = %s: only static: %s are supported "
		    "in this version (write static:N)", param, val, param);
		goto out;
	}
	val += 7;
	if (val[0] == '{' && val[strlen(val) - 1] == '}')
		num = xstrndup(val + 1, strlen(val) - 2);
	else
		num = xstrdup(val);
	if (strnum_parse_ll(num, 0, 4294967294LL, n_r, &err) < 0) {
		*error_r = xasprintf("%s = %s: %s (write static:N, N the "
		    "numeric %s)", param, list[0], err, what);
		goto out;
	}
	ret = 0;
out:
	free(num);
	strv_free(&list);
	return ret;
}

/* virtual_lookup - the kept lookup connection (made on first use). */
static struct lookup_sync *
virtual_lookup(struct virtual_state *vs)
{
	if (vs->ls == NULL)
		vs->ls = lookup_sync_new(LOOKUP_SOCKET_PATH,
		    LOOKUP_CLIENT_TIMEOUT_MS);
	return vs->ls;
}

static int
virtual_setup(struct agent_ctx *a, uid_t *uid_r, gid_t *gid_r,
    char **error_r)
{
	const struct config_view *v = a->view;
	struct virtual_state *vs;
	long long uid, gid, min;
	size_t n;

	virtual_state_free(a->priv);
	a->priv = NULL;
	if (v == NULL) {
		*error_r = xstrdup("the virtual agent has no configuration");
		return -1;
	}
	if (static_id(v, P_virtual_uid_maps, "virtual_uid_maps", "uid", &uid,
	    error_r) < 0 ||
	    static_id(v, P_virtual_gid_maps, "virtual_gid_maps", "gid", &gid,
	    error_r) < 0)
		return -1;
	min = config_int(v, P_virtual_minimum_uid);
	if (uid == 0) {
		*error_r = xstrdup("virtual_uid_maps = static:0: mail is never "
		    "delivered as root (uid 0); use the uid that owns the "
		    "mailboxes");
		return -1;
	}
	if (uid < min) {
		*error_r = xasprintf("virtual_uid_maps gives uid %lld, below "
		    "virtual_minimum_uid (%lld): use the uid that owns the "
		    "mailboxes, or lower virtual_minimum_uid", uid, min);
		return -1;
	}
	if (gid == 0) {
		*error_r = xstrdup("virtual_gid_maps = static:0: mail is never "
		    "delivered with the root group (gid 0); use the gid that "
		    "owns the mailboxes");
		return -1;
	}
	vs = xcalloc(1, sizeof(*vs));
	vs->uid = (unsigned long)uid;
	vs->gid = (unsigned long)gid;
	vs->base = xstrdup(config_str(v, P_virtual_mailbox_base));
	n = strlen(vs->base);
	while (n > 1 && vs->base[n - 1] == '/')
		vs->base[--n] = '\0';
	if (vs->base[0] != '/' || agent_path_has_dotdot(vs->base) ||
	    strcmp(vs->base, "/") == 0) {
		*error_r = vs->base[0] == '\0' ?
		    xstrdup("virtual_mailbox_base is empty: set it to the "
		    "directory that holds the mailboxes (e.g. /var/vmail)") :
		    xasprintf("virtual_mailbox_base = %s: it must be an "
		    "absolute path other than / without \"..\"", vs->base);
		virtual_state_free(vs);
		return -1;
	}
	vs->maps = xstrdup(config_str(v, P_virtual_mailbox_maps));
	if (strspn(vs->maps, " \t,") == strlen(vs->maps)) {
		*error_r = xstrdup("virtual_mailbox_maps is empty: it must "
		    "give the Maildir of each virtual recipient "
		    "(\"user@domain domain/user/\")");
		virtual_state_free(vs);
		return -1;
	}
	vs->delimiters = xstrdup(config_str(v, P_recipient_delimiter));
	vs->limit = config_size(v, P_virtual_mailbox_limit);
	if (geteuid() == 0) {
		/*
		 * After the drop, this user cannot connect to private/lookup
		 * (mail_owner's): connect now with a first lookup and keep
		 * the connection.  The answer does not matter.
		 */
		struct buf value;
		char err[DICT_ERR_MAX_BYTES];

		buf_init(&value, DICT_VALUE_MAX_BYTES);
		if (lookup_sync_find(virtual_lookup(vs), vs->maps,
		    "postmaster", LOOKUP_FIND_ADDRESS, 0, vs->delimiters, 0,
		    &value, err, sizeof(err)) == DICT_TEMPFAIL)
			log_warning("virtual: cannot reach the lookup process "
			    "before dropping privileges: %s", err);
		buf_deinit(&value);
	}
	*uid_r = (uid_t)uid;
	*gid_r = (gid_t)gid;
	a->priv = vs;
	return 0;
}

/*
 * delivered_to_seen - is there a Delivered-To: header with addr (any
 * case, white space around it ignored) in the header section of the
 * CRLF message content?
 */
static bool
delivered_to_seen(const char *content, size_t len, const char *addr)
{
	size_t pos = 0, alen = strlen(addr);

	while (pos < len) {
		const char *line = content + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		size_t start = 13, vn = 0;
		char val[VIRTUAL_DTO_MAX];
		bool fits = true;
		char *s, *e;

		pos += nl != NULL ? n + 1 : n;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;		/* the end of the header section */
		if (n < 13 || strncasecmp(line, "Delivered-To:", 13) != 0)
			continue;
		/* The value, with its continuation lines. */
		for (;;) {
			if (fits && vn + (n - start) < sizeof(val)) {
				memcpy(val + vn, line + start, n - start);
				vn += n - start;
			} else
				fits = false;
			if (pos >= len || (content[pos] != ' ' &&
			    content[pos] != '\t'))
				break;
			line = content + pos;
			nl = memchr(line, '\n', len - pos);
			n = nl != NULL ? (size_t)(nl - line) : len - pos;
			pos += nl != NULL ? n + 1 : n;
			if (n > 0 && line[n - 1] == '\r')
				n--;
			start = 0;
		}
		if (!fits)
			continue;
		val[vn] = '\0';
		s = val;
		e = val + vn;
		while (*s == ' ' || *s == '\t')
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - s >= 2 && *s == '<' && e[-1] == '>') {
			s++;
			e--;
		}
		if ((size_t)(e - s) == alen && strncasecmp(s, addr, alen) == 0)
			return true;
	}
	return false;
}

/*
 * mailbox_dir - the Maildir for the map's value: base/value, or value
 * itself when it is absolute and inside base.  0 with *path_r, or -1
 * with *error_r (plain words).
 */
static int
mailbox_dir(const struct virtual_state *vs, const char *addr,
    const char *value, char **path_r, char **error_r)
{
	size_t blen = strlen(vs->base);

	for (const char *p = value; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*error_r = xasprintf("virtual_mailbox_maps gives a "
			    "path with control characters for %s", addr);
			return -1;
		}
	}
	if (agent_path_has_dotdot(value)) {
		*error_r = xasprintf("virtual_mailbox_maps gives %s for %s: "
		    "\"..\" is not allowed in mailbox paths", value, addr);
		return -1;
	}
	if (value[0] == '/') {
		if (strncmp(value, vs->base, blen) != 0 ||
		    value[blen] != '/') {
			*error_r = xasprintf("virtual_mailbox_maps gives %s "
			    "for %s, outside virtual_mailbox_base (%s): use a "
			    "path relative to it", value, addr, vs->base);
			return -1;
		}
		*path_r = xstrdup(value);
		return 0;
	}
	*path_r = xasprintf("%s/%s", vs->base, value);
	return 0;
}

static bool
has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* deliver_one - recipient i of req. */
static void
deliver_one(struct virtual_state *vs, const struct deliver_req *req,
    const struct deliver_msg *msg, size_t i, struct agent_results *res,
    struct buf *value)
{
	const char *addr = req->rcpts[i].address;
	char err[DICT_ERR_MAX_BYTES];
	char *dir = NULL, *why = NULL, *prefix = NULL, *path = NULL;
	enum dict_status st;
	struct stat sb;
	uint64_t size;
	int e;

	if (has_crlf(addr) || has_crlf(req->sender)) {
		agent_set_result(res, i, DELIVER_DEFER, "4.3.0", NULL,
		    "address with a line break");
		return;
	}
	st = lookup_sync_find(virtual_lookup(vs), vs->maps, addr,
	    LOOKUP_FIND_ADDRESS, 0, vs->delimiters, 0, value, err,
	    sizeof(err));
	if (st == DICT_TEMPFAIL) {
		agent_set_result(res, i, DELIVER_DEFER, "4.3.0", NULL,
		    "cannot look up %s in virtual_mailbox_maps: %s", addr,
		    err);
		/*
		 * The connection to the lookup process was made as root
		 * before the privilege drop; the mailbox user may not open
		 * private/ again.  Stop (after this request's answers) so
		 * that the master starts a fresh agent that connects anew.
		 */
		if (access(LOOKUP_SOCKET_PATH, W_OK) < 0 && (errno == EACCES ||
		    errno == EPERM)) {
			log_warning("%s: lost the connection to the lookup "
			    "process and uid %ld may not reconnect; this agent "
			    "stops and the master starts a new one",
			    req->queue_id, (long)geteuid());
			(void)raise(SIGTERM);
		}
		return;
	}
	if (st == DICT_NOTFOUND) {
		agent_set_result(res, i, DELIVER_BOUNCE, "5.1.1", NULL,
		    "user unknown in virtual mailbox table");
		return;
	}
	if (value->len == 0) {
		agent_set_result(res, i, DELIVER_DEFER, "4.3.5", NULL,
		    "virtual_mailbox_maps gives an empty mailbox path for %s",
		    addr);
		return;
	}
	if (mailbox_dir(vs, addr, buf_cstr(value), &dir, &why) < 0) {
		log_warning("%s: %s", req->queue_id, why);
		agent_set_result(res, i, DELIVER_DEFER, "4.3.5", NULL, "%s",
		    why);
		free(why);
		return;
	}
	if (dir[strlen(dir) - 1] != '/') {
		log_warning("%s: virtual_mailbox_maps gives the mbox file %s "
		    "for %s; mbox delivery is not supported yet (end the "
		    "value with / for a Maildir)", req->queue_id, dir, addr);
		agent_set_result(res, i, DELIVER_DEFER, "4.3.5", NULL,
		    "mbox delivery is not supported yet (%s; a Maildir path "
		    "ends with /)", dir);
		goto out;
	}
	if ((req->flags & DELIVER_F_VERIFY) != 0) {
		/* A probe: the mailbox exists; nothing is written. */
		agent_set_result(res, i, DELIVER_OK, "2.0.0", NULL,
		    "deliverable to maildir %s", dir);
		goto out;
	}
	if (delivered_to_seen(msg->content, msg->len, addr)) {
		agent_set_result(res, i, DELIVER_BOUNCE, "5.4.6", NULL,
		    "mail forwarding loop for %s", addr);
		goto out;
	}
	prefix = xasprintf("Return-Path: <%s>\nDelivered-To: %s\n",
	    req->sender, addr);
	size = maildir_message_size(prefix, msg->content, msg->len);
	if (vs->limit > 0 && size > vs->limit) {
		agent_set_result(res, i, DELIVER_BOUNCE, "5.2.2", NULL,
		    "message is larger than the mailbox limit "
		    "(virtual_mailbox_limit = %" PRIu64 " bytes; the message "
		    "has %" PRIu64 ")", vs->limit, size);
		goto out;
	}
	if (stat(vs->base, &sb) < 0)
		e = errno;
	else
		e = S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
	if (e != 0) {
		agent_set_result(res, i, DELIVER_DEFER, "4.3.5", NULL,
		    "virtual_mailbox_base %s: %s: it must be a directory that "
		    "uid %lu can write to", vs->base, strerror(e), vs->uid);
		goto out;
	}
	if (maildir_deliver(dir, prefix, msg->content, msg->len, &path, &e,
	    &why) == 0) {
		agent_set_result(res, i, DELIVER_OK, "2.0.0", NULL,
		    "delivered to maildir %s", dir);
		log_debug(1, "%s: %s: %s", req->queue_id, addr, path);
		goto out;
	}
	if (e == EDQUOT)
		agent_set_result(res, i, DELIVER_DEFER, "4.2.2", NULL,
		    "mailbox full (disk quota of uid %lu): %s", vs->uid, why);
	else if (e == ENOSPC)
		agent_set_result(res, i, DELIVER_DEFER, "4.3.1", NULL,
		    "mail system full: %s", why);
	else if (e == EACCES || e == EPERM || e == EROFS)
		agent_set_result(res, i, DELIVER_DEFER, "4.2.0", NULL,
		    "%s; virtual_uid_maps and virtual_gid_maps make the "
		    "delivery run as uid %lu gid %lu: give that user write "
		    "access to %s", why, vs->uid, vs->gid, dir);
	else
		agent_set_result(res, i, DELIVER_DEFER, "4.3.0", NULL, "%s",
		    why);
	log_warning("%s: to=<%s>: %s", req->queue_id, addr, why);
out:
	free(path);
	free(prefix);
	free(why);
	free(dir);
}

static void
virtual_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	struct virtual_state *vs = a->priv;
	struct buf value;

	if (vs == NULL) {
		agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL,
		    "the virtual agent was not set up");
		return;
	}
	buf_init(&value, DICT_VALUE_MAX_BYTES);
	for (size_t i = 0; i < req->nrcpts; i++)
		deliver_one(vs, req, msg, i, res, &value);
	buf_deinit(&value);
}

static const char *
virtual_relay(struct agent_ctx *a, const struct deliver_req *req)
{
	return "virtual";
}

const struct agent_def agent_virtual = {
	.command = "virtual",
	.setup = virtual_setup,
	.deliver = virtual_deliver,
	.relay = virtual_relay,
	.verifies = true,
};
