/*
 * The one expander of the providers' username templates: smtp's and
 * http's `login`, ldap's `user_filter`.
 *
 *   %u  the mapped username, as it is
 *   %l  its local part: before the last '@', or all of it without one
 *   %d  its domain: after the last '@'
 *   %%  a percent sign
 *
 * Anything else after '%', or a '%' at the end, is an error that
 * template_check() reports at start-up.
 *
 * A username without a domain (no '@', or nothing after the last one) has
 * no %d: a template that uses %d cannot be expanded for it, and the login
 * is answered "unknown user" without asking the backend. A half-built
 * identity ("joe@", "CORP\" + nothing, "(dc=)") names somebody else or
 * nobody, so it is never sent. Known exception, to be removed:
 * TEMPLATE_EMPTY_DOMAIN below.
 *
 * An expansion that comes out empty is an error too (there is nobody to
 * ask about).
 *
 * Escaping belongs to the caller's protocol: ldap passes libldap's
 * RFC 4515 filter-value escaping, which is applied to each %u/%l/%d value
 * (never to the template's own text). Pure; unit-tested.
 */
#ifndef DAGATE_TEMPLATE_H
#define DAGATE_TEMPLATE_H

#include <stddef.h>

/* Escape `len` bytes of `value` (not NUL-terminated) into malloc'd text;
 * NULL on failure. */
typedef char *template_escape_fn(const char *value, size_t len);

/* The ldap provider's old meaning of %d without a domain: "" rather than
 * an error. Kept only because tests/unit/test_ldap.c asserts that answer;
 * once that assertion is changed, drop this flag and ldap follows the rule
 * above. */
#define TEMPLATE_EMPTY_DOMAIN 0x1u

/* 0 when `tmpl` uses only %u, %l, %d and %%; -1 with *error_r (static)
 * otherwise. */
int template_check(const char *tmpl, const char **error_r);

/* Expand `tmpl` for `username` into `out` (NUL-terminated, at most
 * `size` - 1 bytes), each value passed through `escape` when it is not
 * NULL. Returns -1 with *error_r (static) and out[0] == '\0' when the
 * template is invalid, %d has no domain, the result is empty or does not
 * fit, or `escape` fails. `flags`: 0 or TEMPLATE_EMPTY_DOMAIN. */
int template_expand(const char *tmpl, const char *username,
		    template_escape_fn *escape, unsigned flags,
		    char *out, size_t size, const char **error_r);

#endif
