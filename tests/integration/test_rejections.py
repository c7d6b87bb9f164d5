"""Every request that is not a valid Authenticate gets a soap:Client fault
(HTTP 500) whose text never echoes the input."""

import secrets
import unittest

from harness import Dagate, Fault, SF_NS, SOAP_ENV_NS, envelope, parse_answer, server_section

CONF = server_section() + """
[route]
match = * -> yes

[provider yes]
type = static
result = true
"""

CANARY = 'canary-' + secrets.token_hex(8)
U = 'user@example.com'


def good(**kw):
    args = dict(username=U, password=CANARY, source_ip='203.0.113.7')
    args.update(kw)
    return envelope(args['username'], args['password'], args['source_ip'], form=kw.get('form', 'default'),
                    extra=kw.get('extra', ''))


def sub(body, old, new, count=1):
    assert old in body, (old, body)
    return body.replace(old, new, count)


BASE = good()
PASS_EL = b'<password>' + CANARY.encode() + b'</password>'


def with_password(raw):
    """BASE with the password element's content replaced by raw bytes."""
    return sub(BASE, PASS_EL, b'<password>' + raw + b'</password>')


CASES = [
    ('empty body', b''),
    ('not xml', b'username=' + CANARY.encode()),
    ('truncated', BASE[:len(BASE) // 2]),
    ('unclosed element', sub(BASE, b'</password>', b'')),
    ('mismatched tag', sub(BASE, b'</password>', b'</passwort>')),
    ('garbage after envelope', BASE + b'<x/>'),
    ('doctype', sub(BASE, b'?>\n', b'?>\n<!DOCTYPE soapenv:Envelope>\n')),
    ('doctype with entity', sub(sub(BASE, b'?>\n', b'?>\n<!DOCTYPE e [<!ENTITY c "' + CANARY.encode() + b'">]>\n'),
                                PASS_EL, b'<password>&c;</password>')),
    ('entity expansion bomb', sub(BASE, b'?>\n', b'?>\n<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n')),
    ('external entity', sub(sub(BASE, b'?>\n', b'?>\n<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'),
                            PASS_EL, b'<password>&x;</password>')),
    ('undefined entity', with_password(b'&nosuch;')),
    ('processing instruction in body', sub(BASE, b'<soapenv:Body>', b'<soapenv:Body><?evil ' + CANARY.encode() + b'?>')),
    ('processing instruction before envelope', sub(BASE, b'?>\n', b'?>\n<?xml-stylesheet href="x"?>\n')),
    ('processing instruction in field', with_password(CANARY.encode() + b'<?pi x?>')),
    ('wrong operation namespace', sub(BASE, SF_NS.encode(), b'urn:authentication.soap.sforce.co')),
    ('operation namespace case', sub(BASE, SF_NS.encode(), b'urn:Authentication.soap.sforce.com')),
    ('missing operation namespace', sub(BASE, b' xmlns="' + SF_NS.encode() + b'"', b'')),
    ('fields in no namespace', sub(BASE, b'<username>', b'<username xmlns="">')),
    ('SOAP 1.2 envelope namespace', sub(BASE, SOAP_ENV_NS.encode(), b'http://www.w3.org/2003/05/soap-envelope')),
    ('no envelope namespace', sub(BASE, b' xmlns:soapenv="' + SOAP_ENV_NS.encode() + b'"', b' xmlns:soapenv="urn:x"')),
    ('unbound prefix', sub(sub(BASE, b'<Authenticate xmlns="' + SF_NS.encode() + b'">', b'<urn:Authenticate>'),
                           b'</Authenticate>', b'</urn:Authenticate>')),
    ('wrong operation name', sub(sub(BASE, b'<Authenticate ', b'<authenticate '), b'</Authenticate>', b'</authenticate>')),
    ('wrong field case', sub(sub(BASE, b'<sourceIp>', b'<sourceIP>'), b'</sourceIp>', b'</sourceIP>')),
    ('response instead of request', sub(sub(BASE, b'<Authenticate ', b'<AuthenticateResult '),
                                        b'</Authenticate>', b'</AuthenticateResult>')),
    ('no body element', b'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="' + SOAP_ENV_NS.encode() + b'"/>'),
    ('empty body element', b'<soapenv:Envelope xmlns:soapenv="' + SOAP_ENV_NS.encode() + b'"><soapenv:Body/></soapenv:Envelope>'),
    ('no envelope', b'<Authenticate xmlns="' + SF_NS.encode() + b'"><username>u</username><password>'
                    + CANARY.encode() + b'</password><sourceIp>1.2.3.4</sourceIp></Authenticate>'),
    ('missing username', good(username=None)),
    ('missing password', good(password=None)),
    ('missing sourceIp', good(source_ip=None)),
    ('missing username (prefixed)', good(username=None, form='prefixed')),
    ('duplicated username', sub(BASE, b'<username>', b'<username>x@example.com</username><username>')),
    ('duplicated password', sub(BASE, PASS_EL, PASS_EL + PASS_EL)),
    ('duplicated sourceIp', sub(BASE, b'<sourceIp>', b'<sourceIp>1.1.1.1</sourceIp><sourceIp>')),
    ('two Authenticate elements', sub(BASE, b'</soapenv:Body>', BASE.split(b'<soapenv:Body>')[1].split(b'</soapenv:Body>')[0] + b'</soapenv:Body>')),
    ('trailing element in another namespace', good(extra='<future xmlns="urn:other">x</future>')),
    # Issue 10: what gSOAP took or mangled, refused by the guard before it.
    # gSOAP called strncpy with overlapping arguments here (the ASan build aborted).
    ('id repeated on a field', sub(BASE, b'">\n   <username>', b'" id="a">\n   <username id="a">')),
    ('id repeated on a nested element', sub(sub(BASE, b'">\n   <username>', b'" id="a">\n   <username>'),
                                            b'</sourceIp>', b'</sourceIp><x id="a"><y id="a">z</y></x>')),
    ('href to an id', sub(sub(BASE, b'<username>' + U.encode() + b'</username>', b'<username href="#p"/>'),
                          b'<password>', b'<password id="p">')),
    ('markup inside a field', with_password(b'abc<x/>def' + CANARY.encode())),
    ('element alone in a field', with_password(b'<b>' + CANARY.encode() + b'</b>')),
    ('< in an attribute value', sub(BASE, b'<username>', b'<username a="<b">')),
    ('attribute without a value', sub(BASE, b'<soapenv:Body>', b'<soapenv:Header><h a/></soapenv:Header><soapenv:Body>')),
    ('mismatched end tags in the Header', sub(BASE, b'<soapenv:Body>',
                                              b'<soapenv:Header><a><b></a></b></soapenv:Header><soapenv:Body>')),
    ('undeclared prefix', good(extra='<q:x>1</q:x>')),
    ('malformed XML declaration', sub(BASE, b'<?xml version="1.0" encoding="UTF-8"?>', b'<?xml version="1.0" x?>')),
    ('non-UTF-8 encoding declared', sub(BASE, b'encoding="UTF-8"', b'encoding="ISO-8859-1"')),
    (']]> in text', with_password(CANARY.encode() + b']]>')),
    ('too many attributes', sub(BASE, b'<username>', b'<username ' + b' '.join(b'a%d=""' % i for i in range(1000)) + b'>')),
    ('too deeply nested', good(extra='<x>' * 40 + '</x>' * 40)),
    ('invalid UTF-8 in password', with_password(CANARY.encode() + b'\xff\xfe')),
    ('overlong UTF-8 in password', with_password(CANARY.encode() + b'\xc0\xaf')),
    ('UTF-16 surrogate in UTF-8', with_password(CANARY.encode() + b'\xed\xa0\x80')),
    ('truncated UTF-8 sequence', with_password(CANARY.encode() + b'\xe6\x97')),
    ('invalid UTF-8 in username', good(username=b'us\xc3er@example.com')),
    ('NUL as &#0;', with_password(CANARY.encode() + b'&#0;rest')),
    ('NUL as &#x0;', with_password(b'&#x0;' + CANARY.encode())),
    ('raw NUL byte', with_password(CANARY.encode() + b'\x00rest')),
    ('control char &#1;', with_password(CANARY.encode() + b'&#1;')),
    ('control char ESC', with_password(CANARY.encode() + b'&#x1b;[2J')),
    ('control char raw 0x01', with_password(CANARY.encode() + b'\x01')),
    ('DEL', with_password(CANARY.encode() + b'&#127;')),
    ('newline in username', sub(BASE, b'<username>' + U.encode(), b'<username>a@example.com&#10;event=auth')),
    ('CR in password', with_password(CANARY.encode() + b'&#13;')),
    ('tab in username', good(username=b'a\t@example.com')),
    ('over-long username', good(username='u' * 600 + '@example.com')),
    ('over-long password', good(password=CANARY + 'p' * 1100)),
    ('over-long sourceIp', good(source_ip='1' * 100)),
]


class Rejections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(CONF)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_valid_request_is_accepted(self):
        """The control: the base envelope of every case below is accepted."""
        status, _, body = self.d.post(BASE)
        self.assertEqual(parse_answer(status, body), 'true')
        status, _, body = self.d.post(good(form='prefixed'))
        self.assertEqual(parse_answer(status, body), 'true')

    def test_every_rejection_is_a_client_fault(self):
        for name, body in CASES:
            with self.subTest(case=name):
                self.assertTrue(self.d.running(), 'dagate died:\n' + self.d.log()[-4000:])
                status, headers, resp = self.d.post(body)
                self.assertEqual(status, 500, '%s: %r' % (name, resp[:300]))
                self.assertTrue(headers.get('content-type', '').startswith('text/xml'), headers)
                answer = parse_answer(status, resp)
                self.assertIsInstance(answer, Fault)
                self.assertEqual(answer.code, 'soap:Client', resp)
                self.assertTrue(answer.string, 'a fault string')
                self.assertLess(len(answer.string), 200)
                self.assertNotIn(CANARY.encode(), resp)
                self.assertNotIn(b'passwd', resp)
        # no decision was made for a message that is not an Authenticate
        self.assertTrue(self.d.running())

    def test_must_understand_header(self):
        """SOAP 1.1 section 4.2.3: a mandatory header nobody here understands
        gets the MustUnderstand fault code."""
        body = sub(BASE, b'<soapenv:Body>', b'<soapenv:Header><h:x xmlns:h="urn:h" soapenv:mustUnderstand="1"/>'
                   b'</soapenv:Header><soapenv:Body>')
        status, _, resp = self.d.post(body)
        answer = parse_answer(status, resp)
        self.assertIsInstance(answer, Fault, resp)
        self.assertEqual(answer.code, 'soap:MustUnderstand', resp)
        self.assertEqual(status, 500)
        self.assertNotIn(CANARY.encode(), resp)

    def test_rejections_in_prefixed_form(self):
        base = good(form='prefixed')
        cases = [
            ('missing password', good(password=None, form='prefixed')),
            ('wrong prefix binding', base.replace(b'xmlns:urn="' + SF_NS.encode(), b'xmlns:urn="urn:x')),
            ('duplicated username', base.replace(b'<urn:username>', b'<urn:username>x</urn:username><urn:username>')),
        ]
        for name, body in cases:
            with self.subTest(case=name):
                status, _, resp = self.d.post(body)
                answer = parse_answer(status, resp)
                self.assertIsInstance(answer, Fault, name)
                self.assertEqual(answer.code, 'soap:Client', resp)
                self.assertEqual(status, 500)


if __name__ == '__main__':
    unittest.main()
