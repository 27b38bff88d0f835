# syntax=docker/dockerfile:1.4
#
# An air-gapped Elastic Package Registry: Debian's nginx + njs serving one eprgen build, routed
# exactly like `eprgen serve` (see README, "Serving the tree without eprgen"). The image holds
# one build and is pinned by its id; it needs nothing from outside at run time.
#
#   eprgen build --packages packages --tag 8.15.0 --out public
#   id=$(basename "$(readlink public)")
#   docker build -f docker/mirror.Dockerfile --build-context tree="$(readlink -f public)" \
#     --build-arg BUILD_ID="$id" --build-arg STACK_VERSION=8.15.0 \
#     -t epr-mirror:"$id" -t epr-mirror:8.15.0 .
#   docker run -d -p 8080:8080 epr-mirror:"$id"     # then xpack.fleet.registryUrl: http://host:8080
#
# The build context is this repository (for the eprgen binary that writes the nginx
# configuration); the named context `tree` is the build folder itself (the target of the
# output link, not the link).

ARG DEBIAN_RELEASE=bookworm

FROM rust:1-${DEBIAN_RELEASE} AS eprgen
WORKDIR /src
COPY . .
RUN cargo build --release --locked && install -m 0755 target/release/eprgen /usr/local/bin/eprgen

FROM debian:${DEBIAN_RELEASE}-slim
ARG BUILD_ID
ARG STACK_VERSION=""
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx libnginx-mod-http-js libnginx-mod-http-brotli-static \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY --from=eprgen /usr/local/bin/eprgen /usr/local/bin/eprgen
COPY --from=tree . /srv/epr/public/
# The configuration is generated for this very tree, and the tree must be the build named.
RUN set -e; \
    if [ -z "$BUILD_ID" ]; then echo "--build-arg BUILD_ID=<build id> is required" >&2; exit 1; fi; \
    eprgen routes nginx --root /srv/epr/public --listen 8080 --js /etc/nginx/eprgen-router.js \
      > /etc/nginx/conf.d/eprgen.conf; \
    if ! grep -q "made for build $BUILD_ID;" /etc/nginx/conf.d/eprgen.conf; then \
      echo "the tree is not build $BUILD_ID" >&2; exit 1; \
    fi; \
    nginx -t
LABEL org.opencontainers.image.title="Elastic Package Registry mirror (eprgen)" \
      org.opencontainers.image.version="${STACK_VERSION}" \
      io.eprgen.build-id="${BUILD_ID}" \
      io.eprgen.stack-version="${STACK_VERSION}"
EXPOSE 8080
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=3s \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
CMD ["nginx", "-g", "daemon off;"]
