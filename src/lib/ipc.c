/* SPDX-License-Identifier: MIT */
/*
 * ipc - framed messages with descriptor passing; see ipc.h.
 *
 * A frame that carries a descriptor has IPC_FLAG_FD set in its type on
 * the wire; descriptors are queued in arrival order and handed out with
 * the frames that announce them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"
#include "xalloc.h"

#define IPC_FLAG_FD 0x80000000u

void
ipc_out_init(struct ipc_out *o)
{
	o->len = 0;
	o->overflow = false;
}

static void
put_bytes(struct ipc_out *o, const void *p, size_t n)
{
	if (o->overflow || n > sizeof(o->data) - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
}

void
ipc_put_u32(struct ipc_out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		(uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(o, b, sizeof(b));
}

void
ipc_put_u64(struct ipc_out *o, uint64_t v)
{
	ipc_put_u32(o, (uint32_t)(v >> 32));
	ipc_put_u32(o, (uint32_t)v);
}

void
ipc_put_str(struct ipc_out *o, const char *s)
{
	size_t n = strlen(s);

	if (n > IPC_PAYLOAD_MAX_BYTES) {
		o->overflow = true;
		return;
	}
	ipc_put_u32(o, (uint32_t)n);
	put_bytes(o, s, n);
}

/*
 * put_header - the 8 header octets of a frame of type t (IPC_FLAG_FD
 * already in it when a descriptor goes along) and len payload octets.
 */
static void
put_header(uint8_t hdr[IPC_HEADER_BYTES], uint32_t t, size_t len)
{
	hdr[0] = (uint8_t)(t >> 24);
	hdr[1] = (uint8_t)(t >> 16);
	hdr[2] = (uint8_t)(t >> 8);
	hdr[3] = (uint8_t)t;
	hdr[4] = (uint8_t)(len >> 24);
	hdr[5] = (uint8_t)(len >> 16);
	hdr[6] = (uint8_t)(len >> 8);
	hdr[7] = (uint8_t)len;
}

/*
 * send_iov - one sendmsg() of iov (with fd when fd >= 0) on the
 * non-blocking sock.  The bytes sent (the descriptor went with them when
 * at least one was), or -1 with errno (EAGAIN when nothing was taken).
 */
static ssize_t
send_iov(int sock, struct iovec *iov, size_t niov, int fd)
{
	struct msghdr mh;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = niov;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EWOULDBLOCK)
		errno = EAGAIN;
	return n;
}

int
ipc_send(int sock, uint32_t type, const struct ipc_out *o, int fd)
{
	uint8_t hdr[IPC_HEADER_BYTES];
	struct iovec iov[2];
	size_t len = o != NULL ? o->len : 0;
	ssize_t n;

	if (o != NULL && o->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	put_header(hdr, type | (fd >= 0 ? IPC_FLAG_FD : 0), len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = o != NULL ? UNCONST(o->data) : NULL;
	iov[1].iov_len = len;
	n = send_iov(sock, iov, len > 0 ? 2 : 1, fd);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof(hdr) + len) {
		/* A partial frame would desynchronise the stream. */
		errno = EAGAIN;
		return -1;
	}
	return 0;
}

void
ipc_writer_init(struct ipc_writer *w, int sock, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->sock = sock;
	w->max = max < IPC_HEADER_BYTES + IPC_PAYLOAD_MAX_BYTES ?
	    IPC_HEADER_BYTES + IPC_PAYLOAD_MAX_BYTES : max;
}

void
ipc_writer_deinit(struct ipc_writer *w)
{
	for (size_t i = w->fds_head; i < w->nfds; i++)
		close(w->fds[i].fd);
	free(w->fds);
	free(w->data);
	memset(w, 0, sizeof(*w));
	w->sock = -1;
}

size_t
ipc_writer_pending(const struct ipc_writer *w)
{
	return w->len - w->off;
}

/*
 * writer_keep - append n bytes to what waits (room checked by the
 * caller), with a duplicate of fd (when fd >= 0) going out with the
 * first of them.  0, or -1 with errno (the duplicate failed; nothing
 * kept).
 */
static int
writer_keep(struct ipc_writer *w, const uint8_t *p, size_t n, int fd)
{
	int dup_fd = -1;

	if (fd >= 0) {
		dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dup_fd < 0)
			return -1;
	}
	if (w->off == w->len)
		w->off = w->len = 0;
	if (w->cap - w->len < n) {
		/* Slide what waits to the front before growing. */
		if (w->off > 0) {
			memmove(w->data, w->data + w->off, w->len - w->off);
			for (size_t i = w->fds_head; i < w->nfds; i++)
				w->fds[i].at -= w->off;
			w->len -= w->off;
			w->off = 0;
		}
		if (w->cap - w->len < n) {
			size_t cap = w->cap > 0 ? w->cap : 4096;

			while (cap - w->len < n)
				cap *= 2;
			w->data = xreallocarray(w->data, cap, 1);
			w->cap = cap;
		}
	}
	if (dup_fd >= 0) {
		if (w->fds_head == w->nfds)
			w->fds_head = w->nfds = 0;
		if (w->nfds == w->fds_cap && w->fds_head > 0) {
			memmove(w->fds, w->fds + w->fds_head,
			    (w->nfds - w->fds_head) * sizeof(*w->fds));
			w->nfds -= w->fds_head;
			w->fds_head = 0;
		}
		if (w->nfds == w->fds_cap) {
			w->fds_cap = w->fds_cap > 0 ? w->fds_cap * 2 : 4;
			w->fds = xreallocarray(w->fds, w->fds_cap,
			    sizeof(*w->fds));
		}
		w->fds[w->nfds].at = w->len;
		w->fds[w->nfds].fd = dup_fd;
		w->nfds++;
	}
	memcpy(w->data + w->len, p, n);
	w->len += n;
	return 0;
}

int
ipc_writer_put(struct ipc_writer *w, uint32_t type, const struct ipc_out *o,
    int fd)
{
	uint8_t frame[IPC_HEADER_BYTES + IPC_PAYLOAD_MAX_BYTES];
	size_t len = o != NULL ? o->len : 0, total = IPC_HEADER_BYTES + len;
	size_t sent = 0;

	if (o != NULL && o->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	if (ipc_writer_pending(w) + total > w->max) {
		errno = ENOBUFS;
		return -1;
	}
	put_header(frame, type | (fd >= 0 ? IPC_FLAG_FD : 0), len);
	if (len > 0)
		memcpy(frame + IPC_HEADER_BYTES, o->data, len);
	if (ipc_writer_pending(w) == 0) {
		struct iovec iov = { frame, total };
		ssize_t n = send_iov(w->sock, &iov, 1, fd);

		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n > 0) {
			sent = (size_t)n;
			fd = -1;	/* it went with the first byte */
		}
		if (sent == total)
			return 0;
	}
	/* Only a frame none of which left can fail here (a duplicate is
	 * made only then), so the stream stays whole. */
	return writer_keep(w, frame + sent, total - sent, fd);
}

int
ipc_writer_flush(struct ipc_writer *w)
{
	while (w->off < w->len) {
		struct iovec iov;
		size_t end = w->len, h = w->fds_head;
		int fd = -1;
		ssize_t n;

		/* At most one descriptor per sendmsg(), with its frame's
		 * first byte; the bytes before the next one go without. */
		if (h < w->nfds && w->fds[h].at == w->off) {
			fd = w->fds[h].fd;
			if (h + 1 < w->nfds)
				end = w->fds[h + 1].at;
		} else if (h < w->nfds) {
			end = w->fds[h].at;
		}
		iov.iov_base = w->data + w->off;
		iov.iov_len = end - w->off;
		n = send_iov(w->sock, &iov, 1, fd);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		if (fd >= 0) {
			close(fd);
			w->fds_head++;
		}
		w->off += (size_t)n;
	}
	if (w->off == w->len) {
		w->off = w->len = 0;
		w->fds_head = w->nfds = 0;
		return 0;
	}
	return 1;
}

int
ipc_unix_connect(const char *path, bool nonblock)
{
	struct sockaddr_un sun;
	int sock, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (sock < 0)
		return -1;
	if (connect(sock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		close(sock);
		errno = e;
		return -1;
	}
	return sock;
}

void
ipc_in_init(struct ipc_in *in, const void *data, size_t len)
{
	in->data = data;
	in->len = len;
	in->off = 0;
	in->error = false;
}

uint32_t
ipc_get_u32(struct ipc_in *in)
{
	const uint8_t *p;

	if (in->error || in->len - in->off < 4) {
		in->error = true;
		return 0;
	}
	p = in->data + in->off;
	in->off += 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

uint64_t
ipc_get_u64(struct ipc_in *in)
{
	uint64_t hi = ipc_get_u32(in);

	return hi << 32 | ipc_get_u32(in);
}

char *
ipc_get_str(struct ipc_in *in, size_t max)
{
	uint32_t n = ipc_get_u32(in);
	char *s;

	if (in->error || n > max || in->len - in->off < n ||
	    memchr(in->data + in->off, '\0', n) != NULL) {
		in->error = true;
		return NULL;
	}
	s = xstrndup((const char *)in->data + in->off, n);
	in->off += n;
	return s;
}

bool
ipc_in_done(const struct ipc_in *in)
{
	return !in->error && in->off == in->len;
}

void
ipc_conn_init(struct ipc_conn *c, int sock)
{
	ipc_conn_init_max(c, sock, IPC_PAYLOAD_MAX_BYTES);
}

void
ipc_conn_init_max(struct ipc_conn *c, int sock, size_t max_payload)
{
	c->sock = sock;
	c->max_payload = max_payload;
	c->scratch = NULL;
	buf_init(&c->in, 2 * (IPC_HEADER_BYTES + max_payload));
	c->nfds = 0;
	c->eof = false;
}

void
ipc_conn_deinit(struct ipc_conn *c)
{
	for (size_t i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
	buf_deinit(&c->in);
	free(c->scratch);
	c->scratch = NULL;
}

/*
 * read_once - one recvmsg() of at most the room left.  1 when bytes
 * came, 0 when nothing is to be read now (EAGAIN, end of stream: c->eof,
 * or no room left), -1 with errno on an error.
 */
static int
read_once(struct ipc_conn *c)
{
	char data[IPC_HEADER_BYTES + IPC_PAYLOAD_MAX_BYTES];
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_FDS_MAX)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { data, sizeof(data) };
	struct msghdr mh;
	struct cmsghdr *cmsg;
	size_t room = c->in.max - c->in.len;
	ssize_t n;

	if (room == 0)
		return 0;
	if (iov.iov_len > room)
		iov.iov_len = room;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		size_t nfd;
		int fds[IPC_FDS_MAX];

		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds, CMSG_DATA(cmsg), nfd * sizeof(int));
		for (size_t i = 0; i < nfd; i++) {
			if (c->nfds == IPC_FDS_MAX) {
				for (; i < nfd; i++)
					close(fds[i]);
				errno = EMFILE;
				return -1;
			}
			c->fds[c->nfds++] = fds[i];
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		errno = EMFILE;
		return -1;
	}
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	if (buf_append(&c->in, data, (size_t)n) < 0) {
		errno = EMSGSIZE;
		return -1;
	}
	return 1;
}

int
ipc_conn_fill(struct ipc_conn *c)
{
	for (;;) {
		int r;

		if (c->in.len == c->in.max) {
			errno = EMSGSIZE;
			return -1;
		}
		r = read_once(c);
		if (r <= 0)
			return r;
	}
}

int
ipc_conn_fill_once(struct ipc_conn *c)
{
	return read_once(c) < 0 ? -1 : 0;
}

int
ipc_conn_read(struct ipc_conn *c)
{
	return read_once(c);
}

int
ipc_conn_next(struct ipc_conn *c, uint32_t *type_r, struct ipc_in *in,
    int *fd_r)
{
	static const uint8_t empty[1];
	const uint8_t *p = (const uint8_t *)c->in.data;
	uint32_t type, len;

	*fd_r = -1;
	if (c->in.len < IPC_HEADER_BYTES)
		return 0;
	type = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	len = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7];
	if (len > c->max_payload)
		return -1;
	if (c->in.len < IPC_HEADER_BYTES + (size_t)len)
		return 0;
	if (type & IPC_FLAG_FD) {
		if (c->nfds == 0)
			return -1;	/* announced but not received */
		*fd_r = c->fds[0];
		memmove(c->fds, c->fds + 1, (c->nfds - 1) * sizeof(int));
		c->nfds--;
	}
	*type_r = type & ~IPC_FLAG_FD;
	/* The payload is copied out so that consuming the frame is safe. */
	if (len > 0 && c->scratch == NULL)
		c->scratch = xmalloc(c->max_payload);
	if (len > 0)
		memcpy(c->scratch, p + IPC_HEADER_BYTES, len);
	buf_consume(&c->in, IPC_HEADER_BYTES + (size_t)len);
	ipc_in_init(in, len > 0 ? c->scratch : empty, len);
	return 1;
}
