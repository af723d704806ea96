"""The health endpoint a container orchestrator polls."""

from __future__ import annotations

from gridapp.app.queue import job_manager
from gridapp.app.server import create_app


def test_health_is_ok_with_local_jobs_and_a_writable_cache(tmp_path):
    client = create_app(cache_dir=tmp_path, beeline_root=None).server.test_client()
    reply = client.get("/healthz")
    assert reply.status_code == 200 and reply.json == {"status": "ok", "jobs": "local", "problems": []}


def test_health_fails_when_the_job_queue_is_unreachable(tmp_path):
    jobs = job_manager(tmp_path, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    jobs.handle.conf.redis_socket_connect_timeout = 1
    reply = create_app(cache_dir=tmp_path, beeline_root=None, jobs=jobs).server.test_client().get("/healthz")
    assert reply.status_code == 503 and reply.json["jobs"] == "celery"
    assert reply.json["problems"][0].startswith("job queue unreachable")
