/*
 * How long one sf_request_parse() holds a thread (an HTTP event thread, in
 * dagate) for hostile bodies at the largest max_body the configuration
 * allows (1 MiB): many attributes, deep nesting, many elements, namespace
 * declarations, references, comments, long text. Prints the median and the
 * worst time per shape and what the parse answered. Not a test: figures.
 *
 *   scripts/build && o=build/CMakeFiles/dagate_soap.dir && \
 *   cc -O2 -D_GNU_SOURCE -Iservice/soap -Ibuild/gsoap -o /tmp/soap_parse \
 *     bench/soap_parse.c $o/service/soap/sf_?*.o $o/gsoap/soapC.c.o \
 *     $o/gsoap/wsdl_embed.c.o -lgsoap && /tmp/soap_parse
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sf_server.h"

#define BODY_MAX (1024 * 1024)   /* conf/config_load.c: max_body's upper bound */
#define RUNS 30

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
#define AUTH_OPEN "<soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">" \
	"<username>u@example.com</username><password>pw</password><sourceIp>203.0.113.7</sourceIp>"
#define AUTH_CLOSE "</Authenticate></soapenv:Body></soapenv:Envelope>\n"

struct buf {
	char *p;
	size_t len;
};

static void put(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n <= BODY_MAX) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

/* `unit` repeated until the body is 1 MiB with `tail`. */
static void pad(struct buf *b, const char *unit, const char *tail)
{
	while (b->len + strlen(unit) + strlen(tail) <= BODY_MAX)
		put(b, unit);
	put(b, tail);
}

static void fill(struct buf *b, const char *head, const char *unit, const char *tail)
{
	b->len = 0;
	put(b, head);
	pad(b, unit, tail);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void measure(const char *name, const struct buf *b)
{
	double t[RUNS];
	const char *err = NULL;
	int rc = 0;

	for (int i = 0; i < RUNS; i++) {
		struct sf_authenticate req;
		double t0 = now_ms();

		rc = sf_request_parse(b->p, b->len, &req, &err);
		t[i] = now_ms() - t0;
		sf_request_clear(&req);
	}
	qsort(t, RUNS, sizeof(t[0]), cmp);
	printf("%-44s %8zu B  median %7.3f ms  worst %7.3f ms  %s\n", name, b->len,
	       t[RUNS / 2], t[RUNS - 1], rc == 0 ? "parsed" : err);
}

/* `unit` repeated to 1 MiB after the fields, then in a Header. */
static void in_both(struct buf *b, const char *name, const char *unit)
{
	char label[96];

	fill(b, HEAD AUTH_OPEN, unit, AUTH_CLOSE);
	snprintf(label, sizeof label, "trailing %s", name);
	measure(label, b);
	fill(b, HEAD "<soapenv:Header>", unit, "</soapenv:Header>" AUTH_OPEN AUTH_CLOSE);
	snprintf(label, sizeof label, "header %s", name);
	measure(label, b);
}

int main(void)
{
	struct buf b = { malloc(BODY_MAX), 0 };
	char unit[4096];
	const char *err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (b.p == NULL || sf_server_init(&err) < 0)
		return 1;
	b.len = 0;
	put(&b, HEAD AUTH_OPEN AUTH_CLOSE);
	measure("Salesforce's request", &b);

	/* The finding: 2300 attributes on one element in 16 KB. */
	b.len = 0;
	put(&b, HEAD AUTH_OPEN "<x");
	for (int i = 0; i < 2300 && b.len < 16000; i++) {
		snprintf(unit, sizeof unit, " a%d=''", i);
		put(&b, unit);
	}
	put(&b, "/>" AUTH_CLOSE);
	measure("2300 attributes on one element (16 KB)", &b);

	fill(&b, HEAD AUTH_OPEN "<x", " a=''", "/>" AUTH_CLOSE);
	measure("1 MiB of attributes on one element", &b);

	/* The most gSOAP may see: elements at the attribute limit. */
	strcpy(unit, "<x");
	for (int i = 0; i < 16; i++)
		snprintf(unit + strlen(unit), sizeof unit - strlen(unit), " a%x=''", i);
	strcat(unit, "/>");
	in_both(&b, "elements, 16 attributes each", unit);
	in_both(&b, "empty elements", "<x/>");

	unit[0] = '\0';
	for (int i = 0; i < 29; i++)
		strcat(unit, "<x>");
	strcat(unit, "y");
	for (int i = 0; i < 29; i++)
		strcat(unit, "</x>");
	in_both(&b, "elements 32 deep", unit);

	strcpy(unit, "<p:x");
	for (int i = 0; i < 15; i++)
		snprintf(unit + strlen(unit), sizeof unit - strlen(unit), " xmlns:p%x='urn:p'", i);
	strcat(unit, " xmlns:p='urn:p'/>");
	fill(&b, HEAD AUTH_OPEN, unit, AUTH_CLOSE);
	measure("trailing elements, 16 namespace declarations", &b);

	fill(&b, HEAD AUTH_OPEN "<x>", "&#128512;", "</x>" AUTH_CLOSE);
	measure("references outside the BMP in a trailing element", &b);
	fill(&b, HEAD AUTH_OPEN "<x>", "&amp;", "</x>" AUTH_CLOSE);
	measure("entity references in a trailing element", &b);
	fill(&b, HEAD "<soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	     "<username>u</username><password>", "a", "</password><sourceIp>1</sourceIp>" AUTH_CLOSE);
	measure("1 MiB password", &b);
	fill(&b, HEAD "<soapenv:Header><h>", "aaaaaaaaaaaaaaaaaaaa", "</h></soapenv:Header>" AUTH_OPEN AUTH_CLOSE);
	measure("1 MiB text in a header", &b);
	fill(&b, HEAD AUTH_OPEN, "<!-- c -->", AUTH_CLOSE);
	measure("comments", &b);
	fill(&b, HEAD AUTH_OPEN "<x>", "<![CDATA[&<]]>", "</x>" AUTH_CLOSE);
	measure("CDATA sections", &b);
	fill(&b, HEAD AUTH_OPEN "<x>", "                    ", "</x>" AUTH_CLOSE);
	measure("whitespace", &b);

	/* The most the guard lets through to gSOAP, padded to 1 MiB with
	 * what it still allows without limit (comments, space in tags). */
	b.len = 0;
	put(&b, HEAD "<soapenv:Header>");
	for (int e = 0; e < 240; e++) {
		put(&b, "<x");
		for (int i = 0; i < 16; i++) {
			snprintf(unit, sizeof unit, " a%x='%.*s'", i, 15, "xxxxxxxxxxxxxxxxxxxx");
			put(&b, unit);
		}
		put(&b, "/>");
	}
	pad(&b, "<!-- 0123456789abcdef01234 -->", "</soapenv:Header>" AUTH_OPEN AUTH_CLOSE);
	measure("limits: 240 x 16 attributes, then comments", &b);

	b.len = 0;
	put(&b, HEAD "<soapenv:Header>");
	for (int e = 0; e < 240; e++) {
		/* <nnn...n a0aaa...a='' a1aaa...a='' a2aaa...a=''/>, names of 256 */
		put(&b, "<");
		memset(unit, 'n', 256);
		unit[256] = '\0';
		put(&b, unit);
		for (int i = 0; i < 3; i++) {
			snprintf(unit, sizeof unit, " a%d", i);
			memset(unit + 3, 'a', 254);
			strcpy(unit + 257, "=''");
			put(&b, unit);
		}
		put(&b, "/>");
	}
	put(&b, "<h");
	pad(&b, "                                                                ",
	    "/></soapenv:Header>" AUTH_OPEN AUTH_CLOSE);
	measure("limits: long names, then space in a tag", &b);

	b.len = 0;
	put(&b, HEAD "<soapenv:Header><h>");
	for (int i = 0; i < 60000 / 64; i++)
		put(&b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde ");
	put(&b, "</h>");
	pad(&b, "<!-- 0123456789abcdef01234 -->", "</soapenv:Header>" AUTH_OPEN AUTH_CLOSE);
	measure("limits: 60 KB of text, then comments", &b);

	sf_server_deinit();
	free(b.p);
	return 0;
}
