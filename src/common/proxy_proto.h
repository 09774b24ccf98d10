/* SPDX-License-Identifier: MIT */
/*
 * proxy_proto - the PROXY protocol header (HAProxy, versions 1 and 2)
 * that a load balancer sends before the client's own bytes, naming the
 * client it accepted (smtpd_upstream_proxy_protocol = haproxy).
 *
 * Version 1: one text line, at most PROXY_V1_MAX_BYTES with its CRLF:
 *   "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY TCP6 ...", or
 *   "PROXY UNKNOWN[ anything]\r\n" (the balancer's own connection).
 * Version 2: a 16-byte binary head (the 12-byte signature, version and
 * command, family, length) and length more bytes: for TCP over IPv4 or
 * IPv6 the addresses and ports, then TLVs, which are skipped.  The LOCAL
 * command (a health check) names no client.  Other families (UDP, Unix
 * sockets) are refused; so is a header longer than PROXY_V2_MAX_BYTES.
 *
 * Nothing is trusted that was not checked: addresses go through
 * inet_pton/inet_ntop, ports are 0..65535 without signs or spaces, v1
 * has exactly one space between fields and only CRLF at its end.
 */
#ifndef OSTIA_PROXY_PROTO_H
#define OSTIA_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <netinet/in.h>

#define PROXY_V1_MAX_BYTES 107
#define PROXY_V2_MAX_BYTES (16 + 1024)

enum proxy_status {
	PROXY_NEED_MORE,	/* a valid start: read more */
	PROXY_DONE,		/* *consumed_r bytes are the header */
	PROXY_BAD,		/* *error_r says why */
};

struct proxy_result {
	bool local;		/* no client named (v1 UNKNOWN, v2 LOCAL):
				 * keep the connection's own addresses */
	int version;		/* 1 or 2 */
	char src_addr[INET6_ADDRSTRLEN];
	char dst_addr[INET6_ADDRSTRLEN];
	unsigned src_port, dst_port;
};

/*
 * proxy_parse - the header at the start of data (len bytes read so
 * far).  PROXY_NEED_MORE while data is a valid beginning that is not
 * complete; PROXY_DONE with *r and *consumed_r (the header's length:
 * the bytes after it are the client's); PROXY_BAD with *error_r (static
 * text).  Reads at most len bytes.
 */
enum proxy_status proxy_parse(const unsigned char *data, size_t len,
    struct proxy_result *r, size_t *consumed_r, const char **error_r);

#endif
