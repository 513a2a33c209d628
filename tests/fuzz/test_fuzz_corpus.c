/* test_fuzz_corpus.c: every fuzz target (targets.h) on every file of its
 * seed corpus, tests/fuzz/<name>/, and of its saved regressions,
 * tests/fuzz/regressions/<name>/: inputs a fuzzer once crashed a parser with
 * stay in the default suite. No input may crash, leak (under the sanitizer
 * build) or fail as a runtime error; a file named ok-* must parse and one
 * named bad-* must be refused as bad input.
 *
 * Usage: test_fuzz_corpus TESTS_FUZZ_DIR */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "targets.h"

static const char *corpus_root;

/* Runs target on every file of dir (which may be missing); returns how
 * many it ran. */
static int run_dir(const fuzz_entry *t, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        rewind(f);
        unsigned char *data = malloc(size ? (size_t)size : 1);
        ck_assert_ptr_nonnull(data);
        ck_assert_msg(fread(data, 1, (size_t)size, f) == (size_t)size, "reading %s", path);
        fclose(f);
        /* Named before it runs, so a crash's log says which input it was. */
        fprintf(stderr, "%s: %s\n", t->name, path);
        cnn_status s = t->run(data, (size_t)size);
        free(data);
        ck_assert_msg(s != CNN_ERR_RUNTIME, "%s: runtime error", path);
        if (!strncmp(e->d_name, "ok-", 3))
            ck_assert_msg(s == CNN_OK, "%s: refused, but it is a valid input", path);
        if (!strncmp(e->d_name, "bad-", 4))
            ck_assert_msg(s == CNN_ERR_INPUT, "%s: accepted, but it is bad input", path);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(corpus)
{
    const fuzz_entry *t = &fuzz_targets[_i];
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", corpus_root, t->name);
    int seeds = run_dir(t, dir);
    snprintf(dir, sizeof dir, "%s/regressions/%s", corpus_root, t->name);
    run_dir(t, dir);
    ck_assert_msg(seeds > 0, "%s: no seed corpus in %s/%s", t->name, corpus_root,
                  t->name);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: test_fuzz_corpus TESTS_FUZZ_DIR\n", stderr);
        return 2;
    }
    corpus_root = argv[1];
    Suite *s = suite_create("fuzz_corpus");
    TCase *tc = tcase_create("fuzz_corpus");
    tcase_add_loop_test(tc, corpus, 0, fuzz_target_count);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
