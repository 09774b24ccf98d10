/* SPDX-License-Identifier: MIT */
/*
 * showq_proto - the public queue service's request and answer lines
 * (showq_proto.h).  libc only: the set-group-ID helper links it.
 */
#include <stdio.h>
#include <string.h>

#include "showq_proto.h"

#define QUEUE_ID_CHARS 16

static bool
atext_or_dot(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~.", c) !=
	    NULL;
}

static bool
login_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || !atext_or_dot((unsigned char)s[i]))
			return false;
	return true;
}

static bool
queue_id_ok(const char *s, size_t n)
{
	if (n != QUEUE_ID_CHARS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' &&
		    s[i] <= 'Z')))
			return false;
	return true;
}

static bool
domain_ok(const char *s, size_t n)
{
	if (n == 0 || n > SHOWQ_DOMAIN_MAX_BYTES || s[0] == '.' ||
	    s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	return true;
}

int
showq_request_format(char *out, size_t outsz, unsigned long uid,
    const char *login, int nwords, char *const *words, const char **why_r)
{
	const char *arg = "", *sep = "";
	int n;

	if (!login_ok(login, strlen(login))) {
		*why_r = "the login name cannot be used";
		return -1;
	}
	if (nwords == 1 && (strcmp(words[0], "list") == 0 ||
	    strcmp(words[0], "json") == 0)) {
		/* nothing more */
	} else if (nwords >= 1 && strcmp(words[0], "flush") == 0) {
		if (nwords == 2 && queue_id_ok(words[1], strlen(words[1]))) {
			arg = words[1];
			sep = " ";
		} else if (nwords == 3 && strcmp(words[1], "-d") == 0 &&
		    domain_ok(words[2], strlen(words[2]))) {
			arg = words[2];
			sep = " -d ";
		} else if (nwords != 1) {
			*why_r = "flush takes a queue ID or -d DOMAIN";
			return -1;
		}
	} else {
		*why_r = "not a request (list, json, flush)";
		return -1;
	}
	n = snprintf(out, outsz, "%s %lu %s %s%s%s\n", SHOWQ_MAGIC, uid, login,
	    words[0], sep, arg);
	if (n < 0 || (size_t)n >= outsz || (size_t)n > SHOWQ_REQUEST_MAX_BYTES) {
		*why_r = "the request is too long";
		return -1;
	}
	return 0;
}

/* word - the next space-separated word of [*p, end); its length. */
static size_t
word(const char **p, const char *end, const char **w)
{
	const char *s = *p;

	*w = s;
	while (s < end && *s != ' ')
		s++;
	*p = s < end ? s + 1 : s;
	return (size_t)(s - *w);
}

int
showq_request_parse(const char *line, size_t len, struct showq_request *r,
    const char **why_r)
{
	const char *p = line, *end = line + len, *w;
	size_t ml = strlen(SHOWQ_MAGIC), n;
	unsigned long uid = 0;

	memset(r, 0, sizeof(r[0]));
	if (len > SHOWQ_REQUEST_MAX_BYTES || len < ml + 1 ||
	    memcmp(line, SHOWQ_MAGIC, ml) != 0 || line[ml] != ' ') {
		*why_r = "not a request of this protocol";
		return -1;
	}
	p += ml + 1;
	n = word(&p, end, &w);
	if (n == 0 || n > 10 || (n > 1 && w[0] == '0')) {
		*why_r = "bad uid";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9') {
			*why_r = "bad uid";
			return -1;
		}
		uid = uid * 10 + (unsigned long)(w[i] - '0');
	}
	if (uid > 0xfffffffeUL) {
		*why_r = "bad uid";
		return -1;
	}
	r->uid = uid;
	n = word(&p, end, &w);
	if (!login_ok(w, n)) {
		*why_r = "bad login name";
		return -1;
	}
	memcpy(r->login, w, n);
	n = word(&p, end, &w);
	if (n == 4 && (memcmp(w, "list", 4) == 0 || memcmp(w, "json", 4) ==
	    0) && p == end && w + n == end) {
		r->what = w[0] == 'l' ? SHOWQ_LIST : SHOWQ_LIST_JSON;
		return 0;
	}
	if (n != 5 || memcmp(w, "flush", 5) != 0) {
		*why_r = "unknown request";
		return -1;
	}
	if (w + n == end) {
		r->what = SHOWQ_FLUSH;
		return 0;
	}
	n = word(&p, end, &w);
	if (n == 2 && memcmp(w, "-d", 2) == 0) {
		n = word(&p, end, &w);
		if (!domain_ok(w, n) || w + n != end) {
			*why_r = "bad domain";
			return -1;
		}
		r->what = SHOWQ_FLUSH_DOMAIN;
	} else {
		if (!queue_id_ok(w, n) || w + n != end) {
			*why_r = "bad queue ID";
			return -1;
		}
		r->what = SHOWQ_FLUSH_ID;
	}
	memcpy(r->arg, w, n);
	return 0;
}

int
showq_reply_parse(const char *line, size_t len, const char **text_r,
    size_t *text_len_r, int *status_r)
{
	if (len >= 2 && (line[0] == 'O' || line[0] == 'E') && line[1] == ' ') {
		*text_r = line + 2;
		*text_len_r = len - 2;
		return line[0];
	}
	if (len == 3 && line[0] == 'S' && line[1] == ' ' && line[2] >= '0' &&
	    line[2] <= '2') {
		*status_r = line[2] - '0';
		return 'S';
	}
	return -1;
}
