/* SPDX-License-Identifier: MIT */
/*
 * ipc - framed messages between Ostia's processes over Unix stream
 * sockets, with an optional descriptor passed alongside (SCM_RIGHTS).
 *
 *   frame = type (4 octets, big-endian) length (4 octets, big-endian)
 *           payload (length octets, at most IPC_PAYLOAD_MAX_BYTES)
 *
 * Payload fields are read through bounds-checked getters and a message
 * must be used up exactly (STYLE.md 1.3): anything else means a bug or a
 * compromised peer, and the receiver drops the connection.
 *
 * ipc_send() sends with one sendmsg() on a non-blocking socket: for a
 * connection that carries one request at a time, a full socket buffer
 * means the peer stopped reading, which is reported as an error (EAGAIN)
 * instead of blocking the loop.  A connection that carries many frames
 * at once (queue_proto.h) sends through an ipc_writer instead, which
 * keeps what the socket does not take until it is writable again.
 */
#ifndef OSTIA_IPC_H
#define OSTIA_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define IPC_HEADER_BYTES 8
#define IPC_PAYLOAD_MAX_BYTES 4096
/* Descriptors held for frames not yet taken. */
#define IPC_FDS_MAX 4

/* Payload builder. */
struct ipc_out {
	uint8_t data[IPC_PAYLOAD_MAX_BYTES];
	size_t len;
	bool overflow;
};

void ipc_out_init(struct ipc_out *o);
void ipc_put_u32(struct ipc_out *o, uint32_t v);
void ipc_put_u64(struct ipc_out *o, uint64_t v);
/* A string as u32 length + bytes (no NUL). */
void ipc_put_str(struct ipc_out *o, const char *s);

/*
 * Send one frame (and fd when fd >= 0) on sock.  0, or -1 with errno
 * (EMSGSIZE when the payload overflowed, EAGAIN when the peer is not
 * reading).
 */
int ipc_send(int sock, uint32_t type, const struct ipc_out *o, int fd);

/*
 * A stream socket connected to the Unix socket at path (close-on-exec;
 * non-blocking when nonblock).  -1 with errno (ENAMETOOLONG for a path
 * that does not fit).  A local connect completes at once or fails
 * (EAGAIN: the listener's backlog is full).
 */
int ipc_unix_connect(const char *path, bool nonblock);

/*
 * Sending side of a connection that carries many frames at once: a frame
 * goes out at once when nothing waits, else (and whatever part of it the
 * socket did not take) it waits here, in order, until ipc_writer_flush()
 * when the socket is writable.  A frame's descriptor leaves with the
 * frame's first byte, never with bytes of another frame, so the receiver
 * (ipc_conn) gets it before the frame is complete.
 */
struct ipc_writer_fd {
	size_t at;		/* offset in data of the frame it goes with */
	int fd;			/* a duplicate, owned by the writer */
};

struct ipc_writer {
	int sock;
	uint8_t *data;		/* waiting bytes are data[off..len) */
	size_t off;
	size_t len;
	size_t cap;
	size_t max;		/* most bytes that may wait */
	struct ipc_writer_fd *fds;	/* in order; fds[fds_head..nfds) */
	size_t fds_head;
	size_t nfds;
	size_t fds_cap;
};

/*
 * A writer on sock (not owned) holding at most max waiting bytes (raised
 * to one whole frame if smaller).
 */
void ipc_writer_init(struct ipc_writer *w, int sock, size_t max);
/* Frees the buffer and closes the descriptors still waiting (not sock). */
void ipc_writer_deinit(struct ipc_writer *w);
/*
 * Queue one frame (with fd when fd >= 0).  The writer does not take fd:
 * when the frame must wait, it keeps a duplicate (close-on-exec) that it
 * closes once sent.  0 when the frame left or waits; -1 with errno when
 * the frame was not queued (nothing of it sent): EMSGSIZE (the payload
 * overflowed), ENOBUFS (more than max bytes would wait), EMFILE and such
 * (no duplicate), or the send error (EPIPE, ECONNRESET...: the connection
 * is unusable from then on).
 */
int ipc_writer_put(struct ipc_writer *w, uint32_t type,
    const struct ipc_out *o, int fd);
/*
 * Send what waits, as far as the socket takes it.  0 when nothing waits
 * any more, 1 when some still does (wait until the socket is writable),
 * -1 with errno when the connection is unusable.
 */
int ipc_writer_flush(struct ipc_writer *w);
/* Bytes waiting. */
size_t ipc_writer_pending(const struct ipc_writer *w);

/* Payload reader over one received frame. */
struct ipc_in {
	const uint8_t *data;
	size_t len;
	size_t off;
	bool error;
};

void ipc_in_init(struct ipc_in *in, const void *data, size_t len);
uint32_t ipc_get_u32(struct ipc_in *in);
uint64_t ipc_get_u64(struct ipc_in *in);
/*
 * A string of at most max bytes without NUL, copied into a new buffer
 * (caller frees); NULL and in->error on any violation.
 */
char *ipc_get_str(struct ipc_in *in, size_t max);
/* True when every byte was used and no getter failed. */
bool ipc_in_done(const struct ipc_in *in);

/* Receiving side of a connection: bytes and descriptors not yet taken. */
struct ipc_conn {
	int sock;
	struct buf in;
	size_t max_payload;	/* longest frame payload accepted */
	uint8_t *scratch;	/* last frame's payload (max_payload bytes,
				 * allocated at the first non-empty frame) */
	int fds[IPC_FDS_MAX];
	size_t nfds;
	bool eof;
};

/* Frames of at most IPC_PAYLOAD_MAX_BYTES. */
void ipc_conn_init(struct ipc_conn *c, int sock);
/*
 * Frames of at most max_payload bytes (a protocol whose messages are
 * larger than IPC_PAYLOAD_MAX_BYTES, e.g. lookup_proto.h; its sender
 * builds frames itself, ipc_out being limited to IPC_PAYLOAD_MAX_BYTES).
 * Up to two frames' worth of unread bytes are buffered.
 */
void ipc_conn_init_max(struct ipc_conn *c, int sock, size_t max_payload);
/* Closes held descriptors (not sock), frees the buffers. */
void ipc_conn_deinit(struct ipc_conn *c);
/*
 * Read what the socket has (non-blocking).  0 (c->eof set at end of
 * stream), or -1 with errno on an error, on too many descriptors or on
 * more than a frame's worth of unread bytes.
 */
int ipc_conn_fill(struct ipc_conn *c);
/*
 * For protocols that pipeline many frames: one read of at most what
 * fits in the buffer (nothing when it is full); the caller then takes
 * every complete frame and waits for the socket to be readable again
 * (level-triggered).  0 (c->eof set at end of stream), or -1 with errno.
 */
int ipc_conn_fill_once(struct ipc_conn *c);
/*
 * Like ipc_conn_fill_once, telling whether bytes came: 1 when some were
 * read (there may be more: take the frames and call again), 0 when none
 * (nothing to read now, c->eof, or the buffer is full), -1 with errno.
 * One read takes at most one sendmsg()'s descriptors, so a caller that
 * takes every complete frame between reads never holds more than
 * IPC_FDS_MAX of them when each frame carries at most one.
 */
int ipc_conn_read(struct ipc_conn *c);
/*
 * Take the next complete frame: 1 with *type_r, the payload (valid until
 * the next call) and *fd_r (-1, or a descriptor that came with the frame,
 * now owned by the caller); 0 when incomplete; -1 for a malformed frame
 * (length over the connection's max_payload).
 */
int ipc_conn_next(struct ipc_conn *c, uint32_t *type_r, struct ipc_in *in,
    int *fd_r);

#endif
