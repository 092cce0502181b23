import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    environment: "jsdom",
    include: ["js/test/**/*.test.ts"],
    // jsdom is slow at DOM parsing (DOMPurify); on a busy machine the larger tests need time.
    testTimeout: 60_000,
  },
});
