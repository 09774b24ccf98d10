/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dsn - dsn_build() on notices made from arbitrary input.
 *
 * Input layout: byte 0 picks the kind (% 3) and flags (4 RET=FULL,
 * 8 SMTPUTF8, 16 a retry time, 32 an arrival time); byte 1 the size
 * limit (0: none, else 16 * value); byte 2 the number of recipients
 * (% 5).  Then NUL-separated strings: sender, envid, received_from,
 * mail_name, and per recipient final_rcpt, orcpt, action, status,
 * remote_mta, diagnostic, text ("" = NULL for the optional ones; an
 * action or status of at most one byte picks a valid one, so that most
 * inputs get past the checks).  The rest is the original message.
 *
 * Checked: a refusal has an error text and leaves the buffer empty; a
 * notice has CRLF line ends only, no line over 998 octets, the MIME
 * boundary exactly three times as a part delimiter and once as the
 * closing one, and is the same when built again.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RCPTS_MAX 4
#define FUZZ_OUT_MAX (16 * 1024 * 1024)

static const char *const actions[] = {
	"failed", "delayed", "delivered", "relayed", "expanded",
};
static const char *const statuses[] = { "5.1.1", "4.4.1", "2.0.0" };

/* Next NUL-terminated string of the input, or NULL at its end. */
static const char *
next_str(const char **p, const char *end)
{
	const char *s = *p;
	const char *nul;

	if (s >= end)
		return NULL;
	nul = memchr(s, '\0', (size_t)(end - s));
	if (nul == NULL)
		return NULL;
	*p = nul + 1;
	return s;
}

static const char *
opt(const char *s)
{
	return s == NULL || *s == '\0' ? NULL : s;
}

static size_t
count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = hay, *end = hay + len;

	while ((p = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
		n++;
		p += nl;
	}
	return n;
}

static void
check_notice(const struct buf *b)
{
	const char *s = b->data, *q, *e;
	size_t start = 0;
	char *delim, *close;

	if (b->len == 0 || strncmp(s, "Date: ", 6) != 0)
		abort();
	for (size_t i = 0; i < b->len; i++) {
		if (s[i] != '\n')
			continue;
		if (i == 0 || s[i - 1] != '\r')
			abort();
		if (i - 1 - start > DSN_LINE_MAX_BYTES)
			abort();
		start = i + 1;
	}
	if (start != b->len)
		abort();
	/* The parameter is on a line of its own (the sender, in To:,
	 * may hold the same text, never a line break). */
	q = strstr(s, "\r\n\tboundary=\"");
	if (q == NULL)
		abort();
	q += strlen("\r\n\tboundary=\"");
	e = strchr(q, '"');
	if (e == NULL || e == q || e - q > 70)
		abort();
	delim = malloc((size_t)(e - q) + 8);
	close = malloc((size_t)(e - q) + 10);
	if (delim == NULL || close == NULL)
		abort();
	memcpy(delim, "\r\n--", 4);
	memcpy(delim + 4, q, (size_t)(e - q));
	memcpy(delim + 4 + (e - q), "\r\n", 3);
	memcpy(close, "\r\n--", 4);
	memcpy(close + 4, q, (size_t)(e - q));
	memcpy(close + 4 + (e - q), "--\r\n", 5);
	if (count(s, b->len, delim) != 3 || count(s, b->len, close) != 1)
		abort();
	if (b->len < strlen(close) ||
	    strcmp(s + b->len - strlen(close), close) != 0)
		abort();
	free(delim);
	free(close);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn_rcpt r[FUZZ_RCPTS_MAX];
	struct dsn_params p;
	const char *in = (const char *)data, *end = in + size, *s;
	struct buf a, b;
	const char *err_a = NULL, *err_b = NULL;
	int ra, rb;

	if (size < 3)
		return 0;
	memset(&p, 0, sizeof(p));
	memset(r, 0, sizeof(r));
	p.kind = (enum dsn_kind)(data[0] % 3);
	p.ret_full = (data[0] & 4) != 0;
	p.smtputf8 = (data[0] & 8) != 0;
	p.retry_until = (data[0] & 16) != 0 ? (time_t)1700432000 : 0;
	p.arrival = (data[0] & 32) != 0 ? (time_t)1699990000 : 0;
	p.size_limit = (uint64_t)data[1] * 16;
	p.nrcpts = data[2] % (FUZZ_RCPTS_MAX + 1);
	in += 3;

	p.queue_id = "0123456789ABCDEF";
	p.reporting_mta = "mx.example.org";
	p.from_addr = "MAILER-DAEMON@mx.example.org";
	p.now = 1700000000;
	p.unique = 0;
	s = next_str(&in, end);
	p.sender = s != NULL ? s : "alice@example.com";
	p.envid = opt(next_str(&in, end));
	p.received_from = opt(next_str(&in, end));
	s = next_str(&in, end);
	p.mail_name = s != NULL && *s != '\0' ? s : "Ostia";
	for (size_t i = 0; i < p.nrcpts; i++) {
		s = next_str(&in, end);
		r[i].final_rcpt = s != NULL ? s : "bob@example.net";
		r[i].orcpt = opt(next_str(&in, end));
		s = next_str(&in, end);
		r[i].action = s != NULL && strlen(s) > 1 ? s :
		    actions[(s != NULL ? (unsigned char)s[0] : i) %
		    N_ELEMENTS(actions)];
		s = next_str(&in, end);
		r[i].status = s != NULL && strlen(s) > 1 ? s :
		    statuses[(s != NULL ? (unsigned char)s[0] : i) %
		    N_ELEMENTS(statuses)];
		r[i].remote_mta = opt(next_str(&in, end));
		r[i].diagnostic = opt(next_str(&in, end));
		r[i].text = opt(next_str(&in, end));
		r[i].last_attempt = (time_t)(1699999000 + i);
	}
	p.rcpts = r;
	p.content = in;
	p.content_len = (size_t)(end - in);

	buf_init(&a, FUZZ_OUT_MAX);
	buf_init(&b, FUZZ_OUT_MAX);
	ra = dsn_build(&p, &a, &err_a);
	if (ra == 0) {
		if (err_a != NULL)
			abort();
		check_notice(&a);
		rb = dsn_build(&p, &b, &err_b);
		if (rb != 0 || a.len != b.len ||
		    memcmp(a.data, b.data, a.len) != 0)
			abort();
	} else {
		if (ra != -1 || err_a == NULL || *err_a == '\0' || a.len != 0)
			abort();
	}
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
