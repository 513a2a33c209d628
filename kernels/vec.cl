/* vec.cl: 16-lane helpers the kernel files share. Every program holds this
 * file: the one of all files, and each variant's own. */

/* Vectors at any float's address. A store through one is one vector store,
 * where PoCL compiles vstore16 to three and vstore8 to two. */
typedef float16 vec_float16_u __attribute__((aligned(4)));
typedef float8 vec_float8_u __attribute__((aligned(4)));
typedef float4 vec_float4_u __attribute__((aligned(4)));

static inline __attribute__((always_inline)) void vec_store16(float16 v, __global float *p)
{
    *(__global vec_float16_u *)p = v;
}

static inline __attribute__((always_inline)) void vec_store8(float8 v, __global float *p)
{
    *(__global vec_float8_u *)p = v;
}

static inline __attribute__((always_inline)) void vec_store4(float4 v, __global float *p)
{
    *(__global vec_float4_u *)p = v;
}

/* Stores the first len (at most 16) floats of v at p: vector stores of
 * 16, 8, 4 and 2, then one float. */
static inline __attribute__((always_inline)) void
vec_store_first(float16 v, __global float *p, int len)
{
    if (len >= 16) {
        vec_store16(v, p);
        return;
    }
    float8 h = v.lo;
    if (len >= 8) {
        vec_store8(h, p);
        h = v.hi;
        p += 8;
        len -= 8;
    }
    float4 q = h.lo;
    if (len >= 4) {
        vec_store4(q, p);
        q = h.hi;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        vstore2(q.lo, 0, p);
        q.lo = q.hi;
        p += 2;
        len -= 2;
    }
    if (len >= 1)
        p[0] = q.x;
}

/* Loads through the vector types above: one vector load, where PoCL's
 * vload16 may come apart into loads of pairs. */
static inline __attribute__((always_inline)) float16 vec_read16(__global const float *p)
{
    return *(__global const vec_float16_u *)p;
}

static inline __attribute__((always_inline)) float8 vec_read8(__global const float *p)
{
    return *(__global const vec_float8_u *)p;
}

/* The 16 floats of p from j, zero from len on. */
float16 vec_load16(__global const float *p, int j, int len)
{
    if (j + 16 <= len)
        return vload16(0, p + j);
    float t[16];
    for (int i = 0; i < 16; i++)
        t[i] = j + i < len ? p[j + i] : 0.0f;
    return vload16(0, t);
}

/* The sum of v's lanes, in a fixed tree. */
float vec_hsum16(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* One round of a transpose in registers over the first `rows` rows: rows
 * j and j + bs (for the j with bit bs clear) swap their blocks of bs lanes.
 * After the rounds of 1, 2, 4 and 8 over 16 rows, row j holds what was
 * column j; after the rounds of 1 .. R/2 over R rows, each block of R
 * lanes is transposed: row j, block k holds what was column k R + j. bs is
 * a constant of the caller, so the shuffles' lanes fold to constants. */
static inline __attribute__((always_inline)) void
vec_shuffle_round(float16 r[16], const int rows, const uint bs)
{
    const uint16 lane = (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 high = (lane & bs) != (uint16)(0);
    /* of (a, b), lanes 0-15 then 16-31: the new row j and row j + bs */
    const uint16 lo = select(lane, lane + 16 - bs, high),
                 hi = select(lane + bs, lane + 16, high);
    /* All 16 in the loop, so that it unrolls whatever `rows` is. */
#pragma unroll
    for (int j = 0; j < 16; j++) {
        if (j >= rows || (j & bs))
            continue;
        const float16 a = r[j], b = r[j + bs];
        r[j] = shuffle2(a, b, lo);
        r[j + bs] = shuffle2(a, b, hi);
    }
}

/* The rounds of 1 .. rows/2 over the first `rows` rows (4, 8 or 16). */
static inline __attribute__((always_inline)) void
vec_transpose_rows(float16 r[16], const int rows)
{
    vec_shuffle_round(r, rows, 1);
    vec_shuffle_round(r, rows, 2);
    if (rows >= 8)
        vec_shuffle_round(r, rows, 4);
    if (rows >= 16)
        vec_shuffle_round(r, rows, 8);
}

/* r (16 rows of 16 lanes) transposed, its first `rows` rows stored at out,
 * row p at out + p pitch: a tile of 16 values of 16 channels written as
 * each value's run of channels, one vector store a row. Unrolled, so that
 * r stays in registers. */
static inline __attribute__((always_inline)) void
vec_store_transposed(float16 r[16], __global float *out, const size_t pitch, const int rows)
{
    vec_transpose_rows(r, 16);
#pragma unroll
    for (int p = 0; p < 16; p++)
        if (p < rows)
            vec_store16(r[p], out + p * pitch);
}
