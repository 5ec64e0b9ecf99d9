/* CRC-32 (the reflected 0xEDB88320 polynomial of zlib.crc32) by slice-by-8, fmix32, and a
 * prefetch hint: the C helpers of native/hashring.pyx.
 *
 * Self-contained so the extension builds without zlib headers. The tables are filled once
 * by hr_crc32_init() (called when the module is imported). hr_crc32_update() has zlib's
 * semantics, so hr_crc32_update(hr_crc32_update(0, a), b) == zlib.crc32(a + b); the ring
 * uses the raw register (hr_crc32_raw) to hash a node name once and continue over each
 * "#<i>" suffix.
 */
#ifndef HASHRING_CRC32_H
#define HASHRING_CRC32_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static uint32_t hr_crc_table[8][256];

static void hr_crc32_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        hr_crc_table[0][n] = c;
    }
    /* table[t][n] is the CRC of byte n followed by t zero bytes: one lookup per byte of an
     * 8-byte word, all eight independent of each other. */
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            hr_crc_table[t][n] = (hr_crc_table[t - 1][n] >> 8) ^ hr_crc_table[0][hr_crc_table[t - 1][n] & 0xFF];
}

/* The raw register, without zlib's pre/post inversion: state = ~crc. */
static inline uint32_t hr_crc32_raw(uint32_t state, const unsigned char *p, size_t len)
{
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    /* Eight bytes at a time; the slicing assumes little-endian loads (big-endian goes bytewise). */
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* an unaligned-safe load */
        uint32_t lo = (uint32_t)w ^ state, hi = (uint32_t)(w >> 32);
        state = hr_crc_table[7][lo & 0xFF] ^ hr_crc_table[6][(lo >> 8) & 0xFF] ^
                hr_crc_table[5][(lo >> 16) & 0xFF] ^ hr_crc_table[4][lo >> 24] ^
                hr_crc_table[3][hi & 0xFF] ^ hr_crc_table[2][(hi >> 8) & 0xFF] ^
                hr_crc_table[1][(hi >> 16) & 0xFF] ^ hr_crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
#endif
    while (len--)
        state = (state >> 8) ^ hr_crc_table[0][(state ^ *p++) & 0xFF];
    return state;
}

/* zlib.crc32(buf, crc). */
static inline uint32_t hr_crc32_update(uint32_t crc, const void *buf, size_t len)
{
    return ~hr_crc32_raw(~crc, (const unsigned char *)buf, len);
}

/* MurmurHash3's 32-bit finalizer, as pure.fmix32. */
static inline uint32_t hr_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* A hint to start loading the cache line at p; batch lookups issue it a stage ahead. */
static inline void hr_prefetch(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

#endif
