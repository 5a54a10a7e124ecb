# The one entry point. `make book` and `make test` each set up everything they
# need (a virtual environment in .venv with the exact versions pinned in
# constraints.txt) and then build or test. Run `make help` for the rest.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
PORT   ?= 8000

# The book and the tests run two processes at once on two cores (pytest -n 2,
# or the build beside the notebook tests); a second BLAS thread per process
# then only fights the other process for a core and made chapters up to ten
# times slower on a loaded machine. The benchmark sets its own threads.
NOTEBOOK_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.DEFAULT_GOAL := help
.PHONY: help setup book pdf test serve lab bench exercises grade release clean lock

help:
	@echo "make book    set up .venv and build the site into _build/html"
	@echo "make pdf     build the PDF edition into _build/latex/rnnbook.pdf (needs TeX, see README)"
	@echo "make test    set up .venv and run every test (library, notebooks, site)"
	@echo "make serve   serve the built site on http://127.0.0.1:$(PORT)"
	@echo "make lab     open the notebooks in JupyterLab"
	@echo "make bench   time the RNN, LSTM and GRU kernels against the readable loops and PyTorch"
	@echo "make exercises  regenerate exercises/ from solutions/"
	@echo "make grade SUBMISSIONS=folder [ROSTER=roster.csv] [DEADLINE=2026-03-01T23:59]"
	@echo "            grade into grades.json, grades[.EXERCISE].csv and the pages in grades.feedback/"
	@echo "make release DEST=folder  write the student copy (no solutions) into folder"
	@echo "make clean   remove the build and the virtual environment"
	@echo "make lock    re-pin constraints.txt from a fresh resolve"

# The environment is rebuilt when the dependency list or the pins change.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt -e ".[book,test]"
	@# matplotlib builds its font cache on first import and says so on stderr;
	@# do it here, not inside the first notebook that draws a figure.
	$(BIN)/python -c "import matplotlib.pyplot"
	touch $@

# Kernels started from .venv store every figure as SVG and PNG (see the file).
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py
$(KERNEL_CONFIG): book/_ext/ipython_kernel_config.py $(STAMP)
	mkdir -p $(dir $@)
	cp $< $@

setup: $(STAMP) $(KERNEL_CONFIG)

# MathJax and the widget embed scripts, pinned in package-lock.json, so that
# the site is served without a CDN.
ASSETS := node_modules/.package-lock.json

$(ASSETS): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18 or newer) is needed to install the site's MathJax and widget scripts" >&2; exit 1; }
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

book: $(STAMP) $(KERNEL_CONFIG) $(ASSETS)
	$(NOTEBOOK_ENV) $(BIN)/jupyter-book build . -W -n --keep-going
	@test -f _build/html/index.html

# The PDF edition, through Sphinx's LaTeX builder and XeLaTeX. It shares the
# executed-notebook cache in _build/.jupyter_cache with `make book`, so after
# a site build no chapter runs again. The PDF is also copied into the site,
# whose landing page links to it.
TEX_PACKAGES := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-xetex latexmk fonts-freefont-otf
pdf: $(STAMP) $(KERNEL_CONFIG) $(ASSETS)
	@command -v latexmk >/dev/null && command -v xelatex >/dev/null || { echo "TeX is needed for the PDF: apt-get install $(TEX_PACKAGES)" >&2; exit 1; }
	$(NOTEBOOK_ENV) $(BIN)/jupyter-book build . --builder pdflatex -n --keep-going
	@test -f _build/latex/rnnbook.pdf
	mkdir -p _build/html && cp _build/latex/rnnbook.pdf _build/html/rnnbook.pdf

test: $(STAMP) $(KERNEL_CONFIG) $(ASSETS)
	$(NOTEBOOK_ENV) $(BIN)/python -m pytest

serve:
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first." >&2; exit 1; }
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

# JupyterLab opens at the repository root, so that the chapters (book/) and
# the exercises (exercises/) are both inside the server's root. As root (usual
# in course containers) JupyterLab refuses to start without --allow-root.
LAB_UID ?= $(shell id -u)
LAB_ROOT_FLAG := $(if $(filter 0,$(LAB_UID)),--allow-root)
lab: $(STAMP) $(KERNEL_CONFIG)
	$(PIP) install --quiet -c constraints.txt -e ".[lab]"
	@$(if $(LAB_ROOT_FLAG),echo "Note: running as root; JupyterLab is started with --allow-root (on a shared machine use an ordinary user).")
	@echo "Open book/ for the chapters and exercises/ for the exercises."
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(LAB_ROOT_FLAG)

# Some machines pin OpenBLAS to older kernels through OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE (older OpenBLAS builds misbehave on their processors). The
# benchmark clears both for its own run alone, so that numpy's OpenBLAS uses
# the kernels it picks for the processor, as PyTorch does; the tests and the
# book keep the machine's settings. The script prints the kernels it ran.
bench: $(STAMP)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/cell_benchmark.py

# The student notebooks are generated from the solutions, never edited by hand.
exercises: $(STAMP)
	$(BIN)/rnnbook-exercises

# Grade a batch of submissions, e.g. make grade SUBMISSIONS=inbox ROSTER=roster.csv;
# GRADES sets the stem of the outputs: GRADES.json, GRADES.csv (or one
# GRADES.EXERCISE.csv per exercise, with .details.csv beside) and the feedback
# pages in GRADES.feedback/ (all matched by "grades.*" in .gitignore).
GRADES ?= grades
GRADE_FLAGS = $(if $(ROSTER),--roster $(ROSTER)) $(if $(DEADLINE),--deadline $(DEADLINE)) \
              $(if $(EXERCISE),--exercise $(EXERCISE))
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo 'usage: make grade SUBMISSIONS="folder or files" [ROSTER=file] [DEADLINE=time] [EXERCISE=id]' >&2; exit 2; }
	$(BIN)/rnnbook-grade $(SUBMISSIONS) --json $(GRADES).json --csv $(GRADES).csv \
	    --feedback $(GRADES).feedback $(GRADE_FLAGS)

# The copy handed out to students: chapters, exercises, and the library with
# the graded functions left out (see the instructor page). SOLVED lists
# exercises whose functions are released, e.g. SOLVED="01_rnn_forward".
release: $(STAMP)
	@test -n "$(DEST)" || { echo 'usage: make release DEST=folder [SOLVED="01_rnn_forward ..."]' >&2; exit 2; }
	$(BIN)/rnnbook-release $(DEST) $(foreach ex,$(SOLVED),--solved $(ex))

clean:
	rm -rf _build $(VENV) node_modules .pytest_cache .hypothesis

# Resolve the newest versions allowed by pyproject.toml in a scratch
# environment and write them, exactly pinned, to constraints.txt.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e ".[book,test,lab]"
	{ sed -n '1,4p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable | sort -f; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv
