/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_nexthop - the smtp agent's next hop parser and match-name
 * list (smtp_route.c) on arbitrary text.  A parsed next hop must have a
 * non-empty lowercase host without brackets, a port, and parse again
 * to the same result when written back in its bracket form; a refusal
 * must come with words.  abort() on any broken promise.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_route.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[SMTP_NEXTHOP_MAX_BYTES + 64];
	struct smtp_nexthop nh, again;
	const char *err = NULL;
	char **names;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	if (smtp_nexthop_parse(text, "25", &nh, &err) == 0) {
		char back[sizeof(nh.host) + sizeof(nh.port) + 4];

		if (nh.host[0] == '\0' || nh.port[0] == '\0' ||
		    strchr(nh.host, '[') != NULL ||
		    strchr(nh.host, ']') != NULL)
			abort();
		for (const char *p = nh.host; *p != '\0'; p++)
			if (isupper((unsigned char)*p))
				abort();
		snprintf(back, sizeof(back), "[%s]:%s", nh.host, nh.port);
		if (smtp_nexthop_parse(back, "25", &again, &err) != 0 ||
		    strcmp(again.host, nh.host) != 0 ||
		    strcmp(again.port, nh.port) != 0 || !again.no_mx ||
		    again.is_ip != nh.is_ip)
			abort();
	} else if (err == NULL || strlen(err) < 8) {
		abort();
	}
	names = smtp_match_names(text, "mx.example.net", "example.net");
	for (size_t i = 0; names[i] != NULL; i++)
		if (names[i][0] == '\0')
			abort();
	strv_free(&names);
	names = smtp_match_fingerprints(text);
	for (size_t i = 0; names[i] != NULL; i++)
		if (names[i][0] == '\0' || strpbrk(names[i], " \t,|") != NULL)
			abort();
	strv_free(&names);
	return 0;
}
