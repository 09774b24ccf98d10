/* SPDX-License-Identifier: MIT */
/*
 * peer_match - match lists of client peers; see peer_match.h.
 *
 * Runs wherever a list is configured (master when checking, smtpd at
 * startup); needs no privileges beyond reading the files a list names.
 * Addresses are parsed with inet_pton only; nothing here resolves names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "log.h"
#include "peer_match.h"
#include "strnum.h"
#include "xalloc.h"

#define PEER_SEPARATORS ", \t\r\n\v\f"
/* Longest reason in an error message (without file, line and element). */
#define PEER_ERROR_WHY_MAX_BYTES 512
/* Bytes of an element or file name quoted in an error message. */
#define PEER_ERROR_QUOTE_BYTES 100
/* Room for "file:line: ", the quoted element and the reason. */
#define PEER_ERROR_MAX_BYTES \
	(2 * (PEER_ERROR_QUOTE_BYTES * 4 + 40) + PEER_ERROR_WHY_MAX_BYTES)
#define PEER_ADDR_TEXT_MAX_BYTES 64

enum peer_pat_type {
	PEER_PAT_NET,	/* address or network */
	PEER_PAT_NAME,	/* host or domain name */
	PEER_PAT_TABLE,	/* type:table, looked up */
};

struct peer_pat {
	enum peer_pat_type type;
	bool negate;
	/* PEER_PAT_NET */
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network byte order, host bits zero */
	unsigned prefix;	/* 0..32 or 0..128 */
	/* PEER_PAT_NAME */
	char *name;		/* lower case, no leading or trailing dot */
	bool subdomains_only;	/* written as ".example.com" */
	/* PEER_PAT_TABLE: name is the element as written ("cidr:/x") */
	struct dict *dict;	/* NULL: accepted, not opened */
};

struct peer_list {
	struct peer_pat *pats;
	size_t n;
	size_t cap;
	bool parent_matches;	/* parent_domain_matches_subdomains */
};

/* State of one parse: where the text being parsed comes from. */
struct peer_parse {
	struct peer_list *pl;
	peer_table_opener *open;	/* NULL: tables refused */
	void *open_ctx;
	const char *file;	/* NULL for the parameter value itself */
	unsigned line;
};

/* Error text of the last failed parse in this thread (see the header). */
static _Thread_local char peer_error_buf[PEER_ERROR_MAX_BYTES];

/* peer_fail - format the error for element e (len bytes) into the buffer. */
static void peer_fail(const struct peer_parse *pp, const char *e, size_t len,
    const char *fmt, ...) ATTR_FORMAT(4, 5);

static void
peer_fail(const struct peer_parse *pp, const char *e, size_t len,
    const char *fmt, ...)
{
	char where[PEER_ERROR_QUOTE_BYTES * 4 + 32] = "";
	char elem[PEER_ERROR_QUOTE_BYTES * 4 + 8];
	char why[PEER_ERROR_WHY_MAX_BYTES];
	va_list ap;

	if (pp->file != NULL) {
		char esc[PEER_ERROR_QUOTE_BYTES * 4 + 8];

		log_escape(esc, sizeof(esc), pp->file, strlen(pp->file),
		    PEER_ERROR_QUOTE_BYTES);
		snprintf(where, sizeof(where), "%s:%u: ", esc, pp->line);
	}
	log_escape(elem, sizeof(elem), e, len, PEER_ERROR_QUOTE_BYTES);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(peer_error_buf, sizeof(peer_error_buf), "%s\"%s\": %s",
	    where, elem, why);
}

/* peer_add - append a pattern slot to the list and return it, zeroed. */
static struct peer_pat *
peer_add(struct peer_list *pl)
{
	struct peer_pat *p;

	if (pl->n == pl->cap) {
		pl->cap = pl->cap == 0 ? 8 : pl->cap * 2;
		pl->pats = xreallocarray(pl->pats, pl->cap, sizeof(*pl->pats));
	}
	p = &pl->pats[pl->n++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* peer_addr_len - bytes of an address of that family. */
static size_t
peer_addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/*
 * peer_unmap - turn an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into
 * IPv4, adjusting *prefix if not NULL; returns true if it did.  Only
 * networks that lie inside ::ffff:0:0/96 are turned.
 */
static bool
peer_unmap(int *family, unsigned char addr[16], unsigned *prefix)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	if (*family != AF_INET6 || memcmp(addr, mapped, 12) != 0)
		return false;
	if (prefix != NULL) {
		if (*prefix < 96)
			return false;
		*prefix -= 96;
	}
	memmove(addr, addr + 12, 4);
	memset(addr + 4, 0, 12);
	*family = AF_INET;
	return true;
}

/* peer_prefix_match - do the first prefix bits of a and b agree? */
static bool
peer_prefix_match(const unsigned char *a, const unsigned char *b,
    unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;
	unsigned char mask;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/*
 * peer_parse_net - add an address or network pattern.  e/elen is the
 * whole element (for errors), addr the address text, ptext the prefix
 * length text or NULL; family is AF_INET, AF_INET6 or AF_UNSPEC (either).
 */
static int
peer_parse_net(struct peer_parse *pp, const char *e, size_t elen,
    bool negate, const char *addr, const char *ptext, int family)
{
	unsigned char a[16] = { 0 }, net[16];
	unsigned bits, prefix;
	long long v;
	const char *err;
	struct peer_pat *p;

	if ((family == AF_INET6 || family == AF_UNSPEC) &&
	    inet_pton(AF_INET6, addr, a) == 1) {
		family = AF_INET6;
	} else if ((family == AF_INET || family == AF_UNSPEC) &&
	    inet_pton(AF_INET, addr, a) == 1) {
		family = AF_INET;
	} else {
		peer_fail(pp, e, elen, "%s", family == AF_INET ?
		    "invalid IPv4 address" : family == AF_INET6 ?
		    "invalid IPv6 address" : "invalid IP address");
		return -1;
	}
	bits = family == AF_INET ? 32 : 128;
	prefix = bits;
	if (ptext != NULL) {
		/* Digits only: no sign, no space, no leading zero. */
		if (strspn(ptext, "0123456789") != strlen(ptext) ||
		    strlen(ptext) > 3 ||
		    (ptext[0] == '0' && ptext[1] != '\0') ||
		    strnum_parse_ll(ptext, 0, bits, &v, &err) < 0) {
			peer_fail(pp, e, elen, "invalid prefix length "
			    "(expected a number from 0 to %u after '/')", bits);
			return -1;
		}
		prefix = (unsigned)v;
	}
	memset(net, 0, sizeof(net));
	memcpy(net, a, prefix / 8);
	if (prefix % 8 != 0)
		net[prefix / 8] = (unsigned char)(a[prefix / 8] &
		    (0xff << (8 - prefix % 8)));
	if (memcmp(net, a, peer_addr_len(family)) != 0) {
		char ntext[INET6_ADDRSTRLEN] = "?";

		inet_ntop(family, net, ntext, sizeof(ntext));
		peer_fail(pp, e, elen, "the host part (the last %u of %u "
		    "bits) is not zero; the network is %s%s%s/%u",
		    bits - prefix, bits, family == AF_INET6 ? "[" : "",
		    ntext, family == AF_INET6 ? "]" : "", prefix);
		return -1;
	}
	peer_unmap(&family, a, &prefix);

	p = peer_add(pp->pl);
	p->type = PEER_PAT_NET;
	p->negate = negate;
	p->family = family;
	memcpy(p->addr, a, sizeof(p->addr));
	p->prefix = prefix;
	return 0;
}

/* peer_is_table - does s look like "type:name" rather than IPv6 text? */
static bool
peer_is_table(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t tl;

	if (colon == NULL || colon == s || colon[1] == ':')
		return false;
	tl = (size_t)(colon - s);
	if (!(*s >= 'a' && *s <= 'z') ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") != tl)
		return false;
	/* Hex, colons, dots and a prefix: a mistyped IPv6 address. */
	return strspn(s, "0123456789abcdefABCDEF:./") != strlen(s);
}

/*
 * peer_parse_name - add a host or domain name pattern: labels of
 * letters, digits, '-' and '_' (RFC 1035 2.3.1 plus the '_' found in
 * practice), at most 63 bytes each and 253 in all; an optional leading
 * '.' (subdomains only) and trailing '.' (root).
 */
static int
peer_parse_name(struct peer_parse *pp, const char *e, size_t elen,
    bool negate, const char *s)
{
	bool sub = false;
	size_t len, label = 0;
	struct peer_pat *p;

	if (*s == '.') {
		sub = true;
		s++;
	}
	len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253) {
		peer_fail(pp, e, elen, "invalid host or domain name");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				break;
			label = 0;
			continue;
		}
		if (c == '*') {
			peer_fail(pp, e, elen, "wildcards are not supported "
			    "(write .example.com to match every host below "
			    "example.com)");
			return -1;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			peer_fail(pp, e, elen, "invalid host or domain name "
			    "(unexpected character)");
			return -1;
		}
		if (++label > 63) {
			peer_fail(pp, e, elen, "invalid host or domain name "
			    "(a label is longer than 63 characters)");
			return -1;
		}
	}
	if (label == 0) {
		peer_fail(pp, e, elen, "invalid host or domain name "
		    "(empty label)");
		return -1;
	}
	p = peer_add(pp->pl);
	p->type = PEER_PAT_NAME;
	p->negate = negate;
	p->subdomains_only = sub;
	p->name = xstrndup(s, len);
	for (char *q = p->name; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return 0;
}

static int peer_parse_text(struct peer_parse *pp, const char *text,
    size_t len);

/*
 * peer_parse_file - read the patterns of a "/file" element.  Lines are
 * split on '\n'; a line whose first non-blank byte is '#' is a comment.
 */
static int
peer_parse_file(struct peer_parse *pp, const char *e, size_t elen,
    const char *path)
{
	struct peer_parse fpp = { .pl = pp->pl, .open = pp->open,
	    .open_ctx = pp->open_ctx, .file = path, .line = 0 };
	struct buf b;
	char chunk[8192];
	struct stat st;
	const char *text, *end, *nl;
	int fd = -1, ret = -1;
	ssize_t r;

	buf_init(&b, PEER_LIST_FILE_MAX_BYTES);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		peer_fail(pp, e, elen, "cannot open the file: %s",
		    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		peer_fail(pp, e, elen, "not a regular file");
		goto out;
	}
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			peer_fail(pp, e, elen, "cannot read the file: %s",
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (buf_append(&b, chunk, (size_t)r) < 0) {
			peer_fail(pp, e, elen, "the file is larger than %d "
			    "bytes", PEER_LIST_FILE_MAX_BYTES);
			goto out;
		}
	}
	text = buf_cstr(&b);
	end = text + b.len;
	if (memchr(text, '\0', b.len) != NULL) {
		peer_fail(pp, e, elen, "the file contains a NUL byte");
		goto out;
	}
	for (const char *p = text; p < end; p = nl + 1) {
		const char *q;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		fpp.line++;
		q = p + strspn(p, " \t\r\v\f");
		if (q < nl && *q == '#')
			continue;
		if (peer_parse_text(&fpp, p, (size_t)(nl - p)) < 0)
			goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_deinit(&b);
	return ret;
}

/* peer_parse_table - add a "type:name" element, opened by pp->open. */
static int
peer_parse_table(struct peer_parse *pp, const char *e, size_t elen,
    bool negate, const char *spec)
{
	char why[PEER_ERROR_WHY_MAX_BYTES];
	struct dict *d = NULL;
	struct peer_pat *p;

	if (pp->open == NULL) {
		peer_fail(pp, e, elen, "lookup tables (type:table) cannot be "
		    "used in this list");
		return -1;
	}
	why[0] = '\0';
	if (pp->open(pp->open_ctx, spec, &d, why, sizeof(why)) < 0) {
		peer_fail(pp, e, elen, "%s", why[0] != '\0' ? why :
		    "the table cannot be opened");
		return -1;
	}
	p = peer_add(pp->pl);
	p->type = PEER_PAT_TABLE;
	p->negate = negate;
	p->name = xstrdup(spec);
	p->dict = d;
	return 0;
}

/* peer_parse_element - add the pattern(s) of one element of len bytes. */
static int
peer_parse_element(struct peer_parse *pp, const char *e, size_t len)
{
	char copy[PEER_LIST_ELEMENT_MAX_BYTES + 1];
	char *s = copy, *slash, *rb;
	bool negate = false;

	if (len > PEER_LIST_ELEMENT_MAX_BYTES) {
		peer_fail(pp, e, len, "element longer than %d bytes",
		    PEER_LIST_ELEMENT_MAX_BYTES);
		return -1;
	}
	if (pp->pl->n >= PEER_LIST_MAX_PATTERNS) {
		peer_fail(pp, e, len, "too many patterns in the list (at "
		    "most %d)", PEER_LIST_MAX_PATTERNS);
		return -1;
	}
	memcpy(copy, e, len);
	copy[len] = '\0';
	if (memchr(copy, '\0', len) != NULL) {
		peer_fail(pp, e, len, "NUL byte in element");
		return -1;
	}

	if (*s == '!') {
		negate = true;
		s++;
		if (*s == '\0') {
			peer_fail(pp, e, len, "'!' without a pattern");
			return -1;
		}
		if (*s == '!') {
			peer_fail(pp, e, len, "double negation is not "
			    "supported");
			return -1;
		}
	}

	if (*s == '/') {
		if (negate) {
			peer_fail(pp, e, len, "a file cannot be negated; "
			    "negate the patterns inside it instead");
			return -1;
		}
		if (pp->file != NULL) {
			peer_fail(pp, e, len, "a file cannot name another "
			    "file");
			return -1;
		}
		return peer_parse_file(pp, e, len, s);
	}

	if (*s == '[') {
		rb = strchr(s, ']');
		if (rb == NULL) {
			peer_fail(pp, e, len, "missing ']'");
			return -1;
		}
		*rb = '\0';
		if (rb[1] != '\0' && rb[1] != '/') {
			peer_fail(pp, e, len, "unexpected text after ']'");
			return -1;
		}
		return peer_parse_net(pp, e, len, negate, s + 1,
		    rb[1] == '/' ? rb + 2 : NULL, AF_UNSPEC);
	}

	if (strchr(s, ':') != NULL) {
		char tmp[PEER_LIST_ELEMENT_MAX_BYTES + 1];
		unsigned char a[16];

		/* IPv6 first: "fe80::/10" must not be taken for a table. */
		memcpy(tmp, s, strlen(s) + 1);
		slash = strchr(tmp, '/');
		if (slash != NULL)
			*slash = '\0';
		if (inet_pton(AF_INET6, tmp, a) == 1)
			return peer_parse_net(pp, e, len, negate, tmp,
			    slash != NULL ? slash + 1 : NULL, AF_INET6);
		if (peer_is_table(s))
			return peer_parse_table(pp, e, len, negate, s);
		peer_fail(pp, e, len, "invalid IPv6 address");
		return -1;
	}

	/* Digits and dots, or anything with a '/': IPv4, so that a typo
	 * like "10.0.0.0/+8" is reported as such, not as a bad name. */
	if (strchr(s, '/') != NULL || (*s >= '0' && *s <= '9' &&
	    strspn(s, "0123456789.") == strlen(s))) {
		slash = strchr(s, '/');
		if (slash != NULL)
			*slash = '\0';
		return peer_parse_net(pp, e, len, negate, s,
		    slash != NULL ? slash + 1 : NULL, AF_INET);
	}

	return peer_parse_name(pp, e, len, negate, s);
}

/* peer_parse_text - split len bytes of text into elements and add them. */
static int
peer_parse_text(struct peer_parse *pp, const char *text, size_t len)
{
	size_t i = 0, start, depth = 0;

	while (i < len) {
		if (strchr(PEER_SEPARATORS, text[i]) != NULL &&
		    text[i] != '\0') {
			i++;
			continue;
		}
		start = i;
		/* "inline:{ a, b }" is one element: no split inside braces. */
		while (i < len && (text[i] == '\0' || depth > 0 ||
		    strchr(PEER_SEPARATORS, text[i]) == NULL)) {
			if (text[i] == '{')
				depth++;
			else if (text[i] == '}' && depth > 0)
				depth--;
			i++;
		}
		if (peer_parse_element(pp, text + start, i - start) < 0)
			return -1;
	}
	return 0;
}

struct peer_list *
peer_list_parse(const char *value, bool parent_domain_matches_subdomains,
    const char **error_r)
{
	return peer_list_parse_tables(value, parent_domain_matches_subdomains,
	    NULL, NULL, error_r);
}

struct peer_list *
peer_list_parse_tables(const char *value,
    bool parent_domain_matches_subdomains, peer_table_opener *open,
    void *open_ctx, const char **error_r)
{
	struct peer_list *pl = xcalloc(1, sizeof(*pl));
	struct peer_parse pp = { .pl = pl, .open = open, .open_ctx = open_ctx,
	    .file = NULL, .line = 0 };

	pl->parent_matches = parent_domain_matches_subdomains;
	peer_error_buf[0] = '\0';
	if (value != NULL && peer_parse_text(&pp, value, strlen(value)) < 0) {
		peer_list_free(&pl);
		if (error_r != NULL)
			*error_r = peer_error_buf;
		return NULL;
	}
	return pl;
}

/* peer_client_addr - parse a client address; false if it is not one. */
static bool
peer_client_addr(const char *text, int *family_r, unsigned char addr[16])
{
	char tmp[PEER_ADDR_TEXT_MAX_BYTES];
	size_t len = strlen(text);

	if (len >= sizeof(tmp))
		return false;
	memcpy(tmp, text, len + 1);
	tmp[strcspn(tmp, "%")] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, tmp, addr) == 1) {
		*family_r = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, addr) == 1) {
		*family_r = AF_INET6;
		peer_unmap(family_r, addr, NULL);
		return true;
	}
	return false;
}

/* peer_name_match - does the client name match a name pattern? */
static bool
peer_name_match(const struct peer_pat *p, bool parent_matches,
    const char *host, size_t hlen)
{
	size_t nlen = strlen(p->name);

	if (hlen == nlen && strncasecmp(host, p->name, nlen) == 0)
		return !p->subdomains_only;
	if (hlen > nlen && host[hlen - nlen - 1] == '.' &&
	    strncasecmp(host + hlen - nlen, p->name, nlen) == 0)
		return p->subdomains_only || parent_matches;
	return false;
}

/*
 * peer_table_get - look key up in a table pattern's table: 1 found, 0
 * not, -1 failed (err says why: the table and its reason).
 */
static int
peer_table_get(const struct peer_pat *p, const char *key, char *err,
    size_t errsz)
{
	char why[DICT_ERR_MAX_BYTES];
	struct buf value;
	enum dict_status st;

	if (p->dict == NULL) {
		snprintf(err, errsz, "%s: the table is not open", p->name);
		return -1;
	}
	why[0] = '\0';
	buf_init(&value, DICT_VALUE_MAX_BYTES + 1);
	st = dict_get(p->dict, key, &value, why, sizeof(why));
	buf_deinit(&value);
	if (st == DICT_TEMPFAIL) {
		/* Named once: most tables' errors name themselves. */
		if (strstr(why, p->name) != NULL)
			snprintf(err, errsz, "%s", why);
		else
			snprintf(err, errsz, "%s: %s", p->name, why[0] != '\0' ?
			    why : "lookup failed");
		return -1;
	}
	return st == DICT_FOUND ? 1 : 0;
}

/*
 * peer_table_match - a table pattern against the client (Postfix's
 * match_hostname and match_hostaddr): the name, then its parent domains
 * ("example.com" with parent_matches, else ".example.com") unless the
 * table matches patterns or addresses; then the address text.
 */
static int
peer_table_match(const struct peer_pat *p, bool parent_matches,
    const char *host, size_t hlen, const char *addr, char *err,
    size_t errsz)
{
	unsigned flags = p->dict != NULL ? p->dict->type->flags : 0;
	char name[PEER_LIST_ELEMENT_MAX_BYTES + 1];
	int r;

	if (host != NULL && hlen > 0 && hlen < sizeof(name) &&
	    !(flags & DICT_TYPE_CIDR)) {
		memcpy(name, host, hlen);
		name[hlen] = '\0';
		if ((r = peer_table_get(p, name, err, errsz)) != 0)
			return r;
		for (const char *dot = strchr(name + 1, '.');
		    dot != NULL && !(flags & DICT_TYPE_PATTERN);
		    dot = strchr(dot + 1, '.')) {
			if ((r = peer_table_get(p, parent_matches ? dot + 1 :
			    dot, err, errsz)) != 0)
				return r;
		}
	}
	if (addr != NULL)
		return peer_table_get(p, addr, err, errsz);
	return 0;
}

int
peer_list_match(const struct peer_list *pl, const char *hostname,
    const char *addr)
{
	return peer_list_match_err(pl, hostname, addr, NULL, 0);
}

int
peer_list_match_err(const struct peer_list *pl, const char *hostname,
    const char *addr, char *err, size_t errsz)
{
	unsigned char a[16];
	char atext[INET6_ADDRSTRLEN];
	char ebuf[DICT_ERR_MAX_BYTES + 128];
	int family = AF_UNSPEC;
	size_t hlen = 0;
	bool have_addr, have_name;

	if (err == NULL || errsz == 0) {
		err = ebuf;
		errsz = sizeof(ebuf);
	}
	err[0] = '\0';
	if (pl == NULL)
		return 0;
	have_addr = addr != NULL && peer_client_addr(addr, &family, a);
	/* Tables see the address as inet_ntop writes it (IPv4 for a
	 * mapped one, no zone). */
	if (!have_addr || inet_ntop(family, a, atext, sizeof(atext)) == NULL)
		atext[0] = '\0';
	have_name = hostname != NULL && *hostname != '\0' &&
	    strcasecmp(hostname, "unknown") != 0;
	if (have_name) {
		hlen = strlen(hostname);
		/* A fully qualified "host.example.com." names the same host. */
		if (hostname[hlen - 1] == '.')
			hlen--;
	}
	for (size_t i = 0; i < pl->n; i++) {
		const struct peer_pat *p = &pl->pats[i];
		bool m = false;

		if (p->type == PEER_PAT_TABLE) {
			int r = peer_table_match(p, pl->parent_matches,
			    have_name ? hostname : NULL, hlen,
			    atext[0] != '\0' ? atext : NULL, err, errsz);

			if (r < 0)
				return -1;
			m = r == 1;
		} else if (p->type == PEER_PAT_NET)
			m = have_addr && p->family == family &&
			    peer_prefix_match(p->addr, a, p->prefix);
		else
			m = have_name && hlen > 0 &&
			    peer_name_match(p, pl->parent_matches, hostname,
			    hlen);
		if (m)
			return p->negate ? 0 : 1;
	}
	return 0;
}

void
peer_list_free(struct peer_list **plp)
{
	struct peer_list *pl;

	if (plp == NULL || *plp == NULL)
		return;
	pl = *plp;
	for (size_t i = 0; i < pl->n; i++) {
		free(pl->pats[i].name);
		if (pl->pats[i].dict != NULL)
			dict_close(pl->pats[i].dict);
	}
	free(pl->pats);
	free(pl);
	*plp = NULL;
}
