"""One-time impersonation tokens through the real binary, LMDB store
(issue 4): the token API on the admin listener, decision rule 3 on the
Salesforce listener, `dagate token issue|revoke|list` while serve runs,
restarts (SIGTERM and SIGKILL), and scans of the store and every log for
raw tokens. Expiry is proven by tests/unit/test_tokens.c with an injected
clock (the API's shortest ttl is 60 s).
"""

import base64
import http.client
import json
import os
import re
import shutil
import tempfile
import unittest

from harness import Dagate, Fault, hash_password, run_dagate, server_section

TOKEN_RE = re.compile(r'^dgt1_[0-9abcdefghjkmnpqrstvwxyz]{52}$')
# A password that has the token form but was never issued.
TOKEN_SHAPED = 'dgt1_' + '0' * 52

SECRETS = {'sync': 'sync-secret-0123456789', 'slow': 'slow-secret-0123456789',
           'faraway': 'far-secret-0123456789'}


def tokens_config(state, *, server_extra='', tokens_extra=''):
    return server_section(extra='max_connections_per_ip = 512\n' + server_extra) + '''
[map]
lowercase = yes
strip_suffix = .uat

[route]
match = * -> local

[provider local]
type = file
path = {dir}/users

[tokens]
store = lmdb:%(state)s/tokens
key_file = %(state)s/token.key
ttl = 5m
max_ttl = 2h
%(tokens_extra)s
[requester sync]
secret_file = {dir}/sync.secret
allow = 127.0.0.1/32
source_ip = 203.0.113.0/24
users = *@corp.example
deny_users = admin@corp.example
rate = 1000/1s

[requester slow]
secret_file = {dir}/slow.secret
allow = 127.0.0.1
users = *
rate = 2/1h

[requester faraway]
secret_file = {dir}/far.secret
allow = 10.0.0.0/8
users = *
''' % {'state': state, 'tokens_extra': tokens_extra}


_HASHES = {}


def tokens_files():
    if not _HASHES:
        _HASHES['joe'] = hash_password('joe-password')
        _HASHES['shaped'] = hash_password(TOKEN_SHAPED)
    return {
        'users': ('joe@corp.example:%s\ntokenlike@corp.example:%s\n'
                  % (_HASHES['joe'], _HASHES['shaped']), 0o600),
        'sync.secret': (SECRETS['sync'] + '\n', 0o600),
        'slow.secret': (SECRETS['slow'] + '\n', 0o600),
        'far.secret': (SECRETS['faraway'] + '\n', 0o600),
    }


def basic(requester, secret=None):
    raw = '%s:%s' % (requester, SECRETS.get(requester, '') if secret is None else secret)
    return 'Basic ' + base64.b64encode(raw.encode()).decode()


def api(d, body, *, auth=None, method='POST', path='/api/v1/tokens', raw=None, source=None):
    """(status, headers, parsed JSON or None) of one token API call, from
    the loopback address `source` if given."""
    host, port = d.admin_url.split('://', 1)[1].rsplit(':', 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=15,
                                      source_address=(source, 0) if source else None)
    headers = {'Content-Type': 'application/json'}
    if auth is not None:
        headers['Authorization'] = auth
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return resp.status, hdrs, parsed


def assert_no_raw_token(test, tokens, state, log_text):
    """Neither the LMDB files nor the log hold any of `tokens` (nor a long
    piece of one), and the store does not hold the HMAC key."""
    blobs = {'log': log_text.encode()}
    for name in ('data.mdb', 'lock.mdb'):
        path = os.path.join(state, 'tokens', name)
        if os.path.exists(path):
            with open(path, 'rb') as f:
                blobs[name] = f.read()
    test.assertIn('data.mdb', blobs)
    with open(os.path.join(state, 'token.key'), 'rb') as f:
        key = f.read().strip()
    test.assertNotIn(key, blobs['data.mdb'])
    test.assertNotIn(bytes.fromhex(key.decode()), blobs['data.mdb'])
    for tok in tokens:
        for name, blob in blobs.items():
            test.assertNotIn(tok.encode(), blob, name)
            test.assertNotIn(tok[5:30].encode(), blob, name)


def security_events(d, name=None):
    out = [r for r in d.log_records() if r.get('event') == 'security']
    return [r for r in out if name is None or r.get('security') == name]


class TokenCase(unittest.TestCase):
    """One serve instance for the class; state (LMDB + key) outside its dir."""

    issued = []   # every raw token this class saw, for the scan at its end

    def setUp(self):
        # tokens are per class (each class has its own store and log)
        if self.__class__.issued is TokenCase.issued:
            self.__class__.issued = []

    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix='dagate-tokstate-')
        cls.d = Dagate(tokens_config(cls.state), files=tokens_files())

    @classmethod
    def tearDownClass(cls):
        try:
            log = cls.d.log()
            cls.d.__exit__(None, None, None)
            if cls.issued:
                assert_no_raw_token(unittest.TestCase(), cls.issued, cls.state, log)
        finally:
            shutil.rmtree(cls.state, ignore_errors=True)

    def issue(self, user='joe@corp.example', requester='sync', ttl=None, d=None):
        body = {'user': user}
        if ttl is not None:
            body['ttl'] = ttl
        status, hdrs, out = api(d or self.d, body, auth=basic(requester))
        self.assertEqual(status, 201, out)
        self.assertEqual(hdrs.get('cache-control'), 'no-store')
        self.assertRegex(out['token'], TOKEN_RE)
        self.issued.append(out['token'])
        return out


class TestLifecycle(TokenCase):

    def test_issue_redeem_replay(self):
        out = self.issue('Joe@Corp.Example.uat', ttl=300)
        self.assertEqual(out['user'], 'joe@corp.example')    # mapped like a password
        self.assertRegex(out['expires_at'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        self.assertEqual(self.d.authenticate('joe@corp.example.uat', out['token'], '203.0.113.7'),
                         'true')
        self.assertEqual(self.d.authenticate('joe@corp.example', out['token'], '203.0.113.7'),
                         'false')
        fp = [e for e in security_events(self.d, 'token_redeem') if e.get('outcome') == 'ok']
        self.assertTrue(fp and fp[-1].get('requester') == 'sync'
                        and fp[-1].get('user') == 'joe@corp.example'
                        and fp[-1].get('source_ip') == '203.0.113.7'
                        and re.match(r'^[0-9a-f]{12}$', fp[-1].get('fingerprint', '')), fp)
        # The issue event says who asked, and which call it was.
        issued = [e for e in security_events(self.d, 'token_issue') if e.get('outcome') == 'ok']
        self.assertEqual(issued[-1].get('peer'), '127.0.0.1', issued)
        self.assertRegex(issued[-1].get('request_id', ''), r'^[0-9a-f]{16}$')

    def test_wrong_user_burns_the_token(self):
        tok = self.issue()['token']
        self.assertEqual(self.d.authenticate('eve@corp.example', tok, '203.0.113.7'), 'false')
        self.assertEqual(self.d.authenticate('joe@corp.example', tok, '203.0.113.7'), 'false')
        ev = security_events(self.d, 'token_reject')
        self.assertTrue(any(e.get('outcome') == 'user_mismatch' for e in ev), ev)

    def test_wrong_source_ip_burns_the_token(self):
        tok = self.issue()['token']
        self.assertEqual(self.d.authenticate('joe@corp.example', tok, '198.51.100.1'), 'false')
        self.assertEqual(self.d.authenticate('joe@corp.example', tok, '203.0.113.7'), 'false')
        ev = security_events(self.d, 'token_reject')
        self.assertTrue(any(e.get('outcome') == 'source_ip_mismatch' for e in ev), ev)

    def test_token_shaped_password_never_reaches_the_directory(self):
        # The file provider holds this exact password, but rule 3 sends it to the store.
        self.assertEqual(self.d.authenticate('tokenlike@corp.example', TOKEN_SHAPED), 'false')
        # the audit line follows the answer: wait for it
        mine = lambda t: [a for a in self.d.audit(t) if a.get('user') == 'tokenlike@corp.example']
        rec = mine(self.d.wait_for_log(lambda t: len(mine(t)) > 0))
        self.assertTrue(rec and rec[-1].get('provider') != 'local', rec)
        self.assertTrue(any(e.get('user') == 'tokenlike@corp.example'
                            for e in security_events(self.d, 'token_reject')))

    def test_normal_password_never_touches_the_store(self):
        before = len(security_events(self.d))
        self.assertEqual(self.d.authenticate('joe@corp.example', 'joe-password'), 'true')
        self.assertEqual(self.d.authenticate('joe@corp.example', 'wrong'), 'false')
        after = [e for e in security_events(self.d)[before:]
                 if str(e.get('security', '')).startswith('token_')]
        self.assertEqual(after, [])

    def test_ttl_bounds(self):
        for ttl, want in ((59, 400), (60, 201), (7200, 201), (7201, 400), (86400, 400),
                          (86401, 400), (0, 400), (-5, 400), ('300', 400), (300.5, 400)):
            status, hdrs, out = api(self.d, {'user': 'joe@corp.example', 'ttl': ttl},
                                    auth=basic('sync'))
            self.assertEqual(status, want, (ttl, out))
            if status == 201:
                self.issued.append(out['token'])

    def test_api_error_codes(self):
        good = basic('sync')
        cases = [
            ('POST', '/api/v1/other', good, {'user': 'joe@corp.example'}, None, 404),
            ('GET', '/api/v1/tokens', good, None, None, 405),
            ('POST', '/api/v1/tokens', None, {'user': 'joe@corp.example'}, None, 401),
            ('POST', '/api/v1/tokens', basic('sync', 'wrong'), {'user': 'joe@corp.example'},
             None, 401),
            ('POST', '/api/v1/tokens', basic('nobody', 'x'), {'user': 'joe@corp.example'},
             None, 401),
            ('POST', '/api/v1/tokens', basic('faraway'), {'user': 'joe@corp.example'}, None, 403),
            ('POST', '/api/v1/tokens', good, {'user': 'admin@corp.example'}, None, 403),
            ('POST', '/api/v1/tokens', good, {'user': 'joe@elsewhere.example'}, None, 403),
            ('POST', '/api/v1/tokens', good, None, b'{"user": ', 400),
            ('POST', '/api/v1/tokens', good, None, b'', 400),
            ('POST', '/api/v1/tokens', good, {'user': 'joe@corp.example', 'extra': 1}, None, 400),
            ('POST', '/api/v1/tokens', good, {'ttl': 300}, None, 400),
            ('POST', '/api/v1/tokens', good, {'user': 'joe@corp.example'}, b'x' * 5000, 413),
        ]
        for method, path, auth, body, raw, want in cases:
            status, hdrs, out = api(self.d, body, auth=auth, method=method, path=path, raw=raw)
            self.assertEqual(status, want, (method, path, body, raw and raw[:20], out))
            if path == '/api/v1/tokens':
                self.assertEqual(hdrs.get('cache-control'), 'no-store', (want, hdrs))
                self.assertIsInstance(out, dict)
                self.assertIn('error', out)
        # rate = 2/1h for "slow": the third is refused
        self.issue('a@b', requester='slow')
        self.issue('a@b', requester='slow')
        status, _, out = api(self.d, {'user': 'a@b'}, auth=basic('slow'))
        self.assertEqual(status, 429, out)
        refused = security_events(self.d, 'token_api_refused')
        self.assertTrue(any(e.get('outcome') == 'bad_credentials' for e in refused))
        self.assertTrue(any(e.get('outcome') == 'peer_not_allowed' for e in refused))


    def test_body_must_be_strict_json_and_user_utf8_text(self):
        """json-c's lenient parse took comments, single quotes, leading
        zeros and trailing commas, and users that were not UTF-8 (issue 10)."""
        good = basic('sync')
        for raw in (b'{"user": "joe@corp.example" /* c */}',
                    b'{"user": "joe@corp.example"} // c',
                    b"{'user': 'joe@corp.example'}",
                    b'{"user": "joe@corp.example", "ttl": 0300}',
                    b'{"user": "joe@corp.example",}',
                    b'{"user": "joe@corp.example", "ttl": 300,}',
                    b'{"user": "joe@corp.example", "ttl": NaN}',
                    b'{user: "joe@corp.example"}',
                    b'{"user": "j\xf6e@corp.example"}',
                    b'{"user": "\xc0\xafe@corp.example"}',
                    b'{"user": "joe\\ud800@corp.example"}',
                    b'{"user": "joe\\u0085@corp.example"}',
                    b'{"user": "joe\\u2028@corp.example"}',
                    b'{"user": "joe\tx@corp.example"}'):
            status, hdrs, out = api(self.d, None, auth=good, raw=raw)
            self.assertEqual(status, 400, (raw, out))
            self.assertEqual(hdrs.get('cache-control'), 'no-store')
            self.assertIsInstance(out, dict)
            self.assertIn('error', out)
            self.assertLess(len(out['error']), 100)
        # UTF-8 letters are text: issued (and bound as mapped)
        out = self.issue('J\u00f6rg@corp.example')
        self.assertEqual(out['user'], 'j\u00f6rg@corp.example')


class TestLoginLimit(TokenCase):
    """Failed Basic logins are limited per peer (issue 10): a requester's
    secret could be guessed at line rate."""

    FAILURES, WINDOW_S = 10, 60

    def metric(self, outcome):
        host, port = self.d.admin_url.split('://', 1)[1].rsplit(':', 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=15)
        try:
            conn.request('GET', '/metrics')
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        m = re.search(r'^dagate_token_api_login_failures_total\{outcome="%s"\} (\d+)$' % outcome,
                      text, re.M)
        self.assertIsNotNone(m, text)
        return int(m.group(1))

    def test_failed_logins_then_429_with_retry_after(self):
        guesser = '127.0.0.3'
        for i in range(self.FAILURES):
            status, _, out = api(self.d, {'user': 'joe@corp.example'},
                                 auth=basic('sync', 'guess-%d' % i), source=guesser)
            self.assertEqual(status, 401, (i, out))
        blocked = [e for e in security_events(self.d, 'token_api_login_limit')]
        self.assertEqual(len(blocked), 1, blocked)
        self.assertEqual((blocked[0].get('peer'), blocked[0].get('outcome')),
                         (guesser, 'blocked'))
        refused_before = len(security_events(self.d, 'token_api_refused'))
        # the right secret too: a blocked guesser learns nothing
        for auth in (basic('sync'), basic('sync', 'guess-x')):
            status, hdrs, out = api(self.d, {'user': 'joe@corp.example'}, auth=auth,
                                    source=guesser)
            self.assertEqual(status, 429, out)
            self.assertIn('error', out)
            self.assertEqual(hdrs.get('cache-control'), 'no-store')
            self.assertTrue(1 <= int(hdrs.get('retry-after', '0')) <= self.WINDOW_S, hdrs)
        # counted, not logged one by one
        self.assertEqual(len(security_events(self.d, 'token_api_refused')), refused_before)
        self.assertEqual(len(security_events(self.d, 'token_api_login_limit')), 1)
        self.assertEqual(self.metric('limited'), 2)
        self.assertGreaterEqual(self.metric('bad_credentials'), self.FAILURES)
        # other peers are served
        self.issue()
        status, _, _ = api(self.d, {'user': 'joe@corp.example'}, auth=basic('sync'),
                           source='127.0.0.4')
        self.assertEqual(status, 403)     # sync's allow is 127.0.0.1 only

    def test_requests_without_credentials_are_not_failures(self):
        for _ in range(self.FAILURES + 2):
            status, _, _ = api(self.d, {'user': 'joe@corp.example'}, source='127.0.0.5')
            self.assertEqual(status, 401)
        status, _, _ = api(self.d, {'user': 'joe@corp.example'}, auth=basic('sync'),
                           source='127.0.0.5')
        self.assertEqual(status, 403)


class TestCli(TokenCase):

    def cli(self, *args):
        return run_dagate(['-c', self.d.config_path, 'token'] + list(args), cwd=self.d.dir)

    def test_issue_list_revoke_while_serving(self):
        r = self.cli('issue', '--requester', 'sync', '--user', 'Joe@corp.example', '--ttl', '10m')
        self.assertEqual(r.returncode, 0, r.stderr)
        tok = r.stdout.strip()
        self.assertRegex(tok, TOKEN_RE)
        self.issued.append(tok)
        self.assertNotIn(tok, r.stderr)
        # the running serve sees the CLI's write (one LMDB env, two processes)
        self.assertEqual(self.d.authenticate('joe@corp.example', tok, '203.0.113.7'), 'true')

        toks = [self.cli('issue', '--requester', 'sync', '--user', u).stdout.strip()
                for u in ('ann@corp.example', 'ann@corp.example', 'bob@corp.example')]
        self.issued.extend(toks)
        listing = self.cli('list')
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertEqual(listing.stdout.count('ann@corp.example'), 2, listing.stdout)
        for t in toks:
            self.assertNotIn(t, listing.stdout + listing.stderr)
            self.assertNotIn(t[5:25], listing.stdout)

        r = self.cli('revoke', '--user', 'ANN@corp.example')
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 'revoked 2 tokens'), r.stderr)
        self.assertEqual(self.d.authenticate('ann@corp.example', toks[0], '203.0.113.7'), 'false')
        self.assertEqual(self.d.authenticate('bob@corp.example', toks[2], '203.0.113.7'), 'true')
        r = self.cli('revoke', '--all')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('ann@corp.example', self.cli('list').stdout)
        self.assertIn('token_revoke', r.stderr)     # the CLI's own audit line

    def test_usage_and_refusals(self):
        for args, code in ((['issue', '--user', 'joe@corp.example'], 2),
                           (['issue', '--requester', 'sync'], 2),
                           (['issue', '--requester', 'nobody', '--user', 'joe@corp.example'], 2),
                           (['issue', '--requester', 'sync', '--user', 'joe@corp.example',
                             '--ttl', '30s'], 2),
                           (['issue', '--requester', 'sync', '--user', 'admin@corp.example'], 1),
                           (['revoke'], 2),
                           (['revoke', '--all', '--user', 'x'], 2),
                           (['list', '--all'], 2),
                           (['frobnicate'], 2)):
            r = self.cli(*args)
            self.assertEqual(r.returncode, code, (args, r.stdout, r.stderr))
            self.assertEqual(r.stdout.strip(), '', args)
        r = self.cli('--help')
        self.assertEqual(r.returncode, 0)
        self.assertIn('revoke', r.stdout)


class TestRestart(unittest.TestCase):
    """A token survives serve restarts (SIGTERM and SIGKILL); a consumed one
    stays consumed."""

    def test_restart(self):
        state = tempfile.mkdtemp(prefix='dagate-tokstate-')
        try:
            files = tokens_files()
            d1 = Dagate(tokens_config(state), files=files)
            with d1:
                pending = [api(d1, {'user': 'joe@corp.example'}, auth=basic('sync'))[2]['token']
                           for _ in range(3)]
                used = api(d1, {'user': 'joe@corp.example'}, auth=basic('sync'))[2]['token']
                self.assertEqual(d1.authenticate('joe@corp.example', used, '203.0.113.7'), 'true')
                log1 = d1.log()

            with Dagate(tokens_config(state), files=files) as d2:   # after SIGTERM
                self.assertEqual(d2.authenticate('joe@corp.example', pending[0], '203.0.113.7'),
                                 'true')
                self.assertEqual(d2.authenticate('joe@corp.example', used, '203.0.113.7'), 'false')
                d2.proc.kill()          # SIGKILL: no clean shutdown
                d2.proc.wait()
                d2.proc = None
                d2._logf.close()

            with Dagate(tokens_config(state), files=files) as d3:   # after SIGKILL
                self.assertEqual(d3.authenticate('joe@corp.example', pending[1], '203.0.113.7'),
                                 'true')
                self.assertEqual(d3.authenticate('joe@corp.example', pending[0], '203.0.113.7'),
                                 'false')
                # consumed before the kill: still consumed
                self.assertEqual(d3.authenticate('joe@corp.example', used, '203.0.113.7'), 'false')
                self.assertEqual(d3.authenticate('joe@corp.example', pending[2], '203.0.113.7'),
                                 'true')
                assert_no_raw_token(self, pending + [used], state, log1 + d3.log())
            key = os.path.join(state, 'token.key')
            self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        finally:
            shutil.rmtree(state, ignore_errors=True)


class TestConfig(unittest.TestCase):

    def test_check_config_reports_token_errors_with_lines(self):
        d = Dagate(tokens_config('/nonexistent', tokens_extra='max_ttl = 25h\nttl = 3h\n')
                   .replace('max_ttl = 2h\n', ''), files=tokens_files(), start=False)
        try:
            r = run_dagate(['check-config', '-c', d.config_path], cwd=d.dir)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertRegex(r.stdout + r.stderr, r'dagate\.conf:\d+: .*max_ttl')
        finally:
            d._cleanup_dir()

    def test_no_tokens_section_means_no_token_api_and_cli_refuses(self):
        cfg = server_section() + '[route]\nmatch = * -> local\n\n[provider local]\ntype = file\npath = {dir}/users\n'
        with Dagate(cfg, files={'users': ('joe@corp.example:%s\n' % hash_password('pw'), 0o600)}) as d:
            status, _, _ = api(d, {'user': 'joe@corp.example'}, auth=basic('sync'))
            self.assertEqual(status, 404)
            # without a token store a token-shaped password is simply false
            self.assertEqual(d.authenticate('joe@corp.example', TOKEN_SHAPED), 'false')
            r = run_dagate(['-c', d.config_path, 'token', 'list'], cwd=d.dir)
            self.assertEqual(r.returncode, 2, r.stderr)

    def test_default_store_and_key_file_created_under_cwd(self):
        cfg = tokens_config('X').replace('store = lmdb:X/tokens\n', '').replace(
            'key_file = X/token.key\n', '')
        with Dagate(cfg, files=tokens_files()) as d:
            key = os.path.join(d.dir, 'var', 'token.key')
            self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
            self.assertTrue(os.path.exists(os.path.join(d.dir, 'var', 'tokens', 'data.mdb')))
            out = api(d, {'user': 'joe@corp.example'}, auth=basic('sync'))[2]
            self.assertEqual(d.authenticate('joe@corp.example', out['token'], '203.0.113.8'), 'true')


if __name__ == '__main__':
    unittest.main()
