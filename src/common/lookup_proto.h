/* SPDX-License-Identifier: MIT */
/*
 * lookup_proto - messages between daemons (and tools) and the lookup
 * process.
 *
 * A client connects to the lookup process at
 * $queue_directory/private/lookup (a Unix stream socket owned by
 * mail_owner, mode 0600, so only root and mail_owner may ask) and keeps
 * the connection for as many requests as it likes.  Frames use ipc.h's
 * layout (type and length, 4 octets each, big-endian; then the
 * payload), never carry descriptors, and may be pipelined: a client
 * need not wait for an answer before it sends the next request.
 * Answers carry the request's id; they may come in another order than
 * the requests.
 *
 *   client -> lookup  GET    u32 id, u32 flags, str table, str key
 *                            [, str password]
 *   client -> lookup  FIND   u32 id, u32 flags, u32 order, u32 mflags,
 *                            str tables, str key, str delimiters
 *   client -> lookup  ROUTE  u32 id, u32 flags, u32 op, str service,
 *                            str address
 *   client -> lookup  ANVIL  u32 id, u32 op, str key
 *   lookup -> client  REPLY  u32 id, u32 status, str text
 *
 *   str    u32 length, then that many octets, no NUL among them
 *   table  the table as written in main.cf, "type:name" (at most
 *          DICT_SPEC_MAX_BYTES); "proxy:type:name" and "type:name" are
 *          the same table
 *   key    at most DICT_KEY_MAX_BYTES (the lookup process folds its case
 *          when the table's type does)
 *   flags  LOOKUP_F_*; unknown bits are an error (FIND and ROUTE take
 *          LOOKUP_F_NOCACHE only)
 *
 * FIND is an ordered search over a list of tables (maps.h): tables as a
 * *_maps value is written ("hash:/a, proxy:pcre:/b", at most
 * LOOKUP_TABLES_MAX_BYTES, at most MAPS_MAX_TABLES tables, each one
 * the lookup process serves), the key (at most DICT_KEY_MAX_BYTES),
 * the order (enum lookup_find_order), the maps.h flags the order takes
 * (MAPS_ADDR_* for LOOKUP_FIND_ADDRESS;
 * MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS alone for LOOKUP_FIND_DOMAIN;
 * none for the others) and the recipient delimiters
 * (LOOKUP_FIND_ADDRESS only, at most LOOKUP_DELIMITERS_MAX_BYTES; ""
 * for the other orders).  The REPLY is the first value found, NOTFOUND,
 * or TEMPFAIL (a table failed, or one of the list is not served).
 *
 * ROUTE runs the address resolver (route.h) for one service's view of
 * the configuration: service is "" (main.cf), "NAME/TYPE" (the
 * master.cf entry, e.g. "smtp/inet") or "NAME" (the first master.cf
 * entry of that name), at most LOOKUP_SERVICE_MAX_BYTES; op is enum
 * lookup_route_op; address at most ROUTE_ADDRESS_MAX_BYTES ("" is the
 * null sender).  The REPLY is FOUND with "name=value\n" lines
 * (lookup_client.h: lookup_route_answer_parse) or TEMPFAIL with the
 * reason; never NOTFOUND.
 * ANVIL counts what one client does (smtpd's per-client limits:
 * smtpd_client_connection_count_limit and the rate limits): key names
 * the client and the service ("SERVICE ADDRESS", at most
 * LOOKUP_ANVIL_KEY_MAX_BYTES, not empty); op is enum lookup_anvil_op.
 * CONNECT adds one open connection and one to the connection rate,
 * DISCONNECT takes back one CONNECT that this same connection made
 * (one it did not make is ignored), the others add one to their rate.
 * Rates count events since the start of the current
 * anvil_rate_time_unit window of that client.  Counts a connection made
 * are taken back when it closes: an smtpd that dies releases its
 * clients.  The REPLY is FOUND with "count=N rate=N" (the open
 * connections and the rate of op; lookup_anvil_answer_parse) or
 * TEMPFAIL (the table of clients is full); never NOTFOUND.
 *   status LOOKUP_STATUS_FOUND: text is the value (at most
 *          DICT_VALUE_MAX_BYTES); LOOKUP_STATUS_NOTFOUND: text is empty;
 *          LOOKUP_STATUS_TEMPFAIL: text is the reason, for the log (at
 *          most LOOKUP_REASON_MAX_BYTES; never a password).  A table
 *          that the lookup process did not open at start-up (named by
 *          no *_maps parameter) is a TEMPFAIL "... is not configured".
 *
 * Both sides check every frame field by field (STYLE.md 1.3): an
 * unknown type, a field over its limit, bytes left over or a descriptor
 * make the receiver drop the connection.  The client then answers every
 * request still waiting with TEMPFAIL, never with "not found".
 *
 * Frames are larger than ipc.h's IPC_PAYLOAD_MAX_BYTES (a request holds
 * up to 12 KiB of names, a value up to 64 KiB), so both sides build them
 * with lookup_proto_put_*() into an output buffer and read them with an
 * ipc_conn set up by ipc_conn_init_max().
 *
 * docs/architecture.md has the picture; lookup_client.h is the client.
 */
#ifndef OSTIA_LOOKUP_PROTO_H
#define OSTIA_LOOKUP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dict.h"
#include "ipc.h"
#include "maps.h"
#include "route.h"

enum lookup_msg {
	LOOKUP_MSG_GET = 1,
	LOOKUP_MSG_REPLY = 2,
	LOOKUP_MSG_FIND = 3,
	LOOKUP_MSG_ROUTE = 4,
	LOOKUP_MSG_ANVIL = 5,
};

/* ANVIL operations: the client event counted. */
enum lookup_anvil_op {
	LOOKUP_ANVIL_CONNECT = 1,	/* count + 1, connection rate + 1 */
	LOOKUP_ANVIL_DISCONNECT = 2,	/* count - 1 (one of ours) */
	LOOKUP_ANVIL_MESSAGE = 3,	/* MAIL FROM rate + 1 */
	LOOKUP_ANVIL_RCPT = 4,		/* RCPT TO rate + 1 */
	LOOKUP_ANVIL_AUTH = 5,		/* AUTH rate + 1 */
	LOOKUP_ANVIL_NEWTLS = 6,	/* new (not resumed) TLS session
					 * rate + 1 */
	LOOKUP_ANVIL_NEWTLS_STAT = 7,	/* the new TLS session rate; nothing
					 * counted, no client added */
};
#define LOOKUP_ANVIL_OP_LAST LOOKUP_ANVIL_NEWTLS_STAT
/* Longest ANVIL key ("SERVICE ADDRESS"). */
#define LOOKUP_ANVIL_KEY_MAX_BYTES 256
#define LOOKUP_ANVIL_MAX_BYTES (12 + LOOKUP_ANVIL_KEY_MAX_BYTES)

/* FIND orders: which maps.h search runs. */
enum lookup_find_order {
	LOOKUP_FIND_EXACT = 0,		/* maps_find_result */
	LOOKUP_FIND_ADDRESS = 1,	/* maps_find_address */
	LOOKUP_FIND_DOMAIN = 2,		/* maps_find_domain */
	LOOKUP_FIND_CLIENT_ADDR = 3,	/* maps_find_client_addr */
};

/* ROUTE operations (route.h). */
enum lookup_route_op {
	LOOKUP_ROUTE_RESOLVE = 1,	/* route_resolve */
	LOOKUP_ROUTE_CHECK = 2,		/* route_resolve, route_check_listed */
	LOOKUP_ROUTE_EXPAND = 3,	/* route_resolve, route_expand_aliases */
	LOOKUP_ROUTE_REWRITE_SENDER = 4,	/* route_rewrite of a sender:
						 * address= the one to queue,
						 * rcpt= the BCC if any */
	LOOKUP_ROUTE_REWRITE_RCPT = 5,	/* route_rewrite of a recipient */
	LOOKUP_ROUTE_HEADER_SENDER = 6,	/* route_rewrite_header of an
					 * address in a sender header:
					 * address= the mapped one; the
					 * address is not resolved */
	LOOKUP_ROUTE_HEADER_RCPT = 7,	/* ... in a recipient header */
	LOOKUP_ROUTE_GENERIC = 8,	/* route_generic (smtp_generic_maps)
					 * of an address the smtp agent
					 * sends: address= the mapped one;
					 * not resolved */
};
#define LOOKUP_ROUTE_OP_LAST LOOKUP_ROUTE_GENERIC

enum lookup_status {
	LOOKUP_STATUS_FOUND = 0,
	LOOKUP_STATUS_NOTFOUND = 1,
	LOOKUP_STATUS_TEMPFAIL = 2,
};

/* GET flags. */
#define LOOKUP_F_NOCACHE	(1u << 0)  /* ask the table, not the cache
					    * (the answer is not cached
					    * either) */
#define LOOKUP_F_VERIFY		(1u << 1)  /* check a password: key is
					    * the login, a third str field
					    * the password; the table's
					    * value is the stored hash.
					    * FOUND (text "") = it
					    * matches, NOTFOUND = no such
					    * login or a wrong password */
#define LOOKUP_F_ALL		(LOOKUP_F_NOCACHE | LOOKUP_F_VERIFY)
/* The flags FIND and ROUTE take. */
#define LOOKUP_F_FIND_ALL	LOOKUP_F_NOCACHE
#define LOOKUP_F_ROUTE_ALL	LOOKUP_F_NOCACHE
/* The maps.h flags LOOKUP_FIND_ADDRESS takes. */
#define LOOKUP_FIND_ADDR_FLAGS	(MAPS_ADDR_USER | MAPS_ADDR_ACCESS | \
    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS | MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL)
/* Longest password a VERIFY carries. */
#define LOOKUP_PASSWORD_MAX_BYTES 1024

/* Relative to queue_directory. */
#define LOOKUP_SOCKET_PATH "private/lookup"
/* Longest TEMPFAIL reason. */
#define LOOKUP_REASON_MAX_BYTES DICT_ERR_MAX_BYTES
/* Largest payloads: a GET (4 + 4 + 4 + spec + 4 + key [+ 4 +
 * password]), a REPLY. */
#define LOOKUP_GET_MAX_BYTES (20 + DICT_SPEC_MAX_BYTES + DICT_KEY_MAX_BYTES + \
    LOOKUP_PASSWORD_MAX_BYTES)
#define LOOKUP_REPLY_MAX_BYTES (12 + DICT_VALUE_MAX_BYTES)
/* FIND: the list of tables, the recipient delimiters. */
#define LOOKUP_TABLES_MAX_BYTES (2 * DICT_SPEC_MAX_BYTES)
#define LOOKUP_DELIMITERS_MAX_BYTES 64
/* ROUTE: the service name ("NAME/TYPE"). */
#define LOOKUP_SERVICE_MAX_BYTES 64
/* A FIND (4 u32s, 3 strs), a ROUTE (3 u32s, 2 strs). */
#define LOOKUP_FIND_MAX_BYTES (28 + LOOKUP_TABLES_MAX_BYTES + \
    DICT_KEY_MAX_BYTES + LOOKUP_DELIMITERS_MAX_BYTES)
#define LOOKUP_ROUTE_MAX_BYTES (20 + LOOKUP_SERVICE_MAX_BYTES + \
    ROUTE_ADDRESS_MAX_BYTES)
/* The largest request of any kind: what the lookup process reads (an
 * ANVIL is far smaller than any of these). */
#define LOOKUP_REQUEST_MAX_BYTES \
    (LOOKUP_FIND_MAX_BYTES > LOOKUP_GET_MAX_BYTES ? \
    (LOOKUP_FIND_MAX_BYTES > LOOKUP_ROUTE_MAX_BYTES ? \
    LOOKUP_FIND_MAX_BYTES : LOOKUP_ROUTE_MAX_BYTES) : \
    (LOOKUP_GET_MAX_BYTES > LOOKUP_ROUTE_MAX_BYTES ? \
    LOOKUP_GET_MAX_BYTES : LOOKUP_ROUTE_MAX_BYTES))

/* One decoded GET; the strings belong to it (lookup_get_deinit). */
struct lookup_get {
	uint32_t id;
	uint32_t flags;
	char *table;
	char *key;
	char *password;		/* LOOKUP_F_VERIFY only, else NULL;
				 * wiped by lookup_get_deinit */
};

/* One decoded FIND; the strings belong to it (lookup_find_deinit). */
struct lookup_find {
	uint32_t id;
	uint32_t flags;
	enum lookup_find_order order;
	unsigned mflags;	/* MAPS_ADDR_* */
	char *tables;
	char *key;
	char *delimiters;	/* "" unless LOOKUP_FIND_ADDRESS */
};

/* One decoded ROUTE; the strings belong to it (lookup_route_deinit). */
struct lookup_route {
	uint32_t id;
	uint32_t flags;
	enum lookup_route_op op;
	char *service;
	char *address;
};

/* One decoded ANVIL; key belongs to it (lookup_anvil_deinit). */
struct lookup_anvil {
	uint32_t id;
	enum lookup_anvil_op op;
	char *key;
};

/* One decoded REPLY; text belongs to it (lookup_reply_deinit). */
struct lookup_reply {
	uint32_t id;
	enum lookup_status status;
	char *text;		/* value, "" or reason */
	size_t len;
};

/*
 * Append a whole GET frame to out.  0, or -1 (out unchanged) when a
 * field is over its limit, contains a NUL (impossible for C strings),
 * has unknown flags, or out has no room.
 */
int lookup_proto_put_get(struct buf *out, uint32_t id, uint32_t flags,
    const char *table, const char *key);
/* The same with the password of a LOOKUP_F_VERIFY request (NULL
 * otherwise; required with the flag). */
int lookup_proto_put_request(struct buf *out, uint32_t id, uint32_t flags,
    const char *table, const char *key, const char *password);
/*
 * Append a whole FIND frame to out.  0, or -1 (out unchanged) when a
 * field is over its limit, tables is empty, flags has a bit other than
 * LOOKUP_F_FIND_ALL, or order, mflags and delimiters do not go together
 * (lookup_find_args_ok), or out has no room.
 */
int lookup_proto_put_find(struct buf *out, uint32_t id, uint32_t flags,
    enum lookup_find_order order, unsigned mflags, const char *tables,
    const char *key, const char *delimiters);
/*
 * True when order is known, mflags are the ones it takes and
 * delimiters is "" or (LOOKUP_FIND_ADDRESS) at most
 * LOOKUP_DELIMITERS_MAX_BYTES.
 */
bool lookup_find_args_ok(uint32_t order, uint32_t mflags,
    const char *delimiters);
/*
 * The maps.h flags among mflags that order takes (the rest dropped):
 * clients may pass their flags for every order.  Unknown orders keep
 * none.
 */
unsigned lookup_find_mflags_for(enum lookup_find_order order,
    unsigned mflags);
/*
 * Append a whole ROUTE frame to out.  0, or -1 (out unchanged) when op
 * is unknown, flags has a bit other than LOOKUP_F_ROUTE_ALL, service is
 * longer than LOOKUP_SERVICE_MAX_BYTES, address longer than
 * ROUTE_ADDRESS_MAX_BYTES, or out has no room.
 */
int lookup_proto_put_route(struct buf *out, uint32_t id, uint32_t flags,
    enum lookup_route_op op, const char *service, const char *address);

/*
 * Append a whole ANVIL frame to out.  0, or -1 (out unchanged) when op
 * is unknown, key is empty or longer than LOOKUP_ANVIL_KEY_MAX_BYTES,
 * or out has no room.
 */
int lookup_proto_put_anvil(struct buf *out, uint32_t id,
    enum lookup_anvil_op op, const char *key);

/*
 * Append a whole REPLY frame to out.  text is the value (FOUND, len
 * bytes, at most DICT_VALUE_MAX_BYTES, no NUL), ignored for NOTFOUND,
 * the reason for TEMPFAIL (cut to LOOKUP_REASON_MAX_BYTES).  0, or -1
 * (out unchanged) when the value is too long or out has no room.
 */
int lookup_proto_put_reply(struct buf *out, uint32_t id,
    enum lookup_status status, const char *text, size_t len);

/*
 * Decode the payload of a GET (type LOOKUP_MSG_GET).  0, or -1 with
 * *error_r (static text: which field is wrong) and nothing to free.
 */
int lookup_proto_get_decode(struct ipc_in *in, struct lookup_get *g,
    const char **error_r);
void lookup_get_deinit(struct lookup_get *g);
/* Decode the payload of a FIND; as lookup_proto_get_decode. */
int lookup_proto_find_decode(struct ipc_in *in, struct lookup_find *f,
    const char **error_r);
void lookup_find_deinit(struct lookup_find *f);
/* Decode the payload of a ROUTE; as lookup_proto_get_decode. */
int lookup_proto_route_decode(struct ipc_in *in, struct lookup_route *q,
    const char **error_r);
void lookup_route_deinit(struct lookup_route *q);
/* Decode the payload of an ANVIL; as lookup_proto_get_decode. */
int lookup_proto_anvil_decode(struct ipc_in *in, struct lookup_anvil *a,
    const char **error_r);
void lookup_anvil_deinit(struct lookup_anvil *a);
/* Decode the payload of a REPLY; as lookup_proto_get_decode. */
int lookup_proto_reply_decode(struct ipc_in *in, struct lookup_reply *r,
    const char **error_r);
void lookup_reply_deinit(struct lookup_reply *r);

/* "exact", "address", "domain", "client" and back (-1: unknown). */
const char *lookup_find_order_name(enum lookup_find_order order);
int lookup_find_order_parse(const char *word, enum lookup_find_order *o);
/* "resolve", "check", "expand" and back (-1: unknown). */
const char *lookup_route_op_name(enum lookup_route_op op);
int lookup_route_op_parse(const char *word, enum lookup_route_op *op);

/* "connect", "disconnect", "message", "rcpt", "auth" and back (-1:
 * unknown). */
const char *lookup_anvil_op_name(enum lookup_anvil_op op);
int lookup_anvil_op_parse(const char *word, enum lookup_anvil_op *op);
/*
 * The text of an ANVIL answer, "count=N rate=N" (each a decimal number
 * under 2^32, in that order, one space between): 0, or -1 when it is
 * anything else.
 */
int lookup_anvil_answer_parse(const char *text, size_t len,
    unsigned *count, unsigned *rate);

/* "FOUND", "NOTFOUND", "TEMPFAIL". */
const char *lookup_status_name(enum lookup_status st);
/* dict_status <-> lookup_status. */
enum lookup_status lookup_status_from_dict(enum dict_status st);
enum dict_status lookup_status_to_dict(enum lookup_status st);

#endif
