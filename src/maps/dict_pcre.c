/* SPDX-License-Identifier: MIT */
/*
 * dict_pcre - "pcre:/path" tables with PCRE2; see dict_pcre.h.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "dict_pattern.h"
#include "dict_pcre.h"
#include "log.h"
#include "xalloc.h"

/* Per table: contexts with the limits, and match data for the groups. */
struct pcre_ctx {
	pcre2_compile_context *cctx;
	pcre2_match_context *mctx;
	pcre2_match_data *md;
	uint32_t md_pairs;
};

static void *
pcre_ctx_new(void)
{
	struct pcre_ctx *c = xcalloc(1, sizeof(*c));

	c->cctx = pcre2_compile_context_create(NULL);
	c->mctx = pcre2_match_context_create(NULL);
	c->md = pcre2_match_data_create(1, NULL);
	if (c->cctx == NULL || c->mctx == NULL || c->md == NULL)
		log_fatal("pcre: out of memory");
	c->md_pairs = 1;
	(void)pcre2_set_match_limit(c->mctx, DICT_PCRE_MATCH_LIMIT);
	(void)pcre2_set_depth_limit(c->mctx, DICT_PCRE_DEPTH_LIMIT);
	(void)pcre2_set_heap_limit(c->mctx, DICT_PCRE_HEAP_LIMIT_KIB);
	return c;
}

static void
pcre_ctx_free(void *vc)
{
	struct pcre_ctx *c = vc;

	pcre2_match_data_free(c->md);
	pcre2_match_context_free(c->mctx);
	pcre2_compile_context_free(c->cctx);
	free(c);
}

/* pcre_flags - Postfix's pcre flag letters to PCRE2 options. */
static int
pcre_flags(const char *f, size_t n, uint32_t *opts, char *why,
    size_t whysz)
{
	uint32_t o = PCRE2_CASELESS | PCRE2_DOTALL;
	char shown[8];

	for (size_t i = 0; i < n; i++) {
		switch (f[i]) {
		case 'i':
			o ^= PCRE2_CASELESS;
			break;
		case 's':
			o ^= PCRE2_DOTALL;
			break;
		case 'm':
			o ^= PCRE2_MULTILINE;
			break;
		case 'x':
			o ^= PCRE2_EXTENDED;
			break;
		case 'A':
			o ^= PCRE2_ANCHORED;
			break;
		case 'E':
			o ^= PCRE2_DOLLAR_ENDONLY;
			break;
		case 'U':
			o ^= PCRE2_UNGREEDY;
			break;
		case 'X':
			/* PCRE2 always refuses unknown escapes. */
			break;
		default:
			log_escape(shown, sizeof(shown), f + i, 1, 1);
			snprintf(why, whysz, "unknown flag \"%s\" after the "
			    "pattern (flags: i s m x A E U X)", shown);
			return -1;
		}
	}
	*opts = o;
	return 0;
}

static void *
pcre_parse(void *vc, const char *s, const char **end, unsigned *ngroups,
    char *why, size_t whysz)
{
	struct pcre_ctx *c = vc;
	const char *re, *flags;
	size_t relen, flagslen;
	uint32_t opts, count = 0;
	PCRE2_SIZE erroff = 0;
	int errcode = 0;
	pcre2_code *code;

	if (dict_pattern_split(s, &re, &relen, &flags, &flagslen, end, why,
	    whysz) < 0)
		return NULL;
	if (pcre_flags(flags, flagslen, &opts, why, whysz) < 0)
		return NULL;
	code = pcre2_compile((PCRE2_SPTR)re, relen, opts, &errcode, &erroff,
	    c->cctx);
	if (code == NULL) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", errcode);
		snprintf(why, whysz, "bad regular expression: %s at offset %zu",
		    (const char *)msg, (size_t)erroff);
		return NULL;
	}
	if (pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &count) != 0)
		count = 0;
	*ngroups = count;
	return code;
}

static void
pcre_free(void *pattern)
{
	pcre2_code_free(pattern);
}

static int
pcre_match(void *vc, const void *pattern, const void *mkey, const char *key,
    size_t keylen, size_t *off, unsigned want, char *why, size_t whysz)
{
	struct pcre_ctx *c = vc;
	uint32_t pairs = want + 1;
	PCRE2_SIZE *ov;
	int rc;

	if (pairs > c->md_pairs) {
		pcre2_match_data_free(c->md);
		c->md = pcre2_match_data_create(pairs, NULL);
		if (c->md == NULL)
			log_fatal("pcre: out of memory");
		c->md_pairs = pairs;
	}
	rc = pcre2_match(pattern, (PCRE2_SPTR)key, keylen, 0, 0, c->md,
	    c->mctx);
	if (rc == PCRE2_ERROR_NOMATCH)
		return DICT_PATTERN_NOMATCH;
	if (rc < 0) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", rc);
		snprintf(why, whysz, "matching gave up: %s", (const char *)msg);
		return -1;
	}
	/*
	 * rc is 1 + the highest group set, or 0 when the ovector (want + 1
	 * pairs) was too small to hold them all: then every pair is set.
	 */
	ov = pcre2_get_ovector_pointer(c->md);
	for (uint32_t i = 0; i <= want; i++) {
		bool set = rc == 0 || i < (uint32_t)rc;

		off[2 * i] = set ? ov[2 * i] : SIZE_MAX;
		off[2 * i + 1] = set ? ov[2 * i + 1] : SIZE_MAX;
	}
	return DICT_PATTERN_MATCH;
}

static const struct dict_pattern_syntax pcre_syntax = {
	.name = "pcre",
	.substitute = true,
	.max_file_bytes = DICT_PCRE_FILE_MAX_BYTES,
	.max_rules = DICT_PCRE_MAX_RULES,
	.ctx_new = pcre_ctx_new,
	.ctx_free = pcre_ctx_free,
	.parse = pcre_parse,
	.free = pcre_free,
	.match = pcre_match,
};

static int
pcre_open(struct dict *d, const char *name, const struct dict_open_opts *opts,
    char *err, size_t errsz)
{
	return dict_pattern_open(d, name, opts, &pcre_syntax, err, errsz);
}

const struct dict_type dict_type_pcre = {
	.name = "pcre",
	.flags = DICT_TYPE_PATTERN | DICT_TYPE_KEEP_CASE | DICT_TYPE_FILE,
	.open = pcre_open,
	.lookup = dict_pattern_lookup_text,
	.changed = dict_pattern_changed,
	.close = dict_pattern_close,
};
