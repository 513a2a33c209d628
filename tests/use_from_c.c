/* use_from_c.c: classifies the first test images of a data folder with a
 * trained model through libcnn-cl, printing what `cnn-cl predict
 * --probabilities` prints. The README quotes it; tests/test_install.sh
 * builds it against an installed cnn-cl and holds its output to predict's.
 *
 *   cc use_from_c.c $(pkg-config --cflags --libs cnn-cl) -o use_from_c
 *   ./use_from_c MODEL DATA [N [DEVICE]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnn_cl.h>

/* Says what failed and returns its status (1 or 2) as the exit code. */
static int fail(const cnn_cl_error *err)
{
    fprintf(stderr, "use_from_c: %s\n", err->message);
    return err->status;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: use_from_c MODEL DATA [N [DEVICE]]\n");
        return 2;
    }
    if (strcmp(cnn_cl_version(), CNN_CL_VERSION_STRING)) {
        fprintf(stderr, "use_from_c: built with cnn_cl.h %s, running libcnn-cl %s\n",
                CNN_CL_VERSION_STRING, cnn_cl_version());
        return 1;
    }
    int n = argc > 3 ? atoi(argv[3]) : 5, device = argc > 4 ? atoi(argv[4]) : 0;

    cnn_cl_error err;
    cnn_cl_device *dev;
    cnn_cl_model *model;
    cnn_cl_data *data;
    if (cnn_cl_device_open(device, &dev, &err) ||
        cnn_cl_model_load(dev, argv[1], &model, &err) ||
        cnn_cl_data_open(argv[2], &data, &err) ||
        cnn_cl_model_check(model, data, &err))
        return fail(&err);

    int c, h, w, k = cnn_cl_model_classes(model);
    cnn_cl_model_input(model, &c, &h, &w);
    if (n > cnn_cl_data_count(data, CNN_CL_TEST_SPLIT))
        n = (int)cnn_cl_data_count(data, CNN_CL_TEST_SPLIT);
    unsigned char *images = malloc((size_t)n * c * h * w);
    int *labels = malloc((size_t)n * sizeof *labels);
    float *probs = malloc((size_t)n * k * sizeof *probs);
    if (!images || !labels || !probs) {
        fprintf(stderr, "use_from_c: out of memory\n");
        return 1;
    }
    /* The images as the data set stores them; the model scales and
     * normalises them as it was trained to. */
    if (cnn_cl_data_read(data, CNN_CL_TEST_SPLIT, 0, n, images, labels, &err) ||
        cnn_cl_predict_bytes(model, images, n, probs, &err))
        return fail(&err);

    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            best = p[j] > p[best] ? j : best;
        printf("Image %d: Predicted = %d, Actual = %d (probability %.4f)\n", i + 1, best,
               labels[i], p[best]);
        printf("  probabilities:");
        for (int j = 0; j < k; j++)
            printf(" %.9g", p[j]);
        printf("\n");
    }
    free(images);
    free(labels);
    free(probs);
    cnn_cl_data_close(data);
    cnn_cl_model_free(model);
    cnn_cl_device_close(dev);
    return 0;
}
