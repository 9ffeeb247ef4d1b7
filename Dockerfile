# Multi-stage build of rategate's binaries. The runtime image holds only the binaries and CA
# certificates (the Kraken feed is wss://, REST is https://).
#   docker build -t rategate .
#   docker run --rm -e REDIS_URL=redis://host:6379 rategate exchange-rate-svc
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins \
 && mkdir /out \
 && cp target/release/exchange-rate-svc target/release/user-api-svc target/release/kraken-mock target/release/rategate /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 rategate
COPY --from=build /out/ /usr/local/bin/
USER rategate
ENV RUST_LOG=info
CMD ["exchange-rate-svc"]
