# Slurm for the compose stack, from Debian's packages of one suite: target `controller` runs
# munged + slurmctld + slurmrestd, target `compute` runs munged + slurmd with HyPhy (hyphy-pt).
# Built FROM the local base image of that suite (scripts/base-image.sh SUITE; compose passes
# BASE_IMAGE=datamonkey/base:$SLURM_SUITE): bookworm = Slurm 22.05, trixie = 24.11, forky = 26.05.
# No registry needed. Both targets share the `common` stage (users, munge, client, jwt plugin).
ARG BASE_IMAGE=datamonkey/base:bookworm
FROM ${BASE_IMAGE} AS common
# Fixed ids, so files on the shared volumes (munge key, jwt key, job directories) mean the same
# user in every container; created before the packages, whose postinst scripts then reuse them.
ARG JOB_USER=datamonkey
ARG JOB_UID=1500
RUN groupadd --system --gid 64030 slurm && useradd --system --uid 64030 --gid slurm --home-dir /nonexistent --shell /usr/sbin/nologin slurm \
 && groupadd --system --gid 64031 munge && useradd --system --uid 64031 --gid munge --home-dir /nonexistent --shell /usr/sbin/nologin munge \
 && groupadd --gid ${JOB_UID} ${JOB_USER} && useradd --uid ${JOB_UID} --gid ${JOB_UID} --create-home --shell /bin/bash ${JOB_USER}
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends munge slurm-client slurm-wlm-jwt-plugin curl ca-certificates procps \
 && rm -rf /var/lib/apt/lists/*
ENV JOB_USER=${JOB_USER}

FROM common AS controller
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin slurmrest \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends slurmctld slurmrestd \
 && rm -rf /var/lib/apt/lists/*
# Copied last in each stage, so editing them does not re-run the package installs.
COPY scripts/lib/slurm-conf.sh /usr/local/lib/datamonkey/slurm-conf.sh
COPY docker/slurm-entrypoint.sh /usr/local/bin/slurm-entrypoint.sh
EXPOSE 6817 6820
ENTRYPOINT ["/usr/local/bin/slurm-entrypoint.sh"]
CMD ["controller"]

FROM common AS compute
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends slurmd hyphy-pt \
 && rm -rf /var/lib/apt/lists/*
# What this image's HyPhy offers (version, every analysis' --help), collected once per image;
# published into the shared job volume at node start for the service's method registry.
COPY scripts/hyphy-capabilities.sh /usr/local/bin/hyphy-capabilities.sh
RUN sh /usr/local/bin/hyphy-capabilities.sh /usr/local/share/datamonkey/hyphy-capabilities
COPY scripts/lib/slurm-conf.sh /usr/local/lib/datamonkey/slurm-conf.sh
COPY docker/slurm-entrypoint.sh /usr/local/bin/slurm-entrypoint.sh
EXPOSE 6818
ENTRYPOINT ["/usr/local/bin/slurm-entrypoint.sh"]
CMD ["compute"]
