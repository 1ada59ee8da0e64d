# Demand Estimation in Python: build, test, regenerate.
# Every target uses the project's virtual environment in .venv (created on demand).

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The chapters' kernel ("python3") must be the venv's Python: put it first on PATH.
export PATH := $(BIN):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: all venv book test test-kernels execute links install-cells student lab data monte-carlo serve clean

all: book

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

## book: set up .venv and build the HTML book into _build/html
book: venv
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going
	@echo "Open _build/html/index.html (or run 'make serve')."

## test: the whole test suite (unit tests, nbval over every chapter, book build, browser check)
test: venv
	$(BIN)/python -m pytest --nbval --nbval-sanitize-with tests/sanitize.cfg -p no:cacheprovider

## test-kernels: the suite once per BLAS/SIMD kernel (KERNELS="unset Haswell" TEST_ARGS="tests/test_gmm.py" select)
test-kernels: venv
	$(BIN)/python tests/kernel_matrix.py $(if $(KERNELS),--kernels $(KERNELS)) $(if $(TEST_ARGS),-- $(TEST_ARGS))

## execute: re-execute every chapter in place (after changing a chapter or course_lib)
execute: venv
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1200 chapters/*.ipynb

## student: the student edition, every chapter without its solutions, into student/chapters/
student: venv
	$(BIN)/python tools/student_edition.py student

## links: refresh each chapter's box of links to the library page (chapters/api.md)
links: venv
	$(BIN)/python tools/chapter_links.py .

## install-cells: refresh every chapter's install cell (after changing repository.url in _config.yml)
install-cells: venv
	$(BIN)/python tools/install_cell.py .

## lab: open the chapters in JupyterLab (the venv's kernel, course_lib installed)
lab: venv
	$(BIN)/jupyter lab chapters

## data: regenerate the motorcycle data and check it against the shipped files (floats to 1e-10 relative)
data: venv
	$(BIN)/python -m course_lib.simulate check

## monte-carlo: rerun the data-driven-nests Monte Carlo tables into data/results/ (a few minutes)
monte-carlo: venv
	$(BIN)/python -m course_lib.monte_carlo data/results

## serve: serve the built book on http://localhost:8000
serve:
	$(BIN)/python -m http.server --directory _build/html 8000

clean:
	rm -rf _build
