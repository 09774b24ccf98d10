/* SPDX-License-Identifier: MIT */
/*
 * fuzz_own_addrs - own_addr_parse on any text: it never reads out of
 * bounds, and what it takes prints and parses back to the same address.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "own_addrs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char text[INET6_ADDRSTRLEN];
	struct own_addr a, b;

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (own_addr_parse(s, &a) == 0) {
		if (a.family != AF_INET && a.family != AF_INET6)
			abort();
		if (inet_ntop(a.family, a.a, text, sizeof(text)) == NULL)
			abort();
		if (own_addr_parse(text, &b) != 0 || b.family != a.family ||
		    memcmp(a.a, b.a, sizeof(a.a)) != 0)
			abort();
	}
	free(s);
	return 0;
}
