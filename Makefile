# The two commands: `make run` and `make test` (see README.md).
# Both install missing system packages first, then configure and build with CMake.
# Re-running them does no needless work: apt runs only for missing packages, CMake configures once,
# and the build is incremental.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
RUN_ARGS   ?=

.PHONY: all deps build build-asan run test test-release test-asan node-deps bench clean format

all: build

deps:
	@bash .ci/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFG_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

NODE_STAMP := tests/integration/node_modules/.installed

node-deps: $(NODE_STAMP)

# npm ci again only when the lock file changed.
$(NODE_STAMP): tests/integration/package-lock.json | deps
	cd tests/integration && npm ci --no-audit --no-fund --silent
	touch $@

run: build
	mkdir -p data
	./$(BUILD)/flowgate $(RUN_ARGS)

test-release: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: build-asan node-deps
	cd $(ASAN_BUILD) && ctest --output-on-failure -j 2

# The whole suite twice: the release build, then the ASan+UBSan build.
test: test-release test-asan

bench: build
	bash .ci/install-deps.sh bench
	bash bench/run.sh
	bash bench/webhooks.sh

format:
	clang-format -i events/*.[ch] gateway/*.[ch] webhooks/*.[ch] tests/unit/*.c bench/*.c

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
