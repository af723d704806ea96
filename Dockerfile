# gridapp: one image for the dashboard (gunicorn), the job workers (celery) and the CLI (python -m gridapp).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PORT=8050 GUNICORN_WORKERS=2 GUNICORN_THREADS=4 GUNICORN_TIMEOUT=300 GUNICORN_KEEPALIVE=5 \
    GRIDAPP_DATA_ROOTS=/data GRIDAPP_CACHE_DIR=/cache GRIDAPP_MAX_CELLS=50000 GRIDAPP_MAX_GENES=5000 \
    NUMBA_CACHE_DIR=/cache/numba MPLCONFIGDIR=/cache/matplotlib

RUN useradd --create-home --uid 1000 gridapp && mkdir -p /data /cache && chown gridapp:gridapp /data /cache
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=gridapp:gridapp . .
# gridapp's Dask settings for `dask worker` in this image (compose.yaml's dask profile)
RUN mkdir -p /etc/dask && cp gridapp/core/dask.yaml /etc/dask/gridapp.yaml

USER gridapp
VOLUME ["/data", "/cache"]
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=5)"
# the same command tests/app/test_deploy.py runs outside Docker
CMD ["sh", "-c", "exec gunicorn app:server --bind 0.0.0.0:${PORT} --workers ${GUNICORN_WORKERS} --threads ${GUNICORN_THREADS} --timeout ${GUNICORN_TIMEOUT} --keep-alive ${GUNICORN_KEEPALIVE}"]
