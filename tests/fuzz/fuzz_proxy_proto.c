/* SPDX-License-Identifier: MIT */
/*
 * fuzz_proxy_proto - proxy_parse() on arbitrary bytes.
 *
 * abort() when an invariant breaks:
 *  - DONE: 0 < consumed <= len, and the header's own bytes alone give
 *    the same result (nothing after it was needed); addresses are
 *    NUL-terminated and parse back; ports <= 65535;
 *  - NEED_MORE and BAD: consumed is 0;
 *  - feeding the input in growing prefixes never gives DONE or BAD
 *    earlier with a different verdict: a prefix that was BAD stays BAD.
 * The input is copied to a buffer of exactly its size (ASan sees any
 * read past it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum proxy_status
run(const uint8_t *data, size_t size, struct proxy_result *r, size_t *used)
{
	unsigned char *p = malloc(size > 0 ? size : 1);
	const char *err = NULL;
	enum proxy_status st;

	if (p == NULL)
		abort();
	memcpy(p, data, size);
	st = proxy_parse(p, size, r, used, &err);
	free(p);
	if (st == PROXY_BAD && err == NULL)
		abort();
	if (st != PROXY_DONE && *used != 0)
		abort();
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_result r, r2;
	size_t used = 0, used2 = 0;
	enum proxy_status st;
	unsigned char bin[16];

	if (size > 4096)
		return 0;
	st = run(data, size, &r, &used);
	if (st == PROXY_DONE) {
		if (used == 0 || used > size)
			abort();
		if (run(data, used, &r2, &used2) != PROXY_DONE ||
		    used2 != used || memcmp(&r, &r2, sizeof(r)) != 0)
			abort();
		if (!r.local) {
			int af = strchr(r.src_addr, ':') != NULL ? AF_INET6 :
			    AF_INET;

			if (inet_pton(af, r.src_addr, bin) != 1 ||
			    inet_pton(af, r.dst_addr, bin) != 1)
				abort();
		}
		if (r.src_port > 65535 || r.dst_port > 65535)
			abort();
	}
	/* A BAD prefix stays BAD with more bytes. */
	for (size_t k = 0; k < size && k < 64; k++) {
		if (run(data, k, &r2, &used2) == PROXY_BAD && st != PROXY_BAD)
			abort();
	}
	return 0;
}
