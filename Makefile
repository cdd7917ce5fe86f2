STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Every package of every module in go.work (the core and the modules beside
# it: channels, postgres, sqs, redis, fault, examples; bench/ is built on its
# own, GOWORK=off, so River does not raise the others' versions).
PKGS := github.com/gonotify/notify/...

.PHONY: test lint mods unit bench fmt chaos

# test: what CI runs (.ci/run). Starts throwaway servers, see scripts/test.sh.
test: lint unit

# vet and staticcheck type-check the race build that go test -race needs
# anyway, so a cold machine compiles the module's dependencies once, not
# twice (about 3 minutes saved on 2 cores). staticcheck itself is built
# without -race, into .bin/.
lint: mods
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^bench/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet -race $(PKGS)
	GOBIN=$(CURDIR)/.bin go install $(STATICCHECK)
	GOFLAGS=-race .bin/staticcheck $(PKGS)

# mods: each module's go.mod names everything its packages and tests import,
# so it builds on its own (as a user's go get sees it), not only inside go.work.
mods:
	@for m in $$(go list -m -f '{{.Dir}}') $(CURDIR)/bench; do (cd $$m && GOWORK=off go list -deps -test ./... >/dev/null) || { echo "go.mod of $$m is incomplete: cd $$m && GOWORK=off go mod tidy"; exit 1; }; done

unit:
	./scripts/test.sh

bench:
	go test -run '^$$' -bench Dispatcher -benchmem -count 6 -benchtime 200000x . | tee bench.txt

fmt:
	gofmt -w $$(git ls-files '*.go')

# chaos: the full fault suite (fault/): 3 rounds x 10,000 notifications on
# memory and on PostgreSQL under connection kills, lost commit replies,
# SIGKILLs and a panicking and a hanging channel. make test runs a short
# version. Needs NOTIFY_TEST_POSTGRES_URL for the PostgreSQL half.
chaos:
	NOTIFY_FAULT_SCALE=full go test -race -count=1 -timeout 60m -run TestFault -v github.com/gonotify/notify/fault
