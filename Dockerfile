# One image for every unit: the command picks which (atrium gateway | node | proxy).
FROM node:24-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The production image has Node 24 already; the `node` devDependency is for development machines only.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production ATRIUM_MODE=production ATRIUM_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY core ./core
COPY protocol ./protocol
COPY gateway ./gateway
COPY node ./node
COPY proxy ./proxy
COPY sdk ./sdk
COPY migrations ./migrations
COPY views ./views
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
ENTRYPOINT ["node", "bin/atrium.ts"]
CMD ["gateway"]
