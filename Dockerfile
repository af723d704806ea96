# gridapp: one image for the dashboard (gunicorn), the job workers (celery) and the CLI (python -m gridapp).
# The base is pinned by digest (python:3.11-slim, 3.11.16); to move to a newer one, read the tag's current digest
# with `docker buildx imagetools inspect python:3.11-slim` and rebuild.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PORT=8050 GUNICORN_WORKERS=2 GUNICORN_THREADS=4 GUNICORN_TIMEOUT=300 GUNICORN_KEEPALIVE=5 \
    GRIDAPP_DATA_ROOTS=/data GRIDAPP_CACHE_DIR=/cache GRIDAPP_MAX_CELLS=50000 GRIDAPP_MAX_GENES=5000 \
    NUMBA_CACHE_DIR=/cache/numba MPLCONFIGDIR=/cache/matplotlib DASK_TEMPORARY_DIRECTORY=/cache/dask

RUN useradd --create-home --uid 1000 gridapp && mkdir -p /data /cache && chown gridapp:gridapp /data /cache
WORKDIR /app
# The pinned dependencies first (a layer that changes only with them), then gridapp itself.
COPY requirements.txt .
RUN grep -v '^-e ' requirements.txt > /tmp/pins.txt && pip install --no-cache-dir -r /tmp/pins.txt && rm /tmp/pins.txt
# The code belongs to root and only root may write it: the runtime user reads it and writes only /cache.
# gridapp is installed editable, here in /app, so that every process (gunicorn, the Celery pool, the Dask
# workers a job spawns, `dask worker`) imports this one copy and finds data/ (TF lists, demo) and assets/
# beside it, as gridapp/jobs/params.py and gridapp/app/server.py expect; a wheel in site-packages would
# hold neither. Bytecode is compiled here, as the code's folders are not writable at run time. /etc/dask gets
# gridapp's Dask settings for `dask worker` in this image (compose.yaml's dask profile).
COPY . .
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e . \
    && python -m compileall -q gridapp app.py \
    && chmod -R go-w /app \
    && mkdir -p /etc/dask && cp gridapp/core/dask.yaml /etc/dask/gridapp.yaml

USER gridapp
VOLUME ["/data", "/cache"]
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=5)"
# the same command tests/app/test_deploy.py runs outside Docker
CMD ["sh", "-c", "exec gunicorn app:server --bind 0.0.0.0:${PORT} --workers ${GUNICORN_WORKERS} --threads ${GUNICORN_THREADS} --timeout ${GUNICORN_TIMEOUT} --keep-alive ${GUNICORN_KEEPALIVE}"]
