#!/bin/sh
# dagate's ldap provider under HTTP load against a raw libldap loop doing
# the same work (service-account search + user bind, ldaps, persistent
# connections) against the same private slapd with the same concurrency.
# Prints both rates and their ratio (target: dagate >= 0.8 x raw). Not a
# test: prints figures.
#
#   bench/ldap_vs_raw.sh              (needs build/dagate: scripts/build)
#   CONC=8 SECONDS_EACH=10 bench/ldap_vs_raw.sh
#
# slapd and dagate listen on 127.0.0.1 only and are stopped by PID.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
DAGATE_BIN=${DAGATE_BIN:-$root/build/dagate}
export DAGATE_BIN CONC="${CONC:-8}" SECONDS_EACH="${SECONDS_EACH:-10}"

scripts/deps test bench
[ -x "$DAGATE_BIN" ] || { echo "no $DAGATE_BIN: run scripts/build first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dagate-ldap-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The raw loop is built here, not by the project's build.
cc -O2 -Wall -Wextra -o "$work/ldap_raw" bench/ldap_raw.c -lldap -llber -lpthread
RAW_BIN="$work/ldap_raw" WORK="$work" /usr/bin/python3 bench/ldap_bench.py
