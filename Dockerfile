# Hazelnut: one static binary, every role a subcommand.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/hazelnut ./cmd/hazelnut

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hazelnut /usr/local/bin/hazelnut
ENTRYPOINT ["/usr/local/bin/hazelnut"]
