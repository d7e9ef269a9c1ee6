/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The security group rule file parser (cards/vpc/sg.c, vpc_sg_parse) on
 * any text, then the parsed rules deciding a flow from the input.
 *
 * Input: a byte (the length of the flow's frame, up to 255), that frame,
 * then the rule text: the rest of the input in its own exact-size heap
 * block, not NUL-terminated (the parser must not read past its length).
 *
 * Invariants beyond "no crash":
 *  - success: at most VPC_SG_MAX_RULES rules, each with a known direction
 *    and protocol, a port range low <= high, ICMP type and code from -1
 *    (any) to 255, a prefix mask and no host bits outside it;
 *  - failure: the group is unchanged and the error names a line;
 *  - vpc_sg_allows() on any parsed flow and direction only answers.
 */
#include <errno.h>
#include <stdlib.h>

#include "cards/vpc/flow.h"
#include "cards/vpc/sg.h"
#include "tests/fuzz/fuzz.h"

static void check_rules(const struct vpc_sg *sg)
{
	FUZZ_CHECK(sg->n <= VPC_SG_MAX_RULES);
	for (size_t i = 0; i < sg->n; i++) {
		const struct vpc_sg_rule *r = &sg->rules[i];

		FUZZ_CHECK(r->dir == VPC_DIR_INGRESS || r->dir == VPC_DIR_EGRESS);
		FUZZ_CHECK(r->proto >= VPC_SG_ALL && r->proto <= VPC_SG_ICMP);
		FUZZ_CHECK(r->port_lo <= r->port_hi);
		FUZZ_CHECK(r->icmp_type >= VPC_SG_ANY && r->icmp_type <= 255 &&
			   r->icmp_code >= VPC_SG_ANY && r->icmp_code <= 255);
		/* A prefix: ones then zeros. */
		FUZZ_CHECK((~r->mask & (~r->mask + 1)) == 0 && (r->net & ~r->mask) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	size_t flen, tlen;
	const uint8_t *frame = fuzz_take(&in, fuzz_u8(&in), &flen);
	const uint8_t *bytes = fuzz_take(&in, in.n, &tlen);
	char *text = malloc(tlen ? tlen : 1), err[128] = "";
	struct vpc_sg sg, before;
	struct vpc_flow fl;
	enum vpc_drop reason;
	int r;

	FUZZ_CHECK(text && vpc_sg_init(&sg) == 0);
	memcpy(text, bytes, tlen);
	before = sg;
	before.rules = malloc(sizeof(*sg.rules) * (sg.n ? sg.n : 1));
	FUZZ_CHECK(before.rules);
	memcpy(before.rules, sg.rules, sizeof(*sg.rules) * sg.n);

	r = vpc_sg_parse(&sg, text, tlen, err, sizeof(err));
	if (r == 0) {
		check_rules(&sg);
	} else {
		FUZZ_CHECK(r == -EINVAL || r == -E2BIG);
		FUZZ_CHECK(sg.n == before.n &&
			   !memcmp(sg.rules, before.rules, sizeof(*sg.rules) * sg.n));
		FUZZ_CHECK(!strncmp(err, "line ", 5));
	}
	if (vpc_flow_parse(frame, flen, &fl, &reason) == 0) {
		vpc_sg_allows(&sg, VPC_DIR_INGRESS, &fl);
		vpc_sg_allows(&sg, VPC_DIR_EGRESS, &fl);
	}
	vpc_sg_free(&sg);
	free(before.rules);
	free(text);
	return 0;
}
