/* SPDX-License-Identifier: MIT */
/*
 * test_queue_spare - queue files kept for the next messages
 * (src/queue/queue_spare.c), in a queue directory made up here: which
 * spare keeps its old bytes, which is emptied, and what a taken spare
 * looks like in incoming/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_proto.h"
#include "queue_spare.h"
#include "test_support.h"

#define ID1 "2KJJ6D0G8Y0F5ZKS"
#define ID2 "2KJJ6D0MSF0F6QKS"
#define ID3 "2KJJ6D0NMC0F6VKS"

static char top[64];
static int old_cwd = -1;
static int incoming = -1;

static int
setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/ostia-spare-XXXXXX");
	assert_non_null(mkdtemp(top));
	old_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(old_cwd >= 0);
	assert_int_equal(chdir(top), 0);
	assert_int_equal(mkdir(QUEUE_SPARE_DIR, 0700), 0);
	assert_int_equal(mkdir(QUEUE_INCOMING_DIR, 0700), 0);
	incoming = open(QUEUE_INCOMING_DIR, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	assert_true(incoming >= 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	close(incoming);
	assert_int_equal(fchdir(old_cwd), 0);
	close(old_cwd);
	test_remove_tree(top);
	return 0;
}

/* put - the file dir/id holding len bytes of c; its inode number. */
static ino_t
put(const char *dir, const char *id, char c, size_t len)
{
	char path[64], *p = malloc(len + 1);
	struct stat st;
	int fd;

	assert_non_null(p);
	memset(p, c, len);
	snprintf(path, sizeof(path), "%s/%s", dir, id);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, QUEUE_FILE_MODE);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	free(p);
	return st.st_ino;
}

static int
stat_at(const char *dir, const char *id, struct stat *st)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/%s", dir, id);
	return lstat(path, st);
}

static void
test_keep_blocks_rule(void **state)
{
	struct stat st;
	time_t now = 1800000000;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.st_ctim.tv_sec = now - 5;
	st.st_size = 4605;
	assert_true(spare_keep_blocks(&st, now));
	st.st_size = QUEUE_SPARE_KEEP_BYTES;
	assert_true(spare_keep_blocks(&st, now));
	st.st_size = QUEUE_SPARE_KEEP_BYTES + 1;
	assert_false(spare_keep_blocks(&st, now));
	st.st_size = 4605;
	st.st_ctim.tv_sec = now - QUEUE_SPARE_FRESH_SECONDS;
	assert_true(spare_keep_blocks(&st, now));
	st.st_ctim.tv_sec = now - QUEUE_SPARE_FRESH_SECONDS - 1;
	assert_false(spare_keep_blocks(&st, now));
	/* A ctime a second ahead of time(): a fine-grained timestamp
	 * (Linux 6.13 and later), not a clock that went back. */
	st.st_ctim.tv_sec = now + 1;
	assert_true(spare_keep_blocks(&st, now));
	st.st_ctim.tv_sec = now + QUEUE_SPARE_CLOCK_SLACK;
	assert_true(spare_keep_blocks(&st, now));
	/* A clock that went back: the pages may be anywhere. */
	st.st_ctim.tv_sec = now + QUEUE_SPARE_CLOCK_SLACK + 1;
	assert_false(spare_keep_blocks(&st, now));
	st.st_ctim.tv_sec = now + 60;
	assert_false(spare_keep_blocks(&st, now));
}

/* A small message's file keeps its bytes in spare/ and comes back,
 * bytes and all, as the partial, locked file of the next message. */
static void
test_small_file_is_reused_with_its_blocks(void **state)
{
	struct stat st;
	ino_t ino;
	int fd, other;

	(void)state;
	put(QUEUE_SPARE_DIR, "0000000000000001", 'x', 10);
	spare_init();
	assert_int_equal(stat_at(QUEUE_SPARE_DIR, "0000000000000001", &st),
	    -1);		/* an earlier process's spare: removed */
	assert_int_equal(spare_count(), 0);

	ino = put(QUEUE_INCOMING_DIR, ID1, 'a', 4605);
	assert_int_equal(spare_remove(QUEUE_INCOMING_DIR, ID1), 0);
	assert_int_equal(spare_count(), 1);
	assert_int_equal(stat_at(QUEUE_INCOMING_DIR, ID1, &st), -1);
	assert_int_equal(stat_at(QUEUE_SPARE_DIR, ID1, &st), 0);
	assert_int_equal(st.st_size, 4605);
	assert_int_equal(st.st_ino, ino);

	fd = spare_take(incoming, ID2);
	assert_true(fd >= 0);
	assert_int_equal(spare_count(), 0);
	assert_int_equal(stat_at(QUEUE_SPARE_DIR, ID1, &st), -1);
	assert_int_equal(stat_at(QUEUE_INCOMING_DIR, ID2, &st), 0);
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_size, 4605);	/* fresh and small: kept */
	assert_int_equal(st.st_mode & 07777, QUEUE_PARTIAL_MODE);
	/* The writer's lock is held on the descriptor returned. */
	other = openat(incoming, ID2, O_RDONLY);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(other);
	close(fd);

	/* No spare left: the caller makes a new file. */
	assert_int_equal(spare_take(incoming, ID3), -1);
	assert_int_equal(errno, ENOENT);
}

/* A large message's file is emptied as it leaves the queue: spares
 * never hold much disk. */
static void
test_large_file_is_emptied_when_it_leaves(void **state)
{
	struct stat st;
	int fd;

	(void)state;
	spare_init();
	put(QUEUE_INCOMING_DIR, ID1, 'b', QUEUE_SPARE_KEEP_BYTES + 1);
	assert_int_equal(spare_remove(QUEUE_INCOMING_DIR, ID1), 0);
	assert_int_equal(stat_at(QUEUE_SPARE_DIR, ID1, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
	fd = spare_take(incoming, ID2);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
}

/* A name already taken in incoming/ is never replaced; the spare stays
 * for the next ID. */
static void
test_taken_name_is_not_replaced(void **state)
{
	struct stat st;
	ino_t ino;
	int fd;

	(void)state;
	spare_init();
	put(QUEUE_INCOMING_DIR, ID1, 'c', 100);
	assert_int_equal(spare_remove(QUEUE_INCOMING_DIR, ID1), 0);
	ino = put(QUEUE_INCOMING_DIR, ID2, 'd', 50);
	assert_int_equal(spare_take(incoming, ID2), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(stat_at(QUEUE_INCOMING_DIR, ID2, &st), 0);
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_size, 50);
	assert_int_equal(spare_count(), 1);
	fd = spare_take(incoming, ID3);
	assert_true(fd >= 0);
	close(fd);
}

/* Spares no message took between two trims are freed, oldest first;
 * the ones in use stay. */
static void
test_trim_frees_what_no_message_needed(void **state)
{
	static const char *ids[] = { "2KJJ6D0G8Y0F5ZK1", "2KJJ6D0G8Y0F5ZK2",
	    "2KJJ6D0G8Y0F5ZK3", "2KJJ6D0G8Y0F5ZK4", "2KJJ6D0G8Y0F5ZK5" };
	struct stat st;
	int fd;

	(void)state;
	spare_init();
	for (size_t i = 0; i < 5; i++) {
		put(QUEUE_INCOMING_DIR, ids[i], 'e', 200);
		assert_int_equal(spare_remove(QUEUE_INCOMING_DIR, ids[i]), 0);
	}
	assert_int_equal(spare_count(), 5);
	/* Nothing was taken since spare_init, when there were none. */
	assert_int_equal(spare_trim(), 0);
	assert_int_equal(spare_count(), 5);

	/* Two messages take the two newest spares, and one gives its file
	 * back: the three oldest were never needed. */
	fd = spare_take(incoming, ID1);
	assert_true(fd >= 0);
	close(fd);
	fd = spare_take(incoming, ID2);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spare_remove(QUEUE_INCOMING_DIR, ID1), 0);
	assert_int_equal(spare_count(), 4);
	assert_int_equal(spare_trim(), 3);
	assert_int_equal(spare_count(), 1);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(stat_at(QUEUE_SPARE_DIR, ids[i], &st), -1);
	assert_int_equal(stat_at(QUEUE_SPARE_DIR, ID1, &st), 0);

	/* The one left is the one just used, and is taken next. */
	fd = spare_take(incoming, ID3);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 200);
	close(fd);
	assert_int_equal(spare_remove(QUEUE_INCOMING_DIR, ID3), 0);
	/* Taken down to none since the last trim: all are in use. */
	assert_int_equal(spare_trim(), 0);
	assert_int_equal(spare_count(), 1);
	/* A quiet period: the last one goes too. */
	assert_int_equal(spare_trim(), 1);
	assert_int_equal(spare_count(), 0);
	assert_int_equal(stat_at(QUEUE_SPARE_DIR, ID3, &st), -1);
	assert_int_equal(spare_trim(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_blocks_rule),
		cmocka_unit_test_setup_teardown(
		    test_small_file_is_reused_with_its_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_large_file_is_emptied_when_it_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_taken_name_is_not_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trim_frees_what_no_message_needed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
