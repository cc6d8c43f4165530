# The two commands: `make run` and `make test` (see README.md).
# Both install missing system packages first, then configure and build with CMake.
# Re-running them does no needless work: apt runs only for missing packages, CMake configures once,
# and the build is incremental.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
RUN_ARGS   ?=

.PHONY: all deps build build-asan build-tsan build-fuzz run cluster test test-release test-asan test-tsan \
	test-fuzz fuzz \
	node-deps bench clean format

all: build

deps:
	@bash .ci/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFG_SANITIZE=ON

# ThreadSanitizer with clang (gcc's needs another runtime package).
$(TSAN_BUILD)/CMakeCache.txt: | deps
	CC=clang cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFG_TSAN=ON

# libFuzzer needs clang; this tree builds only the libraries and the harnesses (tests/fuzz/).
$(FUZZ_BUILD)/CMakeCache.txt: | deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFG_FUZZ=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

build-tsan: deps $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j $(JOBS)

build-fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

NODE_STAMP := tests/integration/node_modules/.installed

node-deps: $(NODE_STAMP)

# npm ci again only when the lock file changed.
$(NODE_STAMP): tests/integration/package-lock.json | deps
	cd tests/integration && npm ci --no-audit --no-fund --silent
	touch $@

run: build
	mkdir -p data
	./$(BUILD)/flowgate $(RUN_ARGS)

# Cluster mode on one machine, for a try-out: Redis and three nodes on loopback (config/cluster.sh).
cluster: build
	bash config/cluster.sh

test-release: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: build-asan node-deps
	cd $(ASAN_BUILD) && ctest --output-on-failure -j 2

# The unit and integration suites under ThreadSanitizer: a race stops the process (halt_on_error),
# so the test that met it fails.
test-tsan: build-tsan node-deps
	cd $(TSAN_BUILD) && ctest --output-on-failure -j 2

# Each fuzzing harness for 30 s on its seed corpus (ASan+UBSan).
test-fuzz: build-fuzz
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j 2
	@grep -h "executions in" $(FUZZ_BUILD)/Testing/Temporary/LastTest.log || true

# The whole suite three times (the release build, ASan+UBSan, ThreadSanitizer), then the fuzzers.
test: test-release test-asan test-tsan test-fuzz

# Fuzz longer: each harness FUZZ_SECONDS (default 300), one after the other.
fuzz: build-fuzz
	@for h in event sse query config auth url retry_after ingest_ironflow ingest_github; do \
	  bash tests/fuzz/run.sh $(FUZZ_BUILD)/tests/fuzz/fuzz_$$h tests/fuzz/corpus/$$h \
	    $(FUZZ_BUILD)/tests/fuzz/corpus/$$h $(FUZZ_SECONDS) || exit 1; \
	done

bench: build
	bash .ci/install-deps.sh bench
	bash bench/run.sh
	bash bench/webhooks.sh

format:
	clang-format -i events/*.[ch] gateway/*.[ch] webhooks/*.[ch] tests/unit/*.c tests/fuzz/*.c bench/*.c

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
