# authz-gateway's image: a static binary on an empty base, run as a non-root
# user, with the CA certificates for TLS to PostgreSQL, Redis or an identity
# provider. Build it with `docker build -t authz-gateway .` (or podman).
#
# The release stage takes the binary from the build stage; where no registry
# can be reached (CI here), scripts/image.sh builds the binary on the host
# and runs the same release stage with --build-context build=.tmp/image.

FROM docker.io/library/golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/authz-gateway . && \
    mkdir -p /out/etc/ssl/certs && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

FROM scratch AS release
COPY --from=build /out/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/authz-gateway /authz-gateway
# nobody:nogroup; no shell, no package manager, nothing but the binary.
USER 65534:65534
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/authz-gateway"]
CMD ["serve"]
