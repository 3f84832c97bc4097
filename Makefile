# gazoduc: two commands matter, `make run` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export GAZODUC_HOME ?= $(CURDIR)/.gazoduc

.PHONY: run test scale-out dev lint bench clean

$(BIN)/gazoduc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

## run: the main job on the embedded ADICT sandbox, then a summary and an example query
run: $(BIN)/gazoduc
	$(BIN)/gazoduc demo

## test: the whole suite (CI calls this)
test: $(BIN)/gazoduc
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadgroup

## scale-out: only the tests of the shared mode, on the real PostgreSQL and RabbitMQ (make
## test runs them too, and says in one line when a service is missing)
scale-out: $(BIN)/gazoduc
	$(BIN)/pytest -m scale_out -n 2 --dist loadgroup

## dev: the Dagster UI on the same definitions, with the sandbox running
dev: $(BIN)/gazoduc
	$(BIN)/gazoduc dev

lint: $(BIN)/gazoduc
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(BIN)/gazoduc
	$(BIN)/python bench/adict_quota.py
	$(BIN)/python bench/ingrid_quota.py
	$(BIN)/python bench/adict_planner.py
	$(BIN)/python bench/landing_throughput.py
	$(BIN)/python bench/reparse_throughput.py
	$(BIN)/python bench/warehouse_queries.py

clean:
	rm -rf $(VENV) .gazoduc .pytest_cache
