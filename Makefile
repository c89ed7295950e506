# netbird-keycloak: `make up` deploys the dev stack and writes out/dev/setup.env; `make test` runs
# every test. Both bootstrap what they need first (scripts/bootstrap.sh, cached).
SHELL := /bin/bash
STACK ?= dev
ROOT := $(CURDIR)
CACHE ?= $(or $(NETBIRD_KEYCLOAK_CACHE),$(HOME)/.cache/netbird-keycloak)
# bootstrap.sh and the tests read the cache folder from here.
export NETBIRD_KEYCLOAK_CACHE := $(CACHE)
PY := $(ROOT)/.venv/bin/python
# The project's one command (netbird_keycloak/cli.py); the targets below are short aliases of it.
NK := $(ROOT)/.venv/bin/netbird-keycloak

export PULUMI_HOME ?= $(ROOT)/.pulumi-home
export PULUMI_BACKEND_URL ?= file://$(ROOT)/.pulumi-state
# The CLI's version, declared in .pulumi-version (read without starting a process).
export PULUMI_CLI_ROOT ?= $(CACHE)/pulumi-v$(file < $(ROOT)/.pulumi-version)
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# The CLI's folder holds its Python language host too (bootstrap.sh builds it there).
export PATH := $(PULUMI_CLI_ROOT)/bin:$(PATH)
ifeq ($(origin PULUMI_CONFIG_PASSPHRASE),undefined)
export PULUMI_CONFIG_PASSPHRASE_FILE ?= $(ROOT)/.pulumi-passphrase
PASSPHRASE := $(PULUMI_CONFIG_PASSPHRASE_FILE)
endif

.PHONY: backup restore salt-filter settings settings-doc help bootstrap up down preview refresh env verify preview-md fleet new lint-workflows test test-unit test-e2e keycloak-image clean bench-floor bench-fleet bench-peers bench-processes pulumi-env safety-report state-db state-db-stop state-unlock state-migrate rotate admin-user lock

help:
	@echo "make up [STACK=dev]       bootstrap, deploy the stack, write out/<stack>/setup.env"
	@echo "make preview [STACK=...]  show what up would change"
	@echo "make env STACK=...        write out/<stack>/setup.env from the outputs (no deploy)"
	@echo "make settings STACK=...   every setting's value in force and where it came from"
	@echo "make verify STACK=...     check the live Keycloak the way NetBird uses it"
	@echo "make down [STACK=dev]     destroy the stack; Keycloak's data is kept for the next up"
	@echo "make down PURGE=1         destroy the stack and remove Keycloak's data too"
	@echo "make preview-md STACK=... the preview as Markdown (what a pull request shows)"
	@echo "make fleet ARGS='up --all --parallel 4'   many customer stacks at once"
	@echo "make new CUSTOMER=acme DOMAIN=netbird.acme.example [ARGS='--keycloak-url …']"
	@echo "make rotate STACK=… WHAT=backend-secret|admin-client-secret|user-password"
	@echo "make backup STACK=…       Keycloak's database to out/<stack>/backups/ (0600)"
	@echo "make restore STACK=… FILE=… [OVERWRITE=1]   a backup back into Keycloak's database"
	@echo "make admin-user STACK=… [NAME=ops-admin]   a permanent Keycloak admin for a person"
	@echo "make state-db             a Postgres for team state on this machine; prints PULUMI_BACKEND_URL"
	@echo "make state-unlock STACK=… clear the lock a killed run left on a stack"
	@echo "make state-migrate FROM=file://… TO=postgres://…   move every stack to another backend"
	@echo "make test                 unit and end-to-end tests (what CI runs)"

bootstrap:
	@bash scripts/bootstrap.sh

keycloak-image:
	@bash scripts/bootstrap.sh docker keycloak image

# The state passphrase is generated once into a git-ignored 0600 file when none is set.
# Said on stderr: `eval "$$(make -s pulumi-env)"` reads stdout as commands.
$(ROOT)/.pulumi-passphrase:
	@umask 077 && python3 -c "import secrets; print(secrets.token_urlsafe(32))" > $@
	@echo "generated the state passphrase in $@ (keep it: the stack secrets need it)" >&2

# The dev stack's `encryptionsalt:` belongs to this clone's passphrase, not to the repository:
# .gitattributes runs stacks/Pulumi.dev.yaml through this filter, so git neither shows nor
# commits that line (customer stacks keep theirs: their passphrase is the team's).
salt-filter:
	@git -C $(ROOT) config filter.passphrase-salt.clean >/dev/null 2>&1 || \
	  git -C $(ROOT) config filter.passphrase-salt.clean "sed '/^encryptionsalt:/d'" 2>/dev/null || true
# After a command that may have created the stack: a stack file whose filtered content did not
# change is re-read by git (its size did change, which git otherwise takes for a change).
SALT_SEEN = git -C $(ROOT) diff --quiet -- stacks/Pulumi.$(STACK).yaml 2>/dev/null && \
  git -C $(ROOT) add -- stacks/Pulumi.$(STACK).yaml 2>/dev/null || true

up: $(PASSPHRASE) salt-filter
	@bash scripts/bootstrap.sh --stack $(STACK)
	@$(NK) up --stack $(STACK); status=$$?; $(SALT_SEEN); exit $$status

preview: $(PASSPHRASE) salt-filter
	@bash scripts/bootstrap.sh --stack $(STACK)
	@$(NK) preview --stack $(STACK); status=$$?; $(SALT_SEEN); exit $$status

refresh: $(PASSPHRASE) salt-filter
	@bash scripts/bootstrap.sh --stack $(STACK)
	@$(NK) refresh --stack $(STACK); status=$$?; $(SALT_SEEN); exit $$status

down: $(PASSPHRASE) salt-filter
	@bash scripts/bootstrap.sh --stack $(STACK)
	@$(NK) destroy --stack $(STACK) $(if $(PURGE),--purge); status=$$?; $(SALT_SEEN); exit $$status

# Encrypted when NETBIRD_KEYCLOAK_BACKUP_KEY is set (netbird_keycloak/backup.py).
backup: $(PASSPHRASE)
	@bash scripts/bootstrap.sh venv >/dev/null
	@$(NK) backup --stack $(STACK)

restore: $(PASSPHRASE)
	@bash scripts/bootstrap.sh venv >/dev/null
	@$(NK) restore --stack $(STACK) $(if $(FILE),--file '$(FILE)') $(if $(OVERWRITE),--overwrite)

# The value in force of every setting of a stack, and where it came from.
settings: $(PASSPHRASE)
	@bash scripts/bootstrap.sh venv cli >/dev/null
	@$(NK) settings --stack $(STACK)

# Rewrites the settings table in docs/settings.md from components/settings.py.
settings-doc:
	@bash scripts/bootstrap.sh venv >/dev/null
	@$(NK) settings-doc

env: $(PASSPHRASE)
	@$(NK) env --stack $(STACK)

verify: $(PASSPHRASE)
	@$(NK) verify --stack $(STACK)

preview-md: $(PASSPHRASE)
	@bash scripts/bootstrap.sh --stack $(STACK)
	@$(NK) preview-md --stack $(STACK)

# Many stacks: make fleet ARGS="up --all --parallel 4"; make new CUSTOMER=acme DOMAIN=netbird.acme.example
fleet: bootstrap $(PASSPHRASE)
	@$(NK) fleet $(ARGS)

new: bootstrap $(PASSPHRASE)
	@$(NK) fleet new $(CUSTOMER) --domain $(DOMAIN) $(ARGS)

lint-workflows:
	@bash scripts/bootstrap.sh actionlint
	@$(CACHE)/bin/actionlint .github/workflows/*.yml

test-unit:
	@bash scripts/bootstrap.sh venv
	@$(PY) -m pytest -q tests/unit

test-e2e: bootstrap
	@bash scripts/bootstrap.sh sshd
	@$(PY) -m pytest -q -p no:cacheprovider $(or $(TESTS),tests/e2e)

test: bootstrap
	@bash scripts/bootstrap.sh sshd
	@$(PY) -m pytest -q tests/unit tests/lint tests/e2e

# requirements.lock from requirements-dev.txt (and requirements.txt): run after changing a pin.
PIP_TOOLS := pip-tools==7.6.2
lock:
	@python3 -m venv $(CACHE)/pip-tools && $(CACHE)/pip-tools/bin/pip install --quiet --disable-pip-version-check $(PIP_TOOLS)
	@printf -- '-r requirements-dev.txt\nsetuptools==%s\n' "$$(sed -n 's/.*"setuptools==\([0-9.]*\)".*/\1/p' pyproject.toml)" > .lock.in
	@$(CACHE)/pip-tools/bin/pip-compile --generate-hashes --allow-unsafe --strip-extras --no-header \
	  --quiet --no-emit-find-links -o .lock.out .lock.in
	@{ echo "# Generated by \`make lock\` from requirements-dev.txt (which includes requirements.txt): every"; \
	  echo "# package the virtualenv holds, pinned with the hashes pip checks (--require-hashes)."; \
	  echo; cat .lock.out; } > requirements.lock
	@rm -f .lock.in .lock.out

clean:
	rm -rf out .pytest_cache

bench-floor: bootstrap
	@$(PY) -m bench.floor --runs $(or $(RUNS),3)

bench-fleet: bootstrap
	@$(PY) -m bench.fleet $(ARGS)

# This program side by side with OpenTofu + terraform-provider-keycloak and a realm import.
bench-peers: bootstrap
	@$(PY) -m bench.peers $(ARGS)

# CPU time and memory of one stack's commands, process by process (what bounds bench-peers).
bench-processes: bootstrap
	@$(PY) -m bench.processes $(ARGS)

# Security (docs/security.md): rotate one secret of a stack; a human admin after the
# bootstrap admin was retired.
rotate: $(PASSPHRASE)
	@bash scripts/bootstrap.sh --stack $(STACK)
	@$(NK) rotate --stack $(STACK) --what '$(WHAT)'

admin-user: $(PASSPHRASE)
	@bash scripts/bootstrap.sh venv cli >/dev/null
	@$(NK) admin-user --stack $(STACK) $(if $(NAME),--name $(NAME))

# Team state (docs/team-state.md): Pulumi's DIY postgres:// backend on a Postgres here.
state-db:
	@bash scripts/bootstrap.sh venv docker postgres >/dev/null
	@$(NK) state-db start

state-db-stop:
	@$(NK) state-db stop

state-unlock: $(PASSPHRASE)
	@bash scripts/bootstrap.sh venv cli >/dev/null
	@$(NK) unlock --stack $(STACK)

state-migrate: $(PASSPHRASE)
	@bash scripts/bootstrap.sh venv cli >/dev/null
	@$(NK) state-migrate --from '$(FROM)' --to '$(TO)' $(if $(STACKS),--stacks $(STACKS))

# For typing `pulumi …` yourself with the same toolchain and backend: eval "$$(make -s pulumi-env)"
pulumi-env: $(PASSPHRASE)
	@if [ "$(PULUMI_BACKEND_URL)" = "file://$(ROOT)/.pulumi-state" ]; then mkdir -p "$(ROOT)/.pulumi-state"; fi
	@echo 'export PULUMI_HOME="$(PULUMI_HOME)" PULUMI_BACKEND_URL="$(PULUMI_BACKEND_URL)"'
	@echo 'export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true'
	@echo 'export PATH="$(PULUMI_CLI_ROOT)/bin:$$PATH"'
	@if [ -n "$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then echo 'export PULUMI_CONFIG_PASSPHRASE_FILE="$(PULUMI_CONFIG_PASSPHRASE_FILE)"'; fi

# The safety figures of the last test run (a report of the tests, so it lives under tests/).
safety-report:
	@bash scripts/bootstrap.sh venv >/dev/null
	@$(PY) -m tests.safety_report
