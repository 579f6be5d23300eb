# oms-bridge service image: slim Python, non-root, `oms-bridge serve` on port 8080.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY oms_bridge ./oms_bridge
COPY gis_import ./gis_import
COPY config ./config
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 oms
COPY --from=build /install /usr/local
COPY config /app/config
WORKDIR /app
ENV OMS_BRIDGE_HOST=0.0.0.0 \
    OMS_BRIDGE_PORT=8080 \
    OMS_BRIDGE_DATA_DIR=/app/data \
    PYTHONUNBUFFERED=1
RUN mkdir -p /app/data && chown oms:oms /app/data
USER oms
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OMS_BRIDGE_PORT','8080'), timeout=2)" || exit 1
ENTRYPOINT ["oms-bridge"]
CMD ["serve", "--config", "/app/config/default.toml"]
