#!/usr/bin/env bash
# Install the pinned k3d and helm that envctl is tested with (envctl doctor compares against these).
#
#   scripts/install-tools.sh                     install both into $PREFIX/bin (default ~/.local)
#   scripts/install-tools.sh --check-or-install  keep a tool whose version on PATH is the pinned one;
#                                                install the pinned version otherwise (used by `make up`)
#   PREFIX=/usr/local sudo -E scripts/install-tools.sh
#
# The version decides, not presence: a runner's newer helm on PATH is replaced by the pinned one
# in $PREFIX/bin (put that first on PATH). Downloads come from the projects' release locations
# (K3D_URL_BASE / HELM_URL_BASE name a mirror) and are checked with sha256 against K3D_SHA256 /
# HELM_SHA256 when set, otherwise against the checksum file published next to the asset (k3d:
# checksums.txt, helm: <tarball>.sha256sum). Both tools are always tried; each failure is named
# (the URL and why) and the script exits 1 if any failed. Nothing is installed half-way: files are
# verified in a temporary folder, removed on exit, before being moved into place.
# Runs on Linux and macOS (bash 3.2; sha256sum or shasum).
set -euo pipefail

K3D_VERSION="v5.8.3"
HELM_VERSION="v3.17.3"
K3D_SHA256="${K3D_SHA256:-}"
HELM_SHA256="${HELM_SHA256:-}"
K3D_URL_BASE="${K3D_URL_BASE:-https://github.com/k3d-io/k3d/releases/download}"
HELM_URL_BASE="${HELM_URL_BASE:-https://get.helm.sh}"
PREFIX="${PREFIX:-$HOME/.local}"
BIN="$PREFIX/bin"

# One temporary root made here, in the main shell, so the EXIT trap sees it (a folder made inside
# $(...) would be recorded in a subshell and never removed).
TMP_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/envctl-install-tools.XXXXXX")"
trap 'rm -rf "$TMP_ROOT"' EXIT
die() { echo "install-tools: $*" >&2; exit 1; }

platform() {
  local os arch
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  case "$(uname -m)" in
    x86_64|amd64) arch=amd64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) die "unsupported CPU architecture $(uname -m)" ;;
  esac
  case "$os" in linux|darwin) ;; *) die "unsupported OS $os (use WSL2 on Windows)" ;; esac
  echo "$os-$arch"
}

fetch() {  # fetch URL DEST
  command -v curl >/dev/null || die "curl is needed to download $1 (apt-get install -y curl)"
  curl --fail --location --silent --show-error --retry 2 --connect-timeout 15 --output "$2" "$1" \
    || die "download failed: $1 (no network, a proxy, or the version does not exist)"
}

sha256() {  # sha256 FILE -> hex digest (sha256sum on Linux, shasum on macOS)
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null; then shasum -a 256 "$1" | cut -d' ' -f1
  else die "neither sha256sum nor shasum is installed: cannot verify downloads"
  fi
}

verify() {  # verify FILE EXPECTED_SHA256 WHAT
  local got
  got="$(sha256 "$1")"
  [ "$got" = "$2" ] || die "checksum mismatch for $3: expected $2, got $got (refusing to install)"
}

install_k3d() {
  local plat tmp asset base expected
  plat="$(platform)"; asset="k3d-$plat"
  base="$K3D_URL_BASE/$K3D_VERSION"
  tmp="$TMP_ROOT/k3d"; mkdir -p "$tmp"
  fetch "$base/$asset" "$tmp/k3d"
  expected="$K3D_SHA256"
  if [ -z "$expected" ]; then
    fetch "$base/checksums.txt" "$tmp/checksums.txt"
    expected="$(awk -v a="$asset" '$2 == a || $2 == "_dist/"a || $2 == "*"a {print $1}' "$tmp/checksums.txt" | head -1)"
    [ -n "$expected" ] || die "no checksum for $asset in $base/checksums.txt"
  fi
  verify "$tmp/k3d" "$expected" "k3d $K3D_VERSION ($asset)"
  mkdir -p "$BIN"
  install -m 0755 "$tmp/k3d" "$BIN/k3d"
  echo "installed k3d $K3D_VERSION into $BIN/k3d"
}

install_helm() {
  local plat tmp tarball url expected
  plat="$(platform)"; tarball="helm-$HELM_VERSION-$plat.tar.gz"
  url="$HELM_URL_BASE/$tarball"
  tmp="$TMP_ROOT/helm"; mkdir -p "$tmp"
  fetch "$url" "$tmp/$tarball"
  expected="$HELM_SHA256"
  if [ -z "$expected" ]; then
    fetch "$url.sha256sum" "$tmp/helm.sha256sum"
    expected="$(cut -d' ' -f1 "$tmp/helm.sha256sum")"
  fi
  verify "$tmp/$tarball" "$expected" "helm $HELM_VERSION ($tarball)"
  tar -xzf "$tmp/$tarball" -C "$tmp" "${plat}/helm"
  mkdir -p "$BIN"
  install -m 0755 "$tmp/$plat/helm" "$BIN/helm"
  echo "installed helm $HELM_VERSION into $BIN/helm"
}

found_version() {  # found_version TOOL -> the version on PATH ("" when absent or not runnable)
  case "$1" in
    k3d) command -v k3d >/dev/null && k3d version 2>/dev/null | sed -n 's/^k3d version \(v[0-9][0-9.]*\).*/\1/p' | head -1 ;;
    helm) command -v helm >/dev/null && helm version --template '{{ .Version }}' 2>/dev/null ;;
  esac
  return 0
}

path_hint() {
  case ":$PATH:" in *":$BIN:"*) ;; *) echo "note: add $BIN to PATH first, e.g. export PATH=\"$BIN:\$PATH\"" ;; esac
}

main() {
  local mode="install" failed="" tool pinned found
  case "${1:-}" in
    "") ;;
    --check-or-install) mode="check" ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument ${1} (use --check-or-install or no argument)" ;;
  esac
  for tool in k3d helm; do
    if [ "$tool" = k3d ]; then pinned="$K3D_VERSION"; else pinned="$HELM_VERSION"; fi
    if [ "$mode" = check ]; then
      found="$(found_version "$tool")"
      if [ "$found" = "$pinned" ]; then
        echo "$tool $found (pinned) found at $(command -v "$tool")"
        continue
      fi
      if [ -n "$found" ]; then
        echo "$tool $found found at $(command -v "$tool"), envctl is tested with $pinned: installing $pinned"
      else
        echo "$tool not found on PATH: installing $pinned"
      fi
    fi
    # A subshell: a failed download ends this tool's attempt, not the other's.
    if ! ( "install_$tool" ); then failed="$failed $tool"; fi
  done
  path_hint
  if [ -n "$failed" ]; then
    echo "install-tools: could not install:$failed (see above); \`envctl doctor\` lists what is missing" >&2
    exit 1
  fi
}

main "$@"
