/* SPDX-License-Identifier: MIT */
/*
 * proxy_proto - PROXY protocol header parser (proxy_proto.h).
 */
#include <string.h>

#include <arpa/inet.h>

#include "proxy_proto.h"

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* port - "0".."65535", digits only, no leading zero but "0" itself. */
static bool
port(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = v;
	return true;
}

/* addr - text address of family af, normalized into out. */
static bool
addr(int af, const char *s, size_t n, char out[INET6_ADDRSTRLEN])
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char bin[16];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(af, tmp, bin) != 1)
		return false;
	return inet_ntop(af, bin, out, INET6_ADDRSTRLEN) != NULL;
}

static enum proxy_status
bad(const char **error_r, const char *why)
{
	*error_r = why;
	return PROXY_BAD;
}

static enum proxy_status
parse_v1(const unsigned char *d, size_t len, struct proxy_result *r,
    size_t *consumed_r, const char **error_r)
{
	const char *f[5];
	size_t fl[5], nf = 0, end, i;
	const unsigned char *nl;
	int af;

	nl = memchr(d, '\n', len < PROXY_V1_MAX_BYTES ? len :
	    PROXY_V1_MAX_BYTES);
	if (nl == NULL) {
		if (len >= PROXY_V1_MAX_BYTES)
			return bad(error_r, "a version 1 header longer than "
			    "107 bytes");
		for (i = 0; i < len; i++)
			if ((d[i] < 0x20 || d[i] > 0x7e) &&
			    !(d[i] == '\r' && i == len - 1))
				return bad(error_r, "a control or 8-bit "
				    "character in a version 1 header");
		return PROXY_NEED_MORE;
	}
	end = (size_t)(nl - d);
	if (end < 7 || d[end - 1] != '\r')
		return bad(error_r, "a version 1 header that does not end in "
		    "CRLF");
	for (i = 0; i < end - 1; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			return bad(error_r, "a control or 8-bit character in a "
			    "version 1 header");
	/* "PROXY " then fields separated by one space. */
	i = 6;
	while (i < end - 1 && nf < 5) {
		size_t s = i;

		while (i < end - 1 && d[i] != ' ')
			i++;
		f[nf] = (const char *)d + s;
		fl[nf++] = i - s;
		if (i < end - 1)
			i++;	/* the space */
		if (i == end - 1 && d[i - 1] == ' ')
			return bad(error_r, "a version 1 header with a space "
			    "before its CRLF");
	}
	if (nf >= 1 && fl[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0) {
		r->version = 1;
		r->local = true;
		*consumed_r = end + 1;
		return PROXY_DONE;
	}
	for (size_t k = 0; k < nf; k++)
		if (fl[k] == 0)
			return bad(error_r, "an empty field in a version 1 "
			    "header");
	if (nf != 5 || i != end - 1)
		return bad(error_r, "a version 1 header without exactly five "
		    "fields (PROXY TCP4|TCP6 SRC DST SPORT DPORT)");
	if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
		af = AF_INET;
	else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return bad(error_r, "a version 1 header for a protocol other "
		    "than TCP4, TCP6 or UNKNOWN");
	if (!addr(af, f[1], fl[1], r->src_addr) ||
	    !addr(af, f[2], fl[2], r->dst_addr))
		return bad(error_r, "a version 1 header with an address that "
		    "is not one of its protocol");
	if (!port(f[3], fl[3], &r->src_port) ||
	    !port(f[4], fl[4], &r->dst_port))
		return bad(error_r, "a version 1 header with a bad port");
	r->version = 1;
	*consumed_r = end + 1;
	return PROXY_DONE;
}

static enum proxy_status
parse_v2(const unsigned char *d, size_t len, struct proxy_result *r,
    size_t *consumed_r, const char **error_r)
{
	size_t body;
	unsigned cmd, fam;

	if (len < 16)
		return PROXY_NEED_MORE;
	if ((d[12] >> 4) != 2)
		return bad(error_r, "a version 2 signature with another "
		    "version number");
	cmd = d[12] & 0x0f;
	if (cmd > 1)
		return bad(error_r, "a version 2 header with an unknown "
		    "command");
	body = ((size_t)d[14] << 8) | d[15];
	if (16 + body > PROXY_V2_MAX_BYTES)
		return bad(error_r, "a version 2 header longer than Ostia "
		    "accepts (1040 bytes)");
	if (len < 16 + body)
		return PROXY_NEED_MORE;
	r->version = 2;
	*consumed_r = 16 + body;
	fam = d[13];
	if (cmd == 0 || fam == 0x00) {
		/* LOCAL (the balancer's own check), or UNSPEC: the
		 * connection's addresses stand. */
		r->local = true;
		return PROXY_DONE;
	}
	if (fam == 0x11) {
		if (body < 12)
			return bad(error_r, "a version 2 TCP/IPv4 header too "
			    "short for its addresses");
		if (inet_ntop(AF_INET, d + 16, r->src_addr,
		    sizeof(r->src_addr)) == NULL ||
		    inet_ntop(AF_INET, d + 20, r->dst_addr,
		    sizeof(r->dst_addr)) == NULL)
			return bad(error_r, "a version 2 address that cannot "
			    "be shown");
		r->src_port = ((unsigned)d[24] << 8) | d[25];
		r->dst_port = ((unsigned)d[26] << 8) | d[27];
		return PROXY_DONE;
	}
	if (fam == 0x21) {
		if (body < 36)
			return bad(error_r, "a version 2 TCP/IPv6 header too "
			    "short for its addresses");
		if (inet_ntop(AF_INET6, d + 16, r->src_addr,
		    sizeof(r->src_addr)) == NULL ||
		    inet_ntop(AF_INET6, d + 32, r->dst_addr,
		    sizeof(r->dst_addr)) == NULL)
			return bad(error_r, "a version 2 address that cannot "
			    "be shown");
		r->src_port = ((unsigned)d[48] << 8) | d[49];
		r->dst_port = ((unsigned)d[50] << 8) | d[51];
		return PROXY_DONE;
	}
	return bad(error_r, "a version 2 header for something other than "
	    "TCP over IPv4 or IPv6");
}

enum proxy_status
proxy_parse(const unsigned char *data, size_t len, struct proxy_result *r,
    size_t *consumed_r, const char **error_r)
{
	enum proxy_status st;
	size_t n;

	memset(r, 0, sizeof(*r));
	*consumed_r = 0;
	*error_r = NULL;
	if (len == 0)
		return PROXY_NEED_MORE;
	n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(data, v2_sig, n) == 0)
		st = len < sizeof(v2_sig) ? PROXY_NEED_MORE :
		    parse_v2(data, len, r, consumed_r, error_r);
	else if (memcmp(data, "PROXY ", len < 6 ? len : 6) == 0)
		st = len < 6 ? PROXY_NEED_MORE :
		    parse_v1(data, len, r, consumed_r, error_r);
	else
		st = bad(error_r, "no PROXY protocol header (the client did "
		    "not come through the proxy, or the proxy does not send "
		    "one)");
	if (st != PROXY_DONE) {
		memset(r, 0, sizeof(*r));
		*consumed_r = 0;
	}
	return st;
}
