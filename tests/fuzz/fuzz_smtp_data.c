/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_data - the DATA / BDAT reader (src/smtpd/smtp_data.c) on
 * arbitrary streams.
 *
 * Input: the first byte picks the reader settings (bit 0: bare LF
 * reject, bit 1: binary, bits 2-3: max_size 0 / 1 / 37 / 1000, bits 4-7:
 * seed of the random split); the rest is the stream after "354" (DATA
 * mode) or the concatenated BDAT chunks.
 *
 * Both modes are run fed whole, one byte at a time and in pseudo-random
 * pieces; abort() unless every way gives the same output, consumed
 * count, status and problems, and unless those equal what a separate,
 * simple, non-incremental model of the rules (with lookahead instead of
 * held state) gives.  Also checked: size equals the bytes passed on; the
 * output never has an LF without a CR before it (except binary BDAT,
 * which passes bytes unchanged); DATA mode ends exactly at the first
 * CRLF "." CRLF, or after ".\r\n" at the very start, and consumes
 * nothing after it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtp_data.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fuzz_split {
	SPLIT_WHOLE,
	SPLIT_BYTES,
	SPLIT_RANDOM,
};

struct fuzz_result {
	struct buf out;
	size_t consumed;
	unsigned problems;
	bool end;
	uint64_t size;
};

static void
fuzz_collect(void *ctx, const char *data, size_t len)
{
	struct fuzz_result *res = ctx;

	if (len == 0 || buf_append(&res->out, data, len) < 0)
		abort();
}

static void
fuzz_run(const char *in, size_t len, bool bdat, enum smtp_bare_lf bare_lf,
    bool binary, uint64_t max_size, enum fuzz_split split, uint64_t seed,
    struct fuzz_result *res)
{
	struct smtp_data_reader r;
	uint64_t x = seed | 1;
	size_t off = 0;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, 2 * len + 16);
	smtp_data_reader_init(&r, max_size, bare_lf);
	r.binary = binary;
	while (off < len) {
		size_t n = len - off;

		if (split == SPLIT_BYTES) {
			n = 1;
		} else if (split == SPLIT_RANDOM) {
			size_t piece;

			/* xorshift64*: pieces of 0..15 bytes. */
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			piece = (size_t)((x * UINT64_C(2685821657736338717)) >>
			    60);
			if (piece < n)
				n = piece;
		}
		if (bdat) {
			smtp_data_read_chunk(&r, in + off, n, fuzz_collect,
			    res);
		} else {
			size_t consumed = SIZE_MAX;
			enum smtp_data_status st = smtp_data_read(&r, in + off,
			    n, &consumed, fuzz_collect, res);

			if (consumed > n)
				abort();
			res->consumed += consumed;
			if (st == SMTP_DATA_END) {
				res->end = true;
				break;
			}
			if (consumed != n)
				abort();
		}
		off += n;
	}
	if (bdat) {
		smtp_data_chunk_end(&r, fuzz_collect, res);
		res->consumed = len;
	}
	res->problems = r.problems;
	res->size = r.size;
}

/*
 * The model: the message as it would be stored, ignoring limits, up to
 * the first lone LF under "reject" (bare_lf_r set) or the end of what
 * can be decided from the input.
 */
static void
model_put(struct buf *b, const char *s, size_t n)
{
	if (buf_append(b, s, n) < 0)
		abort();
}

static void
model_data(const char *in, size_t n, bool reject, struct buf *b,
    bool *bare_lf_r)
{
	enum { BOL_NONE, BOL_REAL, BOL_SOFT } bol = BOL_REAL;
	size_t i = 0;

	*bare_lf_r = false;
	while (i < n) {
		if (bol != BOL_NONE && in[i] == '.') {
			if (i + 1 >= n)
				return;
			if (in[i + 1] == '\r') {
				if (i + 2 >= n)
					return;
				if (in[i + 2] == '\n') {
					if (bol == BOL_REAL)
						return; /* the end */
					model_put(b, ".\r\n", 3);
					i += 3;
					bol = BOL_REAL;
					continue;
				}
			} else if (in[i + 1] == '\n') {
				if (reject) {
					*bare_lf_r = true;
					return;
				}
				model_put(b, ".\r\n", 3);
				i += 2;
				bol = BOL_SOFT;
				continue;
			}
			i++;		/* transparency dot */
			bol = BOL_NONE;
			continue;
		}
		if (in[i] == '\r') {
			if (i + 1 >= n)
				return;
			if (in[i + 1] == '\n') {
				model_put(b, "\r\n", 2);
				i += 2;
				bol = BOL_REAL;
				continue;
			}
			model_put(b, "\r", 1);
			i++;
			bol = BOL_NONE;
			continue;
		}
		if (in[i] == '\n') {
			if (reject) {
				*bare_lf_r = true;
				return;
			}
			model_put(b, "\r\n", 2);
			i++;
			bol = BOL_SOFT;
			continue;
		}
		model_put(b, in + i, 1);
		i++;
		bol = BOL_NONE;
	}
}

static void
model_bdat(const char *in, size_t n, bool reject, bool binary,
    struct buf *b, bool *bare_lf_r)
{
	*bare_lf_r = false;
	if (binary) {
		model_put(b, in, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n') {
			model_put(b, "\r\n", 2);
			i++;
		} else if (in[i] == '\n') {
			if (reject) {
				*bare_lf_r = true;
				return;
			}
			model_put(b, "\r\n", 2);
		} else {
			model_put(b, in + i, 1);
		}
	}
}

/* model_limits - cut the stored text at its first octet over a limit. */
static void
model_limits(const struct buf *b, bool bare_lf, bool binary,
    uint64_t max_size, size_t *out_len_r, unsigned *problems_r)
{
	size_t line_len = 0;

	for (size_t k = 0; k < b->len; k++) {
		unsigned char o = (unsigned char)b->data[k];
		unsigned p = 0;

		if (!binary && o == '\0')
			p |= SMTP_DATA_NUL;
		if (!binary && line_len >= SMTP_TEXT_LINE_MAX_BYTES)
			p |= SMTP_DATA_LINE_TOO_LONG;
		if (max_size != 0 && k >= max_size)
			p |= SMTP_DATA_TOO_BIG;
		if (p != 0) {
			*out_len_r = k;
			*problems_r = p;
			return;
		}
		line_len = o == '\n' ? 0 : line_len + 1;
	}
	*out_len_r = b->len;
	*problems_r = bare_lf ? SMTP_DATA_BARE_LF : 0;
}

static bool
fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	return a->out.len == b->out.len && (a->out.len == 0 ||
	    memcmp(a->out.data, b->out.data, a->out.len) == 0) &&
	    a->consumed == b->consumed && a->problems == b->problems &&
	    a->end == b->end && a->size == b->size;
}

static void
fuzz_mode(const char *in, size_t len, bool bdat, enum smtp_bare_lf bare_lf,
    bool binary, uint64_t max_size, uint64_t seed)
{
	struct fuzz_result whole, bytes, random;
	struct buf model;
	bool model_bare_lf = false;
	size_t model_len = 0;
	unsigned model_problems = 0;
	bool reject = bare_lf == SMTP_BARE_LF_REJECT;

	fuzz_run(in, len, bdat, bare_lf, binary, max_size, SPLIT_WHOLE, seed,
	    &whole);
	fuzz_run(in, len, bdat, bare_lf, binary, max_size, SPLIT_BYTES, seed,
	    &bytes);
	fuzz_run(in, len, bdat, bare_lf, binary, max_size, SPLIT_RANDOM, seed,
	    &random);
	if (!fuzz_same(&whole, &bytes) || !fuzz_same(&whole, &random))
		abort();

	/* size is what was passed on. */
	if (whole.size != whole.out.len)
		abort();
	/* Every stored LF ends a CRLF, except binary BDAT (unchanged). */
	if (!(bdat && binary)) {
		for (size_t i = 0; i < whole.out.len; i++)
			if (whole.out.data[i] == '\n' &&
			    (i == 0 || whole.out.data[i - 1] != '\r'))
				abort();
	}
	/* DATA ends at the first CRLF "." CRLF (or ".\r\n" at the start). */
	if (!bdat) {
		const char *m = memmem(in, len, "\r\n.\r\n", 5);
		size_t want = 0;

		if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
			want = 3;
		else if (m != NULL)
			want = (size_t)(m - in) + 5;
		if (whole.end != (want != 0))
			abort();
		if (whole.consumed != (want != 0 ? want : len))
			abort();
		if (whole.end && !(memcmp(in + whole.consumed - 3, ".\r\n",
		    3) == 0 && (whole.consumed == 3 ||
		    memcmp(in + whole.consumed - 5, "\r\n", 2) == 0)))
			abort();
	} else if (whole.end || whole.consumed != len) {
		abort();
	}

	/* The model. */
	buf_init(&model, 2 * len + 16);
	if (bdat)
		model_bdat(in, len, reject, binary, &model, &model_bare_lf);
	else
		model_data(in, whole.consumed, reject, &model,
		    &model_bare_lf);
	model_limits(&model, model_bare_lf, binary, max_size, &model_len,
	    &model_problems);
	if (whole.problems != model_problems || whole.out.len != model_len ||
	    (model_len > 0 && memcmp(whole.out.data, model.data,
	    model_len) != 0))
		abort();

	buf_deinit(&model);
	buf_deinit(&whole.out);
	buf_deinit(&bytes.out);
	buf_deinit(&random.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t max_sizes[] = { 0, 1, 37, 1000 };
	enum smtp_bare_lf bare_lf;
	bool binary;
	uint64_t max_size, seed;
	const char *in;
	size_t len;

	if (size == 0)
		return 0;
	bare_lf = (data[0] & 1) != 0 ? SMTP_BARE_LF_REJECT :
	    SMTP_BARE_LF_NORMALIZE;
	binary = (data[0] & 2) != 0;
	max_size = max_sizes[(data[0] >> 2) & 3];
	seed = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(data[0] >> 4 | 16);
	in = (const char *)data + 1;
	len = size - 1;

	fuzz_mode(in, len, false, bare_lf, binary, max_size, seed);
	fuzz_mode(in, len, true, bare_lf, binary, max_size, seed);
	return 0;
}
