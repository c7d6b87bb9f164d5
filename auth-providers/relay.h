/*
 * The `relay` provider's loop guard, for the Salesforce-facing endpoint.
 *
 * A relay provider forwards Authenticate to another DA endpoint with the
 * header RELAY_HEADER carrying this process's random instance id. Salesforce
 * never sends that header. A loop (A relays to B, B relays back to A, or A
 * to itself) shows up at A as a request that carries RELAY_HEADER and
 * either names A's own id or repeats exactly a login (username, password,
 * sourceIp) that A's relay is forwarding at that moment.
 *
 * The endpoint calls relay_loop_detected() for every parsed Authenticate,
 * with the raw fields (before [map]); on true it answers a soap:Server
 * fault without asking any provider, so the relaying side sees
 * "unavailable" and the loop ends after one round.
 */
#ifndef DAGATE_RELAY_H
#define DAGATE_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#define RELAY_HEADER "X-Dagate-Relay"

/* header_value: the request's RELAY_HEADER value, or NULL when absent
 * (then the answer is always false). Thread-safe; constant-time in the
 * password; keeps nothing. */
bool relay_loop_detected(const char *header_value, const char *username,
			 const char *password, size_t password_len,
			 const char *source_ip);

/* This process's instance id (64 hex characters), as sent in RELAY_HEADER. */
const char *relay_instance_id(void);

#endif
