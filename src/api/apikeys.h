/* SPDX-License-Identifier: MIT */
/*
 * API keys (DESIGN §2a): an immutable set of SHA-256 digests parsed from API_KEYS and/or the text
 * of API_KEYS_FILE, and a holder that loop threads check presented keys against while main swaps
 * in a re-read set on SIGHUP. Only digests are stored; no key or digest is ever printed.
 * Thread: a set is built on main and frozen; apikeys_check/count/describe are any-thread and
 * lock-free; create, replace, reclaim and destroy are main only.
 * Invariant: a set a loop may still be reading is never freed (see the DESIGN note in the .c).
 */
#ifndef AT_API_APIKEYS_H
#define AT_API_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define APIKEYS_KEY_MIN  16   /* bytes; shorter keys are guessable: a configuration error */
#define APIKEYS_KEY_MAX  256  /* bytes; longer presented keys are refused without hashing */
#define APIKEYS_MAX      1024 /* keys per set, both sources together, before de-duplication */
#define APIKEYS_FILE_MAX (1024 * 1024) /* bytes of API_KEYS_FILE */
#define APIKEYS_DESC_MAX 256           /* bytes of a description, NUL included */

typedef struct apikeys_set apikeys_set_t; /* immutable digests; Thread: frozen once built */
typedef struct apikeys apikeys_t;         /* the live set; Thread: see the header comment */

/* Parses the keys of list (API_KEYS: comma-separated, spaces/tabs around items ignored, an empty
 * item is an error; NULL, "" or only spaces means no keys from it) and of file_text[0..file_len)
 * (API_KEYS_FILE's content, NULL for none: one key per line, surrounding spaces/tabs and the
 * CR/LF trimmed, blank lines and lines whose first non-space byte is '#' skipped). A key is
 * APIKEYS_KEY_MIN..APIKEYS_KEY_MAX bytes of printable ASCII other than space and ','. Duplicates
 * count once. file_name (may be NULL) names the file in messages and the description.
 * On success stores an owned set in *out (possibly with 0 keys, which admits nothing) and returns
 * 0; else ERR_PARSE (bad item: err names the item or line, never its text), ERR_RANGE (more than
 * APIKEYS_MAX keys), with err->field "API_KEYS" or "API_KEYS_FILE". Thread: any (pure). */
int apikeys_set_parse(const char *list, const char *file_text, size_t file_len,
                      const char *file_name, apikeys_set_t **out, err_t *err);

/* Reads the file at path (if not NULL; at most APIKEYS_FILE_MAX bytes) and parses it with list
 * as apikeys_set_parse does. The file's bytes are wiped before they are freed. Returns 0 with an
 * owned set in *out, ERR_IO (cannot open or read; err names the path and the reason), ERR_RANGE
 * (file too large or too many keys) or ERR_PARSE. Thread: main (blocking file I/O). */
int apikeys_set_load(const char *list, const char *path, apikeys_set_t **out, err_t *err);

/* Frees a set that no holder owns. NULL is a no-op. */
void apikeys_set_destroy(apikeys_set_t *set);

/* Returns the number of distinct keys in set (0 for NULL). */
size_t apikeys_set_count(const apikeys_set_t *set);

/* Returns whether key[0..key_len) is in set. Hashes the key and compares its digest with every
 * stored digest in constant time, without stopping at a match, so the time depends only on the
 * number of keys. An empty key, one longer than APIKEYS_KEY_MAX, or a NULL set is refused.
 * Thread: any (the set is frozen). */
bool apikeys_set_has(const apikeys_set_t *set, const char *key, size_t key_len);

/* Returns the masked description of set, e.g. "3 keys (from API_KEYS and /etc/keys)"; it holds
 * counts and sources only. Borrowed: valid while the set lives. */
const char *apikeys_set_describe(const apikeys_set_t *set);

/* Returns a holder whose current set is set (owned from now on: takes ownership of set, not
 * NULL). Thread: main, before the loops start. */
apikeys_t *apikeys_create(apikeys_set_t *set);

/* Frees the holder, its current set and every retired set. NULL is a no-op.
 * Thread: main, after every loop has stopped checking. */
void apikeys_destroy(apikeys_t *k);

/* Makes set (takes ownership, not NULL) the current set; checks that start afterwards see it.
 * The previous set is retired: freed at once if no check is in flight, otherwise by a later
 * replace or apikeys_reclaim that finds none. Never fails. Thread: main. */
void apikeys_replace(apikeys_t *k, apikeys_set_t *set);

/* Frees the retired sets if no check is in flight at this moment, and returns the number of
 * retired sets still kept (0 when all were freed). Thread: main. */
size_t apikeys_reclaim(apikeys_t *k);

/* Returns whether key[0..key_len) is in the current set (see apikeys_set_has). Lock-free; safe
 * while main replaces the set. Thread: any. */
bool apikeys_check(apikeys_t *k, const char *key, size_t key_len);

/* Returns the number of keys of the current set. Thread: any. */
size_t apikeys_count(apikeys_t *k);

/* Copies the current set's masked description plus NUL into buf (truncated to buf_len) and
 * returns buf. Thread: any. */
char *apikeys_describe(apikeys_t *k, char *buf, size_t buf_len);

/* Finds the key a request presents, from the values of its first Authorization and X-API-Key
 * header lines (each NULL with length 0 when absent; values need no NUL). Authorization must
 * be "Bearer" (any case), one or more spaces/tabs, then the key; X-API-Key is the key itself;
 * surrounding spaces/tabs are ignored in both. When both are present they must carry the same
 * key. Returns 0 with *key and *key_len pointing into one of the values (borrowed), ERR_EMPTY when
 * neither header is present, or ERR_PARSE for another scheme, a missing or empty key, a key
 * with a space inside, or two headers that disagree. The caller answers 401 on any error.
 * Thread: any (pure). */
int apikeys_presented(const char *authorization, size_t authorization_len, const char *x_api_key,
                      size_t x_api_key_len, const char **key, size_t *key_len);

#endif
