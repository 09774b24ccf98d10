/* SPDX-License-Identifier: MIT */
/*
 * dict_proxy - proxy:TYPE:NAME, the table TYPE:NAME as the lookup
 * process serves it (Postfix's proxymap semantics: one open table, one
 * pool of database connections, for every process that uses it).
 *
 * In a daemon or tool, dict_open("proxy:TYPE:NAME") checks the syntax
 * (TYPE must be a known type other than proxy) and makes no connection;
 * each dict_get() asks the lookup process through the blocking client
 * (lookup_client.h), connecting at the first lookup and again after the
 * connection was lost.  Any failure to get an answer is DICT_TEMPFAIL,
 * never "not found".  The dict interface is synchronous, so this blocks
 * the caller: event-driven daemons use the asynchronous lookup_client_*
 * API directly instead.
 *
 * Keys are passed as given; the lookup process folds their case when
 * TYPE does.  The dict's type flags are TYPE's pattern/CIDR flags (so
 * that maps.c uses the right lookup order) plus DICT_TYPE_KEEP_CASE;
 * d->type points at a per-table copy of dict_type_proxy holding them.
 *
 * In the lookup process itself, proxy:TYPE:NAME is never opened through
 * this type: lookup_tables.h opens TYPE:NAME directly.
 *
 * Socket: LOOKUP_SOCKET_PATH relative to the current directory (daemons
 * run in queue_directory); tools that run elsewhere call
 * dict_proxy_set_socket() with $queue_directory/private/lookup first.
 */
#ifndef OSTIA_DICT_PROXY_H
#define OSTIA_DICT_PROXY_H

/* Where proxy: tables opened from now on connect (copied). */
void dict_proxy_set_socket(const char *path);
/* How long one lookup waits for the answer (milliseconds). */
void dict_proxy_set_timeout(unsigned ms);

#endif
