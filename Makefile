# hangar: `make` builds, `make run` starts the quick-start job, `make test` runs every test.
# Each target installs missing Debian packages first (scripts/install-deps.sh).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")

SANITIZE_DIR ?= build-sanitize
FUZZ_SECONDS ?= 300

.PHONY: all deps build run test bench bench-swap fuzz fuzz-sanitize sanitize-build test-sanitize clean

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

bench-swap: build
	@./scripts/bench-swap.sh $(BUILD_DIR)/hangar

# Long fuzzing of the untrusted-input parsers (ctest runs a short one): FUZZ_SECONDS per target.
fuzz: build
	@./scripts/fuzz.sh $(BUILD_DIR)/tests/hangar_fuzz $(FUZZ_SECONDS) $(BUILD_DIR)/fuzz-findings

# AddressSanitizer + UBSan build in its own directory; runs the unit tests (not the node e2e
# tests), or with fuzz-sanitize the fuzzer. Neither is part of `make test`.
SANITIZE_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Without the CUDA backend: AddressSanitizer's shadow memory and the CUDA runtime do not mix.
sanitize-build: deps
	@[ -f $(SANITIZE_DIR)/CMakeCache.txt ] || cmake -S . -B $(SANITIZE_DIR) -G "$(GENERATOR)" \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHANGAR_SANITIZE=ON -DHANGAR_CUDA=OFF
	@cmake --build $(SANITIZE_DIR) -j $(JOBS)

test-sanitize: sanitize-build
	@cd $(SANITIZE_DIR) && $(SANITIZE_ENV) ctest --output-on-failure -j $(JOBS) -E '^e2e_'

fuzz-sanitize: sanitize-build
	@$(SANITIZE_ENV) ./scripts/fuzz.sh $(SANITIZE_DIR)/tests/hangar_fuzz $(FUZZ_SECONDS) $(SANITIZE_DIR)/fuzz-findings

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
