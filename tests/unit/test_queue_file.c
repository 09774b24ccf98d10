/* SPDX-License-Identifier: MIT */
/*
 * test_queue_file - queue file writer and parser, queue IDs
 * (src/common/queue_file.c).
 *
 * Files are written to a memfd and read back.  Invalid files are built by
 * hand from a compact description ("type payload|type payload|...") so
 * each case shows exactly which record is wrong.  Every prefix of a valid
 * file must be refused (a crash mid-write leaves a prefix on disk).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "compat.h"
#include "queue_file.h"
#include "xalloc.h"

#define ID1 "0123456789ABCDEF"
#define KIB64 (64 * 1024)

#define E_TRUNC "the file ends inside a record: it is incomplete"
#define E_NOEND "no end record: the file is incomplete"
#define E_EMPTY "empty file: not a queue file"

/* ---- Helpers ---- */

/* env_fill - a minimal envelope, or one with every optional field. */
static void
env_fill(struct queue_envelope *env, bool all)
{
	memset(env, 0, sizeof(*env));
	env->id = xstrdup(ID1);
	env->arrival = xstrdup("1717171717.123456");
	env->client_name = xstrdup("mx.example.net");
	env->client_addr = xstrdup("192.0.2.7");
	env->helo = xstrdup("mx.example.net");
	env->protocol = xstrdup(all ? "ESMTPSA" : "SMTP");
	env->service = xstrdup("smtp");
	env->sender = xstrdup("alice@example.net");
	if (all) {
		env->sasl_user = xstrdup("alice");
		env->tls = xstrdup("TLSv1.3 TLS_AES_256_GCM_SHA384 256");
		env->size = xstrdup("12345");
		env->body = xstrdup("8BITMIME");
		env->smtputf8 = true;
		env->ret = xstrdup("HDRS");
		env->envid = xstrdup("QQ314159");
		queue_envelope_add_rcpt(env, "bob@example.org",
		    "SUCCESS,FAILURE", "rfc822;bob@example.org");
		queue_envelope_add_rcpt(env, "carol@example.org", NULL,
		    "rfc822;carol@example.org");
		queue_envelope_add_rcpt(env, "dave@example.org", "NEVER",
		    NULL);
		queue_envelope_add_rcpt(env, "erin@example.org", NULL, NULL);
	} else {
		queue_envelope_add_rcpt(env, "bob@example.org", NULL, NULL);
	}
}

static void
assert_str_eq_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* env_assert_equal - every field (NULL stays NULL, strings equal). */
static void
env_assert_equal(const struct queue_envelope *a,
    const struct queue_envelope *b)
{
	assert_str_eq_or_null(a->id, b->id);
	assert_str_eq_or_null(a->arrival, b->arrival);
	assert_str_eq_or_null(a->client_name, b->client_name);
	assert_str_eq_or_null(a->client_addr, b->client_addr);
	assert_str_eq_or_null(a->helo, b->helo);
	assert_str_eq_or_null(a->protocol, b->protocol);
	assert_str_eq_or_null(a->service, b->service);
	assert_str_eq_or_null(a->sasl_user, b->sasl_user);
	assert_str_eq_or_null(a->tls, b->tls);
	assert_str_eq_or_null(a->sender, b->sender);
	assert_str_eq_or_null(a->size, b->size);
	assert_str_eq_or_null(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_str_eq_or_null(a->ret, b->ret);
	assert_str_eq_or_null(a->envid, b->envid);
	assert_str_eq_or_null(a->refused, b->refused);
	assert_str_eq_or_null(a->filter, b->filter);
	assert_str_eq_or_null(a->hold, b->hold);
	assert_str_eq_or_null(a->redirect, b->redirect);
	assert_int_equal(a->nbccs, b->nbccs);
	for (size_t i = 0; i < a->nbccs; i++)
		assert_string_equal(a->bccs[i], b->bccs[i]);
	assert_int_equal(a->nrcpts, b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++) {
		assert_str_eq_or_null(a->rcpts[i].addr, b->rcpts[i].addr);
		assert_str_eq_or_null(a->rcpts[i].notify, b->rcpts[i].notify);
		assert_str_eq_or_null(a->rcpts[i].orcpt, b->rcpts[i].orcpt);
	}
}

static int
mem_fd(void)
{
	int fd = memfd_create("queue-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* fd_slurp - everything in fd from offset 0; caller frees. */
static char *
fd_slurp(int fd, size_t *len_r)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *p;
	size_t done = 0;

	assert_true(end >= 0);
	p = xmalloc((size_t)end + 1);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while (done < (size_t)end) {
		ssize_t n = read(fd, p + done, (size_t)end - done);

		assert_true(n > 0);
		done += (size_t)n;
	}
	p[done] = '\0';
	*len_r = done;
	return p;
}

/*
 * write_file - env and content (handed over in pieces of chunk bytes;
 * 0: all at once) as a queue file; caller frees.
 */
static char *
write_file(const struct queue_envelope *env, const char *content,
    size_t len, size_t chunk, size_t *len_r)
{
	struct queue_writer w;
	int fd = mem_fd();
	char *file;

	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, env), 0);
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		assert_int_equal(queue_writer_content(&w, content + off, n), 0);
	}
	if (env->refused != NULL || env->filter != NULL || env->hold != NULL ||
	    env->redirect != NULL || env->nbccs > 0)
		assert_int_equal(queue_writer_trailer(&w, env), 0);
	assert_int_equal(queue_writer_finish(&w), 0);
	assert_int_equal(w.error, 0);
	queue_writer_deinit(&w);
	file = fd_slurp(fd, len_r);
	close(fd);
	return file;
}

/* rec - append one record to b. */
static void
rec(struct buf *b, char type, const void *p, size_t len)
{
	unsigned char hdr[5] = { (unsigned char)type,
		(unsigned char)(len >> 24), (unsigned char)(len >> 16),
		(unsigned char)(len >> 8), (unsigned char)len };

	assert_int_equal(buf_append(b, hdr, sizeof(hdr)), 0);
	assert_int_equal(buf_append(b, p, len), 0);
}

/*
 * build - records from a description: "|"-separated, each the type
 * character then its payload; payload "*" is the valid default for 'V'
 * and 'I'.  "#xyz" appends the raw bytes xyz (no record).
 */
static void
build_n(struct buf *b, const char *desc, size_t len)
{
	while (len > 0) {
		const char *bar = memchr(desc, '|', len);
		size_t n = bar != NULL ? (size_t)(bar - desc) : len;
		const char *p = desc + 1;
		size_t plen = n - 1;

		if (n == 0) {
			/* empty segment: nothing */
		} else if (desc[0] == '#') {
			assert_int_equal(buf_append(b, p, plen), 0);
		} else if (plen == 1 && *p == '*' &&
		    (desc[0] == 'V' || desc[0] == 'I')) {
			const char *d = desc[0] == 'V' ? QUEUE_FILE_MAGIC :
			    ID1;

			rec(b, desc[0], d, strlen(d));
		} else {
			rec(b, desc[0], p, plen);
		}
		if (bar == NULL)
			break;
		len -= n + 1;
		desc = bar + 1;
	}
}

static void
build(struct buf *b, const char *desc)
{
	build_n(b, desc, strlen(desc));
}

/* parse_err - parse and expect failure; returns the error text. */
static const char *
parse_err(const char *data, size_t len)
{
	struct queue_envelope env;
	struct buf content;
	const char *error = NULL;

	buf_init(&content, SIZE_MAX);
	assert_int_equal(queue_file_parse(data, len, &env, &content,
	    &error), -1);
	assert_non_null(error);
	/* Nothing left behind on failure. */
	assert_null(env.id);
	assert_null(env.rcpts);
	assert_int_equal(env.nrcpts, 0);
	assert_int_equal(content.len, 0);
	buf_deinit(&content);
	return error;
}

/* ---- Round trips ---- */

static void
round_trip(bool all, const char *content, size_t len)
{
	struct queue_envelope in, out;
	struct buf got;
	const char *error = NULL;
	size_t flen;
	char *file;

	env_fill(&in, all);
	file = write_file(&in, content, len, 0, &flen);
	buf_init(&got, SIZE_MAX);
	if (queue_file_parse(file, flen, &out, &got, &error) != 0)
		fail_msg("parse: %s", error);
	env_assert_equal(&in, &out);
	assert_int_equal(out.content_size, len);
	assert_int_equal(got.len, len);
	if (len > 0)
		assert_memory_equal(got.data, content, len);
	/* The same without asking for the content. */
	queue_envelope_deinit(&out);
	assert_int_equal(queue_file_parse(file, flen, &out, NULL, &error), 0);
	assert_int_equal(out.content_size, len);
	queue_envelope_deinit(&out);
	queue_envelope_deinit(&in);
	buf_deinit(&got);
	free(file);
}

static void
test_round_trip_minimal(void **state)
{
	static const char msg[] = "Received: from x\r\n\r\nhello\r\n";

	(void)state;
	round_trip(false, msg, sizeof(msg) - 1);
	round_trip(false, "", 0);
}

static void
test_round_trip_all_fields(void **state)
{
	/* BINARYMIME content may hold NUL and any byte. */
	static const char msg[] = "Subject: x\r\n\r\n\0\xff\x80\r\n";

	(void)state;
	round_trip(true, msg, sizeof(msg) - 1);
}

/* The trailer: each record alone, all together, and their order. */
static void
test_trailer(void **state)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";

	(void)state;
	for (int mask = 1; mask < 32; mask++) {
		struct queue_envelope in, out;
		const char *error = NULL;
		size_t flen;
		char *file;

		env_fill(&in, mask & 1);
		if (mask & 1)
			in.filter = xstrdup("smtp-amavis:[127.0.0.1]:10024");
		if (mask & 2)
			in.hold = xstrdup("header_checks: HOLD spam score");
		if (mask & 4)
			in.redirect = xstrdup("quarantine@example.org");
		if (mask & 8) {
			queue_envelope_add_bcc(&in, "archive@example.org");
			queue_envelope_add_bcc(&in, "audit@example.org");
		}
		if (mask & 16)
			in.refused = xstrdup("5.7.1 message content rejected");
		file = write_file(&in, msg, sizeof(msg) - 1, 3, &flen);
		if (queue_file_parse(file, flen, &out, NULL, &error) != 0)
			fail_msg("parse: %s", error);
		env_assert_equal(&in, &out);
		queue_envelope_deinit(&out);
		queue_envelope_deinit(&in);
		free(file);
	}
	/* Out of order, before the message, or malformed: refused. */
	{
		static const char *const bad[] = {
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|Qh|Ft:n|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|Ft:n|M|Dx|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|Fnocolon|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|J|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|bq|Jr|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|Qh|Qh|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|Ft:n|Dx|X2",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|Ft:n|E5.7.1 x|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|E5.7.1 x|M|Dx|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|E4.7.1 x|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|E5.7.1|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|E5.7.1 |X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|E5.7 x|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|E5.7.1234 x|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|Ex.7.1 x|X1",
			"V*|I*|T1.0|Cc|Aa|Hh|PSMTP|Lsmtp|Ss|Rr|M|Dx|E5.7.1 x|E5.7.1 x|X1",
		};

		for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
			struct buf b;

			buf_init(&b, SIZE_MAX);
			build(&b, bad[i]);
			(void)parse_err(b.data, b.len);
			buf_deinit(&b);
		}
	}
	/* The writer refuses a malformed trailer and writes nothing. */
	{
		struct queue_envelope in;
		struct queue_writer w;
		int fd = mem_fd();

		env_fill(&in, false);
		in.filter = xstrdup("no-colon");
		queue_writer_init(&w, fd);
		assert_int_equal(queue_writer_envelope(&w, &in), 0);
		assert_int_equal(queue_writer_trailer(&w, &in), -1);
		assert_int_equal(errno, EINVAL);
		queue_writer_deinit(&w);
		queue_envelope_deinit(&in);
		close(fd);
	}
}

/* Each optional field on its own, and empty strings kept as empty. */
static void
test_round_trip_each_optional(void **state)
{
	(void)state;
	for (int i = 0; i < 9; i++) {
		struct queue_envelope in, out;
		const char *error = NULL;
		size_t flen;
		char *file;

		env_fill(&in, false);
		switch (i) {
		case 0: in.sasl_user = xstrdup(""); break;
		case 1: in.tls = xstrdup("TLSv1.2"); break;
		case 2: in.size = xstrdup("0"); break;
		case 3: in.body = xstrdup("BINARYMIME"); break;
		case 4: in.smtputf8 = true; break;
		case 5: in.ret = xstrdup("FULL"); break;
		case 6: in.envid = xstrdup(""); break;
		case 7: in.rcpts[0].notify = xstrdup("DELAY"); break;
		case 8: in.rcpts[0].orcpt = xstrdup("utf-8;b@x"); break;
		}
		free(in.sender);
		in.sender = xstrdup("");	/* <> */
		file = write_file(&in, "x", 1, 0, &flen);
		if (queue_file_parse(file, flen, &out, NULL, &error) != 0)
			fail_msg("case %d: %s", i, error);
		env_assert_equal(&in, &out);
		queue_envelope_deinit(&in);
		queue_envelope_deinit(&out);
		free(file);
	}
}

/* NULL required strings are written as empty payloads. */
static void
test_null_required_fields(void **state)
{
	struct queue_envelope in, out;
	const char *error = NULL;
	size_t flen;
	char *file;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.id = xstrdup(ID1);
	in.sender = xstrdup("a@b");
	queue_envelope_add_rcpt(&in, "c@d", NULL, NULL);
	file = write_file(&in, NULL, 0, 0, &flen);
	assert_int_equal(queue_file_parse(file, flen, &out, NULL, &error), 0);
	assert_string_equal(out.arrival, "");
	assert_string_equal(out.client_name, "");
	assert_string_equal(out.client_addr, "");
	assert_string_equal(out.helo, "");
	assert_string_equal(out.protocol, "");
	assert_string_equal(out.service, "");
	assert_null(out.sasl_user);
	assert_null(out.tls);
	assert_false(out.smtputf8);
	queue_envelope_deinit(&in);
	queue_envelope_deinit(&out);
	free(file);
}

/* The exact bytes of a small file (the example in docs/queue-format.md). */
static void
test_golden(void **state)
{
	static const char want[] =
	    "V\0\0\0\x0dostia-queue 1"
	    "I\0\0\0\x10" "0123456789ABCDEF"
	    "T\0\0\0\x11" "1717171717.123456"
	    "C\0\0\0\x0e" "mx.example.net"
	    "A\0\0\0\x09" "192.0.2.7"
	    "H\0\0\0\x0e" "mx.example.net"
	    "P\0\0\0\x04" "SMTP"
	    "L\0\0\0\x04" "smtp"
	    "S\0\0\0\x11" "alice@example.net"
	    "R\0\0\0\x0f" "bob@example.org"
	    "M\0\0\0\0"
	    "D\0\0\0\x0b" "Hi\r\n\r\nBye\r\n"
	    "X\0\0\0\x02" "11";
	struct queue_envelope in;
	size_t flen;
	char *file;

	(void)state;
	env_fill(&in, false);
	file = write_file(&in, "Hi\r\n\r\nBye\r\n", 11, 0, &flen);
	assert_int_equal(flen, sizeof(want) - 1);
	assert_memory_equal(file, want, flen);
	queue_envelope_deinit(&in);
	free(file);
}

/* record_walk - the types of the records in a valid file, in order. */
static void
record_walk(const char *file, size_t flen, struct buf *types,
    size_t *sizes, size_t nsizes)
{
	size_t pos = 0, i = 0;

	while (pos < flen) {
		const unsigned char *p = (const unsigned char *)file + pos;
		size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 |
		    (size_t)p[3] << 8 | p[4];

		assert_int_equal(buf_append_c(types, (char)p[0]), 0);
		if (i < nsizes)
			sizes[i] = len;
		i++;
		pos += 5 + len;
	}
	assert_int_equal(pos, flen);
}

/* Content of any split gives the same file; 'D' records are full but
 * for the last one; no empty 'D'. */
static void
test_content_split(void **state)
{
	static const size_t lens[] = { 0, 1, KIB64 - 1, KIB64, KIB64 + 1,
	    3 * KIB64 + 1 };
	static const char *const want_types[] = { "VITCAHPLSRMX",
	    "VITCAHPLSRMDX", "VITCAHPLSRMDX", "VITCAHPLSRMDX",
	    "VITCAHPLSRMDDX", "VITCAHPLSRMDDDDX" };
	struct queue_envelope env;
	char *content = xmalloc(3 * KIB64 + 1);
	uint32_t x = 12345;

	(void)state;
	for (size_t i = 0; i < 3 * KIB64 + 1; i++) {
		x = x * 1103515245 + 12345;
		content[i] = (char)(x >> 16);
	}
	env_fill(&env, false);
	for (size_t i = 0; i < N_ELEMENTS(lens); i++) {
		static const size_t chunks[] = { 1, 7, 1000, KIB64 - 3,
		    KIB64 + 5 };
		size_t wlen, glen, sizes[32];
		char *whole = write_file(&env, content, lens[i], 0, &wlen);
		struct buf types;
		struct queue_envelope out;
		struct buf got;
		const char *error = NULL;

		for (size_t c = 0; c < N_ELEMENTS(chunks); c++) {
			char *f = write_file(&env, content, lens[i], chunks[c],
			    &glen);

			assert_int_equal(glen, wlen);
			assert_memory_equal(f, whole, wlen);
			free(f);
		}
		buf_init(&types, 64);
		record_walk(whole, wlen, &types, sizes, N_ELEMENTS(sizes));
		assert_string_equal(buf_cstr(&types), want_types[i]);
		for (size_t r = 0; r < types.len; r++) {
			if (types.data[r] != 'D')
				continue;
			if (types.data[r + 1] == 'D')
				assert_int_equal(sizes[r], KIB64);
			else
				assert_true(sizes[r] > 0 &&
				    sizes[r] <= KIB64);
		}
		buf_deinit(&types);

		buf_init(&got, SIZE_MAX);
		if (queue_file_parse(whole, wlen, &out, &got, &error) != 0)
			fail_msg("len %zu: %s", lens[i], error);
		assert_int_equal(out.content_size, lens[i]);
		assert_int_equal(got.len, lens[i]);
		if (lens[i] > 0)
			assert_memory_equal(got.data, content, lens[i]);
		queue_envelope_deinit(&out);
		buf_deinit(&got);
		free(whole);
	}
	queue_envelope_deinit(&env);
	free(content);
}

/* ---- Invalid files ---- */

#define HEAD "V*|I*|T1.5|Cc|Aa|Hh|Pp|Ll"
#define ENV HEAD "|S|Ra"
#define TAIL "|M|D12345|X5"

struct bad_case {
	const char *desc;
	size_t len;	/* descriptions may hold NUL bytes */
	const char *error;
};

#define BAD(desc, error) { desc, sizeof(desc) - 1, error }

static const struct bad_case bad_cases[] = {
	BAD("", E_EMPTY),
	BAD("Xfoo", "not an ostia queue file (no format record 'V' first)"),
	BAD("#V", E_TRUNC),
	BAD("#V\0\0\0", E_TRUNC),
	BAD("#V\0\0\0\x0dostia", E_TRUNC),
	BAD("Vostia-queue 2|I*", "unsupported queue file version"),
	BAD("Vostia-queue", "not an ostia queue file (bad format record 'V')"),
	BAD("V", "not an ostia queue file (bad format record 'V')"),
	BAD("V*|V*", "record 'V' (format and version) appears more than once"),
	BAD("V*", E_NOEND),
	BAD(ENV, E_NOEND),
	BAD(ENV "|M|D12345", E_NOEND),
	BAD(ENV "|M", E_NOEND),
	/* Required records, each missing. */
	BAD("V*|T1|Cc|Aa|Hh|Pp|Ll|S|Ra" TAIL, "record 'I' (queue ID) is missing"),
	BAD("V*|I*|Cc|Aa|Hh|Pp|Ll|S|Ra" TAIL,
	    "record 'T' (arrival time) is missing"),
	BAD("V*|I*|T1|Aa|Hh|Pp|Ll|S|Ra" TAIL,
	    "record 'C' (client name) is missing"),
	BAD("V*|I*|T1|Cc|Hh|Pp|Ll|S|Ra" TAIL,
	    "record 'A' (client address) is missing"),
	BAD("V*|I*|T1|Cc|Aa|Pp|Ll|S|Ra" TAIL,
	    "record 'H' (HELO name) is missing"),
	BAD("V*|I*|T1|Cc|Aa|Hh|Ll|S|Ra" TAIL,
	    "record 'P' (protocol) is missing"),
	BAD("V*|I*|T1|Cc|Aa|Hh|Pp|S|Ra" TAIL,
	    "record 'L' (service) is missing"),
	BAD(HEAD "|Ra|S" TAIL, "record 'S' (sender) is missing"),
	BAD(HEAD "|Ra" TAIL, "record 'S' (sender) is missing"),
	BAD(HEAD "|S" TAIL, "no recipient record 'R'"),
	BAD(HEAD "|S|M|X0", "no recipient record 'R'"),
	BAD(ENV "|D12345|X5", "record 'M' (message start) is missing"),
	BAD(ENV "|X0", "record 'M' (message start) is missing"),
	/* Twice, or out of order. */
	BAD("V*|I*|I*", "record 'I' (queue ID) appears more than once"),
	BAD("V*|I*|T1|T1", "record 'T' (arrival time) appears more than once"),
	BAD("V*|I*|T1|Cc|Aa|Hh|Pp|Ll|Pp",
	    "record 'P' (protocol) appears more than once"),
	BAD("V*|I*|Cc|T1", "record 'T' (arrival time) is missing"),
	BAD(ENV "|S" TAIL, "record 'S' (sender) appears more than once"),
	BAD(HEAD "|Wu|Wu", "record 'W' (SASL user) appears more than once"),
	BAD(HEAD "|Kt|Wu", "record 'W' (SASL user) is out of order"),
	BAD(HEAD "|Wu|S|Wu", "record 'W' (SASL user) appears more than once"),
	BAD(HEAD "|S|BBINARYMIME|z10",
	    "record 'z' (SIZE) is out of order"),
	BAD(HEAD "|S|z1|z1", "record 'z' (SIZE) appears more than once"),
	BAD(HEAD "|S|U|U", "record 'U' (SMTPUTF8) appears more than once"),
	BAD(HEAD "|S|rFULL|U", "record 'U' (SMTPUTF8) is out of order"),
	BAD(HEAD "|S|ex|rFULL", "record 'r' (RET) is out of order"),
	BAD(ENV "|ex" TAIL, "record 'e' (ENVID) is out of order"),
	BAD(HEAD "|Ll" "|S|Ra" TAIL, "record 'L' (service) appears more than once"),
	/* NOTIFY and ORCPT only right after their recipient. */
	BAD(HEAD "|S|NNEVER|Ra" TAIL,
	    "record 'N' (NOTIFY) does not follow a recipient 'R'"),
	BAD(HEAD "|S|Ort;a|Ra" TAIL,
	    "record 'O' (ORCPT) does not follow a recipient 'R' or its 'N'"),
	BAD(ENV "|Ort;a|NNEVER" TAIL,
	    "record 'N' (NOTIFY) does not follow a recipient 'R'"),
	BAD(ENV "|NNEVER|NNEVER" TAIL,
	    "record 'N' (NOTIFY) appears twice for one recipient"),
	BAD(ENV "|Ort;a|Ort;a" TAIL,
	    "record 'O' (ORCPT) appears twice for one recipient"),
	BAD(ENV "|M|NNEVER|X0",
	    "record 'N' (NOTIFY) does not follow a recipient 'R'"),
	BAD(ENV "|M|Rb|X0", "record 'R' (recipient) is out of order"),
	BAD(ENV "|M|Dx|Rb|X1", "record 'R' (recipient) is out of order"),
	BAD(ENV "|M|Dx|M|X1",
	    "record 'M' (message start) appears more than once"),
	BAD(ENV "|M|M|X0", "record 'M' (message start) appears more than once"),
	BAD(ENV "|M|Sx|X0", "record 'S' (sender) appears more than once"),
	BAD(ENV "|M|z1|X0", "record 'z' (SIZE) is out of order"),
	/* Nothing after 'X'. */
	BAD(ENV TAIL "|X5", "data after the end record 'X'"),
	BAD(ENV TAIL "|Dx", "data after the end record 'X'"),
	BAD(ENV TAIL "|#\n", "data after the end record 'X'"),
	BAD(ENV TAIL "|#X", "data after the end record 'X'"),
	/* The byte count. */
	BAD(ENV "|M|D12345|X4",
	    "end record 'X' does not match the message size: the file is "
	    "damaged"),
	BAD(ENV "|M|D12345|D678|X5",
	    "end record 'X' does not match the message size: the file is "
	    "damaged"),
	BAD(ENV "|M|X1",
	    "end record 'X' does not match the message size: the file is "
	    "damaged"),
	BAD(ENV "|M|X", "end record 'X' does not hold a decimal byte count"),
	BAD(ENV "|M|X-0", "end record 'X' does not hold a decimal byte count"),
	BAD(ENV "|M|X+0", "end record 'X' does not hold a decimal byte count"),
	BAD(ENV "|M|X 0", "end record 'X' does not hold a decimal byte count"),
	BAD(ENV "|M|X0 ", "end record 'X' does not hold a decimal byte count"),
	BAD(ENV "|M|X0x0", "end record 'X' does not hold a decimal byte count"),
	BAD(ENV "|M|X000000000000000000000",
	    "end record 'X' does not hold a decimal byte count"),
	BAD(ENV "|M|X18446744073709551616",
	    "end record 'X' does not hold a decimal byte count"),
	/* Unknown types. */
	BAD(ENV "|q" TAIL, "unknown record type"),
	BAD(ENV "|d" TAIL, "unknown record type"),
	BAD(ENV TAIL "|#\0\0\0\0\0", "data after the end record 'X'"),
	BAD(ENV "|#\0\0\0\0\0" TAIL, "unknown record type"),
	/* Field syntax. */
	BAD("V*|Iabc", "record 'I' does not hold a valid queue ID"),
	BAD("V*|I0123456789abcdef",
	    "record 'I' does not hold a valid queue ID"),
	BAD("V*|I", "record 'I' does not hold a valid queue ID"),
	BAD("V*|I../../etc/passwd",
	    "record 'I' does not hold a valid queue ID"),
	BAD(HEAD "|S|z", "record 'z' (SIZE) is not a decimal number"),
	BAD(HEAD "|S|z1k", "record 'z' (SIZE) is not a decimal number"),
	BAD(HEAD "|S|z-1", "record 'z' (SIZE) is not a decimal number"),
	BAD(HEAD "|S|B8bitmime",
	    "record 'B' (BODY) is not 7BIT, 8BITMIME or BINARYMIME"),
	BAD(HEAD "|S|B", "record 'B' (BODY) is not 7BIT, 8BITMIME or BINARYMIME"),
	BAD(HEAD "|S|Ux", "record 'U' (SMTPUTF8) is not empty"),
	BAD(HEAD "|S|rfull", "record 'r' (RET) is not FULL or HDRS"),
	BAD(HEAD "|S|r", "record 'r' (RET) is not FULL or HDRS"),
	BAD(ENV "|N", "record 'N' (NOTIFY) is not NEVER or a list of SUCCESS, "
	    "FAILURE and DELAY"),
	BAD(ENV "|NNEVER,SUCCESS", "record 'N' (NOTIFY) is not NEVER or a list "
	    "of SUCCESS, FAILURE and DELAY"),
	BAD(ENV "|NSUCCESS,", "record 'N' (NOTIFY) is not NEVER or a list of "
	    "SUCCESS, FAILURE and DELAY"),
	BAD(ENV "|N,DELAY", "record 'N' (NOTIFY) is not NEVER or a list of "
	    "SUCCESS, FAILURE and DELAY"),
	BAD(ENV "|Nsuccess", "record 'N' (NOTIFY) is not NEVER or a list of "
	    "SUCCESS, FAILURE and DELAY"),
	BAD(ENV "|NSUCCESS FAILURE", "record 'N' (NOTIFY) is not NEVER or a "
	    "list of SUCCESS, FAILURE and DELAY"),
	BAD(ENV "|Mx|X0", "record 'M' (message start) is not empty"),
	BAD(HEAD "|Sa\0b", "NUL byte in an envelope record"),
};

static void
test_invalid_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct buf b;
		const char *error;

		buf_init(&b, SIZE_MAX);
		build_n(&b, c->desc, c->len);
		error = parse_err(b.data != NULL ? b.data : "", b.len);
		if (strcmp(error, c->error) != 0)
			fail_msg("case %zu \"%s\": got \"%s\", want \"%s\"",
			    i, c->desc, error, c->error);
		buf_deinit(&b);
	}
}

/* Records that the description syntax cannot express: NUL bytes in
 * payloads and records past their length limits. */
static void
test_invalid_built(void **state)
{
	static const char nul_cases[] = "ITCAHPLS";
	char *big = xcalloc(1, QUEUE_RECORD_MAX_BYTES + 2);
	struct buf b;

	(void)state;
	for (size_t i = 0; nul_cases[i] != '\0'; i++) {
		/* Each envelope string in turn holds a NUL byte. */
		char t = nul_cases[i];
		const char *all[] = { "I*", "T1", "Cc", "Aa", "Hh", "Pp", "Ll",
		    "S" };

		buf_init(&b, SIZE_MAX);
		build(&b, "V*");
		for (size_t k = 0; k < N_ELEMENTS(all); k++) {
			if (all[k][0] == t)
				rec(&b, t, "ab\0cd", 5);
			else
				build(&b, all[k]);
		}
		build(&b, "|Ra" TAIL);
		assert_string_equal(parse_err(b.data, b.len),
		    "NUL byte in an envelope record");
		buf_deinit(&b);
	}

	/* A recipient, NOTIFY, ORCPT with NUL. */
	buf_init(&b, SIZE_MAX);
	build(&b, HEAD "|S");
	rec(&b, 'R', "a\0", 2);
	build(&b, TAIL);
	assert_string_equal(parse_err(b.data, b.len),
	    "NUL byte in an envelope record");
	buf_deinit(&b);

	/* An envelope record of exactly the limit is read; one byte more is
	 * refused from its header, before its payload. */
	memset(big, 'x', QUEUE_RECORD_MAX_BYTES + 1);
	buf_init(&b, SIZE_MAX);
	build(&b, HEAD "|S");
	rec(&b, 'R', big, QUEUE_RECORD_MAX_BYTES);
	build(&b, TAIL);
	{
		struct queue_envelope env;
		const char *error = NULL;

		assert_int_equal(queue_file_parse(b.data, b.len, &env, NULL,
		    &error), 0);
		assert_int_equal(strlen(env.rcpts[0].addr),
		    QUEUE_RECORD_MAX_BYTES);
		queue_envelope_deinit(&env);
	}
	buf_deinit(&b);
	buf_init(&b, SIZE_MAX);
	build(&b, HEAD "|S");
	rec(&b, 'R', big, QUEUE_RECORD_MAX_BYTES + 1);
	build(&b, TAIL);
	assert_string_equal(parse_err(b.data, b.len),
	    "envelope record longer than the 1 MiB limit");
	/* Only the header: still "too long", not "incomplete". */
	buf_reset(&b);
	build(&b, HEAD "|S");
	assert_int_equal(buf_append(&b, "R\0\x10\0\x01", 5), 0);
	assert_string_equal(parse_err(b.data, b.len),
	    "envelope record longer than the 1 MiB limit");
	/* A length of 0xffffffff. */
	buf_reset(&b);
	build(&b, HEAD "|S");
	assert_int_equal(buf_append(&b, "R\xff\xff\xff\xff", 5), 0);
	assert_string_equal(parse_err(b.data, b.len),
	    "envelope record longer than the 1 MiB limit");

	/* 'D' limit: 64 KiB. */
	buf_reset(&b);
	build(&b, ENV "|M");
	rec(&b, 'D', big, KIB64);
	build(&b, "|X65536");
	{
		struct queue_envelope env;
		const char *error = NULL;

		assert_int_equal(queue_file_parse(b.data, b.len, &env, NULL,
		    &error), 0);
		assert_int_equal(env.content_size, KIB64);
		queue_envelope_deinit(&env);
	}
	buf_reset(&b);
	build(&b, ENV "|M");
	rec(&b, 'D', big, KIB64 + 1);
	build(&b, "|X65537");
	assert_string_equal(parse_err(b.data, b.len),
	    "message record 'D' longer than the 64 KiB limit");
	buf_deinit(&b);
	free(big);
}

/* Files the writer never makes but that are valid: several small or
 * empty 'D' records, "0" with no 'D' at all, ORCPT without NOTIFY. */
static void
test_valid_hand_built(void **state)
{
	static const struct {
		const char *desc;
		const char *content;
		size_t nrcpts;
	} cases[] = {
		{ ENV "|M|Dab|D|Dc|X3", "abc", 1 },
		{ ENV "|M|X0", "", 1 },
		{ ENV "|M|X00", "", 1 },
		{ ENV "|Ort;a|Rb|NNEVER|Rc|NSUCCESS,DELAY|Ox;y|M|X0", "", 3 },
		{ ENV "|NFAILURE,FAILURE|M|X0", "", 1 },
		{ HEAD "|Wu|Kt|S|z0|B7BIT|U|rHDRS|e|Ra|M|D\r\n|X2", "\r\n",
		    1 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct queue_envelope env;
		struct buf b, got;
		const char *error = NULL;

		buf_init(&b, SIZE_MAX);
		buf_init(&got, SIZE_MAX);
		build(&b, cases[i].desc);
		if (queue_file_parse(b.data, b.len, &env, &got, &error) != 0)
			fail_msg("case %zu: %s", i, error);
		assert_string_equal(buf_cstr(&got), cases[i].content);
		assert_int_equal(env.content_size, strlen(cases[i].content));
		assert_int_equal(env.nrcpts, cases[i].nrcpts);
		assert_string_equal(env.id, ID1);
		assert_string_equal(env.arrival, "1.5");
		queue_envelope_deinit(&env);
		buf_deinit(&b);
		buf_deinit(&got);
	}
}

/* check_prefixes - every proper prefix of file is refused, each passed in
 * an allocation of exactly its size (so ASan sees any overread); the
 * whole file parses. */
static void
check_prefixes(const char *file, size_t flen)
{
	struct queue_envelope out;
	const char *error = NULL;

	for (size_t len = 0; len < flen; len++) {
		char *copy = xmalloc(len > 0 ? len : 1);

		memcpy(copy, file, len);
		error = parse_err(copy, len);
		if (len == 0)
			assert_string_equal(error, E_EMPTY);
		else if (strcmp(error, E_TRUNC) != 0 &&
		    strcmp(error, E_NOEND) != 0)
			fail_msg("prefix %zu: %s", len, error);
		free(copy);
	}
	if (queue_file_parse(file, flen, &out, NULL, &error) != 0)
		fail_msg("whole file: %s", error);
	queue_envelope_deinit(&out);
}

/* Every proper prefix of a valid file is refused (byte by byte): a
 * crash while writing leaves such a prefix. */
static void
test_truncated_every_byte(void **state)
{
	struct queue_envelope in, out;
	const char *error = NULL;
	char *content = xmalloc(KIB64 + 100);
	struct buf b;
	size_t flen;
	char *file;

	(void)state;
	memset(content, 'm', KIB64 + 100);
	env_fill(&in, true);

	/* Every record type the writer makes. */
	file = write_file(&in, content, 300, 0, &flen);
	check_prefixes(file, flen);
	free(file);
	/* Several 'D' records, an empty one among them. */
	buf_init(&b, SIZE_MAX);
	build(&b, ENV "|NSUCCESS|Ox;y|Rb|M|Dab|D|Dc|X3");
	check_prefixes(b.data, b.len);
	buf_deinit(&b);

	/* Two full-size 'D' records: every prefix again, in place (the
	 * copies would make this quadratic). */
	file = write_file(&in, content, KIB64 + 100, 0, &flen);
	for (size_t len = 1; len < flen; len++) {
		assert_int_equal(queue_file_parse(file, len, &out, NULL,
		    &error), -1);
		if (strcmp(error, E_TRUNC) != 0 && strcmp(error, E_NOEND) != 0)
			fail_msg("prefix %zu: %s", len, error);
		assert_null(out.id);
	}
	assert_int_equal(queue_file_parse(file, flen, &out, NULL, &error), 0);
	env_assert_equal(&in, &out);
	assert_int_equal(out.content_size, KIB64 + 100);
	queue_envelope_deinit(&out);
	queue_envelope_deinit(&in);
	free(content);
	free(file);
}

/* The caller's buffer maximum; what was there before stays. */
static void
test_content_buffer_max(void **state)
{
	struct queue_envelope env;
	struct buf b, got;
	const char *error = NULL;

	(void)state;
	buf_init(&b, SIZE_MAX);
	build(&b, ENV "|M|Dabc|Ddef|X6");
	buf_init(&got, 8);
	assert_int_equal(buf_append_str(&got, "xyz"), 0);
	assert_int_equal(queue_file_parse(b.data, b.len, &env, &got, &error),
	    -1);
	assert_string_equal(error, "message larger than the buffer allows");
	assert_string_equal(buf_cstr(&got), "xyz");
	assert_null(env.id);
	/* A later error also leaves it as it was. */
	buf_reset(&b);
	build(&b, ENV "|M|Dab|X3");
	assert_int_equal(queue_file_parse(b.data, b.len, &env, &got, &error),
	    -1);
	assert_string_equal(buf_cstr(&got), "xyz");
	/* Success appends. */
	buf_reset(&b);
	build(&b, ENV "|M|Dabc|Dde|X5");
	assert_int_equal(queue_file_parse(b.data, b.len, &env, &got, &error),
	    0);
	assert_string_equal(buf_cstr(&got), "xyzabcde");
	queue_envelope_deinit(&env);
	buf_deinit(&b);
	buf_deinit(&got);
}

/* ---- Writer errors ---- */

static void
assert_sticky(struct queue_writer *w, int err)
{
	errno = 0;
	assert_int_equal(queue_writer_content(w, "x", 1), -1);
	assert_int_equal(errno, err);
	errno = 0;
	assert_int_equal(queue_writer_finish(w), -1);
	assert_int_equal(errno, err);
	assert_int_equal(w->error, err);
}

static void
test_writer_write_errors(void **state)
{
	struct queue_envelope env;
	struct queue_writer w;
	char *big = xcalloc(1, 4 * KIB64);
	int fd, p[2];

	(void)state;
	env_fill(&env, true);

	/* A full disk shows at finish (nothing written before). */
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		queue_writer_init(&w, fd);
		assert_int_equal(queue_writer_envelope(&w, &env), 0);
		assert_int_equal(queue_writer_content(&w, "hi", 2), 0);
		errno = 0;
		assert_int_equal(queue_writer_finish(&w), -1);
		assert_int_equal(errno, ENOSPC);
		assert_sticky(&w, ENOSPC);
		queue_writer_deinit(&w);
		close(fd);
	}

	/* Read-only descriptor: the error shows once bytes are written
	 * (64 KiB pending), and sticks. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	errno = 0;
	assert_int_equal(queue_writer_content(&w, big, 2 * KIB64), -1);
	assert_int_equal(errno, EBADF);
	assert_sticky(&w, EBADF);
	queue_writer_deinit(&w);
	close(fd);

	/* A closed descriptor. */
	fd = mem_fd();
	close(fd);
	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	errno = 0;
	assert_int_equal(queue_writer_finish(&w), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(queue_writer_envelope(&w, &env), -1);
	assert_int_equal(errno, EBADF);
	queue_writer_deinit(&w);

	/* A short write (a full non-blocking pipe) then EAGAIN: the bytes
	 * taken are not written again. */
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	queue_writer_init(&w, p[1]);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	errno = 0;
	assert_int_equal(queue_writer_content(&w, big, 4 * KIB64), -1);
	assert_int_equal(errno, EAGAIN);
	assert_sticky(&w, EAGAIN);
	queue_writer_deinit(&w);
	{
		/* What reached the pipe is a prefix of the real file. */
		size_t flen, n = 0;
		char *file = write_file(&env, big, 4 * KIB64, 0, &flen);
		char *got = xmalloc(flen);
		ssize_t r;

		while ((r = read(p[0], got + n, flen - n)) > 0)
			n += (size_t)r;
		assert_true(n > 0 && n < flen);
		assert_memory_equal(got, file, n);
		free(got);
		free(file);
	}
	close(p[0]);
	close(p[1]);
	queue_envelope_deinit(&env);
	free(big);
}

/* Calls out of order: EINVAL, sticky. */
/*
 * A reused queue file (queue_spare.h) still holds an older, longer
 * message: the writer overwrites it from offset 0 and cuts the rest, so
 * the file is byte for byte what a fresh file would hold and parses.
 * Over a shorter old file nothing is left of it either.
 */
static void
test_writer_reuses_a_longer_file(void **state)
{
	struct queue_envelope env, back;
	struct queue_writer w;
	const char *err = NULL;
	char *fresh, *reused;
	size_t fresh_len, reused_len;
	const char *body = "Subject: new\r\n\r\nnew message\r\n";
	char old[8192];
	(void)state;

	env_fill(&env, false);
	fresh = write_file(&env, body, strlen(body), 0, &fresh_len);
	assert_true(fresh_len < sizeof(old));
	for (size_t pass = 0; pass < 2; pass++) {
		/* pass 0: the old file is longer; pass 1: shorter. */
		size_t old_len = pass == 0 ? sizeof(old) : fresh_len / 2;
		int fd = mem_fd(), wfd;
		char path[64];

		memset(old, 'Z', sizeof(old));
		assert_int_equal(write(fd, old, old_len), (ssize_t)old_len);
		/* smtpd's descriptor: write only, offset 0. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		wfd = open(path, O_WRONLY | O_CLOEXEC);
		assert_true(wfd >= 0);
		queue_writer_init(&w, wfd);
		assert_int_equal(queue_writer_envelope(&w, &env), 0);
		assert_int_equal(queue_writer_content(&w, body, strlen(body)),
		    0);
		assert_int_equal(queue_writer_finish(&w), 0);
		queue_writer_deinit(&w);
		close(wfd);
		reused = fd_slurp(fd, &reused_len);
		close(fd);
		assert_int_equal(reused_len, fresh_len);
		assert_memory_equal(reused, fresh, fresh_len);
		memset(&back, 0, sizeof(back));
		assert_int_equal(queue_file_parse(reused, reused_len, &back,
		    NULL, &err), 0);
		assert_string_equal(back.id, ID1);
		queue_envelope_deinit(&back);
		free(reused);
	}
	free(fresh);
	queue_envelope_deinit(&env);
}

/* queue_file_id: the ID from 'V' and 'I' alone, even in a file cut
 * short after them; nothing from anything else. */
static void
test_file_id(void **state)
{
	struct queue_envelope env;
	char *file, id[QUEUE_ID_LEN + 1];
	size_t len, head;
	struct buf b;
	(void)state;

	env_fill(&env, false);
	file = write_file(&env, "x\r\n", 3, 0, &len);
	/* 'V' record, then 'I' record: 5 + 13 + 5 + 16 bytes. */
	head = 2 * 5 + strlen(QUEUE_FILE_MAGIC) + QUEUE_ID_LEN;
	assert_true(len > head);
	for (size_t n = 0; n <= len; n++) {
		memset(id, 'Q', sizeof(id));
		if (n < head) {
			assert_int_equal(queue_file_id(file, n, id), -1);
			continue;
		}
		assert_int_equal(queue_file_id(file, n, id), 0);
		assert_string_equal(id, ID1);
	}
	free(file);
	queue_envelope_deinit(&env);

	/* Wrong first record, wrong version, wrong 'I' length, an ID with
	 * a letter outside the alphabet or a NUL inside. */
	{
		static const char *bad[] = {
			"I*|V*",
			"Vostia-queue 2|I*",
			"V*|I0123456789ABCDE",
			"V*|I0123456789ABCDEF0",
			"V*|I0123456789ABCDEU",
			"V*|T1717171717.0|I*",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			buf_init(&b, SIZE_MAX);
			build_n(&b, bad[i], strlen(bad[i]));
			assert_int_equal(queue_file_id(b.data, b.len, id), -1);
			buf_deinit(&b);
		}
	}
	buf_init(&b, SIZE_MAX);
	build_n(&b, "V*|I0123456789ABCDEF", 20);
	b.data[b.len - 5] = '\0';
	assert_int_equal(queue_file_id(b.data, b.len, id), -1);
	buf_deinit(&b);
}

/* The sentence for a file that holds another message's bytes: only
 * when the file names another ID, with the parse error or "complete". */
static void
test_file_reused_why(void **state)
{
	struct queue_envelope env;
	char *file, *why;
	size_t len;
	(void)state;

	env_fill(&env, false);
	file = write_file(&env, "x\r\n", 3, 0, &len);
	assert_null(queue_file_reused_why(file, len, ID1, NULL));
	why = queue_file_reused_why(file, len, "0123456789ABCDEG", NULL);
	assert_non_null(why);
	assert_string_equal(why, "holds the file of message " ID1 ", not "
	    "0123456789ABCDEG (complete): a crash undid the renames of a "
	    "queue file reused after 0123456789ABCDEG had left the queue "
	    "(delivered or returned; nothing of it is owed)");
	free(why);
	why = queue_file_reused_why(file, len / 2, "0123456789ABCDEG",
	    "no end record");
	assert_non_null(why);
	assert_non_null(strstr(why, " (no end record): "));
	free(why);
	/* No ID at all: not a reused file. */
	assert_null(queue_file_reused_why("not a queue file\n", 17,
	    "0123456789ABCDEG", "bad"));
	free(file);
	queue_envelope_deinit(&env);
}

static void
test_writer_call_order(void **state)
{
	struct queue_envelope env;
	struct queue_writer w;
	int fd = mem_fd();
	size_t len;
	char *file;

	(void)state;
	env_fill(&env, false);

	queue_writer_init(&w, fd);
	errno = 0;
	assert_int_equal(queue_writer_content(&w, "x", 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(queue_writer_envelope(&w, &env), -1);
	assert_int_equal(errno, EINVAL);
	queue_writer_deinit(&w);

	queue_writer_init(&w, fd);
	errno = 0;
	assert_int_equal(queue_writer_finish(&w), -1);
	assert_int_equal(errno, EINVAL);
	queue_writer_deinit(&w);

	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	errno = 0;
	assert_int_equal(queue_writer_envelope(&w, &env), -1);
	assert_int_equal(errno, EINVAL);
	assert_sticky(&w, EINVAL);
	queue_writer_deinit(&w);

	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	errno = 0;
	assert_int_equal(queue_writer_content(&w, NULL, 1), -1);
	assert_int_equal(errno, EINVAL);
	queue_writer_deinit(&w);

	/* Nothing reached the descriptor so far. */
	file = fd_slurp(fd, &len);
	assert_int_equal(len, 0);
	free(file);

	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	assert_int_equal(queue_writer_content(&w, NULL, 0), 0);
	assert_int_equal(queue_writer_finish(&w), 0);
	errno = 0;
	assert_int_equal(queue_writer_finish(&w), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(queue_writer_content(&w, "x", 1), -1);
	assert_int_equal(errno, EINVAL);
	queue_writer_deinit(&w);

	queue_envelope_deinit(&env);
	close(fd);
}

/* Envelopes the parser would refuse are not written. */
static void
test_writer_refuses_envelope(void **state)
{
	(void)state;
	for (int i = 0; i < 14; i++) {
		struct queue_envelope env;
		struct queue_writer w;
		int fd = mem_fd();
		size_t len;
		char *file;

		env_fill(&env, false);
		switch (i) {
		case 0: free(env.id); env.id = NULL; break;
		case 1: free(env.id); env.id = xstrdup("0123456789abcdef");
			break;
		case 2: free(env.id); env.id = xstrdup("../../etc/passwd");
			break;
		case 3: free(env.sender); env.sender = NULL; break;
		case 4: free(env.rcpts[0].addr); free(env.rcpts);
			env.rcpts = NULL; env.nrcpts = 0; break;
		case 5: free(env.rcpts[0].addr); env.rcpts[0].addr = NULL;
			break;
		case 6: env.ret = xstrdup("full"); break;
		case 7: env.body = xstrdup("8BIT"); break;
		case 8: env.size = xstrdup("1e6"); break;
		case 9: env.rcpts[0].notify = xstrdup("NEVER,DELAY"); break;
		case 10: env.rcpts[0].notify = xstrdup(""); break;
		case 11: env.size = xstrdup(""); break;
		case 12:
			free(env.helo);
			env.helo = xmalloc(QUEUE_RECORD_MAX_BYTES + 2);
			memset(env.helo, 'h', QUEUE_RECORD_MAX_BYTES + 1);
			env.helo[QUEUE_RECORD_MAX_BYTES + 1] = '\0';
			break;
		case 13:
			queue_envelope_add_rcpt(&env, "x", NULL, NULL);
			free(env.rcpts[1].addr);
			env.rcpts[1].addr = NULL;
			break;
		}
		queue_writer_init(&w, fd);
		errno = 0;
		if (queue_writer_envelope(&w, &env) != -1 || errno != EINVAL)
			fail_msg("case %d accepted", i);
		assert_int_equal(queue_writer_finish(&w), -1);
		queue_writer_deinit(&w);
		file = fd_slurp(fd, &len);
		assert_int_equal(len, 0);
		free(file);
		close(fd);
		queue_envelope_deinit(&env);
	}
}

/* ---- Queue IDs ---- */

#define EPOCH_USEC (UINT64_C(1704067200) * 1000000)

static void
test_queue_id_layout(void **state)
{
	char id[QUEUE_ID_LEN + 1];

	(void)state;
	queue_id_new(id, EPOCH_USEC, 0, 0);
	assert_string_equal(id, "0000000000000000");
	/* 1 usec later, counter 1, pid 1: low part 1 << 12 | 1 = 4097. */
	queue_id_new(id, EPOCH_USEC + 1, 1, 1);
	assert_string_equal(id, "0000000001000401");
	/* Counter keeps 18 bits, pid 12 bits. */
	queue_id_new(id, EPOCH_USEC + 31, 0x3ffff, 0xfff);
	assert_string_equal(id, "000000000ZZZZZZZ");
	queue_id_new(id, EPOCH_USEC, 0x40000, 0x1000);
	assert_string_equal(id, "0000000000000000");
	/* 2024-06-01 00:00:00 UTC. */
	queue_id_new(id, UINT64_C(1717200000) * 1000000, 5, 4242);
	assert_string_equal(id, "0BY6VY2000000M4J");
	/* Before the ID epoch: time 0; past 50 bits: the largest time. */
	queue_id_new(id, 1, 2, 3);
	assert_string_equal(id, "0000000000000803");
	queue_id_new(id, UINT64_MAX, 2, 3);
	assert_string_equal(id, "ZZZZZZZZZZ000803");
	assert_true(queue_id_is_valid(id));
}

static void
test_queue_id_sorted(void **state)
{
	char prev[QUEUE_ID_LEN + 1], id[QUEUE_ID_LEN + 1];
	uint64_t usec = UINT64_C(1750000000) * 1000000;
	uint32_t counter = 0;
	uint32_t x = 1;

	(void)state;
	queue_id_new(prev, usec, counter, 12345);
	assert_true(queue_id_is_valid(prev));
	for (int i = 0; i < 100000; i++) {
		/* Time goes on by 0 .. 2^k usec, the counter by one. */
		x = x * 1103515245 + 12345;
		usec += (x >> 16) & ((1u << ((x >> 8) % 40 / 2)) - 1);
		counter++;
		queue_id_new(id, usec, counter, 12345);
		assert_true(queue_id_is_valid(id));
		if (strcmp(prev, id) >= 0)
			fail_msg("%s then %s at %d", prev, id, i);
		memcpy(prev, id, sizeof(id));
	}
	/* Another process, same time and counter: another ID. */
	queue_id_new(prev, usec, counter, 12346);
	assert_string_not_equal(prev, id);
}

static void
test_queue_id_valid(void **state)
{
	static const char *const good[] = {
		"0123456789ABCDEF", "GHJKMNPQRSTVWXYZ", "0000000000000000",
		"ZZZZZZZZZZZZZZZZ",
	};
	static const char *const bad[] = {
		"", "0123456789ABCDE", "0123456789ABCDEF0", "0123456789abcdef",
		"0123456789ABCDEI", "0123456789ABCDEL", "0123456789ABCDEO",
		"0123456789ABCDEU", "../x", "../../../../etc/", "0123456789ABCD/",
		"0123456789ABCDE/", "0123456789ABCDE ", " 123456789ABCDEF",
		"0123456789ABCDE\n", "0123456789ABCDE\xc3", "0123456789ABCDE.",
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(good); i++)
		assert_true(queue_id_is_valid(good[i]));
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		if (queue_id_is_valid(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);
	}
	assert_false(queue_id_is_valid(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_minimal),
		cmocka_unit_test(test_round_trip_all_fields),
		cmocka_unit_test(test_round_trip_each_optional),
		cmocka_unit_test(test_null_required_fields),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_content_split),
		cmocka_unit_test(test_invalid_files),
		cmocka_unit_test(test_invalid_built),
		cmocka_unit_test(test_valid_hand_built),
		cmocka_unit_test(test_trailer),
		cmocka_unit_test(test_truncated_every_byte),
		cmocka_unit_test(test_content_buffer_max),
		cmocka_unit_test(test_writer_write_errors),
		cmocka_unit_test(test_writer_call_order),
		cmocka_unit_test(test_writer_reuses_a_longer_file),
		cmocka_unit_test(test_file_id),
		cmocka_unit_test(test_file_reused_why),
		cmocka_unit_test(test_writer_refuses_envelope),
		cmocka_unit_test(test_queue_id_layout),
		cmocka_unit_test(test_queue_id_sorted),
		cmocka_unit_test(test_queue_id_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
