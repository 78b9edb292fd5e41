#!/usr/bin/env bash
# Install the pinned k3d and helm that envctl is tested with (envctl doctor compares against these).
#
#   scripts/install-tools.sh                     install both into $PREFIX/bin (default ~/.local)
#   scripts/install-tools.sh --check-or-install  if both are on PATH, print their versions and exit 0;
#                                                otherwise install the missing ones (used by `make up`)
#   PREFIX=/usr/local sudo -E scripts/install-tools.sh
#
# Downloads come from the projects' official release locations and are checked with sha256:
# against K3D_SHA256 / HELM_SHA256 when set (pin them for reproducible CI), otherwise against the
# checksum file published next to the release asset (k3d: checksums.txt, helm: <tarball>.sha256sum).
# A download or checksum failure stops the script with a message naming the URL; nothing is
# installed half-way (files are verified in a temporary folder before being moved into place).
set -euo pipefail

K3D_VERSION="v5.8.3"
HELM_VERSION="v3.17.3"
K3D_SHA256="${K3D_SHA256:-}"
HELM_SHA256="${HELM_SHA256:-}"
PREFIX="${PREFIX:-$HOME/.local}"
BIN="$PREFIX/bin"

TMP_DIRS=()
cleanup() { for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT
die() { echo "install-tools: $*" >&2; exit 1; }
scratch() { local d; d="$(mktemp -d)"; TMP_DIRS+=("$d"); echo "$d"; }

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

verify() {  # verify FILE EXPECTED_SHA256 WHAT
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$2" ] || die "checksum mismatch for $3: expected $2, got $got (refusing to install)"
}

install_k3d() {
  local plat tmp asset base expected
  plat="$(platform)"; asset="k3d-$plat"
  base="https://github.com/k3d-io/k3d/releases/download/$K3D_VERSION"
  tmp="$(scratch)"
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
  url="https://get.helm.sh/$tarball"
  tmp="$(scratch)"
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

path_hint() {
  case ":$PATH:" in *":$BIN:"*) ;; *) echo "note: add $BIN to PATH, e.g. export PATH=\"$BIN:\$PATH\"" ;; esac
}

main() {
  local mode="install"
  case "${1:-}" in
    "") ;;
    --check-or-install) mode="check" ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument ${1} (use --check-or-install or no argument)" ;;
  esac
  local need_k3d=1 need_helm=1
  if [ "$mode" = check ]; then
    if command -v k3d >/dev/null; then need_k3d=0; local v; v="$(k3d version)"; echo "${v%%$'\n'*}"; fi
    if command -v helm >/dev/null; then need_helm=0; echo "helm $(helm version --template '{{ .Version }}')"; fi
    if [ $need_k3d = 0 ] && [ $need_helm = 0 ]; then exit 0; fi
  fi
  [ $need_k3d = 1 ] && install_k3d
  [ $need_helm = 1 ] && install_helm
  path_hint
}

main "$@"
