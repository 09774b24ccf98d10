/* SPDX-License-Identifier: MIT */
/*
 * smtpd_ehlo - EHLO keywords not offered; see smtpd_ehlo.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "smtp_command.h"
#include "smtpd_check.h"
#include "smtpd_ehlo.h"
#include "smtpd_session.h"
#include "xalloc.h"

static const struct {
	const char *word;
	unsigned bit;
} keywords[] = {
	{ "pipelining", EHLO_D_PIPELINING },
	{ "size", EHLO_D_SIZE },
	{ "vrfy", EHLO_D_VRFY },
	{ "etrn", EHLO_D_ETRN },
	{ "starttls", EHLO_D_STARTTLS },
	{ "auth", EHLO_D_AUTH },
	{ "xclient", EHLO_D_XCLIENT },
	{ "xforward", EHLO_D_XFORWARD },
	{ "enhancedstatuscodes", EHLO_D_ENHANCED },
	{ "8bitmime", EHLO_D_8BITMIME },
	{ "dsn", EHLO_D_DSN },
	{ "smtputf8", EHLO_D_SMTPUTF8 },
	{ "chunking", EHLO_D_CHUNKING },
	{ "silent-discard", EHLO_D_SILENT },
};

static struct {
	unsigned mask;		/* smtpd_discard_ehlo_keywords */
	char *maps;		/* the tables, NULL: none */
} eh;

unsigned
smtpd_ehlo_mask(const char *words, size_t len)
{
	static const char sep[] = ", \t\r\n";
	unsigned mask = 0;
	size_t i = 0;

	while (i < len) {
		size_t start;

		while (i < len && strchr(sep, words[i]) != NULL &&
		    words[i] != '\0')
			i++;
		start = i;
		while (i < len && (words[i] == '\0' ||
		    strchr(sep, words[i]) == NULL))
			i++;
		for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]);
		    k++)
			if (strlen(keywords[k].word) == i - start &&
			    strncasecmp(keywords[k].word, words + start,
			    i - start) == 0)
				mask |= keywords[k].bit;
	}
	return mask;
}

const char *
smtpd_ehlo_mask_text(unsigned mask, char *out, size_t outsz)
{
	size_t n = 0;

	if (outsz == 0)
		return out;
	out[0] = '\0';
	for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++) {
		int w;

		if (!(mask & keywords[k].bit) || keywords[k].bit ==
		    EHLO_D_SILENT)
			continue;
		w = snprintf(out + n, outsz - n, "%s", n > 0 ? " " : "");
		if (w < 0 || (size_t)w >= outsz - n)
			break;
		n += (size_t)w;
		for (const char *p = keywords[k].word; *p != '\0' &&
		    n + 1 < outsz; p++)
			out[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 :
			    *p);
		out[n] = '\0';
	}
	return out;
}

void
smtpd_ehlo_init(const struct config_view *v)
{
	const char *d = config_str(v, P_smtpd_discard_ehlo_keywords);
	const char *m = config_str(v, P_smtpd_discard_ehlo_keyword_address_maps);

	eh.mask = smtpd_ehlo_mask(d, strlen(d));
	free(eh.maps);
	eh.maps = m[strspn(m, ", \t\r\n")] != '\0' ? xstrdup(m) : NULL;
}

unsigned
smtpd_ehlo_discard(const struct session *s)
{
	return s->ehlo_for != NULL && strcmp(s->ehlo_for, s->addr) == 0 ?
	    s->ehlo_discard : eh.mask;
}

unsigned
smtpd_ehlo_exts(const struct session *s)
{
	unsigned d = smtpd_ehlo_discard(s), x = smtpd_cfg.exts;

	if (d & EHLO_D_SIZE)
		x &= ~(unsigned)SMTP_EXT_SIZE;
	if (d & EHLO_D_8BITMIME)
		x &= ~(unsigned)SMTP_EXT_8BITMIME;
	if (d & EHLO_D_DSN)
		x &= ~(unsigned)SMTP_EXT_DSN;
	if (d & EHLO_D_SMTPUTF8)
		x &= ~(unsigned)SMTP_EXT_SMTPUTF8;
	if (d & EHLO_D_CHUNKING)
		x &= ~(unsigned)SMTP_EXT_CHUNKING;
	return x;
}

static void
on_keywords(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct session *s = ctx;
	void (*done)(struct session *, const char *) = s->ehlo_done;
	char who[SMTPD_LABEL_MAX];

	s->ehlo_req = NULL;
	s->ehlo_done = NULL;
	s->paused = false;
	if (st == DICT_TEMPFAIL) {
		log_warning("%s: smtpd_discard_ehlo_keyword_address_maps: "
		    "lookup of %s failed: %.*s; EHLO gets a temporary "
		    "failure", smtpd_client_label(s, who, sizeof(who)),
		    s->addr, (int)len, text);
		done(s, "451 4.3.0 Error: server configuration problem; try "
		    "again later");
		return;
	}
	free(s->ehlo_for);
	s->ehlo_for = xstrdup(s->addr);
	s->ehlo_discard = st == DICT_FOUND ? smtpd_ehlo_mask(text, len) :
	    eh.mask;
	done(s, NULL);
}

bool
smtpd_ehlo_lookup(struct session *s,
    void (*done)(struct session *, const char *refusal))
{
	if (eh.maps == NULL || (s->ehlo_for != NULL &&
	    strcmp(s->ehlo_for, s->addr) == 0))
		return false;
	s->ehlo_done = done;
	s->paused = true;
	s->ehlo_req = lookup_client_find(smtpd_check_lookup_client(),
	    eh.maps, s->addr, LOOKUP_FIND_EXACT, 0, NULL, on_keywords, s);
	return true;
}

void
smtpd_ehlo_session_end(struct session *s)
{
	if (s->ehlo_req != NULL) {
		lookup_client_cancel(s->ehlo_req);
		s->ehlo_req = NULL;
	}
	free(s->ehlo_for);
	s->ehlo_for = NULL;
}
