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
 * no %d, for every provider alike: a template that uses %d cannot be
 * expanded for it, and the provider answers the login "unknown user"
 * (Salesforce: false, never a fault) without asking its backend, with
 * template_no_domain as the audit detail. A half-built identity ("joe@",
 * "CORP\" + nothing, "(dc=)") names somebody else or nobody, so it is
 * never sent. Every other expansion error is answered the same way.
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

/* The error of %d for a username without a domain:
 * "username has no domain for %d". */
extern const char template_no_domain[];

/* 0 when `tmpl` uses only %u, %l, %d and %%; -1 with *error_r (static)
 * otherwise. */
int template_check(const char *tmpl, const char **error_r);

/* Expand `tmpl` for `username` into `out` (NUL-terminated, at most
 * `size` - 1 bytes), each value passed through `escape` when it is not
 * NULL. Returns -1 with *error_r (static, fit for the audit detail) and
 * out[0] == '\0' when the template is invalid, %d has no domain
 * (template_no_domain), the result is empty or does not fit, or `escape`
 * fails. */
int template_expand(const char *tmpl, const char *username,
		    template_escape_fn *escape, char *out, size_t size,
		    const char **error_r);

#endif
