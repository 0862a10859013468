# slurm.conf for both project clusters: scripts/local-slurm.sh (one node on loopback) and the
# compose stack (docker/slurm-entrypoint.sh: a controller and compute containers). Sourced, not run.
# Facts that work on Debian bookworm (Slurm 22.05), trixie (24.11) and forky (26.05): auth/munge
# with auth/jwt beside it (the key: 32+ random bytes readable by slurm), proctrack/linuxproc +
# task/none (no cgroup setup needed), select/cons_tres, no accounting (slurmdbd is not used),
# finished jobs listed for 5 min. The same slurm.conf serves all three; what differs by release
# (cgroup.conf, slurmrestd's plugins) is below, keyed on the installed release (slurm_release).

# slurm_release: the installed Slurm's release as MAJOR.MINOR (22.05, 24.11, 26.05), read from the
# first daemon or client binary found (`slurmctld -V` prints "slurm-wlm 24.11.5"); SLURM_RELEASE,
# when set, wins (a config written for another machine).
slurm_release() {
    if [[ -n ${SLURM_RELEASE:-} ]]; then echo "$SLURM_RELEASE"; return; fi
    local bin version
    for bin in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sinfo; do
        [[ -x $bin ]] || continue
        version=$("$bin" -V 2>/dev/null) || continue
        if [[ $version =~ ([0-9]+)\.([0-9]+)\.[0-9]+ ]]; then
            echo "${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
            return
        fi
    done
    return 1
}

# slurm_release_at_least MAJOR.MINOR [RELEASE]: the (given or installed) release is that or newer.
slurm_release_at_least() {
    local release=${2:-$(slurm_release)} want=$1
    [[ -n $release ]] || return 1
    (( 10#${release%%.*} * 100 + 10#${release#*.} >= 10#${want%%.*} * 100 + 10#${want#*.} ))
}

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

# slurm_cgroup_conf [RELEASE]: cgroup.conf for the release, or nothing when it needs none. Without
# cgroup.conf, slurmd 26.05 loads the cgroup plugin anyway (autodetect) and logs "Cannot find
# slurmd cpu cgroup" on a cgroup v1 host; on a cgroup v2 host without systemd it would need
# IgnoreSystemd and a writable hierarchy. Nothing here uses cgroups (proctrack/linuxproc,
# task/none), so 24.05+ (which has CgroupPlugin=disabled) turns the plugin off; 22.05 never loads it.
slurm_cgroup_conf() {
    slurm_release_at_least 24.05 "${1:-}" || return 0
    echo "CgroupPlugin=disabled"
}

# slurmrestd_plugins [RELEASE]: slurmrestd's -s value (its OpenAPI plugins) for a cluster without
# slurmdbd. 22.05 has one plugin per REST version (its dbv0.0.38 aborts without slurmdbd); 23.02+
# has openapi/slurmctld serving every data_parser version installed (openapi/slurmdbd is left out
# for the same reason).
slurmrestd_plugins() {
    if slurm_release_at_least 23.02 "${1:-}"; then
        echo openapi/slurmctld
    else
        echo openapi/v0.0.38,openapi/v0.0.37
    fi
}

# slurmrestd_newest_version [RELEASE]: the newest REST API version (v0.0.XX) slurmrestd serves with
# slurmrestd_plugins: 22.05's newest openapi plugin, else the newest data_parser plugin installed.
slurmrestd_newest_version() {
    if ! slurm_release_at_least 23.02 "${1:-}"; then echo v0.0.38; return; fi
    local plugin newest=""
    for plugin in /usr/lib/*/slurm-wlm/data_parser_v0_0_*.so /usr/lib/slurm/data_parser_v0_0_*.so; do
        [[ -e $plugin ]] || continue
        plugin=${plugin##*/data_parser_}
        plugin=${plugin%.so}
        plugin=${plugin//_/.}
        [[ -z $newest || 10#${plugin##*.} -gt 10#${newest##*.} ]] && newest=$plugin
    done
    [[ -n $newest ]] && echo "$newest"
}

# Default memory for a node: 80 % of this machine's RAM, in MB.
slurm_default_memory_mb() {
    echo $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
}
