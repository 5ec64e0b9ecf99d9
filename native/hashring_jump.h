/* Jump consistent hash of a uint64 array with AVX2, four keys per vector: the kernel of
 * jump_many in native/hashring.pyx, bit for bit the same as pure.jump_unchecked.
 *
 * The kernel is compiled for AVX2 by a function attribute, not a global -mavx2, so the
 * module still loads on CPUs without AVX2; hr_jump_avx2_supported() says whether it may
 * run, and hashring.pyx falls back to its scalar loop when it may not (or on compilers and
 * targets without the attribute, where the kernel is a stub that does nothing).
 *
 * Exactness: each step does the IEEE double operations of the specification, in its order.
 *  - d = (key >> 33) + 1 is in [1, 2**31]: exact as a double (so the conversion is too).
 *  - q = 2**31 / d: one correctly rounded division, as Python's float division.
 *  - (b + 1) * q: b + 1 <= 2**31 is exact; one correctly rounded multiply, never fused
 *    (the kernel has no FMA target, and no multiply here feeds an add).
 *  - trunc() of the product stays a double. It is an integer below 2**62; int() of the
 *    same double in Python is the same integer, so comparing the double with buckets
 *    (exact: buckets < 2**31) decides the loop as the specification does, and a j that
 *    passes is below 2**31, so b stays an exact double and converts to int32 exactly.
 */
#ifndef HASHRING_JUMP_H
#define HASHRING_JUMP_H

#include <stddef.h>
#include <stdint.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)

#include <immintrin.h>

#define HR_AVX2 __attribute__((target("avx2")))

/* Vectors in flight. One key's loop is a chain of dependent steps around a division with
 * a latency of ~13 cycles; four independent vectors keep the divider busy (three or five
 * measured slower). A block of 16 keys runs as many steps as its slowest key (at 1000
 * buckets ~12 against a mean of 7.5); refilling finished lanes with new keys measured
 * slower still, as it puts each division on the chain that loads the next key. */
#define HR_JUMP_VECTORS 4
#define HR_JUMP_BLOCK (4 * HR_JUMP_VECTORS)

static int hr_jump_avx2_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

/* key * 2862933555777941757 + 1 mod 2**64. AVX2 has no 64-bit multiply: with 32-bit halves,
 * k * m = lo(k)lo(m) + (lo(k)hi(m) + hi(k)lo(m)) * 2**32 mod 2**64. */
HR_AVX2 static inline __m256i hr_jump_step_key(__m256i k)
{
    const __m256i m_lo = _mm256_set1_epi64x(2862933555777941757ULL & 0xFFFFFFFFu);
    const __m256i m_hi = _mm256_set1_epi64x(2862933555777941757ULL >> 32);
    __m256i lo = _mm256_mul_epu32(k, m_lo);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(k, m_hi),
                                     _mm256_mul_epu32(_mm256_srli_epi64(k, 32), m_lo));
    return _mm256_add_epi64(_mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32)), _mm256_set1_epi64x(1));
}

/* trunc((b + 1) * q) with q = 2**31 / ((k >> 33) + 1), for a stepped key k, as a double. */
HR_AVX2 static inline __m256d hr_jump_next(__m256i k, __m256d b)
{
    /* k >> 33 < 2**31 as the low mantissa bits of 2**52 gives the double 2**52 + (k >> 33);
     * subtracting 2**52 - 1 leaves (k >> 33) + 1, exactly. */
    __m256d two52_plus = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_srli_epi64(k, 33), _mm256_set1_epi64x(0x4330000000000000LL)));
    __m256d d = _mm256_sub_pd(two52_plus, _mm256_set1_pd(4503599627370495.0 /* 2**52 - 1 */));
    __m256d q = _mm256_div_pd(_mm256_set1_pd(2147483648.0 /* 2**31 */), d);
    return _mm256_round_pd(_mm256_mul_pd(_mm256_add_pd(b, _mm256_set1_pd(1.0)), q),
                           _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

/* out[i] = jump(keys[i], buckets) for the first n - n % HR_JUMP_BLOCK keys; returns how many
 * it did (the caller does the rest). 1 <= buckets <= 2**31 - 1. */
HR_AVX2 static size_t hr_jump_avx2(const uint64_t *keys, int32_t *out, size_t n, int64_t buckets)
{
    const __m256d limit = _mm256_set1_pd((double)buckets);
    size_t done = 0;
    for (; done + HR_JUMP_BLOCK <= n; done += HR_JUMP_BLOCK) {
        __m256i k[HR_JUMP_VECTORS];
        __m256d b[HR_JUMP_VECTORS], j[HR_JUMP_VECTORS], live[HR_JUMP_VECTORS];
        for (int v = 0; v < HR_JUMP_VECTORS; v++) {
            k[v] = _mm256_loadu_si256((const __m256i *)(keys + done + 4 * v));
            /* j = 0 < buckets, so the first step runs in every lane and sets b = 0. */
            b[v] = _mm256_setzero_pd();
            j[v] = _mm256_setzero_pd();
        }
        for (;;) {
            int running = 0;
            for (int v = 0; v < HR_JUMP_VECTORS; v++) {
                live[v] = _mm256_cmp_pd(j[v], limit, _CMP_LT_OQ);
                running |= _mm256_movemask_pd(live[v]);
            }
            if (!running)
                break;
            /* Only b needs a blend: a finished lane keeps its b, and its j, stepped on from a
             * value >= buckets, stays >= buckets, since q >= 1 makes j grow by at least 1 a
             * step. (It may even overflow to +inf, raising only the unread overflow flag:
             * +inf still compares >= buckets and stays +inf, never NaN, as q is finite.) In
             * a live lane b == j, so j steps as specified. */
            for (int v = 0; v < HR_JUMP_VECTORS; v++) {
                b[v] = _mm256_blendv_pd(b[v], j[v], live[v]);
                k[v] = hr_jump_step_key(k[v]);
                j[v] = hr_jump_next(k[v], j[v]);
            }
        }
        for (int v = 0; v < HR_JUMP_VECTORS; v++)
            _mm_storeu_si128((__m128i *)(out + done + 4 * v), _mm256_cvttpd_epi32(b[v]));
    }
    return done;
}

#else /* no AVX2 kernel on this compiler or target: jump_many keeps its scalar loop */

static int hr_jump_avx2_supported(void) { return 0; }

static size_t hr_jump_avx2(const uint64_t *keys, int32_t *out, size_t n, int64_t buckets)
{
    (void)keys, (void)out, (void)n, (void)buckets;
    return 0;
}

#endif
#endif /* HASHRING_JUMP_H */
