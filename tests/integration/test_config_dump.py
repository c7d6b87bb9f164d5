"""`dagate config dump`: the effective configuration, as an operator
reads it on a bad day. What the file sets with its FILE:LINE, each default
that applies marked, the sections absent but in force ([throttle]), never
the content of a secret file; and the dump is itself a configuration that
check-config accepts and that dumps the same again."""

import os
import re
import shutil
import tempfile
import unittest

from harness import run_dagate

SECRET = 'ldap-service-password-in-a-file-7731'

CONFIG = """[server]
listen = 127.0.0.1:18443
allow = 10.0.0.0/8, 127.0.0.1
deadline = 4s

[log]
level = debug

[route]
match = *@corp.example -> corp
match = * -> local

[provider corp]
type = ldap
uri = ldaps://dc1.corp.example ldaps://dc2.corp.example
base = DC=corp,DC=example
bind_dn = CN=svc,DC=corp,DC=example
bind_password_file = {dir}/bind.pw

[provider local]
type = file
path = {dir}/users
"""


class TestConfigDump(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='dagate-dump-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.write('bind.pw', SECRET + '\n', 0o600)
        self.write('users', '', 0o640)
        self.conf = self.write('dagate.conf', CONFIG.replace('{dir}', self.dir), 0o644)

    def write(self, name, text, mode):
        path = os.path.join(self.dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def dump(self, path):
        r = run_dagate(['-c', path, 'config', 'dump'])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_dump(self):
        out = self.dump(self.conf)
        self.assertIn('[server]    # %s:1\n' % self.conf, out)
        self.assertIn('deadline = 4s\n', out)
        self.assertIn('workers = 16    # (default)\n', out)
        self.assertIn('allow = 10.0.0.0/8, 127.0.0.1\n', out)
        self.assertIn('[provider corp]    # %s:13\n' % self.conf, out)
        self.assertIn('pool = 4    # (default)\n', out)          # the ldap type's own keys
        self.assertIn('bind_password_file = %s/bind.pw\n' % self.dir, out)
        self.assertNotIn(SECRET, out)
        # Routes in file order; absent sections in force come last.
        self.assertLess(out.index('match = *@corp.example -> corp'), out.index('match = * -> local'))
        self.assertIn('[throttle]    # not in the file: these defaults apply\n'
                      'user_failures = 4/15m    # (default)\n', out)
        self.assertIn('[map]    # not in the file', out)
        self.assertNotIn('[tokens]', out)     # absent means off
        self.assertNotIn('[admin]', out)

    def test_dump_is_a_config_that_dumps_the_same(self):
        first = self.dump(self.conf)
        again = self.write('dump.conf', first, 0o644)
        r = run_dagate(['-c', again, 'check-config'])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        second = self.dump(again)

        def values(text):   # without the header and the where-from comments
            return [re.sub(r'    #.*$', '', l) for l in text.splitlines()
                    if l and not l.startswith('#')]
        self.assertEqual(values(first), values(second))

    def test_invalid_config_is_not_dumped(self):
        bad = self.write('bad.conf', CONFIG.replace('{dir}', self.dir)
                         .replace('deadline = 4s', 'deadline = soon'), 0o644)
        r = run_dagate(['-c', bad, 'config', 'dump'])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, '')
        self.assertRegex(r.stderr, r'%s:4: ' % re.escape(bad))

    def test_usage(self):
        for args in (['config'], ['config', 'bogus'], ['config', 'dump', 'extra']):
            r = run_dagate(['-c', self.conf] + args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn('usage: dagate config', r.stderr)


if __name__ == '__main__':
    unittest.main()
