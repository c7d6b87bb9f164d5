/*
 * IP addresses and CIDR lists (allow lists, trusted proxies).
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are treated as IPv4.
 * Pure functions; no allocation except in cidr_list_parse.
 */
#ifndef DAGATE_NETADDR_H
#define DAGATE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];    /* network byte order; 4 bytes used for AF_INET */
	unsigned prefix;     /* 0..32 or 0..128 */
};

struct cidr_list {
	struct cidr *items;
	size_t count;
};

/* "10.0.0.0/8", "::1", "203.0.113.7/32". Host bits must be zero. */
int cidr_parse(const char *text, struct cidr *out, const char **error_r);
/* A list separated by commas and/or blanks; appends to `list`. On error
 * `error` names the bad item. */
int cidr_list_parse(const char *text, struct cidr_list *list,
		    char *error, size_t error_size);
/* Lines of CIDRs, '#' comments. Every bad line is handed to `report` as
 * "FILE:LINE: message" (an unreadable file as "FILE: cannot read: ...").
 * Returns the number of problems; on any, `list` is left as it was. */
int cidr_list_load_file(const char *path, struct cidr_list *list,
			void (*report)(void *ctx, const char *message), void *ctx);
void cidr_list_clear(struct cidr_list *list);

bool cidr_list_contains_sockaddr(const struct cidr_list *list,
				 const struct sockaddr *sa);
bool cidr_list_contains_text(const struct cidr_list *list, const char *ip);

/* The network of `sa`: its IPv4 address as a /32 (IPv4-mapped folded),
 * or the /`v6_prefix` its IPv6 address lies in, host bits zero. -1 for
 * other families. */
int sockaddr_network(const struct sockaddr *sa, unsigned v6_prefix, struct cidr *out);
bool cidr_equal(const struct cidr *a, const struct cidr *b);

/* Printable address of `sa` without port; IPv4-mapped shown as IPv4. */
void sockaddr_to_text(const struct sockaddr *sa, char *out, size_t size);

#endif
