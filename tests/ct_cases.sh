# ct_cases.sh - the experiments of the compressed-tensors golden (tools/golden/gen_ct_golden.sh makes
# tests/golden/ct/<name>/ from them, tests/t_ct.sh checks FORMAT=ct against it). One line each:
#   NAME|awq-gen-model arguments|make quantize variables (besides MODEL OUT CALIB SEQLEN DEVICE)
# Calibration for all: awq-gen-tokens --vocab 256 --count 1024 --seed 5, SEQLEN=128.
CT_CASES='llama_g64|--layers 2 --hidden 64 --ffn 128 --heads 4 --kv-heads 2 --vocab 256 --seed 3|GROUP=64 N_GRID=4
mixtral_g32|--arch mixtral --layers 2 --hidden 64 --ffn 64 --heads 4 --kv-heads 2 --vocab 256 --experts 4 --seed 4|GROUP=32 N_GRID=3
phi3_g64|--preset tiny-phi3 --layers 1 --vocab 256 --seed 7|GROUP=64 N_GRID=3
dsv3_g32|--preset tiny-deepseek-v3 --vocab 256 --seed 9|GROUP=32 N_GRID=3'
