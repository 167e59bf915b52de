#!/usr/bin/env bash
# Build cni-fix's release artifacts into target/package/:
#
#   cni-fix                       the static binary (x86_64 GNU target, glibc linked in)
#   cni-fix_VERSION-1_amd64.deb   the Debian package (cargo-deb): binary, man pages, completions,
#                                 explain pages, deploy/ examples
#   cni-fix-VERSION.oci.tar       the FROM scratch image (Containerfile, buildah), as an OCI archive
#
# Needs: cargo-deb (cargo install cargo-deb), buildah. Runs offline once the crates are fetched.
# Set PACKAGE_SKIP_IMAGE=1 to build the binary and the package only.
set -euo pipefail
cd "$(dirname "$0")/.."

triple=x86_64-unknown-linux-gnu
out=target/package
# A target dir of its own: a build under `cargo test` must not wait on the test's lock, and the
# static flags must not invalidate the ordinary build.
export CARGO_TARGET_DIR="$PWD/$out/cargo"
release="$CARGO_TARGET_DIR/$triple/release"
mkdir -p "$out"
# Every date in the artifacts is the last commit's, so that a rebuild of a commit is the same.
epoch="$(git log -1 --format=%ct 2>/dev/null || date +%s)"

# The GNU target links glibc statically with crt-static; --target keeps the flag off build
# scripts and proc macros, which must stay dynamic.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --target "$triple" -p cni-fix-cli
bin="$release/cni-fix"
version="$("$bin" --version | awk '{print $2}')"

# Man pages and completions are the binary's own output; the Debian files are compressed with
# gzip -n, so that the package does not change with the time it was built.
dist="$release/dist"
rm -rf "$dist"
"$bin" manpages "$dist/man"
gzip -9n "$dist"/man/*.1
mkdir -p "$dist/completions"
"$bin" completions bash >"$dist/completions/cni-fix.bash"
"$bin" completions zsh >"$dist/completions/_cni-fix"
"$bin" completions fish >"$dist/completions/cni-fix.fish"
gzip -9n <CHANGELOG.md >"$dist/changelog.gz"
# The Debian changelog names this version, dated as everything else.
date="$(date -R -d "@$epoch")"
cat <<EOF | gzip -9n >"$dist/changelog.Debian.gz"
cni-fix ($version-1) unstable; urgency=medium

  * Release $version; see changelog.gz for what changed.

 -- cni-fix maintainers <cni-fix@users.noreply.github.com>  $date
EOF
# What lintian says of a static binary packaged outside the Debian archive, and why it is so.
cat >"$dist/lintian-overrides" <<EOF
# A static-pie executable on purpose, so that one package serves every glibc: lintian reads it
# as a shared library without its libc dependency, and the package depends on nothing.
cni-fix: shared-library-lacks-prerequisites [usr/bin/cni-fix]
cni-fix: empty-field Depends
# Released by the project, not uploaded to Debian: there is no ITP bug to close.
cni-fix: initial-upload-closes-no-bugs [usr/share/doc/cni-fix/changelog.Debian.gz:1]
EOF

cp "$bin" "$out/cni-fix.tmp" && strip "$out/cni-fix.tmp" && mv "$out/cni-fix.tmp" "$out/cni-fix"
# Dated, so that the image layer holding it is the same from build to build.
touch -d "@$epoch" "$out/cni-fix"

rm -f "$out"/cni-fix_*.deb
cargo deb --no-build --locked --target "$triple" -p cni-fix-cli --output "$out/cni-fix_${version}-1_amd64.deb"

if [ "${PACKAGE_SKIP_IMAGE:-0}" != 1 ]; then
  # The build context is target/package, which holds the binary the Containerfile copies.
  # Storage of its own, on vfs, so that the build needs neither overlay nor the host's images.
  storage=(--root "$PWD/$out/containers/storage" --runroot "$PWD/$out/containers/run"
    --storage-driver vfs)
  image="localhost/cni-fix:$version"
  buildah "${storage[@]}" build --isolation chroot --quiet --timestamp "$epoch" \
    -f Containerfile -t "$image" "$out" >/dev/null
  rm -f "$out/cni-fix-$version.oci.tar"
  buildah "${storage[@]}" push --quiet "$image" "oci-archive:$out/cni-fix-$version.oci.tar:$image"
fi

ls -l "$out"/cni-fix "$out"/*.deb "$out"/*.oci.tar 2>/dev/null || true
