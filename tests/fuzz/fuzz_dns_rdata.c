/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dns_rdata - dns_rdata_parse() (src/common/dns.c) on arbitrary
 * bytes: the first byte picks the type (its value modulo 7: A, AAAA,
 * MX, PTR, TXT, TLSA, or an unsupported type), the rest is the rdata.
 *
 * What parses must round-trip: A, AAAA and TLSA give back the same
 * bytes; MX and PTR names encode back to the same wire name (lowercase:
 * the parser lowers case), are valid names (dns_name_valid) of at most
 * DNS_NAME_MAX - 1 characters, or "" for a null MX; TXT text is the
 * input's strings joined, NUL-terminated.  An unsupported type never
 * parses.  Also: dns_name_valid() on the input as text, and
 * dns_rbl_name() with bytes 1..4 as an IPv4 address and the rest as the
 * zone: a name it makes is valid.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "compat.h"
#include "dns.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t types[] = {
	DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_PTR, DNS_T_NS, DNS_T_TXT,
	DNS_T_TLSA, 99,
};

/* encode_name - text name into wire form at out; its length. */
static size_t
encode_name(const char *name, unsigned char *out)
{
	size_t o = 0;

	while (*name != '\0') {
		size_t l = strcspn(name, ".");

		out[o++] = (unsigned char)l;
		memcpy(out + o, name, l);
		o += l;
		name += l;
		if (*name == '.')
			name++;
	}
	out[o++] = 0;
	return o;
}

/* check_name - the wire name in data equals the encoding of name, case
 * aside; also checks name itself. */
static void
check_name(const char *name, const uint8_t *data, size_t len,
    bool root_ok)
{
	unsigned char wire[DNS_NAME_MAX + 2];
	size_t n;

	if (name[0] == '\0') {
		if (!root_ok || len != 1 || data[0] != 0)
			abort();
		return;
	}
	if (strlen(name) >= DNS_NAME_MAX || !dns_name_valid(name))
		abort();
	for (const char *p = name; *p != '\0'; p++)
		if (isupper((unsigned char)*p))
			abort();
	n = encode_name(name, wire);
	if (n != len)
		abort();
	for (size_t i = 0; i < n; i++)
		if (tolower(wire[i]) != tolower(data[i]))
			abort();
}

/* check_txt - text is the strings of data joined. */
static void
check_txt(const struct dns_rr *rr, const uint8_t *data, size_t len)
{
	size_t pos = 0, o = 0;

	while (pos < len) {
		size_t l = data[pos++];

		if (l > len - pos || o + l > rr->u.txt.len ||
		    memcmp(rr->u.txt.text + o, data + pos, l) != 0)
			abort();
		o += l;
		pos += l;
	}
	if (o != rr->u.txt.len || rr->u.txt.text[o] != '\0')
		abort();
}

static void
check_rr(const struct dns_rr *rr, const uint8_t *data, size_t len)
{
	switch (rr->type) {
	case DNS_T_A:
		if (len != 4 || memcmp(&rr->u.a, data, 4) != 0)
			abort();
		break;
	case DNS_T_AAAA:
		if (len != 16 || memcmp(&rr->u.aaaa, data, 16) != 0)
			abort();
		break;
	case DNS_T_MX:
		if (len < 3 || rr->u.mx.pref != (data[0] << 8 | data[1]))
			abort();
		check_name(rr->u.mx.host, data + 2, len - 2, true);
		break;
	case DNS_T_PTR:
	case DNS_T_NS:
		check_name(rr->u.name, data, len, false);
		break;
	case DNS_T_TXT:
		check_txt(rr, data, len);
		break;
	case DNS_T_TLSA:
		if (len < 4 || rr->u.tlsa.len != len - 3 ||
		    rr->u.tlsa.usage != data[0] ||
		    rr->u.tlsa.selector != data[1] ||
		    rr->u.tlsa.mtype != data[2] ||
		    memcmp(rr->u.tlsa.data, data + 3, len - 3) != 0)
			abort();
		break;
	default:
		abort();
	}
}

/* check_names - dns_name_valid and dns_rbl_name on the input. */
static void
check_names(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	char out[DNS_NAME_MAX];
	struct sockaddr_in sin;

	(void)dns_name_valid(text);
	if (strlen(text) >= 5) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, data + 1, 4);
		if (dns_rbl_name((struct sockaddr *)&sin, text + 5, out,
		    sizeof(out)) == 0 && !dns_name_valid(out))
			abort();
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_rr rr;
	const char *err = NULL;
	uint16_t type;

	if (size == 0)
		return 0;
	type = types[data[0] % N_ELEMENTS(types)];
	if (dns_rdata_parse(type, data + 1, size - 1, &rr, &err) == 0) {
		if (rr.type != type)
			abort();
		check_rr(&rr, data + 1, size - 1);
		dns_rr_deinit(&rr);
	} else if (err == NULL) {
		abort();
	}
	check_names(data, size);
	return 0;
}
