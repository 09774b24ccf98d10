/* SPDX-License-Identifier: MIT */
/*
 * lookup_proto - encoding and decoding of the lookup process's frames;
 * see lookup_proto.h.
 *
 * Encoders write a whole frame (header and payload) or nothing.
 * Decoders read through ipc.h's bounds-checked getters and insist that
 * the payload is used up exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "lookup_proto.h"

#include <openssl/crypto.h>
#include "compat.h"
#include "xalloc.h"

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * put_frame - append header + nfields (u32s first, then strings) as one
 * frame, all or nothing.
 */
static int
put_frame(struct buf *out, uint32_t type, const uint32_t *nums, size_t nnums,
    const char *const *strs, const size_t *lens, size_t nstrs)
{
	size_t payload = 4 * nnums, old = out->len;
	uint8_t w[4];

	for (size_t i = 0; i < nstrs; i++)
		payload += 4 + lens[i];
	if (payload > UINT32_MAX)
		return -1;
	be32(w, type);
	if (buf_append(out, w, 4) < 0)
		goto fail;
	be32(w, (uint32_t)payload);
	if (buf_append(out, w, 4) < 0)
		goto fail;
	for (size_t i = 0; i < nnums; i++) {
		be32(w, nums[i]);
		if (buf_append(out, w, 4) < 0)
			goto fail;
	}
	for (size_t i = 0; i < nstrs; i++) {
		be32(w, (uint32_t)lens[i]);
		if (buf_append(out, w, 4) < 0 ||
		    buf_append(out, strs[i], lens[i]) < 0)
			goto fail;
	}
	return 0;
fail:
	out->len = old;
	if (out->data != NULL)
		out->data[old] = '\0';
	return -1;
}

int
lookup_proto_put_request(struct buf *out, uint32_t id, uint32_t flags,
    const char *table, const char *key, const char *password)
{
	uint32_t nums[2] = { id, flags };
	const char *strs[3] = { table, key, password };
	size_t lens[3] = { strlen(table), strlen(key),
	    password != NULL ? strlen(password) : 0 };
	bool verify = (flags & LOOKUP_F_VERIFY) != 0;

	if ((flags & ~LOOKUP_F_ALL) != 0 || lens[0] == 0 ||
	    lens[0] > DICT_SPEC_MAX_BYTES || lens[1] > DICT_KEY_MAX_BYTES ||
	    verify != (password != NULL) ||
	    lens[2] > LOOKUP_PASSWORD_MAX_BYTES)
		return -1;
	return put_frame(out, LOOKUP_MSG_GET, nums, 2, strs, lens,
	    verify ? 3 : 2);
}

int
lookup_proto_put_get(struct buf *out, uint32_t id, uint32_t flags,
    const char *table, const char *key)
{
	return lookup_proto_put_request(out, id, flags, table, key, NULL);
}

bool
lookup_find_args_ok(uint32_t order, uint32_t mflags, const char *delimiters)
{
	size_t dl = strlen(delimiters);

	switch (order) {
	case LOOKUP_FIND_EXACT:
	case LOOKUP_FIND_CLIENT_ADDR:
		return mflags == 0 && dl == 0;
	case LOOKUP_FIND_ADDRESS:
		return (mflags & ~(uint32_t)LOOKUP_FIND_ADDR_FLAGS) == 0 &&
		    dl <= LOOKUP_DELIMITERS_MAX_BYTES;
	case LOOKUP_FIND_DOMAIN:
		return (mflags & ~(uint32_t)MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS)
		    == 0 && dl == 0;
	}
	return false;
}

unsigned
lookup_find_mflags_for(enum lookup_find_order order, unsigned mflags)
{
	switch (order) {
	case LOOKUP_FIND_ADDRESS:
		return mflags & LOOKUP_FIND_ADDR_FLAGS;
	case LOOKUP_FIND_DOMAIN:
		return mflags & MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS;
	case LOOKUP_FIND_EXACT:
	case LOOKUP_FIND_CLIENT_ADDR:
		break;
	}
	return 0;
}

int
lookup_proto_put_find(struct buf *out, uint32_t id, uint32_t flags,
    enum lookup_find_order order, unsigned mflags, const char *tables,
    const char *key, const char *delimiters)
{
	uint32_t nums[4] = { id, flags, (uint32_t)order, mflags };
	const char *strs[3] = { tables, key, delimiters };
	size_t lens[3] = { strlen(tables), strlen(key), strlen(delimiters) };

	if ((flags & ~(uint32_t)LOOKUP_F_FIND_ALL) != 0 || lens[0] == 0 ||
	    lens[0] > LOOKUP_TABLES_MAX_BYTES || lens[1] > DICT_KEY_MAX_BYTES ||
	    !lookup_find_args_ok((uint32_t)order, mflags, delimiters))
		return -1;
	return put_frame(out, LOOKUP_MSG_FIND, nums, 4, strs, lens, 3);
}

static bool
route_op_ok(uint32_t op)
{
	return op >= LOOKUP_ROUTE_RESOLVE && op <= LOOKUP_ROUTE_OP_LAST;
}

int
lookup_proto_put_route(struct buf *out, uint32_t id, uint32_t flags,
    enum lookup_route_op op, const char *service, const char *address)
{
	uint32_t nums[3] = { id, flags, (uint32_t)op };
	const char *strs[2] = { service, address };
	size_t lens[2] = { strlen(service), strlen(address) };

	if ((flags & ~(uint32_t)LOOKUP_F_ROUTE_ALL) != 0 ||
	    !route_op_ok((uint32_t)op) || lens[0] > LOOKUP_SERVICE_MAX_BYTES ||
	    lens[1] > ROUTE_ADDRESS_MAX_BYTES)
		return -1;
	return put_frame(out, LOOKUP_MSG_ROUTE, nums, 3, strs, lens, 2);
}

static bool
anvil_op_ok(uint32_t op)
{
	return op >= LOOKUP_ANVIL_CONNECT && op <= LOOKUP_ANVIL_OP_LAST;
}

int
lookup_proto_put_anvil(struct buf *out, uint32_t id, enum lookup_anvil_op op,
    const char *key)
{
	uint32_t nums[2] = { id, (uint32_t)op };
	const char *strs[1] = { key };
	size_t lens[1] = { strlen(key) };

	if (!anvil_op_ok((uint32_t)op) || lens[0] == 0 ||
	    lens[0] > LOOKUP_ANVIL_KEY_MAX_BYTES)
		return -1;
	return put_frame(out, LOOKUP_MSG_ANVIL, nums, 2, strs, lens, 1);
}

int
lookup_proto_put_reply(struct buf *out, uint32_t id,
    enum lookup_status status, const char *text, size_t len)
{
	uint32_t nums[2] = { id, (uint32_t)status };
	const char *strs[1] = { text };
	size_t lens[1] = { len };

	switch (status) {
	case LOOKUP_STATUS_FOUND:
		if (len > DICT_VALUE_MAX_BYTES || memchr(text, '\0', len))
			return -1;
		break;
	case LOOKUP_STATUS_NOTFOUND:
		strs[0] = "";
		lens[0] = 0;
		break;
	case LOOKUP_STATUS_TEMPFAIL:
		if (text == NULL)
			text = strs[0] = "";
		lens[0] = strnlen(text, len);
		if (lens[0] > LOOKUP_REASON_MAX_BYTES)
			lens[0] = LOOKUP_REASON_MAX_BYTES;
		break;
	default:
		return -1;
	}
	return put_frame(out, LOOKUP_MSG_REPLY, nums, 2, strs, lens, 1);
}

/*
 * get_str - a str field of at most max octets, with its length.  The
 * copy is NUL-terminated; NULL (in->error set) on any violation.
 */
static char *
get_str(struct ipc_in *in, size_t max, size_t *len_r)
{
	char *s = ipc_get_str(in, max);

	if (s != NULL && len_r != NULL)
		*len_r = strlen(s);
	return s;
}

int
lookup_proto_get_decode(struct ipc_in *in, struct lookup_get *g,
    const char **error_r)
{
	memset(g, 0, sizeof(*g));
	g->id = ipc_get_u32(in);
	g->flags = ipc_get_u32(in);
	if (in->error) {
		*error_r = "GET: truncated header";
		return -1;
	}
	if ((g->flags & ~LOOKUP_F_ALL) != 0) {
		*error_r = "GET: unknown flags";
		return -1;
	}
	g->table = get_str(in, DICT_SPEC_MAX_BYTES, NULL);
	if (g->table == NULL) {
		*error_r = "GET: bad table name (too long, truncated or with "
		    "a NUL)";
		return -1;
	}
	if (g->table[0] == '\0') {
		*error_r = "GET: empty table name";
		goto fail;
	}
	g->key = get_str(in, DICT_KEY_MAX_BYTES, NULL);
	if (g->key == NULL) {
		*error_r = "GET: bad key (too long, truncated or with a NUL)";
		goto fail;
	}
	if (g->flags & LOOKUP_F_VERIFY) {
		g->password = get_str(in, LOOKUP_PASSWORD_MAX_BYTES, NULL);
		if (g->password == NULL) {
			*error_r = "GET: bad password field (too long, "
			    "truncated or with a NUL)";
			goto fail;
		}
	}
	if (!ipc_in_done(in)) {
		*error_r = "GET: bytes after the last field";
		goto fail;
	}
	return 0;
fail:
	lookup_get_deinit(g);
	return -1;
}

void
lookup_get_deinit(struct lookup_get *g)
{
	free(g->table);
	free(g->key);
	if (g->password != NULL) {
		OPENSSL_cleanse(g->password, strlen(g->password));
		free(g->password);
	}
	g->table = NULL;
	g->key = NULL;
	g->password = NULL;
}

int
lookup_proto_find_decode(struct ipc_in *in, struct lookup_find *f,
    const char **error_r)
{
	uint32_t order, mflags;

	memset(f, 0, sizeof(*f));
	f->id = ipc_get_u32(in);
	f->flags = ipc_get_u32(in);
	order = ipc_get_u32(in);
	mflags = ipc_get_u32(in);
	if (in->error) {
		*error_r = "FIND: truncated header";
		return -1;
	}
	if ((f->flags & ~(uint32_t)LOOKUP_F_FIND_ALL) != 0) {
		*error_r = "FIND: unknown flags";
		return -1;
	}
	/* The delimiters come last; order and mflags are checked now. */
	if (!lookup_find_args_ok(order, mflags, "")) {
		*error_r = "FIND: unknown order or flags it does not take";
		return -1;
	}
	f->order = (enum lookup_find_order)order;
	f->mflags = mflags;
	f->tables = get_str(in, LOOKUP_TABLES_MAX_BYTES, NULL);
	if (f->tables == NULL) {
		*error_r = "FIND: bad list of tables (too long, truncated or "
		    "with a NUL)";
		return -1;
	}
	if (f->tables[0] == '\0') {
		*error_r = "FIND: empty list of tables";
		goto fail;
	}
	f->key = get_str(in, DICT_KEY_MAX_BYTES, NULL);
	if (f->key == NULL) {
		*error_r = "FIND: bad key (too long, truncated or with a NUL)";
		goto fail;
	}
	f->delimiters = get_str(in, LOOKUP_DELIMITERS_MAX_BYTES, NULL);
	if (f->delimiters == NULL) {
		*error_r = "FIND: bad delimiters (too long, truncated or with "
		    "a NUL)";
		goto fail;
	}
	if (!lookup_find_args_ok(order, mflags, f->delimiters)) {
		*error_r = "FIND: delimiters with an order that takes none";
		goto fail;
	}
	if (!ipc_in_done(in)) {
		*error_r = "FIND: bytes after the last field";
		goto fail;
	}
	return 0;
fail:
	lookup_find_deinit(f);
	return -1;
}

void
lookup_find_deinit(struct lookup_find *f)
{
	free(f->tables);
	free(f->key);
	free(f->delimiters);
	f->tables = f->key = f->delimiters = NULL;
}

int
lookup_proto_route_decode(struct ipc_in *in, struct lookup_route *q,
    const char **error_r)
{
	uint32_t op;

	memset(q, 0, sizeof(*q));
	q->id = ipc_get_u32(in);
	q->flags = ipc_get_u32(in);
	op = ipc_get_u32(in);
	if (in->error) {
		*error_r = "ROUTE: truncated header";
		return -1;
	}
	if ((q->flags & ~(uint32_t)LOOKUP_F_ROUTE_ALL) != 0) {
		*error_r = "ROUTE: unknown flags";
		return -1;
	}
	if (!route_op_ok(op)) {
		*error_r = "ROUTE: unknown operation";
		return -1;
	}
	q->op = (enum lookup_route_op)op;
	q->service = get_str(in, LOOKUP_SERVICE_MAX_BYTES, NULL);
	if (q->service == NULL) {
		*error_r = "ROUTE: bad service name (too long, truncated or "
		    "with a NUL)";
		return -1;
	}
	q->address = get_str(in, ROUTE_ADDRESS_MAX_BYTES, NULL);
	if (q->address == NULL) {
		*error_r = "ROUTE: bad address (too long, truncated or with "
		    "a NUL)";
		goto fail;
	}
	if (!ipc_in_done(in)) {
		*error_r = "ROUTE: bytes after the last field";
		goto fail;
	}
	return 0;
fail:
	lookup_route_deinit(q);
	return -1;
}

void
lookup_route_deinit(struct lookup_route *q)
{
	free(q->service);
	free(q->address);
	q->service = q->address = NULL;
}

int
lookup_proto_reply_decode(struct ipc_in *in, struct lookup_reply *r,
    const char **error_r)
{
	uint32_t st;
	size_t max;

	memset(r, 0, sizeof(*r));
	r->id = ipc_get_u32(in);
	st = ipc_get_u32(in);
	if (in->error) {
		*error_r = "REPLY: truncated header";
		return -1;
	}
	switch (st) {
	case LOOKUP_STATUS_FOUND:
		max = DICT_VALUE_MAX_BYTES;
		break;
	case LOOKUP_STATUS_NOTFOUND:
		max = 0;
		break;
	case LOOKUP_STATUS_TEMPFAIL:
		max = LOOKUP_REASON_MAX_BYTES;
		break;
	default:
		*error_r = "REPLY: unknown status";
		return -1;
	}
	r->status = (enum lookup_status)st;
	r->text = get_str(in, max, &r->len);
	if (r->text == NULL) {
		*error_r = "REPLY: bad text (too long for its status, "
		    "truncated or with a NUL)";
		return -1;
	}
	if (!ipc_in_done(in)) {
		*error_r = "REPLY: bytes after the last field";
		lookup_reply_deinit(r);
		return -1;
	}
	return 0;
}

void
lookup_reply_deinit(struct lookup_reply *r)
{
	free(r->text);
	r->text = NULL;
	r->len = 0;
}

int
lookup_proto_anvil_decode(struct ipc_in *in, struct lookup_anvil *a,
    const char **error_r)
{
	uint32_t op;

	memset(a, 0, sizeof(*a));
	a->id = ipc_get_u32(in);
	op = ipc_get_u32(in);
	if (in->error) {
		*error_r = "ANVIL: truncated header";
		return -1;
	}
	if (!anvil_op_ok(op)) {
		*error_r = "ANVIL: unknown operation";
		return -1;
	}
	a->op = (enum lookup_anvil_op)op;
	a->key = get_str(in, LOOKUP_ANVIL_KEY_MAX_BYTES, NULL);
	if (a->key == NULL || a->key[0] == '\0') {
		*error_r = "ANVIL: bad key (empty, too long, truncated or "
		    "with a NUL)";
		goto fail;
	}
	if (!ipc_in_done(in)) {
		*error_r = "ANVIL: bytes after the last field";
		goto fail;
	}
	return 0;
fail:
	lookup_anvil_deinit(a);
	return -1;
}

void
lookup_anvil_deinit(struct lookup_anvil *a)
{
	free(a->key);
	a->key = NULL;
}

static const char *const find_order_names[] = {
	[LOOKUP_FIND_EXACT] = "exact",
	[LOOKUP_FIND_ADDRESS] = "address",
	[LOOKUP_FIND_DOMAIN] = "domain",
	[LOOKUP_FIND_CLIENT_ADDR] = "client",
};

static const char *const route_op_names[] = {
	[LOOKUP_ROUTE_RESOLVE] = "resolve",
	[LOOKUP_ROUTE_CHECK] = "check",
	[LOOKUP_ROUTE_EXPAND] = "expand",
	[LOOKUP_ROUTE_REWRITE_SENDER] = "rewrite-sender",
	[LOOKUP_ROUTE_REWRITE_RCPT] = "rewrite-recipient",
	[LOOKUP_ROUTE_HEADER_SENDER] = "header-sender",
	[LOOKUP_ROUTE_HEADER_RCPT] = "header-recipient",
	[LOOKUP_ROUTE_GENERIC] = "generic",
};

const char *
lookup_find_order_name(enum lookup_find_order order)
{
	if ((size_t)order < N_ELEMENTS(find_order_names))
		return find_order_names[order];
	return "?";
}

int
lookup_find_order_parse(const char *word, enum lookup_find_order *o)
{
	for (size_t i = 0; i < N_ELEMENTS(find_order_names); i++)
		if (strcmp(word, find_order_names[i]) == 0) {
			*o = (enum lookup_find_order)i;
			return 0;
		}
	return -1;
}

const char *
lookup_route_op_name(enum lookup_route_op op)
{
	if ((size_t)op < N_ELEMENTS(route_op_names) &&
	    route_op_names[op] != NULL)
		return route_op_names[op];
	return "?";
}

int
lookup_route_op_parse(const char *word, enum lookup_route_op *op)
{
	for (size_t i = 0; i < N_ELEMENTS(route_op_names); i++)
		if (route_op_names[i] != NULL &&
		    strcmp(word, route_op_names[i]) == 0) {
			*op = (enum lookup_route_op)i;
			return 0;
		}
	return -1;
}

static const char *const anvil_op_names[] = {
	[LOOKUP_ANVIL_CONNECT] = "connect",
	[LOOKUP_ANVIL_DISCONNECT] = "disconnect",
	[LOOKUP_ANVIL_MESSAGE] = "message",
	[LOOKUP_ANVIL_RCPT] = "rcpt",
	[LOOKUP_ANVIL_AUTH] = "auth",
	[LOOKUP_ANVIL_NEWTLS] = "newtls",
	[LOOKUP_ANVIL_NEWTLS_STAT] = "newtls_stat",
};

const char *
lookup_anvil_op_name(enum lookup_anvil_op op)
{
	if ((size_t)op < N_ELEMENTS(anvil_op_names) &&
	    anvil_op_names[op] != NULL)
		return anvil_op_names[op];
	return "?";
}

int
lookup_anvil_op_parse(const char *word, enum lookup_anvil_op *op)
{
	for (size_t i = 0; i < N_ELEMENTS(anvil_op_names); i++)
		if (anvil_op_names[i] != NULL &&
		    strcmp(word, anvil_op_names[i]) == 0) {
			*op = (enum lookup_anvil_op)i;
			return 0;
		}
	return -1;
}

/* anvil_number - digits at *p up to the stop byte (or the end). */
static int
anvil_number(const char **p, const char *end, char stop, unsigned *v)
{
	uint64_t n = 0;
	const char *q = *p;

	if (q == end || *q < '0' || *q > '9')
		return -1;
	while (q < end && *q >= '0' && *q <= '9') {
		n = n * 10 + (uint64_t)(*q - '0');
		if (n > UINT32_MAX)
			return -1;
		q++;
	}
	if (stop != '\0' ? q == end || *q != stop : q != end)
		return -1;
	*v = (unsigned)n;
	*p = stop != '\0' ? q + 1 : q;
	return 0;
}

int
lookup_anvil_answer_parse(const char *text, size_t len, unsigned *count,
    unsigned *rate)
{
	const char *p = text, *end = text + len;

	if (len < 6 || memcmp(p, "count=", 6) != 0)
		return -1;
	p += 6;
	if (anvil_number(&p, end, ' ', count) < 0)
		return -1;
	if ((size_t)(end - p) < 5 || memcmp(p, "rate=", 5) != 0)
		return -1;
	p += 5;
	return anvil_number(&p, end, '\0', rate);
}

const char *
lookup_status_name(enum lookup_status st)
{
	switch (st) {
	case LOOKUP_STATUS_FOUND:
		return "FOUND";
	case LOOKUP_STATUS_NOTFOUND:
		return "NOTFOUND";
	case LOOKUP_STATUS_TEMPFAIL:
		return "TEMPFAIL";
	}
	return "?";
}

enum lookup_status
lookup_status_from_dict(enum dict_status st)
{
	switch (st) {
	case DICT_FOUND:
		return LOOKUP_STATUS_FOUND;
	case DICT_NOTFOUND:
		return LOOKUP_STATUS_NOTFOUND;
	case DICT_TEMPFAIL:
		break;
	}
	return LOOKUP_STATUS_TEMPFAIL;
}

enum dict_status
lookup_status_to_dict(enum lookup_status st)
{
	switch (st) {
	case LOOKUP_STATUS_FOUND:
		return DICT_FOUND;
	case LOOKUP_STATUS_NOTFOUND:
		return DICT_NOTFOUND;
	case LOOKUP_STATUS_TEMPFAIL:
		break;
	}
	return DICT_TEMPFAIL;
}
