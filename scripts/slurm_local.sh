#!/usr/bin/env bash
# A one-node SLURM on this machine, for the tests that submit to it (tests/sweep/test_slurm.py) and to try
# the cluster commands of docs/clusters.md. Run as root (it installs Debian packages and starts daemons).
#   scripts/slurm_local.sh          install slurm-wlm + munge if missing, start munged, slurmctld, slurmd;
#                                   returns once the node is idle (partition "debug")
#   scripts/slurm_local.sh stop     stop the three daemons
# No accounting database: sacct does not work; submitit reads job states from squeue and result files.
set -euo pipefail

STATE=${SLURM_LOCAL_STATE:-/var/lib/transfer_lab-slurm}
CONF=/etc/slurm/slurm.conf

stop() {  # by the pid files the daemons write
  for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
    if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
}

if [ "${1:-start}" = stop ]; then
  stop
  exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q slurm-wlm munge
fi

host=$(hostname -s)
cpus=$(nproc)
memory_mb=$(( $(free -m | awk '/^Mem:/ {print $2}') * 3 / 4 ))  # leave the rest to the system
mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" /var/log/slurm /run/munge /etc/munge
cat > "$CONF" <<CONF
ClusterName=transfer_lab
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=cred_expire=10  # a requeued job may start 10 s later instead of 120 s (its begin time waits this long)
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
JobRequeue=1
MpiDefault=none
KillWait=30
SchedulerParameters=defer
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || munged --force
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  case "$state" in
    idle|mix|alloc) echo "slurm: node $host $state, partition debug, $cpus CPUs, $memory_mb MB"; exit 0 ;;
    down*|drain*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 1
done
echo "slurm: node $host did not become idle; see /var/log/slurm/" >&2
exit 1
