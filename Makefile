STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test lint unit bench fmt

# test: what CI runs (.ci/run). Starts throwaway servers, see scripts/test.sh.
test: lint unit

# vet and staticcheck type-check the race build that go test -race needs
# anyway, so a cold machine compiles the module's dependencies once, not
# twice (about 3 minutes saved on 2 cores). staticcheck itself is built
# without -race, into .bin/.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^bench/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet -race ./...
	GOBIN=$(CURDIR)/.bin go install $(STATICCHECK)
	GOFLAGS=-race .bin/staticcheck ./...

unit:
	./scripts/test.sh

bench:
	go test -run '^$$' -bench Dispatcher -benchmem -count 6 -benchtime 200000x . | tee bench.txt

fmt:
	gofmt -w $$(git ls-files '*.go')
