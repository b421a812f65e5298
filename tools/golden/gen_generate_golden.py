#!/usr/bin/env python3
"""gen_generate_golden.py - FIXTURE GENERATOR (Python, not part of the build): what transformers' greedy
generate and the tokenizers library's decode give, for checking awq-generate and awq_tokenizer_decode (issue 22).
Writes tests/golden/generate/golden.json:
  generate: for ../shared/assets/models/stories260K-hf (float32, eager attention), each prompt's ids
            (tokenizer(prompt)), the greedy continuation of model.generate(do_sample=False, max_new_tokens=32)
            (it stops after the eos token, which it keeps) and tokenizer.decode(continuation,
            skip_special_tokens=True);
  decode:   for each tokenizer.json of ../shared/assets/tokenizers and of stories260K, the ids of a few texts
            (with a special token inserted) and Tokenizer.decode(ids, skip_special_tokens=True and False).
Install: the venv of tools/golden/requirements.txt (/tmp/goldenvenv: torch 2.15.0, transformers 5.23.0,
tokenizers 0.23.3). Run from the repository root (a rerun gives the same file):
    /tmp/goldenvenv/bin/python tools/golden/gen_generate_golden.py
"""
import importlib.metadata as md
import json
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

PINNED = {"torch": "2.15.0", "transformers": "5.23.0", "tokenizers": "0.23.3"}
ASSETS = "../shared/assets"
MODEL = f"{ASSETS}/models/stories260K-hf"
OUT = "tests/golden/generate/golden.json"
N_NEW = 32
PROMPTS = ["Once upon a time", "The little dog", "Lily and Tom went to the park. They", "Why"]
TOKENIZERS = ["gpt2", "llama2", "llama3", "mistral", "qwen3"]
TEXTS = ["Hello world! It's 2048 degrees, isn't it?", "  leading spaces\nand\ttabs  ",
         "Unicode: café, naïve, 東京, emoji 🙂, ∑x²", "digits 1234567 and a'b'c"]


def main():
    bad = [f"{p} {md.version(p)} (pinned {v})" for p, v in PINNED.items() if md.version(p) != v]
    if bad:
        sys.exit("gen_generate_golden: versions differ from tools/golden/requirements.txt: " + ", ".join(bad))
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="eager").eval()
    gen = []
    with torch.no_grad():
        for p in PROMPTS:
            x = torch.tensor([tok(p)["input_ids"]])
            out = model.generate(x, do_sample=False, max_new_tokens=N_NEW)
            new = out[0, x.shape[1]:].tolist()
            gen.append({"prompt": p, "prompt_ids": x[0].tolist(), "tokens": new,
                        "text": tok.decode(new, skip_special_tokens=True)})
    dec = []
    files = [(n, f"{ASSETS}/tokenizers/{n}/tokenizer.json") for n in TOKENIZERS] + [("stories260K", f"{MODEL}/tokenizer.json")]
    for name, path in files:
        t = Tokenizer.from_file(path)
        special = sorted(i for i, a in t.get_added_tokens_decoder().items() if a.special)
        for text in TEXTS:
            ids = t.encode(text, add_special_tokens=False).ids
            if special:
                ids = ids[:3] + [special[0]] + ids[3:]
            dec.append({"tokenizer": os.path.relpath(path, ASSETS), "ids": ids,
                        "skip_special": t.decode(ids, skip_special_tokens=True),
                        "keep_special": t.decode(ids, skip_special_tokens=False)})
    doc = {"generator": "tools/golden/gen_generate_golden.py", "versions": PINNED, "model": os.path.relpath(MODEL, ASSETS),
           "max_new_tokens": N_NEW, "generate": gen, "decode": dec}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(gen)} generations, {len(dec)} decodes")


if __name__ == "__main__":
    main()
