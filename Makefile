# The project's verbs. See README.md for what each needs and sets.
.PHONY: run observe test coverage faults loadtest lint fmt build bench bench-telemetry coldstart fuzz asan deps clean

# Every verb installs what it needs first through scripts/deps.sh, the one
# installer (one lock; one line and a failure when a thing can't be had).
deps: ## Everything `make test` needs (Debian packages, venvs, npm, cargo tools)
	bash scripts/deps.sh test

run: ## Serve the whole API on http://127.0.0.1:9000 against a local stack
	bash scripts/run.sh

observe: ## make run plus Prometheus on http://127.0.0.1:9090 scraping it, alert rules loaded
	bash scripts/observe.sh

test: ## Unit, integration and end-to-end tests (starts its own stack)
	bash scripts/test.sh

faults: ## Injected failures (PostgreSQL restart and outage, frozen emulator, killed worker, S3 latency and resets): nothing accepted is lost
	bash scripts/faults.sh

loadtest: ## Uploads (Locust) and reads (wrk) against the release build, beside S3 and nginx -> BENCHMARKS.md
	bash scripts/loadtest.sh

CORPUS ?= fixtures/images
BENCH_VENV := .local/bench-venv
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

bench: ## Thumbnail speed and memory vs libvips and Pillow, colour fidelity, progressive JPEGs, HEIC/AVIF, resampling SSIM, CROP=attention -> BENCHMARKS.md
	bash scripts/deps.sh bench
	cargo build --release --locked -p avatars
	$(BENCH_VENV)/bin/python bench/bench.py $(TARGET_DIR)/release/avatars $(CORPUS) --repeat 3 --out BENCHMARKS.md
	$(BENCH_VENV)/bin/python bench/quality.py $(TARGET_DIR)/release/avatars $(CORPUS) --out BENCHMARKS.md
	$(BENCH_VENV)/bin/python bench/progressive.py $(TARGET_DIR)/release/avatars $(CORPUS) --repeat 3 --out BENCHMARKS.md
	$(BENCH_VENV)/bin/python bench/heif.py $(TARGET_DIR)/release/avatars $(CORPUS) --repeat 3 --out BENCHMARKS.md
	$(BENCH_VENV)/bin/python bench/resampling.py $(TARGET_DIR)/release/avatars $(CORPUS) fixtures/heif --out BENCHMARKS.md
	$(BENCH_VENV)/bin/python bench/attention.py $(TARGET_DIR)/release/avatars $(CORPUS) --repeat 5 --out BENCHMARKS.md

coldstart: ## Stripped binary sizes and cold starts (Lambda runtime API and HTTP) -> BENCHMARKS.md
	bash scripts/deps.sh nasm
	bash scripts/coldstart.sh

bench-telemetry: ## GET of a stored variant with trace export off and on (wrk) -> BENCHMARKS.md
	bash scripts/telemetry-bench.sh

fuzz: ## Every fuzz target for FUZZ_SECONDS (default 600) each, under ASan (nightly; cargo-fuzz installed here)
	bash scripts/fuzz.sh

asan: ## The pipeline's unit tests (fixture uploads included) under AddressSanitizer (nightly)
	bash scripts/asan-tests.sh

coverage: ## Line coverage per crate under the Rust tests (cargo-llvm-cov) -> target/coverage/html/index.html
	bash scripts/coverage.sh

lint: ## Formatting, clippy (warnings as errors), unused dependencies, installers only in deps.sh, layers
	bash scripts/deps.sh lint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	.local/cargo-tools/bin/cargo-machete --skip-target-dir
	bash scripts/check-deps.sh
	python3 scripts/check_layers.py

fmt:
	cargo fmt --all

build:
	bash scripts/deps.sh nasm
	cargo build --workspace --release --locked

clean:
	cargo clean
	rm -rf .local
