# The psqlqueue HTTP sidecar.
#   docker build -t psqlqueue .
#   docker run --rm -e PSQLQUEUE_DATABASE_URL=... psqlqueue migrate
#   docker run --rm -e PSQLQUEUE_DATABASE_URL=... -p 8000:8000 -p 9090:9090 psqlqueue server
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p psqlqueue-http

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home psqlqueue
COPY --from=builder /src/target/release/psqlqueue /usr/local/bin/psqlqueue
USER psqlqueue
EXPOSE 8000 9090
ENTRYPOINT ["/usr/local/bin/psqlqueue"]
CMD ["server"]
