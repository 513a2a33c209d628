/* conv_winograd.cl: the forward of a 3 x 3, stride-1 convolution by
 * Winograd's F(2x2, 3x3) (Lavin and Gray, 2015): each 2 x 2 tile of output
 * takes 16 multiply-adds per input and output channel, where the direct
 * kernels take 36. Its arithmetic is not conv.cl's (the sums run over
 * transformed values), so its variants have their own key.
 *
 * For a tile whose 4 x 4 window of x is d, with U = G g G^T the transformed
 * 3 x 3 weights g of an (output, input) channel pair:
 *   V = B^T d B, M = sum over input channels of U .* V, y = A^T M A, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 *
 * A group is 16 tiles of one image, one a lane: CONV_WR rows of tiles of
 * CONV_WT tiles each (16 x 1, 8 x 2 or 4 x 4, so that narrow images fill
 * the lanes too). A work-item takes CONV_WV groups. It transforms their
 * windows of every input channel into private memory, then, for each
 * block of CONV_WO output channels and each of the 16 positions of a tile,
 * sums the channels (each weight broadcast to the groups' vectors), and
 * transforms the block's sums back into 2 x 2 pixels. A window past the
 * image's last row or column (an odd size, or a group's rows past the
 * last) reads up to 2 CONV_WR - 1 rows past its plane and 34 floats past
 * its row; conv.c gives x's padded copy that much room, zeroed, and what
 * is read there reaches only outputs that are not stored. */

#ifndef CONV_WT
#define CONV_WT 16
#endif
#define CONV_WR (16 / CONV_WT)
/* Groups per work-item, and output channels per block: CONV_WV x CONV_WO
 * accumulators, 2 vector loads and 8 broadcasts for 16 multiply-adds. */
#define CONV_WV 2
#define CONV_WO 8
/* The most input channels: the private memory of a work-item's windows,
 * 16 x (CONV_WC x CONV_WV + 1) float16, 129 KiB. conv.c offers the
 * variants up to it. */
#define CONV_WC 64

/* U = G g G^T of 16 lanes' 3 x 3 weights g (row-major), position r * 4
 * + j of the 4 x 4 result in v[r * 4 + j]. */
static inline __attribute__((always_inline)) void winograd_weights(const float16 g[9],
                                                                   float16 v[16])
{
    float16 t[12]; /* G g, 4 x 3 */
#pragma unroll
    for (int col = 0; col < 3; col++) {
        const float16 a = g[col], b = g[3 + col], d = g[6 + col];
        t[col] = a;
        t[3 + col] = 0.5f * (a + b + d);
        t[6 + col] = 0.5f * (a - b + d);
        t[9 + col] = d;
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const float16 a = t[3 * r], b = t[3 * r + 1], d = t[3 * r + 2];
        v[r * 4] = a;
        v[r * 4 + 1] = 0.5f * (a + b + d);
        v[r * 4 + 2] = 0.5f * (a - b + d);
        v[r * 4 + 3] = d;
    }
}

/* V = B^T d B of 16 lanes' 4 x 4 windows d, position i * 4 + j in
 * v[i * 4 + j]. */
static inline __attribute__((always_inline)) void winograd_input(float16 d[4][4],
                                                                 float16 v[16])
{
    float16 t[4][4]; /* B^T d */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        v[i * 4] = t[i][0] - t[i][2];
        v[i * 4 + 1] = t[i][1] + t[i][2];
        v[i * 4 + 2] = t[i][2] - t[i][1];
        v[i * 4 + 3] = t[i][1] - t[i][3];
    }
}

/* y = A^T m A of 16 lanes' 4 x 4 sums m, the 2 x 2 result's row i in
 * y[i][0], y[i][1]. */
static inline __attribute__((always_inline)) void winograd_output(const float16 m[16],
                                                                  float16 y[2][2])
{
    float16 s[2][4]; /* A^T M */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        s[0][j] = m[j] + m[4 + j] + m[8 + j];
        s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        y[i][0] = s[i][0] + s[i][1] + s[i][2];
        y[i][1] = s[i][1] - s[i][2] - s[i][3];
    }
}

/* Where position pos of G g G^T lies in G g' G^T, g' being g turned half
 * a turn: G's first and last rows swap when its columns reverse, so the
 * 4 x 4 result's first and last rows and columns swap. Storing U there
 * rather than transforming g' keeps one arithmetic for both packings. */
static inline __attribute__((always_inline)) int winograd_turned(int pos)
{
    const int r = pos / 4, j = pos % 4;
    return (r == 0 || r == 3 ? 3 - r : r) * 4 + (j == 0 || j == 3 ? 3 - j : j);
}

/* U (OCW / 8, 16, C, 8) from w (OC, C, 3, 3): U[o / 8][pos][ci][o % 8] =
 * (G g G^T)[pos / 4][pos % 4], g = w[o][ci]; zero for o from OC to OCW (OC
 * rounded up to 16). A block's values lie in the order its sums read them.
 * Unless wb is NULL, the same launch packs w for backward-data too, as
 * conv.cl's conv_pack_weights does (layout 1); unless ud is NULL, it
 * transforms them for Winograd's backward-data instead
 * (conv_winograd_pack_data's layout and values): either for all but the
 * lanes past C, which conv.c zeroed. A work-item transforms 16 output
 * channels' weights at once, one a lane. Global size (C, OCW / 16). */
__kernel void conv_winograd_pack(__global const float *w, __global float *u,
                                 __global float *wb, __global float *ud, const int oc,
                                 const int c)
{
    const int ci = get_global_id(0), ob = get_global_id(1) * 16,
              ocw = (oc + 15) / 16 * 16;
    if (ci >= c || ob >= ocw)
        return;
    float16 g[9];
    for (int i = 0; i < 9; i++) {
        float v[16];
        for (int l = 0; l < 16; l++) {
            v[l] = ob + l < oc ? w[((size_t)(ob + l) * c + ci) * 9 + i] : 0.0f;
            if (wb && ob + l < oc)
                wb[(((size_t)(ci / 16) * 9 + i) * oc + ob + l) * 16 + ci % 16] = v[l];
        }
        g[i] = vload16(0, v);
    }
    float16 v[16];
    winograd_weights(g, v);
#pragma unroll
    for (int pos = 0; pos < 16; pos++) {
        vec_store8(v[pos].lo, u + (((size_t)(ob / 8) * 16 + pos) * c + ci) * 8);
        vec_store8(v[pos].hi, u + (((size_t)(ob / 8 + 1) * 16 + pos) * c + ci) * 8);
    }
    if (ud)
        for (int pos = 0; pos < 16; pos++)
            for (int l = 0; l < 16 && ob + l < oc; l++)
                ud[(((size_t)(ci / 16) * 16 + winograd_turned(pos)) * oc + ob + l) * 16 +
                   ci % 16] = ((const float *)&v[pos])[l];
}

/* Row i of every lane's window: d[j], lane l = r CONV_WT + t holding
 * p[r][2 t + j] (p[r] the row of the window's top-left of lane row r). */
static inline __attribute__((always_inline)) void
winograd_row(__global const float *const p[CONV_WR], float16 d[4])
{
    const uint16 even = (uint16)(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                 odd = even + (uint16)(1);
#if CONV_WT == 16
    const float16 a0 = vec_read16(p[0]), a1 = vec_read16(p[0] + 16),
                  b0 = vec_read16(p[0] + 2), b1 = vec_read16(p[0] + 18);
#elif CONV_WT == 8
    /* lanes 8-15 take row 1's: index 16 + 2 (l - 8) is 2 l again */
    const float16 a0 = vec_read16(p[0]), a1 = vec_read16(p[1]),
                  b0 = vec_read16(p[0] + 2), b1 = vec_read16(p[1] + 2);
#else
    /* each row's 8 floats from its window's start, rows 0-1 and 2-3 as
     * one vector each */
    const float16 a0 = (float16)(vec_read8(p[0]), vec_read8(p[1])),
                  a1 = (float16)(vec_read8(p[2]), vec_read8(p[3])),
                  b0 = (float16)(vec_read8(p[0] + 2), vec_read8(p[1] + 2)),
                  b1 = (float16)(vec_read8(p[2] + 2), vec_read8(p[3] + 2));
#endif
    d[0] = shuffle2(a0, a1, even);
    d[1] = shuffle2(a0, a1, odd);
    d[2] = shuffle2(b0, b1, even);
    d[3] = shuffle2(b0, b1, odd);
}

/* y = conv(x, w) + b, then max(y, 0) when relu is set. x is (N, C, H, W)
 * with the padding in it, y is (N, OC, H - 2, W - 2), u is w packed by
 * conv_winograd_pack. The images' TY x TX tiles make G = ceil(TX /
 * CONV_WT) ceil(TY / CONV_WR) groups of 16 each, numbered image by image;
 * a work-item takes CONV_WV groups in a row, which share each weight's
 * broadcast. Global size (ceil(N G / CONV_WV)). */
__kernel void conv_winograd_forward(__global const float *x, __global const float *u,
                                    __global const float *b, __global float *y,
                                    const int c, const int h, const int w, const int oc,
                                    const int relu, const int has_bias, const int n)
{
    const int oh = h - 2, ow = w - 2, ty_n = (oh + 1) / 2, tx_n = (ow + 1) / 2,
              sx = (tx_n + CONV_WT - 1) / CONV_WT,
              groups = sx * ((ty_n + CONV_WR - 1) / CONV_WR), q0 = get_global_id(0) * CONV_WV;
    if (q0 >= n * groups)
        return;
    const size_t plane = (size_t)h * w;
    /* each group's image and first tile; a group past the last repeats it,
     * and is not stored */
    int img[CONV_WV], ty0[CONV_WV], col0[CONV_WV];
#pragma unroll
    for (int v = 0; v < CONV_WV; v++) {
        const int q = min(q0 + v, n * groups - 1), g = q % groups;
        img[v] = q / groups;
        ty0[v] = g / sx * CONV_WR;
        col0[v] = 2 * (g % sx * CONV_WT);
    }

    /* vs[pos][ci][v]: the transformed windows, 16 tiles to a vector; a
     * position's row one vector longer than its values, so that the 16
     * rows' stores of one channel do not fall in one set of the cache */
    const int step = c * CONV_WV + 1;
    float16 vs[16 * (CONV_WC * CONV_WV + 1)];
#pragma unroll
    for (int v = 0; v < CONV_WV; v++) {
        __global const float *xn = x + (size_t)img[v] * c * plane + col0[v];
        for (int ci = 0; ci < c; ci++) {
            float16 d[4][4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                __global const float *p[CONV_WR];
#pragma unroll
                for (int r = 0; r < CONV_WR; r++)
                    p[r] = xn + ci * plane + (size_t)(2 * (ty0[v] + r) + i) * w;
                winograd_row(p, d[i]);
            }
            float16 tv[16];
            winograd_input(d, tv);
            float16 *out = vs + ci * CONV_WV + v;
#pragma unroll
            for (int pos = 0; pos < 16; pos++)
                out[pos * step] = tv[pos];
        }
    }

    const uint16 lane = (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                 lo = lane / 2 + (lane & 1) * 16, hi = lo + (uint16)(8);
    for (int ob = 0; ob < oc; ob += CONV_WO) {
        float16 m[16][CONV_WV][CONV_WO];
        for (int pos = 0; pos < 16; pos++) {
            float16 acc[CONV_WV][CONV_WO];
#pragma unroll
            for (int v = 0; v < CONV_WV; v++)
#pragma unroll
                for (int o = 0; o < CONV_WO; o++)
                    acc[v][o] = (float16)(0.0f);
            __global const float *up = u + ((size_t)ob * 16 + pos * CONV_WO) * c;
            const float16 *vp = vs + pos * step;
            for (int ci = 0; ci < c; ci++) {
                float16 in[CONV_WV];
#pragma unroll
                for (int v = 0; v < CONV_WV; v++)
                    in[v] = vp[ci * CONV_WV + v];
#pragma unroll
                for (int o = 0; o < CONV_WO; o++) {
                    const float16 wv = (float16)(up[ci * CONV_WO + o]);
#pragma unroll
                    for (int v = 0; v < CONV_WV; v++)
                        acc[v][o] = fma(in[v], wv, acc[v][o]);
                }
            }
#pragma unroll
            for (int v = 0; v < CONV_WV; v++)
#pragma unroll
                for (int o = 0; o < CONV_WO; o++)
                    m[pos][v][o] = acc[v][o];
        }
#pragma unroll
        for (int v = 0; v < CONV_WV; v++) {
            if (q0 + v >= n * groups)
                break;
            const int len = min(2 * CONV_WT, ow - col0[v]);
            for (int o = 0; o < CONV_WO && ob + o < oc; o++) {
                float16 mv[16], yv[2][2];
#pragma unroll
                for (int pos = 0; pos < 16; pos++)
                    mv[pos] = m[pos][v][o];
                winograd_output(mv, yv);
                const float bias = has_bias ? b[ob + o] : 0.0f;
                __global float *yo =
                    y + ((size_t)img[v] * oc + ob + o) * oh * ow + col0[v];
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    float16 y0 = yv[i][0] + bias, y1 = yv[i][1] + bias;
                    if (relu) {
                        y0 = fmax(y0, (float16)(0.0f));
                        y1 = fmax(y1, (float16)(0.0f));
                    }
                    /* lane row r's pixels, in order: floats r 2 CONV_WT on
                     * of (lo, hi), the two outputs of each tile
                     * interleaved */
                    const float16 row[2] = {shuffle2(y0, y1, lo), shuffle2(y0, y1, hi)};
#pragma unroll
                    for (int r = 0; r < CONV_WR; r++) {
                        const int oy = 2 * (ty0[v] + r) + i;
                        if (oy >= oh)
                            break;
                        __global float *yr = yo + (size_t)oy * ow;
#if CONV_WT == 16
                        vec_store_first(row[0], yr, len);
                        if (len > 16)
                            vec_store_first(row[1], yr + 16, len - 16);
#elif CONV_WT == 8
                        vec_store_first(row[r], yr, len);
#else
                        vec_store_first(r & 1 ? (float16)(row[r / 2].hi, row[r / 2].hi)
                                             : row[r / 2], yr, len);
#endif
                    }
                }
            }
        }
    }
}

/* Backward-data by the same F(2x2, 3x3). At stride 1, dx is a 3 x 3
 * correlation of dz (zero outside it) with the weights turned half a turn,
 * input and output channels swapped: dx[c][iy][ix] = sum over o, a, b of
 * dz[o][iy + pad_top - 2 + a][ix + pad_left - 2 + b] w[o][c][2 - a][2 - b].
 * dz is read as conv.cl's backward-data reads it, from dzt's rows of
 * output channels, so a window is 16 vectors of 16 channels o: transformed
 * with o in the lanes, then summed over o in order, each transformed value
 * broadcast against 16 input channels' transformed weights. (Transposing
 * the transformed values so that a broadcast's tiles lie side by side
 * cost more than it saved.)
 *
 * A work-item takes CONV_WDR rows of CONV_WDT tiles of one image (2
 * CONV_WDR rows of 2 CONV_WDT pixels of dx) and every input channel, in
 * CONV_DB blocks of 16 at a time: CONV_WDT x CONV_WDR x CONV_DB
 * accumulators, CONV_DB vector loads and CONV_WDT x CONV_WDR broadcasts for
 * as many multiply-adds. */
#ifndef CONV_WDT
#define CONV_WDT 8
#endif
#ifndef CONV_WDR
#define CONV_WDR 1
#endif
#ifndef CONV_DB
#define CONV_DB 1
#endif
#define CONV_WDTT (CONV_WDT * CONV_WDR)
/* The most output channels (dz's): the private memory of a work-item's
 * transformed windows, 16 CONV_WDTT x CONV_WDO floats, 64 KiB at most
 * (CONV_WDTT is 8 or 16). conv.c offers the variants up to it. */
#define CONV_WDO 64

/* Ud (Cpad / 16, 16, OC, 16) from w (OC, C, 3, 3): Ud[c / 16][pos][o][c %
 * 16] = (G g' G^T)[pos / 4][pos % 4], g' = w[o][c] turned half a turn (see
 * winograd_turned); zero for c from C to Cpad. A work-item transforms 16
 * input channels' weights at once, one a lane. Global size (OC, Cpad /
 * 16). conv_winograd_pack stores the same values when the forward is
 * Winograd's too. */
__kernel void conv_winograd_pack_data(__global const float *w, __global float *ud,
                                      const int oc, const int c)
{
    const int o = get_global_id(0), cb = get_global_id(1);
    if (o >= oc || cb * 16 >= c)
        return;
    float16 g[9];
    for (int i = 0; i < 9; i++) {
        float v[16];
        for (int l = 0; l < 16; l++)
            v[l] = cb * 16 + l < c ? w[((size_t)o * c + cb * 16 + l) * 9 + i] : 0.0f;
        g[i] = vload16(0, v);
    }
    float16 v[16];
    winograd_weights(g, v);
#pragma unroll
    for (int pos = 0; pos < 16; pos++)
        vec_store16(v[pos], ud + (((size_t)cb * 16 + winograd_turned(pos)) * oc + o) * 16);
}

/* Tile tt's 2 x 2 pixels of block b from a work-item's sums m. */
static inline __attribute__((always_inline)) void
winograd_data_pixels(float16 m[16][CONV_WDTT][CONV_DB], const int tt, const int b,
                     float16 yv[2][2])
{
    float16 mv[16];
#pragma unroll
    for (int pos = 0; pos < 16; pos++)
        mv[pos] = m[pos][tt][b];
    winograd_output(mv, yv);
}

/* dx (N, C, H, W) from dzt (N*OH*OW + 1, OCpad; row `zero` zeros) and ud
 * (conv_winograd_pack_data). The images' tiles make groups of CONV_WDR x
 * CONV_WDT tiles, numbered image by image, one a work-item. A window's
 * pixel outside dz reads the zero row; a tile past dx's last row or column
 * is summed and not stored. Global size (N * groups). */
__kernel void conv_winograd_data(__global const float *dzt, __global const float *ud,
                                 __global float *dx, const int c, const int h, const int w,
                                 const int oc, const int oh, const int ow, const int pad_top,
                                 const int pad_left, const int zero, const int n)
{
    const int sx = ((w + 1) / 2 + CONV_WDT - 1) / CONV_WDT,
              groups = sx * (((h + 1) / 2 + CONV_WDR - 1) / CONV_WDR), q = get_global_id(0);
    if (q >= n * groups)
        return;
    const int img = q / groups, ty0 = q % groups / sx * CONV_WDR,
              tx0 = q % groups % sx * CONV_WDT, ocv = (oc + 15) / 16, cbn = (c + 15) / 16;
    const size_t ocp = (size_t)ocv * 16;
    /* the windows' rows (a pixel's row in dzt less its column) and
     * columns, -1 outside dz */
    int rowat[2 * CONV_WDR + 2], colat[2 * CONV_WDT + 2];
#pragma unroll
    for (int i = 0; i < 2 * CONV_WDR + 2; i++) {
        const int oy = 2 * ty0 + i + pad_top - 2;
        rowat[i] = oy >= 0 && oy < oh ? (img * oh + oy) * ow : -1;
    }
#pragma unroll
    for (int j = 0; j < 2 * CONV_WDT + 2; j++) {
        const int ox = 2 * tx0 + j + pad_left - 2;
        colat[j] = ox >= 0 && ox < ow ? ox : -1;
    }

    /* vs[pos][tile][o]: the transformed windows, as floats for the
     * broadcasts */
    float16 vs[16 * CONV_WDTT * (CONV_WDO / 16)];
    for (int ob = 0; ob < ocv; ob++)
#pragma unroll
        for (int tt = 0; tt < CONV_WDTT; tt++) {
            const int tr = tt / CONV_WDT, t = tt % CONV_WDT;
            float16 d[4][4];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int r = rowat[2 * tr + i], col = colat[2 * t + j];
                    const size_t row = r >= 0 && col >= 0 ? (size_t)(r + col) : (size_t)zero;
                    d[i][j] = vec_read16(dzt + row * ocp + ob * 16);
                }
            float16 tv[16];
            winograd_input(d, tv);
#pragma unroll
            for (int pos = 0; pos < 16; pos++)
                vs[(pos * CONV_WDTT + tt) * ocv + ob] = tv[pos];
        }
    const float *vf = (const float *)vs;

    for (int cb0 = 0; cb0 < cbn; cb0 += CONV_DB) {
        float16 m[16][CONV_WDTT][CONV_DB];
        for (int pos = 0; pos < 16; pos++) {
            float16 acc[CONV_WDTT][CONV_DB];
#pragma unroll
            for (int tt = 0; tt < CONV_WDTT; tt++)
#pragma unroll
                for (int b = 0; b < CONV_DB; b++)
                    acc[tt][b] = (float16)(0.0f);
            /* blocks past the last reread it, and are not stored */
            __global const float *up[CONV_DB];
#pragma unroll
            for (int b = 0; b < CONV_DB; b++)
                up[b] = ud + ((size_t)min(cb0 + b, cbn - 1) * 16 + pos) * oc * 16;
            const float *vp = vf + pos * CONV_WDTT * ocp;
            for (int o = 0; o < oc; o++) {
                float16 wv[CONV_DB];
#pragma unroll
                for (int b = 0; b < CONV_DB; b++)
                    wv[b] = vec_read16(up[b] + o * 16);
#pragma unroll
                for (int tt = 0; tt < CONV_WDTT; tt++) {
                    const float16 in = (float16)(vp[tt * ocp + o]);
#pragma unroll
                    for (int b = 0; b < CONV_DB; b++)
                        acc[tt][b] = fma(in, wv[b], acc[tt][b]);
                }
            }
#pragma unroll
            for (int tt = 0; tt < CONV_WDTT; tt++)
#pragma unroll
                for (int b = 0; b < CONV_DB; b++)
                    m[pos][tt][b] = acc[tt][b];
        }
#pragma unroll
        for (int b = 0; b < CONV_DB; b++) {
            const int cb = cb0 + b;
            if (cb >= cbn)
                break;
            const int nc = min(16, c - cb * 16), x0 = 2 * tx0, len = min(2 * CONV_WDT, w - x0);
            __global float *dxc = dx + ((size_t)img * c + cb * 16) * h * w + x0;
#if CONV_WDT == 8
            /* a row of dx's 16 pixels (2 of each tile) x 16 channels,
             * transposed into each channel's run of 16 pixels */
#pragma unroll
            for (int tr = 0; tr < CONV_WDR; tr++)
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const int iy = 2 * (ty0 + tr) + i;
                    if (iy >= h)
                        break;
                    float16 r[16];
#pragma unroll
                    for (int t = 0; t < CONV_WDT; t++) {
                        float16 yv[2][2];
                        winograd_data_pixels(m, tr * CONV_WDT + t, b, yv);
                        r[2 * t] = yv[i][0];
                        r[2 * t + 1] = yv[i][1];
                    }
                    vec_transpose_rows(r, 16);
                    for (int l = 0; l < nc; l++)
                        vec_store_first(r[l], dxc + ((size_t)l * h + iy) * w, len);
                }
#else
            /* two rows of dx's 8 pixels x 16 channels, transposed into
             * each channel's two runs of 8 */
#pragma unroll
            for (int tr = 0; tr < CONV_WDR; tr++) {
                const int iy = 2 * (ty0 + tr);
                if (iy >= h)
                    break;
                float16 r[16];
#pragma unroll
                for (int t = 0; t < CONV_WDT; t++) {
                    float16 yv[2][2];
                    winograd_data_pixels(m, tr * CONV_WDT + t, b, yv);
                    r[2 * t] = yv[0][0];
                    r[2 * t + 1] = yv[0][1];
                    r[8 + 2 * t] = yv[1][0];
                    r[8 + 2 * t + 1] = yv[1][1];
                }
                vec_transpose_rows(r, 16);
                for (int l = 0; l < nc; l++) {
                    __global float *p = dxc + ((size_t)l * h + iy) * w;
                    vec_store_first((float16)(r[l].lo, r[l].lo), p, len);
                    if (iy + 1 < h)
                        vec_store_first((float16)(r[l].hi, r[l].hi), p + w, len);
                }
            }
#endif
        }
    }
}
