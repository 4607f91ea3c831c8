# Sourced at the start of a device call (docs/performance.md): unpacks the Vulkan and GL loaders
# carried in .gl/ (Debian's libvulkan1, libglvnd0, libegl1, libgl1, libglx0, libgles2,
# libopengl0), finds the NVIDIA ICD with which SYLVA (default .gpu-bin/sylva) gets a GPU and
# exports VK_DRIVER_FILES; else prints what the loader saw and exits 3. Then installs the
# wheels carried in .whl/ (NEURON 9.0.2 and its dependencies), if any, into /tmp/site.
sylva=${SYLVA:-.gpu-bin/sylva}
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
icd=""
for c in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json $(find / -name "nvidia_icd*.json" -not -path "/proc/*" 2>/dev/null); do
    if [ -f "$c" ] && VK_DRIVER_FILES=$c timeout 60 "$sylva" run examples/neuron/hh_soma.syl --backend gpu -o /tmp/probe --no-plots >/tmp/probe.log 2>&1; then
        icd=$c
        break
    fi
done
echo "icd: ${icd:-none}"
if [ -z "$icd" ]; then
    nvidia-smi -L; ls -la /usr/local/nvidia/share/vulkan/icd.d/ /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
    ldconfig -p | grep -i -E "vulkan|nvidia" | head -20; tail -5 /tmp/probe.log
    exit 3
fi
export VK_DRIVER_FILES=$icd
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
    export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
