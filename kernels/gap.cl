/* gap.cl: global average pooling, as Keras GlobalAveragePooling2D: the mean
 * of each channel's H x W plane. x and dx are (N, C, H, W); y and dy are
 * (N, C). */

/* The NDRange is (N * C), one work-item per plane, summed in row-major
 * order. */
__kernel void gap_forward(__global const float *x, __global float *y,
                          const int HW)
{
    int nc = get_global_id(0);
    __global const float *xp = x + (size_t)nc * HW;
    float sum = 0.0f;
    for (int i = 0; i < HW; i++)
        sum += xp[i];
    y[nc] = sum / (float)HW;
}

/* dx = dy / (H * W) over each plane. The NDRange is (H * W, N * C). */
__kernel void gap_backward(__global const float *dy, __global float *dx)
{
    int i = get_global_id(0), nc = get_global_id(1);
    int HW = get_global_size(0);
    dx[(size_t)nc * HW + i] = dy[nc] / (float)HW;
}
