/* SPDX-License-Identifier: MIT */
/*
 * hbc_tables - the tables of header and body checks (hbc.h), opened
 * in the process that scans the message and looked up there: smtpd for
 * header_checks, mime_header_checks, nested_header_checks and
 * body_checks; the smtp agent for their smtp_* counterparts.
 *
 * A table is looked up once per header and per body line, so these are
 * local tables: pcre: and regexp: (and other local types); proxy: and
 * the network types (mysql:, pgsql:) are refused, because a blocking
 * lookup would stall the process's event loop.  Open them before
 * privileges are dropped and before any chroot: the files are checked
 * like every table file (owned by root or mail_owner, not writable by
 * others).
 *
 * Keys reach pcre: and regexp: tables as the bytes of the message, in
 * byte mode: a header or line that is not valid UTF-8 is still matched.
 * pcre: tables see the whole key (up to header_size_limit, with PCRE2's
 * match limits); regexp: tables see its first DICT_KEY_MAX_BYTES bytes
 * (glibc's regexec has no step limit); other tables only keys of at
 * most DICT_KEY_MAX_BYTES (no such table can hold a longer one).
 *
 * Not thread-safe (one key copy per set).
 */
#ifndef OSTIA_HBC_TABLES_H
#define OSTIA_HBC_TABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "hbc.h"

struct maps;

struct hbc_tables {
	bool active;		/* some list is set (or one broke) */
	bool broken;		/* a table did not open */
	char broken_why[DICT_ERR_MAX_BYTES + 256];
	struct maps *maps[HBC__NCLASS];	/* NULL: no tables */
	bool owns[HBC__NCLASS];	/* false: shares an earlier class's list */
	struct hbc_config cfg;	/* header_size_limit, line_length_limit,
				 * body_checks_size_limit,
				 * mime_nesting_limit,
				 * disable_mime_input_processing */
	char *key_copy;		/* regexp keys cut to DICT_KEY_MAX_BYTES */
};

/*
 * Open the lists named by ids[cls] (header, mime, nested, body) in view
 * v into *t (zeroed first).  who names the process for the refusal of
 * a network table ("smtpd", "the smtp agent").  A list equal to an
 * earlier one is opened once.  On a table that cannot be opened:
 * t->broken with the reason in t->broken_why (the caller refuses or
 * defers every message, and logs it).
 */
void hbc_tables_open(struct hbc_tables *t, const struct config_view *v,
    const enum param_id ids[HBC__NCLASS], const char *who);
void hbc_tables_close(struct hbc_tables *t);
/* hbc_lookup_fn for a scanner: ctx is the struct hbc_tables. */
int hbc_tables_lookup(void *ctx, enum hbc_class cls, const char *key,
    size_t keylen, struct buf *value, char *err, size_t errsz);

#endif
