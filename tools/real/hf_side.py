#!/usr/bin/env python3
"""hf_side.py - CHECKING TOOL (Python, not part of the build) for `make check-real`: the HuggingFace side of the
comparison, in the venv of tools/real/requirements.txt (transformers 5.23, tokenizers 0.23.3). Each subcommand
prints one JSON line on stdout.

  tokens TOKENIZER_JSON TEXT IDS.i32   encode TEXT as awq-tokenize --eval --docs wikitext does (the HF wikitext
                                       loader's rows: each line with its newline, blank ones "", joined with "\\n\\n",
                                       encoded once with the special tokens) with the tokenizers library, and count
                                       the positions where awqmake's IDS.i32 differs (exit 1 if any, or a length
                                       difference)
  ppl MODEL_DIR IDS.i32 SEQLEN WINDOWS transformers' own perplexity of the FP model (float32, eager attention; CUDA if any),
                                       spec 4.1: non-overlapping windows from 0, ppl = exp(mean window loss);
                                       WINDOWS 0 = all
  generate MODEL_DIR PROMPT N          transformers' greedy continuation (ids) of PROMPT, float32
"""
import json
import sys

import numpy as np


def wikitext_text(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for row in f:
            rows.append(row if row.strip() else "")
    return "\n\n".join(rows)


def cmd_tokens(tok_json, text_path, ids_path):
    from tokenizers import Tokenizer
    ref = np.asarray(Tokenizer.from_file(tok_json).encode(wikitext_text(text_path)).ids, dtype=np.int64)
    got = np.fromfile(ids_path, dtype="<i4").astype(np.int64)
    n = min(len(ref), len(got))
    diff = np.nonzero(ref[:n] != got[:n])[0]
    first = int(diff[0]) if len(diff) else (n if len(ref) != len(got) else -1)
    out = {"file": text_path, "ids_awqmake": len(got), "ids_tokenizers": len(ref), "mismatches": int(len(diff)),
           "first_mismatch": first}
    print(json.dumps(out))
    return 0 if len(diff) == 0 and len(ref) == len(got) else 1


def load_fp(model_dir):
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_grad_enabled(False)
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()


def cmd_ppl(model_dir, ids_path, seqlen, windows):
    import torch
    from windows import window_ppl
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_fp(model_dir).to(dev)
    n, ppl = window_ppl(model, ids_path, seqlen, windows, dev, "hf_side ppl")
    print(json.dumps({"windows": n, "seqlen": seqlen, "ppl": ppl, "device": dev,
                      "torch": torch.__version__}))
    return 0


def cmd_generate(model_dir, prompt, n):
    import torch
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = load_fp(model_dir)
    x = torch.tensor([tok(prompt)["input_ids"]])
    out = model.generate(x, max_new_tokens=n, do_sample=False, min_new_tokens=n)
    new = out[0, x.shape[1]:].tolist()
    print(json.dumps({"prompt_ids": x[0].tolist(), "tokens": new, "text": tok.decode(new)}))
    return 0


def main():
    a = sys.argv[1:]
    if a[:1] == ["tokens"] and len(a) == 4:
        return cmd_tokens(*a[1:])
    if a[:1] == ["ppl"] and len(a) == 5:
        return cmd_ppl(a[1], a[2], int(a[3]), int(a[4]))
    if a[:1] == ["generate"] and len(a) == 4:
        return cmd_generate(a[1], a[2], int(a[3]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
