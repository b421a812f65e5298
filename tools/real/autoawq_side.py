#!/usr/bin/env python3
"""autoawq_side.py - CHECKING TOOL (Python, not part of the build) for `make check-real`: AutoAWQ 0.2.9's side of
the comparison, in the venv of tools/golden/requirements-awq.txt (/tmp/awqvenv). Prints one JSON line on stdout.

  quantize MODEL_DIR CALIB.i32 N SEQLEN GROUP W_BIT OUT_DIR
      AutoAWQ quantizes MODEL_DIR (loaded as $AUTOAWQ_DTYPE: float16, its default, or float32; GEMM, zero point, duo_scaling=True: its defaults) on the N x SEQLEN
      calibration ids of CALIB.i32, given as a list of N int lists (AutoAWQ takes them as already tokenized:
      no tokenizer, no shuffle), and saves with save_quantized.
  hfload QUANT_DIR IDS.i32 SEQLEN WINDOWS
      transformers' own AutoModelForCausalLM.from_pretrained(QUANT_DIR) (its AWQ integration, which uses AutoAWQ's
      layers), perplexity on WINDOWS windows; where it refuses (transformers 4.51 on a CPU without IPEX), the
      JSON line says why ({"error": ...}) and the exit status is still 0.
  load QUANT_DIR IDS.i32 SEQLEN WINDOWS PROMPT_IDS N
      AutoAWQForCausalLM.from_quantized(QUANT_DIR) (AutoAWQ's own loader and its WQLinear_GEMM layers), then the
      perplexity on the first WINDOWS windows of SEQLEN ids (spec 4.1; 0 = all) and N greedy tokens after
      PROMPT_IDS (comma-separated ids, so both sides see the same prompt).

On the CPU (no GPU here):
  * torch 2.6's float16 matmuls on a CPU without native fp16 are slow (AutoAWQ took 160 s per SmolLM2 block for
    2 x 512 tokens on the 2-core development machine, against 20 s for awqmake's fp16-emulating search), so
    check-real.sh asks for AUTOAWQ_DTYPE=float32 there; the packed scales are float16 either way
    (WQLinear_GEMM.from_linear rounds them).
  * quantize: AutoAWQ's scale search backs up the weights with state_dict() values' .cpu(), which on the CPU is the
    same storage, so the grid's in-place scaling also changes the backup; the search is given real copies, as on
    CUDA (tests/golden/awq/README.md, quirk 1; the same intervention as tools/golden/gen_awq_golden.py).
  * load: from_quantized decides use_ipex=True whenever its best device is "cpu" and then requires
    intel_extension_for_pytorch (awq/models/base.py). IPEX is not used here: the loader's device question
    (awq.models.base.get_best_device) is answered "cuda:0" so it builds its plain WQLinear_GEMM layers on
    device_map="cpu", and awq.modules.linear.gemm.TRITON_AVAILABLE is set False so their forward takes AutoAWQ's
    own torch path (dequantize_gemm + matmul, in float16). No AutoAWQ code is copied or replaced.
On CUDA neither patch is applied.
"""
import json
import os
import sys
import time

import numpy as np
import torch

from windows import window_ppl

torch.set_grad_enabled(False)
ON_CPU = not torch.cuda.is_available()


def cmd_quantize(model_dir, calib_path, n, seqlen, group, w_bit, out_dir):
    from awq import AutoAWQForCausalLM
    from awq.quantize.quantizer import AwqQuantizer

    class CopyingBackup(AwqQuantizer):
        def _compute_best_scale(self, x, w_mean, x_mean, module2inspect, linears2scale, fp16_output, kwargs={}):
            if not ON_CPU:
                return super()._compute_best_scale(x, w_mean, x_mean, module2inspect, linears2scale, fp16_output,
                                                   kwargs)
            own = module2inspect.state_dict
            module2inspect.state_dict = lambda *a, **k: {m: t.clone() for m, t in own(*a, **k).items()}
            try:
                return super()._compute_best_scale(x, w_mean, x_mean, module2inspect, linears2scale, fp16_output,
                                                   kwargs)
            finally:
                del module2inspect.state_dict

    ids = np.fromfile(calib_path, dtype="<i4")
    if len(ids) < n * seqlen:
        sys.exit(f"autoawq_side: '{calib_path}' holds {len(ids)} ids, fewer than {n} x {seqlen}")
    calib = [ids[i * seqlen:(i + 1) * seqlen].astype(np.int64).tolist() for i in range(n)]
    t0 = time.time()
    dev = "cpu" if ON_CPU else "cuda:0"
    dtype = os.environ.get("AUTOAWQ_DTYPE", "float16")
    model = AutoAWQForCausalLM.from_pretrained(model_dir, torch_dtype=getattr(torch, dtype), device_map=dev)
    qc = {"zero_point": True, "q_group_size": group, "w_bit": w_bit, "version": "GEMM"}
    model.quantize(None, quant_config=qc, calib_data=calib, max_calib_samples=n, max_calib_seq_len=seqlen,
                   quantizer_cls=CopyingBackup)
    tmp = out_dir.rstrip("/") + ".tmp"
    model.save_quantized(tmp)
    if os.path.isdir(out_dir):
        import shutil
        shutil.rmtree(out_dir)
    os.rename(tmp, out_dir)
    print(json.dumps({"out": out_dir, "seconds": round(time.time() - t0, 1), "device": dev,
                      "dtype": dtype, "torch": torch.__version__, "quant_config": qc}))
    return 0


def load_quantized(quant_dir):
    import awq.models.base as base
    import awq.modules.linear.gemm as gemm
    from awq import AutoAWQForCausalLM
    if ON_CPU:
        base.get_best_device = lambda: "cuda:0"   # only the loader's use_ipex decision reads it (see above)
        gemm.TRITON_AVAILABLE = False
    dev = "cpu" if ON_CPU else "cuda:0"
    model = AutoAWQForCausalLM.from_quantized(quant_dir, torch_dtype=torch.float16, device_map={"": dev},
                                              fuse_layers=False)
    kinds = sorted({type(m).__name__ for m in model.modules() if "WQLinear" in type(m).__name__})
    return model, dev, kinds


def cmd_load(quant_dir, ids_path, seqlen, windows, prompt_ids, n_gen):
    t0 = time.time()
    model, dev, kinds = load_quantized(quant_dir)
    nw, ppl = window_ppl(model, ids_path, seqlen, windows, dev, "autoawq_side load")
    prompt = torch.tensor([[int(t) for t in prompt_ids.split(",")]], device=dev)
    out = model.generate(prompt, max_new_tokens=n_gen, min_new_tokens=n_gen, do_sample=False)
    print(json.dumps({"quant": quant_dir, "windows": nw, "seqlen": seqlen,
                      "ppl": ppl, "layers": kinds, "device": dev,
                      "dtype": "float16", "tokens": out[0, prompt.shape[1]:].tolist(),
                      "seconds": round(time.time() - t0, 1), "torch": torch.__version__}))
    return 0


def cmd_hfload(quant_dir, ids_path, seqlen, windows):
    import transformers
    from transformers import AutoModelForCausalLM
    dev = "cpu" if ON_CPU else "cuda:0"
    out = {"quant": quant_dir, "transformers": transformers.__version__, "device": dev}
    try:
        model = AutoModelForCausalLM.from_pretrained(quant_dir, torch_dtype=torch.float16, device_map=dev).eval()
    except Exception as e:  # the refusal is the result here
        out["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        print(json.dumps(out))
        return 0
    out["layers"] = sorted({type(m).__name__ for m in model.modules() if "WQLinear" in type(m).__name__})
    out["windows"], out["ppl"] = window_ppl(model, ids_path, seqlen, windows, dev, "autoawq_side hfload")
    print(json.dumps(out))
    return 0


def main():
    a = sys.argv[1:]
    if a[:1] == ["quantize"] and len(a) == 8:
        return cmd_quantize(a[1], a[2], int(a[3]), int(a[4]), int(a[5]), int(a[6]), a[7])
    if a[:1] == ["hfload"] and len(a) == 5:
        return cmd_hfload(a[1], a[2], int(a[3]), int(a[4]))
    if a[:1] == ["load"] and len(a) == 7:
        return cmd_load(a[1], a[2], int(a[3]), int(a[4]), a[5], int(a[6]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
