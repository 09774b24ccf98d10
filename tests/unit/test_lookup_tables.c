/* SPDX-License-Identifier: MIT */
/*
 * test_lookup_tables - which tables the lookup process serves and how
 * strictly their opening is judged (src/lookup/lookup_tables.c), and
 * the FIND and ROUTE lists built over them (src/lookup/lookup_lists.c,
 * maps_add_borrowed in src/maps/maps.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_schema.h"
#include "diag.h"
#include "lookup_client.h"
#include "lookup_lists.h"
#include "lookup_tables.h"
#include "maps.h"
#include "test_support.h"
#include "xalloc.h"

static struct config *
load(const char *main_text, const char *master_text)
{
	struct diag_list dl;
	struct config *cf;

	diag_list_init(&dl);
	cf = config_load_text("/nonexistent-config", main_text,
	    strlen(main_text), master_text, master_text != NULL ?
	    strlen(master_text) : 0, CONFIG_LOAD_QUIET, &dl);
	if (cf == NULL)
		test_print_diags(&dl);
	assert_non_null(cf);
	diag_list_deinit(&dl);
	return cf;
}

/* impl - the parameter is honoured (PS_IMPL) by this build: tables it
 * names are strict.  (Statuses change as features land; the tests follow
 * them instead of hard-coding them.) */
static bool
impl(const char *param)
{
	const struct param_def *def = config_schema_find(param);

	assert_non_null(def);
	return def->status == PS_IMPL;
}

static void
test_collect(void **state)
{
	struct config *cf = load(
	    "virtual_alias_maps = texthash:/a, proxy:texthash:/a, static:x\n"
	    "transport_maps = proxy:static:x proxy:inline:{a=b}\n"
	    "tls_server_sni_maps = texthash:/sni\n"
	    "relocated_maps = $virtual_alias_maps\n",
	    "smtp inet n - n - - smtpd\n"
	    "sub inet n - n - - smtpd -o smtpd_sender_login_maps="
	    "proxy:texthash:/login -o virtual_alias_maps=texthash:/a\n");
	struct lookup_tableset ts;

	lookup_tables_collect(cf, &ts);
	/* main.cf's parameters (in the parameter table's order) before the
	 * services', proxy: removed, each once; the defaults (mime_header_
	 * checks = $header_checks ...) and the SNI table are not among
	 * them, except the resolver's (local_recipient_maps = proxy:unix:
	 * passwd.byname $alias_maps), which come after the view's own. */
	assert_int_equal(ts.n, 6);
	assert_string_equal(ts.items[0].spec, "texthash:/a");
	/* relocated_maps = $virtual_alias_maps comes first in the table. */
	assert_string_equal(ts.items[0].param, "relocated_maps");
	assert_string_equal(ts.items[1].spec, "static:x");
	assert_string_equal(ts.items[2].spec, "inline:{a=b}");
	assert_string_equal(ts.items[2].param, "transport_maps");
	assert_string_equal(ts.items[3].spec, "unix:passwd.byname");
	assert_string_equal(ts.items[3].param, "local_recipient_maps");
	assert_string_equal(ts.items[4].spec, "hash:/etc/aliases");
	assert_string_equal(ts.items[4].param, "local_recipient_maps");
	assert_string_equal(ts.items[5].spec, "texthash:/login");
	assert_string_equal(ts.items[5].param, "smtpd_sender_login_maps");
	for (size_t i = 0; i < ts.n; i++) {
		assert_null(ts.items[i].d);
		/* Named only by a default: the resolver's two, never strict
		 * (an Ostia system need not have /etc/aliases). */
		assert_int_equal(ts.items[i].by_default, i == 3 || i == 4);
		if (ts.items[i].by_default) {
			assert_false(ts.items[i].strict);
			continue;
		}
		/* Strict when some parameter naming it is honoured: static:x
		 * is named by virtual_alias_maps and transport_maps too,
		 * texthash:/a by virtual_alias_maps too. */
		if (i == 0)
			assert_int_equal(ts.items[i].strict,
			    impl("relocated_maps") ||
			    impl("virtual_alias_maps"));
		else if (i == 1)
			assert_int_equal(ts.items[i].strict,
			    impl("virtual_alias_maps") ||
			    impl("transport_maps"));
		else
			assert_int_equal(ts.items[i].strict,
			    impl(ts.items[i].param));
	}
	assert_non_null(lookup_tables_find(&ts, "proxy:texthash:/a"));
	assert_ptr_equal(lookup_tables_find(&ts, "proxy:texthash:/a"),
	    lookup_tables_find(&ts, "texthash:/a"));
	assert_null(lookup_tables_find(&ts, "texthash:/sni"));
	assert_null(lookup_tables_find(&ts, "texthash:/b"));
	assert_true(lookup_tables_param_excluded("tls_server_sni_maps"));
	assert_false(lookup_tables_param_excluded("virtual_alias_maps"));
	assert_string_equal(lookup_tables_unproxy("proxy:mysql:/x.cf"),
	    "mysql:/x.cf");
	assert_string_equal(lookup_tables_unproxy("mysql:/x.cf"),
	    "mysql:/x.cf");
	lookup_tables_deinit(&ts);
	config_free(&cf);
}

/* later_param - a lookup-table parameter this build does not honour
 * yet, with an empty default, that the resolver does not read (they
 * become honoured one by one). */
static const char *
later_param(void)
{
	static const char *const resolver =
	    " local_recipient_maps alias_maps virtual_alias_maps "
	    "virtual_mailbox_maps relay_recipient_maps transport_maps "
	    "sender_canonical_maps recipient_canonical_maps canonical_maps "
	    "recipient_bcc_maps sender_bcc_maps ";

	for (int id = 0; id < P__COUNT; id++) {
		const struct param_def *def = &config_params[id];
		char word[128];

		snprintf(word, sizeof(word), " %s ", def->name);
		if (def->type == PT_MAPS && def->status == PS_LATER &&
		    def->def[0] == '\0' && strstr(resolver, word) == NULL &&
		    !lookup_tables_param_excluded(def->name))
			return def->name;
	}
	fail_msg("every lookup-table parameter is honoured: pick another "
	    "way to test warnings");
	return NULL;
}

static void
test_open_and_strictness(void **state)
{
	const char *param = later_param();
	char text[512], want[256];
	struct config *cf;
	struct lookup_tableset ts;
	struct dict_open_opts opts;
	struct diag_list dl;

	snprintf(text, sizeof(text), "%s = static:found, "
	    "texthash:/nonexistent/virtual, proxy:proxy:static:x\n", param);
	cf = load(text, NULL);
	dict_open_opts_init(&opts);
	lookup_tables_collect(cf, &ts);
	/* With local_recipient_maps' default tables. */
	assert_int_equal(ts.n, 5);
	assert_true(ts.items[3].by_default && ts.items[4].by_default);
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_open(&ts, &opts, &dl), 0);
	assert_non_null(ts.items[0].d);
	assert_null(ts.items[1].d);
	assert_non_null(ts.items[1].open_error);
	assert_null(ts.items[2].d);
	/* Parameters not used yet: warnings naming parameter and table. */
	assert_int_equal(dl.errors, 0);
	snprintf(want, sizeof(want), "%s: table texthash:/nonexistent/virtual:"
	    " /nonexistent/virtual", param);
	assert_true(diag_list_contains(&dl, DIAG_WARNING, want));
	assert_true(diag_list_contains(&dl, DIAG_WARNING, "proxy:proxy:"));
	diag_list_deinit(&dl);
	/* A strict table that fails is an error. */
	ts.items[1].strict = true;
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_open(&ts, &opts, &dl), 1);
	assert_int_equal(dl.errors, 1);
	snprintf(want, sizeof(want), "%s: table texthash:/nonexistent/virtual:",
	    param);
	assert_true(diag_list_contains(&dl, DIAG_ERROR, want));
	diag_list_deinit(&dl);
	lookup_tables_deinit(&ts);

	/* The master's check: warnings are the lookup process's. */
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_check(cf, &dl), 0);
	assert_int_equal(dl.n, 0);
	diag_list_deinit(&dl);
	config_free(&cf);

	/* A restriction list's table is strict whatever the list's status:
	 * it stops the start-up. */
	cf = load("smtpd_helo_restrictions = check_helo_access "
	    "texthash:/nonexistent/helo\n", NULL);
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_check(cf, &dl), -1);
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "smtpd_helo_"
	    "restrictions: table texthash:/nonexistent/helo:"));
	diag_list_deinit(&dl);
	config_free(&cf);
}

static bool
has(struct lookup_tableset *ts, const char *spec, const char *param,
    bool strict)
{
	struct lookup_table *t = lookup_tables_find(ts, spec);

	if (t == NULL) {
		print_error("%s: not collected\n", spec);
		return false;
	}
	if (strcmp(t->param, param) != 0 || t->strict != strict) {
		print_error("%s: param %s strict %d\n", spec, t->param,
		    t->strict);
		return false;
	}
	return true;
}

static void
test_collect_lists_and_restrictions(void **state)
{
	struct config *cf = load(
	    "mydestination = $myhostname, localhost, texthash:/dest, "
	    "!proxy:texthash:/notdest, /etc/ostia/file-list\n"
	    "relay_domains = example.com, proxy:mysql:/relay.cf\n"
	    "virtual_mailbox_domains = texthash:/vmd\n"
	    "virtual_alias_domains = nosuchtype:/x, lmdb:/vad\n"
	    "mynetworks = 127.0.0.0/8, [::1]/128, cidr:/nets\n"
	    "permit_mx_backup_networks = cidr:/mx\n"
	    "smtpd_client_restrictions = permit_mynetworks, "
	    "check_client_access cidr:/client, reject_rbl_client "
	    "zen.example.org\n"
	    "smtpd_helo_restrictions = CHECK_HELO_ACCESS pcre:/helo\n"
	    "smtpd_sender_restrictions = check_sender_access "
	    "proxy:texthash:/sender, check_sender_mx_access texthash:/mx-s, "
	    "check_sender_access\n"
	    "smtpd_recipient_restrictions = check_recipient_access "
	    "texthash:/rcpt, check_policy_service inet:127.0.0.1:10031, "
	    "check_client_a_access cidr:/a, permissive\n"
	    "smtpd_relay_restrictions = check_reverse_client_hostname_ns_"
	    "access texthash:/ns, reject_unauth_destination\n"
	    "smtpd_data_restrictions = check_sasl_access texthash:/sasl\n"
	    "smtpd_end_of_data_restrictions = check_ccert_access "
	    "texthash:/ccert\n"
	    "smtpd_etrn_restrictions = check_client_access texthash:/etrn\n"
	    "smtpd_restriction_classes = permissive, strict_one\n"
	    "permissive = check_sender_access texthash:/class-p, permit\n"
	    "strict_one = check_helo_access ${tables_dir}/helo2, reject\n"
	    "tables_dir = texthash:/t\n"
	    "virtual_alias_maps = texthash:/vam\n",
	    "smtp inet n - n - - smtpd\n"
	    "submission inet n - n - - smtpd -o "
	    "smtpd_client_restrictions=check_client_access,texthash:/sub\n");
	struct lookup_tableset ts;

	lookup_tables_collect(cf, &ts);
	/* The domain lists (strict as their parameter). */
	assert_true(has(&ts, "texthash:/dest", "mydestination",
	    impl("mydestination")));
	assert_true(has(&ts, "texthash:/notdest", "mydestination",
	    impl("mydestination")));
	assert_true(has(&ts, "mysql:/relay.cf", "relay_domains",
	    impl("relay_domains")));
	assert_true(has(&ts, "texthash:/vmd", "virtual_mailbox_domains",
	    impl("virtual_mailbox_domains")));
	assert_true(has(&ts, "lmdb:/vad", "virtual_alias_domains",
	    impl("virtual_alias_domains")));
	assert_true(has(&ts, "cidr:/nets", "mynetworks", impl("mynetworks")));
	assert_true(has(&ts, "cidr:/mx", "permit_mx_backup_networks",
	    impl("permit_mx_backup_networks")));
	/* Restriction lists and classes: always strict. */
	assert_true(has(&ts, "cidr:/client", "smtpd_client_restrictions",
	    true));
	assert_true(has(&ts, "pcre:/helo", "smtpd_helo_restrictions", true));
	assert_true(has(&ts, "texthash:/sender", "smtpd_sender_restrictions",
	    true));
	assert_true(has(&ts, "texthash:/mx-s", "smtpd_sender_restrictions",
	    true));
	assert_true(has(&ts, "texthash:/rcpt",
	    "smtpd_recipient_restrictions", true));
	assert_true(has(&ts, "cidr:/a", "smtpd_recipient_restrictions",
	    true));
	assert_true(has(&ts, "texthash:/ns", "smtpd_relay_restrictions",
	    true));
	assert_true(has(&ts, "texthash:/sasl", "smtpd_data_restrictions",
	    true));
	assert_true(has(&ts, "texthash:/ccert",
	    "smtpd_end_of_data_restrictions", true));
	assert_true(has(&ts, "texthash:/etrn", "smtpd_etrn_restrictions",
	    true));
	assert_true(has(&ts, "texthash:/class-p", "permissive", true));
	/* A class value is expanded like any main.cf value. */
	assert_true(has(&ts, "texthash:/t/helo2", "strict_one", true));
	/* A service's -o list. */
	assert_true(has(&ts, "texthash:/sub", "smtpd_client_restrictions",
	    true));
	/* virtual_alias_domains defaults to $virtual_alias_maps: the same
	 * table, named first by the lookup-table parameter. */
	assert_true(has(&ts, "texthash:/vam", "virtual_alias_maps",
	    impl("virtual_alias_maps")));
	/* Not tables: names, networks, files, unknown types, the policy
	 * service, the argument of other restrictions. */
	for (size_t i = 0; i < ts.n; i++) {
		const char *sp = ts.items[i].spec;

		assert_null(strstr(sp, "file-list"));
		assert_null(strstr(sp, "nosuchtype"));
		assert_null(strstr(sp, "inet:"));
		assert_null(strstr(sp, "zen."));
		assert_null(strstr(sp, "127.0.0.0"));
		assert_null(strstr(sp, "::1"));
		assert_null(strstr(sp, "proxy:"));
	}
	lookup_tables_deinit(&ts);
	config_free(&cf);

	assert_true(lookup_tables_access_word("check_client_access"));
	assert_true(lookup_tables_access_word("Check_Recipient_NS_Access"));
	assert_true(lookup_tables_access_word("check_reverse_client_hostname_"
	    "access"));
	assert_true(lookup_tables_access_word("check_helo_mx_access"));
	assert_true(lookup_tables_access_word("check_sasl_access"));
	assert_false(lookup_tables_access_word("check_policy_service"));
	assert_false(lookup_tables_access_word("check_client_b_access"));
	assert_false(lookup_tables_access_word("check_access"));
	assert_true(lookup_tables_is_table("texthash:/x"));
	assert_true(lookup_tables_is_table("proxy:mysql:/x.cf"));
	assert_false(lookup_tables_is_table("proxy:"));
	assert_false(lookup_tables_is_table("texthash:"));
	assert_false(lookup_tables_is_table("inet:127.0.0.1:1"));
	assert_false(lookup_tables_is_table("[::1]/128"));
	assert_false(lookup_tables_is_table(":x"));
}

/* ---------------------------------------------------------------- */
/* FIND and ROUTE lists over open tables                            */

struct fixture {
	char dir[64];
	char main_cf[4096];
	struct config *cf;
	struct lookup_tableset ts;
	unsigned borrows;
	const char *refuse;	/* borrow says "not configured" for it */
};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* borrow - lookup_lists.h's borrow function over the test's tables. */
static struct dict *
borrow(void *ctx, const char *spec, char *err, size_t errsz)
{
	struct fixture *fx = ctx;
	struct lookup_table *t = lookup_tables_find(&fx->ts, spec);

	fx->borrows++;
	if (fx->refuse != NULL && t != NULL &&
	    strstr(t->spec, fx->refuse) != NULL)
		t = NULL;
	if (t == NULL) {
		snprintf(err, errsz, "%s: table not configured in the lookup "
		    "process", spec);
		return NULL;
	}
	if (t->d == NULL) {
		snprintf(err, errsz, "%s: %s", spec, t->open_error);
		return NULL;
	}
	return t->d;
}

static void
fixture_setup(struct fixture *fx)
{
	struct dict_open_opts opts;
	struct diag_list dl;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/ostia-lkl-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	write_file(fx->dir, "access", "example.com OK-DOMAIN\n"
	    ".example.net OK-SUBDOMAIN\n"
	    "u@example.org OK-USER\n"
	    "postmaster@ OK-LOCALPART\n"
	    "198.51.100 OK-NET\n"
	    "exact-key EXACT-TEXTHASH\n");
	write_file(fx->dir, "pcre", "/^pat[0-9]+@/ PCRE-MATCH\n"
	    "/^exact-key$/ EXACT-PCRE\n");
	write_file(fx->dir, "cidr", "192.0.2.0/24 CIDR-MATCH\n");
	write_file(fx->dir, "vmailbox", "box@hosted.example hosted.example/"
	    "box/\n");
	write_file(fx->dir, "valias", "alias@hosted.example box@hosted."
	    "example, someone@elsewhere.test\n");
	snprintf(fx->main_cf, sizeof(fx->main_cf),
	    "smtpd_client_restrictions = check_client_access "
	    "texthash:%s/access, check_client_access cidr:%s/cidr\n"
	    "header_checks = pcre:%s/pcre\n"
	    "myhostname = mx.example\n"
	    "mydomain = example\n"
	    "mydestination = $myhostname, localhost\n"
	    "alias_maps =\n"
	    "virtual_mailbox_maps = texthash:%s/vmailbox\n"
	    "virtual_alias_maps = texthash:%s/valias\n"
	    "virtual_mailbox_domains = hosted.example\n"
	    "relay_domains = relay.example\n"
	    "%s = texthash:%s/missing\n",
	    fx->dir, fx->dir, fx->dir, fx->dir, fx->dir, later_param(),
	    fx->dir);
	fx->cf = load(fx->main_cf, "smtp inet n - n - - smtpd\n"
	    "smtp unix - - n - - smtp\n"
	    "relay unix - - n - - smtp -o virtual_mailbox_maps=\n");
	lookup_tables_collect(fx->cf, &fx->ts);
	dict_open_opts_init(&opts);
	opts.trusted_uid = (uid_t)-1;
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_open(&fx->ts, &opts, &dl), 0);
	diag_list_deinit(&dl);
}

static void
fixture_teardown(struct fixture *fx)
{
	static const char *const files[] = { "access", "pcre", "cidr",
	    "vmailbox", "valias" };
	char path[256];

	lookup_tables_deinit(&fx->ts);
	config_free(&fx->cf);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
		unlink(path);
	}
	rmdir(fx->dir);
}

/* find - one FIND; the value (FOUND), "" (NOTFOUND) or the reason. */
static enum dict_status
find(struct lookup_lists *ll, const char *tables, const char *key,
    enum lookup_find_order order, unsigned mflags, const char *delims,
    char *out, size_t outsz)
{
	struct lookup_find f;
	struct maps_result r;
	enum dict_status st;

	memset(&f, 0, sizeof(f));
	f.order = order;
	f.mflags = mflags;
	f.tables = xstrdup(tables);
	f.key = xstrdup(key);
	f.delimiters = xstrdup(delims);
	maps_result_init(&r);
	st = lookup_lists_find(ll, &f, &r);
	snprintf(out, outsz, "%s", st == DICT_FOUND ? buf_cstr(&r.value) :
	    st == DICT_TEMPFAIL ? r.err : "");
	maps_result_deinit(&r);
	lookup_find_deinit(&f);
	return st;
}

static void
test_lists_find(void **state)
{
	struct fixture fx;
	struct lookup_lists *ll;
	char tables[512], one[256], v[DICT_ERR_MAX_BYTES];

	fixture_setup(&fx);
	ll = lookup_lists_new(fx.cf, borrow, &fx);
	snprintf(tables, sizeof(tables), "texthash:%s/access, "
	    "proxy:pcre:%s/pcre cidr:%s/cidr", fx.dir, fx.dir, fx.dir);
	/* Exact: the first table in list order that has the key. */
	assert_int_equal(find(ll, tables, "exact-key", LOOKUP_FIND_EXACT, 0,
	    "", v, sizeof(v)), DICT_FOUND);
	assert_string_equal(v, "EXACT-TEXTHASH");
	assert_int_equal(find(ll, tables, "pat7@x", LOOKUP_FIND_EXACT, 0, "",
	    v, sizeof(v)), DICT_FOUND);
	assert_string_equal(v, "PCRE-MATCH");
	assert_int_equal(find(ll, tables, "nothing", LOOKUP_FIND_EXACT, 0, "",
	    v, sizeof(v)), DICT_NOTFOUND);
	/* Address, access(5) order: domain, then parents as ".parent". */
	assert_int_equal(find(ll, tables, "x@a.example.net",
	    LOOKUP_FIND_ADDRESS, MAPS_ADDR_ACCESS, "", v, sizeof(v)),
	    DICT_FOUND);
	assert_string_equal(v, "OK-SUBDOMAIN");
	assert_int_equal(find(ll, tables, "x@a.example.com",
	    LOOKUP_FIND_ADDRESS, MAPS_ADDR_ACCESS, "", v, sizeof(v)),
	    DICT_NOTFOUND);
	assert_int_equal(find(ll, tables, "x@a.example.com",
	    LOOKUP_FIND_ADDRESS, MAPS_ADDR_ACCESS |
	    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS, "", v, sizeof(v)),
	    DICT_FOUND);
	assert_string_equal(v, "OK-DOMAIN");
	assert_int_equal(find(ll, tables, "postmaster@elsewhere.test",
	    LOOKUP_FIND_ADDRESS, MAPS_ADDR_ACCESS, "", v, sizeof(v)),
	    DICT_FOUND);
	assert_string_equal(v, "OK-LOCALPART");
	/* The delimiters travel with the address order. */
	assert_int_equal(find(ll, tables, "u+tag@example.org",
	    LOOKUP_FIND_ADDRESS, 0, "+", v, sizeof(v)), DICT_FOUND);
	assert_string_equal(v, "OK-USER");
	assert_int_equal(find(ll, tables, "u+tag@example.org",
	    LOOKUP_FIND_ADDRESS, 0, "", v, sizeof(v)), DICT_NOTFOUND);
	/* Partial keys never reach the pattern table. */
	assert_int_equal(find(ll, tables, "x+pat1@nowhere.test",
	    LOOKUP_FIND_ADDRESS, 0, "+", v, sizeof(v)), DICT_NOTFOUND);
	/* Domain order. */
	assert_int_equal(find(ll, tables, "deep.sub.example.net",
	    LOOKUP_FIND_DOMAIN, 0, "", v, sizeof(v)), DICT_FOUND);
	assert_string_equal(v, "OK-SUBDOMAIN");
	assert_int_equal(find(ll, tables, "sub.example.com",
	    LOOKUP_FIND_DOMAIN, MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS, "", v,
	    sizeof(v)), DICT_FOUND);
	/* Client addresses: cidr whole, texthash by network prefix. */
	assert_int_equal(find(ll, tables, "192.0.2.77",
	    LOOKUP_FIND_CLIENT_ADDR, 0, "", v, sizeof(v)), DICT_FOUND);
	assert_string_equal(v, "CIDR-MATCH");
	assert_int_equal(find(ll, tables, "198.51.100.9",
	    LOOKUP_FIND_CLIENT_ADDR, 0, "", v, sizeof(v)), DICT_FOUND);
	assert_string_equal(v, "OK-NET");
	assert_int_equal(find(ll, tables, "203.0.113.1",
	    LOOKUP_FIND_CLIENT_ADDR, 0, "", v, sizeof(v)), DICT_NOTFOUND);

	/* One list built for all of the above: each table borrowed once. */
	assert_int_equal(fx.borrows, 3);
	/* Another spelling is another list. */
	snprintf(one, sizeof(one), "cidr:%s/cidr", fx.dir);
	assert_int_equal(find(ll, one, "192.0.2.1", LOOKUP_FIND_CLIENT_ADDR,
	    0, "", v, sizeof(v)), DICT_FOUND);
	assert_int_equal(fx.borrows, 4);

	/* A table nobody named: TEMPFAIL with the reason, not cached. */
	snprintf(one, sizeof(one), "cidr:%s/cidr, texthash:/etc/passwd",
	    fx.dir);
	assert_int_equal(find(ll, one, "192.0.2.1", LOOKUP_FIND_EXACT, 0, "",
	    v, sizeof(v)), DICT_TEMPFAIL);
	assert_non_null(strstr(v, "texthash:/etc/passwd: table not "
	    "configured"));
	assert_int_equal(find(ll, one, "192.0.2.1", LOOKUP_FIND_EXACT, 0, "",
	    v, sizeof(v)), DICT_TEMPFAIL);
	assert_int_equal(fx.borrows, 8);
	/* One that failed to open: TEMPFAIL, never "not found". */
	snprintf(one, sizeof(one), "texthash:%s/missing", fx.dir);
	assert_int_equal(find(ll, one, "k", LOOKUP_FIND_EXACT, 0, "", v,
	    sizeof(v)), DICT_TEMPFAIL);
	/* A list that names no table. */
	assert_int_equal(find(ll, " , ", "k", LOOKUP_FIND_EXACT, 0, "", v,
	    sizeof(v)), DICT_TEMPFAIL);
	assert_non_null(strstr(v, "names no table"));

	/* SIGHUP's clear: built again. */
	assert_int_equal(lookup_lists_clear(ll, false), 2);
	fx.borrows = 0;
	assert_int_equal(find(ll, tables, "exact-key", LOOKUP_FIND_EXACT, 0,
	    "", v, sizeof(v)), DICT_FOUND);
	assert_int_equal(fx.borrows, 3);

	/* At most LOOKUP_LISTS_FIND_MAX lists: then all go. */
	for (int i = 0; i < LOOKUP_LISTS_FIND_MAX + 10; i++) {
		snprintf(one, sizeof(one), "cidr:%s/cidr%*s", fx.dir, i, "");
		assert_int_equal(find(ll, one, "192.0.2.1", LOOKUP_FIND_EXACT,
		    0, "", v, sizeof(v)), DICT_FOUND);
	}
	assert_true(lookup_lists_clear(ll, false) <= LOOKUP_LISTS_FIND_MAX);

	/* Freeing the lists leaves the borrowed tables open. */
	lookup_lists_free(&ll);
	assert_null(ll);
	{
		struct buf b;
		char err[DICT_ERR_MAX_BYTES];

		struct lookup_table *t;

		snprintf(one, sizeof(one), "texthash:%s/access", fx.dir);
		t = lookup_tables_find(&fx.ts, one);
		assert_non_null(t);
		buf_init(&b, DICT_VALUE_MAX_BYTES);
		assert_int_equal(dict_get(t->d, "exact-key", &b, err,
		    sizeof(err)), DICT_FOUND);
		buf_deinit(&b);
	}
	fixture_teardown(&fx);
}

/* route - one ROUTE; its answer parsed into a (0), or -1 with the
 * TEMPFAIL reason in err. */
static int
route(struct lookup_lists *ll, const char *service, enum lookup_route_op op,
    const char *address, struct lookup_route_answer *a, char *err,
    size_t errsz)
{
	struct lookup_route q;
	struct buf text;
	enum dict_status st;
	int ret = -1;

	memset(&q, 0, sizeof(q));
	q.op = op;
	q.service = xstrdup(service);
	q.address = xstrdup(address);
	buf_init(&text, DICT_VALUE_MAX_BYTES);
	st = lookup_lists_route(ll, &q, &text, err, errsz);
	if (st == DICT_FOUND) {
		assert_int_equal(lookup_route_answer_parse(text.data, text.len,
		    a), 0);
		ret = 0;
	} else {
		assert_int_equal(st, DICT_TEMPFAIL);
		assert_true(err[0] != '\0');
		print_message("ROUTE %s %s: %s\n", service, address, err);
	}
	buf_deinit(&text);
	lookup_route_deinit(&q);
	return ret;
}

static void
test_lists_route(void **state)
{
	struct fixture fx;
	struct lookup_lists *ll;
	struct lookup_route_answer a;
	char err[DICT_ERR_MAX_BYTES];
	unsigned built;

	fixture_setup(&fx);
	ll = lookup_lists_new(fx.cf, borrow, &fx);
	/* main.cf and the three services, all as root at the preinit. */
	assert_int_equal(lookup_lists_prepare_routes(ll), 0);
	built = fx.borrows;
	assert_true(built > 0);

	/* A virtual mailbox domain: known and unknown recipients. */
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_RESOLVE,
	    "Box@Hosted.Example", &a, err, sizeof(err)), 0);
	assert_int_equal(a.cls, ROUTE_VIRTUAL);
	assert_string_equal(a.transport, "virtual");
	assert_false(a.has_listed);
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_CHECK, "box@hosted.example",
	    &a, err, sizeof(err)), 0);
	assert_true(a.has_listed && a.listed);
	assert_int_equal(a.code, 0);
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_CHECK,
	    "nobody@hosted.example", &a, err, sizeof(err)), 0);
	assert_true(a.has_listed);
	assert_false(a.listed);
	assert_int_equal(a.code, 550);
	assert_string_equal(a.dsn, "5.1.1");
	assert_non_null(strstr(a.text, "virtual mailbox table"));
	lookup_route_answer_deinit(&a);
	/* A relay domain, a local one, any other. */
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_RESOLVE, "x@relay.example",
	    &a, err, sizeof(err)), 0);
	assert_int_equal(a.cls, ROUTE_RELAY);
	assert_string_equal(a.transport, "relay");
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_CHECK, "root@mx.example",
	    &a, err, sizeof(err)), 0);
	assert_int_equal(a.cls, ROUTE_LOCAL);
	assert_true(a.listed);
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_CHECK,
	    "no-such-account-here@mx.example", &a, err, sizeof(err)), 0);
	assert_false(a.listed);
	assert_int_equal(a.code, 550);
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_CHECK, "x@elsewhere.test",
	    &a, err, sizeof(err)), 0);
	assert_int_equal(a.cls, ROUTE_DEFAULT);
	assert_string_equal(a.transport, "smtp");
	assert_true(a.listed);
	lookup_route_answer_deinit(&a);
	/* Expansion through virtual_alias_maps. */
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_EXPAND,
	    "alias@hosted.example", &a, err, sizeof(err)), 0);
	assert_non_null(a.rcpts);
	assert_string_equal(a.rcpts[0], "box@hosted.example");
	assert_string_equal(a.rcpts[1], "someone@elsewhere.test");
	assert_null(a.rcpts[2]);
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_EXPAND, "", &a, err,
	    sizeof(err)), 0);
	assert_string_equal(a.rcpts[0], "");
	lookup_route_answer_deinit(&a);
	/* A service's view: -o virtual_mailbox_maps= (empty) means every
	 * address of the domain is known. */
	assert_int_equal(route(ll, "relay/unix", LOOKUP_ROUTE_CHECK,
	    "nobody@hosted.example", &a, err, sizeof(err)), 0);
	assert_true(a.listed);
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "smtp", LOOKUP_ROUTE_CHECK,
	    "nobody@hosted.example", &a, err, sizeof(err)), 0);
	assert_false(a.listed);
	lookup_route_answer_deinit(&a);
	assert_int_equal(route(ll, "nosuch/inet", LOOKUP_ROUTE_RESOLVE,
	    "a@b.example", &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no service \"nosuch/inet\""));
	/* Everything came from the tables built at the start. */
	assert_int_equal(fx.borrows, built);
	/* SIGHUP's clear keeps them (they hold no answers). */
	assert_int_equal(lookup_lists_clear(ll, false), 0);
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_RESOLVE, "x@relay.example",
	    &a, err, sizeof(err)), 0);
	lookup_route_answer_deinit(&a);
	assert_int_equal(fx.borrows, built);
	assert_int_equal(lookup_lists_clear(ll, true), 4);

	/* A table the lookup process does not serve: the resolver keeps it
	 * as a failing table, and answers that need it fail. */
	fx.refuse = "vmailbox";
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_CHECK,
	    "box@hosted.example", &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not configured"));
	/* Answers that do not need it still work. */
	assert_int_equal(route(ll, "", LOOKUP_ROUTE_RESOLVE, "x@relay.example",
	    &a, err, sizeof(err)), 0);
	lookup_route_answer_deinit(&a);
	lookup_lists_free(&ll);
	fixture_teardown(&fx);
}

static void
test_maps_borrowed(void **state)
{
	struct dict_open_opts opts;
	char err[DICT_ERR_MAX_BYTES];
	struct dict *d;
	struct maps *m;
	struct buf b;

	dict_open_opts_init(&opts);
	d = dict_open("inline:{ k=v }", &opts, err, sizeof(err));
	assert_non_null(d);
	buf_init(&b, 64);
	m = maps_new("test");
	maps_add_borrowed(m, d);
	maps_add(m, dict_open("static:owned", &opts, err, sizeof(err)));
	assert_int_equal(maps_count(m), 2);
	assert_int_equal(maps_find(m, "k", &b, err, sizeof(err)), DICT_FOUND);
	assert_string_equal(buf_cstr(&b), "v");
	maps_free(&m);
	/* Still open: ours to use and to close. */
	assert_int_equal(dict_get(d, "k", &b, err, sizeof(err)), DICT_FOUND);
	dict_close(d);
	buf_deinit(&b);
}

static void
test_lists_view(void **state)
{
	struct config *cf = load("myhostname = main.example\n",
	    "smtp inet n - n - - smtpd -o myhostname=smtpd.example\n"
	    "smtp unix - - n - - smtp -o myhostname=client.example\n"
	    "127.0.0.1:10025 inet n - n - - smtpd -o myhostname=r.example\n");
	const struct config_view *v;

	assert_ptr_equal(lookup_lists_view(cf, ""), config_main(cf));
	v = lookup_lists_view(cf, "smtp");
	assert_ptr_equal(v, config_service(cf, 0));
	assert_ptr_equal(lookup_lists_view(cf, "smtp/inet"),
	    config_service(cf, 0));
	assert_ptr_equal(lookup_lists_view(cf, "smtp/unix"),
	    config_service(cf, 1));
	assert_string_equal(config_str(lookup_lists_view(cf, "smtp/unix"),
	    P_myhostname), "client.example");
	assert_ptr_equal(lookup_lists_view(cf, "127.0.0.1:10025/inet"),
	    config_service(cf, 2));
	assert_ptr_equal(lookup_lists_view(cf, "127.0.0.1:10025"),
	    config_service(cf, 2));
	assert_null(lookup_lists_view(cf, "smtp/fifo"));
	assert_null(lookup_lists_view(cf, "smtp/bogus"));
	assert_null(lookup_lists_view(cf, "nosuch"));
	assert_null(lookup_lists_view(cf, "/inet"));
	config_free(&cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collect),
		cmocka_unit_test(test_open_and_strictness),
		cmocka_unit_test(test_collect_lists_and_restrictions),
		cmocka_unit_test(test_lists_find),
		cmocka_unit_test(test_lists_route),
		cmocka_unit_test(test_maps_borrowed),
		cmocka_unit_test(test_lists_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
