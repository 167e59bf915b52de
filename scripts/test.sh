#!/usr/bin/env bash
# Install what the tests need (Debian 12) and run every test and check.
#
# The tests use real components: Debian's CNI plugins (/usr/lib/cni), containerd, and libcni's
# and go-cni's source with Go. They also read the real-world corpus in ../shared/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  containernetworking-plugins
  containerd
  golang-go
  golang-github-appc-cni-dev
  golang-github-containerd-go-cni-dev
  util-linux
  # verify's tests: iptables for portmap and bridge, ip and pgrep to compare the host
  iptables
  iproute2
  procps
  # the fleet tests: promtool validates the Prometheus output; pip installs the validators
  prometheus
  python3-pip
  # the package tests: buildah builds and runs the image, lintian checks the Debian package,
  # readelf reads the static binary's dynamic section
  buildah
  lintian
  binutils
)
# The workloads tests run the Kubernetes documentation's kubectl line: Debian's kubectl unless
# the machine has one already (another package may own /usr/bin/kubectl).
if ! command -v kubectl >/dev/null 2>&1; then
  packages+=(kubernetes-client)
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

# check-jsonschema validates SARIF against its schema, kubernetes-validate the deploy/ manifests.
# The tests run them as python3 -m check_jsonschema and python3 -m kubernetes_validate.
for m in check_jsonschema:check-jsonschema kubernetes_validate:kubernetes-validate; do
  if ! python3 -c "import ${m%%:*}" >/dev/null 2>&1; then
    echo "installing from PyPI: ${m#*:}"
    python3 -m pip install --quiet --break-system-packages "${m#*:}" 2>/dev/null \
      || python3 -m pip install --quiet "${m#*:}"
  fi
done

# kubernetes-validate ships schemas for recent releases only; its 1.30.0 release, beside it,
# ships Kubernetes 1.24's, the oldest the deploy/ manifests support.
if [ ! -d target/kubernetes-validate-1.30/kubernetes_validate ]; then
  python3 -m pip install --quiet --no-deps --target target/kubernetes-validate-1.30 \
    kubernetes-validate==1.30.0
fi

# cargo-deb builds the Debian package in scripts/package.sh, which the package tests run.
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "installing from crates.io: cargo-deb"
  cargo install --locked --quiet cargo-deb
fi

if [ ! -f ../shared/corpus/real-world/INDEX.md ]; then
  echo "error: ../shared/corpus/real-world is missing; the corpus tests need it" >&2
  exit 1
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo test --workspace
