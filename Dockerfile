# Multi-stage build of rategate's binaries. The runtime image holds only the binaries and CA
# certificates (the Kraken feed is wss://, REST is https://).
#   docker build -t rategate .
#   docker run --rm -p 8080:8080 -v rategate-data:/data rategate        # all-in-one, zero setup
#   docker run --rm -e REDIS_URL=redis://host:6379 rategate exchange-rate-svc
# The web app (web/: TypeScript, Vite) is built in a Node stage; the Rust build embeds that
# output (RATEGATE_WEB_DIST) instead of running npm itself.
FROM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN RATEGATE_WEB_OUT=/web-dist npm run build

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=web /web-dist /web-dist
ENV RATEGATE_WEB_DIST=/web-dist
RUN cargo build --release --locked --bins \
 && mkdir /out \
 && cp target/release/exchange-rate-svc target/release/user-api-svc target/release/kraken-mock target/release/rategate /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 rategate
COPY --from=build /out/ /usr/local/bin/
RUN mkdir /data && chown rategate /data
USER rategate
# The all-in-one defaults: listen on every interface inside the container, keep the SQLite
# database, JWT secret and bootstrapped admin in the /data volume. docker-compose.yml runs the
# separate services instead.
ENV RUST_LOG=info HTTP_ADDR=0.0.0.0:8080 RATEGATE_DATA_DIR=/data
VOLUME /data
CMD ["rategate"]
