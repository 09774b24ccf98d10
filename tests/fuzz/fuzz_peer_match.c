/* SPDX-License-Identifier: MIT */
/*
 * fuzz_peer_match - peer_list_parse() and peer_list_match() on arbitrary
 * list text, and peer_list_match() on arbitrary client names/addresses.
 *
 * The target must never open files, so inputs in which some element
 * could start with '/' (a "/file" element) are skipped before parsing:
 * that is any '/' at the start or after a byte that cannot be inside an
 * address, network or table name.  "type:/path" elements remain (they
 * are refused without opening anything).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "peer_match.h"
#include "peer_tables.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *host;
	const char *addr;
} probes[] = {
	{ "localhost", "127.0.0.1" },
	{ "mx.example.com", "192.0.2.1" },
	{ "unknown", "10.1.2.3" },
	{ NULL, "::1" },
	{ "a.b.example.org.", "2001:db8::25" },
	{ "EXAMPLE.COM", "::ffff:192.0.2.1" },
	{ "", "fe80::1%eth0" },
	{ "x", NULL },
};

/* may_name_file - could an element of s start with '/'? */
static bool
may_name_file(const char *s)
{
	for (const char *p = strchr(s, '/'); p != NULL;
	    p = strchr(p + 1, '/')) {
		char c;

		if (p == s)
			return true;
		c = p[-1];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == ':' ||
		    c == ']'))
			return true;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct peer_list *fixed = NULL;
	char *s = xstrndup((const char *)data, size);
	struct peer_list *a = NULL, *b = NULL;
	const char *error = NULL;

	/* The input as a client name and address against a fixed list. */
	if (fixed == NULL) {
		fixed = peer_list_parse("!192.0.2.66 192.0.2.0/24 "
		    "[2001:db8::]/32 example.com .example.net !bad.example.org "
		    ".org ::ffff:10.0.0.0/104", true, &error);
		if (fixed == NULL)
			abort();
	}
	(void)peer_list_match(fixed, s, s);
	(void)peer_list_match(fixed, s, "192.0.2.1");
	(void)peer_list_match(fixed, "unknown", s);

	if (may_name_file(s))
		goto out;
	a = peer_list_parse(s, true, &error);
	if (a == NULL && (error == NULL || *error == '\0' ||
	    strlen(error) > 4096))
		abort();
	b = peer_list_parse(s, false, &error);
	/* parent_domain_matches_subdomains does not change the syntax. */
	if ((a == NULL) != (b == NULL))
		abort();
	if (a != NULL) {
		for (size_t i = 0; i < N_ELEMENTS(probes); i++) {
			int ra = peer_list_match(a, probes[i].host,
			    probes[i].addr);
			int rb = peer_list_match(b, probes[i].host,
			    probes[i].addr);

			if (ra < 0 || ra > 1 || rb < 0 || rb > 1)
				abort();
			/* Without negation, matching parent domains can only
			 * add matches. */
			if (strchr(s, '!') == NULL && rb > ra)
				abort();
		}
	}
	/* With tables allowed (checked, not opened: no file is read),
	 * everything that parsed without still parses, and matches the
	 * same; a list with tables answers -1, 0 or 1. */
	{
		struct peer_tables_ctx ctx;
		struct peer_list *t;

		peer_tables_ctx_init(&ctx, "mynetworks", false, NULL);
		t = peer_list_parse_tables(s, true, peer_tables_open, &ctx,
		    &error);
		if (a != NULL && t == NULL)
			abort();
		for (size_t i = 0; t != NULL && i < N_ELEMENTS(probes); i++) {
			int rt = peer_list_match(t, probes[i].host,
			    probes[i].addr);

			if (rt < -1 || rt > 1 || (a != NULL &&
			    rt != peer_list_match(a, probes[i].host,
			    probes[i].addr)))
				abort();
		}
		peer_list_free(&t);
	}
out:
	peer_list_free(&a);
	peer_list_free(&b);
	free(s);
	return 0;
}
