"""scripts/salesforce-ranges: Salesforce's published ip-ranges.json into a
dagate allow file; dagate accepts the result (and the shipped example) as
`allow_file` and lets in exactly what it lists."""

import http.client
import json
import os
import subprocess
import unittest

from harness import REPO, Dagate, envelope, run_dagate

SCRIPT = os.path.join(REPO, 'scripts', 'salesforce-ranges')
EXAMPLE = os.path.join(REPO, 'conf', 'salesforce-ranges.example')

# Shaped like the published file (a sync token, a date, lists of prefixes
# per region); the converter reads every address wherever it sits. The
# loopback entry lets dagate prove the result below.
SAMPLE = {
    'syncToken': '1712345678',
    'createDate': '2024-04-05-12-00-00',
    'prefixes': [
        {'region': 'us-east-1', 'ip_prefix': ['13.108.0.0/14', '13.110.4.7/24', '101.53.160.0/19']},
        {'region': 'eu-central-1', 'ip_prefix': ['85.222.128.0/19', '85.222.130.0/24'],
         'ipv6_prefix': ['2a01:111:f400::/48', '2A01:111:F400:1::/64']},
        {'region': 'test', 'ip_prefix': ['127.0.0.2']},
    ],
}

EXPECTED = """# Salesforce IP ranges for dagate allow_file, made by scripts/salesforce-ranges
# syncToken: 1712345678
# createDate: 2024-04-05-12-00-00
# 8 ranges read, 5 after merging
13.108.0.0/14
85.222.128.0/19
101.53.160.0/19
127.0.0.2/32
2a01:111:f400::/48
"""


def convert(text):
    return subprocess.run([SCRIPT], input=text.encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)


class TestConverter(unittest.TestCase):
    def test_sample(self):
        r = convert(json.dumps(SAMPLE))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), EXPECTED)

    def test_refuses_what_would_lock_out_or_open_up(self):
        for text, why in (('', 'Expecting value'), ('{"prefixes": [', 'Expecting'),
                          ('{"prefixes": []}', 'no IP address'),
                          ('{"prefixes": ["us-east-1", 42]}', 'no IP address'),
                          ('{"p": ["13.108.0.0/14", "0.0.0.0/0"]}', 'too wide'),
                          ('{"p": ["::/0"]}', 'too wide')):
            with self.subTest(text=text):
                r = convert(text)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, b'')
                self.assertIn(why, r.stderr.decode())

    def test_help(self):
        r = subprocess.run([SCRIPT, '--help'], stdout=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b'ip-ranges.salesforce.com', r.stdout)


class TestDagateReadsIt(unittest.TestCase):
    CONF = """
[server]
listen = 127.0.0.1:0
allow_file = %s

[log]
level = info

[route]
match = * -> yes

[provider yes]
type = static
result = true
"""

    def test_example_is_a_valid_allow_file(self):
        d = Dagate(self.CONF % EXAMPLE, start=False)
        try:
            r = run_dagate(['check-config', '-c', d.config_path])
            self.assertEqual((r.returncode, r.stdout.strip()), (0, 'configuration OK'), r.stderr)
        finally:
            d._cleanup_dir()

    def test_converted_file_is_what_dagate_allows(self):
        r = convert(json.dumps(SAMPLE))
        self.assertEqual(r.returncode, 0, r.stderr)
        with Dagate(self.CONF % '{dir}/salesforce-ranges',
                    files={'salesforce-ranges': r.stdout.decode()}) as d:
            port = d.server_listeners()[0].port

            def status(source):
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10,
                                                  source_address=(source, 0))
                try:
                    conn.request('POST', '/Sso.asmx', body=envelope('joe@corp.example', 'pw'),
                                 headers={'Content-Type': 'text/xml; charset=utf-8'})
                    return conn.getresponse().status
                finally:
                    conn.close()

            self.assertEqual(status('127.0.0.2'), 200)
            with self.assertRaises(ConnectionError):     # allow_file replaces the default:
                status('127.0.0.1')                      # closed at accept


if __name__ == '__main__':
    unittest.main()
