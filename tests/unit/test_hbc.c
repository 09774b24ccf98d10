/* SPDX-License-Identifier: MIT */
/*
 * test_hbc - header and body checks over the stored message text
 * (src/common/hbc.c): which text is looked up in which class (primary
 * headers, folded headers as one string, MIME headers of body parts,
 * headers of attached messages, body lines and their limits), every
 * action and what it does to the text and the result, and a failing
 * lookup.
 *
 * The tables are pcre tables given inline (dict_pattern_open_text) and
 * looked up the way smtpd does (dict_pattern_lookup on the bytes).
 * Every case runs fed whole, one byte at a time, and in pieces of 7 and
 * of 64 bytes: all must give the same output bytes, the same lookups
 * (class and key, in order), the same log events and warnings and the
 * same result.  In the recorded keys and events LF, CR and tab are
 * shown as a backslash and n, r, t.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dict.h"
#include "dict_pattern.h"
#include "dict_pcre.h"
#include "hbc.h"
#include "xalloc.h"

#define RUN_MAX_BYTES (4 * 1024 * 1024)

/* Tables of one case: pcre text per class (NULL: none), failing ones. */
struct tables {
	const char *text[HBC__NCLASS];
	bool fail[HBC__NCLASS];
	struct dict *d[HBC__NCLASS];
};

/* What one run saw. */
struct run {
	struct tables *t;
	struct buf out;
	struct buf lookups;	/* "H:key\n" per lookup, "\n" in keys as \n */
	struct buf events;	/* "action class content => text\n" */
	struct buf warns;	/* one line per warning */
	struct buf result;	/* the result, as text */
	size_t max_key[HBC__NCLASS];
};

static const char class_letter[HBC__NCLASS] = { 'H', 'M', 'N', 'B' };

static void
put_escaped(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			assert_int_equal(buf_append(b, "\\n", 2), 0);
		else if (s[i] == '\r')
			assert_int_equal(buf_append(b, "\\r", 2), 0);
		else if (s[i] == '\t')
			assert_int_equal(buf_append(b, "\\t", 2), 0);
		else
			assert_int_equal(buf_append_c(b, s[i]), 0);
	}
}

static int
t_lookup(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct run *r = ctx;
	enum dict_status st;

	assert_true(keylen > 0);
	assert_int_equal(key[keylen], '\0');
	if (keylen > r->max_key[cls])
		r->max_key[cls] = keylen;
	assert_int_equal(buf_append_c(&r->lookups, class_letter[cls]), 0);
	assert_int_equal(buf_append_c(&r->lookups, ':'), 0);
	put_escaped(&r->lookups, key, keylen);
	assert_int_equal(buf_append_c(&r->lookups, '\n'), 0);
	if (r->t->fail[cls]) {
		snprintf(err, errsz, "pcre:%s: matching gave up",
		    hbc_class_param(cls));
		return HBC_TEMPFAIL;
	}
	if (r->t->d[cls] == NULL)
		return HBC_NOTFOUND;
	st = dict_pattern_lookup(r->t->d[cls], NULL, key, keylen, value, err,
	    errsz);
	return st == DICT_FOUND ? HBC_FOUND : st == DICT_NOTFOUND ?
	    HBC_NOTFOUND : HBC_TEMPFAIL;
}

static void
t_out(void *ctx, const char *data, size_t len)
{
	struct run *r = ctx;

	assert_true(len > 0);
	assert_int_equal(buf_append(&r->out, data, len), 0);
}

static void
t_log(void *ctx, const struct hbc_event *ev)
{
	struct run *r = ctx;

	assert_int_equal(buf_appendf(&r->events, "%s %c ", ev->action,
	    class_letter[ev->cls]), 0);
	put_escaped(&r->events, ev->content, ev->content_len);
	assert_int_equal(buf_appendf(&r->events, " => %s\n", ev->text), 0);
}

static void
t_warn(void *ctx, enum hbc_class cls, const char *msg)
{
	struct run *r = ctx;

	(void)cls;
	assert_int_equal(buf_appendf(&r->warns, "%s\n", msg), 0);
}

static void
tables_open(struct tables *t)
{
	char err[DICT_ERR_MAX_BYTES];

	for (int c = 0; c < HBC__NCLASS; c++) {
		t->d[c] = NULL;
		if (t->text[c] == NULL)
			continue;
		t->d[c] = dict_pattern_open_text(&dict_type_pcre,
		    hbc_class_param((enum hbc_class)c), t->text[c],
		    strlen(t->text[c]), err, sizeof(err));
		if (t->d[c] == NULL)
			fail_msg("table %d: %s", c, err);
	}
}

static void
tables_close(struct tables *t)
{
	for (int c = 0; c < HBC__NCLASS; c++)
		dict_close(t->d[c]);
}

static void
result_text(const struct hbc_result *res, struct buf *b)
{
	static const char *const verdicts[] = { "accept", "reject", "discard",
	    "failed" };

	assert_int_equal(buf_appendf(b, "%s", verdicts[res->verdict]), 0);
	if (res->verdict == HBC_REJECT)
		assert_int_equal(buf_appendf(b, " %d", res->code), 0);
	if (res->text != NULL)
		assert_int_equal(buf_appendf(b, " text=[%s]", res->text), 0);
	if (res->hold != NULL)
		assert_int_equal(buf_appendf(b, " hold=[%s]", res->hold), 0);
	if (res->filter != NULL)
		assert_int_equal(buf_appendf(b, " filter=%s", res->filter), 0);
	if (res->redirect != NULL)
		assert_int_equal(buf_appendf(b, " redirect=%s", res->redirect),
		    0);
	for (size_t i = 0; i < res->nbccs; i++)
		assert_int_equal(buf_appendf(b, " bcc=%s", res->bccs[i]), 0);
}

/* One run: step 0 whole, else pieces of step bytes. */
static void
run_once(struct tables *t, const struct hbc_config *cfg, const char *in,
    size_t len, size_t step, struct run *r)
{
	struct hbc_callbacks cb = { t_lookup, t_out, t_log, t_warn, r };
	struct hbc *h;

	memset(r, 0, sizeof(*r));
	r->t = t;
	buf_init(&r->out, RUN_MAX_BYTES);
	buf_init(&r->lookups, RUN_MAX_BYTES);
	buf_init(&r->events, RUN_MAX_BYTES);
	buf_init(&r->warns, RUN_MAX_BYTES);
	buf_init(&r->result, RUN_MAX_BYTES);
	h = hbc_new(cfg, &cb);
	if (step == 0) {
		hbc_feed(h, in, len);
	} else {
		for (size_t off = 0; off < len; off += step)
			hbc_feed(h, in + off, len - off < step ? len - off :
			    step);
	}
	hbc_finish(h);
	hbc_finish(h);		/* idempotent */
	result_text(hbc_result(h), &r->result);
	hbc_free(&h);
	assert_null(h);
}

static void
run_free(struct run *r)
{
	buf_deinit(&r->out);
	buf_deinit(&r->lookups);
	buf_deinit(&r->events);
	buf_deinit(&r->warns);
	buf_deinit(&r->result);
}

static void
same_buf(const struct buf *a, const struct buf *b, const char *what)
{
	if (a->len != b->len || (a->len > 0 && memcmp(a->data, b->data,
	    a->len) != 0))
		fail_msg("%s differs between splits:\n%s\n----\n%s", what,
		    buf_cstr(a), buf_cstr(b));
}

/*
 * run_case - every split; returns the whole run (run_free it).  cfg NULL:
 * the defaults.
 */
static void
run_case(struct tables *t, const struct hbc_config *cfg, const char *in,
    struct run *whole)
{
	static const size_t steps[] = { 1, 7, 64 };
	struct hbc_config def;
	size_t len = strlen(in);

	if (cfg == NULL) {
		hbc_config_init(&def);
		cfg = &def;
	}
	tables_open(t);
	run_once(t, cfg, in, len, 0, whole);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct run other;

		run_once(t, cfg, in, len, steps[i], &other);
		same_buf(&whole->out, &other.out, "output");
		same_buf(&whole->lookups, &other.lookups, "lookups");
		same_buf(&whole->events, &other.events, "events");
		same_buf(&whole->warns, &other.warns, "warnings");
		same_buf(&whole->result, &other.result, "result");
		run_free(&other);
	}
	tables_close(t);
}

static void
expect(const struct buf *got, const char *want)
{
	if (strcmp(buf_cstr(got), want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", buf_cstr(got), want);
}

/* ---------------------------------------------------------------- */

static const char simple_msg[] =
    "Received: from x by y; date\r\n"
    "Subject: hello\r\n"
    "From: <a@example.org>\r\n"
    "\r\n"
    "body line one\r\n"
    "\r\n"
    "body line two\r\n";

/* No tables: the text passes unchanged; what is looked up where. */
static void
test_classes_plain(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	run_case(&t, NULL, simple_msg, &r);
	expect(&r.out, simple_msg);
	/* Empty lines are never looked up. */
	expect(&r.lookups,
	    "H:Received: from x by y; date\n"
	    "H:Subject: hello\n"
	    "H:From: <a@example.org>\n"
	    "B:body line one\n"
	    "B:body line two\n");
	expect(&r.result, "accept");
	expect(&r.events, "");
	run_free(&r);
}

/* Every action on a header. */
static void
test_header_actions(void **state)
{
	static const struct {
		const char *rule;
		const char *out;	/* the headers before From: */
		const char *result;
		const char *event;	/* "" none */
		const char *warn;
	} cases[] = {
		{ "/^Subject:/ DUNNO", "Subject: hello\r\n", "accept", "", "" },
		{ "/^Subject:/ OK", "Subject: hello\r\n", "accept", "", "" },
		{ "/^Subject:/ IGNORE", "", "accept", "", "" },
		{ "/^Subject:/ ignore whatever", "", "accept", "", "" },
		{ "/^Subject:/ PREPEND X-Seen: yes",
		  "X-Seen: yes\r\nSubject: hello\r\n", "accept",
		  "prepend H Subject: hello => X-Seen: yes\n", "" },
		{ "/^Subject: (.*)/ REPLACE Subject: [tag] $1",
		  "Subject: [tag] hello\r\n", "accept",
		  "replace H Subject: hello => Subject: [tag] hello\n", "" },
		{ "/^Subject:/ WARN look at this", "Subject: hello\r\n",
		  "accept", "warning H Subject: hello => look at this\n", "" },
		{ "/^Subject:/ INFO noted", "Subject: hello\r\n", "accept",
		  "info H Subject: hello => noted\n", "" },
		{ "/^Subject:/ HOLD quarantine", "Subject: hello\r\n",
		  "accept hold=[quarantine]",
		  "hold H Subject: hello => quarantine\n", "" },
		{ "/^Subject:/ HOLD", "Subject: hello\r\n", "accept hold=[]",
		  "hold H Subject: hello => \n", "" },
		{ "/^Subject:/ FILTER smtp-amavis:[127.0.0.1]:10024",
		  "Subject: hello\r\n",
		  "accept filter=smtp-amavis:[127.0.0.1]:10024",
		  "filter H Subject: hello => smtp-amavis:[127.0.0.1]:10024\n",
		  "" },
		{ "/^Subject:/ FILTER nocolon", "Subject: hello\r\n", "accept",
		  "", "header_checks: bad FILTER argument \"nocolon\": need "
		  "transport:destination\n" },
		{ "/^Subject:/ REDIRECT spam@example.net", "Subject: hello\r\n",
		  "accept redirect=spam@example.net",
		  "redirect H Subject: hello => spam@example.net\n", "" },
		{ "/^Subject:/ REDIRECT nobody", "Subject: hello\r\n", "accept",
		  "", "header_checks: bad REDIRECT address \"nobody\": need "
		  "user@domain\n" },
		{ "/^Subject:/ BCC copy@example.net", "Subject: hello\r\n",
		  "accept bcc=copy@example.net",
		  "bcc H Subject: hello => copy@example.net\n", "" },
		{ "/^Subject:/ BCC @example.net", "Subject: hello\r\n",
		  "accept", "", "header_checks: bad BCC address "
		  "\"@example.net\": need user@domain\n" },
		{ "/^Subject:/ PREPEND not a header", "Subject: hello\r\n",
		  "accept", "", "header_checks: PREPEND: bad header text "
		  "\"not a header\": need \"name: value\"\n" },
		{ "/^Subject:/ REPLACE", "Subject: hello\r\n", "accept", "",
		  "header_checks: REPLACE without text\n" },
		{ "/^Subject:/ FROB it", "Subject: hello\r\n", "accept", "",
		  "header_checks: unknown action \"FROB it\"\n" },
		{ "/^Subject:/ DISCARD go away", "Subject: hello\r\n",
		  "discard text=[go away]",
		  "discard H Subject: hello => go away\n", "" },
		{ "/^Subject:/ REJECT", "Subject: hello\r\n",
		  "reject 550 text=[5.7.1 Message content rejected]",
		  "reject H Subject: hello => 5.7.1 Message content "
		  "rejected\n", "" },
		{ "/^Subject:/ reject No thanks", "Subject: hello\r\n",
		  "reject 550 text=[5.7.1 No thanks]",
		  "reject H Subject: hello => 5.7.1 No thanks\n", "" },
		{ "/^Subject:/ REJECT 5.7.0 Policy", "Subject: hello\r\n",
		  "reject 550 text=[5.7.0 Policy]",
		  "reject H Subject: hello => 5.7.0 Policy\n", "" },
		{ "/^Subject:/ REJECT 4.7.1 Later", "Subject: hello\r\n",
		  "reject 451 text=[4.7.1 Later]",
		  "reject H Subject: hello => 4.7.1 Later\n", "" },
		{ "/^Subject:/ REJECT 2.0.0 Odd", "Subject: hello\r\n",
		  "reject 451 text=[4.0.0 Odd]",
		  "reject H Subject: hello => 4.0.0 Odd\n",
		  "header_checks: REJECT with a success status code "
		  "\"2.0.0 Odd\": made it 4.x.y\n" },
		{ "/^Subject:/ REJECT 5.7.1234 not a code",
		  "Subject: hello\r\n",
		  "reject 550 text=[5.7.1 5.7.1234 not a code]",
		  "reject H Subject: hello => 5.7.1 5.7.1234 not a code\n",
		  "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tables t;
		struct run r;
		char *rules = xasprintf("%s\n", cases[i].rule);
		char *want = xasprintf("Received: from x by y; date\r\n%s"
		    "From: <a@example.org>\r\n\r\nbody line one\r\n\r\n"
		    "body line two\r\n", cases[i].out);

		print_message("case %zu: %s\n", i, cases[i].rule);
		memset(&t, 0, sizeof(t));
		t.text[HBC_HEADER] = rules;
		run_case(&t, NULL, simple_msg, &r);
		expect(&r.out, want);
		expect(&r.result, cases[i].result);
		expect(&r.events, cases[i].event);
		expect(&r.warns, cases[i].warn);
		run_free(&r);
		free(rules);
		free(want);
	}
}

/* REJECT and DISCARD stop the checks: nothing more is looked up, the
 * text passes unchanged; the first one wins. */
static void
test_stop(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.text[HBC_HEADER] = "/^Subject:/ DISCARD\n/^From:/ REJECT\n";
	t.text[HBC_BODY] = "/one/ IGNORE\n";
	run_case(&t, NULL, simple_msg, &r);
	expect(&r.out, simple_msg);
	expect(&r.lookups, "H:Received: from x by y; date\nH:Subject: hello\n");
	expect(&r.result, "discard text=[]");
	run_free(&r);

	t.text[HBC_HEADER] = "/^Received:/ IGNORE\n";
	t.text[HBC_BODY] = "/one/ REJECT body says no\n/two/ DISCARD\n";
	run_case(&t, NULL, simple_msg, &r);
	/* The header before the REJECT was removed; the rest is as sent. */
	expect(&r.out, simple_msg + strlen("Received: from x by y; date\r\n"));
	expect(&r.lookups, "H:Received: from x by y; date\nH:Subject: hello\n"
	    "H:From: <a@example.org>\nB:body line one\n");
	expect(&r.result, "reject 550 text=[5.7.1 body says no]");
	expect(&r.events, "reject B body line one => 5.7.1 body says no\n");
	run_free(&r);
}

/* delivery_only (smtp_*_checks): the actions that would change the
 * delivery are refused with a warning and do nothing; the checks go on
 * and the text actions still work. */
static void
test_delivery_only(void **state)
{
	struct tables t;
	struct hbc_config cfg;
	struct run r;

	(void)state;
	hbc_config_init(&cfg);
	cfg.delivery_only = true;
	memset(&t, 0, sizeof(t));
	t.text[HBC_HEADER] = "/^Received:/ REJECT no\n/^Subject:/ HOLD\n"
	    "/^From:/ BCC x@example.org\n";
	t.text[HBC_BODY] = "/one/ DISCARD\n/two/ REPLACE body line 2\n";
	run_case(&t, &cfg, simple_msg, &r);
	expect(&r.out, "Received: from x by y; date\r\n"
	    "Subject: hello\r\n"
	    "From: <a@example.org>\r\n"
	    "\r\n"
	    "body line one\r\n"
	    "\r\n"
	    "body line 2\r\n");
	expect(&r.result, "accept");
	expect(&r.warns, "smtp_header_checks: action \"REJECT\" is not "
	    "available on delivery (only REPLACE, PREPEND, IGNORE, WARN, "
	    "INFO, DUNNO and OK); ignored\n"
	    "smtp_header_checks: action \"HOLD\" is not available on "
	    "delivery (only REPLACE, PREPEND, IGNORE, WARN, INFO, DUNNO and "
	    "OK); ignored\n"
	    "smtp_header_checks: action \"BCC\" is not available on "
	    "delivery (only REPLACE, PREPEND, IGNORE, WARN, INFO, DUNNO and "
	    "OK); ignored\n"
	    "smtp_body_checks: action \"DISCARD\" is not available on "
	    "delivery (only REPLACE, PREPEND, IGNORE, WARN, INFO, DUNNO and "
	    "OK); ignored\n");
	run_free(&r);
}

/* HOLD: the first counts; FILTER and REDIRECT: the last; BCC: all,
 * without duplicates. */
static void
test_message_actions_accumulate(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.text[HBC_HEADER] =
	    "/^Received:/ HOLD first\n"
	    "/^Subject:/ HOLD second\n"
	    "/^From:/ FILTER one:a\n";
	t.text[HBC_BODY] =
	    "/one/ FILTER two:[b]\n"
	    "/two/ REDIRECT r2@example.net\n"
	    "/body/ BCC b@example.net\n";
	run_case(&t, NULL,
	    "Received: x\r\nSubject: s\r\nFrom: f\r\nTo: b@example.net\r\n"
	    "\r\nbody one\r\nbody\r\nbody two\r\n", &r);
	expect(&r.result, "accept hold=[first] filter=two:[b] "
	    "redirect=r2@example.net bcc=b@example.net");
	run_free(&r);

	t.text[HBC_HEADER] = "/^To: (.*)/ BCC $1\n";
	t.text[HBC_BODY] = NULL;
	run_case(&t, NULL, "To: a@x\r\nTo: b@x\r\nTo: a@x\r\n\r\n", &r);
	expect(&r.result, "accept bcc=a@x bcc=b@x");
	run_free(&r);
}

static const char folded_msg[] =
    "Subject: first part\r\n"
    "\tsecond part\r\n"
    "  third part\r\n"
    "X-Other: o\r\n"
    "\r\n"
    "b\r\n";

/* A folded header is one key, its lines joined with "\n". */
static void
test_folded(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, folded_msg);
	expect(&r.lookups, "H:Subject: first part\\n\\tsecond part\\n  third "
	    "part\nH:X-Other: o\nB:b\n");
	run_free(&r);

	/* pcre's "." matches the "\n" (s flag on by default)... */
	t.text[HBC_HEADER] = "/^Subject: first.*third/ IGNORE\n";
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, "X-Other: o\r\n\r\nb\r\n");
	run_free(&r);

	/* ... "$" is the end of the whole header without m... */
	t.text[HBC_HEADER] = "/second part$/ IGNORE\n";
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, folded_msg);
	run_free(&r);
	/* ... and of each line with it. */
	t.text[HBC_HEADER] = "/second part$/m IGNORE\n";
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, "X-Other: o\r\n\r\nb\r\n");
	run_free(&r);

	/* REPLACE and PREPEND stand for the whole folded header; a "\n"
	 * a substitution brings in becomes CRLF and stays a continuation
	 * (a tab is added where the next line would not start with
	 * white space). */
	t.text[HBC_HEADER] = "/^Subject: (.*)/ REPLACE Subject: [x] $1\n";
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, "Subject: [x] first part\r\n\tsecond part\r\n  third "
	    "part\r\nX-Other: o\r\n\r\nb\r\n");
	run_free(&r);
	t.text[HBC_HEADER] = "/^Subject: (.*)/ PREPEND X-Old-Subject: $1\n";
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, "X-Old-Subject: first part\r\n\tsecond part\r\n  "
	    "third part\r\n" "Subject: first part\r\n\tsecond part\r\n  "
	    "third part\r\nX-Other: o\r\n\r\nb\r\n");
	run_free(&r);
	/* Only the first line of it. */
	t.text[HBC_HEADER] = "/^Subject: ([^\\n]*)\\n\\s+([^\\n]*)/ "
	    "REPLACE Subject: $1\n";
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, "Subject: first part\r\nX-Other: o\r\n\r\nb\r\n");
	run_free(&r);
}

/* The literal "\n" of pcre substitution text can only come from the
 * header; check that such text never starts a new header. */
static void
test_no_header_injection(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	/* $2 is "second part" without its leading white space. */
	t.text[HBC_HEADER] = "/^Subject: ([^\\n]*)(\\n)\\s+([^\\n]*)/ "
	    "REPLACE Subject: $1$2$3\n";
	run_case(&t, NULL, folded_msg, &r);
	expect(&r.out, "Subject: first part\r\n\tsecond part\r\nX-Other: "
	    "o\r\n\r\nb\r\n");
	run_free(&r);
}

static const char multipart_msg[] =
    "Subject: m\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed;\r\n"
    "\tboundary=\"=_outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--=_outer\r\n"
    "Content-Type: text/plain\r\n"
    "X-Part: one\r\n"
    "\r\n"
    "text of part one\r\n"
    "--=_outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>html</p>\r\n"
    "--inner--\r\n"
    "after inner\r\n"
    "--=_outer\r\n"
    "Content-Type: application/octet-stream; name=\"evil.exe\"\r\n"
    "Content-Disposition: attachment;\r\n"
    " filename=\"evil.exe\"\r\n"
    "\r\n"
    "TVqQAAMAAAAEAAAA\r\n"
    "--=_outer--\r\n"
    "epilogue\r\n";

/* MIME headers anywhere and every header of a body part go to
 * mime_header_checks; boundaries and part text to body_checks. */
static void
test_multipart(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	run_case(&t, NULL, multipart_msg, &r);
	expect(&r.out, multipart_msg);
	expect(&r.lookups,
	    "H:Subject: m\n"
	    "M:MIME-Version: 1.0\n"
	    "M:Content-Type: multipart/mixed;\\n\\tboundary=\"=_outer\"\n"
	    "B:preamble\n"
	    "B:--=_outer\n"
	    "M:Content-Type: text/plain\n"
	    "M:X-Part: one\n"
	    "B:text of part one\n"
	    "B:--=_outer\n"
	    "M:Content-Type: multipart/alternative; boundary=inner\n"
	    "B:--inner\n"
	    "M:Content-Type: text/html\n"
	    "B:<p>html</p>\n"
	    "B:--inner--\n"
	    "B:after inner\n"
	    "B:--=_outer\n"
	    "M:Content-Type: application/octet-stream; name=\"evil.exe\"\n"
	    "M:Content-Disposition: attachment;\\n filename=\"evil.exe\"\n"
	    "B:TVqQAAMAAAAEAAAA\n"
	    "B:--=_outer--\n"
	    "B:epilogue\n");
	run_free(&r);

	/* The classic attachment-name rule (header_checks(5) EXAMPLES). */
	t.text[HBC_MIME] = "/^Content-(Disposition|Type).*name\\s*=\\s*\"?"
	    "(.*\\.(exe|vbs))\"?/ REJECT Attachment \"$2\" not allowed\n";
	run_case(&t, NULL, multipart_msg, &r);
	expect(&r.result, "reject 550 text=[5.7.1 Attachment \"evil.exe\" not "
	    "allowed]");
	run_free(&r);

	/* IGNORE on a part's header removes it from the part only. */
	t.text[HBC_MIME] = "/^X-Part:/ IGNORE\n";
	t.text[HBC_HEADER] = "/^X-Part:/ REJECT wrong class\n";
	run_case(&t, NULL, multipart_msg, &r);
	{
		const char *cut = strstr(multipart_msg, "X-Part: one\r\n");
		char *want = xasprintf("%.*s%s", (int)(cut - multipart_msg),
		    multipart_msg, cut + strlen("X-Part: one\r\n"));

		expect(&r.out, want);
		free(want);
	}
	expect(&r.result, "accept");
	run_free(&r);
}

static const char nested_msg[] =
    "Subject: fwd\r\n"
    "Content-Type: multipart/mixed; boundary=b1\r\n"
    "\r\n"
    "--b1\r\n"
    "\r\n"
    "see attached\r\n"
    "--b1\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner subject\r\n"
    "From: x@example.org\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "inner body\r\n"
    "--b1--\r\n";

/* The headers of an attached message go to nested_header_checks (its
 * MIME headers to mime_header_checks). */
static void
test_nested(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	run_case(&t, NULL, nested_msg, &r);
	expect(&r.out, nested_msg);
	expect(&r.lookups,
	    "H:Subject: fwd\n"
	    "M:Content-Type: multipart/mixed; boundary=b1\n"
	    "B:--b1\n"
	    "B:see attached\n"
	    "B:--b1\n"
	    "M:Content-Type: message/rfc822\n"
	    "N:Subject: inner subject\n"
	    "N:From: x@example.org\n"
	    "M:Content-Type: text/plain\n"
	    "B:inner body\n"
	    "B:--b1--\n");
	run_free(&r);

	t.text[HBC_NESTED] = "/^Subject: inner/ REPLACE Subject: [fwd] "
	    "inner\n";
	t.text[HBC_HEADER] = "/^Subject: inner/ REJECT wrong class\n";
	run_case(&t, NULL, nested_msg, &r);
	expect(&r.result, "accept");
	assert_non_null(strstr(buf_cstr(&r.out),
	    "\r\n\r\nSubject: [fwd] inner\r\nFrom: x@example.org\r\n"));
	run_free(&r);

	/* A top-level message/rfc822 body, and a digest's default type. */
	run_case(&t, NULL, "Content-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\n\r\nx\r\n", &r);
	expect(&r.lookups, "M:Content-Type: message/rfc822\n"
	    "N:Subject: inner\nB:x\n");
	run_free(&r);
	t.text[HBC_NESTED] = NULL;
	run_case(&t, NULL, "Content-Type: multipart/digest; boundary=d\r\n"
	    "\r\n--d\r\n\r\nSubject: digested\r\n\r\ny\r\n--d--\r\n", &r);
	expect(&r.lookups, "M:Content-Type: multipart/digest; boundary=d\n"
	    "B:--d\nN:Subject: digested\nB:y\nB:--d--\n");
	run_free(&r);
}

/* Boundaries: trailing text allowed, only at a line start, a closing
 * boundary closes the parts inside it, unknown boundaries are text,
 * a header block that ends with a text line. */
static void
test_boundaries(void **state)
{
	struct tables t;
	struct run r;
	struct hbc_config cfg;

	(void)state;
	memset(&t, 0, sizeof(t));
	run_case(&t, NULL,
	    "Content-Type: multipart/mixed; boundary=\"a b\" (comment)\r\n"
	    "\r\n"
	    "--a b  trailing junk\r\n"
	    "Content-Type: multipart/mixed; boundary=in\r\n"
	    "\r\n"
	    "--in\r\n"
	    "X-In: 1\r\n"
	    "--a b--\r\n"
	    "--in\r\n"
	    "X-After: 2\r\n", &r);
	expect(&r.lookups,
	    "M:Content-Type: multipart/mixed; boundary=\"a b\" (comment)\n"
	    "B:--a b  trailing junk\n"
	    "M:Content-Type: multipart/mixed; boundary=in\n"
	    "B:--in\n"
	    "M:X-In: 1\n"
	    "B:--a b--\n"
	    "B:--in\n"
	    "B:X-After: 2\n");
	run_free(&r);

	/* A block that ends without an empty line: the line is body. */
	run_case(&t, NULL, "Subject: s\r\nnot a header\r\nX-Y: z\r\n", &r);
	expect(&r.lookups, "H:Subject: s\nB:not a header\nB:X-Y: z\n");
	run_free(&r);
	/* A continuation line first: body. */
	run_case(&t, NULL, " cont\r\nSubject: s\r\n", &r);
	expect(&r.lookups, "B: cont\nB:Subject: s\n");
	run_free(&r);
	/* "Name :" is a header too. */
	run_case(&t, NULL, "Subject : s\r\n\r\n", &r);
	expect(&r.lookups, "H:Subject : s\n");
	run_free(&r);

	/* mime_nesting_limit: deeper boundaries are text. */
	hbc_config_init(&cfg);
	cfg.mime_depth = 1;
	run_case(&t, &cfg,
	    "Content-Type: multipart/mixed; boundary=a\r\n\r\n"
	    "--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nX: 1\r\n", &r);
	expect(&r.lookups, "M:Content-Type: multipart/mixed; boundary=a\n"
	    "B:--a\nM:Content-Type: multipart/mixed; boundary=b\n"
	    "B:--b\nB:X: 1\n");
	run_free(&r);

	/* disable_mime_input_processing: header_checks for every primary
	 * header, body_checks for everything after. */
	hbc_config_init(&cfg);
	cfg.disable_mime = true;
	run_case(&t, &cfg, nested_msg, &r);
	expect(&r.lookups,
	    "H:Subject: fwd\n"
	    "H:Content-Type: multipart/mixed; boundary=b1\n"
	    "B:--b1\nB:see attached\nB:--b1\nB:Content-Type: message/rfc822\n"
	    "B:Subject: inner subject\nB:From: x@example.org\n"
	    "B:Content-Type: text/plain\nB:inner body\nB:--b1--\n");
	run_free(&r);
}

/* Body actions: IGNORE, PREPEND, REPLACE keep the line structure. */
static void
test_body_actions(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.text[HBC_BODY] =
	    "/^drop me$/ IGNORE\n"
	    "/^mark me$/ PREPEND > marked:\n"
	    "/^swap (\\w+)$/ REPLACE swapped $1\n"
	    "/^warn me$/ WARN body warning\n";
	run_case(&t, NULL, "S: s\r\n\r\nkeep\r\ndrop me\r\nmark me\r\n"
	    "swap this\r\nwarn me\r\nswap last", &r);
	expect(&r.out, "S: s\r\n\r\nkeep\r\n> marked:\r\nmark me\r\n"
	    "swapped this\r\nwarn me\r\nswapped last");
	expect(&r.events, "prepend B mark me => > marked:\n"
	    "replace B swap this => swapped this\n"
	    "warning B warn me => body warning\n"
	    "replace B swap last => swapped last\n");
	run_free(&r);
}

/* Long body lines are looked up in pieces of line_length_limit bytes;
 * a boundary is seen only at a line start; bare LF ends a line. */
static void
test_long_lines(void **state)
{
	struct tables t;
	struct run r;
	struct hbc_config cfg;

	(void)state;
	memset(&t, 0, sizeof(t));
	hbc_config_init(&cfg);
	cfg.line_limit = 10;
	run_case(&t, &cfg,
	    "\r\n"
	    "0123456789abcdefghij--b\r\n"
	    "0123456789\r\n"
	    "012345678\r\r\n"
	    "x\ny\r\n", &r);
	expect(&r.lookups, "B:0123456789\nB:abcdefghij\nB:--b\n"
	    "B:0123456789\n"
	    "B:012345678\\r\n"
	    "B:x\nB:y\n");
	run_free(&r);

	/* "--b" after a piece is not at a line start: no part begins. */
	cfg.line_limit = 50;
	{
		char *msg = xasprintf("Content-Type: multipart/mixed; "
		    "boundary=b\r\n\r\n%s--b\r\n%s\r\n--b\r\nX: 1\r\n",
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		    "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");

		run_case(&t, &cfg, msg, &r);
		expect(&r.lookups, "M:Content-Type: multipart/mixed; "
		    "boundary=b\n"
		    "B:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
		    "B:--b\n"
		    "B:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n"
		    "B:--b\nM:X: 1\n");
		expect(&r.out, msg);
		run_free(&r);
		free(msg);
	}
	cfg.line_limit = 10;

	/* A piece that ends in the middle of the line can be IGNOREd. */
	t.text[HBC_BODY] = "/^abc/ IGNORE\n";
	run_case(&t, &cfg, "\r\n0123456789abcdefghijKLM\r\n", &r);
	expect(&r.out, "\r\n0123456789KLM\r\n");
	run_free(&r);
}

/* body_checks_size_limit: per body segment; boundaries always. */
static void
test_body_limit(void **state)
{
	struct tables t;
	struct run r;
	struct hbc_config cfg;

	(void)state;
	memset(&t, 0, sizeof(t));
	hbc_config_init(&cfg);
	cfg.body_limit = 12;
	run_case(&t, &cfg,
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "line one\r\nline two\r\nline three\r\n"
	    "--b\r\n\r\n"
	    "part one\r\npart two\r\npart three\r\n"
	    "--b--\r\n"
	    "epi one\r\nepi two\r\n", &r);
	expect(&r.lookups,
	    "M:Content-Type: multipart/mixed; boundary=b\n"
	    "B:line one\nB:line two\n"
	    "B:--b\n"
	    "B:part one\nB:part two\n"
	    "B:--b--\n"
	    "B:epi one\nB:epi two\n");
	run_free(&r);
}

/* header_size_limit: the key is cut, the text is not; the action
 * applies to the whole header. */
static void
test_header_limit(void **state)
{
	static const char msg[] =
	    "Subject: 0123456789\r\n"
	    "\tabcdefghij\r\n"
	    "\tKLMNOPQRST\r\n"
	    "X: y\r\n"
	    "\r\n";
	struct tables t;
	struct run r;
	struct hbc_config cfg;

	(void)state;
	memset(&t, 0, sizeof(t));
	hbc_config_init(&cfg);
	cfg.header_limit = 24;
	run_case(&t, &cfg, msg, &r);
	expect(&r.out, msg);
	expect(&r.lookups, "H:Subject: 0123456789\\n\\tabc\nH:X: y\n");
	assert_int_equal(r.max_key[HBC_HEADER], 24);
	run_free(&r);

	t.text[HBC_HEADER] = "/^Subject:/ IGNORE\n";
	run_case(&t, &cfg, msg, &r);
	expect(&r.out, "X: y\r\n\r\n");
	run_free(&r);
	t.text[HBC_HEADER] = "/^Subject:/ REPLACE Subject: cut\n";
	run_case(&t, &cfg, msg, &r);
	expect(&r.out, "Subject: cut\r\nX: y\r\n\r\n");
	run_free(&r);
	t.text[HBC_HEADER] = "/^Subject:/ PREPEND X-Long: yes\n";
	run_case(&t, &cfg, msg, &r);
	expect(&r.out, "X-Long: yes\r\nSubject: 0123456789\r\n\tabcdefghij\r\n"
	    "\tKLMNOPQRST\r\nX: y\r\n\r\n");
	run_free(&r);

	/* A single line longer than the limit (and than line_limit). */
	cfg.header_limit = 8;
	cfg.line_limit = 12;
	t.text[HBC_HEADER] = "/^Subject/ IGNORE\n";
	run_case(&t, &cfg, "Subject: 0123456789\r\n\tmore\r\nX: 1\r\n\r\n", &r);
	expect(&r.out, "X: 1\r\n\r\n");
	expect(&r.lookups, "H:Subject:\nH:X: 1\n");
	run_free(&r);
}

/* A failing lookup: the message fails (temporarily), nothing more is
 * looked up, the text passes on. */
static void
test_lookup_failure(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.fail[HBC_BODY] = true;
	t.text[HBC_HEADER] = "/^Subject/ IGNORE\n";
	run_case(&t, NULL, simple_msg, &r);
	expect(&r.result, "failed text=[pcre:body_checks: matching gave up]");
	expect(&r.lookups, "H:Received: from x by y; date\nH:Subject: hello\n"
	    "H:From: <a@example.org>\nB:body line one\n");
	expect(&r.out, "Received: from x by y; date\r\nFrom: "
	    "<a@example.org>\r\n\r\nbody line one\r\n\r\nbody line two\r\n");
	run_free(&r);

	/* A table's own failure (a result that is empty after $N). */
	memset(&t, 0, sizeof(t));
	t.text[HBC_HEADER] = "/^Subject: *()/ $1\n";
	run_case(&t, NULL, simple_msg, &r);
	assert_non_null(strstr(buf_cstr(&r.result), "failed text=["));
	run_free(&r);
}

/* The message ends without a line end, in headers or in the body. */
static void
test_unterminated(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.text[HBC_HEADER] = "/^Subject/ REPLACE Subject: new\n";
	run_case(&t, NULL, "From: a\r\nSubject: old", &r);
	expect(&r.out, "From: a\r\nSubject: new\r\n");
	run_free(&r);
	run_case(&t, NULL, "", &r);
	expect(&r.out, "");
	expect(&r.lookups, "");
	run_free(&r);
	run_case(&t, NULL, "\r\nlast", &r);
	expect(&r.lookups, "B:last\n");
	expect(&r.out, "\r\nlast");
	run_free(&r);
}

/* Non-UTF-8 and NUL bytes reach the lookup as they are. */
static void
test_bytes(void **state)
{
	static const char msg[] = "Subject: caf\xe9\r\n\r\nna\xefve\r\n";
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.text[HBC_HEADER] = "/caf\\xe9/ REJECT latin-1\n";
	run_case(&t, NULL, msg, &r);
	expect(&r.result, "reject 550 text=[5.7.1 latin-1]");
	run_free(&r);

	/* REJECT text is one line of printable ASCII. */
	t.text[HBC_HEADER] = "/^Subject: (.*)/ REJECT bad $1\n";
	run_case(&t, NULL, "Subject: a\r\n\tb\xc3\xa9\r\n\r\n", &r);
	expect(&r.result, "reject 550 text=[5.7.1 bad a  b??]");
	run_free(&r);
}

/* Content-Type parsing corner cases, hbc_header_name_len. */
static void
test_parsing(void **state)
{
	struct tables t;
	struct run r;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(hbc_header_name_len("Subject: x", 10), 7);
	assert_int_equal(hbc_header_name_len("Subject \t: x", 12), 7);
	assert_int_equal(hbc_header_name_len(": x", 3), 0);
	assert_int_equal(hbc_header_name_len("Sub ject: x", 11), 0);
	assert_int_equal(hbc_header_name_len("Subject", 7), 0);
	assert_int_equal(hbc_header_name_len("S\xe9: x", 5), 0);

	/* Case, comments, quoted pairs, a second boundary parameter. */
	run_case(&t, NULL,
	    "content-TYPE: (c) MultiPart (x) / Mixed ; charset=x;\r\n"
	    " BOUNDARY = \"q\\\"x\" ; boundary=second\r\n\r\n"
	    "--second\r\nX-S: 1\r\n\r\nA\r\n--q\"x\r\nX-Q: 2\r\n", &r);
	expect(&r.lookups,
	    "M:content-TYPE: (c) MultiPart (x) / Mixed ; charset=x;\\n "
	    "BOUNDARY = \"q\\\"x\" ; boundary=second\n"
	    "B:--second\nM:X-S: 1\nB:A\nB:--q\"x\nM:X-Q: 2\n");
	run_free(&r);
	/* Not multipart: no boundary. */
	run_case(&t, NULL, "Content-Type: text/plain; boundary=z\r\n\r\n"
	    "--z\r\nX: 1\r\n", &r);
	expect(&r.lookups, "M:Content-Type: text/plain; boundary=z\nB:--z\n"
	    "B:X: 1\n");
	run_free(&r);
	/* Unterminated comment and quote. */
	run_case(&t, NULL, "Content-Type: multipart/x; boundary=\"abc\r\n\r\n"
	    "--abc\r\nY: 1\r\n", &r);
	expect(&r.lookups, "M:Content-Type: multipart/x; boundary=\"abc\n"
	    "B:--abc\nM:Y: 1\n");
	run_free(&r);
	run_case(&t, NULL, "Content-Type: multipart/x (; boundary=abc\r\n\r\n"
	    "--abc\r\n", &r);
	expect(&r.lookups, "M:Content-Type: multipart/x (; boundary=abc\n"
	    "B:--abc\n");
	run_free(&r);
}

/* BCCs are capped. */
static void
test_bcc_cap(void **state)
{
	struct tables t;
	struct run r;
	struct buf msg;

	(void)state;
	memset(&t, 0, sizeof(t));
	buf_init(&msg, RUN_MAX_BYTES);
	assert_int_equal(buf_append_str(&msg, "\r\n"), 0);
	for (int i = 0; i < HBC_BCC_MAX + 5; i++)
		assert_int_equal(buf_appendf(&msg, "u%d@example.net\r\n",
		    i), 0);
	t.text[HBC_BODY] = "/^(.*)$/ BCC $1\n";
	run_case(&t, NULL, buf_cstr(&msg), &r);
	assert_non_null(strstr(buf_cstr(&r.result), "bcc=u99@example.net"));
	assert_null(strstr(buf_cstr(&r.result), "bcc=u100@example.net"));
	assert_non_null(strstr(buf_cstr(&r.warns), "BCC u100@example.net: "
	    "more than 100 BCC addresses: dropped"));
	run_free(&r);
	buf_deinit(&msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes_plain),
		cmocka_unit_test(test_header_actions),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_message_actions_accumulate),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_no_header_injection),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_body_actions),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_lookup_failure),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_parsing),
		cmocka_unit_test(test_bcc_cap),
		cmocka_unit_test(test_delivery_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
