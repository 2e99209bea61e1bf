# The two commands a newcomer needs:  make demo  (set up, build, run the main job)
#                                     make test  (set up, build, pass the tests)
MAKEFLAGS += --no-print-directory
BUILD ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: setup build test demo bench clean

setup:
	@scripts/setup

build: setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $$(nproc) --
	@echo "built $(BUILD)/cornerstone"

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j 2

demo: build
	@scripts/demo

bench: build
	@bench/run

clean:
	rm -rf $(BUILD)
