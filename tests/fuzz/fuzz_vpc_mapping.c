/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC mapping table file parser (cards/vpc/mapping.c,
 * vpc_mapping_parse) on any text, in its own exact-size heap block, not
 * NUL-terminated (the parser must not read past its length).
 *
 * Input: the text.
 *
 * Invariants beyond "no crash":
 *  - success: the entries are sorted by (VNI, private address) with no
 *    pair twice, each with a 24-bit VNI, a port other than 0 and a known
 *    encapsulation, and vpc_mapping_lookup() finds each of them;
 *  - failure: the table is unchanged (empty here) and the error names a
 *    line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "cards/vpc/encap.h"
#include "cards/vpc/mapping.h"
#include "tests/fuzz/fuzz.h"

static bool before(const struct vpc_map_entry *a, const struct vpc_map_entry *b)
{
	return a->vni < b->vni || (a->vni == b->vni && ntohl(a->ip) < ntohl(b->ip));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1), err[128] = "";
	struct vpc_mapping m = { 0 };
	int r;

	FUZZ_CHECK(text);
	memcpy(text, data, size);
	r = vpc_mapping_parse(&m, text, size, err, sizeof(err));
	if (r == 0) {
		for (size_t i = 0; i < m.n; i++) {
			const struct vpc_map_entry *e = &m.e[i];

			FUZZ_CHECK(e->vni <= VPC_VNI_MAX && e->port != 0);
			FUZZ_CHECK(e->encap == VPC_ENCAP_VXLAN || e->encap == VPC_ENCAP_GENEVE);
			FUZZ_CHECK(i == 0 || before(&m.e[i - 1], e));
			FUZZ_CHECK(vpc_mapping_lookup(&m, e->vni, e->ip) == e);
		}
	} else {
		FUZZ_CHECK(r == -EINVAL || r == -E2BIG);
		FUZZ_CHECK(m.n == 0 && m.e == NULL && !strncmp(err, "line ", 5));
	}
	vpc_mapping_free(&m);
	free(text);
	return 0;
}
