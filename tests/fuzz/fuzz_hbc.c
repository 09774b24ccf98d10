/* SPDX-License-Identifier: MIT */
/*
 * fuzz_hbc - the header and body checks scanner (src/common/hbc.c) on
 * arbitrary message text.
 *
 * Input: byte 0 picks the settings (bits 0-1: header_size_limit 102400 /
 * 1 / 16 / 100; bits 2-3: line_length_limit 2048 / 1 / 7 / 64; bit 4:
 * disable_mime_input_processing; bits 5-6: body_checks_size_limit 51200
 * / 0 / 10 / 200; bit 7: mime_nesting_limit 100 / 1), byte 1 seeds the
 * random split; the rest is the message.
 *
 * The lookup is a fixed function of the key: a key holding "=>" returns
 * what follows it as the action (any text at all); otherwise a key
 * holding one of REJ, DIS, IGN, PRE, REP, TMP, HLD, FLT, RDR, BCC, WRN,
 * INF, BAD returns that action (PREPEND and REPLACE with text made from
 * the key itself, so CR, LF and other bytes of the message reach the
 * output), else not found.
 *
 * abort() unless: fed whole, one byte at a time and in pseudo-random
 * pieces, the output bytes, the lookups (class, key) and the result are
 * the same; every key is 1..limit bytes, NUL-terminated (header classes:
 * at most header_size_limit; body: at most line_length_limit); the
 * result is consistent (REJECT text starts with 4 or 5, matches the
 * code, is printable ASCII; FAILED has a reason); and with a lookup
 * that never finds anything the output is exactly the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hbc.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fuzz_split {
	SPLIT_WHOLE,
	SPLIT_BYTES,
	SPLIT_RANDOM,
};

struct fuzz_run {
	const struct hbc_config *cfg;
	bool never;		/* the lookup finds nothing */
	struct buf out;
	struct buf lookups;
	struct buf result;
};

static void
put(struct buf *b, const void *p, size_t n)
{
	if (buf_append(b, p, n) < 0)
		abort();
}

static const struct {
	const char *tag;
	const char *action;	/* NULL: PREPEND/REPLACE from the key */
} actions[] = {
	{ "REJ", "REJECT fuzz says no" },
	{ "DIS", "DISCARD" },
	{ "IGN", "IGNORE" },
	{ "PRE", NULL },
	{ "REP", NULL },
	{ "HLD", "HOLD held" },
	{ "FLT", "FILTER smtp:[127.0.0.1]:10024" },
	{ "RDR", "REDIRECT r@example.net" },
	{ "BCC", "BCC b@example.net" },
	{ "WRN", "WARN w" },
	{ "INF", "INFO i" },
	{ "BAD", "FROB" },
};

static int
fuzz_lookup(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct fuzz_run *r = ctx;
	size_t limit = cls == HBC_BODY ? r->cfg->line_limit :
	    r->cfg->header_limit;
	const char *arrow;
	uint32_t len32 = (uint32_t)keylen;

	if (keylen == 0 || keylen > limit || key[keylen] != '\0' ||
	    (unsigned)cls >= HBC__NCLASS || value->len != 0)
		abort();
	put(&r->lookups, &cls, sizeof(cls));
	put(&r->lookups, &len32, sizeof(len32));
	put(&r->lookups, key, keylen);
	if (r->never)
		return HBC_NOTFOUND;
	arrow = memmem(key, keylen, "=>", 2);
	if (arrow != NULL) {
		size_t n = keylen - (size_t)(arrow + 2 - key);

		if (n == 0)
			return HBC_NOTFOUND;
		put(value, arrow + 2, n);
		return HBC_FOUND;
	}
	if (memmem(key, keylen, "TMP", 3) != NULL) {
		snprintf(err, errsz, "fuzz: temporary failure");
		return HBC_TEMPFAIL;
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (memmem(key, keylen, actions[i].tag, 3) == NULL)
			continue;
		if (actions[i].action != NULL) {
			put(value, actions[i].action,
			    strlen(actions[i].action));
		} else {
			put(value, i == 3 ? "PREPEND X-Pre: " :
			    "REPLACE X-Rep: ", 15);
			put(value, key, keylen < 40 ? keylen : 40);
		}
		return HBC_FOUND;
	}
	return HBC_NOTFOUND;
}

static void
fuzz_out(void *ctx, const char *data, size_t len)
{
	struct fuzz_run *r = ctx;

	if (len == 0)
		abort();
	put(&r->out, data, len);
}

static void
result_bytes(const struct hbc_result *res, struct buf *b)
{
	const char *strs[4] = { res->text, res->hold, res->filter,
	    res->redirect };

	put(b, &res->verdict, sizeof(res->verdict));
	put(b, &res->code, sizeof(res->code));
	for (int i = 0; i < 4; i++) {
		if (strs[i] != NULL)
			put(b, strs[i], strlen(strs[i]) + 1);
		else
			put(b, "-", 1);
	}
	for (size_t i = 0; i < res->nbccs; i++)
		put(b, res->bccs[i], strlen(res->bccs[i]) + 1);

	switch (res->verdict) {
	case HBC_REJECT:
		if (res->text == NULL || (res->text[0] != '4' &&
		    res->text[0] != '5') || res->code != (res->text[0] == '4' ?
		    451 : 550))
			abort();
		for (const char *p = res->text; *p != '\0'; p++)
			if ((unsigned char)*p < 32 || (unsigned char)*p >= 127)
				abort();
		break;
	case HBC_FAILED:
	case HBC_DISCARD:
		if (res->text == NULL)
			abort();
		break;
	case HBC_ACCEPT:
		if (res->text != NULL)
			abort();
		break;
	}
	if (res->nbccs > HBC_BCC_MAX)
		abort();
}

static void
fuzz_run(const char *in, size_t len, const struct hbc_config *cfg,
    bool never, enum fuzz_split split, uint64_t seed, struct fuzz_run *r)
{
	struct hbc_callbacks cb = { fuzz_lookup, fuzz_out, NULL, NULL, r };
	struct hbc *h;
	uint64_t x = seed | 1;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->never = never;
	buf_init(&r->out, (size_t)1 << 30);
	buf_init(&r->lookups, (size_t)1 << 30);
	buf_init(&r->result, 64 * 1024);
	h = hbc_new(cfg, &cb);
	while (off < len) {
		size_t n = len - off;

		if (split == SPLIT_BYTES) {
			n = 1;
		} else if (split == SPLIT_RANDOM) {
			size_t piece;

			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			piece = (size_t)((x * UINT64_C(2685821657736338717)) >>
			    59);
			if (piece < n)
				n = piece;
		}
		hbc_feed(h, in + off, n);
		off += n;
	}
	hbc_finish(h);
	result_bytes(hbc_result(h), &r->result);
	hbc_free(&h);
}

static bool
same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data,
	    a->len) == 0);
}

static void
fuzz_free(struct fuzz_run *r)
{
	buf_deinit(&r->out);
	buf_deinit(&r->lookups);
	buf_deinit(&r->result);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t header_limits[] = { 102400, 1, 16, 100 };
	static const size_t line_limits[] = { 2048, 1, 7, 64 };
	static const uint64_t body_limits[] = { 51200, 0, 10, 200 };
	struct hbc_config cfg;
	struct fuzz_run whole, bytes, random, never;
	uint64_t seed;
	const char *in;
	size_t len;

	if (size < 2)
		return 0;
	hbc_config_init(&cfg);
	cfg.header_limit = header_limits[data[0] & 3];
	cfg.line_limit = line_limits[(data[0] >> 2) & 3];
	cfg.disable_mime = (data[0] & 16) != 0;
	cfg.body_limit = body_limits[(data[0] >> 5) & 3];
	cfg.mime_depth = (data[0] & 128) != 0 ? 1 : 100;
	seed = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(data[1] | 256);
	in = (const char *)data + 2;
	len = size - 2;

	fuzz_run(in, len, &cfg, false, SPLIT_WHOLE, seed, &whole);
	fuzz_run(in, len, &cfg, false, SPLIT_BYTES, seed, &bytes);
	fuzz_run(in, len, &cfg, false, SPLIT_RANDOM, seed, &random);
	if (!same(&whole.out, &bytes.out) || !same(&whole.out, &random.out) ||
	    !same(&whole.lookups, &bytes.lookups) ||
	    !same(&whole.lookups, &random.lookups) ||
	    !same(&whole.result, &bytes.result) ||
	    !same(&whole.result, &random.result))
		abort();

	/* Nothing found: the text is passed on exactly. */
	fuzz_run(in, len, &cfg, true, SPLIT_RANDOM, seed, &never);
	if (never.out.len != len || (len > 0 && memcmp(never.out.data, in,
	    len) != 0))
		abort();

	fuzz_free(&whole);
	fuzz_free(&bytes);
	fuzz_free(&random);
	fuzz_free(&never);
	return 0;
}
