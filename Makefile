# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of cachefiles_rs and the project's checks.
#
#   make                     build cachefiles_rs.ko against $(KDIR)
#   make KDIR=/path/to/linux build against another built 6.12 tree
#   make check               everything CI runs (see README.md)
#   make check-peers         third-party clients (nydusd) on both modules
#   make check-recovery      recovery without a keeper, long torture, both modules
#   make check-normal        normal mode: 9p through the cache, cachefilesd culling, both modules
#   make check-systemd       the daemon's systemd units under real systemd, both modules
#   make check-fuzz          malicious-daemon fuzzer, 1 000 000 ops per module
#   make check-faults        backing-filesystem faults (xattrs, ENOSPC, read-only, dm error)
#   make check-stress        concurrency stress: crowds of readers, churn, kills, restore storms
#   make check-torture       failover torture, 1 000 daemon SIGKILLs per module
#   make rustfmt             format the Rust sources
#   make clippy              build with CLIPPY=1
#   make selftests           build the VM selftests

ROOT := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
VARIANT ?= debug
KDIR ?= $(shell $(ROOT)scripts/kernel-build $(VARIANT))
RUSTC ?= /usr/bin/rustc
BINDGEN ?= $(firstword $(wildcard $(HOME)/.cargo/bin/bindgen) bindgen)
KMAKE = $(MAKE) -C $(KDIR) M=$(ROOT:/=) LLVM=1 RUSTC=$(RUSTC) \
	RUSTDOC=/usr/bin/rustdoc RUSTFMT=/usr/bin/rustfmt \
	CLIPPY_DRIVER=/usr/bin/clippy-driver BINDGEN=$(BINDGEN)

.PHONY: all modules clean clippy rustfmt rustfmtcheck selftests check check-peers check-recovery check-normal check-systemd check-fuzz check-faults check-stress check-torture logic-tests kdir-stamp kdir-check

all: modules

# The objects are built in the source tree: building against another kernel
# (debug/release) must start from scratch, or a .ko could mix both.
KDIR_STAMP := .kdir-stamp
kdir-stamp: kdir-check
	@if [ "$$(cat $(KDIR_STAMP) 2>/dev/null)" != "$(KDIR)" ]; then \
		$(KMAKE) clean >/dev/null; echo "$(KDIR)" > $(KDIR_STAMP); fi

# One clear line instead of errors deep in the build when KDIR is not a
# 6.12 kernel built with Rust and LLVM=1 by this $(RUSTC).
kdir-check:
	@$(ROOT)scripts/kdir-check $(KDIR) $(RUSTC) $(BINDGEN)

modules: kdir-stamp
	$(KMAKE) modules

clippy: kdir-stamp
	$(KMAKE) CLIPPY=1 modules

clean:
	$(KMAKE) clean
	rm -f $(KDIR_STAMP)
	if [ -d tools/testing/selftests/cachefiles ]; then \
		$(MAKE) -C tools/testing/selftests/cachefiles clean; fi

RUST_SOURCES = $(shell find rust -name "*.rs" ! -name bindings_generated.rs) $(wildcard tools/*/src/*.rs tools/*/src/*/*.rs)

rustfmt:
	/usr/bin/rustfmt --edition 2021 --config-path $(KDIR)/.rustfmt.toml $(RUST_SOURCES)

rustfmtcheck:
	/usr/bin/rustfmt --check --edition 2021 --config-path $(KDIR)/.rustfmt.toml $(RUST_SOURCES)

selftests:
	$(MAKE) -C tools/testing/selftests/cachefiles KDIR=$(KDIR)

logic-tests:
	cd tools/logic-tests && cargo test --quiet

check:
	$(ROOT)scripts/check

check-peers:
	$(ROOT)scripts/check-peers

check-recovery:
	$(ROOT)scripts/check-recovery

check-normal:
	$(ROOT)scripts/check-normal

check-systemd:
	$(ROOT)scripts/check-systemd

check-stress:
	$(ROOT)scripts/check-stress

check-fuzz:
	$(ROOT)scripts/check-fuzz

check-faults:
	$(ROOT)scripts/check-faults

check-torture:
	$(ROOT)scripts/check-torture
