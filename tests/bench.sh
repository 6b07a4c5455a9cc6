#!/usr/bin/env bash
# The benchmarks: the generator's (`cargo bench --bench apply`) and the orchestrator's
# (`cd base && cargo bench --bench host`), each printing figures beside a reference measured in
# the same run. `--quick` (what CI runs) builds them without link-time optimisation:
# the figures are for reading, not budgets; run without it for the real ones.
#   tests/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--quick" ]; then
  export CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
  echo "quick mode: no LTO; figures are indicative"
fi
cargo bench --locked --bench apply
(cd base && cargo bench --locked --bench host)
