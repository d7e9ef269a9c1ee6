/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/ioctl.h>
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

/* Intel SDM Vol. 3A, "Local APIC Register Address Map". */
#define APIC_SVR 0xf0
#define APIC_IRR 0x200

int fixture_kvm_open(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		printf("# skipping: /dev/kvm: %s\n", strerror(errno));
	return fd;
}

void fixture_lapic_enable(int vcpu_fd)
{
	struct kvm_lapic_state lapic;

	assert_int_equal(ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic), 0);
	lapic.regs[APIC_SVR] = 0xff;
	lapic.regs[APIC_SVR + 1] = 0x01;
	assert_int_equal(ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic), 0);
}

bool fixture_lapic_irr(int vcpu_fd, unsigned vector)
{
	struct kvm_lapic_state lapic;
	uint32_t reg;

	assert_int_equal(ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic), 0);
	memcpy(&reg, &lapic.regs[APIC_IRR + 0x10 * (vector / 32)], 4);
	return reg & (1u << (vector % 32));
}
