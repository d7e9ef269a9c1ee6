/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC mapping table file parser (cards/vpc/mapping.c,
 * vpc_mapping_parse) on any text, in its own exact-size heap block, not
 * NUL-terminated (the parser must not read past its length).
 *
 * Input: the text.
 *
 * Invariants beyond "no crash":
 *  - success: the table holds n entries, each with a 24-bit VNI, a port
 *    other than 0 and a known encapsulation, and vpc_mapping_lookup()
 *    finds each in its own slot (so no pair twice); after removing every
 *    other one the rest are still found and the removed ones are not
 *    (backward-shift deletion), and a prune above generation 0 empties it;
 *  - failure: the table is unchanged (empty here) and the error names a
 *    line.
 */
#include <errno.h>
#include <stdlib.h>

#include "cards/vpc/encap.h"
#include "cards/vpc/mapping.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1), err[128] = "";
	struct vpc_mapping m = { 0 };
	int r;

	FUZZ_CHECK(text);
	memcpy(text, data, size);
	r = vpc_mapping_parse(&m, text, size, err, sizeof(err));
	if (r == 0) {
		struct vpc_map_entry *all = malloc((m.n ? m.n : 1) * sizeof(*all));
		size_t n = 0;

		FUZZ_CHECK(all);
		for (size_t i = 0; i < m.cap; i++) {
			const struct vpc_map_entry *e = &m.slot[i];

			if (!e->port)
				continue;
			FUZZ_CHECK(e->vni <= VPC_VNI_MAX && e->gen == 0 && e->line > 0);
			FUZZ_CHECK(e->encap == VPC_ENCAP_VXLAN || e->encap == VPC_ENCAP_GENEVE);
			FUZZ_CHECK(vpc_mapping_lookup(&m, e->vni, e->ip) == e);
			all[n++] = *e;
		}
		FUZZ_CHECK(n == m.n);
		for (size_t i = 0; i < n; i += 2)
			FUZZ_CHECK(vpc_mapping_remove(&m, all[i].vni, all[i].ip) == 1);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(!vpc_mapping_lookup(&m, all[i].vni, all[i].ip) == !(i % 2));
		FUZZ_CHECK(vpc_mapping_prune(&m, 1) == n / 2 && m.n == 0);
		free(all);
	} else {
		FUZZ_CHECK(r == -EINVAL || r == -E2BIG);
		FUZZ_CHECK(m.n == 0 && m.slot == NULL && !strncmp(err, "line ", 5));
	}
	vpc_mapping_free(&m);
	free(text);
	return 0;
}
