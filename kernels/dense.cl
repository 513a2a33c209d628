/* dense.cl: the fully connected layer's hand-written GEMMs and its small
 * kernels (bias and ReLU epilogue, split-K reduction, bias gradient).
 *
 * Written for wide SIMD CPUs first (PoCL): each work-item keeps a register
 * tile of float16 accumulators and reads operands with contiguous vector
 * loads. All matrices are row-major; every size is allowed (edges are
 * handled by clamped reads and guarded writes). No atomics: every sum runs
 * in a fixed order, so results are bit-identical from run to run. */

/* Register tiles, set by the tuner with -D (these are the defaults): rows
 * and columns of C per work-item in dense_gemm_nt; rows, and float16
 * columns, of C per work-item in dense_gemm_nn. Every loop over a tile is
 * unrolled so the accumulators stay in registers. The tile shapes do not
 * change any sum's order, so every choice gives the same bits. */
#ifndef DENSE_NT_TM
#define DENSE_NT_TM 4
#endif
#ifndef DENSE_NT_TN
#define DENSE_NT_TN 4
#endif
#ifndef DENSE_NN_TM
#define DENSE_NN_TM 8
#endif
#ifndef DENSE_NN_TV
#define DENSE_NN_TV 2
#endif

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
    size_t ra[DENSE_NT_TM], rb[DENSE_NT_TN];
#pragma unroll
    for (int i = 0; i < DENSE_NT_TM; i++)
        ra[i] = (size_t)min(m0 + i, m - 1) * k;
#pragma unroll
    for (int j = 0; j < DENSE_NT_TN; j++)
        rb[j] = (size_t)min(n0 + j, n - 1) * k;

    float16 acc[DENSE_NT_TM][DENSE_NT_TN];
#pragma unroll
    for (int i = 0; i < DENSE_NT_TM; i++)
#pragma unroll
        for (int j = 0; j < DENSE_NT_TN; j++)
            acc[i][j] = 0.0f;
    int kk = k0;
    for (; kk + 16 <= k1; kk += 16) {
        float16 va[DENSE_NT_TM], vb[DENSE_NT_TN];
#pragma unroll
        for (int i = 0; i < DENSE_NT_TM; i++)
            va[i] = vload16(0, a + ra[i] + kk);
#pragma unroll
        for (int j = 0; j < DENSE_NT_TN; j++)
            vb[j] = vload16(0, b + rb[j] + kk);
#pragma unroll
        for (int i = 0; i < DENSE_NT_TM; i++)
#pragma unroll
            for (int j = 0; j < DENSE_NT_TN; j++)
                acc[i][j] = fma(va[i], vb[j], acc[i][j]);
    }

#pragma unroll
    for (int i = 0; i < DENSE_NT_TM; i++) {
        if (m0 + i >= m)
            break;
#pragma unroll
        for (int j = 0; j < DENSE_NT_TN; j++) {
            if (n0 + j >= n)
                break;
            float sum = vec_hsum16(acc[i][j]);
            for (int r = kk; r < k1; r++)
                sum = fma(a[ra[i] + r], b[rb[j] + r], sum);
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

/* One step of dense_gemm_nn: acc[i][v] += A(i, r) times the columns
 * [n0 + 16 v, n0 + 16 v + 16) of row pb of B, zero past column n unless
 * whole (then they are all inside). */
static inline __attribute__((always_inline)) void
dense_nn_row(float16 acc[DENSE_NN_TM][DENSE_NN_TV], __global const float *a,
             const int *ra, const int ar, __global const float *pb,
             const int n0, const int n, const int whole)
{
    float16 vb[DENSE_NN_TV];
#pragma unroll
    for (int v = 0; v < DENSE_NN_TV; v++)
        vb[v] = whole ? vload16(0, pb + n0 + 16 * v)
                      : vec_load16(pb, n0 + 16 * v, n);
#pragma unroll
    for (int i = 0; i < DENSE_NN_TM; i++) {
        const float16 va = (float16)(a[ra[i] + ar]);
#pragma unroll
        for (int v = 0; v < DENSE_NN_TV; v++)
            acc[i][v] = fma(va, vb[v], acc[i][v]);
    }
}

/* C = A B with A read through strides (the backward GEMMs).
 * A(i, r) = a[i*sam + r*sak] for i < M, r < K: dX = dZ W uses sam = OUT,
 * sak = 1; dW = dZᵀ X uses sam = 1, sak = OUT. b is (K, N) with row
 * stride ldb, c is (M, N) with row stride ldc. Work-item (u, v) computes
 * rows [TM u, TM u + TM) by columns [16 TV v, 16 TV v + 16 TV) with
 * float16 accumulators, TM = DENSE_NN_TM, TV = DENSE_NN_TV. */
__kernel void dense_gemm_nn(__global const float *a, const int sam,
                            const int sak, __global const float *b,
                            const int ldb, __global float *c, const int ldc,
                            const int m, const int n, const int k)
{
    const int m0 = get_global_id(0) * DENSE_NN_TM,
              n0 = get_global_id(1) * 16 * DENSE_NN_TV;
    if (m0 >= m || n0 >= n)
        return;
    int ra[DENSE_NN_TM];
#pragma unroll
    for (int i = 0; i < DENSE_NN_TM; i++)
        ra[i] = min(m0 + i, m - 1) * sam;

    float16 acc[DENSE_NN_TM][DENSE_NN_TV];
#pragma unroll
    for (int i = 0; i < DENSE_NN_TM; i++)
#pragma unroll
        for (int v = 0; v < DENSE_NN_TV; v++)
            acc[i][v] = 0.0f;
    /* Whole column blocks load directly, the edge block pads with zeros:
     * two loops, so neither tests per row which it is. */
    if (n0 + 16 * DENSE_NN_TV <= n)
        for (int r = 0; r < k; r++)
            dense_nn_row(acc, a, ra, r * sak, b + (size_t)r * ldb, n0, n, 1);
    else
        for (int r = 0; r < k; r++)
            dense_nn_row(acc, a, ra, r * sak, b + (size_t)r * ldb, n0, n, 0);

#pragma unroll
    for (int i = 0; i < DENSE_NN_TM; i++) {
        if (m0 + i >= m)
            break;
        __global float *pc = c + (size_t)(m0 + i) * ldc + n0;
#pragma unroll
        for (int v = 0; v < DENSE_NN_TV; v++) {
            if (n0 + 16 * v + 16 <= n) {
                vstore16(acc[i][v], 0, pc + 16 * v);
            } else {
                float t[16];
                vstore16(acc[i][v], 0, t);
                for (int j = 0; j < 16 && n0 + 16 * v + j < n; j++)
                    pc[16 * v + j] = t[j];
            }
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
