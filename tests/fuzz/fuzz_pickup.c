/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pickup - pickup_convert() on arbitrary bytes as a maildrop file
 * (src/queue/pickup.c: the queue process's parser of what any local
 * user may write through ostia-postdrop).  The owner is the uid of the
 * maildrop header when it parses (so that the rest is reached), else
 * 1000; uids 0 and 100 (mail_owner) are trusted.  When it accepts a
 * file, the result must be a queue file the writer takes and the parser
 * reads back, with the Received: header first, CRLF line ends only,
 * and, from an untrusted owner, the login's own sender.  Header and
 * body checks run with a table of fixed rules (a key holding "REJ"
 * rejects, "TMP" rejects for now, "DIS" discards, "HLD" holds, "BCC"
 * adds a recipient, "IGN" deletes, "X-P" prepends a header), and
 * message_reject_characters holds \177: a refusal must be a valid 'E'
 * record, and the trailer must round-trip too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "maildrop.h"
#include "pickup.h"
#include "queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
roundtrip(const struct pickup_msg *m)
{
	struct queue_envelope back;
	struct queue_writer w;
	const char *err = NULL;
	char *buf;
	off_t len;
	int fd = memfd_create("fuzz_pickup", 0);

	if (fd < 0)
		return;
	queue_writer_init(&w, fd);
	if (queue_writer_envelope(&w, &m->env) < 0 ||
	    queue_writer_content(&w, m->content.data, m->content.len) < 0 ||
	    queue_writer_trailer(&w, &m->env) < 0 ||
	    queue_writer_finish(&w) < 0)
		abort();	/* pickup built an envelope the writer refuses */
	queue_writer_deinit(&w);
	len = lseek(fd, 0, SEEK_CUR);
	buf = malloc((size_t)len + 1);
	if (buf == NULL || pread(fd, buf, (size_t)len, 0) != len)
		abort();
	memset(&back, 0, sizeof(back));
	if (queue_file_parse(buf, (size_t)len, &back, NULL, &err) < 0 ||
	    back.nrcpts != m->env.nrcpts || back.nbccs != m->env.nbccs ||
	    strcmp(back.sender, m->env.sender) != 0 ||
	    (back.refused == NULL) != (m->env.refused == NULL) ||
	    (back.hold == NULL) != (m->env.hold == NULL))
		abort();
	queue_envelope_deinit(&back);
	free(buf);
	close(fd);
}

static const struct {
	const char *needle, *action;
} rules[] = {
	{ "REJ", "REJECT no \001 thanks" }, { "TMP", "REJECT 4.7.1 later" },
	{ "DIS", "DISCARD" }, { "HLD", "HOLD look" },
	{ "BCC", "BCC audit@example.net" }, { "IGN", "IGNORE" },
	{ "X-P", "PREPEND X-Added: $0" },
};

static int
rules_lookup(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	(void)ctx;
	(void)cls;
	(void)keylen;
	(void)err;
	(void)errsz;
	/* pickup's own Received: header (which the message's first line
	 * may continue) is left alone, so that it stays first. */
	if (strncmp(key, "Received: by mx.example.org", 27) == 0)
		return HBC_NOTFOUND;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strstr(key, rules[i].needle) != NULL)
			return buf_append(value, rules[i].action,
			    strlen(rules[i].action)) < 0 ? HBC_NOTFOUND :
			    HBC_FOUND;
	return HBC_NOTFOUND;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pickup_params p = {
		.myhostname = "mx.example.org",
		.myorigin = "example.org",
		.mail_name = "Ostia",
		.message_size_limit = 32768,
		.mail_owner_uid = 100,
		.now = 1717171717,
	};
	char login[MAILDROP_LOGIN_MAX_BYTES + 1], why[512];
	const char *err = NULL;
	struct pickup_msg m;
	uid_t owner = 1000;
	const char *c;
	struct hbc_config cfg;
	struct msg_chars rej;
	int r;

	if (maildrop_header_parse(data, size, &owner, login, &err) < 0)
		owner = 1000;
	hbc_config_init(&cfg);
	(void)msg_chars_parse("\\177", &rej, NULL, 0);
	p.hbc_lookup = rules_lookup;
	p.hbc_cfg = &cfg;
	p.reject_chars = &rej;
	why[0] = '\0';
	r = pickup_convert((const char *)data, size, owner, "0123456789ABCDEF",
	    &p, &m, why, sizeof(why));
	if (r < 0) {
		if (why[0] == '\0')
			abort();	/* a refusal always says why */
		return 0;
	}
	if (m.env.refused != NULL && !queue_refusal_valid(m.env.refused))
		abort();
	c = m.content.data;
	if (m.content.len < 12 || memcmp(c, "Received: ", 10) != 0 ||
	    c[m.content.len - 2] != '\r' || c[m.content.len - 1] != '\n')
		abort();
	for (size_t i = 0; i < m.content.len; i++)
		if (c[i] == '\n' && (i == 0 || c[i - 1] != '\r'))
			abort();
	if (!m.trusted) {
		char want[MAILDROP_LOGIN_MAX_BYTES + 32];

		snprintf(want, sizeof(want), "%s@%s", m.login, p.myorigin);
		if (strcmp(m.env.sender, want) != 0)
			abort();
	}
	if (m.env.nrcpts == 0 || m.env.nrcpts > 10000)
		abort();
	roundtrip(&m);
	pickup_msg_deinit(&m);
	return 0;
}
