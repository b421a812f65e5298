#!/usr/bin/env python3
"""report.py - the last step of tools/real/check-real.sh: gathers the step results of REAL_DIR/steps into
REAL_DIR/check-real.json (the fields issue 22 lists, plus the checks), prints it as a table, and exits 1 when a
check fails. Plain python3, no third-party package.

    python3 tools/real/report.py STEPS DTYPE N_SAMPLES WINDOWS MODEL OUT AUTOAWQ_OUT EVAL_IDS CALIB DEVICE PROMPT JSON
"""
import datetime
import json
import os
import sys


def load(path, missing_ok=False):
    if missing_ok and not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    try:
        return json.loads(text)                      # awq-eval's indented JSON
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])     # the Python sides' last line


def main():
    (steps, dtype, n_samples, windows, model, out, aout, eval_ids, calib, device, prompt, dst) = sys.argv[1:13]
    tag = f"n{n_samples}-w{windows}"
    tok = {sp: load(f"{steps}/tokens-{sp}.json") for sp in ("test", "valid")}
    ev = load(f"{steps}/eval-{dtype}-{tag}.json")
    by = {r["name"]: r for r in ev["results"]}
    hf = load(f"{steps}/fp-transformers-{dtype}-w{windows}.json")
    gen = load(f"{steps}/generate-awqmake-{dtype}-n{n_samples}.json")
    lw = os.environ.get("LOAD_WINDOWS", windows)
    ld = load(f"{steps}/load-autoawq-{dtype}-n{n_samples}-l{lw}.json")
    e16 = load(f"{steps}/eval-fp16num-{dtype}-n{n_samples}-l{lw}.json")
    tf = load(f"{steps}/load-transformers-{dtype}-n{n_samples}.json")
    cw = os.environ.get("CT_WINDOWS", "4")
    ect = load(f"{steps}/eval-ct-{dtype}-n{n_samples}-c{cw}.json")
    lct = load(f"{steps}/load-ct-{dtype}-n{n_samples}-c{cw}.json")
    aev = load(f"{steps}/eval-autoawq-{dtype}-{tag}.json", missing_ok=True)
    aq = load(f"{steps}/quantize-autoawq-{dtype}-n{n_samples}.json", missing_ok=True)
    autoawq_ppl = aev["results"][1]["ppl"] if aev else None
    seconds = {}
    if os.path.exists(f"{steps}/seconds-{dtype}.txt"):
        for line in open(f"{steps}/seconds-{dtype}.txt"):
            k, v = line.split()
            seconds[k] = int(v)
    rtn = next(r for n, r in by.items() if n.startswith("rtn-"))
    a, b = gen["tokens"], ld["tokens"]
    first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), None if len(a) == len(b) else min(len(a), len(b)))
    r = {
        "date": datetime.date.today().isoformat(),
        "model_dir": model, "dtype": dtype, "out_dir": out, "autoawq_out_dir": aout, "eval_ids": eval_ids,
        "calib_ids": calib, "calibration": f"{n_samples} x 512 ids of WikiText-2 validation", "device": device,
        "eval_seqlen": ev["seqlen"], "eval_windows": ev["windows"],
        "tokens_test": tok["test"], "tokens_valid": tok["valid"],
        "fp_ppl_awqmake": by["model"]["ppl"], "fp_ppl_transformers": hf["ppl"],
        "rtn_ppl": rtn["ppl"], "awq_ppl": by[os.path.basename(out)]["ppl"],
        "autoawq_ppl": autoawq_ppl,
        "autoawq_ppl_note": "AutoAWQ's checkpoint evaluated by awq-eval (dequantized as its GEMM kernels do)"
        if aev else "not run (REAL_SKIP_AUTOAWQ, or the step did not finish)",
        "autoawq_quantize": aq,
        "loaded_ppl_autoawq": ld["ppl"], "loaded_windows": ld["windows"],
        "awq_ppl_fp16_numerics_loaded_windows": e16["results"][1]["ppl"], "loaded_autoawq_layers": ld.get("layers"), "loaded_autoawq_dtype": ld.get("dtype"),
        "transformers_from_pretrained": tf,
        "ct_out_dir": out + "-ct", "ct_windows": lct["windows"], "ct_ppl_awqmake": ect["results"][1]["ppl"],
        "ct_ppl_transformers": lct["ppl"], "ct_loader": {k: lct.get(k) for k in ("transformers", "compressed_tensors", "device", "dtype")},
        "prompt": prompt, "prompt_ids": gen["prompt_ids"],
        "tokens_awqmake": a, "tokens_autoawq_loader": b, "tokens_equal": a == b, "first_token_difference": first,
        "text_awqmake": gen["text"],
        "seconds": seconds,
    }
    checks = {
        "tokens: 0 mismatches": tok["test"]["mismatches"] == 0 and tok["valid"]["mismatches"] == 0
        and tok["test"]["ids_awqmake"] == tok["test"]["ids_tokenizers"],
        "FP within 0.01 of transformers": abs(r["fp_ppl_awqmake"] - r["fp_ppl_transformers"]) <= 0.01,
        "AWQ < RTN": r["awq_ppl"] < r["rtn_ppl"],
        "AWQ within 0.05 of AutoAWQ (or better)": None if autoawq_ppl is None else r["awq_ppl"] <= autoawq_ppl + 0.05,
        "AutoAWQ-loaded within 0.01 of awq-eval (fp16, same windows)":
            abs(r["loaded_ppl_autoawq"] - r["awq_ppl_fp16_numerics_loaded_windows"]) <= 0.01,
        "32 generated tokens equal": r["tokens_equal"],
        "FORMAT=ct loaded by transformers within 0.01 of awq-eval (same windows)":
            abs(r["ct_ppl_transformers"] - r["ct_ppl_awqmake"]) <= 0.01,
    }
    r["checks"] = checks
    tmp = dst + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(r, f, indent=1)
        f.write("\n")
    os.replace(tmp, dst)

    rows = [("FP ppl, awq-eval", r["fp_ppl_awqmake"]), ("FP ppl, transformers", r["fp_ppl_transformers"]),
            ("RTN w4 g64 ppl", r["rtn_ppl"]), ("AWQ w4 g64 ppl (awqmake)", r["awq_ppl"]),
            ("AWQ w4 g64 ppl (AutoAWQ's checkpoint)", r["autoawq_ppl"]),
            (f"awqmake's AWQ loaded by AutoAWQ ({ld['windows']} win)", r["loaded_ppl_autoawq"]),
            ("  awq-eval fp16 numerics, same windows", r["awq_ppl_fp16_numerics_loaded_windows"]),
            (f"FORMAT=ct, awq-eval ({lct['windows']} win)", r["ct_ppl_awqmake"]),
            ("  FORMAT=ct loaded by transformers", r["ct_ppl_transformers"])]
    print(f"check-real: {model} ({dtype}), {r['calibration']}, WikiText-2 test: {r['eval_windows']} windows of "
          f"{r['eval_seqlen']}")
    print(f"  tokens: test {tok['test']['ids_awqmake']} ids, {tok['test']['mismatches']} mismatches; "
          f"validation {tok['valid']['ids_awqmake']} ids, {tok['valid']['mismatches']} mismatches")
    for name, v in rows:
        print(f"  {name:<40} " + ("   not run" if v is None else f"{v:10.4f}"))
    tfr = tf.get("ppl")
    print(f"  {'transformers from_pretrained':<40} " + (f"{tfr:10.4f} ({tf.get('windows')} windows)" if tfr is not None
                                                      else f"refused: {tf.get('error')}"))
    print(f"  {'32 greedy tokens equal':<40} {r['tokens_equal']}" + ("" if first is None else f" (first difference at {first})"))
    print(f"  awqmake says: {prompt}{gen['text']!r}")
    print("  seconds: " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
    bad = [k for k, ok in checks.items() if not ok]   # a check not run (None) is not a pass
    for k, ok in checks.items():
        print(f"  [{'ok' if ok else 'not run' if ok is None else 'FAIL'}] {k}")
    print(f"check-real: wrote {dst}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
