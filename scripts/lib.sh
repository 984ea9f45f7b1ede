# shellcheck shell=bash
# Common settings for the cachefiles-rs scripts.  Sourced, not executed.

CFRS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# CI may run with a minimal environment: derive what we rely on.
if [ -z "${HOME:-}" ]; then
	HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
	export HOME
fi
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$PATH:$HOME/.cargo/bin" ;; esac
# Built kernels and other large artefacts live outside the repository.
CFRS_CACHE=${CFRS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cachefiles-rs}
# Kernels somebody already built for the project (read-only, optional).
CFRS_SHARED_CACHE=${CFRS_SHARED_CACHE:-$CFRS_ROOT/../shared/kernel-cache}
CFRS_KSRC_TARBALL=${CFRS_KSRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
CFRS_VENV=${CFRS_VENV:-$CFRS_CACHE/venv}

# The toolchain every kernel and module build must use (see
# Documentation/building.rst): Debian's rustc-web, not rustup's.
export RUSTC=${RUSTC:-/usr/bin/rustc}
export RUSTDOC=${RUSTDOC:-/usr/bin/rustdoc}
export RUSTFMT=${RUSTFMT:-/usr/bin/rustfmt}
export CLIPPY_DRIVER=${CLIPPY_DRIVER:-/usr/bin/clippy-driver}
export BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
CFRS_KMAKE=(make LLVM=1 "RUSTC=$RUSTC" "RUSTDOC=$RUSTDOC" "RUSTFMT=$RUSTFMT"
	"BINDGEN=$BINDGEN" "CLIPPY_DRIVER=$CLIPPY_DRIVER")

cfrs_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cfrs_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# cfrs_kernel_key VARIANT: hash of every input of a kernel build.
cfrs_kernel_key() {
	local variant=$1
	{
		echo "variant=$variant"
		dpkg-query -W -f='${Package} ${Version}\n' linux-source-6.12 2>/dev/null ||
			stat -c '%s %Y' "$CFRS_KSRC_TARBALL"
		cat "$CFRS_ROOT"/scripts/patches/*.patch
		cat "$CFRS_ROOT/scripts/config/base.config" "$CFRS_ROOT/scripts/config/$variant.config"
		cat "$CFRS_ROOT/scripts/kernel-build"
		"$RUSTC" --version
		"$BINDGEN" --version
		clang --version | head -n1
		ld.lld --version | head -n1
	} | sha256sum | cut -c1-16
}

# cfrs_kdir VARIANT: the built tree of VARIANT if one exists (shared
# cache first), else the path where scripts/kernel-build will put it.
cfrs_kdir() {
	local key
	key=$(cfrs_kernel_key "$1")
	if [ -e "$CFRS_SHARED_CACHE/$key/.complete" ]; then
		echo "$CFRS_SHARED_CACHE/$key/linux"
	else
		echo "$CFRS_CACHE/kernel/$key/linux"
	fi
}
