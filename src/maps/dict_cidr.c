/* SPDX-License-Identifier: MIT */
/*
 * dict_cidr - "cidr:/path" tables of networks; see dict_cidr.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "dict_cidr.h"
#include "dict_pattern.h"
#include "log.h"
#include "xalloc.h"

/* Longest pattern text looked at ("[" IPv6 "/128]" fits easily). */
#define CIDR_PATTERN_MAX_BYTES 96
/* Digits of a prefix length looked at (leading zeros are skipped). */
#define PREFIX_DIGITS_MAX 3

/* An address (the key) or a network (a pattern). */
struct cidr_addr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char a[16];		/* network byte order */
	unsigned prefix;		/* patterns: 0..32 or 0..128 */
};

/* cidr_parse_addr - text (NUL-terminated) as an address; 0 or -1. */
static int
cidr_parse_addr(const char *text, struct cidr_addr *ca)
{
	memset(ca, 0, sizeof(*ca));
	if (inet_pton(AF_INET, text, ca->a) == 1) {
		ca->family = AF_INET;
		ca->prefix = 32;
		return 0;
	}
	if (strchr(text, ':') != NULL && inet_pton(AF_INET6, text, ca->a) == 1) {
		ca->family = AF_INET6;
		ca->prefix = 128;
		return 0;
	}
	return -1;
}

/* cidr_mask - clear the bits of ca past its prefix. */
static void
cidr_mask(struct cidr_addr *ca)
{
	size_t bytes = ca->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < bytes; i++) {
		unsigned keep = ca->prefix > 8 * i ? ca->prefix - 8 * (unsigned)i :
		    0;

		if (keep < 8)
			ca->a[i] &= (unsigned char)(0xff00u >> keep);
	}
}

static void *
cidr_parse(void *ctx, const char *s, const char **end, unsigned *ngroups,
    char *why, size_t whysz)
{
	char text[CIDR_PATTERN_MAX_BYTES + 1], shown[CIDR_PATTERN_MAX_BYTES *
	    4 + 8], net[INET6_ADDRSTRLEN];
	const char *tok_end = s, *slash = NULL;
	struct cidr_addr *ca, masked;
	char *addr = text, *close;
	size_t len;

	while (*tok_end != '\0' && *tok_end != ' ' && *tok_end != '\t' &&
	    *tok_end != '\r' && *tok_end != '\n' && *tok_end != '\v' &&
	    *tok_end != '\f')
		tok_end++;
	*end = tok_end;
	len = (size_t)(tok_end - s);
	log_escape(shown, sizeof(shown), s, len, CIDR_PATTERN_MAX_BYTES);
	if (len > CIDR_PATTERN_MAX_BYTES) {
		snprintf(why, whysz, "bad address pattern \"%s\"", shown);
		return NULL;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	/* "[addr]", "[addr]/len" or "[addr/len]". */
	if (text[0] == '[') {
		close = strchr(text, ']');
		if (close == NULL) {
			snprintf(why, whysz, "missing \"]\" in \"%s\"", shown);
			return NULL;
		}
		if (close[1] != '\0' && close[1] != '/') {
			snprintf(why, whysz, "bad address pattern \"%s\"",
			    shown);
			return NULL;
		}
		if (close[1] == '/' && memchr(text, '/', (size_t)(close -
		    text)) != NULL) {
			snprintf(why, whysz, "bad address pattern \"%s\"",
			    shown);
			return NULL;
		}
		slash = close[1] == '/' ? close + 1 : NULL;
		*close = '\0';
		addr = text + 1;
	}
	if (slash == NULL) {
		char *sl = strchr(addr, '/');

		if (sl != NULL) {
			*sl = '\0';
			slash = sl;
		}
	}
	ca = xcalloc(1, sizeof(*ca));
	if (cidr_parse_addr(addr, ca) < 0) {
		snprintf(why, whysz, "bad address pattern \"%s\"", shown);
		goto fail;
	}
	if (slash != NULL) {
		const char *p = slash + 1;
		unsigned long v = 0;
		size_t digits = 0;
		unsigned max = ca->family == AF_INET ? 32 : 128;

		if (*p == '\0') {
			snprintf(why, whysz, "missing prefix length after "
			    "\"/\" in \"%s\"", shown);
			goto fail;
		}
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9') {
				snprintf(why, whysz, "bad prefix length in "
				    "\"%s\"", shown);
				goto fail;
			}
			if (digits > 0 || *p != '0')
				digits++;
			if (digits <= PREFIX_DIGITS_MAX)
				v = v * 10 + (unsigned long)(*p - '0');
		}
		if (digits > PREFIX_DIGITS_MAX || v > max) {
			snprintf(why, whysz, "bad prefix length in \"%s\" "
			    "(0..%u for %s)", shown, max, ca->family ==
			    AF_INET ? "IPv4" : "IPv6");
			goto fail;
		}
		ca->prefix = (unsigned)v;
	}
	masked = *ca;
	cidr_mask(&masked);
	if (memcmp(masked.a, ca->a, sizeof(ca->a)) != 0) {
		if (inet_ntop(masked.family, masked.a, net, sizeof(net)) == NULL)
			snprintf(net, sizeof(net), "?");
		snprintf(why, whysz, "non-zero host bits in \"%s\": did you "
		    "mean %s/%u?", shown, net, masked.prefix);
		goto fail;
	}
	*ngroups = 0;
	return ca;
fail:
	free(ca);
	return NULL;
}

static void
cidr_free(void *pattern)
{
	free(pattern);
}

static int
cidr_match(void *ctx, const void *pattern, const void *mkey, const char *key,
    size_t keylen, size_t *off, unsigned want, char *why, size_t whysz)
{
	const struct cidr_addr *net = pattern, *k = mkey;
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (net->family != k->family)
		return DICT_PATTERN_NA;
	if (memcmp(net->a, k->a, full) != 0)
		return DICT_PATTERN_NOMATCH;
	if (rest > 0 && ((net->a[full] ^ k->a[full]) &
	    (unsigned char)(0xff00u >> rest)) != 0)
		return DICT_PATTERN_NOMATCH;
	return DICT_PATTERN_MATCH;
}

static const struct dict_pattern_syntax cidr_syntax = {
	.name = "cidr",
	.substitute = false,
	.max_file_bytes = DICT_CIDR_FILE_MAX_BYTES,
	.max_rules = DICT_CIDR_MAX_RULES,
	.parse = cidr_parse,
	.free = cidr_free,
	.match = cidr_match,
};

static int
cidr_open(struct dict *d, const char *name, const struct dict_open_opts *opts,
    char *err, size_t errsz)
{
	return dict_pattern_open(d, name, opts, &cidr_syntax, err, errsz);
}

static enum dict_status
cidr_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct cidr_addr k;

	/* Longer than any address text: not an address. */
	if (keylen > INET6_ADDRSTRLEN || cidr_parse_addr(key, &k) < 0)
		return DICT_NOTFOUND;
	return dict_pattern_lookup(d, &k, key, keylen, value, err, errsz);
}

const struct dict_type dict_type_cidr = {
	.name = "cidr",
	.flags = DICT_TYPE_CIDR | DICT_TYPE_FILE,
	.open = cidr_open,
	.lookup = cidr_lookup,
	.changed = dict_pattern_changed,
	.close = dict_pattern_close,
};
