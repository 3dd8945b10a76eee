# syntax=docker/dockerfile:1
# One image for the manager and the agent: `detour manager …` or `detour agent …`.
# Not built in CI (there is no container engine there); test/e2e/image-contents.test.ts runs
# the same install step (scripts/image-install.mjs) and starts both commands from its result.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY . .
# The same two steps as a fresh clone's `npm ci && npm test` build: every dependency (dev
# included, to compile), no install scripts (the root `prepare` would run tsc a second time).
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund \
 && npx tsc -b
# Run-time files only: package manifests, compiled dist/src of the workspaces the CLI needs,
# and their `npm ci --omit=dev` node_modules. Done here so the npm cache stays in this stage.
RUN --mount=type=cache,target=/root/.npm node scripts/image-install.mjs /src /app

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="detour" \
      org.opencontainers.image.description="detour manager and agent: personal intercepts for shared staging environments" \
      org.opencontainers.image.licenses="Apache-2.0"
# A numeric, non-root user with a passwd entry (PodSecurity "restricted" wants runAsNonRoot,
# which a numeric USER satisfies). npm and corepack are removed: nothing runs them here.
RUN groupadd --gid 10001 detour \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin detour \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
# Owned by root and not writable by the user: the app tree is read-only even without
# readOnlyRootFilesystem.
COPY --from=build /app /app
RUN ln -s /app/packages/cli/bin/detour.js /usr/local/bin/detour
# Read-only root filesystem: the manager and the agent log to stderr and write no file as long
# as --token-file names an existing file (the chart mounts the token Secret). Whatever else
# would look for a home (the daemon's DETOUR_HOME, Node itself) is pointed at /tmp, which the
# chart mounts as an emptyDir.
ENV NODE_ENV=production \
    HOME=/tmp \
    DETOUR_HOME=/tmp/detour
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["detour"]
CMD ["--help"]
