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

/* Loads through the same types: one vector load, where PoCL's vload16
 * may come apart into loads of pairs. */
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
