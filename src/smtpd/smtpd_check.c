/* SPDX-License-Identifier: MIT */
/*
 * smtpd_check - the restriction engine (smtpd_check.h says what it
 * does).  Lists are compiled once per process into arrays of
 * restrictions; a check walks them with an explicit stack (restriction
 * classes and access results that name restrictions nest), pausing the
 * session whenever a restriction has to ask the lookup process or a
 * policy service.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "compat.h"
#include "config.h"
#include "dns.h"
#include "dict.h"
#include "dnsbl.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "masquerade.h"
#include "own_addrs.h"
#include "peer_match.h"
#include "route.h"
#include "smtpd_check.h"
#include "smtpd_dns.h"
#include "smtpd_peers.h"
#include "smtpd_policy.h"
#include "smtpd_session.h"
#include "strv.h"
#include "tls_ccert.h"
#include "verify_client.h"
#include "xalloc.h"

/* Nesting of restriction classes and access results. */
#define CHECK_DEPTH_MAX 20
/* Restrictions evaluated in one check, all lists and nesting together:
 * a loop of classes ends here with a configuration error. */
#define CHECK_STEPS_MAX 1000
/* Longest list element kept in messages. */
#define CHECK_NAME_SHOW 100

enum op {
	OP_PERMIT, OP_REJECT, OP_DEFER, OP_DUNNO,
	OP_DEFER_IF_PERMIT, OP_DEFER_IF_REJECT, OP_WARN_IF_REJECT,
	OP_PERMIT_MYNETWORKS, OP_PERMIT_SASL,
	OP_PERMIT_TLS_CERTS,	/* permit_tls_clientcerts; arg: the
				 * relay_clientcerts tables */
	OP_PERMIT_TLS_ALL,	/* permit_tls_all_clientcerts */
	OP_REJECT_UNAUTH_DEST, OP_DEFER_UNAUTH_DEST, OP_PERMIT_AUTH_DEST,
	OP_PERMIT_MX_BACKUP,	/* a backup MX of the recipient domain */
	OP_REJECT_UNLISTED_RCPT, OP_REJECT_UNLISTED_SENDER,
	OP_REJECT_NON_FQDN_SENDER, OP_REJECT_NON_FQDN_RCPT,
	OP_REJECT_NON_FQDN_HELO, OP_REJECT_INVALID_HELO,
	OP_REJECT_UNAUTH_PIPELINING,
	OP_REJECT_PLAINTEXT,	/* reject_plaintext_session */
	OP_DNS,			/* check_*_{a,mx,ns}_access TABLE: the
				 * servers of a name (dtype) and their
				 * addresses looked up in the table */
	OP_UNKNOWN_CLIENT,	/* reject_unknown_client_hostname */
	OP_UNKNOWN_REVERSE,	/* reject_unknown_reverse_client_hostname */
	OP_UNKNOWN_HELO,	/* reject_unknown_helo_hostname */
	OP_UNKNOWN_SENDER_DOMAIN, OP_UNKNOWN_RCPT_DOMAIN,
	OP_RBL,			/* reject_rbl_client ZONE[=PATTERN] */
	OP_RHSBL,		/* reject_rhsbl_* ZONE[=PATTERN]; ak: which */
	OP_SENDER_LOGIN,	/* done at MAIL FROM by smtpd_auth.c */
	OP_ACCESS,		/* check_*_access TABLE */
	OP_POLICY,		/* check_policy_service SPEC */
	OP_UNVERIFIED,		/* reject_unverified_{recipient,sender};
				 * ak: which */
	OP_CLASS,		/* a smtpd_restriction_classes name */
	OP_UNKNOWN,		/* configuration error when reached */
};

/* What a check_*_access looks up. */
enum access_kind {
	AK_CLIENT, AK_REVERSE_CLIENT, AK_HELO, AK_SENDER, AK_RECIPIENT,
	AK_SASL,
	AK_CCERT,		/* the client certificate's fingerprints */
	AK_DATA,		/* the DATA command */
	AK_EOD,			/* the end of the message */
};

struct item {
	enum op op;
	enum access_kind ak;
	char *name;		/* as written, for messages */
	char *arg;		/* table, policy spec, RBL domain */
	struct policy_spec *policy;
	size_t cls;		/* OP_CLASS: index in classes */
	uint16_t dtype;		/* OP_DNS: DNS_T_A, _MX or _NS; 0: a name
				 * Ostia does not know (deferred) */
};

struct list {
	char *title;		/* parameter name */
	struct item *items;
	size_t n;
};

struct cls {
	char *name;
	struct list *list;	/* compiled on first use; NULL: not yet */
	bool failed;		/* the value could not be read */
};

static struct {
	struct list *client, *helo, *sender, *relay, *recipient, *data, *eod;
	struct cls *classes;
	size_t nclasses;
	bool delay_reject;
	bool relay_first;
	bool reject_unlisted_rcpt, reject_unlisted_sender;
	int reject_code, defer_code, access_reject_code, access_defer_code;
	int relay_reject_code, unknown_address_code, non_fqdn_code;
	int plaintext_code;		/* plaintext_reject_code */
	int invalid_hostname_code;
	int unknown_client_code, unknown_hostname_code;
	int rbl_code;		/* maps_rbl_reject_code */
	/* reject_unverified_*: [0] recipient, [1] sender */
	struct unverified {
		int reject_code, defer_code;
		bool defer_now;		/* tempfail_action = defer */
		char *reason;		/* "" = the probe's words */
	} unv[2];
	unsigned verify_wait_ms;	/* (poll_count - 1) * poll_delay */
	const char *delimiter;
	bool parent_matches;	/* smtpd_access_maps in
				 * parent_domain_matches_subdomains */
	const char *content_filter;
	bool no_unknown_rcpt_checks;	/* receive_override_options */
	bool rewrite_sender, rewrite_rcpt;	/* canonical or BCC maps */
	const struct config_view *view;
	struct lookup_client *lc;
	/* permit_mx_backup: this host's addresses (inet_interfaces,
	 * proxy_interfaces), and permit_mx_backup_networks (NULL: any) */
	struct own_addrs own;
	struct peer_list *mxb_nets;
} ck;

/*
 * The implicit checks: smtpd_reject_unlisted_sender right after the
 * sender restrictions, smtpd_reject_unlisted_recipient after the
 * recipient ones.  Each is a one-item list of its own.
 */
static char implicit_sender_name[] = "smtpd_reject_unlisted_sender";
static char implicit_rcpt_name[] = "smtpd_reject_unlisted_recipient";
static struct item implicit_sender_item = {
	.op = OP_REJECT_UNLISTED_SENDER,
	.name = implicit_sender_name,
};
static struct item implicit_rcpt_item = {
	.op = OP_REJECT_UNLISTED_RCPT,
	.name = implicit_rcpt_name,
};
static const struct list implicit_sender_list = {
	.title = implicit_sender_name, .items = &implicit_sender_item, .n = 1,
};
static const struct list implicit_rcpt_list = {
	.title = implicit_rcpt_name, .items = &implicit_rcpt_item, .n = 1,
};

/* One nesting level of a running check. */
struct frame {
	const struct list *list;
	size_t i;
	struct list *owned;	/* a list parsed from an access result */
};

enum verdict { V_NONE, V_PERMIT, V_REJECT };

struct smtpd_check_state {
	struct session *s;
	enum smtpd_check_stage stage;
	char *rcpt;
	smtpd_check_done *done;
	bool running;
	bool in_start;		/* inside smtpd_check_start */
	bool went_async;	/* paused the session */
	/* the lists of this stage, one after the other */
	const struct list *seq[8];
	size_t nseq, iseq;
	struct frame stack[CHECK_DEPTH_MAX];
	size_t depth;
	unsigned steps;
	bool warn_next, defer_next;	/* warn_if_reject, defer_if_reject */
	bool warn_cur, defer_cur;	/* ... for the restriction running */
	char *dip_reply;		/* defer_if_permit pending */
	bool rejected;			/* decided: reply holds the refusal */
	char reply[SMTPD_REPLY_MAX_BYTES];
	struct lookup_request *lreq;
	struct policy_request *preq;
	struct verify_client_req *vreq;	/* address verification query */
	const struct item *waiting;	/* the item whose answer we await */
	char *sticky;			/* delay_reject = no refusal */
	struct smtpd_check_actions act;
	char *cache_key;		/* of the request under way */
	bool client_addr_next;		/* check_client_access: the name was
					 * asked; the address comes next */
	bool pkey_next;			/* a certificate fingerprint was
					 * asked; its public key's comes next */
	struct smtpd_dns_req *dreq;	/* DNS lookup under way */
	struct dns_job *job;		/* the DNS check running */
	smtpd_rewrite_done *rewrite_done;	/* a rewrite is under way */
	bool rewrite_sender;
};

/* ---------------------------------------------------------------- */
/* Compiling lists                                                  */

static const struct {
	const char *name;
	enum op op;
	enum access_kind ak;	/* OP_ACCESS */
} ops[] = {
	{ "permit", OP_PERMIT, 0 },
	{ "reject", OP_REJECT, 0 },
	{ "defer", OP_DEFER, 0 },
	{ "dunno", OP_DUNNO, 0 },
	{ "defer_if_permit", OP_DEFER_IF_PERMIT, 0 },
	{ "defer_if_reject", OP_DEFER_IF_REJECT, 0 },
	{ "warn_if_reject", OP_WARN_IF_REJECT, 0 },
	{ "permit_mynetworks", OP_PERMIT_MYNETWORKS, 0 },
	{ "permit_sasl_authenticated", OP_PERMIT_SASL, 0 },
	{ "permit_tls_clientcerts", OP_PERMIT_TLS_CERTS, 0 },
	{ "permit_tls_all_clientcerts", OP_PERMIT_TLS_ALL, 0 },
	{ "reject_unauth_destination", OP_REJECT_UNAUTH_DEST, 0 },
	{ "defer_unauth_destination", OP_DEFER_UNAUTH_DEST, 0 },
	{ "permit_auth_destination", OP_PERMIT_AUTH_DEST, 0 },
	{ "permit_mx_backup", OP_PERMIT_MX_BACKUP, 0 },
	{ "reject_unlisted_recipient", OP_REJECT_UNLISTED_RCPT, 0 },
	{ "check_recipient_maps", OP_REJECT_UNLISTED_RCPT, 0 },
	{ "reject_unlisted_sender", OP_REJECT_UNLISTED_SENDER, 0 },
	{ "reject_non_fqdn_sender", OP_REJECT_NON_FQDN_SENDER, 0 },
	{ "reject_non_fqdn_recipient", OP_REJECT_NON_FQDN_RCPT, 0 },
	{ "reject_non_fqdn_helo_hostname", OP_REJECT_NON_FQDN_HELO, 0 },
	{ "reject_non_fqdn_hostname", OP_REJECT_NON_FQDN_HELO, 0 },
	{ "reject_invalid_helo_hostname", OP_REJECT_INVALID_HELO, 0 },
	{ "reject_invalid_hostname", OP_REJECT_INVALID_HELO, 0 },
	{ "reject_unauth_pipelining", OP_REJECT_UNAUTH_PIPELINING, 0 },
	{ "reject_plaintext_session", OP_REJECT_PLAINTEXT, 0 },
	{ "reject_unknown_sender_domain", OP_UNKNOWN_SENDER_DOMAIN, 0 },
	{ "reject_unknown_recipient_domain", OP_UNKNOWN_RCPT_DOMAIN, 0 },
	{ "reject_unknown_helo_hostname", OP_UNKNOWN_HELO, 0 },
	{ "reject_unknown_hostname", OP_UNKNOWN_HELO, 0 },
	{ "reject_unknown_client_hostname", OP_UNKNOWN_CLIENT, 0 },
	{ "reject_unknown_client", OP_UNKNOWN_CLIENT, 0 },
	{ "reject_unknown_reverse_client_hostname", OP_UNKNOWN_REVERSE, 0 },
	{ "reject_rbl_client", OP_RBL, AK_CLIENT },
	{ "reject_rhsbl_sender", OP_RHSBL, AK_SENDER },
	{ "reject_rhsbl_client", OP_RHSBL, AK_CLIENT },
	{ "reject_rhsbl_helo", OP_RHSBL, AK_HELO },
	{ "reject_rhsbl_recipient", OP_RHSBL, AK_RECIPIENT },
	{ "reject_rhsbl_reverse_client", OP_RHSBL, AK_REVERSE_CLIENT },
	{ "reject_sender_login_mismatch", OP_SENDER_LOGIN, 0 },
	{ "reject_authenticated_sender_login_mismatch", OP_SENDER_LOGIN, 0 },
	{ "reject_known_sender_login_mismatch", OP_SENDER_LOGIN, 0 },
	{ "reject_unauthenticated_sender_login_mismatch", OP_SENDER_LOGIN,
	    0 },
	{ "check_client_access", OP_ACCESS, AK_CLIENT },
	{ "check_reverse_client_hostname_access", OP_ACCESS,
	    AK_REVERSE_CLIENT },
	{ "check_helo_access", OP_ACCESS, AK_HELO },
	{ "check_sender_access", OP_ACCESS, AK_SENDER },
	{ "check_recipient_access", OP_ACCESS, AK_RECIPIENT },
	{ "check_sasl_access", OP_ACCESS, AK_SASL },
	{ "check_ccert_access", OP_ACCESS, AK_CCERT },
	{ "check_policy_service", OP_POLICY, 0 },
	{ "reject_unverified_recipient", OP_UNVERIFIED, AK_RECIPIENT },
	{ "reject_unverified_sender", OP_UNVERIFIED, AK_SENDER },
};

/* Restrictions that take the next list element as their argument. */
static bool
takes_arg(enum op op, const char *name)
{
	(void)name;
	return op == OP_ACCESS || op == OP_POLICY || op == OP_RBL ||
	    op == OP_RHSBL || op == OP_DNS;
}

/* "zone" or "zone=filter" of reject_rbl_client / reject_rhsbl_*. */
static bool
rbl_arg_ok(const char *arg)
{
	const char *eq = strchr(arg, '=');
	char zone[DNS_NAME_MAX];
	size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

	if (n == 0 || n >= sizeof(zone))
		return false;
	memcpy(zone, arg, n);
	zone[n] = '\0';
	if (!dns_name_valid(zone))
		return false;
	return eq == NULL || dnsbl_filter_match(eq + 1, 0) >= 0;
}

/* DNS-based access checks Postfix has ({client,helo,sender,...}_
 * {a,mx,ns}_access): they take a table and need DNS. */
static bool
is_dns_access(const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(name, "check_", 6) == 0 && n > 11 &&
	    (strcasecmp(name + n - 9, "_a_access") == 0 ||
	    strcasecmp(name + n - 10, "_mx_access") == 0 ||
	    strcasecmp(name + n - 10, "_ns_access") == 0);
}

/*
 * dns_access_kind - whose name check_WHO_{a,mx,ns}_access looks at
 * (client, reverse_client, helo, sender, recipient) and which records:
 * into it->ak and it->dtype (0 for a WHO Postfix does not have).
 */
static void
dns_access_kind(const char *name, struct item *it)
{
	static const struct {
		const char *who;
		enum access_kind ak;
	} whos[] = {
		{ "check_client_", AK_CLIENT },
		{ "check_reverse_client_", AK_REVERSE_CLIENT },
		{ "check_helo_", AK_HELO },
		{ "check_sender_", AK_SENDER },
		{ "check_recipient_", AK_RECIPIENT },
	};
	size_t n = strlen(name);

	it->dtype = 0;
	for (size_t i = 0; i < N_ELEMENTS(whos); i++) {
		size_t w = strlen(whos[i].who);
		const char *rest = name + w;

		if (n <= w || strncasecmp(name, whos[i].who, w) != 0)
			continue;
		it->ak = whos[i].ak;
		if (strcasecmp(rest, "a_access") == 0)
			it->dtype = DNS_T_A;
		else if (strcasecmp(rest, "mx_access") == 0)
			it->dtype = DNS_T_MX;
		else if (strcasecmp(rest, "ns_access") == 0)
			it->dtype = DNS_T_NS;
		return;
	}
}

static size_t
class_find(const char *name)
{
	for (size_t i = 0; i < ck.nclasses; i++) {
		if (strcasecmp(ck.classes[i].name, name) == 0)
			return i;
	}
	return (size_t)-1;
}

static void
list_free(struct list **lp)
{
	struct list *l = *lp;

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].name);
		free(l->items[i].arg);
		policy_spec_free(&l->items[i].policy);
	}
	free(l->items);
	free(l->title);
	free(l);
	*lp = NULL;
}

/*
 * compile - a restriction list from its elements.  Problems are warned
 * about (when warn) and compiled into OP_UNKNOWN items that refuse
 * temporarily when reached: a broken list never lets mail through.
 */
static struct list *
compile(const char *title, char **elems, bool warn)
{
	struct list *l = xcalloc(1, sizeof(*l));
	size_t cap = 0;

	l->title = xstrdup(title);
	for (size_t i = 0; elems[i] != NULL; i++) {
		struct item it;
		const char *name = elems[i];
		bool found = false;

		memset(&it, 0, sizeof(it));
		it.op = OP_UNKNOWN;
		it.name = xstrdup(name);
		for (size_t k = 0; k < N_ELEMENTS(ops) && !found; k++) {
			if (strcasecmp(ops[k].name, name) == 0) {
				it.op = ops[k].op;
				it.ak = ops[k].ak;
				found = true;
			}
		}
		if (!found && is_dns_access(name)) {
			it.op = OP_DNS;
			dns_access_kind(name, &it);
			found = true;
		} else if (!found && (it.cls = class_find(name)) !=
		    (size_t)-1) {
			it.op = OP_CLASS;
			found = true;
		}
		if (found && it.op == OP_PERMIT_TLS_CERTS)
			it.arg = xstrdup(config_str(ck.view,
			    P_relay_clientcerts));
		if (found && takes_arg(it.op, name)) {
			if (elems[i + 1] == NULL) {
				if (warn)
					log_warning("%s: \"%s\" needs an "
					    "argument (a table or service) "
					    "after it; mail reaching it is "
					    "deferred", title, name);
				it.op = OP_UNKNOWN;
			} else {
				it.arg = xstrdup(elems[++i]);
			}
		}
		if (found && (it.op == OP_RBL || it.op == OP_RHSBL) &&
		    it.arg != NULL && !rbl_arg_ok(it.arg)) {
			if (warn)
				log_warning("%s: %s %.*s: not a DNS zone, or a "
				    "zone=d.d.d.d reply filter Ostia does not "
				    "understand; mail reaching it is deferred",
				    title, name, CHECK_NAME_SHOW, it.arg);
			it.op = OP_UNKNOWN;
		}
		if (found && it.op == OP_POLICY && it.arg != NULL) {
			char err[512];

			it.policy = policy_spec_parse(it.arg, ck.view, err,
			    sizeof(err));
			if (it.policy == NULL) {
				log_warning("%s: check_policy_service %.*s: "
				    "%s; mail reaching it is deferred", title,
				    CHECK_NAME_SHOW, it.arg, err);
				it.op = OP_UNKNOWN;
			}
		}
		if (!found && warn)
			log_warning("%s: unknown restriction \"%.*s\"; mail "
			    "reaching it is deferred with \"451 4.3.5 Server "
			    "configuration error\" (a typo, or a restriction "
			    "Ostia does not have)", title, CHECK_NAME_SHOW,
			    name);
		if (found && it.op == OP_SENDER_LOGIN && warn &&
		    strcmp(title, "smtpd_sender_restrictions") != 0 &&
		    strcmp(title, "smtpd_recipient_restrictions") != 0 &&
		    strcmp(title, "smtpd_relay_restrictions") != 0)
			log_warning("%s: %s is applied at MAIL FROM only from "
			    "smtpd_sender_restrictions, smtpd_recipient_"
			    "restrictions and smtpd_relay_restrictions", title,
			    name);
		if (l->n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			l->items = xreallocarray(l->items, cap,
			    sizeof(*l->items));
		}
		l->items[l->n++] = it;
	}
	return l;
}

static struct list *
compile_param(const struct config_view *v, enum param_id id,
    const char *title)
{
	char **elems = config_list(v, id);
	struct list *l = compile(title, elems, true);

	strv_free(&elems);
	return l;
}

/* class_list - the compiled list of class i, compiling it first. */
static struct list *
class_list(size_t i)
{
	struct cls *c = &ck.classes[i];
	char *value;
	char **elems;

	if (c->list != NULL || c->failed)
		return c->list;
	value = config_expand_name(ck.view, c->name);
	if (value == NULL) {
		log_warning("smtpd_restriction_classes: \"%s\" is not set in "
		    "main.cf or master.cf; mail reaching it is deferred",
		    c->name);
		c->failed = true;
		return NULL;
	}
	elems = config_split_list(value);
	c->list = compile(c->name, elems, true);
	strv_free(&elems);
	free(value);
	return c->list;
}

/* unverified_settings - the unverified_{recipient,sender}_* and
 * address_verify_poll_* parameters. */
static void
unverified_settings(const struct config_view *v)
{
	static const enum param_id ids[2][4] = {
		{ P_unverified_recipient_reject_code,
		  P_unverified_recipient_defer_code,
		  P_unverified_recipient_tempfail_action,
		  P_unverified_recipient_reject_reason },
		{ P_unverified_sender_reject_code,
		  P_unverified_sender_defer_code,
		  P_unverified_sender_tempfail_action,
		  P_unverified_sender_reject_reason },
	};
	long long wait;

	for (size_t i = 0; i < 2; i++) {
		ck.unv[i].reject_code = (int)config_int(v, ids[i][0]);
		ck.unv[i].defer_code = (int)config_int(v, ids[i][1]);
		ck.unv[i].defer_now = strcmp(config_str(v, ids[i][2]),
		    "defer") == 0;
		free(ck.unv[i].reason);
		ck.unv[i].reason = xstrdup(config_str(v, ids[i][3]));
	}
	wait = (config_int(v, P_address_verify_poll_count) - 1) *
	    config_time(v, P_address_verify_poll_delay) * 1000;
	ck.verify_wait_ms = wait > (long long)VERIFY_WAIT_MAX_MS ?
	    VERIFY_WAIT_MAX_MS : (unsigned)wait;
}

void
smtpd_check_init(const struct config_view *v)
{
	char **names, **opts;

	ck.view = v;
	names = config_list(v, P_smtpd_restriction_classes);
	for (size_t i = 0; names[i] != NULL; i++) {
		ck.classes = xreallocarray(ck.classes, ck.nclasses + 1,
		    sizeof(*ck.classes));
		memset(&ck.classes[ck.nclasses], 0, sizeof(ck.classes[0]));
		ck.classes[ck.nclasses++].name = xstrdup(names[i]);
	}
	strv_free(&names);
	ck.client = compile_param(v, P_smtpd_client_restrictions,
	    "smtpd_client_restrictions");
	ck.helo = compile_param(v, P_smtpd_helo_restrictions,
	    "smtpd_helo_restrictions");
	ck.sender = compile_param(v, P_smtpd_sender_restrictions,
	    "smtpd_sender_restrictions");
	ck.relay = compile_param(v, P_smtpd_relay_restrictions,
	    "smtpd_relay_restrictions");
	ck.recipient = compile_param(v, P_smtpd_recipient_restrictions,
	    "smtpd_recipient_restrictions");
	ck.data = compile_param(v, P_smtpd_data_restrictions,
	    "smtpd_data_restrictions");
	ck.eod = compile_param(v, P_smtpd_end_of_data_restrictions,
	    "smtpd_end_of_data_restrictions");
	/* Compile every class now so that mistakes show at start-up. */
	for (size_t i = 0; i < ck.nclasses; i++)
		(void)class_list(i);
	if (ck.relay->n == 0 && ck.recipient->n == 0)
		log_warning("smtpd_relay_restrictions and smtpd_recipient_"
		    "restrictions are both empty: every recipient is refused "
		    "(an MTA without them would be an open relay)");
	ck.delay_reject = config_bool(v, P_smtpd_delay_reject);
	ck.relay_first = config_bool(v,
	    P_smtpd_relay_before_recipient_restrictions);
	ck.reject_unlisted_rcpt = config_bool(v,
	    P_smtpd_reject_unlisted_recipient);
	ck.reject_unlisted_sender = config_bool(v,
	    P_smtpd_reject_unlisted_sender);
	ck.reject_code = (int)config_int(v, P_reject_code);
	ck.defer_code = (int)config_int(v, P_defer_code);
	unverified_settings(v);
	ck.access_reject_code = (int)config_int(v, P_access_map_reject_code);
	ck.access_defer_code = (int)config_int(v, P_access_map_defer_code);
	ck.relay_reject_code = (int)config_int(v, P_relay_domains_reject_code);
	ck.unknown_address_code = (int)config_int(v,
	    P_unknown_address_reject_code);
	ck.rbl_code = (int)config_int(v, P_maps_rbl_reject_code);
	ck.non_fqdn_code = (int)config_int(v, P_non_fqdn_reject_code);
	ck.plaintext_code = (int)config_int(v, P_plaintext_reject_code);
	ck.invalid_hostname_code = (int)config_int(v,
	    P_invalid_hostname_reject_code);
	ck.unknown_client_code = (int)config_int(v,
	    P_unknown_client_reject_code);
	ck.unknown_hostname_code = (int)config_int(v,
	    P_unknown_hostname_reject_code);
	ck.delimiter = config_str(v, P_recipient_delimiter);
	ck.parent_matches = config_list_contains(v,
	    P_parent_domain_matches_subdomains, "smtpd_access_maps");
	ck.content_filter = config_str(v, P_content_filter);
	ck.rewrite_sender = *config_str(v, P_sender_canonical_maps) != '\0' ||
	    *config_str(v, P_canonical_maps) != '\0' ||
	    *config_str(v, P_sender_bcc_maps) != '\0';
	ck.rewrite_rcpt = *config_str(v, P_recipient_canonical_maps) != '\0' ||
	    *config_str(v, P_canonical_maps) != '\0' ||
	    *config_str(v, P_recipient_bcc_maps) != '\0';
	ck.rewrite_sender |= masq_wanted(v, MASQ_ENV_SENDER);
	ck.rewrite_rcpt |= masq_wanted(v, MASQ_ENV_RCPT);
	opts = config_list(v, P_receive_override_options);
	for (size_t i = 0; opts[i] != NULL; i++) {
		if (strcasecmp(opts[i], "no_unknown_recipient_checks") == 0)
			ck.no_unknown_rcpt_checks = true;
		if (strcasecmp(opts[i], "no_address_mappings") == 0)
			ck.rewrite_sender = ck.rewrite_rcpt = false;
	}
	strv_free(&opts);
	own_addrs_free(&ck.own);
	own_addrs_load(&ck.own, v, true);
	if (ck.own.err != NULL)
		log_warning("permit_mx_backup: %s", ck.own.err);
	peer_list_free(&ck.mxb_nets);
	if (*config_str(v, P_permit_mx_backup_networks) != '\0') {
		const char *err = NULL;

		ck.mxb_nets = smtpd_peers_parse(v, "permit_mx_backup_networks",
		    config_str(v, P_permit_mx_backup_networks), &err);
		if (ck.mxb_nets == NULL)
			log_fatal("permit_mx_backup_networks: %s", err);
	}
}

/* ---------------------------------------------------------------- */
/* Per-session state                                                */

static struct smtpd_check_state *
state_of(struct session *s)
{
	if (s->chk == NULL) {
		s->chk = xcalloc(1, sizeof(*s->chk));
		s->chk->s = s;
	}
	return s->chk;
}

struct smtpd_check_actions *
smtpd_check_actions(struct session *s)
{
	return &state_of(s)->act;
}

void
smtpd_check_reset_actions(struct session *s)
{
	struct smtpd_check_actions *a;

	if (s->chk == NULL && *ck.content_filter == '\0')
		return;
	a = &state_of(s)->act;
	free(a->filter);
	free(a->hold);
	free(a->redirect);
	free(a->discard_reason);
	strv_free(&a->prepend);
	strv_free(&a->bcc);
	memset(a, 0, sizeof(*a));
	if (*ck.content_filter != '\0')
		a->filter = xstrdup(ck.content_filter);
}

const char *
smtpd_check_sticky_reject(const struct session *s)
{
	return s->chk != NULL ? s->chk->sticky : NULL;
}

static void
frames_clear(struct smtpd_check_state *st)
{
	while (st->depth > 0) {
		st->depth--;
		list_free(&st->stack[st->depth].owned);
	}
}

void
smtpd_check_cancel(struct session *s)
{
	struct smtpd_check_state *st = s->chk;

	if (st == NULL)
		return;
	if (st->lreq != NULL) {
		lookup_client_cancel(st->lreq);
		st->lreq = NULL;
	}
	if (st->preq != NULL) {
		policy_request_cancel(st->preq);
		st->preq = NULL;
	}
	verify_client_cancel(&st->vreq);
	smtpd_dns_cancel(&st->dreq);
	free(st->job);
	st->job = NULL;
	st->client_addr_next = false;
	st->pkey_next = false;
	st->waiting = NULL;
	st->rewrite_done = NULL;
	frames_clear(st);
	free(st->rcpt);
	st->rcpt = NULL;
	free(st->dip_reply);
	st->dip_reply = NULL;
	st->running = false;
}

void
smtpd_check_session_end(struct session *s)
{
	if (s->chk == NULL)
		return;
	smtpd_check_cancel(s);
	smtpd_check_reset_actions(s);
	free(s->chk->act.filter);
	free(s->chk->sticky);
	free(s->chk->cache_key);
	free(s->chk);
	s->chk = NULL;
}

bool
smtpd_check_wanted(const struct session *s, enum smtpd_check_stage stage)
{
	(void)s;
	switch (stage) {
	case SMTPD_CHECK_CONNECT:
		return !ck.delay_reject && ck.client->n > 0;
	case SMTPD_CHECK_HELO:
		return !ck.delay_reject && ck.helo->n > 0;
	case SMTPD_CHECK_MAIL:
		return !ck.delay_reject && ck.sender->n > 0;
	case SMTPD_CHECK_RCPT:
		return true;	/* relay control always applies */
	case SMTPD_CHECK_DATA:
		return ck.data->n > 0;
	case SMTPD_CHECK_EOD:
		return ck.eod->n > 0;
	}
	return false;
}

/* ---------------------------------------------------------------- */
/* Evaluation                                                       */

static void run(struct smtpd_check_state *st);

/*
 * Answers of the lookup process (ROUTE and FIND; found and not found,
 * never a failure), kept a few seconds: a session usually asks the same
 * thing for every recipient and every message, as Postfix's smtpd keeps
 * its last trivial-rewrite answer.  Direct-mapped, bounded: a slot is
 * replaced by the next key that hashes to it; long keys and values are
 * not kept.  The lookup process caches table answers longer, so this
 * adds at most ANSWER_CACHE_TTL_MS of staleness.
 */
#define ANSWER_CACHE_SLOTS 1024
#define ANSWER_CACHE_TTL_MS 5000
#define ANSWER_CACHE_KEY_MAX 2048
#define ANSWER_CACHE_VALUE_MAX 4096

struct cslot {
	char *key;
	char *value;
	size_t len;
	enum dict_status status;
	uint64_t expires_ms;
};

static struct cslot answer_cache[ANSWER_CACHE_SLOTS];

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct cslot *
cache_slot(const char *key)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return &answer_cache[h % ANSWER_CACHE_SLOTS];
}

static void
cache_put(const char *key, enum dict_status status, const char *text,
    size_t len)
{
	struct cslot *c;

	if (key == NULL || status == DICT_TEMPFAIL ||
	    len > ANSWER_CACHE_VALUE_MAX)
		return;
	c = cache_slot(key);
	free(c->key);
	free(c->value);
	c->key = xstrdup(key);
	c->value = xstrndup(text, len);
	c->len = len;
	c->status = status;
	c->expires_ms = mono_ms() + ANSWER_CACHE_TTL_MS;
}

static const struct cslot *
cache_get(const char *key)
{
	struct cslot *c;

	if (key == NULL)
		return NULL;
	c = cache_slot(key);
	if (c->key == NULL || strcmp(c->key, key) != 0 ||
	    mono_ms() >= c->expires_ms)
		return NULL;
	return c;
}

/* The key of a request, or NULL when too long to keep. */
static char *
cache_key(const char *kind, const char *a, const char *b, const char *c,
    unsigned n1, unsigned n2)
{
	if (strlen(a) + strlen(b) + strlen(c) > ANSWER_CACHE_KEY_MAX)
		return NULL;
	return xasprintf("%s\x1f%u\x1f%u\x1f%s\x1f%s\x1f%s", kind, n1, n2, a,
	    b, c);
}
static void dns_defer(struct smtpd_check_state *st, const struct item *it);
static enum verdict mailhost_start(struct smtpd_check_state *st,
    const struct item *it);
static enum verdict find_ask(struct smtpd_check_state *st,
    const struct item *it, const char *key, enum lookup_find_order order,
    unsigned mflags);

/* The address or name a reply is about, and its words. */
static const char *
subject_text(struct smtpd_check_state *st, enum access_kind ak,
    const char **what_r)
{
	struct session *s = st->s;
	static char client[SMTPD_LABEL_MAX];

	switch (ak) {
	case AK_CLIENT:
	case AK_REVERSE_CLIENT:
		snprintf(client, sizeof(client), "%s[%s]", ak == AK_CLIENT ?
		    s->name : s->reverse_name, s->addr);
		*what_r = "Client host rejected";
		return client;
	case AK_HELO:
		*what_r = "Helo command rejected";
		return s->helo != NULL ? s->helo : "";
	case AK_CCERT:
		snprintf(client, sizeof(client), "%s[%s]", s->name, s->addr);
		*what_r = "Client certificate rejected";
		return client;
	case AK_SENDER:
	case AK_SASL:
		*what_r = "Sender address rejected";
		return s->have_mail ? s->mail.from.text : "";
	case AK_RECIPIENT:
		*what_r = "Recipient address rejected";
		return st->rcpt != NULL ? st->rcpt : "";
	case AK_DATA:
		*what_r = "Data command rejected";
		return "DATA";
	case AK_EOD:
		*what_r = "End-of-data rejected";
		return "END-OF-MESSAGE";
	}
	*what_r = "Access denied";
	return "";
}

/* The kind of subject a list's plain reject talks about. */
static enum access_kind
stage_kind(struct smtpd_check_state *st)
{
	const struct list *l = st->depth > 0 ? st->stack[0].list : NULL;

	if (l == ck.client)
		return AK_CLIENT;
	if (l == ck.helo)
		return AK_HELO;
	if (l == ck.sender || l == &implicit_sender_list)
		return AK_SENDER;
	if (st->stage == SMTPD_CHECK_RCPT)
		return AK_RECIPIENT;
	if (st->stage == SMTPD_CHECK_DATA)
		return AK_DATA;
	if (st->stage == SMTPD_CHECK_EOD)
		return AK_EOD;
	return AK_CLIENT;
}

/* Table values and policy replies become reply text: no control
 * characters (a CR or LF would end the reply line early). */
static void
reply_sanitize(char *p)
{
	for (; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

/*
 * set_reply - the reply for a reject: "CODE X.Y.Z <subject>: What:
 * text".  A 4xx code gets a 4.x.x enhanced code.
 */
static void
set_reply(struct smtpd_check_state *st, int code, const char *dsn,
    enum access_kind ak, const char *fmt, ...) ATTR_FORMAT(5, 6);

static void
set_reply(struct smtpd_check_state *st, int code, const char *dsn,
    enum access_kind ak, const char *fmt, ...)
{
	char text[512], d[16];
	const char *what, *subj = subject_text(st, ak, &what);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(d, sizeof(d), "%s", dsn);
	d[0] = code >= 500 ? '5' : '4';
	snprintf(st->reply, sizeof(st->reply), "%d %s <%.300s>: %s: %s", code,
	    d, subj, what, text);
	reply_sanitize(st->reply);
}

/* Ends the whole check with a reject (or its softened forms). */
static enum verdict
do_reject(struct smtpd_check_state *st)
{
	char who[SMTPD_LABEL_MAX];

	if (st->warn_cur) {
		log_info("warn: reject_warning: %s: %s (warn_if_reject)",
		    smtpd_client_label(st->s, who, sizeof(who)), st->reply);
		return V_NONE;
	}
	if (st->defer_cur && st->reply[0] == '5') {
		/* defer_if_reject: a 5xx becomes 450 4.7.1 */
		char *p = strchr(st->reply, ' ');
		char tmp[SMTPD_REPLY_MAX_BYTES];

		snprintf(tmp, sizeof(tmp), "%d 4%s", ck.defer_code,
		    p != NULL && p[1] == '5' ? p + 2 : " 4.7.1 Try again");
		snprintf(st->reply, sizeof(st->reply), "%s", tmp);
	}
	return V_REJECT;
}

/* Configuration problems: 451 4.3.5 and the cause in the log. */
static enum verdict
config_error(struct smtpd_check_state *st, const char *fmt, ...)
    ATTR_FORMAT(2, 3);

static enum verdict
config_error(struct smtpd_check_state *st, const char *fmt, ...)
{
	char text[600], who[SMTPD_LABEL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_warning("%s: %s", smtpd_client_label(st->s, who, sizeof(who)),
	    text);
	snprintf(st->reply, sizeof(st->reply),
	    "451 4.3.5 Server configuration error");
	return V_REJECT;
}

/* Lookups that fail: 451 4.3.0 and the cause in the log. */
static enum verdict
lookup_failed(struct smtpd_check_state *st, const char *what,
    const char *reason, size_t len)
{
	char who[SMTPD_LABEL_MAX];
	const char *w;
	const char *subj = subject_text(st, stage_kind(st), &w);

	log_warning("%s: %s failed: %.*s; the command gets a temporary "
	    "failure", smtpd_client_label(st->s, who, sizeof(who)), what,
	    (int)len, reason);
	snprintf(st->reply, sizeof(st->reply), "451 4.3.0 <%.300s>: "
	    "Temporary lookup failure", subj);
	return V_REJECT;
}

/* permit_mynetworks: a table lookup that fails defers (451 4.3.0). */
static enum verdict
permit_mynetworks(struct smtpd_check_state *st)
{
	char err[DICT_ERR_MAX_BYTES + 256];
	int r = smtpd_mynetworks_match(st->s, err, sizeof(err));

	if (r < 0)
		return lookup_failed(st, "mynetworks", err, strlen(err));
	return r == 1 ? V_PERMIT : V_NONE;
}

/* A host name with at least one dot and only LDH labels. */
static bool
valid_hostname(const char *h, bool need_dot)
{
	size_t n = strlen(h), label = 0;
	bool dot = false;

	if (n == 0 || n > 255)
		return false;
	if (h[0] == '[')
		return h[n - 1] == ']';	/* address literal */
	if (h[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			dot = true;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0)
		return false;
	return !need_dot || dot;
}

static bool
fqdn_address(const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL)
		return false;
	if (at[1] == '[')
		return true;
	return strchr(at + 1, '.') != NULL && valid_hostname(at + 1, true);
}

/* Push a list to evaluate inside the current one. */
static enum verdict
push(struct smtpd_check_state *st, const struct list *l, struct list *owned)
{
	if (st->depth >= CHECK_DEPTH_MAX) {
		list_free(&owned);
		return config_error(st, "restriction classes and access "
		    "results nest deeper than %d levels (a loop?) in %s",
		    CHECK_DEPTH_MAX, l->title);
	}
	st->stack[st->depth].list = l;
	st->stack[st->depth].i = 0;
	st->stack[st->depth].owned = owned;
	st->depth++;
	return V_NONE;
}

/*
 * take_dsn - an enhanced status code of class cls ("5.7.9") at the
 * start of text goes to dsn; returns the text after it.
 */
static const char *
take_dsn(const char *text, char cls, char *dsn, size_t dsnsz)
{
	size_t n = strspn(text, "0123456789.");

	if (n >= 5 && n < dsnsz && text[0] == cls && text[1] == '.' &&
	    (text[n] == ' ' || text[n] == '\0') && text[n - 1] != '.' &&
	    strchr(text + 2, '.') != NULL && strchr(text + 2, '.') < text + n) {
		memcpy(dsn, text, n);
		dsn[n] = '\0';
		text += n;
		while (*text == ' ')
			text++;
	}
	return text;
}

/* Parse "NNN text" / "NNN X.Y.Z text" of an access result. */
static bool
numeric_reply(const char *v, int *code_r, char *dsn, size_t dsnsz,
    const char **text_r)
{
	if (!(v[0] == '4' || v[0] == '5') || !isdigit((unsigned char)v[1]) ||
	    !isdigit((unsigned char)v[2]) || (v[3] != ' ' && v[3] != '\0'))
		return false;
	*code_r = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	v += 3;
	while (*v == ' ')
		v++;
	/* An enhanced status code of the same class. */
	if ((v[0] == '4' || v[0] == '5') && v[1] == '.' &&
	    v[0] == '0' + *code_r / 100) {
		size_t n = strspn(v, "0123456789.");

		if (n < dsnsz && (v[n] == ' ' || v[n] == '\0')) {
			memcpy(dsn, v, n);
			dsn[n] = '\0';
			v += n;
			while (*v == ' ')
				v++;
		}
	}
	*text_r = v;
	return true;
}

/*
 * access_result - what an access(5) table value means (Postfix's
 * actions, or a restriction list to evaluate in place).
 */
static enum verdict
access_result(struct smtpd_check_state *st, const struct item *it,
    const char *value)
{
	char word[32], dsn[16] = "5.7.1", who[SMTPD_LABEL_MAX];
	const char *rest, *text;
	size_t wn;
	int code;
	struct smtpd_check_actions *a = &st->act;
	/* A policy service's reply is about what the list checks. */
	enum access_kind ak = it->op == OP_ACCESS || it->op == OP_DNS ?
	    it->ak : stage_kind(st);

	while (*value == ' ' || *value == '\t')
		value++;
	wn = strcspn(value, " \t");
	rest = value + wn;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (wn < sizeof(word)) {
		memcpy(word, value, wn);
		word[wn] = '\0';
	} else {
		word[0] = '\0';
	}
	if (wn > 0 && strspn(value, "0123456789") == strlen(value))
		return V_PERMIT;	/* all-numeric: OK */
	if (strcasecmp(word, "OK") == 0)
		return V_PERMIT;
	if (strcasecmp(word, "DUNNO") == 0)
		return V_NONE;
	if (numeric_reply(value, &code, dsn, sizeof(dsn), &text)) {
		if (strlen(dsn) < 5)
			snprintf(dsn, sizeof(dsn), "%c.7.1", value[0]);
		set_reply(st, code, dsn, ak, "%.400s", *text != '\0' ?
		    text : "Access denied");
		return do_reject(st);
	}
	if (strcasecmp(word, "REJECT") == 0 || strcasecmp(word, "DEFER") == 0) {
		bool rej = word[0] == 'R' || word[0] == 'r';

		snprintf(dsn, sizeof(dsn), "%s", rej ? "5.7.1" : "4.7.1");
		rest = take_dsn(rest, rej ? '5' : '4', dsn, sizeof(dsn));
		set_reply(st, rej ? ck.access_reject_code : ck.access_defer_code,
		    dsn, ak, "%.400s", *rest != '\0' ? rest : "Access denied");
		return do_reject(st);
	}
	if (strcasecmp(word, "DEFER_IF_REJECT") == 0) {
		st->defer_next = true;
		return V_NONE;
	}
	if (strcasecmp(word, "DEFER_IF_PERMIT") == 0) {
		if (st->dip_reply == NULL) {
			set_reply(st, ck.access_defer_code, "4.7.1", ak,
			    "%.400s", *rest != '\0' ? rest :
			    "Service unavailable");
			st->dip_reply = xstrdup(st->reply);
		}
		return V_NONE;
	}
	if (strcasecmp(word, "WARN") == 0 || strcasecmp(word, "INFO") == 0) {
		log_info("%s: %s: %s: %.400s", smtpd_client_label(st->s, who,
		    sizeof(who)), strcasecmp(word, "WARN") == 0 ? "warning" :
		    "info", it->name, rest);
		return V_NONE;
	}
	if (strcasecmp(word, "HOLD") == 0) {
		free(a->hold);
		a->hold = xasprintf("%s: %s", it->name, *rest != '\0' ? rest :
		    "HOLD");
		log_info("%s: hold: %s: %.400s", smtpd_client_label(st->s, who,
		    sizeof(who)), it->name, rest);
		return V_NONE;
	}
	if (strcasecmp(word, "DISCARD") == 0) {
		a->discard = true;
		free(a->discard_reason);
		a->discard_reason = xstrdup(*rest != '\0' ? rest : it->name);
		log_info("%s: discard: %s: %.400s", smtpd_client_label(st->s,
		    who, sizeof(who)), it->name, rest);
		return V_PERMIT;	/* the rest does not matter */
	}
	if (strcasecmp(word, "FILTER") == 0) {
		if (strchr(rest, ':') == NULL)
			return config_error(st, "%s %s: FILTER needs "
			    "transport:destination, got \"%.100s\"", it->name,
			    it->arg, rest);
		free(a->filter);
		a->filter = xstrdup(rest);
		return V_NONE;
	}
	if (strcasecmp(word, "REDIRECT") == 0 || strcasecmp(word, "BCC") == 0) {
		if (*rest == '\0' || strchr(rest, '@') == NULL ||
		    strpbrk(rest, " \t<>") != NULL)
			return config_error(st, "%s %s: %s needs an address, "
			    "got \"%.100s\"", it->name, it->arg, word, rest);
		if (word[0] == 'R' || word[0] == 'r') {
			free(a->redirect);
			a->redirect = xstrdup(rest);
		} else {
			a->bcc = strv_append(a->bcc, rest);
		}
		return V_NONE;
	}
	if (strcasecmp(word, "PREPEND") == 0) {
		size_t n = strcspn(rest, ":");

		if (rest[n] != ':' || n == 0 || strpbrk(rest, "\r\n") != NULL ||
		    strcspn(rest, " \t") < n)
			return config_error(st, "%s %s: PREPEND needs a header "
			    "\"Name: value\", got \"%.100s\"", it->name, it->arg,
			    rest);
		a->prepend = strv_append(a->prepend, rest);
		return V_NONE;
	}
	/* Otherwise: restrictions (and class names) to apply here. */
	{
		char **elems = config_split_list(value);
		struct list *l;
		bool bad = elems[0] == NULL;

		l = compile(it->name, elems, false);
		strv_free(&elems);
		for (size_t i = 0; i < l->n && !bad; i++)
			bad = l->items[i].op == OP_UNKNOWN;
		if (bad) {
			list_free(&l);
			return config_error(st, "%s %s: the table's value "
			    "\"%.100s\" is not an access action, restriction "
			    "or restriction class", it->name, it->arg, value);
		}
		return push(st, l, l);
	}
}

/* ---- asynchronous answers ---- */

/*
 * decided - a restriction decided v: a reject ends the check (its reply
 * is in st->reply), a permit ends the current top-level list with every
 * level nested in it.
 */
static void
decided(struct smtpd_check_state *st, enum verdict v)
{
	if (v == V_REJECT) {
		frames_clear(st);
		st->rejected = true;
	} else if (v == V_PERMIT) {
		frames_clear(st);
	}
}

/* resume - an answer decided v (st->waiting was cleared before the
 * answer was read: it may have asked something else). */
static void
resume(struct smtpd_check_state *st, enum verdict v)
{
	decided(st, v);
	run(st);
}

/* The item an answer is for; nothing is awaited after this. */
static const struct item *
answered(struct smtpd_check_state *st)
{
	const struct item *it = st->waiting;

	st->waiting = NULL;
	return it;
}

static enum verdict servers_found(struct smtpd_check_state *st,
    const struct item *it, enum dict_status status, const char *text,
    size_t len);
static enum verdict mxbackup_start(struct smtpd_check_state *st,
    const struct item *it);

/* access_answer - what a check_*_access answer decides. */
static enum verdict
access_answer(struct smtpd_check_state *st, const struct item *it,
    enum dict_status status, const char *text, size_t len)
{
	enum verdict v = V_NONE;

	if (it->op == OP_DNS)
		return servers_found(st, it, status, text, len);
	if (st->client_addr_next) {
		/* check_client_access: the name was not found; now the
		 * address. */
		st->client_addr_next = false;
		if (status == DICT_NOTFOUND)
			return find_ask(st, it, st->s->addr,
			    LOOKUP_FIND_CLIENT_ADDR, 0);
	}
	if (st->pkey_next) {
		/* The certificate's fingerprint was not found; now its
		 * public key's (Postfix's search order). */
		st->pkey_next = false;
		if (status == DICT_NOTFOUND && st->s->ccert != NULL &&
		    st->s->ccert->pkey_fprint[0] != '\0')
			return find_ask(st, it, st->s->ccert->pkey_fprint,
			    LOOKUP_FIND_EXACT, 0);
	}
	if (it->op == OP_PERMIT_TLS_CERTS) {
		char who[SMTPD_LABEL_MAX];

		if (status == DICT_TEMPFAIL)
			return lookup_failed(st, "permit_tls_clientcerts: "
			    "relay_clientcerts", text, len);
		if (status != DICT_FOUND)
			return V_NONE;
		log_debug(1, "%s: permit_tls_clientcerts: the client "
		    "certificate CN \"%s\" is listed in relay_clientcerts",
		    smtpd_client_label(st->s, who, sizeof(who)),
		    st->s->ccert->subject);
		return V_PERMIT;
	}
	if (status == DICT_TEMPFAIL) {
		char what[256];

		snprintf(what, sizeof(what), "%s %.150s", it->name, it->arg);
		v = lookup_failed(st, what, text, len);
	} else if (status == DICT_FOUND) {
		char *value = xstrndup(text, len);

		v = access_result(st, it, value);
		free(value);
	}
	return v;
}

static void
on_access(void *ctx, enum dict_status status, const char *text, size_t len)
{
	struct smtpd_check_state *st = ctx;

	st->lreq = NULL;
	cache_put(st->cache_key, status, text, len);
	resume(st, access_answer(st, answered(st), status, text, len));
}

/* Replies of reject_unauth_destination: no "Recipient address
 * rejected:" words, as Postfix says it. */
static void
relay_denied(struct smtpd_check_state *st, int code, const char *dsn)
{
	snprintf(st->reply, sizeof(st->reply), "%d %s <%.300s>: Relay access "
	    "denied", code, dsn, st->rcpt != NULL ? st->rcpt : "");
}

/* route_answer - what a ROUTE answer decides for item it. */
static enum verdict
route_answer(struct smtpd_check_state *st, const struct item *it,
    enum dict_status status, const char *text, size_t len)
{
	struct lookup_route_answer a;
	enum verdict v = V_NONE;

	memset(&a, 0, sizeof(a));
	if (status == DICT_TEMPFAIL) {
		v = lookup_failed(st, "address resolution", text, len);
	} else if (status != DICT_FOUND ||
	    lookup_route_answer_parse(text, len, &a) < 0) {
		v = config_error(st, "the lookup process sent a malformed "
		    "route answer");
	} else {
		bool ours = a.cls != ROUTE_DEFAULT &&
		    (a.flags & ROUTE_F_ROUTED) == 0;

		switch (it->op) {
		case OP_UNKNOWN_SENDER_DOMAIN:
		case OP_UNKNOWN_RCPT_DOMAIN:
			if (a.cls != ROUTE_LOCAL && a.cls != ROUTE_VIRTUAL &&
			    a.cls != ROUTE_ALIAS)
				v = mailhost_start(st, it);
			break;
		case OP_PERMIT_AUTH_DEST:
			v = ours ? V_PERMIT : V_NONE;
			break;
		case OP_PERMIT_MX_BACKUP:
			v = ours ? V_PERMIT : mxbackup_start(st, it);
			break;
		case OP_REJECT_UNAUTH_DEST:
			if (!ours) {
				relay_denied(st, ck.relay_reject_code, "5.7.1");
				v = do_reject(st);
			}
			break;
		case OP_DEFER_UNAUTH_DEST:
			if (!ours) {
				relay_denied(st, 454, "4.7.1");
				v = do_reject(st);
			}
			break;
		case OP_REJECT_UNLISTED_SENDER:
			if (!a.listed) {
				/* A sender is 5.1.0 where a recipient is
				 * 5.1.1 (RFC 3463 3.2). */
				char dsn[16];

				snprintf(dsn, sizeof(dsn), "%s", a.dsn);
				if (strcmp(dsn + 1, ".1.1") == 0)
					dsn[4] = '0';
				set_reply(st, a.code, dsn, AK_SENDER, "%.200s",
				    a.text);
				v = do_reject(st);
			}
			break;
		default:	/* reject_unlisted_recipient */
			if (!a.listed) {
				set_reply(st, a.code, a.dsn, AK_RECIPIENT,
				    "%.200s", a.text);
				v = do_reject(st);
			}
			break;
		}
		lookup_route_answer_deinit(&a);
	}
	return v;
}

static void
on_route(void *ctx, enum dict_status status, const char *text, size_t len)
{
	struct smtpd_check_state *st = ctx;

	st->lreq = NULL;
	cache_put(st->cache_key, status, text, len);
	resume(st, route_answer(st, answered(st), status, text, len));
}

static void
on_policy(void *ctx, bool ok, const char *action, const char *reason)
{
	struct smtpd_check_state *st = ctx;
	const struct item *it = answered(st);
	enum verdict v;

	st->preq = NULL;
	if (!ok) {
		char who[SMTPD_LABEL_MAX];

		log_warning("%s: policy service %s failed: %s; the command "
		    "gets a temporary failure (set default_action to choose "
		    "otherwise)", smtpd_client_label(st->s, who, sizeof(who)),
		    it->arg, reason);
		snprintf(st->reply, sizeof(st->reply),
		    "451 4.3.5 Server configuration problem");
		v = V_REJECT;
	} else {
		v = access_result(st, it, action);
	}
	resume(st, v);
}

/*
 * unverified_defer - reject_unverified_*: no verdict (the probe failed
 * for now, or has no result yet, or the verification service failed):
 * the tempfail action, "defer_if_permit" (a later refusal or a pass of
 * everything else decides) or "defer" (now).
 */
static enum verdict
unverified_defer(struct smtpd_check_state *st, const struct item *it,
    const char *dsn, const char *fmt, ...) ATTR_FORMAT(4, 5);

static enum verdict
unverified_defer(struct smtpd_check_state *st, const struct item *it,
    const char *dsn, const char *fmt, ...)
{
	const struct unverified *u = &ck.unv[it->ak == AK_SENDER];
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (u->defer_now) {
		set_reply(st, u->defer_code, dsn, it->ak, "%s", text);
		return do_reject(st);
	}
	if (st->dip_reply == NULL) {
		set_reply(st, u->defer_code, dsn, it->ak, "%s", text);
		st->dip_reply = xstrdup(st->reply);
	}
	return V_NONE;
}

/* on_verify - the queue process's answer to reject_unverified_*. */
static void
on_verify(void *ctx, enum verify_state vs, const char *dsn,
    const char *text, const char *error)
{
	struct smtpd_check_state *st = ctx;
	const struct item *it = answered(st);
	const struct unverified *u = &ck.unv[it->ak == AK_SENDER];
	const char *addr = it->ak == AK_SENDER ? st->s->mail.from.text :
	    st->rcpt;
	char who[SMTPD_LABEL_MAX];
	enum verdict v = V_NONE;

	if (error != NULL) {
		log_warning("%s: %s <%.300s>: address verification failed: "
		    "%s; the command gets a temporary failure",
		    smtpd_client_label(st->s, who, sizeof(who)), it->name,
		    addr, error);
		v = unverified_defer(st, it, "4.3.0", "address verification "
		    "problem");
	} else {
		switch (vs) {
		case VERIFY_OK:
			break;
		case VERIFY_BOUNCE:
			if (u->reason[0] != '\0')
				set_reply(st, u->reject_code, dsn, it->ak,
				    "%.300s", u->reason);
			else
				set_reply(st, u->reject_code, dsn, it->ak,
				    "undeliverable address: %.300s", text);
			v = do_reject(st);
			break;
		case VERIFY_DEFER:
			v = unverified_defer(st, it, dsn, "unverified "
			    "address: %.300s", text);
			break;
		default:
			v = unverified_defer(st, it, it->ak == AK_SENDER ?
			    "4.1.7" : "4.1.1", "unverified address: Address "
			    "verification in progress");
			break;
		}
	}
	verify_client_cancel(&st->vreq);
	resume(st, v);
}

/* verify_ask - reject_unverified_*: ask the queue process about the
 * recipient or sender (the null sender is not verified). */
static enum verdict
verify_ask(struct smtpd_check_state *st, const struct item *it)
{
	const char *addr = it->ak == AK_SENDER ? (st->s->have_mail ?
	    st->s->mail.from.text : NULL) : st->rcpt;
	const char *err = NULL;
	char who[SMTPD_LABEL_MAX];

	if (addr == NULL || addr[0] == '\0')
		return V_NONE;
	st->vreq = verify_client_ask(smtpd_base, smtpd_cfg.queue_socket, addr,
	    smtpd_cfg.service, ck.verify_wait_ms, on_verify, st, &err);
	if (st->vreq == NULL) {
		log_warning("%s: %s <%.300s>: address verification failed: "
		    "%s; the command gets a temporary failure",
		    smtpd_client_label(st->s, who, sizeof(who)), it->name,
		    addr, err);
		return unverified_defer(st, it, "4.3.0", "address "
		    "verification problem");
	}
	st->waiting = it;
	return V_NONE;
}

static struct lookup_client *
lc(void)
{
	if (ck.lc == NULL)
		ck.lc = lookup_client_new(smtpd_base, LOOKUP_SOCKET_PATH);
	return ck.lc;
}

struct lookup_client *
smtpd_check_lookup_client(void)
{
	return lc();
}

static const char *
stage_name(enum smtpd_check_stage stage)
{
	switch (stage) {
	case SMTPD_CHECK_CONNECT: return "CONNECT";
	case SMTPD_CHECK_HELO: return "HELO";
	case SMTPD_CHECK_MAIL: return "MAIL";
	case SMTPD_CHECK_RCPT: return "RCPT";
	case SMTPD_CHECK_DATA: return "DATA";
	case SMTPD_CHECK_EOD: return "END-OF-MESSAGE";
	}
	return "RCPT";
}

/* The attributes of a policy request (SMTPD_POLICY_README). */
static void
policy_ask(struct smtpd_check_state *st, const struct item *it)
{
	struct session *s = st->s;
	char count[24], size[24], port[8], bits[16], sport[8];
	const char *attrs[64];
	size_t n = 0;
	struct policy_client *pc;
	const struct tls_ccert *cc = s->ccert;

#define ATTR(name, value) do { attrs[n++] = (name); \
	attrs[n++] = (value) != NULL ? (value) : ""; } while (0)
	snprintf(count, sizeof(count), "%zu", s->nrcpts);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)
	    (st->stage == SMTPD_CHECK_EOD ? s->data_bytes :
	    s->mail.has_size ? s->mail.size : 0));
	snprintf(port, sizeof(port), "%u", s->client_port);
	snprintf(sport, sizeof(sport), "%u", s->local_port);
	snprintf(bits, sizeof(bits), "%d", s->tls_active ? s->tls_bits : 0);
	ATTR("request", "smtpd_access_policy");
	ATTR("protocol_state", st->stage == SMTPD_CHECK_HELO && s->esmtp ?
	    "EHLO" : stage_name(st->stage));
	ATTR("protocol_name", s->esmtp ? "ESMTP" : "SMTP");
	ATTR("helo_name", s->helo);
	ATTR("queue_id", s->id);
	ATTR("sender", s->have_mail ? s->mail.from.text : "");
	ATTR("recipient", st->rcpt != NULL ? st->rcpt :
	    (s->nrcpts == 1 ? s->rcpts[0].addr : ""));
	ATTR("recipient_count", st->stage >= SMTPD_CHECK_DATA ? count : "0");
	ATTR("client_address", s->addr);
	ATTR("client_name", s->name);
	ATTR("client_port", port);
	ATTR("reverse_client_name", s->reverse_name);
	ATTR("server_address", s->local_addr);
	ATTR("server_port", sport);
	ATTR("instance", s->instance);
	ATTR("sasl_method", s->authenticated ? s->auth_mech : "");
	ATTR("sasl_username", s->authenticated ? s->auth_user : "");
	ATTR("sasl_sender", "");
	ATTR("size", size);
	ATTR("encryption_protocol", s->tls_active ? s->tls_proto : "");
	ATTR("encryption_cipher", s->tls_active ? s->tls_cipher : "");
	ATTR("encryption_keysize", bits);
	ATTR("etrn_domain", "");
	ATTR("stress", "");
	/* Names only from a verified certificate (anyone can write any
	 * CN into a self-made one); fingerprints from any (they pin it). */
	ATTR("ccert_subject", cc != NULL && cc->trusted ? cc->subject : "");
	ATTR("ccert_issuer", cc != NULL && cc->trusted ? cc->issuer : "");
	ATTR("ccert_fingerprint", cc != NULL ? cc->fprint : "");
	ATTR("ccert_pubkey_fingerprint", cc != NULL ? cc->pkey_fprint : "");
	ATTR("compatibility_level", "3.6");
	ATTR("mail_version", OSTIA_VERSION);
	attrs[n] = NULL;
#undef ATTR
	pc = policy_client_get(smtpd_base, it->policy);
	st->waiting = it;
	st->preq = policy_query(pc, attrs, on_policy, st);
}

/*
 * route_ask - resolve address for item it: the verdict at once from
 * the answer cache, else V_NONE with the request under way (on_route).
 */
static enum verdict
route_ask(struct smtpd_check_state *st, const struct item *it,
    enum lookup_route_op op, const char *address)
{
	const struct cslot *c;

	free(st->cache_key);
	st->cache_key = cache_key("R", smtpd_cfg.route_service, address, "",
	    (unsigned)op, 0);
	if ((c = cache_get(st->cache_key)) != NULL)
		return route_answer(st, it, c->status, c->value, c->len);
	st->waiting = it;
	st->lreq = lookup_client_route(lc(), smtpd_cfg.route_service, op,
	    address, on_route, st);
	return V_NONE;
}

/* find_ask - the same for a check_*_access search (on_access). */
static enum verdict
find_ask(struct smtpd_check_state *st, const struct item *it,
    const char *key, enum lookup_find_order order, unsigned mflags)
{
	const struct cslot *c;

	free(st->cache_key);
	st->cache_key = cache_key("F", it->arg, key, ck.delimiter,
	    (unsigned)order, mflags);
	if ((c = cache_get(st->cache_key)) != NULL)
		return access_answer(st, it, c->status, c->value, c->len);
	st->waiting = it;
	st->lreq = lookup_client_find(lc(), it->arg, key, order, mflags,
	    ck.delimiter, on_access, st);
	return V_NONE;
}

/* A check Ostia does not have (check_*_{a,mx,ns}_access): defer if the
 * rest permits, never a pass. */
static void
dns_defer(struct smtpd_check_state *st, const struct item *it)
{
	if (st->dip_reply == NULL) {
		set_reply(st, 450, "4.4.3", stage_kind(st), "cannot check %s: "
		    "Ostia does not support it yet", it->name);
		st->dip_reply = xstrdup(st->reply);
	}
}

/* ---- DNS-based restrictions ---- */

/* Most bytes of a DNSBL's TXT record put into the reply. */
#define RBL_TXT_SHOW 200

enum job_kind {
	J_MAILHOST,	/* reject_unknown_{sender,recipient}_domain */
	J_HELO,		/* reject_unknown_helo_hostname */
	J_LIST,		/* reject_rbl_client, reject_rhsbl_* */
	J_SERVERS,	/* check_*_{a,mx,ns}_access */
};

/* J_SERVERS: most MX hosts or name servers looked at, and most
 * addresses of each (as Postfix, a bound: a name with hundreds of them
 * costs no more than this). */
#define SERVERS_MAX 10
#define SERVER_ADDRS_MAX 10

struct dns_job {
	enum job_kind kind;
	const struct item *it;
	enum access_kind ak;		/* whose name it is (reply words) */
	char name[DNS_NAME_MAX];	/* the domain, host or address checked */
	char qname[2 * DNS_NAME_MAX];	/* J_LIST: the name under the zone */
	char zone[DNS_NAME_MAX];	/* J_LIST */
	const char *filter;		/* J_LIST: "d.d.d.d" or NULL */
	const uint16_t *types;		/* to ask in turn, 0-ended */
	size_t i;
	bool temp;			/* a lookup failed (words in err) */
	char err[600];
	/* J_SERVERS: the servers of name (MX hosts, name servers, or the
	 * name itself for _a_access), their addresses, then each looked up
	 * in the table: a server's name, then its addresses. */
	bool addr_phase;		/* asking the servers' addresses */
	bool mxbackup;			/* permit_mx_backup: no table; is
					 * this host a backup MX? */
	char hosts[SERVERS_MAX][DNS_NAME_MAX];
	unsigned prefs[SERVERS_MAX];	/* MX preferences */
	char addrs[SERVERS_MAX][SERVER_ADDRS_MAX][INET6_ADDRSTRLEN];
	size_t naddrs[SERVERS_MAX];
	size_t nhosts, hi, ai;		/* server, address type asked */
	size_t ki;			/* lookup: 0 the name, k address k-1 */
	const char *key;		/* the key being looked up */
};

static const uint16_t mailhost_types[] = { DNS_T_MX, DNS_T_A, DNS_T_AAAA,
    0 };
static const uint16_t helo_types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, 0 };
static const uint16_t list_types[] = { DNS_T_A, DNS_T_TXT, 0 };
static const uint16_t mx_types[] = { DNS_T_MX, 0 };
static const uint16_t ns_types[] = { DNS_T_NS, 0 };
static const uint16_t addr_types[] = { DNS_T_A, DNS_T_AAAA };

static const char *
type_name(uint16_t t)
{
	switch (t) {
	case DNS_T_A: return "A";
	case DNS_T_AAAA: return "AAAA";
	case DNS_T_MX: return "MX";
	case DNS_T_NS: return "NS";
	case DNS_T_TXT: return "TXT";
	case DNS_T_PTR: return "PTR";
	}
	return "?";
}

static void on_dns(struct dns_result *res, void *ctx);

/* Ask the job's current question; the answer comes to on_dns. */
static enum verdict
job_ask(struct smtpd_check_state *st)
{
	struct dns_job *j = st->job;

	st->waiting = j->it;
	if (j->kind == J_SERVERS && j->addr_phase)
		st->dreq = smtpd_dns_lookup(j->hosts[j->hi],
		    addr_types[j->ai], on_dns, st);
	else
		st->dreq = smtpd_dns_lookup(j->kind == J_LIST ? j->qname :
		    j->name, j->types[j->i], on_dns, st);
	return V_NONE;
}

static struct dns_job *
job_new(struct smtpd_check_state *st, const struct item *it,
    enum job_kind kind, enum access_kind ak, const char *name)
{
	struct dns_job *j = xcalloc(1, sizeof(*j));
	size_t n;

	free(st->job);
	st->job = j;
	j->kind = kind;
	j->it = it;
	j->ak = ak;
	snprintf(j->name, sizeof(j->name), "%s", name);
	n = strlen(j->name);
	if (n > 1 && j->name[n - 1] == '.')
		j->name[n - 1] = '\0';
	j->types = kind == J_MAILHOST ? mailhost_types : kind == J_HELO ?
	    helo_types : list_types;
	return j;
}

static enum verdict
job_done(struct smtpd_check_state *st, enum verdict v)
{
	free(st->job);
	st->job = NULL;
	return v;
}

/*
 * dns_tempfail - a lookup of check it failed: logged (the check, the
 * name, the error), and the reply now in st->reply becomes the pending
 * defer_if_permit: the mail is deferred unless something rejects it.
 */
static void
dns_tempfail(struct smtpd_check_state *st, const struct item *it,
    const char *name, const char *err)
{
	char who[SMTPD_LABEL_MAX];

	log_warning("%s: %s: cannot check %s: %s; the mail is deferred "
	    "unless another restriction rejects it", smtpd_client_label(st->s,
	    who, sizeof(who)), it->name, name, err);
	if (st->dip_reply == NULL)
		st->dip_reply = xstrdup(st->reply);
}

/* The domain of an address ("" when none or an address literal). */
static const char *
address_domain(const char *addr)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	if (at == NULL || at[1] == '[')
		return "";
	return at + 1;
}

/* A domain is not found (J_MAILHOST, J_HELO): reject. */
static enum verdict
job_not_found(struct smtpd_check_state *st)
{
	struct dns_job *j = st->job;

	if (j->kind == J_HELO)
		set_reply(st, ck.unknown_hostname_code, "4.7.1", AK_HELO,
		    "Host not found");
	else
		set_reply(st, ck.unknown_address_code, j->ak == AK_SENDER ?
		    "4.1.8" : "4.1.2", j->ak, "Domain not found");
	return job_done(st, do_reject(st));
}

/* Every type asked: found nothing, or could not find out. */
static enum verdict
job_exhausted(struct smtpd_check_state *st)
{
	struct dns_job *j = st->job;

	if (!j->temp)
		return job_not_found(st);
	/* Postfix's words, and why it is only temporary. */
	if (j->kind == J_HELO)
		set_reply(st, 450, "4.7.1", AK_HELO, "Host not found "
		    "(temporary DNS failure)");
	else
		set_reply(st, 450, "4.4.3", j->ak, "Domain not found "
		    "(temporary DNS failure)");
	dns_tempfail(st, j->it, j->name, j->err);
	return job_done(st, V_NONE);
}

/* Words of the DNSBL replies: Postfix's rbl_class. */
static const char *
rbl_class(enum access_kind ak)
{
	switch (ak) {
	case AK_CLIENT: return "Client host";
	case AK_REVERSE_CLIENT: return "Unverified Client host";
	case AK_HELO: return "Helo command";
	case AK_SENDER: return "Sender address";
	case AK_RECIPIENT: return "Recipient address";
	default: return "Client host";
	}
}

/* J_LIST: listed; the reply, with the TXT record's text when any. */
static enum verdict
list_reject(struct smtpd_check_state *st, const struct dns_result *txt)
{
	struct dns_job *j = st->job;
	char why[RBL_TXT_SHOW + 1] = "";

	if (txt != NULL && txt->status == DNS_OK) {
		for (size_t i = 0; i < txt->n; i++) {
			if (txt->rrs[i].type == DNS_T_TXT &&
			    txt->rrs[i].u.txt.text != NULL) {
				snprintf(why, sizeof(why), "%s",
				    txt->rrs[i].u.txt.text);
				/* Untrusted bytes into a reply: printable
				 * ASCII only. */
				for (char *p = why; *p != '\0'; p++) {
					if ((unsigned char)*p < 0x20 ||
					    (unsigned char)*p > 0x7e)
						*p = '?';
				}
				break;
			}
		}
	}
	snprintf(st->reply, sizeof(st->reply), "%d %d.7.1 Service "
	    "unavailable; %s [%.255s] blocked using %.255s%s%s",
	    ck.rbl_code, ck.rbl_code / 100, rbl_class(j->ak), j->name,
	    j->zone, why[0] != '\0' ? "; " : "", why);
	reply_sanitize(st->reply);
	return job_done(st, do_reject(st));
}

/* J_LIST: does an A answer list the name (any address, or one that
 * matches the filter)? */
static bool
list_hit(const struct dns_job *j, const struct dns_result *res)
{
	for (size_t i = 0; i < res->n; i++) {
		if (res->rrs[i].type != DNS_T_A)
			continue;
		if (j->filter == NULL || dnsbl_filter_match(j->filter,
		    ntohl(res->rrs[i].u.a.s_addr)) == 1)
			return true;
	}
	return false;
}

/* J_LIST: is an A answer a DNSBL's error code (dnsbl.h)?  The words go
 * to j->err. */
static bool
list_error(struct dns_job *j, const struct dns_result *res)
{
	uint32_t a[DNS_ANSWER_MAX];
	size_t n = 0;

	for (size_t i = 0; i < res->n && n < DNS_ANSWER_MAX; i++)
		if (res->rrs[i].type == DNS_T_A)
			a[n++] = ntohl(res->rrs[i].u.a.s_addr);
	return dnsbl_answer_error(j->zone, a, n, j->err, sizeof(j->err));
}

static enum verdict servers_answer(struct smtpd_check_state *st,
    const struct dns_result *res);

/* job_answer - what one answer means for the running job. */
static enum verdict
job_answer(struct smtpd_check_state *st, const struct dns_result *res)
{
	struct dns_job *j = st->job;
	uint16_t type = j->types[j->i];
	bool temp = res->status == DNS_TEMPFAIL || res->status == DNS_BOGUS;

	if (j->kind == J_SERVERS)
		return servers_answer(st, res);

	if (j->kind == J_LIST) {
		if (type == DNS_T_TXT)
			return list_reject(st, res);
		if (temp) {
			snprintf(st->reply, sizeof(st->reply), "450 4.7.1 "
			    "Service unavailable; %s [%.255s] could not be "
			    "checked with %.255s (temporary DNS failure)",
			    rbl_class(j->ak), j->name, j->zone);
			reply_sanitize(st->reply);
			snprintf(j->err, sizeof(j->err), "DNS lookup of %.255s "
			    "(A) failed: %s", j->qname, smtpd_dns_error(res));
			dns_tempfail(st, j->it, j->name, j->err);
			return job_done(st, V_NONE);
		}
		if (res->status == DNS_OK && list_error(j, res)) {
			snprintf(st->reply, sizeof(st->reply), "450 4.7.1 "
			    "Service unavailable; %s [%.255s] could not be "
			    "checked with %.255s (DNSBL error)",
			    rbl_class(j->ak), j->name, j->zone);
			reply_sanitize(st->reply);
			dns_tempfail(st, j->it, j->name, j->err);
			return job_done(st, V_NONE);
		}
		if (res->status != DNS_OK || !list_hit(j, res))
			return job_done(st, V_NONE);	/* not listed */
		j->i++;
		return job_ask(st);	/* the TXT record, for the reply */
	}
	if (res->status == DNS_OK) {
		/* RFC 7505: a null MX says the domain takes no mail. */
		if (j->kind == J_MAILHOST && type == DNS_T_MX && res->n == 1 &&
		    res->rrs[0].u.mx.host[0] == '\0') {
			bool sender = j->ak == AK_SENDER;

			set_reply(st, sender ? 550 : 556, sender ? "5.7.27" :
			    "5.1.10", j->ak, "Domain %.255s does not accept "
			    "mail (nullMX)", j->name);
			return job_done(st, do_reject(st));
		}
		return job_done(st, V_NONE);	/* it exists */
	}
	if (temp) {
		/* Never a pass; and no more questions: each could take the
		 * whole timeout of a dead server.  (Without the MX answer a
		 * null MX cannot be told from a mail domain anyway.) */
		j->temp = true;
		snprintf(j->err, sizeof(j->err), "DNS lookup of %s (%s) "
		    "failed: %s", j->name, type_name(type),
		    smtpd_dns_error(res));
		return job_exhausted(st);
	}
	/* No such name, or a name that cannot be one: no type exists. */
	if (res->status == DNS_NXDOMAIN || res->status == DNS_INVALID)
		return job_not_found(st);
	if (j->types[++j->i] == 0)
		return job_exhausted(st);
	return job_ask(st);
}

static void
on_dns(struct dns_result *res, void *ctx)
{
	struct smtpd_check_state *st = ctx;
	enum verdict v;

	st->dreq = NULL;
	st->waiting = NULL;
	v = job_answer(st, res);
	dns_result_free(&res);
	decided(st, v);
	run(st);
}

/* reject_unknown_{sender,recipient}_domain, once the domain is known
 * not to be ours. */
static enum verdict
mailhost_start(struct smtpd_check_state *st, const struct item *it)
{
	bool sender = it->op == OP_UNKNOWN_SENDER_DOMAIN;
	const char *d = address_domain(sender ? st->s->mail.from.text :
	    st->rcpt);

	if (*d == '\0')
		return V_NONE;
	job_new(st, it, J_MAILHOST, sender ? AK_SENDER : AK_RECIPIENT, d);
	return job_ask(st);
}

/* ---- check_*_{a,mx,ns}_access ---- */

/* What a J_SERVERS job's servers are called in the log. */
static const char *
servers_word(const struct item *it)
{
	return it->dtype == DNS_T_MX ? "MX host" : it->dtype == DNS_T_NS ?
	    "name server" : "host";
}

/*
 * servers_subject - the name check_WHO_*_access looks at: the client's
 * (verified) name, its reverse name, the HELO name, the sender's or the
 * recipient's domain.  NULL when there is none to look at (unknown,
 * an address literal, the null sender).
 */
static const char *
servers_subject(struct smtpd_check_state *st, const struct item *it)
{
	struct session *s = st->s;
	const char *n = NULL;
	unsigned char bin[sizeof(struct in6_addr)];

	switch (it->ak) {
	case AK_CLIENT:
		n = s->name_status == SMTPD_NAME_OK ? s->name : NULL;
		break;
	case AK_REVERSE_CLIENT:
		n = s->reverse_status == SMTPD_NAME_OK ? s->reverse_name :
		    NULL;
		break;
	case AK_HELO:
		n = s->helo;
		if (n != NULL && (n[0] == '[' || inet_pton(AF_INET, n,
		    bin) == 1 || inet_pton(AF_INET6, n, bin) == 1))
			n = NULL;
		break;
	case AK_SENDER:
		n = s->have_mail ? address_domain(s->mail.from.text) : NULL;
		break;
	case AK_RECIPIENT:
		n = st->rcpt != NULL ? address_domain(st->rcpt) : NULL;
		break;
	default:
		break;
	}
	if (n == NULL || *n == '\0' || strcasecmp(n, "unknown") == 0 ||
	    strlen(n) >= DNS_NAME_MAX)
		return NULL;
	return n;
}

/* servers_start - check_*_{a,mx,ns}_access: ask for the servers of the
 * name (for _a_access, the name is the one server). */
static enum verdict
servers_start(struct smtpd_check_state *st, const struct item *it)
{
	const char *name = servers_subject(st, it);
	struct dns_job *j;

	if (name == NULL)
		return V_NONE;
	j = job_new(st, it, J_SERVERS, it->ak, name);
	j->types = it->dtype == DNS_T_NS ? ns_types : mx_types;
	if (it->dtype == DNS_T_A) {
		snprintf(j->hosts[0], sizeof(j->hosts[0]), "%s", j->name);
		j->nhosts = 1;
		j->addr_phase = true;
	}
	return job_ask(st);
}

/*
 * servers_next - look up the next key of a J_SERVERS job in the table:
 * a server's name (its parent domains too), then each of its addresses
 * (and their networks).  When none is listed: nothing decided, or the
 * deferral a DNS failure left.
 */
static enum verdict
servers_next(struct smtpd_check_state *st)
{
	struct dns_job *j = st->job;
	const struct item *it = j->it;

	while (j->hi < j->nhosts) {
		if (j->ki == 0) {
			j->ki++;
			j->key = j->hosts[j->hi];
			return find_ask(st, it, j->key, LOOKUP_FIND_DOMAIN,
			    ck.parent_matches ?
			    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS : 0);
		}
		if (j->ki - 1 < j->naddrs[j->hi]) {
			j->key = j->addrs[j->hi][j->ki - 1];
			j->ki++;
			return find_ask(st, it, j->key,
			    LOOKUP_FIND_CLIENT_ADDR, 0);
		}
		j->hi++;
		j->ki = 0;
	}
	if (j->temp) {
		set_reply(st, 450, "4.4.3", j->ak, "cannot check the %ss of "
		    "%.255s (temporary DNS failure)", servers_word(it),
		    j->name);
		dns_tempfail(st, it, j->name, j->err);
	}
	return job_done(st, V_NONE);
}

static enum verdict mxbackup_decide(struct smtpd_check_state *st);

/* servers_answer - a DNS answer of a J_SERVERS job: its servers, or the
 * addresses of one of them. */
static enum verdict
servers_answer(struct smtpd_check_state *st, const struct dns_result *res)
{
	struct dns_job *j = st->job;
	const struct item *it = j->it;
	bool temp = res->status == DNS_TEMPFAIL || res->status == DNS_BOGUS;

	if (!j->addr_phase) {
		uint16_t type = j->types[j->i];

		if (temp) {
			snprintf(j->err, sizeof(j->err), "DNS lookup of %s "
			    "(%s) failed: %s", j->name, type_name(type),
			    smtpd_dns_error(res));
			set_reply(st, 450, "4.4.3", j->ak, "cannot find the "
			    "%ss of %.255s (temporary DNS failure)",
			    servers_word(it), j->name);
			dns_tempfail(st, it, j->name, j->err);
			return job_done(st, V_NONE);
		}
		if (res->status == DNS_NXDOMAIN || res->status == DNS_INVALID)
			return job_done(st, V_NONE);	/* nothing to check */
		if (res->status != DNS_OK) {
			const char *dot = strchr(j->name, '.');

			/* No MX: the domain's own addresses are its mail
			 * server (RFC 5321 5.1), but then this host is no
			 * backup MX of it.  No NS: the zone is a parent's. */
			if (j->mxbackup)
				return job_done(st, V_NONE);
			if (type == DNS_T_MX) {
				snprintf(j->hosts[0], sizeof(j->hosts[0]), "%s",
				    j->name);
				j->nhosts = 1;
			} else if (dot != NULL && strchr(dot + 1, '.') !=
			    NULL) {
				memmove(j->name, dot + 1, strlen(dot + 1) + 1);
				return job_ask(st);
			} else {
				return job_done(st, V_NONE);
			}
		}
		for (size_t i = 0; res->status == DNS_OK && i < res->n &&
		    j->nhosts < SERVERS_MAX; i++) {
			const struct dns_rr *rr = &res->rrs[i];
			const char *h = rr->type == DNS_T_MX ? rr->u.mx.host :
			    rr->type == DNS_T_NS ? rr->u.name : "";

			if (rr->type != type || h[0] == '\0')
				continue;	/* a null MX names none */
			j->prefs[j->nhosts] = rr->type == DNS_T_MX ?
			    rr->u.mx.pref : 0;
			snprintf(j->hosts[j->nhosts++], DNS_NAME_MAX, "%s", h);
		}
		if (j->nhosts == 0)
			return job_done(st, V_NONE);
		j->addr_phase = true;
		j->hi = j->ai = 0;
		return job_ask(st);
	}
	if (temp && !j->temp) {
		j->temp = true;
		snprintf(j->err, sizeof(j->err), "DNS lookup of %s (%s) "
		    "failed: %s", j->hosts[j->hi], type_name(addr_types[j->ai]),
		    smtpd_dns_error(res));
	}
	for (size_t i = 0; res->status == DNS_OK && i < res->n &&
	    j->naddrs[j->hi] < SERVER_ADDRS_MAX; i++) {
		const struct dns_rr *rr = &res->rrs[i];
		char *out = j->addrs[j->hi][j->naddrs[j->hi]];

		if ((rr->type == DNS_T_A && inet_ntop(AF_INET, &rr->u.a, out,
		    INET6_ADDRSTRLEN) != NULL) || (rr->type == DNS_T_AAAA &&
		    inet_ntop(AF_INET6, &rr->u.aaaa, out, INET6_ADDRSTRLEN) !=
		    NULL))
			j->naddrs[j->hi]++;
	}
	if (++j->ai == N_ELEMENTS(addr_types)) {
		j->ai = 0;
		j->hi++;
	}
	if (j->hi < j->nhosts)
		return job_ask(st);
	if (j->mxbackup)
		return mxbackup_decide(st);
	j->hi = j->ki = 0;
	return servers_next(st);
}

/*
 * servers_found - a table's answer for the key of a J_SERVERS job:
 * a listed server decides as check_*_access would, except that OK is
 * not taken (Postfix refuses it there too: a spammer chooses his MX
 * hosts and name servers; DUNNO excludes one from a list).
 */
static enum verdict
servers_found(struct smtpd_check_state *st, const struct item *it,
    enum dict_status status, const char *text, size_t len)
{
	struct dns_job *j = st->job;
	char who[SMTPD_LABEL_MAX], what[DNS_NAME_MAX * 2 + 128];
	const char *host;

	if (j == NULL || j->kind != J_SERVERS)
		return V_NONE;
	/* "the MX host H of D", and "(address A)" when A was found */
	host = j->hosts[j->hi < j->nhosts ? j->hi : j->nhosts - 1];
	snprintf(what, sizeof(what), "the %s %s of %s%s%s%s",
	    servers_word(it), host, j->name, j->key != host ? " (address " :
	    "", j->key != host ? j->key : "", j->key != host ? ")" : "");
	if (status == DICT_TEMPFAIL) {
		char table[256];

		snprintf(table, sizeof(table), "%s %.150s", it->name, it->arg);
		return job_done(st, lookup_failed(st, table, text, len));
	}
	if (status == DICT_FOUND) {
		char *value = xstrndup(text, len);
		size_t wn = strcspn(value, " \t");
		enum verdict v;

		if ((wn == 2 && strncasecmp(value, "OK", 2) == 0) ||
		    (wn > 0 && strspn(value, "0123456789") == strlen(value))) {
			log_warning("%s: %s %s: %s is listed with \"%.50s\", "
			    "which is not allowed there (use DUNNO to leave "
			    "it out); ignored", smtpd_client_label(st->s, who,
			    sizeof(who)), it->name, it->arg, what, value);
			free(value);
			return servers_next(st);
		}
		if (wn == 5 && strncasecmp(value, "DUNNO", 5) == 0) {
			free(value);
			return servers_next(st);
		}
		log_info("%s: %s: %s is listed in %s: %.100s",
		    smtpd_client_label(st->s, who, sizeof(who)), it->name,
		    what, it->arg, value);
		v = access_result(st, it, value);
		free(value);
		return job_done(st, v);
	}
	return servers_next(st);
}

/* ---- permit_mx_backup ---- */

/*
 * mxbackup_start - permit_mx_backup for a recipient whose domain is not
 * ours: look up the domain's MX hosts and their addresses (a J_SERVERS
 * job without a table).  An address with routing of its own in the
 * local part (user@other@domain, user%other@domain, other!user@domain)
 * is never permitted, as in Postfix.
 */
static enum verdict
mxbackup_start(struct smtpd_check_state *st, const struct item *it)
{
	const char *d = address_domain(st->rcpt);
	const char *at = strrchr(st->rcpt, '@');
	struct dns_job *j;

	if (*d == '\0' || at == NULL || memchr(st->rcpt, '@',
	    (size_t)(at - st->rcpt)) != NULL || memchr(st->rcpt, '%',
	    (size_t)(at - st->rcpt)) != NULL || memchr(st->rcpt, '!',
	    (size_t)(at - st->rcpt)) != NULL || strlen(d) >= DNS_NAME_MAX)
		return V_NONE;
	j = job_new(st, it, J_SERVERS, AK_RECIPIENT, d);
	j->types = mx_types;
	j->mxbackup = true;
	return job_ask(st);
}

/* is_own - addr (text) is one of this host's addresses. */
static bool
is_own(const char *addr)
{
	struct own_addr a;

	return own_addr_parse(addr, &a) == 0 && own_addrs_has(&ck.own, &a);
}

/*
 * mxbackup_decide - the MX hosts of the domain and their addresses are
 * known: permit when this host is one of them but not a most preferred
 * one (a primary MX that does not take the domain is a mistake, not a
 * backup: since Postfix 2.3 it is not permitted), and, with
 * permit_mx_backup_networks, when a primary MX host is in those
 * networks.  Every outcome is logged with the reason.
 */
static enum verdict
mxbackup_decide(struct smtpd_check_state *st)
{
	struct dns_job *j = st->job;
	unsigned best = ~0u, mine = ~0u;
	char who[SMTPD_LABEL_MAX];
	bool listed = false;

	for (size_t h = 0; h < j->nhosts; h++) {
		if (j->prefs[h] < best)
			best = j->prefs[h];
		for (size_t k = 0; k < j->naddrs[h]; k++)
			if (is_own(j->addrs[h][k]) && j->prefs[h] < mine)
				mine = j->prefs[h];
	}
	(void)smtpd_client_label(st->s, who, sizeof(who));
	if (mine == ~0u) {
		if (j->temp) {
			set_reply(st, 450, "4.4.3", AK_RECIPIENT, "cannot tell "
			    "whether this host is an MX host of %.255s "
			    "(temporary DNS failure)", j->name);
			dns_tempfail(st, j->it, j->name, j->err);
		}
		return job_done(st, V_NONE);
	}
	if (mine <= best) {
		log_info("%s: permit_mx_backup: this host is a primary MX host "
		    "of %s (preference %u), not a backup: not permitted (a "
		    "domain this host takes belongs in mydestination, "
		    "relay_domains or the virtual domains)", who, j->name,
		    mine);
		return job_done(st, V_NONE);
	}
	if (ck.mxb_nets != NULL) {
		for (size_t h = 0; h < j->nhosts && !listed; h++) {
			if (j->prefs[h] >= mine)
				continue;
			for (size_t k = 0; k < j->naddrs[h] && !listed; k++) {
				char err[DICT_ERR_MAX_BYTES + 256];
				int r = peer_list_match_err(ck.mxb_nets, NULL,
				    j->addrs[h][k], err, sizeof(err));

				if (r < 0)
					return job_done(st, lookup_failed(st,
					    "permit_mx_backup_networks", err,
					    strlen(err)));
				listed = r == 1;
			}
		}
		if (!listed) {
			log_info("%s: permit_mx_backup: no primary MX host of "
			    "%s is in permit_mx_backup_networks: not "
			    "permitted", who, j->name);
			return job_done(st, V_NONE);
		}
	}
	log_info("%s: permit_mx_backup: this host is a backup MX host of %s "
	    "(preference %u; the primary's %u): permitted", who, j->name,
	    mine, best);
	return job_done(st, V_PERMIT);
}

/* reject_unknown_client_hostname and _reverse_client_hostname. */
static enum verdict
unknown_client(struct smtpd_check_state *st, const struct item *it,
    bool reverse)
{
	struct session *s = st->s;
	enum smtpd_name_status ns = reverse ? s->reverse_status :
	    s->name_status;
	const char *what = reverse ? "reverse hostname" : "hostname";
	int code = ck.unknown_client_code;

	if (ns == SMTPD_NAME_OK)
		return V_NONE;
	if (ns == SMTPD_NAME_TEMP) {
		snprintf(st->reply, sizeof(st->reply), "450 4.7.25 Client host "
		    "rejected: cannot find your %s, [%s]", what, s->addr);
		dns_tempfail(st, it, s->addr, s->name_reason != NULL ?
		    s->name_reason : "temporary DNS failure");
		return V_NONE;
	}
	snprintf(st->reply, sizeof(st->reply), "%d %s Client host rejected: "
	    "cannot find your %s, [%s]", code, code >= 500 ? "5.7.25" :
	    "4.7.25", what, s->addr);
	return do_reject(st);
}

/* reject_unknown_helo_hostname: the HELO name has an A, AAAA or MX. */
static enum verdict
unknown_helo(struct smtpd_check_state *st, const struct item *it)
{
	const char *h = st->s->helo;

	/* No HELO yet, or an address literal: nothing to look up. */
	if (h == NULL || *h == '\0' || *h == '[')
		return V_NONE;
	job_new(st, it, J_HELO, AK_HELO, h);
	return job_ask(st);
}

/* reject_rbl_client and reject_rhsbl_*: start the A lookup under the
 * zone, or V_NONE when there is nothing to look up. */
static enum verdict
list_start(struct smtpd_check_state *st, const struct item *it)
{
	struct session *s = st->s;
	const char *eq = strchr(it->arg, '=');
	const char *name = NULL;
	struct dns_job *j;
	char zone[DNS_NAME_MAX];
	size_t zl = eq != NULL ? (size_t)(eq - it->arg) : strlen(it->arg);

	if (zl >= sizeof(zone))
		return V_NONE;	/* refused by rbl_arg_ok */
	memcpy(zone, it->arg, zl);
	zone[zl] = '\0';
	if (it->op == OP_RBL) {
		struct sockaddr_storage ss;

		if (!smtpd_session_sockaddr(s, &ss))
			return V_NONE;
		j = job_new(st, it, J_LIST, AK_CLIENT, s->addr);
		if (dns_rbl_name((struct sockaddr *)&ss, zone, j->qname,
		    sizeof(j->qname)) < 0)
			return job_done(st, V_NONE);
	} else {
		switch (it->ak) {
		case AK_SENDER:
			name = s->have_mail ? address_domain(s->mail.from.text) :
			    "";
			break;
		case AK_RECIPIENT:
			name = address_domain(st->rcpt);
			break;
		case AK_CLIENT:
			name = s->name_status == SMTPD_NAME_OK ? s->name : "";
			break;
		case AK_REVERSE_CLIENT:
			name = s->reverse_status == SMTPD_NAME_OK ?
			    s->reverse_name : "";
			break;
		case AK_HELO:
			name = s->helo != NULL && s->helo[0] != '[' ? s->helo :
			    "";
			break;
		default:
			name = "";
			break;
		}
		if (*name == '\0')
			return V_NONE;
		j = job_new(st, it, J_LIST, it->ak, name);
		if (strlen(j->name) + 1 + zl >= DNS_NAME_MAX)
			return job_done(st, V_NONE);	/* cannot be listed */
		snprintf(j->qname, sizeof(j->qname), "%s.%s", j->name, zone);
	}
	snprintf(j->zone, sizeof(j->zone), "%s", zone);
	j->filter = eq != NULL ? eq + 1 : NULL;
	return job_ask(st);
}

/*
 * step - one restriction.  V_NONE: go on (or, with st->waiting set, an
 * answer is awaited); V_PERMIT / V_REJECT: the list (or check) ends.
 */
static enum verdict
step(struct smtpd_check_state *st, const struct item *it)
{
	struct session *s = st->s;
	enum access_kind sk = stage_kind(st);
	const char *sender = s->have_mail ? s->mail.from.text : NULL;

	switch (it->op) {
	case OP_PERMIT:
		return V_PERMIT;
	case OP_DUNNO:
		return V_NONE;
	case OP_REJECT:
		set_reply(st, ck.reject_code, "5.7.1", sk, "Access denied");
		return do_reject(st);
	case OP_DEFER:
		set_reply(st, ck.defer_code, "4.7.1", sk, "Try again later");
		return do_reject(st);
	case OP_DEFER_IF_PERMIT:
		if (st->dip_reply == NULL) {
			set_reply(st, ck.defer_code, "4.7.1", sk,
			    "Try again later");
			st->dip_reply = xstrdup(st->reply);
		}
		return V_NONE;
	case OP_DEFER_IF_REJECT:
		st->defer_next = true;
		return V_NONE;
	case OP_WARN_IF_REJECT:
		st->warn_next = true;
		return V_NONE;
	case OP_PERMIT_MYNETWORKS:
		return permit_mynetworks(st);
	case OP_PERMIT_SASL:
		return s->authenticated ? V_PERMIT : V_NONE;
	case OP_PERMIT_TLS_ALL:
		return s->ccert != NULL && s->ccert->trusted ? V_PERMIT :
		    V_NONE;
	case OP_PERMIT_TLS_CERTS:
		/* Any certificate the client proved it holds the key of:
		 * the fingerprint pins it, no CA needed. */
		if (s->ccert == NULL || s->ccert->fprint[0] == '\0' ||
		    it->arg == NULL || *it->arg == '\0')
			return V_NONE;
		st->pkey_next = true;
		return find_ask(st, it, s->ccert->fprint, LOOKUP_FIND_EXACT, 0);
	case OP_SENDER_LOGIN:
		return V_NONE;	/* enforced at MAIL FROM (smtpd_auth.c) */
	case OP_REJECT_NON_FQDN_SENDER:
		if (sender != NULL && *sender != '\0' && !fqdn_address(sender)) {
			set_reply(st, ck.non_fqdn_code, "5.5.2", AK_SENDER,
			    "need fully-qualified address");
			return do_reject(st);
		}
		return V_NONE;
	case OP_REJECT_NON_FQDN_RCPT:
		if (st->rcpt != NULL && strcasecmp(st->rcpt, "postmaster")
		    != 0 && !fqdn_address(st->rcpt)) {
			set_reply(st, ck.non_fqdn_code, "5.5.2", AK_RECIPIENT,
			    "need fully-qualified address");
			return do_reject(st);
		}
		return V_NONE;
	case OP_REJECT_NON_FQDN_HELO:
		if (s->helo != NULL && !valid_hostname(s->helo, true) &&
		    s->helo[0] != '[') {
			set_reply(st, ck.non_fqdn_code, "5.5.2", AK_HELO,
			    "need fully-qualified hostname");
			return do_reject(st);
		}
		return V_NONE;
	case OP_REJECT_INVALID_HELO:
		if (s->helo != NULL && !valid_hostname(s->helo, false)) {
			set_reply(st, ck.invalid_hostname_code, "5.5.2",
			    AK_HELO, "Invalid name");
			return do_reject(st);
		}
		return V_NONE;	/* no HELO: smtpd_helo_required decides */
	case OP_REJECT_PLAINTEXT:
		/* Not TLS (yet): STARTTLS comes before what this checks,
		 * unless the list is evaluated at CONNECT. */
		if (!s->tls_active) {
			set_reply(st, ck.plaintext_code, "4.7.1", sk, "Session "
			    "encryption is required");
			return do_reject(st);
		}
		return V_NONE;
	case OP_REJECT_UNAUTH_PIPELINING:
		if (s->ill_pipelining) {
			set_reply(st, 503, "5.5.0", sk, "Improper use of SMTP "
			    "command pipelining");
			return do_reject(st);
		}
		return V_NONE;
	case OP_DNS:
		if (it->dtype == 0) {
			dns_defer(st, it);
			return V_NONE;
		}
		return servers_start(st, it);
	case OP_UNKNOWN_CLIENT:
	case OP_UNKNOWN_REVERSE:
		return unknown_client(st, it, it->op == OP_UNKNOWN_REVERSE);
	case OP_UNKNOWN_HELO:
		return unknown_helo(st, it);
	case OP_UNKNOWN_SENDER_DOMAIN:
	case OP_UNKNOWN_RCPT_DOMAIN: {
		/* Checks with nothing to check (the null sender, not at
		 * RCPT, an address literal) do nothing, as in Postfix.  Our
		 * own final domains need no DNS: resolve first, then the DNS
		 * (route_answer). */
		const char *a = it->op == OP_UNKNOWN_SENDER_DOMAIN ? sender :
		    st->rcpt;

		if (a == NULL || *address_domain(a) == '\0')
			return V_NONE;
		return route_ask(st, it, LOOKUP_ROUTE_RESOLVE, a);
	}
	case OP_RBL:
	case OP_RHSBL:
		return list_start(st, it);
	case OP_REJECT_UNAUTH_DEST:
	case OP_DEFER_UNAUTH_DEST:
	case OP_PERMIT_AUTH_DEST:
	case OP_PERMIT_MX_BACKUP:
	case OP_REJECT_UNLISTED_RCPT:
		if (st->rcpt == NULL)
			return V_NONE;	/* not at RCPT: nothing to check */
		return route_ask(st, it, it->op == OP_REJECT_UNLISTED_RCPT ?
		    LOOKUP_ROUTE_CHECK : LOOKUP_ROUTE_RESOLVE, st->rcpt);
	case OP_REJECT_UNLISTED_SENDER:
		if (sender == NULL || *sender == '\0')
			return V_NONE;
		return route_ask(st, it, LOOKUP_ROUTE_CHECK, sender);
	case OP_ACCESS: {
		const char *key = NULL;
		enum lookup_find_order order = LOOKUP_FIND_EXACT;
		unsigned mflags = 0;

		switch (it->ak) {
		case AK_CLIENT:
		case AK_REVERSE_CLIENT:
			/* Postfix: the name (even "unknown") and its parent
			 * domains, then, when not found, the address and its
			 * networks (access_answer) */
			st->client_addr_next = true;
			key = it->ak == AK_CLIENT ? s->name : s->reverse_name;
			order = LOOKUP_FIND_DOMAIN;
			break;
		case AK_HELO:
			key = s->helo;
			order = LOOKUP_FIND_DOMAIN;
			break;
		case AK_SENDER:
			key = sender;
			if (key != NULL && *key == '\0')
				key = "<>";
			order = LOOKUP_FIND_ADDRESS;
			mflags = MAPS_ADDR_ACCESS;
			break;
		case AK_RECIPIENT:
			key = st->rcpt;
			order = LOOKUP_FIND_ADDRESS;
			mflags = MAPS_ADDR_ACCESS;
			break;
		case AK_SASL:
			key = s->authenticated ? s->auth_user : NULL;
			order = LOOKUP_FIND_EXACT;
			break;
		case AK_CCERT:
			/* The certificate's fingerprint, then its public
			 * key's (access_answer); verified or not. */
			key = s->ccert != NULL ? s->ccert->fprint : NULL;
			st->pkey_next = key != NULL && *key != '\0';
			break;
		case AK_DATA:
		case AK_EOD:
			break;
		}
		if (key == NULL || *key == '\0')
			return V_NONE;
		if (ck.parent_matches)
			mflags |= MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS;
		return find_ask(st, it, key, order, mflags);
	}
	case OP_POLICY:
		policy_ask(st, it);
		return V_NONE;
	case OP_UNVERIFIED:
		return verify_ask(st, it);
	case OP_CLASS: {
		struct list *l = class_list(it->cls);

		if (l == NULL)
			return config_error(st, "restriction class %s cannot "
			    "be used: it is not set", it->name);
		return push(st, l, NULL);
	}
	case OP_UNKNOWN:
		return config_error(st, "%s: unknown restriction or missing "
		    "argument \"%.100s\"", st->depth > 0 ?
		    st->stack[st->depth - 1].list->title : "?", it->name);
	}
	return V_NONE;
}

static void
finish(struct smtpd_check_state *st, bool reject)
{
	struct smtpd_check_result r;
	struct session *s = st->s;
	bool resume_input = st->went_async;
	smtpd_check_done *done = st->done;

	frames_clear(st);
	r.reject = reject;
	r.reply = reject ? st->reply : NULL;
	st->running = false;
	/* delay_reject = no: a client refused at connect is refused at
	 * every later command. */
	if (reject && st->stage == SMTPD_CHECK_CONNECT) {
		free(st->sticky);
		st->sticky = xstrdup(st->reply);
	}
	free(st->rcpt);
	st->rcpt = NULL;
	free(st->dip_reply);
	st->dip_reply = NULL;
	if (resume_input) {
		s->paused = false;
		st->went_async = false;
	}
	done(s, &r);
	if (resume_input)
		smtpd_session_process(s);
}


/* run - go on until the check ends or waits for an answer. */
static void
run(struct smtpd_check_state *st)
{
	struct session *s = st->s;

	for (;;) {
		if (st->waiting != NULL) {
			if (!st->went_async) {
				st->went_async = true;
				s->paused = true;
			}
			return;
		}
		if (st->rejected) {
			finish(st, true);
			return;
		}
		if (st->depth == 0 && st->iseq < st->nseq) {
			(void)push(st, st->seq[st->iseq++], NULL);
			st->warn_next = st->defer_next = false;
			continue;
		}
		if (st->depth == 0) {
			/* Every list passed: a pending defer_if_permit. */
			if (st->dip_reply != NULL) {
				snprintf(st->reply, sizeof(st->reply), "%s",
				    st->dip_reply);
				finish(st, true);
				return;
			}
			finish(st, false);
			return;
		}
		{
			struct frame *f = &st->stack[st->depth - 1];

			if (f->i >= f->list->n) {
				st->depth--;
				list_free(&f->owned);
				continue;
			}
			if (++st->steps > CHECK_STEPS_MAX) {
				decided(st, config_error(st, "more than %d "
				    "restrictions evaluated for one command "
				    "(a loop of restriction classes?)",
				    CHECK_STEPS_MAX));
				continue;
			}
			/* warn_if_reject and defer_if_reject change the
			 * restriction that follows them, only that one. */
			st->warn_cur = st->warn_next;
			st->defer_cur = st->defer_next;
			st->warn_next = st->defer_next = false;
			decided(st, step(st, &f->list->items[f->i++]));
		}
	}
}

void
smtpd_check_start(struct session *s, enum smtpd_check_stage stage,
    const char *rcpt, smtpd_check_done *done)
{
	struct smtpd_check_state *st = state_of(s);
	bool has_sender = s->have_mail && s->mail.from.text[0] != '\0';

	smtpd_check_cancel(s);
	st->stage = stage;
	st->rcpt = rcpt != NULL ? xstrdup(rcpt) : NULL;
	st->done = done;
	st->running = true;
	st->went_async = false;
	st->rejected = false;
	st->nseq = st->iseq = 0;
	st->depth = 0;
	st->steps = 0;
	st->warn_next = st->defer_next = false;
	st->reply[0] = '\0';
	switch (stage) {
	case SMTPD_CHECK_CONNECT:
		st->seq[st->nseq++] = ck.client;
		break;
	case SMTPD_CHECK_HELO:
		st->seq[st->nseq++] = ck.helo;
		break;
	case SMTPD_CHECK_MAIL:
		st->seq[st->nseq++] = ck.sender;
		if (ck.reject_unlisted_sender && has_sender)
			st->seq[st->nseq++] = &implicit_sender_list;
		break;
	case SMTPD_CHECK_RCPT:
		if (ck.delay_reject) {
			st->seq[st->nseq++] = ck.client;
			st->seq[st->nseq++] = ck.helo;
			st->seq[st->nseq++] = ck.sender;
			if (ck.reject_unlisted_sender && has_sender)
				st->seq[st->nseq++] = &implicit_sender_list;
		}
		if (ck.relay->n == 0 && ck.recipient->n == 0) {
			/* Neither list: refuse (never an open relay). */
			snprintf(st->reply, sizeof(st->reply), "451 4.3.5 "
			    "Server configuration error");
			log_warning("smtpd_relay_restrictions and smtpd_"
			    "recipient_restrictions are both empty: refusing "
			    "<%s>", rcpt != NULL ? rcpt : "");
			finish(st, true);
			return;
		}
		if (ck.relay_first) {
			st->seq[st->nseq++] = ck.relay;
			st->seq[st->nseq++] = ck.recipient;
		} else {
			st->seq[st->nseq++] = ck.recipient;
			st->seq[st->nseq++] = ck.relay;
		}
		if (ck.reject_unlisted_rcpt && !ck.no_unknown_rcpt_checks)
			st->seq[st->nseq++] = &implicit_rcpt_list;
		break;
	case SMTPD_CHECK_DATA:
		st->seq[st->nseq++] = ck.data;
		break;
	case SMTPD_CHECK_EOD:
		st->seq[st->nseq++] = ck.eod;
		break;
	}
	run(st);
}

/* ---------------------------------------------------------------- */
/* Canonical mapping and automatic BCC                              */

bool
smtpd_check_rewrite_wanted(bool sender)
{
	return sender ? ck.rewrite_sender : ck.rewrite_rcpt;
}

static void
on_rewrite(void *ctx, enum dict_status status, const char *text, size_t len)
{
	struct smtpd_check_state *st = ctx;
	struct session *s = st->s;
	smtpd_rewrite_done *done = st->rewrite_done;
	struct lookup_route_answer a;
	char who[SMTPD_LABEL_MAX], reply[SMTPD_REPLY_MAX_BYTES];

	st->lreq = NULL;
	st->rewrite_done = NULL;
	s->paused = false;
	memset(&a, 0, sizeof(a));
	if (status == DICT_FOUND && lookup_route_answer_parse(text, len, &a) ==
	    0 && a.address != NULL) {
		done(s, true, a.address, a.rcpts != NULL ? a.rcpts[0] : NULL,
		    NULL);
	} else {
		log_warning("%s: %s address mapping failed: %.*s; the command "
		    "gets a temporary failure", smtpd_client_label(s, who,
		    sizeof(who)), st->rewrite_sender ? "sender" : "recipient",
		    status == DICT_TEMPFAIL ? (int)len : 25, status ==
		    DICT_TEMPFAIL ? text : "a malformed route answer");
		snprintf(reply, sizeof(reply), "451 4.3.0 Error: temporary "
		    "lookup failure");
		done(s, false, NULL, NULL, reply);
	}
	lookup_route_answer_deinit(&a);
	smtpd_session_process(s);
}

void
smtpd_check_rewrite(struct session *s, bool sender, const char *address,
    smtpd_rewrite_done *done)
{
	struct smtpd_check_state *st = state_of(s);

	st->rewrite_done = done;
	st->rewrite_sender = sender;
	s->paused = true;
	st->lreq = lookup_client_route(lc(), smtpd_cfg.route_service, sender ?
	    LOOKUP_ROUTE_REWRITE_SENDER : LOOKUP_ROUTE_REWRITE_RCPT, address,
	    on_rewrite, st);
}
