/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/fixture.h"

struct guest_mem fixture_mem;

char *tmp_file(const void *data, size_t len)
{
	char *path = strdup("/tmp/cv-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

char *tmp_sparse(uint64_t size)
{
	char *path = tmp_file("", 0);

	assert_int_equal(truncate(path, (off_t)size), 0);
	return path;
}

void drop_file(char *path)
{
	unlink(path);
	free(path);
}

int fixture_mem_64m(void **state)
{
	(void)state;
	return guest_mem_init(&fixture_mem, 64 * MIB);
}

int fixture_mem_destroy(void **state)
{
	(void)state;
	guest_mem_destroy(&fixture_mem);
	return 0;
}
