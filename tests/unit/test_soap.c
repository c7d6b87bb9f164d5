/*
 * The SOAP contract of sf_server.h, as tables: envelopes Salesforce may send
 * (parsed byte-exact), envelopes nobody honest sends (refused with a fault
 * string that never echoes input), the field validator, and the canned
 * answers and WSDL. The relay's side (sf_client.h) is test_sf_client.c.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sf_client.h"
#include "sf_server.h"
#include "unit.h"

#define ENV_OPEN "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
#define ENV(body) "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" ENV_OPEN "\n <soapenv:Body>\n" \
	body "\n </soapenv:Body>\n</soapenv:Envelope>\n"
#define AUTH(fields) ENV("  <Authenticate xmlns=\"urn:authentication.soap.sforce.com\">\n" \
	fields "\n  </Authenticate>")
#define AUTH_NODECL(fields) ENV_OPEN "<soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">" \
	fields "</Authenticate></soapenv:Body></soapenv:Envelope>"
#define FIELDS(u, p, ip) "<username>" u "</username><password>" p "</password><sourceIp>" ip "</sourceIp>"

/* A marker every bad envelope carries in a field, to prove no fault string
 * echoes input. */
#define MARK "zq7marker"
#define OR_NULL(s) ((s) != NULL ? (s) : "(null)")

struct good_case {
	const char *name, *body, *username, *password, *source_ip;
};

static const struct good_case good[] = {
	{ "default namespace", AUTH(FIELDS("john.doe@example.com", "s3cret", "203.0.113.7")),
	  "john.doe@example.com", "s3cret", "203.0.113.7" },
	{ "prefixed form",
	  "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	  "xmlns:urn=\"urn:authentication.soap.sforce.com\"><soapenv:Header/><soapenv:Body>"
	  "<urn:Authenticate><urn:username>joe@corp.example</urn:username><urn:password>pw</urn:password>"
	  "<urn:sourceIp>2001:db8::1</urn:sourceIp></urn:Authenticate></soapenv:Body></soapenv:Envelope>",
	  "joe@corp.example", "pw", "2001:db8::1" },
	{ "empty Header",
	  ENV_OPEN "<soapenv:Header/><soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", "p", "1.2.3.4") "</Authenticate></soapenv:Body></soapenv:Envelope>",
	  "u", "p", "1.2.3.4" },
	{ "trailing target-namespace elements ignored",
	  AUTH(FIELDS("u", "p", "1.2.3.4") "<futureField>x</futureField><another><nested/></another>"),
	  "u", "p", "1.2.3.4" },
	{ "UTF-8 password byte-exact",
	  AUTH(FIELDS("jörg@example.com", "pässwörd€😀", "1.2.3.4")),
	  "jörg@example.com", "pässwörd€😀", "1.2.3.4" },
	{ "password of spaces is not trimmed", AUTH(FIELDS("u", "   ", "1.2.3.4")), "u", "   ", "1.2.3.4" },
	{ "inner whitespace kept", AUTH(FIELDS(" u ", " a  b ", "1.2.3.4")), " u ", " a  b ", "1.2.3.4" },
	{ "entity references decoded",
	  AUTH(FIELDS("a&amp;b", "&lt;&gt;&amp;&quot;&apos;", "1.2.3.4")), "a&b", "<>&\"'", "1.2.3.4" },
	{ "character references decoded",
	  AUTH(FIELDS("u", "&#65;&#x42;&#xe4;&#8364;", "1.2.3.4")), "u", "AB\xc3\xa4\xe2\x82\xac", "1.2.3.4" },
	{ "empty fields are the router's business", AUTH(FIELDS("", "", "1.2.3.4")), "", "", "1.2.3.4" },
	{ "self-closing empty password", AUTH("<username>u</username><password/><sourceIp>1.2.3.4</sourceIp>"),
	  "u", "", "1.2.3.4" },
	{ "references outside the BMP decoded",
	  AUTH(FIELDS("u", "&#x1F600;&#128512;&#x10FFFF;", "1.2.3.4")), "u",
	  "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", "1.2.3.4" },
	{ "long references decoded", AUTH(FIELDS("u", "&#0000065;&#x000042;&#x0000e4;", "1.2.3.4")),
	  "u", "AB\xc3\xa4", "1.2.3.4" },
	{ "references to markup characters", AUTH(FIELDS("u", "&#60;x/&#62;&#38;&#x22;&#39;", "1.2.3.4")),
	  "u", "<x/>&\"'", "1.2.3.4" },
	{ "CDATA with & and markup", AUTH(FIELDS("u", "<![CDATA[a&b<x/>&#65;]]>", "1.2.3.4")),
	  "u", "a&b<x/>&#65;", "1.2.3.4" },
	{ "CDATA among text", AUTH(FIELDS("u", "x<![CDATA[&]]>y&amp;", "1.2.3.4")), "u", "x&y&", "1.2.3.4" },
	{ "comment inside a field", AUTH(FIELDS("u", "ab<!-- c&d -->cd", "1.2.3.4")), "u", "abcd", "1.2.3.4" },
	{ "]] and > apart in text", AUTH(FIELDS("u", "]]&gt;]] >", "1.2.3.4")), "u", "]]>]] >", "1.2.3.4" },
	{ "XML declaration variants",
	  "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8' standalone='yes' ?>"
	  AUTH_NODECL(FIELDS("u", "p", "1.2.3.4")), "u", "p", "1.2.3.4" },
	{ "declaration without encoding", "<?xml version=\"1.0\"?>" AUTH_NODECL(FIELDS("u", "p", "1.2.3.4")),
	  "u", "p", "1.2.3.4" },
	{ "attributes, xml:lang and spaces in tags",
	  ENV_OPEN "<soapenv:Body ><Authenticate xmlns=\"urn:authentication.soap.sforce.com\" a = 'x>y' "
	  "xml:lang=\"en\"><username\n>u</username ><password b=\"&lt;&#65;\">p</password>"
	  "<sourceIp>1.2.3.4</sourceIp></Authenticate></soapenv:Body></soapenv:Envelope >",
	  "u", "p", "1.2.3.4" },
	{ "header entries, mustUnderstand 0",
	  ENV_OPEN "<soapenv:Header><h:a xmlns:h=\"urn:h\" soapenv:mustUnderstand=\"0\"><h:b x=\"1\">t</h:b>"
	  "<h:c/></h:a></soapenv:Header><soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", "p", "1.2.3.4") "</Authenticate></soapenv:Body></soapenv:Envelope>", "u", "p", "1.2.3.4" },
	{ "16 attributes and 32 levels",
	  ENV_OPEN "<soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\" "
	  "a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' a9='' a10='' a11='' a12='' a13='' a14='' a15=''>"
	  FIELDS("u", "p", "1.2.3.4") "<x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x/>"
	  "</x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x>"
	  "</Authenticate></soapenv:Body></soapenv:Envelope>", "u", "p", "1.2.3.4" },
	{ "a prefix redeclared inside",
	  "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:u=\"urn:x\"><s:Body>"
	  "<u:Authenticate xmlns:u=\"urn:authentication.soap.sforce.com\"><u:username>u</u:username>"
	  "<u:password>p</u:password><u:sourceIp>1.2.3.4</u:sourceIp></u:Authenticate></s:Body></s:Envelope>",
	  "u", "p", "1.2.3.4" },
	{ "password at its limit",
	  AUTH(FIELDS("u", "%1024s", "1.2.3.4")), "u", NULL, "1.2.3.4" },
};

struct bad_case {
	const char *name, *reason, *body;   /* reason: the fixed fault string */
};

static const struct bad_case bad[] = {
	{ "malformed XML", "malformed XML", AUTH("<username>" MARK "</password><password>p</password><sourceIp>1</sourceIp>") },
	{ "truncated", "malformed XML", ENV_OPEN "<soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  "<username>" MARK "</username><password>p" },
	{ "DOCTYPE with entity", "DTD not allowed", "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"" MARK "\">]>"
	  AUTH_NODECL(FIELDS("u", "&e;", "1.2.3.4")) },
	{ "DOCTYPE alone", "DTD not allowed", "<!DOCTYPE soapenv:Envelope>" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "second XML declaration", "processing instruction not allowed", "<?xml version=\"1.0\"?>" AUTH(FIELDS("u", MARK, "1.2.3.4")) },
	{ "PI inside Body", "processing instruction not allowed", ENV("<?foo " MARK "?><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", "p", "1.2.3.4") "</Authenticate>") },
	{ "wrong Authenticate namespace", "not an Authenticate request", ENV("<Authenticate xmlns=\"urn:" MARK "\">" FIELDS("u", "p", "1.2.3.4")
	  "</Authenticate>") },
	{ "missing namespace", "not an Authenticate request", ENV("<Authenticate>" FIELDS("u", MARK, "1.2.3.4") "</Authenticate>") },
	{ "fields without namespace", "missing or duplicated field", ENV("<Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  "<username xmlns=\"\">u</username><password xmlns=\"\">" MARK "</password>"
	  "<sourceIp xmlns=\"\">1</sourceIp></Authenticate>") },
	{ "SOAP 1.2 envelope", "not a SOAP 1.1 envelope", "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body>"
	  "<Authenticate xmlns=\"urn:authentication.soap.sforce.com\">" FIELDS("u", MARK, "1.2.3.4")
	  "</Authenticate></e:Body></e:Envelope>" },
	{ "no envelope", "not a SOAP 1.1 envelope", "<Authenticate xmlns=\"urn:authentication.soap.sforce.com\">" FIELDS("u", MARK, "1.2.3.4")
	  "</Authenticate>" },
	{ "missing username", "missing or duplicated field", AUTH("<password>" MARK "</password><sourceIp>1</sourceIp>") },
	{ "missing sourceIp", "missing or duplicated field", AUTH("<username>u</username><password>" MARK "</password>") },
	{ "duplicated password", "missing or duplicated field", AUTH(FIELDS("u", "p", "1.2.3.4") "<password>" MARK "</password>") },
	{ "duplicated username", "missing or duplicated field", AUTH("<username>u</username>" FIELDS(MARK, "p", "1.2.3.4")) },
	{ "duplicated username, prefixed", "missing or duplicated field",
	  "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	  "xmlns:urn=\"urn:authentication.soap.sforce.com\"><soapenv:Body><urn:Authenticate>"
	  "<urn:username>x</urn:username><urn:username>u</urn:username><urn:password>" MARK "</urn:password>"
	  "<urn:sourceIp>1</urn:sourceIp></urn:Authenticate></soapenv:Body></soapenv:Envelope>" },
	{ "&#0; in password", "NUL character", AUTH(FIELDS("u", "a&#0;" MARK, "1.2.3.4")) },
	{ "&#x0; in password", "NUL character", AUTH(FIELDS("u", "a&#x0;" MARK, "1.2.3.4")) },
	{ "&#x; in password", "NUL character", AUTH(FIELDS("u", "a&#x;" MARK, "1.2.3.4")) },
	{ "&#1; in password", "control character", AUTH(FIELDS("u", "a&#1;" MARK, "1.2.3.4")) },
	{ "&#10; in username", "control character", AUTH(FIELDS(MARK "&#10;x", "p", "1.2.3.4")) },
	{ "HTML entity", "unsupported entity reference", AUTH(FIELDS("u", "&nbsp;" MARK, "1.2.3.4")) },
	{ "raw 0x01 byte", "control character", AUTH(FIELDS("u", "a\x01" MARK, "1.2.3.4")) },
	{ "raw TAB in password", "control character", AUTH(FIELDS("u", "a\t" MARK, "1.2.3.4")) },
	{ "raw DEL in username", "control character", AUTH(FIELDS("a\x7f" MARK, "p", "1.2.3.4")) },
	{ "invalid UTF-8 C3 28", "invalid UTF-8", AUTH(FIELDS("u", "\xc3\x28" MARK, "1.2.3.4")) },
	{ "overlong slash", "invalid UTF-8", AUTH(FIELDS("u", "\xc0\xaf" MARK, "1.2.3.4")) },
	{ "overlong 3-byte", "invalid UTF-8", AUTH(FIELDS("u", "\xe0\x80\xaf" MARK, "1.2.3.4")) },
	{ "surrogate", "invalid UTF-8", AUTH(FIELDS("u", "\xed\xa0\x80" MARK, "1.2.3.4")) },
	{ "above U+10FFFF", "invalid UTF-8", AUTH(FIELDS("u", "\xf4\x90\x80\x80" MARK, "1.2.3.4")) },
	{ "username over limit", "field too long", AUTH(FIELDS("%513s", "p", "1.2.3.4")) },
	{ "password over limit", "field too long", AUTH(FIELDS("u", "%1025s", "1.2.3.4")) },
	{ "sourceIp over limit", "field too long", AUTH(FIELDS("u", "p", "%65s")) },
	{ "sourceIp empty", "sourceIp is not an IP address", AUTH(FIELDS("u", MARK, "")) },
	{ "sourceIp a name", "sourceIp is not an IP address", AUTH(FIELDS("u", "p", MARK ".example")) },
	{ "sourceIp with a port", "sourceIp is not an IP address", AUTH(FIELDS(MARK, "p", "203.0.113.7:443")) },
	{ "sourceIp in brackets", "sourceIp is not an IP address", AUTH(FIELDS(MARK, "p", "[2001:db8::1]")) },
	{ "sourceIp with a zone", "sourceIp is not an IP address", AUTH(FIELDS(MARK, "p", "fe80::1%eth0")) },
	{ "sourceIp with leading zeros", "sourceIp is not an IP address", AUTH(FIELDS(MARK, "p", "010.1.2.3")) },
	{ "sourceIp with a space", "sourceIp is not an IP address", AUTH(FIELDS(MARK, "p", " 203.0.113.7")) },
	{ "sourceIp a network", "sourceIp is not an IP address", AUTH(FIELDS(MARK, "p", "10.0.0.0/8")) },
	{ "trailing element in a foreign namespace", "unexpected element",
	  AUTH(FIELDS("u", "p", "1.2.3.4") "<x:evil xmlns:x=\"urn:" MARK "\">y</x:evil>") },
	{ "trailing element without namespace", "unexpected element", AUTH(FIELDS("u", "p", "1.2.3.4") "<evil xmlns=\"\">" MARK "</evil>") },
	{ "second Body entry", "unexpected element", ENV("<Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", "p", "1.2.3.4") "</Authenticate><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS(MARK, "p", "1.2.3.4") "</Authenticate>") },
	{ "content after the envelope", "content after the envelope", AUTH(FIELDS("u", MARK, "1.2.3.4")) "<x/>" },
	{ "mustUnderstand header", "unsupported SOAP header", ENV_OPEN "<soapenv:Header><h:x xmlns:h=\"urn:h\" soapenv:mustUnderstand=\"1\"/>"
	  "</soapenv:Header><soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", MARK, "1.2.3.4") "</Authenticate></soapenv:Body></soapenv:Envelope>" },
	{ "id repeated on a field (ASan: strncpy overlap in gSOAP)", "multi-reference attribute not allowed",
	  ENV("<Authenticate xmlns=\"urn:authentication.soap.sforce.com\" id=\"a\"><username id=\"a\">u</username>"
	  "<password>" MARK "</password><sourceIp>1</sourceIp></Authenticate>") },
	{ "id repeated on a nested element", "multi-reference attribute not allowed",
	  ENV("<Authenticate xmlns=\"urn:authentication.soap.sforce.com\" id=\"a\">" FIELDS("u", MARK, "1.2.3.4")
	  "<x id=\"a\"><y id=\"a\">z</y></x></Authenticate>") },
	{ "href to an id", "multi-reference attribute not allowed",
	  AUTH("<username href=\"#a\"/><password id=\"a\">" MARK "</password><sourceIp>1</sourceIp>") },
	{ "SOAP 1.2 ref", "multi-reference attribute not allowed",
	  AUTH("<username e:ref=\"a\" xmlns:e=\"http://www.w3.org/2003/05/soap-encoding\"/>"
	  FIELDS("u", MARK, "1.2.3.4")) },
	{ "id in the Header", "multi-reference attribute not allowed", ENV_OPEN "<soapenv:Header><h id=\"a\"/>"
	  "</soapenv:Header><soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", MARK, "1.2.3.4") "</Authenticate></soapenv:Body></soapenv:Envelope>" },
	{ "< in an attribute value", "malformed XML",
	  AUTH("<username a=\"<x\">u</username><password>" MARK "</password><sourceIp>1</sourceIp>") },
	{ "attribute without a value", "malformed XML", ENV_OPEN "<soapenv:Header><h a/></soapenv:Header>"
	  "<soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", MARK, "1.2.3.4") "</Authenticate></soapenv:Body></soapenv:Envelope>" },
	{ "attribute without quotes", "malformed XML", AUTH("<username a=b>u</username>" FIELDS("u", MARK, "1.2.3.4")) },
	{ "attributes not apart", "malformed XML", AUTH("<username a=\"1\"b=\"2\">u</username><password>"
	  MARK "</password><sourceIp>1</sourceIp>") },
	{ "duplicated attribute", "malformed XML", AUTH("<username a=\"1\" a=\"2\">u</username><password>"
	  MARK "</password><sourceIp>1</sourceIp>") },
	{ "same attribute by two prefixes", "malformed XML",
	  AUTH("<username xmlns:p=\"urn:p\" xmlns:q=\"urn:p\" p:a=\"1\" q:a=\"2\">u</username><password>"
	  MARK "</password><sourceIp>1</sourceIp>") },
	{ "mismatched end tags in the Header", "malformed XML", ENV_OPEN "<soapenv:Header><a><b></a></b>"
	  "</soapenv:Header><soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", MARK, "1.2.3.4") "</Authenticate></soapenv:Body></soapenv:Envelope>" },
	{ "unclosed element in the Header", "malformed XML", ENV_OPEN "<soapenv:Header><a>"
	  "</soapenv:Header><soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  FIELDS("u", MARK, "1.2.3.4") "</Authenticate></soapenv:Body></soapenv:Envelope>" },
	{ "undeclared element prefix", "undeclared namespace prefix", AUTH(FIELDS("u", MARK, "1.2.3.4") "<q:x>1</q:x>") },
	{ "undeclared attribute prefix", "undeclared namespace prefix",
	  AUTH("<username q:a=\"1\">u</username><password>" MARK "</password><sourceIp>1</sourceIp>") },
	{ "prefix out of scope", "undeclared namespace prefix",
	  AUTH("<username xmlns:q=\"urn:q\">u</username><q:password>" MARK "</q:password><sourceIp>1</sourceIp>") },
	{ "empty prefix declaration", "malformed XML",
	  AUTH("<username xmlns:q=\"\">u</username><password>" MARK "</password><sourceIp>1</sourceIp>") },
	{ "reference in a namespace name", "unsupported namespace name",
	  ENV("<Authenticate xmlns=\"urn&#58;authentication.soap.sforce.com\">" FIELDS("u", MARK, "1.2.3.4") "</Authenticate>") },
	{ "two colons in a name", "malformed XML", AUTH(FIELDS("u", MARK, "1.2.3.4") "<a:b:c xmlns:a=\"urn:a\"/>") },
	{ "version 1.1 declaration", "malformed XML declaration",
	  "<?xml version=\"1.1\"?>" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "declaration without version", "malformed XML declaration",
	  "<?xml encoding=\"UTF-8\"?>" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "declaration unterminated", "malformed XML declaration",
	  "<?xml version=\"1.0\" encoding=\"UTF-8\"" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "declaration with junk", "malformed XML declaration",
	  "<?xml version=\"1.0\" foo=\"bar\"?>" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "declaration in another encoding", "unsupported encoding",
	  "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "]]> in text", "malformed XML", AUTH(FIELDS("u", "a]]>" MARK, "1.2.3.4")) },
	{ "unterminated CDATA", "malformed XML", AUTH(FIELDS("u", "<![CDATA[" MARK, "1.2.3.4")) },
	{ "CDATA before the root", "malformed XML", "<![CDATA[x]]>" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "-- inside a comment", "malformed XML", AUTH(FIELDS("u", "a<!-- x -- y -->" MARK, "1.2.3.4")) },
	{ "unterminated comment", "malformed XML", AUTH(FIELDS("u", "a<!-- " MARK, "1.2.3.4")) },
	{ "markup inside a field", "element inside a field", AUTH(FIELDS("u", "abc<x/>def" MARK, "1.2.3.4")) },
	{ "element alone in a field", "element inside a field", AUTH(FIELDS("u", "<x>" MARK "</x>", "1.2.3.4")) },
	{ "markup in a prefixed field", "element inside a field",
	  "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	  "xmlns:urn=\"urn:authentication.soap.sforce.com\"><soapenv:Body><urn:Authenticate>"
	  "<urn:username>u<urn:b/></urn:username><urn:password>" MARK "</urn:password>"
	  "<urn:sourceIp>1</urn:sourceIp></urn:Authenticate></soapenv:Body></soapenv:Envelope>" },
	{ "17 attributes", "too many attributes",
	  ENV("<Authenticate xmlns=\"urn:authentication.soap.sforce.com\" a1='' a2='' a3='' a4='' a5='' a6='' "
	  "a7='' a8='' a9='' a10='' a11='' a12='' a13='' a14='' a15='' a16=''>" FIELDS("u", MARK, "1.2.3.4")
	  "</Authenticate>") },
	{ "33 levels", "elements nested too deeply",
	  AUTH(FIELDS("u", MARK, "1.2.3.4") "<x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x><x/>"
	  "</x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x></x>") },
	{ "33 namespace declarations in scope", "too many namespace declarations",
	  ENV("<Authenticate xmlns=\"urn:authentication.soap.sforce.com\">"
	  "<x xmlns:a=\"u:1\" xmlns:b=\"u:1\" xmlns:c=\"u:1\" xmlns:d=\"u:1\" xmlns:e=\"u:1\" xmlns:f=\"u:1\" xmlns:g=\"u:1\" xmlns:h=\"u:1\">"
	  "<x xmlns:a=\"u:1\" xmlns:b=\"u:1\" xmlns:c=\"u:1\" xmlns:d=\"u:1\" xmlns:e=\"u:1\" xmlns:f=\"u:1\" xmlns:g=\"u:1\" xmlns:h=\"u:1\">"
	  "<x xmlns:a=\"u:1\" xmlns:b=\"u:1\" xmlns:c=\"u:1\" xmlns:d=\"u:1\" xmlns:e=\"u:1\" xmlns:f=\"u:1\" xmlns:g=\"u:1\" xmlns:h=\"u:1\">"
	  "<x xmlns:a=\"u:1\" xmlns:b=\"u:1\" xmlns:c=\"u:1\" xmlns:d=\"u:1\" xmlns:e=\"u:1\" xmlns:f=\"u:1\" xmlns:g=\"u:1\">"
	  "<x xmlns:a=\"u:1\"/></x></x></x></x>" FIELDS("u", MARK, "1.2.3.4") "</Authenticate>") },
	{ "surrogate reference", "unsupported character reference", AUTH(FIELDS("u", "&#xD800;" MARK, "1.2.3.4")) },
	{ "reference past U+10FFFF", "unsupported character reference", AUTH(FIELDS("u", "&#x110000;" MARK, "1.2.3.4")) },
	{ "huge reference", "unsupported character reference", AUTH(FIELDS("u", "&#99999999999999999999;" MARK, "1.2.3.4")) },
	{ "U+FFFE reference", "unsupported character reference", AUTH(FIELDS("u", "&#xFFFE;" MARK, "1.2.3.4")) },
	{ "uppercase X reference", "malformed XML", AUTH(FIELDS("u", "&#X41;" MARK, "1.2.3.4")) },
	{ "reference without ;", "malformed XML", AUTH(FIELDS("u", "&#65" MARK, "1.2.3.4")) },
	{ "text before the envelope", "not a SOAP 1.1 envelope", "<?xml version=\"1.0\"?>x" AUTH_NODECL(FIELDS("u", MARK, "1.2.3.4")) },
	{ "second root element", "content after the envelope", AUTH(FIELDS("u", MARK, "1.2.3.4")) "<soapenv:Envelope/>" },
	{ "text after the envelope", "content after the envelope", AUTH(FIELDS("u", MARK, "1.2.3.4")) "x" },
	{ "stray end tag", "malformed XML", AUTH(FIELDS("u", MARK, "1.2.3.4")) "</x>" },
	{ "empty Body", "not an Authenticate request", ENV("") },
	{ "empty input", "malformed XML", "" },
	{ "not XML", "not a SOAP 1.1 envelope", "username: " MARK },
	{ "form post", "unsupported character reference", "username=" MARK "&password=p" },
};

/* "%Ns" in a case body stands for N 'a's (limits are too long to spell). */
static char *expand(const char *tpl, size_t *len_r)
{
	size_t cap = strlen(tpl) + 4096, n = 0;
	char *out = malloc(cap);

	for (const char *p = tpl; *p != '\0'; p++) {
		char *end;
		unsigned long count;

		if (p[0] == '%' && (count = strtoul(p + 1, &end, 10)) > 0 && *end == 's') {
			memset(out + n, 'a', count);
			n += count;
			p = end;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	*len_r = n;
	return out;
}

static void test_good(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct good_case *c = &good[i];
		struct sf_authenticate req;
		const char *err = NULL;
		size_t len, want_len;
		char *body = expand(c->body, &len);
		char *want_pw = c->password ? strdup(c->password) : expand("%1024s", &want_len);

		CHECK(sf_request_parse(body, len, &req, &err) == 0, "%s: %s", c->name, err ? err : "");
		if (req.username != NULL) {
			CHECK_STR(req.username, c->username, c->name);
			CHECK_STR(req.password, want_pw, c->name);
			CHECK(req.password_len == strlen(want_pw), "%s: password_len %zu", c->name,
			      req.password_len);
			CHECK_STR(req.source_ip, c->source_ip, c->name);
		}
		sf_request_clear(&req);
		CHECK(req.password == NULL && req.username == NULL, "%s: clear", c->name);
		free(want_pw);
		free(body);
	}
}

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad_case *c = &bad[i];
		struct sf_authenticate req;
		const char *err = NULL;
		size_t len;
		char *body = expand(c->body, &len);

		CHECK(sf_request_parse(body, len, &req, &err) == -1, "%s: accepted", c->name);
		CHECK_STR(err, c->reason, c->name);
		CHECK(err == NULL || (strstr(err, MARK) == NULL && strstr(err, "aaaa") == NULL),
		      "%s: reason echoes input", c->name);
		CHECK(req.username == NULL && req.password == NULL && req.source_ip == NULL,
		      "%s: output not empty", c->name);
		free(body);
	}
	/* A NUL byte itself, which a C string table cannot carry. */
	static const char nul_body[] = AUTH(FIELDS("u", "a\0b", "1.2.3.4"));
	struct sf_authenticate req;
	const char *err = NULL;

	CHECK(sf_request_parse(nul_body, sizeof(nul_body) - 1, &req, &err) == -1, "raw NUL accepted");
}

/* A request with `n` copies of `unit` after sourceIp, parsed. */
static const char *parse_with(const char *unit, size_t n)
{
	static const char head[] = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
		"<soapenv:Body><Authenticate xmlns=\"urn:authentication.soap.sforce.com\">" FIELDS("u", "p", "1.2.3.4");
	static const char tail[] = "</Authenticate></soapenv:Body></soapenv:Envelope>";
	size_t len = strlen(head) + n * strlen(unit) + strlen(tail), at = strlen(head);
	char *body = malloc(len + 1);
	struct sf_authenticate req;
	const char *err = NULL;

	memcpy(body, head, at);
	for (size_t i = 0; i < n; i++, at += strlen(unit))
		memcpy(body + at, unit, strlen(unit));
	memcpy(body + at, tail, strlen(tail));
	if (sf_request_parse(body, len, &req, &err) == 0)
		err = NULL;
	sf_request_clear(&req);
	free(body);
	return err;
}

/* The guard's bounds (sf_int.h) hold at the limit and refuse one past it. */
static void test_limits(void)
{
	char name[300];
	const char *err;

	/* Envelope, Body, Authenticate and three fields are 6 elements. */
	err = parse_with("<x/>", 256 - 6);
	CHECK(err == NULL, "256 elements: %s", OR_NULL(err));
	CHECK_STR(parse_with("<x/>", 256 - 5), "too many elements", "257 elements");
	/* The two namespace names and "u", "p", "1.2.3.4" count as text too. */
	const size_t used = strlen("http://schemas.xmlsoap.org/soap/envelope/") +
			    strlen("urn:authentication.soap.sforce.com") + strlen("up1.2.3.4");
	static const struct {
		const char *open, *close;
		size_t over;
		bool ok;
	} text[] = {
		{ "<x>", "</x>", 0, true }, { "<x>", "</x>", 1, false },
		{ "<x a='", "'/>", 0, true }, { "<x a='", "'/>", 1, false },
		{ "<x><![CDATA[", "]]></x>", 0, true }, { "<x><![CDATA[", "]]></x>", 1, false },
	};
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		size_t n = 65536 - used + text[i].over;
		char *unit = malloc(n + 32);

		strcpy(unit, text[i].open);
		memset(unit + strlen(unit), ' ', n);
		strcpy(unit + strlen(text[i].open) + n, text[i].close);
		err = parse_with(unit, 1);
		if (text[i].ok)
			CHECK(err == NULL, "text case %zu: %s", i, OR_NULL(err));
		else
			CHECK_STR(err, "too much text", "text past the budget");
		free(unit);
	}
	/* Comments are no text: gSOAP skips them cheaply. */
	err = parse_with("<!-- 0123456789abcdef -->", 65536 / 16);
	CHECK(err == NULL, "comments: %s", OR_NULL(err));

	memset(name, 'n', sizeof(name));
	memcpy(name, "<", 1);
	memcpy(name + 257, "/>", 3);
	err = parse_with(name, 1);
	CHECK(err == NULL, "name of 256: %s", OR_NULL(err));
	memcpy(name + 258, "/>", 3);
	CHECK_STR(parse_with(name, 1), "malformed XML", "name of 257");
}

static void test_field_check(void)
{
	static const struct {
		const char *s;
		size_t max;
		bool ok;
	} cases[] = {
		{ "", 8, true },
		{ "plain", 8, true },
		{ "12345678", 8, true },
		{ "123456789", 8, false },
		{ "p\xc3\xa4ss\xe2\x82\xac\xf0\x9f\x98\x80", 64, true },   /* pä ss € 😀 */
		{ "\xef\xbf\xbd", 8, true },                             /* U+FFFD */
		{ "\xf4\x8f\xbf\xbf", 8, true },                         /* U+10FFFF */
		{ "a\tb", 8, false },
		{ "a\nb", 8, false },
		{ "a\rb", 8, false },
		{ "\x1b[2J", 8, false },
		{ "a\x7f", 8, false },
		{ "\xc2\x85", 8, false },                                /* C1 NEL */
		{ "\xc3\x28", 8, false },
		{ "\xc3", 8, false },                                    /* truncated */
		{ "\x80", 8, false },                                    /* lone continuation */
		{ "\xc0\xaf", 8, false },                                /* overlong */
		{ "\xc1\xbf", 8, false },
		{ "\xe0\x80\xaf", 8, false },
		{ "\xf0\x80\x80\xaf", 8, false },
		{ "\xed\xa0\x80", 8, false },                            /* surrogate */
		{ "\xed\xbf\xbf", 8, false },
		{ "\xf4\x90\x80\x80", 8, false },                        /* > U+10FFFF */
		{ "\xf5\x80\x80\x80", 8, false },
		{ "\xff", 8, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;
		int rc = sf_field_check(cases[i].s, strlen(cases[i].s), cases[i].max, &err);

		CHECK((rc == 0) == cases[i].ok, "case %zu: rc %d (%s)", i, rc, err ? err : "");
		CHECK(cases[i].ok || err != NULL, "case %zu: no reason", i);
	}
	const char *err = NULL;

	CHECK(sf_field_check("a\0b", 3, 8, &err) == -1, "embedded NUL accepted");
}

static void test_answers(void)
{
	size_t len;
	const char *t = sf_answer_result(true, &len);

	CHECK(t != NULL && strlen(t) == len, "true length");
	CHECK(t != NULL && strstr(t, "<Authenticated>true</Authenticated>") != NULL, "true body: %s", OR_NULL(t));
	CHECK(t != NULL && strstr(t, "<AuthenticateResult xmlns=\"urn:authentication.soap.sforce.com\">"),
	      "true namespace: %s", OR_NULL(t));
	CHECK(t != NULL && strstr(t, "http://schemas.xmlsoap.org/soap/envelope/"), "SOAP 1.1: %s", OR_NULL(t));
	const char *f = sf_answer_result(false, &len);

	CHECK(f != NULL && strlen(f) == len, "false length");
	CHECK(f != NULL && strstr(f, "<Authenticated>false</Authenticated>") != NULL, "false body: %s", OR_NULL(f));

	char *fault = sf_answer_fault(true, "malformed XML", NULL, &len);

	CHECK(fault != NULL && strlen(fault) == len, "fault length");
	CHECK(fault != NULL && strstr(fault, ":Client</faultcode>") != NULL, "client fault: %s", OR_NULL(fault));
	CHECK(fault != NULL && strstr(fault, "<faultstring>malformed XML</faultstring>") != NULL,
	      "fault string: %s", OR_NULL(fault));
	/* Prefixed, so the unqualified faultcode/faultstring need no xmlns="". */
	CHECK(fault != NULL && strstr(fault, "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">"
				      "<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>") != NULL,
	      "prefixed fault: %s", OR_NULL(fault));
	free(fault);
	fault = sf_answer_fault(true, "unsupported SOAP header", NULL, &len);
	CHECK(fault != NULL && strstr(fault, "<faultcode>SOAP-ENV:MustUnderstand</faultcode>") != NULL,
	      "MustUnderstand fault: %s", OR_NULL(fault));
	free(fault);
	fault = sf_answer_fault(false, "unsupported SOAP header", NULL, &len);
	CHECK(fault != NULL && strstr(fault, ":Server</faultcode>") != NULL, "server stays server: %s",
	      OR_NULL(fault));
	free(fault);
	/* The answers after a fault are still in the default-namespace form. */
	t = sf_answer_result(true, &len);
	CHECK(t != NULL && strstr(t, "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\">"),
	      "result form: %s", OR_NULL(t));
	fault = sf_answer_fault(false, "no <provider> & more", NULL, &len);
	CHECK(fault != NULL && strstr(fault, ":Server</faultcode>") != NULL, "server fault: %s", OR_NULL(fault));
	CHECK(fault != NULL && strstr(fault, "no &lt;provider&gt; &amp; more") != NULL, "escaped: %s", OR_NULL(fault));
	free(fault);
	fault = sf_answer_fault(false, "server busy", "0123456789abcdef", &len);
	CHECK(fault != NULL && strstr(fault, "<faultstring>server busy [request_id=0123456789abcdef]"
				      "</faultstring>") != NULL, "request id: %s", OR_NULL(fault));
	free(fault);

	char *w = sf_wsdl_for("https://sso.corp.example/Sso.asmx?a=1&b=2", &len);

	CHECK(w != NULL && strlen(w) == len, "wsdl length");
	CHECK(w != NULL && strstr(w, "location=\"https://sso.corp.example/Sso.asmx?a=1&amp;b=2\""),
	      "wsdl address");
	CHECK(w != NULL && strstr(w, "<xsd:any namespace=\"##targetNamespace\""), "wsdl xsd:any");
	CHECK(w != NULL && strstr(w, "@DAGATE_PUBLIC_URL@") == NULL, "placeholder left");
	CHECK(w != NULL && strstr(w, "name=\"SforceAuthenticationService\""), "wsdl service");
	free(w);
}

/* Every thread gets its own gSOAP context, freed when the thread ends. */
static void *parse_in_thread(void *arg)
{
	struct sf_authenticate req;
	const char *err;
	static const char body[] = AUTH(FIELDS("t", "pw", "1.2.3.4"));
	intptr_t ok = 1;

	for (int i = 0; i < 200; i++) {
		ok &= sf_request_parse(body, sizeof(body) - 1, &req, &err) == 0 &&
		      strcmp(req.password, "pw") == 0;
		sf_request_clear(&req);
	}
	(void)arg;
	return (void *)ok;
}

static void test_threads(void)
{
	pthread_t t[4];
	void *ok;

	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, parse_in_thread, NULL) == 0, "thread %d", i);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &ok);
		CHECK(ok == (void *)1, "thread %d parse", i);
	}
}

int main(void)
{
	const char *err = NULL;

	size_t len;

	CHECK(sf_wsdl_for("", &len) == NULL, "empty public_url accepted");
	CHECK(sf_server_init(&err) == 0, "init: %s", err);
	test_good();
	test_bad();
	test_limits();
	test_field_check();
	test_answers();
	test_threads();
	sf_server_deinit();
	return unit_done("test_soap");
}
