/* dense.cl: the fully connected layer's hand-written GEMMs and its small
 * kernels (bias and ReLU epilogue, split-K reduction, bias gradient).
 *
 * Written for wide SIMD CPUs first (PoCL): each work-item keeps a register
 * tile of float16 accumulators and reads operands with contiguous vector
 * loads. All matrices are row-major; every size is allowed (edges are
 * handled by clamped reads and guarded writes). No atomics: every sum runs
 * in a fixed order, so results are bit-identical from run to run. */

/* Rows and columns of C per work-item in dense_gemm_nt. */
#define DENSE_NT_TM 4
#define DENSE_NT_TN 4
/* Rows of C per work-item in dense_gemm_nn; columns are one float16. */
#define DENSE_NN_TM 8

float dense_hsum16(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* The columns [n0, n0 + 16) of row p, zero past column n. */
float16 dense_load16(__global const float *p, int n0, int n)
{
    if (n0 + 16 <= n)
        return vload16(0, p + n0);
    float t[16];
    for (int j = 0; j < 16; j++)
        t[j] = n0 + j < n ? p[n0 + j] : 0.0f;
    return vload16(0, t);
}

/* C = A Bᵀ over one slice of K (split-K, the forward pass Y = X Wᵀ).
 * a is (M, K), b is (N, K), both row-major with K contiguous, so every
 * work-item computes a 4x4 tile of dot products with float16 loads along K.
 * Work-item (t, s) covers tile t and K range [s*kc, (s+1)*kc).
 * fuse = 0: writes its partial sum to c[s][M][N] (c is (nsplit, M, N));
 * fuse = 1: (one slice only) c = sum + bias[col]; fuse = 2: also ReLU. */
__kernel void dense_gemm_nt(__global const float *a, __global const float *b,
                            __global float *c, __global const float *bias,
                            const int m, const int n, const int k,
                            const int kc, const int fuse)
{
    const int tiles_m = (m + DENSE_NT_TM - 1) / DENSE_NT_TM;
    const int t = get_global_id(0), s = get_global_id(1);
    if (t >= tiles_m * ((n + DENSE_NT_TN - 1) / DENSE_NT_TN))
        return;
    const int m0 = (t % tiles_m) * DENSE_NT_TM, n0 = (t / tiles_m) * DENSE_NT_TN;
    const int k0 = s * kc, k1 = min(k, k0 + kc);

    /* Rows past the edge read the last row (always valid) and are not
     * written, which keeps the inner loop free of branches. */
    __global const float *pa[DENSE_NT_TM], *pb[DENSE_NT_TN];
    for (int i = 0; i < DENSE_NT_TM; i++)
        pa[i] = a + (size_t)min(m0 + i, m - 1) * k;
    for (int j = 0; j < DENSE_NT_TN; j++)
        pb[j] = b + (size_t)min(n0 + j, n - 1) * k;

    float16 acc[DENSE_NT_TM][DENSE_NT_TN];
    for (int i = 0; i < DENSE_NT_TM; i++)
        for (int j = 0; j < DENSE_NT_TN; j++)
            acc[i][j] = 0.0f;
    int kk = k0;
    for (; kk + 16 <= k1; kk += 16) {
        float16 va[DENSE_NT_TM], vb[DENSE_NT_TN];
        for (int i = 0; i < DENSE_NT_TM; i++)
            va[i] = vload16(0, pa[i] + kk);
        for (int j = 0; j < DENSE_NT_TN; j++)
            vb[j] = vload16(0, pb[j] + kk);
        for (int i = 0; i < DENSE_NT_TM; i++)
            for (int j = 0; j < DENSE_NT_TN; j++)
                acc[i][j] = fma(va[i], vb[j], acc[i][j]);
    }

    for (int i = 0; i < DENSE_NT_TM; i++) {
        if (m0 + i >= m)
            break;
        for (int j = 0; j < DENSE_NT_TN; j++) {
            if (n0 + j >= n)
                break;
            float sum = dense_hsum16(acc[i][j]);
            for (int r = kk; r < k1; r++)
                sum = fma(pa[i][r], pb[j][r], sum);
            size_t at = (size_t)(m0 + i) * n + n0 + j;
            if (fuse == 0) {
                c[(size_t)s * m * n + at] = sum;
            } else {
                sum += bias[n0 + j];
                c[at] = fuse == 2 ? fmax(sum, 0.0f) : sum;
            }
        }
    }
}

/* y = sum over s of p[s] + bias, then ReLU when relu != 0.
 * p is (nsplit, M, N), bias is (N), y is (M, N); one work-item per output. */
__kernel void dense_splitk_reduce(__global const float *p,
                                  __global const float *bias,
                                  __global float *y, const int m,
                                  const int n, const int nsplit,
                                  const int relu)
{
    const int i = get_global_id(0);
    if (i >= m * n)
        return;
    float sum = p[i];
    for (int s = 1; s < nsplit; s++)
        sum += p[(size_t)s * m * n + i];
    sum += bias[i % n];
    y[i] = relu ? fmax(sum, 0.0f) : sum;
}

/* C = A B with A read through strides (the backward GEMMs).
 * A(i, r) = a[i*sam + r*sak] for i < M, r < K: dX = dZ W uses sam = OUT,
 * sak = 1; dW = dZᵀ X uses sam = 1, sak = OUT. b is (K, N) with row
 * stride ldb, c is (M, N) with row stride ldc. Work-item (u, v) computes
 * rows [8u, 8u+8) by columns [16v, 16v+16) with float16 accumulators. */
__kernel void dense_gemm_nn(__global const float *a, const int sam,
                            const int sak, __global const float *b,
                            const int ldb, __global float *c, const int ldc,
                            const int m, const int n, const int k)
{
    const int m0 = get_global_id(0) * DENSE_NN_TM, n0 = get_global_id(1) * 16;
    if (m0 >= m || n0 >= n)
        return;
    __global const float *pa[DENSE_NN_TM];
    for (int i = 0; i < DENSE_NN_TM; i++)
        pa[i] = a + (size_t)min(m0 + i, m - 1) * sam;

    float16 acc[DENSE_NN_TM];
    for (int i = 0; i < DENSE_NN_TM; i++)
        acc[i] = 0.0f;
    if (n0 + 16 <= n) {
        for (int r = 0; r < k; r++) {
            float16 vb = vload16(0, b + (size_t)r * ldb + n0);
            for (int i = 0; i < DENSE_NN_TM; i++)
                acc[i] = fma((float16)pa[i][r * sak], vb, acc[i]);
        }
    } else {
        for (int r = 0; r < k; r++) {
            float16 vb = dense_load16(b + (size_t)r * ldb, n0, n);
            for (int i = 0; i < DENSE_NN_TM; i++)
                acc[i] = fma((float16)pa[i][r * sak], vb, acc[i]);
        }
    }

    for (int i = 0; i < DENSE_NN_TM && m0 + i < m; i++) {
        __global float *pc = c + (size_t)(m0 + i) * ldc + n0;
        if (n0 + 16 <= n) {
            vstore16(acc[i], 0, pc);
        } else {
            float t[16];
            vstore16(acc[i], 0, t);
            for (int j = 0; n0 + j < n; j++)
                pc[j] = t[j];
        }
    }
}

/* y = y + bias per column, then ReLU when relu != 0, in place: the epilogue
 * after a library GEMM. y is (M, N), bias is (N). */
__kernel void dense_bias_act(__global float *y, __global const float *bias,
                             const int m, const int n, const int relu)
{
    const int i = get_global_id(0);
    if (i >= m * n)
        return;
    float v = y[i] + bias[i % n];
    y[i] = relu ? fmax(v, 0.0f) : v;
}

/* db = column sums of dZ, where dZ = dY masked by y > 0 when relu != 0
 * (then dZ is also written to dz for the GEMMs) and dZ = dY otherwise.
 * y, dy, dz are (M, N), db is (N); one work-item per column, rows summed
 * in order. */
__kernel void dense_bias_grad(__global const float *y,
                              __global const float *dy, __global float *dz,
                              __global float *db, const int m, const int n,
                              const int relu)
{
    const int j = get_global_id(0);
    if (j >= n)
        return;
    float sum = 0.0f;
    for (int i = 0; i < m; i++) {
        size_t at = (size_t)i * n + j;
        float g = dy[at];
        if (relu) {
            g = y[at] > 0.0f ? g : 0.0f;
            dz[at] = g;
        }
        sum += g;
    }
    db[j] = sum;
}
