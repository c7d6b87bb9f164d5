"""The audit trail: one line per decision with the documented fields, text
and JSON formats, and a canary password that never appears anywhere, at
level debug, whatever happens to the request."""

import base64
import json
import os
import secrets
import socket
import time
import unittest
import urllib.parse

from harness import (Dagate, Fault, envelope, hash_password, parse_answer, raw_request,
                     run_dagate, server_section)

AUDIT_FIELDS = ('request_id', 'user', 'received_user', 'source_ip', 'peer', 'provider', 'outcome', 'answer', 'ms')


def forms_of(secret):
    """The canary as it might leak: raw, XML-escaped, URL-encoded, base64, hex."""
    raw = secret.encode()
    out = {raw, raw.hex().encode(), base64.b64encode(raw), urllib.parse.quote(secret).encode()}
    out.add(secret.replace('&', '&amp;').replace('<', '&lt;').encode())
    return out


def scenario_conf(fmt, audit):
    return server_section(level='debug', fmt=fmt, extra='deadline = 1s\nmax_body = 8192\n').replace(
        'audit = -', 'audit = %s' % audit) + """
[map]
lowercase = yes
strip_suffix = .uat

[route]
match = *@file.example -> local
match = *@slow.example -> slow
match = *@down.example -> down
match = *@no.example -> no
match = *@yes.example -> yes

[provider local]
type = file
path = users

[provider slow]
type = static
result = true
delay = 5s

[provider down]
type = static
result = unavailable

[provider no]
type = static
result = false

[provider yes]
type = static
result = true
"""


class Canary(unittest.TestCase):
    def drive(self, d, canary, users_hash_pw):
        """Every kind of request and answer, each carrying the canary."""
        a = d.authenticate
        self.assertEqual(a('right@file.example', users_hash_pw), 'true')
        self.assertEqual(a('right@file.example', canary), 'false')
        self.assertEqual(a('Right@File.Example.uat', canary, form='prefixed'), 'false')
        self.assertEqual(a('nobody@file.example', canary), 'false')
        self.assertEqual(a('u@yes.example', canary), 'true')
        self.assertEqual(a('u@no.example', canary), 'false')
        self.assertEqual(a('u@nowhere.test', canary), 'false')
        self.assertEqual(a('', canary), 'false')
        self.assertIsInstance(a('u@down.example', canary), Fault)
        self.assertIsInstance(a('u@slow.example', canary), Fault)
        # a canary in the username field too (it is logged, escaped: must
        # be the username, not the password field, that shows up)
        bad_bodies = [
            envelope('u@yes.example', canary).replace(b'</password>', b''),
            envelope('u@yes.example', canary + '\x7f'),
            envelope('u@yes.example', canary.encode() + b'\xff'),
            envelope('u@yes.example', canary).replace(b'<password>', b'<password>&#0;'),
            envelope('u@yes.example', canary, extra='<x xmlns="urn:other"/>'),
            envelope('u@yes.example', canary + 'x' * 2000),
            envelope('u@yes.example', None, extra='<password>%s</password>' % canary).replace(
                b'<sourceIp>203.0.113.7</sourceIp>', b''),
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY c "' + canary.encode() + b'">]>'
            + envelope('u@yes.example', 'x').split(b'?>', 1)[1],
            canary.encode(),
        ]
        self.bad_count = len(bad_bodies)
        for body in bad_bodies:
            status, _, resp = d.post(body)
            self.assertEqual(status, 500)
            self.assertEqual(parse_answer(status, resp).code, 'soap:Client')
        self.assertEqual(d.post(envelope('u@yes.example', canary), headers={'Content-Type': 'text/plain'})[0], 415)
        self.assertEqual(d.post(envelope('u@yes.example', canary), path='/elsewhere')[0], 404)
        self.assertEqual(d.post(envelope('u@yes.example', canary), method='PUT')[0], 405)
        self.assertEqual(d.post(envelope('u@yes.example', canary + 'y' * 9000))[0], 413)
        # an Authorization header and a canary in the query string
        decisions = 10
        status, _, _ = d.post(envelope('u@yes.example', canary), headers={
            'Authorization': 'Basic ' + base64.b64encode(('u:' + canary).encode()).decode()})
        self.assertEqual(status, 200)
        decisions += 1
        status, _, _ = d.post(envelope('u@yes.example', canary),
                              path=d.path + '?pw=' + urllib.parse.quote(canary))
        decisions += status == 200
        # a connection cut in the middle of the body
        l = d.server_listeners()[0]
        body = envelope('u@yes.example', canary)
        raw_request(l.host, l.port, b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                    b'Content-Length: %d\r\n\r\n' % len(body) + body[:-40], timeout=0.3)
        # test-user with the canary on stdin
        r = run_dagate(['test-user', 'right@file.example', '-c', d.config_path], stdin=canary, cwd=d.dir)
        self.assertNotIn(canary, r.stdout + r.stderr)
        self.assertIn('answer: false', r.stdout + r.stderr)
        return decisions   # made through HTTP above

    def run_scenario(self, fmt, audit):
        canary = 'Cn&ry<' + secrets.token_hex(12) + '>€'
        good = 'good-' + secrets.token_hex(6)
        users = 'right@file.example:%s\n' % hash_password(good)
        with Dagate(scenario_conf(fmt, audit), files={'users': (users, 0o644)}) as d:
            decisions = self.drive(d, canary, good)
            time.sleep(0.3)
            text = d.log()
            audit_text = text
            if audit != '-':
                with open(os.path.join(d.dir, audit), 'rb') as f:
                    audit_text = f.read().decode('utf-8', 'replace')
            everything = (text + audit_text).encode()
            for form in forms_of(canary) | forms_of(good):
                self.assertNotIn(form, everything, 'secret leaked as %r' % form)
            # the audit trail: one record per decision, all fields present
            records = d.audit(audit_text)
            # bad envelopes may be audited too (outcome bad_request, answer fault)
            bad = [r for r in records if r.get('outcome') == 'bad_request']
            self.assertLessEqual(len(bad), self.bad_count)
            for r in bad:
                self.assertEqual(r.get('answer'), 'fault')
            self.assertEqual(len(records) - len(bad), decisions, audit_text[-6000:])
            for rec in records:
                for field in AUDIT_FIELDS:
                    self.assertIn(field, rec, rec)
                self.assertIn(rec['answer'], ('true', 'false', 'fault'))
                int(rec['ms'])
            self.assertEqual(len({r['request_id'] for r in records}), len(records), 'request ids are unique')
            outcomes = sorted(r['outcome'] for r in records)
            for want in ('ok', 'reject', 'unknown_user', 'no_route', 'empty_username', 'deadline'):
                self.assertIn(want, outcomes)
            self.assertIn('right@file.example', [r['user'] for r in records])
            if fmt == 'json':
                lines = [l for l in text.splitlines() if l.strip()]
                for line in lines:
                    self.assertTrue(line.startswith('{'), 'not JSON: %r' % line)
                    json.loads(line)
                for line in audit_text.splitlines():
                    if line.strip():
                        rec = json.loads(line)
                        if rec.get('event') == 'auth':
                            # counts are numbers, ids stay strings
                            self.assertIsInstance(rec['ms'], int, line)
                            self.assertIsInstance(rec['request_id'], str, line)
            return text

    def test_text_format_to_stderr(self):
        self.run_scenario('text', '-')

    def test_json_format_to_stderr(self):
        self.run_scenario('json', '-')

    def test_json_format_audit_file(self):
        self.run_scenario('json', 'audit.log')

    def test_text_format_audit_file(self):
        self.run_scenario('text', 'audit.log')


class AuditEscaping(unittest.TestCase):
    CONF = '[route]\nmatch = * -> yes\n\n[provider yes]\ntype = static\nresult = true\n'

    def test_odd_username_is_one_escaped_line(self):
        conf = server_section(level='info') + self.CONF
        with Dagate(conf) as d:
            user = 'a "b" c=d event=forged outcome=ok \\ é@example.com'
            # Not a name Salesforce could send: false, no provider asked.
            self.assertEqual(d.authenticate(user, 'pw'), 'false')
            recs = d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 1))
            self.assertEqual(len(recs), 1)
            self.assertEqual(recs[0].get('event'), 'auth')
            self.assertEqual(recs[0].get('outcome'), 'bad_username')
            self.assertEqual(recs[0].get('provider'), '-')
            self.assertIn('event=forged', recs[0].get('user', ''), 'the name is audited whole')
            self.assertEqual([l for l in d.log().splitlines() if 'event=forged' in l and 'event=auth' not in l], [])

    def test_received_username_beside_the_mapped_one(self):
        """A sandbox login (suffix stripped, case folded by [map]) is told
        apart from the production one by the username as received."""
        conf = server_section(level='info') + '[map]\nlowercase = yes\nstrip_suffix = .uat\n' + self.CONF
        for fmt in ('text', 'json'):
            with self.subTest(fmt=fmt), Dagate(conf.replace('format = text', 'format = ' + fmt)) as d:
                self.assertEqual(d.authenticate('Joe@Corp.example.uat', 'pw'), 'true')
                self.assertEqual(d.authenticate('joe@corp.example', 'pw'), 'true')
                recs = d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 2))
                self.assertEqual([(r['user'], r['received_user']) for r in recs],
                                 [('joe@corp.example', 'Joe@Corp.example.uat'),
                                  ('joe@corp.example', 'joe@corp.example')])

    def test_json_username_round_trips(self):
        conf = server_section(level='info', fmt='json') + self.CONF
        with Dagate(conf) as d:
            user = "o'neil+tag.jörg@example.com"
            self.assertEqual(d.authenticate(user, 'pw', source_ip='2001:db8::7'), 'true')
            recs = d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 1))
            self.assertEqual(recs[0]['source_ip'], '2001:db8::7')
            self.assertEqual(recs[0]['user'], user)
            self.assertEqual(recs[0]['answer'], 'true')
            self.assertEqual(recs[0]['provider'], 'yes')

    def test_unicode_line_breaks_cannot_forge_lines(self):
        """U+2028, U+2029 and U+0085 end a line in some log readers: they are
        escaped in both formats, so no forged record appears in any reader."""
        for fmt in ('text', 'json'):
            with self.subTest(fmt=fmt), Dagate(server_section(level='info', fmt=fmt) + self.CONF) as d:
                for ch in ('\u2028', '\u2029'):
                    user = 'a%sevent=auth user=root outcome=ok answer=true@example.com' % ch
                    self.assertEqual(d.authenticate(user, 'pw'), 'false')
                # A C1 control in a field is refused by the parser already.
                user = 'a\u0085event=auth user=root outcome=ok answer=true@example.com'
                self.assertIsInstance(d.authenticate(user, 'pw'), Fault)
                recs = d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 3))
                self.assertEqual([r.get('outcome') for r in recs], ['bad_username'] * 2 + ['bad_request'])
                raw = d.log()
                for ch in ('\u2028', '\u2029', '\u0085'):
                    self.assertNotIn(ch, raw, 'a raw %r reached the log' % ch)
                for ch in ('\u2028', '\u2029'):
                    self.assertIn('\\u%04x' % ord(ch), raw)
                self.assertEqual([r for r in recs if r.get('user') == 'root'], [])

    def test_spaced_username_never_reaches_a_provider(self):
        """" carol@x" is carol's directory entry under another throttle key:
        refused before any provider, like every name Salesforce cannot hold."""
        conf = server_section(level='info') + self.CONF
        with Dagate(conf) as d:
            for user in (' carol@example.test', 'carol@example.test ', 'carol @example.test',
                         'carol\u00a0@example.test', 'carol', 'carol@', '<carol>@example.test'):
                self.assertEqual(d.authenticate(user, 'pw'), 'false', repr(user))
            self.assertEqual(d.authenticate('carol@example.test', 'pw'), 'true')
            recs = d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 8))
            self.assertEqual([r.get('provider') for r in recs], ['-'] * 7 + ['yes'])
            self.assertEqual([r.get('outcome') for r in recs], ['bad_username'] * 7 + ['ok'])


if __name__ == '__main__':
    unittest.main()
