# SPDX-License-Identifier: MIT
# Thin wrapper around CMake.  On a fresh Debian 12 machine, as root:
#   make run    install dependencies, build, start Ostia in the foreground
#   make test   install dependencies, build, run every test (also under
#               AddressSanitizer + UndefinedBehaviorSanitizer)

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 15
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
CTEST_ARGS ?=
RUN_DIR    ?= $(CURDIR)/run

.PHONY: all build deps run test test-unit test-asan test-fuzz docs clean

all: build

deps:
	scripts/install-deps

build:
	cmake -S . -B $(BUILD) -DOSTIA_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD) -j$(JOBS)

run: deps build
	scripts/make-run-env $(RUN_DIR) $(BUILD)/ostia
	exec $(BUILD)/ostia -c $(RUN_DIR)/etc run

test: deps
	$(MAKE) build
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error -j$(JOBS) $(CTEST_ARGS)
	$(MAKE) test-asan
	$(MAKE) test-fuzz

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error -L unit -j$(JOBS)

# The whole suite again with the sanitizers (children included: the
# master re-executes the same sanitized binary).
test-asan:
	cmake -S . -B $(ASAN_BUILD) -DOSTIA_WERROR=ON -DOSTIA_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir $(ASAN_BUILD) --output-on-failure --no-tests=error -j$(JOBS) $(CTEST_ARGS)

# Every parser's fuzz target under libFuzzer (clang, with ASan+UBSan),
# each for FUZZ_SECONDS from its committed corpus.
test-fuzz:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DOSTIA_LIBFUZZER=ON \
		-DOSTIA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
		-DOSTIA_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	ctest --test-dir $(FUZZ_BUILD) --output-on-failure --no-tests=error -L libfuzzer

docs: build
	$(BUILD)/ostia conf --reference > docs/configuration.md

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
