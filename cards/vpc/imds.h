/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The instance metadata service at 169.254.169.254:80, EC2's paths over
 * HTTP/1.0 and 1.1, served from the ENI's description on a minimal TCP
 * endpoint the card terminates itself (tcp_lite.h): the guest's request
 * never leaves the card.  IMDSv2 session tokens (PUT /latest/api/token)
 * are stateless: the expiry and an HMAC-SHA256 of it under a key drawn at
 * start-up, so a card restart invalidates them, as a host change does.
 */
#ifndef CV_VPC_IMDS_H
#define CV_VPC_IMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/eni.h"
#include "cards/vpc/tcp_lite.h"

#define IMDS_IPV4 0xa9fea9feu     /* 169.254.169.254, host order */
#define IMDS_PORT 80
#define IMDS_TOKEN_TTL_MAX 21600  /* EC2: six hours */

struct imds {
	struct tcp_lite tcp;
	uint8_t token_key[32];
	/* EC2's HttpTokens=required: every GET needs a valid token. */
	bool tokens_required;
};

/* 0, or a negative errno if the kernel gave no random keys. */
int imds_init(struct imds *imds);

/*
 * For a frame the guest sent: the length of the first reply frame written
 * to @reply (drain the rest with imds_next()), 0 if the frame is not TCP to
 * the metadata address or needs no answer, -EINVAL if malformed, -EPERM if
 * its source is not the ENI's address, -ENOSPC if @cap is too small.
 */
int imds_answer(struct imds *imds, const struct eni *eni, const uint8_t *frame,
		size_t len, uint8_t *reply, size_t cap);
int imds_next(struct imds *imds, const struct eni *eni, uint8_t *reply,
	      size_t cap);

#endif /* CV_VPC_IMDS_H */
