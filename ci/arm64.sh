#!/usr/bin/env bash
# The Raspberry Pi path without a Pi. Raspberry Pi OS (64-bit) is Debian bookworm arm64 with Python 3.11, and that
# userland runs here under qemu-user. This script builds such a root once (cached outside the repository),
# installs the checkout's device extra into it (no TensorFlow), runs doctor, the demo, denoise and calibrate with the default
# model's shipped files on an emulated Cortex-A76 (the Pi 5's core), compares every output with the same commands
# on x86 within a stated tolerance (ci/arm64_compare.py), runs the same files on tflite-runtime 2.14 (which many Pi
# images carry), and checks --fp16-arith against fp32. docs/devices.md says what this proves and what it does not.
#
#   sudo ci/arm64.sh      # exit 0: passed; 1: a check failed (one line says which); 77: SKIPPED, said loudly
#
# Needs root (debootstrap, chroot, binfmt_misc) and the x86 venv of this checkout (python3 dev.py test, or demo).
# Environment: EDGE_DENOISE_ARM64_CACHE (default /var/cache/edge-denoise), EDGE_DENOISE_HOST_VENV (default
# .venv here), EDGE_DENOISE_ARM64_FRAMES (demo frames per file, default 1).
set -euo pipefail

SKIP_STATUS=77
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${EDGE_DENOISE_ARM64_CACHE:-/var/cache/edge-denoise}
ROOT=$CACHE/arm64-root
HOST_VENV=${EDGE_DENOISE_HOST_VENV:-$REPO/.venv}
FRAMES=${EDGE_DENOISE_ARM64_FRAMES:-1}
CPU=cortex-a76            # Pi 5 (ARMv8.2-A: dot product, fp16 arithmetic)
CPU_NO_FP16=cortex-a72    # Pi 4 (ARMv8.0-A: no fp16 arithmetic), for --fp16-arith's refusal
TFLITE_RUNTIME=tflite-runtime==2.14.0
ROOT_RECIPE="bookworm arm64 minbase python3,python3-venv,python3-pip,ca-certificates (recipe 1)"
SAMPLES=("edge_runtime/samples/Kirmizi_Pistachio/kirmizi 104.jpg" "edge_runtime/samples/Siirt_Pistachio/siirt 112.jpg")
IN=/opt/edge-denoise      # inside the root: src/, dist/, venv/, venv-tflite/, out/
COMPARE=("$HOST_VENV/bin/python" "$REPO/ci/arm64_compare.py")
T0=$SECONDS

say() { printf 'arm64 [%4d s] %s\n' "$((SECONDS - T0))" "$*"; }
fail() { printf 'arm64: FAILED: %s\n' "$*" >&2; exit 1; }
skip() { printf '\narm64: SKIPPED, NOT PASSED: %s\n\n' "$*" >&2; exit "$SKIP_STATUS"; }

# fetch WHAT CMD...: a network fetch, output to $CACHE/fetch.log, tried again once after 10 s, then one clear line.
fetch() {
    local what=$1
    shift
    "$@" >"$CACHE/fetch.log" 2>&1 && return 0
    tail -n 5 "$CACHE/fetch.log" >&2
    say "$what failed; retrying once in 10 s"
    sleep 10
    "$@" >"$CACHE/fetch.log" 2>&1 && return 0
    tail -n 5 "$CACHE/fetch.log" >&2
    fail "$what failed twice (network or mirror? lines above; all of it in $CACHE/fetch.log)"
}

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot, binfmt_misc): run it as root or with sudo"
[ "$(uname -m)" = x86_64 ] || fail "runs on an x86_64 host (it compares arm64 with x86), not $(uname -m)"
[ -x "$HOST_VENV/bin/edge-denoise" ] || fail "no x86 venv at $HOST_VENV: run 'python3 dev.py test' (or demo) first"
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"  # one run at a time per cache: they share the root, its mounts and its venvs
flock -w 1800 9 || fail "another ci/arm64.sh has held $CACHE/lock for 30 minutes"

host_tools() {
    local missing=()
    command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    command -v apt-get >/dev/null || fail "needs ${missing[*]} and there is no apt-get to install them"
    say "installing ${missing[*]} from Debian"
    fetch "apt-get update" apt-get update -qq
    fetch "apt-get install ${missing[*]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# binfmt_misc runs arm64 programs through qemu-aarch64; without it nothing here can run: skip, loudly.
register_qemu() {
    local dir=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-aarch64.conf err
    if [ ! -e "$dir/register" ]; then
        err=$(mount -t binfmt_misc binfmt_misc "$dir" 2>&1) ||
            skip "cannot mount binfmt_misc at $dir (${err:-no reason given}), so arm64 programs cannot run here (an unprivileged container?)"
    fi
    if [ ! -e "$dir/qemu-aarch64" ]; then
        [ -r "$conf" ] || fail "$conf is missing: apt-get install --reinstall qemu-user-static"
        err=$( (grep -v '^[#;]' "$conf" | grep -m1 . >"$dir/register") 2>&1) ||
            skip "cannot register qemu-aarch64 with binfmt_misc (${err:-no reason given})"
    fi
    grep -qx enabled "$dir/status" || skip "binfmt_misc is disabled on this host ($dir/status)"
    grep -qx enabled "$dir/qemu-aarch64" || skip "the qemu-aarch64 binfmt entry is disabled ($dir/qemu-aarch64)"
    # Without the F flag the kernel looks for the interpreter inside the root: put it there too.
    QEMU_INTERP=$(sed -n 's/^interpreter //p' "$dir/qemu-aarch64")
}

apt_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
        grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+' | grep -E '/debian/?$' | head -n1) || true
    echo "${uri:-http://deb.debian.org/debian}"
}

mounted_under() { grep -qF " $1/" /proc/mounts; }

# Remove a root only when nothing is mounted inside it (a bound /dev would be emptied).
remove_tree() {
    if mounted_under "$1"; then fail "$1 still has mounts inside (see /proc/mounts): unmount them first"; fi
    rm -rf --one-file-system "$1"
}

unmount_root() {
    local m
    for m in dev proc; do
        if mountpoint -q "$ROOT/$m"; then umount "$ROOT/$m" 2>/dev/null || umount -l "$ROOT/$m"; fi
    done
    return 0
}

root_ok() {
    [ "$(cat "$ROOT/.edge-denoise-root" 2>/dev/null)" = "$ROOT_RECIPE" ] &&
        chroot "$ROOT" /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null
}

debootstrap_once() {
    remove_tree "$1"
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$1" "$2"
}

build_root() {
    local mirror
    mirror=$(apt_mirror)
    say "building a bookworm arm64 root in $ROOT from $mirror (minutes; cached for later runs)"
    fetch "debootstrap bookworm arm64 from $mirror" debootstrap_once "$ROOT.new" "$mirror"
    echo "$ROOT_RECIPE" >"$ROOT.new/.edge-denoise-root"
    remove_tree "$ROOT"
    mv "$ROOT.new" "$ROOT"
}

# Network, certificates, /proc and /dev from the host; /sys is two small files, not the host's.
prepare_root() {
    if [ -n "$QEMU_INTERP" ] && [ ! -e "$ROOT$QEMU_INTERP" ]; then install -D "$(readlink -f "$QEMU_INTERP")" "$ROOT$QEMU_INTERP"; fi
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    if [ -r /etc/ssl/certs/ca-certificates.crt ]; then cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"; fi
    # XNNPACK's cpuinfo reads these two files: with no /sys XNNPACK is off, with the host's LiteRT segfaults under qemu.
    mkdir -p "$ROOT/sys/devices/system/cpu"
    echo 0-1 >"$ROOT/sys/devices/system/cpu/possible"
    echo 0-1 >"$ROOT/sys/devices/system/cpu/present"
    mountpoint -q "$ROOT/proc" || mount --bind /proc "$ROOT/proc"
    mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
}

# arm CMD...: run CMD in the root on the emulated $ARM_CPU, in a clean environment (proxies and pip's index passed on).
# QEMU_CPU goes inside env -i too: every exec starts a fresh qemu that reads it from the new environment.
ARM_CPU=$CPU
arm() {
    local pass=() v
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_DEFAULT_TIMEOUT; do
        if [ -n "${!v:-}" ]; then pass+=("$v=${!v}"); fi
    done
    QEMU_CPU=$ARM_CPU chroot "$ROOT" /usr/bin/env -i QEMU_CPU="$ARM_CPU" HOME=/root LANG=C.UTF-8 \
        PATH=/usr/local/bin:/usr/bin:/bin PIP_DISABLE_PIP_VERSION_CHECK=1 ${pass[@]+"${pass[@]}"} "$@"
}

# make_venv DIR KEY PIP_ARGS...: a venv in the root with these packages, rebuilt only when KEY changes.
make_venv() {
    local dir=$1 key=$2
    shift 2
    [ "$(cat "$ROOT$dir/.edge-denoise-deps" 2>/dev/null)" = "$key" ] && return 0
    say "creating $dir in the root: pip install $* (minutes under emulation; cached until pyproject.toml changes)"
    remove_tree "$ROOT$dir"
    arm /usr/bin/python3 -m venv "$dir"
    # --no-compile: byte-compiling every installed module under emulation costs minutes; imports compile what they use.
    fetch "pip install $* (arm64)" arm "$dir/bin/pip" install --quiet --no-compile "$@"
    echo "$key" >"$ROOT$dir/.edge-denoise-deps"
}

# The checkout as a wheel (built on x86: pure Python), so both venvs run exactly this working tree.
install_checkout() {
    local src=$ROOT$IN/src
    remove_tree "$src"
    remove_tree "$ROOT$IN/dist"
    mkdir -p "$src" "$ROOT$IN/dist"
    git -C "$REPO" ls-files -z --cached --others --exclude-standard |
        tar -C "$REPO" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$src" -xf -
    fetch "pip wheel of the checkout (setuptools from the index)" \
        "$HOST_VENV/bin/python" -m pip wheel --quiet --no-deps -w "$ROOT$IN/dist" "$src"
    WHEEL=$(cd "$ROOT$IN/dist" && ls edge_denoise-*.whl)
    local key
    key=$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)
    make_venv "$IN/venv" "$key" "$IN/dist/$WHEEL[edge]"
    mapfile -t deps < <("${COMPARE[@]}" deps --without ai-edge-litert "$REPO/pyproject.toml")
    # tflite-runtime 2.14 is built against NumPy 1.x; OpenCV 4.12+ needs NumPy 2 (docs/devices.md).
    make_venv "$IN/venv-tflite" "$key $TFLITE_RUNTIME" "$TFLITE_RUNTIME" "numpy<2" "opencv-python-headless<4.12" "${deps[@]}"
    local venv
    for venv in venv venv-tflite; do
        arm "$IN/$venv/bin/pip" install --quiet --no-compile --no-deps --force-reinstall "$IN/dist/$WHEEL"
    done
    arm "$IN/venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("tensorflow") is not None)' ||
        fail "TensorFlow was installed into the device venv: the edge extra must not pull it in"
}

# on_arm VENV ARGS... / on_x86 ARGS...: edge-denoise, output to the step's log; the checks judge the results.
on_arm() {
    local venv=$1
    shift
    arm "$IN/$venv/bin/edge-denoise" "$@" >>"$LOG" 2>&1
}
on_x86() { (cd "$WORK" && "$HOST_VENV/bin/edge-denoise" "$@" >>"$LOG" 2>&1); }

cleanup() {
    unmount_root
    [ -z "${WORK:-}" ] || rm -rf "$WORK"
}

# check_file TIER PRECISION REL: the commands for one shipped file, on arm64 and x86, and their checks.
check_file() {
    local tier=$1 prec=$2 rel=$3 name
    name=$(basename "$rel" .tflite)
    local model=$REPO/$rel in_model=$IN/src/$rel a=$IN/out/$name h=$OUT/$name x=$WORK/x86/$name
    mkdir -p "$h" "$x"
    if [ "$tier" = denoise ]; then
        say "$name: denoise 1 sample (arm64 ai-edge-litert, x86)"
        on_arm venv denoise "$IN/out/samples/${PNGS[0]}" --out "$a/denoised" --model "$in_model" || true
        on_x86 denoise "$WORK/samples/${PNGS[0]}" --out "$x/denoised" --model "$model" || true
        check images "$h/denoised" "$x/denoised" --model "$model"
        return 0
    fi
    say "$name: doctor, run --demo --frames $FRAMES, denoise ${#PNGS[@]} samples (arm64 ai-edge-litert, x86)"
    arm "$IN/venv/bin/edge-denoise" doctor --json --model "$in_model" --smoke-seconds 0.2 --out "$IN/out" \
        >"$h/doctor.json" 2>>"$LOG" || true
    on_arm venv run --demo --frames "$FRAMES" --model "$in_model" --report "$a/run.json" || true
    on_arm venv denoise "${PNGS[@]/#/$IN/out/samples/}" --out "$a/denoised" --model "$in_model" || true
    on_x86 run --demo --frames "$FRAMES" --model "$model" --report "$x/run.json" || true
    on_x86 denoise "${PNGS[@]/#/$WORK/samples/}" --out "$x/denoised" --model "$model" || true
    check doctor "$h/doctor.json" --runtime ai-edge-litert --model "$model"
    check report "$h/run.json" "$x/run.json" --frames "$FRAMES" --model "$model"
    check images "$h/denoised" "$x/denoised" --model "$model"

    say "$name: doctor, run --backend interpreter --demo on $TFLITE_RUNTIME (arm64)"
    arm "$IN/venv-tflite/bin/edge-denoise" doctor --json --model "$in_model" --smoke-seconds 0.2 --out "$IN/out" \
        >"$h/doctor-tflite.json" 2>>"$LOG" || true
    on_arm venv-tflite run --backend interpreter --demo --frames "$FRAMES" --model "$in_model" --report "$a/run-tflite.json" || true
    check doctor "$h/doctor-tflite.json" --runtime tflite-runtime --model "$model"
    check report "$h/run-tflite.json" "$x/run.json" --frames "$FRAMES" --model "$model" --runtime tflite-runtime

    [ "$prec" = fp16 ] || return 0
    say "$name: denoise --fp16-arith against fp32 arithmetic on $CPU; refused on $CPU_NO_FP16"
    on_arm venv denoise "$IN/out/samples/${PNGS[0]}" --out "$a/denoised-fp16-arith" --model "$in_model" --fp16-arith || true
    check images "$h/denoised" "$h/denoised-fp16-arith" --model "$model" --fp16-arith
    ARM_CPU=$CPU_NO_FP16
    if arm "$IN/venv/bin/edge-denoise" denoise "$IN/out/samples/${PNGS[0]}" --out "$a/refused" --model "$in_model" \
        --fp16-arith >"$WORK/refused.log" 2>&1; then
        echo "arm64: FAILED $name: --fp16-arith ran on $CPU_NO_FP16, which has no fp16 arithmetic" >&2
        FAILED=1
    elif grep -q "no ARMv8.2-A fp16 arithmetic" "$WORK/refused.log"; then
        say "$name: on $CPU_NO_FP16: $(tr -s '\n ' ' ' <"$WORK/refused.log" | grep -o 'error: .*' | cut -c1-150)"
    else
        echo "arm64: FAILED $name: --fp16-arith on $CPU_NO_FP16 failed without the line that says why:" \
            "$(tail -n1 "$WORK/refused.log")" >&2
        FAILED=1
    fi
    ARM_CPU=$CPU
}

# check ARGS...: one check of ci/arm64_compare.py; a failure is remembered and the run goes on to the next.
check() { "${COMPARE[@]}" "$@" || FAILED=1; }

main() {
    host_tools
    register_qemu
    trap cleanup EXIT
    if root_ok; then say "reusing the arm64 root in $ROOT"; else unmount_root; build_root; fi
    prepare_root
    root_ok || fail "the arm64 root in $ROOT does not run python3 under qemu-aarch64 (see /proc/sys/fs/binfmt_misc/qemu-aarch64)"
    local t_install=$SECONDS
    install_checkout
    say "device extra installed from the checkout ($WHEEL) in $((SECONDS - t_install)) s"

    WORK=$(mktemp -d /tmp/edge-denoise-arm64.XXXXXX)
    LOG=$WORK/commands.log
    OUT=$ROOT$IN/out
    FAILED=0
    remove_tree "$OUT"
    mkdir -p "$OUT" "$WORK/x86"
    # The samples as PNG crops of a 128x128 model's size, made once here: both sides see the same pixels,
    # each is one model run (emulated float is slow), and the outputs are lossless.
    "${COMPARE[@]}" to-png "$WORK/samples" --crop 128 "${SAMPLES[@]/#/$REPO/}"
    cp -r "$WORK/samples" "$OUT/samples"
    mapfile -t PNGS < <(cd "$WORK/samples" && ls)

    # plan: "TIER PRECISION PATH" for every shipped file of the default model (ci/arm64_compare.py says why).
    local plan tier prec rel in_root=()
    mapfile -t plan < <("${COMPARE[@]}" plan)
    for tier in "${plan[@]}"; do in_root+=("$IN/src/${tier##* }"); done
    say "default model's shipped files: ${plan[*]##*/}"
    say "every file loads on ai-edge-litert and $TFLITE_RUNTIME (no model run)"
    arm "$IN/venv/bin/python" "$IN/src/ci/arm64_compare.py" load "${in_root[@]}" >"$OUT/load.json" 2>>"$LOG" || true
    arm "$IN/venv-tflite/bin/python" "$IN/src/ci/arm64_compare.py" load "${in_root[@]}" >"$OUT/load-tflite.json" 2>>"$LOG" || true
    check loads "$OUT/load.json" --runtime ai-edge-litert --models "$REPO/edge_runtime/models"
    check loads "$OUT/load-tflite.json" --runtime tflite-runtime --models "$REPO/edge_runtime/models"
    for tier in "${plan[@]}"; do
        read -r tier prec rel <<<"$tier"
        [ "$tier" = load ] || check_file "$tier" "$prec" "$rel"
    done
    say "calibrate: a still clip of a known camera (12 PNG frames), on arm64 and x86"
    "${COMPARE[@]}" still-clip "$WORK/still" --image "$REPO/${SAMPLES[0]}"
    cp -r "$WORK/still" "$OUT/still"
    on_arm venv calibrate --source "$IN/out/still" --out "$IN/out/cam.json" --frames 12 || true
    on_x86 calibrate --source "$WORK/still" --out "$WORK/x86/cam.json" --frames 12 || true
    check calibrate "$OUT/cam.json" "$WORK/x86/cam.json"
    if [ "$FAILED" -ne 0 ]; then
        cp "$LOG" "$CACHE/last-commands.log"
        fail "a check failed, lines above (the commands' own output: $CACHE/last-commands.log)"
    fi
    say "passed: bookworm arm64 on $CPU matches x86 within tolerance for the default model's ${#plan[@]} shipped files"
}

main "$@"; exit
