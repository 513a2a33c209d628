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

/* The GPU-shaped forward: one work-group of L work-items (a power of two,
 * the host's explicit local size) per plane; work-item l adds the plane's
 * values l, l + L, ... in turn (consecutive work-items read consecutive
 * addresses), then the L sums meet in a fixed tree in local memory.
 * Global (N * C * L), local (L); part holds L floats. */
__kernel void gap_gpu_forward(__global const float *x, __global float *y,
                              const int HW, __local float *part)
{
    const int nc = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *xp = x + (size_t)nc * HW;
    float sum = 0.0f;
    for (int i = l; i < HW; i += L)
        sum += xp[i];
    part[l] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int reach = L / 2; reach > 0; reach /= 2) {
        if (l < reach)
            part[l] += part[l + reach];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        y[nc] = part[0] / (float)HW;
}
