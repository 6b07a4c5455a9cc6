#!/usr/bin/env bash
# Non-test lines of Rust, the measure the line budgets use: lines that are neither blank nor
# comments, up to each file's first `#[cfg(test)]`.
#   tests/loc.sh PATH...      (files or folders; prints each path's count)
set -euo pipefail
for path in "$@"; do
  find "$path" -name '*.rs' -print0 |
    xargs -0 awk 'FNR == 1 { done = 0 } /#\[cfg\(test\)\]/ { done = 1 } !done && !/^[[:space:]]*$/ && !/^[[:space:]]*\/\// { n++ } END { print n + 0 }' |
    sed "s|\$|  $path|"
done
