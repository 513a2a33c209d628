/* avgpool.cl: average pooling, as Keras AveragePooling2D with 'valid'
 * padding: the mean of each P x P window at stride S, OH = (H - P) / S + 1,
 * and the same for the width. x and dx are (N, C, H, W); y and dy are
 * (N, C, OH, OW). */

/* The NDRange is (OW, OH, N * C), one work-item per output element, which
 * sums its window in row-major order. */
__kernel void avgpool_forward(__global const float *x, __global float *y,
                              const int H, const int W, const int P,
                              const int S)
{
    int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
    int OW = get_global_size(0), OH = get_global_size(1);
    __global const float *xp = x + ((size_t)nc * H + oh * S) * W + ow * S;
    float sum = 0.0f;
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++)
            sum += xp[i * W + j];
    y[((size_t)nc * OH + oh) * OW + ow] = sum / (float)(P * P);
}

/* The NDRange is (W, H, N * C), one work-item per element of dx, which
 * gathers dy / (P * P) from the windows that contain it, in row-major
 * window order: windows overlap when S < P, and gathering rather than
 * scattering needs no atomics and fixes the summation order. An input in
 * no window gets 0. */
__kernel void avgpool_backward(__global const float *dy, __global float *dx,
                               const int H, const int W, const int P,
                               const int S, const int OH, const int OW)
{
    int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    __global const float *dyp = dy + (size_t)nc * OH * OW;
    /* Window oh covers rows oh*S .. oh*S + P - 1. */
    int oh0 = h < P ? 0 : (h - P + S) / S, oh1 = min(h / S, OH - 1);
    int ow0 = w < P ? 0 : (w - P + S) / S, ow1 = min(w / S, OW - 1);
    float sum = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++)
        for (int ow = ow0; ow <= ow1; ow++)
            sum += dyp[oh * OW + ow];
    dx[((size_t)nc * H + h) * W + w] = sum / (float)(P * P);
}
