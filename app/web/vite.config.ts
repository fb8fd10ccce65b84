/// <reference types="vitest/config" />
// Build: a static folder (dist/) that Static Web Apps serves and `engram serve` serves locally.
// Only VITE_* variables reach the bundle; none of them is a secret (see .env.example).
import { defineConfig, loadEnv, type Plugin } from "vite";

import { contentSecurityPolicy } from "./src/csp";

/** Puts the build's Content-Security-Policy first in <head>, computed from the VITE_* settings. */
function contentSecurityPolicyMeta(): Plugin {
  let policy = "";
  return {
    name: "engram-csp",
    apply: "build", // the dev server injects inline scripts (HMR) that a strict policy would block
    configResolved(config) {
      policy = contentSecurityPolicy(loadEnv(config.mode, config.envDir || config.root, "VITE_"));
    },
    transformIndexHtml() {
      return [
        { tag: "meta", attrs: { "http-equiv": "Content-Security-Policy", content: policy }, injectTo: "head-prepend" },
      ];
    },
  };
}

export default defineConfig({
  plugins: [contentSecurityPolicyMeta()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
  },
  server: {
    // `npm run dev` talks to a local `engram serve` on the same origin.
    proxy: {
      "/api": { target: "http://127.0.0.1:8082", ws: true },
      "/health": "http://127.0.0.1:8082",
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
