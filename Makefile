# tenantcheck — see README.md. Every target is idempotent.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

CACHE      ?= $(or $(TENANTCHECK_CACHE),/var/cache/tenantcheck)
BIN        := $(CACHE)/bin/local
CLUSTER    := cd hack/localcluster && go run .
LOCAL_KUBECONFIG ?= /var/lib/tenantcheck-cluster/admin.kubeconfig
# The local cluster imports the probe image; nothing is ever pulled.
export TENANTCHECK_PROBE_IMAGE ?= tenantcheck.local/probe:dev
export TENANTCHECK_IMAGE_PULL_POLICY ?= Never

.PHONY: run test unit live-cluster live-suites bench build cluster-up cluster-down cluster-status \
        cluster-upgrade cluster-verify-clean cluster-build fmt vet kind-up kind-test kind-down upgrade-drill bench-tenants

## run: the main job. Without KUBECONFIG, start the local cluster and test it.
run: build
	@if [ -z "$${KUBECONFIG:-}" ]; then $(MAKE) --no-print-directory cluster-up; export KUBECONFIG=$(LOCAL_KUBECONFIG); fi; \
	  $(BIN)/tenantcheck run $(ARGS)

## test: unit tests, the local cluster's own live tests, then the live suites.
## The suite packages run one at a time (-p 1): they share one cluster, and one
## switches its profile or asserts that no tenantcheck namespace is left.
test: unit live-cluster live-suites

unit:
	go vet ./...
	go test ./internal/... ./probes/... ./cmd/... ./kind-config/...
	cd hack/localcluster && go vet ./... && go test -run 'Test[^L]' ./...

live-cluster:
	cd hack/localcluster && go test -count=1 -timeout 60m -v -run 'TestLive' .

## Every suite runs with denied connections rejected (kube-router's way),
## then the suites that probe the network again with them dropped (as on
## Calico, Cilium, kindnetd: DENY=drop).
SUITE_ENV := PATH=$(CACHE)/bin/kubernetes-v1.37.2:$$PATH KUBECONFIG=$(LOCAL_KUBECONFIG) TENANTCHECK_LOCAL_CLUSTER=1
## In the drop pass, the audit suite runs only its tests whose verdicts
## depend on how denied connections fail (its cleanup, --no-pods, admin-tier
## and exit-code tests do not; they ran in the reject pass).
DROP_AUDIT := ^Test(AuditRealTenants|AuditJudgesTenantsWorkloads|TenantAtQuotaErrsOnlyItsPaths)$$
## The network suite's drop pass leaves out the 20-tenant pair-plan test: what it
## proves (all and ring both catch an opened tenant) does not depend on how
## denied connections fail, and with every denied path timing out it takes
## over two minutes.
DROP_NETWORK_SKIP := ^TestOpenedTenantIsCaughtUnderAllAndRing$$
live-suites:
	$(MAKE) --no-print-directory cluster-up DENY=reject
	rc=0; $(SUITE_ENV) TENANTCHECK_DENY=reject go test -p 1 -count=1 -timeout 30m -v ./suites/... || rc=$$?; \
	  if $(MAKE) --no-print-directory cluster-up DENY=drop; then \
	    $(SUITE_ENV) TENANTCHECK_DENY=drop go test -p 1 -count=1 -timeout 20m -v -skip '$(DROP_NETWORK_SKIP)' ./suites/network/ || rc=$$?; \
	    $(SUITE_ENV) TENANTCHECK_DENY=drop go test -p 1 -count=1 -timeout 20m -v -run '$(DROP_AUDIT)' ./suites/audit/ || rc=$$?; \
	  else rc=1; fi; \
	  $(MAKE) --no-print-directory cluster-down cluster-verify-clean; exit $$rc

## bench: a full network-layer run split into phases next to its floor, the
## three API layers (Pod Security, quota, RBAC) for two tenants, and a watch's
## rounds per second.
## Then, in each DENY mode, 20 baseline runs must show 0 Broken and 0 Error.
bench:
	$(MAKE) --no-print-directory cluster-up DENY=reject
	KUBECONFIG=$(LOCAL_KUBECONFIG) TENANTCHECK_DENY=reject go test -p 1 -count=1 -run '^$$' -bench 'NetworkLayer|APILayers' -benchtime 3x ./suites/...
	KUBECONFIG=$(LOCAL_KUBECONFIG) TENANTCHECK_DENY=reject go test -count=1 -run '^$$' -bench WatchRounds -benchtime 1x ./suites/network/
	KUBECONFIG=$(LOCAL_KUBECONFIG) TENANTCHECK_DENY=reject go test -count=1 -run '^$$' -bench BaselineTally -benchtime 20x -timeout 30m ./suites/network/
	$(MAKE) --no-print-directory cluster-up DENY=drop
	KUBECONFIG=$(LOCAL_KUBECONFIG) TENANTCHECK_DENY=drop go test -count=1 -run '^$$' -bench NetworkLayer -benchtime 3x ./suites/network/
	KUBECONFIG=$(LOCAL_KUBECONFIG) TENANTCHECK_DENY=drop go test -count=1 -run '^$$' -bench WatchRounds -benchtime 1x ./suites/network/
	KUBECONFIG=$(LOCAL_KUBECONFIG) TENANTCHECK_DENY=drop go test -count=1 -run '^$$' -bench BaselineTally -benchtime 20x -timeout 30m ./suites/network/
	$(MAKE) --no-print-directory cluster-up DENY=reject

## bench-tenants: all five layers against TENANTS provisioned tenants each;
## prints the scaling table the README shows.
TENANTS ?= 2,5,20
PAIRS ?= all
bench-tenants:
	$(MAKE) --no-print-directory cluster-up DENY=reject
	$(SUITE_ENV) TENANTCHECK_DENY=reject TENANTCHECK_BENCH_TENANTS=$(TENANTS) TENANTCHECK_BENCH_PAIRS=$(PAIRS) go test -count=1 -run '^$$' -bench '^BenchmarkTenants$$' -benchtime 1x -timeout 60m ./suites/network/

build:
	CGO_ENABLED=0 go build -o $(BIN)/tenantcheck ./cmd/tenantcheck

## upgrade-drill: run on v1.36.3, upgrade the local cluster to v1.37.2, run
## again, and print what changed. A broken layer (exit 1) does not stop the drill.
DRILL := $(CACHE)/upgrade-drill
upgrade-drill: build
	mkdir -p $(DRILL)
	$(MAKE) --no-print-directory cluster-down
	$(MAKE) --no-print-directory cluster-up K8S_VERSION=v1.36.3
	KUBECONFIG=$(LOCAL_KUBECONFIG) $(BIN)/tenantcheck run -o json --output-file $(DRILL)/before.json || [ $$? -eq 1 ]
	$(MAKE) --no-print-directory cluster-upgrade K8S_VERSION=v1.37.2
	KUBECONFIG=$(LOCAL_KUBECONFIG) $(BIN)/tenantcheck run -o json --output-file $(DRILL)/after.json || [ $$? -eq 1 ]
	$(BIN)/tenantcheck diff $(DRILL)/before.json $(DRILL)/after.json

## kind + Calico (needs Docker and kind; not available on the project's own machines).
KIND_CONFIG   ?= kind-config/calico.yaml
KIND_NAME     ?= tenantcheck-calico
CALICO_VERSION ?= v3.29.1
RUNNER_IMAGE  ?= tenantcheck.local/tenantcheck:dev
CALICO_MANIFEST ?= https://raw.githubusercontent.com/projectcalico/calico/$(CALICO_VERSION)/manifests/calico.yaml
kind-up:
	kind create cluster --config $(KIND_CONFIG) --name $(KIND_NAME)
	kubectl --context kind-$(KIND_NAME) apply -f $(CALICO_MANIFEST)
	kubectl --context kind-$(KIND_NAME) -n kube-system rollout status daemonset/calico-node --timeout=5m
	docker build -f images/probe/Dockerfile -t $(TENANTCHECK_PROBE_IMAGE) .
	kind load docker-image $(TENANTCHECK_PROBE_IMAGE) --name $(KIND_NAME)
	# The runner too, under the name deploy/local uses: `kubectl apply -k
	# deploy/local` then runs the CronJob on kind as on the local cluster.
	docker build -t $(RUNNER_IMAGE) .
	kind load docker-image $(RUNNER_IMAGE) --name $(KIND_NAME)
kind-test:
	kubectl config use-context kind-$(KIND_NAME)
	go test -p 1 -count=1 -timeout 30m -v ./suites/...
kind-down:
	kind delete cluster --name $(KIND_NAME)

cluster-up:
	$(CLUSTER) up
cluster-down:
	$(CLUSTER) down
cluster-status:
	$(CLUSTER) status
cluster-upgrade:
	$(CLUSTER) upgrade
cluster-verify-clean:
	$(CLUSTER) verify-clean
cluster-build:
	$(CLUSTER) build

fmt:
	gofmt -w $$(git ls-files '*.go')
