/* X-Forwarded-For: believed only from trusted proxies, read from the right. */
#include <string.h>

#include "forwarded.h"
#include "unit.h"

int main(void)
{
	struct cidr_list trusted = { 0 }, none = { 0 };
	char err[128], out[64];
	static const struct {
		const char *peer, *xff, *want;
		int ret;
	} cases[] = {
		/* no proxy: the peer, whatever the header says */
		{ "198.51.100.1", "1.2.3.4", "198.51.100.1", 0 },
		{ "::ffff:198.51.100.1", NULL, "198.51.100.1", 0 },
		/* one trusted proxy */
		{ "10.0.0.5", "203.0.113.7", "203.0.113.7", 0 },
		/* forged left part: the rightmost untrusted hop wins */
		{ "10.0.0.5", "1.1.1.1, 203.0.113.7", "203.0.113.7", 0 },
		/* two proxies in a chain */
		{ "10.0.0.5", "1.1.1.1, 203.0.113.7, 10.0.0.9", "203.0.113.7", 0 },
		/* all hops trusted: the leftmost */
		{ "10.0.0.5", "10.0.0.7, 10.0.0.9", "10.0.0.7", 0 },
		/* mapped and bracketed IPv6 */
		{ "10.0.0.5", "::ffff:203.0.113.8", "203.0.113.8", 0 },
		{ "10.0.0.5", "[2001:db8::1]", "2001:db8::1", 0 },
		{ "::ffff:10.0.0.5", "203.0.113.9", "203.0.113.9", 0 },
		/* garbage where it must be read: refused */
		{ "10.0.0.5", "unknown", NULL, -1 },
		{ "10.0.0.5", "203.0.113.7:443", NULL, -1 },
		{ "10.0.0.5", "203.0.113.7,", NULL, -1 },
		/* brackets hold an IPv6 address, never an IPv4 one */
		{ "10.0.0.5", "[203.0.113.7]", NULL, -1 },
		{ "10.0.0.5", "[::ffff:203.0.113.7]", "203.0.113.7", 0 },
		{ "10.0.0.5", "[2001:db8::1", NULL, -1 },
		{ "10.0.0.5", "[]", NULL, -1 },
		/* garbage left of the client is never read */
		{ "10.0.0.5", "junk, 203.0.113.7", "203.0.113.7", 0 },
		/* a trusted peer without the header */
		{ "10.0.0.5", NULL, "10.0.0.5", 0 },
	};

	CHECK(cidr_list_parse("10.0.0.0/24", &trusted, err, sizeof err) == 0, "%s", err);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int ret = forwarded_client(cases[i].peer, cases[i].xff, &trusted, out, sizeof out);

		CHECK(ret == cases[i].ret, "case %zu (%s): ret %d", i, cases[i].xff, ret);
		if (ret == 0 && cases[i].want != NULL)
			CHECK_STR(out, cases[i].want, cases[i].xff ? cases[i].xff : "(none)");
	}
	CHECK(forwarded_client("10.0.0.5", "203.0.113.7", &none, out, sizeof out) == 0 &&
	      strcmp(out, "10.0.0.5") == 0, "no trusted proxies: the header is ignored");
	cidr_list_clear(&trusted);
	return unit_done("test_forwarded");
}
