/* SPDX-License-Identifier: MIT */
/*
 * config_schema - the parameter table and lookups in it; see
 * config_schema.h.
 *
 * Pure data and pure functions: no allocation, no logging, no state, safe
 * in any process.  The rows come from config_params.def, which must stay
 * sorted by name in strcmp() order (test_config_schema checks it) because
 * config_schema_find() binary-searches it.
 *
 * Known limits: config_schema_suggest() gives up (returns NULL) for names
 * longer than SUGGEST_MAX_LEN bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "compat.h"
#include "config_schema.h"

const struct param_def config_params[P__COUNT] = {
#define PARAM(name, type, def, min, max, extra, status, doc) \
	{ #name, type, def, min, max, extra, status, doc },
#include "config_params.def"
#undef PARAM
};

/*
 * Postfix's per-transport parameters: "<service>_<suffix>" for a service
 * named in master.cf.  Each overrides the main.cf default named in its
 * description for that one transport.  Ranges match those defaults.
 */
const struct param_suffix_def config_param_suffixes[] = {
	{ "_delivery_slot_cost", PT_INT, 0, 2147483647, NULL, PS_LATER,
	    "Per-transport default_delivery_slot_cost" },
	{ "_delivery_slot_discount", PT_INT, 0, 100, NULL, PS_LATER,
	    "Per-transport default_delivery_slot_discount" },
	{ "_delivery_slot_loan", PT_INT, 0, 2147483647, NULL, PS_LATER,
	    "Per-transport default_delivery_slot_loan" },
	{ "_destination_concurrency_failed_cohort_limit", PT_INT,
	    0, 2147483647, NULL, PS_LATER,
	    "Per-transport "
	    "default_destination_concurrency_failed_cohort_limit" },
	{ "_destination_concurrency_limit", PT_INT, 0, 2147483647, NULL,
	    PS_IMPL,
	    "Per-transport default_destination_concurrency_limit" },
	{ "_destination_concurrency_negative_feedback", PT_STRING, 0, 0, NULL,
	    PS_LATER,
	    "Per-transport default_destination_concurrency_negative_feedback" },
	{ "_destination_concurrency_positive_feedback", PT_STRING, 0, 0, NULL,
	    PS_LATER,
	    "Per-transport default_destination_concurrency_positive_feedback" },
	{ "_destination_rate_delay", PT_TIME, 0, 2147483647, "s", PS_IMPL,
	    "Per-transport default_destination_rate_delay" },
	{ "_destination_recipient_limit", PT_INT, 0, 2147483647, NULL,
	    PS_IMPL,
	    "Per-transport default_destination_recipient_limit" },
	{ "_extra_recipient_limit", PT_INT, 1, 2147483647, NULL, PS_LATER,
	    "Per-transport default_extra_recipient_limit" },
	{ "_initial_destination_concurrency", PT_INT, 1, 2147483647, NULL,
	    PS_LATER,
	    "Per-transport initial_destination_concurrency" },
	{ "_minimum_delivery_slots", PT_INT, 0, 2147483647, NULL, PS_LATER,
	    "Per-transport default_minimum_delivery_slots" },
	{ "_recipient_limit", PT_INT, 1, 2147483647, NULL, PS_LATER,
	    "Per-transport default_recipient_limit" },
	{ "_recipient_refill_delay", PT_TIME, 1, 2147483647, "s", PS_LATER,
	    "Per-transport default_recipient_refill_delay" },
	{ "_recipient_refill_limit", PT_INT, 1, 2147483647, NULL, PS_LATER,
	    "Per-transport default_recipient_refill_limit" },
	{ "_time_limit", PT_TIME, 1, 2147483647, "s", PS_IMPL,
	    "Per-transport command_time_limit (delivery or policy server)" },
	{ "_transport_rate_delay", PT_TIME, 0, 2147483647, "s", PS_LATER,
	    "Per-transport default_transport_rate_delay" },
};

const size_t config_param_suffixes_count = N_ELEMENTS(config_param_suffixes);

const struct param_def *
config_schema_find(const char *name)
{
	size_t lo = 0, hi = P__COUNT;

	if (name == NULL)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(name, config_params[mid].name);

		if (cmp == 0)
			return &config_params[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
config_schema_id(const char *name)
{
	const struct param_def *p = config_schema_find(name);

	return p == NULL ? -1 : (int)(p - config_params);
}

/*
 * The longest suffix that name ends with wins: the service in
 * "dovecot_destination_recipient_limit" is "dovecot", not
 * "dovecot_destination" (it also ends with "_recipient_limit"); and
 * "_destination_recipient_limit" alone names no service at all.
 */
const struct param_suffix_def *
config_schema_find_suffix(const char *name, size_t *prefix_len_r)
{
	const struct param_suffix_def *best = NULL;
	size_t len, best_len = 0;

	if (name == NULL)
		return NULL;
	len = strlen(name);
	for (size_t i = 0; i < config_param_suffixes_count; i++) {
		const char *suffix = config_param_suffixes[i].suffix;
		size_t slen = strlen(suffix);

		if (slen > len || slen <= best_len)
			continue;
		if (memcmp(name + len - slen, suffix, slen) != 0)
			continue;
		best = &config_param_suffixes[i];
		best_len = slen;
	}
	if (best == NULL || best_len == len)
		return NULL;
	if (prefix_len_r != NULL)
		*prefix_len_r = len - best_len;
	return best;
}

/* Longest name config_schema_suggest() considers. */
#define SUGGEST_MAX_LEN 128
/* Shortest misspelling for which a known name it begins may be offered. */
#define SUGGEST_PREFIX_MIN_LEN 6

/* lower - ASCII lower case, so "smtpd_tls_cafile" finds smtpd_tls_CAfile. */
static int
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : (unsigned char)c;
}

static size_t
min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

/*
 * edit_distance - optimal string alignment distance (Levenshtein plus
 * swaps of adjacent characters) between a[0..alen) and b[0..blen), both
 * at most SUGGEST_MAX_LEN bytes, ignoring ASCII case.
 */
static size_t
edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t rows[3][SUGGEST_MAX_LEN + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2], *tmp;

	for (size_t j = 0; j <= blen; j++)
		prev[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t cost;

			cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;

			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1,
			    prev[j - 1] + cost);
			if (i > 1 && j > 1 &&
			    lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) &&
			    prev2[j - 2] + 1 < cur[j])
				cur[j] = prev2[j - 2] + 1;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	return prev[blen];
}

/*
 * A candidate scores its edit distance to name, or, when name is at least
 * SUGGEST_PREFIX_MIN_LEN long and the candidate continues past name's
 * length with '_' (name may be its first words, as smtpd_tls_cert is of
 * smtpd_tls_cert_file), the distance to that prefix plus one.  The best
 * score wins; a tie ("debug_peer": debug_peer_level or debug_peer_list?)
 * or a score above a third of name's length is no suggestion.
 */
const char *
config_schema_suggest(const char *name)
{
	const char *best = NULL;
	size_t len, best_score = (size_t)-1;
	bool tie = false;

	if (name == NULL)
		return NULL;
	len = strlen(name);
	if (len == 0 || len > SUGGEST_MAX_LEN)
		return NULL;
	for (size_t i = 0; i < P__COUNT; i++) {
		const char *cand = config_params[i].name;
		size_t clen = strlen(cand), score;

		if (clen > SUGGEST_MAX_LEN)
			continue;
		score = edit_distance(name, len, cand, clen);
		if (len >= SUGGEST_PREFIX_MIN_LEN && clen > len &&
		    cand[len] == '_') {
			size_t pscore = edit_distance(name, len, cand, len) + 1;

			if (pscore < score)
				score = pscore;
		}
		if (score < best_score) {
			best_score = score;
			best = cand;
			tie = false;
		} else if (score == best_score) {
			tie = true;
		}
	}
	if (best == NULL || tie || best_score * 3 > len)
		return NULL;
	return best;
}

const char *
config_param_type_name(enum param_type type)
{
	switch (type) {
	case PT_STRING:
		return "string";
	case PT_INT:
		return "integer";
	case PT_TIME:
		return "time";
	case PT_SIZE:
		return "size";
	case PT_BOOL:
		return "boolean";
	case PT_LIST:
		return "list";
	case PT_MAPS:
		return "lookup tables";
	case PT_ENUM:
		return "one of";
	}
	return "unknown";
}
