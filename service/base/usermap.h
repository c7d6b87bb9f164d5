/*
 * Username mapping ([map]): what the router routes on, what providers look
 * up, and what a token is bound to. One function, used by the decision and
 * by the token issuer alike, so a token issued for "Joe@Corp.example.uat"
 * is bound to the same user a password login of that name would be.
 */
#ifndef DAGATE_USERMAP_H
#define DAGATE_USERMAP_H

#include <stdbool.h>
#include <stddef.h>

/* Longest mapped username, in bytes (Salesforce usernames are at most 80
 * characters; 512 leaves room for UTF-8 and sandbox suffixes). */
#define MAPPED_USER_MAX 512

struct usermap_config {
	bool lowercase;
	char **strip_suffix;        /* NULL-terminated, may be NULL or empty */
};

/* Pure: `username` lowercased (when configured), then the first matching
 * suffix removed (never the whole name), into `out` of `size` bytes.
 * Returns -1 when the result does not fit. */
int usermap_apply(const struct usermap_config *map, const char *username,
		  char *out, size_t size);

/* Pure: can `username` (as Salesforce sent it) be a Salesforce username?
 * Salesforce usernames have the form of an e-mail address: one '@' with
 * something on each side, no whitespace, no control or invisible
 * formatting characters, none of the ASCII characters an unquoted address
 * cannot hold ( " ( ) , : ; < > [ \\ ] ). Directories ignore insignificant
 * spaces, so " carol@x" would reach carol's entry under a throttle key of
 * its own: such names never reach a backend. Non-ASCII letters are
 * allowed (addresses may hold them). Returns -1 with a static *error_r. */
int usermap_check(const char *username, const char **error_r);

#endif
