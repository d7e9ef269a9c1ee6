/* SPDX-License-Identifier: Apache-2.0 */
/*
 * heap_keep_io_buffers (tools/lib/heap.c): after it, the I/O buffers
 * cv-ebs and cv-storaged allocate per request come from the heap and stay
 * there when freed, so the next request finds its pages mapped instead of
 * faulting them in.  Read from glibc's own accounting (mallinfo2); under
 * ASan, whose allocator ignores these settings, there is nothing to see.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tools/lib/heap.h"

static void test_io_buffers_stay_in_the_heap(void **state)
{
	enum { N = 16, SIZE = 128 << 10 };
	void *buf[N];
	struct mallinfo2 m;
	size_t arena;

	(void)state;
	/* Under ASan the settings do not apply: nothing to see. */
	if (!heap_keep_io_buffers())
		skip();
	/* A request's worth of transfers in flight: none mmapped on its own. */
	for (int i = 0; i < N; i++) {
		buf[i] = malloc(SIZE);
		assert_non_null(buf[i]);
		memset(buf[i], i, SIZE);
	}
	m = mallinfo2();
	assert_int_equal(m.hblks, 0);
	arena = m.arena;
	assert_true(arena >= (size_t)N * SIZE);
	/* All completed: the heap keeps its pages for the next ones. */
	for (int i = N - 1; i >= 0; i--)
		free(buf[i]);
	m = mallinfo2();
	assert_int_equal(m.arena, arena);
	/* Up to the mmap threshold, still from the heap. */
	buf[0] = malloc(HEAP_MMAP_THRESHOLD - 4096);
	assert_non_null(buf[0]);
	assert_int_equal(mallinfo2().hblks, 0);
	free(buf[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_buffers_stay_in_the_heap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
