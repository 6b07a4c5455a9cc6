#!/usr/bin/env bash
# The benchmarks: the generator's (`cargo bench --bench apply`) and the orchestrator's
# (`cargo bench --bench host`, in base/ or in the install given), each printing figures beside a
# reference measured in the same run.
#   tests/bench.sh [--quick] [INSTALL]
# Without --quick: release builds, the figures the README reports. With --quick (what CI runs):
# the benchmarks run as test-profile binaries, reusing what the test run already compiled, so they
# cost seconds instead of a release build. Those figures come from debug builds: read them as
# ratios and trends, not against the budgets (the idle RSS, for one, includes the debug binary's
# own pages).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=bench
quick=""
if [ "${1:-}" = "--quick" ]; then
  mode=test
  quick=--quick
  shift
  echo "quick mode: debug builds; figures are indicative, not budgets"
fi
install="${1:-base}"
cargo "$mode" --locked --bench apply -- ${quick}
(cd "$install" && cargo "$mode" --locked --workspace --bench host -- ${quick})
