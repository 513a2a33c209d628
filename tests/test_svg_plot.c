/* test_svg_plot.c: the training plot is well-formed XML (a structural check
 * here, and xmllint when the machine has it) with both panels, legend and
 * axis labels, for one epoch and for many, with the title escaped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idxfile.h"
#include "train/svg_plot.h"
#include "testutil.h"

static char path[4096];

static void setup(void)
{
    test_dir_create();
    snprintf(path, sizeof path, "%s/plot.svg", test_dir);
}

/* A run that learns: loss falls from ~2.3, accuracy rises towards 0.99;
 * logged without rates, as an older log is. */
static metrics_row *run(int count)
{
    metrics_row *rows = malloc((size_t)count * sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    for (int i = 0; i < count; i++) {
        double t = exp(-0.3 * i);
        rows[i] = (metrics_row){i + 1, 0.03 + 2.27 * t, 0.99 - 0.89 * t,
                                0.05 + 2.2 * t, 0.985 - 0.88 * t, 10.0, 6000.0, NAN};
    }
    return rows;
}

static char *slurp(void)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(fread(text, 1, (size_t)n, f), n);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int occurrences(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* Every '&' starts one of XML's five entities. */
static void check_entities(const char *s, const char *end)
{
    static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (const char *p = s; p < end && (p = memchr(p, '&', (size_t)(end - p))); p++) {
        int ok = 0;
        for (int i = 0; i < 5; i++)
            ok |= !strncmp(p, entities[i], strlen(entities[i]));
        ck_assert_msg(ok, "bare '&' at: %.20s", p);
    }
}

/* A structural XML check: one root element, tags nested and closed, no '<'
 * in text or '<'/'>' inside attribute values, only known entities. It does
 * not replace a parser, so xmllint runs too when it is installed. */
static void check_well_formed(const char *text)
{
    const char *p = text;
    if (!strncmp(p, "<?xml", 5)) {
        p = strstr(p, "?>");
        ck_assert_ptr_nonnull(p);
        p += 2;
    }
    char stack[64][32];
    int depth = 0, roots = 0;
    while (*p) {
        const char *lt = strchr(p, '<');
        const char *text_end = lt ? lt : p + strlen(p);
        check_entities(p, text_end);
        if (!lt)
            break;
        ck_assert_msg(depth > 0 || strspn(p, " \n") == (size_t)(lt - p),
                      "text outside the root element");
        const char *gt = lt + 1;
        char quote = 0;
        for (; *gt && (quote || *gt != '>'); gt++) {
            if (quote && (*gt == '<' || *gt == '>'))
                ck_assert_msg(0, "'%c' inside an attribute value", *gt);
            if (*gt == '"' || *gt == '\'')
                quote = quote == *gt ? 0 : quote ? quote : *gt;
        }
        ck_assert_msg(*gt == '>', "unclosed tag");
        check_entities(lt, gt);
        int closing = lt[1] == '/', empty = gt[-1] == '/';
        const char *name = lt + 1 + closing;
        size_t len = strcspn(name, " \n/>");
        ck_assert_msg(len > 0 && len < 32, "bad tag name at %.20s", lt);
        if (closing) {
            ck_assert_msg(depth > 0 && strlen(stack[depth - 1]) == len &&
                          !strncmp(stack[depth - 1], name, len),
                          "</%.*s> does not close <%s>", (int)len, name,
                          depth ? stack[depth - 1] : "");
            depth--;
        } else {
            roots += depth == 0;
            if (!empty) {
                ck_assert_int_lt(depth, 64);
                snprintf(stack[depth++], 32, "%.*s", (int)len, name);
            }
        }
        p = gt + 1;
    }
    ck_assert_int_eq(depth, 0);
    ck_assert_int_eq(roots, 1);
}

static void check_with_xmllint(void)
{
    if (system("command -v xmllint >/dev/null 2>&1") != 0)
        return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
    ck_assert_msg(system(cmd) == 0, "xmllint rejects %s", path);
}

/* What every plot must hold, whatever the data. */
static char *check_plot(int count)
{
    check_with_xmllint();
    char *svg = slurp();
    check_well_formed(svg);
    ck_assert_ptr_nonnull(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert_ptr_nonnull(strstr(svg, "viewBox="));
    ck_assert_ptr_nonnull(strstr(svg, "id=\"loss-panel\""));
    ck_assert_ptr_nonnull(strstr(svg, "id=\"accuracy-panel\""));
    ck_assert_int_eq(occurrences(svg, ">train</text>"), 2);
    ck_assert_int_eq(occurrences(svg, ">validation</text>"), 2);
    ck_assert_int_eq(occurrences(svg, ">epoch</text>"), 2);
    ck_assert_int_eq(occurrences(svg, ">loss</text>"), 1);
    ck_assert_int_eq(occurrences(svg, ">accuracy</text>"), 1);
    /* a marker on every value, and one per legend entry */
    ck_assert_int_eq(occurrences(svg, "<circle"), 4 * count + 4);
    ck_assert_int_eq(occurrences(svg, "stroke-dasharray"), 4); /* 2 lines, 2 legends */
    /* self-contained: nothing to run or fetch */
    ck_assert_ptr_null(strstr(svg, "<script"));
    ck_assert_ptr_null(strstr(svg, "href"));
    ck_assert_ptr_null(strstr(svg, "url("));
    ck_assert_ptr_null(strstr(svg, "nan"));
    ck_assert_ptr_null(strstr(svg, "inf"));
    return svg;
}

START_TEST(one_epoch)
{
    metrics_row *rows = run(1);
    cnn_error err = {0};
    TEST_OK(svg_plot_write(path, rows, 1, "one epoch", &err), err);
    char *svg = check_plot(1);
    ck_assert_int_eq(occurrences(svg, "<polyline class=\"train\""), 2);
    ck_assert_int_eq(occurrences(svg, "<polyline class=\"validation\""), 2);
    /* the one epoch is the one x tick */
    ck_assert_int_eq(occurrences(svg, "text-anchor=\"middle\">1</text>"), 2);
    free(svg);
    free(rows);
}
END_TEST

START_TEST(fifty_epochs)
{
    metrics_row *rows = run(50);
    cnn_error err = {0};
    TEST_OK(svg_plot_write(path, rows, 50, "fifty epochs", &err), err);
    char *svg = check_plot(50);
    ck_assert_int_eq(occurrences(svg, "<polyline class=\"train\""), 2);
    ck_assert_int_eq(occurrences(svg, "<polyline class=\"validation\""), 2);
    /* round ticks: epochs every 5, loss every 0.5, accuracy every 0.2 */
    ck_assert_ptr_nonnull(strstr(svg, ">50</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">25</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">2.5</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">0.0</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">1.0</text>"));
    ck_assert_ptr_null(strstr(svg, ">1.2</text>")); /* accuracy stops at 1 */
    free(svg);
    free(rows);
}
END_TEST

START_TEST(hundred_epochs_and_a_diverged_value)
{
    metrics_row *rows = run(100);
    rows[40].val_loss = NAN;
    rows[41].val_loss = INFINITY;
    cnn_error err = {0};
    TEST_OK(svg_plot_write(path, rows, 100, "hundred", &err), err);
    check_with_xmllint();
    char *svg = slurp();
    check_well_formed(svg);
    /* the validation loss line breaks around the missing values */
    ck_assert_int_eq(occurrences(svg, "<polyline class=\"validation\""), 3);
    ck_assert_int_eq(occurrences(svg, "<circle"), 4 * 100 - 2 + 4);
    ck_assert_ptr_nonnull(strstr(svg, ">100</text>"));
    free(svg);
    free(rows);
}
END_TEST

START_TEST(title_is_escaped)
{
    metrics_row *rows = run(3);
    cnn_error err = {0};
    TEST_OK(svg_plot_write(path, rows, 3, "a<b & \"c\" 'd'> </svg>\x01\xff caf\xc3\xa9",
                           &err), err);
    char *svg = check_plot(3);
    const char *want = "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt; &lt;/svg&gt;"
                       "\xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9";
    ck_assert_int_eq(occurrences(svg, want), 2); /* <title> and the heading */
    free(svg);
    free(rows);
}
END_TEST

/* A log with rates gets their panel too: one series, no legend, so the
 * loss and accuracy panels are as before. */
START_TEST(rates_get_their_own_panel)
{
    metrics_row *rows = run(10);
    for (int i = 0; i < 10; i++)
        rows[i].lr = 1e-3 * (1 + cos(M_PI * (i + 1) / 10)) / 2;
    cnn_error err = {0};
    TEST_OK(svg_plot_write(path, rows, 10, "cosine", &err), err);
    check_with_xmllint();
    char *svg = slurp();
    check_well_formed(svg);
    ck_assert_ptr_nonnull(strstr(svg, "id=\"lr-panel\""));
    ck_assert_ptr_nonnull(strstr(svg, "width=\"1500\""));
    ck_assert_ptr_nonnull(strstr(svg, ">Learning rate</text>"));
    ck_assert_int_eq(occurrences(svg, ">epoch</text>"), 3);
    ck_assert_int_eq(occurrences(svg, "<circle"), 5 * 10 + 4);
    ck_assert_int_eq(occurrences(svg, "<polyline class=\"train\""), 3);
    ck_assert_int_eq(occurrences(svg, ">train</text>"), 2);
    /* the rate's axis reads in its own units */
    ck_assert_ptr_nonnull(strstr(svg, ">0.0010</text>"));
    free(svg);
    free(rows);
}
END_TEST

START_TEST(no_rows_is_an_input_error)
{
    cnn_error err = {0};
    metrics_row r = {0};
    ck_assert_int_eq(svg_plot_write(path, &r, 0, "t", &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no epochs to plot"));
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("svg_plot");
    TCase *tc = tcase_create("svg_plot");
    tcase_add_checked_fixture(tc, setup, test_dir_remove);
    tcase_add_test(tc, one_epoch);
    tcase_add_test(tc, fifty_epochs);
    tcase_add_test(tc, hundred_epochs_and_a_diverged_value);
    tcase_add_test(tc, title_is_escaped);
    tcase_add_test(tc, rates_get_their_own_panel);
    tcase_add_test(tc, no_rows_is_an_input_error);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
