/* IP addresses and CIDR lists: parsing, matching, IPv4-mapped IPv6. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netaddr.h"
#include "unit.h"

/* CHECK_STR on a char array, without -Waddress noise */
static const char *str(const char *s)
{
	return s;
}

static void test_cidr_parse(void)
{
	static const struct {
		const char *text;
		int ok;
		int family;
		unsigned prefix;
		const char *error;
	} cases[] = {
		{ "10.0.0.0/8", 1, AF_INET, 8, NULL },
		{ "203.0.113.7", 1, AF_INET, 32, NULL },
		{ "203.0.113.7/32", 1, AF_INET, 32, NULL },
		{ "0.0.0.0/0", 1, AF_INET, 0, NULL },
		{ "::/0", 1, AF_INET6, 0, NULL },
		{ "::1", 1, AF_INET6, 128, NULL },
		{ "2001:db8::/32", 1, AF_INET6, 32, NULL },
		/* IPv4-mapped IPv6 is IPv4 */
		{ "::ffff:10.1.2.3", 1, AF_INET, 32, NULL },
		{ "::ffff:10.0.0.0/104", 1, AF_INET, 8, NULL },
		{ "::ffff:0.0.0.0/96", 1, AF_INET, 0, NULL },
		{ "10.0.0.1/8", 0, 0, 0, "host bits set" },
		{ "2001:db8::1/32", 0, 0, 0, "host bits set" },
		{ "10.0.0.0/33", 0, 0, 0, "bad prefix length" },
		{ "::/129", 0, 0, 0, "bad prefix length" },
		{ "10.0.0.0/", 0, 0, 0, "bad prefix length" },
		{ "10.0.0.0/-1", 0, 0, 0, "bad prefix length" },
		{ "10.0.0.0/ 8", 0, 0, 0, "bad prefix length" },
		{ "10.0.0.0/1000", 0, 0, 0, "bad prefix length" },
		{ "10.0.0", 0, 0, 0, "not an IP address or CIDR" },
		{ "256.0.0.0", 0, 0, 0, "not an IP address or CIDR" },
		{ "localhost", 0, 0, 0, "not an IP address or CIDR" },
		{ "", 0, 0, 0, "not an IP address or CIDR" },
		{ "fe80::1%eth0", 0, 0, 0, "not an IP address or CIDR" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cidr c;
		const char *err = NULL;
		int ret = cidr_parse(cases[i].text, &c, &err);

		if (cases[i].ok) {
			CHECK(ret == 0, "%s: %s", cases[i].text, err);
			if (ret == 0) {
				CHECK(c.family == cases[i].family, "%s: family %d",
				      cases[i].text, c.family);
				CHECK(c.prefix == cases[i].prefix, "%s: prefix %u",
				      cases[i].text, c.prefix);
			}
		} else {
			CHECK(ret < 0, "%s: accepted", cases[i].text);
			CHECK_STR(str(err), cases[i].error, cases[i].text);
		}
	}
}

static void test_list_contains(void)
{
	static const struct {
		const char *list;
		const char *ip;
		bool in;
	} cases[] = {
		{ "10.0.0.0/8", "10.255.1.2", true },
		{ "10.0.0.0/8", "11.0.0.1", false },
		{ "10.0.0.0/8", "::ffff:10.1.2.3", true },   /* mapped peer */
		{ "::ffff:10.0.0.0/104", "10.9.9.9", true }, /* mapped entry */
		{ "127.0.0.0/8, ::1", "::1", true },
		{ "127.0.0.0/8, ::1", "::2", false },
		{ "127.0.0.0/8 ::1", "127.0.0.1", true },
		{ "192.168.1.128/25", "192.168.1.127", false },
		{ "192.168.1.128/25", "192.168.1.128", true },
		{ "192.168.1.128/25", "192.168.1.255", true },
		{ "2001:db8::/33", "2001:db8:7fff::1", true },
		{ "2001:db8::/33", "2001:db8:8000::1", false },
		{ "0.0.0.0/0", "1.2.3.4", true },
		{ "0.0.0.0/0", "2001:db8::1", false },
		{ "::/0", "2001:db8::1", true },
		{ "::/0", "::ffff:1.2.3.4", false },      /* mapped is IPv4 */
		{ "0.0.0.0/0, ::/0", "::ffff:1.2.3.4", true },
		{ "", "1.2.3.4", false },
		{ "10.0.0.0/8", "not-an-ip", false },
		{ "10.0.0.0/8", "", false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cidr_list list = { NULL, 0 };
		char err[128];

		CHECK(cidr_list_parse(cases[i].list, &list, err, sizeof err) == 0,
		      "%s: %s", cases[i].list, err);
		CHECK(cidr_list_contains_text(&list, cases[i].ip) == cases[i].in,
		      "%s in [%s] should be %d", cases[i].ip, cases[i].list,
		      cases[i].in);
		cidr_list_clear(&list);
	}
}

static void test_list_errors(void)
{
	static const struct {
		const char *list;
		const char *error;
	} cases[] = {
		{ "10.0.0.0/8, 10.0.0.1/8", "host bits set in 10.0.0.1/8" },
		{ "::1 foo", "not an IP address or CIDR in foo" },
		{ "1.2.3.4/40", "bad prefix length in 1.2.3.4/40" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cidr_list list = { NULL, 0 };
		char err[128];

		CHECK(cidr_list_parse(cases[i].list, &list, err, sizeof err) < 0,
		      "%s accepted", cases[i].list);
		CHECK_STR(str(err), cases[i].error, cases[i].list);
		/* a failed parse appends nothing */
		CHECK(list.count == 0, "%s: %zu items left", cases[i].list, list.count);
		cidr_list_clear(&list);
	}
}

static void test_sockaddr(void)
{
	struct cidr_list list = { NULL, 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr sa_unix = { .sa_family = AF_UNIX };
	char err[128], text[64];

	CHECK(cidr_list_parse("192.0.2.0/24, 2001:db8::/32", &list, err,
			      sizeof err) == 0, "%s", err);
	inet_pton(AF_INET, "192.0.2.9", &sin.sin_addr);
	CHECK(cidr_list_contains_sockaddr(&list, (struct sockaddr *)&sin), "v4");
	sockaddr_to_text((struct sockaddr *)&sin, text, sizeof text);
	CHECK_STR(str(text), "192.0.2.9", "v4 text");

	inet_pton(AF_INET6, "::ffff:192.0.2.10", &sin6.sin6_addr);
	CHECK(cidr_list_contains_sockaddr(&list, (struct sockaddr *)&sin6),
	      "mapped v6 peer matches the v4 entry");
	sockaddr_to_text((struct sockaddr *)&sin6, text, sizeof text);
	CHECK_STR(str(text), "192.0.2.10", "mapped text");

	inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
	CHECK(cidr_list_contains_sockaddr(&list, (struct sockaddr *)&sin6), "v6");
	sockaddr_to_text((struct sockaddr *)&sin6, text, sizeof text);
	CHECK_STR(str(text), "2001:db8::5", "v6 text");

	inet_pton(AF_INET6, "2001:db9::5", &sin6.sin6_addr);
	CHECK(!cidr_list_contains_sockaddr(&list, (struct sockaddr *)&sin6),
	      "v6 outside");
	CHECK(!cidr_list_contains_sockaddr(&list, &sa_unix), "AF_UNIX");
	CHECK(!cidr_list_contains_sockaddr(&list, NULL), "NULL");
	sockaddr_to_text(&sa_unix, text, sizeof text);
	CHECK_STR(str(text), "?", "AF_UNIX text");
	cidr_list_clear(&list);
}

/* Connections are counted per IPv4 address and per IPv6 /64. */
static void test_network(void)
{
	static const struct {
		int family;
		const char *addr, *want;
	} cases[] = {
		{ AF_INET, "192.0.2.9", "192.0.2.9/32" },
		{ AF_INET6, "::ffff:192.0.2.9", "192.0.2.9/32" },
		{ AF_INET6, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64" },
		{ AF_INET6, "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64" },
		{ AF_INET6, "::1", "::/64" },
	};
	struct cidr a, b, want;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr sa_unix = { .sa_family = AF_UNIX };
	const char *err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_storage ss = { .ss_family = (sa_family_t)cases[i].family };
		void *where = cases[i].family == AF_INET ?
			      (void *)&((struct sockaddr_in *)&ss)->sin_addr :
			      (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;

		inet_pton(cases[i].family, cases[i].addr, where);
		CHECK(sockaddr_network((struct sockaddr *)&ss, 64, &a) == 0, "%s", cases[i].addr);
		CHECK(cidr_parse(cases[i].want, &want, &err) == 0, "%s: %s", cases[i].want, err);
		CHECK(cidr_equal(&a, &want), "%s is not in %s", cases[i].addr, cases[i].want);
	}
	inet_pton(AF_INET6, "2001:db8:1:2::1", &sin6.sin6_addr);
	sockaddr_network((struct sockaddr *)&sin6, 64, &a);
	inet_pton(AF_INET6, "2001:db8:1:3::1", &sin6.sin6_addr);
	sockaddr_network((struct sockaddr *)&sin6, 64, &b);
	CHECK(!cidr_equal(&a, &b), "neighbouring /64s are different networks");
	sockaddr_network((struct sockaddr *)&sin6, 128, &b);
	CHECK(b.prefix == 128 && b.addr[15] == 1, "/128 keeps the whole address");
	CHECK(sockaddr_network(&sa_unix, 64, &a) < 0, "AF_UNIX");
	CHECK(sockaddr_network(NULL, 64, &a) < 0, "NULL");
}

/* Every report of cidr_list_load_file, one per line. */
struct collected {
	char text[1024];
};

static void collect(void *ctx, const char *message)
{
	struct collected *c = ctx;
	size_t used = strlen(c->text);

	snprintf(c->text + used, sizeof c->text - used, "%s\n", message);
}

static void test_load_file(void)
{
	char dir[] = "/tmp/dagate-netaddr-XXXXXX";
	char path[128], want[512];
	struct collected got = { "" };
	struct cidr_list list = { NULL, 0 };
	FILE *f;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/allow", dir);

	f = fopen(path, "w");
	fputs("# office\n10.0.0.0/8   # inline comment\n\n"
	      "  192.0.2.0/24, 2001:db8::/32\n", f);
	fclose(f);
	CHECK(cidr_list_load_file(path, &list, collect, &got) == 0, "%s", got.text);
	CHECK(list.count == 3, "count %zu", list.count);
	CHECK(cidr_list_contains_text(&list, "2001:db8::1"), "v6 from file");
	cidr_list_clear(&list);

	/* every bad line is reported, not only the first */
	f = fopen(path, "w");
	fputs("10.0.0.0/8\n# fine\n10.0.0.1/8\n192.0.2.0/24\nnope, 10.1.0.0/16\n", f);
	fclose(f);
	CHECK(cidr_list_load_file(path, &list, collect, &got) == 2, "bad lines");
	snprintf(want, sizeof want, "%s:3: host bits set in 10.0.0.1/8\n"
		 "%s:5: not an IP address or CIDR in nope\n", path, path);
	CHECK_STR(str(got.text), want, "file errors");
	CHECK(list.count == 0, "nothing appended on error");
	cidr_list_clear(&list);

	got.text[0] = '\0';
	unlink(path);
	CHECK(cidr_list_load_file(path, &list, collect, &got) == 1, "missing");
	snprintf(want, sizeof want, "%s: cannot read: No such file or directory\n",
		 path);
	CHECK_STR(str(got.text), want, "missing file");

	/* Not a regular file: refused at once, never read (forever) or
	 * waited on. */
	got.text[0] = '\0';
	CHECK(cidr_list_load_file("/dev/zero", &list, collect, &got) == 1, "/dev/zero");
	CHECK_STR(str(got.text), "/dev/zero: not a regular file\n", "device");
	got.text[0] = '\0';
	CHECK(cidr_list_load_file(dir, &list, collect, &got) == 1, "directory");
	CHECK(mkfifo(path, 0600) == 0, "mkfifo");
	got.text[0] = '\0';
	CHECK(cidr_list_load_file(path, &list, collect, &got) == 1, "fifo");
	snprintf(want, sizeof want, "%s: not a regular file\n", path);
	CHECK_STR(str(got.text), want, "fifo");
	CHECK(list.count == 0, "nothing appended");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_cidr_parse();
	test_list_contains();
	test_list_errors();
	test_sockaddr();
	test_network();
	test_load_file();
	return unit_done("test_netaddr");
}
