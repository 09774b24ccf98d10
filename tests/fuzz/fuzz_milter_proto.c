/* SPDX-License-Identifier: MIT */
/*
 * fuzz_milter_proto - what a Milter filter sends, and the message it
 * edits (src/smtpd/milter_proto.c).  The input is a byte stream of
 * filter packets: each is framed, then read as an OPTNEG reply, as
 * NUL-separated strings and as a reply code.  The input is also a
 * message: split and joined again it must come back byte for byte,
 * and header edits made from the packets' strings must never end the
 * header section early (split again, the body is unchanged).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_message(const char *text, size_t size, const char *name,
    const char *value, uint32_t idx)
{
	struct milter_msg m, again;
	struct buf b;
	const char *err;
	size_t nh;
	int r;

	if (milter_msg_split(&m, text, size, idx & 1) < 0)
		return;
	buf_init(&b, size * 4 + (1 << 20));
	if (milter_msg_join(&m, &b) < 0 || b.len != size ||
	    (size > 0 && memcmp(b.data, text, size) != 0))
		abort();
	nh = m.nh;
	switch (idx % 3) {
	case 0:
		r = milter_msg_add(&m, name, value, idx & 4, &err);
		break;
	case 1:
		r = milter_msg_insert(&m, idx >> 3, name, value, idx & 4, &err);
		break;
	default:
		r = milter_msg_change(&m, idx >> 3, name, value, idx & 4,
		    &err);
		break;
	}
	buf_reset(&b);
	if (milter_msg_join(&m, &b) < 0 || b.len != m.size)
		abort();
	/* An added header never swallows the body or ends the header
	 * section early. */
	if (r == 0 && idx % 3 != 2 &&
	    milter_msg_split(&again, b.data != NULL ? b.data : "", b.len,
	    m.tracelen > 0 ? 1 : 0) == 0) {
		if (again.nh != nh + 1 || again.bodylen != m.bodylen ||
		    (m.bodylen > 0 && memcmp(again.body, m.body,
		    m.bodylen) != 0))
			abort();
		milter_msg_free(&again);
	}
	buf_deinit(&b);
	milter_msg_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *err, *d;
	size_t left = size, dlen, used;
	char cmd;

	while (left > 0) {
		struct milter_optneg o;
		const char *v[4];
		int r = milter_pkt_parse(p, left, &cmd, &d, &dlen, &used, &err);

		if (r <= 0)
			break;
		if (used > left || dlen + 5 != used)
			abort();
		(void)milter_optneg_parse(d, dlen, &o, &err);
		milter_optneg_deinit(&o);
		if (milter_strings_range(d, dlen, v, 1, 4) >= 2) {
			char out[1024];

			if (milter_replycode(v[0], out, sizeof(out), &err) ==
			    0 && (out[0] != '4' && out[0] != '5'))
				abort();
			check_message((const char *)data, size, v[0], v[1],
			    (uint32_t)dlen);
		}
		p += used;
		left -= used;
	}
	check_message((const char *)data, size, "X-Fuzz",
	    size > 0 ? "a\nb" : "", (uint32_t)size);
	return 0;
}
