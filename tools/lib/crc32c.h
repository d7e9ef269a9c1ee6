/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CV_CRC32C_H
#define CV_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CRC32C (Castagnoli, reflected, init and xorout 0xffffffff), the NVMe/TCP
 * header and data digest.  Pass 0 to start and the previous result to
 * continue: crc32c(crc32c(0, a, n), b, m) is the CRC of a then b.
 * crc32c() uses the SSE4.2 instruction when the CPU has it; both
 * implementations are public so their test can compare them.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
bool crc32c_hw_supported(void);
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len); /* only if supported */

#endif /* CV_CRC32C_H */
