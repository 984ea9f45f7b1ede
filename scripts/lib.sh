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

# cfrs_kernel_config_ok KCONFIG VARIANT: KCONFIG has every option the
# variant's fragments ask for (what scripts/kernel-build checks too).
cfrs_kernel_config_ok() {
	local kconfig=$1 variant=$2 line name want have
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) want=$line; name=${line%%=*} ;;
		"# CONFIG_"*" is not set") name=${line#\# }; name=${name%% *}; want="" ;;
		*) continue ;;
		esac
		have=$(grep -E "^$name=" "$kconfig") || have=""
		[ "$have" = "$want" ] || { echo "${have:-$name unset} where $variant wants ${want:-$name unset}"; return 1; }
	done < <(cat "$CFRS_ROOT/scripts/config/base.config" "$CFRS_ROOT/scripts/config/$variant.config")
}

# cfrs_kernel_import VARIANT KEY: unpack a prebuilt tree,
# $CFRS_SHARED_CACHE/KEY-VARIANT.tar.xz (made by scripts/kernel-export),
# into $CFRS_CACHE/kernel/KEY, where scripts/kernel-build finds it.  The
# file name carries the key: KEY is what the project's inputs hash to
# today.  The tree is checked (marker, bzImage, Module.symvers, C
# cachefiles.ko, Rust metadata, a .config with the variant's options)
# before it replaces anything; on failure nothing changes and this returns
# non-zero (kernel-build then builds the kernel as usual).
cfrs_kernel_import() {
	local variant=$1 key=$2
	local tb=$CFRS_SHARED_CACHE/$key-$variant.tar.xz dest=$CFRS_CACHE/kernel/$key
	[ -r "$tb" ] || return 1
	mkdir -p "$CFRS_CACHE/kernel" || return 1
	(
		set -o pipefail
		# One import per key at a time; a second caller waits, then finds it.
		flock 8
		[ ! -e "$dest/.complete" ] || exit 0
		tmp=$(mktemp -d "$CFRS_CACHE/kernel/.import-$key.XXXXXX") || exit 1
		chmod 755 "$tmp"
		trap 'rm -rf "$tmp"' EXIT
		cfrs_log "unpacking the prebuilt $variant kernel $tb"
		if ! xz -dc "$tb" | tar -C "$tmp" -xf -; then
			cfrs_log "$tb: unpack failed: not used"
			exit 1
		fi
		# .complete comes last in the archive: a truncated one lacks it.
		[ -e "$tmp/.complete" ] || { cfrs_log "$tb: no .complete marker: not used"; exit 1; }
		for f in arch/x86/boot/bzImage Module.symvers .config fs/cachefiles/cachefiles.ko \
			rust/libkernel.rmeta usr/include/linux/cachefiles.h; do
			[ -s "$tmp/linux/$f" ] || { cfrs_log "$tb: no linux/$f in the archive: not used"; exit 1; }
		done
		if ! why=$(cfrs_kernel_config_ok "$tmp/linux/.config" "$variant"); then
			cfrs_log "$tb: not a $variant kernel ($why): not used"
			exit 1
		fi
		rm -rf "$dest" && mv "$tmp" "$dest" || exit 1
		cfrs_log "prebuilt $variant kernel ready: $dest/linux"
	) 8>"$CFRS_CACHE/kernel/.import-$key.lock"
}

# cfrs_kdir VARIANT: the built tree of VARIANT if one exists (shared
# cache first), else the path where scripts/kernel-build will put it.  A
# shared archive of the tree ($CFRS_SHARED_CACHE/<key>-VARIANT.tar.xz) is
# unpacked into the local cache first when that has no tree yet.
cfrs_kdir() {
	local key
	key=$(cfrs_kernel_key "$1")
	if [ -e "$CFRS_SHARED_CACHE/$key/.complete" ]; then
		echo "$CFRS_SHARED_CACHE/$key/linux"
		return
	fi
	if [ ! -e "$CFRS_CACHE/kernel/$key/.complete" ] && [ -e "$CFRS_SHARED_CACHE/$key-$1.tar.xz" ]; then
		cfrs_kernel_import "$1" "$key" >&2 || true
	fi
	echo "$CFRS_CACHE/kernel/$key/linux"
}

# cfrs_version: the version of the module and daemon packages: the
# daemon's Cargo version, then +git<commit date>.<commit> in a checkout
# (.dirty with uncommitted changes); $CFRS_VERSION overrides it.
cfrs_version() {
	local v date sha
	if [ -n "${CFRS_VERSION:-}" ]; then echo "$CFRS_VERSION"; return; fi
	v=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$CFRS_ROOT/tools/cachefiles-ondemandd/Cargo.toml" | head -n1)
	if sha=$(git -C "$CFRS_ROOT" rev-parse --short=7 HEAD 2>/dev/null); then
		date=$(git -C "$CFRS_ROOT" log -1 --format=%cd --date=format:%Y%m%d HEAD)
		v=$v+git$date.$sha
		git -C "$CFRS_ROOT" diff --quiet HEAD -- 2>/dev/null || v=$v.dirty
	fi
	echo "$v"
}
