/* SPDX-License-Identifier: MIT */
/*
 * test_route - the address resolver (route.h): classes, rewriting,
 * transports, recipient tables, virtual alias expansion and failing
 * tables, table-driven over one main.cf (inline:, texthash: files in a
 * temporary directory, static:) with per-case overrides.
 *
 * Each case resolves one address and states the whole answer: status,
 * class, flags, address after rewriting, transport, next hop, the
 * listed verdict (code, DSN, text), the alias expansion, and a step or
 * error text that must appear.  Failing tables come in two kinds: a
 * parameter whose tables do not open (the test opener returns NULL for
 * the parameter named in the case's "broken" field), and a table whose
 * every lookup fails ("fail:" tables, a fake type).  Both must give
 * ROUTE_TEMPFAIL wherever they are consulted.
 *
 * Also: unix:passwd.byname and unix:group.byname (dict_unix.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "dict.h"
#include "maps.h"
#include "route.h"
#include "strv.h"
#include "test_support.h"
#include "xalloc.h"

/* ------------------------------------------------------------ fixtures */

static char tmpdir[] = "/tmp/test_route.XXXXXX";

static const struct {
	const char *name;
	const char *text;
} files[] = {
	{ "mydest", "mydest-table.test ok\n" },
	{ "vdomains", "vdom.test ok\nvtrans.test ok\n" },
	{ "vmbox", "u@vmail.test u/\nv@vdom.test v/\nw@vtrans.test w/\n"
	    "self@vmail.test self/\n" },
	{ "valias",
	    "info@alias.test u@vmail.test, v@vdom.test\n"
	    "@catchall.test u@vmail.test\n"
	    "self@vmail.test self@vmail.test, u@vmail.test\n"
	    "loop1@vmail.test loop2@vmail.test\n"
	    "loop2@vmail.test loop1@vmail.test\n"
	    "c1@vmail.test c2@vmail.test\n"
	    "c2@vmail.test c3@vmail.test\n"
	    "c3@vmail.test c4@vmail.test\n"
	    "many@vmail.test a1@x.test a2@x.test a3@x.test a4@x.test "
	    "a5@x.test\n"
	    "fwd@vmail.test u@vmail.test\n"
	    "vuser u@vmail.test\n"
	    "nodomain@vmail.test bob\n"
	    "dup@vmail.test u@vmail.test, <u@vmail.test>, v@vdom.test\n" },
	{ "relaydomains", "reltable.test ok\n" },
	{ "transport.re", "/^trans\\.test$/ smtp:[re-domain.mx]\n"
	    "/^y@trans\\.test$/ smtp:[re-full.mx]\n" },
	{ "transport",
	    "full@trans.test smtp:[full.mx]:25\n"
	    "user@trans.test :[keep.mx]\n"
	    "trans.test relay:[dom.mx]\n"
	    ".parent.test lmtp:unix:/run/lmtp\n"
	    "pstyle.test lmtp:[p.mx]\n"
	    "onlyt.test slow\n"
	    "colon.test slow:\n"
	    "err.test error:5.7.1 no mail here\n"
	    "bare-err.test error\n"
	    "vtrans.test lmtp:[127.0.0.1]:24\n"
	    "alias.test smtp:[never.mx]\n" },
};

#define BASE_CF \
	"myhostname = mail.example.com\n" \
	"mydomain = example.com\n" \
	"myorigin = example.com\n" \
	"inet_interfaces = 127.0.0.1\n" \
	"proxy_interfaces = 192.0.2.25\n" \
	"mydestination = $myhostname, localhost.$mydomain, localhost, " \
	    "example.com, texthash:@DIR@/mydest\n" \
	"alias_maps = inline:{ root=admin, postmaster=root, list=a@x.test }\n" \
	"local_recipient_maps = inline:{ admin=x, bob=x } $alias_maps\n" \
	"virtual_alias_domains = alias.test, catchall.test\n" \
	"virtual_alias_maps = texthash:@DIR@/valias\n" \
	"virtual_mailbox_domains = vmail.test, texthash:@DIR@/vdomains\n" \
	"virtual_mailbox_maps = texthash:@DIR@/vmbox\n" \
	"virtual_transport = dovecot\n" \
	"relay_domains = relay.test, texthash:@DIR@/relaydomains\n" \
	"relay_recipient_maps = inline:{ known@relay.test=ok }\n" \
	"transport_maps = texthash:@DIR@/transport\n" \
	"recipient_delimiter = +\n"

static int
group_setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = xasprintf("%s/%s", tmpdir, files[i].name);
		FILE *f = fopen(p, "w");

		if (f == NULL)
			return -1;
		fputs(files[i].text, f);
		fclose(f);
		free(p);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = xasprintf("%s/%s", tmpdir, files[i].name);

		unlink(p);
		free(p);
	}
	{
		/* test_tables_new's file, when a failure left it. */
		char *p = xasprintf("%s/relay.list", tmpdir);

		unlink(p);
		free(p);
	}
	rmdir(tmpdir);
	return 0;
}

/* A table type whose every lookup fails: "fail:anything". */
static int
fail_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	(void)d;
	(void)name;
	(void)opts;
	(void)err;
	(void)errsz;
	return 0;
}

static enum dict_status
fail_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	(void)key;
	(void)keylen;
	(void)value;
	snprintf(err, errsz, "%s: server down", d->spec);
	return DICT_TEMPFAIL;
}

static void
fail_close(struct dict *d)
{
	(void)d;
}

static const struct dict_type fail_type = {
	.name = "fail",
	.flags = 0,
	.open = fail_open,
	.lookup = fail_lookup,
	.changed = NULL,
	.close = fail_close,
};

struct opener {
	const char *broken;	/* parameter whose tables do not open */
	unsigned calls;
};

/* The test opener: files not owner-checked, "fail:" tables fake. */
static struct maps *
test_open(void *ctx, const char *param, const char *value, char *err,
    size_t errsz)
{
	struct opener *o = ctx;
	struct dict_open_opts opts;
	char **specs;
	struct maps *m;

	o->calls++;
	if (o->broken != NULL && strcmp(param, o->broken) == 0) {
		snprintf(err, errsz, "%s: simulated open failure", param);
		return NULL;
	}
	dict_open_opts_init(&opts);
	opts.trusted_uid = (uid_t)-1;
	specs = config_split_list(value);
	m = maps_new(param);
	for (size_t i = 0; specs[i] != NULL; i++) {
		struct dict *d;

		if (strncmp(specs[i], "fail:", 5) == 0)
			d = dict_open_type(&fail_type, specs[i] + 5, &opts, err,
			    errsz);
		else
			d = dict_open(specs[i], &opts, err, errsz);
		if (d == NULL) {
			strv_free(&specs);
			maps_free(&m);
			return NULL;
		}
		maps_add(m, d);
	}
	strv_free(&specs);
	return m;
}

/* load - the configuration BASE_CF + extra, @DIR@ replaced. */
static struct config *
load(const char *extra)
{
	struct diag_list diags;
	struct buf b;
	struct config *cf;
	const char *p;
	char *text = xasprintf("%s%s\n", BASE_CF, extra != NULL ? extra :
	    "");

	buf_init(&b, 1024 * 1024);
	for (p = text; *p != '\0'; ) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			assert_int_equal(buf_append_str(&b, tmpdir), 0);
			p += 5;
		} else {
			assert_int_equal(buf_append_c(&b, *p++), 0);
		}
	}
	free(text);
	diag_list_init(&diags);
	cf = config_load_text(tmpdir, buf_cstr(&b), b.len, NULL, 0,
	    CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &diags);
	if (cf == NULL)
		test_print_diags(&diags);
	assert_non_null(cf);
	diag_list_deinit(&diags);
	buf_deinit(&b);
	return cf;
}

static struct route_tables *
tables(struct config *cf, struct opener *o)
{
	char err[ROUTE_ERR_MAX_BYTES];
	struct route_tables *rt = route_tables_new(config_main(cf), test_open,
	    o, err, sizeof(err));

	if (rt == NULL)
		fail_msg("route_tables_new: %s", err);
	return rt;
}

static bool
has_step(const struct route_result *r, const char *needle)
{
	for (size_t i = 0; i < r->nsteps; i++)
		if (strstr(r->steps[i], needle) != NULL)
			return true;
	return false;
}

static void
dump_steps(const struct route_result *r)
{
	for (size_t i = 0; i < r->nsteps; i++)
		print_message("    step %zu: %s\n", i + 1, r->steps[i]);
}

/* ------------------------------------------------------------ cases */

#define UNCHECKED 0		/* not checked (the default) */
#define LISTED 1
#define TEMP (-1)		/* route_check_listed: ROUTE_TEMPFAIL */

struct rcase {
	const char *name;
	const char *cf;		/* main.cf lines over BASE_CF */
	const char *broken;	/* parameter whose tables do not open */
	const char *addr;
	enum route_status st;
	const char *err;	/* ROUTE_TEMPFAIL: substring of r.err */
	enum route_class cls;
	unsigned flags;
	const char *resolved;
	const char *transport;
	const char *nexthop;
	int code;		/* LISTED, TEMP, UNCHECKED, or the code */
	const char *dsn;
	const char *text;	/* substring of the verdict text */
	const char *aliases;	/* "a, b"; "!text": expansion TEMPFAIL */
	const char *step;	/* substring of some step */
	int relayhost;		/* ROUTE_F_RELAYHOST: 1 set, -1 clear, 0
				 * either (flags are compared without it) */
};

#define F_ROUTED ROUTE_F_ROUTED
#define F_PM ROUTE_F_POSTMASTER
#define F_LIT ROUTE_F_LITERAL

static const struct rcase cases[] = {
	/* ---- local class */
	{ .name = "bare user gets @myorigin", .addr = "root",
	  .cls = ROUTE_LOCAL, .resolved = "root@example.com",
	  .transport = "local", .nexthop = "mail.example.com",
	  .code = LISTED, .aliases = "root@example.com",
	  .step = "append_at_myorigin: root -> root@example.com" },
	{ .name = "user@ gets myorigin", .addr = "bob@",
	  .cls = ROUTE_LOCAL, .resolved = "bob@example.com",
	  .transport = "local", .nexthop = "mail.example.com",
	  .code = LISTED },
	{ .name = "append_at_myorigin = no uses myhostname",
	  .cf = "append_at_myorigin = no", .addr = "bob",
	  .cls = ROUTE_LOCAL, .resolved = "bob@mail.example.com",
	  .transport = "local", .code = LISTED, .step = "no domain" },
	{ .name = "upper case domain folded", .addr = "bob@EXAMPLE.Com",
	  .cls = ROUTE_LOCAL, .resolved = "bob@example.com",
	  .transport = "local", .code = LISTED,
	  .step = "fold the domain to lower case" },
	{ .name = "upper case local part kept, table keys fold",
	  .addr = "BOB@example.com", .cls = ROUTE_LOCAL,
	  .resolved = "BOB@example.com", .code = LISTED },
	{ .name = "trailing dot", .addr = "bob@example.com.",
	  .cls = ROUTE_LOCAL, .resolved = "bob@example.com", .code = LISTED,
	  .step = "strip the trailing dot: bob@example.com. -> "
	  "bob@example.com" },
	{ .name = "double trailing dot kept", .addr = "bob@example.com..",
	  .cls = ROUTE_DEFAULT, .resolved = "bob@example.com..",
	  .transport = "error", .code = 550, .dsn = "5.1.2" },
	{ .name = "unknown local user", .addr = "nobody@example.com",
	  .cls = ROUTE_LOCAL, .resolved = "nobody@example.com",
	  .transport = "local", .code = 550, .dsn = "5.1.1",
	  .text = "User unknown in local recipient table" },
	{ .name = "unknown_local_recipient_reject_code",
	  .cf = "unknown_local_recipient_reject_code = 450",
	  .addr = "nobody@example.com", .cls = ROUTE_LOCAL, .code = 450,
	  .dsn = "4.1.1" },
	{ .name = "show_user_unknown_table_name = no",
	  .cf = "show_user_unknown_table_name = no",
	  .addr = "nobody@example.com", .cls = ROUTE_LOCAL, .code = 550,
	  .text = "User unknown" },
	{ .name = "empty local_recipient_maps accepts all",
	  .cf = "local_recipient_maps =", .addr = "nobody@example.com",
	  .cls = ROUTE_LOCAL, .code = LISTED },
	{ .name = "localhost", .addr = "bob@localhost", .cls = ROUTE_LOCAL,
	  .nexthop = "mail.example.com", .code = LISTED },
	{ .name = "mydestination table element",
	  .addr = "bob@mydest-table.test", .cls = ROUTE_LOCAL,
	  .code = LISTED, .step = "table texthash:" },
	{ .name = "mydestination has no parent matching",
	  .addr = "bob@sub.example.com", .cls = ROUTE_DEFAULT,
	  .transport = "smtp", .nexthop = "sub.example.com" },
	{ .name = "local_transport without next hop",
	  .cf = "local_transport = local", .addr = "bob@localhost",
	  .cls = ROUTE_LOCAL, .transport = "local", .nexthop = "localhost" },
	{ .name = "empty local_transport is a failure",
	  .cf = "local_transport =", .addr = "bob@localhost",
	  .st = ROUTE_TEMPFAIL, .err = "local_transport" },
	{ .name = "append_dot_mydomain", .cf = "append_dot_mydomain = yes",
	  .addr = "bob@mail", .cls = ROUTE_LOCAL,
	  .resolved = "bob@mail.example.com",
	  .step = "append_dot_mydomain: bob@mail -> bob@mail.example.com" },
	{ .name = "no append_dot_mydomain by default", .addr = "bob@mail",
	  .cls = ROUTE_DEFAULT, .resolved = "bob@mail", .nexthop = "mail" },
	{ .name = "own IPv4 literal", .addr = "bob@[127.0.0.1]",
	  .cls = ROUTE_LOCAL, .flags = F_LIT, .resolved = "bob@[127.0.0.1]",
	  .code = LISTED },
	{ .name = "proxy_interfaces literal", .addr = "bob@[192.0.2.25]",
	  .cls = ROUTE_LOCAL, .flags = F_LIT },
	{ .name = "foreign literal", .addr = "bob@[192.0.2.99]",
	  .cls = ROUTE_DEFAULT, .flags = F_LIT, .transport = "smtp",
	  .nexthop = "[192.0.2.99]" },
	{ .name = "IPv6 literal with loopback-only",
	  .cf = "inet_interfaces = loopback-only", .addr = "bob@[IPv6:::1]",
	  .cls = ROUTE_LOCAL, .flags = F_LIT },
	{ .name = "empty local part is MAILER-DAEMON",
	  .addr = "\"\"@example.com", .cls = ROUTE_LOCAL,
	  .resolved = "MAILER-DAEMON@example.com", .code = LISTED },
	{ .name = "null address", .addr = "", .cls = ROUTE_LOCAL,
	  .resolved = "", .transport = "", .nexthop = "", .code = LISTED,
	  .aliases = "" },
	{ .name = "double-bounce is known", .addr = "double-bounce@example.com",
	  .cls = ROUTE_LOCAL, .code = LISTED },
	{ .name = "conflict mydestination and virtual_mailbox_domains",
	  .cf = "virtual_mailbox_domains = vmail.test, example.com",
	  .addr = "bob@example.com", .cls = ROUTE_LOCAL,
	  .step = "do not list domain example.com in BOTH mydestination and "
	  "virtual_mailbox_domains" },

	/* ---- postmaster */
	{ .name = "bare Postmaster", .addr = "Postmaster",
	  .cls = ROUTE_LOCAL, .flags = F_PM,
	  .resolved = "Postmaster@mail.example.com", .transport = "local",
	  .code = LISTED },
	{ .name = "postmaster of a local domain",
	  .cf = "local_recipient_maps = inline:{ bob=x }",
	  .addr = "postmaster@example.com", .cls = ROUTE_LOCAL,
	  .flags = F_PM, .code = LISTED },
	{ .name = "postmaster of a virtual mailbox domain",
	  .addr = "POSTMASTER@vmail.test", .cls = ROUTE_VIRTUAL,
	  .flags = F_PM, .code = LISTED },
	{ .name = "postmaster of a virtual alias domain",
	  .addr = "postmaster@alias.test", .cls = ROUTE_ALIAS, .flags = F_PM,
	  .code = LISTED },
	{ .name = "postmaster of a relay domain is not ours",
	  .addr = "postmaster@relay.test", .cls = ROUTE_RELAY, .flags = 0,
	  .code = 550, .text = "relay recipient table" },
	{ .name = "postmaster elsewhere", .addr = "postmaster@remote.test",
	  .cls = ROUTE_DEFAULT, .flags = 0 },

	/* ---- recipient_delimiter */
	{ .name = "extension of a local user", .addr = "bob+tag@example.com",
	  .cls = ROUTE_LOCAL, .code = LISTED },
	{ .name = "extension of an unknown local user",
	  .addr = "nobody+tag@example.com", .cls = ROUTE_LOCAL, .code = 550 },
	{ .name = "extension of a virtual mailbox", .addr = "u+tag@vmail.test",
	  .cls = ROUTE_VIRTUAL, .code = LISTED },
	{ .name = "no recipient_delimiter", .cf = "recipient_delimiter =",
	  .addr = "u+tag@vmail.test", .cls = ROUTE_VIRTUAL, .code = 550 },
	{ .name = "several delimiters", .cf = "recipient_delimiter = +-",
	  .addr = "u-tag@vmail.test", .cls = ROUTE_VIRTUAL, .code = LISTED },

	/* ---- virtual mailbox class */
	{ .name = "virtual mailbox", .addr = "u@vmail.test",
	  .cls = ROUTE_VIRTUAL, .resolved = "u@vmail.test",
	  .transport = "dovecot", .nexthop = "vmail.test", .code = LISTED,
	  .aliases = "u@vmail.test",
	  .step = "virtual_mailbox_domains matches \"vmail.test\"" },
	{ .name = "virtual mailbox upper case", .addr = "U@VMAIL.TEST",
	  .cls = ROUTE_VIRTUAL, .resolved = "U@vmail.test", .code = LISTED },
	{ .name = "virtual domain from a table", .addr = "v@vdom.test",
	  .cls = ROUTE_VIRTUAL, .transport = "dovecot", .code = LISTED,
	  .step = "table texthash:" },
	{ .name = "unknown virtual mailbox", .addr = "nobody@vmail.test",
	  .cls = ROUTE_VIRTUAL, .code = 550, .dsn = "5.1.1",
	  .text = "User unknown in virtual mailbox table" },
	{ .name = "unknown_virtual_mailbox_reject_code",
	  .cf = "unknown_virtual_mailbox_reject_code = 450",
	  .addr = "nobody@vmail.test", .cls = ROUTE_VIRTUAL, .code = 450 },
	{ .name = "virtual mailbox known through an alias",
	  .addr = "fwd@vmail.test", .cls = ROUTE_VIRTUAL, .code = LISTED,
	  .aliases = "u@vmail.test" },
	{ .name = "virtual_mailbox_domains default is the maps",
	  .cf = "virtual_mailbox_domains = $virtual_mailbox_maps\n"
	  "virtual_mailbox_maps = inline:{ vm.test=x, a@vm.test=x }",
	  .addr = "a@vm.test", .cls = ROUTE_VIRTUAL, .code = LISTED },

	/* ---- virtual alias class */
	{ .name = "virtual alias one to many", .addr = "info@alias.test",
	  .cls = ROUTE_ALIAS, .transport = "error",
	  .nexthop = "5.1.1 User unknown in virtual alias table",
	  .code = LISTED, .aliases = "u@vmail.test, v@vdom.test" },
	{ .name = "unknown in a virtual alias domain",
	  .addr = "nobody@alias.test", .cls = ROUTE_ALIAS,
	  .transport = "error", .code = 550, .dsn = "5.1.1",
	  .text = "User unknown in virtual alias table" },
	{ .name = "unknown_virtual_alias_reject_code",
	  .cf = "unknown_virtual_alias_reject_code = 551",
	  .addr = "nobody@alias.test", .cls = ROUTE_ALIAS, .code = 551 },
	{ .name = "transport_maps never overrides the alias class",
	  .addr = "info@alias.test", .cls = ROUTE_ALIAS,
	  .transport = "error" },
	{ .name = "catch-all", .addr = "any@catchall.test",
	  .cls = ROUTE_ALIAS, .code = LISTED, .aliases = "u@vmail.test",
	  .step = "key @catchall.test" },
	{ .name = "virtual_alias_domains default is the maps",
	  .cf = "virtual_alias_domains = $virtual_alias_maps\n"
	  "virtual_alias_maps = inline:{ va.test=x, a@va.test=b@vmail.test }",
	  .addr = "a@va.test", .cls = ROUTE_ALIAS, .code = LISTED,
	  .aliases = "b@vmail.test" },
	{ .name = "self reference kept", .addr = "self@vmail.test",
	  .cls = ROUTE_VIRTUAL, .aliases = "self@vmail.test, u@vmail.test" },
	{ .name = "alias loop", .addr = "loop1@vmail.test",
	  .cls = ROUTE_VIRTUAL, .code = LISTED,
	  .aliases = "!alias loop: loop1@vmail.test -> loop2@vmail.test -> "
	  "loop1@vmail.test" },
	{ .name = "recursion within the limit", .addr = "c1@vmail.test",
	  .cls = ROUTE_VIRTUAL, .aliases = "c4@vmail.test" },
	{ .name = "virtual_alias_recursion_limit",
	  .cf = "virtual_alias_recursion_limit = 2", .addr = "c1@vmail.test",
	  .cls = ROUTE_VIRTUAL, .aliases = "!virtual_alias_recursion_limit" },
	{ .name = "expansion within the limit", .addr = "many@vmail.test",
	  .cls = ROUTE_VIRTUAL,
	  .aliases = "a1@x.test, a2@x.test, a3@x.test, a4@x.test, a5@x.test" },
	{ .name = "virtual_alias_expansion_limit",
	  .cf = "virtual_alias_expansion_limit = 3", .addr = "many@vmail.test",
	  .cls = ROUTE_VIRTUAL, .aliases = "!virtual_alias_expansion_limit" },
	{ .name = "unmatched extension propagated",
	  .addr = "fwd+tag@vmail.test",
	  .cls = ROUTE_VIRTUAL, .aliases = "u+tag@vmail.test" },
	{ .name = "extension not propagated",
	  .cf = "propagate_unmatched_extensions = canonical",
	  .addr = "fwd+tag@vmail.test", .cls = ROUTE_VIRTUAL,
	  .aliases = "u@vmail.test" },
	{ .name = "user key only for local domains",
	  .addr = "vuser@example.com",
	  .cls = ROUTE_LOCAL, .code = LISTED, .aliases = "u@vmail.test" },
	{ .name = "no user key in other domains", .addr = "vuser@vmail.test",
	  .cls = ROUTE_VIRTUAL, .code = 550, .aliases = "vuser@vmail.test" },
	{ .name = "alias target without domain gets myorigin",
	  .addr = "nodomain@vmail.test", .aliases = "bob@example.com",
	  .cls = ROUTE_VIRTUAL },
	{ .name = "duplicate targets once", .addr = "dup@vmail.test",
	  .cls = ROUTE_VIRTUAL, .aliases = "u@vmail.test, v@vdom.test" },

	/* ---- relocated_maps */
	{ .name = "relocated user",
	  .cf = "relocated_maps = inline:{ u@vmail.test=u@new.example, "
	  "{@gone.test=the Gone company closed, see www.gone.test} }",
	  .addr = "u@vmail.test", .cls = ROUTE_VIRTUAL,
	  .transport = "error",
	  .nexthop = "5.1.6 User has moved to u@new.example", .code = 550,
	  .dsn = "5.1.6", .text = "User has moved to u@new.example" },
	{ .name = "relocated domain, any class",
	  .cf = "relocated_maps = inline:{ u@vmail.test=u@new.example, "
	  "{@gone.test=the Gone company closed, see www.gone.test} }",
	  .addr = "anyone@gone.test", .cls = ROUTE_DEFAULT,
	  .transport = "error", .nexthop = "5.1.6 User has moved to the Gone "
	  "company closed, see www.gone.test", .code = 550, .dsn = "5.1.6" },
	{ .name = "relocated user key for a local domain",
	  .cf = "relocated_maps = inline:{ root=admin@new.example }",
	  .addr = "root@example.com", .cls = ROUTE_LOCAL,
	  .transport = "error",
	  .nexthop = "5.1.6 User has moved to admin@new.example", .code = 550,
	  .dsn = "5.1.6" },
	{ .name = "not relocated", .cf = "relocated_maps = inline:{ "
	  "u@vmail.test=u@new.example }", .addr = "v@vdom.test",
	  .cls = ROUTE_VIRTUAL, .transport = "dovecot", .code = LISTED },
	{ .name = "relocated_maps fails", .cf = "relocated_maps = fail:db",
	  .addr = "u@vmail.test", .st = ROUTE_TEMPFAIL,
	  .err = "relocated_maps" },

	/* ---- relay class */
	{ .name = "relay domain", .addr = "x@relay.test", .cls = ROUTE_RELAY,
	  .transport = "relay", .nexthop = "relay.test", .code = 550,
	  .dsn = "5.1.1", .text = "User unknown in relay recipient table" },
	{ .name = "known relay recipient", .addr = "known@relay.test",
	  .cls = ROUTE_RELAY, .code = LISTED },
	{ .name = "relay_recipient_maps empty accepts all",
	  .cf = "relay_recipient_maps =", .addr = "x@relay.test",
	  .cls = ROUTE_RELAY, .code = LISTED },
	{ .name = "unknown_relay_recipient_reject_code",
	  .cf = "unknown_relay_recipient_reject_code = 450",
	  .addr = "x@relay.test", .cls = ROUTE_RELAY, .code = 450 },
	{ .name = "relay_domains parent matching", .addr = "x@a.relay.test",
	  .cls = ROUTE_RELAY, .nexthop = "a.relay.test" },
	{ .name = "relay_domains without parent matching",
	  .cf = "parent_domain_matches_subdomains =",
	  .addr = "x@a.relay.test", .cls = ROUTE_DEFAULT },
	{ .name = "relay_domains .domain form",
	  .cf = "parent_domain_matches_subdomains =\n"
	  "relay_domains = .relay.test", .addr = "x@a.relay.test",
	  .cls = ROUTE_RELAY },
	{ .name = "relay_domains .domain is not the domain",
	  .cf = "relay_domains = .relay.test", .addr = "x@relay.test",
	  .cls = ROUTE_DEFAULT },
	{ .name = "relay_domains table", .addr = "x@reltable.test",
	  .cls = ROUTE_RELAY },
	{ .name = "relay_domains table parent", .addr = "x@a.reltable.test",
	  .cls = ROUTE_RELAY },
	{ .name = "relay_domains negation",
	  .cf = "relay_domains = !no.relay.test, relay.test",
	  .addr = "x@no.relay.test", .cls = ROUTE_DEFAULT },
	{ .name = "relayhost for the relay class",
	  .cf = "relayhost = [smart.test]:587", .addr = "known@relay.test",
	  .cls = ROUTE_RELAY, .transport = "relay",
	  .nexthop = "[smart.test]:587", .relayhost = 1 },
	{ .name = "relay_transport with next hop",
	  .cf = "relay_transport = relay:[inside.test]",
	  .addr = "known@relay.test", .cls = ROUTE_RELAY,
	  .transport = "relay", .nexthop = "[inside.test]", .relayhost = -1 },

	/* ---- default class */
	{ .name = "default class", .addr = "x@remote.test",
	  .cls = ROUTE_DEFAULT, .resolved = "x@remote.test",
	  .transport = "smtp", .nexthop = "remote.test", .code = LISTED,
	  .aliases = "x@remote.test", .relayhost = 1 },
	{ .name = "relayhost", .cf = "relayhost = [smart.test]:587",
	  .addr = "x@remote.test", .cls = ROUTE_DEFAULT, .transport = "smtp",
	  .nexthop = "[smart.test]:587", .step = "(relayhost)",
	  .relayhost = 1 },
	{ .name = "default_transport", .cf = "default_transport = error:no "
	  "outbound mail", .addr = "x@remote.test", .cls = ROUTE_DEFAULT,
	  .transport = "error", .nexthop = "no outbound mail", .code = 550,
	  .dsn = "5.1.1", .text = "no outbound mail", .relayhost = -1 },
	{ .name = "relayhost does not apply locally",
	  .cf = "relayhost = [smart.test]", .addr = "u@vmail.test",
	  .cls = ROUTE_VIRTUAL, .nexthop = "vmail.test", .relayhost = -1 },

	/* ---- transport_maps */
	{ .name = "transport_maps full address", .addr = "full@trans.test",
	  .cls = ROUTE_DEFAULT, .transport = "smtp", .nexthop = "[full.mx]:25",
	  .step = "transport_maps: full@trans.test in texthash:",
	  .relayhost = -1 },
	{ .name = "transport_maps :nexthop keeps the transport",
	  .cf = "default_transport = mytransport", .addr = "user@trans.test",
	  .cls = ROUTE_DEFAULT, .transport = "mytransport",
	  .nexthop = "[keep.mx]" },
	{ .name = "transport_maps address without extension",
	  .addr = "user+x@trans.test", .transport = "smtp",
	  .nexthop = "[keep.mx]", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps domain", .addr = "other@trans.test",
	  .cls = ROUTE_DEFAULT, .transport = "relay", .nexthop = "[dom.mx]" },
	{ .name = "transport_maps .parent", .addr = "a@b.parent.test",
	  .transport = "lmtp", .nexthop = "unix:/run/lmtp",
	  .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps .parent is not the parent",
	  .addr = "a@parent.test", .transport = "smtp",
	  .nexthop = "parent.test", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps parent style off",
	  .addr = "a@x.pstyle.test", .transport = "smtp",
	  .nexthop = "x.pstyle.test", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps parent style on",
	  .cf = "parent_domain_matches_subdomains = transport_maps",
	  .addr = "a@x.pstyle.test", .transport = "lmtp",
	  .nexthop = "[p.mx]", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps transport only resets the next hop",
	  .cf = "relayhost = [smart.test]", .addr = "a@onlyt.test",
	  .transport = "slow", .nexthop = "onlyt.test", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps transport: resets the next hop",
	  .addr = "a@colon.test", .transport = "slow", .nexthop = "colon.test",
	  .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps error with text", .addr = "a@err.test",
	  .transport = "error", .nexthop = "5.7.1 no mail here", .code = 550,
	  .dsn = "5.7.1", .text = "no mail here", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps bare error", .addr = "a@bare-err.test",
	  .transport = "error", .nexthop = "Address is undeliverable",
	  .code = 550, .dsn = "5.1.1", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps for a virtual domain",
	  .addr = "w@vtrans.test",
	  .cls = ROUTE_VIRTUAL, .transport = "lmtp",
	  .nexthop = "[127.0.0.1]:24", .code = LISTED },
	{ .name = "transport_maps wildcard",
	  .cf = "transport_maps = texthash:@DIR@/transport, "
	  "inline:{ *=wild:[w.test] }", .addr = "x@remote.test",
	  .transport = "wild", .nexthop = "[w.test]", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps wildcard comes last",
	  .cf = "transport_maps = texthash:@DIR@/transport, "
	  "inline:{ *=wild:[w.test] }", .addr = "x@trans.test",
	  .transport = "relay", .nexthop = "[dom.mx]", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps static",
	  .cf = "transport_maps = static:lmtp:[all.mx]",
	  .addr = "bob@localhost",
	  .transport = "lmtp", .nexthop = "[all.mx]", .cls = ROUTE_LOCAL },
	{ .name = "transport_maps pattern tables see whole addresses only",
	  .cf = "transport_maps = inline:{ x=y }, regexp:@DIR@/transport.re",
	  .addr = "x@trans.test", .transport = "smtp",
	  .nexthop = "trans.test", .cls = ROUTE_DEFAULT },
	{ .name = "transport_maps pattern table on the whole address",
	  .cf = "transport_maps = inline:{ x=y }, regexp:@DIR@/transport.re",
	  .addr = "y@trans.test", .transport = "smtp",
	  .nexthop = "[re-full.mx]", .cls = ROUTE_DEFAULT },

	/* ---- routing operators and relay tricks */
	{ .name = "percent hack in a local domain",
	  .addr = "u%remote.test@example.com", .cls = ROUTE_DEFAULT,
	  .flags = 0, .resolved = "u@remote.test", .nexthop = "remote.test",
	  .step = "allow_percent_hack: u%remote.test -> u@remote.test" },
	{ .name = "percent hack off", .cf = "allow_percent_hack = no",
	  .addr = "u%remote.test@example.com", .cls = ROUTE_LOCAL,
	  .flags = F_ROUTED, .resolved = "u%remote.test@example.com" },
	{ .name = "percent in a relay domain is routed",
	  .addr = "u%remote.test@relay.test", .cls = ROUTE_RELAY,
	  .flags = F_ROUTED, .resolved = "u%remote.test@relay.test" },
	{ .name = "percent in a virtual domain is routed",
	  .addr = "u%remote.test@vmail.test", .cls = ROUTE_VIRTUAL,
	  .flags = F_ROUTED, .code = 550 },
	{ .name = "percent hack to another local domain",
	  .addr = "bob%localhost@example.com", .cls = ROUTE_LOCAL,
	  .flags = 0, .resolved = "bob@localhost", .code = LISTED },
	{ .name = "bang path in a local domain",
	  .addr = "remote.test!u@example.com", .cls = ROUTE_DEFAULT,
	  .flags = 0, .resolved = "u@remote.test",
	  .step = "swap_bangpath: remote.test!u -> u@remote.test" },
	{ .name = "bang path off", .cf = "swap_bangpath = no",
	  .addr = "remote.test!u@example.com", .cls = ROUTE_LOCAL,
	  .flags = F_ROUTED },
	{ .name = "bang path through two hops",
	  .addr = "a.test!b.test!u@localhost", .cls = ROUTE_DEFAULT,
	  .flags = F_ROUTED, .resolved = "b.test!u@a.test" },
	{ .name = "bang path of a bare name", .addr = "remote.test!u",
	  .cls = ROUTE_DEFAULT, .resolved = "u@remote.test" },
	{ .name = "stacked local domains",
	  .addr = "bob@localhost@example.com", .cls = ROUTE_LOCAL,
	  .resolved = "bob@localhost", .code = LISTED },
	{ .name = "local domain then remote",
	  .addr = "u@remote.test@example.com", .cls = ROUTE_DEFAULT,
	  .resolved = "u@remote.test", .flags = 0 },
	{ .name = "quoted @ in a local domain is opened",
	  .addr = "\"u@remote.test\"@example.com", .cls = ROUTE_DEFAULT,
	  .flags = 0, .resolved = "u@remote.test",
	  .step = "resolve_dequoted_address" },
	{ .name = "quoted @ with resolve_dequoted_address = no",
	  .cf = "resolve_dequoted_address = no",
	  .addr = "\"u@remote.test\"@example.com", .cls = ROUTE_LOCAL,
	  .flags = F_ROUTED, .resolved = "\"u@remote.test\"@example.com" },
	{ .name = "quoted @ in a relay domain is routed",
	  .addr = "\"u@remote.test\"@relay.test", .cls = ROUTE_RELAY,
	  .flags = F_ROUTED },
	{ .name = "quoted % opened", .addr = "\"u%remote.test\"@example.com",
	  .cls = ROUTE_DEFAULT, .resolved = "u@remote.test" },
	{ .name = "quoted local part keeps its quotes",
	  .addr = "\"a b@localhost\"@example.com", .cls = ROUTE_LOCAL,
	  .resolved = "\"a b\"@localhost", .flags = 0, .code = 550 },
	{ .name = "quoted without operators", .addr = "\"a b\"@example.com",
	  .cls = ROUTE_LOCAL, .resolved = "\"a b\"@example.com", .flags = 0 },
	{ .name = "many local hops are bounded",
	  .addr = "bob@localhost@localhost@localhost@localhost@localhost@"
	  "localhost@localhost@localhost@localhost@localhost@localhost@"
	  "localhost@localhost@localhost@localhost@localhost@localhost@"
	  "localhost@localhost@localhost@localhost@localhost@localhost@"
	  "localhost@localhost@localhost@localhost@localhost@localhost@"
	  "localhost@localhost@localhost@localhost@localhost@localhost@"
	  "localhost", .cls = ROUTE_LOCAL, .resolved = "bob@localhost",
	  .step = "more steps not shown" },

	/* ---- failing tables: never "unknown", never "not local" */
	{ .name = "mydestination table does not open",
	  .broken = "mydestination", .addr = "x@remote.test",
	  .st = ROUTE_TEMPFAIL, .err = "simulated open failure" },
	{ .name = "mydestination names before the table still work",
	  .broken = "mydestination", .addr = "bob@example.com",
	  .cls = ROUTE_LOCAL, .code = LISTED },
	{ .name = "mydestination table lookups fail",
	  .cf = "mydestination = fail:db", .addr = "bob@example.com",
	  .st = ROUTE_TEMPFAIL, .err = "server down" },
	{ .name = "virtual_alias_domains table fails",
	  .cf = "virtual_alias_domains = fail:db", .addr = "x@remote.test",
	  .st = ROUTE_TEMPFAIL, .err = "server down" },
	{ .name = "virtual_mailbox_domains table does not open",
	  .broken = "virtual_mailbox_domains", .addr = "x@remote.test",
	  .st = ROUTE_TEMPFAIL, .err = "virtual_mailbox_domains" },
	{ .name = "relay_domains table fails",
	  .cf = "relay_domains = fail:db", .addr = "x@remote.test",
	  .st = ROUTE_TEMPFAIL, .err = "relay_domains" },
	{ .name = "transport_maps does not open",
	  .broken = "transport_maps", .addr = "u@vmail.test",
	  .st = ROUTE_TEMPFAIL, .err = "transport_maps" },
	{ .name = "transport_maps lookups fail",
	  .cf = "transport_maps = fail:db", .addr = "bob@localhost",
	  .st = ROUTE_TEMPFAIL, .err = "server down" },
	{ .name = "transport_maps not consulted for the alias class",
	  .cf = "transport_maps = fail:db", .addr = "info@alias.test",
	  .cls = ROUTE_ALIAS, .code = LISTED },
	{ .name = "local_recipient_maps does not open",
	  .broken = "local_recipient_maps", .addr = "nobody@example.com",
	  .cls = ROUTE_LOCAL, .code = TEMP },
	{ .name = "alias table of local_recipient_maps fails",
	  .cf = "alias_maps = fail:db", .addr = "nobody@example.com",
	  .cls = ROUTE_LOCAL, .code = TEMP },
	{ .name = "alias table fails after a user is found",
	  .cf = "alias_maps = fail:db", .addr = "bob@example.com",
	  .cls = ROUTE_LOCAL, .code = TEMP },
	{ .name = "virtual_mailbox_maps does not open",
	  .broken = "virtual_mailbox_maps", .addr = "nobody@vmail.test",
	  .cls = ROUTE_VIRTUAL, .code = TEMP },
	{ .name = "relay_recipient_maps fails",
	  .cf = "relay_recipient_maps = fail:db", .addr = "x@relay.test",
	  .cls = ROUTE_RELAY, .code = TEMP },
	{ .name = "virtual_alias_maps does not open",
	  .broken = "virtual_alias_maps", .addr = "x@remote.test",
	  .cls = ROUTE_DEFAULT, .code = TEMP,
	  .aliases = "!virtual_alias_maps: simulated open failure" },
	{ .name = "virtual_alias_maps lookups fail",
	  .cf = "virtual_alias_maps = fail:db\nvirtual_alias_domains = "
	  "alias.test", .addr = "info@alias.test", .cls = ROUTE_ALIAS,
	  .code = TEMP, .aliases = "!server down" },
	{ .name = "recipient_canonical_maps fails",
	  .cf = "recipient_canonical_maps = fail:db", .addr = "u@vmail.test",
	  .cls = ROUTE_VIRTUAL, .code = TEMP },
	{ .name = "canonical mapping makes an address known",
	  .cf = "canonical_maps = inline:{ nobody@vmail.test=u@vmail.test }",
	  .addr = "nobody@vmail.test", .cls = ROUTE_VIRTUAL, .code = LISTED },
};

static void
join(char **v, struct buf *b)
{
	buf_reset(b);
	for (size_t i = 0; v[i] != NULL; i++)
		assert_int_equal(buf_appendf(b, "%s%s", i ? ", " : "", v[i]),
		    0);
}

static void
run_case(const struct rcase *c)
{
	struct opener o = { c->broken, 0 };
	struct config *cf = load(c->cf);
	struct route_tables *rt = tables(cf, &o);
	struct route_result r;
	struct route_verdict v;
	char err[ROUTE_ERR_MAX_BYTES];
	enum route_status st;

	route_result_init(&r);
	st = route_resolve(rt, c->addr, &r);
	if (st != c->st) {
		dump_steps(&r);
		fail_msg("%s: <%s>: status %d, want %d (%s)", c->name, c->addr,
		    st, c->st, r.err);
	}
	if (st == ROUTE_TEMPFAIL) {
		if (c->err != NULL && strstr(r.err, c->err) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", c->name,
			    r.err, c->err);
		if (r.err[0] == '\0')
			fail_msg("%s: TEMPFAIL without a reason", c->name);
		goto out;
	}
#define WANT_STR(field, want) do { \
	if ((want) != NULL && strcmp((field), (want)) != 0) { \
		dump_steps(&r); \
		fail_msg("%s: <%s>: " #field " \"%s\", want \"%s\"", c->name, \
		    c->addr, (field), (want)); \
	} \
} while (0)
	if (r.cls != c->cls) {
		dump_steps(&r);
		fail_msg("%s: <%s>: class %s, want %s", c->name, c->addr,
		    route_class_name(r.cls), route_class_name(c->cls));
	}
	/* The sender's default transport may replace only the transport
	 * default_transport gave: the default class, no transport_maps
	 * entry (the e2e tests show it set where it must be). */
	{
		bool by_map = false;

		for (size_t k = 0; k < r.nsteps; k++)
			if (strncmp(r.steps[k], "transport_maps: ", 16) == 0 &&
			    strstr(r.steps[k], " gives ") != NULL)
				by_map = true;
		if ((r.flags & ROUTE_F_DEFAULT_TRANSPORT) != 0 &&
		    (r.cls != ROUTE_DEFAULT || by_map)) {
			dump_steps(&r);
			fail_msg("%s: <%s>: the default-transport flag is %s",
			    c->name, c->addr, (r.flags &
			    ROUTE_F_DEFAULT_TRANSPORT) != 0 ? "set" : "clear");
		}
	}
	if ((r.flags & ~(ROUTE_F_RELAYHOST | ROUTE_F_DEFAULT_TRANSPORT)) !=
	    c->flags) {
		dump_steps(&r);
		fail_msg("%s: <%s>: flags %#x, want %#x", c->name, c->addr,
		    r.flags, c->flags);
	}
	if (c->relayhost != 0 && ((r.flags & ROUTE_F_RELAYHOST) != 0) !=
	    (c->relayhost > 0)) {
		dump_steps(&r);
		fail_msg("%s: <%s>: the relayhost flag is %s", c->name,
		    c->addr, c->relayhost > 0 ? "clear" : "set");
	}
	WANT_STR(r.address, c->resolved);
	WANT_STR(r.transport, c->transport);
	WANT_STR(r.nexthop, c->nexthop);

	if (c->code != UNCHECKED) {
		st = route_check_listed(rt, &r, &v, err, sizeof(err));
		if (c->code == TEMP) {
			if (st != ROUTE_TEMPFAIL || err[0] == '\0')
				fail_msg("%s: check: status %d, want TEMPFAIL",
				    c->name, st);
			if (v.listed != ROUTE_UNLISTED || v.code != 451 ||
			    strcmp(v.dsn, "4.3.0") != 0)
				fail_msg("%s: check TEMPFAIL verdict %d %s",
				    c->name, v.code, v.dsn);
		} else if (st != ROUTE_OK) {
			fail_msg("%s: check: TEMPFAIL (%s)", c->name, err);
		} else if (c->code == LISTED) {
			if (v.listed != ROUTE_LISTED)
				fail_msg("%s: <%s> unlisted (%d %s %s)",
				    c->name, c->addr, v.code, v.dsn, v.text);
		} else {
			if (v.listed != ROUTE_UNLISTED || v.code != c->code)
				fail_msg("%s: <%s>: verdict %s %d, want "
				    "unlisted %d", c->name, c->addr, v.listed ==
				    ROUTE_LISTED ? "listed" : "unlisted",
				    v.code, c->code);
			if (c->dsn != NULL && strcmp(v.dsn, c->dsn) != 0)
				fail_msg("%s: dsn %s, want %s", c->name, v.dsn,
				    c->dsn);
			if (c->text != NULL && strstr(v.text, c->text) == NULL)
				fail_msg("%s: text \"%s\" lacks \"%s\"",
				    c->name, v.text, c->text);
		}
	}
	if (c->aliases != NULL) {
		char **out = NULL;
		struct buf b;

		buf_init(&b, 64 * 1024);
		st = route_expand_aliases(rt, r.address, &out, &r);
		if (c->aliases[0] == '!') {
			if (st != ROUTE_TEMPFAIL)
				fail_msg("%s: expansion did not fail", c->name);
			if (strstr(r.err, c->aliases + 1) == NULL)
				fail_msg("%s: expansion error \"%s\" lacks "
				    "\"%s\"", c->name, r.err, c->aliases + 1);
			assert_null(out);
		} else {
			if (st != ROUTE_OK)
				fail_msg("%s: expansion failed: %s", c->name,
				    r.err);
			join(out, &b);
			if (strcmp(buf_cstr(&b), c->aliases) != 0) {
				dump_steps(&r);
				fail_msg("%s: aliases \"%s\", want \"%s\"",
				    c->name, buf_cstr(&b), c->aliases);
			}
			strv_free(&out);
		}
		buf_deinit(&b);
	}
	if (c->step != NULL && !has_step(&r, c->step)) {
		dump_steps(&r);
		fail_msg("%s: no step with \"%s\"", c->name, c->step);
	}
	assert_true(r.nsteps <= ROUTE_STEPS_MAX);
out:
	route_result_deinit(&r);
	route_tables_free(&rt);
	config_free(&cf);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* ------------------------------------------------------------ more */

/* route_domain_class() for every class, and its failure. */
static void
test_domain_class(void **state)
{
	static const struct {
		const char *domain;
		enum route_class cls;
	} dc[] = {
		{ "example.com", ROUTE_LOCAL },
		{ "EXAMPLE.COM.", ROUTE_LOCAL },
		{ "[127.0.0.1]", ROUTE_LOCAL },
		{ "alias.test", ROUTE_ALIAS },
		{ "vmail.test", ROUTE_VIRTUAL },
		{ "vdom.test", ROUTE_VIRTUAL },
		{ "relay.test", ROUTE_RELAY },
		{ "a.relay.test", ROUTE_RELAY },
		{ "remote.test", ROUTE_DEFAULT },
		{ "", ROUTE_DEFAULT },
	};
	struct opener o = { NULL, 0 };
	struct config *cf = load(NULL);
	struct route_tables *rt = tables(cf, &o);
	char err[ROUTE_ERR_MAX_BYTES];
	enum route_class cls;

	(void)state;
	for (size_t i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
		assert_int_equal(route_domain_class(rt, dc[i].domain, &cls,
		    err, sizeof(err)), ROUTE_OK);
		if (cls != dc[i].cls)
			fail_msg("%s: %s, want %s", dc[i].domain,
			    route_class_name(cls), route_class_name(dc[i].cls));
	}
	route_tables_free(&rt);
	config_free(&cf);

	/* A failing list: TEMPFAIL, never "not ours". */
	o.broken = "relay_domains";
	cf = load(NULL);
	rt = tables(cf, &o);
	assert_int_equal(route_domain_class(rt, "remote.test", &cls, err,
	    sizeof(err)), ROUTE_TEMPFAIL);
	assert_non_null(strstr(err, "relay_domains"));
	/* Lists before it still answer. */
	assert_int_equal(route_domain_class(rt, "vmail.test", &cls, err,
	    sizeof(err)), ROUTE_OK);
	assert_int_equal(cls, ROUTE_VIRTUAL);
	route_tables_free(&rt);
	config_free(&cf);
}

/* route_tables_new(): a value that cannot be parsed, a /file element. */
static void
test_tables_new(void **state)
{
	struct opener o = { NULL, 0 };
	char err[ROUTE_ERR_MAX_BYTES], *path;
	struct config *cf;
	struct route_tables *rt;
	struct route_result r;
	struct maps *m;
	FILE *f;

	(void)state;
	cf = load("relay_domains = !");
	assert_null(route_tables_new(config_main(cf), test_open, &o, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "relay_domains"));
	config_free(&cf);

	/* A /file list element: names and tables inside it. */
	path = xasprintf("%s/relay.list", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# relay domains\n!no.file1.test file1.test\n\n"
	    "texthash:", f);
	fprintf(f, "%s/relaydomains\n", tmpdir);
	fclose(f);
	{
		char *line = xasprintf("relay_domains = %s", path);

		cf = load(line);
		free(line);
	}
	rt = tables(cf, &o);
	route_result_init(&r);
	assert_int_equal(route_resolve(rt, "a@file1.test", &r), ROUTE_OK);
	assert_int_equal(r.cls, ROUTE_RELAY);
	assert_int_equal(route_resolve(rt, "a@no.file1.test", &r), ROUTE_OK);
	assert_int_equal(r.cls, ROUTE_DEFAULT);
	assert_int_equal(route_resolve(rt, "a@reltable.test", &r), ROUTE_OK);
	assert_int_equal(r.cls, ROUTE_RELAY);
	/* route_tables_maps: an unset list, an open one, a broken one. */
	assert_int_equal(route_tables_maps(rt, "sender_bcc_maps", &m, err,
	    sizeof(err)), 0);
	assert_null(m);
	assert_int_equal(route_tables_maps(rt, "virtual_alias_maps", &m, err,
	    sizeof(err)), 0);
	assert_non_null(m);
	assert_int_equal(route_tables_maps(rt, "mynetworks", &m, err,
	    sizeof(err)), -1);
	route_result_deinit(&r);
	route_tables_free(&rt);
	config_free(&cf);

	/* An unreadable /file: a failing element, reached or not. */
	unlink(path);
	{
		char *line = xasprintf("relay_domains = relay.test, %s", path);

		cf = load(line);
		free(line);
	}
	rt = tables(cf, &o);
	route_result_init(&r);
	assert_int_equal(route_resolve(rt, "a@relay.test", &r), ROUTE_OK);
	assert_int_equal(r.cls, ROUTE_RELAY);
	assert_int_equal(route_resolve(rt, "a@remote.test", &r),
	    ROUTE_TEMPFAIL);
	assert_non_null(strstr(r.err, path));
	route_result_deinit(&r);
	route_tables_free(&rt);
	config_free(&cf);

	o.broken = "sender_bcc_maps";
	cf = load("sender_bcc_maps = inline:{ a=b }");
	rt = tables(cf, &o);
	assert_int_equal(route_tables_maps(rt, "sender_bcc_maps", &m, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "simulated open failure"));
	route_tables_free(&rt);
	config_free(&cf);
	free(path);
}

/* route_generic (smtp_generic_maps) and masquerading in route_rewrite
 * / route_rewrite_header. */
static void
test_generic_and_masquerade(void **state)
{
	struct opener o = { NULL, 0 };
	char out[ROUTE_ADDRESS_MAX_BYTES], *bcc = NULL;
	struct config *cf;
	struct route_tables *rt;
	struct route_result r;

	(void)state;
	cf = load("smtp_generic_maps = inline:{ joe@example.com="
	    "joe.public@ext.example, @vmail.test=@ext.example }\n"
	    "propagate_unmatched_extensions = generic\n"
	    "recipient_delimiter = +\n"
	    "masquerade_domains = !keep.example.com, example.com\n"
	    "masquerade_exceptions = root\n");
	rt = tables(cf, &o);
	route_result_init(&r);
	assert_int_equal(route_generic(rt, "joe@example.com", out,
	    sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "joe.public@ext.example");
	/* The unmatched extension is kept ("generic" is named). */
	assert_int_equal(route_generic(rt, "joe+x@example.com", out,
	    sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "joe.public+x@ext.example");
	assert_int_equal(route_generic(rt, "ann@vmail.test", out,
	    sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "ann@ext.example");
	assert_int_equal(route_generic(rt, "ann@other.test", out,
	    sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "ann@other.test");
	assert_int_equal(route_generic(rt, "", out, sizeof(out), &r),
	    ROUTE_OK);
	assert_string_equal(out, "");
	/* Masquerading: envelope sender and header addresses by default,
	 * not envelope recipients; '!' and exceptions. */
	assert_int_equal(route_rewrite(rt, "joe@h.example.com", true, out,
	    sizeof(out), &bcc, &r), ROUTE_OK);
	assert_string_equal(out, "joe@example.com");
	assert_null(bcc);
	assert_int_equal(route_rewrite(rt, "joe@h.example.com", false, out,
	    sizeof(out), &bcc, &r), ROUTE_OK);
	assert_string_equal(out, "joe@h.example.com");
	assert_int_equal(route_rewrite_header(rt, "x@a.b.example.com", false,
	    out, sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "x@example.com");
	assert_int_equal(route_rewrite_header(rt, "x@h.keep.example.com",
	    true, out, sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "x@h.keep.example.com");
	assert_int_equal(route_rewrite_header(rt, "root@h.example.com",
	    true, out, sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "root@h.example.com");
	/* The generic table is not masqueraded, nor the other way round. */
	assert_int_equal(route_generic(rt, "joe@h.example.com", out,
	    sizeof(out), &r), ROUTE_OK);
	assert_string_equal(out, "joe@h.example.com");
	route_result_deinit(&r);
	route_tables_free(&rt);
	config_free(&cf);

	/* Unusable masquerade settings: the rewrite fails, with words. */
	cf = load("masquerade_domains = example.com\n"
	    "masquerade_classes = envelope_sender, nonsense\n");
	rt = tables(cf, &o);
	route_result_init(&r);
	assert_int_equal(route_rewrite(rt, "joe@h.example.com", true, out,
	    sizeof(out), &bcc, &r), ROUTE_TEMPFAIL);
	assert_non_null(strstr(r.err, "unknown class \"nonsense\""));
	route_result_deinit(&r);
	route_tables_free(&rt);
	config_free(&cf);

	/* A failing generic table: TEMPFAIL naming it. */
	o.broken = "smtp_generic_maps";
	cf = load("smtp_generic_maps = inline:{ a@b.test=c@d.test }");
	rt = tables(cf, &o);
	route_result_init(&r);
	assert_int_equal(route_generic(rt, "a@b.test", out, sizeof(out), &r),
	    ROUTE_TEMPFAIL);
	assert_non_null(strstr(r.err, "smtp_generic_maps"));
	route_result_deinit(&r);
	route_tables_free(&rt);
	config_free(&cf);
}

/* Every address of the relay-trick battery: never an authorized
 * destination unless it really ends in one of ours. */
static void
test_relay_tricks(void **state)
{
	static const char *const tricks[] = {
		"u%remote.test@example.com.",
		"u%remote.test@relay.test",
		"remote.test!u@relay.test",
		"\"u@remote.test\"@relay.test",
		"\"u%remote.test\"@relay.test",
		"\"remote.test!u\"@relay.test",
		"u@remote.test@relay.test",
		"u%remote.test%relay.test@relay.test",
		"U%REMOTE.TEST@RELAY.TEST.",
		"u@[192.0.2.99]",
		"\"u@remote.test\"@vmail.test",
		"u%remote.test@vmail.test",
	};
	struct opener o = { NULL, 0 };
	struct config *cf = load(NULL);
	struct route_tables *rt = tables(cf, &o);
	struct route_result r;

	(void)state;
	route_result_init(&r);
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		assert_int_equal(route_resolve(rt, tricks[i], &r), ROUTE_OK);
		if (r.cls != ROUTE_DEFAULT && !(r.flags & ROUTE_F_ROUTED)) {
			dump_steps(&r);
			fail_msg("%s: class %s without ROUTED: a relay hole",
			    tricks[i], route_class_name(r.cls));
		}
	}
	route_result_deinit(&r);
	route_tables_free(&rt);
	config_free(&cf);
}

/* unix:passwd.byname and unix:group.byname. */
static void
test_dict_unix(void **state)
{
	struct dict_open_opts opts;
	char err[DICT_ERR_MAX_BYTES];
	struct buf value;
	struct dict *d;

	(void)state;
	dict_open_opts_init(&opts);
	buf_init(&value, DICT_VALUE_MAX_BYTES);
	d = dict_open("unix:passwd.byname", &opts, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(dict_get(d, "ROOT", &value, err, sizeof(err)),
	    DICT_FOUND);
	assert_int_equal(strncmp(buf_cstr(&value), "root:x:0:0:", 11), 0);
	assert_int_equal(dict_get(d, "no-such-user-ostia", &value, err,
	    sizeof(err)), DICT_NOTFOUND);
	assert_int_equal(dict_get(d, "root@example.com", &value, err,
	    sizeof(err)), DICT_NOTFOUND);
	dict_close(d);

	d = dict_open("unix:group.byname", &opts, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(dict_get(d, "root", &value, err, sizeof(err)),
	    DICT_FOUND);
	assert_int_equal(strncmp(buf_cstr(&value), "root:x:0:", 9), 0);
	assert_int_equal(dict_get(d, "no-such-group-ostia", &value, err,
	    sizeof(err)), DICT_NOTFOUND);
	dict_close(d);

	assert_null(dict_open("unix:shadow.byname", &opts, err, sizeof(err)));
	assert_non_null(strstr(err, "passwd.byname"));
	buf_deinit(&value);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_domain_class),
		cmocka_unit_test(test_tables_new),
		cmocka_unit_test(test_relay_tricks),
		cmocka_unit_test(test_generic_and_masquerade),
		cmocka_unit_test(test_dict_unix),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
