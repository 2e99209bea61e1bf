# The two commands a newcomer needs:  make demo  (set up, build, run the main job)
#                                     make test  (set up, build, pass the tests)
MAKEFLAGS += --no-print-directory
BUILD ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: setup build test demo bench clean fuzz fuzz-build test-sanitize

setup:
	@scripts/setup

build: setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $$(nproc) --
	@echo "built $(BUILD)/cornerstone"

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j 2

# libFuzzer harnesses (fuzz/) and the sanitized test suite share one build, $(FUZZ_BUILD): clang-16
# with ASan + UBSan (+ libFuzzer coverage, inert outside the harnesses). `make fuzz` runs each
# harness for FUZZ_SECONDS on its seed corpus (fuzz/corpus/<harness>/); `make test-sanitize` runs
# the whole suite there (options and suppressions: tests/sanitize/).
FUZZ_CMAKE = cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORNERSTONE_BUILD_FUZZ=ON -DCORNERSTONE_BUILD_BENCH=OFF

fuzz-build:
	@scripts/setup clang-16 libfuzzer-16-dev libclang-rt-16-dev libomp-16-dev llvm-16
	@$(FUZZ_CMAKE) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $$(nproc) --target fuzzers

fuzz: fuzz-build
	@scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

test-sanitize:
	@scripts/setup clang-16 libfuzzer-16-dev libclang-rt-16-dev libomp-16-dev llvm-16
	@$(FUZZ_CMAKE) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $$(nproc) --
	@ASAN_OPTIONS="$$(cat tests/sanitize/asan_options)" LSAN_OPTIONS="suppressions=$(CURDIR)/tests/sanitize/lsan.supp" \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-16 ctest --test-dir $(FUZZ_BUILD) --output-on-failure -j 2

demo: build
	@scripts/demo

bench: build
	@bench/run

clean:
	rm -rf $(BUILD)
