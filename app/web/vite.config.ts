/// <reference types="vitest/config" />
// Build: a static folder (dist/) that Static Web Apps serves and `engram serve` serves locally.
// Only VITE_* variables reach the bundle; none of them is a secret (see .env.example).
import { defineConfig } from "vite";

export default defineConfig({
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
