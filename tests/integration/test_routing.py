"""Routing and mapping: first match wins, the next provider only after
"unavailable", a fault when none is left, false when no route matches,
lowercase and sandbox-suffix mapping."""

import unittest

from harness import Dagate, Fault, hash_password, server_section

PROVIDERS = """
[provider yes]
type = static
result = true

[provider no]
type = static
result = false

[provider down]
type = static
result = unavailable

[provider down2]
type = static
result = unavailable
"""


def conf(routes, map_lines='lowercase = yes\nstrip_suffix = .uat .dev\n'):
    return (server_section() + '[map]\n' + map_lines + '\n[route]\n'
            + ''.join('match = %s\n' % r for r in routes) + PROVIDERS)


class Routing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(conf([
            '*@yes.example -> yes',
            '*@no.example -> no',
            '*@fallback.example -> down, yes',
            '*@reject-first.example -> no, yes',
            '*@alldown.example -> down, down2',
            'special@*.example -> yes',
            '*@*.example -> no',
        ]))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def last_audit(self, user):
        recs = [r for r in self.d.audit() if r.get('user') == user]
        self.assertTrue(recs, 'no audit record for %s:\n%s' % (user, self.d.log()[-3000:]))
        return recs[-1]

    def check(self, user, want, provider, outcome=None, mapped=None):
        name = mapped or user
        before = sum(1 for r in self.d.audit() if r.get('user') == name)
        got = self.d.authenticate(user, 'pw')
        if want == 'fault':
            self.assertIsInstance(got, Fault, user)
            self.assertEqual(got.code, 'soap:Server')
            self.assertEqual(got.http_status, 500)
        else:
            self.assertEqual(got, want, user)
        self.d.wait_for_log(lambda t: sum(1 for r in self.d.audit(t) if r.get('user') == name) > before)
        rec = self.last_audit(name)
        self.assertEqual(rec.get('provider'), provider, rec)
        if outcome:
            self.assertEqual(rec.get('outcome'), outcome, rec)
        self.assertEqual(rec.get('answer'), want, rec)
        return rec

    def test_first_match_wins(self):
        self.check('a@yes.example', 'true', 'yes', 'ok')
        self.check('a@no.example', 'false', 'no', 'reject')
        self.check('special@no.example', 'false', 'no')     # earlier rule wins
        self.check('special@other.example', 'true', 'yes')
        self.check('plain@other.example', 'false', 'no')

    def test_unavailable_goes_to_next(self):
        self.check('a@fallback.example', 'true', 'yes', 'ok')

    def test_reject_stops_the_chain(self):
        self.check('a@reject-first.example', 'false', 'no', 'reject')

    def test_none_left_is_server_fault(self):
        self.check('a@alldown.example', 'fault', 'down2', 'unavailable')

    def test_no_route_is_false(self):
        rec = self.check('a@nowhere.test', 'false', '-', 'no_route')

    def test_lowercase_mapping(self):
        self.check('A@YES.Example', 'true', 'yes', mapped='a@yes.example')

    def test_sandbox_suffix_stripped(self):
        self.check('b@yes.example.uat', 'true', 'yes', mapped='b@yes.example')
        self.check('c@yes.example.dev', 'true', 'yes', mapped='c@yes.example')
        self.check('D@Yes.Example.UAT', 'true', 'yes', mapped='d@yes.example')
        # only at the end, and only the configured ones
        self.check('e@yes.example.qa', 'false', '-', 'no_route')


class MappingOff(unittest.TestCase):
    def test_lowercase_no_keeps_case(self):
        with Dagate(conf(['*@yes.example -> yes', '* -> no'], map_lines='lowercase = no\n')) as d:
            self.assertEqual(d.authenticate('A@YES.EXAMPLE', 'pw'), 'false')
            self.assertEqual(d.authenticate('a@yes.example', 'pw'), 'true')
            self.assertEqual(d.authenticate('a@yes.example.uat', 'pw'), 'false')


class MappingToFileProvider(unittest.TestCase):
    def test_sandbox_user_checked_against_directory_name(self):
        h = hash_password('Corp-Pass-1')
        text = (server_section() + '[map]\nlowercase = yes\nstrip_suffix = .uat\n\n[route]\n'
                'match = *@corp.example -> users\n\n[provider users]\ntype = file\npath = users\n')
        with Dagate(text, files={'users': ('joe@corp.example:%s\n' % h, 0o644)}) as d:
            self.assertEqual(d.authenticate('Joe@Corp.Example.uat', 'Corp-Pass-1'), 'true')
            self.assertEqual(d.authenticate('joe@corp.example', 'Corp-Pass-1'), 'true')
            self.assertEqual(d.authenticate('joe@corp.example.uat', 'corp-pass-1'), 'false')
            # the audit line may be written just after the answer left
            text = d.wait_for_log(lambda t: len(d.audit(t)) >= 3)
            outcomes = {(r.get('user'), r.get('outcome')) for r in d.audit(text)}
            self.assertIn(('joe@corp.example', 'ok'), outcomes)
            self.assertIn(('joe@corp.example', 'reject'), outcomes)
            self.assertEqual(d.authenticate('ann@corp.example', 'x'), 'false')
            d.wait_for_log(lambda t: any(r.get('outcome') == 'unknown_user' for r in d.audit(t)))


if __name__ == '__main__':
    unittest.main()
