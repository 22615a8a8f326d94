# piprep — see README.md. `make demo` and `make test` are the two entry points.

CARGO  ?= cargo
PIPREP := target/release/piprep
SAMPLE := images/raspios-bookworm-sample.img

# Debian packages the fixture builder and the independent checks need (ssh-keygen
# reads piprep's host keys and known_hosts back, wpa_passphrase the Wi-Fi PSK,
# script gives `piprep init` and `status --watch` a terminal), and one
# command from each that proves it is installed.
TEST_PACKAGES := fdisk dosfstools mtools e2fsprogs diffutils coreutils bmap-tools xz-utils openssh-client wpasupplicant bsdutils
TEST_COMMANDS := sfdisk mkfs.vfat fsck.fat mcopy mtype mdir mdel minfo mkfs.ext4 debugfs cmp sha256sum bmaptool xz ssh ssh-keygen wpa_passphrase script

# Tools in /usr/sbin are not on every user's PATH.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: all build demo test lint unit tools install clean help e2e e2e-deps e2e-rootfs bench

all: build

help:
	@echo "make demo     build piprep, create a sample image offline, bake examples/piprep.toml into out/"
	@echo "make test     install/check test tools, then lint and run every test"
	@echo "make e2e      boot baked images under QEMU (arm64) as Raspberry Pi OS would, and log in over SSH; needs root"
	@echo "make bench    fleet-bake and fetch benchmarks against baselines; results in target/bench/"
	@echo "make install  install piprep, completions and man page under PREFIX (default ~/.local)"
	@echo "make clean    remove build output, out/ and the sample image"

build:
	$(CARGO) build --release --locked

# Installs missing Debian test tools when run as root; otherwise prints the
# exact command and fails.
tools:
	@missing=""; \
	for c in $(TEST_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing test tools (missing:$$missing)"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(TEST_PACKAGES) || exit 1; \
		else \
			echo "missing test tools:$$missing"; \
			echo "run: sudo apt-get install -y $(TEST_PACKAGES)"; \
			exit 1; \
		fi; \
	fi

# The demo installs nothing and needs no network: mkimage.sh names the
# package of any tool it lacks.
$(SAMPLE): tests/support/mkimage.sh
	tests/support/mkimage.sh bookworm $@

demo: build $(SAMPLE)
	$(PIPREP) --config examples/piprep.toml validate
	$(PIPREP) --config examples/piprep.toml bake --all --force --out out
	@echo
	@echo "Baked images are in out/. Look inside one with:"
	@echo "  $(PIPREP) inspect out/cp-1.img"
	@echo "piprep itself is $(PIPREP); \`make install\` puts it in $(PREFIX)/bin with its man pages and completions."

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

unit: tools
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked --no-fail-fast; \
	else \
		$(CARGO) test --locked --no-fail-fast; \
	fi

test: tools lint unit

PREFIX ?= $(HOME)/.local

# The binary built by `make build` (no second compile), shell completions and
# the man pages (piprep(1) and one per command), under $(PREFIX).
install: build
	install -D -m 0755 $(PIPREP) $(PREFIX)/bin/piprep
	mkdir -p $(PREFIX)/share/bash-completion/completions $(PREFIX)/share/zsh/site-functions \
		$(PREFIX)/share/fish/vendor_completions.d $(PREFIX)/share/man/man1
	$(PREFIX)/bin/piprep completions bash >$(PREFIX)/share/bash-completion/completions/piprep
	$(PREFIX)/bin/piprep completions zsh >$(PREFIX)/share/zsh/site-functions/_piprep
	$(PREFIX)/bin/piprep completions fish >$(PREFIX)/share/fish/vendor_completions.d/piprep.fish
	$(PREFIX)/bin/piprep man --dir $(PREFIX)/share/man/man1
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "add $(PREFIX)/bin to PATH: export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

clean:
	$(CARGO) clean
	rm -rf out $(SAMPLE)

# End-to-end test under QEMU. The preinstalled qemu-utils on these machines comes
# from bookworm-backports and Breaks bookworm's qemu-system-common 7.2, so when
# it does, qemu-system-arm and qemu-user-static are installed from
# bookworm-backports as well (the suite is added if it is not configured).
# chrony: the time server on each guest's LAN; iproute2: the network namespaces.
E2E_PACKAGES := debootstrap binfmt-support apt-utils python3 fdisk dosfstools mtools e2fsprogs openssh-client passwd gnupg chrony iproute2

e2e-deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make e2e needs root (debootstrap, binfmt_misc)"; exit 1; fi
	@set -e; \
	if command -v qemu-system-aarch64 >/dev/null && command -v qemu-aarch64-static >/dev/null && command -v debootstrap >/dev/null \
		&& command -v apt-ftparchive >/dev/null && command -v ssh >/dev/null \
		&& command -v ssh-keygen >/dev/null && command -v useradd >/dev/null && command -v gpg >/dev/null \
		&& command -v chronyd >/dev/null && command -v ip >/dev/null; then exit 0; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	suite=""; \
	if dpkg-query -W -f='$${Version}' qemu-utils 2>/dev/null | grep -q bpo12; then \
		suite="-t bookworm-backports"; \
		if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then \
			printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
				"$$(tests/e2e/mirror.sh)" >/etc/apt/sources.list.d/piprep-e2e-backports.sources; \
		fi; \
	fi; \
	apt-get update -q; \
	apt-get install -y -q $$suite qemu-system-arm qemu-user-static; \
	apt-get install -y -q $(E2E_PACKAGES)

# The dev-profile binary (piprep itself is optimised in it, see Cargo.toml):
# `make test` has already built it, so CI compiles piprep once, not twice.
e2e: e2e-deps
	$(CARGO) build --locked
	PIPREP=$(CURDIR)/target/debug/piprep tests/e2e/run.sh

# Only the cached arm64 root filesystems the e2e boots (about 10 minutes cold).
e2e-rootfs: e2e-deps
	tests/e2e/run.sh --rootfs-only

# Benchmarks (not timed tests): ratios against baselines measured in the same
# run, medians of 5 runs, written to target/bench/results.json.
bench: build tools
	@command -v /usr/bin/time >/dev/null && command -v curl >/dev/null && command -v xz >/dev/null || \
		{ if [ "$$(id -u)" = 0 ]; then apt-get install -y -q time curl xz-utils; else echo "run: sudo apt-get install -y time curl xz-utils"; exit 1; fi; }
	python3 bench/run.py
