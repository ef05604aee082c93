# syntax=docker/dockerfile:1
# The image edgefleet k8s runs: `edgefleet` as its entrypoint (README, "On Kubernetes").
#   docker build -t registry.example.com/edgefleet:0.1.0 .
# Three stages: one compiles TypeScript, one installs the runtime dependencies (better-sqlite3 is native: when no
# prebuilt binary fits, node-gyp builds it, which needs python3, make and g++), and the last keeps only what runs.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: tsc needs no native module, and `prepare` would compile before the sources are here.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim AS runtime-deps
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# The root package's `prepare` (tsc) is skipped; better-sqlite3's own install script then runs alone.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
  && npm rebuild better-sqlite3 \
  && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY scenarios ./scenarios
COPY profiles ./profiles
# The image's own user (uid 1000, as the Job's securityContext says): never root.
USER node
EXPOSE 9464
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
