#!/bin/sh
# t_slurm.sh - LAUNCHER=slurm on a real Slurm: Debian's slurm-wlm (slurmctld, slurmd, srun) and
# munge, installed by tools/install-deps.sh --slurm when absent, configured and started here on
# localhost with their own config, ports, key, spool and state under this test's directory (no
# system service is used or touched), stopped at the end. Inside an allocation (salloc) the tiny
# model is quantized with `make -j4 quantize LAUNCHER=slurm`, each step a job step: OUT is byte
# for byte a local run's. Then one job step is cancelled mid-run (scancel): make fails naming that
# step, `make status` showed it running on this host meanwhile, and make run again finishes with
# the same OUT; tools/slurm-quantize.sbatch, submitted with sbatch, gives it too. When Slurm cannot be had or started, every check is skipped saying why.
. tests/lib.sh
pipeline_fixture
D="$TMP/slurm"
mkdir -p "$D/state" "$D/spool" "$D/log" "$D/munge"
chmod 700 "$D/munge"
pids=""
stop_slurm() { # the daemons this test started, by their pids, the controller last
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; done
}
trap 'stop_slurm; if [ $T_FAILED -eq 0 ]; then rm -rf "$TMP"; else echo "# files kept in $TMP" >&2; fi' EXIT
NAMES="launch_steps_same_out status_shows_running_host cancelled_step_fails_make rerun_after_scancel_same_out sbatch_script_same_out"
skip_all() { for n in $NAMES; do skip "$n" "$1"; done; exit 0; }

need="slurmctld slurmd srun salloc scancel sinfo munged mungekey"
missing() { for c in $need; do command -v "$c" >/dev/null 2>&1 || { echo "$c"; return; }; done; }
if [ -n "$(missing)" ]; then
    echo "# installing Slurm for this test (tools/install-deps.sh --slurm)" >&2
    tools/install-deps.sh --slurm >"$TMP/deps.log" 2>&1 ||
        skip_all "Slurm is not installed and tools/install-deps.sh --slurm failed: $(tail -n 1 "$TMP/deps.log")"
    [ -z "$(missing)" ] || skip_all "$(missing) not found after tools/install-deps.sh --slurm"
fi

# Ports nobody listens on (the system's Slurm, if any, keeps 6817/6818)
ports=$(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
ctld_port=${ports% *}; d_port=${ports#* }
host=$(uname -n)
user=$(id -un)
cpus=$(nproc)
mungekey --create --keyfile="$D/munge/munge.key" >"$D/log/mungekey" 2>&1 || skip_all "mungekey failed: $(tail -n 1 "$D/log/mungekey")"
munged -F -f --socket="$D/munge/sock" --key-file="$D/munge/munge.key" --pid-file="$D/munge/pid" \
    --seed-file="$D/munge/seed" --log-file="$D/log/munged.log" >"$D/log/munged.out" 2>&1 &
pids="$!"
cat >"$D/slurm.conf" <<EOF
# the Slurm of tests/t_slurm.sh: one node, this host, on ports of its own
ClusterName=awqtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$D/munge/sock
CredType=cred/munge
SlurmUser=$user
SlurmdUser=$user
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$host NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=2048 State=UNKNOWN
PartitionName=awqtest Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$D/slurm.conf"
unset SLURM_JOB_ID SLURM_JOBID
for _ in $(seq 1 50); do [ -S "$D/munge/sock" ] && break; sleep 0.1; done
[ -S "$D/munge/sock" ] || skip_all "munged did not start: $(tail -n 1 "$D/log/munged.out")"
slurmctld -D -c -f "$SLURM_CONF" >"$D/log/slurmctld.out" 2>&1 &
pids="$! $pids"
slurmd -D -f "$SLURM_CONF" -N "$host" >"$D/log/slurmd.out" 2>&1 &
pids="$! $pids"
state=
for _ in $(seq 1 150); do   # up to 30 s for the node to register
    state=$(sinfo -h -o %T 2>/dev/null | head -n 1)
    [ "$state" = idle ] && break
    sleep 0.2
done
if [ "$state" != idle ]; then
    why=$(grep -h -i 'error\|fatal' "$D/log/slurmctld.log" "$D/log/slurmd.log" "$D/log/slurmctld.out" "$D/log/slurmd.out" 2>/dev/null |
          grep -v -i 'pmix\|MPI\|MailProg\|state file\|backup' | tail -n 1)
    skip_all "Slurm did not start on localhost (node state '${state:-none}'): ${why:-see $D/log}"
fi

# inside an allocation of this one node, all its CPUs
in_alloc() { salloc -Q -N1 -n"$cpus" --mem=1800 --time=20 "$@" </dev/null; }
qs() { # STORE OUT LOG [VAR=value...]: make quantize LAUNCHER=slurm in an allocation
    _s=$1 _o=$2 _l=$3; shift 3
    in_alloc env AWQ_CACHE="$_s" make -C "$ROOT" --no-print-directory -j4 quantize LAUNCHER=slurm O="$O" MODEL="$M" \
        OUT="$_o" CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 "$@" >"$_l" 2>&1
}

q "$TMP/local" "$TMP/out.local" N_GRID=20
qs "$TMP/s1" "$TMP/out1" "$TMP/log1" N_GRID=20; rc=$?
steps=$(grep -c 'launch task StepId' "$D/log/slurmd.log")
check launch_steps_same_out '[ $rc -eq 0 ] && [ "$steps" -ge 11 ] && diff -r "$TMP/out.local" "$TMP/out1"'
echo "  ($steps job steps launched for 11 plan steps)"

# Cancel the first quantize step while Slurm runs it. The step is held at its start by a task
# prolog (srun --task-prolog, through make's SRUN_FLAGS) until the test has looked at it and cancelled
# it: a step of this model computes for only 0.3-0.7 s, and in CI the cancel once came after the
# step had finished, so make succeeded and the test tested nothing.
cat >"$TMP/hold.sh" <<EOF
#!/bin/sh
# the first quantize step only: say which step it is, then wait (at most 60 s) for the test
case "\${SLURM_JOB_NAME:-}" in awq-quantize.block*) ;; *) exit 0 ;; esac
mkdir "$TMP/held.d" 2>/dev/null || exit 0
echo "\$SLURM_JOB_ID.\$SLURM_STEP_ID \$SLURM_JOB_NAME" >"$TMP/held.tmp" && mv "$TMP/held.tmp" "$TMP/held"
i=0; while [ -e "$TMP/hold" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
exit 0
EOF
chmod +x "$TMP/hold.sh"; touch "$TMP/hold"
qs "$TMP/s2" "$TMP/out2" "$TMP/log2" N_GRID=20 SRUN_FLAGS="--task-prolog=$TMP/hold.sh" &
mk=$!
step=; shown=0; name=
for _ in $(seq 1 600); do   # up to 60 s
    if [ -s "$TMP/held" ]; then
        read -r step name <"$TMP/held"
        "$BIN/awq-status" "$TMP/out2.awq" "$BIN" >"$TMP/status" 2>&1
        grep -q "scale-search *running .* on $host\$" "$TMP/status" && shown=1
        scancel "$step" 2>"$TMP/scancel.err"
        break
    fi
    sleep 0.1
done
rm -f "$TMP/hold"
wait $mk; rc=$?
blk=${name#awq-quantize.block}
check status_shows_running_host '[ $shown -eq 1 ]'
check cancelled_step_fails_make \
    '[ -n "$step" ] && [ ! -s "$TMP/scancel.err" ] && [ $rc -ne 0 ] && grep -q "awqmake: block $blk *quantize FAILED" "$TMP/log2" && [ ! -e "$TMP/out2/config.json" ]'
qs "$TMP/s2" "$TMP/out2" "$TMP/log3" N_GRID=20; rc=$?
# The cancelled block is computed again (a miss: the step was cancelled before it began)
redo=$(grep -c "awqmake: block $blk *quantize .* miss" "$TMP/log3")
check rerun_after_scancel_same_out '[ $rc -eq 0 ] && [ "$redo" -eq 1 ] && diff -r "$TMP/out.local" "$TMP/out2"'
[ -n "$step" ] && echo "  (cancelled job step $step: block $blk quantize, computed again on the rerun)"

# From outside an allocation: the documented batch script, submitted and waited for.
AWQ_CACHE="$TMP/s5" sbatch -Q --wait -N1 -n"$cpus" --mem=1800 --time=20 --output="$TMP/sbatch.log" \
    tools/slurm-quantize.sbatch O="$O" MODEL="$M" OUT="$TMP/out5" CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=20 \
    >"$TMP/sbatch.out" 2>&1; rc=$?
check sbatch_script_same_out '[ $rc -eq 0 ] && grep -q "awqmake: model *assemble" "$TMP/sbatch.log" && diff -r "$TMP/out.local" "$TMP/out5"'
