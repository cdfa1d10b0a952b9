# Thin wrapper over Meson for the README's commands.
#   make demo   install, build, bring up a 2-host lab, run the demo
#   make test   install, build (also with ASan/UBSan), run every test
#   make www    build the web console into $(BUILD)/www
BUILD ?= build
ASAN ?= build-asan

.PHONY: all deps guest www demo test clean

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

# The web console, built from www/ (its locked npm packages) into
# $(BUILD)/www, which ternd serves with --www-dir.
www:
	@[ -d www/node_modules ] || (cd www && npm ci --no-audit --no-fund --loglevel=error)
	cd www && npm run build -- --outDir $(abspath $(BUILD))/www

demo: deps all guest www
	@bash scripts/demo.sh

test: deps all guest www $(ASAN)/build.ninja
	ninja -C $(ASAN)
	@bash tests/run.sh $(BUILD) $(ASAN)

clean:
	rm -rf $(BUILD) $(ASAN)
