/*
 * Authenticate from a client's side, for the relay provider: the request it
 * sends to another Delegated Authentication endpoint and the answer it reads
 * back. Same namespace table and envelope reader as the endpoint's side
 * (sf_server.h), so both agree on what a SOAP 1.1 message is.
 *
 * Threads: any; every call uses a gSOAP context of its own.
 */
#ifndef DAGATE_SF_CLIENT_H
#define DAGATE_SF_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* The Authenticate envelope for these fields (a NULL source_ip is sent as
 * ""), in Salesforce's own form (default namespace on Authenticate, no
 * prefixes on the fields): a malloc'd string that holds the password, for the caller to wipe
 * and free. NULL when out of memory. */
char *sf_client_request(const char *username, const char *password, const char *source_ip);

/* Reads the body of an HTTP 200 answer. 0 with *authenticated_r when it is
 * exactly one SOAP 1.1 Envelope whose Body holds exactly one
 * AuthenticateResult (or AuthenticateResponse, which Salesforce accepts as
 * well) with exactly one Authenticated, and nothing but
 * whitespace after the Envelope; -1 with a short fixed *error_r otherwise
 * (a fault, HTML, a NUL byte, anything else). Keeps nothing. */
int sf_client_answer(const char *body, size_t len, bool *authenticated_r,
		     const char **error_r);

#endif
