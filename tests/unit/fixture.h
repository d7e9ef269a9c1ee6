/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixtures shared by the cmocka unit tests (linked into every test binary):
 * temporary files and a guest RAM for the loader tests.  Include after
 * <cmocka.h>; failures inside a fixture fail the calling test.
 */
#ifndef CV_TEST_FIXTURE_H
#define CV_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/memory.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* A new file in /tmp holding @data; free with drop_file(). */
char *tmp_file(const void *data, size_t len);
/* A sparse file of @size bytes: large inputs without writing them. */
char *tmp_sparse(uint64_t size);
void drop_file(char *path);

/* 64 MiB of guest RAM in fixture_mem, as cmocka group/test set-up. */
extern struct guest_mem fixture_mem;
int fixture_mem_64m(void **state);
int fixture_mem_destroy(void **state);

/*
 * /dev/kvm opened, or -1 after printing why the KVM tests skip (a host
 * without usable KVM is a reason to skip, not to fail).
 */
int fixture_kvm_open(void);
/* Software-enable @vcpu_fd's LAPIC (SVR bit 8): only then does it take fixed interrupts. */
void fixture_lapic_enable(int vcpu_fd);
/* Whether @vector is pending in the vCPU's LAPIC (its IRR). */
bool fixture_lapic_irr(int vcpu_fd, unsigned vector);

#endif /* CV_TEST_FIXTURE_H */
