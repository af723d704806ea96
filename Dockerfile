# gridapp: one container serving the dashboard (gunicorn) and the CLI (python -m gridapp).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GUNICORN_WORKERS=2 GUNICORN_THREADS=4 GUNICORN_TIMEOUT=300 PORT=8050

RUN useradd --create-home --uid 1000 gridapp
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=gridapp:gridapp . .

USER gridapp
VOLUME ["/data", "/cache"]
EXPOSE 8050
CMD gunicorn app:server --bind 0.0.0.0:${PORT} --workers ${GUNICORN_WORKERS} \
    --threads ${GUNICORN_THREADS} --timeout ${GUNICORN_TIMEOUT}
