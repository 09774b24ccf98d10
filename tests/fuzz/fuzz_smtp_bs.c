/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_bs - the `sendmail -bs` dialogue (smtp_bs.h) on arbitrary
 * input from the local program.  The first byte picks the limits and
 * whether the session is refused; the rest is fed whole, one byte at a
 * time, and in pieces whose sizes come from a PRNG seeded by the input.
 * The three must give the same replies and the same messages.  Every
 * reply line ends in CRLF and starts with three digits; every message
 * has at least one recipient, no more than the limit, ends its lines in
 * CRLF and is within the size limit; a refused session queues nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtp_bs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	struct buf log;
	const struct smtp_bs_params *p;
};

static void
take(void *ctx, const struct smtp_bs_message *m, struct buf *reply)
{
	struct sink *k = ctx;

	if (m->nrcpts == 0 || (k->p->max_rcpts != 0 &&
	    m->nrcpts > k->p->max_rcpts) || k->p->refuse_text != NULL)
		abort();
	if (k->p->max_size != 0 && m->len > k->p->max_size)
		abort();
	if (m->len > 0 && (m->len < 2 || m->data[m->len - 2] != '\r' ||
	    m->data[m->len - 1] != '\n'))
		abort();
	if (strchr(m->sender, '\n') != NULL)
		abort();
	(void)buf_appendf(&k->log, "<%s>%zu:%zu;", m->sender, m->nrcpts,
	    m->len);
	(void)buf_append(&k->log, m->data, m->len);
	(void)buf_append_str(reply, "250 2.0.0 Ok");
}

static void
check_replies(const struct buf *out)
{
	size_t i = 0;

	while (i < out->len) {
		const char *lf = memchr(out->data + i, '\n', out->len - i);
		size_t n;

		if (lf == NULL)
			abort();
		n = (size_t)(lf - (out->data + i));
		if (n < 4 || out->data[i + n - 1] != '\r')
			abort();
		for (size_t k = 0; k < 3; k++)
			if (out->data[i + k] < '0' || out->data[i + k] > '9')
				abort();
		i += n + 1;
	}
}

/* run - feed in pieces (step 0: whole; SIZE_MAX: PRNG sizes). */
static void
run(const struct smtp_bs_params *pp, const char *in, size_t len,
    size_t step, uint32_t seed, struct buf *out, struct buf *log)
{
	struct smtp_bs_params p = *pp;
	struct smtp_bs s;
	struct sink k;
	size_t off = 0;

	buf_init(&k.log, 1 << 22);
	k.p = pp;
	p.ctx = &k;
	p.submit = take;
	smtp_bs_init(&s, &p);
	while (off < len) {
		size_t n = len - off;

		if (step == SIZE_MAX) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 97;
		} else if (step != 0) {
			n = step;
		}
		if (n > len - off)
			n = len - off;
		if (!smtp_bs_feed(&s, in + off, n))
			break;
		off += n;
		smtp_bs_take_output(&s, out);
	}
	smtp_bs_eof(&s);
	smtp_bs_take_output(&s, out);
	smtp_bs_deinit(&s);
	(void)buf_append(log, k.log.data, k.log.len);
	buf_deinit(&k.log);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_bs_params p;
	struct buf out[3], log[3];
	uint32_t seed = 0;

	if (size < 1 || size > 65536)
		return 0;
	memset(&p, 0, sizeof(p));
	p.myhostname = "mx.example.org";
	p.mail_name = "Ostia";
	p.myorigin = "example.org";
	p.max_size = data[0] & 1 ? 0 : 64 + (data[0] & 0x7e) * 4;
	p.max_rcpts = data[0] & 0x10 ? 0 : 1 + (data[0] >> 5);
	p.error_limit = data[0] & 0x80 ? 0 : 20;
	p.forced_sender = data[0] & 0x08 ? "user@example.org" : NULL;
	p.refuse_text = (data[0] & 0x0e) == 0x0e ? "refused" : NULL;
	for (size_t i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	for (int i = 0; i < 3; i++) {
		buf_init(&out[i], (size_t)64 << 20);
		buf_init(&log[i], (size_t)64 << 20);
		run(&p, (const char *)data + 1, size - 1, i == 0 ? 0 : i == 1 ?
		    1 : SIZE_MAX, seed, &out[i], &log[i]);
		check_replies(&out[i]);
	}
	for (int i = 1; i < 3; i++)
		if (out[i].len != out[0].len || log[i].len != log[0].len ||
		    memcmp(out[i].data, out[0].data, out[0].len) != 0 ||
		    (log[0].len > 0 && memcmp(log[i].data, log[0].data,
		    log[0].len) != 0))
			abort();
	for (int i = 0; i < 3; i++) {
		buf_deinit(&out[i]);
		buf_deinit(&log[i]);
	}
	return 0;
}
