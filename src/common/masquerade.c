/* SPDX-License-Identifier: MIT */
/*
 * masquerade - address masquerading; see masquerade.h.
 */
#include "masquerade.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "strv.h"
#include "xalloc.h"

int
masq_setup(struct masq *m, const char *const *domains,
    const char *const *exceptions, const char *const *classes,
    const char *delimiters, char *err, size_t errsz)
{
	struct strv d, x;

	memset(m, 0, sizeof(*m));
	if (errsz > 0)
		err[0] = '\0';
	if (domains == NULL || domains[0] == NULL)
		return 0;		/* off; the rest does not matter */
	for (size_t i = 0; classes != NULL && classes[i] != NULL; i++) {
		const char *c = classes[i];

		if (strcasecmp(c, "envelope_sender") == 0)
			m->env_sender = true;
		else if (strcasecmp(c, "envelope_recipient") == 0)
			m->env_rcpt = true;
		else if (strcasecmp(c, "header_sender") == 0)
			m->hdr_sender = true;
		else if (strcasecmp(c, "header_recipient") == 0)
			m->hdr_rcpt = true;
		else {
			snprintf(err, errsz, "masquerade_classes: unknown "
			    "class \"%.100s\" (known: envelope_sender, "
			    "envelope_recipient, header_sender, "
			    "header_recipient)", c);
			goto off;
		}
	}
	strv_init(&d);
	strv_init(&x);
	for (size_t i = 0; domains != NULL && domains[i] != NULL; i++) {
		const char *s = domains[i];
		bool keep = s[0] == '!';
		const char *name = keep ? s + 1 : s;

		if (*name == '.')	/* ".example.com" means example.com */
			name++;
		if (*name == '\0' || strchr(name, '@') != NULL ||
		    strchr(name, ':') != NULL || name[0] == '/') {
			snprintf(err, errsz, "masquerade_domains: \"%.100s\" "
			    "is not a domain name", s);
			strv_deinit(&d);
			strv_deinit(&x);
			goto off;
		}
		strv_add_take(&d, xasprintf("%s%s", keep ? "!" : "", name));
	}
	for (size_t i = 0; exceptions != NULL && exceptions[i] != NULL; i++) {
		const char *s = exceptions[i];

		if (strchr(s, ':') != NULL || s[0] == '/') {
			snprintf(err, errsz, "masquerade_exceptions: "
			    "\"%.100s\" is a table; Ostia takes only user "
			    "names here (as \"root, mailer-daemon\")", s);
			strv_deinit(&d);
			strv_deinit(&x);
			goto off;
		}
		strv_add(&x, s);
	}
	if (d.n == 0) {
		strv_deinit(&d);
		strv_deinit(&x);
		goto off;
	}
	m->domains = strv_steal(&d);
	m->exceptions = strv_steal(&x);
	snprintf(m->delims, sizeof(m->delims), "%s",
	    delimiters != NULL ? delimiters : "");
	return 0;
off:
	m->env_sender = m->env_rcpt = m->hdr_sender = m->hdr_rcpt = false;
	return errsz > 0 && err[0] != '\0' ? -1 : 0;
}

void
masq_deinit(struct masq *m)
{
	strv_free(&m->domains);
	strv_free(&m->exceptions);
	memset(m, 0, sizeof(*m));
}

bool
masq_on(const struct masq *m, enum masq_class c)
{
	if (m == NULL || m->domains == NULL)
		return false;
	switch (c) {
	case MASQ_ENV_SENDER:
		return m->env_sender;
	case MASQ_ENV_RCPT:
		return m->env_rcpt;
	case MASQ_HDR_SENDER:
		return m->hdr_sender;
	case MASQ_HDR_RCPT:
		return m->hdr_rcpt;
	}
	return false;
}

int
masq_setup_view(struct masq *m, const struct config_view *v, char *err,
    size_t errsz)
{
	char **d = config_list(v, P_masquerade_domains);
	char **x = config_list(v, P_masquerade_exceptions);
	char **c = config_list(v, P_masquerade_classes);
	int rc = masq_setup(m, (const char *const *)d, (const char *const *)x,
	    (const char *const *)c, config_str(v, P_recipient_delimiter), err,
	    errsz);

	strv_free(&d);
	strv_free(&x);
	strv_free(&c);
	return rc;
}

bool
masq_wanted(const struct config_view *v, enum masq_class c)
{
	struct masq m;
	char err[8];
	bool on;

	if (masq_setup_view(&m, v, err, sizeof(err)) < 0)
		return true;
	on = masq_on(&m, c);
	masq_deinit(&m);
	return on;
}

/* is_exception - is the local part local[0 .. len) one of the names,
 * whole or up to its first recipient_delimiter character? */
static bool
is_exception(const struct masq *m, const char *local, size_t len)
{
	size_t base = len;

	if (m->delims[0] != '\0') {
		for (size_t i = 0; i < len; i++)
			if (strchr(m->delims, local[i]) != NULL &&
			    local[i] != '\0') {
				base = i;
				break;
			}
	}
	for (size_t i = 0; m->exceptions[i] != NULL; i++) {
		const char *x = m->exceptions[i];
		size_t xl = strlen(x);

		if ((xl == len && strncasecmp(x, local, len) == 0) ||
		    (xl == base && strncasecmp(x, local, base) == 0))
			return true;
	}
	return false;
}

static int
copy_out(char *out, size_t outsz, const char *a, size_t alen,
    const char *b, size_t blen)
{
	if (alen + blen + 1 > outsz)
		return -1;
	memcpy(out, a, alen);
	memcpy(out + alen, b, blen);
	out[alen + blen] = '\0';
	return 0;
}

int
masquerade(const struct masq *m, enum masq_class c, const char *address,
    char *out, size_t outsz)
{
	size_t alen = strlen(address), llen, dlen;
	const char *at = strrchr(address, '@'), *dom;

	if (copy_out(out, outsz, address, alen, "", 0) < 0)
		return -1;
	if (!masq_on(m, c) || at == NULL || at[1] == '\0' || at[1] == '[')
		return 0;
	dom = at + 1;
	dlen = strlen(dom);
	llen = (size_t)(at - address);
	if (m->exceptions[0] != NULL && is_exception(m, address, llen))
		return 0;
	for (size_t i = 0; m->domains[i] != NULL; i++) {
		const char *e = m->domains[i];
		bool keep = e[0] == '!';
		size_t el;

		if (keep)
			e++;
		el = strlen(e);
		if (el > dlen || strcasecmp(dom + dlen - el, e) != 0)
			continue;
		if (el == dlen)
			return 0;		/* the domain itself */
		if (dom[dlen - el - 1] != '.')
			continue;		/* "xexample.com" */
		if (keep)
			return 0;
		/* llen + 1 + el < alen: out is large enough. */
		out[llen + 1] = '\0';
		memcpy(out + llen + 1, e, el + 1);
		return 1;
	}
	return 0;
}
