# The project's verbs. See README.md for what each needs and sets.
.PHONY: run observe test faults loadtest lint fmt build bench bench-telemetry coldstart fuzz deps clean

deps: ## Build tools the C codecs need (nasm on x86)
	bash scripts/ensure-nasm.sh

run: deps ## Serve the whole API on http://127.0.0.1:9000 against a local stack
	bash scripts/run.sh

observe: deps ## make run plus Prometheus on http://127.0.0.1:9090 scraping it, alert rules loaded
	bash scripts/observe.sh

test: deps ## Unit, integration and end-to-end tests (starts its own stack)
	bash scripts/test.sh

faults: deps ## Injected failures (PostgreSQL restart and outage, frozen emulator, killed worker, S3 latency and resets): nothing accepted is lost
	bash scripts/faults.sh

loadtest: deps ## Uploads (Locust) and reads (wrk) against the release build, beside S3 and nginx -> BENCHMARKS.md
	bash scripts/loadtest.sh

CORPUS ?= fixtures/images
BENCH_VENV := .local/bench-venv
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

bench: deps ## Thumbnail speed and memory vs libvips and Pillow, progressive JPEGs too -> BENCHMARKS.md
	cargo build --release --locked -p avatars
	test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(BENCH_VENV)/bin/python bench/bench.py $(TARGET_DIR)/release/avatars $(CORPUS) --repeat 3 --out BENCHMARKS.md
	bash scripts/ensure-apt.sh jpegtran libjpeg-turbo-progs "to make progressive JPEGs for the benchmark"
	$(BENCH_VENV)/bin/python bench/progressive.py $(TARGET_DIR)/release/avatars $(CORPUS) --repeat 3 --out BENCHMARKS.md

coldstart: deps ## Stripped binary sizes and cold starts (Lambda runtime API and HTTP) -> BENCHMARKS.md
	bash scripts/coldstart.sh

bench-telemetry: deps ## GET of a stored variant with trace export off and on (wrk) -> BENCHMARKS.md
	bash scripts/telemetry-bench.sh

FUZZ_SECONDS ?= 600

fuzz: deps ## Fuzz sniff -> probe -> render for FUZZ_SECONDS (needs cargo-fuzz and a nightly toolchain)
	mkdir -p fuzz/corpus/render
	cargo +nightly fuzz run render fuzz/corpus/render fuzz/seeds/render -- \
		-max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=256 -rss_limit_mb=2048

MACHETE_VERSION := 0.9.1

lint: deps ## Formatting, clippy (warnings as errors), unused dependencies
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	"$$(bash scripts/ensure-cargo-tool.sh cargo-machete $(MACHETE_VERSION))" --skip-target-dir

fmt:
	cargo fmt --all

build: deps
	cargo build --workspace --release --locked

clean:
	cargo clean
	rm -rf .local
