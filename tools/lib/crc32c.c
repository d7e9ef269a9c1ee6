/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC32C (Castagnoli), the NVMe/TCP header and data digest: slice-by-8 in
 * portable C, and the SSE4.2 crc32 instruction when the CPU has it.
 */
#include <stdint.h>
#include <string.h>

#include "tools/lib/crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY_REFLECTED 0x82f63b78u

/*
 * Slice-by-8: table k maps a byte to its CRC contribution k bytes further
 * on, so eight bytes fold in with eight lookups and no dependency chain.
 */
static uint32_t crc32c_table[8][256];

__attribute__((constructor))
static void crc32c_init_tables(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t crc = i;

		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (CRC32C_POLY_REFLECTED & -(crc & 1));
		crc32c_table[0][i] = crc;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++) {
			uint32_t prev = crc32c_table[k - 1][i];

			crc32c_table[k][i] = (prev >> 8) ^ crc32c_table[0][prev & 0xff];
		}
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));  /* little-endian host, any alignment */
		v ^= crc;
		crc = crc32c_table[7][v & 0xff] ^
		      crc32c_table[6][(v >> 8) & 0xff] ^
		      crc32c_table[5][(v >> 16) & 0xff] ^
		      crc32c_table[4][(v >> 24) & 0xff] ^
		      crc32c_table[3][(v >> 32) & 0xff] ^
		      crc32c_table[2][(v >> 40) & 0xff] ^
		      crc32c_table[1][(v >> 48) & 0xff] ^
		      crc32c_table[0][v >> 56];
	}
	for (; len; len--, p++)
		crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
bool crc32c_hw_supported(void)
{
	return __builtin_cpu_supports("sse4.2");
}

/* The SSE4.2 crc32 instruction computes exactly CRC32C without the xors. */
__attribute__((target("sse4.2")))
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		c = _mm_crc32_u64(c, v);
	}
	for (; len; len--, p++)
		c = _mm_crc32_u8((uint32_t)c, *p);
	return ~(uint32_t)c;
}
#else
bool crc32c_hw_supported(void)
{
	return false;
}

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_sw(crc, buf, len);
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (crc32c_hw_supported())
		return crc32c_hw(crc, buf, len);
	return crc32c_sw(crc, buf, len);
}
