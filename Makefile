# hangar: `make` builds, `make run` starts the quick-start job, `make test` runs every test.
# Each target installs missing Debian packages first (scripts/install-deps.sh).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")

.PHONY: all deps build run test bench clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@[ -f $(BUILD_DIR)/CMakeCache.txt ] || cmake -S . -B $(BUILD_DIR) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=Release
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@./scripts/quickstart.sh $(BUILD_DIR)/hangar

test: build
	@./scripts/test-deps.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

bench: build
	@./scripts/bench.sh $(BUILD_DIR)/hangar

clean:
	rm -rf $(BUILD_DIR)
