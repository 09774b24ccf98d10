/* SPDX-License-Identifier: MIT */
/*
 * cmd_dns - `ostia dns`: ask DNS as the mail system does (dns.h), with
 * the resolvers and trust anchor of main.cf.
 *
 *   ostia dns [-c DIR] [-v] [-a] [-t SECONDS] NAME [TYPE]
 *
 * TYPE is a, aaaa, mx, ptr, txt or tlsa (any case; default a).  With
 * ptr, an IP address as NAME asks for its reverse name
 * (1.2.3.4 -> 4.3.2.1.in-addr.arpa).  main.cf gives dns_resolvers
 * (empty: /etc/resolv.conf) and dnssec_trust_anchor_file (empty: no
 * validation, so "secure: no").  -t: give up after SECONDS (default 30;
 * 0 = when libunbound gives up).  -a: ask through the asynchronous API
 * on an event loop, as smtpd does (default: the blocking one of the
 * delivery agents); the answer is the same.
 *
 * Output, one "field: value" per line, in this order:
 *
 *   name: remote.test
 *   type: MX
 *   status: ok | no such domain | no record | temporary failure |
 *           DNSSEC validation failure | invalid name
 *   secure: yes | no
 *   ttl: 300
 *   error: TEXT                     (failures only)
 *   record: 10 mx1.remote.test      (one line per record, DNS_OK only)
 *
 * Records: A/AAAA the address; MX "PREF HOST" (a null MX is "0 ."); PTR
 * the name; TXT the strings joined, bytes other than printable ASCII
 * and the backslash written \DDD (decimal); TLSA "USAGE SELECTOR MTYPE
 * HEX".  Records are printed in the order of the answer.
 *
 * Exit: 0 records found, 1 the name does not exist or has no record of
 * the type (a definite answer), 2 a temporary failure, a DNSSEC
 * validation failure, an invalid name, a configuration error or a
 * usage error.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "dns.h"
#include "log.h"
#include "strnum.h"
#include "xalloc.h"

#define DNS_EXIT_OK 0
#define DNS_EXIT_NOTFOUND 1
#define DNS_EXIT_FAIL 2
#define DNS_DEFAULT_TIMEOUT 30

static const struct {
	const char *word;
	uint16_t type;
} qtypes[] = {
	{ "a", DNS_T_A }, { "aaaa", DNS_T_AAAA }, { "mx", DNS_T_MX },
	{ "ptr", DNS_T_PTR }, { "txt", DNS_T_TXT }, { "tlsa", DNS_T_TLSA },
};

static void
dns_usage(void)
{
	log_error("usage: ostia dns [-c DIR] [-v] [-a] [-t SECONDS] NAME "
	    "[a|aaaa|mx|ptr|txt|tlsa]");
}

/* qtype_of - the DNS_T_* of a TYPE word, with its upper-case name in
 * *name_r; 0 if unknown. */
static uint16_t
qtype_of(const char *word, char *name_r, size_t size)
{
	for (size_t i = 0; i < N_ELEMENTS(qtypes); i++) {
		size_t j;

		if (strcasecmp(word, qtypes[i].word) != 0)
			continue;
		for (j = 0; j + 1 < size && qtypes[i].word[j] != '\0'; j++)
			name_r[j] = (char)toupper((unsigned char)word[j]);
		name_r[j] = '\0';
		return qtypes[i].type;
	}
	return 0;
}

/* print_txt - TXT text with \DDD for unprintable bytes and '\'. */
static void
print_txt(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c > 0x7e || c == '\\')
			printf("\\%03u", c);
		else
			putchar(c);
	}
}

/* print_rr - one "record:" line. */
static void
print_rr(const struct dns_rr *rr)
{
	char addr[INET6_ADDRSTRLEN];

	printf("record: ");
	switch (rr->type) {
	case DNS_T_A:
		printf("%s", inet_ntop(AF_INET, &rr->u.a, addr, sizeof(addr)));
		break;
	case DNS_T_AAAA:
		printf("%s", inet_ntop(AF_INET6, &rr->u.aaaa, addr,
		    sizeof(addr)));
		break;
	case DNS_T_MX:
		printf("%u %s", rr->u.mx.pref, rr->u.mx.host[0] != '\0' ?
		    rr->u.mx.host : ".");
		break;
	case DNS_T_PTR:
		printf("%s", rr->u.name);
		break;
	case DNS_T_TXT:
		print_txt(rr->u.txt.text, rr->u.txt.len);
		break;
	case DNS_T_TLSA:
		printf("%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector,
		    rr->u.tlsa.mtype);
		for (size_t i = 0; i < rr->u.tlsa.len; i++)
			printf("%02x", rr->u.tlsa.data[i]);
		break;
	}
	putchar('\n');
}

/* exit_status - the exit status of a result (see the file comment). */
static int
exit_status(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return DNS_EXIT_OK;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		return DNS_EXIT_NOTFOUND;
	default:
		return DNS_EXIT_FAIL;
	}
}

/*
 * query_name - the name to ask: NAME, or for PTR and an IP address its
 * reverse name (in buf).
 */
static const char *
query_name(const char *arg, uint16_t qtype, char *buf, size_t size)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	if (qtype != DNS_T_PTR)
		return arg;
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, arg, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		if (dns_reverse_name((struct sockaddr *)&s4, buf, size) == 0)
			return buf;
	} else if (inet_pton(AF_INET6, arg, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		if (dns_reverse_name((struct sockaddr *)&s6, buf, size) == 0)
			return buf;
	}
	return arg;
}

struct async_wait {
	struct event_base *base;
	struct dns_result *res;
};

static void
async_done(struct dns_result *res, void *ctx)
{
	struct async_wait *w = ctx;

	w->res = res;
	event_base_loopbreak(w->base);
}

/*
 * lookup_async - name/qtype through dns_lookup on a loop of its own;
 * always a result.
 */
static struct dns_result *
lookup_async(const struct dns_settings *set, const char *name,
    uint16_t qtype, char **error_r)
{
	struct async_wait w = { NULL, NULL };
	struct dns_resolver *r;
	const char *perr;

	if ((w.base = event_base_new()) == NULL) {
		*error_r = xstrdup("cannot make an event loop");
		return NULL;
	}
	if ((r = dns_resolver_new(w.base, set, error_r)) == NULL) {
		event_base_free(w.base);
		return NULL;
	}
	if (dns_lookup(r, name, qtype, async_done, &w, &perr) == NULL) {
		*error_r = xasprintf("cannot start the query: %s", perr);
	} else {
		while (w.res == NULL && event_base_dispatch(w.base) == 0)
			;
	}
	dns_resolver_free(&r);
	event_base_free(w.base);
	return w.res;
}

/* lookup_sync - name/qtype through dns_lookup_sync. */
static struct dns_result *
lookup_sync(const struct dns_settings *set, const char *name,
    uint16_t qtype, char **error_r)
{
	struct dns_resolver *r;
	struct dns_result *res;

	if ((r = dns_resolver_new(NULL, set, error_r)) == NULL)
		return NULL;
	res = dns_lookup_sync(r, name, qtype);
	dns_resolver_free(&r);
	return res;
}

/* resolve - look name/qtype up with the configured resolver; print. */
static int
resolve(const struct config_view *v, const char *name, uint16_t qtype,
    const char *tname, unsigned timeout_s, bool async)
{
	struct dns_settings set = {
		.resolvers = config_str(v, P_dns_resolvers),
		.trust_anchor_file = config_str(v, P_dnssec_trust_anchor_file),
		.timeout_ms = timeout_s * 1000,
	};
	struct dns_result *res;
	char *err = NULL;
	int ret;

	res = async ? lookup_async(&set, name, qtype, &err) :
	    lookup_sync(&set, name, qtype, &err);
	if (res == NULL) {
		log_error("dns: %s", err != NULL ? err : "lookup failed");
		free(err);
		return DNS_EXIT_FAIL;
	}
	printf("name: %s\ntype: %s\nstatus: %s\nsecure: %s\nttl: %u\n",
	    res->qname, tname, dns_status_name(res->status),
	    res->secure ? "yes" : "no", res->ttl);
	if (res->error != NULL)
		printf("error: %s\n", res->error);
	for (size_t i = 0; i < res->n; i++)
		print_rr(&res->rrs[i]);
	ret = exit_status(res->status);
	dns_result_free(&res);
	if (fflush(stdout) != 0)
		ret = DNS_EXIT_FAIL;
	return ret;
}

int
cmd_dns(struct cli *cli, int argc, char **argv)
{
	struct diag_list diags;
	struct config *cf;
	char tname[8] = "A", rname[DNS_NAME_MAX];
	const char *name, *perr;
	uint16_t qtype = DNS_T_A;
	long long timeout = DNS_DEFAULT_TIMEOUT;
	bool async = false;
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			if (strnum_parse_ll(argv[++i], 0, 3600, &timeout,
			    &perr) < 0) {
				log_error("dns: -t %s: %s", argv[i], perr);
				return DNS_EXIT_FAIL;
			}
		} else if (strcmp(argv[i], "-a") == 0) {
			async = true;
		} else if (strcmp(argv[i], "-v") == 0) {
			cli->verbose++;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			log_error("dns: unknown option \"%s\"", argv[i]);
			dns_usage();
			return DNS_EXIT_FAIL;
		} else {
			break;
		}
	}
	if (i >= argc || argc - i > 2) {
		dns_usage();
		return DNS_EXIT_FAIL;
	}
	if (argc - i == 2 && (qtype = qtype_of(argv[i + 1], tname,
	    sizeof(tname))) == 0) {
		log_error("dns: unknown type \"%s\" (a, aaaa, mx, ptr, txt, "
		    "tlsa)", argv[i + 1]);
		return DNS_EXIT_FAIL;
	}
	log_set_verbose(cli->verbose);
	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_QUIET |
	    CONFIG_LOAD_NO_MASTER, &diags);
	if (cf == NULL) {
		(void)cli_print_diags(&diags);
		log_error("%s: the configuration has errors", cli->config_dir);
		diag_list_deinit(&diags);
		return DNS_EXIT_FAIL;
	}
	diag_list_deinit(&diags);
	name = query_name(argv[i], qtype, rname, sizeof(rname));
	ret = resolve(config_main(cf), name, qtype, tname, (unsigned)timeout,
	    async);
	config_free(&cf);
	return ret;
}
