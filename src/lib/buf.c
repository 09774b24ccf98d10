/* SPDX-License-Identifier: MIT */
/*
 * buf - bounded growable byte buffer; see buf.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->sensitive = false;
}

void
buf_set_sensitive(struct buf *b)
{
	b->sensitive = true;
}

void
buf_deinit(struct buf *b)
{
	if (b->data != NULL && b->sensitive)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	if (b->data != NULL) {
		if (b->sensitive)
			explicit_bzero(b->data, b->cap);
		b->data[0] = '\0';
	}
	b->len = 0;
}

/* buf_reserve - make room for n more bytes plus the terminator. */
static int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap;
	char *nd;

	if (n > b->max || b->len > b->max - n)
		return -1;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap < 64 ? 64 : b->cap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	/* max + 1 wraps to 0 when max is SIZE_MAX ("no limit"). */
	if (b->max < SIZE_MAX && ncap > b->max + 1)
		ncap = b->max + 1;
	if (b->sensitive) {
		/* Never leave a copy of a secret in freed memory. */
		nd = xmalloc(ncap);
		if (b->data != NULL) {
			memcpy(nd, b->data, b->len + 1);
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
	} else {
		nd = xreallocarray(b->data, ncap, 1);
	}
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_c(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return ret;
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data == NULL ? "" : b->data;
}

char *
buf_steal(struct buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = xstrdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		log_panic("buf_consume: %zu > %zu", n, b->len);
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n + 1);
	b->len -= n;
	if (b->sensitive)
		explicit_bzero(b->data + b->len + 1, n);
}

int
buf_send(struct buf *b, size_t *off, int fd)
{
	while (b->len > *off) {
		ssize_t n = send(fd, b->data + *off, b->len - *off,
		    MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -1;
		*off += (size_t)n;
	}
	if (*off == b->len) {
		buf_reset(b);
		*off = 0;
		return 1;
	}
	/* Keep the buffer from creeping: drop what has left. */
	if (*off > b->len / 2) {
		buf_consume(b, *off);
		*off = 0;
	}
	return 0;
}
