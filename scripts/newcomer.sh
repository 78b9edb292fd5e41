#!/usr/bin/env bash
# A newcomer's first contact, scripted: a fresh clone of this repository on a machine with no k3d,
# no helm and no route to their download sites (package registries only).
#
#   scripts/newcomer.sh            `make up` must end with envctl doctor's table, naming both tools,
#                                  and doctor's exit 3; then `make test` in the clone must pass
#   scripts/newcomer.sh --up-only  only the `make up` part (a minute, no test suite)
#
# Cheap on purpose: the clone reuses this checkout's virtualenv (made by `make` here if needed) and
# runs its own code through PYTHONPATH, so nothing is downloaded. k3d and helm are hidden by running
# with a PATH that holds neither, and their downloads point at a closed local port (no network).
# .ci/run runs this script: its `make test` is CI's test run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE="${1:-full}"
VENV="$ROOT/.venv"
STAMP="$VENV/.installed"

make -C "$ROOT" --no-print-directory .venv/.installed   # the shared venv, as `make` makes it (VENV=.venv)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/envctl-newcomer.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
git clone --quiet "$ROOT" "$WORK/envctl"
cd "$WORK/envctl"

# PATH without any folder that holds k3d or helm (the venv's bin is reached through make's BIN).
clean_path=""
IFS=: read -r -a folders <<<"$PATH"
for folder in "${folders[@]}"; do
  [ -n "$folder" ] || continue
  if [ -x "$folder/k3d" ] || [ -x "$folder/helm" ]; then continue; fi
  clean_path="${clean_path:+$clean_path:}$folder"
done

run_make() {  # run_make TARGET -> make's exit status; output to the terminal and to $WORK/<target>.log
  env PATH="$clean_path" PYTHONPATH="$WORK/envctl" \
    K3D_URL_BASE="http://127.0.0.1:9/k3d" HELM_URL_BASE="http://127.0.0.1:9/helm" \
    make --no-print-directory -o "$STAMP" VENV="$VENV" TOOLS_BIN="$WORK/tools/bin" "$1" 2>&1 | tee "$WORK/$1.log"
}

echo "== newcomer: make up (fresh clone, no k3d/helm, no network)"
status=0
run_make up || status=$?
log="$WORK/up.log"
fail() { echo "newcomer: $*" >&2; exit 1; }
[ "$status" -ne 0 ] || fail "make up succeeded without k3d and helm"
grep -q "envctl doctor" "$log" || fail "make up did not run envctl doctor"
grep -q "^fix k3d: install k3d v" "$log" || fail "doctor did not name k3d's install page and pinned version"
grep -q "^fix helm: install helm v" "$log" || fail "doctor did not name helm's install page and pinned version"
grep -q "PATH=" "$log" || fail "doctor did not show the PATH it searched"
grep -q "could not install: k3d helm" "$log" || fail "the pinned install did not try both tools"
grep -q "Error 3" "$log" || fail "make up did not stop on doctor's exit 3"
if grep -q "install-tools.sh --check-or-install" <(grep "^fix " "$log"); then
  fail "doctor's fix is the command that just failed"
fi
echo "== newcomer: make up ended with doctor's table and exit 3, as documented"

[ "$MODE" = "--up-only" ] && exit 0
echo "== newcomer: make test"
run_make test
