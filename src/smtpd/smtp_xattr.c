/* SPDX-License-Identifier: MIT */
/*
 * smtp_xattr - XCLIENT and XFORWARD arguments (smtp_xattr.h).
 */
#include "smtp_xattr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_command.h"

#define UNAVAILABLE "[UNAVAILABLE]"
#define TEMPUNAVAIL "[TEMPUNAVAIL]"

/* What a value must look like. */
enum kind {
	K_HOST,		/* host name */
	K_ADDR,		/* IP address */
	K_PORT,		/* 0..65535 */
	K_PROTO,	/* protocol name */
	K_PRINT,	/* printable ASCII, no space (HELO) */
	K_LOGIN,	/* printable ASCII, spaces allowed inside */
	K_IDENT,	/* queue ID */
	K_SOURCE,	/* LOCAL / REMOTE */
};

static const struct {
	const char *name;
	enum kind kind;
	bool xclient, xforward;
} attrs[XATTR__COUNT] = {
	[XATTR_NAME] = { "NAME", K_HOST, true, true },
	[XATTR_REVERSE_NAME] = { "REVERSE_NAME", K_HOST, true, false },
	[XATTR_ADDR] = { "ADDR", K_ADDR, true, true },
	[XATTR_PORT] = { "PORT", K_PORT, true, true },
	[XATTR_PROTO] = { "PROTO", K_PROTO, true, true },
	[XATTR_HELO] = { "HELO", K_PRINT, true, true },
	[XATTR_LOGIN] = { "LOGIN", K_LOGIN, true, false },
	[XATTR_DESTADDR] = { "DESTADDR", K_ADDR, true, false },
	[XATTR_DESTPORT] = { "DESTPORT", K_PORT, true, false },
	[XATTR_IDENT] = { "IDENT", K_IDENT, false, true },
	[XATTR_SOURCE] = { "SOURCE", K_SOURCE, false, true },
};

const char *
smtp_xattr_name(enum smtp_xattr_id id)
{
	return (unsigned)id < XATTR__COUNT ? attrs[id].name : "?";
}

bool
smtp_xattr_allowed(enum smtp_xattr_cmd cmd, enum smtp_xattr_id id)
{
	if ((unsigned)id >= XATTR__COUNT)
		return false;
	return cmd == SMTP_XCLIENT ? attrs[id].xclient : attrs[id].xforward;
}

const char *
smtp_xattr_keywords(enum smtp_xattr_cmd cmd)
{
	return cmd == SMTP_XCLIENT ?
	    "XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR "
	    "DESTPORT" :
	    "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE";
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* host_ok - letters, digits, '-', '_' and '.', labels not empty. */
static bool
host_ok(const char *v, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

/* addr_norm - an IP address into its inet_ntop() form, in place. */
static bool
addr_norm(char *v)
{
	unsigned char bin[16];
	char out[INET6_ADDRSTRLEN];
	const char *a = v;

	if (strncasecmp(a, "IPV6:", 5) == 0) {
		a += 5;
		if (inet_pton(AF_INET6, a, bin) != 1)
			return false;
		inet_ntop(AF_INET6, bin, out, sizeof(out));
	} else if (inet_pton(AF_INET, a, bin) == 1) {
		inet_ntop(AF_INET, bin, out, sizeof(out));
	} else if (inet_pton(AF_INET6, a, bin) == 1) {
		inet_ntop(AF_INET6, bin, out, sizeof(out));
	} else {
		return false;
	}
	/* out is never longer than the text it came from. */
	memcpy(v, out, strlen(out) + 1);
	return true;
}

static bool
port_ok(const char *v, size_t n)
{
	unsigned long p = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		p = p * 10 + (unsigned long)(v[i] - '0');
	}
	return p <= 65535;
}

/* value_ok - the decoded value v (n bytes) fits kind k for cmd;
 * addresses are normalized in place. */
static bool
value_ok(enum smtp_xattr_cmd cmd, enum kind k, char *v, size_t n)
{
	switch (k) {
	case K_HOST:
		return host_ok(v, n);
	case K_ADDR:
		return addr_norm(v);
	case K_PORT:
		return port_ok(v, n);
	case K_PROTO:
		if (cmd == SMTP_XCLIENT)
			return strcasecmp(v, "SMTP") == 0 ||
			    strcasecmp(v, "ESMTP") == 0;
		if (n == 0 || n > 64)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!is_alnum((unsigned char)v[i]))
				return false;
		return true;
	case K_PRINT:
	case K_LOGIN:
		if (n == 0)
			return false;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)v[i];

			if (c < 0x20 || c >= 0x7f || (c == ' ' && k == K_PRINT))
				return false;
		}
		/* A login neither starts nor ends with a space. */
		return v[0] != ' ' && v[n - 1] != ' ';
	case K_IDENT:
		if (n == 0 || n > 64)
			return false;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)v[i];

			if (!is_alnum(c) && c != '.' && c != '-' && c != '_')
				return false;
		}
		return true;
	case K_SOURCE:
		return strcasecmp(v, "LOCAL") == 0 ||
		    strcasecmp(v, "REMOTE") == 0;
	}
	return false;
}

static int
fail(struct smtp_xattrs *out, const char **error_r, const char *why)
{
	memset(out, 0, sizeof(*out));
	*error_r = why;
	return -1;
}

int
smtp_xattr_parse(enum smtp_xattr_cmd cmd, const char *args, size_t len,
    struct smtp_xattrs *out, const char **error_r, const char **name_r,
    size_t *name_len_r)
{
	size_t i = 0;
	bool any = false;

	memset(out, 0, sizeof(*out));
	*name_r = args;
	*name_len_r = 0;
	while (i < len) {
		size_t ns, nl, vs, vl;
		const char *derr = NULL;
		char *dec;
		int id = -1;
		enum smtp_xattr_state st = XATTR_SET;

		if (args[i] == ' ') {
			i++;
			continue;
		}
		ns = i;
		while (i < len && args[i] != '=' && args[i] != ' ')
			i++;
		nl = i - ns;
		*name_r = args + ns;
		*name_len_r = nl;
		if (i >= len || args[i] != '=' || nl == 0)
			return fail(out, error_r, "attribute without "
			    "\"=value\"");
		for (int k = 0; k < XATTR__COUNT; k++) {
			if (strlen(attrs[k].name) == nl &&
			    strncasecmp(attrs[k].name, args + ns, nl) == 0 &&
			    smtp_xattr_allowed(cmd, (enum smtp_xattr_id)k)) {
				id = k;
				break;
			}
		}
		if (id < 0)
			return fail(out, error_r, "unknown attribute name");
		if (out->st[id] != XATTR_ABSENT)
			return fail(out, error_r, "attribute given twice");
		vs = ++i;
		while (i < len && args[i] != ' ')
			i++;
		vl = i - vs;
		if (vl == strlen(UNAVAILABLE) &&
		    strncasecmp(args + vs, UNAVAILABLE, vl) == 0) {
			st = XATTR_UNAVAILABLE;
		} else if (vl == strlen(TEMPUNAVAIL) &&
		    strncasecmp(args + vs, TEMPUNAVAIL, vl) == 0) {
			if (attrs[id].kind != K_HOST)
				return fail(out, error_r, "[TEMPUNAVAIL] is "
				    "only for NAME and REVERSE_NAME");
			st = XATTR_TEMPUNAVAIL;
		}
		if (st != XATTR_SET) {
			out->st[id] = st;
			any = true;
			continue;
		}
		if (vl > SMTP_XATTR_VALUE_MAX * 3)
			return fail(out, error_r, "value too long");
		dec = smtp_xtext_decode(args + vs, vl, &derr);
		if (dec == NULL)
			return fail(out, error_r, "bad xtext in the value");
		if (strlen(dec) > SMTP_XATTR_VALUE_MAX) {
			free(dec);
			return fail(out, error_r, "value too long");
		}
		memcpy(out->val[id], dec, strlen(dec) + 1);
		free(dec);
		if (!value_ok(cmd, attrs[id].kind, out->val[id],
		    strlen(out->val[id])))
			return fail(out, error_r, "bad value");
		out->st[id] = XATTR_SET;
		any = true;
	}
	if (!any) {
		*name_r = args;
		*name_len_r = 0;
		return fail(out, error_r, "no attributes");
	}
	return 0;
}
