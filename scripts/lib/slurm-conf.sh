# slurm.conf for both project clusters: scripts/local-slurm.sh (one node on loopback) and the
# compose stack (docker/slurm-entrypoint.sh: a controller and compute containers). Sourced, not run.
# Facts that work on Debian bookworm (Slurm 22.05): auth/munge with auth/jwt beside it (the key:
# 32+ random bytes readable by slurm), proctrack/linuxproc + task/none (no cgroup setup needed),
# select/cons_tres, no accounting (slurmdbd is not used), finished jobs listed for 5 min.

# slurm_conf CLUSTER CTLD_HOST STATE_DIR RUN_DIR JWT_KEY PARTITION CPUS MEMORY_MB NODE[:ADDR]...
# Prints the whole file: the shared settings, one NodeName line per node, one default partition.
slurm_conf() {
    local cluster=$1 ctld_host=$2 state_dir=$3 run_dir=$4 jwt_key=$5 partition=$6 cpus=$7 memory=$8
    shift 8
    cat <<CONF
ClusterName=$cluster
SlurmctldHost=$ctld_host
SlurmUser=slurm
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$jwt_key
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$state_dir/ctld
SlurmdSpoolDir=$state_dir/spool
SlurmctldPidFile=$run_dir/slurmctld.pid
SlurmdPidFile=$run_dir/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MailProg=/bin/true
MinJobAge=300
CONF
    local node addr names=()
    for node in "$@"; do
        names+=("${node%%:*}")
        addr=""
        [[ $node == *:* ]] && addr=" NodeAddr=${node#*:}"
        echo "NodeName=${node%%:*}$addr CPUs=$cpus RealMemory=$memory State=UNKNOWN"
    done
    local IFS=,
    echo "PartitionName=$partition Nodes=${names[*]} Default=YES MaxTime=INFINITE State=UP"
}

# Default memory for a node: 80 % of this machine's RAM, in MB.
slurm_default_memory_mb() {
    echo $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
}
