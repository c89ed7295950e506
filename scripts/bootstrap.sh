#!/usr/bin/env bash
# Installs everything `make up` and `make test` need, idempotently, and caches what is slow.
#
#   scripts/bootstrap.sh [venv] [cli] [language] [plugins] [docker] [keycloak] [image] [optimized]
#                         [postgres] [actionlint] [peers] [netbird] [sshd]   (default: all but
#                         sshd, which the tests add)
#   scripts/bootstrap.sh --stack NAME   what that stack needs: no images it does not use
#   scripts/bootstrap.sh --print-steps [--stack NAME | STEP...]   the steps it would run, in order
#
# A step runs after the steps it needs (NEEDS below), also when it is named alone.
#
# A warm run (every step named done before with the same inputs, and what each left still
# there) is answered from a stamp in $CACHE/stamps without running any tool: see warm_path.
#
# Each piece is taken from the best source that works on this machine, in this order:
#   CLI:      cached -> `pulumi` on PATH at the pinned version (GitHub's runners: the official
#             CLI that pulumi/actions installs) -> official download, only with its pinned
#             sha256 (PULUMI_CLI_SHA256) -> built from the Go module proxy (toolchain/pulumi-cli
#             wrapper module; go.sum pins every module).
#   language: the Python language host next to the CLI (the official CLI ships it) -> built
#             from its source snapshot.
#   plugins:  the real plugin already installed -> `pulumi plugin install` (official download) ->
#             built from the source snapshot in $NETBIRD_KEYCLOAK_SOURCES (checked against its
#             SHA256SUMS, cached by checksum). Nothing else: no snapshot, no plugin.
#   docker:   a running engine -> Debian's docker.io started for the tests.
#   keycloak: the distribution from Maven Central, its sha256 pinned (for the native Keycloak
#             the tests start, and the image built locally).
#   image:    present locally -> pulled from quay.io -> built locally (debootstrap + JRE + dist).
#   optimized: the image above after `kc.sh build` for Postgres (production `start --optimized`).
#   postgres: present locally -> pulled from Docker Hub -> built locally (debootstrap +
#             Debian's postgresql-15 + toolchain/postgres/docker-entrypoint.sh).
#   netbird:  NetBird's combined server (management, signal, relay, embedded IdP) built from its
#             source snapshot, for the end-to-end tests of connector mode.
#   peers:    OpenTofu from the Go module proxy (toolchain/opentofu) and terraform-provider-keycloak
#             from the keycloak snapshot's upstream/, for `make bench-peers` and its test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${NETBIRD_KEYCLOAK_CACHE:-$HOME/.cache/netbird-keycloak}
# The CLI's version is declared once, in .pulumi-version (pulumi/actions reads it in the workflows).
PULUMI_VERSION=$(<"$ROOT/.pulumi-version")
# The official CLI tarball's sha256 (from pulumi-$PULUMI_VERSION-checksums.txt). Left empty: this
# machine cannot reach get.pulumi.com to check it, and an unchecked download is not taken; the CLI
# is then built from the Go module proxy, whose modules go.sum pins.
PULUMI_CLI_SHA256=
ACTIONLINT_VERSION=v1.7.12
NETBIRD_VERSION=0.77.1
NETBIRD_SERVER=$CACHE/netbird-$NETBIRD_VERSION/netbird-server
KEYCLOAK_VERSION=26.7.3
# The distribution's sha256, pinned (it matches the .sha1 Maven Central publishes beside it).
KEYCLOAK_SHA256=77657f30b7e90d70f727712ce1c967f430fd6a5e9f458d32d8c6df0635345f47
KEYCLOAK_IMAGE=${KEYCLOAK_IMAGE:-netbird-keycloak/keycloak:$KEYCLOAK_VERSION}
OFFICIAL_IMAGE=quay.io/keycloak/keycloak:$KEYCLOAK_VERSION
# Build-time options of the production image; components/settings.py names the same tag.
OPTIMIZED_IMAGE=$KEYCLOAK_IMAGE-postgres-optimized
OPTIMIZED_BUILD=(--db=postgres --health-enabled=true --metrics-enabled=true)
POSTGRES_IMAGE=netbird-keycloak/postgres:15
OFFICIAL_POSTGRES_IMAGE=docker.io/library/postgres:15-bookworm
CLI_DIR=$CACHE/pulumi-v$PULUMI_VERSION/bin
export PULUMI_HOME=${PULUMI_HOME:-$ROOT/.pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
VENV=$ROOT/.venv

step_start=0
step() { step_start=$(date +%s); printf '==> %s\n' "$*"; }
done_step() { printf '    %s (%ss)\n' "$*" "$(( $(date +%s) - step_start ))"; }
fail() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

do_venv() {
  step "Python virtualenv .venv: requirements.lock (hashes checked), and this project installed editable"
  local stamp=$VENV/.requirements.sha
  local want; want=$( (cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml"; echo "$ROOT") | sha256sum | cut -c1-16)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    done_step "up to date"; return
  fi
  python3 -m venv "$VENV"
  # Every package pinned with its hashes: a changed file on the index is refused, not installed.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --timeout 60 --require-hashes \
    -r "$ROOT/requirements.lock"
  # components/, netbird_keycloak/ (the netbird-keycloak command) and bench/, from this folder,
  # built with the locked setuptools (no isolated build fetching an unhashed one).
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    -e "$ROOT"
  echo "$want" > "$stamp"
  done_step "installed"
}

cli_ok() { [ -x "$1/pulumi" ] && [ "$("$1/pulumi" version 2>/dev/null)" = "v$PULUMI_VERSION" ]; }

do_cli() {
  step "Pulumi CLI v$PULUMI_VERSION"
  if cli_ok "$CLI_DIR"; then done_step "cached in $CLI_DIR"; return; fi
  local on_path; on_path=$(command -v pulumi || true)
  if [ -n "$on_path" ] && cli_ok "$(dirname "$on_path")"; then
    # Linked, not copied: the CLI finds its language hosts beside its own file (do_language).
    mkdir -p "$CLI_DIR"; ln -sf "$(readlink -f "$on_path")" "$CLI_DIR/pulumi"
    done_step "using $on_path"; return
  fi
  mkdir -p "$CLI_DIR"
  local tgz=$CACHE/dl/pulumi-v$PULUMI_VERSION-linux-x64.tar.gz
  mkdir -p "$CACHE/dl"
  if [ -n "$PULUMI_CLI_SHA256" ] && curl -fsSL --connect-timeout 10 --max-time 600 -o "$tgz.part" \
      "https://get.pulumi.com/releases/sdk/pulumi-v$PULUMI_VERSION-linux-x64.tar.gz" 2>/dev/null &&
     [ "$(sha256sum "$tgz.part" | cut -d' ' -f1)" = "$PULUMI_CLI_SHA256" ]; then
    mv "$tgz.part" "$tgz"; tar -xzf "$tgz" -C "$CLI_DIR" --strip-components=1
    done_step "official download (sha256 checked)"; return
  fi
  rm -f "$tgz.part"
  echo "    no checked official download; building from the Go module proxy (cold: ~4 min)"
  command -v go >/dev/null || fail "no Go toolchain to build the Pulumi CLI; install Go 1.26+"
  # The same flags as Pulumi's release build; the version ldflag is what `pulumi version` reports.
  (cd "$ROOT/toolchain/pulumi-cli" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -p 2 -trimpath \
      -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
      -o "$CLI_DIR/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) >"$CACHE/cli-build.log" 2>&1 ||
    { tail -n 20 "$CACHE/cli-build.log" >&2; fail "the CLI build failed; log: $CACHE/cli-build.log"; }
  cli_ok "$CLI_DIR" || fail "the built CLI does not report v$PULUMI_VERSION"
  done_step "built $("$CLI_DIR/pulumi" version)"
}

plugin_version() {  # the version the installed Python SDK asks the engine for
  "$VENV/bin/python" - "$1" <<'PY'
import importlib.resources, json, sys
print(json.loads((importlib.resources.files(f"pulumi_{sys.argv[1]}") / "pulumi-plugin.json").read_text())["version"])
PY
}

# The plugin source snapshots (README: "Machines without internet"); any folder with the same files.
SOURCES=${NETBIRD_KEYCLOAK_SOURCES:-$ROOT/../shared/third_party}

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

# Checks ARCHIVE against the snapshot folder's SHA256SUMS; prints the first 16 hex digits of its
# checksum (the build cache key). Fails naming what is missing or different.
snapshot_sum() {
  local archive=$1 file=$SOURCES/$1 sums=$SOURCES/SHA256SUMS want have
  [ -f "$file" ] || fail "no source snapshot $file. Put the snapshots (and SHA256SUMS) in a folder and name it with NETBIRD_KEYCLOAK_SOURCES (README, 'Machines without internet')"
  [ -f "$sums" ] || fail "no $sums next to the snapshots: the archives cannot be checked"
  want=$(awk -v f="$archive" '$2 == f || $2 == "*"f {print $1}' "$sums")
  [ -n "$want" ] || fail "$sums lists no checksum for $archive"
  have=$(sha256sum "$file" | cut -d' ' -f1)
  [ "$want" = "$have" ] || fail "$file does not match $sums (sha256 $have, expected $want): a damaged or different snapshot"
  echo "${have:0:16}"
}

# Unpacks a checked snapshot into a fresh build folder; prints that folder.
unpack_snapshot() {
  local archive=$1 key=$2 work=$CACHE/build/${1%.tar.gz}-$2
  rm -rf "$work"; mkdir -p "$work"
  tar -xzf "$SOURCES/$archive" -C "$work" --strip-components=1
  echo "$work"
}

# schema-embed.json is generated, not committed: the schema with its version on top (generate.go).
embed_schema() {
  python3 - "$1" "$2" <<'PY'
import json, sys
folder, version = sys.argv[1:]
schema = json.load(open(f"{folder}/schema.json"))
json.dump({"version": version, **schema}, open(f"{folder}/schema-embed.json", "w"), separators=(",", ":"))
PY
}

# Builds pulumi-resource-NAME VERSION from its snapshot (cached by checksum); prints the binary.
build_plugin() {
  local name=$1 version=$2 archive=pulumi-$1-$2-source.tar.gz key bin work major
  key=$(snapshot_sum "$archive")
  bin=$CACHE/plugins/pulumi-resource-$name-$version-$key
  if is_elf "$bin"; then echo "$bin"; return; fi
  command -v go >/dev/null || fail "no Go toolchain to build the $name plugin; install Go 1.26+"
  echo "    building pulumi-resource-$name $version from $SOURCES/$archive (cold: ~2 min)" >&2
  work=$(unpack_snapshot "$archive" "$key")
  if [ -d "$work/patches" ]; then  # pulumi-docker's patches to its upstream (adds upstream/shim)
    for patch in "$work"/patches/*.patch; do
      patch -d "$work/upstream" -p1 --quiet < "$patch" || fail "patch $patch does not apply"
    done
  fi
  embed_schema "$work/provider/cmd/pulumi-resource-$name" "$version"
  major=v${version%%.*}
  mkdir -p "$CACHE/plugins"
  # The version ldflag must be set: the provider derives its major version from it.
  (cd "$work/provider" && CGO_ENABLED=0 go build -p 2 -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi-$name/provider/$major/pkg/version.Version=$version" \
      -o "$bin.part" "./cmd/pulumi-resource-$name") >"$CACHE/plugin-$name-build.log" 2>&1 ||
    { tail -n 20 "$CACHE/plugin-$name-build.log" >&2; fail "building the $name plugin failed; log: $CACHE/plugin-$name-build.log"; }
  mv "$bin.part" "$bin"
  rm -rf "$work"
  echo "$bin"
}

do_plugins() {
  local name version dir bin out
  for name in keycloak docker; do
    version=$(plugin_version "$name")
    step "resource plugin $name $version"
    dir=$PULUMI_HOME/plugins/resource-$name-v$version
    if is_elf "$dir/pulumi-resource-$name" && [ ! -e "$dir.partial" ]; then
      done_step "installed ($dir)"; continue
    fi
    # Whatever else is there (a half install, a script left by an older bootstrap) goes.
    "$CLI_DIR/pulumi" plugin rm resource "$name" "$version" --yes >/dev/null 2>&1 || true
    rm -rf "$dir" "$dir.partial" "$dir.lock"
    if timeout 60 "$CLI_DIR/pulumi" plugin install resource "$name" "$version" >/dev/null 2>&1 &&
       is_elf "$dir/pulumi-resource-$name"; then
      done_step "official plugin installed"; continue
    fi
    bin=$(build_plugin "$name" "$version")
    out=$("$CLI_DIR/pulumi" plugin install resource "$name" "$version" --file "$bin" 2>&1) ||
      fail "pulumi plugin install resource $name $version --file $bin failed: $out"
    is_elf "$dir/pulumi-resource-$name" || fail "the $name plugin did not land in $dir"
    done_step "installed, built from the source snapshot"
  done
}

# The Python language host goes next to the CLI, where the CLI looks for its bundled hosts, with
# the executor it runs and the dynamic-provider launcher (both plain files of the sdk module).
do_language() {
  step "Python language host v$PULUMI_VERSION (next to the CLI)"
  # Older bootstraps put a script in place of the host here, which the CLI would prefer.
  rm -f "$PULUMI_HOME/bin/pulumi-language-python" "$PULUMI_HOME/bin/pulumi-language-python-exec"
  # The CLI folder is per version: a host in it (official or built) belongs to this CLI.
  if is_elf "$CLI_DIR/pulumi-language-python" && [ -f "$CLI_DIR/pulumi-language-python-exec" ]; then
    done_step "installed in $CLI_DIR"; return
  fi
  # An official CLI on PATH (do_cli linked it) ships its host in its own folder.
  local official; official=$(dirname "$(readlink -f "$CLI_DIR/pulumi")")
  if is_elf "$official/pulumi-language-python" && [ -f "$official/pulumi-language-python-exec" ]; then
    local file; for file in pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python; do
      [ ! -e "$official/$file" ] || ln -sf "$official/$file" "$CLI_DIR/$file"
    done
    done_step "the official CLI's, in $official"; return
  fi
  local archive=pulumi-language-python-$PULUMI_VERSION-source.tar.gz key work host
  key=$(snapshot_sum "$archive")
  command -v go >/dev/null || fail "no Go toolchain to build the language host; install Go 1.26+"
  echo "    building pulumi-language-python from $SOURCES/$archive (cold: ~1 min)"
  work=$(unpack_snapshot "$archive" "$key")
  host=$work/sdk/python/cmd/pulumi-language-python
  # The snapshot's go.mod points pkg and sdk at folders of the pulumi repository that it lacks;
  # the same versions come from the module proxy instead.
  (cd "$host" &&
   go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
     -require "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" \
     -require "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" &&
   go mod tidy &&
   CGO_ENABLED=0 go build -p 2 -trimpath -tags osusergo,grpcnotrace \
     -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
     -o "$CLI_DIR/pulumi-language-python.part" .) >"$CACHE/language-build.log" 2>&1 ||
    { tail -n 20 "$CACHE/language-build.log" >&2; fail "building the language host failed; log: $CACHE/language-build.log"; }
  mv "$CLI_DIR/pulumi-language-python.part" "$CLI_DIR/pulumi-language-python"
  install -m 0644 "$work/sdk/python/cmd/pulumi-language-python-exec" "$CLI_DIR/pulumi-language-python-exec"
  install -m 0755 "$work/sdk/python/dist/pulumi-resource-pulumi-python" "$CLI_DIR/pulumi-resource-pulumi-python"
  rm -rf "$work"
  done_step "built from the source snapshot"
}

docker_ok() { docker info >/dev/null 2>&1; }

do_docker() {
  step "Docker engine"
  if docker_ok; then done_step "running ($(docker version --format '{{.Server.Version}}'))"; return; fi
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    fail "no Docker engine answers and this is not a Debian machine with root: start Docker"
  if ! command -v dockerd >/dev/null; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  # This sandbox allows neither iptables nor a bridge; containers use host networking here.
  # 9>&-: dockerd outlives this script and must not inherit the bootstrap lock, or every later
  # bootstrap (make test's second call among them) waits on it forever.
  nohup dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    >"$CACHE/dockerd.log" 2>&1 9>&- &
  for _ in $(seq 1 60); do docker_ok && break; sleep 1; done
  docker_ok || fail "dockerd did not start; see $CACHE/dockerd.log"
  done_step "started dockerd (log: $CACHE/dockerd.log)"
}

do_keycloak() {
  step "Keycloak $KEYCLOAK_VERSION distribution (Maven Central)"
  local home=$CACHE/keycloak-$KEYCLOAK_VERSION
  if [ -x "$home/bin/kc.sh" ]; then done_step "cached in $home"; return; fi
  local tgz=$CACHE/dl/keycloak-$KEYCLOAK_VERSION.tar.gz
  mkdir -p "$CACHE/dl"
  if [ ! -s "$tgz" ]; then
    curl -fsSL --connect-timeout 10 --max-time 600 -o "$tgz.part" "https://repo.maven.apache.org/maven2/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
    mv "$tgz.part" "$tgz"
  fi
  local have; have=$(sha256sum "$tgz" | cut -d' ' -f1)
  [ "$have" = "$KEYCLOAK_SHA256" ] ||
    { rm -f "$tgz"; fail "the Keycloak download has sha256 $have, not the pinned $KEYCLOAK_SHA256: removed; nothing was unpacked"; }
  tar -xzf "$tgz" -C "$CACHE"
  [ -x "$home/bin/kc.sh" ] || fail "unexpected archive layout in $tgz"
  done_step "unpacked to $home"
}

do_image() {
  step "Keycloak image $KEYCLOAK_IMAGE"
  if docker image inspect "$KEYCLOAK_IMAGE" >/dev/null 2>&1; then done_step "present"; return; fi
  if timeout 60 docker pull -q "$OFFICIAL_IMAGE" >/dev/null 2>&1; then
    docker tag "$OFFICIAL_IMAGE" "$KEYCLOAK_IMAGE"; done_step "pulled $OFFICIAL_IMAGE"; return
  fi
  echo "    no registry reachable; building from Debian packages and the Maven distribution"
  local rootfs=$CACHE/rootfs-keycloak
  debian_rootfs "$rootfs" openjdk-17-jre-headless,ca-certificates
  cp -a "$CACHE/keycloak-$KEYCLOAK_VERSION" "$rootfs/opt/keycloak"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]' --change 'CMD ["start-dev"]' \
    --change 'ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64' - "$KEYCLOAK_IMAGE" >/dev/null
  rm -rf "$rootfs"
  done_step "built locally"
}

# A minimal Debian bookworm root filesystem with PACKAGES, from the machine's own Debian mirror
# (the only one some machines reach).
debian_rootfs() {
  local rootfs=$1 packages=$2
  command -v debootstrap >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  local mirror; mirror=$( (grep -rhoE 'https?://[^[:space:]]+' /etc/apt/sources.list \
      /etc/apt/sources.list.d/ 2>/dev/null || true) | grep -E '/debian/?$' | head -n1)
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$packages" bookworm \
    "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$CACHE/debootstrap.log" 2>&1 ||
    fail "debootstrap failed; see $CACHE/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
}

# The label says which recipe made an image, so a changed recipe rebuilds it.
image_recipe() { docker image inspect -f '{{ index .Config.Labels "netbird-keycloak.recipe" }}' "$1" 2>/dev/null || true; }

do_optimized() {
  step "Keycloak production image $OPTIMIZED_IMAGE (kc.sh build ${OPTIMIZED_BUILD[*]})"
  local recipe; recipe=$( (docker image inspect -f '{{.Id}}' "$KEYCLOAK_IMAGE"; echo "${OPTIMIZED_BUILD[*]}") | sha256sum | cut -c1-16)
  if [ "$(image_recipe "$OPTIMIZED_IMAGE")" = "$recipe" ]; then done_step "present"; return; fi
  local builder=netbird-keycloak-image-build
  docker rm -f "$builder" >/dev/null 2>&1 || true
  docker run --name "$builder" --network none --entrypoint /opt/keycloak/bin/kc.sh \
    "$KEYCLOAK_IMAGE" build "${OPTIMIZED_BUILD[@]}" >"$CACHE/kc-build.log" 2>&1 ||
    fail "kc.sh build failed; see $CACHE/kc-build.log"
  docker commit --change 'ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]' --change 'CMD ["start", "--optimized"]' \
    --change "LABEL netbird-keycloak.recipe=$recipe" "$builder" "$OPTIMIZED_IMAGE" >/dev/null
  docker rm "$builder" >/dev/null
  done_step "built"
}

do_postgres() {
  step "Postgres image $POSTGRES_IMAGE (for keycloak:database postgres)"
  # The entry point and this recipe itself: changing either rebuilds the image.
  local recipe; recipe=$( (cat "$ROOT/toolchain/postgres/docker-entrypoint.sh"; declare -f do_postgres debian_rootfs) | sha256sum | cut -c1-16)
  local have; have=$(image_recipe "$POSTGRES_IMAGE")
  if [ "$have" = "$recipe" ] || [ "$have" = official ]; then done_step "present"; return; fi
  if timeout 60 docker pull -q "$OFFICIAL_POSTGRES_IMAGE" >/dev/null 2>&1; then
    printf 'FROM %s\nLABEL netbird-keycloak.recipe=official\n' "$OFFICIAL_POSTGRES_IMAGE" |
      docker build -q -t "$POSTGRES_IMAGE" - >/dev/null
    done_step "pulled $OFFICIAL_POSTGRES_IMAGE"; return
  fi
  echo "    no registry reachable; building from Debian's postgresql-15"
  local rootfs=$CACHE/rootfs-postgres
  debian_rootfs "$rootfs" postgresql-15
  install -m 0755 "$ROOT/toolchain/postgres/docker-entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' --change 'CMD ["postgres"]' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL netbird-keycloak.recipe=$recipe" - "$POSTGRES_IMAGE" >/dev/null
  rm -rf "$rootfs"
  done_step "built locally"
}

# Only for `make bench-peers` and its test: OpenTofu (the version toolchain/opentofu/go.mod
# requires) and terraform-provider-keycloak built from the upstream/ folder of the keycloak
# plugin's source snapshot (the version bench/peers/netbird.tf pins), in a filesystem mirror so
# that `tofu init` needs no registry.
do_peers() {
  local peers=$CACHE/peers wrapper=$ROOT/toolchain/opentofu
  local tofu_key version archive key work bin mirror
  step "peers (make bench-peers): OpenTofu and terraform-provider-keycloak"
  mkdir -p "$peers"
  # dev=no: a release build (without it the binary calls itself a -dev prerelease).
  local ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no"
  tofu_key=$( (cat "$wrapper/go.mod" "$wrapper/go.sum"; echo "$ldflags") | sha256sum | cut -c1-16)
  if [ "$(cat "$peers/tofu.key" 2>/dev/null)" != "$tofu_key" ] || ! is_elf "$peers/tofu"; then
    command -v go >/dev/null || fail "no Go toolchain to build OpenTofu; install Go 1.26+"
    echo "    building OpenTofu from the Go module proxy (toolchain/opentofu; cold: ~4 min)"
    # OpenTofu's go.mod has a replace directive, so `go install` refuses it: a wrapper module.
    (cd "$wrapper" && CGO_ENABLED=0 go build -p 2 -trimpath -ldflags "$ldflags" \
        -o "$peers/tofu.part" github.com/opentofu/opentofu/cmd/tofu) >"$CACHE/tofu-build.log" 2>&1 ||
      { tail -n 20 "$CACHE/tofu-build.log" >&2; fail "the OpenTofu build failed; log: $CACHE/tofu-build.log"; }
    mv "$peers/tofu.part" "$peers/tofu"
    echo "$tofu_key" > "$peers/tofu.key"
  fi
  version=$(sed -n '/keycloak = {/,/}/s/.*version *= *"\([0-9.]*\)".*/\1/p' "$ROOT/bench/peers/netbird.tf")
  [ -n "$version" ] || fail "bench/peers/netbird.tf pins no keycloak provider version"
  mirror=$peers/mirror/registry.opentofu.org/keycloak/keycloak/$version/linux_amd64
  bin=$mirror/terraform-provider-keycloak_v$version
  archive=pulumi-keycloak-$(plugin_version keycloak)-source.tar.gz
  key=$(snapshot_sum "$archive")
  if [ "$(cat "$peers/provider.key" 2>/dev/null)" != "$key" ] || ! is_elf "$bin"; then
    echo "    building terraform-provider-keycloak $version from $SOURCES/$archive (upstream/)"
    work=$(unpack_snapshot "$archive" "$key")
    grep -q "^## $version\b\|v$version" "$work/upstream/CHANGELOG.md" ||
      fail "the snapshot's upstream/ is not terraform-provider-keycloak $version (bench/peers/netbird.tf)"
    mkdir -p "$mirror"
    (cd "$work/upstream" && CGO_ENABLED=0 go build -p 2 -trimpath -ldflags "-s -w" -o "$bin.part" .) \
      >"$CACHE/tf-keycloak-build.log" 2>&1 ||
      { tail -n 20 "$CACHE/tf-keycloak-build.log" >&2; fail "the provider build failed; log: $CACHE/tf-keycloak-build.log"; }
    mv "$bin.part" "$bin"
    echo "$key" > "$peers/provider.key"
    rm -rf "$work"
  fi
  done_step "$(TF_CLI_CONFIG_FILE=/dev/null "$peers/tofu" version | head -n1), terraform-provider-keycloak $version in $peers"
}

# Only for the tests: the e2e test of an ssh:// docker:host runs its own sshd on loopback.
do_sshd() {
  step "OpenSSH server (tests of docker:host ssh://)"
  if [ -x /usr/sbin/sshd ]; then done_step "present"; return; fi
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    fail "no /usr/sbin/sshd: install openssh-server (the ssh:// remote-host test needs it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; } ||
    fail "installing openssh-server failed"
  done_step "installed Debian's openssh-server (its service is not started)"
}

do_actionlint() {
  step "actionlint $ACTIONLINT_VERSION (checks .github/workflows)"
  # actionlint checks the workflows' shell steps with shellcheck when it is on PATH.
  if ! command -v shellcheck >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
  fi
  if [ -x "$CACHE/bin/actionlint" ] && "$CACHE/bin/actionlint" -version | grep -qx "$ACTIONLINT_VERSION"; then
    done_step "cached"; return
  fi
  GOBIN=$CACHE/bin go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
    >"$CACHE/actionlint-build.log" 2>&1 || fail "actionlint build failed; see $CACHE/actionlint-build.log"
  done_step "built from the Go module proxy"
}

# NetBird's combined server (`netbird-server`, what getting-started.sh installs), for the e2e
# tests of connector mode. The desktop UI's wails fork is not on the module proxy and no server
# uses it, so its replace goes.
do_netbird() {
  step "NetBird $NETBIRD_VERSION combined server (tests of netbird:integration connector)"
  if is_elf "$NETBIRD_SERVER"; then done_step "built in $NETBIRD_SERVER"; return; fi
  local archive=netbird-$NETBIRD_VERSION-source.tar.gz key work
  key=$(snapshot_sum "$archive")
  command -v go >/dev/null || fail "no Go toolchain to build NetBird's server; install Go 1.26+"
  echo "    building netbird-server from $SOURCES/$archive (cold: ~4 min)"
  work=$(unpack_snapshot "$archive" "$key")
  mkdir -p "${NETBIRD_SERVER%/*}"
  (cd "$work" && go mod edit -dropreplace=github.com/wailsapp/wails/v3 &&
   GOFLAGS=-mod=mod CGO_ENABLED=1 go build -p 2 -ldflags "-s -w" -o "$NETBIRD_SERVER.part" ./combined) \
    >"$CACHE/netbird-build.log" 2>&1 ||
    { tail -n 20 "$CACHE/netbird-build.log" >&2; fail "building netbird-server failed; log: $CACHE/netbird-build.log"; }
  mv "$NETBIRD_SERVER.part" "$NETBIRD_SERVER"
  rm -rf "$work"
  done_step "built from the source snapshot"
}

# The steps a stack needs: the toolchain always; Docker and the images only as its settings use
# them (an existing Keycloak needs neither, the dev stack no Postgres or production image).
stack_steps() {
  local file=$1
  [[ $file == */* ]] || file=$ROOT/stacks/Pulumi.$1.yaml
  "${PYTHON:-$VENV/bin/python}" - "$file" "$KEYCLOAK_IMAGE" "$OPTIMIZED_IMAGE" "$POSTGRES_IMAGE" <<'PY'
import pathlib, sys, yaml
path, image, optimized, postgres = sys.argv[1:]
file = pathlib.Path(path)
config = ((yaml.safe_load(file.read_text()) if file.exists() else None) or {}).get("config") or {}
steps = ["cli", "language", "plugins"]
if str(config.get("keycloak:deploy", True)).lower() == "true" and not config.get("docker:host"):
    steps.append("docker")
    wanted = config.get("keycloak:image")
    steps += {image: ["image"], optimized: ["image", "optimized"]}.get(wanted, [])
    if config.get("keycloak:database") == "postgres" and config.get("keycloak:postgresImage") == postgres:
        steps.append("postgres")
print(" ".join(steps))
PY
}

# What each step needs done first. The image is built from the Keycloak distribution where no
# registry answers, and the plugins' versions are read from the SDKs in the virtualenv.
declare -A NEEDS=(
  [venv]="" [cli]="" [language]="cli" [plugins]="venv cli" [docker]="" [keycloak]=""
  [image]="docker keycloak" [optimized]="image" [postgres]="docker" [actionlint]=""
  [peers]="venv" [netbird]="" [sshd]=""
)

# The steps named, each after what it needs, each once.
with_needs() {
  local -A seen=()
  local order=()
  visit() {
    [ -n "${NEEDS[$1]+set}" ] || fail "no bootstrap step '$1' (steps: ${!NEEDS[*]})"
    [ -z "${seen[$1]:-}" ] || return 0
    seen[$1]=1
    local need; for need in ${NEEDS[$1]}; do visit "$need"; done
    order+=("$1")
  }
  local step; for step in "$@"; do visit "$step"; done
  echo "${order[*]}"
}

# The processes that hold the lock file open: "pid (command)", for the message of a lock wait.
lock_holders() {
  local fd pid
  for fd in /proc/[0-9]*/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "$CACHE/.bootstrap.lock" ] || continue
    pid=${fd#/proc/}; pid=${pid%%/*}
    [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] || printf '%s (%s) ' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)"
  done
}

# What each step leaves behind, one "kind what" a line: the warm path checks these instead of
# running the step (files and sockets by a stat, images by one `docker image inspect`).
left_by() {
  local name
  case $1 in
    venv) echo "file $VENV/bin/netbird-keycloak" ;;
    cli) echo "file $CLI_DIR/pulumi" ;;
    language) printf 'file %s\n' "$CLI_DIR/pulumi-language-python" "$CLI_DIR/pulumi-language-python-exec" ;;
    plugins) for name in keycloak docker; do
               echo "file $PULUMI_HOME/plugins/resource-$name-v$(plugin_version "$name")/pulumi-resource-$name"
             done ;;
    docker) [ -n "${DOCKER_HOST:-}" ] || echo "socket /var/run/docker.sock" ;;
    keycloak) echo "file $CACHE/keycloak-$KEYCLOAK_VERSION/bin/kc.sh" ;;
    image) echo "image $KEYCLOAK_IMAGE" ;;
    optimized) echo "image $OPTIMIZED_IMAGE" ;;
    postgres) echo "image $POSTGRES_IMAGE" ;;
    actionlint) echo "file $CACHE/bin/actionlint" ;;
    peers) echo "file $CACHE/peers/tofu" ;;
    netbird) echo "file $NETBIRD_SERVER" ;;
    sshd) echo "file /usr/sbin/sshd" ;;
  esac
}

# The inputs of a run: this script, the pins, the stack file, the steps asked for, the folders.
warm_key() {
  { cat "$0" "$ROOT/requirements.lock" "$ROOT/pyproject.toml"
    [ -z "$stack_file" ] || cat "$stack_file" 2>/dev/null
    echo "$* $ROOT $CACHE $PULUMI_HOME $KEYCLOAK_IMAGE ${DOCKER_HOST:-}"; } | sha256sum | cut -c1-16
}

# True when an earlier run with the same inputs finished and everything it left is still there.
warm() {
  local stamp=$CACHE/stamps/$1 kind what images=()
  [ -f "$stamp" ] || return 1
  while read -r kind what; do
    case $kind in
      file) [ -e "$what" ] || return 1 ;;
      socket) [ -S "$what" ] || return 1 ;;
      image) images+=("$what") ;;
    esac
  done < "$stamp"
  [ ${#images[@]} -eq 0 ] || docker image inspect "${images[@]}" >/dev/null 2>&1
}

print_only=
if [ "${1:-}" = --print-steps ]; then print_only=1; shift; fi
stack_file=
if [ "${1:-}" = --stack ]; then
  stack_file=${2:?--stack needs a stack name}
  [[ $stack_file == */* ]] || stack_file=$ROOT/stacks/Pulumi.$stack_file.yaml
fi
if [ -z "$print_only" ]; then
  key=$(warm_key "$@")
  if warm "$key"; then echo "==> bootstrap: up to date (stamp $CACHE/stamps/$key)"; exit 0; fi
  # One bootstrap at a time per cache: `make up` and `make test` started together build nothing
  # twice, and neither sees the other's half-written files.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.bootstrap.lock"
  if ! flock -n 9; then
    echo "==> waiting for another bootstrap to finish (lock: $CACHE/.bootstrap.lock)" >&2
    flock -w "${BOOTSTRAP_LOCK_WAIT:-1800}" 9 ||
      fail "$CACHE/.bootstrap.lock still held after ${BOOTSTRAP_LOCK_WAIT:-1800}s by: $(lock_holders)"
  fi
fi
steps=("$@")
if [ "${1:-}" = --stack ]; then
  [ -n "$print_only" ] || do_venv
  read -r -a steps <<< "$(stack_steps "${2:?--stack needs a stack name}")"
fi
[ ${#steps[@]} -gt 0 ] || steps=(venv cli language plugins docker keycloak image optimized postgres actionlint peers netbird)
resolved=$(with_needs "${steps[@]}")  # an assignment, so that its failure stops here
read -r -a steps <<< "$resolved"
if [ -n "$print_only" ]; then echo "${steps[*]}"; exit 0; fi
total_start=$(date +%s)
for s in "${steps[@]}"; do "do_$s"; done
mkdir -p "$CACHE/stamps"
for s in "${steps[@]}"; do left_by "$s"; done > "$CACHE/stamps/$key.part"
mv "$CACHE/stamps/$key.part" "$CACHE/stamps/$key"
printf '==> bootstrap done in %ss\n' "$(( $(date +%s) - total_start ))"
