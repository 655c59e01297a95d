/* SPDX-License-Identifier: MIT */
/*
 * DESIGN
 *
 * A set is one allocation: a count, a masked description and the SHA-256 digests of its
 * distinct keys. It is never written after parsing, so any number of loops may read it.
 *
 * The holder publishes the current set through an atomic pointer. Main swaps in a new set with
 * an exchange and keeps the old one on a retired list (main only). The question is when a retired
 * set may be freed: a loop may have loaded the old pointer just before the exchange and still be
 * comparing digests. Each check therefore brackets its use of the set with a shared in_flight
 * counter: increment, load the pointer, compare, decrement. Main frees the retired sets only when
 * it reads in_flight == 0 after the exchange that retired them. That is sufficient: every
 * operation on the two atomics is seq_cst, so in their single total order a check that loaded an
 * old pointer did its load before the exchange, its increment (earlier in program order) before
 * that, and main's read of the counter after the exchange therefore sees the check counted unless
 * it has already decremented, i.e. finished with the set. A zero reading proves no check holds any
 * set retired before it; checks that start later load the new pointer. This is the Dekker pattern
 * (write one variable, then read the other side's), which needs seq_cst, not acquire/release; the
 * decrement is seq_cst too so the counter's modification order stays inside the total order.
 *
 * The bound: a check is a few microseconds, so main almost always reads zero at once and frees the
 * old set in apikeys_replace. Under constant traffic it may not; the set is then kept and freed by
 * the next replace or apikeys_reclaim that reads zero. Retired memory is at most the sets retired
 * since the last zero reading, each at most APIKEYS_MAX * 32 bytes plus a header, and never more
 * than one set per reload. The hot path costs two atomic read-modify-writes on one shared line
 * and takes no lock; no loop ever waits for main, and main never waits either.
 *
 * Why libcrypto: SHA-256 and constant-time comparison are easy to get subtly wrong (padding,
 * length encoding, compilers turning a careful loop back into an early exit). OpenSSL is already
 * linked through libh2o, is reviewed and tested against the NIST vectors, and its CRYPTO_memcmp
 * is written so the optimiser cannot short-circuit it. Hashing first also makes the compare
 * independent of the key's length and content: every comparison is 32 bytes.
 */
#include "api/apikeys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/err.h"
#include "common/ows.h"

#define DIGEST_LEN SHA256_DIGEST_LENGTH

/* Thread: frozen once parsed; retired_next belongs to the holder's main thread. */
struct apikeys_set {
    struct apikeys_set *retired_next;
    size_t count;
    char desc[APIKEYS_DESC_MAX];
    uint8_t digests[][DIGEST_LEN];
};

/* Thread: in_flight and current any (atomics); retired and retired_count main only. */
struct apikeys {
    _Atomic size_t in_flight;         /* checks between their increment and decrement */
    _Atomic(apikeys_set_t *) current; /* never NULL */
    apikeys_set_t *retired;           /* sets swapped out and not yet freed */
    size_t retired_count;
};

/* Digests collected while parsing. Thread: the parsing thread. */
typedef struct builder {
    uint8_t (*digests)[DIGEST_LEN];
    size_t count; /* distinct keys */
    size_t read;  /* keys read, duplicates included */
} builder_t;

/* Printable ASCII except space (never inside a token) and ',' (the list separator). */
static bool is_key_char(char c)
{
    return c > ' ' && c <= '~' && c != ',';
}

/* Validates one key, whose place `where` ("API_KEYS item 2") is named in errors instead of the
 * text, hashes it and adds the digest unless it is already there. */
static int add_key(builder_t *b, const char *key, size_t len, const char *field, const char *where,
                   err_t *err)
{
    if (len == 0)
        return err_set(err, ERR_PARSE, field, "%s is empty", where);
    for (size_t i = 0; i < len; i++)
        if (!is_key_char(key[i]))
            return err_set(err, ERR_PARSE, field,
                           "%s: byte %zu is not allowed in a key (printable ASCII without "
                           "spaces or commas)",
                           where, i + 1);
    if (len < APIKEYS_KEY_MIN || len > APIKEYS_KEY_MAX)
        return err_set(err, ERR_PARSE, field, "%s is %zu bytes; a key has %d..%d", where, len,
                       APIKEYS_KEY_MIN, APIKEYS_KEY_MAX);
    if (++b->read > APIKEYS_MAX)
        return err_set(err, ERR_RANGE, field, "more than %d keys (at %s)", APIKEYS_MAX, where);
    uint8_t d[DIGEST_LEN];
    SHA256((const unsigned char *)key, len, d);
    for (size_t i = 0; i < b->count; i++)
        if (memcmp(b->digests[i], d, DIGEST_LEN) == 0)
            return 0; /* a duplicate; building is not a timing target */
    memcpy(b->digests[b->count++], d, DIGEST_LEN);
    return 0;
}

static bool has_item(const char *list)
{
    if (list == NULL)
        return false;
    for (; *list != '\0'; list++)
        if (!ows_is(*list))
            return true;
    return false;
}

static int parse_list(builder_t *b, const char *list, err_t *err)
{
    char where[48];
    size_t item = 1;
    for (const char *p = list;; item++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *key = ows_trim(p, &len);
        snprintf(where, sizeof(where), "API_KEYS item %zu", item);
        int rc = add_key(b, key, len, "API_KEYS", where, err);
        if (rc < 0)
            return rc;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

static int parse_file(builder_t *b, const char *text, size_t text_len, const char *name, err_t *err)
{
    char where[APIKEYS_DESC_MAX + 32];
    size_t line = 1;
    for (size_t at = 0; at < text_len; line++) {
        const char *nl = memchr(text + at, '\n', text_len - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : text_len - at;
        const char *s = text + at;
        at += len + 1;
        while (len > 0 && (s[len - 1] == '\r' || ows_is(s[len - 1])))
            len--;
        s = ows_trim(s, &len);
        if (len == 0 || s[0] == '#')
            continue;
        snprintf(where, sizeof(where), "%s line %zu", name, line);
        int rc = add_key(b, s, len, "API_KEYS_FILE", where, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int apikeys_set_parse(const char *list, const char *file_text, size_t file_len,
                      const char *file_name, apikeys_set_t **out, err_t *err)
{
    ASSERT(out != NULL);
    ASSERT(file_text != NULL || file_len == 0);
    *out = NULL;
    const char *name = file_name ? file_name : "API_KEYS_FILE";
    bool from_list = has_item(list);
    builder_t b = {.digests = xmalloc((size_t)APIKEYS_MAX * DIGEST_LEN)};
    int rc = from_list ? parse_list(&b, list, err) : 0;
    if (rc == 0 && file_text != NULL)
        rc = parse_file(&b, file_text, file_len, name, err);
    if (rc < 0)
        goto out;

    apikeys_set_t *set = xmalloc(sizeof(*set) + b.count * DIGEST_LEN);
    set->retired_next = NULL;
    set->count = b.count;
    memcpy(set->digests, b.digests, b.count * DIGEST_LEN);
    const char *sep = from_list && file_text ? " and " : "";
    snprintf(set->desc, sizeof(set->desc), "%zu key%s (from %s%s%s)", b.count,
             b.count == 1 ? "" : "s", from_list ? "API_KEYS" : "", sep, file_text ? name : "");
    if (!from_list && file_text == NULL)
        snprintf(set->desc, sizeof(set->desc), "0 keys (no source)");
    *out = set;
out:
    OPENSSL_cleanse(b.digests, (size_t)APIKEYS_MAX * DIGEST_LEN);
    free(b.digests);
    return rc;
}

/* Reads at most APIKEYS_FILE_MAX bytes of path into an owned buffer. */
static int read_file(const char *path, char **text, size_t *len, err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ERR_IO, "API_KEYS_FILE", "cannot open %s: %s", path, strerror(errno));
    char *buf = xmalloc((size_t)APIKEYS_FILE_MAX + 1);
    size_t n = 0;
    int rc = 0;
    while (n <= APIKEYS_FILE_MAX) {
        ssize_t r = read(fd, buf + n, (size_t)APIKEYS_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = err_set(err, ERR_IO, "API_KEYS_FILE", "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == 0 && n > APIKEYS_FILE_MAX)
        rc = err_set(err, ERR_RANGE, "API_KEYS_FILE", "%s is larger than %d bytes", path,
                     APIKEYS_FILE_MAX);
    if (rc < 0) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

int apikeys_set_load(const char *list, const char *path, apikeys_set_t **out, err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (path != NULL) {
        int rc = read_file(path, &text, &len, err);
        if (rc < 0)
            return rc;
    }
    int rc = apikeys_set_parse(list, text, len, path, out, err);
    if (text != NULL) {
        OPENSSL_cleanse(text, len); /* the keys themselves: do not leave them in freed memory */
        free(text);
    }
    return rc;
}

void apikeys_set_destroy(apikeys_set_t *set)
{
    free(set);
}

size_t apikeys_set_count(const apikeys_set_t *set)
{
    return set ? set->count : 0;
}

bool apikeys_set_has(const apikeys_set_t *set, const char *key, size_t key_len)
{
    /* The length bounds are public, so refusing early reveals nothing secret. */
    if (set == NULL || key == NULL || key_len == 0 || key_len > APIKEYS_KEY_MAX)
        return false;
    uint8_t d[DIGEST_LEN];
    SHA256((const unsigned char *)key, key_len, d);
    /* Every digest is compared, whatever matched before: the time depends on count alone. */
    unsigned found = 0;
    for (size_t i = 0; i < set->count; i++)
        found |= (unsigned)(CRYPTO_memcmp(set->digests[i], d, DIGEST_LEN) == 0);
    OPENSSL_cleanse(d, sizeof(d));
    return found != 0;
}

const char *apikeys_set_describe(const apikeys_set_t *set)
{
    return set ? set->desc : "no key set";
}

apikeys_t *apikeys_create(apikeys_set_t *set)
{
    ASSERT(set != NULL);
    apikeys_t *k = xcalloc(1, sizeof(*k));
    atomic_init(&k->in_flight, 0);
    atomic_init(&k->current, set);
    return k;
}

/* Frees the retired list. Main only, and only after in_flight was read as 0 (or no loop runs). */
static void free_retired(apikeys_t *k)
{
    while (k->retired != NULL) {
        apikeys_set_t *next = k->retired->retired_next;
        apikeys_set_destroy(k->retired);
        k->retired = next;
    }
    k->retired_count = 0;
}

void apikeys_destroy(apikeys_t *k)
{
    if (k == NULL)
        return;
    ASSERT(atomic_load(&k->in_flight) == 0);
    free_retired(k);
    apikeys_set_destroy(atomic_load(&k->current));
    free(k);
}

size_t apikeys_reclaim(apikeys_t *k)
{
    /* seq_cst: must not be ordered before the exchange in apikeys_replace (see DESIGN). It is
     * also an acquire of the checks' decrements, so their reads happen before the frees. */
    if (k->retired != NULL && atomic_load(&k->in_flight) == 0)
        free_retired(k);
    return k->retired_count;
}

void apikeys_replace(apikeys_t *k, apikeys_set_t *set)
{
    ASSERT(set != NULL);
    set->retired_next = NULL;
    apikeys_set_t *old = atomic_exchange(&k->current, set); /* seq_cst: see DESIGN */
    old->retired_next = k->retired;
    k->retired = old;
    k->retired_count++;
    apikeys_reclaim(k);
}

/* Enters a check: the returned set stays valid until leave(). */
static const apikeys_set_t *enter(apikeys_t *k)
{
    /* Both seq_cst: the increment must be ordered before the load (DESIGN). */
    atomic_fetch_add(&k->in_flight, 1);
    return atomic_load(&k->current);
}

static void leave(apikeys_t *k)
{
    /* seq_cst (so at least release): pairs with the load in apikeys_reclaim, so our reads of the
     * set happen before main frees it. */
    atomic_fetch_sub(&k->in_flight, 1);
}

bool apikeys_check(apikeys_t *k, const char *key, size_t key_len)
{
    const apikeys_set_t *set = enter(k);
    bool ok = apikeys_set_has(set, key, key_len);
    leave(k);
    return ok;
}

size_t apikeys_count(apikeys_t *k)
{
    size_t n = apikeys_set_count(enter(k));
    leave(k);
    return n;
}

char *apikeys_describe(apikeys_t *k, char *buf, size_t buf_len)
{
    snprintf(buf, buf_len, "%s", apikeys_set_describe(enter(k)));
    leave(k);
    return buf;
}

static bool has_prefix_ci(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* Finds the token of an Authorization value: "Bearer" SP+ token. */
static int bearer_token(const char *v, size_t len, const char **key, size_t *key_len)
{
    v = ows_trim(v, &len);
    if (!has_prefix_ci(v, len, "bearer") || len == 6 || !ows_is(v[6]))
        return ERR_PARSE; /* another scheme, "Bearerxyz", or no token */
    size_t n = len - 6;
    const char *t = ows_trim(v + 6, &n);
    if (n == 0)
        return ERR_PARSE;
    *key = t;
    *key_len = n;
    return 0;
}

int apikeys_presented(const char *authorization, size_t authorization_len, const char *x_api_key,
                      size_t x_api_key_len, const char **key, size_t *key_len)
{
    const char *a = NULL, *x = NULL;
    size_t a_len = 0, x_len = x_api_key_len;
    *key = NULL;
    *key_len = 0;
    if (authorization == NULL && x_api_key == NULL)
        return ERR_EMPTY;
    if (authorization != NULL && bearer_token(authorization, authorization_len, &a, &a_len) < 0)
        return ERR_PARSE;
    if (x_api_key != NULL) {
        x = ows_trim(x_api_key, &x_len);
        if (x_len == 0)
            return ERR_PARSE;
    }
    const char *k = a ? a : x;
    size_t n = a ? a_len : x_len;
    /* Two attacker-supplied values compared with each other: plain memcmp reveals nothing. */
    if (a != NULL && x != NULL && (a_len != x_len || memcmp(a, x, a_len) != 0))
        return ERR_PARSE;
    for (size_t i = 0; i < n; i++)
        if (ows_is(k[i]))
            return ERR_PARSE;
    *key = k;
    *key_len = n;
    return 0;
}
