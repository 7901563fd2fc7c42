# Web server and CPU worker image. Build: docker build -t services .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    SERVICES_VAR_DIR=/app/var \
    SERVICES_DATA_ROOT=/app/data \
    SERVICES_MODELS_ROOT=/app/models

WORKDIR /app

# The CPU build of torch comes from PyTorch's CPU index (the constraints pin +cpu).
COPY requirements/ requirements/
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu \
        -r requirements/base.txt -c requirements/constraints.txt

COPY Services/ Services/

RUN groupadd --system --gid 1000 services \
    && useradd --system --uid 1000 --gid services --home-dir /app services \
    && mkdir -p /app/var /app/data /app/models \
    && chown -R services:services /app/var /app/data /app/models \
    && SERVICES_VAR_DIR=/tmp/collect python Services/manage.py collectstatic --no-input -v 0 \
    && mkdir -p /app/var/static && cp -r /tmp/collect/static/. /app/var/static/ && rm -rf /tmp/collect

USER 1000:1000
WORKDIR /app/Services
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]

CMD ["gunicorn", "services_project.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "600"]
