/* SPDX-License-Identifier: MIT */
/*
 * maildrop - the drop directory of local submissions; see maildrop.h.
 *
 * Plain libc: also linked into the set-group-ID helper ostia-postdrop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildrop.h"

static const char maildrop_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

bool
maildrop_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (i >= MAILDROP_NAME_LEN ||
		    strchr(maildrop_alphabet, name[i]) == NULL)
			return false;
	return i == MAILDROP_NAME_LEN;
}

/* RFC 5322 3.2.3 atext. */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

bool
maildrop_login_valid(const char *login)
{
	size_t n = strlen(login);

	if (n == 0 || n > MAILDROP_LOGIN_MAX_BYTES || login[0] == '.' ||
	    login[n - 1] == '.' || strstr(login, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (login[i] != '.' && !is_atext((unsigned char)login[i]))
			return false;
	return true;
}

int
maildrop_header_encode(uid_t uid, const char *login, unsigned char *out,
    size_t outsz)
{
	char payload[MAILDROP_HEADER_MAX_BYTES + 1];
	int n;

	if (!maildrop_login_valid(login))
		return -1;
	n = snprintf(payload, sizeof(payload), "%s %lu %s",
	    MAILDROP_HEADER_MAGIC, (unsigned long)uid, login);
	if (n < 0 || (size_t)n >= sizeof(payload) || outsz < (size_t)n + 5)
		return -1;
	out[0] = MAILDROP_HEADER_TYPE;
	out[1] = (unsigned char)((unsigned)n >> 24);
	out[2] = (unsigned char)((unsigned)n >> 16);
	out[3] = (unsigned char)((unsigned)n >> 8);
	out[4] = (unsigned char)n;
	memcpy(out + 5, payload, (size_t)n);
	return n + 5;
}

long
maildrop_header_parse(const unsigned char *data, size_t len, uid_t *uid_r,
    char login[MAILDROP_LOGIN_MAX_BYTES + 1], const char **error_r)
{
	static const char magic[] = MAILDROP_HEADER_MAGIC " ";
	char payload[MAILDROP_HEADER_MAX_BYTES + 1];
	const char *p, *sp;
	unsigned long long uid = 0;
	uint32_t n;

	if (len < 5 || data[0] != MAILDROP_HEADER_TYPE) {
		*error_r = "no maildrop header record 'u' at the start";
		return -1;
	}
	n = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
	    (uint32_t)data[3] << 8 | (uint32_t)data[4];
	if (n > MAILDROP_HEADER_MAX_BYTES) {
		*error_r = "the maildrop header record is too long";
		return -1;
	}
	if (len - 5 < n) {
		*error_r = "the file ends inside the maildrop header";
		return -1;
	}
	memcpy(payload, data + 5, n);
	payload[n] = '\0';
	if (memchr(payload, '\0', n) != NULL ||
	    strncmp(payload, magic, sizeof(magic) - 1) != 0) {
		*error_r = "the maildrop header is not \"" MAILDROP_HEADER_MAGIC
		    " UID LOGIN\"";
		return -1;
	}
	p = payload + sizeof(magic) - 1;
	sp = strchr(p, ' ');
	/* Decimal, no sign, no leading zero, within uid_t. */
	if (sp == NULL || sp == p || sp - p > 10 || (p[0] == '0' && sp - p > 1)) {
		*error_r = "the maildrop header has no valid uid";
		return -1;
	}
	for (const char *q = p; q < sp; q++) {
		if (*q < '0' || *q > '9') {
			*error_r = "the maildrop header has no valid uid";
			return -1;
		}
		uid = uid * 10 + (unsigned)(*q - '0');
	}
	if (uid >= (uid_t)-1) {
		*error_r = "the maildrop header has no valid uid";
		return -1;
	}
	if (!maildrop_login_valid(sp + 1)) {
		*error_r = "the maildrop header has no valid login name";
		return -1;
	}
	memcpy(login, sp + 1, strlen(sp + 1) + 1);
	*uid_r = (uid_t)uid;
	return (long)n + 5;
}

int
maildrop_dir_check(int dirfd, gid_t gid, const char **error_r)
{
	struct stat st;

	if (fstat(dirfd, &st) < 0) {
		*error_r = "cannot stat the maildrop directory";
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = "the maildrop directory is not a directory";
		return -1;
	}
	if ((st.st_mode & 07777) != MAILDROP_DIR_MODE) {
		*error_r = "the maildrop directory does not have mode 1730";
		return -1;
	}
	if (st.st_gid != gid) {
		*error_r = "the maildrop directory does not belong to group "
		    MAILDROP_GROUP;
		return -1;
	}
	return 0;
}

/* write_all - 0, or -1 with errno. */
static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
io_status(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EINTR || e == EAGAIN ?
	    MAILDROP_EX_TEMPFAIL : MAILDROP_EX_IOERR;
}

int
maildrop_drop(int dirfd, const char *name, uid_t uid, const char *login,
    int in_fd, uint64_t max_bytes, char *err, size_t errsz)
{
	unsigned char hdr[MAILDROP_HEADER_MAX_BYTES + 5];
	unsigned char chunk[65536];
	uint64_t total = 0;
	int fd, sfd, hlen, ret = MAILDROP_EX_OK;

	if (!maildrop_name_valid(name)) {
		snprintf(err, errsz, "not a maildrop file name: %s", name);
		return MAILDROP_EX_SOFTWARE;
	}
	hlen = maildrop_header_encode(uid, login, hdr, sizeof(hdr));
	if (hlen < 0) {
		snprintf(err, errsz, "the login name \"%.64s\" cannot be an "
		    "address", login);
		return MAILDROP_EX_NOUSER;
	}
	if (max_bytes == 0 || max_bytes > MAILDROP_FILE_MAX_BYTES)
		max_bytes = MAILDROP_FILE_MAX_BYTES;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY, MAILDROP_MODE_WRITING);
	if (fd < 0) {
		snprintf(err, errsz, "cannot create %s/%s: %s", MAILDROP_DIR,
		    name, strerror(errno));
		return MAILDROP_EX_CANTCREAT;
	}
	if (write_all(fd, hdr, (size_t)hlen) < 0) {
		ret = io_status(errno);
		snprintf(err, errsz, "cannot write %s/%s: %s", MAILDROP_DIR,
		    name, strerror(errno));
		goto fail;
	}
	for (;;) {
		ssize_t r = read(in_fd, chunk, sizeof(chunk));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = io_status(errno);
			snprintf(err, errsz, "cannot read the message: %s",
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		total += (uint64_t)r;
		if (total > max_bytes) {
			ret = MAILDROP_EX_DATAERR;
			snprintf(err, errsz, "the message is larger than %llu "
			    "bytes", (unsigned long long)max_bytes);
			goto fail;
		}
		if (write_all(fd, chunk, (size_t)r) < 0) {
			ret = io_status(errno);
			snprintf(err, errsz, "cannot write %s/%s: %s",
			    MAILDROP_DIR, name, strerror(errno));
			goto fail;
		}
	}
	if (fsync(fd) < 0 || fchmod(fd, MAILDROP_MODE_READY) < 0) {
		ret = io_status(errno);
		snprintf(err, errsz, "cannot finish %s/%s: %s", MAILDROP_DIR,
		    name, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = io_status(errno);
		snprintf(err, errsz, "cannot close %s/%s: %s", MAILDROP_DIR,
		    name, strerror(errno));
		goto fail;
	}
	/* The new entry: durable for those who may open the directory
	 * (the file's own fsync commits it on ext4 and XFS otherwise). */
	sfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd >= 0) {
		(void)fsync(sfd);
		close(sfd);
	}
	return MAILDROP_EX_OK;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlinkat(dirfd, name, 0);
	return ret;
}
