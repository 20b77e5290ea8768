# How the shipped weights were trained on a lent GPU machine (see docs/MODEL_CARD.md).
# The machine has CUDA PyTorch but no network; it needs, carried from here (ignored by git):
#   .gl/   GL loader .debs:  apt-get download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2
#   .whl/  cp312 wheels:     pip download --no-deps --only-binary=:all: --python-version 3.12 moderngl glcontext trimesh
#   tools/device/x11/        apt-get download libx11-6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0 libxext6
# Then, there:  source tools/device/setup.sh; setsid bash tools/device/pipeline.sh &
# Set-up (source it): GL loaders, X11 libraries if absent, the wheels, the environment.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
if ! ldconfig -p | grep -q 'libX11.so.6 '; then
  mkdir -p /tmp/x11; for f in tools/device/x11/*.deb; do dpkg -x $f /tmp/x11; done
  export LD_LIBRARY_PATH=/tmp/x11/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  echo "using carried X11 libs"
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:/tmp/site PYTHONUNBUFFERED=1
[ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] && export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
