# Two commands on a fresh Debian 12 machine: `make run` and `make test`. Both install the
# Debian packages they need first (as root; otherwise they print the apt-get command).
BUILD_PKGS := build-essential cmake ninja-build pkg-config libgtest-dev libbenchmark-dev \
              nlohmann-json3-dev libcli11-dev libfmt-dev libhwloc-dev
TEST_PKGS := $(BUILD_PKGS) openmpi-bin libopenmpi-dev libgloo-dev chromium iproute2 clang libclang-rt-14-dev
JOBS ?= $(shell nproc)
RELEASE := build/release

.PHONY: all deps test-deps build run test test-release test-asan test-tsan install clean

all: build

deps:
	@scripts/install-deps.sh $(BUILD_PKGS)

test-deps:
	@scripts/install-deps.sh $(TEST_PKGS)

build: deps
	@cmake --preset release >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS)

# The main job on this machine: 4 local ranks time and check every collective (nccl-tests style).
run: build
	$(RELEASE)/tools/loomrun/loomrun -n 4 -- $(RELEASE)/tools/loom/loom bench all -b 8 -e 8M -f 8 -n 5 -w 2 -c 1

# Every test: the release build, then the unit and multi-process suites under ASan+UBSan and TSan.
test: test-deps
	@scripts/run-tests.sh

install: build
	cmake --install $(RELEASE) --prefix $(or $(PREFIX),/usr/local)

clean:
	rm -rf build

# The long randomised fault campaign in the network lab (needs root and iproute2): 100 trials of
# kill -9, SIGSTOP, pulled cable, rate limit or no fault; summary in build/netlab/campaign-<seed>.json.
# SEED=S replays a campaign; TRIALS=N changes its length.
.PHONY: fault-campaign
fault-campaign: build
	@cmake --build $(RELEASE) --target netlab_rank -j $(JOBS)
	bash tests/netlab/campaign.sh --trials $(or $(TRIALS),100) --bin $(RELEASE)/tests/netlab/netlab_rank $(if $(SEED),--seed $(SEED))
