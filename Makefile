# Thin wrapper over Meson for the README's commands.
#   make demo   install, build, bring up a 2-host lab, run the demo
#   make test   install, build (also with ASan/UBSan), run every test
#   make www    build the web console into $(BUILD)/www
BUILD ?= build
ASAN ?= build-asan

.PHONY: all deps guest guest-iso guest-debian www demo test clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN)/build.ninja:
	meson setup $(ASAN) -Db_sanitize=address,undefined -Db_lundef=false

deps:
	@bash scripts/deps.sh

guest: all
	@bash tests/guest/build.sh $(BUILD)/guest
	@bash tests/guest/build-netlab.sh $(BUILD)/guest $(BUILD)/tests/guest/tern-netlab

# A bootable ISO (BIOS and UEFI) of the test guest, for the ISO boot and
# screenshot test; a second or so, cached.
guest-iso: guest
	@bash tests/guest/build-iso.sh $(BUILD)/guest/iso $(BUILD)/guest

# The real Debian 12 guest image (debootstrap; needs root and the network;
# about 15 minutes cold, cached until build-debian.sh changes).  Only the
# Debian guest suite uses it (tests/e2e/test_debian_guest.sh).
guest-debian:
	@bash tests/guest/build-debian.sh $(BUILD)/guest/debian

# The web console, built from www/ (its locked npm packages) into
# $(BUILD)/www, which ternd serves with --www-dir.
www:
	@[ -d www/node_modules ] || (cd www && npm ci --no-audit --no-fund --loglevel=error)
	cd www && npm run build -- --outDir $(abspath $(BUILD))/www

demo: deps all guest guest-iso www
	@bash scripts/demo.sh

test: deps all guest guest-iso www $(ASAN)/build.ninja
	ninja -C $(ASAN)
	@bash tests/run.sh $(BUILD) $(ASAN)

clean:
	rm -rf $(BUILD) $(ASAN)
