/* SPDX-License-Identifier: MIT */
/*
 * tls_sni - the table of tls_server_sni_maps: for each host name the
 * files that hold its private key(s) and certificate chain(s), in the
 * smtpd_tls_chain_files format (key, certificate, chain).
 *
 * Until the lookup-table layer exists, this reads the table's source
 * text directly: "texthash:/path", and "hash:/path" or "lmdb:/path"
 * (the text file that postmap -F would index; Ostia reads the text, so
 * no postmap is needed), and "inline:{ name = file file, ... }".  A
 * line is "name  file [file...]" (whitespace or commas between files),
 * '#' comments, continuation lines start with white space.  A name
 * that starts with '.' matches every subdomain, as in Postfix.
 */
#ifndef OSTIA_TLS_SNI_H
#define OSTIA_TLS_SNI_H

#include <stdbool.h>
#include <stddef.h>

/* Most names one table may hold. */
#define TLS_SNI_MAX_ENTRIES 1000

struct tls_sni_entry {
	char *name;		/* lower case */
	char **files;		/* NULL-terminated */
};

/* Read one table; false with a message (file:line) in err. */
bool tls_sni_load(const char *spec, struct tls_sni_entry **ents_r,
    size_t *n_r, char *err, size_t errsz);
/* Parse table text (exposed for the tests and the fuzz target). */
bool tls_sni_parse(const char *origin, const char *text, size_t len,
    struct tls_sni_entry **ents_r, size_t *n_r, char *err, size_t errsz);
void tls_sni_free(struct tls_sni_entry *ents, size_t n);
/* Does a table name ("mail.example.com", ".example.com") match the
 * name a client asked for (case-insensitive, a trailing dot ignored)? */
bool tls_sni_name_matches(const char *entry, const char *name);

#endif
