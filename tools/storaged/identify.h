/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data structures a host reads from a controller: Identify pages and
 * log pages, laid out by guest-abi/nvme.h (the controller reports VS 1.4,
 * so only fields that version defines are filled in).
 */
#ifndef CV_STORAGED_IDENTIFY_H
#define CV_STORAGED_IDENTIFY_H

#include <stdint.h>

#include "tools/storaged/ctrl.h"

/* The only namespace of every subsystem. */
#define IDENTIFY_NSID 1u

/*
 * Identify (Base, "Identify command"): Controller, Namespace, Active
 * Namespace ID list, Namespace Identification Descriptor list, into a
 * zeroed page of NVME_IDENTIFY_LEN bytes.
 */
uint16_t identify(const struct ctrl *c, const struct nvme_sqe *sqe, uint8_t *page);

/*
 * Get Log Page (Base, "Get Log Page command"): Error Information, SMART /
 * Health Information and Firmware Slot Information, all empty: nothing here
 * counts errors or wear yet, so the caller's zeroed buffer is the page:
 * this only says whether the log page identifier is one of those.
 */
uint16_t get_log_page(const struct nvme_sqe *sqe);

#endif /* CV_STORAGED_IDENTIFY_H */
