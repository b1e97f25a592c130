"""Two worker processes on loopback train what one process trains.

Starts `tests/multi_worker_job.py` twice with a `TF_CONFIG` naming two
workers on 127.0.0.1 ports picked free here, trains IRL + VAT + Jacobian
under `MultiWorkerMirroredStrategy`, and compares the chief's weights with a
one-process run to 1e-5. Every wait is bounded and every worker is killed on
the way out. The fault-tolerance test kills one worker mid-epoch, restarts
the job with `BackupAndRestore`, and expects the uninterrupted weights.
"""

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

JOB = pathlib.Path(__file__).with_name("multi_worker_job.py")
ROOT = JOB.parents[1]
TIMEOUT = 240


def free_ports(n):
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def env_for(ports, index):
    env = dict(os.environ)
    env["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )
    env["PYTHONPATH"] = str(ROOT)
    # One CPU device per worker: two replicas in all.
    env.pop("TF_XLA_FLAGS", None)
    return env


@contextlib.contextmanager
def workers(ports, out, extra=()):
    procs = []
    try:
        for index in range(len(ports)):
            args = [sys.executable, str(JOB), "--out", str(out)]
            for flag, per_worker in extra:
                value = per_worker(index)
                if value is not None:
                    args += [flag, value]
            procs.append(
                subprocess.Popen(
                    args,
                    env=env_for(ports, index),
                    cwd=str(ROOT),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def wait_all(procs, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    codes = []
    for proc in procs:
        remaining = max(1.0, deadline - time.monotonic())
        try:
            proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            pytest.fail(f"a worker did not finish within {timeout} s")
        codes.append(proc.returncode)
    return codes


def output_of(proc):
    return proc.stdout.read().decode(errors="replace")[-3000:]


def load(path):
    with np.load(path) as arrays:
        return [arrays[k] for k in sorted(arrays.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "weights.npz"
    result = subprocess.run(
        [sys.executable, str(JOB), "--out", str(out), "--single"],
        cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout.decode()[-3000:] + result.stderr.decode()[-3000:]
    return load(out)


def test_two_workers_match_one_process(single_process, tmp_path):
    out = tmp_path / "weights.npz"
    with workers(free_ports(2), out) as procs:
        codes = wait_all(procs)
        assert codes == [0, 0], "\n".join(output_of(p) for p in procs)
    for a, b in zip(single_process, load(out)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_killed_worker_restarted_with_backup_matches_uninterrupted(single_process, tmp_path):
    out = tmp_path / "weights.npz"
    backup = tmp_path / "backup"

    def backup_dir(index):
        # Keras' BackupAndRestore writes from every worker: one dir each.
        return str(backup / f"worker_{index}")

    ports = free_ports(2)
    with workers(ports, out, [("--backup", backup_dir),
                              ("--die-at", lambda i: "1,2" if i == 1 else None)]) as procs:
        deadline = time.monotonic() + TIMEOUT
        while procs[1].poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert procs[1].returncode == 17, output_of(procs[1])
        # The surviving worker cannot finish alone; the job is torn down.
    assert not out.exists()
    with workers(free_ports(2), out, [("--backup", backup_dir)]) as procs:
        codes = wait_all(procs)
        assert codes == [0, 0], "\n".join(output_of(p) for p in procs)
    for a, b in zip(single_process, load(out)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_unreachable_worker_fails_in_bounded_time(tmp_path):
    """TF_CONFIG names a second worker that never starts."""
    out = tmp_path / "weights.npz"
    ports = free_ports(2)
    env = env_for(ports, 0)
    env["KERAS_INVARIANCE_CLUSTER_TIMEOUT"] = "20"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(JOB), "--out", str(out)],
        env=env, cwd=str(ROOT), capture_output=True, timeout=TIMEOUT,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert elapsed < 120, f"took {elapsed:.0f} s to give up"
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    assert "Error" in text or "error" in text, text[-2000:]
