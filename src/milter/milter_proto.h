/* SPDX-License-Identifier: MIT */
/*
 * milter_proto - the Sendmail 8 mail filter ("Milter") protocol as an
 * MTA speaks it, version 6 (libmilter 8.14 and later, which OpenDKIM,
 * OpenDMARC, rspamd, ClamAV's clamav-milter and pymilter use): packet
 * framing, the packets the MTA sends, the replies it reads, and the
 * message edits a filter may ask for at the end of a message, applied
 * to a message held in memory.  Pure: no I/O, no logging.
 *
 * A packet on the wire, either way:
 *
 *   length (4 octets, network order; counts the command and the data)
 *   command (1 octet)
 *   data (length - 1 octets)
 *
 * The MTA opens with OPTNEG (version, the actions it allows, the
 * protocol steps it can leave out); the filter answers with the version
 * it speaks, the actions it wants and the steps it does not want, and
 * may name the macros it wants at each stage (SETSYMLIST).  Strings in
 * packets end in NUL.  What each packet holds is in the comments of the
 * milter_put_* functions below.
 *
 * Header values go to the filter as Sendmail sends them: the text after
 * the colon without the white space that follows it (unless the filter
 * asked for SMFIP_HDR_LEADSPC), folded lines joined by a bare LF, no
 * line end at the end.  The body goes as it is stored: CRLF line ends.
 */
#ifndef OSTIA_MILTER_PROTO_H
#define OSTIA_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The protocol version Ostia speaks (and the oldest it accepts). */
#define MILTER_VERSION 6
#define MILTER_VERSION_MIN 2
/* Longest body chunk sent (libmilter's MILTER_CHUNK_SIZE). */
#define MILTER_CHUNK_MAX 65535
/* Longest packet accepted from a filter: a chunk and its command, and
 * room for a reply text or a header. */
#define MILTER_PKT_MAX (MILTER_CHUNK_MAX + 1024)

/* Commands, MTA to filter. */
#define SMFIC_ABORT 'A'
#define SMFIC_BODY 'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO 'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO 'H'
#define SMFIC_QUIT_NC 'K'
#define SMFIC_HEADER 'L'
#define SMFIC_MAIL 'M'
#define SMFIC_EOH 'N'
#define SMFIC_OPTNEG 'O'
#define SMFIC_QUIT 'Q'
#define SMFIC_RCPT 'R'
#define SMFIC_DATA 'T'
#define SMFIC_UNKNOWN 'U'

/* Replies, filter to MTA. */
#define SMFIR_ADDRCPT '+'
#define SMFIR_DELRCPT '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN '4'
#define SMFIR_ACCEPT 'a'
#define SMFIR_REPLBODY 'b'
#define SMFIR_CONTINUE 'c'
#define SMFIR_DISCARD 'd'
#define SMFIR_CHGFROM 'e'
#define SMFIR_CONN_FAIL 'f'
#define SMFIR_ADDHEADER 'h'
#define SMFIR_INSHEADER 'i'
#define SMFIR_SETSYMLIST 'l'
#define SMFIR_CHGHEADER 'm'
#define SMFIR_PROGRESS 'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT 'r'
#define SMFIR_SKIP 's'
#define SMFIR_TEMPFAIL 't'
#define SMFIR_REPLYCODE 'y'

/* Actions a filter may take at the end of a message (SMFIF_*). */
#define SMFIF_ADDHDRS 0x001u
#define SMFIF_CHGBODY 0x002u
#define SMFIF_ADDRCPT 0x004u
#define SMFIF_DELRCPT 0x008u
#define SMFIF_CHGHDRS 0x010u
#define SMFIF_QUARANTINE 0x020u
#define SMFIF_CHGFROM 0x040u
#define SMFIF_ADDRCPT_PAR 0x080u
#define SMFIF_SETSYMLIST 0x100u
/* Every action Ostia carries out. */
#define MILTER_ACTIONS_ALL 0x1ffu

/* Protocol steps (SMFIP_*): what the filter does not want sent, and
 * the replies it will not send. */
#define SMFIP_NOCONNECT 0x000001u
#define SMFIP_NOHELO 0x000002u
#define SMFIP_NOMAIL 0x000004u
#define SMFIP_NORCPT 0x000008u
#define SMFIP_NOBODY 0x000010u
#define SMFIP_NOHDRS 0x000020u
#define SMFIP_NOEOH 0x000040u
#define SMFIP_NR_HDR 0x000080u
#define SMFIP_NOUNKNOWN 0x000100u
#define SMFIP_NODATA 0x000200u
#define SMFIP_SKIP 0x000400u
#define SMFIP_RCPT_REJ 0x000800u
#define SMFIP_NR_CONN 0x001000u
#define SMFIP_NR_HELO 0x002000u
#define SMFIP_NR_MAIL 0x004000u
#define SMFIP_NR_RCPT 0x008000u
#define SMFIP_NR_DATA 0x010000u
#define SMFIP_NR_UNKN 0x020000u
#define SMFIP_NR_EOH 0x040000u
#define SMFIP_NR_BODY 0x080000u
#define SMFIP_HDR_LEADSPC 0x100000u
/* Every step Ostia can leave out or do without a reply for (not
 * RCPT_REJ: refused recipients are not shown to filters; not the
 * larger chunk sizes). */
#define MILTER_PROTO_OFFER 0x1ff7ffu

/* The stages a filter may name macros for (SETSYMLIST), in the
 * protocol's order. */
enum milter_stage {
	MILTER_STAGE_CONNECT,
	MILTER_STAGE_HELO,
	MILTER_STAGE_MAIL,
	MILTER_STAGE_RCPT,
	MILTER_STAGE_DATA,
	MILTER_STAGE_EOM,
	MILTER_STAGE_EOH,
	MILTER_STAGE__COUNT
};

/*
 * Append one packet (command cmd, len bytes of data) to b.  0, or -1
 * when b is full or len is over MILTER_PKT_MAX (nothing appended).
 */
int milter_put(struct buf *b, char cmd, const void *data, size_t len);
/* A packet whose data is the strings of v (n of them), each followed by
 * NUL.  A string holding NUL cannot be passed (C strings). */
int milter_put_strs(struct buf *b, char cmd, const char *const *v, size_t n);
/* OPTNEG: version, actions, protocol, each 4 octets. */
int milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions,
    uint32_t proto);
/* CONNECT: host name NUL, family ('4', '6', 'L' local, 'U' unknown),
 * and for '4'/'6' the port (2 octets) and the address NUL. */
int milter_put_connect(struct buf *b, const char *host, char family,
    unsigned port, const char *addr);
/* MACRO for the command stage_cmd: the names and values of nv
 * (NULL-terminated name, value, ...), each NUL-terminated.  No packet
 * when nv is empty. */
int milter_put_macros(struct buf *b, char stage_cmd, const char *const *nv);

/*
 * The packet framing.  buf holds len bytes received so far.
 * Returns 1 with *cmd, *data (pointing into buf), *dlen and *used (the
 * bytes the packet takes); 0 when more bytes are needed; -1 with
 * *error_r (static text) for a length of 0 or over MILTER_PKT_MAX.
 */
int milter_pkt_parse(const char *buf, size_t len, char *cmd,
    const char **data, size_t *dlen, size_t *used, const char **error_r);

/* The filter's answer to OPTNEG. */
struct milter_optneg {
	uint32_t version;
	uint32_t actions;
	uint32_t proto;
	/* Macro names per stage (SETSYMLIST), space separated; NULL: the
	 * MTA's own list. */
	char *macros[MILTER_STAGE__COUNT];
};
/*
 * Parse the data of an OPTNEG reply.  0, or -1 with *error_r (static):
 * too short, a version below MILTER_VERSION_MIN, a macro list that is
 * not NUL-terminated or names an unknown stage.  Free with
 * milter_optneg_deinit (also after -1).
 */
int milter_optneg_parse(const char *data, size_t len,
    struct milter_optneg *o, const char **error_r);
void milter_optneg_deinit(struct milter_optneg *o);

/*
 * Split data into NUL-terminated strings: exactly n of them (more
 * bytes after the n-th NUL, or fewer strings, fail), pointers into
 * data stored in out.  0 or -1.
 */
int milter_strings(const char *data, size_t len, const char **out,
    size_t n);
/* At least min and at most max strings; returns how many, or -1. */
int milter_strings_range(const char *data, size_t len, const char **out,
    size_t min, size_t max);

/*
 * A REPLYCODE reply ("550 5.7.1 text", possibly several lines joined
 * by CRLF, each starting with the code) checked and made into one
 * reply line for the client: a 4xx or 5xx code, an enhanced code whose
 * class digit matches when there is one (else one is added: x.7.1),
 * printable text.  Multi-line replies keep their first line.  0 with
 * out set, or -1 with *error_r.
 */
int milter_replycode(const char *text, char *out, size_t outsz,
    const char **error_r);

/* ---- the message and its edits ---- */

struct milter_hdr {
	char *name;
	char *raw;		/* "Name: value" CRLF, folded lines kept */
	size_t rawlen;
};

struct milter_msg {
	char *trace;		/* the header(s) filters do not see, kept
				 * first (the Received: line Ostia added) */
	size_t tracelen;
	struct milter_hdr *h;
	size_t nh, caph;
	char *body;		/* after the empty line; CRLF lines */
	size_t bodylen;
	bool blank;		/* the empty line between them was there */
	size_t size;		/* bytes of milter_msg_join's result */
};

/* Most headers a message may have here (more: the split fails). */
#define MILTER_HDRS_MAX 10000

/*
 * Split content (CRLF lines) into m: the first skip_first header(s)
 * into trace, the header section into headers (a header is its line and
 * the lines after it that start with white space), the body after the
 * first empty line (exactly CRLF).  A line that is neither a header nor
 * a continuation ends the header section and starts the body (no empty
 * line then).  milter_msg_join() of the result gives content back byte
 * for byte.
 * 0, or -1 (more than MILTER_HDRS_MAX headers).
 */
int milter_msg_split(struct milter_msg *m, const char *content, size_t len,
    unsigned skip_first);
void milter_msg_free(struct milter_msg *m);
/* The message again; unchanged parts are byte for byte what was split.
 * -1 when out is full. */
int milter_msg_join(const struct milter_msg *m, struct buf *out);

/*
 * The value of header i as a filter gets it (see the top), into out
 * (NUL-terminated, at most outsz - 1 bytes; longer values are cut).
 */
void milter_hdr_value(const struct milter_hdr *h, bool leadspc, char *out,
    size_t outsz);

/*
 * The edits.  name must be a header field name (printable ASCII without
 * ':' or white space, at most 997 octets); value any text without NUL
 * or a lone CR, whose LF (or CRLF) starts a folded line (a TAB is
 * added where the next line does not start with white space).  Without
 * leadspc a space goes between the colon and the value.  Each returns
 * 0, or -1 with *error_r for a bad name or value (nothing changed).
 */
/* ADDHEADER: after the last header. */
int milter_msg_add(struct milter_msg *m, const char *name, const char *value,
    bool leadspc, const char **error_r);
/* INSHEADER: before header idx (0: first; past the end: last). */
int milter_msg_insert(struct milter_msg *m, uint32_t idx, const char *name,
    const char *value, bool leadspc, const char **error_r);
/* CHGHEADER: the idx-th (1-based; 0 counts as 1) header named name
 * (any case) gets value, or goes when value is empty; a change of a
 * header that is not there adds it (a deletion does nothing). */
int milter_msg_change(struct milter_msg *m, uint32_t idx, const char *name,
    const char *value, bool leadspc, const char **error_r);
/* REPLBODY: the new body, whose line ends are made CRLF (a lone CR or
 * LF becomes CRLF) and which ends with a line end.  body is taken
 * (freed by the message). */
void milter_msg_set_body(struct milter_msg *m, char *body, size_t len);

#endif
