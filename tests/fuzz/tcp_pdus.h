/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the NVMe/TCP harnesses, on PDUs laid end to end in a buffer:
 *  - fuzz_complete_pdu() pads the last one with zeros up to its PLEN, so
 *    a seed carries only the bytes of a 4 KiB Identify page or of write
 *    data that are not zero (inputs stay small, mutations stay fast);
 *  - fuzz_fix_digests() makes header and data digests right (as far as
 *    the lengths make sense): a fuzzer cannot compute CRC32C, and a PDU
 *    with digests would otherwise never get past their check.
 * An input asks for either per record.
 */
#ifndef CV_TESTS_FUZZ_TCP_PDUS_H
#define CV_TESTS_FUZZ_TCP_PDUS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tools/lib/nvme_tcp.h"

/* The new length: at most @cap, the room in @buf. */
static inline size_t fuzz_complete_pdu(uint8_t *buf, size_t len, size_t cap)
{
	size_t off = 0;

	while (len - off >= sizeof(struct nvme_tcp_ch)) {
		struct nvme_tcp_ch ch;

		memcpy(&ch, buf + off, sizeof(ch));
		if (ch.plen < sizeof(ch))
			break;
		if (ch.plen > len - off) {
			size_t end = ch.plen > cap - off ? cap : off + ch.plen;

			memset(buf + len, 0, end - len);
			return end;
		}
		off += ch.plen;
	}
	return len;
}

static inline void fuzz_fix_digests(uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= sizeof(struct nvme_tcp_ch)) {
		struct nvme_tcp_ch ch;
		struct nvme_tcp_layout l;
		uint32_t crc;

		memcpy(&ch, buf + off, sizeof(ch));
		if (ch.plen < sizeof(ch) || ch.plen > len - off)
			return;
		nvme_tcp_layout(&ch, &l);
		if ((ch.flags & NVME_TCP_F_HDGSTF) && ch.hlen + sizeof(crc) <= ch.plen) {
			crc = crc32c(0, buf + off, ch.hlen);
			memcpy(buf + off + ch.hlen, &crc, sizeof(crc));
		}
		/* Only where the parts add up (a bad PDO wraps pad around). */
		if (l.ddgst_len && (uint64_t)l.hdr_len + l.pad + l.data_len + sizeof(crc) ==
					   ch.plen) {
			crc = crc32c(0, buf + off + l.hdr_len + l.pad, l.data_len);
			memcpy(buf + off + ch.plen - sizeof(crc), &crc, sizeof(crc));
		}
		off += ch.plen;
	}
}

#endif /* CV_TESTS_FUZZ_TCP_PDUS_H */
