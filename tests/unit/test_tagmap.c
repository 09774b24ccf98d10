/* SPDX-License-Identifier: MIT */
/*
 * test_tagmap - the tag-keyed hash table (src/lib/tagmap.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>

#include "tagmap.h"

struct item {
	int value;
	struct tagmap_node node;
	bool seen;
};

static void
test_basic(void **state)
{
	enum { N = 5000 };
	struct item *items = calloc(N, sizeof(*items));
	struct tagmap m;
	struct tagmap_node *n;
	size_t count = 0;

	(void)state;
	tagmap_init(&m);
	assert_null(tagmap_find(&m, 0));
	for (int i = 0; i < N; i++) {
		items[i].value = i;
		/* Consecutive tags, and far apart ones. */
		items[i].node.tag = i % 2 ? (uint32_t)i : (uint32_t)i << 16;
		tagmap_insert(&m, &items[i].node);
	}
	assert_int_equal(m.count, N);
	for (int i = 0; i < N; i++) {
		n = tagmap_find(&m, items[i].node.tag);
		assert_non_null(n);
		assert_int_equal(TAGMAP_ENTRY(n, struct item, node)->value, i);
	}
	assert_null(tagmap_find(&m, 0xfffffffeu));
	/* Remove every third; the others stay. */
	for (int i = 0; i < N; i += 3)
		tagmap_remove(&m, &items[i].node);
	for (int i = 0; i < N; i++)
		assert_true((tagmap_find(&m, items[i].node.tag) == NULL) ==
		    (i % 3 == 0));
	/* A removed tag can come back. */
	tagmap_insert(&m, &items[0].node);
	assert_ptr_equal(tagmap_find(&m, items[0].node.tag), &items[0].node);
	for (n = tagmap_take_all(&m); n != NULL; n = n->next) {
		struct item *it = TAGMAP_ENTRY(n, struct item, node);

		assert_false(it->seen);
		it->seen = true;
		count++;
	}
	assert_int_equal(count, N - (N + 2) / 3 + 1);
	assert_int_equal(m.count, 0);
	assert_null(tagmap_find(&m, items[1].node.tag));
	assert_null(tagmap_take_all(&m));
	tagmap_deinit(&m);
	tagmap_deinit(&m);
	free(items);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
