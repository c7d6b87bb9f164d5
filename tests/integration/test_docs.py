"""The manuals cover what the binary accepts: every key of every section
(`dagate config keys`) is described in dagate.conf(5), in its section,
and every command of `dagate --help` in dagate(8). A key or command added
without its documentation fails here."""

import os
import re
import unittest

from harness import run_dagate

MAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'dist', 'man')


def man_sections(path):
    """{title: text} of a man page's .SH / .SS sections (titles unquoted)."""
    sections, title, lines = {}, '', []
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'^\.S[HS] "?([^"\n]*)"?$', line)
            if m:
                sections[title] = ''.join(lines)
                title, lines = m.group(1), []
            else:
                lines.append(line)
    sections[title] = ''.join(lines)
    return sections


def describes(text, key):
    """`key` is named in the tag line of a .TP entry (`.B key`, or
    `.BR tls_cert ", " tls_key` for two keys described together)."""
    tags = re.findall(r'^\.TP\n(\.B[IR]? .*)$', text.replace('\\-', '-'), re.M)
    return any(re.search(r'(^\.B[IR]? |[ "])%s\b' % re.escape(key), t) for t in tags)


class TestManuals(unittest.TestCase):
    def test_every_config_key_is_in_dagate_conf_5(self):
        r = run_dagate(['config', 'keys'])
        self.assertEqual(r.returncode, 0, r.stderr)
        pages = man_sections(os.path.join(MAN, 'dagate.conf.5'))
        keys = [line.split() for line in r.stdout.splitlines()]
        self.assertGreater(len(keys), 60)
        missing = []
        for words in keys:
            kind, key = words[0], words[-1]
            if kind == 'provider' and len(words) == 3:
                where = pages.get('type = %s' % words[1], '')
            elif kind in ('provider', 'requester'):
                where = pages.get('[%s NAME]' % kind, '')
            else:
                where = pages.get('[%s]' % kind, '')
            if not describes(where, key):
                missing.append(' '.join(words))
        self.assertEqual(missing, [], 'keys dagate accepts that dagate.conf(5) does not describe')

    def test_every_command_is_in_dagate_8(self):
        r = run_dagate(['--help'])
        self.assertEqual(r.returncode, 0, r.stderr)
        commands = re.findall(r'^  ([a-z][a-z-]+)', r.stdout, re.M)
        self.assertIn('serve', commands)
        self.assertIn('decisions', commands)
        text = man_sections(os.path.join(MAN, 'dagate.8')).get('COMMANDS', '')
        text = text.replace('\\-', '-')
        missing = [c for c in commands if not re.search(r'^\.B[IR]? "?%s\b' % re.escape(c), text, re.M)]
        self.assertEqual(missing, [], 'commands of dagate --help missing from dagate(8)')


if __name__ == '__main__':
    unittest.main()
