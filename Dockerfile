# syntax=docker/dockerfile:1
# Corebank: multi-stage build on Node.js 24, runs as the unprivileged `node` user.
# Build:  docker build -t corebank .
# Run:    see compose.yaml (PostgreSQL, Redis, NATS, payment network, two instances, proxy).

# 1. Everything, dev dependencies included, to build the web dashboard.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run web:build

# 2. Production dependencies only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# 3. The runtime image: source (run directly by Node's type stripping), built dashboard,
#    production node_modules; no compiler, no dev tools, no root.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/data
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json package-lock.json ./
COPY --chown=root:root src ./src
COPY --chown=root:root scripts ./scripts
COPY --from=build --chown=root:root /app/web/dist ./web/dist
# The code is owned by root and read-only to the app; only DATA_DIR is writable.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches Node directly (no shell, no npm), so graceful shutdown works.
CMD ["node", "src/main.ts"]
