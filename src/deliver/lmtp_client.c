/* SPDX-License-Identifier: MIT */
/*
 * lmtp_client - a blocking LMTP client (RFC 2033) that also speaks
 * SMTP with STARTTLS and AUTH: the reply parser, the command text,
 * dot-stuffing, and the conversation over a socket (plain or TLS) with
 * poll() timeouts.  See lmtp_client.h for the contracts.  The texts,
 * commands and decisions it shares with the event-driven client
 * (smtp_conn.c) are in lmtp_common.c.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lmtp_client.h"
#include "lmtp_common.h"
#include "log.h"
#include "strnum.h"
#include "xalloc.h"


/* ------------------------------------------------------------------ */
/* Replies */

void
lmtp_reply_deinit(struct lmtp_reply *r)
{
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	memset(r, 0, sizeof(*r));
}

void
lmtp_reply_copy(struct lmtp_reply *dst, const struct lmtp_reply *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->code = src->code;
	memcpy(dst->dsn, src->dsn, sizeof(dst->dsn));
	if (src->nlines == 0)
		return;
	dst->lines = xcalloc(src->nlines, sizeof(*dst->lines));
	for (size_t i = 0; i < src->nlines; i++)
		dst->lines[i] = xstrdup(src->lines[i]);
	dst->nlines = src->nlines;
}

/*
 * enhanced_len - the length of an enhanced status code "C.S.D" at the
 * start of t (C = cls, S and D 1-3 digits) followed by a space or the
 * end, or 0 when there is none.
 */
static size_t
enhanced_len(const char *t, char cls)
{
	size_t i = 0, n;

	if (t[0] != cls || t[1] != '.')
		return 0;
	i = 2;
	for (n = 0; t[i] >= '0' && t[i] <= '9'; i++, n++)
		;
	if (n < 1 || n > 3 || t[i] != '.')
		return 0;
	i++;
	for (n = 0; t[i] >= '0' && t[i] <= '9'; i++, n++)
		;
	if (n < 1 || n > 3 || (t[i] != ' ' && t[i] != '\0'))
		return 0;
	return i;
}

/* text_put - append len bytes of s to dst[*pos], printable ASCII only,
 * keeping room for the NUL; false when it did not all fit. */
static bool
text_put(char *dst, size_t max, size_t *pos, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (*pos + 1 >= max)
			return false;
		dst[(*pos)++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	return true;
}

char *
lmtp_reply_text(const struct lmtp_reply *r, size_t max)
{
	char code[8];
	char *out;
	size_t pos = 0;
	bool fits = true;

	if (max < 16)
		max = 16;
	out = xmalloc(max);
	snprintf(code, sizeof(code), "%03u", r->code % 1000);
	fits = text_put(out, max, &pos, code, strlen(code));
	for (size_t i = 0; fits && i < r->nlines; i++) {
		const char *t = r->lines[i];
		size_t dl = strlen(r->dsn);

		if (i > 0 && dl > 0 && strncmp(t, r->dsn, dl) == 0 &&
		    (t[dl] == ' ' || t[dl] == '\0'))
			t += dl + (t[dl] == ' ');
		if (t[0] == '\0')
			continue;
		fits = text_put(out, max, &pos, " ", 1) &&
		    text_put(out, max, &pos, t, strlen(t));
	}
	if (!fits) {
		pos = max - 1;
		memcpy(out + pos - 3, "...", 3);
	}
	out[pos] = '\0';
	return out;
}

void
lmtp_reply_parser_init(struct lmtp_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void
lmtp_reply_parser_deinit(struct lmtp_reply_parser *p)
{
	lmtp_reply_deinit(&p->cur);
	memset(p, 0, sizeof(*p));
}

/*
 * finish_line - the current line is complete (its LF seen): check it
 * and add it to the reply.  1 the reply is complete, 0 more lines
 * follow, -1 with *error_r.
 */
static int
finish_line(struct lmtp_reply_parser *p, const char **error_r)
{
	const char *l = p->line;
	size_t n = p->linelen;
	unsigned code;
	bool last;
	char *text;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (n < 3) {
		*error_r = "a reply line shorter than a reply code";
		return -1;
	}
	if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' ||
	    l[2] < '0' || l[2] > '9') {
		*error_r = "a reply line that does not start with a reply code";
		return -1;
	}
	code = (unsigned)(l[0] - '0') * 100 + (unsigned)(l[1] - '0') * 10 +
	    (unsigned)(l[2] - '0');
	if (p->cur.nlines > 0 && code != p->cur.code) {
		*error_r = "the lines of a multiline reply have different codes";
		return -1;
	}
	if (n > 3 && l[3] != '-' && l[3] != ' ') {
		*error_r = "a reply code followed by neither a space nor '-'";
		return -1;
	}
	if (p->cur.nlines >= LMTP_REPLY_LINES_MAX) {
		*error_r = "a reply of more than 100 lines";
		return -1;
	}
	last = n == 3 || l[3] == ' ';
	text = n > 4 ? xstrndup(l + 4, n - 4) : xstrdup("");
	p->cur.lines = xreallocarray(p->cur.lines, p->cur.nlines + 1,
	    sizeof(*p->cur.lines));
	p->cur.lines[p->cur.nlines++] = text;
	if (p->cur.nlines == 1) {
		size_t el = enhanced_len(text, l[0]);

		p->cur.code = code;
		if (el > 0 && el < sizeof(p->cur.dsn)) {
			memcpy(p->cur.dsn, text, el);
			p->cur.dsn[el] = '\0';
		}
	}
	return last ? 1 : 0;
}

int
lmtp_reply_parse(struct lmtp_reply_parser *p, const char *data, size_t len,
    size_t *used_r, struct lmtp_reply *reply_r, const char **error_r)
{
	size_t i;

	*used_r = 0;
	if (p->error != NULL) {
		*error_r = p->error;
		return -1;
	}
	for (i = 0; i < len; i++) {
		char ch = data[i];

		if (ch == '\n') {
			const char *err = NULL;
			int r = finish_line(p, &err);

			p->linelen = 0;
			if (r < 0) {
				p->error = err;
				break;
			}
			if (r == 1) {
				*reply_r = p->cur;
				memset(&p->cur, 0, sizeof(p->cur));
				*used_r = i + 1;
				return 1;
			}
			continue;
		}
		if (ch == '\0') {
			p->error = "a NUL byte in a reply";
			break;
		}
		if (p->linelen >= sizeof(p->line) - 1) {
			p->error = "a reply line longer than 512 bytes";
			break;
		}
		p->line[p->linelen++] = ch;
	}
	if (p->error != NULL) {
		lmtp_reply_deinit(&p->cur);
		*used_r = len;
		*error_r = p->error;
		return -1;
	}
	*used_r = len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Extensions */

/* xforward_attrs - the LMTP_XF_* bits of the attribute names in a
 * (separated by spaces; unknown names ignored). */
static unsigned
xforward_attrs(const char *a)
{
	static const struct {
		const char *name;
		unsigned bit;
	} attrs[] = {
		{ "NAME", LMTP_XF_NAME }, { "ADDR", LMTP_XF_ADDR },
		{ "PORT", LMTP_XF_PORT }, { "PROTO", LMTP_XF_PROTO },
		{ "HELO", LMTP_XF_HELO }, { "IDENT", LMTP_XF_IDENT },
		{ "SOURCE", LMTP_XF_SOURCE },
	};
	unsigned bits = 0;

	while (*a != '\0') {
		size_t n = strcspn(a, " ");

		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			if (strlen(attrs[i].name) == n &&
			    strncasecmp(a, attrs[i].name, n) == 0)
				bits |= attrs[i].bit;
		a += n;
		while (*a == ' ')
			a++;
	}
	return bits;
}

void
lmtp_caps_parse(const struct lmtp_reply *r, struct lmtp_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	if (r->nlines > 0) {
		const char *l = r->lines[0];
		size_t n = strcspn(l, " \t");

		if (n < sizeof(caps->name)) {
			for (size_t i = 0; i < n; i++)
				caps->name[i] = (char)tolower((unsigned char)
				    l[i]);
			caps->name[n] = '\0';
		}
	}
	for (size_t i = 1; i < r->nlines; i++) {
		const char *l = r->lines[i];
		size_t kl = strcspn(l, " ");
		const char *arg = l + kl;

		while (*arg == ' ')
			arg++;
		if (kl == 4 && strncasecmp(l, "SIZE", 4) == 0) {
			uint64_t v = 0;
			const char *err;

			caps->size = true;
			if (*arg != '\0' &&
			    strnum_parse_u64(arg, UINT64_MAX, &v, &err) == 0)
				caps->size_max = v;
		} else if (kl == 8 && strncasecmp(l, "8BITMIME", 8) == 0)
			caps->eightbitmime = true;
		else if (kl == 10 && strncasecmp(l, "PIPELINING", 10) == 0)
			caps->pipelining = true;
		else if (kl == 19 &&
		    strncasecmp(l, "ENHANCEDSTATUSCODES", 19) == 0)
			caps->enhancedstatuscodes = true;
		else if (kl == 3 && strncasecmp(l, "DSN", 3) == 0)
			caps->dsn = true;
		else if (kl == 8 && strncasecmp(l, "SMTPUTF8", 8) == 0)
			caps->smtputf8 = true;
		else if (kl == 8 && strncasecmp(l, "STARTTLS", 8) == 0)
			caps->starttls = true;
		else if (kl >= 4 && strncasecmp(l, "AUTH", 4) == 0 &&
		    (kl == 4 || l[4] == '=')) {
			/* "AUTH PLAIN LOGIN" or the old "AUTH=PLAIN LOGIN"
			 * (RFC 4954 and what early clients needed). */
			const char *m = kl == 4 ? arg : l + 5;

			while (*m != '\0') {
				size_t ml = strcspn(m, " ");

				if (ml == 5 && strncasecmp(m, "PLAIN", 5) == 0)
					caps->auth_plain = true;
				else if (ml == 5 &&
				    strncasecmp(m, "LOGIN", 5) == 0)
					caps->auth_login = true;
				m += ml;
				while (*m == ' ')
					m++;
			}
		} else if (kl == 8 && strncasecmp(l, "XFORWARD", 8) == 0)
			caps->xforward = xforward_attrs(arg);
	}
}

size_t
lmtp_caps_discard(struct lmtp_caps *caps, const char *const *keywords,
    char *out, size_t outsz)
{
	size_t n = 0, used = 0;

	if (outsz > 0)
		out[0] = '\0';
	for (size_t i = 0; keywords != NULL && keywords[i] != NULL; i++) {
		const char *k = keywords[i];
		bool had;

		if (strcasecmp(k, "size") == 0) {
			had = caps->size;
			caps->size = false;
			caps->size_max = 0;
		} else if (strcasecmp(k, "8bitmime") == 0) {
			had = caps->eightbitmime;
			caps->eightbitmime = false;
		} else if (strcasecmp(k, "pipelining") == 0) {
			had = caps->pipelining;
			caps->pipelining = false;
		} else if (strcasecmp(k, "enhancedstatuscodes") == 0) {
			had = caps->enhancedstatuscodes;
			caps->enhancedstatuscodes = false;
		} else if (strcasecmp(k, "dsn") == 0) {
			had = caps->dsn;
			caps->dsn = false;
		} else if (strcasecmp(k, "smtputf8") == 0) {
			had = caps->smtputf8;
			caps->smtputf8 = false;
		} else if (strcasecmp(k, "starttls") == 0) {
			had = caps->starttls;
			caps->starttls = false;
		} else if (strcasecmp(k, "auth") == 0) {
			had = caps->auth_plain || caps->auth_login;
			caps->auth_plain = caps->auth_login = false;
		} else if (strcasecmp(k, "xforward") == 0) {
			had = caps->xforward != 0;
			caps->xforward = 0;
		} else {
			continue;
		}
		if (!had)
			continue;
		n++;
		if (used < outsz) {
			int w = snprintf(out + used, outsz - used, "%s%s",
			    used > 0 ? " " : "", k);

			if (w > 0)
				used += (size_t)w;
		}
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Command text */

/* RFC 5321 4.1.2 atext (RFC 5322 3.2.3), plus UTF-8 bytes. */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Dot-string: atext runs separated by single dots. */
static bool
is_dot_string(const char *s, size_t n)
{
	bool after_dot = true;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (after_dot)
				return false;
			after_dot = true;
		} else if (is_atext(c))
			after_dot = false;
		else
			return false;
	}
	return !after_dot;
}

/* Quoted-string (RFC 5321 4.1.2): DQUOTE *( qtextSMTP /
 * quoted-pairSMTP ) DQUOTE. */
static bool
is_quoted_string(const char *s, size_t n)
{
	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return false;
	for (size_t i = 1; i < n - 1; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			if (++i >= n - 1)
				return false;
			c = (unsigned char)s[i];
			if (c < 32 || c == 127)
				return false;
		} else if (c == '"' || c < 32 || c == 127)
			return false;
	}
	return true;
}

int
lmtp_address_quote(const char *addr, struct buf *out)
{
	const char *at = strrchr(addr, '@');
	size_t ll = at != NULL ? (size_t)(at - addr) : strlen(addr);
	size_t start = out->len;

	for (const char *p = addr; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			return -1;
	if (addr[0] == '\0')
		return 0;
	if (is_dot_string(addr, ll) || is_quoted_string(addr, ll)) {
		if (buf_append(out, addr, ll) < 0)
			goto full;
	} else {
		if (buf_append_c(out, '"') < 0)
			goto full;
		for (size_t i = 0; i < ll; i++) {
			if ((addr[i] == '"' || addr[i] == '\\') &&
			    buf_append_c(out, '\\') < 0)
				goto full;
			if (buf_append_c(out, addr[i]) < 0)
				goto full;
		}
		if (buf_append_c(out, '"') < 0)
			goto full;
	}
	if (at != NULL && buf_append_str(out, at) < 0)
		goto full;
	return 0;
full:
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
	return -1;
}

int
lmtp_xtext_append(const char *s, struct buf *out)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	    p++) {
		int r;

		if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
			r = buf_appendf(out, "+%02X", *p);
		else
			r = buf_append_c(out, (char)*p);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* line_room - bytes the current line may still take; a full line is
 * continued first (CRLF SP) when more of it is to come. */
static size_t
line_room(struct lmtp_dot_state *st, struct buf *out, int *err)
{
	/* A continuation line starts with its SP: a limit below 2 would
	 * leave no room after it. */
	size_t limit = st->limit < 2 ? 2 : st->limit;

	if (st->limit == 0)
		return SIZE_MAX;
	if (st->col >= limit) {
		if (buf_append(out, "\r\n ", 3) < 0)
			*err = -1;
		st->col = 1;
	}
	return limit - st->col;
}

int
lmtp_dot_stuff(struct lmtp_dot_state *st, const char *data, size_t len,
    struct buf *out)
{
	size_t i = 0;
	int err = 0;

	while (i < len) {
		size_t j;

		if (st->cr) {
			st->cr = false;
			if (data[i] == '\n') {
				if (buf_append(out, "\r\n", 2) < 0)
					return -1;
				st->mid_line = false;
				st->col = 0;
				i++;
				continue;
			}
			/* A bare CR goes out as it is, inside a line. */
			(void)line_room(st, out, &err);
			if (err < 0 || buf_append_c(out, '\r') < 0)
				return -1;
			st->mid_line = true;
			st->col++;
		}
		if (data[i] == '\r') {
			st->cr = true;
			i++;
			continue;
		}
		if (data[i] == '\n') {
			if (buf_append(out, "\r\n", 2) < 0)
				return -1;
			st->mid_line = false;
			st->col = 0;
			i++;
			continue;
		}
		if (!st->mid_line && data[i] == '.') {
			if (buf_append_c(out, '.') < 0)
				return -1;
			st->col++;
		}
		for (j = i; j < len && data[j] != '\r' && data[j] != '\n'; j++)
			;
		/* The run of line bytes, in pieces that fit the limit. */
		while (i < j) {
			size_t room = line_room(st, out, &err), k = j - i;

			if (err < 0)
				return -1;
			if (k > room)
				k = room;
			if (buf_append(out, data + i, k) < 0)
				return -1;
			st->col += k;
			i += k;
		}
		st->mid_line = true;
	}
	return 0;
}

int
lmtp_dot_stuff_end(struct lmtp_dot_state *st, struct buf *out)
{
	/* A CR at the very end is taken as the end of the last line. */
	if (st->cr || st->mid_line) {
		if (buf_append(out, "\r\n", 2) < 0)
			return -1;
	}
	st->cr = false;
	st->mid_line = false;
	st->col = 0;
	return buf_append(out, ".\r\n", 3);
}

/* port_resolve - port as digits (a copy), or a service name's number
 * (tcp); NULL when neither. */
static char *
port_resolve(const char *port)
{
	struct servent *se;

	if (port[0] == '\0')
		return NULL;
	if (strspn(port, "0123456789") == strlen(port))
		return xstrdup(port);
	se = getservbyname(port, "tcp");
	if (se == NULL)
		return NULL;
	return xasprintf("%u", (unsigned)ntohs((uint16_t)se->s_port));
}

int
lmtp_dest_parse(const char *text, const char *default_port,
    struct endpoint *ep, char **error_r)
{
	const char *t = text, *hs, *he, *ps = NULL;
	char *host = NULL, *port = NULL, *spec = NULL;
	enum endpoint_status st;

	memset(ep, 0, sizeof(*ep));
	if (text[0] == '\0') {
		*error_r = xstrdup("no LMTP destination");
		return -1;
	}
	if (strncmp(text, "unix:", 5) == 0 || text[0] == '/') {
		st = endpoint_parse(text, ENDPOINT_BARE_PATH, ep);
		if (st != ENDPOINT_OK) {
			*error_r = xasprintf("bad LMTP destination %s: the "
			    "socket path is empty or longer than %zu bytes",
			    text, endpoint_path_max());
			return -1;
		}
		return 0;
	}
	if (strncmp(t, "inet:", 5) == 0)
		t += 5;
	if (t[0] == '[') {
		hs = t + 1;
		he = strchr(hs, ']');
		if (he == NULL || (he[1] != '\0' && he[1] != ':')) {
			*error_r = xasprintf("bad LMTP destination %s: '[' "
			    "without ']' or text after it", text);
			return -1;
		}
		if (he[1] == ':')
			ps = he + 2;
		if (he - hs > 5 && strncasecmp(hs, "ipv6:", 5) == 0)
			hs += 5;
	} else {
		const char *colon = strrchr(t, ':');

		if (colon != NULL && strchr(t, ':') != colon) {
			*error_r = xasprintf("bad LMTP destination %s: an IPv6 "
			    "address must be written in brackets", text);
			return -1;
		}
		hs = t;
		he = colon != NULL ? colon : t + strlen(t);
		if (colon != NULL)
			ps = colon + 1;
	}
	if (ps == NULL)
		ps = default_port != NULL ? default_port : "";
	port = port_resolve(ps);
	if (port == NULL) {
		*error_r = xasprintf("bad LMTP destination %s: unknown port "
		    "\"%s\"", text, ps);
		return -1;
	}
	host = xstrndup(hs, (size_t)(he - hs));
	spec = xasprintf("inet:[%s]:%s", host, port);
	st = endpoint_parse(spec, 0, ep);
	free(spec);
	if (st != ENDPOINT_OK) {
		*error_r = xasprintf("bad LMTP destination %s: %s", text,
		    st == ENDPOINT_BAD_PORT ? "the port is not 1-65535" :
		    "not a host name or address");
		free(host);
		free(port);
		return -1;
	}
	free(host);
	free(port);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The client */

struct lmtp_client {
	struct lmtp_session s;
	int fd;
	bool eof;		/* the server closed its side */
	SSL *ssl;		/* TLS active when set */
	struct tls_client_info tlsinfo;
	char *tls_error;	/* the last TLS I/O error, words */
	bool want_write;	/* SSL_read wants to write first */
	struct lmtp_reply_parser parser;
	struct buf in;		/* read, not yet parsed */
	struct buf out;		/* to send from outoff on */
	size_t outoff;
};

const char *
lmtp_stage_command(enum lmtp_stage st)
{
	switch (st) {
	case LMTP_STAGE_CONNECT:
		return "connect";
	case LMTP_STAGE_GREETING:
		return "initial greeting";
	case LMTP_STAGE_LHLO:
		return "LHLO";
	case LMTP_STAGE_MAIL:
		return "MAIL FROM";
	case LMTP_STAGE_RCPT:
		return "RCPT TO";
	case LMTP_STAGE_DATA:
		return "DATA";
	case LMTP_STAGE_MESSAGE:
		return "message content";
	case LMTP_STAGE_DOT:
		return "end of DATA";
	case LMTP_STAGE_RSET:
		return "RSET";
	case LMTP_STAGE_QUIT:
		return "QUIT";
	case LMTP_STAGE_STARTTLS:
		return "STARTTLS";
	case LMTP_STAGE_AUTH:
		return "AUTH";
	case LMTP_STAGE_XFORWARD:
		return "XFORWARD";
	}
	return "?";
}

const char *
lmtp_client_stage_command(const struct lmtp_client *c, enum lmtp_stage st)
{
	return lmtp_session_stage_command(&c->s, st);
}

void
lmtp_failure_deinit(struct lmtp_failure *f)
{
	free(f->text);
	lmtp_reply_deinit(&f->reply);
	memset(f, 0, sizeof(*f));
}

void
lmtp_rcpt_deinit(struct lmtp_rcpt *r)
{
	lmtp_reply_deinit(&r->reply);
	r->done = false;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline_of - the deadline timeout_ms from now, -1 for none. */
static int64_t
deadline_of(unsigned timeout_ms)
{
	return timeout_ms == 0 ? -1 : now_ms() + (int64_t)timeout_ms;
}

/* poll_ms - the poll() timeout until deadline (-1: none). */
static int
poll_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* close_conn - close the socket and forget the connection's state. */
static void
close_conn(struct lmtp_client *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	memset(&c->tlsinfo, 0, sizeof(c->tlsinfo));
	c->want_write = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->eof = false;
	buf_reset(&c->in);
	buf_reset(&c->out);
	c->outoff = 0;
	lmtp_reply_parser_deinit(&c->parser);
	lmtp_reply_parser_init(&c->parser);
}

/* tls_error_set - c->tls_error from the OpenSSL error queue (emptied)
 * after an SSL_read/SSL_write that failed with sslerr. */
static void
tls_error_set(struct lmtp_client *c, int sslerr, int err_no)
{
	free(c->tls_error);
	c->tls_error = lmtp_tls_io_error(sslerr, err_no);
}

/* tls_read_some - read_some over TLS: at most max bytes into c->in. */
static enum lmtp_io
tls_read_some(struct lmtp_client *c, char *tmp, size_t max)
{
	int n, se, e;

	c->want_write = false;
	ERR_clear_error();
	errno = 0;
	n = SSL_read(c->ssl, tmp, (int)max);
	if (n > 0) {
		if (buf_append(&c->in, tmp, (size_t)n) < 0)
			return LMTP_IO_OVERFLOW;
		return LMTP_IO_OK;
	}
	e = errno;
	se = SSL_get_error(c->ssl, n);
	switch (se) {
	case SSL_ERROR_WANT_READ:
		return LMTP_IO_OK;
	case SSL_ERROR_WANT_WRITE:
		c->want_write = true;
		return LMTP_IO_OK;
	case SSL_ERROR_ZERO_RETURN:
		c->eof = true;
		return LMTP_IO_EOF;
	}
	if (se == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && e == 0) {
		c->eof = true;
		return LMTP_IO_EOF;
	}
	tls_error_set(c, se, e);
	return LMTP_IO_TLS;
}

/* read_some - one read() into c->in (the socket is readable or at
 * EOF).  LMTP_IO_OK (bytes, or nothing yet), _EOF, _ERRNO, _OVERFLOW. */
static enum lmtp_io
read_some(struct lmtp_client *c)
{
	char tmp[LMTP_READ_BYTES];
	size_t room = LMTP_INPUT_MAX_BYTES - c->in.len;
	ssize_t n;

	if (room == 0)
		return LMTP_IO_OVERFLOW;
	if (c->ssl != NULL)
		return tls_read_some(c, tmp, room < sizeof(tmp) ? room :
		    sizeof(tmp));
	for (;;) {
		n = read(c->fd, tmp, room < sizeof(tmp) ? room : sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ?
		    LMTP_IO_OK : LMTP_IO_ERRNO;
	if (n == 0) {
		c->eof = true;
		return LMTP_IO_EOF;
	}
	if (buf_append(&c->in, tmp, (size_t)n) < 0)
		return LMTP_IO_OVERFLOW;
	return LMTP_IO_OK;
}

/*
 * last_words - after the connection broke while we were writing: read
 * what is still there without waiting and, if it holds complete
 * replies, the last one (a 421 or 554 sent before closing) as a new
 * string " (the server said: TEXT)"; else a new "".
 */
static char *
last_words(struct lmtp_client *c)
{
	for (int i = 0; i < 16 && !c->eof; i++)
		if (read_some(c) != LMTP_IO_OK || c->in.len == 0)
			break;
	return lmtp_said_in(&c->parser, &c->in);
}

/* io_fail - a failed read or write at st: fill *f (CONVERSATION) and
 * close the connection.  Returns -1. */
static int
io_fail(struct lmtp_client *c, struct lmtp_failure *f, enum lmtp_stage st,
    bool writing, enum lmtp_io io, int err, unsigned timeout_ms)
{
	char *said = NULL;

	if ((io == LMTP_IO_EOF || io == LMTP_IO_ERRNO || io == LMTP_IO_OK) &&
	    writing)
		said = last_words(c);
	lmtp_fail_io(&c->s, f, st, writing, c->ssl != NULL, io, err,
	    c->tls_error, said, timeout_ms);
	free(said);
	close_conn(c);
	return -1;
}

/*
 * send_some - send c->out from c->outoff until it would block: 1 all
 * sent (out emptied), 0 some remain (*want_read: TLS must read first),
 * -1 failed (errno, or c->tls_error set under TLS).  Under TLS a retry
 * after WANT_WRITE passes the same bytes (out only grows at its end
 * while they wait; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
static int
send_some(struct lmtp_client *c, bool *want_read)
{
	if (c->ssl == NULL)
		return buf_send(&c->out, &c->outoff, c->fd);
	while (c->outoff < c->out.len) {
		size_t n = c->out.len - c->outoff;
		int w, se, e;

		if (n > 16384)
			n = 16384;
		ERR_clear_error();
		errno = 0;
		w = SSL_write(c->ssl, c->out.data + c->outoff, (int)n);
		if (w > 0) {
			c->outoff += (size_t)w;
			continue;
		}
		e = errno;
		se = SSL_get_error(c->ssl, w);
		if (se == SSL_ERROR_WANT_WRITE)
			return 0;
		if (se == SSL_ERROR_WANT_READ) {
			*want_read = true;
			return 0;
		}
		tls_error_set(c, se, e);
		errno = e != 0 ? e : EPIPE;
		return -1;
	}
	buf_reset(&c->out);
	c->outoff = 0;
	return 1;
}

/*
 * flush - send c->out; while waiting to write, read what the server
 * sends (it may answer pipelined commands before it reads the rest).
 * timeout_ms bounds each wait for progress.  0, or -1 with *f.
 */
static int
flush(struct lmtp_client *c, enum lmtp_stage st, unsigned timeout_ms,
    struct lmtp_failure *f)
{
	int64_t deadline = deadline_of(timeout_ms);

	if (c->fd < 0)
		return io_fail(c, f, st, true, LMTP_IO_EOF, 0, 0);
	for (;;) {
		size_t before = c->out.len - c->outoff;
		struct pollfd pfd;
		bool want_read = false;
		int r = send_some(c, &want_read);

		if (r == 1)
			return 0;
		if (r < 0)
			return io_fail(c, f, st, true, c->ssl != NULL &&
			    c->tls_error != NULL ? LMTP_IO_TLS : LMTP_IO_ERRNO,
			    errno, timeout_ms);
		if (c->out.len - c->outoff < before)
			deadline = deadline_of(timeout_ms);
		pfd.fd = c->fd;
		pfd.events = (want_read ? 0 : POLLOUT) |
		    (c->eof ? 0 : POLLIN);
		pfd.revents = 0;
		r = poll(&pfd, 1, poll_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return io_fail(c, f, st, true, LMTP_IO_ERRNO, errno,
			    timeout_ms);
		if (r == 0)
			return io_fail(c, f, st, true, LMTP_IO_TIMEOUT, 0,
			    timeout_ms);
		if (!c->eof && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			enum lmtp_io io = read_some(c);

			if (io == LMTP_IO_OVERFLOW || io == LMTP_IO_ERRNO ||
			    io == LMTP_IO_TLS)
				return io_fail(c, f, st, true, io, errno,
				    timeout_ms);
		}
	}
}

/*
 * read_reply - the next reply, within timeout_ms.  0 with *reply_r
 * (caller deinits), or -1 with *f (CONVERSATION; connection closed).
 */
static int
read_reply(struct lmtp_client *c, enum lmtp_stage st, unsigned timeout_ms,
    struct lmtp_reply *reply_r, struct lmtp_failure *f)
{
	int64_t deadline = deadline_of(timeout_ms);

	memset(reply_r, 0, sizeof(*reply_r));
	if (c->fd < 0)
		return io_fail(c, f, st, false, LMTP_IO_EOF, 0, 0);
	for (;;) {
		struct pollfd pfd;
		enum lmtp_io io;
		int r;

		if (c->in.len > 0) {
			size_t used = 0;
			const char *err = NULL;

			r = lmtp_reply_parse(&c->parser, c->in.data, c->in.len,
			    &used, reply_r, &err);
			buf_consume(&c->in, used);
			if (r == 1) {
				lmtp_log_reply(&c->s, reply_r);
				return 0;
			}
			if (r < 0) {
				lmtp_fail_malformed(&c->s, f, st,
				    c->ssl != NULL, err);
				close_conn(c);
				return -1;
			}
		}
		if (c->eof)
			return io_fail(c, f, st, false, LMTP_IO_EOF, 0,
			    timeout_ms);
		if (c->ssl != NULL && SSL_has_pending(c->ssl) &&
		    !c->want_write) {
			size_t before = c->in.len;

			io = read_some(c);
			if (io == LMTP_IO_OVERFLOW || io == LMTP_IO_TLS)
				return io_fail(c, f, st, false, io, errno,
				    timeout_ms);
			if (c->in.len > before || c->eof)
				continue;
		}
		pfd.fd = c->fd;
		pfd.events = c->want_write ? POLLOUT : POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, poll_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return io_fail(c, f, st, false, LMTP_IO_ERRNO, errno,
			    timeout_ms);
		if (r == 0)
			return io_fail(c, f, st, false, LMTP_IO_TIMEOUT, 0,
			    timeout_ms);
		io = read_some(c);
		if (io == LMTP_IO_OVERFLOW || io == LMTP_IO_ERRNO ||
		    io == LMTP_IO_TLS)
			return io_fail(c, f, st, false, io, errno, timeout_ms);
	}
}

/* command_reply - flush, then the reply, at st within timeout_ms.  0
 * with *r, or -1 with *f. */
static int
command_reply(struct lmtp_client *c, enum lmtp_stage st, unsigned timeout_ms,
    struct lmtp_reply *r, struct lmtp_failure *f)
{
	if (flush(c, st, timeout_ms, f) < 0)
		return -1;
	return read_reply(c, st, timeout_ms, r, f);
}

/* refused - the reply of a command was not the one wanted: FAIL_REPLY
 * for 4xx/5xx (a 421 closes the connection: the server does), else
 * an unexpected reply (closed).  Takes the reply.  Returns -1. */
static int
refused(struct lmtp_client *c, enum lmtp_stage st, struct lmtp_reply *r,
    struct lmtp_failure *f)
{
	if (lmtp_fail_refused(&c->s, st, r, f))
		close_conn(c);
	return -1;
}

/* unexpected - a reply whose class makes no sense at st: closed.
 * Takes the reply.  Returns -1. */
static int
unexpected(struct lmtp_client *c, enum lmtp_stage st, struct lmtp_reply *r,
    struct lmtp_failure *f)
{
	lmtp_fail_unexpected(&c->s, st, r, f);
	close_conn(c);
	return -1;
}

static int
open_socket(struct lmtp_client *c, struct lmtp_failure *f)
{
	struct endpoint_addrs addrs = { 0 };
	bool bind_failed = false;
	int e, r, s = -1;

	if (c->s.ep.path != NULL) {
		c->fd = endpoint_unix_connect(c->s.ep.path);
		if (c->fd < 0) {
			lmtp_fail_connect(&c->s, f, errno, false);
			return -1;
		}
		return 0;
	}
	r = endpoint_inet_resolve(&addrs, c->s.ep.host, c->s.ep.port);
	if (r != 0) {
		lmtp_fail_resolve(&c->s, f, r);
		return -1;
	}
	for (;;) {
		r = endpoint_inet_try_from(&addrs, c->s.bind_address,
		    c->s.bind_address6, &s, &bind_failed);
		if (r < 0) {
			e = errno;
			break;
		}
		if (r == 0) {
			struct pollfd pfd = { s, POLLOUT, 0 };
			int64_t deadline = deadline_of(c->s.to.connect_ms);

			do
				r = poll(&pfd, 1, poll_ms(deadline));
			while (r < 0 && errno == EINTR);
			e = r == 0 ? ETIMEDOUT : r < 0 ? errno :
			    endpoint_connect_error(s);
			if (e != 0) {
				close(s);
				s = -1;
				continue;
			}
		}
		c->fd = s;
		endpoint_addrs_free(&addrs);
		return 0;
	}
	endpoint_addrs_free(&addrs);
	lmtp_fail_connect(&c->s, f, e, bind_failed);
	return -1;
}

/* hello - LHLO, or EHLO (falling back to HELO after a 5xx), and the
 * extensions (forgotten first).  0, or -1 with *f. */
static int
hello(struct lmtp_client *c, struct lmtp_failure *f)
{
	struct lmtp_reply r;

	lmtp_hello_command(&c->s, &c->out, false);
	if (command_reply(c, LMTP_STAGE_LHLO, c->s.to.lhlo_ms, &r, f) < 0)
		return -1;
	if (r.code / 100 == 5 && c->s.proto == LMTP_PROTO_SMTP) {
		/* RFC 5321 3.2: an old server; HELO, no extensions. */
		lmtp_reply_deinit(&r);
		lmtp_hello_command(&c->s, &c->out, true);
		if (command_reply(c, LMTP_STAGE_LHLO, c->s.to.lhlo_ms, &r,
		    f) < 0)
			return -1;
		if (r.code / 100 != 2)
			return refused(c, LMTP_STAGE_LHLO, &r, f);
		lmtp_reply_deinit(&r);
		return 0;
	}
	if (r.code / 100 != 2)
		return refused(c, LMTP_STAGE_LHLO, &r, f);
	lmtp_hello_caps(&c->s, &r);
	lmtp_reply_deinit(&r);
	return 0;
}

/* tls_fail - a LMTP_FAIL_TLS (dsn 4.7.5) at STARTTLS with the text
 * why (taken); closes the connection.  Returns -1. */
static int
tls_fail(struct lmtp_client *c, struct lmtp_failure *f, char *why)
{
	lmtp_fail_tls(f, why);
	close_conn(c);
	return -1;
}

/*
 * starttls - STARTTLS as the policy asks (see lmtp_client.h), the
 * handshake, the certificate check and the EHLO after.  0 (TLS active,
 * or not wanted/possible at level may), or -1 with *f.
 */
static int
starttls(struct lmtp_client *c, const struct tls_client_policy *pol,
    struct lmtp_failure *f)
{
	enum tls_client_level lev;
	struct lmtp_reply r;
	SSL *ssl;
	char *who, *why = NULL;
	int ret;

	ret = lmtp_starttls_plan(&c->s, pol, &lev, &who, f);
	if (ret <= 0) {
		if (ret < 0)
			close_conn(c);
		return ret;
	}
	/* Made first: a level that cannot be used fails before we say
	 * anything. */
	ssl = tls_client_ssl_new(c->s.tls_ctx, pol, c->fd, who, &why);
	if (ssl == NULL) {
		free(who);
		return tls_fail(c, f, why);
	}
	lmtp_command(&c->s, &c->out, "STARTTLS", NULL);
	if (command_reply(c, LMTP_STAGE_STARTTLS, c->s.to.starttls_ms, &r,
	    f) < 0) {
		SSL_free(ssl);
		free(who);
		return -1;
	}
	ret = lmtp_starttls_reply(&c->s, lev, who, &r, f);
	if (ret <= 0) {
		SSL_free(ssl);
		free(who);
		if (ret < 0)
			close_conn(c);
		return ret;
	}
	if (c->in.len > 0) {
		lmtp_fail_tls_injection(f, who, c->in.len);
		SSL_free(ssl);
		free(who);
		close_conn(c);
		return -1;
	}
	c->ssl = ssl;
	if (tls_client_handshake(c->ssl, who, c->s.to.starttls_ms, &why) < 0 ||
	    tls_client_check(c->ssl, pol, who, &c->tlsinfo, &why) < 0) {
		free(who);
		return tls_fail(c, f, why);
	}
	lmtp_log_tls(who, &c->tlsinfo);
	free(who);
	return hello(c, f);
}

/* auth - AUTH PLAIN (initial response) or LOGIN.  0, or -1 with *f
 * (the connection closed). */
static int
auth(struct lmtp_client *c, struct lmtp_failure *f)
{
	struct lmtp_reply r;
	bool plain;
	int step, ret;

	if (lmtp_auth_check(&c->s, c->ssl != NULL, f) < 0) {
		close_conn(c);
		return -1;
	}
	lmtp_auth_start(&c->s, &c->out, &plain);
	for (step = 0;; step++) {
		if (command_reply(c, LMTP_STAGE_AUTH, c->s.to.lhlo_ms, &r,
		    f) < 0)
			return -1;
		ret = lmtp_auth_reply(&c->s, &c->out, plain, step, &r, f);
		if (ret == 0)
			return 0;
		if (ret < 0) {
			close_conn(c);
			return -1;
		}
	}
}

/* greet - the greeting, LHLO/EHLO and its extensions, STARTTLS, AUTH.
 * 0, or -1 with *f. */
static int
greet(struct lmtp_client *c, const struct tls_client_policy *pol,
    struct lmtp_failure *f)
{
	struct lmtp_reply r;

	if (read_reply(c, LMTP_STAGE_GREETING, c->s.to.lhlo_ms, &r, f) < 0)
		return -1;
	if (r.code / 100 != 2)
		return refused(c, LMTP_STAGE_GREETING, &r, f);
	lmtp_reply_deinit(&r);
	if (hello(c, f) < 0)
		return -1;
	if (pol != NULL && starttls(c, pol, f) < 0)
		return -1;
	if (c->s.auth_user != NULL && auth(c, f) < 0)
		return -1;
	return 0;
}

struct lmtp_client *
lmtp_client_connect(const char *dest, const struct lmtp_client_settings *set,
    struct lmtp_failure *f)
{
	struct lmtp_client *c = xcalloc(1, sizeof(*c));

	c->fd = -1;
	lmtp_session_init(&c->s, set);
	lmtp_reply_parser_init(&c->parser);
	buf_init(&c->in, LMTP_INPUT_MAX_BYTES);
	buf_init(&c->out, LMTP_OUTPUT_MAX_BYTES);
	if (c->s.auth_user != NULL)
		buf_set_sensitive(&c->out);
	if (lmtp_session_start(&c->s, dest, f) < 0)
		goto fail;
	if (open_socket(c, f) < 0 || greet(c, set->tls, f) < 0)
		goto fail;
	lmtp_log_connected(&c->s, c->ssl != NULL);
	return c;
fail:
	lmtp_client_free(&c);
	return NULL;
}

const char *
lmtp_client_dest(const struct lmtp_client *c)
{
	return c->s.dest;
}

const struct lmtp_caps *
lmtp_client_caps(const struct lmtp_client *c)
{
	return &c->s.caps;
}

const struct tls_client_info *
lmtp_client_tls(const struct lmtp_client *c)
{
	return c->ssl != NULL ? &c->tlsinfo : NULL;
}

bool
lmtp_client_authenticated(const struct lmtp_client *c)
{
	return c->s.authenticated;
}

bool
lmtp_client_helo(const struct lmtp_client *c)
{
	return c->s.helo;
}

bool
lmtp_client_is_open(const struct lmtp_client *c)
{
	return c->fd >= 0;
}

/*
 * idle_gone - the socket of an idle connection is readable: gone, or
 * (TLS) only records without data arrived, such as the session tickets
 * of TLS 1.3, which SSL_read consumes?
 */
static bool
idle_gone(struct lmtp_client *c)
{
	struct pollfd pfd;

	if (c->ssl == NULL)
		return true;
	for (int i = 0; i < 16; i++) {
		if (read_some(c) != LMTP_IO_OK || c->in.len > 0 || c->eof ||
		    c->want_write)
			return true;
		if (SSL_has_pending(c->ssl))
			continue;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) <= 0)
			return false;
	}
	return true;
}

int
lmtp_client_reset(struct lmtp_client *c, struct lmtp_failure *f)
{
	struct pollfd pfd;
	struct lmtp_reply r;

	if (c->fd < 0)
		return io_fail(c, f, LMTP_STAGE_RSET, true, LMTP_IO_EOF, 0, 0);
	/* While idle the server may only have closed (perhaps after a
	 * 421): anything readable now means the connection is gone. */
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (c->in.len > 0 || (poll(&pfd, 1, 0) > 0 && idle_gone(c))) {
		char *said = last_words(c);

		lmtp_fail_idle(&c->s, f, said);
		free(said);
		close_conn(c);
		return -1;
	}
	lmtp_command(&c->s, &c->out, "RSET", NULL);
	if (command_reply(c, LMTP_STAGE_RSET, c->s.to.rset_ms, &r, f) < 0)
		return -1;
	if (r.code / 100 != 2) {
		refused(c, LMTP_STAGE_RSET, &r, f);
		close_conn(c);
		return -1;
	}
	lmtp_reply_deinit(&r);
	return 0;
}

/* send_message - DATA's content, dot-stuffed, and the final dot. */
static int
send_message(struct lmtp_client *c, const struct lmtp_mail *m,
    struct lmtp_failure *f)
{
	struct lmtp_dot_state ds = { .mid_line = false };
	size_t off = 0;

	while (off < m->len) {
		size_t n = m->len - off;

		if (n > LMTP_OUTPUT_FLUSH_BYTES)
			n = LMTP_OUTPUT_FLUSH_BYTES;
		if (lmtp_dot_stuff(&ds, m->content + off, n, &c->out) < 0)
			log_panic("lmtp: message buffer full");
		off += n;
		if (c->out.len >= LMTP_OUTPUT_FLUSH_BYTES &&
		    flush(c, LMTP_STAGE_MESSAGE, c->s.to.data_xfer_ms, f) < 0)
			return -1;
	}
	if (lmtp_dot_stuff_end(&ds, &c->out) < 0)
		log_panic("lmtp: message buffer full");
	lmtp_log_line(&c->s, ">", "(message) .", 11);
	return flush(c, LMTP_STAGE_MESSAGE, c->s.to.data_xfer_ms, f);
}

int
lmtp_client_send(struct lmtp_client *c, const struct lmtp_mail *m,
    struct lmtp_rcpt *rcpts, size_t n, struct lmtp_failure *f)
{
	struct lmtp_reply r;
	bool *accepted = NULL, mail_ok = true;
	size_t naccepted = 0, i;
	int ret = -1;

	for (i = 0; i < n; i++) {
		rcpts[i].done = false;
		memset(&rcpts[i].reply, 0, sizeof(rcpts[i].reply));
	}
	if (c->fd < 0)
		return io_fail(c, f, LMTP_STAGE_MAIL, true, LMTP_IO_EOF, 0, 0);
	if (n == 0)
		return 0;
	if (lmtp_check_mail(&c->s, m, rcpts, n, f) < 0)
		return -1;
	/* XFORWARD first when there is some to say (each awaited). */
	for (i = 0; lmtp_xforward_command(&c->s, &c->out, m, i); i++) {
		if (command_reply(c, LMTP_STAGE_XFORWARD, c->s.to.mail_ms, &r,
		    f) < 0)
			return -1;
		if (lmtp_xforward_reply(&c->s, &r, f) < 0) {
			close_conn(c);
			return -1;
		}
	}
	accepted = xcalloc(n, sizeof(*accepted));

	/* MAIL FROM and RCPT TO: pipelined when offered (RFC 2920; an
	 * LMTP server must offer it, RFC 2033 4.1) */
	lmtp_mail_command(&c->s, &c->out, m);
	if (!c->s.caps.pipelining) {
		if (flush(c, LMTP_STAGE_MAIL, c->s.to.mail_ms, f) < 0)
			goto out;
	}
	for (i = 0; c->s.caps.pipelining && i < n; i++) {
		lmtp_rcpt_command(&c->s, &c->out, &rcpts[i]);
		if (c->out.len >= LMTP_OUTPUT_FLUSH_BYTES &&
		    flush(c, LMTP_STAGE_RCPT, c->s.to.rcpt_ms, f) < 0)
			goto out;
	}
	if (c->s.caps.pipelining &&
	    flush(c, LMTP_STAGE_RCPT, c->s.to.rcpt_ms, f) < 0)
		goto out;
	if (read_reply(c, LMTP_STAGE_MAIL, c->s.to.mail_ms, &r, f) < 0)
		goto out;
	if (r.code / 100 != 2) {
		refused(c, LMTP_STAGE_MAIL, &r, f);
		if (f->kind != LMTP_FAIL_REPLY || !c->s.caps.pipelining ||
		    c->fd < 0)
			goto out;
		mail_ok = false;
	} else
		lmtp_reply_deinit(&r);
	if (!mail_ok) {
		/* f says why; the RCPT replies (errors) keep the stream in
		 * step.  If that fails the connection is closed, and the
		 * refusal of MAIL is still the answer. */
		struct lmtp_failure f2 = { 0 };

		for (i = 0; i < n; i++) {
			if (read_reply(c, LMTP_STAGE_RCPT, c->s.to.rcpt_ms, &r,
			    &f2) < 0)
				break;
			lmtp_reply_deinit(&r);
		}
		lmtp_failure_deinit(&f2);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!c->s.caps.pipelining) {
			lmtp_rcpt_command(&c->s, &c->out, &rcpts[i]);
			if (flush(c, LMTP_STAGE_RCPT, c->s.to.rcpt_ms, f) < 0)
				goto out;
		}
		if (read_reply(c, LMTP_STAGE_RCPT, c->s.to.rcpt_ms, &r, f) < 0)
			goto out;
		if (r.code / 100 == 2 && m->verify_only) {
			rcpts[i].done = true;
			rcpts[i].stage = LMTP_STAGE_RCPT;
			rcpts[i].reply = r;
		} else if (r.code / 100 == 2) {
			accepted[i] = true;
			naccepted++;
			lmtp_reply_deinit(&r);
		} else if (r.code / 100 == 4 || r.code / 100 == 5) {
			rcpts[i].done = true;
			rcpts[i].stage = LMTP_STAGE_RCPT;
			rcpts[i].reply = r;
		} else {
			unexpected(c, LMTP_STAGE_RCPT, &r, f);
			goto out;
		}
	}
	if (naccepted == 0) {
		ret = 0;
		goto out;
	}

	/* DATA, the message, and one reply per accepted recipient. */
	lmtp_command(&c->s, &c->out, "DATA", NULL);
	if (command_reply(c, LMTP_STAGE_DATA, c->s.to.data_init_ms, &r, f) < 0)
		goto out;
	if (r.code / 100 != 3) {
		refused(c, LMTP_STAGE_DATA, &r, f);
		goto out;
	}
	lmtp_reply_deinit(&r);
	if (send_message(c, m, f) < 0)
		goto out;
	if (c->s.proto == LMTP_PROTO_SMTP) {
		/* SMTP: one reply for the whole transaction. */
		if (read_reply(c, LMTP_STAGE_DOT, c->s.to.data_done_ms, &r,
		    f) < 0)
			goto out;
		if (r.code / 100 == 3) {
			unexpected(c, LMTP_STAGE_DOT, &r, f);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (!accepted[i])
				continue;
			rcpts[i].done = true;
			rcpts[i].stage = LMTP_STAGE_DOT;
			lmtp_reply_copy(&rcpts[i].reply, &r);
		}
		lmtp_reply_deinit(&r);
		ret = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!accepted[i])
			continue;
		if (read_reply(c, LMTP_STAGE_DOT, c->s.to.data_done_ms, &r,
		    f) < 0)
			goto out;
		if (r.code / 100 == 3) {
			unexpected(c, LMTP_STAGE_DOT, &r, f);
			goto out;
		}
		rcpts[i].done = true;
		rcpts[i].stage = LMTP_STAGE_DOT;
		rcpts[i].reply = r;
	}
	ret = 0;
out:
	free(accepted);
	return ret;
}

void
lmtp_client_quit(struct lmtp_client **cp)
{
	struct lmtp_client *c = *cp;
	struct lmtp_failure f = { 0 };
	struct lmtp_reply r;

	if (c == NULL)
		return;
	if (c->fd >= 0) {
		buf_reset(&c->out);
		c->outoff = 0;
		lmtp_command(&c->s, &c->out, "QUIT", NULL);
		if (command_reply(c, LMTP_STAGE_QUIT, c->s.to.quit_ms, &r,
		    &f) == 0)
			lmtp_reply_deinit(&r);
		lmtp_failure_deinit(&f);
		/* One close_notify, not waited for. */
		if (c->ssl != NULL && c->fd >= 0) {
			(void)SSL_shutdown(c->ssl);
			ERR_clear_error();
		}
	}
	lmtp_client_free(cp);
}

void
lmtp_client_free(struct lmtp_client **cp)
{
	struct lmtp_client *c = *cp;

	if (c == NULL)
		return;
	close_conn(c);
	lmtp_reply_parser_deinit(&c->parser);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	lmtp_session_deinit(&c->s);
	free(c->tls_error);
	free(c);
	*cp = NULL;
}
