/* SPDX-License-Identifier: MIT */
/*
 * The text of the URLs in the configuration (RABBITMQ_URL, DATABASE_URL): masking their
 * passwords wherever a URL is shown, and finding the path of a MongoDB URL (its database). Works
 * on the text alone, so it also masks what no parser would accept.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_URLTEXT_H
#define AT_COMMON_URLTEXT_H

#include <stddef.h>

/* Writes url into out with the password of its userinfo replaced by "***"
 * (amqp://user:pass@host/ -> amqp://user:***@host/); a URL without a password is copied as is.
 * The userinfo ends at the last '@' before the first '?' (or, when there is none, at the last
 * '@' of the URL), so a password holding an unencoded '/', ':', '@' or '?' is still masked. A
 * list of URLs (each after a comma starts with a scheme, "amqp://...,amqp://...") is masked URL
 * by URL; a MongoDB host list (commas without a scheme) is one URL. NUL-terminated, cut to n
 * bytes. */
void urltext_mask(const char *url, char *out, size_t n);

/* Returns the path of url after the hosts and before any '?' (mongodb://u:p@h1,h2/db?w=1 gives
 * "db?w=1" with *len 2), or the end of url with *len 0 when there is none. */
const char *urltext_path(const char *url, size_t *len);

#endif
