/* SPDX-License-Identifier: MIT */
#include "api/apikeys.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

#include "unit_main.h"

#define K1 "k1-0123456789abcdef"
#define K2 "K2_ABCDEFGHIJKLMNOP"
#define K3 "k3.~!@#$%^&*()[]{}<>?/|"

static apikeys_set_t *parse_ok(const char *list, const char *file, const char *name)
{
    apikeys_set_t *set = NULL;
    err_t err = {0};
    int rc = apikeys_set_parse(list, file, file ? strlen(file) : 0, name, &set, &err);
    ck_assert_str_eq(err.msg, "");
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(set);
    return set;
}

/* Parses input that must fail with code; returns the message in a static buffer. */
static const char *parse_fails(const char *list, const char *file, int code)
{
    static err_t err;
    apikeys_set_t *set = (apikeys_set_t *)&err; /* must be reset to NULL */
    err_clear(&err);
    int rc = apikeys_set_parse(list, file, file ? strlen(file) : 0, "keys.txt", &set, &err);
    ck_assert_int_eq(rc, code);
    ck_assert_int_eq(err.code, code);
    ck_assert_ptr_null(set);
    return err.msg;
}

/* Writes text to a new temporary file whose path is stored in path (at least 64 bytes). */
static void temp_file(char *path, const char *text, size_t len)
{
    strcpy(path, "/tmp/test_apikeys_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static bool has(const apikeys_set_t *set, const char *key)
{
    return apikeys_set_has(set, key, strlen(key));
}

START_TEST(test_apikeys_parse_list)
{
    apikeys_set_t *set = parse_ok(K1 ", " K2 " ,\t" K3 "  ", NULL, NULL);
    ck_assert_uint_eq(apikeys_set_count(set), 3);
    ck_assert_str_eq(apikeys_set_describe(set), "3 keys (from API_KEYS)");
    ck_assert(has(set, K1));
    ck_assert(has(set, K2));
    ck_assert(has(set, K3));
    apikeys_set_destroy(set);

    set = parse_ok(K1, NULL, NULL);
    ck_assert_str_eq(apikeys_set_describe(set), "1 key (from API_KEYS)");
    apikeys_set_destroy(set);
}
END_TEST

START_TEST(test_apikeys_parse_duplicates_count_once)
{
    apikeys_set_t *set = parse_ok(K1 "," K2 "," K1, K2 "\n", "/etc/keys");
    ck_assert_uint_eq(apikeys_set_count(set), 2);
    ck_assert_str_eq(apikeys_set_describe(set), "2 keys (from API_KEYS and /etc/keys)");
    apikeys_set_destroy(set);
}
END_TEST

START_TEST(test_apikeys_parse_no_source_is_empty)
{
    const char *lists[] = {NULL, "", "   \t "};
    for (size_t i = 0; i < 3; i++) {
        apikeys_set_t *set = parse_ok(lists[i], NULL, NULL);
        ck_assert_uint_eq(apikeys_set_count(set), 0);
        ck_assert_str_eq(apikeys_set_describe(set), "0 keys (no source)");
        ck_assert(!has(set, K1));
        apikeys_set_destroy(set);
    }
    apikeys_set_t *set = parse_ok("  ", "# only a comment\n\n", "/k");
    ck_assert_str_eq(apikeys_set_describe(set), "0 keys (from /k)");
    apikeys_set_destroy(set);
}
END_TEST

START_TEST(test_apikeys_parse_file_format)
{
    const char *text = "# production keys\r\n"
                       "\n" K1 "\r\n"
                       "   \t\n"
                       "  " K2 "  \t\r\n"
                       "   # indented comment\n" K3; /* no final newline */
    apikeys_set_t *set = parse_ok(NULL, text, NULL);
    ck_assert_uint_eq(apikeys_set_count(set), 3);
    ck_assert_str_eq(apikeys_set_describe(set), "3 keys (from API_KEYS_FILE)");
    ck_assert(has(set, K1));
    ck_assert(has(set, K2));
    ck_assert(has(set, K3));
    ck_assert(!has(set, "# production keys"));
    apikeys_set_destroy(set);
}
END_TEST

START_TEST(test_apikeys_parse_empty_items_fail)
{
    ck_assert_ptr_nonnull(strstr(parse_fails(K1 ",," K2, NULL, ERR_PARSE), "item 2 is empty"));
    ck_assert_ptr_nonnull(strstr(parse_fails(K1 ",", NULL, ERR_PARSE), "item 2 is empty"));
    ck_assert_ptr_nonnull(strstr(parse_fails(", " K1, NULL, ERR_PARSE), "item 1 is empty"));
    ck_assert_ptr_nonnull(strstr(parse_fails(" , ", NULL, ERR_PARSE), "item 1 is empty"));
}
END_TEST

START_TEST(test_apikeys_parse_length_bounds)
{
    char key[APIKEYS_KEY_MAX + 2];
    memset(key, 'a', sizeof(key));
    key[APIKEYS_KEY_MIN - 1] = '\0';
    ck_assert_ptr_nonnull(strstr(parse_fails(key, NULL, ERR_PARSE), "item 1 is 15 bytes"));
    key[APIKEYS_KEY_MIN - 1] = 'a';
    key[APIKEYS_KEY_MIN] = '\0';
    apikeys_set_destroy(parse_ok(key, NULL, NULL));
    key[APIKEYS_KEY_MIN] = 'a';
    key[APIKEYS_KEY_MAX] = '\0';
    apikeys_set_t *set = parse_ok(key, NULL, NULL);
    ck_assert(has(set, key));
    apikeys_set_destroy(set);
    key[APIKEYS_KEY_MAX] = 'a';
    key[APIKEYS_KEY_MAX + 1] = '\0';
    ck_assert_ptr_nonnull(strstr(parse_fails(key, NULL, ERR_PARSE), "257 bytes"));
    const char *msg = parse_fails(NULL, "\n\nshort-key\n", ERR_PARSE);
    ck_assert_str_eq(msg, "keys.txt line 3 is 9 bytes; a key has 16..256");
}
END_TEST

START_TEST(test_apikeys_parse_bad_characters)
{
    const char *bad[] = {"abcdefgh ijklmnopq", "abcdefgh\tijklmnopq", "abcdefgh\x7fijklmnopq",
                         "abcdefgh\xc3\xa9ijklmnopq", "abcdefgh\x01ijklmnopq"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_ptr_nonnull(strstr(parse_fails(bad[i], NULL, ERR_PARSE), "byte 9 is not"));
    const char *msg = parse_fails(NULL, K1 "\n" K2 " # trailing comment\n", ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(msg, "keys.txt line 2: byte 20 is not allowed"));
    /* A NUL inside the file is a bad byte, not the end of the text. */
    apikeys_set_t *set = (apikeys_set_t *)&msg;
    err_t err = {0};
    ck_assert_int_eq(apikeys_set_parse(NULL, K1 "\0xx\n", sizeof(K1) + 3, NULL, &set, &err),
                     ERR_PARSE);
    ck_assert_ptr_null(set);
    ck_assert_str_eq(err.field, "API_KEYS_FILE");
}
END_TEST

START_TEST(test_apikeys_parse_too_many_keys)
{
    size_t cap = (size_t)(APIKEYS_MAX + 1) * 18 + 1;
    char *list = malloc(cap);
    size_t at = 0;
    for (int i = 0; i < APIKEYS_MAX; i++)
        at += (size_t)snprintf(list + at, cap - at, "%skey-%012d", i ? "," : "", i);
    apikeys_set_t *set = parse_ok(list, NULL, NULL);
    ck_assert_uint_eq(apikeys_set_count(set), APIKEYS_MAX);
    ck_assert(has(set, "key-000000001023"));
    ck_assert(!has(set, "key-000000001024"));
    apikeys_set_destroy(set);
    snprintf(list + at, cap - at, ",key-%012d", APIKEYS_MAX);
    ck_assert_ptr_nonnull(strstr(parse_fails(list, NULL, ERR_RANGE), "more than 1024 keys"));
    free(list);
}
END_TEST

START_TEST(test_apikeys_load_file)
{
    char path[64];
    const char *text = "# keys\n" K2 "\n" K3 "\n";
    temp_file(path, text, strlen(text));
    apikeys_set_t *set = NULL;
    err_t err = {0};
    ck_assert_int_eq(apikeys_set_load(K1, path, &set, &err), 0);
    ck_assert_uint_eq(apikeys_set_count(set), 3);
    char want[128];
    snprintf(want, sizeof(want), "3 keys (from API_KEYS and %s)", path);
    ck_assert_str_eq(apikeys_set_describe(set), want);
    apikeys_set_destroy(set);

    text = K2 "\nnot a key at all\n";
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(apikeys_set_load(NULL, path, &set, &err), ERR_PARSE);
    snprintf(want, sizeof(want), "%s line 2: byte 4 is not allowed", path);
    ck_assert_ptr_nonnull(strstr(err.msg, want));
    unlink(path);

    ck_assert_int_eq(apikeys_set_load(NULL, path, &set, &err), ERR_IO);
    ck_assert_ptr_null(set);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_str_eq(err.field, "API_KEYS_FILE");
}
END_TEST

START_TEST(test_apikeys_load_file_too_large)
{
    size_t len = APIKEYS_FILE_MAX + 1;
    char *text = malloc(len);
    memset(text, '#', len);
    char over[64], exact[64];
    temp_file(over, text, len);
    temp_file(exact, text, len - 1); /* exactly the limit: all one comment line */
    apikeys_set_t *set = NULL;
    err_t err = {0};
    ck_assert_int_eq(apikeys_set_load(NULL, over, &set, &err), ERR_RANGE);
    ck_assert_ptr_null(set);
    ck_assert_int_eq(apikeys_set_load(NULL, exact, &set, &err), 0);
    ck_assert_uint_eq(apikeys_set_count(set), 0);
    apikeys_set_destroy(set);
    unlink(over);
    unlink(exact);
    free(text);
}
END_TEST

START_TEST(test_apikeys_errors_never_show_key_text)
{
    const char *lists[] = {"SECRETSECRETSECRET,SECRET", "SECRETSECRET SECRET",
                           "SECRET\x01SECRETSECRET", "SECRETSECRET,,SECRETSECRET"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const char *msg = parse_fails(lists[i], NULL, ERR_PARSE);
        ck_assert_ptr_null(strstr(msg, "SECRET"));
        msg = parse_fails(NULL, lists[i], ERR_PARSE);
        ck_assert_ptr_null(strstr(msg, "SECRET"));
    }
}
END_TEST

START_TEST(test_apikeys_match)
{
    apikeys_set_t *set = parse_ok(K1 "," K2, NULL, NULL);
    ck_assert(has(set, K1));
    ck_assert(has(set, K2));
    ck_assert(!has(set, K3));
    ck_assert(!apikeys_set_has(set, K1, strlen(K1) - 1)); /* prefix */
    ck_assert(!has(set, K1 "x"));                         /* key plus a byte */
    ck_assert(!has(set, "x" K1));                         /* byte plus key */
    ck_assert(!has(set, "k1-0123456789abcdeF"));          /* one case flipped */
    ck_assert(!apikeys_set_has(set, "", 0));              /* empty */
    ck_assert(!apikeys_set_has(set, NULL, 0));            /* absent */
    ck_assert(!apikeys_set_has(NULL, K1, strlen(K1)));    /* no set */
    char long_key[APIKEYS_KEY_MAX + 1];
    memset(long_key, 'a', sizeof(long_key));
    ck_assert(!apikeys_set_has(set, long_key, sizeof(long_key)));
    apikeys_set_destroy(set);
}
END_TEST

START_TEST(test_apikeys_holder_replace)
{
    apikeys_t *k = apikeys_create(parse_ok(K1, NULL, NULL));
    char buf[APIKEYS_DESC_MAX];
    ck_assert(apikeys_check(k, K1, strlen(K1)));
    ck_assert(!apikeys_check(k, K2, strlen(K2)));
    ck_assert_uint_eq(apikeys_count(k), 1);
    apikeys_replace(k, parse_ok(K2 "," K3, NULL, NULL));
    ck_assert_uint_eq(apikeys_reclaim(k), 0); /* no check in flight: freed at once */
    ck_assert(!apikeys_check(k, K1, strlen(K1)));
    ck_assert(apikeys_check(k, K3, strlen(K3)));
    ck_assert_uint_eq(apikeys_count(k), 2);
    ck_assert_str_eq(apikeys_describe(k, buf, sizeof(buf)), "2 keys (from API_KEYS)");
    ck_assert_str_eq(apikeys_describe(k, buf, 7), "2 keys");
    apikeys_destroy(k);
    apikeys_destroy(NULL);
}
END_TEST

/* (authorization, x-api-key) → expected code and key; NULL means the header is absent. */
typedef struct presented_case {
    const char *auth;
    const char *xkey;
    int rc;
    const char *key;
} presented_case_t;

START_TEST(test_apikeys_presented_table)
{
    static const presented_case_t cases[] = {
        {"Bearer " K1, NULL, 0, K1},
        {"bearer " K1, NULL, 0, K1},
        {"BEARER " K1, NULL, 0, K1},
        {"BeArEr " K1, NULL, 0, K1},
        {"Bearer    " K1, NULL, 0, K1},
        {"  Bearer \t " K1 " \t", NULL, 0, K1},
        {K1, NULL, ERR_PARSE, NULL}, /* no scheme */
        {"Basic dXNlcjpwYXNzd29yZA==", NULL, ERR_PARSE, NULL},
        {"Token " K1, NULL, ERR_PARSE, NULL},
        {"Bearer" K1, NULL, ERR_PARSE, NULL}, /* no space */
        {"Bearer", NULL, ERR_PARSE, NULL},
        {"Bearer    ", NULL, ERR_PARSE, NULL},
        {"", NULL, ERR_PARSE, NULL},
        {"Bearer " K1 " " K2, NULL, ERR_PARSE, NULL}, /* space inside */
        {NULL, K1, 0, K1},
        {NULL, "  " K1 "\t", 0, K1},
        {NULL, "", ERR_PARSE, NULL},
        {NULL, K1 " " K2, ERR_PARSE, NULL},
        {"Bearer " K1, K1, 0, K1}, /* both agree */
        {"bearer  " K1, " " K1, 0, K1},
        {"Bearer " K1, K2, ERR_PARSE, NULL}, /* both disagree */
        {"Bearer " K1, K1 "x", ERR_PARSE, NULL},
        {"Basic dXNlcg==", K1, ERR_PARSE, NULL}, /* another scheme beside a key */
        {NULL, NULL, ERR_EMPTY, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const presented_case_t *c = &cases[i];
        const char *key = "unset";
        size_t len = 5;
        int rc = apikeys_presented(c->auth, c->auth ? strlen(c->auth) : 0, c->xkey,
                                   c->xkey ? strlen(c->xkey) : 0, &key, &len);
        /* One string per case, so a failure names the case and shows both sides. */
        char got[400], want[400];
        if (key == NULL)
            snprintf(got, sizeof(got), "case %zu: rc %d no key, len %zu", i, rc, len);
        else
            snprintf(got, sizeof(got), "case %zu: rc %d key [%.*s]", i, rc, (int)len, key);
        if (c->key == NULL)
            snprintf(want, sizeof(want), "case %zu: rc %d no key, len 0", i, c->rc);
        else
            snprintf(want, sizeof(want), "case %zu: rc %d key [%s]", i, c->rc, c->key);
        ck_assert_str_eq(got, want);
    }
}
END_TEST

START_TEST(test_apikeys_presented_reads_only_len_bytes)
{
    const char auth[] = "Bearer " K1 "GARBAGE";
    const char *key;
    size_t len;
    ck_assert_int_eq(apikeys_presented(auth, strlen("Bearer " K1), NULL, 0, &key, &len), 0);
    ck_assert_uint_eq(len, strlen(K1));
    ck_assert_ptr_eq(key, auth + 7);
}
END_TEST

typedef struct reader {
    apikeys_t *keys;
    atomic_bool *stop;
    long checks;
    long failures; /* K1 is in every set: a refusal is a bug */
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    while (!atomic_load(r->stop)) {
        r->failures += !apikeys_check(r->keys, K1, strlen(K1));
        (void)apikeys_check(r->keys, K2, strlen(K2)); /* in every other set */
        r->failures += apikeys_count(r->keys) < 1;
        r->checks++;
    }
    return NULL;
}

START_TEST(test_apikeys_swap_while_checking)
{
    enum { READERS = 3, SWAPS = 3000 };
    atomic_bool stop = false;
    apikeys_t *k = apikeys_create(parse_ok(K1, NULL, NULL));
    reader_t readers[READERS];
    pthread_t tids[READERS];
    for (int i = 0; i < READERS; i++) {
        readers[i] = (reader_t){.keys = k, .stop = &stop};
        ck_assert_int_eq(pthread_create(&tids[i], NULL, reader_main, &readers[i]), 0);
    }
    for (int i = 0; i < SWAPS; i++)
        apikeys_replace(k, parse_ok(i % 2 ? K1 "," K2 : K3 "," K1, NULL, NULL));
    atomic_store(&stop, true);
    long checks = 0;
    for (int i = 0; i < READERS; i++) {
        ck_assert_int_eq(pthread_join(tids[i], NULL), 0);
        ck_assert_int_eq(readers[i].failures, 0);
        checks += readers[i].checks;
    }
    ck_assert_int_gt(checks, 0);
    ck_assert_uint_eq(apikeys_reclaim(k), 0); /* no check in flight any more */
    ck_assert_uint_eq(apikeys_count(k), 2);
    apikeys_destroy(k);
}
END_TEST

static Suite *apikeys_suite(void)
{
    Suite *s = suite_create("apikeys");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_apikeys_parse_list);
    tcase_add_test(tc, test_apikeys_parse_duplicates_count_once);
    tcase_add_test(tc, test_apikeys_parse_no_source_is_empty);
    tcase_add_test(tc, test_apikeys_parse_file_format);
    tcase_add_test(tc, test_apikeys_parse_empty_items_fail);
    tcase_add_test(tc, test_apikeys_parse_length_bounds);
    tcase_add_test(tc, test_apikeys_parse_bad_characters);
    tcase_add_test(tc, test_apikeys_parse_too_many_keys);
    tcase_add_test(tc, test_apikeys_errors_never_show_key_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_add_test(tc, test_apikeys_load_file);
    tcase_add_test(tc, test_apikeys_load_file_too_large);
    suite_add_tcase(s, tc);

    tc = tcase_create("match");
    tcase_add_test(tc, test_apikeys_match);
    tcase_add_test(tc, test_apikeys_holder_replace);
    suite_add_tcase(s, tc);

    tc = tcase_create("presented");
    tcase_add_test(tc, test_apikeys_presented_table);
    tcase_add_test(tc, test_apikeys_presented_reads_only_len_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("swap");
    tcase_set_timeout(tc, 240); /* ThreadSanitizer on two cores is the slow case */
    tcase_add_test(tc, test_apikeys_swap_while_checking);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(apikeys_suite)
