FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# tsx runs the TypeScript sources directly; there is no build step.
ENTRYPOINT []
CMD ["node", "bin/gapmap.js", "serve", "--host", "0.0.0.0"]
