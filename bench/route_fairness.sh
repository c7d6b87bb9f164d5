#!/bin/sh
# Does a saturated slow route slow the fast one? The same load against two
# dagate binaries, side by side: the base (before fair worker lanes, built
# from git) and this checkout's build/dagate. Not a test: prints figures.
#
#   bench/route_fairness.sh                 (needs build/dagate: scripts/build)
#   BASE_REF=<commit> ROUNDS=3 bench/route_fairness.sh
#   BASE_BIN=/path/to/dagate bench/route_fairness.sh
#
# Load (bench/route_fairness.py): 60 clients on a route whose backend
# answers in 2 s, 4 clients on a route whose backend answers at once,
# [server] defaults. Figures: the fast route's p50/p99 unloaded and
# loaded; the ratio to watch is loaded p99 / unloaded p99 (1 = no harm).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
ROUNDS=${ROUNDS:-2}
NEW_BIN=${NEW_BIN:-$root/build/dagate}
[ -x "$NEW_BIN" ] || { echo "no $NEW_BIN: run scripts/build first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dagate-fairness-base.XXXXXX")
cleanup() {
	git worktree remove --force "$work/src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if [ -z "${BASE_BIN:-}" ]; then
	if [ -z "${BASE_REF:-}" ]; then
		# The commit before fair lanes came in.
		first=$(git log --format=%H -S workers_lane_limit -- service/base/workers.h | tail -n 1)
		[ -n "$first" ] || { echo "cannot find the fair-lanes commit; set BASE_REF" >&2; exit 1; }
		BASE_REF=$first^
	fi
	echo "==> building the base $(git rev-parse --short "$BASE_REF") in $work"
	git worktree add --detach "$work/src" "$BASE_REF" >/dev/null 2>&1
	{ cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	  cmake --build "$work/build" --parallel "$(nproc)" --target dagate; } >"$work/build.log" 2>&1 ||
		{ tail -n 30 "$work/build.log"; exit 1; }
	BASE_BIN=$work/build/dagate
fi

for round in $(seq 1 "$ROUNDS"); do
	for which in base new; do
		if [ $which = base ]; then bin=$BASE_BIN; else bin=$NEW_BIN; fi
		printf 'round %s %-4s ' "$round" "$which"
		/usr/bin/python3 bench/route_fairness.py "$bin" | tee "$work/$which.$round"
	done
done
/usr/bin/python3 - "$work" "$ROUNDS" <<'PY'
import re, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def figures(which):
    out = []
    for r in range(1, rounds + 1):
        m = re.search(r'unloaded p50 ([\d.]+) p99 ([\d.]+) ms \| loaded p50 ([\d.]+) p99 ([\d.]+)',
                      open('%s/%s.%d' % (work, which, r)).read())
        out.append([float(x) for x in m.groups()])
    return [sorted(col)[len(col) // 2] for col in zip(*out)]   # median per column
for which in ('base', 'new'):
    u50, u99, l50, l99 = figures(which)
    print('%-4s fast route: p50 %.1f -> %.1f ms (x%.1f), p99 %.1f -> %.1f ms (x%.1f) under load'
          % (which, u50, l50, l50 / u50, u99, l99, l99 / u99))
PY
