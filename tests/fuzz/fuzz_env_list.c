/* SPDX-License-Identifier: MIT */
/*
 * fuzz_env_list - env_list_add() and env_list_bad() (src/common/
 * env_list.c) on arbitrary entries: the input's lines are the list.
 * Every entry added must be NAME=VALUE with a valid NAME, no name twice,
 * and env_list_bad must be NULL exactly when every entry is valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "env_list.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
valid_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strv list, env;
	size_t start = 0;
	bool all_valid = true;

	if (size > 4096)
		return 0;
	strv_init(&list);
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		strv_addn(&list, (const char *)data + start, i - start);
		start = i + 1;
	}
	for (size_t i = 0; i < list.n; i++) {
		const char *e = list.v[i];

		if (!valid_name(e, strcspn(e, "=")))
			all_valid = false;
	}
	if ((env_list_bad(list.v) == NULL) != all_valid)
		abort();
	strv_init(&env);
	env_list_add(&env, list.v);
	for (size_t i = 0; i < env.n; i++) {
		size_t n = strcspn(env.v[i], "=");

		if (env.v[i][n] != '=' || !valid_name(env.v[i], n))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strncmp(env.v[j], env.v[i], n + 1) == 0)
				abort();
	}
	strv_deinit(&env);
	strv_deinit(&list);
	return 0;
}
