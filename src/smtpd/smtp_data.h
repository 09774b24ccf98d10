/* SPDX-License-Identifier: MIT */
/*
 * smtp_data - read message text after DATA (dot-stuffed, ended by
 * CRLF "." CRLF) or in BDAT chunks, into the bytes that are stored.
 *
 * No sockets: the session feeds bytes; message bytes come out through a
 * callback, with every line ending as CRLF.
 *
 * RFC 5321 4.1.1.4 and 4.5.2: a line that starts with "." loses that
 * dot; the message ends only at CRLF "." CRLF where the CRLF before the
 * dot is a real CRLF.  So "\n.\n", "\n.\r\n", "\r.\r" and "\r\n.\n"
 * never end a message (SMTP smuggling, CVE-2023-51764 class): with the
 * bare-LF policy "normalize" a lone LF ends a stored line but cannot
 * start the end marker; with "reject" any bare LF marks the message as
 * bad and it is refused at its end.  A bare CR is kept as a data byte.
 *
 * Problems are recorded, not fatal: reading goes on to the end of the
 * message so that the reply comes at the right time and nothing that
 * follows is taken as commands.  Once a problem is recorded no more
 * bytes are passed to the callback.
 */
#ifndef OSTIA_SMTP_DATA_H
#define OSTIA_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with CRLF. */
#define SMTP_TEXT_LINE_MAX_BYTES 1000

enum smtp_bare_lf {
	SMTP_BARE_LF_NORMALIZE,	/* store a lone LF as a line end */
	SMTP_BARE_LF_REJECT,	/* refuse the message */
};

enum smtp_data_problem {
	SMTP_DATA_TOO_BIG = 1 << 0,	/* over max_size: 552 5.3.4 */
	SMTP_DATA_LINE_TOO_LONG = 1 << 1,	/* 500 5.5.2 */
	SMTP_DATA_BARE_LF = 1 << 2,	/* reject policy: 550 5.5.2 */
	SMTP_DATA_NUL = 1 << 3,		/* NUL byte in text: 550 5.6.0 */
};

enum smtp_data_status {
	SMTP_DATA_NEED_MORE,
	SMTP_DATA_END,		/* the terminator was read (DATA mode) */
};

/* Receives message bytes; may be called with any split. */
typedef void smtp_data_out_fn(void *ctx, const char *data, size_t len);

struct smtp_data_reader {
	enum smtp_bare_lf bare_lf;
	uint64_t max_size;	/* 0: no limit */
	uint64_t size;		/* message bytes produced (CRLF = 2) */
	size_t line_len;	/* octets in the current line so far */
	unsigned problems;	/* enum smtp_data_problem bits */
	int state;		/* private */
	bool binary;		/* BODY=BINARYMIME: NUL and long lines ok */
};

/* max_size: message_size_limit (0 = none). */
void smtp_data_reader_init(struct smtp_data_reader *r, uint64_t max_size,
    enum smtp_bare_lf bare_lf);
/*
 * DATA mode: take bytes of the dot-stuffed stream; returns END once
 * the terminator has been taken (*consumed_r then excludes what
 * follows it: the next commands), else NEED_MORE with all bytes taken.
 */
enum smtp_data_status smtp_data_read(struct smtp_data_reader *r,
    const char *in, size_t len, size_t *consumed_r, smtp_data_out_fn *out,
    void *ctx);
/*
 * BDAT mode (RFC 3030): every byte of the chunk is message text, no dot
 * handling; line ends are normalised and checked as in DATA mode unless
 * binary.  Call smtp_data_chunk_end() after the LAST chunk to flush.
 */
void smtp_data_read_chunk(struct smtp_data_reader *r, const char *in,
    size_t len, smtp_data_out_fn *out, void *ctx);
void smtp_data_chunk_end(struct smtp_data_reader *r, smtp_data_out_fn *out,
    void *ctx);

#endif
