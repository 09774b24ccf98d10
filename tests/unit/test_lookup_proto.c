/* SPDX-License-Identifier: MIT */
/*
 * test_lookup_proto - the lookup process's frames (src/common/
 * lookup_proto.c) and the large-frame reading they need from ipc.c
 * (ipc_conn_init_max, ipc_conn_fill_once).
 *
 * Every field at its limit and one past it, hostile frames built by
 * hand (NUL inside strings, lengths that lie, bytes left over, unknown
 * flags and statuses), every truncation of valid frames, and frames
 * pipelined through a real socket faster than the reader takes them.
 * The same for FIND (orders, the maps.h flags each takes, delimiters)
 * and ROUTE (operations, service and address limits), and ANVIL (its
 * operations, the key's limits, the "count=N rate=N" answer).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "lookup_proto.h"
#include "xalloc.h"

/* frame_payload - the payload of the single frame in b, checking the
 * header. */
static void
split_frame(const struct buf *b, uint32_t want_type, struct ipc_in *in)
{
	const uint8_t *p = (const uint8_t *)b->data;
	uint32_t type, len;

	assert_true(b->len >= IPC_HEADER_BYTES);
	type = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	len = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7];
	assert_int_equal(type, want_type);
	assert_int_equal(len, b->len - IPC_HEADER_BYTES);
	ipc_in_init(in, p + IPC_HEADER_BYTES, len);
}

static char *
filled(size_t n, char c)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_get_roundtrip(void **state)
{
	struct buf b;
	struct ipc_in in;
	struct lookup_get g;
	const char *err = NULL;

	buf_init(&b, 1 << 20);
	assert_int_equal(lookup_proto_put_get(&b, 42, LOOKUP_F_NOCACHE,
	    "texthash:/etc/ostia/virtual", "User@Example.COM"), 0);
	split_frame(&b, LOOKUP_MSG_GET, &in);
	assert_int_equal(lookup_proto_get_decode(&in, &g, &err), 0);
	assert_int_equal(g.id, 42);
	assert_int_equal(g.flags, LOOKUP_F_NOCACHE);
	assert_string_equal(g.table, "texthash:/etc/ostia/virtual");
	/* The key travels as given: folding is the lookup process's job. */
	assert_string_equal(g.key, "User@Example.COM");
	lookup_get_deinit(&g);
	/* An empty key is a key like any other. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_get(&b, 0, 0, "static:x", ""), 0);
	split_frame(&b, LOOKUP_MSG_GET, &in);
	assert_int_equal(lookup_proto_get_decode(&in, &g, &err), 0);
	assert_string_equal(g.key, "");
	lookup_get_deinit(&g);
	buf_deinit(&b);
}

static void
test_get_limits(void **state)
{
	char *spec = filled(DICT_SPEC_MAX_BYTES, 's');
	char *key = filled(DICT_KEY_MAX_BYTES, 'k');
	char *spec1 = filled(DICT_SPEC_MAX_BYTES + 1, 's');
	char *key1 = filled(DICT_KEY_MAX_BYTES + 1, 'k');
	struct buf b;
	struct ipc_in in;
	struct lookup_get g;
	const char *err = NULL;

	buf_init(&b, 1 << 20);
	/* Every field at its limit: the largest GET (a VERIFY). */
	{
		char *pw = filled(LOOKUP_PASSWORD_MAX_BYTES, 'p');
		char *pw1 = filled(LOOKUP_PASSWORD_MAX_BYTES + 1, 'p');

		assert_int_equal(lookup_proto_put_request(&b, 1,
		    LOOKUP_F_VERIFY, spec, key, pw), 0);
		assert_int_equal(b.len, IPC_HEADER_BYTES +
		    LOOKUP_GET_MAX_BYTES);
		split_frame(&b, LOOKUP_MSG_GET, &in);
		assert_int_equal(lookup_proto_get_decode(&in, &g, &err), 0);
		assert_int_equal(strlen(g.password), LOOKUP_PASSWORD_MAX_BYTES);
		lookup_get_deinit(&g);
		buf_reset(&b);
		/* One byte too many, and a VERIFY without its password. */
		assert_int_equal(lookup_proto_put_request(&b, 1,
		    LOOKUP_F_VERIFY, spec, key, pw1), -1);
		assert_int_equal(lookup_proto_put_request(&b, 1,
		    LOOKUP_F_VERIFY, spec, key, NULL), -1);
		assert_int_equal(b.len, 0);
		free(pw);
		free(pw1);
	}
	/* A plain GET with both names at their limits. */
	assert_int_equal(lookup_proto_put_get(&b, 1, 0, spec, key), 0);
	split_frame(&b, LOOKUP_MSG_GET, &in);
	assert_int_equal(lookup_proto_get_decode(&in, &g, &err), 0);
	assert_int_equal(strlen(g.table), DICT_SPEC_MAX_BYTES);
	assert_int_equal(strlen(g.key), DICT_KEY_MAX_BYTES);
	assert_null(g.password);
	lookup_get_deinit(&g);
	/* One past: refused, nothing appended. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_get(&b, 1, 0, spec1, "k"), -1);
	assert_int_equal(lookup_proto_put_get(&b, 1, 0, "t:x", key1), -1);
	assert_int_equal(lookup_proto_put_get(&b, 1, 0, "", "k"), -1);
	assert_int_equal(lookup_proto_put_get(&b, 1, 0x80, "t:x", "k"), -1);
	assert_int_equal(b.len, 0);
	/* No room in the output buffer: nothing appended either. */
	{
		struct buf small;

		buf_init(&small, 20);
		assert_int_equal(lookup_proto_put_get(&small, 1, 0,
		    "texthash:/x", "key"), -1);
		assert_int_equal(small.len, 0);
		buf_deinit(&small);
	}
	buf_deinit(&b);
	free(spec);
	free(key);
	free(spec1);
	free(key1);
}

/* Hand-made payloads: u32s and strings with lying lengths. */
struct raw {
	uint8_t d[4 * DICT_KEY_MAX_BYTES];
	size_t n;
};

static void
raw_u32(struct raw *r, uint32_t v)
{
	r->d[r->n++] = (uint8_t)(v >> 24);
	r->d[r->n++] = (uint8_t)(v >> 16);
	r->d[r->n++] = (uint8_t)(v >> 8);
	r->d[r->n++] = (uint8_t)v;
}

static void
raw_bytes(struct raw *r, const void *p, size_t n)
{
	memcpy(r->d + r->n, p, n);
	r->n += n;
}

static void
raw_str(struct raw *r, const char *s, size_t n)
{
	raw_u32(r, (uint32_t)n);
	raw_bytes(r, s, n);
}

static int
decode_get_raw(const struct raw *r, const char **err)
{
	struct ipc_in in;
	struct lookup_get g;
	int ret;

	ipc_in_init(&in, r->d, r->n);
	ret = lookup_proto_get_decode(&in, &g, err);
	if (ret == 0)
		lookup_get_deinit(&g);
	return ret;
}

static void
test_get_hostile(void **state)
{
	struct raw *r = xcalloc(1, sizeof(*r));
	const char *err;
	char *big = filled(DICT_SPEC_MAX_BYTES + 1, 'x');

	/* A valid one first, to show the builder is right. */
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_str(r, "static:x", 8);
	raw_str(r, "key", 3);
	assert_int_equal(decode_get_raw(r, &err), 0);

	/* NUL inside the key. */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_str(r, "static:x", 8);
	raw_str(r, "k\0y", 3);
	err = NULL;
	assert_int_equal(decode_get_raw(r, &err), -1);
	assert_non_null(strstr(err, "key"));

	/* NUL inside the table. */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_str(r, "sta\0ic:x", 8);
	raw_str(r, "key", 3);
	assert_int_equal(decode_get_raw(r, &err), -1);
	assert_non_null(strstr(err, "table"));

	/* A key length that lies (longer than what follows). */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_str(r, "static:x", 8);
	raw_u32(r, 100);
	raw_bytes(r, "key", 3);
	assert_int_equal(decode_get_raw(r, &err), -1);

	/* A huge length (wrap-around bait). */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_u32(r, 0xffffffffu);
	raw_bytes(r, "x", 1);
	assert_int_equal(decode_get_raw(r, &err), -1);

	/* Table over its limit, even though the bytes are there. */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_str(r, big, DICT_SPEC_MAX_BYTES + 1);
	raw_str(r, "key", 3);
	assert_int_equal(decode_get_raw(r, &err), -1);

	/* Empty table name. */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_str(r, "", 0);
	raw_str(r, "key", 3);
	assert_int_equal(decode_get_raw(r, &err), -1);
	assert_non_null(strstr(err, "empty"));

	/* Unknown flag bits. */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 1u << 31);
	raw_str(r, "static:x", 8);
	raw_str(r, "key", 3);
	assert_int_equal(decode_get_raw(r, &err), -1);
	assert_non_null(strstr(err, "flags"));

	/* Bytes left over. */
	r->n = 0;
	raw_u32(r, 7);
	raw_u32(r, 0);
	raw_str(r, "static:x", 8);
	raw_str(r, "key", 3);
	raw_bytes(r, "!", 1);
	assert_int_equal(decode_get_raw(r, &err), -1);
	assert_non_null(strstr(err, "after"));

	free(big);
	free(r);
}

static void
test_get_truncations(void **state)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	assert_int_equal(lookup_proto_put_get(&b, 9, 0, "texthash:/a/b",
	    "someone@example.org"), 0);
	/* Every proper prefix of the payload is refused. */
	for (size_t n = 0; n < b.len - IPC_HEADER_BYTES; n++) {
		struct ipc_in in;
		struct lookup_get g;
		const char *err = NULL;

		ipc_in_init(&in, b.data + IPC_HEADER_BYTES, n);
		assert_int_equal(lookup_proto_get_decode(&in, &g, &err), -1);
		assert_non_null(err);
	}
	buf_deinit(&b);
}

static int
decode_reply(const struct buf *b, struct lookup_reply *r)
{
	struct ipc_in in;
	const char *err = NULL;

	split_frame(b, LOOKUP_MSG_REPLY, &in);
	return lookup_proto_reply_decode(&in, r, &err);
}

static void
test_reply_roundtrip_and_limits(void **state)
{
	char *val = filled(DICT_VALUE_MAX_BYTES, 'v');
	char *reason = filled(LOOKUP_REASON_MAX_BYTES + 100, 'r');
	struct lookup_reply r;
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(lookup_proto_put_reply(&b, 3, LOOKUP_STATUS_FOUND,
	    "b@example.com", 13), 0);
	assert_int_equal(decode_reply(&b, &r), 0);
	assert_int_equal(r.id, 3);
	assert_int_equal(r.status, LOOKUP_STATUS_FOUND);
	assert_string_equal(r.text, "b@example.com");
	assert_int_equal(r.len, 13);
	lookup_reply_deinit(&r);

	/* The largest value. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_reply(&b, 4, LOOKUP_STATUS_FOUND,
	    val, DICT_VALUE_MAX_BYTES), 0);
	assert_int_equal(b.len, IPC_HEADER_BYTES + LOOKUP_REPLY_MAX_BYTES);
	assert_int_equal(decode_reply(&b, &r), 0);
	assert_int_equal(r.len, DICT_VALUE_MAX_BYTES);
	lookup_reply_deinit(&r);
	/* One byte more, or a NUL in it: refused, nothing appended. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_reply(&b, 4, LOOKUP_STATUS_FOUND,
	    "a\0b", 3), -1);
	assert_int_equal(b.len, 0);
	{
		char *v1 = filled(DICT_VALUE_MAX_BYTES + 1, 'v');

		assert_int_equal(lookup_proto_put_reply(&b, 4,
		    LOOKUP_STATUS_FOUND, v1, DICT_VALUE_MAX_BYTES + 1), -1);
		free(v1);
	}
	assert_int_equal(b.len, 0);

	/* NOTFOUND carries no text, whatever the caller passed. */
	assert_int_equal(lookup_proto_put_reply(&b, 5,
	    LOOKUP_STATUS_NOTFOUND, "ignored", 7), 0);
	assert_int_equal(decode_reply(&b, &r), 0);
	assert_int_equal(r.status, LOOKUP_STATUS_NOTFOUND);
	assert_string_equal(r.text, "");
	lookup_reply_deinit(&r);

	/* A long TEMPFAIL reason is cut, not refused. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_reply(&b, 6,
	    LOOKUP_STATUS_TEMPFAIL, reason, strlen(reason)), 0);
	assert_int_equal(decode_reply(&b, &r), 0);
	assert_int_equal(r.status, LOOKUP_STATUS_TEMPFAIL);
	assert_int_equal(r.len, LOOKUP_REASON_MAX_BYTES);
	lookup_reply_deinit(&r);

	/* Unknown status. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_reply(&b, 6,
	    (enum lookup_status)9, "x", 1), -1);
	buf_deinit(&b);
	free(val);
	free(reason);
}

static void
test_reply_hostile(void **state)
{
	struct raw *r = xcalloc(1, sizeof(*r));
	char *big = filled(LOOKUP_REASON_MAX_BYTES + 1, 'x');
	struct lookup_reply rep;
	struct ipc_in in;
	const char *err;

	/* NOTFOUND with text. */
	raw_u32(r, 1);
	raw_u32(r, LOOKUP_STATUS_NOTFOUND);
	raw_str(r, "x", 1);
	ipc_in_init(&in, r->d, r->n);
	assert_int_equal(lookup_proto_reply_decode(&in, &rep, &err), -1);
	/* TEMPFAIL reason over its limit. */
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, LOOKUP_STATUS_TEMPFAIL);
	raw_str(r, big, LOOKUP_REASON_MAX_BYTES + 1);
	ipc_in_init(&in, r->d, r->n);
	assert_int_equal(lookup_proto_reply_decode(&in, &rep, &err), -1);
	/* Unknown status. */
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, 3);
	raw_str(r, "", 0);
	ipc_in_init(&in, r->d, r->n);
	assert_int_equal(lookup_proto_reply_decode(&in, &rep, &err), -1);
	assert_non_null(strstr(err, "status"));
	/* NUL in a value. */
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, LOOKUP_STATUS_FOUND);
	raw_str(r, "a\0", 2);
	ipc_in_init(&in, r->d, r->n);
	assert_int_equal(lookup_proto_reply_decode(&in, &rep, &err), -1);
	/* Left over. */
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, LOOKUP_STATUS_FOUND);
	raw_str(r, "a", 1);
	raw_u32(r, 0);
	ipc_in_init(&in, r->d, r->n);
	assert_int_equal(lookup_proto_reply_decode(&in, &rep, &err), -1);
	/* Every truncation of a valid reply. */
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, LOOKUP_STATUS_FOUND);
	raw_str(r, "value", 5);
	for (size_t n = 0; n < r->n; n++) {
		ipc_in_init(&in, r->d, n);
		assert_int_equal(lookup_proto_reply_decode(&in, &rep, &err),
		    -1);
	}
	ipc_in_init(&in, r->d, r->n);
	assert_int_equal(lookup_proto_reply_decode(&in, &rep, &err), 0);
	lookup_reply_deinit(&rep);
	free(big);
	free(r);
}

static void
test_status_mapping(void **state)
{
	assert_int_equal(lookup_status_to_dict(LOOKUP_STATUS_FOUND),
	    DICT_FOUND);
	assert_int_equal(lookup_status_to_dict(LOOKUP_STATUS_NOTFOUND),
	    DICT_NOTFOUND);
	assert_int_equal(lookup_status_to_dict(LOOKUP_STATUS_TEMPFAIL),
	    DICT_TEMPFAIL);
	/* Anything odd is a failure, never "not found". */
	assert_int_equal(lookup_status_to_dict((enum lookup_status)77),
	    DICT_TEMPFAIL);
	assert_int_equal(lookup_status_from_dict(DICT_TEMPFAIL),
	    LOOKUP_STATUS_TEMPFAIL);
	assert_string_equal(lookup_status_name(LOOKUP_STATUS_NOTFOUND),
	    "NOTFOUND");
}

/*
 * Through a socket: many GETs (some of the largest size) written at
 * once, more than the reader's buffer holds; ipc_conn_fill_once plus
 * ipc_conn_next take them all, in order.
 */
static void
test_pipelined_large_frames(void **state)
{
	int sv[2];
	struct buf out;
	struct ipc_conn c;
	char *spec = filled(DICT_SPEC_MAX_BYTES, 's');
	char *key = filled(DICT_KEY_MAX_BYTES, 'k');
	uint32_t next = 0;
	size_t off = 0;
	const uint32_t total = 64;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
	    0, sv), 0);
	buf_init(&out, 8 << 20);
	for (uint32_t i = 0; i < total; i++)
		assert_int_equal(lookup_proto_put_get(&out, i, 0,
		    i % 2 ? spec : "t:x", i % 3 ? "k" : key), 0);
	ipc_conn_init_max(&c, sv[1], LOOKUP_GET_MAX_BYTES);
	while (next < total) {
		struct ipc_in in;
		uint32_t type;
		int fd, r;

		if (off < out.len) {
			ssize_t n = write(sv[0], out.data + off,
			    out.len - off);

			if (n > 0)
				off += (size_t)n;
			else
				assert_true(errno == EAGAIN);
		}
		assert_int_equal(ipc_conn_fill_once(&c), 0);
		assert_true(c.in.len <= c.in.max);
		while ((r = ipc_conn_next(&c, &type, &in, &fd)) == 1) {
			struct lookup_get g;
			const char *err = NULL;

			assert_int_equal(type, LOOKUP_MSG_GET);
			assert_int_equal(fd, -1);
			assert_int_equal(lookup_proto_get_decode(&in, &g,
			    &err), 0);
			assert_int_equal(g.id, next);
			assert_int_equal(strlen(g.key), next % 3 ?
			    1 : DICT_KEY_MAX_BYTES);
			lookup_get_deinit(&g);
			next++;
		}
		assert_int_equal(r, 0);
	}
	/* The old interface refuses the same frames (4 KiB limit). */
	ipc_conn_deinit(&c);
	ipc_conn_init(&c, sv[1]);
	buf_reset(&out);
	assert_int_equal(lookup_proto_put_get(&out, 1, 0, spec, key), 0);
	assert_int_equal(write(sv[0], out.data, 4096), 4096);
	assert_int_equal(ipc_conn_fill(&c), 0);
	{
		struct ipc_in in;
		uint32_t type;
		int fd;

		assert_int_equal(ipc_conn_next(&c, &type, &in, &fd), -1);
	}
	ipc_conn_deinit(&c);
	close(sv[0]);
	close(sv[1]);
	buf_deinit(&out);
	free(spec);
	free(key);
}

/* ---------------------------------------------------------------- */
/* FIND                                                             */

static int
decode_find_buf(const struct buf *b, struct lookup_find *f,
    const char **err)
{
	struct ipc_in in;

	split_frame(b, LOOKUP_MSG_FIND, &in);
	return lookup_proto_find_decode(&in, f, err);
}

static void
test_find_roundtrip(void **state)
{
	static const struct {
		enum lookup_find_order order;
		unsigned mflags;
		const char *delims;
	} ok[] = {
		{ LOOKUP_FIND_EXACT, 0, "" },
		{ LOOKUP_FIND_ADDRESS, 0, "" },
		{ LOOKUP_FIND_ADDRESS, MAPS_ADDR_USER, "+" },
		{ LOOKUP_FIND_ADDRESS, MAPS_ADDR_ACCESS |
		    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS, "+-" },
		{ LOOKUP_FIND_ADDRESS, LOOKUP_FIND_ADDR_FLAGS, "" },
		{ LOOKUP_FIND_DOMAIN, 0, "" },
		{ LOOKUP_FIND_DOMAIN, MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS, "" },
		{ LOOKUP_FIND_CLIENT_ADDR, 0, "" },
	};
	struct buf b;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct lookup_find f;
		const char *err = NULL;

		buf_reset(&b);
		assert_int_equal(lookup_proto_put_find(&b, (uint32_t)i + 100,
		    i % 2 ? LOOKUP_F_NOCACHE : 0, ok[i].order, ok[i].mflags,
		    "hash:/a, proxy:pcre:/b", "User+x@Example.ORG",
		    ok[i].delims), 0);
		assert_int_equal(decode_find_buf(&b, &f, &err), 0);
		assert_int_equal(f.id, i + 100);
		assert_int_equal(f.flags, i % 2 ? LOOKUP_F_NOCACHE : 0);
		assert_int_equal(f.order, ok[i].order);
		assert_int_equal(f.mflags, ok[i].mflags);
		assert_string_equal(f.tables, "hash:/a, proxy:pcre:/b");
		/* As given: folding is the tables' business. */
		assert_string_equal(f.key, "User+x@Example.ORG");
		assert_string_equal(f.delimiters, ok[i].delims);
		lookup_find_deinit(&f);
		assert_null(f.tables);
	}
	buf_deinit(&b);
}

static void
test_find_limits(void **state)
{
	char *tables = filled(LOOKUP_TABLES_MAX_BYTES, 't');
	char *tables1 = filled(LOOKUP_TABLES_MAX_BYTES + 1, 't');
	char *key = filled(DICT_KEY_MAX_BYTES, 'k');
	char *key1 = filled(DICT_KEY_MAX_BYTES + 1, 'k');
	char *delims = filled(LOOKUP_DELIMITERS_MAX_BYTES, '+');
	char *delims1 = filled(LOOKUP_DELIMITERS_MAX_BYTES + 1, '+');
	struct lookup_find f;
	const char *err = NULL;
	struct buf b;

	buf_init(&b, 1 << 20);
	/* Everything at its limit: the largest FIND, and the largest
	 * request of all. */
	assert_int_equal(lookup_proto_put_find(&b, 1, LOOKUP_F_NOCACHE,
	    LOOKUP_FIND_ADDRESS, LOOKUP_FIND_ADDR_FLAGS, tables, key, delims),
	    0);
	assert_int_equal(b.len, IPC_HEADER_BYTES + LOOKUP_FIND_MAX_BYTES);
	assert_true(LOOKUP_REQUEST_MAX_BYTES >= LOOKUP_FIND_MAX_BYTES);
	assert_true(LOOKUP_REQUEST_MAX_BYTES >= LOOKUP_GET_MAX_BYTES);
	assert_true(LOOKUP_REQUEST_MAX_BYTES >= LOOKUP_ROUTE_MAX_BYTES);
	assert_int_equal(decode_find_buf(&b, &f, &err), 0);
	assert_int_equal(strlen(f.tables), LOOKUP_TABLES_MAX_BYTES);
	assert_int_equal(strlen(f.key), DICT_KEY_MAX_BYTES);
	assert_int_equal(strlen(f.delimiters), LOOKUP_DELIMITERS_MAX_BYTES);
	lookup_find_deinit(&f);
	buf_reset(&b);
	/* One past each limit, and every combination that does not go
	 * together: refused, nothing appended. */
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_EXACT, 0,
	    tables1, "k", ""), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_EXACT, 0,
	    "t:x", key1, ""), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_ADDRESS,
	    0, "t:x", "k", delims1), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_EXACT, 0,
	    "", "k", ""), -1);
	/* VERIFY is for GET only. */
	assert_int_equal(lookup_proto_put_find(&b, 1, LOOKUP_F_VERIFY,
	    LOOKUP_FIND_EXACT, 0, "t:x", "k", ""), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0,
	    (enum lookup_find_order)4, 0, "t:x", "k", ""), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_EXACT,
	    MAPS_ADDR_USER, "t:x", "k", ""), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_EXACT, 0,
	    "t:x", "k", "+"), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_DOMAIN,
	    MAPS_ADDR_ACCESS, "t:x", "k", ""), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_DOMAIN,
	    0, "t:x", "k", "+"), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0,
	    LOOKUP_FIND_CLIENT_ADDR, MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS,
	    "t:x", "k", ""), -1);
	assert_int_equal(lookup_proto_put_find(&b, 1, 0, LOOKUP_FIND_ADDRESS,
	    1u << 4, "t:x", "k", ""), -1);
	assert_int_equal(b.len, 0);
	assert_true(lookup_find_args_ok(LOOKUP_FIND_ADDRESS,
	    LOOKUP_FIND_ADDR_FLAGS, delims));
	assert_false(lookup_find_args_ok(LOOKUP_FIND_ADDRESS, 0, delims1));
	assert_false(lookup_find_args_ok(99, 0, ""));
	/* What clients send: the flags the order takes. */
	assert_int_equal(lookup_find_mflags_for(LOOKUP_FIND_EXACT,
	    MAPS_ADDR_USER), 0);
	assert_int_equal(lookup_find_mflags_for(LOOKUP_FIND_CLIENT_ADDR,
	    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS), 0);
	assert_int_equal(lookup_find_mflags_for(LOOKUP_FIND_DOMAIN,
	    MAPS_ADDR_ACCESS | MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS),
	    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS);
	assert_int_equal(lookup_find_mflags_for(LOOKUP_FIND_ADDRESS, ~0u),
	    LOOKUP_FIND_ADDR_FLAGS);
	buf_deinit(&b);
	free(tables);
	free(tables1);
	free(key);
	free(key1);
	free(delims);
	free(delims1);
}

static int
decode_find_raw(const struct raw *r, const char **err)
{
	struct ipc_in in;
	struct lookup_find f;
	int ret;

	ipc_in_init(&in, r->d, r->n);
	ret = lookup_proto_find_decode(&in, &f, err);
	if (ret == 0)
		lookup_find_deinit(&f);
	return ret;
}

/* raw_find - a FIND payload with every field chosen. */
static void
raw_find(struct raw *r, uint32_t flags, uint32_t order, uint32_t mflags,
    const char *tables, size_t tl, const char *key, size_t kl,
    const char *delims, size_t dl)
{
	r->n = 0;
	raw_u32(r, 5);
	raw_u32(r, flags);
	raw_u32(r, order);
	raw_u32(r, mflags);
	raw_str(r, tables, tl);
	raw_str(r, key, kl);
	raw_str(r, delims, dl);
}

static void
test_find_hostile(void **state)
{
	struct raw *r = xcalloc(1, sizeof(*r));
	char *big = filled(LOOKUP_TABLES_MAX_BYTES + 1, 'x');
	const char *err;

	raw_find(r, 0, LOOKUP_FIND_ADDRESS, MAPS_ADDR_USER, "t:x", 3, "k", 1,
	    "+", 1);
	assert_int_equal(decode_find_raw(r, &err), 0);
	/* Every proper prefix is refused. */
	{
		size_t full = r->n;

		for (size_t n = 0; n < full; n++) {
			r->n = n;
			err = NULL;
			assert_int_equal(decode_find_raw(r, &err), -1);
			assert_non_null(err);
		}
	}
	/* Unknown order, unknown flags, flags the order does not take. */
	raw_find(r, 0, 4, 0, "t:x", 3, "k", 1, "", 0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	assert_non_null(strstr(err, "order"));
	raw_find(r, LOOKUP_F_VERIFY, 0, 0, "t:x", 3, "k", 1, "", 0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	assert_non_null(strstr(err, "flags"));
	raw_find(r, 0, LOOKUP_FIND_DOMAIN, MAPS_ADDR_USER, "t:x", 3, "k", 1,
	    "", 0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	raw_find(r, 0, LOOKUP_FIND_CLIENT_ADDR, 0, "t:x", 3, "k", 1, "+", 1);
	assert_int_equal(decode_find_raw(r, &err), -1);
	assert_non_null(strstr(err, "delimiters"));
	raw_find(r, 0, LOOKUP_FIND_ADDRESS, 1u << 31, "t:x", 3, "k", 1, "",
	    0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	/* NUL in each string. */
	raw_find(r, 0, 0, 0, "t\0x", 3, "k", 1, "", 0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	assert_non_null(strstr(err, "tables"));
	raw_find(r, 0, 0, 0, "t:x", 3, "k\0", 2, "", 0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	assert_non_null(strstr(err, "key"));
	raw_find(r, 0, LOOKUP_FIND_ADDRESS, 0, "t:x", 3, "k", 1, "+\0", 2);
	assert_int_equal(decode_find_raw(r, &err), -1);
	/* Empty and over-long lists. */
	raw_find(r, 0, 0, 0, "", 0, "k", 1, "", 0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	assert_non_null(strstr(err, "empty"));
	raw_find(r, 0, 0, 0, big, LOOKUP_TABLES_MAX_BYTES + 1, "k", 1, "", 0);
	assert_int_equal(decode_find_raw(r, &err), -1);
	/* A length that lies; bytes left over. */
	r->n = 0;
	raw_u32(r, 5);
	raw_u32(r, 0);
	raw_u32(r, 0);
	raw_u32(r, 0);
	raw_str(r, "t:x", 3);
	raw_u32(r, 50);
	raw_bytes(r, "k", 1);
	assert_int_equal(decode_find_raw(r, &err), -1);
	raw_find(r, 0, 0, 0, "t:x", 3, "k", 1, "", 0);
	raw_bytes(r, "!", 1);
	assert_int_equal(decode_find_raw(r, &err), -1);
	assert_non_null(strstr(err, "after"));
	free(big);
	free(r);
}

/* ---------------------------------------------------------------- */
/* ROUTE                                                            */

static int
decode_route_raw(const struct raw *r, const char **err)
{
	struct ipc_in in;
	struct lookup_route q;
	int ret;

	ipc_in_init(&in, r->d, r->n);
	ret = lookup_proto_route_decode(&in, &q, err);
	if (ret == 0)
		lookup_route_deinit(&q);
	return ret;
}

static void
test_route_frames(void **state)
{
	char *svc = filled(LOOKUP_SERVICE_MAX_BYTES, 's');
	char *svc1 = filled(LOOKUP_SERVICE_MAX_BYTES + 1, 's');
	char *addr = filled(ROUTE_ADDRESS_MAX_BYTES, 'a');
	char *addr1 = filled(ROUTE_ADDRESS_MAX_BYTES + 1, 'a');
	struct raw *r = xcalloc(1, sizeof(*r));
	struct lookup_route q;
	struct ipc_in in;
	const char *err = NULL;
	struct buf b;

	buf_init(&b, 1 << 20);
	for (int op = LOOKUP_ROUTE_RESOLVE; op <= LOOKUP_ROUTE_OP_LAST; op++) {
		buf_reset(&b);
		assert_int_equal(lookup_proto_put_route(&b, 77, 0,
		    (enum lookup_route_op)op, "submission/inet",
		    "User@Example.COM"), 0);
		split_frame(&b, LOOKUP_MSG_ROUTE, &in);
		assert_int_equal(lookup_proto_route_decode(&in, &q, &err), 0);
		assert_int_equal(q.id, 77);
		assert_int_equal(q.op, op);
		assert_int_equal(q.flags, 0);
		assert_string_equal(q.service, "submission/inet");
		assert_string_equal(q.address, "User@Example.COM");
		lookup_route_deinit(&q);
	}
	/* main.cf's view, the null sender, at the limits. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_route(&b, 1, LOOKUP_F_NOCACHE,
	    LOOKUP_ROUTE_CHECK, "", ""), 0);
	split_frame(&b, LOOKUP_MSG_ROUTE, &in);
	assert_int_equal(lookup_proto_route_decode(&in, &q, &err), 0);
	assert_string_equal(q.service, "");
	assert_string_equal(q.address, "");
	lookup_route_deinit(&q);
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_route(&b, 1, 0, LOOKUP_ROUTE_EXPAND,
	    svc, addr), 0);
	assert_int_equal(b.len, IPC_HEADER_BYTES + LOOKUP_ROUTE_MAX_BYTES);
	buf_reset(&b);
	/* Past the limits, unknown operations and flags. */
	assert_int_equal(lookup_proto_put_route(&b, 1, 0, LOOKUP_ROUTE_EXPAND,
	    svc1, "a"), -1);
	assert_int_equal(lookup_proto_put_route(&b, 1, 0, LOOKUP_ROUTE_EXPAND,
	    "", addr1), -1);
	assert_int_equal(lookup_proto_put_route(&b, 1, 0,
	    (enum lookup_route_op)0, "", "a"), -1);
	assert_int_equal(lookup_proto_put_route(&b, 1, 0,
	    (enum lookup_route_op)(LOOKUP_ROUTE_OP_LAST + 1), "", "a"), -1);
	assert_int_equal(lookup_proto_put_route(&b, 1, LOOKUP_F_VERIFY,
	    LOOKUP_ROUTE_RESOLVE, "", "a"), -1);
	assert_int_equal(b.len, 0);

	/* Hostile payloads. */
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, 0);
	raw_u32(r, LOOKUP_ROUTE_CHECK);
	raw_str(r, "smtp", 4);
	raw_str(r, "a@b", 3);
	assert_int_equal(decode_route_raw(r, &err), 0);
	{
		size_t full = r->n;

		for (size_t n = 0; n < full; n++) {
			r->n = n;
			err = NULL;
			assert_int_equal(decode_route_raw(r, &err), -1);
			assert_non_null(err);
		}
		r->n = full;
		raw_bytes(r, "x", 1);
		assert_int_equal(decode_route_raw(r, &err), -1);
		assert_non_null(strstr(err, "after"));
	}
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, 0);
	raw_u32(r, 9);
	raw_str(r, "", 0);
	raw_str(r, "a@b", 3);
	assert_int_equal(decode_route_raw(r, &err), -1);
	assert_non_null(strstr(err, "operation"));
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, 2);
	raw_u32(r, LOOKUP_ROUTE_RESOLVE);
	raw_str(r, "", 0);
	raw_str(r, "a@b", 3);
	assert_int_equal(decode_route_raw(r, &err), -1);
	assert_non_null(strstr(err, "flags"));
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, 0);
	raw_u32(r, LOOKUP_ROUTE_RESOLVE);
	raw_str(r, svc1, LOOKUP_SERVICE_MAX_BYTES + 1);
	raw_str(r, "a@b", 3);
	assert_int_equal(decode_route_raw(r, &err), -1);
	assert_non_null(strstr(err, "service"));
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, 0);
	raw_u32(r, LOOKUP_ROUTE_RESOLVE);
	raw_str(r, "", 0);
	raw_str(r, addr1, ROUTE_ADDRESS_MAX_BYTES + 1);
	assert_int_equal(decode_route_raw(r, &err), -1);
	assert_non_null(strstr(err, "address"));
	r->n = 0;
	raw_u32(r, 1);
	raw_u32(r, 0);
	raw_u32(r, LOOKUP_ROUTE_RESOLVE);
	raw_str(r, "", 0);
	raw_str(r, "a\0b", 3);
	assert_int_equal(decode_route_raw(r, &err), -1);

	buf_deinit(&b);
	free(r);
	free(svc);
	free(svc1);
	free(addr);
	free(addr1);
}

static void
test_names(void **state)
{
	enum lookup_find_order o;
	enum lookup_route_op op;

	for (int i = LOOKUP_FIND_EXACT; i <= LOOKUP_FIND_CLIENT_ADDR; i++) {
		assert_int_equal(lookup_find_order_parse(
		    lookup_find_order_name((enum lookup_find_order)i), &o), 0);
		assert_int_equal(o, i);
	}
	assert_string_equal(lookup_find_order_name(LOOKUP_FIND_CLIENT_ADDR),
	    "client");
	assert_int_equal(lookup_find_order_parse("Exact", &o), -1);
	assert_string_equal(lookup_find_order_name((enum lookup_find_order)9),
	    "?");
	for (int i = LOOKUP_ROUTE_RESOLVE; i <= LOOKUP_ROUTE_OP_LAST; i++) {
		assert_int_equal(lookup_route_op_parse(
		    lookup_route_op_name((enum lookup_route_op)i), &op), 0);
		assert_int_equal(op, i);
	}
	assert_int_equal(lookup_route_op_parse("", &op), -1);
	assert_string_equal(lookup_route_op_name((enum lookup_route_op)0),
	    "?");
}

/*
 * GET, FIND and ROUTE of the largest sizes mixed on one socket, read
 * with the lookup process's bound: all taken, in order, by type.
 */
static void
test_pipelined_mixed(void **state)
{
	char *tables = filled(LOOKUP_TABLES_MAX_BYTES, 't');
	char *key = filled(DICT_KEY_MAX_BYTES, 'k');
	char *addr = filled(ROUTE_ADDRESS_MAX_BYTES, 'a');
	struct ipc_conn c;
	struct buf out;
	uint32_t next = 0;
	const uint32_t total = 60;
	size_t off = 0;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
	    0, sv), 0);
	buf_init(&out, 8 << 20);
	for (uint32_t i = 0; i < total; i++) {
		if (i % 3 == 0)
			assert_int_equal(lookup_proto_put_get(&out, i, 0,
			    "t:x", key), 0);
		else if (i % 3 == 1)
			assert_int_equal(lookup_proto_put_find(&out, i, 0,
			    LOOKUP_FIND_DOMAIN, 0, tables, key, ""), 0);
		else
			assert_int_equal(lookup_proto_put_route(&out, i, 0,
			    LOOKUP_ROUTE_EXPAND, "smtp", addr), 0);
	}
	ipc_conn_init_max(&c, sv[1], LOOKUP_REQUEST_MAX_BYTES);
	while (next < total) {
		struct ipc_in in;
		uint32_t type;
		int fd, r;

		if (off < out.len) {
			ssize_t n = write(sv[0], out.data + off,
			    out.len - off);

			if (n > 0)
				off += (size_t)n;
			else
				assert_true(errno == EAGAIN);
		}
		assert_int_equal(ipc_conn_fill_once(&c), 0);
		while ((r = ipc_conn_next(&c, &type, &in, &fd)) == 1) {
			const char *err = NULL;

			assert_int_equal(fd, -1);
			if (next % 3 == 0) {
				struct lookup_get g;

				assert_int_equal(type, LOOKUP_MSG_GET);
				assert_int_equal(lookup_proto_get_decode(&in,
				    &g, &err), 0);
				assert_int_equal(g.id, next);
				lookup_get_deinit(&g);
			} else if (next % 3 == 1) {
				struct lookup_find f;

				assert_int_equal(type, LOOKUP_MSG_FIND);
				assert_int_equal(lookup_proto_find_decode(&in,
				    &f, &err), 0);
				assert_int_equal(f.id, next);
				assert_int_equal(strlen(f.tables),
				    LOOKUP_TABLES_MAX_BYTES);
				lookup_find_deinit(&f);
			} else {
				struct lookup_route q;

				assert_int_equal(type, LOOKUP_MSG_ROUTE);
				assert_int_equal(lookup_proto_route_decode(&in,
				    &q, &err), 0);
				assert_int_equal(q.id, next);
				assert_int_equal(strlen(q.address),
				    ROUTE_ADDRESS_MAX_BYTES);
				lookup_route_deinit(&q);
			}
			next++;
		}
		assert_int_equal(r, 0);
	}
	/* With the GET-only bound of before, the largest FIND is refused. */
	ipc_conn_deinit(&c);
	ipc_conn_init_max(&c, sv[1], LOOKUP_GET_MAX_BYTES);
	buf_reset(&out);
	assert_int_equal(lookup_proto_put_find(&out, 1, 0, LOOKUP_FIND_EXACT,
	    0, tables, key, ""), 0);
	assert_int_equal(write(sv[0], out.data, out.len), (ssize_t)out.len);
	assert_int_equal(ipc_conn_fill_once(&c), 0);
	{
		struct ipc_in in;
		uint32_t type;
		int fd;

		assert_int_equal(ipc_conn_next(&c, &type, &in, &fd), -1);
	}
	ipc_conn_deinit(&c);
	close(sv[0]);
	close(sv[1]);
	buf_deinit(&out);
	free(tables);
	free(key);
	free(addr);
}

/* anvil_payload - an ANVIL payload built by hand: id, op, a str field
 * whose length word says len_word, then body (body_len bytes). */
static size_t
anvil_payload(uint8_t *out, uint32_t op, uint32_t len_word,
    const char *body, size_t body_len)
{
	uint32_t w[3] = { 5, op, len_word };
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		out[n++] = (uint8_t)(w[i] >> 24);
		out[n++] = (uint8_t)(w[i] >> 16);
		out[n++] = (uint8_t)(w[i] >> 8);
		out[n++] = (uint8_t)w[i];
	}
	memcpy(out + n, body, body_len);
	return n + body_len;
}

static void
test_anvil_frames(void **state)
{
	char *key = filled(LOOKUP_ANVIL_KEY_MAX_BYTES, 'k');
	char *key1 = filled(LOOKUP_ANVIL_KEY_MAX_BYTES + 1, 'k');
	uint8_t raw[LOOKUP_ANVIL_MAX_BYTES + 64];
	struct lookup_anvil a;
	struct ipc_in in;
	const char *err = NULL;
	struct buf b;
	size_t n;

	buf_init(&b, 1 << 16);
	for (int op = LOOKUP_ANVIL_CONNECT; op <= LOOKUP_ANVIL_OP_LAST; op++) {
		buf_reset(&b);
		assert_int_equal(lookup_proto_put_anvil(&b, 0xfffffffe,
		    (enum lookup_anvil_op)op, "smtp 2001:db8::1"), 0);
		split_frame(&b, LOOKUP_MSG_ANVIL, &in);
		assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), 0);
		assert_int_equal(a.id, 0xfffffffe);
		assert_int_equal(a.op, op);
		assert_string_equal(a.key, "smtp 2001:db8::1");
		lookup_anvil_deinit(&a);
	}
	/* The key at its limit, one past it, empty; unknown operations. */
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_anvil(&b, 1, LOOKUP_ANVIL_RCPT, key),
	    0);
	assert_true(b.len <= IPC_HEADER_BYTES + LOOKUP_ANVIL_MAX_BYTES);
	split_frame(&b, LOOKUP_MSG_ANVIL, &in);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), 0);
	assert_string_equal(a.key, key);
	lookup_anvil_deinit(&a);
	buf_reset(&b);
	assert_int_equal(lookup_proto_put_anvil(&b, 1, LOOKUP_ANVIL_RCPT,
	    key1), -1);
	assert_int_equal(lookup_proto_put_anvil(&b, 1, LOOKUP_ANVIL_RCPT, ""),
	    -1);
	assert_int_equal(lookup_proto_put_anvil(&b, 1,
	    (enum lookup_anvil_op)0, "k"), -1);
	assert_int_equal(lookup_proto_put_anvil(&b, 1,
	    (enum lookup_anvil_op)(LOOKUP_ANVIL_OP_LAST + 1), "k"), -1);
	assert_int_equal(b.len, 0);
	/* Every proper prefix of a valid payload is refused. */
	assert_int_equal(lookup_proto_put_anvil(&b, 3, LOOKUP_ANVIL_CONNECT,
	    "smtp 192.0.2.1"), 0);
	for (n = 0; n < b.len - IPC_HEADER_BYTES; n++) {
		ipc_in_init(&in, b.data + IPC_HEADER_BYTES, n);
		err = NULL;
		assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
		assert_non_null(err);
	}
	/* Hostile payloads built by hand. */
	n = anvil_payload(raw, LOOKUP_ANVIL_CONNECT, 6, "smtp x", 6);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), 0);
	lookup_anvil_deinit(&a);
	/* A NUL in the key. */
	n = anvil_payload(raw, LOOKUP_ANVIL_CONNECT, 6, "smtp\0x", 6);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
	/* Empty key. */
	n = anvil_payload(raw, LOOKUP_ANVIL_CONNECT, 0, "", 0);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
	/* A length that lies (longer than what follows). */
	n = anvil_payload(raw, LOOKUP_ANVIL_CONNECT, 7, "smtp x", 6);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
	/* A key over the limit. */
	n = anvil_payload(raw, LOOKUP_ANVIL_CONNECT,
	    LOOKUP_ANVIL_KEY_MAX_BYTES + 1, key1, LOOKUP_ANVIL_KEY_MAX_BYTES + 1);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
	/* Bytes after the key. */
	n = anvil_payload(raw, LOOKUP_ANVIL_MESSAGE, 6, "smtp xZ", 7);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
	assert_string_equal(err, "ANVIL: bytes after the last field");
	/* Unknown operations. */
	n = anvil_payload(raw, 0, 6, "smtp x", 6);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
	assert_string_equal(err, "ANVIL: unknown operation");
	n = anvil_payload(raw, LOOKUP_ANVIL_OP_LAST + 1, 6, "smtp x", 6);
	ipc_in_init(&in, raw, n);
	assert_int_equal(lookup_proto_anvil_decode(&in, &a, &err), -1);
	buf_deinit(&b);
	free(key);
	free(key1);
}

static void
test_anvil_answer(void **state)
{
	static const struct {
		const char *text;
		int ok;
		unsigned count, rate;
	} cases[] = {
		{ "count=0 rate=0", 0, 0, 0 },
		{ "count=51 rate=3", 0, 51, 3 },
		{ "count=4294967295 rate=4294967295", 0, 4294967295u,
		    4294967295u },
		{ "count=007 rate=1", 0, 7, 1 },
		{ "count=4294967296 rate=1", -1, 0, 0 },
		{ "count=1 rate=4294967296", -1, 0, 0 },
		{ "count=1  rate=1", -1, 0, 0 },
		{ "count=1 rate=1 ", -1, 0, 0 },
		{ "count=1 rate=", -1, 0, 0 },
		{ "count= rate=1", -1, 0, 0 },
		{ "count=-1 rate=1", -1, 0, 0 },
		{ "rate=1 count=1", -1, 0, 0 },
		{ "count=1", -1, 0, 0 },
		{ "count=1 rate=1x", -1, 0, 0 },
		{ "", -1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		unsigned c = 99, r = 99;
		int got = lookup_anvil_answer_parse(t, strlen(t), &c, &r);

		if (got != cases[i].ok)
			fail_msg("\"%s\": %d", t, got);
		if (got == 0) {
			assert_int_equal(c, cases[i].count);
			assert_int_equal(r, cases[i].rate);
		}
		/* Every proper prefix of a good answer but the ones that
		 * end inside the last number is refused; those give a
		 * smaller rate, never a larger one. */
		for (size_t n = 0; got == 0 && n < strlen(t); n++) {
			unsigned c2, r2;
			int g2 = lookup_anvil_answer_parse(t, n, &c2, &r2);

			if (g2 == 0)
				assert_true(c2 == c && r2 <= r);
		}
	}
	/* The text is bounded by the length given, not by a NUL. */
	{
		unsigned c, r;

		assert_int_equal(lookup_anvil_answer_parse("count=1 rate=23", 14,
		    &c, &r), 0);
		assert_int_equal(r, 2);
	}
	/* Names of the operations, both ways. */
	for (int op = LOOKUP_ANVIL_CONNECT; op <= LOOKUP_ANVIL_OP_LAST; op++) {
		enum lookup_anvil_op back;

		assert_int_equal(lookup_anvil_op_parse(
		    lookup_anvil_op_name((enum lookup_anvil_op)op), &back), 0);
		assert_int_equal(back, op);
	}
	assert_string_equal(lookup_anvil_op_name((enum lookup_anvil_op)0), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_roundtrip),
		cmocka_unit_test(test_get_limits),
		cmocka_unit_test(test_get_hostile),
		cmocka_unit_test(test_get_truncations),
		cmocka_unit_test(test_reply_roundtrip_and_limits),
		cmocka_unit_test(test_reply_hostile),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_pipelined_large_frames),
		cmocka_unit_test(test_find_roundtrip),
		cmocka_unit_test(test_find_limits),
		cmocka_unit_test(test_find_hostile),
		cmocka_unit_test(test_route_frames),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_pipelined_mixed),
		cmocka_unit_test(test_anvil_frames),
		cmocka_unit_test(test_anvil_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
