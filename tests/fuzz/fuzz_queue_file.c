/* SPDX-License-Identifier: MIT */
/*
 * fuzz_queue_file - queue_file_parse() on arbitrary bytes, and a round
 * trip of whatever it accepts.
 *
 * A failed parse must leave the envelope empty and give an error text.
 * An accepted file is written again with the queue writer into a memory
 * file (memfd), read back and parsed again: that must succeed with the
 * same fields and the same message bytes, and writing the second result
 * must give the very same bytes (the writer's output is canonical).  Any
 * difference aborts.  queue_file_id() runs on every input too: on an
 * accepted file it must name the parsed ID, and on any input what it
 * gives must be a valid ID (safe in a path).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "queue_file.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
env_same(const struct queue_envelope *a, const struct queue_envelope *b)
{
	if (!str_same(a->id, b->id) || !str_same(a->arrival, b->arrival) ||
	    !str_same(a->client_name, b->client_name) ||
	    !str_same(a->client_addr, b->client_addr) ||
	    !str_same(a->helo, b->helo) ||
	    !str_same(a->protocol, b->protocol) ||
	    !str_same(a->service, b->service) ||
	    !str_same(a->sasl_user, b->sasl_user) ||
	    !str_same(a->tls, b->tls) || !str_same(a->sender, b->sender) ||
	    !str_same(a->size, b->size) || !str_same(a->body, b->body) ||
	    a->smtputf8 != b->smtputf8 || !str_same(a->ret, b->ret) ||
	    !str_same(a->envid, b->envid) || a->nrcpts != b->nrcpts ||
	    a->content_size != b->content_size)
		return false;
	for (size_t i = 0; i < a->nrcpts; i++) {
		if (!str_same(a->rcpts[i].addr, b->rcpts[i].addr) ||
		    !str_same(a->rcpts[i].notify, b->rcpts[i].notify) ||
		    !str_same(a->rcpts[i].orcpt, b->rcpts[i].orcpt))
			return false;
	}
	return true;
}

/* rewrite - env and content as a queue file; the bytes in *out. */
static void
rewrite(const struct queue_envelope *env, const struct buf *content,
    struct buf *out)
{
	struct queue_writer w;
	int fd = memfd_create("fuzz-queue", MFD_CLOEXEC);
	char tmp[4096];
	ssize_t n;

	if (fd < 0)
		abort();
	queue_writer_init(&w, fd);
	if (queue_writer_envelope(&w, env) < 0)
		abort();
	/* An odd split, to cover the writer's buffering. */
	for (size_t off = 0; off < content->len; off += 777) {
		size_t len = content->len - off < 777 ? content->len - off :
		    777;

		if (queue_writer_content(&w, content->data + off, len) < 0)
			abort();
	}
	if (queue_writer_finish(&w) < 0)
		abort();
	queue_writer_deinit(&w);
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		if (buf_append(out, tmp, (size_t)n) < 0)
			abort();
	}
	if (n < 0)
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_envelope env, env2;
	struct buf content, content2, file, file2;
	const char *error = NULL;
	char id[QUEUE_ID_LEN + 1];
	int have_id = queue_file_id((const char *)data, size, id);

	if (have_id == 0 && !queue_id_is_valid(id))
		abort();
	buf_init(&content, SIZE_MAX);
	if (queue_file_parse((const char *)data, size, &env, &content,
	    &error) < 0) {
		if (error == NULL || *error == '\0' || env.id != NULL ||
		    env.rcpts != NULL || content.len != 0)
			abort();
		buf_deinit(&content);
		return 0;
	}
	if (content.len != env.content_size || env.nrcpts == 0 ||
	    !queue_id_is_valid(env.id) || have_id != 0 ||
	    strcmp(id, env.id) != 0)
		abort();

	buf_init(&file, SIZE_MAX);
	buf_init(&file2, SIZE_MAX);
	buf_init(&content2, SIZE_MAX);
	rewrite(&env, &content, &file);
	if (queue_file_parse(file.data, file.len, &env2, &content2,
	    &error) < 0)
		abort();
	if (!env_same(&env, &env2) || content2.len != content.len ||
	    (content.len > 0 &&
	    memcmp(content.data, content2.data, content.len) != 0))
		abort();
	rewrite(&env2, &content2, &file2);
	if (file.len != file2.len ||
	    memcmp(file.data, file2.data, file.len) != 0)
		abort();

	queue_envelope_deinit(&env);
	queue_envelope_deinit(&env2);
	buf_deinit(&content);
	buf_deinit(&content2);
	buf_deinit(&file);
	buf_deinit(&file2);
	return 0;
}
