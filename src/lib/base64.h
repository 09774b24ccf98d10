/* SPDX-License-Identifier: MIT */
/*
 * base64 - RFC 4648 base64 (the standard alphabet, with padding), as
 * SMTP AUTH (RFC 4954) uses it.  Decoding is strict: only the alphabet,
 * padding only at the end and only as much as needed, length a multiple
 * of four; no white space.
 */
#ifndef OSTIA_BASE64_H
#define OSTIA_BASE64_H

#include <stddef.h>

/* Bytes base64_encode writes for n input bytes, with the NUL. */
#define BASE64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)
/* Most bytes base64_decode writes for n input characters. */
#define BASE64_DECODED_MAX(n) (((n) / 4) * 3)

/* Encode n bytes of in into out (BASE64_ENCODED_SIZE(n) bytes, NUL-
 * terminated).  Returns the length without the NUL. */
size_t base64_encode(const void *in, size_t n, char *out);
/*
 * Decode n characters of in into out (at least BASE64_DECODED_MAX(n)
 * bytes; a NUL is added after the data when there is room for it, i.e.
 * outsz > result).  Returns the number of bytes, or -1 when in is not
 * valid base64 or out is too small.
 */
long base64_decode(const char *in, size_t n, unsigned char *out,
    size_t outsz);
/* The same for base64 written without '=' padding (libargon2's form):
 * any length but 4k+1, no '=' at all. */
long base64_decode_unpadded(const char *in, size_t n, unsigned char *out,
    size_t outsz);

#endif
