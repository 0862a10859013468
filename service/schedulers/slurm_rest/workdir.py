"""Job directories on the shared file system, as the unix user Slurm runs jobs as sees them.

A job runs on a compute node as SLURM_JWT_USERNAME (or the client's own user). slurmd opens the
job's output files in its directory as that user, so every directory from / down to
JOB_WORK_LOCATION must let that user through (search permission): one 0700 parent makes every
job fail at launch ("JobLaunchFailure", killed by signal 53). The paths are the same on this host
and on the nodes, so the walk is done here, from the permission bits (owner, group, other; ACLs
are not read). Each job's own directory is then handed to that user by `share`.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from service.schedulers.base import HEALTHY, UNHEALTHY, UNKNOWN, ComponentHealth


def reachable(root: Path, username: str) -> ComponentHealth:
    """Whether `username` can reach `root` (JOB_WORK_LOCATION). The reason names the blocking
    directory and the user by name only (/health is public); the detail has the path and mode."""
    if not root.is_absolute():
        return ComponentHealth(UNHEALTHY, "JOB_WORK_LOCATION must be an absolute path (the same on this host "
                                          "and on the Slurm compute nodes)", f"JOB_WORK_LOCATION={root}")
    try:
        user = pwd.getpwnam(username)
    except KeyError:
        return ComponentHealth(UNKNOWN, f"the Slurm job user {username!r} is unknown on this host: cannot check "
                                        "that it can reach JOB_WORK_LOCATION")
    groups = set(os.getgrouplist(username, user.pw_gid))
    path = Path(root.anchor)
    for part in ("", *root.parts[1:]):
        path = path / part
        try:
            info = path.stat()
        except FileNotFoundError:
            return ComponentHealth(UNHEALTHY, f"JOB_WORK_LOCATION does not exist (directory {path.name!r} is "
                                              "missing)", str(path))
        except OSError as exc:
            return ComponentHealth(UNKNOWN, f"cannot check whether the Slurm job user {username!r} can reach "
                                            f"JOB_WORK_LOCATION ({type(exc).__name__})", f"{path}: {exc}")
        if not stat.S_ISDIR(info.st_mode):
            return ComponentHealth(UNHEALTHY, f"JOB_WORK_LOCATION: {path.name!r} is not a directory", str(path))
        if not _may_search(info, user.pw_uid, groups):
            return ComponentHealth(
                UNHEALTHY, f"the Slurm job user {username!r} cannot enter directory {path.name or '/'!r} on the "
                           "way to JOB_WORK_LOCATION: every job would fail at launch",
                f"{path}: mode {stat.filemode(info.st_mode)} owner uid {info.st_uid} gid {info.st_gid}")
    return ComponentHealth(HEALTHY)


def _may_search(info: os.stat_result, uid: int, groups: set[int]) -> bool:
    if uid == 0:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def share(workdir: Path, username: str) -> None:
    """Let `username` (the unix user the job runs as) write the job directory."""
    if not username:
        return
    try:
        user = pwd.getpwnam(username)
    except KeyError:
        user = None
    if os.geteuid() == 0 and user is not None:
        for root, dirs, files in os.walk(workdir):
            os.chown(root, user.pw_uid, user.pw_gid)
            for entry in files:
                os.chown(os.path.join(root, entry), user.pw_uid, user.pw_gid, follow_symlinks=False)
    elif user is None or user.pw_uid != os.geteuid():
        os.chmod(workdir, 0o777)
