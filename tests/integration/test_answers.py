"""Authenticate over plain HTTP: true/false answers, both request forms,
what Salesforce may add (empty Header, trailing elements), byte-exact
non-ASCII passwords, empty fields, the WSDL and /healthz."""

import os
import unittest
import unicodedata
import xml.etree.ElementTree as ET

try:
    import zeep
except ImportError:   # optional: scripts/deps installs python3-zeep
    zeep = None

from harness import (Dagate, Fault, SF_NS, SOAP_ENV_NS, envelope, hash_password,
                     parse_answer, server_section, REPO)


def demo_users_line():
    with open(os.path.join(REPO, 'conf', 'users'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('demo@example.com:'):
                return line.strip()
    raise AssertionError('conf/users has no demo user')


PW_UNICODE = 'Pässwörd-日本語-🔑-ça'   # NFC, 4-byte emoji included
PW_MARKUP = 'a&b<c>&;&&x'

FILE_CONF = server_section(extra='public_url = https://sso.test.example/Sso.asmx\n') + """
[route]
match = * -> local

[provider local]
type = file
path = users
"""


class FileProviderAnswers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unicode_hash = hash_password(PW_UNICODE)
        bmp_hash = hash_password(''.join(c for c in PW_UNICODE if ord(c) <= 0xFFFF))
        users = (demo_users_line() + '\n' + 'uni@example.com:%s\n' % cls.unicode_hash
                 + 'bmp@example.com:%s\n' % bmp_hash
                 + 'amp@example.com:%s\n' % hash_password(PW_MARKUP))
        cls.d = Dagate(FILE_CONF, files={'users': (users, 0o644)})

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_true_for_right_password(self):
        self.assertEqual(self.d.authenticate('demo@example.com', 'dagate-demo'), 'true')

    def test_false_for_wrong_password(self):
        self.assertEqual(self.d.authenticate('demo@example.com', 'dagate-demO'), 'false')

    def test_false_for_unknown_user(self):
        self.assertEqual(self.d.authenticate('nobody@example.com', 'dagate-demo'), 'false')

    def test_prefixed_form_with_empty_header(self):
        self.assertEqual(self.d.authenticate('demo@example.com', 'dagate-demo', form='prefixed'), 'true')
        self.assertEqual(self.d.authenticate('demo@example.com', 'nope', form='prefixed'), 'false')

    def test_default_form_with_empty_header(self):
        body = envelope('demo@example.com', 'dagate-demo').replace(
            b'<soapenv:Body>', b'<soapenv:Header/>\n <soapenv:Body>', 1)
        self.assertIn(b'<soapenv:Header/>', body)
        status, _, resp = self.d.post(body)
        self.assertEqual(parse_answer(status, resp), 'true')

    def test_default_form_with_empty_header_pair(self):
        body = envelope('demo@example.com', 'dagate-demo').replace(
            b'<soapenv:Body>', b'<soapenv:Header></soapenv:Header><soapenv:Body>', 1)
        status, _, resp = self.d.post(body)
        self.assertEqual(parse_answer(status, resp), 'true')

    def test_other_envelope_prefix(self):
        body = envelope('demo@example.com', 'dagate-demo').replace(b'soapenv:', b'S:').replace(
            b'xmlns:soapenv=', b'xmlns:S=')
        status, _, resp = self.d.post(body)
        self.assertEqual(parse_answer(status, resp), 'true')

    def test_no_xml_declaration(self):
        body = envelope('demo@example.com', 'dagate-demo').split(b'?>\n', 1)[1]
        status, _, resp = self.d.post(body)
        self.assertEqual(parse_answer(status, resp), 'true')

    def test_trailing_unknown_target_namespace_elements_ignored(self):
        for form in ('default', 'prefixed'):
            p = 'urn:' if form == 'prefixed' else ''
            extra = ('   <%sfutureField>x</%sfutureField>\n   <%sanother a="1"><%snested>y</%snested></%sanother>\n'
                     % (p, p, p, p, p, p))
            with self.subTest(form=form):
                status, _, resp = self.d.post(envelope('demo@example.com', 'dagate-demo', form=form, extra=extra))
                self.assertEqual(parse_answer(status, resp), 'true')
                status, _, resp = self.d.post(envelope('demo@example.com', 'bad', form=form, extra=extra))
                self.assertEqual(parse_answer(status, resp), 'false')

    def test_response_shape(self):
        status, headers, body = self.d.post(envelope('demo@example.com', 'dagate-demo'))
        self.assertEqual(status, 200)
        self.assertTrue(headers.get('content-type', '').startswith('text/xml'), headers)
        root = ET.fromstring(body)
        self.assertEqual(root.tag, '{%s}Envelope' % SOAP_ENV_NS)
        result = root.find('{%s}Body/{%s}AuthenticateResult' % (SOAP_ENV_NS, SF_NS))
        self.assertIsNotNone(result, body)
        self.assertEqual([c.tag for c in result], ['{%s}Authenticated' % SF_NS])

    def test_non_ascii_password_byte_for_byte(self):
        self.assertEqual(self.d.authenticate('uni@example.com', PW_UNICODE), 'true')
        nfd = unicodedata.normalize('NFD', PW_UNICODE)
        self.assertNotEqual(nfd.encode(), PW_UNICODE.encode())
        self.assertEqual(self.d.authenticate('uni@example.com', nfd), 'false')
        self.assertEqual(self.d.authenticate('uni@example.com', PW_UNICODE[:-1]), 'false')

    def test_non_ascii_as_character_references(self):
        # Characters of the Basic Multilingual Plane as numeric references are
        # the same bytes as raw UTF-8.
        bmp = ''.join(c for c in PW_UNICODE if ord(c) <= 0xFFFF)
        self.assertIn('日', bmp)
        refs = ''.join('&#%d;' % ord(c) if ord(c) > 127 else c for c in bmp)
        body = envelope('bmp@example.com', 'PLACEHOLDER').replace(b'PLACEHOLDER', refs.encode())
        status, _, resp = self.d.post(body)
        self.assertEqual(parse_answer(status, resp), 'true')
        hexrefs = ''.join('&#x%x;' % ord(c) if ord(c) > 127 else c for c in bmp)
        body = envelope('bmp@example.com', 'PLACEHOLDER').replace(b'PLACEHOLDER', hexrefs.encode())
        status, _, resp = self.d.post(body)
        self.assertEqual(parse_answer(status, resp), 'true')

    def test_astral_character_references_are_decoded(self):
        # Characters outside the BMP as references (an emoji as &#128273; or
        # &#x1f511;) are the same password as raw UTF-8: gSOAP 2.8 alone
        # would alter them, dagate's guard rewrites them first.
        for fmt in ('&#%d;', '&#x%x;'):
            refs = ''.join(fmt % ord(c) if ord(c) > 127 else c for c in PW_UNICODE)
            with self.subTest(fmt=fmt):
                body = envelope('uni@example.com', 'PLACEHOLDER').replace(b'PLACEHOLDER', refs.encode())
                status, _, resp = self.d.post(body)
                self.assertEqual(parse_answer(status, resp), 'true')
                body = envelope('uni@example.com', 'PLACEHOLDER').replace(b'PLACEHOLDER', refs[:-1].encode())
                status, _, resp = self.d.post(body)
                self.assertEqual(parse_answer(status, resp), 'false')

    def test_cdata_password(self):
        # A CDATA section is text: '&' and '<' inside it are the password.
        for raw, want in ((b'<![CDATA[' + PW_MARKUP.encode() + b']]>', 'true'),
                          (b'<![CDATA[a&b]]>&lt;c&gt;&amp;&#x3b;&amp;&amp;x', 'true'),
                          (b'<![CDATA[a&b<c>&amp;;&&]]>', 'false')):
            with self.subTest(raw=raw):
                body = envelope('amp@example.com', 'PLACEHOLDER').replace(b'PLACEHOLDER', raw)
                status, _, resp = self.d.post(body)
                self.assertEqual(parse_answer(status, resp), want)

    def test_password_is_not_trimmed(self):
        self.assertEqual(self.d.authenticate('demo@example.com', ' dagate-demo'), 'false')
        self.assertEqual(self.d.authenticate('demo@example.com', 'dagate-demo '), 'false')

    def test_wsdl(self):
        status, headers, body = self.d.get(self.d.path + '?wsdl')
        self.assertEqual(status, 200)
        self.assertIn('xml', headers.get('content-type', ''))
        root = ET.fromstring(body)
        wsdl = 'http://schemas.xmlsoap.org/wsdl/'
        self.assertEqual(root.tag, '{%s}definitions' % wsdl)
        self.assertEqual(root.get('targetNamespace'), SF_NS)
        text = body.decode()
        for name in ('SforceAuthenticationService', 'AuthenticationService', 'AuthenticationPortType',
                     'AuthenticationBinding', 'Authenticate', 'AuthenticateRequest',
                     'AuthenticateResponse', 'AuthenticateResult', 'Authenticated',
                     'username', 'password', 'sourceIp'):
            self.assertIn('"%s"' % name, text, name)
        addrs = [e.get('location') for e in root.iter('{http://schemas.xmlsoap.org/wsdl/soap/}address')]
        self.assertEqual(addrs, ['https://sso.test.example/Sso.asmx'])
        anys = list(root.iter('{http://www.w3.org/2001/XMLSchema}any'))
        self.assertEqual(len(anys), 1, 'one xsd:any after sourceIp')
        self.assertEqual(anys[0].get('namespace'), '##targetNamespace')

    def test_healthz(self):
        status, _, body = self.d.get('/healthz', admin=True)
        self.assertEqual(status, 200)
        self.assertEqual(body.strip(), b'ok')


STATIC_ROUTES = """
[route]
match = * -> yes

[provider yes]
type = static
result = true
delay = 0ms
"""
STATIC_CONF = server_section() + STATIC_ROUTES


class EmptyFields(unittest.TestCase):
    """Empty username or password: false before any provider (even one that
    says true to everything)."""

    def test_empty_password_is_false_without_provider(self):
        with Dagate(STATIC_CONF) as d:
            self.assertEqual(d.authenticate('someone@example.com', ''), 'false')
            self.assertEqual(d.authenticate('someone@example.com', '', form='prefixed'), 'false')
            status, _, resp = d.post(envelope('someone@example.com', 'X').replace(
                b'<password>X</password>', b'<password/>'))
            self.assertEqual(parse_answer(status, resp), 'false')
            self.assertEqual(d.authenticate('someone@example.com', 'x'), 'true')
            recs = d.wait_for_log(lambda t: len(d.audit(t)) >= 4)
            audit = d.audit(recs)
            self.assertEqual([r.get('outcome') for r in audit[:3]], ['empty_password'] * 3)
            for r in audit[:3]:
                self.assertIn(r.get('provider'), ('-', None, ''), r)
                self.assertEqual(r.get('answer'), 'false')
            self.assertEqual(audit[3].get('provider'), 'yes')

    def test_empty_username_is_false_without_provider(self):
        with Dagate(STATIC_CONF) as d:
            self.assertEqual(d.authenticate('', 'secret'), 'false')
            audit = d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 1))
            self.assertEqual(audit[0].get('outcome'), 'empty_username')
            self.assertIn(audit[0].get('provider'), ('-', None, ''))

    def test_spaces_are_a_password(self):
        with Dagate(STATIC_CONF) as d:
            self.assertEqual(d.authenticate('someone@example.com', '   '), 'true')

    def test_source_ip_must_be_an_address(self):
        """sourceIp keys the per-source throttle: a caller that reaches the
        endpoint directly must not rotate it as free text (or leave it out)."""
        with Dagate(STATIC_CONF) as d:
            for ip in ('203.0.113.7', '2001:db8::7', '::ffff:10.1.2.3'):
                self.assertEqual(d.authenticate('someone@example.com', 'x', source_ip=ip), 'true', ip)
            for ip in ('', 'office-7', '203.0.113.7:443', '[2001:db8::7]', '10.0.0.0/8',
                       '010.1.2.3', ' 203.0.113.7'):
                answer = d.authenticate('someone@example.com', 'x', source_ip=ip)
                self.assertIsInstance(answer, Fault, repr(ip))
                self.assertEqual((answer.code, answer.string),
                                 ('soap:Client', 'sourceIp is not an IP address'), repr(ip))


@unittest.skipUnless(zeep, 'python3-zeep is not installed')
class RealSoapClient(unittest.TestCase):
    """zeep, a SOAP stack that is not ours, reads dagate's WSDL, its answers
    and its faults (fault string and code included)."""

    def test_zeep_reads_answers_and_faults(self):
        conf = server_section(extra='public_url = https://sso.test.example/Sso.asmx\n') + STATIC_ROUTES
        with Dagate(conf) as d:
            client = zeep.Client(d.url + '?wsdl')
            service = client.create_service('{%s}AuthenticationBinding' % SF_NS, d.url)
            self.assertIs(service.Authenticate('someone@example.com', 'x', '203.0.113.7'), True)
            self.assertIs(service.Authenticate('someone@example.com', '', '203.0.113.7'), False)
            with self.assertRaises(zeep.exceptions.Fault) as cm:
                service.Authenticate('someone@example.com', 'a\tb', '203.0.113.7')
            self.assertRegex(cm.exception.message,
                             r'^control character \[request_id=[0-9a-f]{16}\]$')
            self.assertTrue(str(cm.exception.code).endswith('Client'), cm.exception.code)


if __name__ == '__main__':
    unittest.main()
