/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_line - smtp_line_read() must give the same results however
 * the input is split (RFC 5321 line handling, SMTP smuggling defence).
 *
 * The first byte picks the line limit (SMTP_COMMAND_LINE_MAX_BYTES or
 * a small one, so that over-long lines are common); the rest is fed
 * whole, one byte at a time and in pieces of sizes drawn from a PRNG
 * seeded by the input.  The three transcripts must be identical, and
 * every line must obey the contract (no CR, LF or NUL, within the
 * limit, NUL-terminated); otherwise the target aborts.  Each good line
 * is also split into a command and, for MAIL and RCPT, its arguments are
 * parsed with every extension on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
/*
 * add_fuzz_target() links only ostiacore and has no src/smtpd include
 * path, so the module is compiled in here.  Once fuzz targets link
 * ostiadaemon, replace this with #include "smtp_command.h".
 */
#include "smtp_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_command - parse a good line as a command; must not crash. */
static void
check_command(const char *line, size_t len)
{
	const unsigned exts = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
	    SMTP_EXT_SMTPUTF8 | SMTP_EXT_DSN | SMTP_EXT_CHUNKING |
	    SMTP_EXT_AUTH;
	struct smtp_command cmd;
	const char *error = NULL;

	if (smtp_command_parse(line, len, &cmd) < 0) {
		if (cmd.verb != SMTP_VERB_UNKNOWN)
			abort();
		return;
	}
	if (cmd.args < line || cmd.args_len > len ||
	    cmd.args + cmd.args_len != line + len)
		abort();
	if (cmd.verb == SMTP_VERB_MAIL) {
		struct smtp_mail_args a;

		if (smtp_mail_args_parse(cmd.args, cmd.args_len, exts, 0, &a,
		    &error) == SMTP_ARG_OK && a.from.text == NULL)
			abort();
		smtp_mail_args_deinit(&a);
	} else if (cmd.verb == SMTP_VERB_RCPT) {
		struct smtp_rcpt_args a;

		if (smtp_rcpt_args_parse(cmd.args, cmd.args_len, exts,
		    ADDRESS_POSTMASTER_OK, &a, &error) == SMTP_ARG_OK &&
		    a.to.text == NULL)
			abort();
		smtp_rcpt_args_deinit(&a);
	}
}

/*
 * run - feed data to a new reader; mode 0 whole, 1 byte by byte, 2
 * PRNG-sized pieces.  Appends one record per result to t.
 */
static void
run(const char *data, size_t size, size_t max, int mode, uint32_t seed,
    struct buf *t, bool commands)
{
	struct smtp_line_reader r;
	size_t off = 0;

	smtp_line_reader_init(&r, max);
	while (off < size) {
		size_t n = size - off;

		if (mode == 1)
			n = 1;
		else if (mode == 2) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 64;
			if (n > size - off)
				n = size - off;
		}
		while (n > 0) {
			const char *line = NULL;
			size_t used = 0, len = 0;
			enum smtp_line_status st;
			unsigned char rec = 0;

			st = smtp_line_read(&r, data + off, n, &used, &line,
			    &len);
			if (used > n || (st != SMTP_LINE_NEED_MORE &&
			    used == 0) || (st == SMTP_LINE_NEED_MORE &&
			    used != n))
				abort();
			/* Bounded by the limit (a held CR aside when the
			 * limit is below 2). */
			if (smtp_line_reader_pending(&r) > (max < 2 ? 1 : max))
				abort();
			if (st == SMTP_LINE_OK) {
				if (line == NULL || line[len] != '\0' ||
				    len + 2 > max ||
				    memchr(line, '\r', len) != NULL ||
				    memchr(line, '\n', len) != NULL ||
				    memchr(line, '\0', len) != NULL)
					abort();
				if (commands)
					check_command(line, len);
			}
			if (st != SMTP_LINE_NEED_MORE) {
				rec = (unsigned char)st;
				if (buf_append(t, &rec, 1) < 0 ||
				    buf_append(t, &len, sizeof(len)) < 0 ||
				    (line != NULL &&
				    buf_append(t, line, len) < 0))
					abort();
			}
			off += used;
			n -= used;
		}
	}
	if (buf_appendf(t, "|%zu", smtp_line_reader_pending(&r)) < 0)
		abort();
	smtp_line_reader_deinit(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf t0, t1, t2;
	size_t max;
	uint32_t seed;

	if (size == 0)
		return 0;
	max = (data[0] & 0x80) ? SMTP_COMMAND_LINE_MAX_BYTES :
	    (size_t)(data[0] & 0x3f);
	seed = (uint32_t)size * 2654435761u ^ data[0];
	data++;
	size--;
	buf_init(&t0, SIZE_MAX);
	buf_init(&t1, SIZE_MAX);
	buf_init(&t2, SIZE_MAX);
	run((const char *)data, size, max, 0, seed, &t0, true);
	run((const char *)data, size, max, 1, seed, &t1, false);
	run((const char *)data, size, max, 2, seed, &t2, false);
	if (t0.len != t1.len || t0.len != t2.len ||
	    memcmp(buf_cstr(&t0), buf_cstr(&t1), t0.len) != 0 ||
	    memcmp(buf_cstr(&t0), buf_cstr(&t2), t0.len) != 0)
		abort();
	buf_deinit(&t0);
	buf_deinit(&t1);
	buf_deinit(&t2);
	return 0;
}
