"""Real directory servers for dagate's integration tests (slapd, Samba AD).

Each backend runs as a private process tree started and stopped by the
test, on loopback or inside a network namespace the test makes itself.
A backend that cannot start raises: a missing server is a failure.
"""
