/* vec.cl: 16-lane helpers the kernel files share. Every program holds this
 * file: the one of all files, and each variant's own. */

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
