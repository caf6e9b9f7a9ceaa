#!/usr/bin/env bash
# The test suite behind `make test`: lint, unit tests (race detector), the
# real services of scripts/services.sh, then the integration tier against
# them. Prints the seconds each phase took and fails when the whole run
# exceeds its budget (HAZELNUT_TEST_BUDGET seconds, default 2100 = 35 min).
#
#   scripts/test.sh all | unit | integration | fuzz
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUDGET=${HAZELNUT_TEST_BUDGET:-2100}
GO=${GO:-go}
start=$(date +%s)
declare -a report=()

phase() {
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "== $name" >&2
  local remaining=$(( BUDGET - (t0 - start) ))
  if (( remaining <= 0 )); then
    echo "test budget of ${BUDGET}s used up before $name" >&2
    exit 1
  fi
  local rc=0
  timeout --foreground "$remaining" bash -euo pipefail -c "$*" || rc=$?
  if (( rc != 0 )); then
    (( rc == 124 )) && echo "$name ran past the test budget of ${BUDGET}s" >&2
    exit "$rc"
  fi
  report+=("$name: $(( $(date +%s) - t0 ))s")
}

lint() {
  local out; out=$(gofmt -l .)
  if [[ -n $out ]]; then echo "gofmt would change:"; echo "$out"; return 1; fi
  $GO vet ./... && $GO vet -tags integration ./...
}

unit() {
  $GO test -count=1 -race -timeout 10m ./...
}

integration() {
  local envs
  envs=$(bash scripts/services.sh up)
  eval "$envs"
  # The packages that have integration tests, one at a time: they share the
  # broker's topics and groups.
  local pkgs
  pkgs=$(grep -rl --include='*_test.go' '^//go:build integration' . | xargs -n1 dirname | sort -u)
  [[ -n $pkgs ]] || { echo "no integration tests found" >&2; return 1; }
  # shellcheck disable=SC2086
  $GO test -count=1 -p 1 -tags integration -timeout 20m -run 'Kafka|Services' $pkgs
}

fuzz() {
  local pkg target
  while read -r pkg target; do
    $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "${HAZELNUT_FUZZTIME:-10s}" "$pkg"
  done < <($GO test -list '^Fuzz' ./... 2>/dev/null | awk '/^Fuzz/{names[n++]=$1} /^ok/{for(i=0;i<n;i++) print $2, names[i]; n=0}')
}

export GO
export -f lint unit integration fuzz

case ${1:-all} in
  all)
    phase lint lint
    phase unit unit
    phase integration integration
    ;;
  unit) phase unit unit ;;
  integration) phase integration integration ;;
  fuzz) phase fuzz fuzz ;;
  *) echo "usage: $0 all|unit|integration|fuzz" >&2; exit 2 ;;
esac

total=$(( $(date +%s) - start ))
printf '%s\n' "${report[@]}" "total: ${total}s of ${BUDGET}s budget" >&2
