/* test_schedule.c: every learning-rate schedule and the warmup against the
 * rates PyTorch 1.13's schedulers give (StepLR, CosineAnnealingLR,
 * OneCycleLR, and SequentialLR of LinearLR and CosineAnnealingLR, each
 * stepped once per optimizer step from lr 1e-3), the texts --lr-schedule
 * takes and refuses, and the text a checkpoint records. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "train/schedule.h"

/* rates[t] against the schedule of text (warmup steps) over total steps of
 * epochs of 3 steps; float rounding apart, as the device takes it. */
static void check_rates(const char *text, long warmup, const double *rates, long total)
{
    cnn_error err = {0};
    schedule s = {.warmup = warmup};
    TEST_OK(schedule_parse(text, &s, &err), err);
    for (long t = 0; t < total; t++) {
        double got = schedule_rate(&s, 1e-3, t, 3, total);
        ck_assert_msg(fabs(got - rates[t]) <= 1e-8 * rates[t] + 1e-15, "%s, warmup %ld, "
                      "step %ld: %.12g, PyTorch %.12g", text, warmup, t, got, rates[t]);
    }
}

START_TEST(constant_and_step_are_pytorchs)
{
    static const double constant[4] = {1e-3, 1e-3, 1e-3, 1e-3};
    static const double step[14] = {0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.0005,
                                    0.0005, 0.0005, 0.0005, 0.0005, 0.0005, 0.00025,
                                    0.00025};
    check_rates("constant", 0, constant, 4);
    check_rates("step:2:0.5", 0, step, 14);
    /* a zeroed schedule is the constant one */
    schedule zero = {0};
    ck_assert_double_eq(schedule_rate(&zero, 0.5, 7, 3, 10), 0.5);
}
END_TEST

START_TEST(cosine_is_pytorchs)
{
    static const double cosine[12] = {
        0.001, 0.000982962913, 0.000933012702, 0.000853553391, 0.00075, 0.000629409523,
        0.0005, 0.000370590477, 0.00025, 0.000146446609, 6.69872981e-05, 1.70370869e-05};
    check_rates("cosine", 0, cosine, 12);
}
END_TEST

START_TEST(onecycle_is_pytorchs)
{
    static const double onecycle[20] = {
        4e-05, 0.000131671843, 0.000371671843, 0.000668328157, 0.000908328157, 0.001,
        0.000987464006, 0.000950484632, 0.000890916178, 0.000811745654, 0.000716943002,
        0.000611262022, 0.000500002, 0.000388741978, 0.000283060998, 0.000188258346,
        0.000109087822, 4.9519368e-05, 1.25399938e-05, 4e-09};
    check_rates("onecycle", 0, onecycle, 20);
}
END_TEST

/* Warmup then the schedule over the steps left: SequentialLR of
 * LinearLR(1/4, 1, 3) and CosineAnnealingLR(T_max 8), milestone 4. */
START_TEST(warmup_hands_over_to_the_schedule)
{
    static const double warm_cosine[12] = {
        0.00025, 0.0005, 0.00075, 0.001, 0.001, 0.000961939766, 0.000853553391,
        0.000691341716, 0.0005, 0.000308658284, 0.000146446609, 3.80602337e-05};
    check_rates("cosine", 4, warm_cosine, 12);
    static const double warm_constant[5] = {0.0005, 0.001, 0.001, 0.001, 0.001};
    check_rates("constant", 2, warm_constant, 5);
}
END_TEST

/* A run too short for OneCycleLR's first phase still gives finite rates. */
START_TEST(short_runs_stay_finite)
{
    cnn_error err = {0};
    schedule s = {0};
    TEST_OK(schedule_parse("onecycle", &s, &err), err);
    for (long total = 1; total < 5; total++)
        for (long t = 0; t < total; t++)
            ck_assert(isfinite(schedule_rate(&s, 1e-3, t, 1, total)));
    s.warmup = 10; /* longer than the run */
    ck_assert(isfinite(schedule_rate(&s, 1e-3, 4, 1, 5)));
}
END_TEST

START_TEST(texts_round_trip_and_bad_ones_are_refused)
{
    static const char *const good[] = {"constant", "step:3:0.1", "cosine", "onecycle",
                                       "step:1:2"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        cnn_error err = {0};
        schedule s = {.warmup = 7}, back = {0};
        char text[64];
        TEST_OK(schedule_parse(good[i], &s, &err), err);
        ck_assert_int_eq(s.warmup, 7);
        schedule_text(&s, text, sizeof text);
        TEST_OK(schedule_parse(text, &back, &err), err);
        char again[64];
        back.warmup = 7;
        schedule_text(&back, again, sizeof again);
        ck_assert_str_eq(text, again);
        for (long t = 0; t < 30; t++)
            ck_assert_double_eq(schedule_rate(&s, 1, t, 2, 30), schedule_rate(&back, 1, t, 2, 30));
    }
    static const char *const bad[] = {"", "cos", "cosine:1", "step", "step:2", "step:0:0.5",
                                      "step:2:", "step:2:0", "step:2:-1", "step:2:x",
                                      "step:x:0.5", "onecycle ", "Cosine"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cnn_error err = {0};
        schedule s = {0};
        ck_assert_int_eq(schedule_parse(bad[i], &s, &err), CNN_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, "--lr-schedule") && strstr(err.msg, "step:E:G"),
                      "'%s': %s", bad[i], err.msg);
    }
    schedule s = {0};
    ck_assert(!schedule_needs_total(&s));
    cnn_error err = {0};
    TEST_OK(schedule_parse("cosine", &s, &err), err);
    ck_assert(schedule_needs_total(&s));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("schedule");
    tcase_add_test(tc, constant_and_step_are_pytorchs);
    tcase_add_test(tc, cosine_is_pytorchs);
    tcase_add_test(tc, onecycle_is_pytorchs);
    tcase_add_test(tc, warmup_hands_over_to_the_schedule);
    tcase_add_test(tc, short_runs_stay_finite);
    tcase_add_test(tc, texts_round_trip_and_bad_ones_are_refused);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
