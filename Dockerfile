# syntax=docker/dockerfile:1
# Build stage: resolve the locked dependencies into a virtual environment with uv.
FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev

# Runtime stage: only the environment and the files the bot reads, as a non-root user.
FROM python:3.11-slim-bookworm
RUN groupadd --system forever && useradd --system --gid forever --home-dir /app forever \
    && mkdir -p /app/data && chown forever:forever /app/data
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY --from=build /app/src /app/src
COPY bot.py catalog.toml ./
COPY message_templates ./message_templates
COPY locales ./locales
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 \
    DATABASE_URL="sqlite+aiosqlite:////app/data/forever.db" \
    WEB_HOST=0.0.0.0 WEB_PORT=8080 \
    METRICS_HOST=127.0.0.1 METRICS_PORT=9464
USER forever
# Only the web server is meant to be published. /metrics listens on METRICS_PORT, inside the
# container only; to scrape it, set METRICS_HOST=0.0.0.0 and reach it from a private network
# (docker-compose.yml) or publish it on loopback: -p 127.0.0.1:9464:9464.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)" || exit 1
CMD ["python", "bot.py", "run"]
