# The Datamonkey service (SCHEDULER_TYPE=SlurmRestScheduler in the compose stack), built FROM the
# local base image (scripts/base-image.sh). Build context: the repository root (see .dockerignore).
# hyphy-pt is installed only so HYPHY_BINARY=auto picks the same binary the compute nodes run
# (and the LocalScheduler would work); jobs themselves run on the Slurm compute nodes.
ARG BASE_IMAGE=datamonkey/base:bookworm
FROM ${BASE_IMAGE}
ARG JOB_USER=datamonkey
ARG JOB_UID=1500
RUN groupadd --gid ${JOB_UID} ${JOB_USER} && useradd --uid ${JOB_UID} --gid ${JOB_UID} --create-home --shell /bin/bash ${JOB_USER}
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates hyphy-pt \
 && rm -rf /var/lib/apt/lists/*
# pip's certificate check needs the machine's CA bundle (and the machine's index settings): both
# are build-context files the Makefile writes under docker/.build/ (ignored by git), used only here.
COPY docker/.build/pip.conf /etc/pip.conf
COPY docker/.build/ca-certificates.crt /tmp/build-ca.crt
COPY pyproject.toml /app/pyproject.toml
# Dependencies first (a layer that survives code changes), then the code.
RUN python3 -m venv /opt/venv \
 && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/app/pyproject.toml', 'rb'))['project']['dependencies']))" >/tmp/requirements.txt \
 && PIP_CERT=/tmp/build-ca.crt /opt/venv/bin/pip install -q --no-cache-dir -r /tmp/requirements.txt \
 && rm -f /tmp/requirements.txt /tmp/build-ca.crt
COPY openapi.yaml /app/openapi.yaml
COPY service /app/service
RUN find /app -name '__pycache__' -prune -exec rm -rf {} + && mkdir -p /var/lib/datamonkey /data/jobs && chown ${JOB_USER}:${JOB_USER} /var/lib/datamonkey /data/jobs
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 SERVICE_HOST=0.0.0.0
# Runs as the job user: job directories it creates on the shared volume are then already that
# user's, as the compute nodes need; it reads the JWT key through the key's group.
USER ${JOB_USER}
EXPOSE 9300
HEALTHCHECK --interval=5s --timeout=5s --retries=3 CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('SERVICE_DATAMONKEY_PORT', '9300'), timeout=4)"]
CMD ["python", "-m", "service"]
