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

/* The GPU-shaped GEMM (dense_gpu_gemm): a work-group of DENSE_GPU_WN x
 * DENSE_GPU_WM work-items computes a tile of DENSE_GPU_WM * DENSE_GPU_RM
 * rows by DENSE_GPU_WN * DENSE_GPU_RN columns of C, staging DENSE_GPU_TK
 * steps of K of both operands through local memory; each work-item keeps
 * RM x RN accumulators. Every output is one fma chain over its K range in
 * increasing order, whatever the tiles, so the tiles share the arithmetic
 * and only the split-K slice changes it. */
#ifndef DENSE_GPU_WM
#define DENSE_GPU_WM 8
#endif
#ifndef DENSE_GPU_WN
#define DENSE_GPU_WN 8
#endif
#ifndef DENSE_GPU_RM
#define DENSE_GPU_RM 4
#endif
#ifndef DENSE_GPU_RN
#define DENSE_GPU_RN 4
#endif
#ifndef DENSE_GPU_TK
#define DENSE_GPU_TK 16
#endif
#define DENSE_GPU_TM (DENSE_GPU_WM * DENSE_GPU_RM)
#define DENSE_GPU_TN (DENSE_GPU_WN * DENSE_GPU_RN)
#define DENSE_GPU_ITEMS (DENSE_GPU_WM * DENSE_GPU_WN)

/* C = A B over K slice s = get_global_id(2): [s kc, min(K, s kc + kc)).
 * A(i, r) = a[i sam + r sak] (M, K), and when mask is set A(i, r) is 0
 * where y[i sam + r sak] <= 0 (dY through the forward's ReLU: y has dY's
 * layout). B(r, j) = b[r sbk + j sbn] (K, N). One of each operand's strides
 * is 1 (that one is read by consecutive work-items).
 * epilogue 0: c[s M ldc + i ldc + j] = sum (a split-K partial, or the whole
 * product); 1: c[i ldc + j] = sum + bias[j]; 2: also ReLU.
 * rowsum set: the work-groups of the first column tile also write
 * db[i] = sum over r of A(i, r), in increasing r (the bias gradient when A
 * is dZᵀ).
 * Global (ceil(N / TN) WN, ceil(M / TM) WM, nsplit), local (WN, WM, 1). */
__kernel __attribute__((reqd_work_group_size(DENSE_GPU_WN, DENSE_GPU_WM, 1)))
void dense_gpu_gemm(__global const float *a, const int sam, const int sak,
                    __global const float *y, const int mask,
                    __global const float *b, const int sbk, const int sbn,
                    __global float *c, const int ldc, const int m,
                    const int n, const int k, const int kc,
                    __global const float *bias, const int epilogue,
                    __global float *db, const int rowsum)
{
    __local float as[DENSE_GPU_TK][DENSE_GPU_TM + 1];
    __local float bs[DENSE_GPU_TK][DENSE_GPU_TN + 1];
    const int lx = get_local_id(0), ly = get_local_id(1),
              lid = ly * DENSE_GPU_WN + lx, s = get_global_id(2);
    const int m0 = get_group_id(1) * DENSE_GPU_TM,
              n0 = get_group_id(0) * DENSE_GPU_TN;
    const int k0 = s * kc, k1 = min(k, k0 + kc);
    const int sums = rowsum && get_group_id(0) == 0 && lx == 0;

    float acc[DENSE_GPU_RM][DENSE_GPU_RN], rs[DENSE_GPU_RM];
#pragma unroll
    for (int i = 0; i < DENSE_GPU_RM; i++) {
        rs[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < DENSE_GPU_RN; j++)
            acc[i][j] = 0.0f;
    }
    for (int kt = k0; kt < k1; kt += DENSE_GPU_TK) {
        const int tk = min(DENSE_GPU_TK, k1 - kt);
        /* Consecutive work-items take consecutive addresses of whichever
         * index is contiguous; outside the matrix reads as 0. */
        for (int e = lid; e < DENSE_GPU_TM * DENSE_GPU_TK; e += DENSE_GPU_ITEMS) {
            const int i = sak == 1 ? e / DENSE_GPU_TK : e % DENSE_GPU_TM,
                      r = sak == 1 ? e % DENSE_GPU_TK : e / DENSE_GPU_TM;
            float v = 0.0f;
            if (m0 + i < m && r < tk) {
                const size_t at = (size_t)(m0 + i) * sam + (size_t)(kt + r) * sak;
                v = a[at];
                if (mask && !(y[at] > 0.0f))
                    v = 0.0f;
            }
            as[r][i] = v;
        }
        for (int e = lid; e < DENSE_GPU_TN * DENSE_GPU_TK; e += DENSE_GPU_ITEMS) {
            const int j = sbn == 1 ? e % DENSE_GPU_TN : e / DENSE_GPU_TK,
                      r = sbn == 1 ? e / DENSE_GPU_TN : e % DENSE_GPU_TK;
            bs[r][j] = n0 + j < n && r < tk
                           ? b[(size_t)(kt + r) * sbk + (size_t)(n0 + j) * sbn]
                           : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* tk is the same for the whole group: no padded step is added. */
        for (int r = 0; r < tk; r++) {
            float va[DENSE_GPU_RM], vb[DENSE_GPU_RN];
#pragma unroll
            for (int i = 0; i < DENSE_GPU_RM; i++)
                va[i] = as[r][ly + DENSE_GPU_WM * i];
#pragma unroll
            for (int j = 0; j < DENSE_GPU_RN; j++)
                vb[j] = bs[r][lx + DENSE_GPU_WN * j];
#pragma unroll
            for (int i = 0; i < DENSE_GPU_RM; i++) {
                if (sums)
                    rs[i] += va[i];
#pragma unroll
                for (int j = 0; j < DENSE_GPU_RN; j++)
                    acc[i][j] = fma(va[i], vb[j], acc[i][j]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
    for (int i = 0; i < DENSE_GPU_RM; i++) {
        const int row = m0 + ly + DENSE_GPU_WM * i;
        if (row >= m)
            break;
        if (sums)
            db[row] = rs[i];
        __global float *pc = c + (epilogue ? 0 : (size_t)s * m * ldc) + (size_t)row * ldc;
#pragma unroll
        for (int j = 0; j < DENSE_GPU_RN; j++) {
            const int col = n0 + lx + DENSE_GPU_WN * j;
            if (col < n) {
                float v = acc[i][j];
                if (epilogue) {
                    v += bias[col];
                    if (epilogue == 2)
                        v = fmax(v, 0.0f);
                }
                pc[col] = v;
            }
        }
    }
}
