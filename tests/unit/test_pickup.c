/* SPDX-License-Identifier: MIT */
/*
 * test_pickup - maildrop files: the header and the writer
 * (src/common/maildrop.c), and pickup's checks and conversion into a
 * queue file (pickup_convert in src/queue/pickup.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "maildrop.h"
#include "pickup.h"
#include "queue_file.h"
#include "test_support.h"

#define ID "0123456789ABCDEF"

static const struct pickup_params params = {
	.myhostname = "mx.example.org",
	.myorigin = "example.org",
	.mail_name = "Ostia",
	.message_size_limit = 1000,
	.mail_owner_uid = 100,
	.now = 1717171717,
};

/* ---- building maildrop files ---- */

static void
rec(struct buf *b, char type, const char *payload, size_t n)
{
	unsigned char h[5] = { (unsigned char)type, (unsigned char)(n >> 24),
		(unsigned char)(n >> 16), (unsigned char)(n >> 8),
		(unsigned char)n };

	assert_int_equal(buf_append(b, h, 5), 0);
	assert_int_equal(buf_append(b, payload, n), 0);
}

static void
srec(struct buf *b, char type, const char *payload)
{
	rec(b, type, payload, strlen(payload));
}

struct mf {
	const char *header;	/* maildrop header payload */
	const char *protocol;
	const char *sender;
	const char *rcpts[4];
	const char *notify;	/* for the first recipient */
	const char *orcpt;	/* for the first recipient */
	const char *sasl;	/* 'W' */
	const char *ret;	/* 'r' */
	const char *envid;	/* 'e' */
	const char *body;
	char trailer;		/* a trailer record type, or 0 */
};

static void
build(struct buf *b, const struct mf *m)
{
	char n[32];

	buf_init(b, 1 << 20);
	srec(b, 'u', m->header != NULL ? m->header :
	    "ostia-maildrop 1 1000 alice");
	srec(b, 'V', "ostia-queue 1");
	srec(b, 'I', ID);
	srec(b, 'T', "1.000000");
	srec(b, 'C', "localhost");
	srec(b, 'A', "127.0.0.1");
	srec(b, 'H', "");
	srec(b, 'P', m->protocol != NULL ? m->protocol : "maildrop");
	srec(b, 'L', "sendmail");
	if (m->sasl != NULL)
		srec(b, 'W', m->sasl);
	srec(b, 'S', m->sender != NULL ? m->sender : "alice@example.org");
	if (m->ret != NULL)
		srec(b, 'r', m->ret);
	if (m->envid != NULL)
		srec(b, 'e', m->envid);
	for (size_t i = 0; i < N_ELEMENTS(m->rcpts) && m->rcpts[i]; i++) {
		srec(b, 'R', m->rcpts[i]);
		if (i == 0 && m->notify != NULL)
			srec(b, 'N', m->notify);
		if (i == 0 && m->orcpt != NULL)
			srec(b, 'O', m->orcpt);
	}
	srec(b, 'M', "");
	if (m->body != NULL && m->body[0] != '\0')
		srec(b, 'D', m->body);
	if (m->trailer == 'F')
		srec(b, 'F', "smtp:[192.0.2.1]");
	else if (m->trailer == 'Q')
		srec(b, 'Q', "held");
	else if (m->trailer == 'J')
		srec(b, 'J', "x@example.net");
	else if (m->trailer == 'b')
		srec(b, 'b', "spy@example.net");
	snprintf(n, sizeof(n), "%zu", m->body != NULL ? strlen(m->body) : 0);
	srec(b, 'X', n);
}

static int
convert_with(const struct mf *mf, uid_t owner, const struct pickup_params *p,
    struct pickup_msg *m, char *why, size_t whysz)
{
	struct buf b;
	int r;

	build(&b, mf);
	why[0] = '\0';
	r = pickup_convert(b.data, b.len, owner, ID, p, m, why, whysz);
	buf_deinit(&b);
	return r;
}

static int
convert(const struct mf *mf, uid_t owner, struct pickup_msg *m, char *why,
    size_t whysz)
{
	return convert_with(mf, owner, &params, m, why, whysz);
}

/* ---- the maildrop header ---- */

static void
test_header(void **state)
{
	unsigned char out[MAILDROP_HEADER_MAX_BYTES + 5];
	char login[MAILDROP_LOGIN_MAX_BYTES + 1];
	const char *err = NULL;
	uid_t uid = 0;
	int n;

	(void)state;
	n = maildrop_header_encode(1000, "alice", out, sizeof(out));
	assert_int_equal(n, 5 + 27);
	assert_memory_equal(out, "u\0\0\0\x1bostia-maildrop 1 1000 alice", 32);
	assert_int_equal(maildrop_header_parse(out, (size_t)n, &uid, login,
	    &err), n);
	assert_int_equal(uid, 1000);
	assert_string_equal(login, "alice");
	/* Logins that cannot be local parts are refused. */
	assert_int_equal(maildrop_header_encode(1, "a b", out, sizeof(out)),
	    -1);
	assert_int_equal(maildrop_header_encode(1, ".x", out, sizeof(out)),
	    -1);
	assert_int_equal(maildrop_header_encode(1, "", out, sizeof(out)), -1);
	assert_int_equal(maildrop_header_encode(1, "a@b", out, sizeof(out)),
	    -1);
	assert_true(maildrop_login_valid("www-data"));
	assert_true(maildrop_login_valid("j.smith"));
	assert_false(maildrop_login_valid("a..b"));
}

static void
test_header_bad(void **state)
{
	static const char *const bad[] = {
		"ostia-maildrop 2 1000 alice",
		"ostia-maildrop 1 01 alice",
		"ostia-maildrop 1 -1 alice",
		"ostia-maildrop 1 4294967295 alice",
		"ostia-maildrop 1 99999999999 alice",
		"ostia-maildrop 1 1000",
		"ostia-maildrop 1 1000 ",
		"ostia-maildrop 1 1000 a b",
		"ostia-maildrop 1  alice",
		"ostia-maildrop 1 1x alice",
	};
	char login[MAILDROP_LOGIN_MAX_BYTES + 1];
	const char *err;
	uid_t uid;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		struct buf b;

		buf_init(&b, 1024);
		srec(&b, 'u', bad[i]);
		err = NULL;
		if (maildrop_header_parse((const unsigned char *)b.data, b.len,
		    &uid, login, &err) != -1 || err == NULL)
			fail_msg("\"%s\" accepted", bad[i]);
		buf_deinit(&b);
	}
	/* Wrong type, cut short, too long. */
	assert_int_equal(maildrop_header_parse((const unsigned char *)
	    "V\0\0\0\x01x", 6, &uid, login, &err), -1);
	assert_int_equal(maildrop_header_parse((const unsigned char *)
	    "u\0\0\0\x20ostia", 10, &uid, login, &err), -1);
	assert_int_equal(maildrop_header_parse((const unsigned char *)
	    "u\0\0\x10\0", 5, &uid, login, &err), -1);
	assert_non_null(strstr(err, "too long"));
	assert_true(maildrop_name_valid(ID));
	assert_false(maildrop_name_valid("0123456789ABCDEI"));
	assert_false(maildrop_name_valid("0123456789ABCDE"));
	assert_false(maildrop_name_valid("../0123456789ABC"));
}

/* maildrop_drop into a directory of the test: header, data, modes. */
static void
test_drop(void **state)
{
	char dir[] = "/tmp/ostia-maildrop-XXXXXX", path[128];
	char errbuf[256];
	const char *why = NULL;
	struct stat st;
	int dfd, in, r;
	char *data;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_PATH | O_DIRECTORY);
	assert_true(dfd >= 0);
	in = memfd_create("in", 0);
	assert_true(in >= 0);
	assert_int_equal(write(in, "QUEUEFILE", 9), 9);
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	r = maildrop_drop(dfd, ID, 1000, "alice", in, 0, errbuf,
	    sizeof(errbuf));
	assert_int_equal(r, MAILDROP_EX_OK);
	snprintf(path, sizeof(path), "%s/%s", dir, ID);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, MAILDROP_MODE_READY);
	data = test_read_file(path, &len);
	assert_int_equal(len, 5 + 27 + 9);
	assert_memory_equal(data + 32, "QUEUEFILE", 9);
	free(data);
	/* The name is taken: not replaced. */
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	r = maildrop_drop(dfd, ID, 1000, "alice", in, 0, errbuf,
	    sizeof(errbuf));
	assert_int_equal(r, MAILDROP_EX_CANTCREAT);
	unlink(path);
	/* Too large: the file is removed again. */
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	r = maildrop_drop(dfd, ID, 1000, "alice", in, 8, errbuf,
	    sizeof(errbuf));
	assert_int_equal(r, MAILDROP_EX_DATAERR);
	assert_int_equal(stat(path, &st), -1);
	/* Not a maildrop directory (mode 0700, our group). */
	assert_int_equal(maildrop_dir_check(dfd, getegid(), &why), -1);
	assert_non_null(strstr(why, "1730"));
	assert_int_equal(chmod(dir, MAILDROP_DIR_MODE), 0);
	assert_int_equal(maildrop_dir_check(dfd, getegid(), &why), 0);
	assert_int_equal(maildrop_dir_check(dfd, getegid() + 1, &why), -1);
	close(in);
	close(dfd);
	rmdir(dir);
}

/* ---- pickup_convert ---- */

static void
test_convert_user(void **state)
{
	struct mf mf = {
		.sender = "root@example.org",	/* a claim: not honoured */
		.rcpts = { "bob@example.org", "carol", "bob@example.org",
			"<dave@example.net>" },
		.notify = "SUCCESS",
		.body = "Subject: hi\r\n\r\nbare\nlf\r\nno end",
	};
	struct pickup_msg m;
	char why[256];

	(void)state;
	assert_int_equal(convert(&mf, 1000, &m, why, sizeof(why)), 0);
	assert_false(m.trusted);
	assert_int_equal(m.uid, 1000);
	assert_string_equal(m.login, "alice");
	assert_string_equal(m.env.sender, "alice@example.org");
	assert_string_equal(m.ignored_sender, "root@example.org");
	assert_string_equal(m.env.id, ID);
	assert_string_equal(m.env.protocol, "local");
	assert_string_equal(m.env.service, "pickup");
	assert_string_equal(m.env.client_name, "localhost");
	assert_string_equal(m.env.client_addr, "127.0.0.1");
	assert_string_equal(m.env.arrival, "1717171717.000000");
	assert_null(m.env.body);
	assert_false(m.env.smtputf8);
	/* @myorigin added, the duplicate gone, NOTIFY kept. */
	assert_int_equal(m.env.nrcpts, 3);
	assert_string_equal(m.env.rcpts[0].addr, "bob@example.org");
	assert_string_equal(m.env.rcpts[0].notify, "SUCCESS");
	assert_string_equal(m.env.rcpts[1].addr, "carol@example.org");
	assert_null(m.env.rcpts[1].notify);
	assert_string_equal(m.env.rcpts[2].addr, "dave@example.net");
	assert_null(m.env.filter);
	/* The trace field first; CRLF everywhere. */
	assert_string_equal(buf_cstr(&m.content),
	    "Received: by mx.example.org (Ostia, from userid 1000)\r\n"
	    "\tid " ID "; Fri, 31 May 2024 16:08:37 +0000\r\n"
	    "Subject: hi\r\n\r\nbare\r\nlf\r\nno end\r\n");
	pickup_msg_deinit(&m);
}

/* A first line that starts with white space is not a continuation of
 * the Received: header: an empty line goes before it.  One that starts
 * with a header, or a later indented line, is left alone. */
static void
test_convert_leading_white_space(void **state)
{
	static const struct {
		const char *body, *after;
	} cases[] = {
		{ " indented first\r\nSubject: x\r\n",
		  "\r\n indented first\r\nSubject: x\r\n" },
		{ "\tTab first\n", "\r\n\tTab first\r\n" },
		{ "Subject: x\r\n folded\r\n",
		  "Subject: x\r\n folded\r\n" },
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct mf mf = {
			.rcpts = { "bob@example.org" },
			.body = cases[i].body,
		};
		struct pickup_msg m;
		char why[256], want[512];

		assert_int_equal(convert(&mf, 1000, &m, why, sizeof(why)), 0);
		snprintf(want, sizeof(want), "Received: by mx.example.org "
		    "(Ostia, from userid 1000)\r\n\tid " ID "; Fri, 31 May "
		    "2024 16:08:37 +0000\r\n%s", cases[i].after);
		assert_string_equal(buf_cstr(&m.content), want);
		pickup_msg_deinit(&m);
	}
}

/* content_filter: every message gets the pickup service's filter, as
 * smtpd's do; an empty one is none. */
static void
test_convert_content_filter(void **state)
{
	struct mf mf = { .rcpts = { "bob@example.org" },
		.body = "Subject: hi\r\n\r\nbody\r\n" };
	struct pickup_params p = params;
	struct pickup_msg m;
	char why[256];

	(void)state;
	p.content_filter = "smtp-amavis:[127.0.0.1]:10024";
	assert_int_equal(convert_with(&mf, 1000, &p, &m, why, sizeof(why)), 0);
	assert_non_null(m.env.filter);
	assert_string_equal(m.env.filter, "smtp-amavis:[127.0.0.1]:10024");
	pickup_msg_deinit(&m);
	p.content_filter = "";
	assert_int_equal(convert_with(&mf, 1000, &p, &m, why, sizeof(why)), 0);
	assert_null(m.env.filter);
	pickup_msg_deinit(&m);
}

/* message_reject_characters refuses: queued with an 'E' record that
 * names the byte (returned to the sender), the text as it came;
 * message_strip_characters removes, line ends kept. */
static void
test_convert_chars(void **state)
{
	struct mf mf = { .rcpts = { "bob@example.org" },
		.body = "Subject: a\001b\r\n\r\nbo\001dy\177\r\n" };
	struct pickup_params p = params;
	struct msg_chars rej, strip;
	struct pickup_msg m;
	char why[256];
	const char *text;

	(void)state;
	(void)msg_chars_parse("\\177", &rej, NULL, 0);
	(void)msg_chars_parse("\\1", &strip, NULL, 0);
	p.reject_chars = &rej;
	assert_int_equal(convert_with(&mf, 1000, &p, &m, why, sizeof(why)), 0);
	assert_non_null(m.env.refused);
	assert_true(queue_refusal_valid(m.env.refused));
	assert_true(strncmp(m.env.refused, "5.7.1 ", 6) == 0);
	assert_non_null(strstr(m.env.refused, "\\177"));
	assert_non_null(strstr(buf_cstr(&m.content), "bo\001dy\177"));
	assert_string_equal(m.env.rcpts[0].addr, "bob@example.org");
	pickup_msg_deinit(&m);
	p.reject_chars = NULL;
	p.strip_chars = &strip;
	assert_int_equal(convert_with(&mf, 1000, &p, &m, why, sizeof(why)), 0);
	text = buf_cstr(&m.content);
	assert_null(strchr(text, '\001'));
	assert_non_null(strstr(text, "Subject: ab\r\n\r\nbody\177\r\n"));
	assert_int_equal(strlen(text), m.content.len);
	pickup_msg_deinit(&m);
}

/* authorized_submit_users: a sound file from a login the list refuses
 * is PICKUP_REFUSED (dropped, not moved aside); root is not exempt. */
static void
test_convert_submit_users(void **state)
{
	static char deny_alice[] = "!alice", anyone[] = "static:anyone",
	    only_bob[] = "bob";
	char *web[] = { deny_alice, anyone, NULL };
	char *bob[] = { only_bob, NULL };
	struct mf mf = { .rcpts = { "a@example.org" }, .body = "x\r\n" };
	struct mf root = { .header = "ostia-maildrop 1 0 root",
	    .rcpts = { "a@example.org" }, .body = "x\r\n" };
	struct pickup_params p = params;
	struct pickup_msg m;
	char why[256];

	(void)state;
	p.submit_users = web;
	assert_int_equal(convert_with(&mf, 1000, &p, &m, why, sizeof(why)),
	    PICKUP_REFUSED);
	assert_string_equal(why, "alice (uid 1000) may not submit mail: "
	    "refused by \"!alice\" (authorized_submit_users)");
	assert_int_equal(convert_with(&root, 0, &p, &m, why, sizeof(why)), 0);
	pickup_msg_deinit(&m);
	p.submit_users = bob;
	assert_int_equal(convert_with(&root, 0, &p, &m, why, sizeof(why)),
	    PICKUP_REFUSED);
	assert_string_equal(why, "root (uid 0) may not submit mail: not "
	    "listed (authorized_submit_users)");
	/* A file that is not sound stays -1 (moved aside), whatever the
	 * list says. */
	root.protocol = "ESMTP";
	assert_int_equal(convert_with(&root, 1000, &p, &m, why, sizeof(why)),
	    -1);
}

/* Header addresses are completed as local mail (header_rewrite.h):
 * only the primary header block, only address headers. */
static void
test_convert_header_completion(void **state)
{
	static const char body[] =
	    "From: Root User <root>\r\n"
	    "To: bob, carol@host,\r\n\tdave@example.net (Dave)\r\n"
	    "Reply-To: \"a@b\"\r\n"
	    "Subject: root\r\n"
	    "\r\n"
	    "To: body\r\n";
	static const struct {
		bool at, dot;
		const char *head;
	} cases[] = {
		{ false, false,
		  "From: Root User <root>\r\n"
		  "To: bob, carol@host,\r\n\tdave@example.net (Dave)\r\n"
		  "Reply-To: \"a@b\"\r\n" },
		{ true, false,
		  "From: Root User <root@example.org>\r\n"
		  "To: bob@example.org, carol@host,\r\n"
		  "\tdave@example.net (Dave)\r\n"
		  "Reply-To: \"a@b\"@example.org\r\n" },
		{ true, true,
		  "From: Root User <root@example.org>\r\n"
		  "To: bob@example.org, carol@host.dom.example,\r\n"
		  "\tdave@example.net (Dave)\r\n"
		  "Reply-To: \"a@b\"@example.org\r\n" },
	};
	struct mf mf = {
		.rcpts = { "bob@example.org" },
		.body = body,
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct pickup_params p = params;
		struct pickup_msg m;
		char why[256], want[1024];

		p.mydomain = "dom.example";
		p.append_at_myorigin = cases[i].at;
		p.append_dot_mydomain = cases[i].dot;
		assert_int_equal(convert_with(&mf, 1000, &p, &m, why,
		    sizeof(why)), 0);
		snprintf(want, sizeof(want), "Received: by mx.example.org "
		    "(Ostia, from userid 1000)\r\n\tid " ID "; Fri, 31 May "
		    "2024 16:08:37 +0000\r\n%sSubject: root\r\n\r\n"
		    "To: body\r\n", cases[i].head);
		assert_string_equal(buf_cstr(&m.content), want);
		pickup_msg_deinit(&m);
	}
}

/* message_drop_headers: a forged Return-Path and the other named
 * headers leave the header block (continuations too), after the
 * addresses were completed; the body keeps its lines. */
static void
test_convert_drop_headers(void **state)
{
	static char n_bcc[] = "bcc", n_rp[] = "return-path";
	static char n_cl[] = "content-length";
	static char *const drop[] = { n_bcc, n_rp, n_cl, NULL };
	struct mf mf = {
		.rcpts = { "bob@example.org" },
		.body = "Return-Path: <forged@example.com>\r\n"
		    "From: root\r\n"
		    "Content-Length: 5,\r\n 6\r\n"
		    "Subject: s\r\n"
		    "\r\n"
		    "Return-Path: body\r\n",
	};
	struct pickup_params p = params;
	struct pickup_msg m;
	char why[256];

	(void)state;
	p.drop_headers = drop;
	p.append_at_myorigin = true;
	assert_int_equal(convert_with(&mf, 1000, &p, &m, why, sizeof(why)),
	    0);
	assert_string_equal(buf_cstr(&m.content), "Received: by "
	    "mx.example.org (Ostia, from userid 1000)\r\n\tid " ID "; Fri, "
	    "31 May 2024 16:08:37 +0000\r\nFrom: root@example.org\r\n"
	    "Subject: s\r\n\r\nReturn-Path: body\r\n");
	pickup_msg_deinit(&m);
}

static void
test_convert_trusted(void **state)
{
	struct mf mf = {
		.header = "ostia-maildrop 1 0 root",
		.sender = "<list-bounces@example.net>",
		.rcpts = { "j\xc3\xb6rg@example.org" },
		.ret = "HDRS",
		.envid = "QQ314159",
		.orcpt = "rfc822;orig@example.org",
		.body = "Subject: caf\xc3\xa9\r\n\r\n",
	};
	struct pickup_msg m;
	char why[256];

	(void)state;
	assert_int_equal(convert(&mf, 0, &m, why, sizeof(why)), 0);
	assert_string_equal(m.env.ret, "HDRS");
	assert_string_equal(m.env.envid, "QQ314159");
	assert_string_equal(m.env.rcpts[0].orcpt, "rfc822;orig@example.org");
	assert_true(m.trusted);
	assert_string_equal(m.env.sender, "list-bounces@example.net");
	assert_null(m.ignored_sender);
	assert_string_equal(m.env.body, "8BITMIME");
	assert_true(m.env.smtputf8);
	pickup_msg_deinit(&m);

	/* mail_owner is trusted too; the null sender is allowed. */
	mf.header = "ostia-maildrop 1 100 ostia";
	mf.sender = "";
	assert_int_equal(convert(&mf, 100, &m, why, sizeof(why)), 0);
	assert_string_equal(m.env.sender, "");
	pickup_msg_deinit(&m);

	/* A bare sender name gets @myorigin. */
	mf.sender = "cron";
	assert_int_equal(convert(&mf, 100, &m, why, sizeof(why)), 0);
	assert_string_equal(m.env.sender, "cron@example.org");
	pickup_msg_deinit(&m);

	/* A trusted sender that is not an address: refused. */
	mf.sender = "a b@c";
	assert_int_equal(convert(&mf, 100, &m, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "sender"));
}

static void
test_convert_refused(void **state)
{
	static const struct {
		struct mf mf;
		uid_t owner;
		const char *why;
	} cases[] = {
		/* The owner the kernel recorded decides, not the header. */
		{ { .header = "ostia-maildrop 1 0 root",
		    .rcpts = { "a@example.org" }, .body = "x\r\n" }, 1000,
		    "names uid 0, but the file belongs to uid 1000" },
		{ { .protocol = "ESMTP", .rcpts = { "a@example.org" },
		    .body = "x\r\n" }, 1000, "is not \"maildrop\"" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .trailer = 'F' }, 1000, "'F' (content filter)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .trailer = 'Q' }, 1000, "'Q' (hold)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .trailer = 'J' }, 1000, "'J' (redirect)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .trailer = 'b' }, 1000, "'b' (BCC)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .sasl = "alice" }, 1000, "'W' (SASL user)" },
		/* ORCPT (sendmail -bs) must be "type;address", printable. */
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .orcpt = "rfc822b@example.org" }, 1000, "(ORCPT)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .orcpt = "rfc 822;b@example.org" }, 1000, "(ORCPT)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .orcpt = "rfc822;b\x1b[2J@example.org" }, 1000,
		    "(ORCPT)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .orcpt = "rfc822;" }, 1000, "(ORCPT)" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .envid = "a\x01b" }, 1000, "envelope ID" },
		{ { .rcpts = { "a@example.org" }, .body = "x\r\n",
		    .notify = "SOMETIMES" }, 1000, "not a valid queue file" },
		{ { .header = "ostia-maildrop 1 1000 alice\n",
		    .rcpts = { "a@example.org" }, .body = "x\r\n" }, 1000,
		    "valid login" },
		{ { .rcpts = { "a@example.org", "not an address" },
		    .body = "x\r\n" }, 1000, "recipient 2" },
		{ { .rcpts = { "a@example.org" }, .body = NULL }, 1000, NULL },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct pickup_msg m;
		char why[256];
		int r = convert(&cases[i].mf, cases[i].owner, &m, why,
		    sizeof(why));

		if (cases[i].why == NULL) {
			if (r != 0)
				fail_msg("case %zu refused: %s", i, why);
			pickup_msg_deinit(&m);
			continue;
		}
		if (r != -1 || strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: %d \"%s\", want \"%s\"", i, r, why,
			    cases[i].why);
	}
}

static void
test_convert_limits(void **state)
{
	struct mf mf = { .rcpts = { "a@example.org" } };
	struct pickup_msg m;
	char why[256], *big = malloc(1002);

	(void)state;
	/* message_size_limit is 1000 in params. */
	memset(big, 'x', 1001);
	big[1001] = '\0';
	mf.body = big;
	assert_int_equal(convert(&mf, 1000, &m, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "message_size_limit"));
	big[1000] = '\0';
	assert_int_equal(convert(&mf, 1000, &m, why, sizeof(why)), 0);
	pickup_msg_deinit(&m);
	/* The header and the queue file must both be whole. */
	{
		struct buf b;

		build(&b, &mf);
		for (size_t cut = 0; cut < b.len; cut += 7) {
			why[0] = '\0';
			assert_int_equal(pickup_convert(b.data, cut, 1000, ID,
			    &params, &m, why, sizeof(why)), -1);
			assert_true(why[0] != '\0');
		}
		buf_deinit(&b);
	}
	free(big);
	assert_true(pickup_max_file_bytes(1000) > 1000 +
	    PICKUP_ENVELOPE_MAX_BYTES);
	assert_true(pickup_max_file_bytes(0) > ((size_t)1 << 31));
}

/* ---- header and body checks ---- */

/* A table: the first rule whose needle the key contains. */
struct rule {
	const char *needle;
	const char *action;	/* NULL: the lookup fails */
};

static const struct rule *cur_rules;
static size_t n_lookups;
static bool saw_bare_to;	/* "To: bob" looked up as submitted */

static int
rules_lookup(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	(void)ctx;
	(void)cls;
	(void)keylen;
	n_lookups++;
	if (strcmp(key, "To: bob") == 0)
		saw_bare_to = true;
	for (const struct rule *r = cur_rules; r->needle != NULL; r++) {
		if (strstr(key, r->needle) == NULL)
			continue;
		if (r->action == NULL) {
			snprintf(err, errsz, "table down");
			return HBC_TEMPFAIL;
		}
		assert_int_equal(buf_append(value, r->action,
		    strlen(r->action)), 0);
		return HBC_FOUND;
	}
	return HBC_NOTFOUND;
}

static int
convert_rules(const struct rule *rules, const char *body,
    struct pickup_msg *m, char *why, size_t whysz)
{
	struct mf mf = { .rcpts = { "bob@example.org", "carol@example.org" },
		.body = body };
	struct pickup_params p = params;
	struct hbc_config cfg;

	hbc_config_init(&cfg);
	p.hbc_lookup = rules_lookup;
	p.hbc_cfg = &cfg;
	p.append_at_myorigin = true;
	cur_rules = rules;
	n_lookups = 0;
	return convert_with(&mf, 1000, &p, m, why, whysz);
}

/* The checks see the Received: header and the text as submitted (the
 * header addresses not yet completed); their edits and trailer actions
 * are kept. */
static void
test_convert_checks_accept(void **state)
{
	static const struct rule rules[] = {
		{ "Received: by mx.example.org", "PREPEND X-Seen: yes" },
		{ "To: bob\n", "WARN bare name as submitted" },
		{ "X-Secret:", "IGNORE" },
		{ "Subject: hold me", "HOLD look at it" },
		{ "bcc this", "BCC audit@example.net" },
		{ "filter this", "FILTER smtp:[192.0.2.9]:10025" },
		{ NULL, NULL },
	};
	struct pickup_msg m;
	char why[256];
	const char *text;

	(void)state;
	saw_bare_to = false;
	assert_int_equal(convert_rules(rules, "To: bob\nX-Secret: 1\n"
	    "Subject: hold me\n\nbcc this\nfilter this\n", &m, why,
	    sizeof(why)), 0);
	assert_null(m.env.refused);
	text = buf_cstr(&m.content);
	assert_true(strncmp(text, "X-Seen: yes\r\nReceived: by ",
	    strlen("X-Seen: yes\r\nReceived: by ")) == 0);
	assert_null(strstr(text, "X-Secret"));
	/* completed after the checks */
	assert_non_null(strstr(text, "To: bob@example.org\r\n"));
	assert_string_equal(m.env.hold, "look at it");
	assert_string_equal(m.env.filter, "smtp:[192.0.2.9]:10025");
	assert_int_equal(m.env.nbccs, 1);
	assert_string_equal(m.env.bccs[0], "audit@example.net");
	assert_true(saw_bare_to);
	assert_true(n_lookups >= 6);
	pickup_msg_deinit(&m);
}

/* REJECT: queued with the 'E' record (returned to the sender), text
 * unchanged; 4xx REJECT and a failed table: PICKUP_LATER; DISCARD:
 * PICKUP_DISCARD; fed the same way whatever the text. */
static void
test_convert_checks_refuse(void **state)
{
	static const struct rule reject[] = {
		{ "Subject: buy", "REJECT spam from a web form" }, { NULL, NULL },
	};
	static const struct rule reject_code[] = {
		{ "Subject: buy", "REJECT 5.7.9 no thanks" }, { NULL, NULL },
	};
	static const struct rule later[] = {
		{ "Subject: buy", "REJECT 4.7.1 not now" }, { NULL, NULL },
	};
	static const struct rule broken[] = {
		{ "Subject: buy", NULL }, { NULL, NULL },
	};
	static const struct rule discard[] = {
		{ "cheap", "DISCARD silently" }, { NULL, NULL },
	};
	static const char body[] = "Subject: buy now\n\ncheap pills\n";
	struct pickup_msg m;
	char why[256];

	(void)state;
	assert_int_equal(convert_rules(reject, body, &m, why, sizeof(why)),
	    0);
	assert_string_equal(m.env.refused, "5.7.1 spam from a web form");
	assert_true(queue_refusal_valid(m.env.refused));
	assert_non_null(strstr(buf_cstr(&m.content), "cheap pills"));
	assert_int_equal(m.env.nrcpts, 2);
	pickup_msg_deinit(&m);

	assert_int_equal(convert_rules(reject_code, body, &m, why,
	    sizeof(why)), 0);
	assert_string_equal(m.env.refused, "5.7.9 no thanks");
	pickup_msg_deinit(&m);

	assert_int_equal(convert_rules(later, body, &m, why, sizeof(why)),
	    PICKUP_LATER);
	assert_non_null(strstr(why, "4.7.1 not now"));
	assert_null(m.env.id);

	assert_int_equal(convert_rules(broken, body, &m, why, sizeof(why)),
	    PICKUP_LATER);
	assert_non_null(strstr(why, "table down"));

	assert_int_equal(convert_rules(discard, body, &m, why, sizeof(why)),
	    PICKUP_DISCARD);
	assert_non_null(strstr(why, "silently"));
}

/* Without tables nothing is looked up. */
static void
test_convert_checks_off(void **state)
{
	struct mf mf = { .rcpts = { "bob@example.org" },
		.body = "Subject: buy now\n\nx\n" };
	struct pickup_msg m;
	char why[256];

	(void)state;
	n_lookups = 0;
	assert_int_equal(convert(&mf, 1000, &m, why, sizeof(why)), 0);
	assert_int_equal(n_lookups, 0);
	assert_null(m.env.refused);
	pickup_msg_deinit(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_header_bad),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_convert_user),
		cmocka_unit_test(test_convert_leading_white_space),
		cmocka_unit_test(test_convert_content_filter),
		cmocka_unit_test(test_convert_chars),
		cmocka_unit_test(test_convert_header_completion),
		cmocka_unit_test(test_convert_drop_headers),
		cmocka_unit_test(test_convert_trusted),
		cmocka_unit_test(test_convert_refused),
		cmocka_unit_test(test_convert_submit_users),
		cmocka_unit_test(test_convert_limits),
		cmocka_unit_test(test_convert_checks_accept),
		cmocka_unit_test(test_convert_checks_refuse),
		cmocka_unit_test(test_convert_checks_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
