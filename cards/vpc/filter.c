/* SPDX-License-Identifier: Apache-2.0 */
/* Per-frame verdict: parse, conntrack, security group (order in filter.h). */
#include "cards/vpc/filter.h"

#include <errno.h>
#include <string.h>

#include "cards/vpc/pkt.h"
#include "tools/lib/log.h"

int vpc_filter_init(struct vpc_filter *f, const char *eni, uint32_t ct_max,
		    const struct vpc_hash_secret *secret)
{
	int ret;

	memset(f, 0, sizeof(*f));
	f->eni = eni;
	ret = vpc_sg_init(&f->sg);
	if (ret)
		return ret;
	ret = vpc_ct_init(&f->ct, ct_max, secret);
	if (ret)
		vpc_sg_free(&f->sg);
	return ret;
}

void vpc_filter_destroy(struct vpc_filter *f)
{
	vpc_ct_destroy(&f->ct);
	vpc_sg_free(&f->sg);
}

static int verdict(struct vpc_filter *f, enum vpc_dir dir,
		   const struct vpc_flow *fl, uint64_t now, enum vpc_drop *reason)
{
	int ret;

	if (fl->ethertype == ETH_P_ARP)
		return 0;
	if (fl->key.proto == IPPROTO_TCP_ &&
	    !vpc_ct_tcp_flags_valid(fl->tcp_flags)) {
		*reason = VPC_DROP_TCP_FLAGS;
		return -EPERM;
	}
	ret = vpc_ct_track(&f->ct, fl, now, reason);
	if (ret != -ENOENT)
		return ret;
	if (vpc_ct_related(&f->ct, fl, now))
		return 0;
	if (!vpc_sg_allows(&f->sg, dir, fl)) {
		*reason = VPC_DROP_SG;
		return -EPERM;
	}
	return vpc_ct_create(&f->ct, fl, now, reason);
}

int vpc_filter(struct vpc_filter *f, enum vpc_dir dir, const uint8_t *frame,
	       size_t len, uint64_t now, enum vpc_drop *reason)
{
	struct vpc_flow fl;
	int ret;

	*reason = VPC_DROP_NONE;
	ret = vpc_flow_parse(frame, len, &fl, reason);
	if (ret)
		/* Malformed: a broken or hostile sender; counted every time. */
		cv_err_once("%s: dropped a malformed %s frame (%zu bytes): %s",
			    f->eni, dir == VPC_DIR_INGRESS ? "ingress" : "egress",
			    len, vpc_drop_name(*reason));
	else
		ret = verdict(f, dir, &fl, now, reason);
	if (ret) {
		f->drops[*reason]++;
		return -EPERM;
	}
	f->passed++;
	return 0;
}
