# The runner image: tenantcheck itself, for the in-cluster CronJob.
#   docker build -t <registry>/tenantcheck:<version> --build-arg VERSION=<version> .
# Static, non-root, and runs with a read-only root filesystem.
FROM golang:1.26 AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/tenantcheck/tenantcheck/internal/cli.Version=${VERSION}" \
      -o /tenantcheck ./cmd/tenantcheck

FROM scratch
COPY --from=build /tenantcheck /tenantcheck
USER 65532:65532
ENTRYPOINT ["/tenantcheck"]
CMD ["run"]
