"""A real browser for the integrated sign-on tests: Debian's headless
Chromium driven through chromedriver (python3-selenium), with Kerberos the
way a domain PC has it: a ticket cache (KRB5CCNAME) and krb5.conf
(KRB5_CONFIG) in its environment, the sign-on host in
--auth-server-allowlist, and a host-resolver rule that sends that host name
to 127.0.0.1 (no DNS on these machines).

    with Browser(workdir, ccache=..., krb5_conf=..., hosts={'sso.corp.test': '127.0.0.1'},
                 allow='sso.corp.test') as b:
        b.open('https://sso.corp.test:PORT/'); b.page_text(); b.current_url()

The test CA is not in Chromium's store: certificate errors are ignored
(the tests check dagate's answers, not the browser's trust store). Any
failure to start raises: a browser that cannot start fails the test.
"""

import json
import os
import shutil
import tempfile
import time

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'


class Browser:
    def __init__(self, workdir=None, *, ccache=None, krb5_conf=None, hosts=None, allow=None,
                 timeout=20):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise AssertionError('%s is not installed (scripts/deps test)' % path)
        self.dir = tempfile.mkdtemp(prefix='dagate-browser-', dir=workdir)
        env = dict(os.environ)
        env.pop('KRB5CCNAME', None)
        if ccache is not None:
            env['KRB5CCNAME'] = ccache
        else:   # no ticket at all: an empty cache of its own
            env['KRB5CCNAME'] = 'FILE:' + os.path.join(self.dir, 'no-ticket')
        if krb5_conf is not None:
            env['KRB5_CONFIG'] = krb5_conf
        # Chromium on Linux lets its network service load GSSAPI only once
        # a profile has seen a Negotiate challenge (it learns it, then needs a
        # restart): a fresh profile that has already seen one.
        profile = os.path.join(self.dir, 'profile')
        os.makedirs(profile)
        with open(os.path.join(profile, 'Local State'), 'w') as f:
            # the SPN is HTTP/ + the name in the URL, as on a domain PC
            # whose DNS knows the name (the resolver rule below would
            # otherwise make it the address); a command-line switch no
            # longer does this
            json.dump({'net': {'received_http_auth_negotiate_headers': True},
                       'auth': {'disable_negotiate_cname_lookup': True}}, f)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                    '--no-first-run', '--ignore-certificate-errors',
                    '--user-data-dir=' + profile):
            opts.add_argument(arg)
        if allow:
            opts.add_argument('--auth-server-allowlist=' + allow)
        if hosts:
            opts.add_argument('--host-resolver-rules=' + ', '.join(
                'MAP %s %s' % (name, ip) for name, ip in hosts.items()))
        service = Service(CHROMEDRIVER, env=env,
                          log_path=os.path.join(self.dir, 'chromedriver.log'))
        self.driver = webdriver.Chrome(service=service, options=opts)
        self.driver.set_page_load_timeout(timeout)

    def open(self, url):
        self.driver.get(url)

    def wait_for_url(self, predicate, timeout=10.0):
        """Until predicate(current URL) holds (auto-submitted forms)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate(self.driver.current_url):
                return self.driver.current_url
            time.sleep(0.1)
        raise AssertionError('browser stayed on %s: %s' % (self.driver.current_url,
                                                            self.page_text()[:300]))

    def current_url(self):
        return self.driver.current_url

    def page_text(self):
        return self.driver.find_element('tag name', 'body').text

    def page_source(self):
        return self.driver.page_source

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
