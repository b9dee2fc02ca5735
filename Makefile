# The project's verbs. See README.md for what each needs and sets.
.PHONY: run test lint fmt build clean

run: ## Serve the whole API on http://127.0.0.1:9000 against a local stack
	bash scripts/run.sh

test: ## Unit, integration and end-to-end tests (starts its own stack)
	bash scripts/test.sh

lint: ## Formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

build:
	cargo build --workspace --release --locked

clean:
	cargo clean
	rm -rf .local
