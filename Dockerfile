ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WEB_CONCURRENCY=2

WORKDIR /app

# Dependencies first so code changes reuse the cached layer. A base image that already
# carries them (an offline Debian python base in tests, no pip or network) builds with
# --build-arg INSTALL_REQUIREMENTS=false.
ARG INSTALL_REQUIREMENTS=true
COPY api/requirements.txt .
RUN if [ "$INSTALL_REQUIREMENTS" = true ]; then pip install --no-cache-dir -r requirements.txt; fi \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

COPY api/*.py ./

# Numeric so runtimes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# The slim image has no curl; urlopen raises (exit 1) on any error or non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

# With several workers uvicorn exits 0 when they fail to start, so the credentials are
# checked first ("import main" exits 3 with a message); exec keeps uvicorn as PID 1.
# Workers come from WEB_CONCURRENCY, which uvicorn reads itself.
CMD ["sh", "-c", "python -c 'import main' && exec uvicorn main:app --host 0.0.0.0 --port 8000 --proxy-headers --forwarded-allow-ips='*' --loop uvloop --http httptools --no-access-log"]
