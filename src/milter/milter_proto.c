/* SPDX-License-Identifier: MIT */
/*
 * milter_proto - Milter packets and message edits (milter_proto.h).
 */
#include "milter_proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

/* ---------------------------------------------------------------- */
/* Packets out                                                      */

int
milter_put(struct buf *b, char cmd, const void *data, size_t len)
{
	unsigned char hdr[5];
	uint32_t n;
	size_t mark = b->len;

	if (len > MILTER_PKT_MAX - 1)
		return -1;
	n = htonl((uint32_t)(len + 1));
	memcpy(hdr, &n, 4);
	hdr[4] = (unsigned char)cmd;
	if (buf_append(b, hdr, sizeof(hdr)) < 0)
		return -1;
	if (len > 0 && buf_append(b, data, len) < 0) {
		b->len = mark;
		if (b->data != NULL)
			b->data[mark] = '\0';
		return -1;
	}
	return 0;
}

int
milter_put_strs(struct buf *b, char cmd, const char *const *v, size_t n)
{
	struct buf d;
	int r = 0;

	buf_init(&d, MILTER_PKT_MAX);
	for (size_t i = 0; i < n && r == 0; i++)
		if (buf_append(&d, v[i], strlen(v[i]) + 1) < 0)
			r = -1;
	if (r == 0)
		r = milter_put(b, cmd, d.data, d.len);
	buf_deinit(&d);
	return r;
}

int
milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions,
    uint32_t proto)
{
	uint32_t w[3] = { htonl(version), htonl(actions), htonl(proto) };

	return milter_put(b, SMFIC_OPTNEG, w, sizeof(w));
}

int
milter_put_connect(struct buf *b, const char *host, char family,
    unsigned port, const char *addr)
{
	struct buf d;
	int r = 0;

	buf_init(&d, MILTER_PKT_MAX);
	if (buf_append(&d, host, strlen(host) + 1) < 0 ||
	    buf_append_c(&d, family) < 0)
		r = -1;
	if (r == 0 && (family == '4' || family == '6')) {
		uint16_t p = htons((uint16_t)port);

		if (buf_append(&d, &p, 2) < 0 ||
		    buf_append(&d, addr, strlen(addr) + 1) < 0)
			r = -1;
	}
	if (r == 0)
		r = milter_put(b, SMFIC_CONNECT, d.data, d.len);
	buf_deinit(&d);
	return r;
}

int
milter_put_macros(struct buf *b, char stage_cmd, const char *const *nv)
{
	struct buf d;
	int r = 0;

	if (nv == NULL || nv[0] == NULL)
		return 0;
	buf_init(&d, MILTER_PKT_MAX);
	if (buf_append_c(&d, stage_cmd) < 0)
		r = -1;
	for (size_t i = 0; r == 0 && nv[i] != NULL && nv[i + 1] != NULL;
	    i += 2)
		if (buf_append(&d, nv[i], strlen(nv[i]) + 1) < 0 ||
		    buf_append(&d, nv[i + 1], strlen(nv[i + 1]) + 1) < 0)
			r = -1;
	if (r == 0)
		r = milter_put(b, SMFIC_MACRO, d.data, d.len);
	buf_deinit(&d);
	return r;
}

/* ---------------------------------------------------------------- */
/* Packets in                                                       */

int
milter_pkt_parse(const char *buf, size_t len, char *cmd, const char **data,
    size_t *dlen, size_t *used, const char **error_r)
{
	uint32_t n;

	if (len < 4)
		return 0;
	memcpy(&n, buf, 4);
	n = ntohl(n);
	if (n == 0) {
		*error_r = "a packet of length 0";
		return -1;
	}
	if (n > MILTER_PKT_MAX) {
		*error_r = "a packet longer than the protocol allows";
		return -1;
	}
	if (len - 4 < n)
		return 0;
	*cmd = buf[4];
	*data = buf + 5;
	*dlen = n - 1;
	*used = 4 + (size_t)n;
	return 1;
}

static uint32_t
get_u32(const char *p)
{
	uint32_t n;

	memcpy(&n, p, 4);
	return ntohl(n);
}

int
milter_optneg_parse(const char *data, size_t len, struct milter_optneg *o,
    const char **error_r)
{
	size_t pos = 12;

	memset(o, 0, sizeof(*o));
	if (len < 12) {
		*error_r = "the option negotiation reply is too short";
		return -1;
	}
	o->version = get_u32(data);
	o->actions = get_u32(data + 4);
	o->proto = get_u32(data + 8);
	if (o->version < MILTER_VERSION_MIN) {
		*error_r = "the filter speaks a protocol version older than 2";
		return -1;
	}
	while (pos < len) {
		uint32_t stage;
		const char *nul;

		if (len - pos < 5) {
			*error_r = "a malformed macro list in the option "
			    "negotiation reply";
			return -1;
		}
		stage = get_u32(data + pos);
		pos += 4;
		nul = memchr(data + pos, '\0', len - pos);
		if (nul == NULL || stage >= MILTER_STAGE__COUNT) {
			*error_r = "a malformed macro list in the option "
			    "negotiation reply";
			return -1;
		}
		free(o->macros[stage]);
		o->macros[stage] = xstrdup(data + pos);
		pos = (size_t)(nul - data) + 1;
	}
	return 0;
}

void
milter_optneg_deinit(struct milter_optneg *o)
{
	for (size_t i = 0; i < MILTER_STAGE__COUNT; i++) {
		free(o->macros[i]);
		o->macros[i] = NULL;
	}
}

int
milter_strings_range(const char *data, size_t len, const char **out,
    size_t min, size_t max)
{
	size_t n = 0, pos = 0;

	while (pos < len) {
		const char *nul = memchr(data + pos, '\0', len - pos);

		if (nul == NULL || n == max)
			return -1;
		out[n++] = data + pos;
		pos = (size_t)(nul - data) + 1;
	}
	return n < min ? -1 : (int)n;
}

int
milter_strings(const char *data, size_t len, const char **out, size_t n)
{
	return milter_strings_range(data, len, out, n, n) < 0 ? -1 : 0;
}

int
milter_replycode(const char *text, char *out, size_t outsz,
    const char **error_r)
{
	const char *p = text, *t;
	size_t n;
	char cls;

	if (!(p[0] == '4' || p[0] == '5') || !isdigit((unsigned char)p[1]) ||
	    !isdigit((unsigned char)p[2]) || (p[3] != ' ' && p[3] != '-' &&
	    p[3] != '\0')) {
		*error_r = "the reply code is not a 4xx or 5xx SMTP code";
		return -1;
	}
	cls = p[0];
	t = p[3] == '\0' ? p + 3 : p + 4;
	/* The first line only. */
	n = strcspn(t, "\r\n");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 && t[i] != '\t') {
			*error_r = "the reply text holds control characters";
			return -1;
		}
	/* An enhanced code "c.d.d" whose class must match. */
	if ((t[0] == '4' || t[0] == '5') && t[1] == '.') {
		size_t e = strspn(t, "0123456789.");

		if (t[0] != cls) {
			*error_r = "the enhanced status code does not match "
			    "the reply code";
			return -1;
		}
		if (snprintf(out, outsz, "%.3s %.*s", p, (int)n, t) < 0)
			return -1;
		(void)e;
	} else if (snprintf(out, outsz, "%.3s %c.7.1 %.*s", p, cls, (int)n,
	    t) < 0) {
		return -1;
	}
	/* No trailing blank ("550 5.7.1 " from an empty text). */
	n = strlen(out);
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- */
/* The message                                                      */

/* line_end - the end of the line at p (after its LF), or end. */
static const char *
line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	return lf != NULL ? lf + 1 : end;
}

/* header_name_len - length of the field name of a header line, 0 when
 * the line is not "name:". */
static size_t
header_name_len(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && p[n] != ':') {
		unsigned char c = (unsigned char)p[n];

		if (c <= ' ' || c >= 0x7f)
			return 0;
		n++;
	}
	return p + n < end && n > 0 ? n : 0;
}

/* memdup - n bytes of p (any octet) and a NUL after them. */
static char *
memdup(const char *p, size_t n)
{
	char *d = xmalloc(n + 1);

	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

static void
hdr_push(struct milter_msg *m, char *name, char *raw, size_t rawlen)
{
	if (m->nh == m->caph) {
		m->caph = m->caph ? m->caph * 2 : 16;
		m->h = xreallocarray(m->h, m->caph, sizeof(*m->h));
	}
	m->h[m->nh].name = name;
	m->h[m->nh].raw = raw;
	m->h[m->nh].rawlen = rawlen;
	m->nh++;
}

static void
recount(struct milter_msg *m)
{
	m->size = m->tracelen + m->bodylen + (m->blank ? 2 : 0);
	for (size_t i = 0; i < m->nh; i++)
		m->size += m->h[i].rawlen;
}

int
milter_msg_split(struct milter_msg *m, const char *content, size_t len,
    unsigned skip_first)
{
	const char *p = content, *end = content + len;
	const char *trace_start = content;

	memset(m, 0, sizeof(*m));
	while (p < end) {
		const char *e = line_end(p, end), *q;
		size_t nl;

		if (e - p == 2 && p[0] == '\r' && p[1] == '\n') {
			/* The empty line. */
			m->blank = true;
			p = e;
			break;
		}
		nl = header_name_len(p, end);
		if (nl == 0)
			break;	/* not a header: the body starts here */
		/* The continuation lines. */
		q = e;
		while (q < end && (*q == ' ' || *q == '\t'))
			q = line_end(q, end);
		if (skip_first > 0) {
			skip_first--;
			m->tracelen = (size_t)(q - trace_start);
			p = q;
			continue;
		}
		if (m->nh == MILTER_HDRS_MAX) {
			milter_msg_free(m);
			return -1;
		}
		hdr_push(m, xstrndup(p, nl), memdup(p, (size_t)(q - p)),
		    (size_t)(q - p));
		p = q;
	}
	if (m->tracelen > 0)
		m->trace = memdup(trace_start, m->tracelen);
	m->bodylen = (size_t)(end - p);
	m->body = memdup(p, m->bodylen);
	recount(m);
	return 0;
}

void
milter_msg_free(struct milter_msg *m)
{
	for (size_t i = 0; i < m->nh; i++) {
		free(m->h[i].name);
		free(m->h[i].raw);
	}
	free(m->h);
	free(m->trace);
	free(m->body);
	memset(m, 0, sizeof(*m));
}

int
milter_msg_join(const struct milter_msg *m, struct buf *out)
{
	if (m->tracelen > 0 && buf_append(out, m->trace, m->tracelen) < 0)
		return -1;
	for (size_t i = 0; i < m->nh; i++)
		if (buf_append(out, m->h[i].raw, m->h[i].rawlen) < 0)
			return -1;
	if (m->blank && buf_append(out, "\r\n", 2) < 0)
		return -1;
	if (m->bodylen > 0 && buf_append(out, m->body, m->bodylen) < 0)
		return -1;
	return 0;
}

void
milter_hdr_value(const struct milter_hdr *h, bool leadspc, char *out,
    size_t outsz)
{
	const char *p = h->raw + strlen(h->name) + 1;
	const char *end = h->raw + h->rawlen;
	size_t n = 0;

	if (outsz == 0)
		return;
	if (!leadspc)
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	/* Without the last line end. */
	if (end > p && end[-1] == '\n')
		end--;
	if (end > p && end[-1] == '\r')
		end--;
	for (; p < end && n + 1 < outsz; p++) {
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			continue;	/* folded: LF alone */
		out[n++] = *p;
	}
	out[n] = '\0';
}

static int
check_name(const char *name, const char **error_r)
{
	size_t n = strlen(name);

	if (n == 0 || n > 997) {
		*error_r = "an empty or over-long header name";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 0x7f || c == ':') {
			*error_r = "a header name with a character RFC 5322 "
			    "does not allow";
			return -1;
		}
	}
	return 0;
}

/* make_raw - "Name: value" CRLF with the folding made safe. */
static char *
make_raw(const char *name, const char *value, bool leadspc, size_t *len_r,
    const char **error_r)
{
	struct buf b;
	const char *v = value;

	if (check_name(name, error_r) < 0)
		return NULL;
	buf_init(&b, (size_t)-1 / 2);
	(void)buf_append_str(&b, name);
	(void)buf_append_c(&b, ':');
	if (!leadspc && *v != '\0')
		(void)buf_append_c(&b, ' ');
	for (; *v != '\0'; v++) {
		if (*v == '\r' && v[1] != '\n') {
			buf_deinit(&b);
			*error_r = "a header value with a lone carriage return";
			return NULL;
		}
		if (*v == '\r')
			continue;
		if (*v == '\n') {
			/* A folded line with nothing on it would read as the
			 * end of the headers to some parsers: dropped. */
			size_t blank = strspn(v + 1, " \t");

			if (v[1 + blank] == '\0' || v[1 + blank] == '\n' ||
			    (v[1 + blank] == '\r' && v[2 + blank] == '\n'))
				continue;
			(void)buf_append(&b, "\r\n", 2);
			if (v[1] != ' ' && v[1] != '\t')
				(void)buf_append_c(&b, '\t');
			continue;
		}
		(void)buf_append_c(&b, *v);
	}
	(void)buf_append(&b, "\r\n", 2);
	*len_r = b.len;
	return buf_steal(&b);
}

/* terminate - text that must be followed by another header ends with
 * a line end (a message cut after a header without one: BDAT). */
static void
terminate(char **text, size_t *len)
{
	if (*len > 0 && (*text)[*len - 1] != '\n') {
		*text = xreallocarray(*text, *len + 3, 1);
		memcpy(*text + *len, "\r\n", 3);
		*len += 2;
	}
}

int
milter_msg_insert(struct milter_msg *m, uint32_t idx, const char *name,
    const char *value, bool leadspc, const char **error_r)
{
	size_t len;
	char *raw = make_raw(name, value, leadspc, &len, error_r);

	if (raw == NULL)
		return -1;
	terminate(&m->trace, &m->tracelen);
	for (size_t i = 0; i < m->nh; i++)
		terminate(&m->h[i].raw, &m->h[i].rawlen);
	/* A message that had no header section: its first line, which may
	 * start with white space, must not continue the new header. */
	if (!m->blank && m->bodylen > 0 && m->nh == 0)
		m->blank = true;
	if (m->nh == MILTER_HDRS_MAX) {
		free(raw);
		*error_r = "too many headers";
		return -1;
	}
	hdr_push(m, xstrdup(name), raw, len);
	if (idx < m->nh - 1) {
		struct milter_hdr h = m->h[m->nh - 1];

		memmove(&m->h[idx + 1], &m->h[idx],
		    (m->nh - 1 - idx) * sizeof(*m->h));
		m->h[idx] = h;
	}
	recount(m);
	return 0;
}

int
milter_msg_add(struct milter_msg *m, const char *name, const char *value,
    bool leadspc, const char **error_r)
{
	return milter_msg_insert(m, UINT32_MAX, name, value, leadspc,
	    error_r);
}

int
milter_msg_change(struct milter_msg *m, uint32_t idx, const char *name,
    const char *value, bool leadspc, const char **error_r)
{
	uint32_t seen = 0;

	if (check_name(name, error_r) < 0)
		return -1;
	if (idx == 0)
		idx = 1;
	for (size_t i = 0; i < m->nh; i++) {
		size_t len;
		char *raw;

		if (strcasecmp(m->h[i].name, name) != 0 || ++seen != idx)
			continue;
		if (*value == '\0') {
			free(m->h[i].name);
			free(m->h[i].raw);
			memmove(&m->h[i], &m->h[i + 1],
			    (m->nh - i - 1) * sizeof(*m->h));
			m->nh--;
			recount(m);
			return 0;
		}
		/* The header keeps its name as it was written. */
		raw = make_raw(m->h[i].name, value, leadspc, &len, error_r);
		if (raw == NULL)
			return -1;
		free(m->h[i].raw);
		m->h[i].raw = raw;
		m->h[i].rawlen = len;
		recount(m);
		return 0;
	}
	if (*value == '\0')
		return 0;
	return milter_msg_add(m, name, value, leadspc, error_r);
}

void
milter_msg_set_body(struct milter_msg *m, char *body, size_t len)
{
	struct buf b;

	buf_init(&b, (size_t)-1 / 2);
	for (size_t i = 0; i < len; i++) {
		if (body[i] == '\r') {
			(void)buf_append(&b, "\r\n", 2);
			if (i + 1 < len && body[i + 1] == '\n')
				i++;
		} else if (body[i] == '\n') {
			(void)buf_append(&b, "\r\n", 2);
		} else {
			(void)buf_append_c(&b, body[i]);
		}
	}
	if (b.len > 0 && b.data[b.len - 1] != '\n')
		(void)buf_append(&b, "\r\n", 2);
	free(body);
	free(m->body);
	m->bodylen = b.len;
	m->body = buf_steal(&b);
	/* A body needs the empty line before it. */
	if (m->bodylen > 0)
		m->blank = true;
	recount(m);
}
