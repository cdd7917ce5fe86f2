module github.com/gonotify/notify/channel/apns

go 1.26.0

require (
	github.com/gonotify/notify v0.0.0-00010101000000-000000000000
	github.com/google/uuid v1.6.0
	github.com/sideshow/apns2 v0.25.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/net v0.42.0
)

require (
	github.com/golang-jwt/jwt/v4 v4.5.2 // indirect
	go.opentelemetry.io/otel v1.35.0 // indirect
	go.opentelemetry.io/otel/metric v1.35.0 // indirect
	go.opentelemetry.io/otel/trace v1.35.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.40.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)

replace github.com/gonotify/notify => ../..
