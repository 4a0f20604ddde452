# Thin wrappers around ./dev.sh (which sets up .venv and the system packages as needed).
.PHONY: demo test fast bench lint setup

demo:
	./dev.sh demo

test:
	./dev.sh test $(PYTEST_ARGS)

fast:
	./dev.sh fast $(PYTEST_ARGS)

bench:
	./dev.sh bench

lint:
	./dev.sh lint

setup:
	./dev.sh setup test
