/*
 * IP addresses and CIDR lists. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
 * are folded to IPv4 when parsed and when matched, so "10.0.0.0/8" covers a
 * peer that a dual-stack socket reports as ::ffff:10.1.2.3.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest textual CIDR we accept: a full IPv6 address plus "/128". */
#define CIDR_TEXT_MAX (INET6_ADDRSTRLEN + 4)

static const uint8_t v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

static bool is_v4mapped(const uint8_t addr[16])
{
	return memcmp(addr, v4mapped_prefix, sizeof v4mapped_prefix) == 0;
}

static bool host_bits_zero(const uint8_t *addr, unsigned bytes, unsigned prefix)
{
	for (unsigned bit = prefix; bit < bytes * 8; bit++)
		if (addr[bit / 8] & (0x80u >> (bit % 8)))
			return false;
	return true;
}

static bool prefix_matches(const uint8_t *net, const uint8_t *addr,
			   unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(net, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (net[full] & mask) == (addr[full] & mask);
}

int cidr_parse(const char *text, struct cidr *out, const char **error_r)
{
	char buf[CIDR_TEXT_MAX + 1];
	size_t len = strlen(text);
	const char *slash;
	unsigned prefix = 0, max_prefix;
	bool have_prefix = false;

	if (len == 0 || len > CIDR_TEXT_MAX) {
		*error_r = "not an IP address or CIDR";
		return -1;
	}
	memcpy(buf, text, len + 1);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		const char *p = slash + 1;

		/* 1-3 digits, no sign, no blanks: "/08" is fine, "/+8" is not */
		if (*p == '\0' || strlen(p) > 3) {
			*error_r = "bad prefix length";
			return -1;
		}
		for (; *p != '\0'; p++) {
			if (!isdigit((unsigned char)*p)) {
				*error_r = "bad prefix length";
				return -1;
			}
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		have_prefix = true;
		buf[slash - buf] = '\0';
	}

	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max_prefix = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max_prefix = 128;
	} else {
		*error_r = "not an IP address or CIDR";
		return -1;
	}
	if (!have_prefix)
		prefix = max_prefix;
	if (prefix > max_prefix) {
		*error_r = "bad prefix length";
		return -1;
	}
	if (out->family == AF_INET6 && is_v4mapped(out->addr) && prefix >= 96) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		prefix -= 96;
		max_prefix = 32;
	}
	if (!host_bits_zero(out->addr, max_prefix / 8, prefix)) {
		*error_r = "host bits set";
		return -1;
	}
	out->prefix = prefix;
	return 0;
}

static int list_append(struct cidr_list *list, const struct cidr *c)
{
	struct cidr *items = realloc(list->items,
				     (list->count + 1) * sizeof *items);

	if (items == NULL)
		return -1;
	items[list->count++] = *c;
	list->items = items;
	return 0;
}

/* Parse one line's worth of items; on error list->count is restored. */
static int list_parse_items(const char *text, struct cidr_list *list,
			    const char **error_r, char *item, size_t item_size)
{
	size_t start_count = list->count;
	const char *p = text;

	for (;;) {
		struct cidr c;
		size_t n;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return 0;
		n = strcspn(p, ", \t\r\n\v\f");
		snprintf(item, item_size, "%.*s", (int)n, p);
		if (n >= item_size) {
			*error_r = "not an IP address or CIDR";
			goto fail;
		}
		if (cidr_parse(item, &c, error_r) < 0)
			goto fail;
		if (list_append(list, &c) < 0) {
			*error_r = "out of memory";
			goto fail;
		}
		p += n;
	}
fail:
	list->count = start_count;
	return -1;
}

int cidr_list_parse(const char *text, struct cidr_list *list,
		    char *error, size_t error_size)
{
	char item[CIDR_TEXT_MAX + 2];
	const char *err;

	if (list_parse_items(text, list, &err, item, sizeof item) < 0) {
		snprintf(error, error_size, "%s in %s", err, item);
		return -1;
	}
	return 0;
}

/* `path` opened for reading if it is a regular file: a FIFO would block
 * start-up (opened without waiting, then refused), and /dev/zero or the
 * like would be read forever. */
static FILE *open_regular_file(const char *path, char *error, size_t error_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	FILE *f;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(error, error_size, "%s: cannot read: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(error, error_size, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	/* Regular files never block; the flag only mattered for the open. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	f = fdopen(fd, "r");
	if (f == NULL) {
		snprintf(error, error_size, "%s: cannot read: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

int cidr_list_load_file(const char *path, struct cidr_list *list,
			void (*report)(void *ctx, const char *message), void *ctx)
{
	char item[CIDR_TEXT_MAX + 2], message[CIDR_TEXT_MAX + PATH_MAX + 64];
	size_t start_count = list->count;
	char *line = NULL;
	size_t line_size = 0;
	int lineno = 0, bad = 0;
	FILE *f = open_regular_file(path, message, sizeof message);

	if (f == NULL) {
		report(ctx, message);
		return 1;
	}
	errno = 0;
	while (getline(&line, &line_size, f) != -1) {
		const char *err;
		char *hash = strchr(line, '#');

		lineno++;
		if (hash != NULL)
			*hash = '\0';
		if (list_parse_items(line, list, &err, item, sizeof item) < 0) {
			snprintf(message, sizeof message, "%s:%d: %s in %s", path, lineno, err,
				 item);
			report(ctx, message);
			bad++;
		}
	}
	if (ferror(f)) {
		snprintf(message, sizeof message, "%s: cannot read: %s", path,
			 strerror(errno != 0 ? errno : EIO));
		report(ctx, message);
		bad++;
	}
	if (bad > 0)
		list->count = start_count;
	free(line);
	fclose(f);
	return bad;
}

void cidr_list_clear(struct cidr_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

static bool list_contains(const struct cidr_list *list, int family,
			  const uint8_t *addr)
{
	for (size_t i = 0; i < list->count; i++) {
		const struct cidr *c = &list->items[i];

		if (c->family == family && prefix_matches(c->addr, addr, c->prefix))
			return true;
	}
	return false;
}

/* Fold an IPv6 address to IPv4 when it is v4-mapped. */
static int normalize(int family, const uint8_t *in, uint8_t out[16])
{
	if (family == AF_INET6 && is_v4mapped(in)) {
		memcpy(out, in + 12, 4);
		return AF_INET;
	}
	memcpy(out, in, family == AF_INET ? 4 : 16);
	return family;
}

bool cidr_list_contains_sockaddr(const struct cidr_list *list,
				 const struct sockaddr *sa)
{
	uint8_t addr[16];
	int family;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		family = normalize(AF_INET, (const uint8_t *)&sin->sin_addr, addr);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		family = normalize(AF_INET6, sin6->sin6_addr.s6_addr, addr);
	} else {
		return false;
	}
	return list_contains(list, family, addr);
}

bool cidr_list_contains_text(const struct cidr_list *list, const char *ip)
{
	uint8_t raw[16], addr[16];
	int family;

	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, raw) == 1)
		family = normalize(AF_INET, raw, addr);
	else if (inet_pton(AF_INET6, ip, raw) == 1)
		family = normalize(AF_INET6, raw, addr);
	else
		return false;
	return list_contains(list, family, addr);
}

int sockaddr_network(const struct sockaddr *sa, unsigned v6_prefix, struct cidr *out)
{
	memset(out, 0, sizeof *out);
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		out->family = normalize(AF_INET, (const uint8_t *)&sin->sin_addr, out->addr);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		out->family = normalize(AF_INET6, sin6->sin6_addr.s6_addr, out->addr);
	} else {
		return -1;
	}
	out->prefix = out->family == AF_INET ? 32 : v6_prefix < 128 ? v6_prefix : 128;
	for (unsigned bit = out->prefix; bit < 128; bit++)
		out->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	return 0;
}

bool cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

void sockaddr_to_text(const struct sockaddr *sa, char *out, size_t size)
{
	char buf[INET6_ADDRSTRLEN];
	uint8_t addr[16];
	int family;

	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		family = normalize(AF_INET, (const uint8_t *)&sin->sin_addr, addr);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		family = normalize(AF_INET6, sin6->sin6_addr.s6_addr, addr);
	} else {
		snprintf(out, size, "?");
		return;
	}
	if (inet_ntop(family, addr, buf, sizeof buf) == NULL)
		snprintf(out, size, "?");
	else
		snprintf(out, size, "%s", buf);
}
