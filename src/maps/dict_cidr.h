/* SPDX-License-Identifier: MIT */
/*
 * dict_cidr - "cidr:/path" tables: Postfix's cidr_table(5) format.
 *
 *   network/prefix result     the result when the key is in the network
 *   address result            ... when the key is this address
 *   !network/prefix result    ... when the key is NOT in the network
 *   if network/prefix ... endif   (and "if !network/prefix"), nesting
 *
 * The file layout, if/endif and error reporting are those of
 * dict_pattern.h; results are taken literally (no $N).  The first rule
 * in file order that applies gives the result.
 *
 * Patterns: an IPv4 address (dotted quad, no leading zeros: "010.0.0.1"
 * is refused, as in Postfix) or IPv6 address (inet_pton() syntax, any
 * case, leading zeros fine), optionally with "/prefix" (decimal, 0..32
 * or 0..128), optionally inside "[...]": "[192.0.2.0]/24",
 * "[192.0.2.0/24]" and "[2001:db8::]/32" are all fine.  A zone
 * ("fe80::1%eth0") is refused.  A network with bits set past its prefix
 * ("192.168.1.1/16") is refused with the network it probably means
 * ("did you mean 192.168.0.0/16?"); Postfix 3.7 warns and skips such a
 * rule (it does not mask it) - here the table does not open, as for
 * every other error.
 *
 * Keys: an IPv4 or IPv6 address in inet_pton() syntax; anything else
 * (a name, "[192.0.2.1]", a zone, "010.0.0.1", trailing space) is not
 * found, as in Postfix.  Comparison is binary, so "2001:DB8::0:1"
 * matches "2001:db8::1".  A rule applies only to keys of its own address
 * family - a negated IPv4 rule ("!10.0.0.0/8") or if does not apply to
 * an IPv6 key, nor the reverse - as in Postfix.  IPv4-mapped IPv6
 * addresses (::ffff:192.0.2.1) are IPv6 addresses here, as in Postfix's
 * cidr tables: they match "::ffff:192.0.2.0/120" or "::/0", not
 * "192.0.2.0/24".  Postfix's smtpd (and Ostia's, smtpd.c) show such
 * clients as plain IPv4 before any lookup, so client keys are IPv4.
 *
 * Bounds: the file at most DICT_CIDR_FILE_MAX_BYTES, at most
 * DICT_CIDR_MAX_RULES rules.  Lookups try the rules in order (cost
 * linear in the table's size, as in Postfix).
 *
 * Errors (the table does not open): "FILE, line N: bad address
 * pattern "..."", "... bad prefix length in "10.0.0.0/33" (0..32 for
 * IPv4)", "... non-zero host bits in "192.168.1.1/16": did you mean
 * 192.168.0.0/16?", and those of dict_pattern.h.
 */
#ifndef OSTIA_DICT_CIDR_H
#define OSTIA_DICT_CIDR_H

#include "dict.h"

#define DICT_CIDR_FILE_MAX_BYTES (64 * 1024 * 1024)
#define DICT_CIDR_MAX_RULES 1000000

extern const struct dict_type dict_type_cidr;

#endif
