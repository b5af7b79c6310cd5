# syntax=docker/dockerfile:1
# Palaver in a container: built from source in a Rust image, run from a small distroless image as a
# non-root user, data (SQLite database, generated certificate, admin token, uploaded files) on a volume.
#
#   docker build -t palaver .
#   docker run -d --name palaver -v palaver-data:/var/lib/palaver \
#     -p 8080:8080 -p 8443:8443 -p 5280:5280 -p 5291:5291 -p 5222:5222 -p 5223:5223 palaver
#
# Configuration: PALAVER_* environment variables, or a file mounted at /etc/palaver/palaver.toml and
# named with PALAVER_CONFIG. The admin commands run in the same container:
#   docker exec palaver palaver app list

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p palaver --bin palaver \
    && cp target/release/palaver /palaver \
    && mkdir -p /data

# glibc and libgcc, no shell, uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /palaver /usr/local/bin/palaver
COPY --from=build --chown=65532:65532 /data /var/lib/palaver
ENV PALAVER_DATA_DIR=/var/lib/palaver
VOLUME /var/lib/palaver
USER 65532:65532
# REST (HTTP, HTTPS), XMPP over WebSocket (ws, wss), XMPP over TCP (STARTTLS, direct TLS).
EXPOSE 8080 8443 5280 5291 5222 5223
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/palaver"]
CMD ["serve"]
