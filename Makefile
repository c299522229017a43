# The two commands of the README are `make run` and `make check`; the rest
# are their parts. Each installs what is missing first (scripts/install-deps.sh).

BUILD       ?= build
CHECK_BUILD ?= build-check
FUZZ_BUILD  ?= build-fuzz
JOBS        ?= $(shell nproc)
SECONDS     ?= 60

.PHONY: all deps build run check unit e2e fuzz bench extension format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@bash scripts/run-dev.sh $(BUILD)/coopd

$(CHECK_BUILD)/build.ninja:
	cmake -S . -B $(CHECK_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug

# Unit, corpus-replay and end-to-end tests, all under ASan+UBSan.
check: deps $(CHECK_BUILD)/build.ninja
	cmake --build $(CHECK_BUILD) -j $(JOBS)
	@bash scripts/check-extras.sh
	cd $(CHECK_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Fuzz

# Runs each fuzz target for SECONDS seconds on a copy of its seed corpus.
fuzz: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(SECONDS)

bench: build
	@bash bench/run.sh $(BUILD)

extension:
	@bash scripts/build-extension.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(FUZZ_BUILD)
