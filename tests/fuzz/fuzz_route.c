/* SPDX-License-Identifier: MIT */
/*
 * fuzz_route - route_resolve(), route_check_listed(),
 * route_expand_aliases() and route_domain_class() on arbitrary
 * addresses, over fixed inline:/static: tables (no files, no network)
 * that have every class, transport overrides, aliases with loops,
 * self references, catch-alls and deep chains.
 *
 * Checked for every input: the answer is OK or TEMPFAIL with a reason;
 * an OK answer has a class in range, an address and next hop that fit
 * and end in the domain they name, at most ROUTE_STEPS_MAX steps, the
 * ROUTED flag exactly when a routing operator is left of the final
 * '@', and a non-local class for every address whose domain is not
 * ours (no relay hole); an expansion is a non-empty vector of
 * non-empty addresses.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "dict.h"
#include "maps.h"
#include "route.h"
#include "strv.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char main_cf[] =
	"myhostname = mail.example.com\n"
	"mydomain = example.com\n"
	"myorigin = example.com\n"
	"inet_interfaces = 127.0.0.1\n"
	"proxy_interfaces = 192.0.2.25\n"
	"mydestination = $myhostname, localhost, example.com, "
	    "inline:{ mydest.test=x }\n"
	"alias_maps = inline:{ root=admin, postmaster=root }\n"
	"local_recipient_maps = inline:{ admin=x, bob=x } $alias_maps\n"
	"virtual_alias_domains = alias.test, inline:{ catchall.test=x }\n"
	"virtual_alias_maps = inline:{ info@alias.test={u@vmail.test, "
	    "v@vmail.test}, @catchall.test=u@vmail.test, "
	    "self@vmail.test={self@vmail.test, u@vmail.test}, "
	    "l1@vmail.test=l2@vmail.test, l2@vmail.test=l1@vmail.test, "
	    "c1@vmail.test=c2@vmail.test, c2@vmail.test=c3@vmail.test, "
	    "c3@vmail.test=c4@vmail.test, "
	    "w@vmail.test={a1@x.test a2@x.test a3@x.test a4@x.test}, "
	    "bare@vmail.test=bob, q@vmail.test=\"a b\"@vmail.test }\n"
	"virtual_alias_recursion_limit = 3\n"
	"virtual_alias_expansion_limit = 3\n"
	"virtual_mailbox_domains = vmail.test\n"
	"virtual_mailbox_maps = inline:{ u@vmail.test=u/, v@vmail.test=v/ }\n"
	"virtual_transport = dovecot\n"
	"relay_domains = relay.test, inline:{ reltable.test=x }\n"
	"relay_recipient_maps = inline:{ known@relay.test=ok }\n"
	"transport_maps = inline:{ trans.test=relay:[mx.test], "
	    ".sub.test=lmtp:, u@vmail.test=:[lmtp.test]:24, "
	    "err.test={error:5.7.1 no} }, static:smtp:[last.test]\n"
	"relayhost = [smart.test]:587\n"
	"recipient_delimiter = +-\n";

static struct maps *
open_inline(void *ctx, const char *param, const char *value, char *err,
    size_t errsz)
{
	struct dict_open_opts opts;

	(void)ctx;
	dict_open_opts_init(&opts);
	opts.trusted_uid = (uid_t)-1;
	return maps_open(param, value, &opts, err, errsz);
}

/* last_at - the last '@' outside double quotes, or NULL. */
static const char *
last_at(const char *s)
{
	const char *at = NULL;
	bool q = false;

	for (; *s != '\0'; s++) {
		if (q && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			q = !q;
		else if (!q && *s == '@')
			at = s;
	}
	return at;
}

static bool
ours(const char *domain)
{
	static const char *const d[] = { "mail.example.com", "localhost",
	    "example.com", "mydest.test", "alias.test", "catchall.test",
	    "vmail.test", "relay.test", "reltable.test", "[127.0.0.1]",
	    "[192.0.2.25]" };

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (strcmp(domain, d[i]) == 0)
			return true;
	/* relay_domains parent matching */
	{
		size_t n = strlen(domain);

		return (n > 11 && strcmp(domain + n - 11, ".relay.test") ==
		    0) || (n > 14 && strcmp(domain + n - 14,
		    ".reltable.test") == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *cf;
	static struct route_tables *rt;
	struct route_result r;
	struct route_verdict v;
	enum route_class cls;
	char err[ROUTE_ERR_MAX_BYTES], **out = NULL;
	char *addr;

	if (rt == NULL) {
		struct diag_list diags;

		diag_list_init(&diags);
		cf = config_load_text("/nonexistent", main_cf, strlen(main_cf),
		    NULL, 0, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &diags);
		diag_list_deinit(&diags);
		if (cf == NULL)
			abort();
		rt = route_tables_new(config_main(cf), open_inline, NULL, err,
		    sizeof(err));
		if (rt == NULL)
			abort();
	}
	if (size > 4 * ROUTE_ADDRESS_MAX_BYTES)
		return 0;
	addr = xstrndup((const char *)data, size);

	(void)route_domain_class(rt, addr, &cls, err, sizeof(err));
	if (cls > ROUTE_DEFAULT)
		abort();

	route_result_init(&r);
	if (route_resolve(rt, addr, &r) != ROUTE_OK) {
		if (r.err[0] == '\0')
			abort();
		goto out;
	}
	if (r.cls > ROUTE_DEFAULT || r.nsteps > ROUTE_STEPS_MAX ||
	    strlen(r.address) >= sizeof(r.address) ||
	    strlen(r.nexthop) >= sizeof(r.nexthop))
		abort();
	if (r.address[0] != '\0') {
		const char *at = last_at(r.address);
		bool routed;

		if (at == NULL)
			abort();
		routed = strcspn(r.address, "@!%") != (size_t)(at - r.address);
		if (routed != ((r.flags & ROUTE_F_ROUTED) != 0))
			abort();
		/* No relay hole: an authorized destination is ours. */
		if (r.cls != ROUTE_DEFAULT && !(r.flags & ROUTE_F_ROUTED) &&
		    !ours(at + 1))
			abort();
		if (r.transport[0] == '\0')
			abort();
	}
	if (route_check_listed(rt, &r, &v, err, sizeof(err)) == ROUTE_OK) {
		if (v.listed == ROUTE_UNLISTED && (v.code < 400 ||
		    v.code > 599 || v.text[0] == '\0'))
			abort();
	} else if (err[0] == '\0') {
		abort();
	}
	if (route_expand_aliases(rt, r.address, &out, &r) == ROUTE_OK) {
		if (out == NULL || out[0] == NULL)
			abort();
		for (size_t i = 0; out[i] != NULL; i++)
			if (out[i][0] == '\0' && r.address[0] != '\0')
				abort();
		strv_free(&out);
	} else if (out != NULL || r.err[0] == '\0') {
		abort();
	}
out:
	route_result_deinit(&r);
	free(addr);
	return 0;
}
