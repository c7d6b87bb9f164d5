/*
 * The endpoint's side of Authenticate, through the gSOAP binding generated
 * at build time from wsdl/: the request it reads (sf_request.c, strict: see
 * sf_request_parse()), the answers it writes (sf_answer.c) and the WSDL it
 * serves (sf_wsdl.c). The relay's side is sf_client.h; both read through
 * one namespace table and envelope reader (sf_int.h).
 *
 * Threads: sf_request_parse() is safe from any thread (it keeps one gSOAP
 * context per thread). sf_server_init() runs once at start-up.
 */
#ifndef DAGATE_SF_SERVER_H
#define DAGATE_SF_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/* Field limits: Salesforce usernames are at most 80 characters; passwords
 * and tokens far below 1 KiB; sourceIp is an IPv4/IPv6 literal. Generous
 * margins, still small enough that no field can flood a log or a backend. */
#define SF_USERNAME_MAX 512
#define SF_PASSWORD_MAX 1024
#define SF_SOURCE_IP_MAX 64

struct sf_authenticate {
	char *username;          /* malloc'd, NUL-terminated */
	char *password;          /* malloc'd; wiped by sf_request_clear */
	size_t password_len;
	char *source_ip;         /* malloc'd, may be "" */
};

/* Build the canned responses. Returns -1 with *error_r on failure. */
int sf_server_init(const char **error_r);
void sf_server_deinit(void);

/* Parse one request body. Rejects (returns -1, *error_r = a short fault
 * string that never echoes input): XML that is not well-formed (including
 * undeclared prefixes and elements inside a field), DOCTYPE/DTD, processing
 * instructions other than the XML declaration, an encoding other than
 * UTF-8, SOAP-encoding id/href/ref attributes, more attributes or deeper
 * nesting than any SOAP stack sends (so gSOAP's costs stay linear; see
 * sf_int.h), a mustUnderstand header, wrong or missing namespaces,
 * a missing or duplicated username/password/sourceIp, trailing elements
 * outside the target namespace, invalid UTF-8, NUL or control characters in
 * a field, fields over the limits above. An empty field is NOT an error
 * here (the router answers false for empty username/password). */
int sf_request_parse(const char *body, size_t len, struct sf_authenticate *out,
		    const char **error_r);
/* Wipes the password and frees everything in `req`. */
void sf_request_clear(struct sf_authenticate *req);

/* Canned bodies, valid for the life of the process after init. */
const char *sf_answer_result(bool authenticated, size_t *len_r);
/* SOAP 1.1 fault in a prefixed SOAP-ENV:Envelope; `client` selects
 * soap:Client vs soap:Server, except that sf_request_parse()'s reason for a
 * mustUnderstand header it cannot honour gets soap:MustUnderstand. The
 * string is a fixed, short reason (never input), followed by
 * " [request_id=ID]" when `request_id` is not NULL: the id of the audit
 * line, so that an entry of Salesforce's error history can be found in the
 * log. Returns a malloc'd body. */
#define SF_FAULT_REQUEST_ID "[request_id="
#define SF_FAULT_STRING_MAX 256
char *sf_answer_fault(bool client, const char *reason, const char *request_id, size_t *len_r);
/* The WSDL served by GET {path}?wsdl, with `public_url` as soap:address:
 * malloc'd, or NULL when the address is empty or not printable UTF-8. */
char *sf_wsdl_for(const char *public_url, size_t *len_r);

/* Is `s` an IPv4 or IPv6 address (no port, zone, brackets, prefix or
 * leading zeros)? sourceIp must be one, or the request is a soap:Client
 * fault. */
bool sf_source_ip_valid(const char *s);

/* Pure check used by the parser and unit tests: valid UTF-8, no NUL, no
 * C0 control characters or DEL, at most `max` bytes. */
int sf_field_check(const char *s, size_t len, size_t max, const char **error_r);

#endif
