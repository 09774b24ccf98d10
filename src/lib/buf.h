/* SPDX-License-Identifier: MIT */
/*
 * buf - a growable byte buffer with a hard maximum (STYLE.md 4).
 *
 * The maximum is fixed at buf_init(); an append that would pass it fails
 * with -1 and leaves the buffer unchanged, so a parser can turn "input too
 * long" into a clear error instead of growing without bound.  The data is
 * always NUL-terminated (the terminator is not counted in len and not
 * counted against max).  A buffer flagged sensitive is wiped with
 * explicit_bzero whenever its memory is released or reused.
 */
#ifndef OSTIA_BUF_H
#define OSTIA_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "compat.h"

struct buf {
	char *data;	/* NUL-terminated; NULL until first append */
	size_t len;
	size_t cap;
	size_t max;
	bool sensitive;
};

/* Initialise an empty buffer that may hold at most max bytes. */
void buf_init(struct buf *b, size_t max);
/* Mark the contents as secret: wiped on reset, growth and deinit. */
void buf_set_sensitive(struct buf *b);
/* Release memory (wiping it if sensitive); the buffer is empty after. */
void buf_deinit(struct buf *b);
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Append n bytes; 0 on success, -1 (nothing appended) past the maximum. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_c(struct buf *b, char c);
/* Formatted append; -1 (nothing appended) if the result passes max. */
int buf_appendf(struct buf *b, const char *fmt, ...)
    ATTR_FORMAT(2, 3);
int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
    ATTR_FORMAT(2, 0);
/* The contents as a C string, "" when empty; valid until the next change. */
const char *buf_cstr(const struct buf *b);
/*
 * Hand the contents to the caller as a heap string (caller frees) and
 * leave the buffer empty.  Never NULL.
 */
char *buf_steal(struct buf *b);
/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/*
 * buf_send - send the bytes of b from *off on to the non-blocking
 * socket fd (MSG_NOSIGNAL) until it would block, compacting b as they
 * leave.  1: all sent (b emptied, *off 0); 0: some remain (wait until fd
 * is writable); -1: the peer is gone or the send failed (errno).
 */
int buf_send(struct buf *b, size_t *off, int fd);

#endif
