/* SPDX-License-Identifier: MIT */
/*
 * base64 - strict RFC 4648 base64; see base64.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t o = 0, i = 0;

	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 |
		    (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int
value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
base64_decode(const char *in, size_t n, unsigned char *out, size_t outsz)
{
	size_t o = 0;

	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return -1;	/* data after '=' */
			v[k] = value_of(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Bits past the data must be zero (canonical form). */
		if ((pad == 1 && (w & 0xff) != 0) ||
		    (pad == 2 && (w & 0xffff) != 0))
			return -1;
		if (o + (size_t)(3 - pad) > outsz)
			return -1;
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	if (o < outsz)
		out[o] = '\0';
	return (long)o;
}

long
base64_decode_unpadded(const char *in, size_t n, unsigned char *out,
    size_t outsz)
{
	char *padded;
	long r;

	if (n % 4 == 1 || memchr(in, '=', n) != NULL)
		return -1;
	if (n % 4 == 0)
		return base64_decode(in, n, out, outsz);
	padded = malloc(n + 3);
	if (padded == NULL)
		return -1;
	memcpy(padded, in, n);
	memset(padded + n, '=', 4 - n % 4);
	r = base64_decode(padded, n + 4 - n % 4, out, outsz);
	free(padded);
	return r;
}
