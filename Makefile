# Thin wrapper over Meson for the README's commands.
#   make demo   install, build, bring up a 2-host lab, run the demo
#   make test   install, build (also with ASan/UBSan), run every test
BUILD ?= build
ASAN ?= build-asan

.PHONY: all deps guest demo test clean

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

demo: deps all guest
	@bash scripts/demo.sh

test: deps all guest $(ASAN)/build.ninja
	ninja -C $(ASAN)
	@bash tests/run.sh $(BUILD) $(ASAN)

clean:
	rm -rf $(BUILD) $(ASAN)
