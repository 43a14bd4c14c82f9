.PHONY: setup demo test test-fast bench
setup:
	bash scripts/setup.sh
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
test-fast: setup
	.venv/bin/python -m pytest -q
.PHONY: bench
bench:
	bash scripts/bench.sh $(if $(PAGES),--pages $(PAGES),)
.PHONY: accuracy
accuracy:
	bash scripts/accuracy.sh
.PHONY: bench-search
bench-search: setup
	.venv/bin/python scripts/bench_search.py $(if $(SIZES),--sizes $(SIZES),)
.PHONY: bench-watch
bench-watch: setup
	.venv/bin/python scripts/bench_watch.py $(if $(PAGES),--pages $(PAGES),)
.PHONY: bench-celery
bench-celery: setup
	.venv/bin/python scripts/bench_celery.py $(if $(PAGES),--pages $(PAGES),)
