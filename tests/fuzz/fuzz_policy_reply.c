/* SPDX-License-Identifier: MIT */
/*
 * fuzz_policy_reply - policy_reply_parse() (what a policy server
 * answers) on arbitrary bytes, and policy_spec_parse() (the text after
 * check_policy_service) on the same bytes as text.  Both are pure: no
 * I/O, no network.
 *
 * Checked: results are 1/0/-1 with the documented meaning; a complete
 * reply lies inside the input and the bound, its action is inside it,
 * trimmed, non-empty and one line without control characters; every
 * shorter prefix of a complete reply is "need more"; the same reply
 * parses the same with trailing bytes after it.  A refused spec has a
 * one-line error; an accepted one has an inet: or unix: endpoint and
 * settings inside their ranges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd_policy.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const char *buf, size_t len)
{
	struct policy_reply r = { 0, 0, 0 }, r2;
	const char *err = NULL;
	int rc = policy_reply_parse(buf, len, &r, &err);

	if (rc < -1 || rc > 1)
		abort();
	if (rc == -1 && (err == NULL || err[0] == '\0'))
		abort();
	if (rc == 0 && len >= POLICY_REPLY_MAX_BYTES)
		abort();
	if (rc != 1)
		return;
	if (r.used == 0 || r.used > len || r.used > POLICY_REPLY_MAX_BYTES)
		abort();
	if (r.action_len == 0 || r.action_off + r.action_len > r.used)
		abort();
	for (size_t i = 0; i < r.action_len; i++) {
		unsigned char c = (unsigned char)buf[r.action_off + i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			abort();
	}
	if (buf[r.action_off] == ' ' || buf[r.action_off] == '\t' ||
	    buf[r.action_off + r.action_len - 1] == ' ' ||
	    buf[r.action_off + r.action_len - 1] == '\t')
		abort();
	if (buf[r.used - 1] != '\n')
		abort();
	/* The reply alone parses the same. */
	if (policy_reply_parse(buf, r.used, &r2, &err) != 1 ||
	    r2.used != r.used || r2.action_off != r.action_off ||
	    r2.action_len != r.action_len)
		abort();
	/* Shorter prefixes need more (a few cut points). */
	{
		size_t cuts[] = { 0, r.used / 2, r.used - 1 };

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
			if (policy_reply_parse(buf, cuts[i], &r2, &err) != 0)
				abort();
	}
}

static void
check_spec(const char *text)
{
	char err[512];
	struct policy_spec *s;
	const char *ep;

	err[0] = '\0';
	s = policy_spec_parse(text, NULL, err, sizeof(err));
	if (s == NULL) {
		if (err[0] == '\0' || strchr(err, '\n') != NULL)
			abort();
		return;
	}
	ep = policy_spec_endpoint(s);
	if (strncmp(ep, "inet:", 5) != 0 && strncmp(ep, "unix:", 5) != 0)
		abort();
	if (policy_spec_timeout(s) < 1 || policy_spec_try_limit(s) < 1)
		abort();
	if (policy_spec_default_action(s) != NULL &&
	    policy_spec_default_action(s)[0] == '\0')
		abort();
	policy_spec_free(&s);
	if (s != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	check_reply((const char *)data, size);
	if (size > 4096)
		return 0;
	text = xstrndup((const char *)data, size);
	check_spec(text);
	free(text);
	return 0;
}
